"""Best-epoch selection and patience on constructed BLEU sequences."""

import math

import pytest

from raymt.train.selection import BestEpoch


def run(bleus, patience):
    """Drive BestEpoch as the worker loop does; return (epochs run, best record)."""
    selector = BestEpoch(patience)
    for epoch, bleu in enumerate(bleus, start=1):
        selector.observe({"epoch": epoch, "bleu": bleu})
        if selector.exhausted(epoch):
            return epoch, selector.best
    return len(bleus), selector.best


def test_peak_then_fall_stops_after_patience_and_reports_the_peak():
    epochs, best = run([10.0, 24.0, 21.0, 19.0, 30.0], patience=2)
    assert epochs == 4  # epochs 3 and 4 did not beat epoch 2
    assert best == {"epoch": 2, "bleu": 24.0}


def test_without_patience_every_epoch_runs_and_the_best_is_kept():
    epochs, best = run([10.0, 24.0, 21.0, 19.0], patience=None)
    assert epochs == 4 and best["epoch"] == 2


@pytest.mark.parametrize("patience, stop", [(1, 3), (3, 5)])
def test_patience_counts_evaluations_since_the_best(patience, stop):
    assert run([5.0, 9.0, 8.0, 8.5, 7.0, 6.0], patience)[0] == stop


def test_ties_and_nan_do_not_count_as_improvement():
    epochs, best = run([12.0, 12.0, math.nan], patience=2)
    assert epochs == 3 and best["epoch"] == 1


def test_resumed_selector_continues_from_the_saved_best():
    selector = BestEpoch(2, best={"epoch": 3, "bleu": 40.0})  # restored from a checkpoint's state.json
    assert not selector.observe({"epoch": 4, "bleu": 39.0})
    assert selector.exhausted(5) and not selector.exhausted(4)
