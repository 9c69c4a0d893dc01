"""``raymt search`` and ``raymt report`` subcommands."""

from __future__ import annotations


def _cmd_search(args) -> int:
    from raymt.search.run import run_search

    run_search(args.space, resume=args.resume, warm_start=args.warm_start)
    return 0


def _cmd_report(args) -> int:
    from raymt.config.load import read_yaml
    from raymt.results.files import CONFIG_COPY, REPORT_FILE
    from raymt.results.folder import check_experiment_dir, experiment_uri, sync_results
    from raymt.results.report import rebuild_report
    from raymt.search.load import parse_search

    path = check_experiment_dir(args.results_dir)
    search = parse_search(read_yaml(path / CONFIG_COPY).get("search"), str(path / CONFIG_COPY))
    rebuild_report(path, search.objectives)
    print(f"rebuilt {path / REPORT_FILE}")
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
    p = sub.add_parser("report", help="rebuild report.md (and its plots) of a results folder")
    p.add_argument("results_dir")
    p.set_defaults(func=_cmd_report)
