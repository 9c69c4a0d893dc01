"""Translating a list of sentences with a loaded model, in one process (no Ray).

Used where raymt scores a model outside a trial: a built-in base's own validation BLEU per
direction, and the untouched base's BLEU on an experiment's evaluation set (the level every
direction must rise above). Decoding is the trials' own: length-sorted batches, the target
code forced as the first generated token, greedy or beam search, ``max_new_tokens``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


@torch.no_grad()
def translate_texts(model, tokenizer, texts: Sequence[str], *, src_lang: str, tgt_lang: str, references: Sequence[str] | None = None,
                    beam_size: int = 1, max_new_tokens: int = 64, batch_size: int = 64, max_length: int = 128):
    """``(hypotheses in input order, Scores or None)``; scored with sacrebleu when ``references``."""
    from raymt.metrics.bleu import corpus_scores
    from raymt.model.loading import forced_bos_id

    model.eval()
    tokenizer.src_lang, tokenizer.tgt_lang = src_lang, tgt_lang
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    hyps: list[str] = [""] * len(texts)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        enc = tokenizer([texts[i] for i in idx], return_tensors="pt", padding=True, truncation=True, max_length=max_length)
        out = model.generate(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], num_beams=beam_size,
                             max_new_tokens=max_new_tokens, forced_bos_token_id=forced_bos_id(tokenizer, tgt_lang),
                             decoder_start_token_id=model.config.decoder_start_token_id)
        for i, text in zip(idx, tokenizer.batch_decode(out, skip_special_tokens=True)):
            hyps[i] = text.strip()
    scores = corpus_scores(hyps, list(references)) if references is not None else None
    return hyps, scores
