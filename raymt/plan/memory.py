"""Peak memory of one training worker, from the model's shape alone (no torch, no Ray).

Why a closed formula and not a trial run: the classic failure at real size is a trial that runs
out of GPU memory after the cluster was paid for. The plan has to know before anything starts,
so every figure here is arithmetic on the config: parameter counts (from the method's own
``count_trainable``), the mBART layer shapes, the batch, the lengths and the parallel strategy.

What is counted, per worker, and when (a worker's peak is the largest of its phases):

- **weights**: every parameter (``4 B`` each in float32; raymt keeps float32 master weights and
  uses autocast for bf16/fp16). FSDP (Zhao et al. 2023, VLDB) keeps ``1/N`` of them between
  uses; FSDP2's root unit (here: the shared embedding, positions, final norms) is unsharded
  through forward and again through backward (gathered anew when backward starts: measured),
  and the next layer is prefetched.
- **gradients**: one per trainable parameter, created in backward and freed by
  ``zero_grad(set_to_none=True)`` after the step. DDP keeps a second copy in its buckets.
  A trainable tied embedding receives a dense ``V x d`` gradient from each embedding lookup
  before it is added in: two extra ``V x d`` while the decoder's is (measured at mBART-large
  size by benchmarks/real_scale.py, backward split layer by layer). Under FSDP the root
  unit's own gradient shard is made only after that (its reduce-scatter ends backward).
- **AdamW states** (Loshchilov & Hutter 2019): two float32 moments per trainable parameter
  (``1/N`` under FSDP), alive from the first step on. The step itself needs temporaries: on
  CPU torch runs the per-tensor loop (``sqrt(v) / c`` makes two copies of the largest trainable
  tensor), on GPU the foreach kernels (one copy of every local trainable value).
- **activations**: the tensors autograd saves, counted layer by layer as torch 2.13 /
  transformers 5 save them for mBART with SDPA attention (Korthikanti et al. 2022 count them
  the same way for GPT). A frozen linear does not keep its input, so a PEFT method keeps less
  than full fine-tuning; LoRA keeps its own branch's inputs, an adapter its norm and bottleneck.
  With gradient checkpointing (Chen et al. 2016) only each layer's input is kept, plus one layer
  recomputed in backward. ``tests/plan/test_memory.py`` checks these counts against the tensors
  autograd really saves on small mBARTs.
- **logits**: ``batch x target length x vocabulary`` float32 values: the log-softmax kept for
  the loss, its gradient and the logits' gradient are alive together in backward (three
  copies; a 250k vocabulary makes this the largest activation of mBART).
- **evaluation**: the loss pass holds the logits and their log-softmax for an evaluation batch
  (no gradients), and beam search a key/value cache for every decoder layer. Under FSDP every
  rank gathers the whole model for generation.
- **checkpoint** (rank 0): under FSDP the full state dict is gathered on CPU before the
  artefact is written.
- **restore** (a worker group Ray Train restarted from the last checkpoint, e.g. after a killed
  worker): under FSDP the base is loaded and sharded as at set-up, then each rank reads only
  its own shards of the weights and AdamW moments (torch.distributed.checkpoint). Torch first
  allocates the moments with a zero step at learning rate 0 (zero gradients and the step's
  temporaries, as in the optimizer step), then fills them in place; reading a shard holds its
  bytes and the tensor made from them (the largest shard, twice). Without FSDP the whole
  artefact is read into the loaded model before it is wrapped (``FineTuneMethod.load_state``).
- **setup**: the loaded model, whole (under FSDP until ``fully_shard`` has made the shards);
  under DDP plus the flat copies its initial broadcast of rank 0's weights makes: buckets of
  250 MiB, two in flight (``c10d::broadcast_coalesced``).
- **baseline**: what a worker process holds before any of this: on CPU the Python process with
  torch, transformers, peft and Ray imported (measured: :data:`CPU_PROCESS_BASELINE`), on GPU
  the CUDA context and allocator reserve (:data:`GPU_RESERVE`, not measured here: no GPU was
  available to this project).

Known error: the activation counts are exact for the tensors autograd saves, but the peak
adds all of them to all gradients, which overestimates full fine-tuning with large batches
(gradients grow while activations are freed); allocator fragmentation on GPU is not modelled
beyond the fixed reserve. docs/plan.md lists the measured errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "CPU_PROCESS_BASELINE",
    "GPU_RESERVE",
    "InjectedSite",
    "MemoryEstimate",
    "MethodFootprint",
    "ModelShape",
    "TrainingSetup",
    "estimate_memory",
    "activation_bytes",
]

GiB = 1024**3

#: Resident memory of an idle Ray Train worker process on CPU (Python, torch, transformers,
#: peft, Ray, raymt imported; gloo group set up), measured with a toy model of mBART's layout by
#: ``python -m benchmarks.real_scale --baseline`` on this project's 2-core machine: 599 and 593
#: MiB for the two workers (BENCHMARKS.md, "Real scale on CPU"). Never fitted to the
#: mBART-large runs it is compared with.
CPU_PROCESS_BASELINE = 600 * 1024**2
#: CUDA context + caching-allocator reserve per GPU worker: a typical figure, not measured here.
GPU_RESERVE = 1 * GiB
#: torch DDP's ``broadcast_bucket_size``: the flat buffers its initial weight broadcast goes through.
DDP_BROADCAST_BUCKET = 250 * 1024**2
#: ``c10d::broadcast_coalesced`` (torch/csrc/distributed/c10d/comm.cpp) keeps up to two of those
#: flat buckets alive at once (``max_in_flight = 2``) on every rank, the root included.
DDP_BROADCASTS_IN_FLIGHT = 2


@dataclass(frozen=True)
class ModelShape:
    """The shape of an mBART model: what the memory formulas need from its config."""

    d_model: int
    encoder_layers: int
    decoder_layers: int
    encoder_heads: int
    decoder_heads: int
    encoder_ffn: int
    decoder_ffn: int
    vocab: int
    max_positions: int
    dropout: float = 0.1
    tied: bool = True

    @classmethod
    def from_config(cls, config: Any) -> ModelShape:
        """From a Hugging Face ``MBartConfig`` (or anything with the same attributes)."""
        return cls(
            d_model=config.d_model,
            encoder_layers=config.encoder_layers,
            decoder_layers=config.decoder_layers,
            encoder_heads=config.encoder_attention_heads,
            decoder_heads=config.decoder_attention_heads,
            encoder_ffn=config.encoder_ffn_dim,
            decoder_ffn=config.decoder_ffn_dim,
            vocab=config.vocab_size,
            max_positions=config.max_position_embeddings,
            dropout=float(getattr(config, "dropout", 0.0) or 0.0),
            tied=bool(getattr(config, "tie_word_embeddings", True)),
        )

    @property
    def embedding_params(self) -> int:
        """Parameters of FSDP's root unit: token embedding(s), positions, the four outer norms."""
        d = self.d_model
        tokens = self.vocab * d * (1 if self.tied else 3)
        return tokens + 2 * (self.max_positions + 2) * d + 4 * 2 * d

    @property
    def largest_layer_params(self) -> int:
        """Parameters of the largest FSDP unit among the layers (a decoder layer)."""
        d = self.d_model
        enc = 4 * (d * d + d) + 2 * d * self.encoder_ffn + self.encoder_ffn + d + 2 * 2 * d
        dec = 8 * (d * d + d) + 2 * d * self.decoder_ffn + self.decoder_ffn + d + 3 * 2 * d
        return max(enc, dec)


