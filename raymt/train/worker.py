"""The per-worker training loop of one trial: it runs on every Ray Train worker.

Reads top to bottom in :func:`run_worker`: set up (seed, threads, tokenizer, base model, method,
parallel wrapper, data, optimizer, and the last checkpoint's state if Ray restarted the worker
group), then one block per epoch: train, evaluate (generation sharded across workers, BLEU once
on rank 0), decide (best epoch, patience, divergence), checkpoint and report. Each step is a
function below, in that order. It knows nothing of the tuner: it reports through
``ray.train.report`` and the trial driver forwards the reports to Tune.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import ray.train
import ray.train.torch
import torch
import torch.distributed as dist

from raymt.config.schema import ExperimentConfig
from raymt.methods import get_method
from raymt.metrics.bleu import Scores, bleu_tokenizer, combined_signature, corpus_scores
from raymt.metrics.per_pair import PAIR_METRICS, mean_over_pairs, pair_metric, pair_metric_columns
from raymt.metrics.storage import artifact_bytes
from raymt.model.generation import Decoding, generate_texts
from raymt.model.loading import load_model, load_tokenizer
from raymt.plan.storage import CHECKPOINT_POLICY
from raymt.train import parallel
from raymt.train.data import TrialData, eval_batches, make_train_loader, open_trial_data
from raymt.train.init_stage import outcome_metrics
from raymt.train.phase_memory import PhaseMemory
from raymt.train.prepare import local_loop_config
from raymt.train.selection import BestEpoch
from raymt.train.stop import StopWatch

STATE_FILE = "state.json"
TRAINER_FILE = "trainer_state.pt"
#: under FSDP: every rank's own shards of the trained weights and AdamW moments (parallel.save_sharded)
TRAINER_SHARDS = "trainer_state.dcp"
ARTIFACT = "artifact"
BEST = "best"
HYPS = "hyps.txt"
BEST_HYPS = "best_hyps.txt"


@dataclass
class TrialRun:
    """What one worker holds for its trial; ``state`` is what a checkpoint carries over."""

    cfg: ExperimentConfig
    loop_config: dict
    rank: int
    world: int
    device: torch.device
    tokenizer: Any
    model: torch.nn.Module
    method: Any
    init: dict
    data: TrialData
    loader: Any
    sampler: Any
    trainable: list
    optimizer: torch.optim.Optimizer
    scheduler: Any
    autocast: Any
    scaler: Any
    trainable_params: int
    total_params: int
    state: dict
    best_local: Path | None
    best_hyps: str
    started: float  # perf_counter at the worker's first line
    started_unix: float  # the same on the wall clock: lets the driver split its time-to-first-step
    stop: StopWatch  # the trial asked its workers to stop (early stop, Ctrl-C): raymt.train.stop
    memory: PhaseMemory  # peak memory per phase, when RAYMT_PHASE_MEMORY asks (benchmarks/real_scale.py)
    setup_s: float = 0.0
    import_s: float = 0.0  # importing this module on the worker, before set_up (raymt.train.trial)
    restore_s: float = 0.0  # reading the last checkpoint back (weights, optimizer, best artefact)
    report_s: float = float("nan")  # the last checkpoint's report: its upload to storage_path (+ the barrier)
    first_step_at: float | None = None


@dataclass
class Epoch:
    """One epoch's outcome, filled step by step."""

    number: int  # 1-based
    train_loss: float = float("nan")
    train_s: float = 0.0
    tokens_per_s: float = 0.0
    diverged: bool = False
    eval_loss: float = float("nan")
    eval_s: float = 0.0
    hyps: list[str] = field(default_factory=list)
    scores: Scores | None = None
    pair_scores: dict = field(default_factory=dict)
    record: dict = field(default_factory=dict)
    improved: bool = False
    patience_hit: bool = False
    finished: bool = False  # the trial's last epoch: all of them, patience, or divergence
    stopped: bool = False  # the trial asked its workers to stop: they leave between two steps


