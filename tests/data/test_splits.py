"""Carving held-out splits, capping train, and the content hash caches key on."""

from __future__ import annotations

from raymt.data.splits import cap, carve, content_hash


def _pairs(n):
    return [(f"src {i}", f"tgt {i}") for i in range(n)]


def test_carving_is_deterministic_disjoint_and_sized():
    pairs = _pairs(1000)
    rest, held, overlap = carve(pairs, {"validation": 50, "test": 30}, seed=3)
    again = carve(pairs, {"validation": 50, "test": 30}, seed=3)
    assert (rest, held, overlap) == again
    assert len(held["validation"]) == 50 and len(held["test"]) == 30 and len(rest) == 920 and overlap == 0
    sets = [set(rest), set(held["validation"]), set(held["test"])]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert sets[0] | sets[1] | sets[2] == set(pairs)
    other = carve(pairs, {"validation": 50, "test": 30}, seed=4)[1]
    assert other["validation"] != held["validation"]


def test_carving_drops_train_duplicates_of_held_out_sources():
    pairs = _pairs(200) + [("src 0", "another reference")] * 3  # duplicate sources
    for seed in range(20):
        rest, held, overlap = carve(pairs, {"validation": 40, "test": 40}, seed=seed)
        held_sources = {s for split in held.values() for s, _ in split}
        assert not held_sources & {s for s, _ in rest}
        assert len(rest) + 80 + overlap == len(pairs)
    assert any(carve(pairs, {"validation": 40, "test": 40}, seed=s)[2] > 0 for s in range(20))


def test_cap_keeps_a_seeded_subset_in_corpus_order():
    pairs = _pairs(500)
    sub = cap(pairs, 100, seed=1)
    assert len(sub) == 100 and sub == cap(pairs, 100, seed=1)
    assert sub == sorted(sub, key=pairs.index)
    assert sub != pairs[:100]  # not just the head of a possibly sorted corpus
    assert cap(pairs, None, 1) == pairs and cap(pairs, 900, 1) == pairs


def test_content_hash_changes_with_any_text_or_split_name():
    splits = {"train": _pairs(5), "validation": _pairs(2), "test": _pairs(2)}
    h = content_hash(splits)
    assert h == content_hash({k: list(v) for k, v in splits.items()})
    changed = dict(splits, train=_pairs(4) + [("src 4", "tgt 4!")])
    assert content_hash(changed) != h
    assert content_hash({"train": _pairs(5), "validation": _pairs(2), "tests": _pairs(2)}) != h


def test_carve_documents_keeps_every_document_in_one_split():
    from raymt.data.splits import carve_documents

    docs = [f"d{i // 7}" for i in range(140)]  # 20 documents of 7 sentences
    pairs = [(f"s{i}", f"t{i}") for i in range(140)]
    train, carved, _ = carve_documents(pairs, docs, {"validation": 20, "test": 30}, seed=3)
    doc_of = {p: d for p, d in zip(pairs, docs)}
    split_docs = {name: {doc_of[p] for p in rows} for name, rows in {"train": train, **carved}.items()}
    assert not split_docs["train"] & split_docs["validation"] and not split_docs["train"] & split_docs["test"]
    assert not split_docs["validation"] & split_docs["test"]
    assert len(carved["validation"]) == 21 and len(carved["test"]) == 35  # whole documents: at least the size asked
    assert len(train) + 21 + 35 == 140
    again = carve_documents(pairs, docs, {"validation": 20, "test": 30}, seed=3)
    assert again[1] == carved and carve_documents(pairs, docs, {"validation": 20, "test": 30}, seed=4)[1] != carved
