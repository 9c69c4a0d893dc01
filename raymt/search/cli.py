"""``raymt search`` and ``raymt report`` subcommands."""

from __future__ import annotations


def _cmd_search(args) -> int:
    from raymt.search.run import run_search

    run_search(args.space, resume=args.resume, warm_start=args.warm_start, verbose=args.verbose or None)
    return 0


def _cmd_report(args) -> int:
    from raymt.analysis.held_out import held_out_summary
    from raymt.analysis.report import front_summary
    from raymt.analysis.results import load
    from raymt.config.load import read_yaml
    from raymt.results.files import CONFIG_COPY
    from raymt.results.folder import check_experiment_dir, experiment_uri, sync_results
    from raymt.results.report import rebuild_report
    from raymt.search.load import parse_search
    from raymt.search.space import log_scale_columns

    path = check_experiment_dir(args.results_dir, role="raymt report RESULTS_DIR")
    search = parse_search(read_yaml(path / CONFIG_COPY).get("search"), str(path / CONFIG_COPY))
    if args.test is not None:  # the validation front and the named trials, each scored on test once
        from raymt.results.test_scores import score_front_on_test, trials_to_score

        trials = load(path)
        trials_to_score(trials, search.objectives, args.test)  # a wrong name is refused before any model loads
        score_front_on_test(path, trials, search.objectives, named=args.test)
    written = rebuild_report(path, search.objectives, log_params=log_scale_columns(search.space))
    trials = load(path)
    print(front_summary(trials, search.objectives))
    if held_out := held_out_summary(trials, search.objectives):
        print(held_out)
    plots = sorted(p.name for p in path.glob("*.png"))
    print(f"\nreport: {written}" + (f" (plots: {', '.join(plots)})" if plots else ""))
    if experiment_uri(path):  # an object-store experiment: the store keeps the new report too
        sync_results(path, experiment_uri(path))
        print(f"uploaded to {experiment_uri(path)}")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("search", help="run a search (no SPACE: search_spaces/default.yaml, offline)")
    p.add_argument(
        "space", nargs="?", default=None, help="a search space YAML, e.g. search_spaces/lora_vs_adapter.yaml (omit it for search_spaces/default.yaml)"
    )
    p.add_argument("--resume", metavar="RESULTS_DIR", default=None, help="continue an interrupted search")
    p.add_argument("--warm-start", metavar="OLD_RESULTS_DIR", default=None, help="seed the sampler with an earlier search's trials")
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also print Ray's own output: Tune's trial status tables and Ray Train's INFO logs (or set RAYMT_VERBOSE=1); with --resume too",
    )
    p.set_defaults(func=_cmd_search)
    p = sub.add_parser(
        "report",
        help="rewrite report.md and its plots from a results folder's trials table, and print the Pareto front and its knee",
        description="Rebuild report.md and its plots (pareto.png, parallel.png, bleu_over_epochs.png) "
        "from trials.parquet and history.parquet, then print the front. trials.parquet, trials.csv and "
        "pareto.csv are read, not rewritten (the search writes them), except with --test, which adds "
        "the held-out test scores (test_bleu, test_chrf, test_bleu_ci95) of the trials it scores.",
    )
    p.add_argument(
        "results_dir", metavar="RESULTS_DIR", help="the folder `raymt search` printed (e.g. raymt_results/default), or its s3:// / gs:// URI"
    )
    p.add_argument(
        "--test",
        nargs="*",
        metavar="TRIAL",
        default=None,
        help="score on the held-out test split, once each, the validation front's trials that have no test "
        "score yet and these completed trials (their artefacts must be kept: keep_artifacts: all)",
    )
    p.set_defaults(func=_cmd_report)
