"""What a worker reads: the experiment's tokenised Arrow data, never re-tokenised per trial.

The corpus (and the augmentation pools) were tokenised once per experiment before the search
started (``raymt.data.cache``). A trial opens them memory-mapped, takes the augmented pairs its
ratios ask for, and shards the training set across workers with a ``DistributedSampler``.
A multi-pair trial concatenates the pairs' training sets and samples them with a temperature
(:class:`raymt.data.temperature.TemperatureSampler`, sharded the same way); each pair keeps
its own evaluation set, scored with its own forced target code. Batches are padded dynamically
(to the longest sentence of the batch, not to max_length).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.utils.data import DataLoader, DistributedSampler

COLUMNS = ["input_ids", "attention_mask", "labels"]


@dataclass
class EvalPart:
    """One direction's evaluation set; ``pair`` is '' in a single-pair experiment."""

    pair: str
    tgt_lang: str
    eval: object  # datasets.Dataset
    references: list[str]
    sources: list[str]


@dataclass
class TrialData:
    train: object  # datasets.Dataset
    eval: object
    references: list[str]
    sources: list[str]
    parts: list[EvalPart] = field(default_factory=list)
    train_sizes: list[int] = field(default_factory=list)  # multi-pair: rows per pair, in concatenation order


def open_trial_data(loop_config: dict, cfg) -> TrialData:
    import datasets

    from raymt.data.cache import load_tokenized

    if loop_config.get("pair_data"):
        return _open_pairs(loop_config["pair_data"], cfg)
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
    evalset = _capped(splits[cfg.eval.split], cfg)
    refs, srcs = list(evalset["tgt_text"]), list(evalset["src_text"])
    return TrialData(
        train=train,
        eval=evalset,
        references=refs,
        sources=srcs,
        parts=[EvalPart("", cfg.model.tgt_lang, evalset, refs, srcs)],
        train_sizes=[len(train)],
    )


def _open_pairs(pair_data: dict[str, str], cfg) -> TrialData:
    """Every pair's training rows, concatenated in config order, and one eval part per pair."""
    import datasets

    from raymt.data.cache import load_tokenized

    trains, parts = [], []
    for pair in cfg.multi_pair.pairs:
        splits = load_tokenized(pair_data[pair.key])
        trains.append(splits["train"].select_columns(COLUMNS))
        evalset = _capped(splits[cfg.eval.split], cfg)
        parts.append(EvalPart(pair.key, pair.tgt_lang, evalset, list(evalset["tgt_text"]), list(evalset["src_text"])))
    return TrialData(
        train=datasets.concatenate_datasets(trains),
        eval=datasets.concatenate_datasets([p.eval for p in parts]),
        references=[r for p in parts for r in p.references],
        sources=[s for p in parts for s in p.sources],
        parts=parts,
        train_sizes=[len(t) for t in trains],
    )


def _capped(evalset, cfg):
    if cfg.eval.max_samples is not None:
        evalset = evalset.select(range(min(cfg.eval.max_samples, len(evalset))))
    return evalset


def make_train_loader(data: TrialData, tokenizer, cfg, rank: int, world: int):
    from transformers import DataCollatorForSeq2Seq

    if cfg.multi_pair is not None:
        from raymt.data.temperature import TemperatureSampler

        sampler = TemperatureSampler(data.train_sizes, cfg.multi_pair.temperature, num_replicas=world, rank=rank, seed=cfg.train.seed)
    else:
        sampler = DistributedSampler(data.train, num_replicas=world, rank=rank, shuffle=True, seed=cfg.train.seed, drop_last=False)
    collate = DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100, padding=True, return_tensors="pt")
    loader = DataLoader(data.train, batch_size=cfg.train.batch_size, sampler=sampler, collate_fn=collate, num_workers=0)
    return loader, sampler


def eval_batches(data: TrialData, tokenizer, cfg, rank: int, world: int, *, with_labels: bool):
    """This rank's share of the evaluation set, longest first, padded per batch.

    Sorting by length keeps padding (wasted generation work) small; striding the sorted order
    across ranks gives every worker a similar amount of work. The plan and the padding are
    :mod:`raymt.model.generation`'s, which an exported model replays (evaluate = search).
    """
    from raymt.model.generation import batch_plan, pad_batch

    lengths = [len(x) for x in data.eval["input_ids"]]
    pad = tokenizer.pad_token_id
    for idx in batch_plan(lengths, cfg.eval.batch_size, rank=rank, world=world):
        rows = data.eval.select(idx)
        ids = pad_batch(rows["input_ids"], pad)
        batch = {"input_ids": ids, "attention_mask": (ids != pad).long(), "index": torch.tensor(idx)}
        if with_labels:
            batch["labels"] = pad_batch(rows["labels"], -100)
        yield batch
