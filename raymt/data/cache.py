"""The tokenised corpus, built once per experiment and shared by every trial.

Why a content-keyed cache: a search runs tens of trials on the same corpus; tokenising in
each trial wastes minutes per trial and, worse, lets trials silently disagree if the corpus
files change mid-search. The key hashes the *text* of the splits, the tokenizer (vocabulary,
normalisation, language codes) and ``max_length``, so a changed input can never reuse a stale
cache, and identical inputs never re-tokenise. The cache is a ``datasets.DatasetDict`` saved
as Arrow files, which every Ray worker memory-maps instead of copying.

Writes are atomic: a builder writes into a private temporary folder and renames it into
place; when two builders race, the loser discards its copy and uses the winner's.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from raymt.data.splits import Pair, Splits, content_hash
from raymt.errors import ConfigError, DataError
from raymt.progress import Progress

CACHE_FORMAT = 1  # bump when the stored columns change, to invalidate old caches
_META = "raymt_cache.json"
_BATCH = 2000
_PROBE = "Hello, world: 123 ünïcödé."


def tokenizer_fingerprint(tokenizer) -> str:
    """A hash of everything about a tokenizer that changes its output.

    The backend's JSON holds vocabulary, normaliser and pre-tokeniser; its post-processor is
    left out because MBart-style tokenizers rewrite it when switching between source and
    target mode (and truncation/padding because every call with ``max_length`` sets them). Instead, a probe sentence is encoded in both modes, which captures the
    language codes and special tokens actually added.
    """
    h = hashlib.sha256(f"{type(tokenizer).__module__}.{type(tokenizer).__qualname__}".encode())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        spec = json.loads(backend.to_str())
        for mode_dependent in ("post_processor", "truncation", "padding"):  # set per call
            spec.pop(mode_dependent, None)
        h.update(json.dumps(spec, sort_keys=True).encode())
    else:
        h.update(json.dumps(sorted(tokenizer.get_vocab().items())).encode())
    langs = (getattr(tokenizer, "src_lang", None), getattr(tokenizer, "tgt_lang", None))
    probe = tokenizer([_PROBE], text_target=[_PROBE])
    h.update(json.dumps([langs, probe["input_ids"], probe["labels"]]).encode())
    return h.hexdigest()


def cache_key(splits: Splits, tokenizer, max_length: int) -> str:
    parts = [f"format={CACHE_FORMAT}", content_hash(splits), tokenizer_fingerprint(tokenizer), f"max_length={max_length}"]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def _features():
    import datasets

    return datasets.Features(
        {
            "input_ids": datasets.List(datasets.Value("int32")),
            "attention_mask": datasets.List(datasets.Value("int8")),
            "labels": datasets.List(datasets.Value("int32")),
            "src_text": datasets.Value("string"),
            "tgt_text": datasets.Value("string"),
        }
    )


def _tokenize_split(pairs: list[Pair], tokenizer, max_length: int, progress: Progress) -> dict[str, list]:
    """Tokenise source and target in batches; targets become ``labels`` in target mode."""
    columns: dict[str, list] = {"input_ids": [], "attention_mask": [], "labels": [], "src_text": [], "tgt_text": []}
    for start in range(0, len(pairs), _BATCH):
        batch = pairs[start : start + _BATCH]
        srcs = [s for s, _ in batch]
        tgts = [t for _, t in batch]
        enc = tokenizer(srcs, text_target=tgts, max_length=max_length, truncation=True)
        columns["input_ids"].extend(enc["input_ids"])
        columns["attention_mask"].extend(enc["attention_mask"])
        columns["labels"].extend(enc["labels"])
        columns["src_text"].extend(srcs)
        columns["tgt_text"].extend(tgts)
        progress.advance(len(batch))
    return columns


def build_tokenized(splits: Splits, tokenizer, max_length: int, cache_root: str | os.PathLike, *, log=None) -> Path:
    """Tokenise ``splits`` once and return the folder of the saved ``DatasetDict``; ``log``
    gets a progress line with the time left every 10 s (a real corpus takes minutes).

    Every split keeps its raw text in ``src_text`` / ``tgt_text``: BLEU must be computed
    against the untokenised references, not against decoded labels (which lose ``<unk>``
    words and truncated tails).
    """
    import datasets

    if not isinstance(max_length, int) or max_length < 4:
        raise ConfigError(f"max_length must be an integer >= 4, got {max_length!r}", where="max_length", fix="use e.g. 128")
    if getattr(tokenizer, "tgt_lang", "") is None:
        raise ConfigError(
            "the tokenizer has no tgt_lang, so targets would be tagged with the source language",
            where="tokenizer",
            fix="create it with src_lang=... and tgt_lang=...",
        )
    root = Path(cache_root)
    root.mkdir(parents=True, exist_ok=True)
    key = cache_key(splits, tokenizer, max_length)
    final = root / key
    if (final / _META).is_file():
        return final
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key}-", dir=root))
    try:
        features = _features()
        progress = Progress("tokenising", sum(len(pairs) for pairs in splits.values()), unit="sentence pairs", log=log or (lambda line: None))
        dd = datasets.DatasetDict(
            {
                name: datasets.Dataset.from_dict(_tokenize_split(pairs, tokenizer, max_length, progress), features=features)
                for name, pairs in splits.items()
            }
        )
        bars_were_on = datasets.is_progress_bar_enabled()
        datasets.disable_progress_bars()  # one bar per split per build is noise in trial logs
        try:
            # an empty split must still get one (empty) shard: datasets 5.2 cannot load zero
            dd.save_to_disk(str(tmp), num_shards={name: 1 for name, pairs in splits.items() if not pairs} or None)
        finally:
            if bars_were_on:
                datasets.enable_progress_bars()
        meta = {
            "format": CACHE_FORMAT,
            "max_length": max_length,
            "content_hash": content_hash(splits),
            "tokenizer": type(tokenizer).__name__,
            "src_lang": getattr(tokenizer, "src_lang", None),
            "tgt_lang": getattr(tokenizer, "tgt_lang", None),
            "rows": {name: len(pairs) for name, pairs in splits.items()},
        }
        (tmp / _META).write_text(json.dumps(meta, indent=2) + "\n")
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / _META).is_file():
                raise
            # another builder finished first: its copy is identical by construction
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def load_tokenized(path: str | os.PathLike):
    """The ``DatasetDict`` written by :func:`build_tokenized` (memory-mapped, not copied)."""
    import datasets

    folder = Path(path)
    if not (folder / _META).is_file():
        raise DataError(
            "not a finished raymt tokenised cache (no raymt_cache.json)",
            where=str(folder),
            fix="build it with raymt.data.cache.build_tokenized; delete the folder if a build was interrupted",
        )
    return datasets.load_from_disk(str(folder))
