"""Syne Tune's MOASHA on the learning-curve replay of ``benchmarks.lc_replay``: the same runs,
orders, rungs, objectives and measures, another library's multi-objective ASHA.

    python -m benchmarks.lc_replay_syne [--seeds 5] [--grace 3] [--rf 3]

Needs ``syne-tune`` (not a raymt dependency): it installs beside raymt's pinned stack without
changing any of its versions (checked with ``pip install --dry-run syne-tune``: syne-tune 0.16.0
adds scikit-learn, statsmodels, xgboost and small packages, and changes no installed one), so try
it in a throwaway environment that sees raymt's, e.g.::

    python3 -m venv /tmp/st && echo "$PWD/.venv/lib/python3.11/site-packages" > /tmp/st/lib/python3.11/site-packages/raymt.pth
    /tmp/st/bin/pip install --no-deps syne-tune scikit-learn joblib threadpoolctl statsmodels patsy formulaic interface_meta narwhals
    PYTHONPATH=. /tmp/st/bin/python -m benchmarks.lc_replay_syne

How: ``syne_tune.optimizer.schedulers.multiobjective.moasha.MOASHA`` (Salinas et al., 2021;
non-dominated sorting at each rung), metrics (-best BLEU so far, exact adapter MB), both
minimised, ``grace_period`` and ``reduction_factor`` as lc_replay's (3, 3), ``max_t`` the
pair's longest curve, one bracket. Trials run one at a time in each seed's shuffled order
(lc_replay's ``random.Random(seed).shuffle``, its default ``--concurrency 1``): each recorded
run is fed to ``on_trial_result`` checkpoint by checkpoint until MOASHA says STOP or the curve
ends. A trial stopped before its curve's end is early-stopped (out of the front), as in
lc_replay. The measures are lc_replay's own ``summarise`` and ``format_table``.

Two rows: MOASHA as shipped, and MOASHA with its priority read as ranks. In syne-tune 0.16.0
``NonDominatedPriority`` returns ``nondominated_sort``'s ORDER (the indices of the trials, best
first), but the rung (``asha.Bracket.on_result``) reads what it gets as one priority PER TRIAL
(``np.searchsorted(sorted(p), p)``), so the newcomer's "rank" is the index of whichever trial
sorted last, not its own place: a trial on the front can be stopped and a dominated one
promoted. ``OrderAsRanks`` turns the order into each trial's position (the inverse
permutation), which is what the rung expects; everything else is unchanged.
"""

from __future__ import annotations

import argparse
import datetime
import random
import sys
from pathlib import Path

import pandas as pd

from benchmarks.lc_replay import OUT_DIR, front_ids, load_runs, summarise, trial_row


def order_as_ranks():
    """``NonDominatedPriority`` whose output is each trial's place in the non-dominated order."""
    import numpy as np
    from syne_tune.optimizer.schedulers.multiobjective.multiobjective_priority import NonDominatedPriority

    class OrderAsRanks(NonDominatedPriority):
        def priority_unsafe(self, objectives):
            order = super().priority_unsafe(objectives)
            ranks = np.empty(len(order), dtype=float)
            ranks[order] = np.arange(len(order))
            return ranks

    return OrderAsRanks()


def replay_moasha(runs, seed: int, grace: float, rf: float, *, as_ranks: bool) -> pd.DataFrame:
    from syne_tune.backend.trial_status import Trial
    from syne_tune.optimizer.scheduler import SchedulerDecision
    from syne_tune.optimizer.schedulers.multiobjective.moasha import MOASHA

    order = list(runs)
    random.Random(seed).shuffle(order)
    scheduler = MOASHA(
        config_space={},
        metrics=["neg_bleu_best", "storage_mb"],
        do_minimize=True,
        time_attr="training_iteration",
        max_t=max(len(r.curve) for r in runs),
        grace_period=grace,
        reduction_factor=rf,
        random_seed=seed,
        multiobjective_priority=order_as_ranks() if as_ranks else None,
    )
    rows = []
    for trial_id, run in enumerate(order):
        trial = Trial(trial_id=trial_id, config={"run_id": run.run_id}, creation_time=datetime.datetime.now())
        scheduler.on_trial_add(trial)
        best, done, stopped = float("-inf"), 0, False
        for it, bleu in enumerate(run.curve, 1):
            best, done = max(best, bleu), it
            action = scheduler.on_trial_result(trial, {"training_iteration": it, "neg_bleu_best": -best, "storage_mb": run.storage_mb})
            if action == SchedulerDecision.STOP:
                stopped = it < len(run.curve)
                break
        rows.append(trial_row(run, done, best, stopped))
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--grace", type=float, default=3.0)
    ap.add_argument("--rf", type=float, default=3.0)
    ap.add_argument("--out", type=Path, default=OUT_DIR / "lc_replay_syne.csv")
    args = ap.parse_args(argv)
    import syne_tune

    from benchmarks.lc_replay import format_table

    runs = load_runs()
    summary = []
    for group in sorted({r.group for r in runs}):
        members = [r for r in runs if r.group == group]
        full = pd.DataFrame(
            {"run_id": [r.run_id for r in members], "bleu": [r.best_bleu for r in members], "storage_mb": [r.storage_mb for r in members]}
        )
        baseline_front = front_ids(full)
        for as_ranks, label in ((False, f"MOASHA {syne_tune.__version__}"), (True, "MOASHA, ranks")):
            for seed in range(args.seeds):
                trials = replay_moasha(members, seed, args.grace, args.rf, as_ranks=as_ranks)
                row = dict(group=group, scheduler=label, seed=seed, **summarise(trials, members, baseline_front))
                summary.append(row)
                print(f"{group} {label} seed {seed}: saved {row['compute_saved']:.1%}, HV(log) kept {row['hv_log_frac']:.2%}", flush=True)
    df = pd.DataFrame(summary)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, index=False)
    print("\n" + format_table(df))
    return 0


if __name__ == "__main__":
    sys.exit(main())
