"""The typed experiment config: one trial's settings, plus an optional ``search:`` section.

Why one schema for both: ``raymt train X.yaml`` runs the trial the file describes; ``raymt
search X.yaml`` runs the same trial with the values the search section varies. A search space
is therefore "a trial config + what to vary", and everything a trial accepts is searchable.
Every section forbids unknown keys so a typo is an error with a did-you-mean, not a silently
ignored setting that costs a GPU-day.
"""

from __future__ import annotations

import difflib

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from raymt.data.config import DataConfig, SyntheticData
from raymt.data.multi_pair import MultiPairConfig
from raymt.model import TINY
from raymt.model.multilingual import MultilingualSpec
from raymt.model.tiny import TinyModelSpec
from raymt.search.config import SearchConfig


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(_Section):
    name_or_path: str = Field(
        TINY,
        description="A built-in base, built and pre-trained locally, offline (docs/bases.md): 'tiny' (synthetic language pair) or 'tiny-multilingual' (real text: en/de/fr/cs tokenizer, pre-trained on Multi30k en<->de, en<->fr); a hub id such as facebook/mbart-large-50-many-to-many-mmt; or a local folder from save_pretrained.",
    )
    src_lang: str = Field(
        "en_XX", description="mBART-50 language code of the source side (e.g. de_DE). With multi_pair: not given; set to the first pair's code."
    )
    tgt_lang: str = Field(
        "de_DE",
        description="mBART-50 language code of the target side; forced as the first generated token. With multi_pair: not given; set to the first pair's code.",
    )
    max_length: int = Field(64, ge=8, le=4096, description="Longest source/target in tokens; longer ones are truncated.")
    trust_remote_code: bool = Field(False, description="Run Python code shipped with a hub model. Off unless you trust its author.")
    tiny: TinyModelSpec = Field(
        default_factory=TinyModelSpec, description="Size and pre-training of the tiny base (used when name_or_path is 'tiny')."
    )
    multilingual: MultilingualSpec = Field(
        default_factory=MultilingualSpec,
        description="Corpus, tokenizer, size and pre-training of the real-text base (used when name_or_path is 'tiny-multilingual').",
    )
    max_unk_rate: float = Field(
        0.01,
        ge=0.0,
        le=1.0,
        description="Refuse a corpus (before Ray starts) when more than this share of its source or target tokens are <unk> under the model's tokenizer: the tokenizer does not cover the language. 1.0 = never refuse; the rates are measured and reported anyway.",
    )


class MethodConfig(_Section):
    """``name`` picks a registered method; the other keys are that method's parameters."""

    model_config = ConfigDict(extra="allow", validate_assignment=False)
    name: str = Field("lora", description="Fine-tuning method: one of raymt.methods.available_methods().")

    @model_validator(mode="after")
    def _check_params(self) -> MethodConfig:
        from raymt.methods import available_methods, get_method

        if self.name not in available_methods():
            raise ValueError(f"unknown method {self.name!r}; choose one of {', '.join(available_methods())}")
        params_cls = get_method(self.name).params_cls
        try:
            params_cls(**(self.model_extra or {}))
        except ValidationError as err:
            # name the method: "unknown key r" alone does not say that r belongs to LoRA
            first = err.errors()[0]
            key = ".".join(str(p) for p in first["loc"])
            allowed = sorted(params_cls.model_fields)
            if first["type"] == "extra_forbidden":
                close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
                hint = f"did you mean {close[0]!r}?" if close else f"its parameters are: {', '.join(allowed) or '(none)'}"
                raise ValueError(f"{key!r} is not a parameter of method {self.name!r}; {hint}") from None
            raise ValueError(f"method {self.name!r}, parameter {key!r}: {first['msg']}") from None
        return self

    @property
    def params(self):
        """The method's own validated parameter object."""
        from raymt.methods import get_method

        return get_method(self.name).params_cls(**(self.model_extra or {}))


class TrainConfig(_Section):
    epochs: int = Field(4, ge=1, le=1000, description="Passes over the training set.")
    batch_size: int = Field(32, ge=1, le=65536, description="Sentences per optimizer step per worker (before accumulation).")
    grad_accum: int = Field(1, ge=1, le=1024, description="Micro-batches accumulated per optimizer step.")
    lr: float = Field(1e-3, gt=0, le=1.0, description="Peak learning rate of AdamW.")
    weight_decay: float = Field(0.0, ge=0, le=1.0, description="AdamW decoupled weight decay.")
    warmup_ratio: float = Field(0.1, ge=0, le=0.5, description="Share of steps spent warming the learning rate up linearly.")
    schedule: Literal["linear", "cosine", "constant"] = Field("linear", description="Learning-rate decay after warmup.")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping threshold (global L2 norm).")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="Label smoothing of the cross-entropy.")
    gradient_checkpointing: bool = Field(False, description="Recompute activations in backward to save memory.")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field("auto", description="auto = bf16 autocast on a GPU that supports it, else fp32.")
    patience: int | None = Field(None, ge=1, description="Stop the trial after this many evaluations without BLEU improvement (None = never).")
    seed: int = Field(0, description="Seed of data order and initialisation (each worker adds its rank).")