def run_worker(loop_config: dict) -> None:
    """One worker of one trial, from set-up to the last report."""
    run = set_up(loop_config)
    for number in range(run.state["epoch"] + 1, run.cfg.train.epochs + 1):
        epoch = Epoch(number)
        train_epoch(run, epoch)
        if epoch.stopped:  # nothing to report: Tune has already ended the trial
            return
        evaluate_epoch(run, epoch)
        decide(run, epoch)
        checkpoint_and_report(run, epoch)
        if epoch.finished:
            break
    if run.best_local is not None:  # the local copy of the best artefact: every checkpoint already holds it
        shutil.rmtree(run.best_local.parent, ignore_errors=True)


# --- the steps, in order ----------------------------------------------------------------------


def set_up(loop_config: dict) -> TrialRun:
    """Model, method, data and optimizer; the last checkpoint's state when Ray restarted us."""
    started, started_unix = time.perf_counter(), time.time()
    _quiet_libraries()
    cfg: ExperimentConfig = loop_config["config"]  # validated once, by the trial driver
    loop_config = local_loop_config(loop_config)  # object-store storage: this node's copies (raymt.object_store)
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    device = ray.train.torch.get_device()
    torch.set_num_threads(max(1, int(round(cfg.resources.cpus_per_worker))))
    _seed_everything(cfg.train.seed + rank)

    memory = PhaseMemory.from_env(rank)

    with memory.phase("setup_load"):
        tokenizer = load_tokenizer(loop_config["base_path"], cfg.model.src_lang, cfg.model.tgt_lang, trust_remote_code=cfg.model.trust_remote_code)
        model = load_model(loop_config["base_path"], trust_remote_code=cfg.model.trust_remote_code)
        if cfg.train.gradient_checkpointing:
            model.gradient_checkpointing_enable()
        method = get_method(cfg.method.name)
        model = method.apply(model, cfg.method.params)
        init = loop_config.get("init") or {}
        if init.get("artifact"):  # the warm start: the same module after the init stage (init_stage.py)
            method.load_state(model, init["artifact"])
    trainable_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total_params = sum(p.numel() for p in model.parameters())
    resume = contextlib.ExitStack()  # the last checkpoint, when Ray restarted the worker group
    resume_dir = _resume_dir(resume)
    sharded = resume_dir is not None and (resume_dir / TRAINER_SHARDS).is_dir()
    state, restore_s = _resume_state(resume_dir), 0.0
    if resume_dir is not None and not sharded:  # DDP, one worker: the artefact holds the trained weights
        t_restore = time.perf_counter()
        with memory.phase("restore_weights"):
            method.load_state(model, resume_dir / ARTIFACT)
        restore_s = time.perf_counter() - t_restore  # the weights here, the optimizer below

    with memory.phase("setup_wrap"):
        model = parallel.wrap(model, cfg.resources.strategy, world, device, find_unused=method.ddp_find_unused_parameters)
    memory.watch_backward(model)
    data = open_trial_data(loop_config, cfg)
    loader, sampler = make_train_loader(data, tokenizer, cfg, rank, world)
    steps_per_epoch = math.ceil(len(loader) / cfg.train.grad_accum)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    scheduler = _make_schedule(optimizer, cfg, steps_per_epoch * cfg.train.epochs)
    best_hyps, best_local = "", None
    if resume_dir is not None:
        t_restore = time.perf_counter()
        with memory.phase("restore"):
            if sharded:  # FSDP: each rank reads its own shards of the weights and moments
                parallel.load_sharded(model, optimizer, resume_dir / TRAINER_SHARDS)
            _restore_trainer(optimizer, scheduler, resume_dir, model, rank)
            best_hyps = (resume_dir / BEST_HYPS).read_text(encoding="utf-8") if (resume_dir / BEST_HYPS).exists() else ""
            best_local = _restore_best(resume_dir, state) if rank == 0 else None  # only rank 0 writes checkpoints
        restore_s += time.perf_counter() - t_restore
    resume.close()  # a copy downloaded from an object store is deleted; a local checkpoint stays as it is
    autocast = _autocast(cfg, device)
    run = TrialRun(
        cfg=cfg,
        loop_config=loop_config,
        rank=rank,
        world=world,
        device=device,
        tokenizer=tokenizer,
        model=model,
        method=method,
        init=init,
        data=data,
        loader=loader,
        sampler=sampler,
        trainable=trainable,
        optimizer=optimizer,
        scheduler=scheduler,
        autocast=autocast,
        scaler=torch.amp.GradScaler("cuda") if autocast is not None and cfg.train.precision == "fp16" else None,
        trainable_params=trainable_params,
        total_params=total_params,
        state=state,
        best_local=best_local,
        best_hyps=best_hyps,
        started=started,
        started_unix=started_unix,
        restore_s=restore_s,
        memory=memory,
        import_s=max(0.0, started_unix - loop_config.get("entered_unix", started_unix)),
        stop=StopWatch(loop_config.get("stop_key"), rank, world, device),
    )
    run.setup_s = time.perf_counter() - started
    return run


