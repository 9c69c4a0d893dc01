"""The tokenizer-fit check (issue 18): unknown-token rate and tokens/word per side, measured
before Ray; a corpus the base's tokenizer does not cover is refused in one line."""

import pytest

from raymt.data.tokenizer_fit import check_fit, measure_fit
from raymt.errors import DataError
from raymt.model.tokenizer_training import train_tokenizer

ENGLISH = [
    "a man in a blue shirt is standing on a ladder",
    "two dogs play in the snow",
    "a woman is reading a book",
    "the children are running on the beach",
    "a group of people stand outside a building",
] * 30
GERMAN = [
    "Ein Mann in einem blauen Hemd steht auf einer Leiter.",
    "Zwei Hunde spielen im Schnee.",
    "Eine Frau liest ein Buch.",
    "Die Kinder laufen am Strand.",
    "Eine Gruppe von Menschen steht vor einem Gebäude.",
] * 30
CHINESE = ["一个穿蓝色衬衫的男人站在梯子上。", "两只狗在雪地里玩耍。", "一个女人在看书。"] * 10


@pytest.fixture(scope="module")
def english_only():
    return train_tokenizer(ENGLISH, 200)


@pytest.fixture(scope="module")
def english_german():
    return train_tokenizer(ENGLISH + GERMAN, 400)


def test_fit_on_own_languages_passes(english_german):
    fit = measure_fit({"train": list(zip(ENGLISH, GERMAN))}, english_german, src_lang="en_XX", tgt_lang="de_DE")
    assert [(f.side, f.lang) for f in fit] == [("source", "en_XX"), ("target", "de_DE")]
    assert all(f.unknown == 0 and f.tokens_per_word >= 1.0 for f in fit)
    check_fit(fit, max_unk_rate=0.01, model="m")


def test_language_the_tokenizer_never_saw_is_refused_naming_rate_side_and_fix(english_only):
    fit = measure_fit({"train": list(zip(ENGLISH, GERMAN))}, english_only, src_lang="en_XX", tgt_lang="de_DE")
    source, target = fit
    assert source.unk_rate == 0 and target.unk_rate > 0.01  # capitals, umlauts, ß, punctuation never seen
    assert target.tokens_per_word > source.tokens_per_word
    with pytest.raises(DataError) as err:
        check_fit(fit, max_unk_rate=0.01, model="tiny", where="data")
    text = str(err.value)
    assert "\n" not in text
    assert f"{target.unk_rate:.2%}" in text and "target" in text and "de_DE" in text and "tiny" in text
    assert "Fix:" in text and "covers de_DE" in text
    check_fit(fit, max_unk_rate=1.0, model="tiny")  # the limit is configurable


def test_latin_script_tokenizer_refuses_chinese(english_german):
    fit = measure_fit({"test": list(zip(ENGLISH[: len(CHINESE)], CHINESE))}, english_german, src_lang="en_XX", tgt_lang="zh_CN")
    assert fit[1].unk_rate >= 0.5  # runs of unknown characters fuse into one <unk>: half the pieces
    with pytest.raises(DataError, match="zh_CN"):
        check_fit(fit, max_unk_rate=0.01, model="m")


def test_every_split_is_measured(english_only):
    clean = list(zip(ENGLISH, ENGLISH))
    fit = measure_fit({"train": clean, "validation": clean, "test": [("Äpfel über Öl", "Straße")]}, english_only, src_lang="en_XX", tgt_lang="de_DE")
    assert fit[0].sentences == 2 * len(clean) + 1 and fit[0].unknown > 0 and fit[1].unknown > 0
