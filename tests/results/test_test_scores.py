"""Held-out test scores: the validation front scored once on the test split, with each trial's
kept artefact and decoding, written to the trials table and shown next to validation."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from hand_made_results import make_results_folder

from raymt.analysis.results import hyperparameter_columns, load
from raymt.cli import main
from raymt.results.files import REPORT_FILE, TEST_HYPS_DIR, TEST_REFERENCES, TEST_SOURCES, TIMINGS
from raymt.results.test_scores import TEST_COLUMNS, score_front_on_test

OBJECTIVES = {"bleu": "max", "storage_mb": "min"}
TRIALS = (("t_lora", "lora", {"r": 8}, 30.0), ("t_adapter", "adapter", {"size": 16}, 31.0), ("t_lora4", "lora", {"r": 4}, 10.0))


@pytest.fixture(scope="module")
def scored(tmp_path_factory, tiny_base):
    """A hand-made search (two trials on the validation front, one off it), scored on test."""
    folder = make_results_folder(tmp_path_factory.mktemp("ts") / "results", tiny_base, TRIALS, perturb=0.05, test_size=24)
    trials = load(folder)
    # t_lora4 is off the front: lower BLEU than t_lora at more storage
    trials.loc[trials["trial_id"] == "t_lora4", "storage_mb"] = trials["storage_mb"].max() * 2
    trials.to_parquet(folder / "trials.parquet")
    (folder / TIMINGS).write_text(json.dumps({"tune_fit_s": 10.0}))
    logged: list[str] = []
    out = score_front_on_test(folder, trials, OBJECTIVES, log=logged.append)
    return folder, out, logged


def test_front_trials_get_test_columns_and_others_do_not(scored):
    folder, out, _ = scored
    table = load(folder)  # written to the table, not only returned
    assert set(TEST_COLUMNS) <= set(table.columns)
    by_id = table.set_index("trial_id")
    for trial in ("t_lora", "t_adapter"):
        row = by_id.loc[trial]
        assert 0 <= row["test_bleu"] <= 100 and 0 <= row["test_chrf"] <= 100
        assert row["test_bleu_ci95"] > 0  # a bootstrap interval of 24 sentences has width
        assert row["test_sentences"] == 24 and "tok:13a" in row["test_signature"]
        assert len((folder / TEST_HYPS_DIR / f"{trial}.txt").read_text().splitlines()) == 24
    assert pd.isna(by_id.loc["t_lora4", "test_bleu"]) and pd.isna(by_id.loc["t_failed", "test_bleu"])
    assert not any(c.startswith("test_") for c in hyperparameter_columns(table))  # results, not searched parameters
    assert len((folder / TEST_REFERENCES).read_text().splitlines()) == 24 == len((folder / TEST_SOURCES).read_text().splitlines())
    timings = json.loads((folder / TIMINGS).read_text())
    assert timings["test_scoring_s"] > 0 and timings["tune_fit_s"] == 10.0


def test_test_bleu_is_what_evaluate_gives_the_exported_trial(scored, tmp_path):
    """Same artefact, same decoding: `raymt evaluate` on the test files reproduces test_bleu."""
    from raymt.export.bundle import export_trial
    from raymt.export.translate import evaluate, read_lines

    folder, out, _ = scored
    row = out.set_index("trial_id", drop=False).loc["t_adapter"]
    exported = export_trial(folder, row, tmp_path / "exp")
    scores, _ = evaluate(exported, read_lines(folder / TEST_SOURCES, "sources"), read_lines(folder / TEST_REFERENCES, "refs"))
    assert scores.bleu == pytest.approx(row["test_bleu"], abs=1e-6)


def test_each_trial_is_scored_once(scored):
    folder, out, _ = scored
    logged: list[str] = []
    again = score_front_on_test(folder, out, OBJECTIVES, log=logged.append)
    assert logged == [] and again["test_bleu"].equals(out["test_bleu"])


def test_report_shows_validation_and_test_side_by_side(scored, capsys):
    folder, out, _ = scored
    assert main(["report", str(folder)]) == 0
    text = (folder / REPORT_FILE).read_text()
    section = text.split("## Validation vs held-out test", 1)[1]
    assert "| trial_id | method | storage_mb | bleu (val) | test_bleu |" in section
    assert "± " in section and "Test scoring took" in section and "test_scoring_s" in section
    assert "The knee" in section or "The best bleu" in section
    assert "Held-out test:" in capsys.readouterr().out


def test_report_says_which_choice_changes_when_validation_and_test_disagree(scored, capsys):
    """Validation BLEU rewritten so that the trial worse on test is best on validation: the
    report names both."""
    folder, out, _ = scored
    table = load(folder)
    front = table[table["trial_id"].isin(["t_lora", "t_adapter"])]
    assert front["test_bleu"].nunique() == 2, "the perturbed trials should translate differently"
    worse_on_test = front.loc[front["test_bleu"].idxmin(), "trial_id"]
    better_on_test = front.loc[front["test_bleu"].idxmax(), "trial_id"]
    table.loc[table["trial_id"] == worse_on_test, "bleu"] = 90.0
    table.loc[table["trial_id"] == better_on_test, "bleu"] = 20.0
    table.to_parquet(folder / "trials.parquet")
    assert main(["report", str(folder)]) == 0
    text = (folder / REPORT_FILE).read_text()
    assert f"The best bleu by validation is {worse_on_test} " in text
    assert f"by test {better_on_test} " in text and "the choice changes" in text
    assert f"The best bleu by validation is {worse_on_test}" in capsys.readouterr().out


def test_report_test_scores_named_trials(scored, capsys):
    folder, _, _ = scored
    assert main(["report", str(folder), "--test", "t_lora4"]) == 0
    row = load(folder).set_index("trial_id").loc["t_lora4"]
    assert 0 <= row["test_bleu"] <= 100
    assert "t_lora4" in (folder / REPORT_FILE).read_text().split("## Validation vs held-out test", 1)[1]


@pytest.mark.parametrize("trial, words", [("t_nope", ["t_nope", "--test"]), ("t_failed", ["failed", "--test"])])
def test_report_test_refuses_a_trial_it_cannot_score(scored, capsys, trial, words):
    folder, _, _ = scored
    assert main(["report", str(folder), "--test", trial]) == 2
    err = capsys.readouterr().err
    assert all(w in err for w in words) and "Traceback" not in err


def test_a_multi_pair_trial_is_scored_per_pair(tmp_path, cache_root, tiny_base):
    """Each pair's test set decoded with its own target code and scored alone; test_bleu is
    the unweighted mean, as bleu is."""
    from raymt.config.load import validate_config
    from raymt.metrics.bleu import corpus_scores
    from raymt.train.prepare import prepare_experiment

    synth = {"source": "synthetic", "domain": "medical", "valid_size": 12, "test_size": 12, "lexicon_size": 20}
    section = {
        "temperature": 1.0,
        "pairs": [
            {"src_lang": "en_XX", "tgt_lang": "de_DE", "data": {**synth, "train_size": 30}},
            {"src_lang": "de_DE", "tgt_lang": "en_XX", "reverse": True, "data": {**synth, "train_size": 30}},
        ],
    }
    (tmp_path / ".cache").symlink_to(cache_root, target_is_directory=True)
    cfg = validate_config({"storage_path": str(tmp_path), "model": {"max_length": 48}, "multi_pair": section}, "test")
    prepared = prepare_experiment(cfg, log=lambda m: None)
    folder = make_results_folder(
        tmp_path / "results",
        tiny_base,
        (("t_mp", "lora", {"r": 8}, 30.0),),
        failed=False,
        config={"model": {"name_or_path": "tiny", "max_length": 48}, "multi_pair": section},
    )
    (folder / "prepared.json").write_text(json.dumps({"base_path": str(tiny_base), "data_path": prepared.data_path, "pair_data": prepared.pair_data}))
    out = score_front_on_test(folder, load(folder), OBJECTIVES, log=lambda m: None)
    row = out.iloc[0]
    hyps = (folder / TEST_HYPS_DIR / "t_mp.txt").read_text().splitlines()
    refs = (folder / TEST_REFERENCES).read_text().splitlines()
    assert len(hyps) == len(refs) == 24 and row["test_sentences"] == 24
    de, en = corpus_scores(hyps[:12], refs[:12]), corpus_scores(hyps[12:], refs[12:])
    assert row["test_bleu_en_XX-de_DE"] == pytest.approx(de.bleu) and row["test_bleu_de_DE-en_XX"] == pytest.approx(en.bleu)
    assert row["test_chrf_de_DE-en_XX"] == pytest.approx(en.chrf)
    assert row["test_bleu"] == pytest.approx((de.bleu + en.bleu) / 2)
    assert row["test_bleu_ci95_en_XX-de_DE"] > 0 and row["test_bleu_ci95"] > 0
    assert de.bleu > en.bleu  # the base was pre-trained on en -> de only: the second pair really used en_XX


def test_the_untouched_base_is_scored_on_test_once_next_to_its_validation_score(tmp_path, tiny_base, capsys):
    """prepared.json's base_scores (the search scored the base on validation) get the base's
    test columns, decoded and bootstrapped as the trials are; the report shows it as a reference row."""
    from raymt.metrics.bleu import corpus_scores

    folder = make_results_folder(tmp_path / "results", tiny_base, TRIALS[:2], perturb=0.05, test_size=24)
    prepared = json.loads((folder / "prepared.json").read_text())
    prepared["base_scores"] = {"": {"bleu": 1.5, "chrf": 12.0, "sentences": 24, "split": "validation"}}
    (folder / "prepared.json").write_text(json.dumps(prepared))
    logged: list[str] = []
    score_front_on_test(folder, load(folder), OBJECTIVES, log=logged.append)
    base = json.loads((folder / "prepared.json").read_text())["base_scores"][""]
    hyps = (folder / TEST_HYPS_DIR / "untouched_base.txt").read_text().splitlines()
    refs = (folder / TEST_REFERENCES).read_text().splitlines()
    assert len(hyps) == 24 and base["test_sentences"] == 24 and base["bleu"] == 1.5  # the validation score stays
    assert base["test_bleu"] == pytest.approx(corpus_scores(hyps, refs).bleu) and base["test_bleu_ci95"] > 0
    assert any(line.startswith("  untouched base: test BLEU") for line in logged)
    again: list[str] = []
    score_front_on_test(folder, load(folder), OBJECTIVES, log=again.append)
    assert again == []  # scored once
    assert main(["report", str(folder)]) == 0
    section = (folder / REPORT_FILE).read_text().split("## Validation vs held-out test", 1)[1]
    assert "| untouched base | - |" in section and "The untouched base scores" in section
    # the Data section's per-direction table puts the test split next to validation: the base's
    # test score, and the trial validation ranks first (t_adapter, 31.0) with its own test score
    data = (folder / REPORT_FILE).read_text().split("## Data", 1)[1].split("\n## ", 1)[0]
    scored = load(folder).set_index("trial_id").loc["t_adapter"]
    assert (
        f"| {base['test_bleu']:.2f} ± {base['test_bleu_ci95']:.2f} | {scored['test_bleu']:.2f} ± {scored['test_bleu_ci95']:.2f} (t_adapter) |" in data
    )


def test_a_resumed_search_keeps_the_test_scores_its_trials_had_before_the_stop():
    """Before the stop: trial a on the front, scored on test (per pair and mean); b never scored.
    After the resume: Tune's results hold no test scores, a is off the front (its artefact pruned),
    c is the new front member, scored now. a keeps what it had; c's new scores are not overwritten."""
    from raymt.results.test_scores import keep_earlier_test_scores

    earlier = pd.DataFrame(
        {
            "trial_id": ["a", "b"],
            "bleu": [6.5, 4.0],
            "test_bleu": [6.75, float("nan")],
            "test_bleu_en_XX-cs_CZ": [3.46, float("nan")],
            "test_signature": ["nrefs:1|bs:1000", ""],
            "test_error": ["", ""],
        }
    )
    rebuilt = pd.DataFrame({"trial_id": ["a", "b", "c"], "bleu": [6.5, 4.0, 7.3]})
    kept = keep_earlier_test_scores(rebuilt, earlier)
    assert kept.set_index("trial_id").loc["a", ["test_bleu", "test_bleu_en_XX-cs_CZ", "test_signature"]].tolist() == [6.75, 3.46, "nrefs:1|bs:1000"]
    assert kept.set_index("trial_id").loc[["b", "c"], "test_bleu"].isna().all()
    assert kept["bleu"].tolist() == rebuilt["bleu"].tolist() and "test_bleu" not in rebuilt.columns

    scored_now = kept.assign(test_bleu=[5.0, float("nan"), 7.1])  # a scored again after the resume: the new score stands
    assert keep_earlier_test_scores(scored_now, earlier)["test_bleu"].tolist()[::2] == [5.0, 7.1]
    assert keep_earlier_test_scores(rebuilt, None) is rebuilt
