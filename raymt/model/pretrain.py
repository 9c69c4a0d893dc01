"""Translation training outside Ray Train: the built-in bases and the reverse back-translation model.

A plain single-process loop (no trial, no Ray): it runs once per recipe and is cached. Two rules
make its output a pure function of the recipe:

* **a fixed thread count.** torch's CPU kernels split their reductions by the number of intra-op
  threads, so 1, 2 and 3 threads give three different models from one recipe (measured:
  ``python -m benchmarks.reproducibility --part threads``). The loop runs with exactly the
  recipe's ``threads``, whatever the machine has, and restores the caller's setting after.
* **everything random is seeded** from the recipe: initialisation and dropout (torch), batch
  order (``random.Random``).

Batches are cut from length-sorted buckets (as fairseq and ``DataCollatorForSeq2Seq`` users do
with ``group_by_length``), so little of each batch is padding.
"""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from raymt.progress import Progress

Example = tuple[list[int], list[int]]  # (input_ids, labels)

#: batches are cut from length-sorted windows of this many batches
BUCKET_BATCHES = 50


@dataclass(frozen=True)
class Recipe:
    epochs: int
    lr: float
    batch_size: int
    seed: int
    threads: int = 1
    warmup_share: float = 0.1
    weight_decay: float = 0.01


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with exactly ``n`` intra-op threads, then give the caller its own back."""
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def encode_pairs(tokenizer, pairs: Sequence[tuple[str, str]], *, src_lang: str, tgt_lang: str, max_length: int) -> list[Example]:
    """Token ids of a direction's pairs, with its mBART-50 codes (source code first, target code
    first in the labels, as ``MBart50Tokenizer`` lays them out)."""
    tokenizer.src_lang, tokenizer.tgt_lang = src_lang, tgt_lang
    enc = tokenizer([s for s, _ in pairs], text_target=[t for _, t in pairs], max_length=max_length, truncation=True)
    return list(zip(enc["input_ids"], enc["labels"]))


def batches(examples: Sequence[Example], batch_size: int, rng: random.Random) -> list[list[Example]]:
    """One epoch's batches: shuffled, bucketed by length, batch order shuffled again."""
    order = list(examples)
    rng.shuffle(order)
    window = batch_size * BUCKET_BATCHES
    out: list[list[Example]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda e: (len(e[0]), len(e[1])))
        out += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(out)
    return out


def collate(batch: Sequence[Example], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    src_len = max(len(s) for s, _ in batch)
    tgt_len = max(len(t) for _, t in batch)
    ids = torch.full((len(batch), src_len), pad_id)
    labels = torch.full((len(batch), tgt_len), -100)
    for j, (s, t) in enumerate(batch):
        ids[j, : len(s)] = torch.tensor(s)
        labels[j, : len(t)] = torch.tensor(t)
    return ids, labels


def pretrain(model, examples: Sequence[Example], recipe: Recipe, *, pad_id: int, log=print, what: str = "pre-training") -> list[float]:
    """Train ``model`` on ``examples`` for ``recipe.epochs`` (AdamW, linear warmup and decay);
    returns the mean training loss of each epoch."""
    from transformers import get_linear_schedule_with_warmup

    with torch_threads(recipe.threads):
        torch.manual_seed(recipe.seed)
        rng = random.Random(recipe.seed)
        steps_per_epoch = math.ceil(len(examples) / recipe.batch_size)
        total = steps_per_epoch * recipe.epochs
        opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
        sched = get_linear_schedule_with_warmup(opt, max(1, int(total * recipe.warmup_share)), total)
        progress = Progress(what, total, log=log)  # a line with the time left every 10 s
        model.train()
        losses = []
        for epoch in range(recipe.epochs):
            loss_sum = 0.0
            for batch in batches(examples, recipe.batch_size, rng):
                ids, labels = collate(batch, pad_id)
                out = model(input_ids=ids, attention_mask=(ids != pad_id).long(), labels=labels)
                out.loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                sched.step()
                opt.zero_grad(set_to_none=True)
                loss_sum += out.loss.item()
                progress.advance()
            losses.append(loss_sum / steps_per_epoch)
            log(f"{what}: epoch {epoch + 1}/{recipe.epochs} loss {losses[-1]:.3f}")
        model.eval()
    return losses
