"""report.md rebuilt from a results folder: the same sections for the search and `raymt report`."""

from __future__ import annotations

import json

import pandas as pd
import yaml

from raymt.cli import main
from raymt.results.files import CONFIG_COPY, MARKER, PREPARED, REPORT_FILE, TIMINGS, TRIALS_FILE
from raymt.analysis.report import front_summary
from raymt.results.report import rebuild_report


def results_folder(tmp_path):
    folder = tmp_path / "res"
    folder.mkdir()
    (folder / CONFIG_COPY).write_text(yaml.safe_dump({"name": "res", "search": {"objectives": {"bleu": "max", "storage_mb": "min"}}}))
    (folder / MARKER).write_text(json.dumps({"raymt": "0.1.0", "name": "res"}))
    (folder / TIMINGS).write_text(json.dumps({"prepare_s": 12.5, "tune_fit_s": 80.25, "augment_costs": {}}))
    (folder / PREPARED).write_text(
        json.dumps(
            {
                "base_path": "/b",
                "data_path": "/d",
                "sizes": {"train": 400, "validation": 40},
                "augment_costs": {"back_translation": {"seconds": 30.0, "sentences": 200}},
            }
        )
    )
    trials = pd.DataFrame(
        {
            "trial_id": ["a", "b", "c"],
            "status": ["completed", "completed", "early_stopped"],
            "method": ["lora", "adapter", "lora"],
            "train.lr": [1e-3, 2e-3, 3e-3],
            "lora.r": [8.0, None, 4.0],
            "augment.back_translation.ratio": [0.5, 0.0, 0.5],
            "bleu": [20.0, 22.0, 5.0],
            "storage_mb": [0.1, 0.3, 0.05],
        }
    )
    trials.to_parquet(folder / TRIALS_FILE)
    return folder, trials


def test_raymt_report_keeps_the_run_and_data_sections(tmp_path, capsys):
    folder, _ = results_folder(tmp_path)
    assert main(["report", str(folder)]) == 0
    text = (folder / REPORT_FILE).read_text()
    assert "## Run" in text and "- tune_fit_s: 80.2 s" in text and "- prepare_s: 12.5 s" in text
    assert "## Data" in text and "- train: 400" in text
    assert "## Shared augmentation cost" in text and "the 2 trials that used it" in text
    assert f"report: {folder / REPORT_FILE}" in capsys.readouterr().out


def test_the_search_and_raymt_report_write_the_same_report(tmp_path):
    folder, trials = results_folder(tmp_path)
    rebuild_report(folder, {"bleu": "max", "storage_mb": "min"}, trials=trials, history=pd.DataFrame())
    by_search = (folder / REPORT_FILE).read_text()
    assert main(["report", str(folder)]) == 0
    assert (folder / REPORT_FILE).read_text() == by_search


def test_summary_names_the_front_by_the_space_names(tmp_path):
    _, trials = results_folder(tmp_path)
    text = front_summary(trials, {"bleu": "max", "storage_mb": "min"})
    assert "3 trials: 2 completed, 1 early_stopped" in text
    assert "train.lr" in text and "lora.r" in text
