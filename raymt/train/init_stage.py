"""Where a trial's fine-tuning starts: the base as is, or a cached denoising warm start.

The staged recipe ("adapt first, then translate") trains the very module a trial fine-tunes
(its PEFT module with the trial's parameters, or the whole model for ``full``) on mBART's own
denoising objective over in-domain target-language text (Liu et al. 2020, mBART), then starts
MT fine-tuning from that module. Many trials share one stage: its output depends only on the
base, the method and its parameters, the stage settings and the text, so that tuple is the
cache key and the artefact lives under ``<storage_path>/.cache/init/<key>``, in the method's
own artefact format. A file lock makes the first trial that needs a key build it while any
other trial needing the same key waits and then reuses it (also across experiments, and across
nodes when storage_path is a shared filesystem with working locks).

The stage runs in the trial driver, before the trial's workers start (a GPU trial's stage runs
as a Ray task holding one worker's GPU: the driver has none).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from raymt.errors import ConfigError
from raymt.io import atomic_write_text
from raymt.object_store import exists, is_uri, join, localize, parent_uri, upload

INIT_DIR = "init"
ARTIFACT = "artifact"
META = "stage.json"
STAGE_FORMAT = 1  # bump when the stage's training changes, to invalidate old artefacts


@dataclass
class StageOutcome:
    """What a trial records about its init stage (``init_*`` columns of the results)."""

    stage: str
    key: str = ""
    artifact: str = ""
    build_s: float = 0.0  # seconds the stage took when it was built (the same for every trial sharing it)
    wait_s: float = 0.0  # seconds THIS trial spent on it: building, or waiting for the lock and reading
    built: bool = False  # True only for the trial that built it


# --- the text (resolved before Ray starts) ----------------------------------------------------


def prepare_init_text(cfg, splits, root: Path) -> str:
    """Write the stage's monolingual text once, content-keyed, and return its absolute path.

    Done with the rest of the experiment's data, before Ray starts: a missing file is a
    ConfigError now instead of a failed trial later, and trials (whose working directory Ray
    changes) read an absolute path.
    """
    dn = cfg.init.denoise
    if dn.text is not None:
        path = Path(dn.text).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"monolingual text file {str(path)!r} does not exist",
                where="init.denoise.text",
                fix="give a UTF-8 text file with one target-language sentence per line, or null for the target side of the training split",
            )
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as err:
            raise ConfigError(f"{str(path)!r} is not UTF-8 text (byte {err.start})", where="init.denoise.text", fix="save it as UTF-8") from None
    else:
        lines = [tgt for _, tgt in splits["train"]]
    lines = [line.strip() for line in lines if line.strip()][: dn.max_sentences]
    if not lines:
        raise ConfigError(
            "the monolingual text of the denoising stage is empty", where="init.denoise.text", fix="give a file with at least one non-empty line"
        )
    text = "\n".join(lines) + "\n"
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]
    dest = root / INIT_DIR / f"text-{digest}.txt"
    if not dest.exists():
        atomic_write_text(dest, text)
    return str(dest.resolve())


def read_init_text(path: str) -> list[str]:
    return Path(path).read_text(encoding="utf-8").splitlines()


# --- the cache ------------------------------------------------------------------------------


def stage_key(cfg, base_path: str, text_path: str) -> str:
    """Everything the stage's output depends on. The text file's name is its content hash;
    the trial's MT settings (epochs, lr, augmentation, ...) are deliberately absent."""
    parts = {
        "format": STAGE_FORMAT,
        "base": str(base_path),
        "method": cfg.method.name,
        "params": cfg.method.params.model_dump(mode="json"),
        "stage": cfg.init.stage,
        "settings": cfg.init.denoise.model_dump(mode="json", exclude={"text", "max_sentences"}),
        "text": Path(text_path).name,
        "langs": cfg.model.tgt_lang,
        "max_length": cfg.model.max_length,
        # the stage trains with this many intra-op threads, which changes its float sums
        # (raymt.model.pretrain): a different count is a different artefact
        "threads": stage_threads(cfg),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:24]


def stage_threads(cfg) -> int:
    """The stage runs in the trial driver before the trial's workers start, on the CPUs one of
    them reserves: ``resources.cpus_per_worker`` (rounded), exactly, whatever the node has."""
    return max(1, int(round(cfg.resources.cpus_per_worker)))