def train_epoch(run: TrialRun, epoch: Epoch) -> None:
    """One pass over this worker's shard, with gradient accumulation and clipping."""
    cfg, model = run.cfg, run.model
    run.sampler.set_epoch(epoch.number - 1)
    model.train()
    t_train = time.perf_counter()
    loss_sum = torch.zeros(2, dtype=torch.float64)  # (sum of loss x tokens, tokens)
    for micro, batch in enumerate(run.loader):
        batch = {k: v.to(run.device) for k, v in batch.items()}
        last_micro = (micro + 1) % cfg.train.grad_accum == 0 or micro + 1 == len(run.loader)
        step = run.state["step"] + 1
        with parallel.no_sync(model, active=not last_micro), run.autocast or _null():
            with run.memory.phase("forward", step):
                loss, tokens = _loss(model, batch, cfg.train.label_smoothing)
            with run.memory.phase("backward", step):
                (run.scaler.scale(loss) if run.scaler else loss).div(cfg.train.grad_accum).backward()
        loss_sum += torch.tensor([loss.item() * tokens, tokens], dtype=torch.float64)
        if not last_micro:
            continue
        with run.memory.phase("optimizer_step", step):
            if run.scaler:
                run.scaler.unscale_(run.optimizer)
            torch.nn.utils.clip_grad_norm_(run.trainable, cfg.train.max_grad_norm)
            (run.scaler.step(run.optimizer), run.scaler.update()) if run.scaler else run.optimizer.step()
            run.scheduler.step()
            run.optimizer.zero_grad(set_to_none=True)
        run.state["step"] = step
        if run.first_step_at is None:
            run.first_step_at = time.perf_counter()
        if run.stop.requested():  # every rank answers the same here, so all leave at this step
            epoch.stopped = True
            return
    loss_sum = _all_reduce(loss_sum, run.world)
    epoch.train_loss = float(loss_sum[0] / max(loss_sum[1], 1))
    epoch.train_s = time.perf_counter() - t_train
    epoch.tokens_per_s = float(loss_sum[1]) / epoch.train_s if epoch.train_s > 0 else 0.0


def evaluate_epoch(run: TrialRun, epoch: Epoch) -> None:
    """Eval loss, hypotheses and BLEU/chrF; skipped when the training loss diverged."""
    epoch.diverged = not math.isfinite(epoch.train_loss)
    t_eval = time.perf_counter()
    if not epoch.diverged:
        with run.memory.phase("evaluate", epoch.number):
            epoch.eval_loss, epoch.hyps, epoch.scores, epoch.pair_scores = _evaluate(
                run.model, run.data, run.tokenizer, run.cfg, run.rank, run.world, run.device, run.autocast
            )
    epoch.eval_s = time.perf_counter() - t_eval
    run.state["train_time_s"] = run.state.get("train_time_s", 0.0) + epoch.train_s  # totals survive restarts
    run.state["eval_time_s"] = run.state.get("eval_time_s", 0.0) + epoch.eval_s


