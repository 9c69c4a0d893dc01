"""How a model is spread over the workers of one trial: DDP, FSDP2 or nothing.

DDP (the default) suits PEFT methods and small models: every rank holds the model, gradients
are all-reduced. FSDP (Zhao et al. 2023, "PyTorch FSDP", VLDB) shards parameters, gradients
and optimizer state: the way to fully fine-tune a model that does not fit one device. raymt
uses FSDP2's ``fully_shard`` directly (as Ray's own FSDP2 guide does) rather than
``prepare_model(parallel_strategy="fsdp")``, which refuses CPU: so the FSDP path runs with gloo
on CPU in CI, and with nccl on GPUs unchanged.
"""

from __future__ import annotations

import contextlib

import torch


def wrap(model: torch.nn.Module, strategy: str, world_size: int, device: torch.device, *, find_unused: bool = False):
    """Return the model to train, wrapped for ``strategy`` (no wrapping for one worker).

    ``find_unused``: the method's ``ddp_find_unused_parameters`` (frozen parameters need no
    search: DDP only tracks those with ``requires_grad``)."""
    if world_size <= 1 or strategy == "none":
        return model.to(device)
    if strategy == "ddp":
        from ray.train.torch import prepare_model

        return prepare_model(model, parallel_strategy="ddp", parallel_strategy_kwargs={"find_unused_parameters": find_unused})
    if strategy == "fsdp":
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard

        model = model.to(device)
        mesh = init_device_mesh(device.type, (world_size,))
        layers = [m for name, m in model.named_modules() if name.endswith(("encoder.layers", "decoder.layers"))]
        for block in layers:
            for layer in block:
                fully_shard(layer, mesh=mesh)
        fully_shard(model, mesh=mesh)
        return model
    raise ValueError(f"unknown parallel strategy {strategy!r}")


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The user's model under a DDP wrapper (FSDP2 modules are the model itself)."""
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model


def is_fsdp(model: torch.nn.Module) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


@contextlib.contextmanager
def full_params(model: torch.nn.Module):
    """Gather FSDP-sharded parameters for generation or saving; a no-op otherwise.

    Generation runs a different number of forward passes on each rank (sentences end at
    different steps), which would deadlock FSDP's per-forward all-gathers: so the parameters
    are gathered once, kept whole during generation, and resharded after.
    """
    if not is_fsdp(model):
        yield unwrap(model)
        return
    fsdp_modules = [m for m in model.modules() if is_fsdp(m)]
    for m in fsdp_modules:
        m.set_reshard_after_forward(False, recurse=False)
    for m in fsdp_modules:
        m.unshard()
    try:
        yield model
    finally:
        for m in fsdp_modules:
            m.reshard()
            m.set_reshard_after_forward(True, recurse=False)


def full_state_dict(model: torch.nn.Module) -> dict:
    """The whole (unsharded) state dict of an FSDP2 model, on CPU, on rank 0 ({} elsewhere).

    A collective: every rank must call it. Saving needs it because an FSDP2 module's
    ``state_dict()`` holds sharded DTensors even while unsharded for generation, and
    ``save_pretrained`` cannot flatten a tensor sharded unevenly (a vocabulary of odd size).
    """
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def no_sync(model: torch.nn.Module, active: bool):
    """Skip DDP's gradient all-reduce on micro-batches that are not the last of an accumulation."""
    if active and isinstance(model, torch.nn.parallel.DistributedDataParallel):
        return model.no_sync()
    return contextlib.nullcontext()
