"""Export / translate / evaluate without Ray: a results folder made by hand around real
artefacts saved by the methods themselves (the end-to-end search test exports trained ones)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from hand_made_results import make_results_folder

from raymt.cli import main
from raymt.errors import ConfigError
from raymt.export import choose_trial, export_trial, load_exported, translate
from raymt.methods import get_method
from raymt.model.loading import forced_bos_id, load_model, load_tokenizer

SOURCES = ["the nurse treats the patient", "a doctor sees the fever", "the pills help"]


@pytest.fixture()
def results(tmp_path, tiny_base):
    """A search's results folder with a LoRA trial, an adapter trial and a failed one."""
    return make_results_folder(tmp_path / "results", tiny_base)


def base_translations(tiny_base, lines):
    tok = load_tokenizer(str(tiny_base), "en_XX", "de_DE")
    model = load_model(str(tiny_base)).eval()
    out = model.generate(**tok(lines, return_tensors="pt", padding=True), forced_bos_token_id=forced_bos_id(tok, "de_DE"), max_new_tokens=40)
    return [t.strip() for t in tok.batch_decode(out, skip_special_tokens=True)]


def test_exported_lora_is_peft_format_and_translates_like_its_model(results, tmp_path, tiny_base):
    df = pd.read_parquet(results / "trials.parquet")
    out = export_trial(results, choose_trial(df, trial="t_lora"), tmp_path / "out")
    meta = json.loads((out / "raymt_export.json").read_text())
    assert meta["method"] == "lora" and meta["config"]["method"]["r"] == 8 and meta["base"] == str(tiny_base)
    assert (out / "adapter_config.json").exists() and (out / "tokenizer_config.json").exists()
    assert "t_lora" in (out / "README.md").read_text()
    # a freshly initialised LoRA is the identity: its translations are the base model's
    assert translate(out, SOURCES, max_new_tokens=40) == base_translations(tiny_base, SOURCES)
    merged = export_trial(results, choose_trial(df, trial="t_lora"), tmp_path / "merged", merge=True)
    assert (merged / "model.safetensors").exists()
    assert translate(merged, SOURCES, max_new_tokens=40) == translate(out, SOURCES, max_new_tokens=40)


def test_choose_by_budget_and_refusals(results):
    df = pd.read_parquet(results / "trials.parquet")
    small = df.loc[df["trial_id"] == "t_lora", "storage_mb"].iloc[0]
    assert choose_trial(df, best_under_mb=small)["trial_id"] == "t_lora"
    assert choose_trial(df, best_under_mb=10.0)["trial_id"] == "t_adapter"  # higher BLEU within 10 MB
    with pytest.raises(ConfigError, match="failed"):
        choose_trial(df, trial="t_failed")
    with pytest.raises(ConfigError, match="no trial"):
        choose_trial(df, trial="nope")
    with pytest.raises(ConfigError, match="exactly one"):
        choose_trial(df)


def test_merge_is_for_lora_only(results, tmp_path):
    df = pd.read_parquet(results / "trials.parquet")
    with pytest.raises(ConfigError, match="--merge"):
        export_trial(results, choose_trial(df, trial="t_adapter"), tmp_path / "x", merge=True)