@dataclass(frozen=True)
class InjectedSite:
    """Activations a method's injected module keeps per token, at one place of the model.

    ``side`` says whose tokens they are: ``src`` (encoder and cross-attention keys/values) or
    ``tgt`` (decoder). ``values`` counts saved values per token; ``masks`` dropout masks.
    """

    side: Literal["src", "tgt"]
    values: int
    masks: int = 0


@dataclass(frozen=True)
class MethodFootprint:
    """What a fine-tuning method changes in the memory of a trial.

    ``frozen_base``: the base weights do not train (every PEFT method), so the base's linear
    layers keep no inputs. ``sites``: activations of the injected modules (one entry per module).
    """

    name: str
    total_params: int
    trainable_params: int
    largest_trainable: int
    frozen_base: bool
    sites: tuple[InjectedSite, ...] = ()


@dataclass(frozen=True)
class TrainingSetup:
    """How one worker trains: batch, lengths, precision, checkpointing, parallelism."""

    batch_size: int
    src_len: int
    tgt_len: int
    device: Literal["cpu", "gpu"] = "cpu"
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    gradient_checkpointing: bool = False
    strategy: Literal["ddp", "fsdp", "none"] = "ddp"
    world_size: int = 1
    label_smoothing: bool = False
    eval_batch_size: int = 64
    beam_size: int = 1
    max_new_tokens: int = 64
    weight_bytes: int = 4
    grad_accum: int = 1  # does not change memory; kept so a smaller batch can keep the global batch

    @property
    def shards(self) -> int:
        """Over how many workers FSDP spreads the states (1 = not sharded)."""
        return self.world_size if self.strategy == "fsdp" and self.world_size > 1 else 1

    @property
    def ddp(self) -> bool:
        return self.strategy == "ddp" and self.world_size > 1

    @property
    def half(self) -> bool:
        """Autocast to 16 bits: only on GPU (the worker trains in float32 on CPU)."""
        return self.device == "gpu" and self.precision in ("bf16", "fp16")


