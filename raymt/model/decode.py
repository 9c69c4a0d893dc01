"""Translating a list of sentences with a loaded model, in one process (no Ray).

Used where raymt scores a model outside a trial: a built-in base's own validation BLEU per
direction, and the untouched base's BLEU on an experiment's evaluation set (the level every
direction must rise above). Decoding is the trials' own (:func:`raymt.model.generation.translate_lines`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


@torch.no_grad()
def translate_texts(
    model,
    tokenizer,
    texts: Sequence[str],
    *,
    src_lang: str,
    tgt_lang: str,
    references: Sequence[str] | None = None,
    beam_size: int = 1,
    max_new_tokens: int = 64,
    batch_size: int = 64,
    max_length: int = 128,
    tokenize: str | None = None,
):
    """``(hypotheses in input order, Scores or None)``; scored with sacrebleu when ``references``
    (with the BLEU tokenizer ``tokenize``; None: the one ``eval.bleu_tokenize: auto`` picks for ``tgt_lang``)."""
    from raymt.metrics.bleu import bleu_tokenizer, corpus_scores
    from raymt.model.generation import Decoding, translate_lines

    model.eval()
    tokenizer.src_lang, tokenizer.tgt_lang = src_lang, tgt_lang
    decoding = Decoding(beam_size=beam_size, max_new_tokens=max_new_tokens, batch_size=batch_size, max_length=max_length)
    hyps = translate_lines(model, tokenizer, list(texts), tgt_lang, decoding)
    if references is None:
        return hyps, None
    return hyps, corpus_scores(hyps, list(references), tokenize=tokenize or bleu_tokenizer("auto", tgt_lang))
