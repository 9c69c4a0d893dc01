"""The plan of a search (or of one trial) before launch: memory, checkpoint and storage figures.

For every method branch of the space, the configuration that needs the most memory is found by
trying the extremes of every setting that changes it (rank, adapter size, target modules,
batch size, maximum length, gradient checkpointing, strategy, workers, evaluation batch and
beams) and taking the largest peak; its figures are shown with the alternatives a user can
switch to (gradient checkpointing, FSDP, a smaller batch). When the memory of one GPU is known
(``--gpu-memory``, ``resources.gpu_memory``, or a GPU visible where raymt starts) a branch that
cannot fit is refused with one line naming the method, the figure and a fix; on CPU the plan only
informs (the figures there are the resident memory of a worker process, not a hard limit).

No Ray, no model weights: the model's config, the methods' closed formulas
(``count_trainable``, ``estimate_bytes``, ``activation_sites``) and :mod:`raymt.plan.memory`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from raymt.errors import ConfigError, ResourceError
from raymt.plan.memory import MemoryEstimate, MethodFootprint, ModelShape, TrainingSetup, estimate_memory
from raymt.plan.storage import CHECKPOINT_POLICY, checkpoint_bytes, search_bytes
from raymt.plan.units import gib, parse_memory, storage

__all__ = ["BranchPlan", "Plan", "check_before_launch", "check_plan", "format_plan", "plan_for", "plan_trial", "trial_setup"]

#: Trial settings (dotted paths) that change a worker's memory: their extremes are tried.
MEMORY_PATHS = (
    "train.batch_size",
    "model.max_length",
    "train.gradient_checkpointing",
    "train.precision",
    "train.label_smoothing",
    "resources.strategy",
    "resources.num_workers",
    "resources.use_gpu",
    "eval.batch_size",
    "eval.beam_size",
    "eval.max_new_tokens",
)
#: Most configurations tried per branch (the extremes' product is capped, largest values first).
MAX_COMBINATIONS = 4096


@dataclass(frozen=True)
class Alternative:
    """Another setting of the same trial and its memory (what the fix of a refusal offers)."""

    label: str
    changes: dict[str, Any]  # dotted config path -> value
    memory: MemoryEstimate

    @property
    def setting(self) -> str:
        return " and ".join(f"{k}: {str(v).lower() if isinstance(v, bool) else v}" for k, v in self.changes.items())


@dataclass
class BranchPlan:
    """One method branch at the configuration that needs the most memory."""

    method: str
    point: dict[str, Any]
    setup: TrainingSetup
    total_params: int
    trainable_params: int
    artifact_bytes: int
    checkpoint: dict[str, int]
    memory: MemoryEstimate
    alternatives: list[Alternative] = field(default_factory=list)
    fits: bool | None = None

    @property
    def checkpoint_bytes(self) -> int:
        return sum(self.checkpoint.values())


@dataclass
class Plan:
    """The plan of a config: one :class:`BranchPlan` per method, and the search's storage."""

    source: str
    model: str
    shape: ModelShape
    device: str
    num_workers: int
    num_trials: int
    branches: list[BranchPlan]
    storage: dict[str, int]
    gpu_memory: int | None = None
    gpu_memory_source: str = ""
    gpus_per_node: int | None = None
    notes: list[str] = field(default_factory=list)
    #: ``search.keep_checkpoints`` (None: one trial, ``raymt train``, keeps its checkpoint)
    keep_checkpoints: str | None = None

    @property
    def storage_bytes(self) -> int:
        return sum(self.storage.values())

    def to_frame(self):
        """One row per branch (a notebook's view); bytes as integers."""
        import pandas as pd

        rows = []
        for b in self.branches:
            rows.append(
                {
                    "method": b.method,
                    "point": _describe(b.point),
                    "total_params": b.total_params,
                    "trainable_params": b.trainable_params,
                    "artifact_bytes": b.artifact_bytes,
                    "checkpoint_bytes": b.checkpoint_bytes,
                    "peak_bytes_per_worker": b.memory.peak,
                    "peak_phase": b.memory.peak_phase,
                    "fits": b.fits,
                    **{f"{k}_bytes": v for k, v in b.memory.breakdown().items()},
                }
            )
        return pd.DataFrame(rows)