def ensure_init_stage(cfg, prepared, *, run_build=None, log=print) -> StageOutcome:
    """The trial's starting point: built on first use, then reused by every trial with the key.

    ``run_build(fn, *args)`` runs the build (default :func:`_run_build`: in this process, or
    a GPU task for GPU trials). Only the process holding the lock builds; the others
    wait for it and read the finished artefact.
    """
    from filelock import FileLock

    if cfg.init.stage == "none":
        return StageOutcome(stage="none")
    if not getattr(prepared, "init_text", ""):
        raise ConfigError(
            "the experiment was prepared without the stage's text",
            where="init.stage",
            fix="prepare the experiment with raymt.train.prepare.prepare_experiment",
        )
    t0 = time.perf_counter()
    key = stage_key(cfg, prepared.base_path, prepared.init_text)
    # object-store storage: build in this node's staging copy, fetch what another node built,
    # publish what this one built; the lock below is per node, so two nodes may both build
    # the same key (same content: the last upload wins)
    remote = join(parent_uri(prepared.init_text), key) if is_uri(prepared.init_text) else None
    folder = Path(localize(prepared.init_text)).parent / key
    meta_path = folder / META
    built = False
    with FileLock(str(folder) + ".lock"):
        if remote and not meta_path.exists() and exists(join(remote, META)):
            localize(remote)
        if not meta_path.exists():
            log(f"init stage {cfg.init.stage}: building {folder}")
            tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=folder.parent))
            try:
                run = run_build or _run_build
                seconds = run(build_stage, cfg, localize(prepared.base_path), localize(prepared.init_text), str(tmp / ARTIFACT))
                atomic_write_text(
                    tmp / META, json.dumps({"key": key, "build_s": seconds, "stage": cfg.init.stage, "method": cfg.method.name}, indent=1)
                )
                shutil.rmtree(folder, ignore_errors=True)  # a half-written folder of a killed builder
                tmp.rename(folder)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            if remote:  # the artefact first, the meta file last: a reader trusts the meta file
                upload(folder / ARTIFACT, join(remote, ARTIFACT))
                upload(meta_path, join(remote, META))
            built = True
    meta = json.loads(meta_path.read_text())
    artifact = join(remote, ARTIFACT) if remote else str(folder / ARTIFACT)
    return StageOutcome(
        stage=cfg.init.stage, key=key, artifact=artifact, build_s=float(meta["build_s"]), wait_s=time.perf_counter() - t0, built=built
    )


def build_stage(cfg, base_path: str, text_path: str, dest: str) -> float:
    """Train the stage and save the method's artefact to ``dest``; returns its seconds.
    ``cfg`` is the trial's validated config (it crosses into a GPU task pickled, as is)."""
    from raymt.model.pretrain import torch_threads
    from raymt.train.denoise import train_denoise

    t0 = time.perf_counter()
    with torch_threads(stage_threads(cfg)):  # fixed: the bytes depend on the thread count
        train_denoise(cfg, base_path, read_init_text(text_path), Path(dest))
    return time.perf_counter() - t0


def _run_build(fn, cfg, *args):
    """CPU trials build in this process (the trial driver, before its workers exist); GPU
    trials in a Ray task that holds one worker's GPU, outside the Tune trial's placement group
    (which holds only the driver's CPU share).

    Why not always a task: a CPU task queues with no timeout until Ray has freed the previous
    trial's worker placement group, and that cleanup is asynchronous (when it failed, see
    raymt/runtime.py, a stage task waited 15 minutes). The driver needs nothing new from the scheduler.
    """
    import ray

    res = cfg.resources
    if not (res.use_gpu and ray.is_initialized()):
        return fn(cfg, *args)
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    task = ray.remote(num_cpus=0, num_gpus=res.gpus_per_worker, max_retries=0)(fn)
    outside = PlacementGroupSchedulingStrategy(placement_group=None)
    return ray.get(task.options(scheduling_strategy=outside).remote(cfg, *args))


def outcome_metrics(outcome: dict) -> dict:
    """The ``init_*`` result columns of a trial (plain values: they go through Tune)."""
    return {f"init_{k}": v for k, v in outcome.items() if k != "artifact"}


def as_loop_config(outcome: StageOutcome) -> dict:
    return asdict(outcome)
