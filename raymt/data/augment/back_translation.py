"""Back-translation: a target->source model writes a synthetic source for a training target.

Sennrich, Haddow & Birch, 2016, "Improving Neural Machine Translation Models with Monolingual
Data" (ACL 2016, arXiv:1511.06709): pairs of (machine-translated source, human target) teach
the decoder fluent target text while the source side carries realistic translation noise.
Edunov, Ott, Auli & Grangier, 2018, "Understanding Back-Translation at Scale" (EMNLP 2018,
arXiv:1808.09381) showed that *sampling* the synthetic sources beats beam search (beam output
is too regular to be a useful training signal), so this operator samples; ``top_k`` /
``top_p`` / ``temperature`` restrict the sampling when a weak reverse model's tail is noise.

Here the targets are the experiment's own training targets (a random sample of ``r x |train|``
of them), so back-translation works as paraphrasing of the source side. Generation is the
expensive step, so it runs once per experiment for the largest ratio in the search space
(``build_pool``, called by :mod:`raymt.train.prepare`), distributed over a Ray actor pool,
and is cached under ``<storage_path>/.cache/back_translation/`` keyed by (model, corpus,
sampling parameters, size, seed): a second experiment on the same data reuses it. Every
trial then takes its ratio as a prefix of the pool.

``model: tiny`` (the offline default) is a reverse tiny model raymt trains itself on the
training pairs (:mod:`raymt.model.reverse_tiny`); otherwise any Hugging Face seq2seq model, by
hub id or local folder, e.g. ``facebook/mbart-large-50-many-to-many-mmt``, which translates
in both directions.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from raymt.data.augment.base import AugmentOperator, register_operator
from raymt.errors import ConfigError
from raymt.model import TINY

POOL_FORMAT = 1  # bump when the stored pool changes, to invalidate old caches
BUILD_LOG = "builds.jsonl"


class BackTranslationParams(BaseModel):
    """Back-translation (Sennrich et al., 2016) with sampling (Edunov et al., 2018): the model, its sampling, and how generation is spread over Ray."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        TINY,
        min_length=1,
        description="The target->source model: 'tiny' (offline default: raymt trains a reverse tiny model on the training pairs; needs model.name_or_path: tiny), a hub id or a local Hugging Face folder (e.g. facebook/mbart-large-50-many-to-many-mmt, which translates both ways).",
    )
    input_lang: str | None = Field(
        None, description="Language code the back-translation model reads (mBART-style tokenizers); null = the experiment's model.tgt_lang."
    )
    output_lang: str | None = Field(
        None, description="Language code it writes (forced as the first generated token); null = the experiment's model.src_lang."
    )
    temperature: float = Field(
        1.0, gt=0.0, le=10.0, description="Sampling temperature; below 1 sharpens the distribution towards the model's best guesses."
    )
    top_k: int = Field(
        0,
        ge=0,
        le=100000,
        description="Sample among the k most likely tokens only; 0 = unrestricted sampling, the best setting of Edunov et al. (2018).",
    )
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="Nucleus sampling: the smallest token set with this much probability; 1.0 = off.")
    max_new_tokens: int = Field(64, ge=2, le=2048, description="Longest generated source, in tokens.")
    batch_size: int = Field(
        64,
        ge=1,
        le=8192,
        description="Sentences per generation call; also the unit of work and of seeding, so the pool is the same for any number of actors.",
    )
    num_actors: int = Field(1, ge=1, le=4096, description="Ray actors, each holding one copy of the model; capped by what the cluster holds at once.")
    cpus_per_actor: float = Field(1.0, gt=0.0, le=1024, description="CPUs reserved per actor (also its torch thread count, rounded).")
    use_gpu: bool | None = Field(None, description="One GPU per actor; null = when the Ray cluster has a GPU.")
    reverse_epochs: int = Field(
        4,
        ge=1,
        le=200,
        description="model: tiny only: epochs of training the reverse model (started from the tiny base) on the reversed training pairs.",
    )


