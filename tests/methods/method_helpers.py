"""Tiny mBART models and a fixed translation-like batch for the method tests (imported by them).

The model is random but with a large ``init_std``, so greedy translations differ from input to
input and from step to step: comparing two models' translations then means something (a
0.02-std random mBART answers every input with the same token).
"""

from __future__ import annotations

import torch
from transformers import MBartConfig, MBartForConditionalGeneration

LANG_ID = 10  # stands for the target-language code passed as forced_bos_token_id


def tiny_config(**overrides) -> MBartConfig:
    values = dict(
        vocab_size=200,
        d_model=64,
        encoder_layers=2,
        decoder_layers=2,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        max_position_embeddings=64,
        scale_embedding=False,
        init_std=0.2,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        decoder_start_token_id=2,
    )
    values.update(overrides)
    return MBartConfig(**values)


def large_config() -> MBartConfig:
    """The dimensions of facebook/mbart-large-50 (never allocated in tests: meta device only)."""
    return MBartConfig(
        vocab_size=250054,
        d_model=1024,
        encoder_layers=12,
        decoder_layers=12,
        encoder_ffn_dim=4096,
        decoder_ffn_dim=4096,
        encoder_attention_heads=16,
        decoder_attention_heads=16,
        max_position_embeddings=1024,
        scale_embedding=True,
    )


def make_base(config: MBartConfig | None = None, seed: int = 0) -> MBartForConditionalGeneration:
    """The same random weights for the same seed: a 'fresh copy of the base model'."""
    torch.manual_seed(seed)
    return MBartForConditionalGeneration(config or tiny_config())


def make_batch(seed: int = 1) -> dict[str, torch.Tensor]:
    """Four padded 'sentences'; the target is the reversed source after the language code."""
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(4, 200, (4, 9), generator=g)
    mask = torch.ones_like(src)
    src[2, 6:], mask[2, 6:] = 1, 0
    labels = torch.cat([torch.full((4, 1), LANG_ID), src.flip(1)[:, :6], torch.full((4, 1), 2)], dim=1)
    return {"input_ids": src, "attention_mask": mask, "labels": labels}


def eval_loss(model, batch) -> float:
    model.eval()
    with torch.no_grad():
        return model(**batch).loss.item()


def train_steps(model, batch, steps: int = 3, lr: float = 1e-2) -> None:
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr)
    model.train()
    for _ in range(steps):
        model(**batch).loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()


def translate(model, batch, **kwargs) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model.generate(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            forced_bos_token_id=LANG_ID,
            max_new_tokens=8,
            num_beams=1,
            do_sample=False,
            **kwargs,
        )


def logits(model, batch) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(**batch).logits


def generation_vs_forward_gap(model, batch, max_new_tokens: int = 6) -> float:
    """Largest difference between the logits ``generate()`` (KV cache) used at each step and
    the teacher-forced forward pass over the tokens it produced: 0 when generation sees the
    same model as training does (it would not, e.g., if a prefix were dropped in generate)."""
    model.eval()
    with torch.no_grad():
        out = model.generate(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            forced_bos_token_id=LANG_ID,
            max_new_tokens=max_new_tokens,
            min_new_tokens=max_new_tokens,
            num_beams=1,
            do_sample=False,
            output_logits=True,
            return_dict_in_generate=True,
        )
        step_logits = torch.stack(out.logits, dim=1)
        forward = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], decoder_input_ids=out.sequences[:, :-1]).logits
    return (step_logits - forward).abs().max().item()
