"""The offline default model: a tiny mBART-50-compatible model built and pre-trained locally.

Why: this machine (and a user's laptop in a train) cannot download `facebook/mbart-large-50-*`,
yet parameter-efficient methods only make sense on a *pre-trained* base. So raymt trains its own
tiny base: a Unigram tokenizer (the same model family as mBART's SentencePiece) saved as a real
``MBart50Tokenizer`` with all 52 mBART-50 language codes, and an ``MBartForConditionalGeneration``
pre-trained on one domain of the synthetic corpus. Fine-tuning then adapts it to the other
domain, which is exactly the situation of a user adapting mBART-50 to a new domain/pair.

The built folder is a normal Hugging Face model folder (``config.json``, ``model.safetensors``,
tokenizer files): every downstream code path loads it with ``from_pretrained`` exactly as it loads
a hub model. It is cached under a key derived from the spec and reused on the next run.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

import torch
from pydantic import BaseModel, ConfigDict, Field

from raymt.data.synthetic import SyntheticSpec, generate_splits
from raymt.progress import Progress

#: The 52 language codes of mBART-50, in the tokenizer's own order.
from transformers.models.mbart50.tokenization_mbart50 import FAIRSEQ_LANGUAGE_CODES

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
    pretrain_other_share: float = Field(0.1, ge=0, le=1, description="Pairs of every other domain mixed into pre-training, as a share of pretrain_pairs. New-domain words are then seen but rare, as mBART-50 has seen a little of every domain; at 0 they keep untrained embeddings that LoRA/adapters cannot fix (measured: LoRA BLEU 0.04).")
    pretrain_epochs: int = Field(6, ge=1, le=200, description="Pre-training epochs.")
    pretrain_lr: float = Field(1e-3, gt=0, description="Pre-training peak learning rate (AdamW, warmup then linear decay).")
    pretrain_batch_size: int = Field(16, ge=1, description="Pre-training batch size (sentences). Small batches = more steps: the tiny model only learns to attend to the source after ~1000 updates (measured: batch 64 stayed a language model at BLEU<2).")
    seed: int = Field(0, description="Seed of the corpus and of the initialisation.")

    def cache_key(self) -> str:
        blob = json.dumps(self.model_dump(), sort_keys=True).encode()
        return "tiny-" + hashlib.sha256(blob).hexdigest()[:16]


def train_tokenizer(texts: list[str], vocab_size: int, src_lang: str = "en_XX", tgt_lang: str = "de_DE"):
    """Train a Unigram tokenizer and wrap it as a real ``MBart50Tokenizer``.

    The vocabulary is laid out as fairseq/mBART-50 does it (``<s> <pad> </s> <unk>``, pieces,
    language codes, ``<mask>``), so language-code handling (``src_lang`` prefix, forced target
    code) is transformers' own code, not ours.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import MBart50Tokenizer

    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=["<s>", "<pad>", "</s>", "<unk>"], unk_token="<unk>", show_progress=False
    )
    tok.train_from_iterator(texts, trainer)
    pieces = [tuple(v) for v in json.loads(tok.to_str())["model"]["vocab"]]
    vocab = pieces + [(code, 0.0) for code in FAIRSEQ_LANGUAGE_CODES] + [("<mask>", 0.0)]
    return MBart50Tokenizer(vocab=vocab, src_lang=src_lang, tgt_lang=tgt_lang)


def tiny_config(spec: TinyModelSpec, tokenizer):
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


