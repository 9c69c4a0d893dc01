"""The multi_pair: section: validation (one-line errors before Ray) and per-pair tokenisation."""

from __future__ import annotations

import copy

import pytest
import yaml

from raymt.config.load import validate_config
from raymt.errors import ConfigError, DataError

SYNTH = {"source": "synthetic", "domain": "medical", "train_size": 60, "valid_size": 12, "test_size": 12, "lexicon_size": 20}
BOTH_DIRECTIONS = {
    "multi_pair": {
        "temperature": 5.0,
        "pairs": [
            {"src_lang": "en_XX", "tgt_lang": "de_DE", "data": SYNTH},
            {"src_lang": "de_DE", "tgt_lang": "en_XX", "reverse": True, "data": SYNTH},
        ],
    },
    "model": {"max_length": 48},
}


def raw(**changes):
    out = copy.deepcopy(BOTH_DIRECTIONS)
    for key, value in changes.items():
        out[key] = value
    return out


def with_pairs(*pairs, temperature=5.0):
    return raw(multi_pair={"temperature": temperature, "pairs": list(pairs)})


def test_both_directions_validate_and_the_first_pair_sets_the_model_codes():
    cfg = validate_config(raw(), "mp.yaml")
    assert cfg.multi_pair.keys == ["en_XX-de_DE", "de_DE-en_XX"]
    assert cfg.multi_pair.pairs[1].reverse
    assert (cfg.model.src_lang, cfg.model.tgt_lang) == ("en_XX", "de_DE")
    # what a Train worker re-validates (a full dump: data and codes present) stays valid
    again = type(cfg).model_validate(cfg.model_dump(mode="json"))
    assert again.multi_pair == cfg.multi_pair


def test_single_pair_config_is_unchanged():
    cfg = validate_config({"data": SYNTH, "model": {"src_lang": "de_DE", "tgt_lang": "en_XX"}}, "one.yaml")
    assert cfg.multi_pair is None and (cfg.model.src_lang, cfg.model.tgt_lang) == ("de_DE", "en_XX")


PAIR = {"src_lang": "en_XX", "tgt_lang": "de_DE", "data": SYNTH}
CASES = [
    ("duplicate_pair", with_pairs(PAIR, dict(PAIR)), ["multi_pair.pairs", "repeats the direction en_XX-de_DE"]),
    ("zero_temperature", with_pairs(PAIR, {**PAIR, "src_lang": "fr_XX"}, temperature=0), ["multi_pair.temperature", "greater than 0"]),
    ("negative_temperature", with_pairs(PAIR, {**PAIR, "src_lang": "fr_XX"}, temperature=-1), ["multi_pair.temperature"]),
    ("one_pair", with_pairs(PAIR), ["multi_pair.pairs", "at least 2"]),
    ("same_language", with_pairs(PAIR, {**PAIR, "tgt_lang": "en_XX"}), ["multi_pair.pairs.[1]", "both 'en_XX'"]),
    ("missing_data", with_pairs(PAIR, {"src_lang": "de_DE", "tgt_lang": "en_XX"}), ["multi_pair.pairs.[1].data", "missing"]),
    ("typo_in_pair", with_pairs(PAIR, {**PAIR, "src_lang": "de_DE", "tgt_lng": "en_XX"}), ["tgt_lng", "tgt_lang"]),
    ("bad_pair_data", with_pairs(PAIR, {**PAIR, "src_lang": "de_DE", "data": {**SYNTH, "train_size": -1}}), ["multi_pair.pairs.[1].data.train_size"]),
    ("data_and_pairs", raw(data=SYNTH), ["both data: and multi_pair:", "mp.yaml: data"]),
    ("model_codes_and_pairs", raw(model={"src_lang": "en_XX"}), ["model.src_lang", "multi_pair.pairs[]"]),
    ("augment_and_pairs", raw(augment={"word_dropout": {"ratio": 0.1}}), ["augment", "not supported with multi_pair"]),
    ("init_stage_and_pairs", raw(init={"stage": "denoise"}), ["init.stage", "not supported with multi_pair"]),
]


