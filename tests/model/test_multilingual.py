"""The real-text base's recipe: validated before any work, content-keyed by the bytes it
reads, and refusing a missing corpus with the fix (the build itself: test_multilingual_search.py)."""

import pytest
from pydantic import ValidationError

from raymt.errors import DataError
from raymt.model.multilingual import MultilingualSpec, cache_key, corpus_files, infilled


def small_spec(folder, **kw) -> MultilingualSpec:
    return MultilingualSpec(corpus=str(folder), **kw)


def test_recipe_mistakes_are_refused():
    with pytest.raises(ValidationError, match="not in languages"):
        MultilingualSpec(directions=["en-ro"])
    with pytest.raises(ValidationError, match="two different languages"):
        MultilingualSpec(directions=["en-en"])
    with pytest.raises(ValidationError, match="denoise language"):
        MultilingualSpec(denoise=["ro"])
    with pytest.raises(ValidationError, match="must divide"):
        MultilingualSpec(d_model=100, heads=8)


def test_missing_corpus_names_the_folder_and_the_fix(tmp_path):
    with pytest.raises(DataError, match="model.multilingual.corpus.*not found.*Fix"):
        corpus_files(small_spec(tmp_path / "nowhere"))
    (tmp_path / "train.en").write_text("a\n")
    with pytest.raises(DataError, match="no file train.de"):
        corpus_files(small_spec(tmp_path))


def test_cache_key_follows_the_bytes_not_the_path(multi30k_cut, tmp_path):
    spec = small_spec(multi30k_cut)
    key = cache_key(spec, corpus_files(spec))
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in multi30k_cut.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    moved = small_spec(copy)
    assert cache_key(moved, corpus_files(moved)) == key  # same bytes elsewhere: the same base
    (copy / "train.cs").write_text((copy / "train.cs").read_text().replace("a", "á", 1), encoding="utf-8")
    assert cache_key(moved, corpus_files(moved)) != key  # one character changed: another base
    assert cache_key(small_spec(multi30k_cut, epochs=3), corpus_files(spec)) != key
    assert cache_key(small_spec(multi30k_cut, threads=1), corpus_files(spec)) != key


def test_denoising_examples_mask_spans_and_keep_the_sentence():
    pairs = infilled(["Muž v modrém tričku stojí na ulici a čte noviny ."] * 20, "<mask>", seed=0)
    assert all(tgt == "Muž v modrém tričku stojí na ulici a čte noviny ." and "<mask>" in src for src, tgt in pairs)
    assert len({src for src, _ in pairs}) > 1
    assert pairs == infilled([t for _, t in pairs], "<mask>", seed=0)
