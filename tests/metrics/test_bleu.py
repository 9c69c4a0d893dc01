"""BLEU tokenisation that fits the target language (``eval.bleu_tokenize``), on a few real
Chinese and Japanese sentences: 13a treats an unspaced sentence as one word, so any single
difference zeroes it, while sacrebleu's zh / ja-mecab tokenizers score the words."""

from __future__ import annotations

import pytest

from raymt.config.load import validate_config
from raymt.errors import ConfigError
from raymt.metrics import bleu
from raymt.metrics.bleu import bleu_tokenizer, check_config_tokenizers, combined_signature, corpus_scores, tokenizer_from_signature

ZH_REFS = ["我们今天下午去公园散步。", "他每天早上喝一杯绿茶。", "这本书的故事非常有意思。", "医生说我需要多休息。"]
ZH_HYPS = ["我们今天下午去公园走路。", "他每天早上喝一杯红茶。", "这本书的故事很有意思。", "医生说我需要多休息。"]
JA_REFS = ["私は毎朝コーヒーを飲みます。", "東京駅で友達に会いました。", "この本はとても面白いです。", "医者は休むように言いました。"]
JA_HYPS = ["私は毎朝お茶を飲みます。", "東京駅で友達と会いました。", "この本はとても面白いです。", "医者は休むように言った。"]


@pytest.mark.parametrize(
    "code, expected",
    [
        ("zh_CN", "zh"),
        ("zh_TW", "zh"),
        ("ja_XX", "ja-mecab"),
        ("ko_KR", "ko-mecab"),
        ("de_DE", "13a"),
        ("en_XX", "13a"),
        ("zho_Hans", "zh"),
        ("jpn_Jpan", "ja-mecab"),
        ("kor_Hang", "ko-mecab"),
        ("fra_Latn", "13a"),
    ],
)
def test_auto_follows_the_target_language_code(code, expected):
    assert bleu_tokenizer("auto", code) == expected
    assert bleu_tokenizer("intl", code) == "intl"  # a named tokenizer is used as named


def test_auto_agrees_with_sacrebleus_own_choice():
    """A canary on sacrebleu's (private) language -> tokenizer map: an upgrade that changes
    its guidance shows up here."""
    from sacrebleu.metrics import BLEU

    for lang in ("zh", "ja", "ko", "de", "fr", "en"):
        assert bleu_tokenizer("auto", f"{lang}_XX") == BLEU._TOKENIZER_MAP.get(lang, BLEU.TOKENIZER_DEFAULT)


@pytest.mark.parametrize(
    "tok, name",
    [
        ("13a", "13a"),
        ("zh", "zh"),
        ("ja-mecab-0.996-IPA", "ja-mecab"),
        ("ko-mecab-0.996/ko-0.9.2-KO", "ko-mecab"),
        ("flores200", "flores200"),
        ("intl", "intl"),
    ],
)
def test_the_tokenizer_is_read_back_from_a_signature(tok, name):
    assert tokenizer_from_signature(f"nrefs:1|case:mixed|eff:no|tok:{tok}|smooth:exp|version:2.6.0") == name
    assert tokenizer_from_signature(f"#:1|c:mixed|e:no|tok:{tok}|s:exp|v:2.6.0") == name


def test_chinese_references_are_scored_by_word_not_by_sentence():
    auto = corpus_scores(ZH_HYPS, ZH_REFS, tokenize=bleu_tokenizer("auto", "zh_CN"))
    plain = corpus_scores(ZH_HYPS, ZH_REFS)
    assert "tok:zh" in auto.bleu_signature and "tok:13a" in plain.bleu_signature
    assert plain.bleu == 0.0  # 13a sees one-word sentences: not a single 4-gram, even in the identical one
    assert 50 < auto.bleu < 100  # one character wrong in three sentences costs little
    assert corpus_scores(ZH_REFS, ZH_REFS, tokenize="zh").bleu == pytest.approx(100.0)


def test_japanese_references_are_segmented_with_mecab():
    auto = corpus_scores(JA_HYPS, JA_REFS, tokenize=bleu_tokenizer("auto", "ja_XX"))
    plain = corpus_scores(JA_HYPS, JA_REFS)
    assert "tok:ja-mecab" in auto.bleu_signature
    assert 40 < auto.bleu < 100 and auto.bleu > 2 * plain.bleu
    assert corpus_scores(JA_REFS, JA_REFS, tokenize="ja-mecab").bleu == pytest.approx(100.0)


def test_config_names_the_tokenizers_of_every_target():
    cfg = validate_config({"model": {"tgt_lang": "zh_CN"}}, "test")
    assert cfg.eval.bleu_tokenize == "auto" and check_config_tokenizers(cfg) == {"zh_CN": "zh"}
    pairs = [{"src_lang": "en_XX", "tgt_lang": tgt, "data": {"source": "synthetic"}} for tgt in ("de_DE", "ja_XX")]
    multi = validate_config({"multi_pair": {"pairs": pairs}}, "test")
    assert check_config_tokenizers(multi) == {"de_DE": "13a", "ja_XX": "ja-mecab"}
    named = validate_config({"model": {"tgt_lang": "zh_CN"}, "eval": {"bleu_tokenize": "char"}}, "test")
    assert check_config_tokenizers(named) == {"zh_CN": "char"}
    with pytest.raises(ConfigError, match="did you mean 'ja-mecab'"):
        validate_config({"eval": {"bleu_tokenize": "ja_mecab"}}, "test")


def test_a_missing_extra_is_one_line_naming_it(monkeypatch):
    import sacrebleu.tokenizers.tokenizer_ko_mecab as ko

    monkeypatch.setattr(ko, "MeCab", None)
    bleu._load_error.cache_clear()
    try:
        with pytest.raises(ConfigError) as err:
            validate_config({"model": {"tgt_lang": "ko_KR"}}, "k.yaml")
        validate_config({"model": {"tgt_lang": "ko_KR"}, "eval": {"bleu_tokenize": "char"}}, "k.yaml")  # the way around it
    finally:
        bleu._load_error.cache_clear()
    text = str(err.value)
    assert "\n" not in text and "raymt[cjk]" in text and "ko-mecab" in text and "k.yaml: eval.bleu_tokenize" in text


def test_multi_pair_signature_names_each_pair_only_when_they_differ():
    same = "nrefs:1|tok:13a"
    assert combined_signature({"en_XX-de_DE": same, "en_XX-fr_XX": same}) == same
    assert combined_signature({"en_XX-de_DE": same, "en_XX-zh_CN": "nrefs:1|tok:zh"}) == "en_XX-de_DE: nrefs:1|tok:13a; en_XX-zh_CN: nrefs:1|tok:zh"
