"""What raymt checks about the base on the experiment's corpus before any Ray work: how its
tokenizer fits the corpus (refusing a misfit), and the untouched base's own scores on the
evaluation split (the level every direction must rise above). Used for one pair
(:mod:`raymt.train.prepare`) and per pair (:mod:`raymt.train.pairs`)."""

from __future__ import annotations

from raymt.model.builtin import is_builtin


def check_tokenizer_fit(cfg, splits, tokenizer, *, src_lang: str, tgt_lang: str, where: str, log=print) -> list[dict]:
    """Measure the corpus under the base's tokenizer, print it, refuse a misfit (raymt.data.tokenizer_fit)."""
    from raymt.data.tokenizer_fit import check_fit, measure_fit

    fit = measure_fit(splits, tokenizer, src_lang=src_lang, tgt_lang=tgt_lang)
    log(f"tokenizer fit ({where}): " + "; ".join(side.line() for side in fit))
    check_fit(fit, max_unk_rate=cfg.model.max_unk_rate, model=cfg.model.name_or_path, where=where)
    return [side.as_dict() for side in fit]


def wants_base_score(cfg) -> bool:
    """``eval.score_base``, where null means: for raymt's built-in bases (cheap to decode)."""
    flag = cfg.eval.score_base
    return is_builtin(cfg.model.name_or_path) if flag is None else bool(flag)


def score_base(cfg, base: str, tokenizer, pairs, src_lang: str, tgt_lang: str, *, log=print) -> dict:
    """The untouched base on the evaluation split, decoded as the trials decode (beam size,
    max_new_tokens, max_samples): what fine-tuning must beat, per direction."""
    from raymt.metrics.bleu import bleu_tokenizer
    from raymt.model.decode import translate_texts
    from raymt.model.loading import load_model
    from raymt.model.pretrain import torch_threads

    n = len(pairs) if cfg.eval.max_samples is None else min(cfg.eval.max_samples, len(pairs))
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a loader bar among the search's own lines says nothing
    try:
        model = load_model(base, trust_remote_code=cfg.model.trust_remote_code)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    with torch_threads(max(1, int(round(cfg.resources.cpus_per_worker * cfg.resources.num_workers)))):
        _, scores = translate_texts(
            model,
            tokenizer,
            [s for s, _ in pairs[:n]],
            src_lang=src_lang,
            tgt_lang=tgt_lang,
            references=[t for _, t in pairs[:n]],
            beam_size=cfg.eval.beam_size,
            max_new_tokens=cfg.eval.max_new_tokens,
            batch_size=cfg.eval.batch_size,
            max_length=cfg.model.max_length,
            tokenize=bleu_tokenizer(cfg.eval.bleu_tokenize, tgt_lang),
        )
    log(f"untouched base on {cfg.eval.split} ({src_lang}->{tgt_lang}, {n} sentences): BLEU {scores.bleu:.2f}, chrF {scores.chrf:.2f}")
    return {"bleu": scores.bleu, "chrf": scores.chrf, "sentences": n, "split": cfg.eval.split, "signature": scores.bleu_signature}