def decide(run: TrialRun, epoch: Epoch) -> None:
    """Record the evaluation (the same on every rank), update the best epoch, and decide
    whether this is the trial's last epoch."""
    scores = epoch.scores
    record = {
        "epoch": epoch.number,
        "step": run.state["step"],
        "train_loss": epoch.train_loss,
        "eval_loss": epoch.eval_loss,
        "bleu": scores.bleu if scores else float("nan"),
        "chrf": scores.chrf if scores else float("nan"),
        **epoch.pair_scores,
    }
    epoch.record = _broadcast(record, run.world)
    run.state["history"].append(epoch.record)
    selector = BestEpoch(run.cfg.train.patience, run.state["best"])
    epoch.improved = not epoch.diverged and selector.observe(epoch.record)
    run.state["best"] = selector.best
    run.state["epoch"] = epoch.number
    epoch.patience_hit = selector.exhausted(epoch.number)
    epoch.finished = epoch.diverged or epoch.patience_hit or epoch.number == run.cfg.train.epochs


def checkpoint_and_report(run: TrialRun, epoch: Epoch) -> None:
    """Save the artefact (every rank takes part under FSDP), write the checkpoint on rank 0
    and report; every rank calls ``ray.train.report``: it is a barrier."""
    t_ckpt = time.perf_counter()
    ckpt_dir = Path(tempfile.mkdtemp(prefix="raymt-ckpt-"))
    with run.memory.phase("checkpoint_artifact", epoch.number):
        _save_artifact(run.model, run.method, run.cfg, run.loop_config["base_path"], run.rank, ckpt_dir / ARTIFACT)
    fsdp = parallel.is_fsdp(run.model)
    # the optimizer state is read only to go on training: a finished trial's last checkpoint
    # does without it (raymt.plan.storage.CheckpointPolicy.trainer_state_when_finished)
    resumable = not epoch.finished or CHECKPOINT_POLICY.trainer_state_when_finished
    if fsdp and resumable:  # each rank writes its own shards of the weights and AdamW moments
        with run.memory.phase("checkpoint_shards", epoch.number):
            parallel.save_sharded(run.model, run.optimizer, ckpt_dir / TRAINER_SHARDS)
    metrics = {}
    if run.rank == 0:
        size = artifact_bytes(ckpt_dir / ARTIFACT)
        hyps_text = "\n".join(epoch.hyps) + ("\n" if epoch.hyps else "")
        if epoch.improved:
            run.best_local = _keep_best(ckpt_dir / ARTIFACT, run.best_local)
            run.best_hyps = hyps_text
        elif run.best_local is not None:
            shutil.copytree(run.best_local, ckpt_dir / BEST)
        if resumable:  # the schedule (the same on every rank); the moments too unless sharded above
            trainer = {"scheduler": run.scheduler.state_dict(), **({} if fsdp else {"optimizer": run.optimizer.state_dict()})}
            torch.save(trainer, ckpt_dir / TRAINER_FILE)
        (ckpt_dir / HYPS).write_text(hyps_text, encoding="utf-8")
        (ckpt_dir / BEST_HYPS).write_text(run.best_hyps, encoding="utf-8")
        (ckpt_dir / STATE_FILE).write_text(json.dumps(run.state, indent=1))
        metrics = _metrics(run, epoch, size)
        metrics["checkpoint_write_s"] = time.perf_counter() - t_ckpt
        metrics["checkpoint_bytes"] = artifact_bytes(ckpt_dir)  # the report's "written" total
    if fsdp:  # every rank's shards are part of the checkpoint: the written total counts them all
        written = _all_reduce(torch.tensor([float(artifact_bytes(ckpt_dir))], dtype=torch.float64), run.world)
        if run.rank == 0:
            metrics["checkpoint_bytes"] = int(written[0])
    # rank 0 reports the checkpoint; under FSDP every rank adds its own shards (Ray Train
    # merges the ranks' files into one checkpoint folder). The local copy is deleted once
    # uploaded: it would otherwise stay in /tmp for every epoch of every trial.
    shares = run.rank == 0 or fsdp
    t_report = time.perf_counter()
    with run.memory.phase("checkpoint_report", epoch.number):
        ray.train.report(
            metrics, checkpoint=ray.train.Checkpoint.from_directory(str(ckpt_dir)) if shares else None, delete_local_checkpoint_after_upload=shares
        )
    run.report_s = time.perf_counter() - t_report
    if not shares:
        shutil.rmtree(ckpt_dir, ignore_errors=True)


