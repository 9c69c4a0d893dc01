"""``raymt search`` and ``raymt report`` subcommands."""

from __future__ import annotations


def _cmd_search(args) -> int:
    from raymt.search.run import run_search

    run_search(args.space, resume=args.resume, warm_start=args.warm_start)
    return 0


def _cmd_report(args) -> int:
    import json

    from raymt.analysis.report import front_summary, write_report
    from raymt.analysis.results import load, load_history
    from raymt.search.config import parse_search
    from raymt.search.results_dir import CONFIG_COPY, check_experiment_dir
    from raymt.search.space import log_scale_columns
    from raymt.config.load import read_yaml

    path = check_experiment_dir(args.results_dir, role="raymt report RESULTS_DIR")
    search = parse_search(read_yaml(path / CONFIG_COPY).get("search"), str(path / CONFIG_COPY))
    trials = load(path)
    history = load_history(path)
    extra = {}
    costs = json.loads((path / "prepared.json").read_text()).get("augment_costs") if (path / "prepared.json").exists() else None
    if costs:
        from raymt.analysis.augment_costs import augment_cost_section

        extra["Shared augmentation cost"] = augment_cost_section(costs, trials)
    written = write_report(path, trials, search.objectives, history_df=history if len(history) else None,
                           extra=extra or None, log_params=log_scale_columns(search.space))
    print(front_summary(trials, search.objectives))
    plots = sorted(p.name for p in path.glob("*.png"))
    print(f"\nreport: {written}" + (f" (plots: {', '.join(plots)})" if plots else ""))
    from raymt.search.results_dir import experiment_uri, sync_results

    if experiment_uri(path):  # an object-store experiment: the store keeps the new report too
        sync_results(path, experiment_uri(path))
        print(f"uploaded to {experiment_uri(path)}")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("search", help="run a search (no SPACE: search_spaces/default.yaml, offline)")
    p.add_argument("space", nargs="?", default=None,
                   help="a search space YAML, e.g. search_spaces/lora_vs_adapter.yaml (omit it for search_spaces/default.yaml)")
    p.add_argument("--resume", metavar="RESULTS_DIR", default=None, help="continue an interrupted search")
    p.add_argument("--warm-start", metavar="OLD_RESULTS_DIR", default=None, help="seed the sampler with an earlier search's trials")
    p.set_defaults(func=_cmd_search)
    p = sub.add_parser("report", help="rewrite report.md and its plots from a results folder's trials table, "
                       "and print the Pareto front and its knee",
                       description="Rebuild report.md and its plots (pareto.png, parallel.png, bleu_over_epochs.png) "
                       "from trials.parquet and history.parquet, then print the front. trials.parquet, trials.csv and "
                       "pareto.csv are read, not rewritten: the search writes them.")
    p.add_argument("results_dir", metavar="RESULTS_DIR",
                   help="the folder `raymt search` printed (e.g. raymt_results/default), or its s3:// / gs:// URI")
    p.set_defaults(func=_cmd_report)
