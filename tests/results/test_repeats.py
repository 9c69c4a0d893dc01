"""search.repeat_front's results: every repeat in repeats.csv (validation and test BLEU, or why
it did not finish), mean ± sd over seeds per front member in the trials table, and the report's
seed-variance section next to the paired bootstrap on the test split; all rebuilt by
`raymt report` from the folder's files. The repeats are made by hand here (no Ray): each one's
"checkpoint" holds a real artefact of the member's method, as a Train run leaves it."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from hand_made_results import make_results_folder

from raymt.analysis.results import hyperparameter_columns, load
from raymt.cli import main
from raymt.errors import ConfigError
from raymt.results.files import REPEATS_FILE, REPORT_FILE, TEST_HYPS_DIR, TIMINGS
from raymt.results.repeats import RepeatRun, load_repeats, record_repeats, repeat_seeds, repeats_to_run
from raymt.results.test_scores import score_front_on_test

OBJECTIVES = {"bleu": "max", "storage_mb": "min"}
TRIALS = (("t_lora", "lora", {"r": 8}, 30.0), ("t_adapter", "adapter", {"size": 16}, 31.0))


@pytest.fixture(scope="module")
def repeated(tmp_path_factory, tiny_base):
    """A hand-made search (two front members, one failed trial) scored on test, then three
    repeats: one seed more of each member, and a second seed of the adapter that failed."""
    root = tmp_path_factory.mktemp("rep")
    folder = make_results_folder(root / "results", tiny_base, TRIALS, perturb=0.05, test_size=24)
    (folder / TIMINGS).write_text(json.dumps({"tune_fit_s": 10.0}))
    trials = score_front_on_test(folder, load(folder), OBJECTIVES, log=lambda m: None)
    # the "other seeds": the same methods trained differently (other weights), kept as a Train run keeps them
    other = make_results_folder(root / "other", tiny_base, TRIALS, perturb=0.08, failed=False)
    ckpts = {}
    for trial_id in ("t_lora", "t_adapter"):
        ckpt = folder / "trials" / f"trial_rep_{trial_id}" / "checkpoint_000002"
        shutil.copytree(other / "artifacts" / trial_id, ckpt / "best")
        ckpts[trial_id] = str(ckpt)
    runs = [
        RepeatRun("t_lora", 1, 0, "completed", bleu=28.0, chrf=49.0, repeat_trial_id="rep_t_lora", checkpoint_path=ckpts["t_lora"]),
        RepeatRun("t_adapter", 1, 0, "completed", bleu=33.0, chrf=51.0, repeat_trial_id="rep_t_adapter", checkpoint_path=ckpts["t_adapter"]),
        RepeatRun("t_adapter", 2, 0, "failed", error="TrialFailed: worker ran out of memory", repeat_trial_id="rep_x"),
    ]
    logged: list[str] = []
    out = record_repeats(folder, trials, runs, OBJECTIVES, fit_s=12.5, log=logged.append)
    return folder, out, logged


def test_every_repeat_is_recorded_with_its_scores_or_its_reason(repeated):
    folder, _, logged = repeated
    rows = load_repeats(folder).set_index(["trial_id", "seed"])
    assert len(rows) == 3
    for member in ("t_lora", "t_adapter"):
        row = rows.loc[(member, 1)]
        assert row["status"] == "completed" and 0 <= row["test_bleu"] <= 100 and row["test_chrf"] > 0
        assert row["checkpoint_path"].startswith(str(folder))  # written relative, read back as a path here
        assert len((folder / TEST_HYPS_DIR / f"{member}_seed1.txt").read_text().splitlines()) == 24
    failed = rows.loc[("t_adapter", 2)]
    assert failed["status"] == "failed" and "out of memory" in failed["error"] and pd.isna(failed["test_bleu"])
    raw = pd.read_csv(folder / REPEATS_FILE)
    assert not raw["checkpoint_path"].dropna().str.startswith("/").any()  # the folder can move
    assert any("1 did not" in line for line in logged)


def test_trials_table_gets_mean_sd_and_seed_count_per_member(repeated):
    folder, out, _ = repeated
    table = load(folder).set_index("trial_id")
    assert table.loc["t_lora", "n_seeds"] == 2 and table.loc["t_adapter", "n_seeds"] == 2  # the failed seed adds nothing
    assert table.loc["t_lora", "bleu_mean"] == pytest.approx(29.0)
    assert table.loc["t_lora", "bleu_sd"] == pytest.approx(pd.Series([30.0, 28.0]).std())
    assert table.loc["t_adapter", "bleu_mean"] == pytest.approx(32.0)
    reps = load_repeats(folder).set_index(["trial_id", "seed"])
    lora_test = [table.loc["t_lora", "test_bleu"], reps.loc[("t_lora", 1), "test_bleu"]]
    assert table.loc["t_lora", "test_bleu_mean"] == pytest.approx(sum(lora_test) / 2)
    assert table.loc["t_lora", "test_n_seeds"] == 2
    assert pd.isna(table.loc["t_failed", "bleu_mean"]) and pd.isna(table.loc["t_failed", "n_seeds"])
    assert not {"bleu_mean", "bleu_sd", "n_seeds"} & set(hyperparameter_columns(table.reset_index()))
    timings = json.loads((folder / TIMINGS).read_text())
    assert timings["repeat_front_s"] == 12.5 and timings["repeat_test_scoring_s"] > 0 and timings["tune_fit_s"] == 10.0


def test_report_rebuilt_from_files_gives_seed_groups_next_to_the_bootstrap_on_test(repeated):
    folder, _, _ = repeated
    (folder / REPORT_FILE).unlink(missing_ok=True)
    assert main(["report", str(folder)]) == 0
    text = (folder / REPORT_FILE).read_text()
    held_out = text.split("## Validation vs held-out test", 1)[1].split("\n## ", 1)[0]
    assert "Paired bootstrap on test" in held_out and "| trial_id | method | storage_mb | test_bleu | group |" in held_out
    seeds = text.split("## Seed variance of the front", 1)[1].split("\n## ", 1)[0]
    assert "Welch's t-test" in seeds and "**test** BLEU" in seeds  # both members have two test scores: the split no choice used
    assert "29.00 ± 1.41 (n=2)" in seeds and "32.00 ± 1.41 (n=2)" in seeds
    assert "| seed group | p (Welch) | test group (bootstrap) |" in seeds
    assert "Once seed variance is counted" in seeds and "paired bootstrap on the test sentences" in seeds
    assert "t_adapter seed 2: failed: TrialFailed: worker ran out of memory" in seeds
    assert "repeat_front_s 12.5 s" in seeds


def test_only_missing_repeats_run_again(repeated):
    folder, out, _ = repeated
    jobs = repeats_to_run(out, OBJECTIVES, 2, {"t_lora": 0, "t_adapter": 0}, load_repeats(folder))
    assert sorted((j.trial_id, j.seed) for j in jobs) == [("t_adapter", 2), ("t_lora", 2)]  # seed 1 of each is done; the failed one runs again
    assert repeats_to_run(out, OBJECTIVES, 0, {}) == []
    assert repeat_seeds(7, 3) == [8, 9, 10]


def test_a_new_run_of_a_seed_replaces_its_old_row(repeated, tmp_path):
    folder, out, _ = repeated
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    again = [RepeatRun("t_adapter", 2, 0, "completed", bleu=31.0, repeat_trial_id="rep_y")]
    table = record_repeats(copy, out, again, OBJECTIVES, log=lambda m: None)
    rows = load_repeats(copy)
    assert len(rows) == 3 and rows.set_index(["trial_id", "seed"]).loc[("t_adapter", 2), "status"] == "completed"
    assert table.set_index("trial_id").loc["t_adapter", "n_seeds"] == 3


@pytest.mark.parametrize("value", [-1, 11, "two"])
def test_repeat_front_is_validated(value):
    from raymt.search.load import parse_search

    with pytest.raises(ConfigError, match=r"search\.repeat_front"):
        parse_search({"repeat_front": value}, "space.yaml")
    assert parse_search({"repeat_front": 3}, "space.yaml").repeat_front == 3
    assert parse_search({}, "space.yaml").repeat_front == 0


def test_a_resumed_search_gets_the_seed_columns_back_without_running_anything(repeated, tmp_path):
    from raymt.analysis.results import write_results
    from raymt.analysis.seed_variance import SEED_COLUMNS
    from raymt.results.repeats import refresh_seed_columns

    folder, out, _ = repeated
    copy = tmp_path / "resumed"
    shutil.copytree(folder, copy)
    rebuilt = load(copy).drop(columns=list(SEED_COLUMNS))  # as collect rebuilds it from Tune's results
    write_results(copy, rebuilt, objectives=OBJECTIVES)
    table = refresh_seed_columns(copy, rebuilt, OBJECTIVES)
    assert load(copy).set_index("trial_id").loc["t_lora", "bleu_mean"] == pytest.approx(29.0)
    assert table.set_index("trial_id").loc["t_adapter", "n_seeds"] == 2