# --- one trial ------------------------------------------------------------------------------------


def trial_setup(cfg, device: str | None = None) -> TrainingSetup:
    """The :class:`TrainingSetup` of a validated trial config (longest sequences: max_length)."""
    device = device or ("gpu" if cfg.resources.use_gpu else "cpu")
    precision = cfg.train.precision
    if precision == "auto":
        precision = "bf16" if device == "gpu" else "fp32"  # the worker's rule on a bf16-capable GPU
    extra_src = 0
    if cfg.method.name == "prompt":  # the soft prompt precedes every source
        extra_src = int(cfg.method.params.num_virtual_tokens)
    return TrainingSetup(
        batch_size=cfg.train.batch_size,
        src_len=cfg.model.max_length + extra_src,
        tgt_len=cfg.model.max_length,
        device=device,
        precision=precision,
        gradient_checkpointing=cfg.train.gradient_checkpointing,
        strategy=cfg.resources.strategy,
        world_size=cfg.resources.num_workers,
        label_smoothing=cfg.train.label_smoothing > 0,
        eval_batch_size=cfg.eval.batch_size,
        beam_size=cfg.eval.beam_size,
        max_new_tokens=min(cfg.eval.max_new_tokens, cfg.model.max_length),
        grad_accum=cfg.train.grad_accum,
    )


def method_footprint(cfg, model_config) -> tuple[MethodFootprint, int, int]:
    """(footprint, artefact bytes, tensors in the artefact) of the trial's method."""
    from raymt.methods import get_method
    from raymt.methods.layout import full_param_count

    method = get_method(cfg.method.name)
    params = cfg.method.params
    trainable = method.count_trainable(model_config, params)
    base = full_param_count(model_config)
    artifact = method.artifact_plan(model_config, params)
    frozen = trainable < base
    largest = max((math.prod(shape) for shape in artifact.tensors.values()), default=0)
    fp = MethodFootprint(
        name=cfg.method.name,
        total_params=base + (trainable if frozen else 0),
        trainable_params=trainable,
        largest_trainable=largest,
        frozen_base=frozen,
        sites=tuple(method.activation_sites(model_config, params)),
    )
    return fp, artifact.nbytes(), len(artifact.tensors)


def plan_trial(cfg, model_config, *, device: str | None = None, gpu_memory: int | None = None, point: dict | None = None) -> BranchPlan:
    """The figures of one trial configuration, with its alternatives when memory is short."""
    shape = ModelShape.from_config(model_config)
    fp, artifact, tensors = method_footprint(cfg, model_config)
    setup = trial_setup(cfg, device)
    memory = estimate_memory(shape, fp, setup)
    ranks = setup.shards
    ckpt = checkpoint_bytes(artifact, fp.trainable_params, max(1, tensors - (0 if fp.frozen_base else 1)), ranks=ranks)
    branch = BranchPlan(
        method=cfg.method.name,
        point=dict(point or {}),
        setup=setup,
        total_params=fp.total_params,
        trainable_params=fp.trainable_params,
        artifact_bytes=artifact,
        checkpoint=ckpt,
        memory=memory,
    )
    branch.alternatives = _alternatives(shape, fp, setup)
    if gpu_memory is not None and setup.device == "gpu":
        branch.fits = memory.peak <= gpu_memory
        if not branch.fits:
            branch.alternatives += _smaller_batches(shape, fp, setup, gpu_memory)
    return branch


