"""What a worker reads: the experiment's tokenised Arrow data, never re-tokenised per trial.

The corpus (and the augmentation pools) were tokenised once per experiment before the search
started (``raymt.data.cache``). A trial opens them memory-mapped, takes the augmented pairs its
ratios ask for, and shards the training set across workers with a ``DistributedSampler``.
Batches are padded dynamically (to the longest sentence of the batch, not to max_length).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, DistributedSampler

COLUMNS = ["input_ids", "attention_mask", "labels"]


@dataclass
class TrialData:
    train: "object"  # datasets.Dataset
    eval: "object"
    references: list[str]
    sources: list[str]


def open_trial_data(loop_config: dict, cfg) -> TrialData:
    import datasets

    from raymt.data.cache import load_tokenized

    splits = load_tokenized(loop_config["data_path"])
    train = splits["train"].select_columns(COLUMNS)
    parts = [train]
    for name, pool_path in sorted((loop_config.get("augment_pools") or {}).items()):
        entry = cfg.augment.get(name)
        ratio = entry.ratio if entry is not None else 0.0
        take = int(round(ratio * len(train)))
        if take <= 0:
            continue
        pool = load_tokenized(pool_path)["train"].select_columns(COLUMNS)
        parts.append(pool.select(range(min(take, len(pool)))))
    if len(parts) > 1:
        train = datasets.concatenate_datasets(parts)
    evalset = splits[cfg.eval.split]
    if cfg.eval.max_samples is not None:
        evalset = evalset.select(range(min(cfg.eval.max_samples, len(evalset))))
    return TrialData(train=train, eval=evalset, references=list(evalset["tgt_text"]), sources=list(evalset["src_text"]))


def make_train_loader(data: TrialData, tokenizer, cfg, rank: int, world: int):
    from transformers import DataCollatorForSeq2Seq

    sampler = DistributedSampler(data.train, num_replicas=world, rank=rank, shuffle=True, seed=cfg.train.seed, drop_last=False)
    collate = DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100, padding=True, return_tensors="pt")
    loader = DataLoader(data.train, batch_size=cfg.train.batch_size, sampler=sampler, collate_fn=collate, num_workers=0)
    return loader, sampler


def eval_batches(data: TrialData, tokenizer, cfg, rank: int, world: int, *, with_labels: bool):
    """This rank's share of the evaluation set, longest first, padded per batch.

    Sorting by length keeps padding (wasted generation work) small; striding the sorted order
    across ranks gives every worker a similar amount of work.
    """
    lengths = [len(x) for x in data.eval["input_ids"]]
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])[rank::world]
    pad = tokenizer.pad_token_id
    for start in range(0, len(order), cfg.eval.batch_size):
        idx = order[start : start + cfg.eval.batch_size]
        rows = data.eval.select(idx)
        ids = _pad(rows["input_ids"], pad)
        batch = {"input_ids": ids, "attention_mask": (ids != pad).long(), "index": torch.tensor(idx)}
        if with_labels:
            batch["labels"] = _pad(rows["labels"], -100)
        yield batch


def _pad(seqs, value: int) -> torch.Tensor:
    width = max(len(s) for s in seqs)
    out = torch.full((len(seqs), width), value, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    return out
