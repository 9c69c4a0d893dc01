"""The denoising stage's training: mBART text infilling on monolingual target-language text.

Same model, same module as the trial: the base is wrapped by the trial's method with the
trial's parameters, so what this stage trains is exactly what MT fine-tuning continues from
(for PEFT methods the base stays frozen here too). Input = the noised sentence, target = the
sentence itself, both in the target language with its mBART-50 language code (Liu et al. 2020:
the language id marks the text being reconstructed). A plain single-process loop: the stage
is a few hundred steps on a small monolingual set, so it is not worth a worker group.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from raymt.data.noise import text_infilling

MAX_GRAD_NORM = 1.0


def noised_pairs(texts: list[str], *, mask_ratio: float, poisson_lambda: float, mask_token: str, seed: int):
    """(noised, original) pairs, one fresh noise per sentence, reproducible from the seed."""
    rng = np.random.default_rng(seed)
    return [(text_infilling(t, rng, mask_ratio=mask_ratio, poisson_lambda=poisson_lambda, mask_token=mask_token).text, t) for t in texts]


def train_denoise(cfg, base_path: str, texts: list[str], dest: Path, *, log=None) -> dict:
    """Train the trial's module for ``cfg.init.denoise.steps`` steps; save it to ``dest``. The
    caller fixes the thread count (:func:`raymt.train.init_stage.build_stage`: its cache key
    holds it)."""
    from transformers import get_linear_schedule_with_warmup

    from raymt.methods import get_method
    from raymt.model.loading import load_model, load_tokenizer

    dn = cfg.init.denoise
    torch.manual_seed(dn.seed)
    device = torch.device("cuda" if cfg.resources.use_gpu and torch.cuda.is_available() else "cpu")
    tokenizer = load_tokenizer(base_path, cfg.model.tgt_lang, cfg.model.tgt_lang, trust_remote_code=cfg.model.trust_remote_code)
    if tokenizer.mask_token is None:
        raise ValueError(f"the tokenizer of {base_path} has no mask token: text infilling needs one (mBART's is <mask>)")
    method = get_method(cfg.method.name)
    model = method.apply(load_model(base_path, trust_remote_code=cfg.model.trust_remote_code), cfg.method.params).to(device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    # nothing from cfg.train: the stage is shared by trials whose MT settings differ (its cache key
    # holds the stage settings only), so it must not depend on them
    optimizer = torch.optim.AdamW(trainable, lr=dn.lr, weight_decay=0.0)
    schedule = get_linear_schedule_with_warmup(optimizer, int(0.1 * dn.steps), dn.steps)
    order = np.random.default_rng(dn.seed + 1)
    model.train()
    losses: list[float] = []
    epoch = 0
    step = 0
    while step < dn.steps:
        # fresh noise every pass over the text, as in mBART (noise is applied on the fly)
        pairs = noised_pairs(
            texts, mask_ratio=dn.mask_ratio, poisson_lambda=dn.poisson_lambda, mask_token=tokenizer.mask_token, seed=dn.seed * 1_000_003 + epoch
        )
        perm = order.permutation(len(pairs))
        for start in range(0, len(perm), dn.batch_size):
            if step >= dn.steps:
                break
            batch = [pairs[i] for i in perm[start : start + dn.batch_size]]
            enc = tokenizer(
                [b[0] for b in batch],
                text_target=[b[1] for b in batch],
                max_length=cfg.model.max_length,
                truncation=True,
                padding=True,
                return_tensors="pt",
            )
            labels = enc["labels"].masked_fill(enc["labels"] == tokenizer.pad_token_id, -100)
            out = model(input_ids=enc["input_ids"].to(device), attention_mask=enc["attention_mask"].to(device), labels=labels.to(device))
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, MAX_GRAD_NORM)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(out.loss.item())
            step += 1
        epoch += 1
    model.eval()
    method.save(model.cpu(), dest)
    if log:
        log(f"denoising stage: {step} steps, loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    return {"steps": step, "first_loss": losses[0], "last_loss": losses[-1]}
