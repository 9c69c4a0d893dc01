"""The ``multi_pair:`` section: several language pairs trained as one model (multi-task).

One model (one artefact on one shared base) learns every listed direction; mBART-50 tells
the directions apart by its language codes: the source code prefixes the source sentence,
the target code starts the labels and is forced as the first generated token (Liu et al.
2020, "Multilingual Denoising Pre-training for Neural Machine Translation"; Tang et al. 2020
for mBART-50's many-to-many fine-tuning). Pairs are sampled with a temperature
(:mod:`raymt.data.temperature`; Arivazhagan et al. 2019), and each pair is scored on its own
validation/test split; the search objective ``bleu`` is the unweighted mean over pairs.

The single-pair config (``data:`` + ``model.src_lang``/``model.tgt_lang``) stays as it is;
the two forms exclude each other (:func:`check_exclusive_sections`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from raymt.data.config import DataConfig
from raymt.errors import ConfigError
from raymt.metrics.per_pair import pair_key


class PairConfig(BaseModel):
    """One translation direction: its mBART codes and its own corpus."""

    model_config = ConfigDict(extra="forbid")

    src_lang: str = Field(description="mBART-50 code of this pair's source side (e.g. en_XX); prefixes every source sentence.")
    tgt_lang: str = Field(description="mBART-50 code of this pair's target side; starts the labels and is forced as the first generated token.")
    data: DataConfig = Field(description="This pair's corpus, same schema as the top-level data: section (synthetic, local or hf).")
    reverse: bool = Field(
        False,
        description="Swap source and target of the loaded corpus: the synthetic corpus always runs English -> invented language, so its reverse direction needs this (for local/hf data you can swap src/tgt instead).",
    )

    @model_validator(mode="after")
    def _two_languages(self) -> PairConfig:
        if self.src_lang == self.tgt_lang:
            raise ValueError(f"src_lang and tgt_lang are both {self.src_lang!r}; a pair translates between two languages")
        return self

    @property
    def key(self) -> str:
        return pair_key(self.src_lang, self.tgt_lang)


class MultiPairConfig(BaseModel):
    """Several directions in one run, sampled with p_i proportional to n_i^(1/T)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    temperature: float = Field(
        5.0,
        gt=0,
        description="Sampling temperature T, p_i ~ n_i^(1/T): 1 = proportional to corpus size, 5 = the usual compromise (Arivazhagan et al. 2019), large = uniform over pairs.",
    )
    pairs: list[PairConfig] = Field(
        min_length=2,
        description="The directions, each with src_lang, tgt_lang, data (and optionally reverse). Scores are reported per pair as bleu_<src>-<tgt>; bleu is their unweighted mean.",
    )

    @field_validator("pairs")
    @classmethod
    def _distinct(cls, pairs: list[PairConfig]) -> list[PairConfig]:
        seen: dict[str, int] = {}
        for i, pair in enumerate(pairs):
            if pair.key in seen:
                raise ValueError(f"pairs[{i}] repeats the direction {pair.key} of pairs[{seen[pair.key]}]; merge their corpora into one pair")
            seen[pair.key] = i
        return pairs

    @property
    def keys(self) -> list[str]:
        return [pair.key for pair in self.pairs]


def check_exclusive_sections(raw: dict[str, Any], where: str) -> None:
    """Refuse a config that gives both a single pair and ``multi_pair:``.

    Checked on the raw YAML (what the user wrote), not on the parsed config: the parsed one
    always has a ``data`` section (the default) and language codes.
    """
    if not isinstance(raw, dict) or raw.get("multi_pair") is None:
        return
    if "data" in raw:
        raise ConfigError(
            "both data: and multi_pair: are given",
            where=f"{where}: data",
            fix="give each pair's corpus under multi_pair.pairs[].data and remove the top-level data: section",
        )
    model = raw.get("model") or {}
    for field in ("src_lang", "tgt_lang"):
        if isinstance(model, dict) and field in model:
            raise ConfigError(
                f"model.{field} is given together with multi_pair:",
                where=f"{where}: model.{field}",
                fix="remove it: each pair has its own src_lang/tgt_lang under multi_pair.pairs[]",
            )
    if raw.get("augment"):
        raise ConfigError(
            "augment: is not supported with multi_pair: yet (its pools are built from one corpus)",
            where=f"{where}: augment",
            fix="remove augment:, or run the pairs as single-pair experiments",
        )
    init = raw.get("init") or {}
    common = (((raw.get("search") or {}).get("space") or {}).get("common") or {}) if isinstance(raw.get("search"), dict) else {}
    if (isinstance(init, dict) and init.get("stage", "none") != "none") or any(str(k).startswith("init.") for k in common):
        raise ConfigError(
            "init.stage (the denoising warm start) is not supported with multi_pair: yet (its text comes from one corpus)",
            where=f"{where}: init",
            fix="remove init.stage (and init.* from the search space), or run the pairs as single-pair experiments",
        )
