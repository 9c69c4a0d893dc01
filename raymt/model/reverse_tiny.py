"""The offline back-translation model: the tiny base trained in the reverse direction.

Back-translation needs a target->source model (Sennrich et al., 2016). Offline there is none to
download, so raymt makes one the way it makes its base (:mod:`raymt.model.tiny`): it starts
from the tiny pre-trained base (whose tokenizer already covers both languages and all mBART-50
language codes) and trains it on the experiment's *training* pairs with source and target
swapped. Only the training split is used, so no validation/test sentence leaks into the
synthetic sources.

The folder is cached under ``<cache>/models/`` keyed by the base spec, the training text, the
languages and the recipe, so every experiment on the same corpus reuses it; it is built in
a temporary folder renamed into place, like the base, with the base's fixed thread count
(:mod:`raymt.model.pretrain`: same inputs, same bytes, and no oversubscribed cores).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

from raymt.model.tiny import TinyModelSpec

REVERSE_MARKER = "raymt_reverse.json"


def reverse_key(spec: TinyModelSpec, train: Sequence[tuple[str, str]], *, src_lang: str, tgt_lang: str, epochs: int) -> str:
    """Cache key: a change to the base, the corpus, the languages or the recipe retrains."""
    h = hashlib.sha256(json.dumps({"base": spec.cache_key(), "langs": [src_lang, tgt_lang], "epochs": epochs}).encode())
    for src, tgt in train:
        h.update(b"\x01" + src.encode() + b"\x02" + tgt.encode())
    return "tiny-reverse-" + h.hexdigest()[:16]


def build_reverse_tiny(
    base_path: str | os.PathLike,
    spec: TinyModelSpec,
    train: Sequence[tuple[str, str]],
    cache_root: str | os.PathLike,
    *,
    src_lang: str,
    tgt_lang: str,
    epochs: int,
    log=print,
) -> Path:
    """The folder of a tgt->src model fine-tuned from the tiny base on ``train`` reversed.

    ``src_lang``/``tgt_lang`` are the *experiment's* languages; the reverse model reads
    ``tgt_lang`` and writes ``src_lang``.
    """
    from raymt.model.build_cache import build_model_once

    out = Path(cache_root) / "models" / reverse_key(spec, train, src_lang=src_lang, tgt_lang=tgt_lang, epochs=epochs)

    def build():
        return _build(base_path, spec, train, src_lang=src_lang, tgt_lang=tgt_lang, epochs=epochs, log=log)

    return build_model_once(out, REVERSE_MARKER, build, what="reverse (back-translation) model", log=log)


def _build(base_path, spec: TinyModelSpec, train, *, src_lang: str, tgt_lang: str, epochs: int, log):
    """The reverse model's (model, tokenizer, marker meta)."""
    from transformers import MBartForConditionalGeneration

    from raymt.model.loading import load_tokenizer
    from raymt.model.pretrain import encode_pairs, pretrain
    from raymt.model.tiny import pretrain_recipe

    tokenizer = load_tokenizer(str(base_path), tgt_lang, src_lang)  # reads the target language, writes the source
    model = MBartForConditionalGeneration.from_pretrained(str(base_path))
    examples = encode_pairs(tokenizer, [(tgt, src) for src, tgt in train], src_lang=tgt_lang, tgt_lang=src_lang, max_length=spec.max_positions)
    pretrain(model, examples, pretrain_recipe(spec, epochs), pad_id=tokenizer.pad_token_id, log=log, what="reverse model")
    return model, tokenizer, {"base": str(base_path), "reads": tgt_lang, "writes": src_lang, "pairs": len(train), "epochs": epochs}
