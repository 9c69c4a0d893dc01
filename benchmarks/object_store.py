"""What an object-store storage_path costs: the same search on a local folder and on S3.

    python -m benchmarks.object_store [--samples 4]

The S3 side is a local S3 protocol server (moto, from the test extras), so the figures are the
cost of raymt's and Ray's own work around the store (listing, staging, uploads, downloads,
Tune syncing its state) with no network latency or bandwidth limit: a real bucket adds those.
Both searches use the same space (the default space, early stopping off so every trial trains
the same epochs) and start from the same prebuilt tiny base; the S3 one starts from an empty
bucket, so it also uploads the data cache once.

Then, on a "fresh machine" (an empty staging folder, nothing but the URI): `raymt report`,
`raymt export --knee` and `raymt search --resume` of the finished search, each timed.

Raw numbers: benchmarks/out/object_store/object_store.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "object_store"
sys.path.insert(0, str(ROOT / "tests"))
from s3_server import start_s3_server, stop_s3_server  # noqa: E402


def space(path: Path, storage: str, samples: int) -> Path:
    raw = yaml.safe_load((ROOT / "search_spaces" / "default.yaml").read_text())
    raw.update(name="bench", storage_path=storage)
    raw["search"].update(num_samples=samples, scheduler={"kind": "none"})
    path.write_text(yaml.safe_dump(raw))
    return path


def raymt(args: list[str], env: dict, cwd: Path) -> float:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "raymt.cli", *args], env=env, cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"raymt {' '.join(args)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return time.perf_counter() - t0


def bucket_size(uri: str) -> tuple[int, int]:
    from pyarrow import fs as pafs

    from raymt.object_store import filesystem

    fs, root = filesystem(uri)
    files = [e for e in fs.get_file_info(pafs.FileSelector(root, recursive=True)) if e.type == pafs.FileType.File]
    return len(files), sum(e.size for e in files)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--cache", type=Path, default=None, help="a folder holding a built tiny base (models/tiny-*): not rebuilt")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="raymt-objstore-"))
    endpoint, server = start_s3_server(work / "moto.log")
    try:
        import boto3

        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": endpoint,
            "RAYMT_STAGING_DIR": str(work / "staging"),
        }
        os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})  # this process reads the bucket too
        boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="bench", aws_secret_access_key="bench", region_name="us-east-1").create_bucket(
            Bucket="bench"
        )
        # one tiny base for both runs, built once (not part of either figure)
        cache = work / "local" / ".cache"
        cache.parent.mkdir(parents=True)
        if args.cache is not None:
            for model in args.cache.glob("models/tiny-*"):
                if not model.name.startswith("tiny-reverse"):
                    (cache / "models").mkdir(parents=True, exist_ok=True)
                    (cache / "models" / model.name).symlink_to(model.resolve(), target_is_directory=True)
        subprocess.run(
            [
                sys.executable,
                "-c",
                f"from raymt.model.tiny import TinyModelSpec, build_tiny_base; build_tiny_base(TinyModelSpec(), {str(cache)!r}, log=print)",
            ],
            env=env,
            check=True,
        )
        uri = "s3://bench/runs"
        staging = Path(env["RAYMT_STAGING_DIR"]).joinpath("s3", "bench", "runs")  # raymt.object_store.staging_path
        staged = staging / ".cache"
        # the same prebuilt base only: the corpus and pools are built (and, on S3, uploaded) by the run
        (staged / "models").mkdir(parents=True)
        for model in (cache / "models").iterdir():
            (staged / "models" / model.name).symlink_to(model, target_is_directory=True)

        rows: dict[str, dict] = {}
        for kind, storage in (("local folder", str(work / "local")), ("S3 (local moto server)", uri)):
            wall = raymt(["search", str(space(work / f"{kind[:5]}.yaml", storage, args.samples))], env, work)
            results = staging / "bench" if storage == uri else Path(storage, "bench")
            timings = json.loads((results / "timings.json").read_text())
            rows[kind] = {
                "wall_s": wall,
                "tune_fit_s": timings["tune_fit_s"],
                "prepare_s": timings["prepare_s"],
                "cache_sync_s": timings.get("prepare_storage_sync_s", 0.0),
                "per_trial_s": timings["tune_fit_s"] / args.samples,
            }
        files, size = bucket_size(uri)
        fresh = {**env, "RAYMT_STAGING_DIR": str(work / "fresh")}
        exp = f"{uri}/bench"
        ops = {
            "report": raymt(["report", exp], fresh, work),
            "export --knee": raymt(["export", exp, "--knee", "--to", str(work / "exported")], fresh, work),
            "search --resume (finished)": raymt(["search", "--resume", exp], fresh, work),
        }
    finally:
        stop_s3_server(server)

    (OUT / "object_store.json").write_text(
        json.dumps({"rows": rows, "bucket_files": files, "bucket_bytes": size, "fresh_machine_s": ops, "samples": args.samples}, indent=1)
    )
    print(f"\n{args.samples} trials of the default space (early stopping off), same base; figures in seconds\n")
    print(f"| | {' | '.join(rows)} |\n|---|{'---|' * len(rows)}")
    for key, label in (
        ("wall_s", "`raymt search` wall time"),
        ("prepare_s", "data preparation"),
        ("cache_sync_s", "  of which cache sync with the store"),
        ("tune_fit_s", "Tune fit()"),
        ("per_trial_s", "Tune fit() per trial"),
    ):
        print(f"| {label} | {' | '.join(f'{r[key]:.1f}' for r in rows.values())} |")
    print(f"\nbucket after the search: {files} objects, {size / 1e6:.1f} MB")
    print("fresh machine (empty staging folder, only the URI): " + ", ".join(f"raymt {k} {v:.1f} s" for k, v in ops.items()))


if __name__ == "__main__":
    main()
