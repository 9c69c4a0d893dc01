"""``raymt search`` and ``raymt report`` subcommands."""

from __future__ import annotations


def _cmd_search(args) -> int:
    from raymt.search.run import run_search

    run_search(args.space, resume=args.resume, warm_start=args.warm_start)
    return 0


def _cmd_report(args) -> int:
    import json

    from raymt.analysis.report import write_report
    from raymt.analysis.results import load, load_history
    from raymt.search.config import parse_search
    from raymt.search.results_dir import CONFIG_COPY, check_experiment_dir
    from raymt.config.load import read_yaml

    path = check_experiment_dir(args.results_dir)
    search = parse_search(read_yaml(path / CONFIG_COPY).get("search"), str(path / CONFIG_COPY))
    trials = load(path)
    history = load_history(path)
    extra = {}
    prepared = json.loads((path / "prepared.json").read_text()) if (path / "prepared.json").exists() else {}
    if prepared:
        from raymt.analysis.data_section import data_section

        extra["Data"] = data_section(prepared, trials)
    costs = prepared.get("augment_costs")
    if costs:
        from raymt.analysis.augment_costs import augment_cost_section

        extra["Shared augmentation cost"] = augment_cost_section(costs, trials)
    write_report(path, trials, search.objectives, history_df=history if len(history) else None, extra=extra or None)
    print(f"rebuilt {path}/report.md")
    from raymt.search.results_dir import experiment_uri, sync_results

    if experiment_uri(path):  # an object-store experiment: the store keeps the new report too
        sync_results(path, experiment_uri(path))
        print(f"uploaded to {experiment_uri(path)}")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("search", help="run a search (no SPACE: search_spaces/default.yaml, offline)")
    p.add_argument("space", nargs="?", default=None, help="a search_spaces/*.yaml file")
    p.add_argument("--resume", metavar="RESULTS_DIR", default=None, help="continue an interrupted search")
    p.add_argument("--warm-start", metavar="OLD_RESULTS_DIR", default=None, help="seed the sampler with an earlier search's trials")
    p.set_defaults(func=_cmd_search)
    p = sub.add_parser("report", help="rebuild trials/pareto/report files of a results folder")
    p.add_argument("results_dir")
    p.set_defaults(func=_cmd_report)
