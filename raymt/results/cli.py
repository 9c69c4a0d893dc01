"""``raymt dashboard``: the results folder's Optuna study in optuna-dashboard."""

from __future__ import annotations


def _cmd_dashboard(args) -> int:
    from raymt.results.dashboard import dashboard_server, serve_dashboard
    from raymt.results.folder import check_experiment_dir

    run_server = dashboard_server()  # a missing extra is said before anything else
    results = check_experiment_dir(args.results_dir, role="raymt dashboard RESULTS_DIR")
    try:
        serve_dashboard(results, args.port, run_server=run_server)
    except KeyboardInterrupt:
        pass
    return 0


def _port(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port (1-65535)")
    return value


def add_commands(sub) -> None:
    p = sub.add_parser(
        "dashboard", help="open a results folder's Optuna study in optuna-dashboard (on 127.0.0.1; needs pip install 'raymt[dashboard]')"
    )
    p.add_argument("results_dir", metavar="RESULTS_DIR", help="the folder a search wrote (holding optuna_journal.log), or its object-store URI")
    p.add_argument("--port", type=_port, default=8080, help="port on 127.0.0.1 (default 8080)")
    p.set_defaults(func=_cmd_dashboard)