@dataclass(frozen=True)
class MemoryEstimate:
    """Per-worker memory: each phase's total, and the parts of the largest one."""

    phases: dict[str, int]
    parts: dict[str, dict[str, int]]
    baseline: int
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def peak_phase(self) -> str:
        return max(self.phases, key=self.phases.get)

    @property
    def peak(self) -> int:
        """Bytes: baseline + the largest phase."""
        return self.baseline + self.phases[self.peak_phase]

    def breakdown(self) -> dict[str, int]:
        """The parts of the peak phase (bytes), plus the baseline."""
        return {**self.parts[self.peak_phase], "baseline": self.baseline}


# --- activations ---------------------------------------------------------------------------------


def _layer_values(shape: ModelShape, frozen: bool, decoder: bool) -> tuple[float, float, float, float]:
    """Saved values per token of one layer: (residual-stream values, other values, masks,
    values per *source* token) — residual-stream tensors (norm inputs) stay float32 under
    autocast, the rest are 16-bit there; masks are dropout masks (float on CPU, bytes on GPU).

    Per sub-block, as autograd saves them (checked by tests/plan/test_memory.py):
    self-attention = norm input (+ norm output as the projections' input when they train),
    SDPA's q, k, v, output and log-sum-exp, dropout mask; feed-forward = norm input (+ norm
    output), fc1 output (GELU input), GELU output (fc2's input, when fc2 trains), dropout mask.
    The decoder adds cross-attention: norm input (+ output), q and output per target token,
    k and v per source token, dropout mask.
    """
    d = shape.d_model
    heads, ffn = (shape.decoder_heads, shape.decoder_ffn) if decoder else (shape.encoder_heads, shape.encoder_ffn)
    trains = 0 if frozen else 1
    drop = 1 if shape.dropout > 0 else 0
    stats = 2  # a layer norm's mean and rstd per token
    residual = 2 * d  # the two norm inputs
    other = 2 * trains * d + 4 * d + heads + ffn + trains * ffn + 2 * stats
    masks = 2 * drop * d
    per_src = 0.0
    if decoder:
        residual += d
        other += trains * d + 2 * d + heads + stats
        masks += drop * d
        per_src = 2 * d
    return residual, other, masks, per_src


