"""Translate and score with an exported model: batched, length-sorted, beam size as asked.

Length sorting keeps padding (and so wasted compute) small; the output keeps the input order.
The target language code is forced as the first generated token, as in the trials.
"""

from __future__ import annotations

from pathlib import Path

import torch

from raymt.errors import DataError


def translate(export_dir: str | Path, lines: list[str], *, beam_size: int = 1, batch_size: int = 32,
              max_new_tokens: int = 128, loaded=None) -> list[str]:
    from raymt.export.bundle import load_exported
    from raymt.model.loading import forced_bos_id

    model, tokenizer, meta = loaded or load_exported(export_dir)
    order = sorted(range(len(lines)), key=lambda i: len(lines[i]))
    out: list[str | None] = [None] * len(lines)
    bos = forced_bos_id(tokenizer, meta["tgt_lang"])
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            enc = tokenizer([lines[i] for i in idx], return_tensors="pt", padding=True, truncation=True,
                            max_length=meta.get("max_length", 1024))
            gen = model.generate(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], num_beams=beam_size,
                                 max_new_tokens=max_new_tokens, forced_bos_token_id=bos,
                                 decoder_start_token_id=model.config.decoder_start_token_id)
            for i, text in zip(idx, tokenizer.batch_decode(gen, skip_special_tokens=True)):
                out[i] = text.strip()
    return out  # type: ignore[return-value]


def read_lines(path: str | Path, what: str) -> list[str]:
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DataError("no such file", where=str(path), fix=f"pass the {what} file") from None
    except UnicodeDecodeError as err:
        raise DataError(f"bytes that are not UTF-8 at offset {err.start}", where=str(path),
                        fix="convert the file to UTF-8") from None


def evaluate(export_dir: str | Path, src: list[str], ref: list[str], *, beam_size: int = 1, batch_size: int = 32):
    """Translate ``src`` and score it against ``ref``: sacrebleu BLEU and chrF with signatures."""
    from raymt.metrics.bleu import corpus_scores

    if len(src) != len(ref):
        raise DataError(f"{len(src)} source lines but {len(ref)} references", where="--src / --ref",
                        fix="give parallel files with one sentence per line")
    hyps = translate(export_dir, src, beam_size=beam_size, batch_size=batch_size)
    return corpus_scores(hyps, ref), hyps
