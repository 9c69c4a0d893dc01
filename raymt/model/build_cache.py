"""The cache of models raymt builds itself (tiny bases, the real-text base, reverse models).

A built model lives in ``<cache>/models/<key>``: the key holds everything that changes its
bytes, so a machine either reuses a folder that is exactly what it would build, or builds
afresh. Besides a model's own recipe that is:

* the **thread count** of the build (a recipe field, ``threads``): torch's CPU kernels and
  SentencePiece's E-step split their float sums by thread count, so the count is part of the
  recipe and is used as given whatever the machine has (:mod:`raymt.model.pretrain`);
* the **versions of the libraries** whose numerics write the bytes (torch, transformers,
  sentencepiece) and :data:`BUILD_FORMAT`, bumped when raymt's build code changes its output;
* for a base read from files, a hash of the **bytes of every file it reads**
  (:func:`files_digest`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

#: bump when raymt's build code changes what it writes for the same recipe
BUILD_FORMAT = 2

BUILD_THREADS_HELP = (
    "CPU threads of the build (tokenizer training and pre-training), used exactly whatever the machine has: "
    "the thread count changes the float sums, so it is part of the recipe and of the cache key. "
    "More threads build faster on a bigger machine but give a different (equally good) base."
)


def build_identity() -> dict:
    """What besides the recipe makes a build's bytes: the build code's format and the versions
    of the libraries that compute them."""
    import sentencepiece
    import torch
    import transformers

    return {"format": BUILD_FORMAT, "torch": torch.__version__, "transformers": transformers.__version__, "sentencepiece": sentencepiece.__version__}


def files_digest(paths: Iterable[str | os.PathLike]) -> str:
    """SHA-256 over the names and bytes of ``paths`` (in the order given)."""
    h = hashlib.sha256()
    for path in paths:
        path = Path(path)
        h.update(path.name.encode() + b"\0")
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        h.update(b"\1")
    return h.hexdigest()


def publish_model_folder(model, tokenizer, out: Path, marker: str, meta: dict) -> Path:
    """Save a model folder (safetensors + tokenizer + ``marker`` JSON) under a temporary name and
    rename it into place, so two processes racing to build the same cached model never leave a
    half-written folder behind; the loser keeps the winner's. The marker is written last and
    is what readers test for; it also records how the build went (its seconds: the one file
    whose bytes differ between two builds of one recipe)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=out.parent))
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    (tmp / marker).write_text(json.dumps(meta, indent=2))
    try:
        os.replace(tmp, out)
    except OSError:  # another process won the race: use its folder
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def build_model_once(out: Path, marker: str, build: Callable[[], tuple], *, what: str, log=print) -> Path:
    """``out``, built by ``build()`` -> ``(model, tokenizer, meta)`` unless its ``marker`` is there.

    The one build sequence of every model raymt makes itself (tiny base, real-text base, reverse
    model): a file lock beside the folder, so a second process (another search, a test run)
    waits for the first build and reuses it instead of building the same bytes again; the build
    in a temporary folder renamed into place (:func:`publish_model_folder`); the marker last,
    with ``meta`` and the build's seconds (``build_s``)."""
    from filelock import FileLock

    out = Path(out)
    if (out / marker).exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out.parent / f".{out.name}.lock")):
        if (out / marker).exists():  # built by another process while this one waited
            return out
        t0 = time.time()
        model, tokenizer, meta = build()
        publish_model_folder(model, tokenizer, out, marker, {**meta, "build_s": round(time.time() - t0, 1)})
    log(f"{what} built in {time.time() - t0:.1f}s -> {out}")
    return out
