"""Work done ONCE per experiment, before any trial: base model, corpus, tokenisation, pools.

Why here and not in the trial: every trial of a search uses the same base and corpus. Building
them per trial would multiply the cost by the number of trials (and on a cluster, by the
number of nodes). The results are cached under ``<storage_path>/.cache`` keyed by content, so
a second experiment on the same data and tokenizer reuses them too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from raymt.model.loading import check_model_source, load_tokenizer
from raymt.model.tiny import build_tiny_base

TINY = "tiny"


@dataclass
class PreparedExperiment:
    base_path: str
    data_path: str
    augment_pools: dict[str, str] = field(default_factory=dict)
    cleaning: dict = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    #: what building an expensive pool cost (back-translation), once for the whole search
    augment_costs: dict[str, dict] = field(default_factory=dict)
    pair_data: dict[str, str] = field(default_factory=dict)  # multi-pair: pair key -> tokenised cache
    init_text: str = ""  # monolingual text of the init.stage=denoise warm start (raymt.train.init_stage)

    def loop_config(self, cfg) -> dict:
        """What each Train worker receives (plain data: it crosses process boundaries)."""
        return {"config": cfg.model_dump(mode="json"), "base_path": self.base_path, "data_path": self.data_path,
                "augment_pools": dict(self.augment_pools), "pair_data": dict(self.pair_data)}


def cache_root(cfg) -> Path:
    from raymt.io import ensure_writable

    return ensure_writable(Path(cfg.storage_path).expanduser().resolve() / ".cache")


def prepare_experiment(cfg, *, max_ratios: dict[str, float] | None = None, log=print) -> PreparedExperiment:
    """Build (or reuse) everything the trials share. ``max_ratios``: largest ratio per
    augmentation operator anywhere in the search space, so one pool serves every trial."""
    from raymt.data.cache import build_tokenized
    from raymt.data.sources import load_corpus

    timings: dict[str, float] = {}
    root = cache_root(cfg)
    t0 = time.perf_counter()
    if cfg.model.name_or_path == TINY:
        base = str(build_tiny_base(cfg.model.tiny, root, log=log))
    else:
        check_model_source(cfg.model.name_or_path, "model.name_or_path")
        base = cfg.model.name_or_path
    if cfg.multi_pair is not None:  # one tokenizer per pair, each with its own codes
        timings["model_s"] = time.perf_counter() - t0
        return _prepare_pairs(cfg, base, root, timings, log)
    tokenizer = load_tokenizer(base, cfg.model.src_lang, cfg.model.tgt_lang, trust_remote_code=cfg.model.trust_remote_code)
    timings["model_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    splits, cleaning = load_corpus(cfg.data)
    timings["corpus_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    data_path = build_tokenized(splits, tokenizer, cfg.model.max_length, root / "data")
    timings["tokenize_s"] = time.perf_counter() - t0

    pools: dict[str, str] = {}
    costs: dict[str, dict] = {}
    ratios = dict(max_ratios or {})
    for name, entry in cfg.augment.items():
        ratios[name] = max(ratios.get(name, 0.0), entry.ratio)
    t0 = time.perf_counter()
    for name, ratio in sorted(ratios.items()):
        if ratio > 0:
            pools[name] = str(build_augment_pool(name, cfg, splits, ratio, tokenizer, root, log=log, costs=costs))
    timings["augment_s"] = time.perf_counter() - t0
    sizes = {k: len(v) for k, v in splits.items()}
    from raymt.train.init_stage import prepare_init_text

    return PreparedExperiment(base_path=base, data_path=str(data_path), augment_pools=pools,
                              cleaning=_as_dict(cleaning), timings=timings, sizes=sizes, augment_costs=costs,
                              init_text=prepare_init_text(cfg, splits, root))


def _prepare_pairs(cfg, base: str, root: Path, timings: dict[str, float], log) -> PreparedExperiment:
    """Multi-pair: one tokenised cache per pair (no augmentation pools: refused by the config)."""
    from raymt.train.pairs import tokenize_pairs

    t0 = time.perf_counter()
    pairs = tokenize_pairs(cfg, base, root / "data", log=log)
    timings["tokenize_s"] = time.perf_counter() - t0
    return PreparedExperiment(base_path=base, data_path=next(iter(pairs.paths.values())), pair_data=pairs.paths,
                              cleaning=pairs.cleaning, timings=timings, sizes=pairs.sizes)


def build_augment_pool(name: str, cfg, splits, ratio: float, tokenizer, root: Path, *, log=print, costs: dict | None = None) -> Path:
    """Synthetic pairs for the largest ratio, generated and tokenised once; trials take a prefix.

    An operator that does expensive work for its pool (back-translation) reports what it cost
    in ``operator.cost``; it lands in ``costs[name]`` so the report shows it once."""
    from raymt.data.augment import get_operator
    from raymt.data.cache import build_tokenized

    operator = get_operator(name)
    entry = cfg.augment.get(name)
    params = entry.params if entry is not None else {}
    pool_pairs = operator.build_pool(splits["train"], ratio, params, seed=cfg.train.seed, cfg=cfg, tokenizer=tokenizer, root=root, log=log) \
        if hasattr(operator, "build_pool") else _apply_pool(operator, splits["train"], ratio, params, cfg.train.seed)
    if costs is not None and operator.cost is not None:
        costs[name] = dict(operator.cost)
    return build_tokenized({"train": pool_pairs}, tokenizer, cfg.model.max_length, root / "data")


def _apply_pool(operator, train, ratio, params, seed):
    """A random sample of the training pairs, perturbed: any prefix of it is again a random
    sample, so a trial with a smaller ratio just takes fewer pool pairs."""
    from raymt.data.augment.ratio import augmented_pairs

    return augmented_pairs(train, operator, ratio, params, seed)


def _as_dict(report) -> dict:
    if report is None:
        return {}
    if hasattr(report, "model_dump"):
        return report.model_dump()
    if hasattr(report, "__dict__"):
        return dict(report.__dict__)
    return dict(report)
