"""``raymt export``, ``raymt translate`` and ``raymt evaluate``."""

from __future__ import annotations

import argparse
import sys


def _cmd_export(args) -> int:
    from raymt.analysis.results import load
    from raymt.export.bundle import choose_trial, export_trial
    from raymt.results.folder import check_experiment_dir

    results = check_experiment_dir(args.results_dir, role="raymt export RESULTS_DIR")
    row = choose_trial(load(results), trial=args.trial, best_under_mb=args.best_under_mb, knee=args.knee, log=print)
    out = export_trial(results, row, args.to, merge=args.merge, base=args.base)
    print(f"exported trial {row['trial_id']} ({row['method']}, BLEU {row['bleu']:.2f}, {row['storage_mb']:.4g} MB) -> {out}")
    return 0


def _decoding_overrides(args) -> dict:
    return {"beam_size": args.beam_size, "max_new_tokens": args.max_new_tokens, "batch_size": args.batch_size}


def _cmd_translate(args) -> int:
    from raymt.errors import DataError
    from raymt.export.bundle import load_exported
    from raymt.export.translate import read_lines, split_lines, translate

    lines = read_lines(args.input, "source") if args.input else None
    loaded = load_exported(args.export_dir, pair=args.pair, base=args.base)  # a wrong folder is refused before waiting on stdin
    if lines is None:
        lines = split_lines(sys.stdin.read())
    if not lines:
        raise DataError(
            "no input: there is no line to translate", where=args.input or "stdin", fix="give a file (or pipe text) with one source sentence per line"
        )
    for text in translate(args.export_dir, lines, loaded=loaded, **_decoding_overrides(args)):
        print(text)
    return 0


def _cmd_evaluate(args) -> int:
    from raymt.export.bundle import load_exported
    from raymt.export.translate import evaluate, read_lines

    src, ref = read_lines(args.src, "source"), read_lines(args.ref, "reference")
    scores, _ = evaluate(
        args.export_dir,
        src,
        ref,
        bleu_tokenize=args.bleu_tokenize,
        pair=args.pair,
        loaded=load_exported(args.export_dir, pair=args.pair, base=args.base),
        **_decoding_overrides(args),
    )
    print(f"BLEU {scores.bleu:.2f}  ({scores.bleu_signature})")
    print(f"chrF {scores.chrf:.2f}  ({scores.chrf_signature})")
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


BASE_HELP = (
    "the base model's folder, when the results (or export) moved away from the cache holding it "
    "(default: where the search recorded it, or $RAYMT_BASE)"
)


def add_commands(sub) -> None:
    p = sub.add_parser("export", help="write one trial's model as a ready-to-use folder")
    p.add_argument(
        "results_dir", metavar="RESULTS_DIR", help="a search's results folder (printed by `raymt search`, e.g. raymt_results/default), or its URI"
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--trial", help="trial id (see trials.csv)")
    which.add_argument("--best-under-mb", type=float, help="the best-BLEU front member within this storage")
    which.add_argument(
        "--knee", action="store_true", help="the report's knee (storage on a log scale); with no knee, the highest-BLEU member, said so"
    )
    p.add_argument("--to", required=True, metavar="DIR", help="output folder (new, or empty)")
    p.add_argument("--merge", action="store_true", help="LoRA only: fold the update into a standalone model")
    p.add_argument("--base", default=None, metavar="DIR", help=BASE_HELP)
    p.set_defaults(func=_cmd_export)
    for name, helptext in (
        ("translate", "translate a file or stdin with an exported model, decoding as the search did"),
        ("evaluate", "BLEU/chrF of an exported model on parallel files, scored as the search scored"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("export_dir", metavar="EXPORT_DIR", help="a folder written by `raymt export`")
        if name == "translate":
            p.add_argument(
                "input", nargs="?", default=None, help="source file, one sentence a line (default: stdin); a blank line gives a blank line"
            )
        else:
            p.add_argument("--src", required=True, metavar="FILE", help="source file, one sentence a line (e.g. the search's sources.txt)")
            p.add_argument("--ref", required=True, metavar="FILE", help="reference file, line by line parallel to --src (e.g. references.txt)")
            p.add_argument(
                "--bleu-tokenize",
                default=None,
                metavar="NAME",
                help="sacrebleu tokenizer for BLEU (default: the one the search used for this target; auto = from the target language)",
            )
        p.add_argument("--pair", default=None, metavar="SRC-TGT", help="direction of a multi-pair export, e.g. en_XX-de_DE")
        p.add_argument("--base", default=None, metavar="DIR", help=BASE_HELP)
        p.add_argument(
            "--beam",
            "--beam-size",
            dest="beam_size",
            type=_positive_int,
            default=None,
            metavar="N",
            help="beam size (default: the search's eval.beam_size)",
        )
        p.add_argument(
            "--max-new-tokens",
            type=_positive_int,
            default=None,
            metavar="N",
            help="longest translation in tokens (default: the search's eval.max_new_tokens)",
        )
        p.add_argument(
            "--batch-size",
            type=_positive_int,
            default=None,
            metavar="N",
            help="sentences per generation batch (default: the search's eval.batch_size)",
        )
        p.set_defaults(func=_cmd_translate if name == "translate" else _cmd_evaluate)
