"""The in-memory corpus every source produces, and the operations on it that must agree
across trials: carving evaluation splits, capping the training set, hashing the content.

``Splits`` is a plain dict of lists of ``(source, target)`` pairs so that any package can
build or read one without importing this module's helpers.
"""

from __future__ import annotations

import hashlib
import random

Pair = tuple[str, str]
Splits = dict[str, list[Pair]]
SPLIT_NAMES = ("train", "validation", "test")


def _rng(seed: int, purpose: str) -> random.Random:
    """A generator per (seed, purpose): carving and capping must not share a stream, or
    changing ``valid_size`` would silently change which pairs ``max_train_pairs`` keeps."""
    digest = hashlib.sha256(f"{seed}:{purpose}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def carve(pairs: list[Pair], sizes: dict[str, int], seed: int) -> tuple[list[Pair], dict[str, list[Pair]], int]:
    """Split held-out sets off ``pairs`` (the training corpus) deterministically.

    Returns ``(remaining, carved, n_overlap)``. Held-out pairs are drawn by a seeded
    permutation; afterwards every remaining pair whose *source* also occurs in a carved set is
    dropped (``n_overlap`` of them), because corpora contain duplicate sentences and a
    duplicate left in train would leak the test set into training.
    """
    need = sum(sizes.values())
    if need == 0:
        return list(pairs), {name: [] for name in sizes}, 0
    order = list(range(len(pairs)))
    _rng(seed, "carve").shuffle(order)
    carved: dict[str, list[Pair]] = {}
    start = 0
    for name, size in sizes.items():
        chosen = sorted(order[start : start + size])  # keep corpus order inside a split
        carved[name] = [pairs[i] for i in chosen]
        start += size
    remaining, n_overlap = _rest(pairs, set(order[:start]), carved)
    return remaining, carved, n_overlap


def _rest(pairs: list[Pair], taken: set[int], carved: dict[str, list[Pair]]) -> tuple[list[Pair], int]:
    """The pairs not taken, without those whose source is also in a carved set (a duplicate
    left in train would leak the held-out set into training)."""
    held_sources = {src for split in carved.values() for src, _ in split}
    remaining: list[Pair] = []
    n_overlap = 0
    for i, pair in enumerate(pairs):
        if i in taken:
            continue
        if pair[0] in held_sources:
            n_overlap += 1
            continue
        remaining.append(pair)
    return remaining, n_overlap


def carve_documents(pairs: list[Pair], documents: list[str], sizes: dict[str, int], seed: int) -> tuple[list[Pair], dict[str, list[Pair]], int]:
    """Like :func:`carve`, but whole documents go to one split: no document spans two.

    Sentences of one news article share names, topics and phrasing; a test sentence whose
    neighbours were trained on is not held out. Documents are drawn in a seeded order and a
    split takes documents until it holds at least its size (so it may be a little larger).
    ``documents[i]`` is the document id of ``pairs[i]``.
    """
    if len(documents) != len(pairs):
        raise ValueError(f"{len(documents)} document ids for {len(pairs)} pairs")
    by_doc: dict[str, list[int]] = {}
    for i, doc in enumerate(documents):
        by_doc.setdefault(doc, []).append(i)
    order = list(by_doc)
    _rng(seed, "carve_documents").shuffle(order)
    carved: dict[str, list[Pair]] = {}
    taken: set[int] = set()
    docs = iter(order)
    for name, size in sizes.items():
        rows: list[int] = []
        while len(rows) < size:
            doc = next(docs, None)
            if doc is None:
                break
            rows += by_doc[doc]
        taken.update(rows)
        carved[name] = [pairs[i] for i in sorted(rows)]
    remaining, n_overlap = _rest(pairs, taken, carved)
    return remaining, carved, n_overlap


def cap(pairs: list[Pair], max_pairs: int | None, seed: int) -> list[Pair]:
    """A seeded random subset of at most ``max_pairs`` pairs, in corpus order.

    A random subset rather than the first N lines, because many corpora are sorted (by
    document, length or source) and their head is not representative.
    """
    if max_pairs is None or len(pairs) <= max_pairs:
        return list(pairs)
    keep = sorted(_rng(seed, "cap").sample(range(len(pairs)), max_pairs))
    return [pairs[i] for i in keep]


def content_hash(splits: Splits) -> str:
    """SHA-256 over every split's pairs, so caches key on the text, not on file paths."""
    h = hashlib.sha256()
    for name in sorted(splits):
        h.update(b"\x00split\x00" + name.encode())
        for src, tgt in splits[name]:
            h.update(b"\x01" + src.encode() + b"\x02" + tgt.encode())
    return h.hexdigest()
