"""Back-translation: sampled sources from a target->source model, a pool generated once.

The in-process tests use the tiny base itself as the "reverse" model, in the direction it was
pre-trained on (reading en_XX, writing de_DE; the input is the invented-language target, so
the output is nonsense, but never empty: in its untrained direction the base often ends at
once): it is a real seq2seq model, so sampling, seeding, sizes and pairing are exercised for
real without training anything. The pool tests go through Ray actors and the cache.
"""

from __future__ import annotations

import json

import pytest

from raymt.config.load import validate_config
from raymt.data.augment import augmented_pairs, get_operator
from raymt.data.augment.back_translation import build_log
from raymt.data.synthetic import SyntheticSpec, generate_splits
from raymt.errors import ConfigError

TRAIN = generate_splits(SyntheticSpec(domain="medical", train_size=30, valid_size=0, test_size=0, lexicon_size=20))["train"]


@pytest.fixture(scope="module")
def bt_params(tiny_base):
    return {"model": str(tiny_base), "input_lang": "en_XX", "output_lang": "de_DE", "max_new_tokens": 24, "batch_size": 8}


def test_sampling_is_seeded_sized_and_keeps_the_targets(bt_params):
    new = augmented_pairs(TRAIN, "back_translation", 0.5, bt_params, seed=0)
    assert len(new) == round(0.5 * len(TRAIN))
    assert new == augmented_pairs(TRAIN, "back_translation", 0.5, bt_params, seed=0)  # seeded: reproducible
    assert new != augmented_pairs(TRAIN, "back_translation", 0.5, bt_params, seed=1)
    sources = {tgt: src for src, tgt in TRAIN}
    assert len({tgt for _, tgt in new}) == len(new) and all(tgt in sources for _, tgt in new)  # distinct original targets
    assert all(src and src != sources[tgt] for src, tgt in new)  # a new source, never the original one


def test_the_randomness_is_the_sampling(bt_params):
    from raymt.data.augment.generation import Translator, translate_local

    targets = [tgt for _, tgt in TRAIN[:8]]
    common = {"input_lang": "de_DE", "output_lang": "en_XX", "temperature": 1.0, "top_p": 1.0, "max_new_tokens": 24}
    sampler = Translator(bt_params["model"], top_k=0, **common)
    assert translate_local(sampler, targets, seed=0, batch_size=4) != translate_local(sampler, targets, seed=1, batch_size=4)
    greedy = Translator(bt_params["model"], top_k=1, **common)  # top_k=1 leaves nothing to sample
    assert translate_local(greedy, targets, seed=0, batch_size=4) == translate_local(greedy, targets, seed=1, batch_size=4)


@pytest.mark.parametrize(
    "params, field",
    [
        ({"temperature": 0}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"num_actors": 0}, "num_actors"),
        ({"beam": 4}, "beam"),
    ],
)
def test_bad_params_are_config_errors_at_load_time(params, field):
    with pytest.raises(ConfigError, match=rf"augment: back_translation\.params\.{field}"):
        validate_config({"augment": {"back_translation": {"ratio": 0.5, "params": params}}}, "space.yaml")
    with pytest.raises(ConfigError, match=rf"augment\.back_translation\.{field}"):
        augmented_pairs(TRAIN, "back_translation", 0.0, params, seed=0)  # even at ratio 0


def test_the_tiny_reverse_model_needs_an_experiment():
    with pytest.raises(ConfigError, match="model: tiny is trained per experiment"):
        augmented_pairs(TRAIN, "back_translation", 0.5, {}, seed=0)


def test_tiny_reverse_model_is_refused_for_a_real_base(tmp_path, tiny_base):
    cfg = validate_config({"model": {"name_or_path": str(tiny_base)}, "augment": {"back_translation": {"ratio": 0.5}}}, "x.yaml")
    with pytest.raises(ConfigError, match="augment.back_translation.params.model"):
        get_operator("back_translation").build_pool(TRAIN, 0.5, {}, seed=0, cfg=cfg, root=tmp_path)


def test_reverse_tiny_model_reads_the_target_language_and_is_cached(tmp_path, tiny_base):
    from raymt.model.reverse_tiny import REVERSE_MARKER, build_reverse_tiny
    from raymt.model.tiny import TinyModelSpec

    logs: list[str] = []
    path = build_reverse_tiny(tiny_base, TinyModelSpec(), TRAIN, tmp_path, src_lang="en_XX", tgt_lang="de_DE", epochs=1, log=logs.append)
    meta = json.loads((path / REVERSE_MARKER).read_text())
    assert meta["reads"] == "de_DE" and meta["writes"] == "en_XX" and meta["pairs"] == len(TRAIN)
    assert (path / "model.safetensors").is_file()
    assert any("reverse model" in m for m in logs)
    again = build_reverse_tiny(tiny_base, TinyModelSpec(), TRAIN, tmp_path, src_lang="en_XX", tgt_lang="de_DE", epochs=1, log=logs.append)
    assert again == path and sum("built" in m for m in logs) == 1
    other = build_reverse_tiny(tiny_base, TinyModelSpec(), TRAIN[:-1], tmp_path, src_lang="en_XX", tgt_lang="de_DE", epochs=1, log=logs.append)
    assert other != path  # keyed by the corpus


@pytest.mark.slow
def test_pool_on_ray_actors_is_the_in_process_pool_and_is_generated_once(tmp_path, tiny_base, bt_params, ray_local):
    cfg = validate_config({"augment": {"back_translation": {"ratio": 0.5, "params": bt_params}}}, "x.yaml")
    op = get_operator("back_translation")
    pool = op.build_pool(TRAIN, 0.5, bt_params, seed=3, cfg=cfg, root=tmp_path, log=lambda m: None)
    assert pool == augmented_pairs(TRAIN, "back_translation", 0.5, bt_params, seed=3)  # same chunks, same seeds
    assert op.cost["sentences"] == len(pool) and op.cost["sentences_per_s"] > 0 and not op.cost["cached"]
    two = get_operator("back_translation")
    # two actors, a fresh cache: the pool does not depend on who generated which chunk
    assert two.build_pool(TRAIN, 0.5, {**bt_params, "num_actors": 2}, seed=3, cfg=cfg, root=tmp_path / "b", log=lambda m: None) == pool
    assert two.cost["actors"] == 2
    again = get_operator("back_translation")
    assert again.build_pool(TRAIN, 0.5, bt_params, seed=3, cfg=cfg, root=tmp_path, log=lambda m: None) == pool
    assert again.cost["cached"] and again.cost["seconds"] == op.cost["seconds"]  # the original cost, reported again
    assert len(build_log(tmp_path)) == 1


def test_generation_tells_its_progress_with_the_time_left(bt_params):
    from raymt.data.augment.generation import Translator, translate_local

    common = {"input_lang": "en_XX", "output_lang": "de_DE", "temperature": 1.0, "top_k": 0, "top_p": 1.0, "max_new_tokens": 8}
    translator = Translator(bt_params["model"], **common)
    targets = [tgt for _, tgt in TRAIN[:10]]
    lines: list[str] = []
    out = translate_local(translator, targets, seed=0, batch_size=4, log=lines.append, every_s=0)
    assert out == translate_local(translator, targets, seed=0, batch_size=4)  # told or not, the same sampling
    assert [line.split(",")[0] for line in lines] == [
        "back-translation: 40% (4/10 sentences)",
        "back-translation: 80% (8/10 sentences)",
        "back-translation: 100% (10/10 sentences)",
    ]
    assert "left" in lines[0] and lines[-1].endswith("done")