def activation_bytes(shape: ModelShape, fp: MethodFootprint, setup: TrainingSetup) -> dict[str, int]:
    """Bytes autograd keeps at the end of forward, by part (``layers``, ``outside``, ``sites``,
    ``checkpointed``), for one worker's micro-batch."""
    b, s, t = setup.batch_size, setup.src_len, setup.tgt_len
    res_b = 4
    val_b = 2 if setup.half else 4
    mask_b = 1 if setup.device == "gpu" else val_b  # fused CUDA dropout keeps a bool mask
    frozen = fp.frozen_base

    def layer(decoder: bool) -> int:
        residual, other, masks, per_src = _layer_values(shape, frozen, decoder)
        tokens = b * (t if decoder else s)
        return int(tokens * (residual * res_b + other * val_b + masks * mask_b) + b * s * per_src * val_b)

    enc, dec = layer(False), layer(True)
    d = shape.d_model
    drop = 1 if shape.dropout > 0 else 0
    # outside the layers: embedding norm input + dropout mask (only when the embedding trains:
    # below the first layer nothing else needs a gradient), both final norms' inputs, the
    # decoder output as the LM head's input and the encoder output as the cross-attention
    # keys'/values' input (when those train)
    # (with gradient checkpointing peft makes the embeddings' output require grad, so a PEFT
    # method keeps the embedding norm's input too)
    outside = 0
    embedding_kept = not frozen or setup.gradient_checkpointing
    for tokens in (b * s, b * t):
        outside += tokens * (d + 2) * res_b  # final layer norm input + stats
        if embedding_kept:
            outside += tokens * ((d + 2) * res_b + drop * d * mask_b)
    if not frozen:  # (with checkpointing the encoder output is counted with the layer inputs)
        outside += b * t * d * val_b + (0 if setup.gradient_checkpointing else b * s * d * val_b)
    sites = 0
    for site in fp.sites:
        tokens = b * (s if site.side == "src" else t)
        sites += tokens * (site.values * val_b + site.masks * mask_b)
    parts = {"outside": outside}
    if setup.gradient_checkpointing:
        # each layer keeps its input hidden states (the decoder's also the encoder output, once);
        # backward recomputes one layer at a time
        kept = (shape.encoder_layers * b * s + shape.decoder_layers * b * t) * d * res_b + b * s * d * val_b
        site_per_layer = sites / max(1, shape.encoder_layers + shape.decoder_layers)
        parts.update(checkpointed=kept, recomputed=int(max(enc, dec) + 2 * site_per_layer))
    else:
        parts.update(layers=shape.encoder_layers * enc + shape.decoder_layers * dec, sites=sites)
    return parts


def _logits_bytes(shape: ModelShape, setup: TrainingSetup) -> int:
    """float32 log-softmax + its gradient + the logits' gradient (label smoothing: the worker
    computes a second loss from a float copy of the logits)."""
    copies = 3 + (2 if setup.label_smoothing else 0)
    return copies * setup.batch_size * setup.tgt_len * shape.vocab * 4


# --- the phases ------------------------------------------------------------------------------------


