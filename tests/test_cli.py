"""The command line itself: --version, help for every argument, and `raymt report` doing what its
help says (rewrite report.md and the plots, print the front) on a results folder made by hand."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import raymt
from raymt.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"raymt {raymt.__version__}"


def test_every_argument_of_every_command_has_help():
    commands = _subparsers(build_parser())
    assert {"search", "report", "validate", "train", "export", "translate", "evaluate"} <= set(commands)
    for name, sub in commands.items():
        for action in sub._actions:
            if not isinstance(action, argparse._HelpAction):
                assert action.help, f"raymt {name}: {action.dest} has no help text"


def test_report_help_names_what_it_writes():
    report = _subparsers(build_parser())["report"]
    text = report.format_help()
    assert "report.md" in text and "pareto.png" in text and "not rewritten" in text


def _experiment(tmp_path: Path) -> Path:
    folder = tmp_path / "default"
    folder.mkdir()
    (folder / "raymt_experiment.json").write_text('{"raymt": "0.1.0", "name": "default"}')
    (folder / "search_config.yaml").write_text((ROOT / "search_spaces" / "default.yaml").read_text())
    trials = pd.DataFrame(
        {
            "trial_id": ["8e6257b1", "5a1b2c3d", "0f9e8d7c", "83884cdd", "deadbeef"],
            "status": ["completed", "completed", "completed", "completed", "early_stopped"],
            "method": ["lora", "lora", "adapter", "full", "adapter"],
            "lr": [1.2e-3, 2.0e-3, 6.0e-4, 1.0e-3, 2.5e-3],
            "warmup_ratio": [0.1, 0.05, 0.15, 0.1, 0.0],
            "lora_r": [2.0, 8.0, np.nan, np.nan, np.nan],
            "adapter_size": [np.nan, np.nan, 32.0, np.nan, 8.0],
            "bleu": [25.7, 27.0, 30.0, 36.7, 12.0],
            "storage_mb": [0.029, 0.1, 0.5, 2.8, 0.05],
        }
    )
    trials.to_parquet(folder / "trials.parquet")
    history = pd.DataFrame(
        [
            {"trial_id": t, "epoch": e, "bleu": b * e / 3}
            for t, b, n in zip(trials["trial_id"], trials["bleu"], [3, 3, 3, 3, 1])
            for e in range(1, n + 1)
        ]
    )
    history.to_parquet(folder / "history.parquet")
    return folder


def test_report_rewrites_the_report_and_plots_and_prints_the_front(tmp_path, capsys):
    folder = _experiment(tmp_path)
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert main(["report", str(folder)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "5 trials: 4 completed, 1 early_stopped"
    assert lines[1].startswith("Pareto front (4 of 4 eligible trials")
    assert any(line.startswith("83884cdd") and "36.70" in line for line in lines)
    assert "No knee: every middle member lies on or beyond the line" in out  # the front
    assert "chosen instead: trial 83884cdd" in out
    assert f"report: {folder / 'report.md'}" in out and "pareto.png" in out
    written = {p.name for p in folder.iterdir()} - set(before)
    assert written == {"report.md", "pareto.png", "parallel.png", "bleu_over_epochs.png"}
    assert (folder / "trials.parquet").stat().st_mtime_ns == before["trials.parquet"]  # read, not rewritten
    assert "chosen instead: trial 83884cdd" in (folder / "report.md").read_text()
