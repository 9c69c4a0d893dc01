"""The validation-vs-test benchmark on a hand-made results folder: it scores the front and
prints the gap per member."""

from __future__ import annotations

from hand_made_results import make_results_folder

from benchmarks.held_out_gap import main


def test_prints_validation_and_test_bleu_of_the_front(tmp_path, tiny_base, capsys):
    folder = make_results_folder(tmp_path / "results", tiny_base, perturb=0.05, test_size=16)
    assert main(["--results", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "test_bleu" in out and "gap" in out
    assert "validation - test BLEU over 2 front members: mean" in out
    assert "The best bleu" in out and "machine load" in out