def _metrics(run: TrialRun, epoch: Epoch, size: int) -> dict:
    """The trial's result after this epoch = its best evaluation so far (the "load best model
    at end" habit), plus this epoch's own scores, costs and timings."""
    best, record, scores, cfg = run.state["best"] or epoch.record, epoch.record, epoch.scores, run.cfg
    first_step_s = (run.first_step_at - run.started) if run.first_step_at else float("nan")
    return {
        "bleu": best["bleu"],
        "chrf": best["chrf"],
        "eval_loss": best["eval_loss"],
        "best_epoch": best["epoch"],
        **{key: best.get(key, float("nan")) for key in pair_metric_columns(record)},
        "bleu_epoch": record["bleu"],
        "chrf_epoch": record["chrf"],
        "eval_loss_epoch": record["eval_loss"],
        "train_loss": epoch.train_loss,
        "epoch": epoch.number,
        "step": run.state["step"],
        "storage_bytes": size,
        "storage_mb": size / 1e6,
        "trainable_params": run.trainable_params,
        "total_params": run.total_params,
        "train_time_s": run.state["train_time_s"],
        "eval_time_s": run.state["eval_time_s"],
        "epoch_train_time_s": epoch.train_s,
        "epoch_eval_time_s": epoch.eval_s,
        "setup_time_s": run.setup_s,
        "worker_import_s": run.import_s,
        "first_step_s": first_step_s,
        "checkpoint_report_s": run.report_s,
        "restore_s": run.restore_s,
        "worker_started_unix": run.started_unix,
        "first_step_unix": run.started_unix + first_step_s,
        "tokens_per_s": epoch.tokens_per_s,
        "world_size": run.world,
        "restarts": run.state["restarts"],
        "sacrebleu_signature": scores.bleu_signature if scores else "",
        "chrf_signature": scores.chrf_signature if scores else "",
        "patience_stopped": bool(epoch.patience_hit and epoch.number < cfg.train.epochs),
        "diverged": bool(epoch.diverged),
        "finished": bool(epoch.finished),
        **outcome_metrics(run.init),
        "error": (
            f"training loss became {epoch.train_loss} in epoch {epoch.number} (lr {cfg.train.lr:g}): the run diverged" if epoch.diverged else ""
        ),
    }


# --- helpers ------------------------------------------------------------------------------------


def _resume_dir(stack: contextlib.ExitStack) -> Path | None:
    """The last checkpoint's folder when Ray restarted the worker group (read in place when it
    is local: under FSDP each rank reads only its own shards of it), None on a fresh start."""
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        return None
    return Path(stack.enter_context(checkpoint.as_directory()))


def _resume_state(resume_dir: Path | None) -> dict:
    """The trial's state (epoch, step, history, best) of the last checkpoint, or a fresh one."""
    if resume_dir is None:
        return {"epoch": 0, "step": 0, "history": [], "best": None, "restarts": 0}
    state = json.loads((resume_dir / STATE_FILE).read_text())
    state["restarts"] = state.get("restarts", 0) + 1
    return state


def _restore_trainer(optimizer, scheduler, resume_dir: Path, model, rank: int) -> None:
    """The schedule, and the AdamW moments when they are not sharded (DDP, one worker)."""
    for name in (TRAINER_FILE, _trainer_file(model, rank)):
        if (resume_dir / name).exists():
            saved = torch.load(resume_dir / name, map_location="cpu", weights_only=True)
            break
    else:
        return
    if "optimizer" in saved:
        try:
            optimizer.load_state_dict(saved["optimizer"])
        except ValueError:
            # prefix tuning with a projection resumes its *projected* prefix directly (the
            # trainable tensors differ from the first run): start its AdamW moments afresh.
            pass
    scheduler.load_state_dict(saved["scheduler"])