@pytest.mark.parametrize("config, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_multi_pair_config_is_one_line_config_error(config, words):
    with pytest.raises(ConfigError) as info:
        validate_config(config, "mp.yaml")
    text = str(info.value)
    assert "\n" not in text
    for word in words:
        assert word in text, (word, text)


def test_cli_refuses_data_and_pairs_before_ray(tmp_path, capsys):
    from raymt.cli import main

    path = tmp_path / "mp.yaml"
    path.write_text(yaml.safe_dump(raw(data=SYNTH)))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "both data: and multi_pair:" in err and "Traceback" not in err


# --- per-pair tokenisation (the tiny base's real MBart50Tokenizer) -----------------------------


@pytest.fixture()
def storage(tmp_path, cache_root, tiny_base):
    """A storage folder whose .cache is the session cache: the tiny base is not rebuilt."""
    (tmp_path / ".cache").symlink_to(cache_root, target_is_directory=True)
    return tmp_path


def test_each_pair_is_tokenised_with_its_own_codes(storage):
    from raymt.data.cache import load_tokenized
    from raymt.model.loading import load_tokenizer
    from raymt.train.prepare import prepare_experiment

    cfg = validate_config({**raw(), "storage_path": str(storage)}, "mp.yaml")
    prepared = prepare_experiment(cfg, log=lambda m: None)
    assert list(prepared.pair_data) == ["en_XX-de_DE", "de_DE-en_XX"]
    assert prepared.data_path == prepared.pair_data["en_XX-de_DE"]
    assert prepared.sizes["de_DE-en_XX train"] == 60
    tok = load_tokenizer(prepared.base_path, "en_XX", "de_DE")
    code = tok.convert_tokens_to_ids
    forward, backward = (load_tokenized(prepared.pair_data[k]) for k in prepared.pair_data)
    for data, src, tgt in ((forward, "en_XX", "de_DE"), (backward, "de_DE", "en_XX")):
        train = data["train"]
        # MBart50Tokenizer: [src_code] tokens </s>; labels: [tgt_code] tokens </s>
        assert {ids[0] for ids in train["input_ids"]} == {code(src)}
        assert {ids[0] for ids in train["labels"]} == {code(tgt)}
        assert {ids[-1] for ids in train["labels"]} == {tok.eos_token_id}
    # reverse: the second pair is the first with its sides swapped
    assert backward["validation"]["src_text"] == forward["validation"]["tgt_text"]
    assert backward["validation"]["tgt_text"] == forward["validation"]["src_text"]


def test_unknown_pair_code_is_refused_before_ray_naming_the_pair(storage):
    from raymt.train.prepare import prepare_experiment

    bad = raw()
    bad["multi_pair"]["pairs"][1]["tgt_lang"] = "xx_YY"
    cfg = validate_config({**bad, "storage_path": str(storage)}, "mp.yaml")
    with pytest.raises(ConfigError, match=r"multi_pair.pairs\[1\].tgt_lang.*'xx_YY'"):
        prepare_experiment(cfg, log=lambda m: None)


def test_multi30k_pairs_from_one_english_side(storage, multi30k_raw):
    """Real multi-pair data: en->de and en->fr from the line-aligned Multi30k files. The tiny
    tokenizer does not know these words; this checks the mechanics (files, codes, sizes)."""
    from raymt.data.cache import load_tokenized
    from raymt.train.prepare import prepare_experiment

    def local(tgt):
        return {
            "source": "local",
            "path": str(multi30k_raw),
            "format": "moses",
            "src": "en",
            "tgt": tgt,
            "validation": "val",
            "test": "test_2016_flickr",
            "max_train_pairs": 300,
        }

    config = with_pairs(
        {"src_lang": "en_XX", "tgt_lang": "de_DE", "data": local("de")}, {"src_lang": "en_XX", "tgt_lang": "fr_XX", "data": local("fr")}
    )
    cfg = validate_config({**config, "storage_path": str(storage)}, "mp.yaml")
    # the tokenizer-fit check refuses real text under the synthetic tokenizer, naming the pair
    with pytest.raises(DataError, match=r"^multi_pair.pairs\[0\].data: .*% of the target tokens \(de_DE\) are <unk>"):
        prepare_experiment(cfg, log=lambda m: None)
    config["model"] = {**config.get("model", {}), "max_unk_rate": 1.0}  # measured and stored, not refused
    cfg = validate_config({**config, "storage_path": str(storage)}, "mp.yaml")
    prepared = prepare_experiment(cfg, log=lambda m: None)
    assert set(prepared.tokenizer_fit) == {"en_XX-de_DE", "en_XX-fr_XX"}
    assert set(prepared.base_scores) == {"en_XX-de_DE", "en_XX-fr_XX"}
    de, fr = (load_tokenized(prepared.pair_data[k]) for k in ("en_XX-de_DE", "en_XX-fr_XX"))
    assert len(de["train"]) == len(fr["train"]) == 300
    assert len(de["validation"]) == len(fr["validation"]) == 1014
    # line-aligned: the same English validation sentences, two different targets
    assert de["validation"]["src_text"] == fr["validation"]["src_text"]
    assert de["validation"]["tgt_text"][0] != fr["validation"]["tgt_text"][0]
    assert de["train"]["labels"][0][0] != fr["train"]["labels"][0][0]  # de_DE vs fr_XX label code
