"""Loading a seq2seq base and its tokenizer, the way a Hugging Face user expects.

A model is a hub id (``facebook/mbart-large-50-many-to-many-mmt``) or a local folder; both go
through ``from_pretrained``. Remote code is refused unless the user opts in explicitly, and
weights are read from safetensors only: a ``pytorch_model.bin`` is a pickle, and unpickling a
file from a user path can run arbitrary code.
"""

from __future__ import annotations

from pathlib import Path

from raymt.errors import ConfigError


def looks_like_local_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~")) or Path(name).expanduser().exists()


def check_model_source(name: str, where: str) -> None:
    """Refuse a local path that does not hold a model, before any Ray work starts."""
    if not looks_like_local_path(name):
        return  # a hub id: resolved (and cached) by huggingface_hub on first use
    path = Path(name).expanduser()
    if not path.is_dir():
        raise ConfigError(
            f"model folder {str(path)!r} does not exist",
            where=where,
            fix="give a local folder holding config.json (from save_pretrained) or a hub id such as facebook/mbart-large-50-many-to-many-mmt",
        )
    if not (path / "config.json").exists():
        raise ConfigError(f"{str(path)!r} holds no config.json", where=where, fix="point at the folder written by model.save_pretrained()")


def load_tokenizer(name: str, src_lang: str, tgt_lang: str, *, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(Path(name).expanduser()) if looks_like_local_path(name) else name, trust_remote_code=trust_remote_code)
    check_language_codes(tok, src_lang, tgt_lang, where=name)
    tok.src_lang = src_lang
    tok.tgt_lang = tgt_lang
    return tok


def check_language_codes(tokenizer, src_lang: str, tgt_lang: str, where: str) -> None:
    """mBART needs both language codes in the tokenizer's vocabulary; an unknown code would
    silently map to <unk> and the model would translate into the wrong language."""
    unk = tokenizer.unk_token_id
    for field, code in (("model.src_lang", src_lang), ("model.tgt_lang", tgt_lang)):
        ids = tokenizer.convert_tokens_to_ids([code])
        if not ids or ids[0] is None or ids[0] == unk:
            known = [c for c in getattr(tokenizer, "additional_special_tokens", []) or [] if "_" in str(c)]
            hint = f" (known: {', '.join(map(str, known[:12]))}{', ...' if len(known) > 12 else ''})" if known else ""
            raise ConfigError(
                f"language code {code!r} is not in the tokenizer of {where}{hint}",
                where=field,
                fix="use an mBART-50 code such as en_XX, de_DE, fr_XX, cs_CZ",
            )


def forced_bos_id(tokenizer, tgt_lang: str) -> int:
    """mBART-50 generates the target language code first: forcing it selects the language."""
    return tokenizer.convert_tokens_to_ids(tgt_lang)


def load_model(name: str, *, trust_remote_code: bool = False, dtype=None):
    from transformers import AutoModelForSeq2SeqLM

    src = str(Path(name).expanduser()) if looks_like_local_path(name) else name
    model = AutoModelForSeq2SeqLM.from_pretrained(
        src, trust_remote_code=trust_remote_code, use_safetensors=True, **({"dtype": dtype} if dtype is not None else {})
    )
    return model
