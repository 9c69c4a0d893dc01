"""docs/first-hour.md is what raymt does: every command on the page is run here.

The default search (``raymt``) is run up to the call that starts it (the search itself takes
minutes; the end-to-end search tests cover it); every other command runs for real, on a results
folder made without Ray (tests/hand_made_results.py) at the path the page uses, and optuna-
dashboard's server is replaced by a recorder (serving blocks until Ctrl-C)."""

from __future__ import annotations

import re
import shlex
import subprocess
import tomllib
from pathlib import Path

import pytest
from hand_made_results import make_results_folder

from raymt.cli import main
from raymt.results.files import JOURNAL, REFERENCES, SOURCES

ROOT = Path(__file__).resolve().parents[1]
PAGE = (ROOT / "docs" / "first-hour.md").read_text(encoding="utf-8")
RESULTS = "raymt_results/default"


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", PAGE, flags=re.S)


def commands() -> list[str]:
    out = []
    for block in blocks("bash"):
        out += [line.split("  #")[0].strip() for line in block.splitlines() if line.strip() and not line.startswith("#")]
    return out


@pytest.fixture()
def first_hour(tmp_path, tiny_base, monkeypatch):
    """A results folder at raymt_results/default (as the default search leaves it) with its
    evaluation split and Optuna study; the working directory is its parent's parent."""
    from raymt.search.tuner import make_searcher

    folder = make_results_folder(tmp_path / RESULTS, tiny_base, failed=True)
    (folder / SOURCES).write_text("the cat sits\na dog runs\n")
    (folder / REFERENCES).write_text("die Katze sitzt\nein Hund rennt\n")

    def space(trial):
        trial.suggest_categorical("method", ["lora", "adapter"])

    searcher = make_searcher(space, {"bleu": "max", "storage_mb": "min"}, None, seed=0, study_name="default", storage=folder / JOURNAL)
    for n, tune_id in enumerate(("t_lora", "t_adapter")):
        searcher.suggest(tune_id)
        searcher.on_trial_result(tune_id, {"epoch": 1, "bleu": 20.0 + n, "bleu_epoch": 20.0 + n, "storage_mb": 0.5})
        searcher.on_trial_complete(tune_id, {"bleu": 30.0 + n, "storage_mb": 0.5 - 0.1 * n})
    monkeypatch.chdir(tmp_path)
    return folder


def test_the_page_has_the_commands_of_a_first_hour():
    names = {c.split()[1] if c.startswith("raymt ") else c.split()[0] for c in commands()}
    assert {"raymt", "report", "export", "translate", "evaluate", "dashboard", "pip", "echo"} <= names
    assert len(blocks("python")) == 1


def test_every_command_of_the_page_runs(first_hour, monkeypatch, capsys):
    import optuna_dashboard

    import raymt.search.run

    searches, served = [], []
    monkeypatch.setattr(raymt.search.run, "run_search", lambda *a, **kw: searches.append((a, kw)) or first_hour)
    monkeypatch.setattr(optuna_dashboard, "run_server", lambda storage, **kw: served.append(kw))
    ran = []
    for command in commands():
        argv = shlex.split(command)
        if argv[0] == "raymt":
            assert main(argv[1:]) == 0, command
        elif argv[0] == "pip":  # the extra exists and names optuna-dashboard (installing is pip's job)
            extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
            assert argv[2] == "raymt[dashboard]" and any("optuna-dashboard" in d for d in extras["dashboard"])
        else:
            subprocess.run(command, shell=True, check=True)
        ran.append(command)
    out = capsys.readouterr().out
    assert ran == commands()
    assert searches == [
        ((None,), {"resume": None, "warm_start": None, "verbose": None})
    ]  # `raymt` = the default search (verbose: RAYMT_VERBOSE decides)
    assert served == [{"host": "127.0.0.1", "port": 8080}]
    assert (Path("my_model") / "raymt_export.json").is_file() and (first_hour / "report.md").is_file()
    assert "BLEU" in out and "chrF" in out  # evaluate's scores


def test_the_pandas_snippet_runs_on_the_table(first_hour, capsys):
    (code,) = blocks("python")
    exec(compile(code, "docs/first-hour.md", "exec"), {})
    out = capsys.readouterr().out
    assert "optuna_number" in out and "t_adapter" in out
