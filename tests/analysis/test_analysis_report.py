"""report.md: every section a user reads, computed from a hand-made trials table."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from raymt.analysis.report import build_report, infer_base_mb, markdown_table, write_report

SIG = "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0"


def _trials(tmp_path=None):
    df = pd.DataFrame(
        {
            "trial_id": ["full0", "lora1", "lora2", "ia3", "es", "oom", "bad"],
            "status": ["completed", "completed", "completed", "completed", "early_stopped", "failed", "failed"],
            "method": ["full", "lora", "lora", "ia3", "prefix", "adapter", "adapter"],
            "lr": [1e-5, 1e-4, 3e-4, 1e-3, 2e-4, 1e-4, 1e-4],
            "lora_r": [np.nan, 8.0, 16.0, np.nan, np.nan, np.nan, np.nan],
            "bleu": [30.0, 25.0, 27.5, 20.0, 29.0, np.nan, np.nan],
            "storage_mb": [2000.0, 4.0, 8.0, 0.5, 0.1, np.nan, np.nan],
            "epochs_done": [3, 3, 3, 3, 1, 0, 0],
            "error": [None, None, None, None, None, "CUDA out of memory | 2 GiB\nTraceback (most recent call)", "CUDA out of memory | 2 GiB"],
            "sacrebleu_signature": [SIG] * 5 + [None, None],
            "artifact_path": ["/r/full0", "/r/lora1", "/r/lora2", "/r/ia3", None, None, None],
        }
    )
    return df


def _section(text: str, title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}.*?(?=^## |\Z)", text, flags=re.S | re.M)
    assert match, f"section {title!r} missing"
    return match.group(0)


def test_report_sections_hold_the_numbers():
    text = build_report(_trials(), extra={"Back-translation cost": "2.5 GPU-hours for 10k sentences."})
    status = _section(text, "Trials by status")
    assert "| completed | 4 |" in status and "| failed | 2 |" in status and "| total | 7 |" in status
    front = _section(text, "Pareto front")
    assert "4 of 4 eligible trials" in front
    order = [front.index(f"| {t} |") for t in ("ia3", "lora1", "lora2", "full0")]
    assert order == sorted(order)  # ascending BLEU
    assert "| es |" not in front  # early-stopped never on the front
    assert "lr=0.0001, lora_r=8" in front
    # storage on a log10 scale: ia3 (0, 1), lora1 (0.25, 0.5), lora2 (0.33, 0.25), full0 (1, 0)
    assert "Knee: trial lora2 (bleu 27.5, storage_mb 8) lies 0.294 beyond the line" in front
    assert "storage_mb on a log10 scale" in front and "`raymt export --knee` exports this trial" in front
    hv = _section(text, "Hypervolume")
    # default reference: bleu 20 - 0.1*10 = 19, storage 2000 + 0.1*1999.5 = 2199.95
    assert "bleu = 19" in hv and "storage_mb = 2199.95" in hv
    best = _section(text, "Best trial per method")
    assert "| lora | lora2 | 27.50 |" in best
    assert "| adapter |  |" in best and "no completed trial (2 tried)" in best
    assert "| prefix |" in best  # only early-stopped: reported as without a completed trial
    failures = _section(text, "Failures")
    assert "Failures (2)" in failures and "2 x CUDA out of memory | 2 GiB" in failures
    assert "| oom | adapter | CUDA out of memory \\| 2 GiB |" in failures  # pipe escaped in the table
    assert "Traceback" not in failures  # first line only
    assert SIG in _section(text, "BLEU signature")
    significance = _section(text, "Significant front")
    assert "Not computed" in significance and "hyps_path" in significance
    storage = _section(text, "Storage for K tasks")
    assert "2000 MB; median storage of 1 completed full fine-tuning trial(s)" in storage
    # lora1 at K=10: 2000 + 10 * 4 = 2040 MB against 20000 MB, 9.8x
    assert "2,040 (9.8x)" in storage and "| full0 | full | 2000 | 2,000 (1x)" in storage
    assert text.rstrip().endswith("2.5 GPU-hours for 10k sentences.")
    assert "## Back-translation cost" in text


def test_signature_warning_when_trials_used_different_bleu():
    df = _trials()
    df.loc[0, "sacrebleu_signature"] = SIG.replace("13a", "intl")
    assert "not comparable" in _section(build_report(df), "BLEU signature")


def test_report_of_a_search_with_no_completed_trial():
    df = _trials().assign(status="failed")
    text = build_report(df)
    assert "No eligible trial yet." in text
    assert "Hypervolume\n\nNot computed" in text


def test_significant_front_in_report(tmp_path):
    refs = [f"sentence number {i} about things" for i in range(60)]
    (tmp_path / "refs.txt").write_text("\n".join(refs) + "\n")
    df = _trials()
    for trial in ("full0", "lora1", "lora2", "ia3"):
        path = tmp_path / f"{trial}.txt"
        # ia3 is poor; the three others all translate perfectly (indistinguishable).
        hyps = ["nothing" for _ in refs] if trial == "ia3" else refs
        path.write_text("\n".join(hyps) + "\n")
        df.loc[df.trial_id == trial, ["hyps_path", "refs_path"]] = [str(path), str(tmp_path / "refs.txt")]
    text = build_report(df, n_samples=200)
    significance = _section(text, "Significant front")
    assert "**2 of 4 members** (ia3, lora1)" in significance


def test_write_report_writes_file_and_plots(tmp_path):
    history = pd.DataFrame({"trial_id": ["lora1", "lora1"], "epoch": [1, 2], "bleu": [20.0, 25.0]})
    path = write_report(tmp_path, _trials(), history_df=history, base_mb=1000.0)
    text = path.read_text()
    assert path.name == "report.md"
    for name in ("pareto.png", "parallel.png", "bleu_over_epochs.png"):
        assert f"]({name})" in text and (tmp_path / name).is_file()
    assert "1000 MB; given" in text


def test_markdown_table_escapes_cells_and_base_mb_fallback():
    table = markdown_table(pd.DataFrame({"a": ["x|y\nz"], "b": [np.nan]}))
    assert table.splitlines() == ["| a | b |", "|---|---|", "| x\\|y z |  |"]
    no_full = _trials().query("method != 'full'").assign(total_params=125_000_000)
    mb, how = infer_base_mb(no_full)
    assert mb == pytest.approx(500.0) and "estimate" in how
    assert infer_base_mb(no_full.drop(columns="total_params"))[0] is None


def test_init_stage_cost_is_counted_once_per_stage_artifact():
    from raymt.analysis.report import build_report

    df = pd.DataFrame(
        [
            {
                "trial_id": "a",
                "status": "completed",
                "method": "lora",
                "bleu": 30.0,
                "storage_mb": 0.1,
                "init.stage": "denoise",
                "init_key": "k1",
                "init_build_s": 12.0,
                "init_wait_s": 12.5,
                "init_built": True,
            },
            {
                "trial_id": "b",
                "status": "completed",
                "method": "lora",
                "bleu": 31.0,
                "storage_mb": 0.1,
                "init.stage": "denoise",
                "init_key": "k1",
                "init_build_s": 12.0,
                "init_wait_s": 0.1,
                "init_built": False,
            },
            {
                "trial_id": "c",
                "status": "completed",
                "method": "full",
                "bleu": 33.0,
                "storage_mb": 3.0,
                "init.stage": "denoise",
                "init_key": "k2",
                "init_build_s": 20.0,
                "init_wait_s": 20.2,
                "init_built": True,
            },
            {
                "trial_id": "d",
                "status": "completed",
                "method": "lora",
                "bleu": 29.0,
                "storage_mb": 0.1,
                "init.stage": "none",
                "init_key": "",
                "init_build_s": 0.0,
                "init_wait_s": 0.0,
                "init_built": False,
            },
        ]
    )
    text = build_report(df, significance=False)
    section = text.split("## Init stage (denoising warm start)")[1]
    assert "2 stage artefact(s) served 3 trial(s)" in section and "32.0 s in all" in section  # 12 + 20, not 12 + 12 + 20
    assert "| denoise | 3 | 33.00 |" in section and "| none | 1 | 29.00 |" in section
    assert "## Init stage" not in build_report(df.drop(columns=["init_key"]), significance=False)


def test_report_and_terminal_say_when_the_front_has_no_knee():
    from raymt.analysis.report import front_summary

    df = pd.DataFrame(
        {
            "trial_id": ["8e6257b1", "b", "c", "83884cdd", "gone"],
            "status": ["completed"] * 4 + ["failed"],
            "method": ["lora", "lora", "adapter", "full", "full"],
            "lr": [1e-3, 2e-3, 1e-3, 5e-4, 1e-3],
            "bleu": [25.7, 27.0, 30.0, 36.7, np.nan],
            "storage_mb": [0.029, 0.1, 0.5, 2.8, np.nan],
        }
    )
    front = _section(build_report(df, significance=False), "Pareto front")
    assert "No knee: every middle member lies on or beyond the line" in front
    assert "chosen instead: trial 83884cdd (bleu 36.7, storage_mb 2.8), the member with the best bleu" in front
    summary = front_summary(df)
    lines = summary.splitlines()
    assert lines[0] == "5 trials: 4 completed, 1 failed"
    assert lines[1] == "Pareto front (4 of 4 eligible trials; bleu (max), storage_mb (min)):"
    assert "83884cdd    full 36.70        2.8  lr=0.0005" in summary
    assert lines[-1].startswith("No knee:") and "chosen instead: trial 83884cdd" in lines[-1]
    assert front_summary(df.assign(status="failed")).endswith("Pareto front: no eligible trial (completed, with a value for every objective)")


def test_a_knee_that_cannot_be_computed_does_not_sink_the_report():
    df = _trials().assign(storage_mb=[0.0, 4.0, 8.0, 0.5, 0.1, np.nan, np.nan])  # 0 MB: no log10
    front = _section(build_report(df, significance=False), "Pareto front")
    assert "Knee: not computed (" in front and "log_objectives=()" in front
