"""The evaluation split's references and sources, written next to the trials table.

The significance tests (raymt.analysis.significance) compare trials on these references, and
``raymt evaluate EXPORT --src sources.txt --ref references.txt`` reproduces a trial's score
from its exported model.
"""

from __future__ import annotations

from pathlib import Path

from raymt.data.cache import load_tokenized
from raymt.io import atomic_write_text
from raymt.object_store import localize
from raymt.results.files import REFERENCES, SOURCES


def write_references(results_dir: Path, prepared, cfg) -> Path:
    """Write references.txt and sources.txt (the scored part of ``cfg.eval.split``, every pair's
    set in config order, as the worker writes its hypotheses); returns the references' path."""
    refs, srcs = [], []
    for data_path in (prepared.pair_data or {"": prepared.data_path}).values():
        split = load_tokenized(localize(data_path))[cfg.eval.split]
        n = len(split) if cfg.eval.max_samples is None else min(cfg.eval.max_samples, len(split))
        refs += list(split["tgt_text"])[:n]
        srcs += list(split["src_text"])[:n]
    path = results_dir / REFERENCES
    atomic_write_text(path, "\n".join(refs) + "\n")
    atomic_write_text(results_dir / SOURCES, "\n".join(srcs) + "\n")
    return path
