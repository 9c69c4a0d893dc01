"""The ``data:`` section of an experiment config: where the parallel corpus comes from.

A discriminated union on ``source`` so that each kind of corpus only accepts its own fields
(a typo such as ``fromat:`` is refused instead of silently ignored):

* ``synthetic``: the built-in generated language pair (:mod:`raymt.data.synthetic`);
* ``local``: Moses-style parallel files, TSV or JSONL on disk (gzip read transparently);
* ``hf``: a Hugging Face dataset, by hub name or local path.

Every source shares ``max_train_pairs`` and the ``cleaning`` filters; file-backed sources
can carve missing validation/test splits out of train (``valid_size`` / ``test_size``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from raymt.data.synthetic import SyntheticSpec
from raymt.errors import ConfigError

SplitName = Literal["train", "validation", "test"]


class CleaningConfig(BaseModel):
    """Filters for noisy training pairs; each one's drop count is reported per split."""

    model_config = ConfigDict(extra="forbid")

    drop_empty: bool = Field(True, description="Drop pairs whose source or target is empty (after stripping whitespace).")
    max_words: int | None = Field(200, ge=1, description="Drop pairs where either side has more words than this; null disables.")
    max_length_ratio: float | None = Field(
        3.0, ge=1.0, description="Drop pairs whose longer side has more than this many times the words of the shorter side; null disables."
    )
    apply_to: list[SplitName] = Field(
        default_factory=lambda: ["train"],
        description="Splits the filters apply to. Default train only: filtering a published test set makes scores incomparable with the literature.",
    )


