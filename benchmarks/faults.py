"""The fault table: a fault injected, what the user sees, what was lost, and the time to recover.

Run: ``python -m benchmarks.faults`` (about 10 minutes on 2 cores; ``--only worker driver``
to pick scenarios). Every fault is injected for real, into the processes a user runs:

- ``worker``: SIGKILL one of the two Ray Train workers of a LoRA trial (4 epochs) just after its
  first checkpoint; the same trial also runs without the fault (after an untimed 1-epoch warm-up
  trial). Time to recover = the extra wall time of the faulty run; lost = epochs trained twice.
- ``driver``: SIGKILL the ``raymt search`` process group (driver and its local Ray) after its
  first trial finished, then ``raymt search --resume DIR``. Lost = trials finished before the
  kill that are missing or whose metrics changed; rerun = such trials trained again.
- ``trial``: one search holding a trial that raises inside its workers (prompt tuning with 110
  virtual tokens on a 128-position model) and one whose loss becomes NaN (AdamW writes NaN
  weights for a peak lr >= 9e-3, injected by tests/reliability/diverge_site/sitecustomize.py),
  and a healthy trial, one at a time: the healthy trial can only run once the broken ones'
  resources are freed. Nothing to recover (0 s); the search's wall time is shown.
- ``write``: SIGKILL a process in the middle of rewriting trials.parquet; the previous table
  must still load.

Writes benchmarks/out/faults.json and prints a Markdown table last.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
DIVERGE_SITE = ROOT / "tests" / "reliability" / "diverge_site"


def _default_space(name: str, out: Path, cache: Path, **search) -> Path:
    raw = yaml.safe_load((ROOT / "search_spaces" / "default.yaml").read_text())
    raw.update(name=name, storage_path=str(out))
    raw["data"].update(train_size=400, valid_size=40, test_size=40)
    raw["eval"]["max_samples"] = 40
    raw["train"]["epochs"] = 1
    raw["search"].update(scheduler={"kind": "none"}, **search)
    link = out / ".cache"
    if not link.exists():
        link.symlink_to(cache, target_is_directory=True)
    path = out / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _finished(results: Path) -> dict[str, dict]:
    done = {}
    for result_json in (results / "tune").glob("*/result.json"):
        lines = [json.loads(line) for line in result_json.read_text().splitlines() if line.strip()]
        if any(line.get("finished") for line in lines):  # the worker's last report
            done[lines[-1]["trial_id"]] = {"bleu": lines[-1]["bleu"], "reports": len(lines)}
    return done


# --------------------------------------------------------------------------- worker death
def worker_fault(out: Path, cache: Path) -> dict:
    import ray

    from raymt.config.load import validate_config
    from raymt.runtime import init_ray
    from raymt.train.prepare import prepare_experiment
    from raymt.train.trial import run_trial

    (out / ".cache").symlink_to(cache, target_is_directory=True)
    cfg = validate_config(
        {
            "name": "worker",
            "storage_path": str(out),
            "data": {"source": "synthetic", "domain": "medical", "train_size": 3000, "valid_size": 40, "test_size": 40, "lexicon_size": 20},
            "train": {"epochs": 4, "batch_size": 16},
            "eval": {"max_samples": 40},
            "method": {"name": "lora"},
            "resources": {"num_workers": 2, "cpus_per_worker": 0.9, "max_failures": 2},
        },
        "benchmark",
    )
    prepared = prepare_experiment(cfg, log=lambda m: None)
    init_ray(num_cpus=2, log=lambda m: None)
    try:
        run_trial(cfg.model_copy(update={"train": cfg.train.model_copy(update={"epochs": 1})}), prepared, name="warmup")
        t0 = time.perf_counter()
        run_trial(cfg, prepared, name="baseline")
        baseline = time.perf_counter() - t0

        box: dict = {}
        t0 = time.perf_counter()
        runner = threading.Thread(target=lambda: box.update(result=run_trial(cfg, prepared, name="faulty")), daemon=True)
        runner.start()
        snapshot = out / "worker" / "trials" / "faulty" / "checkpoint_manager_snapshot.json"
        while runner.is_alive() and not _snapshot_has_checkpoint(snapshot):
            time.sleep(0.2)
        from ray.util.state import list_actors

        victim = [a.pid for a in list_actors(filters=[("state", "=", "ALIVE")]) if "RayTrainWorker" in a.class_name][0]
        t_kill = time.perf_counter()
        os.kill(victim, signal.SIGKILL)
        runner.join()
        faulty = time.perf_counter() - t0
    finally:
        ray.shutdown()
    metrics, checkpoint = box["result"]
    epochs = [h["epoch"] for h in json.loads((Path(checkpoint) / "state.json").read_text())["history"]]
    return {
        "fault": "SIGKILL one of 2 Ray Train workers mid-trial (after epoch 1's checkpoint)",
        "user_sees": f"the trial restarts its workers from the last checkpoint (restarts={metrics['restarts']}) and finishes",
        "lost": f"{len(epochs) - len(set(epochs))} epochs trained twice (history {epochs})",
        "recover_s": round(faulty - baseline, 1),
        "detail": {"baseline_s": baseline, "faulty_s": faulty, "finished_after_kill_s": time.perf_counter() - t_kill},
    }


def _snapshot_has_checkpoint(path: Path) -> bool:
    try:
        return bool(json.loads(path.read_text())["checkpoint_results"])
    except (OSError, ValueError, KeyError):
        return False


# --------------------------------------------------------------------------- driver death
def driver_fault(out: Path, cache: Path) -> dict:
    space = _default_space("driver", out, cache, num_samples=4)
    results = out / "driver"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "raymt.cli", "search", str(space)],
        cwd=out,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        while not _finished(results):
            if proc.poll() is not None:
                raise SystemExit("the search ended before the first trial finished")
            time.sleep(1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = _finished(results)
    t0 = time.perf_counter()
    resumed = subprocess.run(
        [sys.executable, "-m", "raymt.cli", "search", "--resume", str(results)], cwd=out, env=env, capture_output=True, text=True
    )
    resume_s = time.perf_counter() - t0
    if resumed.returncode != 0:
        raise SystemExit(f"resume failed:\n{resumed.stderr[-2000:]}")
    df = pd.read_parquet(results / "trials.parquet")
    after = _finished(results)
    lost = [
        t for t, v in before.items() if (df["trial_id"] == t).sum() != 1 or abs(float(df.loc[df["trial_id"] == t, "bleu"].iloc[0]) - v["bleu"]) > 1e-9
    ]
    rerun = [t for t, v in before.items() if after.get(t, {}).get("reports") != v["reports"]]
    return {
        "fault": f"SIGKILL the `raymt search` driver (and its local Ray) after {len(before)} of 4 trials finished",
        "user_sees": f"`raymt search --resume DIR` finishes the search: {len(df)} trials, each once",
        "lost": f"{len(lost)} finished trials lost or changed, {len(rerun)} rerun",
        "recover_s": round(resume_s, 1),
        "detail": {"finished_before_kill": len(before), "trials_after_resume": len(df), "resume_wall_s": resume_s},
    }


# --------------------------------------------------------------------------- broken trials
def trial_faults(out: Path, cache: Path) -> list[dict]:
    space = _default_space(
        "trials",
        out,
        cache,
        num_samples=3,
        points_to_evaluate=[
            {"method": "prompt", "train.lr": 5e-3, "train.warmup_ratio": 0.1, "prompt.num_virtual_tokens": 110},
            {"method": "lora", "train.lr": 9.5e-3, "train.warmup_ratio": 0.1, "lora.r": 2},
            {"method": "lora", "train.lr": 2e-3, "train.warmup_ratio": 0.1, "lora.r": 4},
        ],
        space={
            "method": ["lora", "prompt"],
            "common": {"train.lr": {"log_uniform": [1e-3, 1e-2]}, "train.warmup_ratio": 0.1},
            "methods": {"lora": {"r": {"choices": [2, 4]}}, "prompt": {"num_virtual_tokens": {"choices": [10, 110]}}},
        },
    )
    raw = yaml.safe_load(space.read_text())
    raw["resources"]["max_failures"] = 0
    space.write_text(yaml.safe_dump(raw))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(DIVERGE_SITE), str(ROOT)]), "RAYMT_TEST_DIVERGE_AT_LR": "9e-3"}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "raymt.cli", "search", str(space)], cwd=out, env=env, capture_output=True, text=True)
    search_s = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"search failed:\n{proc.stderr[-2000:]}")
    df = pd.read_parquet(out / "trials" / "trials.parquet")
    rows = []
    for kind, mask in (("raises", df["error"].str.contains("index out of range", na=False)), ("nan", df["error"].str.contains("diverged", na=False))):
        for r in df[mask].itertuples():
            fault = (
                "a trial raises inside its Train workers (prompt tuning, 110 virtual tokens for 128 positions)"
                if kind == "raises"
                else "a trial's loss becomes NaN (lr 9.5e-3; NaN weights injected after each AdamW step)"
            )
            rows.append(
                {
                    "fault": fault,
                    "user_sees": f"status `{r.status}`, error `{str(r.error).replace('raymt.train.trial.', '')[:90]}`; "
                    f"{int((df['status'] == 'completed').sum())} other trial(s) completed in the same search "
                    f"({len(df)} trials, one at a time, {search_s:.0f} s); front excludes it",
                    "lost": "nothing (the broken trial's own result is recorded, not a model)",
                    "recover_s": 0.0,  # nothing to recover: the next trial simply runs
                    "detail": {"trial_id": r.trial_id, "search_s": search_s},
                }
            )
    return rows


# --------------------------------------------------------------------------- writes
def write_fault(out: Path) -> dict:
    script = textwrap.dedent(
        f"""
        import os, signal
        import pandas as pd
        from raymt.io import atomic_to_parquet
        df = pd.DataFrame({{"trial_id": ["t0"], "bleu": [1.0]}})
        atomic_to_parquet(df, {str(out / "trials.parquet")!r})
        def half_then_die(self, path, *a, **k):
            open(path, "wb").write(b"PAR1 half")
            os.kill(os.getpid(), signal.SIGKILL)
        pd.DataFrame.to_parquet = half_then_die
        atomic_to_parquet(df.assign(bleu=2.0), {str(out / "trials.parquet")!r})
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT)
    kept = pd.read_parquet(out / "trials.parquet")["bleu"].tolist()
    return {
        "fault": "SIGKILL while rewriting trials.parquet",
        "user_sees": f"the previous table loads (bleu {kept}); writer exit {proc.returncode}",
        "lost": "nothing: the new version was not committed (temp file + rename); the next write sweeps the temp file",
        "recover_s": 0.0,
        "detail": {},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "raymt-bench-cache",
        help="where the tiny base and tokenised data are built or reused",
    )
    parser.add_argument("--only", nargs="+", choices=["worker", "driver", "trial", "write"], default=["worker", "driver", "trial", "write"])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    args = parser.parse_args(argv)
    from raymt.model.tiny import TinyModelSpec, build_tiny_base

    args.cache.mkdir(parents=True, exist_ok=True)
    build_tiny_base(TinyModelSpec(), args.cache, log=lambda m: None)
    rows = []
    with tempfile.TemporaryDirectory(prefix="raymt-faults-") as tmp:
        for name in args.only:
            folder = Path(tmp) / name
            folder.mkdir()
            t0 = time.perf_counter()
            if name == "worker":
                rows.append(worker_fault(folder, args.cache))
            elif name == "driver":
                rows.append(driver_fault(folder, args.cache))
            elif name == "trial":
                rows.extend(trial_faults(folder, args.cache))
            else:
                rows.append(write_fault(folder))
            print(f"[{name}] done in {time.perf_counter() - t0:.0f} s", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "faults.json").write_text(json.dumps(rows, indent=1, default=str))
    print("\n| fault injected | what the user sees | what was lost | time to recover (s) |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['fault']} | {r['user_sees']} | {r['lost']} | {r['recover_s']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
