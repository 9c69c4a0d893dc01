"""``load_corpus``: any configured source -> clean train/validation/test pairs + a report.

The order of operations is fixed because every trial of an experiment must see the same
data: read -> clean -> carve missing held-out splits from the *cleaned* train -> subsample
train (``max_train_pairs``). Readers return, per split, the pairs and a human-readable
origin (file names) so that errors can name the file.
"""

from __future__ import annotations

import json
from pathlib import Path

from raymt.data.cleaning import CleaningReport, clean_pairs
from raymt.data.config import HFData, LocalData, SyntheticData
from raymt.data.files import find_file, read_lines
from raymt.data.splits import SPLIT_NAMES, Pair, Splits, cap, carve, carve_documents
from raymt.data.synthetic import generate_splits
from raymt.errors import DataError

RawSplits = dict[str, tuple[list[Pair], str]]  # split -> (pairs, origin)


def _read_moses(folder_or_prefix: Path, stem: str | None, cfg: LocalData, *, named: tuple[Path, Path] | None = None) -> tuple[list[Pair], str] | None:
    if named is not None:  # data.src_file / data.tgt_file
        src_base, tgt_base = named
    else:
        base = folder_or_prefix / stem if stem is not None else folder_or_prefix
        src_base = base.with_name(f"{base.name}.{cfg.src}")
        tgt_base = base.with_name(f"{base.name}.{cfg.tgt}")
    src_file, tgt_file = find_file(src_base), find_file(tgt_base)
    if src_file is None and tgt_file is None:
        return None
    if src_file is None or tgt_file is None:
        missing = src_base if src_file is None else tgt_base
        present = tgt_file if src_file is None else src_file
        raise DataError(
            f"found {present.name} but not its parallel file {missing.name}(.gz)",
            where=str(missing.parent),
            fix=f"add {missing.name} or check data.src / data.tgt",
        )
    src_lines, tgt_lines = read_lines(src_file), read_lines(tgt_file)
    if len(src_lines) != len(tgt_lines):
        raise DataError(
            f"parallel files differ in length: {src_file} has {len(src_lines)} lines, {tgt_file} has {len(tgt_lines)}",
            where=str(src_file),
            fix="the two files must be line-aligned (one sentence per line, same order); re-extract or re-align them",
        )
    pairs = [(s.strip(), t.strip()) for s, t in zip(src_lines, tgt_lines)]
    return pairs, f"{src_file} + {tgt_file.name}"


def _read_tsv(file: Path, cfg: LocalData) -> list[Pair]:
    columns = cfg.columns or [cfg.src, cfg.tgt]
    i_src, i_tgt = columns.index(cfg.src), columns.index(cfg.tgt)
    pairs = []
    for lineno, line in enumerate(read_lines(file), start=1):
        fields = line.split("\t")
        if len(fields) != len(columns):
            raise DataError(
                f"expected {len(columns)} tab-separated columns ({', '.join(columns)}), found {len(fields)}",
                where=f"{file}:{lineno}",
                fix="each line must hold exactly one field per column, separated by tabs (set data.columns if the file has more)",
            )
        pairs.append((fields[i_src].strip(), fields[i_tgt].strip()))
    return pairs


def _jsonl_text(obj: dict, key: str, where: str) -> str:
    value = obj.get(key)
    if value is None and isinstance(obj.get("translation"), dict):
        value = obj["translation"].get(key)
    if value is None:
        keys = sorted(obj) + [f"translation.{k}" for k in sorted(obj.get("translation") or {})]
        raise DataError(f"no key {key!r} (found {keys})", where=where, fix="set data.src / data.tgt to the keys the file uses")
    if not isinstance(value, str):
        raise DataError(f"key {key!r} holds a {type(value).__name__}, not a string", where=where, fix="store each sentence as a JSON string")
    return value