def _quiet_libraries() -> None:
    """No loader progress bars, info logs or libraries' deprecation notices from this worker
    process: Ray sends every worker's output to the driver's terminal, where it landed among
    (and after) the search's summary. Deprecations (``FutureWarning``, e.g. transformers'
    ``is_gradient_checkpointing``, called by peft) are for the libraries' own code, not for
    the user; other warnings still show."""
    import logging
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    logging.getLogger("peft").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def _null():
    import contextlib

    return contextlib.nullcontext()


def _autocast(cfg: ExperimentConfig, device: torch.device):
    if device.type != "cuda" or cfg.train.precision == "fp32":
        return None
    if cfg.train.precision == "fp16":
        return torch.autocast("cuda", dtype=torch.float16)
    if cfg.train.precision == "bf16" or torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return None


def _make_schedule(optimizer, cfg: ExperimentConfig, total_steps: int):
    from transformers import get_constant_schedule_with_warmup, get_cosine_schedule_with_warmup, get_linear_schedule_with_warmup

    warmup = int(round(cfg.train.warmup_ratio * total_steps))
    if cfg.train.schedule == "constant":
        return get_constant_schedule_with_warmup(optimizer, warmup)
    make = get_cosine_schedule_with_warmup if cfg.train.schedule == "cosine" else get_linear_schedule_with_warmup
    return make(optimizer, warmup, max(total_steps, 1))


def _loss(model, batch, label_smoothing: float):
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
    tokens = int((batch["labels"] != -100).sum())
    if label_smoothing == 0:
        return out.loss, tokens
    logits = out.logits.float()
    loss = torch.nn.functional.cross_entropy(
        logits.view(-1, logits.size(-1)), batch["labels"].view(-1), ignore_index=-100, label_smoothing=label_smoothing
    )
    return loss, tokens


def _all_reduce(tensor: torch.Tensor, world: int) -> torch.Tensor:
    if world > 1:
        dist.all_reduce(tensor)
    return tensor


def _broadcast(obj, world: int):
    if world <= 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


@torch.no_grad()
def _eval_loss(model, data, tokenizer, cfg, rank, world, device, autocast) -> float:
    model.eval()
    acc = torch.zeros(2, dtype=torch.float64)
    with parallel.full_params(model) as whole:
        for batch in eval_batches(data, tokenizer, cfg, rank, world, with_labels=True):
            batch = {k: v.to(device) for k, v in batch.items() if k in ("input_ids", "attention_mask", "labels")}
            with autocast or _null():
                out = whole(**batch)
            tokens = int((batch["labels"] != -100).sum())
            acc += torch.tensor([out.loss.item() * tokens, tokens], dtype=torch.float64)
    acc = _all_reduce(acc, world)
    return float(acc[0] / max(acc[1], 1))


def _evaluate(model, data, tokenizer, cfg, rank, world, device, autocast):
    """Eval loss, hypotheses (in eval-set order, rank 0) and scores, pair by pair.

    Each pair generates with its own forced target code and is scored with its own target's
    BLEU tokenizer (``eval.bleu_tokenize``). With several pairs, ``bleu`` / ``chrf`` / the loss
    are the unweighted means over pairs and the per-pair scores come back as
    ``bleu_<src>-<tgt>`` / ``chrf_<src>-<tgt>``; a single pair returns no per-pair keys.
    """
    losses, hyps, by_pair = [], [], {}
    for part in data.parts:
        losses.append(_eval_loss(model, part, tokenizer, cfg, rank, world, device, autocast))
        part_hyps = _generate_sharded(model, part, tokenizer, cfg, rank, world, device, part.tgt_lang)
        hyps += part_hyps
        tokenize = bleu_tokenizer(cfg.eval.bleu_tokenize, part.tgt_lang)
        by_pair[part.pair] = corpus_scores(part_hyps, part.references, tokenize=tokenize) if rank == 0 else None
    if len(data.parts) == 1:
        return losses[0], hyps, by_pair[data.parts[0].pair], {}
    loss = sum(losses) / len(losses)
    if rank != 0:
        return loss, hyps, None, {}
    per_pair = {pair_metric(m, pair): getattr(s, m) for pair, s in by_pair.items() for m in PAIR_METRICS}
    scores = Scores(
        bleu=mean_over_pairs({p: s.bleu for p, s in by_pair.items()}),
        chrf=mean_over_pairs({p: s.chrf for p, s in by_pair.items()}),
        bleu_signature=combined_signature({p: s.bleu_signature for p, s in by_pair.items()}),
        chrf_signature=combined_signature({p: s.chrf_signature for p, s in by_pair.items()}),
    )
    return loss, hyps, scores, per_pair