def _alternatives(shape: ModelShape, fp: MethodFootprint, setup: TrainingSetup) -> list[Alternative]:
    ckpt = not setup.gradient_checkpointing
    out = [
        Alternative(
            f"gradient checkpointing {'on' if ckpt else 'off'}",
            {"train.gradient_checkpointing": ckpt},
            estimate_memory(shape, fp, replace(setup, gradient_checkpointing=ckpt)),
        )
    ]
    if setup.world_size > 1:
        other = "ddp" if setup.strategy == "fsdp" else "fsdp"
        out.append(
            Alternative(
                f"{other} over {setup.world_size} workers", {"resources.strategy": other}, estimate_memory(shape, fp, replace(setup, strategy=other))
            )
        )
        if other == "fsdp" and ckpt:
            out.append(
                Alternative(
                    "fsdp + gradient checkpointing",
                    {"resources.strategy": "fsdp", "train.gradient_checkpointing": True},
                    estimate_memory(shape, fp, replace(setup, strategy="fsdp", gradient_checkpointing=True)),
                )
            )
    return out


def _smaller_batches(shape, fp, setup: TrainingSetup, limit: int) -> list[Alternative]:
    """The largest training batch (the global batch kept by accumulation) and evaluation batch
    that fit, when one does."""
    out = []
    train = _largest(lambda b: replace(setup, batch_size=b), setup.batch_size, shape, fp, limit)
    # a smaller batch keeps the global batch through accumulation (grad_accum x the current one)
    accum = {"train.grad_accum": math.ceil(setup.batch_size / train) * setup.grad_accum} if train else {}
    if train:
        out.append(Alternative(f"batch {train}", {"train.batch_size": train, **accum}, estimate_memory(shape, fp, replace(setup, batch_size=train))))
    evaluation = _largest(lambda b: replace(setup, eval_batch_size=b), setup.eval_batch_size, shape, fp, limit)
    if evaluation:
        out.append(
            Alternative(
                f"eval batch {evaluation}", {"eval.batch_size": evaluation}, estimate_memory(shape, fp, replace(setup, eval_batch_size=evaluation))
            )
        )
    if train and evaluation:
        out.append(
            Alternative(
                f"batch {train}, eval batch {evaluation}",
                {"train.batch_size": train, **accum, "eval.batch_size": evaluation},
                estimate_memory(shape, fp, replace(setup, batch_size=train, eval_batch_size=evaluation)),
            )
        )
    return out


def _largest(vary, current: int, shape, fp, limit: int) -> int | None:
    """The largest value below ``current`` with which the trial fits (None: not even 1)."""
    lo, hi = 1, current - 1
    if hi < 1 or estimate_memory(shape, fp, vary(1)).peak > limit:
        return None
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if estimate_memory(shape, fp, vary(mid)).peak <= limit:
            lo = mid
        else:
            hi = mid - 1
    return lo


# --- a search ----------------------------------------------------------------------------------------


def _candidates(dist) -> list:
    values = dist.extremes()
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return sorted({min(values), max(values)}, reverse=True)
    return [("+".join(map(str, v)) if isinstance(v, (list, tuple)) else v) for v in values]


def _points(compiled, method: str) -> list[dict]:
    """Flat parameter dicts of the branch: every memory setting and method parameter at its
    extremes, everything else at its first value."""
    from raymt.results.columns import method_param_name
    from raymt.search.space import Dist

    axes: list[tuple[str, list]] = []
    for path, dist in compiled.space.common.items():
        if isinstance(dist, Dist):
            axes.append((path, _candidates(dist) if path in MEMORY_PATHS else _candidates(dist)[:1]))
    for param, dist in compiled.space.methods.get(method, {}).items():
        if isinstance(dist, Dist):
            axes.append((method_param_name(method, param), _candidates(dist)))
    points = []
    for values in itertools.islice(itertools.product(*(v for _, v in axes)), MAX_COMBINATIONS):
        points.append({"method": method, **{name: value for (name, _), value in zip(axes, values)}})
    return points


def _memory_columns(compiled, method: str) -> set[str]:
    """Flat names of the settings that change memory or storage (what the plan shows)."""
    from raymt.results.columns import method_param_name
    from raymt.search.space import Dist

    names = {p for p, d in compiled.space.common.items() if isinstance(d, Dist) and p in MEMORY_PATHS}
    return names | {method_param_name(method, p) for p, d in compiled.space.methods.get(method, {}).items() if isinstance(d, Dist)}