def _read_jsonl(file: Path, cfg: LocalData) -> list[Pair]:
    pairs = []
    for lineno, line in enumerate(read_lines(file), start=1):
        if not line.strip():
            continue
        where = f"{file}:{lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(
                f"malformed JSON ({err.msg} at column {err.colno})", where=where, fix="each line must be one complete JSON object"
            ) from None
        if not isinstance(obj, dict):
            raise DataError(
                f"expected a JSON object, found {type(obj).__name__}", where=where, fix='write one object per line, e.g. {"de": "...", "en": "..."}'
            )
        pairs.append((_jsonl_text(obj, cfg.src, where).strip(), _jsonl_text(obj, cfg.tgt, where).strip()))
    return pairs


def _read_single(file: Path, cfg: LocalData) -> list[Pair]:
    return _read_tsv(file, cfg) if cfg.format == "tsv" else _read_jsonl(file, cfg)


def read_local(cfg: LocalData) -> RawSplits:
    """Every split the files provide; absent optional splits are left for carving."""
    path = cfg.path
    if not path.is_dir():
        if cfg.format == "moses":
            found = _read_moses(path, None, cfg)
            if found is None:
                raise DataError(
                    f"no folder {path.name} and no files {path.name}.{cfg.src} / {path.name}.{cfg.tgt}",
                    where=str(path),
                    fix="point data.path at the folder holding <split>.<lang> files, or at a prefix of them",
                )
            return {"train": found}
        file = find_file(path) if path.suffix != ".gz" else (path if path.is_file() else None)
        if file is None:
            raise DataError("no such file or folder", where=str(path), fix="check data.path (relative paths are relative to the working directory)")
        return {"train": (_read_single(file, cfg), str(file))}
    out: RawSplits = {}
    stems = {"train": cfg.train, "validation": cfg.validation, "test": cfg.test}
    for split, stem in stems.items():
        if stem is None:
            continue
        if cfg.format == "moses" and split == "train" and cfg.src_file is not None:
            found = _read_moses(path, None, cfg, named=(path / cfg.src_file, path / cfg.tgt_file))
            if found is None:
                raise DataError(
                    f"no files {cfg.src_file} / {cfg.tgt_file}", where=str(path), fix="data.src_file / data.tgt_file are relative to data.path"
                )
        elif cfg.format == "moses":
            found = _read_moses(path, stem, cfg)
        else:
            file = find_file(path / f"{stem}.{cfg.format}")
            found = None if file is None else (_read_single(file, cfg), str(file))
        if found is not None:
            out[split] = found
        elif split == "train" or split in cfg.model_fields_set:
            expected = f"{stem}.{cfg.src} and {stem}.{cfg.tgt}" if cfg.format == "moses" else f"{stem}.{cfg.format}"
            raise DataError(
                f"no {split} files {expected} (optionally .gz)",
                where=str(path),
                fix=f"set data.{split} to the file stem the folder uses" + ("" if split == "train" else ", or null to carve it from train"),
            )
    return out


def read_raw(cfg: SyntheticData | LocalData | HFData) -> RawSplits:
    if isinstance(cfg, SyntheticData):
        splits = generate_splits(cfg.spec())
        return {name: (pairs, f"synthetic ({cfg.domain}, seed {cfg.seed})") for name, pairs in splits.items()}
    if isinstance(cfg, LocalData):
        return read_local(cfg)
    from raymt.data.hf_source import read_hf  # imports `datasets` only when needed

    return read_hf(cfg)