class EvalConfig(_Section):
    split: Literal["validation"] = Field(
        "validation",
        description="Split scored each epoch (the search optimises it). Only validation: the test split is held out, and every front trial is scored on it once after the search (test_bleu); test is refused.",
    )
    beam_size: int = Field(1, ge=1, le=16, description="Beam size of generation (1 = greedy).")
    batch_size: int = Field(64, ge=1, description="Sentences per generation batch.")
    max_new_tokens: int = Field(64, ge=1, le=2048, description="Longest generated target.")
    max_samples: int | None = Field(None, ge=1, description="Score only the first N sentences of the split (None = all).")
    score_base: bool | None = Field(
        None,
        description="Score the untouched base on the same sentences before the search (the level each direction must rise above; the report flags a direction that stays there). null = for raymt's built-in bases only: decoding a large hub model on the driver's CPU can take minutes.",
    )
    bleu_tokenize: str = Field(
        "auto",
        description="sacrebleu's BLEU tokenizer: auto = from each target language code (zh for Chinese, ja-mecab for Japanese, ko-mecab for Korean: pip install 'raymt[cjk]'; 13a otherwise), or any sacrebleu tokenizer by name (13a, intl, char, zh, ja-mecab, ko-mecab, none, ...). Shown in every result's sacrebleu signature.",
    )

    @field_validator("split", mode="before")
    @classmethod
    def _not_the_test_split(cls, value):
        if value == "test":
            raise ValueError(
                "test would let the search choose epochs and trials on the test split, so "
                "no score would be held out. Fix: remove eval.split (or set it to validation); every "
                "trial of the validation front is scored on the test split once after the search "
                "(test_bleu in trials.csv and report.md; more with `raymt report DIR --test TRIAL`)"
            )
        return value

    @field_validator("bleu_tokenize")
    @classmethod
    def _known_tokenizer(cls, value: str) -> str:
        from raymt.metrics.bleu import check_tokenizer_name

        return check_tokenizer_name(value)


class ResourcesConfig(_Section):
    num_workers: int = Field(1, ge=1, le=4096, description="Ray Train workers per trial (DDP/FSDP ranks).")
    use_gpu: bool = Field(False, description="One GPU per worker (nccl); otherwise CPU workers with gloo.")
    cpus_per_worker: float = Field(1.0, gt=0, description="CPUs reserved per worker; also its torch thread count (rounded).")
    gpus_per_worker: float = Field(1.0, gt=0, description="GPUs per worker when use_gpu is true.")
    trial_cpus: float = Field(0.1, gt=0, description="CPU share of each trial's driver (the Tune trial that launches the workers).")
    strategy: Literal["ddp", "fsdp", "none"] = Field(
        "ddp", description="Parallel wrapper: ddp (default), fsdp (full fine-tuning of big models), none."
    )
    max_failures: int = Field(2, ge=0, description="Worker-group restarts from the last checkpoint before a trial fails.")
    gpu_memory: str | None = Field(
        None,
        description="Memory of one GPU, e.g. 80GB (GB = GiB, as nvidia-smi counts). Known (here, or CUDA visible where raymt starts), a trial the memory plan says cannot fit is refused before launch (raymt plan, docs/plan.md).",
    )

    @field_validator("gpu_memory")
    @classmethod
    def _readable_size(cls, value: str | None) -> str | None:
        if value is not None:
            from raymt.plan.units import parse_memory

            parse_memory(value)  # ValueError -> a ConfigError naming resources.gpu_memory
        return value


class AugmentEntry(_Section):
    """One operator under `augment:`, e.g. `augment: {back_translation: {ratio: 0.5, params: {top_k: 10}}}`; a search varies `augment.<operator>.ratio`."""

    ratio: float = Field(0.0, ge=0, le=1.0, description="Add ratio x |train| synthetic pairs made by this operator.")
    params: dict[str, Any] = Field(default_factory=dict, description="Operator parameters (e.g. p for word_dropout).")


