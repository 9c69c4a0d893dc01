"""What one checkpoint holds, by the plan: the resumable state of an FSDP trial is every rank's
shards of the weights and moments (torch.distributed.checkpoint), of one worker or DDP the
moments alone (the weights are the artefact)."""

from __future__ import annotations

from raymt.plan.storage import DCP_BYTES_PER_TENSOR, TORCH_SAVE_BYTES_PER_TENSOR, checkpoint_bytes


def test_fsdp_checkpoints_carry_the_weight_shards_beside_the_moments():
    artifact, trainable, tensors = 2_444_579_824, 610_879_488, 511
    ddp = checkpoint_bytes(artifact, trainable, tensors)
    fsdp = checkpoint_bytes(artifact, trainable, tensors, ranks=2)
    assert ddp["trainer_state"] == 8 * trainable + 3 * tensors * TORCH_SAVE_BYTES_PER_TENSOR
    # weights + two moments, one record per rank's shard of each, one step counter per tensor
    assert fsdp["trainer_state"] == 12 * trainable + (3 * tensors * 2 + tensors) * DCP_BYTES_PER_TENSOR
    assert fsdp["artifact"] == ddp["artifact"] == artifact and fsdp["best_copy"] == artifact
