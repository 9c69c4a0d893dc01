"""A multi-pair trial's data and evaluation, in process (no Ray): each pair's evaluation set is
generated with that pair's forced target code and scored on its own; bleu is the mean."""

from __future__ import annotations

import pytest
import torch

from raymt.config.load import validate_config

SYNTH = {"source": "synthetic", "domain": "medical", "valid_size": 12, "test_size": 12, "lexicon_size": 20}


@pytest.fixture()
def multi_pair(tmp_path, cache_root, tiny_base):
    from raymt.train.prepare import prepare_experiment

    (tmp_path / ".cache").symlink_to(cache_root, target_is_directory=True)
    cfg = validate_config(
        {
            "storage_path": str(tmp_path),
            "model": {"max_length": 48},
            "multi_pair": {
                "temperature": 1.0,
                "pairs": [
                    {"src_lang": "en_XX", "tgt_lang": "de_DE", "data": {**SYNTH, "train_size": 90}},
                    {"src_lang": "de_DE", "tgt_lang": "en_XX", "reverse": True, "data": {**SYNTH, "train_size": 30}},
                ],
            },
            "eval": {"batch_size": 8},
        },
        "test",
    )
    return cfg, prepare_experiment(cfg, log=lambda m: None)


def test_each_pair_is_generated_with_its_own_target_code_and_scored_alone(multi_pair):
    from raymt.metrics.bleu import corpus_scores
    from raymt.model.loading import load_model, load_tokenizer
    from raymt.train.data import open_trial_data
    from raymt.train.worker import _evaluate

    cfg, prepared = multi_pair
    data = open_trial_data(prepared.loop_config(cfg), cfg)
    assert [p.pair for p in data.parts] == ["en_XX-de_DE", "de_DE-en_XX"]
    tok = load_tokenizer(prepared.base_path, cfg.model.src_lang, cfg.model.tgt_lang)
    model = load_model(prepared.base_path)
    forced: list[int] = []
    generate = model.generate

    def spy(*args, **kwargs):
        forced.append(kwargs["forced_bos_token_id"])
        return generate(*args, **kwargs)

    model.generate = spy
    loss, hyps, scores, per_pair = _evaluate(model, data, tok, cfg, 0, 1, torch.device("cpu"), None)

    de, en = tok.convert_tokens_to_ids(["de_DE", "en_XX"])
    assert forced == [de, de, en, en]  # 12 sentences per pair in batches of 8
    assert len(hyps) == 24
    first = corpus_scores(hyps[:12], data.parts[0].references)
    second = corpus_scores(hyps[12:], data.parts[1].references)
    assert per_pair["bleu_en_XX-de_DE"] == first.bleu and per_pair["bleu_de_DE-en_XX"] == second.bleu
    assert per_pair["chrf_de_DE-en_XX"] == second.chrf
    assert scores.bleu == pytest.approx((first.bleu + second.bleu) / 2)
    assert first.bleu > second.bleu  # the base was pre-trained on en -> de only
    assert loss > 0


def test_training_batches_follow_the_temperature(multi_pair):
    from raymt.model.loading import load_tokenizer
    from raymt.train.data import make_train_loader, open_trial_data

    cfg, prepared = multi_pair
    data = open_trial_data(prepared.loop_config(cfg), cfg)
    assert data.train_sizes == [90, 30] and len(data.train) == 120
    tok = load_tokenizer(prepared.base_path, cfg.model.src_lang, cfg.model.tgt_lang)
    de = tok.convert_tokens_to_ids("de_DE")
    loaders = [make_train_loader(data, tok, cfg, rank, 2) for rank in (0, 1)]
    assert len(loaders[0][0]) == len(loaders[1][0])  # same number of batches on both DDP ranks
    # T=1: proportional to size, so 90 of the 120 rows per epoch are en -> de (labels start with de_DE)
    forward = sum(int((batch["labels"][:, 0] == de).sum()) for loader, _ in loaders for batch in loader)
    assert forward == 90


def test_each_pair_is_scored_with_its_own_targets_bleu_tokenizer(tmp_path, cache_root, tiny_base):
    """eval.bleu_tokenize: auto follows each pair's own target code: 13a for de_DE, ja-mecab
    for ja_XX; the trial's signature names each pair's settings since they differ."""
    from raymt.model.loading import load_model, load_tokenizer
    from raymt.train.data import open_trial_data
    from raymt.train.prepare import prepare_experiment
    from raymt.train.worker import _evaluate

    (tmp_path / ".cache").symlink_to(cache_root, target_is_directory=True)
    small = {**SYNTH, "train_size": 20, "valid_size": 6}
    cfg = validate_config(
        {
            "storage_path": str(tmp_path),
            "model": {"max_length": 48},
            "multi_pair": {
                "pairs": [{"src_lang": "en_XX", "tgt_lang": "de_DE", "data": small}, {"src_lang": "en_XX", "tgt_lang": "ja_XX", "data": small}]
            },
            "eval": {"batch_size": 8},
        },
        "test",
    )
    prepared = prepare_experiment(cfg, log=lambda m: None)
    data = open_trial_data(prepared.loop_config(cfg), cfg)
    tok = load_tokenizer(prepared.base_path, cfg.model.src_lang, cfg.model.tgt_lang)
    _, _, scores, _ = _evaluate(load_model(prepared.base_path), data, tok, cfg, 0, 1, torch.device("cpu"), None)
    de, ja = scores.bleu_signature.split("; ")
    assert de.startswith("en_XX-de_DE: ") and "|tok:13a|" in de
    assert ja.startswith("en_XX-ja_XX: ") and "|tok:ja-mecab-" in ja
    assert "; " not in scores.chrf_signature  # chrF has no tokenizer: one signature for both
