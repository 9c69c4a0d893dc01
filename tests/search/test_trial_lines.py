"""What a search prints by default: raymt's own line per trial start, result and end (Ray's
status tables and Ray Train's INFO logs only with --verbose / RAYMT_VERBOSE)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from raymt.runtime import is_verbose, train_log_level
from raymt.search.trial_lines import TrialLines

OBJECTIVES = {"bleu": "max", "storage_mb": "min"}


def _trial(trial_id, last_result=None, error=None):
    return SimpleNamespace(
        trial_id=trial_id,
        config={"method": "lora", "train.lr": 0.0020001, "lora.r": 8, "lora.target_modules": ["q_proj", "v_proj"]},
        last_result=last_result or {},
        get_error=lambda: error,
    )


def test_one_line_per_start_result_and_end_in_the_tables_names():
    lines: list[str] = []
    cb = TrialLines(OBJECTIVES, num_samples=8, epochs=3, log=lines.append)
    done = {"epoch": 3, "best_epoch": 2, "finished": True, "bleu": 31.25, "storage_mb": 0.5123, "early_stopped": False}
    stopped = {"epoch": 1, "finished": False, "bleu": 4.0, "storage_mb": 0.1, "early_stopped": True, "early_stop_rung": 1}
    a, b = _trial("aaaa0001", done), _trial("bbbb0002", stopped)
    cb.on_trial_start(0, [], a)
    cb.on_trial_result(0, [], a, {"epoch": 1, "bleu": 12.5, "storage_mb": 0.5123})
    cb.on_trial_complete(0, [], a)
    cb.on_trial_start(0, [], b)
    cb.on_trial_complete(0, [], b)
    cb.on_trial_error(0, [], _trial("cccc0003", error=RuntimeError("TrialFailed: training loss became nan in epoch 1")))
    cb.on_trial_complete(0, [], _trial("dddd0004", {"epoch": 2, "finished": False, "bleu": 20.0, "storage_mb": 0.5}))  # Ctrl-C
    assert lines == [
        "trial aaaa0001 started (1 of 8): method lora, train.lr 0.002, lora.r 8, lora.target_modules q_proj+v_proj",
        "trial aaaa0001 epoch 1/3: bleu 12.5, storage_mb 0.5123",
        "trial aaaa0001 completed (3 epochs, best epoch 2): bleu 31.25, storage_mb 0.5123",
        "trial bbbb0002 started (2 of 8): method lora, train.lr 0.002, lora.r 8, lora.target_modules q_proj+v_proj",
        "trial bbbb0002 stopped early by the scheduler after epoch 1 (rung 1): bleu 4, storage_mb 0.1",
        "trial cccc0003 failed: TrialFailed: training loss became nan in epoch 1",
        "trial dddd0004 interrupted after epoch 2: bleu 20, storage_mb 0.5",
    ]


def test_a_resumed_search_numbers_its_trials_after_those_that_ended_before():
    lines: list[str] = []
    cb = TrialLines(OBJECTIVES, num_samples=30, epochs=3, log=lines.append)  # as Tune restores it: nothing started yet
    earlier = SimpleNamespace(trial_id="aaaa0001", status="TERMINATED")
    cut = SimpleNamespace(**vars(_trial("bbbb0002")), status="RUNNING")  # interrupted, run again from its start
    new = SimpleNamespace(**vars(_trial("cccc0003")), status="RUNNING")
    cb.on_trial_start(0, [earlier, cut], cut)
    cb.on_trial_start(0, [earlier, cut, new], new)
    cb.on_trial_start(0, [earlier, cut, new], new)  # a restart after a worker failure keeps its number
    assert [line.split(":")[0] for line in lines] == [
        "trial bbbb0002 started (2 of 30)",
        "trial cccc0003 started (3 of 30)",
        "trial cccc0003 started (3 of 30)",
    ]


@pytest.mark.parametrize(
    ("flag", "env", "verbose"), [(None, None, False), (None, "1", True), (None, "0", False), (True, None, True), (False, "1", False)]
)
def test_verbose_comes_from_the_flag_else_from_raymt_verbose(monkeypatch, flag, env, verbose):
    if env is None:
        monkeypatch.delenv("RAYMT_VERBOSE", raising=False)
    else:
        monkeypatch.setenv("RAYMT_VERBOSE", env)
    assert is_verbose(flag) is verbose
    assert train_log_level(verbose) == ("INFO" if verbose else "ERROR")


def test_search_takes_verbose_on_the_command_line():
    from raymt.cli import build_parser

    assert build_parser().parse_args(["search", "--verbose"]).verbose is True
    assert build_parser().parse_args(["search"]).verbose is False
    resumed = build_parser().parse_args(["search", "--resume", "raymt_results/default", "-v"])
    assert resumed.verbose is True and resumed.resume == "raymt_results/default"


def test_the_callback_pickles_whatever_its_log_is(capsys):
    """Tune pickles its callbacks with the experiment (for --resume) before the first trial; a
    log that cannot be pickled (``print`` once Ray Train has replaced it, "not the same object as
    builtins.print") failed every search there. A restored search logs with print."""
    import threading

    from ray import cloudpickle

    lock = threading.Lock()

    def log(line):
        with lock:
            pass

    with pytest.raises(TypeError):
        cloudpickle.dumps(log)  # what failed
    restored = cloudpickle.loads(cloudpickle.dumps(TrialLines(OBJECTIVES, num_samples=1, epochs=1, log=log)))
    restored.on_trial_start(0, [], _trial("aaaa0001"))
    assert capsys.readouterr().out.startswith("trial aaaa0001 started (1 of 1)")


def test_a_failed_trial_prints_its_reason_from_the_error_tune_has_just_written(tmp_path):
    """Tune writes the error to the trial's staging folder, then calls on_trial_error;
    ``Trial.get_error`` reads the storage copy, synced later (None then)."""
    error = tmp_path / "error.txt"
    error.write_text("Failure # 1 (occurred at 2026-12-05_12-33-34)\nTraceback...\nraymt.errors.TrialFailed: training loss became nan in epoch 1\n")
    trial = SimpleNamespace(trial_id="eeee0005", config={}, last_result={}, error_file=str(error), get_error=lambda: None)
    lines: list[str] = []
    TrialLines(OBJECTIVES, num_samples=1, epochs=1, log=lines.append).on_trial_error(0, [], trial)
    assert lines == ["trial eeee0005 failed: raymt.errors.TrialFailed: training loss became nan in epoch 1"]
