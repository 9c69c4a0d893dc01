"""The NMT-HPO sampler benchmark measures without leaking.

- The prior for a target never holds a table of the target's corpus, in either direction (the
  reverse pair is derived from the pair's name here, not from the benchmark's own map), for
  every table the benchmark can run and both hold-out modes; checked on the names and, where
  ../shared is present, on the data itself.
- Constants are never tuned on a reported table: the splits partition the six tables, and the
  tuning script never even loads a report table.
- The "raymt" rows run raymt's real sampler: with the shipped constants the benchmark's
  sampler proposes exactly what ``make_sampler(kind="raymt")`` proposes, and each knob the
  tuning script turns reaches the sampler.
- The smoke run goes through both engines (a plain Optuna loop and raymt's real Tuner +
  OptunaSearch path) and writes its raw numbers.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # the benchmarks package lives beside raymt/, not inside it

from benchmarks import nmt_hpo_constants as nc  # noqa: E402
from benchmarks import nmt_hpo_search as nb  # noqa: E402
from benchmarks import nmt_hpo_tune as nt  # noqa: E402
from raymt.search.sampler.options import SamplerConfig  # noqa: E402
from raymt.search.sampler.registry import make_sampler  # noqa: E402

DATA = nb.DATA_DIR
needs_tables = pytest.mark.skipif(not DATA.is_dir(), reason=f"the Zhang & Duh tables are not at {DATA} (../shared absent)")


def reverse(pair: str) -> str:
    src, tgt = pair.split("-")
    return f"{tgt}-{src}"


# ------------------------------------------------------------------ leave-one-corpus-out
@pytest.mark.parametrize("holdout", sorted(nb.HOLDOUTS))
@pytest.mark.parametrize("target", nb.PAIRS)
def test_prior_never_names_the_target_corpus(target, holdout):
    prior = nb.prior_tables(target, nb.PAIRS, holdout)
    assert target not in prior and reverse(target) not in prior
    assert prior, f"{target}: the prior would be empty"
    if holdout == "collection":  # TED zh-en/ru-en, WMT19 ja-en/en-ja, MATERIAL sw-en/so-en
        assert all(nb.COLLECTION[p] != nb.COLLECTION[target] for p in prior)


def test_the_reverse_direction_is_the_same_corpus():
    for pair in nb.PAIRS:
        if reverse(pair) in nb.CORPUS:
            assert nb.CORPUS[pair] == nb.CORPUS[reverse(pair)]
    assert nb.CORPUS["ja-en"] == nb.CORPUS["en-ja"]


@needs_tables
@pytest.mark.parametrize("holdout", sorted(nb.HOLDOUTS))
def test_prior_data_holds_no_row_of_the_target_corpus(holdout):
    """On the data: no (BLEU, decode time) result of the target or its reverse table is in the
    frame the prior is built from (each table's results are unique fingerprints: no two tables
    share one), for every target, through the same function the benchmark calls."""
    tables = {p: nb.load_table(p) for p in nb.PAIRS}

    def results(pair):
        return set(zip(tables[pair].bleu.round(4), tables[pair].time.round(4)))

    for target in nb.PAIRS:
        frame = nb.prior_frame(target, tables, holdout)
        held = set(zip(frame["bleu"].round(4), frame["time"].round(4)))
        leaked = held & (results(target) | results(reverse(target)) if reverse(target) in tables else results(target))
        assert not leaked, f"{target}: the prior holds {len(leaked)} result(s) of the target corpus"
        assert set(frame["task"]) == set(nb.prior_tables(target, nb.PAIRS, holdout))
        related = nb.related_for(target, tables, holdout)
        assert target not in related.tasks and reverse(target) not in related.tasks


# ------------------------------------------------------------------ tuning vs report tables
def test_splits_partition_the_tables_and_every_table_is_reported_once():
    reported = [p for s in nb.SPLITS.values() for p in s.report]
    assert sorted(reported) == sorted(nb.PAIRS)
    for s in nb.SPLITS.values():
        assert not set(s.tuning) & set(s.report)
        assert sorted([*s.tuning, *s.report]) == sorted(nb.PAIRS)
    # the shipped constants were chosen on TED/WMT: only tables they never saw use them
    assert all(nb.REPORT_SPLIT[p].constants == "shipped" for p in ("sw-en", "so-en"))
    assert all(nb.REPORT_SPLIT[p].constants != "shipped" for p in ("zh-en", "ru-en", "ja-en", "en-ja"))


@pytest.mark.parametrize("split", sorted(nb.SPLITS))
def test_tuning_script_never_loads_a_report_table(split, tmp_path, monkeypatch):
    loaded, seen_by_select = [], []

    def fake_load(pair):
        loaded.append(pair)
        return object()

    def fake_select(tables, seeds, n_evals, log, store):
        seen_by_select.extend(tables)
        return nc.SHIPPED, pd.DataFrame({"x": [1]}), []

    monkeypatch.setattr(nt, "load_table", fake_load)
    monkeypatch.setattr(nt, "select", fake_select)
    out = tmp_path / "c.json"
    assert nt.main(["--split", split, "--out", str(out), "--runs-csv", str(tmp_path / "runs.csv")]) == 0
    s = nb.SPLITS[split]
    assert sorted(loaded) == sorted(s.tuning) == sorted(seen_by_select)
    assert nc.load_constants(out) == nc.SHIPPED


def test_committed_constants_were_tuned_on_the_tuning_tables_only():
    import json

    record = json.loads(nc.CONSTANTS_JSON.read_text())
    split = nb.SPLITS["ted-wmt"]
    assert record["split"] == split.name
    assert sorted(record["tuned_on"]) == sorted(split.tuning)
    assert not set(record["tuned_on"]) & set(split.report)
    nc.load_constants(nc.CONSTANTS_JSON)  # loads, no unknown knob


# ------------------------------------------------------------------ the sampler under test
def _toy_table(n_per: int = 3, seed: int = 0, pair: str = "xx-en") -> nb.Table:
    rng = np.random.default_rng(seed)
    grid = {
        "bpe": [1000, 2000, 4000][:n_per],
        "layers": [1, 2],
        "d_model": [256, 512],
        "ffn": [1024, 2048],
        "heads": [8, 16],
        "lr": [3e-4, 6e-4, 1e-3],
    }
    configs = pd.DataFrame([dict(zip(nb.HYPS, c)) for c in np.array(np.meshgrid(*grid.values(), indexing="ij")).reshape(6, -1).T])
    for h in nb.INT_HYPS:
        configs[h] = configs[h].round().astype(int)
    x = configs["d_model"].to_numpy() / 512 + configs["layers"].to_numpy() / 2
    bleu = 10 + 3 * x - 2 * np.abs(np.log(configs["lr"].to_numpy() / 6e-4)) + rng.normal(0, 0.3, len(configs))
    time_ = 200 + 100 * x + rng.normal(0, 5, len(configs))
    sign = np.c_[-bleu, time_]
    front = np.array([not np.any(np.all(sign <= sign[i], 1) & np.any(sign < sign[i], 1)) for i in range(len(sign))])
    return nb.Table(pair, configs, bleu, time_, front)


def _proposals(sampler, table, n):
    return [tuple(table.configs.iloc[r]) for r in nb.run_optuna(table, sampler, n)]


def test_shipped_constants_are_raymts_sampler_exactly():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    table, prior_table = _toy_table(seed=0), _toy_table(seed=1)
    related = nb.RelatedTrials(prior_table.as_related_frame().assign(task="yy-en"), nb.OBJECTIVES)
    space = nb.GridSpace(table.grid)
    ours = _proposals(nb.build_sampler("raymt", 3, table, related, nc.SHIPPED), table, 9)
    raymt = _proposals(make_sampler(SamplerConfig(kind="raymt", seed=3), objectives=nb.OBJECTIVES, space_fn=space, related=related), table, 9)
    assert ours == raymt
    ours = _proposals(nb.build_sampler("raymt-notransfer", 3, table, None, nc.SHIPPED), table, 9)
    raymt = _proposals(make_sampler(SamplerConfig(kind="raymt", seed=3), objectives=nb.OBJECTIVES, space_fn=space), table, 9)
    assert ours == raymt


def test_every_tuned_knob_reaches_the_sampler():
    """Each knob the tuning script turns changes what the sampler computes."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    table = _toy_table(seed=0)
    frame = pd.concat([_toy_table(seed=1).as_related_frame().assign(task="yy-en"), _toy_table(seed=2).as_related_frame().assign(task="zz-en")])
    related = nb.RelatedTrials(frame, nb.OBJECTIVES)
    space = nb.GridSpace(table.grid)
    X = np.random.default_rng(0).random((5, 6))
    y = np.array([1.0, 2.0, 3.0])
    covered = set()

    def sampler(c, rel=related):
        s = nc.make_raymt_sampler(space, nb.OBJECTIVES, seed=0, related=rel, constants=c)
        s._codec.extend({h: optuna.distributions.CategoricalDistribution(table.grid[h]) for h in nb.HYPS})
        return s

    def changed(knob, value):
        covered.add(knob)
        return nt.with_knob(nc.SHIPPED, knob, value)

    shipped = sampler(nc.SHIPPED)
    assert shipped._use_log(1, np.array([200.0, 300.0]))
    assert not sampler(changed("log_costs", False))._use_log(1, np.array([200.0, 300.0]))
    s = sampler(changed("hyperprior_scale", 1.0))
    assert s._related.hyper_prior("bleu", s._codec).noise_scale == 1.0
    assert shipped._related.hyper_prior("bleu", shipped._codec).noise_scale == 0.5
    s = sampler(changed("related_hyperprior", False))
    assert s._related.hyper_prior("bleu", s._codec) == nc.cost_aware.DEFAULT_PRIOR
    s = sampler(changed("floors", (1.0, 0.36)))
    assert s._prior_mean("bleu", X, y, False)[1][2:] == (1.0, 0.36)
    assert shipped._prior_mean("bleu", X, y, False)[1][2] < 1.0
    assert sampler(changed("weight_related", False))._weight_related is False
    assert sampler(changed("n_startup_related", 3))._n_startup == 3

    # the module-level pieces are swapped while the sampler plans, and only then
    seen: dict[str, set] = {"prior": set(), "squash": set(), "predict": set()}
    real_fit, real_squash, real_latent = nc.cost_aware.fit_gp, nc.cost_aware._squash_bad_tail, nc._latent_predict

    def run(c, rel):
        for k in seen:
            seen[k].clear()
        study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler(c, rel))
        for _ in range(7):
            t = study.ask()
            space(t)
            r = table.snap(t.params)
            study.tell(t, [float(table.bleu[r]), float(table.time[r])])

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nc.cost_aware, "fit_gp", lambda *a, **k: seen["prior"].add(type(k["prior"]).__name__) or real_fit(*a, **k))
        mp.setattr(nc.cost_aware, "_squash_bad_tail", lambda y, mode: seen["squash"].add("real") or real_squash(y, mode))
        mp.setattr(nc, "_latent_predict", lambda *a, **k: seen["predict"].add("latent") or real_latent(*a, **k))
        run(nc.SHIPPED, related)
        assert seen["squash"] and not seen["predict"]
        run(changed("squash_bad_tail", False), related)
        assert not seen["squash"]
        run(changed("predictive_noise", False), related)
        assert seen["predict"]
        run(nc.SHIPPED, None)
        assert seen["prior"] == {"HyperPrior"}
        run(changed("default_ls_prior", "hvarfner"), None)
        assert seen["prior"] == {"_HvarfnerPrior"}
    assert nc.cost_aware._squash_bad_tail is real_squash and nc.cost_aware.predict is nc.gp.predict
    assert set(nt.ALTERNATIVES) == covered


