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

from raymt.model.builtin import build_builtin, is_builtin
from raymt.model.loading import check_model_source, load_tokenizer
from raymt.object_store import to_uri
from raymt.train.base_checks import check_tokenizer_fit, score_base, wants_base_score

CACHE_DIR = ".cache"


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
    #: the base: name, and for a built-in base its recipe, build time and own validation BLEU
    base: dict = field(default_factory=dict)
    #: the corpus under the base's tokenizer, per pair ('' = the single pair): raymt.data.tokenizer_fit
    tokenizer_fit: dict[str, list[dict]] = field(default_factory=dict)
    #: the untouched base's scores on the evaluation split, per pair: the level a trial must rise above
    base_scores: dict[str, dict] = field(default_factory=dict)

    def with_paths(self, fn) -> PreparedExperiment:
        """A copy whose cache paths went through ``fn`` (local staging path -> URI)."""
        from dataclasses import replace

        return replace(
            self,
            base_path=fn(self.base_path),
            data_path=fn(self.data_path),
            augment_pools={k: fn(v) for k, v in self.augment_pools.items()},
            pair_data={k: fn(v) for k, v in self.pair_data.items()},
            init_text=fn(self.init_text) if self.init_text else "",
        )

    def loop_config(self, cfg) -> dict:
        """What each Train worker receives (Ray pickles it): the validated trial config as is,
        and the experiment's cache paths."""
        return {
            "config": cfg,
            "base_path": self.base_path,
            "data_path": self.data_path,
            "augment_pools": dict(self.augment_pools),
            "pair_data": dict(self.pair_data),
        }


def local_loop_config(loop_config: dict) -> dict:
    """The worker's view of :meth:`PreparedExperiment.loop_config`: every cache entry recorded
    by URI (object-store storage) replaced by this node's copy, fetched on first use."""
    from raymt.object_store import localize

    out = dict(loop_config)
    for key in ("base_path", "data_path"):
        out[key] = localize(out[key])
    for key in ("augment_pools", "pair_data"):
        out[key] = {k: localize(v) for k, v in (out.get(key) or {}).items()}
    if (out.get("init") or {}).get("artifact"):
        out["init"] = {**out["init"], "artifact": localize(out["init"]["artifact"])}
    return out


def cache_root(cfg) -> Path:
    """The local folder the cache is built in: ``<storage_path>/.cache``, or for an object
    store this node's staging copy of it (raymt.object_store)."""
    from raymt.io import ensure_writable
    from raymt.object_store import check_writable, is_uri, join, local_form, staging_path

    if is_uri(cfg.storage_path):
        check_writable(cfg.storage_path)  # before any work: a wrong bucket or missing credentials
        return ensure_writable(staging_path(join(cfg.storage_path, CACHE_DIR)))
    return ensure_writable(Path(local_form(cfg.storage_path)).expanduser().resolve() / CACHE_DIR)


def prepare_experiment(cfg, *, max_ratios: dict[str, float] | None = None, log=print) -> PreparedExperiment:
    """Build (or reuse) everything the trials share. ``max_ratios``: largest ratio per
    augmentation operator anywhere in the search space, so one pool serves every trial.

    With an object-store ``storage_path`` the cache is built in this node's staging copy:
    first brought up to date from the store (what another machine built is reused, not
    rebuilt), then what is new is uploaded, and the experiment records the entries by URI so
    that a trial on any node can fetch them (raymt.object_store.localize)."""
    from raymt.object_store import is_uri, join, pull_tree, push_tree

    root = cache_root(cfg)
    if not is_uri(cfg.storage_path):
        return _prepare(cfg, root, max_ratios, log)
    remote = join(cfg.storage_path, CACHE_DIR)
    t0 = time.perf_counter()
    pulled = pull_tree(remote, root)
    prepared = _prepare(cfg, root, max_ratios, log)
    pushed = push_tree(root, remote)
    prepared.timings["storage_sync_s"] = time.perf_counter() - t0 - sum(prepared.timings.values())
    log(f"data cache: {pulled} files fetched from {remote}, {pushed} uploaded")
    return prepared.with_paths(lambda p: to_uri(p, root, remote))


