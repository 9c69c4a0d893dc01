"""``raymt dashboard DIR``: optuna-dashboard on a results folder's Optuna study.

The study lives in the folder's journal (``optuna_journal.log``) with its objectives named and
each trial's per-epoch scores (raymt.search.tuner), so the dashboard shows the search as
Optuna users know it: history, Pareto front, parameter importances. It is served on
127.0.0.1 only: a results folder is no one else's business; reach it from another machine
through an SSH tunnel (``ssh -L 8080:127.0.0.1:8080 host``), not by opening a port.
"""

from __future__ import annotations

from pathlib import Path

from raymt.errors import ConfigError
from raymt.results.files import JOURNAL

#: the only address the dashboard is served on
HOST = "127.0.0.1"
EXTRA = "raymt[dashboard]"


def dashboard_server():
    """optuna-dashboard's ``run_server``, or a one-line error naming the extra that installs it."""
    try:
        from optuna_dashboard import run_server
    except ImportError:
        raise ConfigError(
            "optuna-dashboard is not installed", where="raymt dashboard", fix=f"pip install '{EXTRA}' (or pip install optuna-dashboard)"
        ) from None
    return run_server


def serve_dashboard(results_dir: Path, port: int = 8080, *, log=print, run_server=None) -> None:
    """Serve the study of ``results_dir`` (a checked results folder) until interrupted."""
    import optuna

    journal = Path(results_dir) / JOURNAL
    if not journal.is_file():
        raise ConfigError(
            f"{results_dir} has no Optuna study ({JOURNAL})",
            where="raymt dashboard RESULTS_DIR",
            fix="pass the folder of a search that has started its first trial",
        )
    run_server = run_server or dashboard_server()
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    log(f"optuna-dashboard on http://{HOST}:{port}/ for {journal} (Ctrl-C stops it)")
    run_server(storage, host=HOST, port=port)
