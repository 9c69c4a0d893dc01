"""One trial through Ray Train: 2 DDP workers (gloo) really fine-tune the tiny base."""

import json
from pathlib import Path

import pytest
import torch

from raymt.config.load import validate_config
from raymt.train.prepare import prepare_experiment
from raymt.train.trial import run_trial

pytestmark = pytest.mark.slow


def trial_config(tmp_path, cache_root, **over):
    raw = {
        "name": "t",
        "storage_path": str(tmp_path),
        "data": {"source": "synthetic", "domain": "medical", "train_size": 600, "valid_size": 60, "test_size": 60, "lexicon_size": 20},
        "train": {"epochs": 2, "batch_size": 32, "lr": 2e-3},
        "eval": {"max_samples": 60},
        "method": {"name": "lora", "r": 8, "target_modules": "all-linear"},
        "resources": {"num_workers": 2, "cpus_per_worker": 0.9},
    }
    for key, value in over.items():
        merge = isinstance(value, dict) and key != "method"
        raw[key] = {**raw.get(key, {}), **value} if merge else value
    cfg = validate_config(raw, "test")
    return cfg


@pytest.fixture()
def shared_cache(tmp_path, cache_root, tiny_base):
    """Point the trial's storage at a folder whose .cache is the session cache (no rebuild)."""
    link = tmp_path / ".cache"
    link.symlink_to(cache_root, target_is_directory=True)
    return tmp_path


def bleu_of_base(cfg, prepared, model=None):
    from raymt.data.cache import load_tokenized
    from raymt.metrics.bleu import corpus_scores
    from raymt.model.loading import forced_bos_id, load_model, load_tokenizer

    split = load_tokenized(prepared.data_path)["validation"]
    tok = load_tokenizer(prepared.base_path, "en_XX", "de_DE")
    model = (model if model is not None else load_model(prepared.base_path)).eval()
    with torch.no_grad():
        out = model.generate(
            **tok(list(split["src_text"]), return_tensors="pt", padding=True), forced_bos_token_id=forced_bos_id(tok, "de_DE"), max_new_tokens=48
        )
    return corpus_scores(tok.batch_decode(out, skip_special_tokens=True), list(split["tgt_text"])).bleu


def test_two_worker_ddp_trial_improves_bleu_and_keeps_the_best_epoch(shared_cache, cache_root, ray_local):
    cfg = trial_config(
        shared_cache, cache_root, method={"name": "full"}, data={"train_size": 1000}, train={"epochs": 3, "batch_size": 16, "lr": 1e-3}
    )
    prepared = prepare_experiment(cfg, log=lambda m: None)
    before = bleu_of_base(cfg, prepared)
    metrics, checkpoint = run_trial(cfg, prepared, name="ddp")
    assert metrics["world_size"] == 2
    assert metrics["bleu"] > before + 5, (before, metrics["bleu"])
    assert metrics["sacrebleu_signature"].startswith("nrefs:1")
    # the storage reported is the bytes of what a user keeps: the model's safetensors + config
    artifact = Path(checkpoint) / "artifact"
    assert (artifact / "model.safetensors").exists()
    assert metrics["storage_bytes"] == sum(f.stat().st_size for f in artifact.rglob("*") if f.is_file())
    state = json.loads((Path(checkpoint) / "state.json").read_text())
    assert [h["epoch"] for h in state["history"]] == [1, 2, 3]
    # the trial's result is its best evaluation, and the kept artefact reproduces it
    peak = max(state["history"], key=lambda h: h["bleu"])
    assert metrics["bleu"] == peak["bleu"] and metrics["best_epoch"] == peak["epoch"]
    best_dir = Path(checkpoint) / ("best" if (Path(checkpoint) / "best").exists() else "artifact")
    assert abs(bleu_of_artifact(cfg, prepared, best_dir) - peak["bleu"]) < 0.01


def bleu_of_artifact(cfg, prepared, artifact_dir):
    """The kept artefact scored in this process through the search's own decoding path
    (raymt.model.generation: the trial's decoding, its sharded batch plan), as `raymt evaluate`
    replays it: the same sentences, so the same BLEU."""
    from raymt.data.cache import load_tokenized
    from raymt.methods import get_method
    from raymt.metrics.bleu import bleu_tokenizer, corpus_scores
    from raymt.model.generation import Decoding, translate_lines
    from raymt.model.loading import load_model, load_tokenizer

    split = load_tokenized(prepared.data_path)["validation"].select(range(cfg.eval.max_samples))
    tok = load_tokenizer(prepared.base_path, cfg.model.src_lang, cfg.model.tgt_lang)
    model = get_method(cfg.method.name).load(load_model(prepared.base_path), artifact_dir).eval()
    with torch.no_grad():
        hyps = translate_lines(model, tok, list(split["src_text"]), cfg.model.tgt_lang, Decoding.from_config(cfg))
    return corpus_scores(hyps, list(split["tgt_text"]), tokenize=bleu_tokenizer(cfg.eval.bleu_tokenize, cfg.model.tgt_lang)).bleu


def test_raymt_train_on_an_object_store_keeps_its_checkpoint_there(s3_bucket, tmp_path, cache_root, tiny_base):
    """`raymt train` with `storage_path: s3://...`: Ray Train writes the checkpoints to the
    bucket and the command reports the checkpoint's URI."""
    import os
    import subprocess
    import sys

    import yaml

    from raymt import object_store

    uri = f"s3://{s3_bucket}/runs"
    staged = object_store.staging_path(object_store.join(uri, ".cache"))
    staged.mkdir(parents=True)
    (staged / "models").symlink_to(cache_root / "models", target_is_directory=True)
    raw = trial_config(tmp_path, cache_root, train={"epochs": 1}, resources={"num_workers": 1, "cpus_per_worker": 1}).model_dump(mode="json")
    raw.update(storage_path=uri, search=None)
    (tmp_path / "t.yaml").write_text(yaml.safe_dump({k: v for k, v in raw.items() if v is not None}))
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-m", "raymt.cli", "train", str(tmp_path / "t.yaml")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
        cwd=tmp_path,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    line = next(line for line in out.stdout.splitlines() if line.strip().startswith("checkpoint "))
    checkpoint = line.split()[-1]
    assert checkpoint.startswith(f"s3://{s3_bucket}/runs/t/trials/") and object_store.exists(checkpoint + "/state.json")
