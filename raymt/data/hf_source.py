"""Reading a Hugging Face dataset into raw splits.

Kept apart from :mod:`raymt.data.sources` so that ``datasets`` (slow to import) is only
loaded by experiments that use it. A folder written by ``save_to_disk`` is opened with
``load_from_disk``; anything else (hub name, script, or a builder such as ``json`` with
``data_files``) goes to ``load_dataset`` unchanged, so whatever works there works here.
"""

from __future__ import annotations

from pathlib import Path

from raymt.data.config import HFData
from raymt.data.splits import Pair
from raymt.errors import DataError

_SPLIT_FIELDS = {"train": "train_split", "validation": "validation_split", "test": "test_split"}


def _open(cfg: HFData):
    import datasets

    folder = Path(cfg.dataset).expanduser()
    try:
        if folder.is_dir() and ((folder / "dataset_dict.json").is_file() or (folder / "state.json").is_file()):
            loaded = datasets.load_from_disk(str(folder))
            # a single saved Dataset is a corpus with one split: train
            return loaded if isinstance(loaded, datasets.DatasetDict) else datasets.DatasetDict({cfg.train_split: loaded})
        return datasets.load_dataset(
            cfg.dataset,
            cfg.config,
            data_files=cfg.data_files,
            revision=cfg.revision,
            cache_dir=str(cfg.cache_dir) if cfg.cache_dir else None,
        )
    except Exception as err:  # datasets raises many types (hub, builder, file); all mean "cannot load"
        raise DataError(
            f"cannot load the dataset: {type(err).__name__}: {err}".replace("\n", " "),
            where=f"data.dataset={cfg.dataset!r}" + (f" (config {cfg.config!r})" if cfg.config else ""),
            fix="check the name/config/data_files; without network, download it first or point data.dataset at a local folder",
        ) from None


def _pairs(ds, cfg: HFData, where: str) -> list[Pair]:
    columns = ds.column_names
    if cfg.format == "translation":
        if "translation" not in columns:
            raise DataError(
                f"no 'translation' column (columns: {columns})",
                where=where,
                fix="use format: columns with src_column/tgt_column",
            )
        pairs = []
        for i, row in enumerate(ds["translation"]):
            if not isinstance(row, dict) or cfg.src not in row or cfg.tgt not in row:
                keys = sorted(row) if isinstance(row, dict) else type(row).__name__
                raise DataError(
                    f"row {i}: translation has no {cfg.src!r}/{cfg.tgt!r} (found {keys})",
                    where=where,
                    fix="set data.src / data.tgt to the language keys of the dataset",
                )
            pairs.append(((row[cfg.src] or "").strip(), (row[cfg.tgt] or "").strip()))
        return pairs
    for col in (cfg.src_column, cfg.tgt_column):
        if col not in columns:
            raise DataError(f"no column {col!r} (columns: {columns})", where=where, fix="set data.src_column / data.tgt_column")
    return [((s or "").strip(), (t or "").strip()) for s, t in zip(ds[cfg.src_column], ds[cfg.tgt_column])]


def read_hf(cfg: HFData) -> dict[str, tuple[list[Pair], str]]:
    """Every configured split the dataset has; absent optional splits are left for carving."""
    dd = _open(cfg)
    out = {}
    for split, field in _SPLIT_FIELDS.items():
        name = getattr(cfg, field)
        if name is None:
            continue
        if name not in dd:
            if split == "train" or field in cfg.model_fields_set:
                raise DataError(
                    f"no split {name!r} (splits: {sorted(dd)})",
                    where=f"data.dataset={cfg.dataset!r}",
                    fix=f"set data.{field} to one of {sorted(dd)}" + ("" if split == "train" else ", or null to carve it from train"),
                )
            continue
        where = f"{cfg.dataset}[{name}]"
        out[split] = (_pairs(dd[name], cfg, where), where)
    return out
