"""``raymt export``, ``raymt translate`` and ``raymt evaluate``."""

from __future__ import annotations

import sys


def _cmd_export(args) -> int:
    from raymt.analysis.results import load
    from raymt.export.bundle import choose_trial, export_trial
    from raymt.results.folder import check_experiment_dir

    results = check_experiment_dir(args.results_dir)
    row = choose_trial(load(results), trial=args.trial, best_under_mb=args.best_under_mb, knee=args.knee)
    out = export_trial(results, row, args.to, merge=args.merge)
    print(f"exported trial {row['trial_id']} ({row['method']}, BLEU {row['bleu']:.2f}, {row['storage_mb']:.4g} MB) -> {out}")
    return 0


def _cmd_translate(args) -> int:
    from raymt.export.bundle import load_exported
    from raymt.export.translate import read_lines, translate

    loaded = load_exported(args.export_dir)  # refuse a wrong folder before waiting on stdin
    lines = read_lines(args.input, "source") if args.input else sys.stdin.read().splitlines()
    for text in translate(args.export_dir, lines, beam_size=args.beam_size, batch_size=args.batch_size, loaded=loaded):
        print(text)
    return 0


def _cmd_evaluate(args) -> int:
    from raymt.export.translate import evaluate, read_lines

    scores, _ = evaluate(args.export_dir, read_lines(args.src, "source"), read_lines(args.ref, "reference"),
                         beam_size=args.beam_size, batch_size=args.batch_size)
    print(f"BLEU {scores.bleu:.2f}  ({scores.bleu_signature})")
    print(f"chrF {scores.chrf:.2f}  ({scores.chrf_signature})")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("export", help="write one trial's model as a ready-to-use folder")
    p.add_argument("results_dir")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--trial", help="trial id (see trials.csv)")
    which.add_argument("--best-under-mb", type=float, help="the best-BLEU front member within this storage")
    which.add_argument("--knee", action="store_true", help="the front's knee (storage on a log scale)")
    p.add_argument("--to", required=True, help="output folder (new)")
    p.add_argument("--merge", action="store_true", help="LoRA only: fold the update into a standalone model")
    p.set_defaults(func=_cmd_export)
    for name, helptext in (("translate", "translate a file or stdin with an exported model"),
                           ("evaluate", "BLEU/chrF of an exported model on parallel files")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("export_dir")
        if name == "translate":
            p.add_argument("input", nargs="?", default=None, help="source file (default: stdin)")
        else:
            p.add_argument("--src", required=True)
            p.add_argument("--ref", required=True)
        p.add_argument("--beam-size", type=int, default=1)
        p.add_argument("--batch-size", type=int, default=32)
        p.set_defaults(func=_cmd_translate if name == "translate" else _cmd_evaluate)