# ------------------------------------------------------------------ the smoke run
@pytest.mark.slow
@needs_tables
def test_smoke_run_covers_both_engines(tmp_path):
    out = tmp_path / "nmt.csv"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.nmt_hpo_search", "--smoke", "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    raw = pd.read_csv(out)
    assert set(raw["engine"]) == {"optuna", "tune"}
    hv = raw.filter(like="hv@").stack().dropna()
    assert len(hv) and ((hv > 0) & (hv <= 1 + 1e-9)).all()  # fractions of the true front's hypervolume
    assert "| engine | pair | sampler |" in proc.stdout
    prior = set(raw.loc[raw["sampler"] == "raymt", "prior"].iloc[0].split("+"))
    assert "zh-en" not in prior and prior  # the row records its prior, and it is leak-free


def test_tuning_selects_resumes_and_keeps_shipped_without_a_clear_gain(tmp_path, monkeypatch):
    """The selection runs on the tables it is given, stores every run, a second pass over the
    same store runs nothing again, and a knob whose gain is not above two standard errors is
    not adopted (here: n_startup_related on toy tables, where it changes the first trials)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tables = {"xx-en": _toy_table(seed=0, pair="xx-en"), "yy-en": _toy_table(seed=1, pair="yy-en")}
    monkeypatch.setitem(nb.CORPUS, "xx-en", "toy-xx-en")
    monkeypatch.setitem(nb.CORPUS, "yy-en", "toy-yy-en")
    alternatives = {"n_startup_related": ((3,), (nt.WITH_PRIOR,)), "log_costs": ((False,), (nt.NO_PRIOR,))}
    store = nt.RunStore(tmp_path / "runs.csv", resume=False)
    choice, runs, decisions = nt.select(tables, range(2), 6, lambda m: None, store, alternatives)
    assert len(runs) == 2 * 2 * 2 + 2 * 2 + 2 * 2  # shipped on both variants, then one knob each
    assert {d["knob"] for d in decisions} == {"n_startup_related", "log_costs"}
    for d in decisions:
        assert d["adopted"] == (d["gain"] > 2 * d["se"] and d["gain"] > 0)
    assert set(runs.loc[runs["variant"] == nt.WITH_PRIOR, "prior"]) == {"xx-en", "yy-en"}  # each other's prior only
    calls = []
    monkeypatch.setattr(nt, "run_optuna", lambda *a: calls.append(a) or [0])
    again = nt.select(tables, range(2), 6, lambda m: None, nt.RunStore(tmp_path / "runs.csv", resume=True), alternatives)
    assert not calls and again[0] == choice


@needs_tables
def test_raw_csvs_are_merged_with_the_seeds_asked_for_only(tmp_path, capsys):
    """--from-csv --seeds N: runs made with more seeds (the stock samplers') are cut to seeds
    0..N-1, like for like with the runs made with N seeds, and nothing runs."""
    tables = {p: nb.load_table(p) for p in ("zh-en",)}
    rows = nb.run_grid("optuna", ["zh-en"], ["random"], range(3), 10, tables=tables, log=lambda m: None)
    nb.write_csv(pd.DataFrame(rows), tmp_path / "a.csv")
    assert nb.main(["--from-csv", str(tmp_path / "a.csv"), "--seeds", "2", "--out", str(tmp_path / "merged.csv")]) == 0
    assert sorted(pd.read_csv(tmp_path / "merged.csv")["seed"]) == [0, 1]
    assert "| zh-en | random | 2 |" in capsys.readouterr().out
