"""An mBART-large-50-sized trial on CPU, measured against ``raymt plan``.

    python -m benchmarks.real_scale                       # lora, adapter, full (FSDP): ~30-40 min on 2 cores
    python -m benchmarks.real_scale --methods lora --no-kill
    python -m benchmarks.real_scale --baseline            # the CPU per-process baseline the plan uses
    python -m benchmarks.real_scale --toy                 # the same runs on a toy model: a crash test in minutes

Why: raymt's users fine-tune mBART-50 (611M parameters, 2.44 GB per full artefact) and no GPU
was ever lent to this project. This proves the plan's figures and the trial's machinery at that
size on a 2-core, 24 GB machine. The base is built from mBART-large-50's published config
(d_model 1024, 12+12 layers, 16 heads, FFN 4096, vocabulary 250,054) with random weights and
dropout off (so a resumed run must equal an unbroken one exactly), saved once under ``--work``;
the tokenizer is a small Unigram one trained here (its ids are a subset of the vocabulary).

Each method runs as a real ``raymt train`` process (2 Ray Train workers: DDP for LoRA and the
adapter, FSDP for full fine-tuning), sentences truncated to ``--length`` tokens so that every
batch is exactly as long as the plan assumes, ``--epochs`` x ``--train-size / (2 x batch)``
optimizer steps. Measured, per method:

- peak resident memory of each worker against the plan's peak per worker, and the phase each
  worker peaks in: every worker resets its own high-water mark at each phase (set-up, restore,
  forward, backward split layer by layer, optimizer step, evaluation, checkpoint; see
  raymt/train/phase_memory.py) and reads it back at its end, so the peak is placed exactly;
  ``VmHWM`` of the two RayTrainWorker processes sampled every 0.5 s is kept as a timeline;
- the bytes of the artefact against the method's estimate (must be equal), and of the whole
  checkpoint folder against the plan's checkpoint figure;
- checkpoint write time (raymt's files, incl. the FSDP gather), upload time (Ray Train copying it
  to storage_path) and restore time (reading it back after a restart);
- a second run of the same trial in which one worker is SIGKILLed in its last epoch: Ray Train
  restarts the group from the last checkpoint, and the run must end with exactly the losses,
  steps and artefact bytes (sha256) of the unbroken run.

Other people share this machine: run it alone (full fine-tuning peaks at 9.4-10 GiB in each of
its two workers, ~22 GiB for the whole process tree; Ray's memory monitor kills a worker above
95% of the node by default, ``RAY_memory_usage_threshold=0.98`` gives it room). It checks ``MemAvailable`` before each run
and waits. A killed-worker run's restore is measured as the restarted workers' ``restore``
phase (under FSDP each rank reads only its own shards of the checkpoint).
Writes benchmarks/out/real_scale.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

from raymt.train.phase_memory import proc_status

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
MARKER = "raymt_real_scale.json"
BASE_NAME = "facebook/mbart-large-50"


def build_base(work: Path, *, tiny: bool = False, log=print) -> Path:
    """The mBART-large-50-shaped random base (or, ``tiny``, the same layout at toy size), once."""
    import torch
    from transformers import MBartConfig, MBartForConditionalGeneration

    from raymt.data.synthetic import SyntheticSpec, generate_splits
    from raymt.model.tokenizer_training import train_tokenizer
    from raymt.plan.model_config import KNOWN_MODELS

    out = work / ("toy-base" if tiny else "mbart-large-50-random")
    if (out / MARKER).exists():
        return out
    t0 = time.perf_counter()
    pairs = generate_splits(SyntheticSpec(domain="medical", train_size=3000, valid_size=0, test_size=0, lexicon_size=20))["train"]
    tokenizer = train_tokenizer([s for s, _ in pairs] + [t for _, t in pairs], 1000)
    values = {**KNOWN_MODELS[BASE_NAME], "dropout": 0.0}
    if tiny:
        values.update(
            d_model=16,
            encoder_layers=1,
            decoder_layers=1,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            encoder_ffn_dim=32,
            decoder_ffn_dim=32,
            vocab_size=len(tokenizer),
            max_position_embeddings=64,
        )
    torch.manual_seed(0)
    model = MBartForConditionalGeneration(MBartConfig(**values))
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    (out / MARKER).write_text(json.dumps({"config": values, "build_s": round(time.perf_counter() - t0, 1)}))
    log(f"built {out} in {time.perf_counter() - t0:.0f}s")
    return out


def trial_config(method: str, base: Path, work: Path, args) -> dict:
    params = {"lora": {"name": "lora", "r": 8, "dropout": 0.0}, "adapter": {"name": "adapter", "size": 16}, "full": {"name": "full"}}[method]
    return {
        "name": f"real_scale_{method}",
        "storage_path": str(work / "results"),
        "model": {"name_or_path": str(base), "src_lang": "en_XX", "tgt_lang": "de_DE", "max_length": args.length},
        "data": {
            "source": "synthetic",
            "domain": "medical",
            "train_size": args.train_size,
            "valid_size": 4,
            "test_size": 4,
            "lexicon_size": 20,
            "min_words": 10,
            "max_words": 12,
        },
        "train": {"epochs": args.epochs, "batch_size": args.batch_size, "lr": 1e-4, "warmup_ratio": 0.0},
        "eval": {"batch_size": args.batch_size, "max_samples": 2, "max_new_tokens": 8, "beam_size": 1},
        "method": params,
        "resources": {
            "num_workers": 2,
            "cpus_per_worker": 0.95,
            "trial_cpus": 0.1,
            "max_failures": 2,
            "strategy": "fsdp" if method == "full" else "ddp",
        },
    }


# --- watching the workers ------------------------------------------------------------------------


class Watch:
    """Peak RSS of every RayTrainWorker under a process, and of the whole process tree."""

    def __init__(self, root_pid: int, trials: Path | None = None):
        import psutil

        self.root = psutil.Process(root_pid)
        self.trials = trials
        self.reports: dict[int, dict] = {}  # epoch -> the metrics of its checkpoint (Ray keeps only the latest)
        self.workers: dict[int, int] = {}  # pid -> VmHWM
        self.peak_at: dict[int, float] = {}  # pid -> unix time its VmHWM last grew (which phase: see the metrics' times)
        self.timeline: list[tuple[float, int]] = []  # (unix time, largest worker VmRSS), every 0.5 s
        self.tree_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def worker_pids(self) -> list[int]:
        import psutil

        pids = []
        try:
            for proc in self.root.children(recursive=True):
                try:
                    if "RayTrainWorker" in " ".join(proc.cmdline()):
                        pids.append(proc.pid)
                except psutil.Error:
                    pass
        except psutil.Error:
            pass
        return pids

    def _run(self):
        import psutil

        while not self._stop.is_set():
            total, largest = 0, 0
            try:
                procs = [self.root] + self.root.children(recursive=True)
            except psutil.Error:
                procs = []
            for proc in procs:
                try:
                    status = proc_status(proc.pid)
                    total += status.get("VmRSS", 0)
                    if "RayTrainWorker" in " ".join(proc.cmdline()):
                        if status.get("VmHWM", 0) > self.workers.get(proc.pid, 0):
                            self.workers[proc.pid] = status["VmHWM"]
                            self.peak_at[proc.pid] = time.time()
                        largest = max(largest, status.get("VmRSS", 0))
                except (OSError, psutil.Error):
                    pass
            self.tree_peak = max(self.tree_peak, total)
            self.timeline.append((round(time.time(), 1), largest))
            if self.trials is not None:
                for metrics in _snapshot(self.trials):
                    self.reports.setdefault(metrics.get("epoch"), metrics)
            self._stop.wait(0.5)

    def stop(self):
        self._stop.set()
        self._thread.join()


def _snapshot(trials: Path) -> list[dict]:
    """Metrics of the checkpoints Ray Train registered, oldest first."""
    for path in trials.glob("*/checkpoint_manager_snapshot.json"):
        try:
            return [r["metrics"] for r in json.loads(path.read_text())["checkpoint_results"]]
        except (OSError, ValueError, KeyError):
            return []
    return []


def _wait_for_memory(need: int, log) -> None:
    import psutil

    for _ in range(120):
        if psutil.virtual_memory().available >= need:
            return
        log(f"waiting: {psutil.virtual_memory().available / 2**30:.1f} GiB available, {need / 2**30:.1f} needed")
        time.sleep(30)
    raise SystemExit("not enough free memory on this machine for the run")


class TrainFailed(RuntimeError):
    """A `raymt train` process ended with an error (its output's tail is the message)."""


def phase_peaks(lines: list[dict]) -> list[dict]:
    """Per worker process (a restarted worker is a new one): its peak and the phase it was in,
    from the lines raymt.train.phase_memory wrote; each phase's largest peak, in GiB."""
    workers: dict[int, dict] = {}
    for line in lines:
        w = workers.setdefault(line["pid"], {"pid": line["pid"], "rank": line["rank"], "peak": 0, "phase": None, "phases": {}})
        name = line["phase"] + (f" {line['step']}" if line.get("step") is not None else "")
        for value, where in ((line["peak"], name), (line["peak_before"], f"before {name}")):
            if value > w["peak"] or (value == w["peak"] and ":" in where):  # a backward segment names the moment better
                w.update(peak=value, phase=where, rss_start=line["rss_start"], rss_end=line["rss_end"])
        w["phases"][line["phase"]] = max(w["phases"].get(line["phase"], 0), line["peak"])
    out = []
    first = {}
    for line in lines:
        first.setdefault(line["pid"], line["start"])
    for w in sorted(workers.values(), key=lambda w: (first[w["pid"]], w["rank"])):
        out.append(
            {
                "pid": w["pid"],
                "rank": w["rank"],
                "peak_gib": round(w["peak"] / 2**30, 3),
                "peak_phase": w["phase"],
                "phase_peaks_gib": {k: round(v / 2**30, 3) for k, v in w["phases"].items()},
            }
        )
    return out


def run_train(config_path: Path, trials: Path, *, kill_after: int | None, log, phases: Path | None = None) -> dict:
    """One `raymt train` process; SIGKILL a worker once ``kill_after`` checkpoints exist.
    ``phases``: the file its workers write their per-phase peaks to (raymt.train.phase_memory)."""
    from raymt.train.phase_memory import ENV as PHASES_ENV, read_phases

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if phases is not None:
        phases.unlink(missing_ok=True)
        env[PHASES_ENV] = str(phases)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "raymt.cli", "train", str(config_path)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    watch = Watch(proc.pid, trials)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    killed = None
    try:
        if kill_after is not None:
            while proc.poll() is None and len(_snapshot(trials)) < kill_after:
                time.sleep(0.5)
            time.sleep(3.0)  # into the next epoch's training steps
            pids = watch.worker_pids()
            if proc.poll() is None and pids:
                killed = pids[-1]
                os.kill(killed, signal.SIGKILL)
                log(f"killed worker {killed} at {time.perf_counter() - t0:.0f}s")
        proc.wait(timeout=7200)
    finally:
        watch.stop()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    reader.join(timeout=10)
    wall = time.perf_counter() - t0
    text = "".join(lines)
    if proc.returncode != 0:
        raise TrainFailed(f"raymt train failed ({proc.returncode}):\n{text[-4000:]}")
    checkpoint = next((line.split()[-1] for line in text.splitlines() if line.strip().startswith("checkpoint")), None)
    workers = phase_peaks(read_phases(phases)) if phases is not None else []
    return {
        "phases": workers,
        "wall_s": wall,
        "workers_peak": sorted(watch.workers.values(), reverse=True),
        "peak_at_unix": [watch.peak_at[pid] for pid in sorted(watch.workers, key=watch.workers.get, reverse=True)],
        "timeline": watch.timeline,
        "tree_peak": watch.tree_peak,
        "checkpoints": _snapshot(trials),
        "reports": watch.reports,
        "checkpoint": checkpoint,
        "killed_pid": killed,
        "output": text,
    }


def _folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _sha(path: Path) -> str:
    digest = hashlib.sha256()
    for f in sorted(path.rglob("*.safetensors")):
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 24), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


