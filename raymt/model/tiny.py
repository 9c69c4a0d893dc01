"""The offline default model: a tiny mBART-50-compatible model built and pre-trained locally.

Why: this machine (and a user's laptop in a train) cannot download `facebook/mbart-large-50-*`,
yet parameter-efficient methods only make sense on a *pre-trained* base. So raymt trains its own
tiny base: a Unigram tokenizer (SentencePiece, as mBART's) saved as a real ``MBart50Tokenizer``
with all 52 mBART-50 language codes, and an ``MBartForConditionalGeneration`` pre-trained on one
domain of the synthetic corpus. Fine-tuning then adapts it to the other domain, which is exactly
the situation of a user adapting mBART-50 to a new domain/pair. Its real-text sibling is
:mod:`raymt.model.multilingual`.

The built folder is a normal Hugging Face model folder (``config.json``, ``model.safetensors``,
tokenizer files): every downstream code path loads it with ``from_pretrained`` exactly as it loads
a hub model. It is cached under a key derived from the spec (and the versions of the libraries
whose numerics make its bytes) and reused on the next run; one spec gives byte-identical folders
(:mod:`raymt.model.tokenizer_training`, :mod:`raymt.model.pretrain` say how).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from pydantic import BaseModel, ConfigDict, Field

from raymt.data.synthetic import SyntheticSpec, generate_splits
from raymt.model.build_cache import BUILD_THREADS_HELP, build_identity, build_model_once

TINY_MARKER = "raymt_tiny.json"


class TinyModelSpec(BaseModel):
    """Size and pre-training recipe of the tiny base (cache key: every field)."""

    model_config = ConfigDict(extra="forbid")

    vocab_size: int = Field(1000, ge=100, le=32000, description="Unigram vocabulary size (language codes added on top).")
    d_model: int = Field(128, ge=16, le=1024, description="Hidden size.")
    layers: int = Field(2, ge=1, le=12, description="Encoder layers = decoder layers.")
    heads: int = Field(4, ge=1, le=16, description="Attention heads (must divide d_model).")
    ffn_dim: int = Field(256, ge=16, le=8192, description="Feed-forward inner size.")
    max_positions: int = Field(128, ge=16, le=1024, description="Maximum sequence length in tokens.")
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="Dropout of the base model.")
    pretrain_domain: str = Field("general", description="Synthetic domain the base is pre-trained on; fine-tuning uses another.")
    lexicon_size: int | None = Field(20, ge=4, description="Lemmas per word class of the synthetic corpus (small = learnable in minutes on a CPU).")
    pretrain_pairs: int = Field(4000, ge=100, description="Synthetic pairs used for pre-training.")
    pretrain_other_share: float = Field(
        0.1,
        ge=0,
        le=1,
        description="Pairs of every other domain mixed into pre-training, as a share of pretrain_pairs. New-domain words are then seen but rare, as mBART-50 has seen a little of every domain; at 0 they keep untrained embeddings that LoRA/adapters cannot fix (measured: LoRA BLEU 0.04).",
    )
    pretrain_epochs: int = Field(6, ge=1, le=200, description="Pre-training epochs.")
    pretrain_lr: float = Field(1e-3, gt=0, description="Pre-training peak learning rate (AdamW, warmup then linear decay).")
    pretrain_batch_size: int = Field(
        16,
        ge=1,
        description="Pre-training batch size (sentences). Small batches = more steps: the tiny model only learns to attend to the source after ~1000 updates (measured: batch 64 stayed a language model at BLEU<2).",
    )
    seed: int = Field(0, description="Seed of the corpus and of the initialisation.")
    threads: int = Field(
        1,
        ge=1,
        le=256,
        description=BUILD_THREADS_HELP + " Default 1: at this size a second thread gains little and loses more on a busy machine (BENCHMARKS.md).",
    )

    def cache_key(self) -> str:
        """Every field, plus what else makes the bytes (:func:`build_identity`)."""
        blob = json.dumps({"spec": self.model_dump(), "build": build_identity()}, sort_keys=True).encode()
        return "tiny-" + hashlib.sha256(blob).hexdigest()[:16]


def tiny_config(spec: TinyModelSpec, tokenizer):  # also the real-text base's (same size fields)
    """An mBART config of the tiny size.

    ``scale_embedding=False``: with sqrt(d) scaling the tiny model learned to ignore the source
    (field notes); mBART-large uses True, which is harmless at its size.
    """
    from transformers import MBartConfig

    return MBartConfig(
        vocab_size=len(tokenizer),
        d_model=spec.d_model,
        encoder_layers=spec.layers,
        decoder_layers=spec.layers,
        encoder_attention_heads=spec.heads,
        decoder_attention_heads=spec.heads,
        encoder_ffn_dim=spec.ffn_dim,
        decoder_ffn_dim=spec.ffn_dim,
        max_position_embeddings=spec.max_positions,
        dropout=spec.dropout,
        attention_dropout=0.0,
        activation_dropout=0.0,
        scale_embedding=False,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )


def build_tiny_base(spec: TinyModelSpec, cache_root: str | os.PathLike, *, log=print) -> Path:
    """Return the folder of the tiny pre-trained base, building it once per spec.

    One build per spec on a machine (:func:`raymt.model.build_cache.build_model_once`: a second
    process waits for the first build and reuses it; never a half-written folder).
    """
    out = Path(cache_root) / "models" / spec.cache_key()
    return build_model_once(out, TINY_MARKER, lambda: _build(spec, log), what="tiny base", log=log)


def _build(spec: TinyModelSpec, log):
    """The tiny base's (model, tokenizer, marker meta)."""
    from transformers import MBartForConditionalGeneration

    from raymt.model.pretrain import encode_pairs, pretrain
    from raymt.model.tokenizer_training import train_tokenizer

    corpus_spec = SyntheticSpec(
        domain=spec.pretrain_domain, seed=spec.seed, train_size=spec.pretrain_pairs, valid_size=0, test_size=0, lexicon_size=spec.lexicon_size
    )
    pairs = generate_splits(corpus_spec)["train"]
    from raymt.data.synthetic import DOMAINS

    # The tokenizer sees every domain in full (as mBART's SentencePiece saw all of CC25/CC50); the
    # model sees the other domains only through a small share of its pre-training pairs.
    n_other = int(round(spec.pretrain_other_share * spec.pretrain_pairs))
    tokenizer_extra: list[str] = []
    for dom in (d for d in DOMAINS if d != spec.pretrain_domain):
        if n_other:
            pairs += generate_splits(
                SyntheticSpec(domain=dom, seed=spec.seed + 7919, train_size=n_other, valid_size=0, test_size=0, lexicon_size=spec.lexicon_size)
            )["train"]
        other = generate_splits(
            SyntheticSpec(domain=dom, seed=spec.seed + 1, train_size=2000, valid_size=0, test_size=0, lexicon_size=spec.lexicon_size)
        )["train"]
        tokenizer_extra += [s for s, _ in other] + [t for _, t in other]
    texts = [s for s, _ in pairs] + [t for _, t in pairs] + tokenizer_extra
    tokenizer = train_tokenizer(texts, spec.vocab_size, threads=spec.threads)
    torch.manual_seed(spec.seed)
    model = MBartForConditionalGeneration(tiny_config(spec, tokenizer))
    examples = encode_pairs(tokenizer, pairs, src_lang="en_XX", tgt_lang="de_DE", max_length=spec.max_positions)
    pretrain(model, examples, pretrain_recipe(spec), pad_id=tokenizer.pad_token_id, log=log, what="tiny base pre-training")
    return model, tokenizer, {"spec": spec.model_dump(), "build": build_identity()}


def pretrain_recipe(spec: TinyModelSpec, epochs: int | None = None):
    """The spec's training recipe (also the reverse model's, with its own epochs)."""
    from raymt.model.pretrain import Recipe

    return Recipe(
        epochs=epochs or spec.pretrain_epochs, lr=spec.pretrain_lr, batch_size=spec.pretrain_batch_size, seed=spec.seed, threads=spec.threads
    )