def _prepare(cfg, root: Path, max_ratios, log) -> PreparedExperiment:
    from raymt.data.cache import build_tokenized
    from raymt.data.sources import load_corpus

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if is_builtin(cfg.model.name_or_path):
        base = str(build_builtin(cfg.model, root, log=log))
    else:
        check_model_source(cfg.model.name_or_path, "model.name_or_path")
        base = cfg.model.name_or_path
    from raymt.model.builtin import base_record

    record = base_record(cfg.model.name_or_path, base)
    if cfg.multi_pair is not None:  # one tokenizer per pair, each with its own codes
        timings["model_s"] = time.perf_counter() - t0
        prepared = _prepare_pairs(cfg, base, root, timings, log)
        prepared.base = record
        return prepared
    tokenizer = load_tokenizer(base, cfg.model.src_lang, cfg.model.tgt_lang, trust_remote_code=cfg.model.trust_remote_code)
    timings["model_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    splits, cleaning = load_corpus(cfg.data)
    timings["corpus_s"] = time.perf_counter() - t0
    fit = {"": check_tokenizer_fit(cfg, splits, tokenizer, src_lang=cfg.model.src_lang, tgt_lang=cfg.model.tgt_lang, where="data", log=log)}
    t0 = time.perf_counter()
    data_path = build_tokenized(splits, tokenizer, cfg.model.max_length, root / "data", log=log)
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

    t0 = time.perf_counter()
    base_scores = (
        {"": score_base(cfg, base, tokenizer, splits[cfg.eval.split], cfg.model.src_lang, cfg.model.tgt_lang, log=log)}
        if wants_base_score(cfg)
        else {}
    )
    if base_scores:
        timings["base_score_s"] = time.perf_counter() - t0
    return PreparedExperiment(
        base_path=base,
        data_path=str(data_path),
        augment_pools=pools,
        cleaning=_as_dict(cleaning),
        timings=timings,
        sizes=sizes,
        augment_costs=costs,
        init_text=prepare_init_text(cfg, splits, root),
        base=record,
        tokenizer_fit=fit,
        base_scores=base_scores,
    )


def _prepare_pairs(cfg, base: str, root: Path, timings: dict[str, float], log) -> PreparedExperiment:
    """Multi-pair: one tokenised cache per pair (no augmentation pools: refused by the config)."""
    from raymt.train.pairs import tokenize_pairs

    t0 = time.perf_counter()
    pairs = tokenize_pairs(cfg, base, root / "data", log=log)
    timings["tokenize_s"] = time.perf_counter() - t0
    return PreparedExperiment(
        base_path=base,
        data_path=next(iter(pairs.paths.values())),
        pair_data=pairs.paths,
        cleaning=pairs.cleaning,
        timings=timings,
        sizes=pairs.sizes,
        tokenizer_fit=pairs.tokenizer_fit,
        base_scores=pairs.base_scores,
    )


def build_augment_pool(name: str, cfg, splits, ratio: float, tokenizer, root: Path, *, log=print, costs: dict | None = None) -> Path:
    """Synthetic pairs for the largest ratio, generated and tokenised once; trials take a prefix.

    An operator that does expensive work for its pool (back-translation) reports what it cost
    in ``operator.cost``; it lands in ``costs[name]`` so the report shows it once."""
    from raymt.data.augment import get_operator
    from raymt.data.cache import build_tokenized

    operator = get_operator(name)
    entry = cfg.augment.get(name)
    params = entry.params if entry is not None else {}
    pool_pairs = (
        operator.build_pool(splits["train"], ratio, params, seed=cfg.train.seed, cfg=cfg, tokenizer=tokenizer, root=root, log=log)
        if hasattr(operator, "build_pool")
        else _apply_pool(operator, splits["train"], ratio, params, cfg.train.seed, log=log)
    )
    if costs is not None and operator.cost is not None:
        costs[name] = dict(operator.cost)
    return build_tokenized({"train": pool_pairs}, tokenizer, cfg.model.max_length, root / "data", log=log)


def _apply_pool(operator, train, ratio, params, seed, *, log):
    """A random sample of the training pairs, perturbed: any prefix of it is again a random
    sample, so a trial with a smaller ratio just takes fewer pool pairs."""
    from raymt.data.augment.ratio import augmented_pairs

    return augmented_pairs(train, operator, ratio, params, seed, log=log)


def _as_dict(report) -> dict:
    if report is None:
        return {}
    if hasattr(report, "model_dump"):
        return report.model_dump()
    if hasattr(report, "__dict__"):
        return dict(report.__dict__)
    return dict(report)
