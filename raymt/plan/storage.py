"""Bytes a trial and a whole search write to ``storage_path``, from the artefact estimate alone.

One place holds the checkpoint policy (:data:`CHECKPOINT_POLICY`): the trial driver reads its
``num_to_keep`` for Ray Train's ``CheckpointConfig``, and the plan multiplies by the same
numbers, so a change of policy (e.g. the checkpoint budget of issue 16, item 3: keep only the
latest and the best, drop the checkpoints of stopped trials) is made here and the plan follows.

What one checkpoint holds (written by ``raymt/train/worker.py`` every epoch):

- ``artifact/``: what the method saves (exact: ``FineTuneMethod.estimate_bytes``);
- ``best/``: a copy of the best epoch's artefact when this epoch is not the best (the
  estimate assumes it is there: the worst case);
- ``trainer_state.pt``: the schedule and, without FSDP, the AdamW moments (two float32 values
  per trainable parameter), plus torch's per-tensor record overhead; under FSDP
  ``trainer_state.dcp/``: every rank's own shards of the trained weights (float32) and of the
  moments (torch.distributed.checkpoint, one file per rank), which a restarted worker group
  reads rank by rank instead of the whole artefact. Neither is in a finished trial's last
  checkpoint (nothing resumes a finished trial);
- a few text files (state.json, hypotheses): :data:`TEXT_BYTES_PER_CHECKPOINT`.

The checkpoint budget (issue 16, item 3): each trial keeps ONE checkpoint, its latest, which
carries the best epoch's artefact (``best/``): the latest and the best, and nothing else. While
Ray Train registers a new checkpoint the previous one still exists, so a running trial holds at
most two for a moment. A trial a scheduler stops loses its checkpoint's tensors when its run
ends; at the end of a search the trials off the front lose theirs (:mod:`raymt.results.checkpoints`) unless
``search.keep_checkpoints: all``; their state and hypotheses stay, and the artefacts kept by
``search.keep_artifacts`` are copies in ``<results>/artifacts``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CHECKPOINT_POLICY", "CheckpointPolicy", "TEXT_BYTES_PER_CHECKPOINT", "checkpoint_bytes", "search_bytes"]

#: state.json (per-epoch history), hyps.txt and best_hyps.txt: a few kB to a few MB with large
#: evaluation sets; a fixed allowance (the figures that matter are the tensors).
TEXT_BYTES_PER_CHECKPOINT = 256 * 1024
#: torch.save stores each tensor as a zip record (header, 64-byte alignment, pickle entry).
TORCH_SAVE_BYTES_PER_TENSOR = 400
#: torch.distributed.checkpoint saves each shard as its own torch.save record, plus its entry in
#: ``.metadata``: 1,912 B per record measured on a small mBART (tests/train/test_parallel.py)
DCP_BYTES_PER_TENSOR = 2000


@dataclass(frozen=True)
class CheckpointPolicy:
    """Which checkpoints a trial keeps and what each one carries."""

    #: checkpoints Ray Train keeps per trial (``CheckpointConfig(num_to_keep=...)``): the latest,
    #: which carries the best artefact (``best_copy``)
    num_to_keep: int = 1
    #: each checkpoint also carries the best epoch's artefact (``best/``) when it is not the best
    best_copy: bool = True
    #: each checkpoint carries the optimizer/scheduler state needed to resume
    trainer_state: bool = True
    #: ... also the last checkpoint of a trial that finished (nothing reads it there)
    trainer_state_when_finished: bool = False


#: The policy every trial runs with (read by raymt.train.trial.make_trainer).
CHECKPOINT_POLICY = CheckpointPolicy()


def trainer_state_bytes(trainable_params: int, trainable_tensors: int, ranks: int = 1) -> int:
    """AdamW's two float32 moments per trainable value, the step counters, record overhead;
    sharded over ``ranks`` > 1 (FSDP), the trained weights' shards too."""
    if ranks > 1:
        records = 3 * trainable_tensors * ranks + trainable_tensors  # weight, exp_avg, exp_avg_sq per shard; one step each
        return 3 * 4 * trainable_params + records * DCP_BYTES_PER_TENSOR
    records = 3 * trainable_tensors  # exp_avg, exp_avg_sq, step per tensor
    return 2 * 4 * trainable_params + records * TORCH_SAVE_BYTES_PER_TENSOR


def checkpoint_bytes(
    artifact_bytes: int, trainable_params: int, trainable_tensors: int, *, ranks: int = 1, policy: CheckpointPolicy = CHECKPOINT_POLICY
) -> dict[str, int]:
    """Parts of ONE checkpoint of a trial (bytes)."""
    parts = {"artifact": artifact_bytes}
    if policy.best_copy:
        parts["best_copy"] = artifact_bytes
    if policy.trainer_state:
        parts["trainer_state"] = trainer_state_bytes(trainable_params, trainable_tensors, ranks)
    parts["text"] = TEXT_BYTES_PER_CHECKPOINT
    return parts


def search_bytes(per_trial_checkpoint: int, artifact_bytes: int, num_trials: int, *, policy: CheckpointPolicy = CHECKPOINT_POLICY) -> dict[str, int]:
    """Bytes a search of ``num_trials`` such trials holds in ``storage_path`` while it runs
    (upper bound: every trial completes and its artefact is kept; the moment a trial holds two
    checkpoints while Ray registers the new one is not counted)."""
    return {
        "checkpoints": num_trials * policy.num_to_keep * per_trial_checkpoint,
        "kept_artifacts": num_trials * artifact_bytes,
    }