def plan_for(
    config: str | Path | None = None,
    *,
    overrides: dict | None = None,
    gpu_memory: str | int | None = None,
    gpus_per_node: int | None = None,
    loaded=None,
) -> Plan:
    """The plan of a search space (or of a single-trial config): what ``raymt plan`` prints.

    ``loaded``: ``(cfg, search, compiled, raw)`` already loaded by the caller (the search)."""
    from raymt.config.load import load_config, read_yaml, validate_config
    from raymt.plan.model_config import model_config_for

    source = str(config) if config is not None else "the offline default (search_spaces/default.yaml)"
    if loaded is None:
        if config is None or "search" in read_yaml(config):
            from raymt.search.load import load_search

            loaded = load_search(config, overrides)
        else:
            loaded = (load_config(config, overrides), None, None, None)
    cfg, search, compiled, _ = loaded
    model_config, model_source = model_config_for(cfg)
    limit, limit_source = gpu_memory_of(cfg, gpu_memory)
    device = "gpu" if (cfg.resources.use_gpu or gpu_memory is not None) else "cpu"
    notes = []
    if device == "gpu" and not cfg.resources.use_gpu:
        notes.append("the config trains on CPU (resources.use_gpu: false); figures are for GPU workers as asked")

    branches: list[BranchPlan] = []
    if compiled is None:
        branches.append(plan_trial(cfg, model_config, device=device, gpu_memory=limit))
        num_trials = 1
    else:
        num_trials = compiled.trials_to_run(search.num_samples)
        for method in compiled.space.method_list:
            best: BranchPlan | None = None
            largest_artifact = 0
            for point in _points(compiled, method):
                trial_cfg = validate_config(compiled.to_raw_config(point), f"{source}: search.space (method {method})")
                shown = {k: v for k, v in point.items() if k in _memory_columns(compiled, method)}
                try:
                    branch = plan_trial(trial_cfg, model_config, device=device, gpu_memory=limit, point=shown)
                except ConfigError as err:  # a method setting the model cannot take: name it as the space does
                    if err.where and err.where.startswith("method."):
                        param = err.where.removeprefix("method.")
                        raise ConfigError(f"{err.message} (at {shown})", where=f"search.space.methods.{method}.{param}", fix=err.fix) from err
                    raise
                largest_artifact = max(largest_artifact, branch.artifact_bytes)
                if best is None or (branch.memory.peak, branch.checkpoint_bytes) > (best.memory.peak, best.checkpoint_bytes):
                    best = branch
            best.artifact_bytes = max(best.artifact_bytes, largest_artifact)
            branches.append(best)
    worst = max(branches, key=lambda b: b.checkpoint_bytes)
    # a search copies each kept trial's artefact into its results; `raymt train` keeps only checkpoints
    kept = max(b.artifact_bytes for b in branches) if compiled is not None else 0
    total = search_bytes(worst.checkpoint_bytes, kept, num_trials)
    return Plan(
        source=source,
        model=model_source,
        shape=ModelShape.from_config(model_config),
        device=device,
        num_workers=cfg.resources.num_workers,
        num_trials=num_trials,
        branches=branches,
        storage=total,
        gpu_memory=limit,
        gpu_memory_source=limit_source,
        gpus_per_node=gpus_per_node,
        notes=notes,
        keep_checkpoints=search.keep_checkpoints if compiled is not None else None,
    )


def gpu_memory_of(cfg, flag: str | int | None) -> tuple[int | None, str]:
    """Memory of one GPU and where raymt learned it: the flag, the config, or a visible GPU."""
    if flag is not None:
        return parse_memory(flag), "--gpu-memory"
    if cfg.resources.gpu_memory is not None:
        return parse_memory(cfg.resources.gpu_memory), "resources.gpu_memory"
    if cfg.resources.use_gpu:
        import torch

        if torch.cuda.is_available():
            return int(torch.cuda.get_device_properties(0).total_memory), f"visible {torch.cuda.get_device_name(0)}"
    return None, ""


# --- refusing what cannot fit -------------------------------------------------------------------------