def _sampling(p: BackTranslationParams) -> dict:
    return {"temperature": p.temperature, "top_k": p.top_k, "top_p": p.top_p, "max_new_tokens": p.max_new_tokens}


@register_operator
class BackTranslation(AugmentOperator):
    name = "back_translation"
    params_cls = BackTranslationParams

    def augment_pairs(self, pairs: Sequence[tuple[str, str]], rng: random.Random, *, vocabulary=None, **params) -> list[tuple[str, str]]:
        """In-process back-translation of a few pairs (``model`` must be a folder or hub id:
        the tiny reverse model exists only once an experiment has built it)."""
        from raymt.data.augment.generation import Translator, translate_local

        p = self.validate_params(params)
        if p.model == TINY:
            raise ConfigError(
                "model: tiny is trained per experiment, from its training pairs",
                where="augment.back_translation.model",
                fix="give a model folder or hub id here, or let an experiment build the pool (raymt.train.prepare)",
            )
        if not pairs:
            return []
        translator = Translator(p.model, input_lang=p.input_lang, output_lang=p.output_lang, **_sampling(p))
        sources = translate_local(translator, [tgt for _, tgt in pairs], seed=rng.getrandbits(63), batch_size=p.batch_size)
        return [(src, tgt) for src, (_, tgt) in zip(sources, pairs)]

    def build_pool(
        self, train: list[tuple[str, str]], ratio: float, params: dict, *, seed: int, cfg, root: Path, log=print, **_
    ) -> list[tuple[str, str]]:
        """The experiment's pool for the largest ratio: cached, else generated on a Ray actor pool.

        Sets ``self.cost`` (seconds, sentences, sentences/s, actors, device; ``cached`` when
        reused) so that the report can show the cost once, shared by all trials.
        """
        from raymt.data.augment.ratio import chosen_pairs

        p = self.validate_params(params)
        if round(ratio * len(train)) == 0:
            return []
        input_lang = p.input_lang or cfg.model.tgt_lang
        output_lang = p.output_lang or cfg.model.src_lang
        t0 = time.perf_counter()
        model_path = self._resolve_model(p, cfg, train, root, log)
        reverse_s = time.perf_counter() - t0
        chosen, rng = chosen_pairs(train, self.name, round(ratio * len(train)), seed)
        gen_seed = rng.getrandbits(63)
        folder = Path(root) / "back_translation"
        key = pool_key(model_path, input_lang, output_lang, p, gen_seed, chosen)
        cached = read_pool(folder / key)
        if cached is not None:
            pairs, cost = cached
            self.cost = {**cost, "cached": True, "reverse_model_s": reverse_s}
            log(f"back-translation pool: {len(pairs)} pairs reused from {folder / key}")
            return pairs

        from raymt.data.augment.generation import translate_distributed

        t1 = time.perf_counter()
        kwargs = {
            "model": model_path,
            "input_lang": input_lang,
            "output_lang": output_lang,
            "trust_remote_code": cfg.model.trust_remote_code,
            **_sampling(p),
        }
        sources, stats = translate_distributed(
            [tgt for _, tgt in chosen],
            kwargs,
            seed=gen_seed,
            batch_size=p.batch_size,
            num_actors=p.num_actors,
            cpus_per_actor=p.cpus_per_actor,
            use_gpu=p.use_gpu,
            log=log,
        )
        total_s = time.perf_counter() - t1
        pairs = [(src, tgt) for src, (_, tgt) in zip(sources, chosen)]
        cost = {
            "model": p.model,
            "sentences": len(pairs),
            "seconds": total_s,
            "generate_s": stats["generate_s"],
            "startup_s": stats["startup_s"],
            "sentences_per_s": len(pairs) / max(stats["generate_s"], 1e-9),
            "actors": stats["actors"],
            "device": stats["device"],
        }
        write_pool(folder, key, pairs, cost)
        self.cost = {**cost, "cached": False, "reverse_model_s": reverse_s}
        log(
            f"back-translation pool: {len(pairs)} sentences in {total_s:.1f}s "
            f"({cost['sentences_per_s']:.1f} sentences/s on {stats['actors']} actor(s), {stats['device']})"
        )
        return pairs

    def _resolve_model(self, p: BackTranslationParams, cfg, train, root: Path, log) -> str:
        from raymt.model.loading import check_model_source

        if p.model != TINY:
            check_model_source(p.model, "augment.back_translation.params.model")
            return p.model
        if cfg.model.name_or_path != TINY:
            raise ConfigError(
                "model: tiny back-translates with raymt's tiny model, whose vocabulary only covers the synthetic corpus",
                where="augment.back_translation.params.model",
                fix=f"give a target->source model (hub id or folder), e.g. {cfg.model.name_or_path} if it translates both ways",
            )
        from raymt.model.reverse_tiny import build_reverse_tiny
        from raymt.model.tiny import build_tiny_base

        base = build_tiny_base(cfg.model.tiny, root, log=log)
        return str(
            build_reverse_tiny(
                base, cfg.model.tiny, train, root, src_lang=cfg.model.src_lang, tgt_lang=cfg.model.tgt_lang, epochs=p.reverse_epochs, log=log
            )
        )


