"""Once per experiment, for a multi-pair run: load and tokenise every pair's corpus.

Each pair gets its own tokenised Arrow cache, built with a tokenizer set to that pair's codes
(``src_lang`` prefixes the source, ``tgt_lang`` starts the labels, as ``MBart50Tokenizer``
does): the same sentences under two directions are two different caches, and the content-keyed
cache (:mod:`raymt.data.cache`) fingerprints the codes, so directions never share a stale one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from raymt.errors import ConfigError


@dataclass
class PreparedPairs:
    paths: dict[str, str]  # pair key -> tokenised cache, in config order
    sizes: dict[str, int] = field(default_factory=dict)
    cleaning: dict[str, dict] = field(default_factory=dict)
    tokenizer_fit: dict[str, list[dict]] = field(default_factory=dict)  # pair key -> both sides (raymt.data.tokenizer_fit)
    base_scores: dict[str, dict] = field(default_factory=dict)  # pair key -> the untouched base's scores


def tokenize_pairs(cfg, base: str, data_root: Path, *, log=print) -> PreparedPairs:
    from raymt.data.cache import build_tokenized
    from raymt.data.sources import load_corpus
    from raymt.model.loading import load_tokenizer
    from raymt.train.base_checks import check_tokenizer_fit, score_base, wants_base_score

    out = PreparedPairs(paths={})
    for i, pair in enumerate(cfg.multi_pair.pairs):
        where = f"multi_pair.pairs[{i}]"
        try:
            tokenizer = load_tokenizer(base, pair.src_lang, pair.tgt_lang, trust_remote_code=cfg.model.trust_remote_code)
        except ConfigError as err:  # name the pair's field, not model.src_lang
            side = "tgt_lang" if (err.where or "").endswith("tgt_lang") else "src_lang"
            raise ConfigError(err.message, where=f"{where}.{side}", fix=err.fix) from None
        splits, cleaning = load_corpus(pair.data)
        if pair.reverse:
            splits = {name: [(tgt, src) for src, tgt in pairs] for name, pairs in splits.items()}
        out.tokenizer_fit[pair.key] = check_tokenizer_fit(
            cfg, splits, tokenizer, src_lang=pair.src_lang, tgt_lang=pair.tgt_lang, where=f"{where}.data", log=log
        )
        if wants_base_score(cfg):
            out.base_scores[pair.key] = score_base(cfg, base, tokenizer, splits[cfg.eval.split], pair.src_lang, pair.tgt_lang, log=log)
        out.paths[pair.key] = str(build_tokenized(splits, tokenizer, cfg.model.max_length, data_root))
        out.sizes.update({f"{pair.key} {name}": len(rows) for name, rows in splits.items()})
        out.cleaning[pair.key] = asdict(cleaning)
        log(f"pair {pair.key}: {len(splits['train'])} training pairs tokenised")
    return out