# --- one method ------------------------------------------------------------------------------------


def measure(method: str, base: Path, work: Path, args, log) -> dict:
    import shutil

    from raymt import api
    from raymt.train.phase_memory import read_phases
    from raymt.methods import get_method
    from transformers import AutoConfig

    raw = trial_config(method, base, work, args)
    cfg_path = work / f"{method}.yaml"
    cfg_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    plan = api.plan(cfg_path).branches[0]
    params = {k: v for k, v in raw["method"].items() if k != "name"}
    estimate = get_method(method).estimate_bytes(AutoConfig.from_pretrained(base), params)
    trials = work / "results" / raw["name"] / "trials"
    shutil.rmtree(trials, ignore_errors=True)
    _wait_for_memory(2 * plan.memory.peak + int(2.5 * 2**30), log)  # + the driver and Ray's own processes
    log(f"{method}: plan says {plan.memory.peak / 2**30:.2f} GiB per worker ({plan.memory.peak_phase}); running")
    a = run_train(cfg_path, trials, kill_after=None, log=log, phases=work / f"phases_{method}.jsonl")
    final = a["checkpoints"][-1]
    ckpt_dir = Path(a["checkpoint"])
    row = {
        "method": method,
        "strategy": raw["resources"]["strategy"],
        "steps": final["step"],
        "wall_s": round(a["wall_s"], 1),
        "plan_peak_gib": plan.memory.peak / 2**30,
        "plan_phase": plan.memory.peak_phase,
        "plan_phases_gib": {k: (v + plan.memory.baseline) / 2**30 for k, v in plan.memory.phases.items()},
        # each worker's own per-phase high-water marks (exact) or, without them, the sampled VmHWM
        "measured_peak_gib": sorted((w["peak_gib"] for w in a["phases"]), reverse=True) or [v / 2**30 for v in a["workers_peak"]],
        "peak_phase": [w["peak_phase"] for w in sorted(a["phases"], key=lambda w: -w["peak_gib"])],
        "workers": a["phases"],
        "tree_peak_gib": a["tree_peak"] / 2**30,
        "artifact_bytes": final["storage_bytes"],
        "artifact_estimate": estimate,
        "checkpoint_bytes": _folder_bytes(ckpt_dir),
        # every rank's share of each epoch's checkpoint, as written (a resumable one carries the trainer state)
        "checkpoint_bytes_by_epoch": {e: m.get("checkpoint_bytes") for e, m in sorted(a["reports"].items(), key=lambda kv: kv[0] or 0)},
        "checkpoint_parts_plan": dict(plan.checkpoint),
        "checkpoint_estimate": plan.checkpoint_bytes,
        "checkpoint_write_s": [round(m["checkpoint_write_s"], 2) for m in a["checkpoints"]],
        # each report carries the previous checkpoint's upload time (nan in the first); Ray keeps
        # num_to_keep (1) checkpoint in its snapshot, so this is the upload before the last
        "checkpoint_upload_s": [round(m["checkpoint_report_s"], 2) for m in a["checkpoints"] if m["checkpoint_report_s"] == m["checkpoint_report_s"]],
        "tokens_per_s": final["tokens_per_s"],
        "train_loss": final["train_loss"],
        "eval_loss": final["eval_loss"],
        "sha": _sha(ckpt_dir / "artifact"),
        # when each worker's peak was reached, from its start (compare with the epochs' times)
        "peak_at_s": [round(t - final.get("worker_started_unix", t), 1) for t in a["peak_at_unix"]],
        "epoch_times_s": {k: final.get(k) for k in ("setup_time_s", "first_step_s", "epoch_train_time_s", "epoch_eval_time_s", "checkpoint_write_s")},
        "rss_timeline": [(round(t - final.get("worker_started_unix", t), 1), round(v / 2**30, 3)) for t, v in a["timeline"]],
    }
    row["peak_error"] = max(row["measured_peak_gib"]) / row["plan_peak_gib"] - 1
    log(
        f"{method}: measured {', '.join(f'{v:.2f}' for v in row['measured_peak_gib'])} GiB per worker "
        f"(plan {row['plan_peak_gib']:.2f}, {row['peak_error']:+.1%}); artefact {row['artifact_bytes']} vs {estimate}"
    )
    if not args.no_kill:
        shutil.rmtree(trials, ignore_errors=True)
        try:
            b = run_train(cfg_path, trials, kill_after=args.epochs - 1, log=log, phases=work / f"phases_{method}_killed.jsonl")
        except TrainFailed as exc:  # e.g. Ray's memory monitor ending the restarted group: the unbroken row stands
            lines = str(exc).strip().splitlines()
            row["killed_error"] = next((x for x in lines if "memory" in x.lower()), lines[0]).strip()[:300]
            row["killed_workers"] = phase_peaks(read_phases(work / f"phases_{method}_killed.jsonl"))
            log(f"{method}: the killed-worker run failed: {row['killed_error']}")
        else:
            last = b["checkpoints"][-1]
            same = {k: last[k] == final[k] for k in ("train_loss", "eval_loss", "step", "storage_bytes")}
            same["artifact_sha256"] = _sha(Path(b["checkpoint"]) / "artifact") == row["sha"]
            row.update(
                killed_restarts=last["restarts"],
                restore_s=round(last["restore_s"], 2),
                resumed_equal=same,
                killed_wall_s=round(b["wall_s"], 1),
                killed_workers_peak_gib=[v / 2**30 for v in b["workers_peak"]],
                # the restarted workers' own phases: the restore among them
                killed_workers=b["phases"],
                restore_peak_gib=[w["phase_peaks_gib"].get("restore") for w in b["phases"] if "restore" in w["phase_peaks_gib"]],
            )
            log(f"{method}: killed a worker, restarts={last['restarts']}, restore {last['restore_s']:.1f}s, same result: {same}")
    shutil.rmtree(trials, ignore_errors=True)  # the next method needs the disk
    return row


