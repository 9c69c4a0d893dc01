"""How a fine-tuned model turns sources into hypotheses: ONE definition, used by the search's
scoring (the trial worker) and by an exported model (``raymt translate`` / ``raymt evaluate``).

Why one module: the BLEU a search reports and the BLEU ``raymt evaluate`` gives the exported
trial on the same sentences must be the same number. They drifted apart while each path had
its own ``generate`` call (a different ``max_new_tokens``, beam size and batching). Everything
that can change a hypothesis is therefore decided here:

- :class:`Decoding`: beam size, ``max_new_tokens``, source truncation (``max_length``), the
  batch size and how many shards (Train workers) the search split its evaluation set into;
  an export records it (``raymt_export.json``) and translate/evaluate use it unless overridden.
- :func:`batch_plan`: which sentences are decoded together. Padding and batch shape do not
  change the mathematics of greedy/beam search, but they change float summation order, and a
  near-tie between two tokens can flip; the export replays the search's exact batches.
- :func:`pad_batch` / :func:`generate_texts`: right padding with the tokenizer's pad id, the
  target language code forced as the first generated token (mBART-50), special tokens skipped
  and whitespace stripped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

import torch


@dataclass(frozen=True)
class Decoding:
    beam_size: int = 1
    max_new_tokens: int = 64
    batch_size: int = 64
    max_length: int = 64  # sources longer than this (in tokens) are truncated, as in the tokenised corpus
    shards: int = 1  # evaluation split across this many Train workers, each batching its own share

    @classmethod
    def from_config(cls, cfg) -> Decoding:
        """The decoding a trial of ``cfg`` scores with."""
        return cls(
            beam_size=cfg.eval.beam_size,
            max_new_tokens=cfg.eval.max_new_tokens,
            batch_size=cfg.eval.batch_size,
            max_length=cfg.model.max_length,
            shards=cfg.resources.num_workers,
        )

    @classmethod
    def from_dict(cls, data: dict) -> Decoding:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known and v is not None})

    def to_dict(self) -> dict:
        return asdict(self)


def batch_plan(lengths: Sequence[int], batch_size: int, *, rank: int = 0, world: int = 1) -> list[list[int]]:
    """Rank ``rank``'s batches (indices into ``lengths``): longest first, the sorted order
    strided across ``world`` ranks so every worker gets a similar share of the work."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])[rank::world]
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def all_batches(lengths: Sequence[int], batch_size: int, shards: int) -> list[list[int]]:
    """Every shard's batches, one after the other: the search's batches replayed in one process."""
    return [batch for rank in range(max(1, shards)) for batch in batch_plan(lengths, batch_size, rank=rank, world=max(1, shards))]


def pad_batch(seqs: Sequence[Sequence[int]], value: int) -> torch.Tensor:
    """Right-padded ``(len(seqs), longest)`` tensor: mBART's tokenizer pads on the right."""
    width = max(len(s) for s in seqs)
    out = torch.full((len(seqs), width), value, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.as_tensor(list(s), dtype=torch.long)
    return out


@torch.no_grad()
def generate_texts(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, tokenizer, tgt_lang: str, decoding: Decoding) -> list[str]:
    """Decode one batch into stripped target-language texts."""
    from raymt.model.loading import forced_bos_id

    out = model.generate(
        input_ids=input_ids,
        attention_mask=attention_mask,
        num_beams=decoding.beam_size,
        max_new_tokens=decoding.max_new_tokens,
        forced_bos_token_id=forced_bos_id(tokenizer, tgt_lang),
        decoder_start_token_id=model.config.decoder_start_token_id,
    )
    return [text.strip() for text in tokenizer.batch_decode(out, skip_special_tokens=True)]


def translate_lines(model, tokenizer, lines: Sequence[str], tgt_lang: str, decoding: Decoding) -> list[str]:
    """One translation per line in input order, batched as the search batches its evaluation;
    a blank line stays blank (the search never decodes an empty source). The tokenizer's
    ``src_lang`` is the caller's to set."""
    out = [""] * len(lines)
    todo = [i for i, line in enumerate(lines) if line.strip()]
    if not todo:
        return out
    # the tokenised corpus was built the same way: source mode, truncated to max_length
    ids = tokenizer([lines[i] for i in todo], truncation=True, max_length=decoding.max_length)["input_ids"]
    pad = tokenizer.pad_token_id
    for batch in all_batches([len(x) for x in ids], decoding.batch_size, decoding.shards):
        input_ids = pad_batch([ids[j] for j in batch], pad)
        for j, text in zip(batch, generate_texts(model, input_ids, (input_ids != pad).long(), tokenizer, tgt_lang, decoding)):
            out[todo[j]] = text
    return out
