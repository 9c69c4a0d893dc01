"""The per-worker training loop of one trial: it runs on every Ray Train worker.

Reads top to bottom: set up (seed, threads, tokenizer, base model, method, parallel wrapper,
data, optimizer), resume from the last checkpoint if Ray restarted the worker group, then one
block per epoch: train, evaluate (generation sharded across workers, BLEU once on rank 0),
checkpoint and report. It knows nothing of the tuner: it reports through ``ray.train.report``
and the trial driver forwards the reports to Tune.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from raymt.config.schema import ExperimentConfig
from raymt.methods import get_method
from raymt.metrics.bleu import Scores, bleu_tokenizer, combined_signature, corpus_scores
from raymt.metrics.per_pair import PAIR_METRICS, mean_over_pairs, pair_metric, pair_metric_columns
from raymt.metrics.storage import artifact_bytes
from raymt.model.generation import Decoding, generate_texts
from raymt.model.loading import load_model, load_tokenizer
from raymt.train import parallel
from raymt.train.data import eval_batches, make_train_loader, open_trial_data
from raymt.train.init_stage import outcome_metrics
from raymt.train.prepare import local_loop_config
from raymt.train.selection import BestEpoch

STATE_FILE = "state.json"
TRAINER_FILE = "trainer_state.pt"
ARTIFACT = "artifact"
BEST = "best"
HYPS = "hyps.txt"
BEST_HYPS = "best_hyps.txt"


def train_loop_per_worker(loop_config: dict) -> None:
    import ray.train
    import ray.train.torch

    cfg = ExperimentConfig.model_validate(loop_config["config"])
    loop_config = local_loop_config(loop_config)  # object-store storage: this node's copies (raymt.object_store)
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    device = ray.train.torch.get_device()
    t_setup = time.perf_counter()
    started_unix = time.time()  # wall clock: lets the driver split its time-to-first-step

    # --- set up -----------------------------------------------------------------------------
    torch.set_num_threads(max(1, int(round(cfg.resources.cpus_per_worker))))
    _seed_everything(cfg.train.seed + rank)
    tokenizer = load_tokenizer(loop_config["base_path"], cfg.model.src_lang, cfg.model.tgt_lang,
                               trust_remote_code=cfg.model.trust_remote_code)
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

    state = {"epoch": 0, "step": 0, "history": [], "best": None, "restarts": 0}
    checkpoint = ray.train.get_checkpoint()
    resume_dir = None
    t_restore = time.perf_counter()
    if checkpoint is not None:
        resume_dir = Path(tempfile.mkdtemp(prefix="raymt-resume-"))
        checkpoint.to_directory(str(resume_dir))
        state = json.loads((resume_dir / STATE_FILE).read_text())
        state["restarts"] = state.get("restarts", 0) + 1
        method.load_state(model, resume_dir / ARTIFACT)
    restore_s = time.perf_counter() - t_restore  # reading the checkpoint back (weights here, optimizer below)

    model = parallel.wrap(model, cfg.resources.strategy, world, device)
    data = open_trial_data(loop_config, cfg)
    loader, sampler = make_train_loader(data, tokenizer, cfg, rank, world)

    steps_per_epoch = math.ceil(len(loader) / cfg.train.grad_accum)
    total_steps = steps_per_epoch * cfg.train.epochs
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    scheduler = _make_schedule(optimizer, cfg, total_steps)
    t_restore = time.perf_counter()
    trainer_file = resume_dir / _trainer_file(model, rank) if resume_dir is not None else None
    if trainer_file is not None and trainer_file.exists():
        saved = torch.load(trainer_file, map_location="cpu", weights_only=True)
        try:
            optimizer.load_state_dict(saved["optimizer"])
        except ValueError:
            # prefix tuning with a projection resumes its *projected* prefix directly (the
            # trainable tensors differ from the first run): start its AdamW moments afresh.
            pass
        scheduler.load_state_dict(saved["scheduler"])
    best_local = _restore_best(resume_dir, state)
    best_hyps = (resume_dir / BEST_HYPS).read_text(encoding="utf-8") if resume_dir and (resume_dir / BEST_HYPS).exists() else ""
    restore_s = restore_s + time.perf_counter() - t_restore if resume_dir is not None else 0.0
    if resume_dir is not None:  # everything needed was read (the best artefact copied): free the scratch disk
        shutil.rmtree(resume_dir, ignore_errors=True)
    report_s = float("nan")  # the last checkpoint's report: its upload to storage_path (+ the barrier)
    autocast = _autocast(cfg, device)
    scaler = torch.amp.GradScaler("cuda") if autocast is not None and cfg.train.precision == "fp16" else None
    setup_s = time.perf_counter() - t_setup
    first_step_at: float | None = None

    # --- epochs -------------------------------------------------------------------------------
    for epoch in range(state["epoch"], cfg.train.epochs):
        sampler.set_epoch(epoch)
        model.train()
        t_train = time.perf_counter()
        loss_sum = torch.zeros(2, dtype=torch.float64)  # (sum of loss x tokens, tokens)
        for micro, batch in enumerate(loader):
            batch = {k: v.to(device) for k, v in batch.items()}
            last_micro = (micro + 1) % cfg.train.grad_accum == 0 or micro + 1 == len(loader)
            with parallel.no_sync(model, active=not last_micro), (autocast or _null()):
                loss, tokens = _loss(model, batch, cfg.train.label_smoothing)
                (scaler.scale(loss) if scaler else loss).div(cfg.train.grad_accum).backward()
            loss_sum += torch.tensor([loss.item() * tokens, tokens], dtype=torch.float64)
            if not last_micro:
                continue
            if scaler:
                scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(trainable, cfg.train.max_grad_norm)
            (scaler.step(optimizer), scaler.update()) if scaler else optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            state["step"] += 1
            if first_step_at is None:
                first_step_at = time.perf_counter()
        loss_sum = _all_reduce(loss_sum, world)
        train_loss = float(loss_sum[0] / max(loss_sum[1], 1))
        train_s = time.perf_counter() - t_train
        tokens_per_s = float(loss_sum[1]) / train_s if train_s > 0 else 0.0

        diverged = not math.isfinite(train_loss)
        t_eval = time.perf_counter()
        if diverged:
            scores, eval_loss, hyps, pair_scores = None, float("nan"), [], {}
        else:
            eval_loss, hyps, scores, pair_scores = _evaluate(model, data, tokenizer, cfg, rank, world, device, autocast)
        eval_s = time.perf_counter() - t_eval
        state["train_time_s"] = state.get("train_time_s", 0.0) + train_s  # totals survive restarts
        state["eval_time_s"] = state.get("eval_time_s", 0.0) + eval_s

        # --- decide, checkpoint, report (every rank calls report: it is a barrier) ------------
        record = {"epoch": epoch + 1, "step": state["step"], "train_loss": train_loss, "eval_loss": eval_loss,
                  "bleu": scores.bleu if scores else float("nan"), "chrf": scores.chrf if scores else float("nan"),
                  **pair_scores}
        record = _broadcast(record, world)
        state["history"].append(record)
        selector = BestEpoch(cfg.train.patience, state["best"])
        improved = not diverged and selector.observe(record)
        state["best"] = selector.best
        state["epoch"] = epoch + 1
        patience_hit = selector.exhausted(epoch + 1)
        done = diverged or patience_hit or epoch + 1 == cfg.train.epochs

        t_ckpt = time.perf_counter()
        ckpt_dir = Path(tempfile.mkdtemp(prefix="raymt-ckpt-"))
        _save_artifact(model, method, cfg, loop_config["base_path"], rank, ckpt_dir / ARTIFACT)
        if parallel.is_fsdp(model):  # each rank holds its own shard of the AdamW moments
            torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()},
                       ckpt_dir / _trainer_file(model, rank))
        metrics = {}
        if rank == 0:
            size = artifact_bytes(ckpt_dir / ARTIFACT)
            hyps_text = "\n".join(hyps) + ("\n" if hyps else "")
            if improved and not diverged:
                best_local = _keep_best(ckpt_dir / ARTIFACT, best_local)
                best_hyps = hyps_text
            elif best_local is not None:
                shutil.copytree(best_local, ckpt_dir / BEST)
            if not parallel.is_fsdp(model):
                torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, ckpt_dir / TRAINER_FILE)
            (ckpt_dir / HYPS).write_text(hyps_text, encoding="utf-8")
            (ckpt_dir / BEST_HYPS).write_text(best_hyps, encoding="utf-8")
            (ckpt_dir / STATE_FILE).write_text(json.dumps(state, indent=1))
            best = state["best"] or record
            first_step_s = (first_step_at - t_setup) if first_step_at else float("nan")
            metrics = {
                # the trial's result = its best evaluation so far (the "load best model at end" habit)
                "bleu": best["bleu"], "chrf": best["chrf"], "eval_loss": best["eval_loss"], "best_epoch": best["epoch"],
                **{key: best.get(key, float("nan")) for key in pair_metric_columns(record)},
                "bleu_epoch": record["bleu"], "chrf_epoch": record["chrf"], "eval_loss_epoch": record["eval_loss"],
                "train_loss": train_loss, "epoch": epoch + 1, "step": state["step"],
                "storage_bytes": size, "storage_mb": size / 1e6,
                "trainable_params": trainable_params, "total_params": total_params,
                "train_time_s": state["train_time_s"], "eval_time_s": state["eval_time_s"],
                "epoch_train_time_s": train_s, "epoch_eval_time_s": eval_s, "setup_time_s": setup_s,
                "first_step_s": first_step_s, "checkpoint_write_s": time.perf_counter() - t_ckpt,
                "checkpoint_report_s": report_s, "restore_s": restore_s,
                "worker_started_unix": started_unix, "first_step_unix": started_unix + first_step_s,
                "tokens_per_s": tokens_per_s, "world_size": world, "restarts": state["restarts"],
                "sacrebleu_signature": scores.bleu_signature if scores else "",
                "chrf_signature": scores.chrf_signature if scores else "",
                "patience_stopped": bool(patience_hit and epoch + 1 < cfg.train.epochs),
                "diverged": bool(diverged), "done": bool(done), **outcome_metrics(init),
                "error": (f"training loss became {train_loss} in epoch {epoch + 1} (lr {cfg.train.lr:g}): the run diverged"
                          if diverged else ""),
            }
        # rank 0 reports the checkpoint; under FSDP every rank adds its optimizer shard (Ray Train
        # merges the ranks' files into one checkpoint folder). The local copy is deleted once
        # uploaded: it would otherwise stay in /tmp for every epoch of every trial.
        shares = rank == 0 or parallel.is_fsdp(model)
        t_report = time.perf_counter()
        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(str(ckpt_dir)) if shares else None,
                         delete_local_checkpoint_after_upload=shares)
        report_s = time.perf_counter() - t_report
        if not shares:
            shutil.rmtree(ckpt_dir, ignore_errors=True)
        if done:
            break
    if best_local is not None:  # the local copy of the best artefact: every checkpoint already holds it
        shutil.rmtree(best_local.parent, ignore_errors=True)


# --- helpers (each used once above; kept here so the loop reads as a recipe) ---------------

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
    loss = torch.nn.functional.cross_entropy(logits.view(-1, logits.size(-1)), batch["labels"].view(-1),
                                             ignore_index=-100, label_smoothing=label_smoothing)
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
    scores = Scores(bleu=mean_over_pairs({p: s.bleu for p, s in by_pair.items()}),
                    chrf=mean_over_pairs({p: s.chrf for p, s in by_pair.items()}),
                    bleu_signature=combined_signature({p: s.bleu_signature for p, s in by_pair.items()}),
                    chrf_signature=combined_signature({p: s.chrf_signature for p, s in by_pair.items()}))
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
            texts = generate_texts(whole, batch["input_ids"].to(device), batch["attention_mask"].to(device), tokenizer,
                                   tgt_lang, decoding)
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
    """The optimizer/scheduler file of this rank: one per rank under FSDP (each holds a shard
    of the moments; restoring rank 0's on every rank would silently give the others wrong
    moments), one for all under DDP (the ranks' states are identical)."""
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
