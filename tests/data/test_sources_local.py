"""Local corpora (Moses, TSV, JSONL, gzip) and the errors a user gets for broken ones."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from raymt.data.config import parse_data_config
from raymt.data.sources import load_corpus
from raymt.errors import DataError

DE = ["ein Hund schläft", "die Katze sieht den Ball", "zwei Männer laufen", "ein rotes Auto", "das Kind lacht"]
EN = ["a dog sleeps", "the cat sees the ball", "two men run", "a red car", "the child laughs"]


def _write(path: Path, lines: list[str], gz: bool = False) -> Path:
    data = ("\n".join(lines) + "\n").encode()
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def _cfg(path, fmt="moses", **extra):
    return parse_data_config({"source": "local", "path": str(path), "format": fmt, "src": "de", "tgt": "en", **extra})


def _moses(folder: Path, n_train=40, gz=False):
    de = [f"{DE[i % 5]} {i}" for i in range(n_train)]
    en = [f"{EN[i % 5]} {i}" for i in range(n_train)]
    _write(folder / "train.de", de, gz)
    _write(folder / "train.en", en, gz)
    return de, en


def test_moses_folder_with_all_splits(tmp_path):
    de, en = _moses(tmp_path)
    for stem in ("valid", "test"):
        _write(tmp_path / f"{stem}.de", DE)
        _write(tmp_path / f"{stem}.en", EN)
    splits, report = load_corpus(_cfg(tmp_path))
    assert splits["train"] == list(zip(de, en))
    assert splits["validation"] == list(zip(DE, EN)) == splits["test"]
    assert report.carved == {} and report.kept == {"train": 40, "validation": 5, "test": 5}


def test_gzip_is_read_transparently_and_crlf_and_bom_are_stripped(tmp_path):
    (tmp_path / "train.de.gz").write_bytes(gzip.compress("\ufeffein Hund\r\nzwei Katzen\r\n".encode()))
    (tmp_path / "train.en.gz").write_bytes(gzip.compress(b"a dog\r\ntwo cats\r\n"))
    cfg = _cfg(tmp_path, valid_size=1, test_size=1)
    with pytest.raises(DataError, match="cannot carve 1 validation \\+ 1 test pairs from a training set of 2"):
        load_corpus(cfg)
    _write(tmp_path / "valid.de", ["ein Hund"])
    _write(tmp_path / "valid.en", ["a dog"])
    _write(tmp_path / "test.de", ["ein Hund"])
    _write(tmp_path / "test.en", ["a dog"])
    splits, _ = load_corpus(cfg)
    assert splits["train"] == [("ein Hund", "a dog"), ("zwei Katzen", "two cats")]


def test_missing_held_out_files_are_carved_deterministically(tmp_path):
    _moses(tmp_path, n_train=200)
    cfg = _cfg(tmp_path, valid_size=20, test_size=10, split_seed=5)
    splits, report = load_corpus(cfg)
    assert (len(splits["train"]), len(splits["validation"]), len(splits["test"])) == (170, 20, 10)
    assert report.carved == {"validation": 20, "test": 10}
    assert any("carved" in note for note in report.notes)
    assert load_corpus(cfg)[0] == splits
    srcs = [{s for s, _ in splits[k]} for k in ("train", "validation", "test")]
    assert not (srcs[0] & srcs[1] or srcs[0] & srcs[2] or srcs[1] & srcs[2])


def test_null_stem_carves_even_when_the_file_exists(tmp_path):
    _moses(tmp_path, n_train=100)
    _write(tmp_path / "valid.de", DE)
    _write(tmp_path / "valid.en", EN)
    splits, report = load_corpus(_cfg(tmp_path, validation=None, valid_size=7, test_size=3))
    assert len(splits["validation"]) == 7 and report.carved == {"validation": 7, "test": 3}


def test_moses_prefix_path_reads_the_train_split(tmp_path):
    _write(tmp_path / "corpus.de", [f"{d} {i}" for i in range(30) for d in DE[:1]])
    _write(tmp_path / "corpus.en", [f"{e} {i}" for i in range(30) for e in EN[:1]])
    splits, _ = load_corpus(_cfg(tmp_path / "corpus", valid_size=3, test_size=3))
    assert len(splits["train"]) == 24


def test_tsv_with_named_columns_and_single_file(tmp_path):
    lines = [f"{i}\t{EN[i % 5]} {i}\t{DE[i % 5]} {i}" for i in range(30)]
    file = _write(tmp_path / "all.tsv", lines, gz=True)
    cfg = _cfg(file, "tsv", columns=["id", "en", "de"], valid_size=5, test_size=5)
    splits, _ = load_corpus(cfg)
    assert len(splits["train"]) == 20
    every = {p for name in ("train", "validation", "test") for p in splits[name]}
    assert every == {(f"{DE[i % 5]} {i}", f"{EN[i % 5]} {i}") for i in range(30)}  # src/tgt picked by name


def test_tsv_line_with_wrong_column_count_names_file_and_line(tmp_path):
    file = _write(tmp_path / "train.tsv", ["ein Hund\ta dog", "zwei Katzen two cats", "x\ty"])
    with pytest.raises(DataError, match="expected 2 tab-separated columns.*found 1") as info:
        load_corpus(_cfg(tmp_path, "tsv"))
    assert info.value.where == f"{file}:2"


def test_jsonl_flat_and_translation_objects(tmp_path):
    rows = [{"de": d, "en": e} for d, e in zip(DE, EN)] + [{"translation": {"de": d + "!", "en": e + "!"}} for d, e in zip(DE, EN)]
    _write(tmp_path / "train.jsonl", [json.dumps(r) for r in rows * 4] + [""])
    _write(tmp_path / "valid.jsonl", [json.dumps(r) for r in rows[:2]])
    _write(tmp_path / "test.jsonl", [json.dumps(r) for r in rows[2:4]])
    splits, _ = load_corpus(_cfg(tmp_path, "jsonl"))
    assert len(splits["train"]) == 40 and splits["train"][5] == (DE[0] + "!", EN[0] + "!")
    assert splits["validation"] == list(zip(DE[:2], EN[:2]))


def test_malformed_jsonl_line_names_file_and_line(tmp_path):
    file = _write(tmp_path / "train.jsonl", ['{"de": "a", "en": "b"}', '{"de": "a", "en": "b"}', '{"de": "a" "en": "b"}'])
    with pytest.raises(DataError, match="malformed JSON") as info:
        load_corpus(_cfg(tmp_path, "jsonl"))
    assert info.value.where == f"{file}:3"


def test_jsonl_missing_key_says_which_keys_exist(tmp_path):
    _write(tmp_path / "train.jsonl", ['{"deu": "a", "eng": "b"}'])
    with pytest.raises(DataError, match="no key 'de'.*deu"):
        load_corpus(_cfg(tmp_path, "jsonl"))


def test_mismatched_parallel_files_name_both_files_and_counts(tmp_path):
    _write(tmp_path / "train.de", DE)
    _write(tmp_path / "train.en", EN[:3])
    with pytest.raises(DataError) as info:
        load_corpus(_cfg(tmp_path))
    msg = str(info.value)
    assert "train.de has 5 lines" in msg and "train.en has 3" in msg


@pytest.mark.parametrize("gz", [False, True])
def test_non_utf8_bytes_give_file_and_line_number(tmp_path, gz):
    _write(tmp_path / "train.en", EN)
    lines = [d.encode() for d in DE]
    lines[3] = "ein großes Haus".encode("latin-1")
    data = b"\n".join(lines) + b"\n"
    target = tmp_path / ("train.de.gz" if gz else "train.de")
    target.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(DataError, match="not UTF-8") as info:
        load_corpus(_cfg(tmp_path))
    assert info.value.where == f"{target}:4"
    assert "iconv" in str(info.value)


def test_empty_corpus_is_an_error(tmp_path):
    (tmp_path / "train.de").write_bytes(b"")
    (tmp_path / "train.en").write_bytes(b"")
    with pytest.raises(DataError, match="train split is empty"):
        load_corpus(_cfg(tmp_path))


def test_corpus_emptied_by_cleaning_names_the_filter(tmp_path):
    _write(tmp_path / "train.de", ["eins zwei drei vier fünf sechs sieben acht"] * 4)
    _write(tmp_path / "train.en", ["one"] * 4)
    with pytest.raises(DataError, match="removed by cleaning \\(length_ratio: 4\\)"):
        load_corpus(_cfg(tmp_path))


def test_missing_folder_file_and_one_sided_files(tmp_path):
    with pytest.raises(DataError, match="no folder"):
        load_corpus(_cfg(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="no such file"):
        load_corpus(_cfg(tmp_path / "nowhere.tsv", "tsv"))
    _write(tmp_path / "train.de", DE)
    with pytest.raises(DataError, match="found train.de but not its parallel file train.en"):
        load_corpus(_cfg(tmp_path))


def test_explicit_stem_without_files_is_an_error_not_a_silent_carve(tmp_path):
    _moses(tmp_path)
    with pytest.raises(DataError, match="no validation files dev.de and dev.en") as info:
        load_corpus(_cfg(tmp_path, validation="dev"))
    assert "null to carve" in str(info.value)


def test_plain_and_gz_side_by_side_is_ambiguous(tmp_path):
    _moses(tmp_path)
    _write(tmp_path / "train.de", DE, gz=True)
    with pytest.raises(DataError, match="both train.de and train.de.gz"):
        load_corpus(_cfg(tmp_path))


def test_cleaning_counts_per_filter_and_max_train_pairs(tmp_path):
    de, en = _moses(tmp_path, n_train=100)
    de += ["", "ein Hund", " ".join(["wort"] * 30), "ein zwei drei vier fünf sechs sieben"]
    en += ["empty source", "", " ".join(["word"] * 30), "one"]
    _write(tmp_path / "train.de", de)
    _write(tmp_path / "train.en", en)
    cfg = _cfg(tmp_path, max_train_pairs=50, valid_size=10, test_size=10, cleaning={"max_words": 20})
    splits, report = load_corpus(cfg)
    assert report.read["train"] == 104
    assert report.dropped["train"] == {"empty": 2, "max_words": 1, "length_ratio": 1}
    assert report.capped == 30 and len(splits["train"]) == 50
    assert report.kept == {"train": 50, "validation": 10, "test": 10}
    assert "empty=2" in report.summary()


def test_ntrex_news_carved_by_document(tmp_path):
    """NTREX-128 (../shared): one test set whose sides are named differently, with document ids;
    validation and test are carved by whole documents."""
    from pathlib import Path

    import pytest

    from raymt.data.config import parse_data_config
    from raymt.data.sources import load_corpus

    ntrex = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ntrex128" / "NTREX"
    if not (ntrex / "DOCUMENT_IDS.tsv").is_file():
        pytest.skip(f"NTREX-128 is not at {ntrex} (../shared absent on this machine)")
    raw = {
        "source": "local",
        "path": str(ntrex),
        "format": "moses",
        "src": "en",
        "tgt": "de",
        "src_file": "NTREX-128/newstest2019-src.eng.txt",
        "tgt_file": "NTREX-128/newstest2019-ref.deu.txt",
        "documents": "DOCUMENT_IDS.tsv",
        "validation": None,
        "test": None,
        "valid_size": 300,
        "test_size": 500,
    }
    splits, report = load_corpus(parse_data_config(raw))
    src = (ntrex / "NTREX-128" / "newstest2019-src.eng.txt").read_text(encoding="utf-8").split("\n")
    docs = (ntrex / "DOCUMENT_IDS.tsv").read_text().split("\n")
    doc_of = {}
    for line, doc in zip(src, docs):
        doc_of.setdefault(line.strip(), set()).add(doc.strip())
    split_docs = {name: set().union(*(doc_of[s] for s, _ in rows)) for name, rows in splits.items()}
    assert not split_docs["train"] & split_docs["test"] and not split_docs["train"] & split_docs["validation"]
    assert not split_docs["validation"] & split_docs["test"]
    assert len(splits["validation"]) >= 300 and len(splits["test"]) >= 500 and len(splits["train"]) > 1000
    assert "whole documents" in report.summary()
    with pytest.raises(Exception, match="validation: null"):
        parse_data_config({**raw, "validation": "val"})


def _multi_reference(folder: Path, n_sources=120) -> None:
    """A Tatoeba-like corpus: sorted by source, every third source with two or three translations."""
    de, en = [], []
    for i in range(n_sources):
        for k in range(1 + (i % 3 == 0) + (i % 9 == 0)):
            de.append(f"{DE[i % 5]} {i}")
            en.append(f"{EN[i % 5]} {i} ref{k}")
    _write(folder / "corpus.de", de)
    _write(folder / "corpus.en", en)


def test_carve_by_source_keeps_every_translation_of_a_sentence_in_one_split(tmp_path):
    _multi_reference(tmp_path)
    sources = lambda rows: {s for s, _ in rows}  # noqa: E731
    pair_mode_leaks = False
    for seed in range(10):
        splits, report = load_corpus(_cfg(tmp_path / "corpus", valid_size=20, test_size=20, split_seed=seed, carve_by="source"))
        train, val, test = (sources(splits[k]) for k in ("train", "validation", "test"))
        assert not (train & val or train & test or val & test)
        everything = [p for rows in splits.values() for p in rows]
        assert sorted(everything) == sorted(set(everything)) and len(everything) == report.read["train"]  # nothing lost
        assert len(splits["validation"]) >= 20 and len(splits["test"]) >= 20 and report.overlap_dropped == 0
        assert "by source sentence" in report.summary()
        by_pair = load_corpus(_cfg(tmp_path / "corpus", valid_size=20, test_size=20, split_seed=seed))[0]
        pair_mode_leaks |= bool(sources(by_pair["validation"]) & sources(by_pair["test"]))
    assert pair_mode_leaks  # what the option is for: drawn by pair, a sentence lands in both held-out sets


def test_carve_by_source_is_refused_with_documents_and_unknown_values(tmp_path):
    with pytest.raises(Exception, match="documents already carves"):
        _cfg(tmp_path, documents="ids.tsv", validation=None, test=None, carve_by="source")
    with pytest.raises(Exception, match="carve_by"):
        _cfg(tmp_path, carve_by="sentence")


def test_tatoeba_carved_by_source_sentence():
    """Tatoeba (../shared): one file pair sorted by source, with several translations of many
    sentences; carved by source, no English sentence is in two splits."""
    tatoeba = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "tatoeba-test" / "testsets" / "deu-eng"
    if not (tatoeba / "tatoeba-test-v2021-08-07.eng").is_file():
        pytest.skip(f"Tatoeba is not at {tatoeba} (../shared absent on this machine)")
    cfg = parse_data_config(
        {
            "source": "local",
            "path": str(tatoeba / "tatoeba-test-v2021-08-07"),
            "format": "moses",
            "src": "eng",
            "tgt": "deu",
            "carve_by": "source",
            "valid_size": 500,
            "test_size": 1000,
        }
    )
    splits, report = load_corpus(cfg)
    src = {name: {s for s, _ in rows} for name, rows in splits.items()}
    assert not (src["train"] & src["validation"] or src["train"] & src["test"] or src["validation"] & src["test"])
    assert 500 <= len(splits["validation"]) < 520 and 1000 <= len(splits["test"]) < 1020 and len(splits["train"]) > 15000
    assert len({s[0] for s in src["test"]}) > 15  # drawn across the alphabetically sorted file, not its head
