"""The model card (README.md) of an export: what a person reads and what the Hugging Face Hub
reads.

The YAML front matter is Hugging Face's model-card metadata, written by ``huggingface_hub``'s
own ``ModelCardData`` / ``EvalResult`` so it is the ``model-index`` the Hub parses: task
``translation``, the dataset and split the search scored, and BLEU / chrF with the sacrebleu
signature as the metric's ``config`` (a BLEU without its signature is not comparable: Post,
2018). The body rounds every figure (BLEU 61.66, not 61.6634829015...) and says how the
numbers were decoded, so a reader can reproduce them with ``raymt evaluate``.
"""

from __future__ import annotations

from pathlib import Path

from raymt.results.columns import is_missing

PEFT_METHODS = ("lora", "ia3", "prompt", "prefix")


def model_card(meta: dict) -> str:
    return f"---\n{_card_data(meta).to_yaml()}\n---\n\n{_body(meta)}"


def _round(value, digits: int = 2):
    if is_missing(value):
        return None
    return round(float(value), digits)


def _fmt(value, spec: str) -> str:
    if is_missing(value):
        return "n/a"
    return format(value, spec)


def _languages(meta: dict) -> list[str]:
    from raymt.metrics.bleu import language_of

    out: list[str] = []
    for pair in meta.get("pairs") or []:
        for code in (pair["src_lang"], pair["tgt_lang"]):
            lang = language_of(code)
            if lang not in out:
                out.append(lang)
    return out


def _dataset(data: dict) -> dict:
    """``EvalResult`` dataset fields for a raymt data section."""
    source = data.get("source", "unknown")
    if source == "hf":
        name = data.get("dataset", "?") + (f" ({data['config']})" if data.get("config") else "")
        return {
            "dataset_type": data.get("dataset", "?"),
            "dataset_name": name,
            "dataset_config": data.get("config"),
            "dataset_revision": data.get("revision"),
        }
    if source == "local":
        return {
            "dataset_type": "local",
            "dataset_name": f"local files {Path(str(data.get('path', '?'))).name} ({data.get('src', '?')}-{data.get('tgt', '?')})",
        }
    if source == "synthetic":
        return {"dataset_type": "synthetic", "dataset_name": f"raymt synthetic ({data.get('domain', 'general')})"}
    return {"dataset_type": str(source), "dataset_name": f"raymt {source} data"}


def _card_data(meta: dict):
    from huggingface_hub import EvalResult, ModelCardData

    from raymt.model.loading import looks_like_local_path
    from raymt.object_store import is_uri

    cfg, metrics = meta["config"], meta["metrics"]
    split = cfg["eval"]["split"]
    pairs = meta.get("pairs") or []
    results = []
    for i, pair in enumerate(pairs):
        data = cfg["multi_pair"]["pairs"][i]["data"] if cfg.get("multi_pair") else cfg["data"]
        scores = pair if len(pairs) > 1 else metrics
        signature = metrics.get("sacrebleu_signature") or ""
        common = {
            "task_type": "translation",
            "task_name": f"Translation {pair['src_lang']} -> {pair['tgt_lang']}",
            "dataset_split": split,
            **_dataset(data),
        }
        for metric_type, name, key, sig in (
            ("bleu", "BLEU", "bleu", _pair_signature(signature, pair["pair"])),
            ("chrf", "chrF", "chrf", _pair_signature(metrics.get("chrf_signature") or "", pair["pair"])),
        ):
            value = _round(scores.get(key))
            if value is not None:
                results.append(EvalResult(metric_type=metric_type, metric_name=name, metric_value=value, metric_config=sig or None, **common))
    base = str(meta["base"])
    hub_base = None if (looks_like_local_path(base) or is_uri(base)) else base
    library = "transformers" if meta["kind"] in ("full", "merged") else ("peft" if meta["method"] in PEFT_METHODS else None)
    return ModelCardData(
        language=_languages(meta) or None,
        library_name=library,
        base_model=hub_base,
        pipeline_tag="translation",
        tags=["translation", "raymt", meta["method"]],
        model_name=f"raymt-{meta['trial_id']}",
        eval_results=results or None,
    )


