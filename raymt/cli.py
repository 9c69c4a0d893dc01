"""Thin command line over :mod:`raymt.api`: parse, call, print. Errors the user can fix exit 2."""

from __future__ import annotations

import argparse
import json
import sys
import warnings

from raymt.errors import RaymtDeprecationWarning, RaymtError, SearchInterrupted, TrialFailed


def _cmd_train(args) -> int:
    from raymt.api import train

    metrics = train(args.config)
    keys = [
        "bleu",
        "chrf",
        "eval_loss",
        "best_epoch",
        "epoch",
        "storage_mb",
        "trainable_params",
        "total_params",
        "train_time_s",
        "eval_time_s",
        "tokens_per_s",
        "sacrebleu_signature",
        "checkpoint",
    ]
    print("\ntrial result:")
    for key in keys:
        if key in metrics:
            value = metrics[key]
            print(f"  {key:20s} {value:.4g}" if isinstance(value, float) else f"  {key:20s} {value}")
    print("  timings             " + json.dumps({k: round(v, 2) for k, v in metrics.get("timings", {}).items()}))
    return 0


def _cmd_validate(args) -> int:
    from raymt.config.load import load_config, read_yaml

    for path in args.files:
        raw = read_yaml(path)
        if isinstance(raw, dict) and "search" in raw:
            from raymt.search.load import load_search

            load_search(path)  # the experiment, the search section and every branch of the space
        else:
            load_config(path)
        print(f"{path}: ok")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from raymt import __version__

    parser = argparse.ArgumentParser(prog="raymt", description="Multi-objective hyperparameter search for fine-tuning MT models on Ray.")
    parser.add_argument("--version", action="version", version=f"raymt {__version__}")
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("train", help="run ONE trial (no CONFIG: the offline default)")
    p.add_argument(
        "config",
        nargs="?",
        default=None,
        help="an experiment YAML (model, data, method, train, ...; see docs/configuration.md); omit it for the offline default",
    )
    p.set_defaults(func=_cmd_train)
    p = sub.add_parser("validate", help="check config / search-space files without running anything")
    p.add_argument(
        "files", nargs="+", metavar="FILE", help="experiment configs or search spaces (a file with a search: section is checked as a space)"
    )
    p.set_defaults(func=_cmd_validate)
    _add_more_commands(sub)
    return parser


def _add_more_commands(sub) -> None:
    """Subcommands contributed by other modules (search, report, export, ...)."""
    import importlib

    for module in ("raymt.search.cli", "raymt.export.cli", "raymt.plan.cli", "raymt.results.cli"):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name and err.name.startswith(module.rsplit(".", 1)[0]):
                continue
            raise
        mod.add_commands(sub)


def _one_line(show):
    """``warnings.showwarning`` that tells an old spelling raymt still reads as one
    ``raymt: deprecated: ...`` line, not as a Python warning with a file name and source line."""

    def showwarning(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, RaymtDeprecationWarning):
            print(f"raymt: deprecated: {message}", file=sys.stderr)
        else:
            show(message, category, filename, lineno, file, line)

    return showwarning


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    # No arguments at all: the embedded default, a real offline search end to end.
    args = parser.parse_args(argv or ["search"])
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line(warnings.showwarning)
            return int(args.func(args) or 0)
    except RaymtError as err:
        print(f"raymt: error: {err}", file=sys.stderr)
        return 2
    except TrialFailed as err:  # a trial that ran and failed (e.g. diverged): its reason, not a traceback
        print(f"raymt: the trial failed: {err}", file=sys.stderr)
        return 1
    except SearchInterrupted as err:  # Ctrl-C during the search: what was kept and how to go on
        print(f"raymt: {err}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("raymt: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
