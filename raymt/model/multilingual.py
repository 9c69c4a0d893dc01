"""The real-text built-in base (``model.name_or_path: tiny-multilingual``): a small mBART-shaped
model pre-trained offline on real parallel text.

Why: the synthetic tiny base (:mod:`raymt.model.tiny`) knows one invented language. A user with
real data and no GPU, and every benchmark of raymt that must mean something for real MT, needs
a base that reads and writes real languages. This one is built the way the mBART-50 family is
used: one SentencePiece Unigram tokenizer over several languages plus the 52 mBART-50 language
codes, and a many-to-many translation model pre-trained on some directions (Tang et al. 2020,
mBART-50's multilingual fine-tuning) that users then adapt to a new direction or domain.

Default recipe: Multi30k (Elliott et al. 2016, 2017; Barrault et al. 2018) read in place from
``../shared/data/multi30k/task1/raw``; the tokenizer is trained on the training text of
English, German, French *and Czech*; the model on en<->de and en<->fr only, so en->cs is a
direction it never translated into, in a language it can tokenise (search_spaces/real_text.yaml).
Any local folder of line-aligned ``<stem>.<lang>[.gz]`` files works the same way.

Reproducible and cached like the tiny base: the key holds the recipe, a SHA-256 of the bytes of
every file read, the build code's format and the library versions (raymt.model.build_cache);
the thread count is part of the recipe, so one recipe gives byte-identical folders. The build
scores its own validation BLEU per direction (greedy, first ``eval_sentences`` of the validation
split) into its marker file, which ``prepared.json`` and the report quote.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from raymt.errors import DataError
from raymt.model.build_cache import BUILD_THREADS_HELP, build_identity, files_digest
from raymt.model import MULTILINGUAL

MARKER = "raymt_multilingual.json"
#: where the default corpus lives: ../shared beside the raymt checkout (or the working directory)
DEFAULT_CORPUS = "../shared/data/multi30k/task1/raw"


class MultilingualSpec(BaseModel):
    """Corpus, tokenizer, size and pre-training recipe of the real-text base (cache key: every
    field, plus the bytes of the files it reads)."""

    model_config = ConfigDict(extra="forbid")

    corpus: str = Field(
        DEFAULT_CORPUS,
        description="Folder of line-aligned <stem>.<lang> text files (optionally .gz), e.g. Multi30k's task1/raw. A relative path is looked up in the working directory, then beside the raymt checkout.",
    )
    languages: dict[str, str] = Field(
        default_factory=lambda: {"en": "en_XX", "de": "de_DE", "fr": "fr_XX", "cs": "cs_CZ"},
        description="File suffix -> mBART-50 code of every language the tokenizer covers (trained on <train>.<suffix> of each).",
    )
    directions: list[str] = Field(
        default_factory=lambda: ["en-de", "de-en", "en-fr", "fr-en"],
        description="Directions the model is pre-trained to translate, as <src suffix>-<tgt suffix>; a language of `languages` left out here is one the base can tokenise but never wrote.",
    )
    train: str = Field("train", description="File stem of the training split.")
    validation: str = Field("val", description="File stem of the validation split (the base's own BLEU per direction).")
    pairs_per_direction: int | None = Field(
        20000, ge=100, description="Pre-train on a seeded subset of at most this many pairs per direction; null = all."
    )
    denoise: list[str] = Field(
        default_factory=lambda: ["cs"],
        description="Languages (suffixes) whose training text is also learnt with mBART's text-infilling objective (noised sentence -> sentence, 35% of words masked in Poisson(3.5) spans): the base can then write a language it never translated into, as mBART-50 can after denoising pre-training.",
    )
    denoise_sentences: int | None = Field(
        20000, ge=100, description="Use at most this many sentences per denoising language (seeded subset); null = all."
    )
    vocab_size: int = Field(4000, ge=500, le=64000, description="Unigram pieces (language codes added on top).")
    d_model: int = Field(128, ge=32, le=1024, description="Hidden size.")
    layers: int = Field(3, ge=1, le=12, description="Encoder layers = decoder layers.")
    heads: int = Field(4, ge=1, le=16, description="Attention heads (must divide d_model).")
    ffn_dim: int = Field(512, ge=32, le=8192, description="Feed-forward inner size.")
    max_positions: int = Field(128, ge=16, le=1024, description="Maximum sequence length in tokens.")
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="Dropout of the base model.")
    epochs: int = Field(1, ge=1, le=100, description="Passes over all directions' pairs.")
    lr: float = Field(1e-3, gt=0, le=1.0, description="Peak learning rate (AdamW, warmup over 10% of the steps, then linear decay).")
    batch_size: int = Field(32, ge=1, le=4096, description="Sentences per step.")
    eval_sentences: int = Field(500, ge=1, description="Validation sentences per direction scored when the base is built (greedy, first N).")
    seed: int = Field(0, description="Seed of the subset, the initialisation, dropout and batch order.")
    threads: int = Field(2, ge=1, le=256, description=BUILD_THREADS_HELP + " Default 2: the cores of a laptop-class machine.")

    @field_validator("directions")
    @classmethod
    def _directions(cls, value: list[str]) -> list[str]:
        for d in value:
            src, sep, tgt = d.partition("-")
            if not sep or not src or not tgt or src == tgt:
                raise ValueError(f"direction {d!r} is not <src>-<tgt> with two different languages (e.g. en-de)")
        if len(set(value)) != len(value):
            raise ValueError(f"a direction is listed twice: {value}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> MultilingualSpec:
        for d in self.directions:
            for lang in d.split("-"):
                if lang not in self.languages:
                    raise ValueError(f"direction {d!r} uses {lang!r}, which is not in languages ({', '.join(self.languages)})")
        for lang in self.denoise:
            if lang not in self.languages:
                raise ValueError(f"denoise language {lang!r} is not in languages ({', '.join(self.languages)})")
        if self.d_model % self.heads:
            raise ValueError(f"heads ({self.heads}) must divide d_model ({self.d_model})")
        return self

    def pairs(self) -> list[tuple[str, str]]:
        return [tuple(d.split("-")) for d in self.directions]  # type: ignore[misc]


def resolve_corpus(path: str) -> Path:
    """A relative corpus path: the working directory first, then beside the raymt checkout
    (where ``../shared`` lives in raymt's own repository and CI)."""
    p = Path(path).expanduser()
    if p.is_absolute() or p.is_dir():
        return p
    beside_checkout = Path(__file__).resolve().parents[2] / p
    return beside_checkout if beside_checkout.is_dir() else p


def corpus_files(spec: MultilingualSpec) -> dict[str, Path]:
    """``<split>.<lang>`` -> file, for every file the build reads; a missing one is a DataError
    naming the folder and the fix."""
    from raymt.data.files import find_file

    folder = resolve_corpus(spec.corpus)
    if not folder.is_dir():
        raise DataError(
            f"corpus folder {spec.corpus!r} not found (looked in the working directory and beside the raymt checkout)",
            where="model.multilingual.corpus",
            fix="point it at a folder of line-aligned <stem>.<lang>[.gz] files (raymt's default reads "
            "Multi30k from ../shared/data/multi30k/task1/raw)",
        )
    needed = [(spec.train, lang) for lang in spec.languages]
    needed += [(spec.validation, lang) for lang in sorted({x for pair in spec.pairs() for x in pair})]
    out: dict[str, Path] = {}
    for stem, lang in needed:
        found = find_file(folder / f"{stem}.{lang}")
        if found is None:
            raise DataError(
                f"no file {stem}.{lang} (or {stem}.{lang}.gz)",
                where=str(folder),
                fix="add it, or drop the language from model.multilingual.languages / directions",
            )
        out[f"{stem}.{lang}"] = found
    return out


def cache_key(spec: MultilingualSpec, files: dict[str, Path]) -> str:
    """Recipe + bytes of the corpus files + build identity (format, library versions)."""
    blob = json.dumps(
        {"spec": spec.model_dump(exclude={"corpus"}), "build": build_identity(), "corpus": files_digest(files[name] for name in sorted(files))},
        sort_keys=True,
    )
    return "multilingual-" + hashlib.sha256(blob.encode()).hexdigest()[:16]


def base_config(spec: MultilingualSpec, tokenizer):
    """mBART's architecture at this size: the tiny base's config (``scale_embedding=False``, see
    its note; tied input/output embeddings, as mBART-50), from this spec's size fields."""
    from raymt.model.tiny import tiny_config

    return tiny_config(spec, tokenizer)


def read_marker(folder: str | os.PathLike) -> dict | None:
    path = Path(folder) / MARKER
    return json.loads(path.read_text()) if path.is_file() else None


def build_multilingual_base(spec: MultilingualSpec, cache_root: str | os.PathLike, *, log=print) -> Path:
    """The folder of the real-text base for ``spec``, built once (about 10 minutes on 2 cores with
    the default recipe) and then reused (:func:`raymt.model.build_cache.build_model_once`: a
    second process waits for the first build)."""
    from raymt.model.build_cache import build_model_once

    files = corpus_files(spec)
    out = Path(cache_root) / "models" / cache_key(spec, files)
    return build_model_once(out, MARKER, lambda: _build(spec, files, log), what="multilingual base", log=log)


def _build(spec: MultilingualSpec, files: dict, log):
    """The real-text base's (model, tokenizer, marker meta)."""
    import torch
    from transformers import MBartForConditionalGeneration

    from raymt.data.files import read_lines
    from raymt.model.pretrain import Recipe, encode_pairs, pretrain
    from raymt.model.tokenizer_training import train_tokenizer

    t0 = time.time()
    text = {name: read_lines(path) for name, path in files.items()}
    tok_texts = [line for lang in spec.languages for line in text[f"{spec.train}.{lang}"]]
    tokenizer = train_tokenizer(tok_texts, spec.vocab_size, threads=spec.threads)
    tokenizer_s = time.time() - t0
    log(
        f"multilingual base: tokenizer of {len(tokenizer)} entries trained on {len(tok_texts)} sentences "
        f"({', '.join(spec.languages)}) in {tokenizer_s:.1f}s"
    )
    examples = []
    sizes = {}
    for src, tgt in spec.pairs():
        pairs = _aligned(text, spec.train, src, tgt, files)
        if spec.pairs_per_direction is not None and len(pairs) > spec.pairs_per_direction:
            pairs = random.Random(f"{spec.seed}:{src}-{tgt}").sample(pairs, spec.pairs_per_direction)
        sizes[f"{src}-{tgt}"] = len(pairs)
        examples += encode_pairs(tokenizer, pairs, src_lang=spec.languages[src], tgt_lang=spec.languages[tgt], max_length=spec.max_positions)
    for lang in spec.denoise:
        lines = [line.strip() for line in text[f"{spec.train}.{lang}"] if line.strip()]
        if spec.denoise_sentences is not None and len(lines) > spec.denoise_sentences:
            lines = random.Random(f"{spec.seed}:denoise:{lang}").sample(lines, spec.denoise_sentences)
        sizes[f"denoise {lang}"] = len(lines)
        examples += encode_pairs(
            tokenizer,
            infilled(lines, tokenizer.mask_token, seed=spec.seed),
            src_lang=spec.languages[lang],
            tgt_lang=spec.languages[lang],
            max_length=spec.max_positions,
        )
    torch.manual_seed(spec.seed)
    model = MBartForConditionalGeneration(base_config(spec, tokenizer))
    recipe = Recipe(epochs=spec.epochs, lr=spec.lr, batch_size=spec.batch_size, seed=spec.seed, threads=spec.threads)
    t1 = time.time()
    losses = pretrain(model, examples, recipe, pad_id=tokenizer.pad_token_id, log=log, what="multilingual base pre-training")
    train_s = time.time() - t1
    t2 = time.time()
    scores = score_directions(model, tokenizer, spec, text, files)
    eval_s = time.time() - t2
    log("multilingual base validation BLEU: " + ", ".join(f"{d} {s['bleu']:.2f}" for d, s in scores.items()))
    meta = {
        "name": MULTILINGUAL,
        "spec": spec.model_dump(),
        "build": build_identity(),
        "corpus": {
            "folder": str(resolve_corpus(spec.corpus).resolve()),
            "files": {k: str(v) for k, v in files.items()},
            "sha256": files_digest(files[name] for name in sorted(files)),
            "examples": sizes,
        },
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_loss": losses,
        "validation": scores,
        "seconds": {"tokenizer": round(tokenizer_s, 1), "pretrain": round(train_s, 1), "validation": round(eval_s, 1)},
    }
    return model, tokenizer, meta


def infilled(lines: list[str], mask_token: str, *, seed: int) -> list[tuple[str, str]]:
    """(noised, original) pairs with mBART's text infilling (Liu et al. 2020: 35% of the words
    in Poisson(3.5) spans, each span one mask), one fixed noise per sentence."""
    import numpy as np

    from raymt.data.noise import text_infilling

    rng = np.random.default_rng(seed)
    return [(text_infilling(t, rng, mask_ratio=0.35, poisson_lambda=3.5, mask_token=mask_token).text, t) for t in lines]


def _aligned(text: dict[str, list[str]], stem: str, src: str, tgt: str, files: dict[str, Path]) -> list[tuple[str, str]]:
    s, t = text[f"{stem}.{src}"], text[f"{stem}.{tgt}"]
    if len(s) != len(t):
        raise DataError(
            f"{files[f'{stem}.{src}'].name} has {len(s)} lines but {files[f'{stem}.{tgt}'].name} has {len(t)}",
            where=str(files[f"{stem}.{src}"].parent),
            fix="the files of one split must be line-aligned",
        )
    return [(a.strip(), b.strip()) for a, b in zip(s, t) if a.strip() and b.strip()]


def score_directions(model, tokenizer, spec: MultilingualSpec, text: dict[str, list[str]], files: dict[str, Path]) -> dict[str, dict]:
    """The base's own validation BLEU/chrF per pre-trained direction (greedy, first
    ``eval_sentences``), with the sacrebleu signature."""
    from raymt.model.decode import translate_texts
    from raymt.model.pretrain import torch_threads

    out = {}
    with torch_threads(spec.threads):
        for src, tgt in spec.pairs():
            pairs = _aligned(text, spec.validation, src, tgt, files)[: spec.eval_sentences]
            scores = translate_texts(
                model,
                tokenizer,
                [s for s, _ in pairs],
                src_lang=spec.languages[src],
                tgt_lang=spec.languages[tgt],
                references=[t for _, t in pairs],
                max_length=spec.max_positions,
            )[1]
            out[f"{src}-{tgt}"] = {"bleu": scores.bleu, "chrf": scores.chrf, "sentences": len(pairs), "signature": scores.bleu_signature}
    return out