def _pair_signature(signature: str, pair: str) -> str:
    """A multi-pair trial's signature names each pair when they differ (``pair: sig; ...``)."""
    if "; " not in signature:
        return signature
    for part in signature.split("; "):
        name, _, sig = part.partition(": ")
        if name == pair:
            return sig
    return signature


def _body(meta: dict) -> str:
    m, cfg = meta["metrics"], meta["config"]
    pairs = meta.get("pairs") or []
    dec = meta.get("decoding") or {}
    how = {
        "full": "MBartForConditionalGeneration.from_pretrained('{this folder}')",
        "merged": "MBartForConditionalGeneration.from_pretrained('{this folder}')  # LoRA merged into the base",
        "adapter": f"raymt.export.load_exported('{{this folder}}')  # base: {meta['base']}",
    }[meta["kind"]]
    if meta["kind"] == "adapter" and meta["method"] in PEFT_METHODS:
        how += f"\n# or, with peft: PeftModel.from_pretrained(MBartForConditionalGeneration.from_pretrained('{meta['base']}'), '{{this folder}}')"
    directions = ", ".join(f"{p['src_lang']} -> {p['tgt_lang']}" for p in pairs) or f"{meta['src_lang']} -> {meta['tgt_lang']}"
    params = m.get("trainable_params")
    rows = [
        ("BLEU", _fmt(m.get("bleu"), ".2f") + (" (mean over pairs)" if len(pairs) > 1 else "")),
        ("chrF", _fmt(m.get("chrf"), ".2f") + (" (mean over pairs)" if len(pairs) > 1 else "")),
    ]
    if len(pairs) > 1:
        rows += [(f"BLEU / chrF {p['pair']}", f"{_fmt(p.get('bleu'), '.2f')} / {_fmt(p.get('chrf'), '.2f')}") for p in pairs]
    rows += [
        ("storage (MB, this artefact as trained)", _fmt(m.get("storage_mb"), ".4g")),
        ("trainable parameters", _fmt(params, ",d") if isinstance(params, int) else _fmt(params, ",.0f")),
        ("best epoch", _fmt(m.get("best_epoch"), "d") if isinstance(m.get("best_epoch"), int) else _fmt(m.get("best_epoch"), ".0f")),
    ]
    table = "\n".join(f"| {k} | {v} |" for k, v in rows)
    scored = f"the search's `{cfg['eval']['split']}` split" + (f", its first {dec['max_samples']} sentences" if dec.get("max_samples") else "")
    tokenizers = ", ".join(sorted({p.get("bleu_tokenize", "13a") for p in pairs})) or "13a"
    decoding = (
        (
            f"beam size {dec.get('beam_size', 1)}, at most {dec.get('max_new_tokens', '?')} new tokens, sources "
            f"truncated to {dec.get('max_length', meta.get('max_length'))} tokens, batches of {dec.get('batch_size', '?')} "
            f"sentences (longest first, over {dec.get('shards', 1)} shard(s) as the search's workers), BLEU tokenizer "
            f"{tokenizers} (`eval.bleu_tokenize: {dec.get('bleu_tokenize', 'auto')}`)"
        )
        if dec
        else "not recorded"
    )
    pair_flag = f" --pair {pairs[0]['pair']}" if len(pairs) > 1 else ""
    return f"""# raymt export: trial {meta["trial_id"]} ({meta["method"]})

{directions}, fine-tuned from `{meta["base"]}` with `{meta["method"]}`.

| metric | value |
|---|---|
{table}

Scored on {scored}.
BLEU signature: `{m.get("sacrebleu_signature") or "n/a"}`
chrF signature: `{m.get("chrf_signature") or "n/a"}`

## Decoding

The search scored with: {decoding}. `raymt translate` and `raymt evaluate` use the same settings
unless told otherwise (`--beam`, `--max-new-tokens`, `--batch-size`, `--bleu-tokenize`), so
`raymt evaluate` on the search's own sources and references gives the BLEU above.

## Use

```python
{how}
```

```bash
raymt translate {{this folder}}{pair_flag} < source.txt
raymt evaluate {{this folder}}{pair_flag} --src source.txt --ref reference.txt
```

The trial's full configuration is in `raymt_export.json`.
"""
