"""``raymt dashboard DIR``: the search's own study (objective names included) on 127.0.0.1,
(the one-line error naming the extra when optuna-dashboard is missing is a case of
tests/test_bad_input.py). The server itself is replaced by a recorder: serving blocks until Ctrl-C."""

from __future__ import annotations

import optuna
import pytest

from raymt.cli import main
from raymt.results.files import JOURNAL, MARKER
from raymt.search.tuner import make_searcher


@pytest.fixture
def results(tmp_path):
    folder = tmp_path / "exp"
    folder.mkdir()
    (folder / MARKER).write_text("{}")

    def space(trial):
        trial.suggest_int("lora.r", 2, 8)

    searcher = make_searcher(space, {"bleu": "max", "storage_mb": "min"}, None, seed=0, study_name="exp", storage=folder / JOURNAL)
    searcher.suggest("a1b2c3d4")
    searcher.on_trial_complete("a1b2c3d4", {"bleu": 20.0, "storage_mb": 0.5})
    return folder


def test_the_dashboard_serves_the_folders_study_on_localhost(results, monkeypatch, capsys):
    import optuna_dashboard

    calls = []
    monkeypatch.setattr(optuna_dashboard, "run_server", lambda storage, **kw: calls.append((storage, kw)))
    assert main(["dashboard", str(results), "--port", "8123"]) == 0
    ((storage, kw),) = calls
    assert kw == {"host": "127.0.0.1", "port": 8123}
    study = optuna.load_study(study_name="exp", storage=storage)
    assert study.metric_names == ["bleu", "storage_mb"] and len(study.trials) == 1
    assert "http://127.0.0.1:8123/" in capsys.readouterr().out


def test_a_folder_without_a_study_or_a_bad_port_is_refused(results, tmp_path, capsys):
    (results / JOURNAL).unlink()
    assert main(["dashboard", str(results)]) == 2
    assert "optuna_journal.log" in capsys.readouterr().err
    assert main(["dashboard", str(tmp_path / "nowhere")]) == 2
    assert "raymt dashboard RESULTS_DIR" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["dashboard", str(results), "--port", "99999"])
    assert exit_.value.code == 2 and "not a port" in capsys.readouterr().err