def baseline(work: Path, args, log) -> dict:
    """Peak RSS of a worker whose model is negligible: python, torch, transformers, peft, Ray,
    gloo and the data loader. The plan's CPU_PROCESS_BASELINE comes from this run (a toy
    model), never from the mBART-large runs it is then compared with."""
    from raymt import api

    base = build_base(work, tiny=True, log=log)
    raw = trial_config("lora", base, work, args)
    raw["name"] = "real_scale_baseline"
    cfg_path = work / "baseline.yaml"
    cfg_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    plan = api.plan(cfg_path).branches[0]
    tensors = plan.memory.peak - plan.memory.baseline
    run = run_train(cfg_path, work / "results" / raw["name"] / "trials", kill_after=None, log=log)
    return {
        "workers_peak_mib": [v / 2**20 for v in run["workers_peak"]],
        "tensors_mib": tensors / 2**20,
        "baseline_mib": (max(run["workers_peak"]) - tensors) / 2**20,
    }


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["lora", "adapter", "full"], choices=["lora", "adapter", "full"])
    parser.add_argument("--work", type=Path, default=Path(os.environ.get("RAYMT_REAL_SCALE_DIR", "/tmp/raymt-real-scale")))
    parser.add_argument("--train-size", type=int, default=8, help="training pairs (2 workers x batch per step)")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--length", type=int, default=16, help="model.max_length: every sentence is cut to this")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--no-kill", action="store_true", help="skip the killed-worker run")
    parser.add_argument("--baseline", action="store_true", help="only measure the CPU per-process baseline")
    parser.add_argument("--toy", action="store_true", help="the same runs on a toy model of the same layout: a crash test in minutes")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    OUT.mkdir(parents=True, exist_ok=True)
    log = lambda m: print(f"[{time.strftime('%H:%M:%S')}] {m}", flush=True)  # noqa: E731
    result = {
        "command": "python -m benchmarks.real_scale " + " ".join(argv if argv is not None else sys.argv[1:]),
        "load_before": _load(),
        "cpus": os.cpu_count(),
    }
    if args.baseline:
        result["baseline"] = baseline(args.work, args, log)
        print(json.dumps(result, indent=1))
        return 0
    base = build_base(args.work, tiny=args.toy, log=log)
    # one file for every method measured so far: each method's row replaces its earlier one as
    # soon as it is measured (a later method that fails loses nothing)
    path = OUT / ("real_scale_toy.json" if args.toy else "real_scale.json")
    for method in args.methods:
        load_before = _load()
        row = measure(method, base, args.work, args, log)
        row.update(command=result["command"], load_before=load_before, load_after=_load())
        rows = [r for r in (json.loads(path.read_text()).get("rows", []) if path.exists() else []) if r["method"] != method]
        result.update(rows=rows + [row], load_after=_load())
        path.write_text(json.dumps(result, indent=1))
    print(f"\nmachine load (1/5/15 min) before: {result['load_before']}, after: {result['load_after']}\n")
    print(
        "| method | steps | peak RSS per worker (GiB, phase) | plan (GiB, phase) | error | artefact bytes = estimate | "
        "checkpoint (GB) vs plan | write / upload / restore (s) | killed worker: same result |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in result["rows"]:
        kill = "-" if "resumed_equal" not in r else ("yes" if all(r["resumed_equal"].values()) else f"NO {r['resumed_equal']}")
        if r.get("killed_restarts") == 0:  # the trial ended before the kill (a toy model is that fast)
            kill = "not exercised: the trial ended before the kill"
        if "killed_error" in r:
            kill = f"failed: {r['killed_error'][:80]}"
        print(
            f"| {r['method']} ({r['strategy']}) | {r['steps']} | {' / '.join(f'{v:.2f}' for v in r['measured_peak_gib'])} "
            f"({' / '.join(r.get('peak_phase') or ['?'])}) | "
            f"{r['plan_peak_gib']:.2f} ({r['plan_phase']}) | {r['peak_error']:+.1%} | "
            f"{r['artifact_bytes']:,} {'=' if r['artifact_bytes'] == r['artifact_estimate'] else '!='} {r['artifact_estimate']:,} | "
            f"{r['checkpoint_bytes'] / 1e9:.3f} vs {r['checkpoint_estimate'] / 1e9:.3f} | "
            f"{max(r['checkpoint_write_s']):.1f} / {max(r['checkpoint_upload_s'] or [float('nan')]):.1f} / "
            f"{r.get('restore_s', float('nan')):.1f} | {kill} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
