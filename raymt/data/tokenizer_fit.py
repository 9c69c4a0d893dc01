"""Does the model's tokenizer fit the corpus? Measured before any Ray work.

A tokenizer that never saw a language cuts its words into single characters and maps the
characters it lacks to ``<unk>``: the synthetic tiny base turned real German into
``▁wi r d ▁ nic h t`` with 9.6% unknown tokens, and training went on without a word. Whatever
the fine-tuning method, a model cannot learn to read or write what its vocabulary maps to
``<unk>``, and a search would spend its budget measuring noise. So each side of the corpus is
measured under the tokenizer (unknown-token rate and tokens per word: the first says "cannot
represent", the second "represents, but as fragments"), the figures are printed and stored
(``prepared.json``, the report's Data section), and a side whose unknown rate is above
``model.max_unk_rate`` is refused with the fix: a base whose tokenizer covers the language.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from raymt.data.splits import Splits
from raymt.errors import DataError

#: sentences measured per side at most (evenly spread over all splits): enough for a rate of
#: 0.1% to be exact to a few percent of itself, and a few seconds for any tokenizer
MAX_SENTENCES = 50_000


@dataclass
class SideFit:
    side: str  # "source" or "target"
    lang: str  # its mBART-50 code
    sentences: int
    words: int  # whitespace-separated
    tokens: int  # pieces, without special tokens
    unknown: int  # pieces that are <unk>

    @property
    def unk_rate(self) -> float:
        return self.unknown / self.tokens if self.tokens else 0.0

    @property
    def tokens_per_word(self) -> float:
        return self.tokens / self.words if self.words else 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "unk_rate": self.unk_rate, "tokens_per_word": self.tokens_per_word}

    def line(self) -> str:
        return f"{self.side} ({self.lang}): {self.unk_rate:.2%} unknown tokens, {self.tokens_per_word:.2f} tokens/word ({self.sentences} sentences)"


def _spread(texts: list[str], limit: int) -> list[str]:
    if len(texts) <= limit:
        return texts
    step = len(texts) / limit
    return [texts[int(i * step)] for i in range(limit)]


def measure_side(tokenizer, texts: list[str], *, side: str, lang: str, limit: int = MAX_SENTENCES) -> SideFit:
    texts = _spread([t for t in texts if t.strip()], limit)
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []
    unk = tokenizer.unk_token_id
    return SideFit(
        side=side,
        lang=lang,
        sentences=len(texts),
        words=sum(len(t.split()) for t in texts),
        tokens=sum(len(row) for row in ids),
        unknown=sum(row.count(unk) for row in ids) if unk is not None else 0,
    )


def measure_fit(splits: Splits, tokenizer, *, src_lang: str, tgt_lang: str) -> list[SideFit]:
    """Both sides of every split together (train, validation and test are all read by the model)."""
    pairs = [pair for rows in splits.values() for pair in rows]
    return [
        measure_side(tokenizer, [s for s, _ in pairs], side="source", lang=src_lang),
        measure_side(tokenizer, [t for _, t in pairs], side="target", lang=tgt_lang),
    ]


def check_fit(fit: list[SideFit], *, max_unk_rate: float, model: str, where: str = "data") -> None:
    """Refuse the worst side above ``max_unk_rate``, in one line with the fix."""
    bad = [f for f in fit if f.unk_rate > max_unk_rate]
    if not bad:
        return
    worst = max(bad, key=lambda f: f.unk_rate)
    raise DataError(
        f"{worst.unk_rate:.2%} of the {worst.side} tokens ({worst.lang}) are <unk> under the tokenizer of {model} "
        f"(limit {max_unk_rate:.2%}, {worst.tokens_per_word:.2f} tokens/word): it does not cover this language",
        where=where,
        fix=f"use a base whose tokenizer covers {worst.lang} (model.name_or_path: tiny-multilingual covers en/de/fr/cs; "
        "mBART-50 checkpoints cover 50 languages), or raise model.max_unk_rate if the text really is this noisy",
    )
