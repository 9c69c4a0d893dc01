"""The data layer: corpora (synthetic, local files, Hugging Face), cleaning, splits, the
shared tokenised cache (:mod:`raymt.data.cache`) and augmentation (:mod:`raymt.data.augment`).

This package never imports Ray; ``datasets`` is imported only by the HF source and the cache.
"""

from raymt.data.cleaning import CleaningReport
from raymt.data.config import CleaningConfig, DataConfig, HFData, LocalData, SyntheticData, parse_data_config
from raymt.data.sources import load_corpus
from raymt.data.splits import SPLIT_NAMES, Pair, Splits, content_hash
from raymt.data.synthetic import SyntheticSpec, generate_monolingual, generate_splits

__all__ = [
    "SPLIT_NAMES",
    "CleaningConfig",
    "CleaningReport",
    "DataConfig",
    "HFData",
    "LocalData",
    "Pair",
    "Splits",
    "SyntheticData",
    "SyntheticSpec",
    "content_hash",
    "generate_monolingual",
    "generate_splits",
    "load_corpus",
    "parse_data_config",
]