# --- the pool cache ------------------------------------------------------------------------------


def _model_identity(model: str) -> str:
    """A hub id names its model; a local folder is identified by its files' sizes and times."""
    path = Path(model).expanduser()
    if not path.is_dir():
        return model
    stamps = sorted((f.name, f.stat().st_size, int(f.stat().st_mtime)) for f in path.iterdir() if f.is_file())
    return json.dumps([str(path.resolve()), stamps])


def pool_key(model: str, input_lang: str, output_lang: str, p: BackTranslationParams, seed: int, chosen) -> str:
    """What changes the pool's text: model, languages, sampling, chunking, seed and the targets."""
    h = hashlib.sha256(
        json.dumps(
            {
                "format": POOL_FORMAT,
                "model": _model_identity(model),
                "langs": [input_lang, output_lang],
                "sampling": _sampling(p),
                "batch_size": p.batch_size,
                "seed": seed,
            },
            sort_keys=True,
        ).encode()
    )
    for src, tgt in chosen:
        h.update(b"\x01" + src.encode() + b"\x02" + tgt.encode())
    return h.hexdigest()[:32]


def read_pool(folder: Path) -> tuple[list[tuple[str, str]], dict] | None:
    meta = folder / "meta.json"
    if not meta.is_file():
        return None
    pairs = [tuple(json.loads(line)) for line in (folder / "pool.jsonl").read_text(encoding="utf-8").splitlines() if line]
    return pairs, json.loads(meta.read_text())["cost"]


def write_pool(folder: Path, key: str, pairs: list[tuple[str, str]], cost: dict) -> Path:
    """Atomically (temporary folder renamed into place), and one line in the build log: the
    log is how a user (and a test) sees that a search generated its pool once."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / key
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key}-", dir=folder))
    try:
        (tmp / "pool.jsonl").write_text("".join(json.dumps(list(pair), ensure_ascii=False) + "\n" for pair in pairs), encoding="utf-8")
        (tmp / "meta.json").write_text(json.dumps({"format": POOL_FORMAT, "cost": cost}, indent=1))
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / "meta.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    with open(folder / BUILD_LOG, "a", encoding="utf-8") as fh:  # one short line: appends do not interleave
        fh.write(json.dumps({"key": key, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **cost}) + "\n")
    return final


def build_log(root: str | os.PathLike) -> list[dict]:
    """Every pool generation recorded under a cache root, oldest first."""
    path = Path(root) / "back_translation" / BUILD_LOG
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]