def _pretrain(model, tokenizer, pairs: list[tuple[str, str]], spec: TinyModelSpec, log) -> None:
    """Plain single-process MT pre-training of the base (not a trial: no Ray needed)."""
    from transformers import get_linear_schedule_with_warmup

    torch.manual_seed(spec.seed)
    rng = random.Random(spec.seed)
    enc = tokenizer([s for s, _ in pairs], text_target=[t for _, t in pairs], max_length=spec.max_positions, truncation=True)
    examples = list(zip(enc["input_ids"], enc["labels"]))
    steps_per_epoch = math.ceil(len(examples) / spec.pretrain_batch_size)
    total = steps_per_epoch * spec.pretrain_epochs
    opt = torch.optim.AdamW(model.parameters(), lr=spec.pretrain_lr, weight_decay=0.01)
    sched = get_linear_schedule_with_warmup(opt, max(1, total // 10), total)
    pad = tokenizer.pad_token_id
    progress = Progress("tiny base pre-training", total, log=log)
    model.train()
    for epoch in range(spec.pretrain_epochs):
        rng.shuffle(examples)
        loss_sum = 0.0
        for i in range(0, len(examples), spec.pretrain_batch_size):
            batch = examples[i : i + spec.pretrain_batch_size]
            src_len = max(len(s) for s, _ in batch)
            tgt_len = max(len(t) for _, t in batch)
            ids = torch.full((len(batch), src_len), pad)
            labels = torch.full((len(batch), tgt_len), -100)
            for j, (s, t) in enumerate(batch):
                ids[j, : len(s)] = torch.tensor(s)
                labels[j, : len(t)] = torch.tensor(t)
            out = model(input_ids=ids, attention_mask=(ids != pad).long(), labels=labels)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            loss_sum += out.loss.item()
            progress.advance()
        log(f"tiny base pre-training: epoch {epoch + 1}/{spec.pretrain_epochs} loss {loss_sum / steps_per_epoch:.3f}")
    model.eval()


def build_tiny_base(spec: TinyModelSpec, cache_root: str | os.PathLike, *, log=print) -> Path:
    """Return the folder of the tiny pre-trained base, building it once per spec.

    The build goes to a temporary folder renamed into place, so two processes racing to build
    the same base never leave a half-written model behind; the loser reuses the winner's.
    """
    out = Path(cache_root) / "models" / spec.cache_key()
    if (out / TINY_MARKER).exists():
        return out
    from transformers import MBartForConditionalGeneration

    t0 = time.time()
    corpus_spec = SyntheticSpec(domain=spec.pretrain_domain, seed=spec.seed, train_size=spec.pretrain_pairs, valid_size=0, test_size=0,
                                lexicon_size=spec.lexicon_size)
    pairs = generate_splits(corpus_spec)["train"]
    from raymt.data.synthetic import DOMAINS

    # The tokenizer sees every domain in full (as mBART's SentencePiece saw all of CC25/CC50); the
    # model sees the other domains only through a small share of its pre-training pairs.
    n_other = int(round(spec.pretrain_other_share * spec.pretrain_pairs))
    tokenizer_extra: list[str] = []
    for dom in (d for d in DOMAINS if d != spec.pretrain_domain):
        if n_other:
            pairs += generate_splits(SyntheticSpec(domain=dom, seed=spec.seed + 7919, train_size=n_other, valid_size=0, test_size=0,
                                                   lexicon_size=spec.lexicon_size))["train"]
        other = generate_splits(SyntheticSpec(domain=dom, seed=spec.seed + 1, train_size=2000, valid_size=0, test_size=0,
                                              lexicon_size=spec.lexicon_size))["train"]
        tokenizer_extra += [s for s, _ in other] + [t for _, t in other]
    texts = [s for s, _ in pairs] + [t for _, t in pairs] + tokenizer_extra
    tokenizer = train_tokenizer(texts, spec.vocab_size)
    torch.manual_seed(spec.seed)
    model = MBartForConditionalGeneration(tiny_config(spec, tokenizer))
    _pretrain(model, tokenizer, pairs, spec, log)
    publish_model_folder(model, tokenizer, out, TINY_MARKER, {"spec": spec.model_dump(), "build_s": round(time.time() - t0, 1)})
    log(f"tiny base built in {time.time() - t0:.1f}s -> {out}")
    return out


def publish_model_folder(model, tokenizer, out: Path, marker: str, meta: dict) -> Path:
    """Save a model folder (safetensors + tokenizer + ``marker`` JSON) under a temporary name and
    rename it into place, so two processes racing to build the same cached model never leave a
    half-written folder behind; the loser keeps the winner's."""
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