def estimate_memory(shape: ModelShape, fp: MethodFootprint, setup: TrainingSetup, *, baseline: int | None = None) -> MemoryEstimate:
    """Peak memory of one worker of a trial, phase by phase (see the module docstring)."""
    n = setup.shards
    wb = setup.weight_bytes
    P, T = fp.total_params, fp.trainable_params
    gpu = setup.device == "gpu"
    base = baseline if baseline is not None else (GPU_RESERVE if gpu else CPU_PROCESS_BASELINE)
    notes: list[str] = []

    weights = math.ceil(P / n) * wb
    optimizer = 2 * math.ceil(T / n) * 4
    buckets = T * 4 if setup.ddp else 0
    persistent = {"weights": weights, "adamw_states": optimizer}
    if buckets:
        persistent["ddp_buckets"] = buckets

    # -- forward + backward
    train = dict(persistent)
    train["gradients"] = math.ceil(T / n) * 4
    if n > 1 and not fp.frozen_base:
        # the peak is in the embedding's backward, before the root unit's reduce-scatter has
        # made its gradient shard: only the layers' shards exist then (measured, real_scale)
        train["gradients"] -= math.ceil(shape.embedding_params / n) * 4
    if n > 1:
        root = shape.embedding_params * wb
        layer_unit = shape.largest_layer_params * wb
        train["fsdp_unsharded"] = root + 2 * layer_unit  # root for the whole pass + current & prefetched layer
        if not fp.frozen_base:
            train["fsdp_unsharded_grads"] = shape.embedding_params * 4 + shape.largest_layer_params * 4
    if not fp.frozen_base and shape.tied:
        # the decoder's token-embedding backward holds its dense V x d gradient and a second
        # V x d beside the accumulated one (measured: +1.9 GiB for mBART-large's 250k x 1,024
        # embedding in that segment of backward, +0.95 in the encoder's)
        train["embedding_grad"] = 2 * shape.vocab * shape.d_model * 4
    acts = activation_bytes(shape, fp, setup)
    train["activations"] = sum(acts.values())
    train["logits"] = _logits_bytes(shape, setup)
    if setup.half and T:
        # autocast caches a 16-bit copy of every trainable weight it casts, until it exits
        # (raymt's backward runs inside the autocast region)
        train["autocast_weight_cache"] = 2 * T

    # -- optimizer step
    step = dict(persistent)
    step["gradients"] = math.ceil(T / n) * 4
    step["adamw_step"] = (math.ceil(T / n) * 4) if gpu else 2 * math.ceil(fp.largest_trainable / n) * 4

    # -- evaluation (no gradients): loss pass on an eval batch, then beam search
    evaluate = dict(persistent)
    if n > 1:
        evaluate["fsdp_gathered_model"] = P * wb
    e_b, e_t, e_s = setup.eval_batch_size, setup.tgt_len, setup.src_len
    eval_val = 2 if setup.half else 4
    loss_pass = 2 * e_b * e_t * shape.vocab * 4 + e_b * max(e_s, e_t) * max(shape.encoder_ffn, shape.decoder_ffn) * eval_val
    rows = e_b * setup.beam_size
    kv = shape.decoder_layers * 2 * rows * (setup.max_new_tokens + e_s) * shape.d_model * eval_val
    generation = kv + rows * e_s * shape.d_model * eval_val + 2 * rows * shape.vocab * 4
    evaluate["eval_loss_pass" if loss_pass >= generation else "generation_cache"] = max(loss_pass, generation)

    phases_parts = {"train": train, "optimizer_step": step, "evaluate": evaluate}
    # -- restore after a restart (Ray Train restarts the worker group from the last checkpoint)
    if n > 1:
        restore = dict(persistent)
        init_step = {"init_gradients": math.ceil(T / n) * 4, "adamw_step": step["adamw_step"]}
        read = {"shard_read": 2 * math.ceil(max(fp.largest_trainable, 1) / n) * 4}
        restore.update(init_step if sum(init_step.values()) >= sum(read.values()) else read)
    else:
        restore = {"loaded_model": P * wb, "artifact_read": T * 4}
    phases_parts["restore"] = restore
    # -- checkpoint (rank 0): FSDP gathers the full state dict on CPU before writing
    if n > 1:
        save = dict(persistent)
        save["gathered_state_dict"] = P * wb
        phases_parts["checkpoint"] = save
        # -- set-up: the loaded model is whole until fully_shard has made the shards
        phases_parts["setup"] = {"loaded_model": P * wb, "shards": weights}
    else:
        phases_parts["setup"] = {"loaded_model": P * wb}
        if setup.ddp:  # DDP broadcasts rank 0's weights through flat buckets, two in flight, when it wraps the model
            phases_parts["setup"]["ddp_broadcast_buckets"] = min(DDP_BROADCASTS_IN_FLIGHT * DDP_BROADCAST_BUCKET, P * wb)
    if setup.half and not gpu:
        notes.append("autocast is GPU-only in raymt: the CPU estimate is float32")
    return MemoryEstimate(phases={k: sum(v.values()) for k, v in phases_parts.items()}, parts=phases_parts, baseline=base, notes=tuple(notes))