def check_plan(plan: Plan, where: str) -> None:
    """Raise one ResourceError for the first branch that cannot fit the known GPU memory."""
    for b in plan.branches:
        if b.fits is False:
            parts = sorted(b.memory.breakdown().items(), key=lambda kv: -kv[1])[:3]
            raise ResourceError(
                f"method {b.method}{_at(b.point)} needs {gib(b.memory.peak)} per GPU worker in its {b.memory.peak_phase} phase "
                f"({', '.join(f'{_PART_NAMES.get(k, k)} {gib(v)}' for k, v in parts)}) but one GPU has {gib(plan.gpu_memory)} "
                f"({plan.gpu_memory_source})",
                where=where,
                fix=_fix(b, plan.gpu_memory),
            )


def check_before_launch(config, loaded, *, log=print) -> Plan:
    """What ``raymt search`` and ``raymt train`` do before any Ray work: log the plan's short
    form and refuse a branch that cannot fit a GPU whose memory is known (never on CPU)."""
    where = f"{config}" if config is not None else "search_spaces/default.yaml"
    plan = plan_for(config, loaded=loaded)
    for line in summary_lines(plan):
        log(line)
    check_plan(plan, where=f"{where}: search.space" if loaded[2] is not None else where)
    return plan


def _fix(b: BranchPlan, limit: int) -> str:
    options = [f"{alt.setting} ({gib(alt.memory.peak)})" for alt in b.alternatives if alt.memory.peak <= limit]
    if not options:
        options.append(
            "more workers with resources.strategy: fsdp and train.gradient_checkpointing: true, a smaller model.max_length, or GPUs with more memory"
        )
    return "set " + "; or ".join(options) + " (raymt plan shows every figure)"


def _at(point: dict) -> str:
    text = _describe(point)
    return f" at {text}" if text else ""


def _describe(point: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in point.items() if k != "method")


# --- printing -------------------------------------------------------------------------------------------

_PART_NAMES = {
    "adamw_states": "AdamW states",
    "ddp_buckets": "DDP buckets",
    "fsdp_unsharded": "FSDP unsharded params",
    "fsdp_unsharded_grads": "FSDP unsharded grads",
    "embedding_grad": "embedding grad (transient)",
    "adamw_step": "AdamW step temporaries",
    "fsdp_gathered_model": "FSDP gathered model",
    "gathered_state_dict": "gathered state dict",
    "eval_loss_pass": "eval loss pass",
    "generation_cache": "beam-search cache",
    "autocast_weight_cache": "autocast weight cache",
    "loaded_model": "loaded model",
    "ddp_broadcast_buckets": "DDP broadcast buckets (2 in flight)",
}