def test_cli_export_translate_evaluate(results, tmp_path, capsys):
    out = tmp_path / "cli-out"
    assert main(["export", str(results), "--knee", "--to", str(out)]) == 0
    said = capsys.readouterr().out
    # two members: no knee, and it says so and which one it exports instead (the higher BLEU)
    assert "no knee: the front has 2 members" in said and "exported trial t_adapter" in said
    model_tuple = load_exported(out)
    src = tmp_path / "src.txt"
    src.write_text("\n".join(SOURCES) + "\n")
    capsys.readouterr()
    assert main(["translate", str(out), str(src)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed == translate(out, SOURCES, loaded=model_tuple)
    ref = tmp_path / "ref.txt"
    ref.write_text("\n".join(printed) + "\n")  # its own output as reference: BLEU 100
    assert main(["evaluate", str(out), "--src", str(src), "--ref", str(ref)]) == 0
    text = capsys.readouterr().out
    assert "BLEU 100.00" in text and "nrefs:1" in text
    assert main(["export", str(results), "--trial", "t_lora", "--to", str(out)]) == 2  # not empty
    assert main(["translate", str(tmp_path)]) == 2  # not an export


# --- evaluate = search: the export replays the trial's decoding ------------------------------------

SMALL_DATA = {"source": "synthetic", "domain": "medical", "train_size": 40, "valid_size": 23, "test_size": 8, "lexicon_size": 20}
EVAL = {"beam_size": 2, "max_new_tokens": 9, "batch_size": 5}


@pytest.fixture()
def searched(tmp_path, tiny_base, cache_root):
    """A hand-made results folder whose trials decode with non-default settings, its prepared
    (tokenised) validation set, and the trial config."""
    from raymt.config.load import validate_config
    from raymt.train.prepare import prepare_experiment

    (tmp_path / ".cache").symlink_to(cache_root, target_is_directory=True)
    extra = {"data": SMALL_DATA, "model": {"name_or_path": "tiny", "max_length": 24}, "eval": EVAL}
    results = make_results_folder(tmp_path / "results", tiny_base, config=extra, perturb=0.05)
    cfg = validate_config({"storage_path": str(tmp_path), "method": {"name": "lora", "r": 8}, **extra}, "test")
    return results, cfg, prepare_experiment(cfg, log=lambda m: None)


def test_export_records_the_decoding_and_evaluate_equals_the_workers_scoring(searched, tmp_path):
    """The worker's scoring (``_evaluate``) and ``evaluate`` on the exported trial give the same
    hypotheses and the same BLEU, with beam 2, 9 new tokens, batches of 5 and sources truncated
    to 24 tokens: the settings travel with the export."""
    from raymt.export import evaluate
    from raymt.train.data import open_trial_data
    from raymt.train.worker import _evaluate

    results, cfg, prepared = searched
    out = export_trial(results, choose_trial(pd.read_parquet(results / "trials.parquet"), trial="t_lora"), tmp_path / "out")
    meta = json.loads((out / "raymt_export.json").read_text())
    assert meta["decoding"] == {
        "beam_size": 2,
        "max_new_tokens": 9,
        "batch_size": 5,
        "max_length": 24,
        "shards": 1,
        "bleu_tokenize": "auto",
        "split": "validation",
        "max_samples": None,
    }
    assert meta["pairs"] == [{"pair": "en_XX-de_DE", "src_lang": "en_XX", "tgt_lang": "de_DE", "bleu_tokenize": "13a"}]

    data = open_trial_data(prepared.loop_config(cfg), cfg)
    tok = load_tokenizer(prepared.base_path, "en_XX", "de_DE")
    model = get_method("lora").load(load_model(prepared.base_path), results / "artifacts" / "t_lora").eval()
    _, worker_hyps, worker_scores, _ = _evaluate(model, data, tok, cfg, 0, 1, torch.device("cpu"), None)

    exported_tok = load_exported(out)[1]  # the export's own tokenizer encodes the sources as the corpus cache did
    assert exported_tok(data.sources, truncation=True, max_length=24)["input_ids"] == list(data.eval["input_ids"])
    scores, hyps = evaluate(out, data.sources, data.references)
    assert hyps == worker_hyps
    assert scores == worker_scores
    assert translate(out, data.sources, max_new_tokens=3, beam_size=1) != hyps  # overrides take effect


def test_search_batches_are_replayed_for_every_shard():
    """Two Train workers each decode their stride of the length-sorted set; replaying all
    shards' batches in one process gives exactly those batches."""
    from raymt.model.generation import all_batches, batch_plan

    lengths = [5, 9, 3, 9, 12, 1, 7, 7, 2, 8, 4]
    per_rank = [batch_plan(lengths, 3, rank=r, world=2) for r in range(2)]
    assert all_batches(lengths, 3, 2) == per_rank[0] + per_rank[1]
    assert sorted(i for b in all_batches(lengths, 3, 2) for i in b) == list(range(len(lengths)))
    assert per_rank[0][0] == [4, 3, 6]  # longest first (ties in input order), every other one


def test_translate_overrides_and_cli_flags(results, tmp_path, capsys, monkeypatch):
    out = export_trial(results, choose_trial(pd.read_parquet(results / "trials.parquet"), trial="t_lora"), tmp_path / "out")
    seen = []
    from raymt.model import generation

    real = generation.generate_texts

    def spy(model, ids, mask, tokenizer, tgt_lang, decoding):
        seen.append((decoding.beam_size, decoding.max_new_tokens, decoding.batch_size, tgt_lang))
        return real(model, ids, mask, tokenizer, tgt_lang, decoding)

    monkeypatch.setattr("raymt.model.generation.generate_texts", spy)
    src = tmp_path / "src.txt"
    src.write_text("\n".join(SOURCES) + "\n")
    assert main(["translate", str(out), str(src)]) == 0
    assert seen == [(1, 64, 64, "de_DE")]  # the trial config's eval defaults, not export-side constants
    seen.clear()
    assert main(["translate", str(out), str(src), "--beam", "3", "--max-new-tokens", "7", "--batch-size", "2"]) == 0
    assert seen == [(3, 7, 2, "de_DE")] * 2


def test_blank_lines_stay_blank(results, tmp_path):
    out = export_trial(results, choose_trial(pd.read_parquet(results / "trials.parquet"), trial="t_lora"), tmp_path / "out")
    loaded = load_exported(out)
    got = translate(out, [SOURCES[0], "", "   ", SOURCES[1]], loaded=loaded)
    assert got[1:3] == ["", ""]
    assert [got[0], got[3]] == translate(out, [SOURCES[0], SOURCES[1]], loaded=loaded)
    assert translate(out, ["", ""], loaded=loaded) == ["", ""]


def test_lines_split_on_newlines_only(tmp_path):
    from raymt.export.translate import read_lines

    path = tmp_path / "src.txt"
    path.write_text("one\u2028still one\r\ntwo\x0cstill two\n\nfour\n", encoding="utf-8", newline="")
    assert read_lines(path, "source") == ["one\u2028still one", "two\x0cstill two", "", "four"]


def test_a_multi_pair_export_asks_which_direction():
    from raymt.export.bundle import choose_pair

    meta = {
        "src_lang": "en_XX",
        "tgt_lang": "de_DE",
        "pairs": [
            {"pair": "en_XX-de_DE", "src_lang": "en_XX", "tgt_lang": "de_DE"},
            {"pair": "en_XX-ja_XX", "src_lang": "en_XX", "tgt_lang": "ja_XX"},
        ],
    }
    with pytest.raises(ConfigError, match="--pair en_XX-de_DE"):
        choose_pair(meta)
    assert choose_pair(meta, "en_XX-ja_XX")["tgt_lang"] == "ja_XX"
    with pytest.raises(ConfigError, match="no direction"):
        choose_pair(meta, "de_DE-en_XX")
    assert choose_pair({"src_lang": "en_XX", "tgt_lang": "de_DE"})["pair"] == "en_XX-de_DE"  # an older export


def test_model_card_has_rounded_metrics_and_hub_model_index(results, tmp_path):
    from huggingface_hub import ModelCard

    df = pd.read_parquet(results / "trials.parquet")
    df.loc[df["trial_id"] == "t_lora", ["bleu", "chrf"]] = [61.663482901534, 70.1234567]
    out = export_trial(results, choose_trial(df, trial="t_lora"), tmp_path / "out")
    text = (out / "README.md").read_text()
    assert "| BLEU | 61.66 |" in text and "| chrF | 70.12 |" in text and "61.6634" not in text
    card = ModelCard(text)  # huggingface_hub's own parser, as the Hub reads it
    assert card.data.pipeline_tag == "translation" and card.data.library_name == "peft"
    assert card.data.language == ["en", "de"]
    by_metric = {r.metric_type: r for r in card.data.eval_results}
    assert set(by_metric) == {"bleu", "chrf"}
    bleu = by_metric["bleu"]
    assert bleu.task_type == "translation" and bleu.metric_value == 61.66 and bleu.dataset_split == "validation"
    assert bleu.metric_config == "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0"
    assert bleu.dataset_type == "synthetic"
    assert "beam size 1, at most 64 new tokens" in text


def test_translate_and_evaluate_are_quiet(results, tmp_path, capfd):
    out = tmp_path / "out"
    assert main(["export", str(results), "--trial", "t_adapter", "--to", str(out)]) == 0
    src = tmp_path / "src.txt"
    src.write_text("\n".join(SOURCES) + "\n")
    capfd.readouterr()
    assert main(["translate", str(out), str(src)]) == 0
    captured = capfd.readouterr()
    assert captured.err == "" and len(captured.out.splitlines()) == len(SOURCES)
    assert main(["evaluate", str(out), "--src", str(src), "--ref", str(src)]) == 0
    captured = capfd.readouterr()
    assert captured.err == "" and [line.split()[0] for line in captured.out.splitlines()] == ["BLEU", "chrF"]


def test_every_argument_of_export_translate_evaluate_has_help():
    import argparse

    from raymt.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name in ("export", "translate", "evaluate"):
        for action in sub.choices[name]._actions:
            assert action.help, (name, action.dest)
