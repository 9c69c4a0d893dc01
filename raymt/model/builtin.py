"""raymt's built-in bases, by the name a config gives in ``model.name_or_path``.

``tiny``: pre-trained on the synthetic language pair (:mod:`raymt.model.tiny`), the default
search's base; ``tiny-multilingual``: pre-trained on real parallel text (Multi30k by default,
:mod:`raymt.model.multilingual`). Both are built locally, offline, once per recipe, into the
experiment's cache, and then loaded with ``from_pretrained`` like any hub model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from raymt.model import MULTILINGUAL, TINY

BUILTIN_BASES = (TINY, MULTILINGUAL)


def is_builtin(name: str) -> bool:
    return name in BUILTIN_BASES


def build_builtin(model_cfg, cache_root: str | os.PathLike, *, log=print) -> Path:
    """The folder of the built-in base ``model_cfg.name_or_path``, built on first use."""
    if model_cfg.name_or_path == TINY:
        from raymt.model.tiny import build_tiny_base

        return build_tiny_base(model_cfg.tiny, cache_root, log=log)
    if model_cfg.name_or_path == MULTILINGUAL:
        from raymt.model.multilingual import build_multilingual_base

        return build_multilingual_base(model_cfg.multilingual, cache_root, log=log)
    raise ValueError(f"{model_cfg.name_or_path!r} is not a built-in base ({', '.join(BUILTIN_BASES)})")


def base_record(name: str, folder: str | os.PathLike) -> dict:
    """What ``prepared.json`` and the report say about the base: its name and, for a built-in
    base, its recipe, build time and (real-text base) its own validation BLEU per direction."""
    from raymt.model.multilingual import MARKER as MULTI_MARKER
    from raymt.model.tiny import TINY_MARKER

    record: dict = {"name": name, "path": str(folder)}
    for marker in (TINY_MARKER, MULTI_MARKER):
        path = Path(folder) / marker
        if path.is_file():
            meta = json.loads(path.read_text())
            record.update({k: meta[k] for k in ("spec", "build", "build_s", "validation", "parameters", "corpus", "train_loss") if k in meta})
    return record
