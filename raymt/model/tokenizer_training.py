"""Training the Unigram tokenizer of a built-in base, reproducibly.

mBART's tokenizer is a SentencePiece Unigram model (Kudo 2018, "Subword Regularization";
Kudo & Richardson 2018, "SentencePiece"); raymt trains one with the ``sentencepiece`` library
itself and lays its pieces out as a real ``MBart50Tokenizer`` (``<s> <pad> </s> <unk>``, pieces,
the 52 mBART-50 language codes, ``<mask>``), so language-code handling is transformers' own code.

Why ``sentencepiece`` and not the Unigram trainer of Hugging Face ``tokenizers`` (used until
issue 20): that trainer collects its words in a Rust ``HashMap`` whose iteration order is
seeded at random in every process. The order of the EM sums, the order of pieces with equal
scores (so their *ids*) and the scores it gives to rare characters (a penalty assigned in hash
order) changed from one process to the next: on the tiny base's corpus 4 builds gave 4
different vocab orders (``python -m benchmarks.reproducibility --part tokenizer``), hence
different embedding rows for the same piece and a different model. SentencePiece reads its
sentences in a fixed order and splits its E-step over ``num_threads`` by a fixed stride, so one
corpus and one thread count always give the same pieces and scores (the thread count changes
the float sums, so it belongs to the recipe).
"""

from __future__ import annotations

import io
from collections.abc import Iterable

#: The 52 language codes of mBART-50, in the tokenizer's own order.
from transformers.models.mbart50.tokenization_mbart50 import FAIRSEQ_LANGUAGE_CODES

SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")


def train_unigram_pieces(texts: Iterable[str], vocab_size: int, *, threads: int = 1) -> list[tuple[str, float]]:
    """(piece, log-probability) of a SentencePiece Unigram model over ``texts``, ``<unk>`` first.

    ``character_coverage=1.0``: every character of the training text gets a piece, so an
    unknown token in later text means a character the tokenizer never saw (what the
    tokenizer-fit check measures). ``hard_vocab_limit=False``: a corpus too small for
    ``vocab_size`` pieces gives fewer instead of an error (the synthetic corpus does). No
    normalisation beyond whitespace: ``MBart50Tokenizer`` applies none either.
    """
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter([t for t in texts if t.strip()]),
        model_writer=model,
        model_type="unigram",
        vocab_size=vocab_size,
        num_threads=threads,
        character_coverage=1.0,
        hard_vocab_limit=False,
        normalization_rule_name="identity",
        unk_id=0,
        bos_id=-1,
        eos_id=-1,
        pad_id=-1,
        minloglevel=2,
    )
    proc = spm.SentencePieceProcessor(model_proto=model.getvalue())
    return [(proc.id_to_piece(i), float(proc.get_score(i))) for i in range(proc.get_piece_size())]


def mbart50_tokenizer(pieces: list[tuple[str, float]], src_lang: str = "en_XX", tgt_lang: str = "de_DE"):
    """An ``MBart50Tokenizer`` over ``pieces`` (from :func:`train_unigram_pieces`), laid out as
    fairseq/mBART-50 lays out its vocabulary."""
    from transformers import MBart50Tokenizer

    body = [(p, s) for p, s in pieces if p not in SPECIALS]
    vocab = [(s, 0.0) for s in SPECIALS] + body + [(code, 0.0) for code in FAIRSEQ_LANGUAGE_CODES] + [("<mask>", 0.0)]
    return MBart50Tokenizer(vocab=vocab, src_lang=src_lang, tgt_lang=tgt_lang)


def train_tokenizer(texts: Iterable[str], vocab_size: int, src_lang: str = "en_XX", tgt_lang: str = "de_DE", *, threads: int = 1):
    """Train a Unigram tokenizer on ``texts`` and wrap it as a real ``MBart50Tokenizer``."""
    return mbart50_tokenizer(train_unigram_pieces(texts, vocab_size, threads=threads), src_lang, tgt_lang)