@torch.no_grad()
def _generate_sharded(model, data, tokenizer, cfg, rank, world, device, tgt_lang: str) -> list[str]:
    """Each worker translates its share (length-sorted batches); rank 0 gets all, in order."""
    model.eval()
    mine: list[tuple[int, str]] = []
    decoding = Decoding.from_config(cfg)  # what an export of this trial records and replays
    with parallel.full_params(model) as whole:
        for batch in eval_batches(data, tokenizer, cfg, rank, world, with_labels=False):
            index = batch.pop("index")
            texts = generate_texts(whole, batch["input_ids"].to(device), batch["attention_mask"].to(device), tokenizer, tgt_lang, decoding)
            mine += list(zip(index.tolist(), texts))
    if world > 1:
        gathered: list = [None] * world
        dist.all_gather_object(gathered, mine)
        mine = [pair for part in gathered for pair in part]
    if rank != 0:
        return []
    ordered = dict(mine)
    return [ordered[i] for i in range(len(data.references))]


def _trainer_file(model, rank: int) -> str:
    """The optimizer/scheduler file of this rank in a checkpoint written before the shards
    (:data:`TRAINER_SHARDS`): one per rank under FSDP, each with its own shard of the moments.
    Such a checkpoint still resumes (its weights from the artefact)."""
    return f"trainer_state.rank{rank}.pt" if parallel.is_fsdp(model) else TRAINER_FILE


def _save_artifact(model, method, cfg, base_path: str, rank: int, dest: Path) -> None:
    """Rank 0 writes what a user keeps. Under FSDP the shards are first gathered (every rank
    takes part) into a plain model built on the meta device, which takes the gathered
    tensors as its own: no second copy of the weights in memory."""
    if not parallel.is_fsdp(model):
        if rank == 0:
            method.save(parallel.unwrap(model), dest)
        return
    state = parallel.full_state_dict(model)
    if rank == 0:
        from transformers import AutoConfig, AutoModelForSeq2SeqLM

        config = AutoConfig.from_pretrained(base_path, trust_remote_code=cfg.model.trust_remote_code)
        with torch.device("meta"):
            base = AutoModelForSeq2SeqLM.from_config(config, trust_remote_code=cfg.model.trust_remote_code)
        whole = method.apply(base, cfg.method.params)
        whole.load_state_dict(state, assign=True)
        parallel.unwrap(whole).tie_weights()
        method.save(whole, dest)
        del state, whole, base
        parallel.release_freed_memory()  # the gathered copy: it would stay resident for the rest of the trial


def _keep_best(artifact_dir: Path, previous: Path | None) -> Path:
    """Rank 0 keeps a local copy of the best artefact so later checkpoints can carry it."""
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)
    dest = Path(tempfile.mkdtemp(prefix="raymt-best-")) / BEST
    shutil.copytree(artifact_dir, dest)
    return dest


def _restore_best(resume_dir: Path | None, state: dict) -> Path | None:
    if resume_dir is None or state.get("best") is None:
        return None
    source = resume_dir / BEST if (resume_dir / BEST).exists() else resume_dir / ARTIFACT
    return _keep_best(source, None)