class DenoiseConfig(_Section):
    """mBART text infilling on monolingual target-language text, run before MT fine-tuning."""

    steps: int = Field(200, ge=1, le=1_000_000, description="Optimizer steps of the denoising stage (its budget), independent of train.epochs.")
    batch_size: int = Field(32, ge=1, le=65536, description="Sentences per denoising step.")
    lr: float = Field(
        1e-3, gt=0, le=1.0, description="Peak AdamW learning rate of the stage (linear warmup over 10% of the steps, then linear decay)."
    )
    mask_ratio: float = Field(0.35, gt=0, lt=1, description="Share of words hidden in each sentence (mBART: 0.35).")
    poisson_lambda: float = Field(
        3.5, gt=0, le=64, description="Mean span length in words; span lengths are Poisson(lambda), each span becomes ONE <mask> (mBART: 3.5)."
    )
    text: str | None = Field(
        None,
        description="Monolingual target-language text, one sentence per line (read before Ray starts); null = the target side of the training split.",
    )
    max_sentences: int = Field(50000, ge=1, description="Use at most this many sentences of that text (the first ones).")
    seed: int = Field(0, description="Seed of the noise and of the data order of the stage.")


class InitConfig(_Section):
    """Where MT fine-tuning starts: the base model as is, or after a denoising stage."""

    stage: Literal["none", "denoise"] = Field(
        "none",
        description="none = fine-tune the base directly; denoise = first train the same module (PEFT module or full model) with mBART's text-infilling objective, cached and shared by every trial with the same settings.",
    )
    denoise: DenoiseConfig = Field(default_factory=DenoiseConfig, description="Settings of the denoising stage (used when stage is denoise).")


class ExperimentConfig(_Section):
    name: str = Field("default", pattern=r"^[A-Za-z0-9_.-]+$", description="Experiment name; results go to <storage_path>/<name>/.")
    storage_path: str = Field(
        "./raymt_results",
        description="Where results, checkpoints and the shared data cache go: a folder (on a multi-node cluster a shared filesystem mounted at the same path on every node) or an object store URI (s3://bucket/prefix, gs://bucket/prefix; each node then works in a local staging copy, see docs/cluster.md).",
    )
    model: ModelConfig = Field(default_factory=ModelConfig)
    data: DataConfig = Field(
        default_factory=lambda: SyntheticData(domain="medical", train_size=2000, valid_size=200, test_size=200, lexicon_size=20),
        description="The corpus: synthetic (offline default: the domain the tiny base saw least of, with the base's 20-lemma lexicon), local files or a Hugging Face dataset.",
    )
    method: MethodConfig = Field(default_factory=MethodConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig)
    multi_pair: MultiPairConfig | None = Field(
        None,
        description="Several language pairs in one run (multi-task), each with its own data and mBART codes, sampled with a temperature; replaces data: and model.src_lang/tgt_lang. null = one pair.",
    )
    init: InitConfig = Field(default_factory=InitConfig, description="Optional first stage before MT fine-tuning (searchable as init.stage).")
    augment: dict[str, AugmentEntry] = Field(
        default_factory=dict, description="Augmentation operators by name with their ratio (see raymt.data.augment)."
    )
    search: SearchConfig | None = Field(None, description="What to vary and how to search it (raymt search); see the search section below.")

    @field_validator("storage_path")
    @classmethod
    def _folder_or_object_store(cls, value: str) -> str:
        from urllib.parse import urlsplit

        from raymt.object_store import OBJECT_STORE_SCHEMES

        if "://" in value:
            scheme = urlsplit(value).scheme.lower()
            if scheme != "file" and scheme not in OBJECT_STORE_SCHEMES:
                raise ValueError(
                    f"{value!r}: unknown storage scheme {scheme!r}; use a folder (on a cluster: a shared "
                    f"NFS/EFS mount) or an object store: {', '.join(s + '://' for s in OBJECT_STORE_SCHEMES)}"
                )
            if scheme != "file" and not urlsplit(value).netloc:
                raise ValueError(f"{value!r} names no bucket; write {scheme}://BUCKET/PREFIX")
        return value

    @model_validator(mode="after")
    def _first_pair_codes(self) -> ExperimentConfig:
        # what reads the codes of "the" pair (tokenizer set-up, export) sees the first pair's
        if self.multi_pair is not None:
            first = self.multi_pair.pairs[0]
            self.model.src_lang, self.model.tgt_lang = first.src_lang, first.tgt_lang
        return self

    @field_validator("augment")
    @classmethod
    def _known_operators(cls, value: dict) -> dict:
        from raymt.data.augment import available_operators, get_operator
        from raymt.errors import ConfigError

        for op, entry in value.items():
            if op not in available_operators():
                raise ValueError(f"unknown augmentation operator {op!r}; choose from {', '.join(available_operators())}")
            try:  # a bad operator parameter fails here, with the file name, not in a trial
                get_operator(op).validate_params(entry.params)
            except ConfigError as err:
                field = (err.where or "").removeprefix(f"augment.{op}").lstrip(".")
                raise ValueError(f"{op}.params.{field}: {err.message}; {err.fix}") from None
        return value
