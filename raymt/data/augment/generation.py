"""Sampling translations from a seq2seq model, in this process or across a pool of Ray actors.

Back-translation (:mod:`raymt.data.augment.back_translation`) generates one synthetic source
per pooled pair, which for a real corpus is the most expensive thing done before the trials:
so the work is split into fixed chunks of ``batch_size`` sentences handed to actors that each
load the model once (``ray.util.ActorPool``; one GPU per actor when the cluster has GPUs).
Each chunk is sampled with its own seed derived from (seed, chunk index): the output does not
depend on how many actors there are or which actor ran which chunk.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from pathlib import Path

from raymt.errors import ConfigError, ResourceError
from raymt.progress import Progress


def chunk_seed(seed: int, index: int) -> int:
    digest = hashlib.sha256(f"back_translation:{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % (2**63)


def chunks_of(texts: Sequence[str], batch_size: int) -> list[list[str]]:
    return [list(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]


class Translator:
    """One loaded model that samples translations; also the class of the pool's actors."""

    def __init__(
        self,
        model: str,
        *,
        input_lang: str | None,
        output_lang: str | None,
        temperature: float,
        top_k: int,
        top_p: float,
        max_new_tokens: int,
        threads: int | None = None,
        trust_remote_code: bool = False,
    ):
        import torch
        from transformers import AutoTokenizer

        from raymt.model.loading import check_language_codes, load_model, looks_like_local_path

        if threads:
            torch.set_num_threads(threads)
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        source = str(Path(model).expanduser()) if looks_like_local_path(model) else model
        self.tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
        self.forced_bos = None
        if input_lang is not None and output_lang is not None and hasattr(self.tokenizer, "src_lang"):
            check_language_codes(self.tokenizer, input_lang, output_lang, where=f"augment.back_translation.model ({model})")
            self.tokenizer.src_lang, self.tokenizer.tgt_lang = input_lang, output_lang
            self.forced_bos = self.tokenizer.convert_tokens_to_ids(output_lang)
        self.model = load_model(model, trust_remote_code=trust_remote_code).to(self.device).eval()
        positions = getattr(self.model.config, "max_position_embeddings", None) or 1024
        self.max_input = min(int(positions), 1024)
        self.sampling = {
            "do_sample": True,
            "num_beams": 1,
            "temperature": temperature,
            "top_k": top_k,
            "top_p": top_p,
            "max_new_tokens": max_new_tokens,
            # at least one real token after the forced language code: an empty source teaches nothing
            "min_new_tokens": 2 if self.forced_bos is not None else 1,
        }

    def ready(self) -> str:
        return str(self.device)

    def translate(self, texts: list[str], seed: int) -> list[str]:
        import torch

        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch.inference_mode():
            torch.manual_seed(seed)
            enc = self.tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=self.max_input).to(self.device)
            extra = {"forced_bos_token_id": self.forced_bos} if self.forced_bos is not None else {}
            out = self.model.generate(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], **self.sampling, **extra)
        return [t.strip() for t in self.tokenizer.batch_decode(out, skip_special_tokens=True)]


def translate_local(translator: Translator, texts: Sequence[str], *, seed: int, batch_size: int, log=None, every_s: float = 10.0) -> list[str]:
    """The same chunks and seeds as :func:`translate_distributed`, in this process; ``log``
    gets a progress line with the time left at most every ``every_s``."""
    progress = Progress("back-translation", len(texts), unit="sentences", log=log or (lambda line: None), every_s=every_s)
    out: list[str] = []
    for i, chunk in enumerate(chunks_of(texts, batch_size)):
        out.extend(translator.translate(chunk, chunk_seed(seed, i)))
        progress.advance(len(chunk))
    return out


def translate_distributed(
    texts: Sequence[str],
    translator_kwargs: dict,
    *,
    seed: int,
    batch_size: int,
    num_actors: int,
    cpus_per_actor: float,
    use_gpu: bool | None,
    log=print,
    every_s: float = 10.0,
) -> tuple[list[str], dict]:
    """Sample a translation of every text on a Ray actor pool; returns (outputs in order, stats).

    Generation is the longest work before the trials on a real corpus: ``log`` gets a progress
    line with the time left at most every ``every_s`` (chunks are counted as they come back).

    Starts a local Ray only if none is running (``raymt.runtime.init_ray``: under ``ray job
    submit`` it attaches), so a later ``init_ray`` by the search finds it and starts no second one.
    """
    import ray
    from ray.util import ActorPool

    from raymt.runtime import cluster_capacity, init_ray

    init_ray(log=log)
    cap = cluster_capacity()
    gpu = bool(cap["total_GPU"] >= 1) if use_gpu is None else use_gpu
    if gpu and cap["total_GPU"] < 1:
        raise ConfigError(
            "use_gpu is true but the Ray cluster has no GPU",
            where="augment.back_translation.params.use_gpu",
            fix="set use_gpu: null (GPU when there is one) or false",
        )
    if cpus_per_actor > cap["CPU"]:
        raise ResourceError(
            f"an actor asks for {cpus_per_actor} CPUs but the largest node has {cap['CPU']:g}",
            where="augment.back_translation.params.cpus_per_actor",
            fix=f"use at most {cap['CPU']:g}",
        )
    chunks = chunks_of(texts, batch_size)
    fits = int(cap["total_GPU"]) if gpu else int(cap["total_CPU"] // cpus_per_actor)
    n = max(1, min(num_actors, len(chunks), fits))
    if n < num_actors:
        log(f"back-translation: {n} actor(s) instead of {num_actors} (chunks: {len(chunks)}, cluster holds {fits})")
    threads = max(1, int(round(cpus_per_actor)))
    actor_cls = ray.remote(Translator).options(num_cpus=cpus_per_actor, num_gpus=1 if gpu else 0)
    t0 = time.perf_counter()
    actors = [actor_cls.remote(threads=threads, **translator_kwargs) for _ in range(n)]
    try:
        devices = ray.get([a.ready.remote() for a in actors])
        startup_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        pool = ActorPool(actors)
        progress = Progress(f"back-translation on {n} actor(s)", len(texts), unit="sentences", log=log, every_s=every_s)
        outputs: list[str] = []
        for part in pool.map(lambda actor, job: actor.translate.remote(job[1], chunk_seed(seed, job[0])), list(enumerate(chunks))):
            outputs.extend(part)
            progress.advance(len(part))
        generate_s = time.perf_counter() - t1
    finally:
        for actor in actors:
            ray.kill(actor)
    return outputs, {"actors": n, "device": devices[0] if devices else "cpu", "startup_s": startup_s, "generate_s": generate_s}
