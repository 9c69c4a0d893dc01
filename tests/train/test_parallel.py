"""FSDP2 over two gloo processes on CPU, as a trial's two Ray Train workers run it: the gathered
state the artefact is saved from, and the resumable checkpoint each rank writes and reads on its
own (raymt.train.parallel)."""

from __future__ import annotations

import os
import shutil
import socket
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "methods"))

WORLD = 2


def _model(seed: int):
    from method_helpers import tiny_config
    from transformers import MBartForConditionalGeneration

    from raymt.train import parallel

    torch.manual_seed(seed)
    # an odd vocabulary: the tied embedding's shards are uneven (101 + 100 rows)
    model = MBartForConditionalGeneration(tiny_config(vocab_size=201, dropout=0.0))
    return parallel.wrap(model, "fsdp", WORLD, torch.device("cpu"))


def _train(model, optimizer, steps: int) -> None:
    generator = torch.Generator().manual_seed(7)
    for _ in range(steps):
        ids = torch.randint(3, 201, (4, 9), generator=generator)
        model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=ids.flip(1)).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)


def _local(model, optimizer) -> dict:
    """This rank's shards of every weight and moment, and the learning rate."""
    out = {f"w:{n}": p.to_local().clone() for n, p in model.named_parameters()}
    names = {id(p): n for n, p in model.named_parameters()}
    for param, state in optimizer.state.items():
        for key, value in state.items():
            out[f"{key}:{names[id(param)]}"] = (value.to_local() if hasattr(value, "to_local") else value).clone()
    out["lr"] = torch.tensor(optimizer.param_groups[0]["lr"])
    return out


def _worker(rank: int, port: int, tmp: str) -> None:
    import torch.distributed as dist
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    from raymt.train import parallel

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    torch.set_num_threads(1)
    try:
        model = _model(seed=0)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
        _train(model, optimizer, steps=2)

        # the artefact's state: every key, each tied weight gathered once, equal to torch's own gather
        gathered = parallel.full_state_dict(model)
        reference = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        if rank == 0:
            assert gathered.keys() == reference.keys()
            assert all(torch.equal(gathered[k], reference[k]) for k in reference)
            tied = ["model.shared.weight", "model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight", "lm_head.weight"]
            assert len({gathered[k].data_ptr() for k in tied}) == 1  # one copy for four names
        else:
            assert gathered == {}

        # each rank writes its own folder (Ray Train then merges them into one checkpoint)
        own = Path(tmp) / f"rank{rank}" / "trainer_state.dcp"
        parallel.save_sharded(model, optimizer, own)
        dist.barrier()
        merged = Path(tmp) / "checkpoint" / "trainer_state.dcp"
        if rank == 0:
            for r in range(WORLD):
                shutil.copytree(Path(tmp) / f"rank{r}" / "trainer_state.dcp", merged, dirs_exist_ok=True)
        dist.barrier()
        saved = _local(model, optimizer)

        # a restarted worker: other weights, fresh moments, then its own shards read back
        restored_model = _model(seed=1)
        restored_opt = torch.optim.AdamW(restored_model.parameters(), lr=5e-2, weight_decay=0.01)
        parallel.load_sharded(restored_model, restored_opt, merged)
        restored = _local(restored_model, restored_opt)
        assert saved.keys() == restored.keys()
        assert [k for k in saved if not torch.equal(saved[k], restored[k])] == []

        # and training goes on exactly as if nothing had happened
        _train(model, optimizer, steps=1)
        _train(restored_model, restored_opt, steps=1)
        assert all(torch.equal(a.to_local(), b.to_local()) for a, b in zip(model.parameters(), restored_model.parameters()))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_fsdp_artefact_gather_and_rank_local_checkpoint(tmp_path):
    from raymt.plan.storage import trainer_state_bytes

    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    files = {p.name: p.stat().st_size for p in (tmp_path / "checkpoint" / "trainer_state.dcp").iterdir()}
    assert {"__0_0.distcp", "__1_0.distcp", ".metadata"} <= set(files)
    # each rank wrote its own half of the weights and moments, none a whole copy
    total = sum(files.values())
    assert all(abs(files[f"__{r}_0.distcp"] - total / WORLD) < 0.1 * total for r in range(WORLD))
    # and the plan's checkpoint figure counts them (raymt.plan.storage)
    params = list(_unsharded_params())
    assert total == pytest.approx(trainer_state_bytes(sum(p.numel() for p in params), len(params), ranks=WORLD), rel=0.05)


def _unsharded_params():
    from method_helpers import tiny_config
    from transformers import MBartForConditionalGeneration

    return MBartForConditionalGeneration(tiny_config(vocab_size=201, dropout=0.0)).parameters()


def _rss() -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmRSS"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's heap, read in /proc")
def test_freed_layer_sized_tensors_are_given_back():
    """Tensors below glibc's mmap threshold stay resident once freed between live ones (as a
    loaded model's layers do after FSDP sharded them): release_freed_memory gives them back."""
    from raymt.train import parallel

    mib = 2**20
    big = torch.ones(4 * mib)  # 16 MiB: freeing it raises glibc's mmap threshold above the blocks below
    del big
    blocks = [torch.ones(mib) for _ in range(200)]  # 200 x 4 MiB from the heap, touched
    del blocks[::2]  # 100 holes between live blocks: 400 MiB freed but still resident
    kept = _rss()
    parallel.release_freed_memory()
    assert _rss() < kept - 300 * mib
    del blocks
