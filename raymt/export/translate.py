"""Translate and score with an exported model, decoding exactly as the search scored it.

The export records the trial's decoding (:class:`raymt.model.generation.Decoding`: beam size,
``max_new_tokens``, source truncation, batch size and the search's sharding) and the BLEU
tokenizer of each target; these functions replay them unless an argument overrides one, so
``evaluate`` on the search's ``sources.txt`` / ``references.txt`` gives the trial's BLEU.
Batches are the search's (length-sorted: little padding); the output keeps the input order.
A blank input line gives a blank output line (the search never decodes an empty source: the
corpus cleaning drops empty pairs), instead of whatever a model invents from nothing.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from raymt.errors import DataError


def export_decoding(meta: dict, **overrides) -> object:
    """The export's recorded :class:`Decoding`, with ``overrides`` (those not None) applied."""
    from raymt.model.generation import Decoding

    recorded = meta.get("decoding")
    if recorded is None:  # an export written before decoding was recorded: its trial config says it
        cfg = meta.get("config") or {}
        ev = cfg.get("eval") or {}
        recorded = {
            "beam_size": ev.get("beam_size"),
            "max_new_tokens": ev.get("max_new_tokens"),
            "batch_size": ev.get("batch_size"),
            "max_length": meta.get("max_length"),
            "shards": (cfg.get("resources") or {}).get("num_workers"),
        }
    decoding = Decoding.from_dict(recorded)
    return dataclasses.replace(decoding, **{k: v for k, v in overrides.items() if v is not None})


def export_bleu_tokenizer(meta: dict) -> str:
    """The BLEU tokenizer the trial's chosen target was scored with."""
    from raymt.metrics.bleu import bleu_tokenizer, tokenizer_from_signature

    recorded = (meta.get("pair") or {}).get("bleu_tokenize")
    if recorded:
        return recorded
    # an older export: its trial's signature says it
    signed = tokenizer_from_signature((meta.get("metrics") or {}).get("sacrebleu_signature") or "")
    return signed or bleu_tokenizer("auto", meta["tgt_lang"])


def translate(
    export_dir: str | Path,
    lines: list[str],
    *,
    beam_size: int | None = None,
    max_new_tokens: int | None = None,
    batch_size: int | None = None,
    pair: str | None = None,
    loaded=None,
) -> list[str]:
    """One translation per input line, decoded as the search did unless overridden."""
    from raymt.export.bundle import load_exported, quiet
    from raymt.model.generation import translate_lines

    model, tokenizer, meta = loaded or load_exported(export_dir, pair=pair)
    decoding = export_decoding(meta, beam_size=beam_size, max_new_tokens=max_new_tokens, batch_size=batch_size)
    with quiet():
        return translate_lines(model, tokenizer, lines, meta["tgt_lang"], decoding)


def split_lines(text: str) -> list[str]:
    """Lines as files hold them: split on newline only (``str.splitlines`` also splits on
    U+2028, form feeds and other separators that real corpora contain inside a sentence,
    which would misalign sources and references)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def read_lines(path: str | Path, what: str) -> list[str]:
    path = Path(path)
    try:
        return split_lines(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError("no such file", where=str(path), fix=f"pass the {what} file") from None
    except IsADirectoryError:
        raise DataError("is a folder", where=str(path), fix=f"pass the {what} file (one sentence a line)") from None
    except UnicodeDecodeError as err:
        raise DataError(f"bytes that are not UTF-8 at offset {err.start}", where=str(path), fix="convert the file to UTF-8") from None


def evaluate(
    export_dir: str | Path,
    src: list[str],
    ref: list[str],
    *,
    beam_size: int | None = None,
    max_new_tokens: int | None = None,
    batch_size: int | None = None,
    bleu_tokenize: str | None = None,
    pair: str | None = None,
    loaded=None,
):
    """Translate ``src`` and score it against ``ref``: sacrebleu BLEU and chrF with signatures,
    BLEU tokenised as the search tokenised this target unless ``bleu_tokenize`` names another."""
    from raymt.errors import ConfigError
    from raymt.export.bundle import load_exported, read_export_meta
    from raymt.metrics.bleu import bleu_tokenizer, check_tokenizer_installed, check_tokenizer_name, corpus_scores

    if len(src) != len(ref):
        raise DataError(
            f"{len(src)} source lines but {len(ref)} references", where="--src / --ref", fix="give parallel files with one sentence per line"
        )
    if not src:
        raise DataError(
            "both files are empty: there is nothing to score", where="--src / --ref", fix="give parallel files with one sentence per line"
        )
    if bleu_tokenize is not None:
        try:
            check_tokenizer_name(bleu_tokenize)
        except ValueError as err:
            raise ConfigError(str(err), where="--bleu-tokenize", fix="name one of sacrebleu's tokenizers") from None
    meta = loaded[2] if loaded else read_export_meta(export_dir, pair=pair)
    if bleu_tokenize is None:
        tokenize = export_bleu_tokenizer(meta)
    else:
        tokenize = bleu_tokenizer(bleu_tokenize, meta["tgt_lang"])
    check_tokenizer_installed(
        tokenize, where="--bleu-tokenize" if bleu_tokenize else f"{export_dir}: bleu_tokenize", tgt_lang=meta["tgt_lang"]
    )  # before the model loads
    loaded = loaded or load_exported(export_dir, pair=pair)
    hyps = translate(export_dir, src, beam_size=beam_size, max_new_tokens=max_new_tokens, batch_size=batch_size, loaded=loaded)
    return corpus_scores(hyps, ref, tokenize=tokenize), hyps