class _Common(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_train_pairs: int | None = Field(
        None, ge=1, description="Use a seeded random subset of at most this many training pairs (after cleaning); null = all."
    )
    cleaning: CleaningConfig = Field(default_factory=CleaningConfig, description="Filters for noisy pairs.")


class _Carving(BaseModel):
    """Sizes of the splits carved from train when the corpus has no validation/test split."""

    valid_size: int = Field(500, ge=1, description="Validation pairs carved from train when the corpus has no validation split.")
    test_size: int = Field(500, ge=1, description="Test pairs carved from train when the corpus has no test split.")
    split_seed: int = Field(0, description="Seed of the carving and of the max_train_pairs subset: same seed, same splits.")
    carve_by: Literal["pair", "source"] = Field(
        "pair",
        description="How validation/test are carved from train: 'pair' draws single pairs (train then keeps no pair whose source was carved); 'source' keeps every pair of one source sentence in one split, for corpora that give several translations of a sentence (Tatoeba): validation and test then share no source sentence either.",
    )


class SyntheticData(SyntheticSpec, _Common):
    """The built-in synthetic pair; always has all three splits, so nothing is carved."""

    source: Literal["synthetic"] = Field("synthetic", description="Generate the built-in synthetic language pair.")

    def spec(self) -> SyntheticSpec:
        return SyntheticSpec(**{name: getattr(self, name) for name in SyntheticSpec.model_fields})


class LocalData(_Carving, _Common):
    """Parallel text on disk.

    ``moses``: ``<path>/<stem>.<src>`` and ``<path>/<stem>.<tgt>`` line-aligned files (or
    ``<path>.<src>`` / ``<path>.<tgt>`` when ``path`` is a prefix: the train split only).
    ``tsv``: ``<path>/<stem>.tsv``, or ``path`` itself when it is a file (train only).
    ``jsonl``: ``<path>/<stem>.jsonl``, or ``path`` itself; objects with ``src``/``tgt`` keys
    at top level or under ``"translation"``. Any file may be gzipped (``.gz`` added).
    """

    source: Literal["local"] = Field(description="Read parallel text from local files.")
    path: Path = Field(description="Folder holding the split files, or a single file / Moses prefix (train split only).")
    format: Literal["moses", "tsv", "jsonl"] = Field(
        description="moses: one file per language; tsv: one pair per line; jsonl: one JSON object per line."
    )
    src: str = Field(description="Source language key: Moses file suffix ('de' for train.de), JSONL key, or TSV column name.")
    tgt: str = Field(description="Target language key: Moses file suffix, JSONL key, or TSV column name.")
    train: str = Field("train", description="File stem of the training split.")
    validation: str | None = Field(
        "valid", description="File stem of the validation split; null (or a default stem with no file) = carve valid_size pairs from train."
    )
    test: str | None = Field(
        "test", description="File stem of the test split; null (or a default stem with no file) = carve test_size pairs from train."
    )
    columns: list[str] | None = Field(
        None, min_length=2, description="TSV only: the name of each tab-separated column in file order; null = [src, tgt]."
    )
    src_file: str | None = Field(
        None,
        description="Moses only: the source file of the training split, relative to path, for a corpus whose two sides are not named <stem>.<src>/<stem>.<tgt> (e.g. NTREX's newstest2019-src.eng.txt); needs tgt_file.",
    )
    tgt_file: str | None = Field(None, description="Moses only: the target file of the training split, relative to path (see src_file).")
    documents: str | None = Field(
        None,
        description="A file (relative to path) with the document id of every training line, line-aligned (first tab-separated field). Validation/test are then carved by whole documents, so no document spans two splits; needs validation: null and test: null.",
    )

    @model_validator(mode="after")
    def _keys(self) -> LocalData:
        if self.src == self.tgt:
            raise ValueError(f"src and tgt are both {self.src!r}; they must name different languages")
        if (self.src_file is None) != (self.tgt_file is None):
            raise ValueError("src_file and tgt_file go together: give both or neither")
        if self.src_file is not None and self.format != "moses":
            raise ValueError("src_file / tgt_file apply to format: moses only")
        if self.documents is not None and (self.validation is not None or self.test is not None):
            raise ValueError("documents carves validation and test by document: set validation: null and test: null")
        if self.documents is not None and self.carve_by != "pair":
            raise ValueError("documents already carves by whole documents: leave carve_by at its default, 'pair'")
        if self.columns is not None:
            if self.format != "tsv":
                raise ValueError("columns applies to format: tsv only")
            for key in (self.src, self.tgt):
                if key not in self.columns:
                    raise ValueError(f"{key!r} is not one of columns {self.columns}")
            if len(set(self.columns)) != len(self.columns):
                raise ValueError(f"columns has duplicate names: {self.columns}")
        return self


class HFData(_Carving, _Common):
    """A Hugging Face dataset: a hub name, a folder written by ``save_to_disk``, or any
    (builder, data_files) that ``datasets.load_dataset`` accepts (e.g. ``json`` + files)."""

    source: Literal["hf"] = Field(description="Load a Hugging Face dataset.")
    dataset: str = Field(
        description="Hub name (e.g. 'wmt/wmt16'), a local save_to_disk folder, or a builder name such as 'json'/'parquet' with data_files."
    )
    config: str | None = Field(None, description="Dataset configuration name (e.g. 'de-en'); null = the default one.")
    data_files: str | list[str] | dict[str, str | list[str]] | None = Field(
        None, description="Files for builder datasets ('json', 'parquet', 'csv'): one path, a list, or {split: path(s)}."
    )
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit) to pin; null = default branch.")
    cache_dir: Path | None = Field(
        None, description="Where `datasets` caches downloads and prepared files; null = its default (~/.cache/huggingface/datasets)."
    )
    format: Literal["translation", "columns"] = Field(
        "translation", description="translation: rows are {'translation': {src: ..., tgt: ...}}; columns: src_column / tgt_column hold the text."
    )
    src: str = Field(description="Source language key inside the 'translation' dict (format: translation).")
    tgt: str = Field(description="Target language key inside the 'translation' dict (format: translation).")
    src_column: str | None = Field(None, description="Column with the source text (format: columns).")
    tgt_column: str | None = Field(None, description="Column with the target text (format: columns).")
    train_split: str = Field("train", description="Name of the training split.")
    validation_split: str | None = Field(
        "validation", description="Name of the validation split; null (or the default name when absent) = carve from train."
    )
    test_split: str | None = Field("test", description="Name of the test split; null (or the default name when absent) = carve from train.")

    @model_validator(mode="after")
    def _columns(self) -> HFData:
        if self.src == self.tgt:
            raise ValueError(f"src and tgt are both {self.src!r}; they must name different languages")
        if self.format == "columns" and (self.src_column is None or self.tgt_column is None):
            raise ValueError("format: columns needs both src_column and tgt_column")
        return self


DataConfig = Annotated[SyntheticData | LocalData | HFData, Field(discriminator="source")]
_ADAPTER: TypeAdapter = TypeAdapter(DataConfig)


def parse_data_config(raw: dict[str, Any], where: str = "data") -> SyntheticData | LocalData | HFData:
    """Validate a ``data:`` mapping, turning pydantic's report into one ConfigError line."""
    try:
        return _ADAPTER.validate_python(raw)
    except ValidationError as err:
        first = err.errors()[0]
        parts = list(first["loc"])
        if parts and parts[0] in ("synthetic", "local", "hf"):
            parts = parts[1:]  # the union's tag, already implied by `source`
        loc = ".".join(str(part) for part in parts)
        raise ConfigError(
            first["msg"],
            where=f"{where}.{loc}" if loc else where,
            fix="see the data section of the docs; `source` is one of synthetic, local, hf",
        ) from None