def load_corpus(cfg: SyntheticData | LocalData | HFData) -> tuple[Splits, CleaningReport]:
    """Read, clean, carve and subsample the configured corpus.

    Raises :class:`DataError` naming the file when the corpus is missing, misaligned,
    undecodable, malformed, or empty before or after cleaning.
    """
    raw = read_raw(cfg)
    report = CleaningReport()
    splits: Splits = {}
    for split, (pairs, origin) in raw.items():
        report.read[split] = len(pairs)
        if not pairs:
            raise DataError(
                f"the {split} split is empty",
                where=origin,
                fix="check that the file holds one sentence per line" if split == "train" else f"provide {split} pairs, or set its size above 0",
            )
        if split in cfg.cleaning.apply_to:
            kept, counts = clean_pairs(pairs, cfg.cleaning)
            report.dropped[split] = counts
            if not kept:
                worst = max(counts, key=counts.get)
                raise DataError(
                    f"all {len(pairs)} {split} pairs were removed by cleaning ({worst}: {counts[worst]})",
                    where=origin,
                    fix=f"loosen data.cleaning ({worst}) or check that src/tgt name the right languages",
                )
            pairs = kept
        splits[split] = pairs
    size_field = {"validation": "valid_size", "test": "test_size"}
    missing = {name: getattr(cfg, size_field[name]) for name in SPLIT_NAMES if name not in splits}
    if missing and getattr(cfg, "documents", None) is not None:
        _carve_documents(cfg, raw, splits, missing, report)
    elif missing:
        n_train = len(splits["train"])
        if sum(missing.values()) >= n_train:
            raise DataError(
                f"cannot carve {' + '.join(f'{v} {k}' for k, v in missing.items())} pairs from a training set of {n_train}",
                where=raw["train"][1],
                fix="lower data.valid_size / data.test_size, or provide validation/test files",
            )
        train = splits["train"]
        if cfg.carve_by == "source":  # every translation of one source sentence goes to one split
            splits["train"], carved, report.overlap_dropped = carve_documents(train, [src for src, _ in train], missing, cfg.split_seed)
            how = " by source sentence (all translations of a source in one split)"
            if not splits["train"]:
                raise DataError(
                    "carving by source sentence left no training pairs", where=raw["train"][1], fix="lower data.valid_size / data.test_size"
                )
        else:
            splits["train"], carved, report.overlap_dropped = carve(train, missing, cfg.split_seed)
            how = ""
        for name, pairs in carved.items():
            splits[name] = pairs
            report.carved[name] = len(pairs)
            report.notes.append(f"{name}: no {name} split in the corpus; carved {len(pairs)} pairs from train{how} (seed {cfg.split_seed})")
    before = len(splits["train"])
    seed = cfg.seed if isinstance(cfg, SyntheticData) else cfg.split_seed
    splits["train"] = cap(splits["train"], cfg.max_train_pairs, seed)
    report.capped = before - len(splits["train"])
    ordered = {name: splits[name] for name in SPLIT_NAMES}
    report.kept = {name: len(pairs) for name, pairs in ordered.items()}
    return ordered, report


def _carve_documents(cfg: LocalData, raw: RawSplits, splits: Splits, missing: dict[str, int], report: CleaningReport) -> None:
    """Carve validation/test by whole documents (``data.documents``) from the *read* training
    pairs, before cleaning (cleaning needs the ids aligned; it then applies per split as
    ``cleaning.apply_to`` says)."""
    pairs, origin = raw["train"]
    doc_file = find_file(cfg.path / cfg.documents)
    if doc_file is None:
        raise DataError(f"no document-id file {cfg.documents}", where=str(cfg.path), fix="data.documents is relative to data.path")
    docs = [line.split("\t", 1)[0].strip() for line in read_lines(doc_file)]
    if len(docs) != len(pairs):
        raise DataError(
            f"{len(docs)} document ids for {len(pairs)} training lines",
            where=str(doc_file),
            fix="the document-id file must have one line per line of the training files",
        )
    if sum(missing.values()) >= len(pairs):
        raise DataError(f"cannot carve {sum(missing.values())} pairs from {len(pairs)}", where=origin, fix="lower data.valid_size / data.test_size")
    train, carved, report.overlap_dropped = carve_documents(pairs, docs, missing, cfg.split_seed)
    if not train:
        raise DataError("carving by document left no training pairs", where=origin, fix="lower data.valid_size / data.test_size")
    n_docs = len(set(docs))
    for name, rows in [("train", train), *carved.items()]:
        if name in cfg.cleaning.apply_to:
            rows, report.dropped[name] = clean_pairs(rows, cfg.cleaning)
        splits[name] = rows
        if name != "train":
            report.carved[name] = len(rows)
            report.notes.append(
                f"{name}: carved {len(rows)} pairs from train by whole documents ({doc_file.name}, {n_docs} documents, "
                f"seed {cfg.split_seed}): no document spans two splits"
            )
