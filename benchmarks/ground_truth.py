"""The ground-truth table of raymt's own space: one row per configuration a grid search trained.

Issue 17 item 1. ``raymt search search_spaces/ground_truth.yaml`` trains every configuration of
a discretised space once (``search.sampler.kind: grid``); this script turns results folders of
such grids into one small CSV that samplers can be replayed on (``python -m benchmarks.sampler_replay``):

    python -m benchmarks.ground_truth RESULTS_DIR [RESULTS_DIR ...] [--out benchmarks/data/ground_truth_real_text.csv] [--append]

and runs the same grid again with another ``train.seed``, or only the LoRAs of one target set
(a part of the grid added to a table made before; the rest is not trained again), through
raymt's own search (:func:`raymt.search.run.run_search`, what ``raymt search`` runs, on the
space's YAML changed as :func:`part_config` says):

    python -m benchmarks.ground_truth search SPACE [--seed N] [--targets q_proj,v_proj|all-linear]
    python -m benchmarks.ground_truth show [CSV]      # the table as markdown (BENCHMARKS.md's)
    python -m benchmarks.ground_truth noise [CSV]     # seed-to-seed agreement of two seeds (:func:`seed_noise`)

Its results folder is ``<storage_path>/<name>_seed<N>`` / ``<name>_targets-<set>``; an
interrupted one continues with ``raymt search --resume DIR`` (its config copy is the part's YAML).

Columns: the configuration (``method``, ``train.lr``, ``lora.r``, ``lora.target_modules``
(``q_proj+v_proj`` / ``all-linear``: the space's label of the choice), ``adapter.size``; NaN where
a parameter does not apply), ``seed`` (``train.seed``), ``val_bleu_epoch<k>`` (validation BLEU
after each epoch, on the ``eval.max_samples`` first validation sentences), ``val_bleu_final``
(the last epoch's), ``val_bleu`` (the trial's result: the best epoch's, what the search
optimises), ``best_epoch``, ``test_bleu`` / ``test_chrf`` (the kept, best-epoch artefact
translating the whole test split once: never used by any choice), ``storage_bytes`` (the exact
bytes of the artefact folder a user keeps) and ``storage_mb`` (the search's objective),
``trainable_params``, ``wall_time_s`` (Tune's time of the trial: start-up, training, every
epoch's validation), ``train_time_s``, ``status`` and ``trial_id``.

Every completed trial is scored on the test split here (the search itself scores only its
front), through raymt's own held-out scoring (:func:`raymt.results.test_scores.score_on_test`);
the results folder's tables are not rewritten.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from raymt.results.columns import is_missing
from raymt.results.files import CONFIG_COPY, HISTORY_FILE, TRIALS_FILE
from raymt.results.test_scores import score_on_test
from raymt.search.space import _label

OUT_CSV = Path(__file__).resolve().parent / "data" / "ground_truth_real_text.csv"
PARAMS = ("method", "train.lr", "lora.r", "lora.target_modules", "adapter.size")
TARGETS = "lora.target_modules"


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _param(trial: pd.Series, name: str, raw: dict):
    """A parameter of the trial as the table writes it: a list-valued choice by its label; a
    parameter the space fixed (an empty column in the trials table) by its fixed value, on the
    branch it belongs to (``all-linear`` for the LoRAs of a space that did not search targets)."""
    value = trial.get(name)
    method, _, param = name.partition(".")
    if is_missing(value) and param and trial.get("method") == method:
        fixed = (((raw.get("search") or {}).get("space") or {}).get("methods") or {}).get(method, {}).get(param)
        value = None if isinstance(fixed, dict) else fixed
    if isinstance(value, (list, tuple, np.ndarray)):
        value = _label(list(value))
    return value


def ground_truth(results_dir: Path, *, test: bool = True, skip: set[str] = frozenset(), log=print) -> pd.DataFrame:
    """The table (see the module docstring) of the grid search in ``results_dir``, without the
    trials whose ids are in ``skip`` (already in the table: neither read nor scored again) and
    those a Ctrl-C cut short (``interrupted``: not results yet; ``--resume`` finishes them)."""
    trials = pd.read_parquet(results_dir / TRIALS_FILE)
    unfinished = trials["status"].isin(["interrupted", "running"])  # Ctrl-C: `raymt search --resume` finishes them
    trials = trials[~unfinished & ~trials["trial_id"].astype(str).isin(skip)].reset_index(drop=True)
    if not len(trials):
        return pd.DataFrame()
    history = pd.read_parquet(results_dir / HISTORY_FILE) if (results_dir / HISTORY_FILE).exists() else pd.DataFrame()
    raw = yaml.safe_load((results_dir / CONFIG_COPY).read_text())
    objectives = (raw.get("search") or {}).get("objectives") or {"bleu": "max", "storage_mb": "min"}
    seed = int((raw.get("train") or {}).get("seed", 0))
    if test:
        done = trials.loc[trials["status"] == "completed", "trial_id"].astype(str).tolist()
        trials = score_on_test(results_dir, trials, objectives, named=done, log=log).trials
    rows = []
    for _, t in trials.iterrows():
        row = {p: _param(t, p, raw) for p in PARAMS}
        row["seed"] = int(t["train.seed"]) if "train.seed" in t and pd.notna(t["train.seed"]) else seed
        curve = history[history["trial_id"].astype(str) == str(t["trial_id"])].sort_values("epoch") if len(history) else history
        for _, h in curve.iterrows():
            row[f"val_bleu_epoch{int(h['epoch'])}"] = float(h["bleu"])
        row["val_bleu_final"] = float(curve["bleu"].iloc[-1]) if len(curve) else float("nan")
        row["val_bleu"] = t.get("bleu")
        row["best_epoch"] = t.get("best_epoch")
        row["test_bleu"] = t.get("test_bleu")
        row["test_chrf"] = t.get("test_chrf")
        artefact = results_dir / str(t.get("artifact_path") or "")
        row["storage_bytes"] = folder_size(artefact) if t.get("artifact_path") and artefact.is_dir() else pd.NA
        row["storage_mb"] = t.get("storage_mb")
        row["trainable_params"] = t.get("trainable_params")
        row["wall_time_s"] = t.get("wall_time_s")
        row["train_time_s"] = t.get("train_time_s")
        row["status"] = t["status"]
        row["trial_id"] = t["trial_id"]
        rows.append(row)
    df = pd.DataFrame(rows)
    epochs = sorted(c for c in df.columns if c.startswith("val_bleu_epoch"))
    order = [*PARAMS, "seed", *epochs, "val_bleu_final", "val_bleu", "best_epoch", "test_bleu", "test_chrf"]
    order += ["storage_bytes", "storage_mb", "trainable_params", "wall_time_s", "train_time_s", "status", "trial_id"]
    return sort_table(df[order])


def sort_table(df: pd.DataFrame) -> pd.DataFrame:
    df = df.astype({"lora.r": "Int64", "adapter.size": "Int64", "seed": "Int64"})  # NaN where the method has none
    keys = ["method", "lora.r", TARGETS, "adapter.size", "train.lr", "seed"]
    return df.sort_values(keys, na_position="first", kind="mergesort").reset_index(drop=True)


def part_config(raw: dict, *, seed: int | None = None, targets: str | None = None) -> dict:
    """A ground-truth space (its raw YAML) made into one part of the grid: ``train.seed`` (the
    whole grid again, with another seed) and/or only the LoRAs of one target set (``q_proj,v_proj``
    or ``all-linear``: the other methods' blocks go), renamed so each part gets its own results folder."""
    raw = copy.deepcopy(raw)
    if seed is not None:
        raw.setdefault("train", {})["seed"] = int(seed)
        raw["name"] += f"_seed{seed}"
    if targets is not None:
        value = targets if targets == "all-linear" else [t.strip() for t in targets.split(",") if t.strip()]
        space = raw["search"]["space"]
        space["method"] = ["lora"]
        space["methods"] = {"lora": space["methods"]["lora"]}
        raw["search"]["sampler"]["grid"]["values"][TARGETS] = [value]
        raw["name"] += f"_targets-{_label(value).replace('+', '-')}"
    return raw


def search(space: Path, *, seed: int | None = None, targets: str | None = None) -> Path:
    """Run raymt's grid search of ``space`` made into :func:`part_config`; returns its results
    folder (whose config copy is the part's whole YAML: ``raymt search --resume`` continues it)."""
    from raymt.search.run import run_search

    raw = part_config(yaml.safe_load(space.read_text()), seed=seed, targets=targets)
    with tempfile.TemporaryDirectory(prefix="raymt_ground_truth_") as tmp:  # paths in it are relative to the working directory
        path = Path(tmp) / f"{raw['name']}.yaml"
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
        return run_search(path)


def config_name(row) -> str:
    """A configuration but its learning rate, as the summary names it (``LoRA r=8 all-linear``)."""
    if row["method"] == "lora":
        return f"LoRA r={int(row['lora.r'])} {row[TARGETS]}"
    return f"adapter {int(row['adapter.size'])}" if row["method"] == "adapter" else str(row["method"])


def summary(df: pd.DataFrame) -> str:
    """The table as markdown, one line per configuration but the learning rate: per learning rate
    the validation BLEU (the mean over seeds, then each seed's in seed order) and, in brackets,
    the test BLEU (mean over seeds); the exact storage in bytes."""
    done = df[df["status"] == "completed"]
    lrs = sorted(done["train.lr"].unique())
    lines = ["| configuration | " + " | ".join(f"lr {lr:g}" for lr in lrs) + " | storage (bytes) |", "|---" * (len(lrs) + 2) + "|"]
    configs = done.assign(_name=[config_name(r) for _, r in done.iterrows()])
    for label, g in configs.groupby("_name", sort=False):
        cells = []
        for lr in lrs:
            runs = g[g["train.lr"] == lr].sort_values("seed")
            if not len(runs):
                cells.append("-")
                continue
            val = f"{runs['val_bleu'].mean():.2f}"
            if len(runs) > 1:
                val += " [" + ", ".join(f"{v:.2f}" for v in runs["val_bleu"]) + "]"
            cells.append(f"{val} ({runs['test_bleu'].mean():.2f})")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {int(g['storage_bytes'].iloc[0]):,} |")
    return "\n".join(lines)


def seed_pairs(df: pd.DataFrame, seeds: tuple[int, int] = (0, 1)) -> pd.DataFrame:
    """One row per configuration completed at both ``seeds``: its name and learning rate, storage,
    and each seed's validation and test BLEU (``val_a`` / ``val_b``, ``test_a`` / ``test_b``)."""
    done = df[df["status"] == "completed"]
    keys = ["_name", "train.lr"]
    done = done.assign(_name=[config_name(r) for _, r in done.iterrows()])
    cols = ["val_bleu", "test_bleu"]
    a = done.loc[done["seed"] == seeds[0], [*keys, *cols, "storage_mb"]]
    b = done.loc[done["seed"] == seeds[1], [*keys, *cols]]
    both = a.merge(b, on=keys, how="inner", suffixes=("_a", "_b"), sort=False)
    both = both.rename(columns={"val_bleu_a": "val_a", "val_bleu_b": "val_b", "test_bleu_a": "test_a", "test_bleu_b": "test_b"})
    return both.rename(columns={"_name": "configuration"}).reset_index(drop=True)


def seed_fronts(df: pd.DataFrame, split: str = "val") -> dict[str, list[str]]:
    """The Pareto front (``<split>_bleu`` max, ``storage_mb`` min) of each seed and of the mean
    over seeds, as ``"configuration at lr"`` labels from the smallest to the largest storage; only
    configurations :func:`seed_pairs` holds with both seeds' ``split`` BLEU, so the fronts are drawn
    from the same candidates."""
    from raymt.analysis.pareto import pareto_mask

    pairs = seed_pairs(df).sort_values(["storage_mb", "configuration", "train.lr"], kind="mergesort")
    pairs = pairs[pairs[f"{split}_a"].notna() & pairs[f"{split}_b"].notna()].reset_index(drop=True)
    labels = pd.Series([f"{c} at lr {lr:g}" for c, lr in zip(pairs["configuration"], pairs["train.lr"])], dtype=object)
    objectives = {"bleu": "max", "storage_mb": "min"}
    fronts = {}
    for name, bleu in (("seed 0", pairs[f"{split}_a"]), ("seed 1", pairs[f"{split}_b"]), ("mean", (pairs[f"{split}_a"] + pairs[f"{split}_b"]) / 2)):
        points = pd.DataFrame({"bleu": bleu, "storage_mb": pairs["storage_mb"], "status": "completed"})
        fronts[name] = labels[pareto_mask(points, objectives).to_numpy()].tolist()
    return fronts


def seed_noise(df: pd.DataFrame) -> str:
    """How far seed 0 and seed 1 of one configuration are apart, as markdown: per split the
    Spearman rank correlation of the two seeds' BLEU over every configuration both completed (and
    over the PEFT configurations only: full fine-tuning's lead alone makes a high correlation), the
    mean and largest absolute gap (naming its configuration), and the pooled per-configuration
    standard deviation (sqrt of the mean squared gap / 2); then the validation and test fronts of
    each seed and of the mean, and which members they do not share. A trust figure: the front a
    one-seed search reports is worth what this gap allows."""
    from scipy.stats import spearmanr

    pairs = seed_pairs(df)
    if len(pairs) < 3:
        return f"{len(pairs)} configurations completed at both seeds 0 and 1: too few to compare"
    peft = pairs[pairs["configuration"] != "full"]
    lines = [
        f"{len(pairs)} configurations completed at seeds 0 and 1 ({len(peft)} PEFT)",
        "",
        "| split | configurations | Spearman (all) | Spearman (PEFT) | mean abs gap | largest gap | pooled sd |",
        "|---|---|---|---|---|---|---|",
    ]
    for split, name in (("val", "validation"), ("test", "test")):
        scored = pairs[pairs[f"{split}_a"].notna() & pairs[f"{split}_b"].notna()].reset_index(drop=True)  # test: both seeds scored
        if len(scored) < 3:
            lines.append(f"| {name} | {len(scored)} | - | - | - | - | - |")
            continue
        a, b, is_peft = scored[f"{split}_a"], scored[f"{split}_b"], scored["configuration"] != "full"
        gap = (a - b).abs()
        i = int(gap.to_numpy().argmax())
        worst = scored.iloc[i]
        rho_all = spearmanr(a, b).statistic
        rho_peft = spearmanr(a[is_peft], b[is_peft]).statistic if is_peft.sum() >= 3 else float("nan")
        where = f"{worst['configuration']} at lr {worst['train.lr']:g}: {a.iloc[i]:.2f} vs {b.iloc[i]:.2f}"
        pooled = float(np.sqrt(((a - b) ** 2).mean() / 2))
        lines.append(f"| {name} | {len(scored)} | {rho_all:.2f} | {rho_peft:.2f} | {gap.mean():.2f} | {gap.iloc[i]:.2f} ({where}) | {pooled:.2f} |")
    for split, name in (("val", "validation"), ("test", "test")):
        fronts = seed_fronts(df, split)
        lines += ["", f"{name} front (BLEU max, storage min):"]
        for who, members in fronts.items():
            lines.append(f"- {who} ({len(members)}): " + "; ".join(members))
        same = set(fronts["seed 0"]) == set(fronts["seed 1"])
        only = [f"only seed {k}: " + ("; ".join(m for m in fronts[f"seed {k}"] if m not in fronts[f"seed {1 - k}"]) or "-") for k in (0, 1)]
        lines.append("- the two seeds' fronts have " + ("the same members" if same else "different members: " + ", ".join(only)))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["show"]:  # the markdown summary of a table already made
        from benchmarks.sampler_replay import read_table

        print(summary(read_table(Path(argv[1]) if len(argv) > 1 else OUT_CSV)))
        return
    if argv[:1] == ["noise"]:  # how far two seeds of one configuration are apart
        from benchmarks.sampler_replay import read_table

        print(seed_noise(read_table(Path(argv[1]) if len(argv) > 1 else OUT_CSV)))
        return
    if argv[:1] == ["search"]:
        sp = argparse.ArgumentParser(prog="python -m benchmarks.ground_truth search", description="run a ground-truth grid (or a part of it)")
        sp.add_argument("space", type=Path, help="e.g. search_spaces/ground_truth.yaml")
        sp.add_argument("--seed", type=int, default=None, help="train.seed of every configuration (default: the space's)")
        sp.add_argument("--targets", default=None, help="only the LoRAs with this target set: q_proj,v_proj or all-linear")
        args = sp.parse_args(argv[1:])
        from raymt.errors import SearchInterrupted

        try:
            print(f"results: {search(args.space, seed=args.seed, targets=args.targets)}")
        except SearchInterrupted as err:  # Ctrl-C (or `timeout -s INT`): what the CLI says, and its exit code
            print(err, file=sys.stderr)
            raise SystemExit(130) from None
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "results_dirs", nargs="+", type=Path, help="results folders of ground-truth grids (`raymt search search_spaces/ground_truth.yaml`, its parts)"
    )
    ap.add_argument("--out", type=Path, default=OUT_CSV, help=f"CSV to write (default {OUT_CSV})")
    ap.add_argument("--no-test", action="store_true", help="skip scoring every trial on the test split")
    ap.add_argument("--append", action="store_true", help="keep the rows already in --out; read (and score) only trials not in it")
    args = ap.parse_args(argv)
    kept = pd.DataFrame()
    if args.append and args.out.exists():
        from benchmarks.sampler_replay import with_targets

        kept = with_targets(pd.read_csv(args.out))  # a table made before the target set was searched: all-linear
    skip = set(kept["trial_id"].astype(str)) if len(kept) else set()
    new = [ground_truth(d, test=not args.no_test, skip=skip) for d in args.results_dirs]
    df = sort_table(pd.concat([kept, *new], ignore_index=True))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, index=False, float_format="%.6g")
    shown = df.drop(columns=["trial_id"]).to_string(index=False, float_format=lambda v: f"{v:.4g}")
    print(shown)
    print(f"\n{len(df)} trials ({(df['status'] == 'completed').sum()} completed) -> {args.out}\n")
    print(summary(df))


if __name__ == "__main__":
    main()