def format_plan(plan: Plan) -> str:
    """The text ``raymt plan`` prints."""
    s = plan.shape
    lines = [
        f"raymt plan: {plan.source}",
        f"model: {plan.model}: d_model {s.d_model}, {s.encoder_layers}+{s.decoder_layers} layers, FFN {s.encoder_ffn}, vocabulary {s.vocab:,}",
    ]
    worker = "GPU" if plan.device == "gpu" else "CPU"
    limit = (
        f"; one GPU: {gib(plan.gpu_memory)} ({plan.gpu_memory_source})"
        if plan.gpu_memory
        else (
            "; GPU memory unknown (give --gpu-memory or resources.gpu_memory to check the fit)"
            if plan.device == "gpu"
            else "; CPU workers: resident memory per process, informative only"
        )
    )
    lines.append(f"trial: {plan.num_workers} {worker} worker(s){limit}")
    if plan.gpus_per_node and plan.device == "gpu":
        per_node = plan.gpus_per_node // max(1, plan.num_workers)
        lines.append(
            f"nodes of {plan.gpus_per_node} GPUs: "
            + (f"{per_node} trial(s) at once per node" if per_node else f"a trial spans {math.ceil(plan.num_workers / plan.gpus_per_node)} nodes")
        )
    lines += [f"  {n}" for n in plan.notes]
    lines.append("")
    header = f"{'method':<9}{'params':>10}{'trainable':>12}{'artefact':>11}{'checkpoint':>12}{'peak/worker':>13}  {'phase':<15}{'fits':<6}at"
    lines.append(header)
    for b in plan.branches:
        fits = {True: "yes", False: "NO", None: "-"}[b.fits]
        lines.append(
            f"{b.method:<9}{_count(b.total_params):>10}{_count(b.trainable_params):>12}{storage(b.artifact_bytes):>11}"
            f"{storage(b.checkpoint_bytes):>12}{gib(b.memory.peak):>13}  {b.memory.peak_phase:<15}{fits:<6}"
            f"{_describe(b.point) or 'the configured values'}"
        )
    lines.append("")
    for b in plan.branches:
        su = b.setup
        lines.append(
            f"{b.method}: batch {su.batch_size} x {su.src_len}/{su.tgt_len} tokens, {su.precision}"
            f"{' autocast' if su.half else ''}, {su.strategy} over {su.world_size}, gradient checkpointing "
            f"{'on' if su.gradient_checkpointing else 'off'}; peak in {b.memory.peak_phase}:"
        )
        parts = b.memory.breakdown()
        lines.append("    " + ", ".join(f"{_PART_NAMES.get(k, k.replace('_', ' '))} {gib(v)}" for k, v in parts.items() if v))
        others = ", ".join(f"{ph} {gib(v + b.memory.baseline)}" for ph, v in b.memory.phases.items() if ph != b.memory.peak_phase)
        lines.append(f"    other phases: {others}")
        alt = "; ".join(f"{a.label}: {gib(a.memory.peak)}" for a in b.alternatives)
        if alt:
            lines.append(f"    alternatives: {alt}")
        if b.fits is False:
            lines.append(f"    does NOT fit {gib(plan.gpu_memory)}: {_fix(b, plan.gpu_memory)}")
        lines.append("    checkpoint: " + ", ".join(f"{k.replace('_', ' ')} {storage(v)}" for k, v in b.checkpoint.items()))
    pol = CHECKPOINT_POLICY
    lines.append("")
    worst = max(plan.branches, key=lambda b: b.checkpoint_bytes)
    kept = f" + {plan.num_trials} kept artefact(s)" if plan.storage.get("kept_artifacts") else ""
    lines.append(
        f"storage_path: {plan.num_trials} trial(s) x {pol.num_to_keep} kept checkpoint(s) x up to "
        f"{storage(worst.checkpoint_bytes)} ({worst.method}){kept} = up to "
        f"{storage(plan.storage_bytes)}" + (" (every trial at the largest branch)" if plan.num_trials > 1 else "")
    )
    finished = sum(v for k, v in worst.checkpoint.items() if k != "trainer_state")
    if plan.keep_checkpoints == "front":
        lines.append(
            f"after the search: the front's completed trials keep their last checkpoint (up to {storage(finished)} each: "
            f"no optimizer state once finished); the others keep only their state and hypotheses "
            f"(search.keep_checkpoints: front; all keeps every trial's)"
        )
    elif plan.keep_checkpoints == "all":
        lines.append(f"after the search: every trial keeps its last checkpoint (up to {storage(finished)} each; search.keep_checkpoints: all)")
    return "\n".join(lines)


def summary_lines(plan: Plan) -> list[str]:
    """Short lines logged when a search or trial starts."""
    out = []
    for b in plan.branches:
        fits = "" if b.fits is None else (" fits" if b.fits else " does NOT fit") + f" {gib(plan.gpu_memory)}"
        out.append(
            f"plan: {b.method}{_at(b.point)}: {gib(b.memory.peak)} per {plan.device.upper()} worker "
            f"({b.memory.peak_phase}){fits}, artefact {storage(b.artifact_bytes)}, checkpoint {storage(b.checkpoint_bytes)}"
        )
    out.append(f"plan: storage_path receives up to {storage(plan.storage_bytes)} ({plan.num_trials} trial(s); raymt plan for details)")
    return out


def _count(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e5 else f"{n:,}"
