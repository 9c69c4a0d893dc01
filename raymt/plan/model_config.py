"""The Hugging Face config of a trial's base model, found without loading any weights.

``raymt plan`` must work before any download and on a machine that cannot reach the hub (a
laptop planning a cluster run). So: a local folder is read; a hub id is read from the hub's
cache, else (for the public mBART checkpoints raymt's spaces name) built from their published
config, else fetched from the hub; the offline tiny base is read from the cache when it was
built, else from its spec.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from raymt.errors import ConfigError

__all__ = ["KNOWN_MODELS", "model_config_for"]

_MBART_LARGE = dict(
    d_model=1024,
    encoder_layers=12,
    decoder_layers=12,
    encoder_attention_heads=16,
    decoder_attention_heads=16,
    encoder_ffn_dim=4096,
    decoder_ffn_dim=4096,
    max_position_embeddings=1024,
    scale_embedding=True,
    dropout=0.1,
    attention_dropout=0.0,
    activation_dropout=0.0,
    activation_function="gelu",
    pad_token_id=1,
    bos_token_id=0,
    eos_token_id=2,
    decoder_start_token_id=2,
    forced_eos_token_id=2,
    tie_word_embeddings=True,
)
#: Shapes of public mBART checkpoints (their config.json on the hub), used when the hub cannot be reached.
KNOWN_MODELS: dict[str, dict[str, Any]] = {
    "facebook/mbart-large-50": {**_MBART_LARGE, "vocab_size": 250054},
    "facebook/mbart-large-50-many-to-many-mmt": {**_MBART_LARGE, "vocab_size": 250054},
    "facebook/mbart-large-50-one-to-many-mmt": {**_MBART_LARGE, "vocab_size": 250054},
    "facebook/mbart-large-50-many-to-one-mmt": {**_MBART_LARGE, "vocab_size": 250054},
    "facebook/mbart-large-cc25": {**_MBART_LARGE, "vocab_size": 250027},
    "facebook/mbart-large-en-ro": {**_MBART_LARGE, "vocab_size": 250027},
}


class _SizedTokenizer:
    """Stands in for the tiny base's tokenizer before it is built: its size and special ids."""

    pad_token_id, bos_token_id, eos_token_id = 1, 0, 2

    def __init__(self, size: int):
        self._size = size

    def __len__(self) -> int:
        return self._size


def model_config_for(cfg) -> tuple[Any, str]:
    """(the base model's ``PretrainedConfig``, where it came from) for a trial config."""
    from transformers import AutoConfig, MBartConfig

    from raymt.model import MULTILINGUAL
    from raymt.model.loading import looks_like_local_path

    name = cfg.model.name_or_path
    if name == "tiny":
        from raymt.model.tiny import TINY_MARKER, tiny_config
        from raymt.object_store import is_uri, local_form

        spec = cfg.model.tiny
        if not is_uri(cfg.storage_path):
            built = Path(local_form(cfg.storage_path)).expanduser() / ".cache" / "models" / spec.cache_key()
            if (built / TINY_MARKER).exists():
                return AutoConfig.from_pretrained(str(built)), f"tiny base {built}"
        # the Unigram pieces, the 52 mBART-50 language codes and <mask>
        return tiny_config(
            spec, _SizedTokenizer(spec.vocab_size + 53)
        ), "tiny base (not built yet: its vocabulary taken as model.tiny.vocab_size + 53)"
    if name == MULTILINGUAL:
        from raymt.model.multilingual import MARKER, base_config, cache_key, corpus_files
        from raymt.object_store import is_uri, local_form

        spec = cfg.model.multilingual
        if not is_uri(cfg.storage_path):
            try:
                built = Path(local_form(cfg.storage_path)).expanduser() / ".cache" / "models" / cache_key(spec, corpus_files(spec))
            except Exception:  # the corpus is not here: the shapes below do not need it
                built = None
            if built is not None and (built / MARKER).exists():
                return AutoConfig.from_pretrained(str(built)), f"real-text base {built}"
        return base_config(
            spec, _SizedTokenizer(spec.vocab_size + 53)
        ), "real-text base (not built yet: its vocabulary taken as model.multilingual.vocab_size + 53)"
    if looks_like_local_path(name):
        path = Path(name).expanduser()
        if not (path / "config.json").exists():
            raise ConfigError(f"{str(path)!r} holds no config.json", where="model.name_or_path", fix="point at a folder written by save_pretrained()")
        return AutoConfig.from_pretrained(str(path), trust_remote_code=cfg.model.trust_remote_code), str(path)
    remote = cfg.model.trust_remote_code
    try:  # the hub's cache first: no network
        return AutoConfig.from_pretrained(name, trust_remote_code=remote, local_files_only=True), f"{name} (hub cache)"
    except Exception:
        pass
    if name in KNOWN_MODELS:  # a public mBART: its published shapes, without a network round trip
        return MBartConfig(**KNOWN_MODELS[name]), f"{name} (its published config)"
    try:
        return AutoConfig.from_pretrained(name, trust_remote_code=remote), f"{name} (hub)"
    except Exception as err:  # offline, unknown id, no access
        raise ConfigError(
            f"cannot read the config of {name!r} ({type(err).__name__}), which the plan needs",
            where="model.name_or_path",
            fix="run once with access to the hub (the config is cached), or point at a local folder",
        ) from None
