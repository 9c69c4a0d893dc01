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


def release_freed_memory() -> None:
    """Give the memory of freed tensors back to the system (glibc's ``malloc_trim``).

    glibc serves blocks below its mmap threshold (at most 32 MiB) from its heap and keeps them
    when they are freed. A model's layer weights are such blocks (1 to 16 MiB in mBART-large):
    once rank 0 has saved the gathered artefact, the freed copy stayed resident. Measured at
    mBART-large size (BENCHMARKS.md, "Real scale on CPU"): rank 0 ended its artefact save at
    6.03 GiB without this call and at 4.20 with it. A no-op where there is no glibc."""
    import ctypes
    import ctypes.util

    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


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

    Each distinct tensor is gathered once: tied weights are several keys of one parameter
    (mBART's token embedding is ``model.shared``, both ``embed_tokens`` and ``lm_head``), and
    torch's ``get_model_state_dict(full_state_dict=True)`` gathers every key on its own: at
    mBART-large size three more 250k x 1,024 copies (2.9 GiB) on rank 0 while it saves.
    """
    from torch.distributed.tensor import DTensor

    rank0 = torch.distributed.get_rank() == 0
    canonical = _aliases(model)
    gathered: dict = {}
    for key, value in model.state_dict().items():
        first = canonical.get(key, key)
        if first != key:  # the same tensor under another name: gathered already
            if rank0:
                gathered[key] = gathered[first]
            continue
        if isinstance(value, DTensor):
            value = value.full_tensor()  # every rank, in the same order
        if rank0:
            gathered[key] = value.detach().cpu()
    return gathered


def _aliases(model: torch.nn.Module) -> dict[str, str]:
    """Every parameter's and buffer's name -> the first name of the same tensor (tied weights).
    Decided from the module structure, so every rank decides the same (a rank's empty shard
    cannot tell two tensors apart)."""
    first: dict[int, str] = {}
    named = [*model.named_parameters(remove_duplicate=False), *model.named_buffers(remove_duplicate=False)]
    return {name: first.setdefault(id(tensor), name) for name, tensor in named}


def save_sharded(model: torch.nn.Module, optimizer: torch.optim.Optimizer, dest) -> None:
    """Every rank writes its own shards of the trained weights and of the AdamW moments to
    ``dest`` with torch.distributed.checkpoint (one ``__<rank>_0.distcp`` file per rank, the
    ``.metadata`` from rank 0): nothing is gathered and no rank holds a whole copy. Ray Train
    merges the ranks' folders into one checkpoint; :func:`load_sharded` reads it back."""
    import torch.distributed.checkpoint as dcp

    model_state, optim_state = _sharded_state(model, optimizer)
    # sync_files off: this is a local staging copy that Ray Train uploads to storage_path
    dcp.save({"model": model_state, "optimizer": optim_state}, storage_writer=dcp.FileSystemWriter(str(dest), sync_files=False))


def load_sharded(model: torch.nn.Module, optimizer: torch.optim.Optimizer, src) -> None:
    """Restore :func:`save_sharded`'s shards into a model sharded the same way and its fresh
    optimizer: each rank reads only the bytes of its own shards (the restore of a killed
    worker's group never builds a whole model or a whole optimizer state)."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import set_state_dict

    model_state, optim_state = _sharded_state(model, optimizer)  # (allocates the AdamW moments: a zero step at lr 0)
    dcp.load({"model": model_state, "optimizer": optim_state}, storage_reader=dcp.FileSystemReader(str(src)))
    # frozen weights are not in the checkpoint: they come from the base, already loaded
    set_state_dict(model, optimizer, model_state_dict=model_state, optim_state_dict=optim_state, options=_options(strict=False))


def _options(strict: bool = True):
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(ignore_frozen_params=True, strict=strict)


def _sharded_state(model, optimizer):
    """The model's and optimizer's sharded state dicts, each tied weight under one name: DCP
    writes every key on its own, which saved mBART's embedding shards four times (3.1 GB more
    per checkpoint at mBART-large size); loading the one name fills the shared tensor."""
    from torch.distributed.checkpoint.state_dict import get_state_dict

    model_state, optim_state = get_state_dict(model, optimizer, options=_options())
    canonical = _aliases(model)
    return {k: v for k, v in model_state.items() if canonical.get(k, k) == k}, optim_state


def no_sync(model: torch.nn.Module, active: bool):
    """Skip DDP's gradient all-reduce on micro-batches that are not the last of an accumulation."""
    if active and isinstance(model, torch.nn.parallel.DistributedDataParallel):
        return model.no_sync()
    return contextlib.nullcontext()
