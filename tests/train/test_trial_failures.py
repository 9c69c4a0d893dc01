"""`raymt train` when Ray's memory monitor kills a process of the trial: one line, not Ray's report."""

from pathlib import Path

import pytest

from raymt import api, cli
from raymt.errors import TrialFailed
from raymt.results.failures import out_of_memory_reason
from raymt.train import trial

REPORT = (Path(__file__).parents[1] / "results" / "ray_oom_report.txt").read_text()


class _Killed:
    """A trainer whose ``fit()`` raises what Ray Train raises when a worker was killed."""

    def __init__(self, error):
        self.error = error

    def fit(self):
        raise self.error


def _run(monkeypatch, error, tmp_path):
    monkeypatch.setattr(trial, "make_trainer", lambda *a, **k: _Killed(error))
    return trial.run_trial(None, None, name="t", storage_path=str(tmp_path))


def test_a_trial_killed_for_memory_fails_with_the_one_line_reason(monkeypatch, tmp_path):
    error = RuntimeError(f"Training failed due to worker errors:\n[Rank 0]\n{REPORT}")
    with pytest.raises(TrialFailed) as caught:
        _run(monkeypatch, error, tmp_path)
    assert str(caught.value) == out_of_memory_reason(REPORT)
    assert "\n" not in str(caught.value) and "Fix:" in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_any_other_error_is_raised_as_it_is(monkeypatch, tmp_path):
    error = ValueError("a bug in the worker")
    with pytest.raises(ValueError) as caught:
        _run(monkeypatch, error, tmp_path)
    assert caught.value is error


def test_the_cli_prints_the_reason_and_exits_1(monkeypatch, capsys):
    reason = out_of_memory_reason(REPORT)

    def train(config):
        raise TrialFailed(reason)

    monkeypatch.setattr(api, "train", train)
    assert cli.main(["train"]) == 1
    assert capsys.readouterr().err == f"raymt: the trial failed: {reason}\n"
