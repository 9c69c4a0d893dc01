"""Every registered fine-tuning method passes the same checks on a tiny mBART.

Parametrised over ``available_methods()``: a method is tested the moment it is registered.
For each method one model is applied, trained for a few steps and saved (class-scoped
fixture); the tests then check what the search and the users rely on: the trainable count the
search records, the storage objective (estimate vs bytes on disk), that the artefact alone
restores the trained model (for ``generate()`` and for resuming), that nothing but
safetensors/JSON is written, and that parameter-efficient methods leave the base untouched.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from method_helpers import (
    eval_loss,
    generation_vs_forward_gap,
    logits,
    make_base,
    make_batch,
    tiny_config,
    train_steps,
    translate,
)
from raymt.methods import available_methods, get_method
from raymt.metrics.storage import artifact_bytes

PICKLE_SUFFIXES = {".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt"}


@pytest.fixture(scope="class", params=available_methods())
def trained(request, tmp_path_factory):
    name = request.param
    method = get_method(name)
    params = method.params_cls()
    config = tiny_config()
    estimate = method.estimate_bytes(copy.deepcopy(config), params)  # before anything is built

    base = make_base(config)
    snapshot = [(p, p.detach().clone()) for p in base.parameters()]
    batch = make_batch()
    model = method.apply(base, params)
    untrained_logits = logits(model, batch)
    loss_before = eval_loss(model, batch)
    train_steps(model, batch, steps=3, lr=1e-3 if name == "full" else 1e-2)
    out_dir = tmp_path_factory.mktemp(f"artefact-{name}")
    method.save(model, out_dir)
    return {
        "name": name,
        "method": method,
        "params": params,
        "config": config,
        "model": model,
        "batch": batch,
        "snapshot": snapshot,
        "estimate": estimate,
        "dir": Path(out_dir),
        "loss_before": loss_before,
        "loss_after": eval_loss(model, batch),
        "untrained_logits": untrained_logits,
    }


class TestMethodContract:
    def test_method_is_documented(self, trained):
        method = trained["method"]
        assert method.name == trained["name"]
        assert method.paper.strip() and any(ch.isdigit() for ch in method.paper), "paper must cite a year"
        for field in method.params_cls.model_fields.values():
            assert field.description, "every param needs a description (it is the YAML help text)"

    def test_trainable_count_matches_closed_formula(self, trained):
        model, method = trained["model"], trained["method"]
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        total = sum(p.numel() for p in model.parameters())
        assert trainable == method.count_trainable(trained["config"], trained["params"])
        if trained["name"] == "full":
            assert trainable == total
        else:
            assert 0 < trainable < 0.2 * total

    def test_training_changes_the_loss(self, trained):
        assert trained["loss_after"] < trained["loss_before"] - 1e-3

    def test_generate_uses_the_trained_model(self, trained):
        # Each step of greedy generation (with the KV cache) must see what the forward pass
        # sees; a method whose trainable part is lost in generate() fails here.
        assert generation_vs_forward_gap(trained["model"], trained["batch"]) < 1e-4

    def test_saved_bytes_match_the_estimate(self, trained):
        real = artifact_bytes(trained["dir"])
        assert abs(trained["estimate"] - real) <= 0.02 * real, (trained["estimate"], real)

    def test_artifact_is_safetensors_and_json_only(self, trained):
        files = [p for p in trained["dir"].rglob("*") if p.is_file()]
        assert not [p for p in files if p.suffix in PICKLE_SUFFIXES]
        assert {p.suffix for p in files} <= {".safetensors", ".json"}
        weights = [p for p in files if p.suffix == ".safetensors"]
        assert len(weights) == 1
        with safe_open(str(weights[0]), "pt") as handle:  # really safetensors
            assert len(list(handle.keys())) > 0

    def test_reload_on_fresh_base_translates_identically(self, trained):
        method, batch = trained["method"], trained["batch"]
        reloaded = method.load(make_base(trained["config"]), trained["dir"])
        assert not reloaded.training
        assert torch.equal(translate(reloaded, batch), translate(trained["model"], batch))
        torch.testing.assert_close(logits(reloaded, batch), logits(trained["model"], batch))
        # ...and the artefact carries the *trained* weights, not the initial ones.
        assert not torch.allclose(logits(reloaded, batch), trained["untrained_logits"], atol=1e-4)

    def test_load_state_restores_the_trained_weights(self, trained):
        method, batch = trained["method"], trained["batch"]
        fresh = method.apply(make_base(trained["config"]), trained["params"])
        assert not torch.allclose(logits(fresh, batch), logits(trained["model"], batch), atol=1e-4)
        method.load_state(fresh, trained["dir"])
        torch.testing.assert_close(logits(fresh, batch), logits(trained["model"], batch))

    def test_save_unwraps_a_data_parallel_wrapper(self, trained, tmp_path):
        # DDP and DataParallel both hold the model as `.module`; DataParallel needs no process group.
        trained["method"].save(torch.nn.DataParallel(trained["model"]), tmp_path)
        assert artifact_bytes(tmp_path) == artifact_bytes(trained["dir"])
        fresh = trained["method"].apply(make_base(trained["config"]), trained["params"])
        trained["method"].load_state(torch.nn.DataParallel(fresh), tmp_path)
        torch.testing.assert_close(logits(fresh, trained["batch"]), logits(trained["model"], trained["batch"]))

    def test_base_weights_are_untouched_unless_full(self, trained):
        changed = sum(not torch.equal(p, before) for p, before in trained["snapshot"])
        if trained["name"] == "full":
            assert changed > 0
        else:
            assert changed == 0

    def test_ddp_find_unused_parameters_is_declared_as_needed(self, trained):
        """DDP with ``find_unused_parameters=False`` fails when a trainable parameter gets no
        gradient; with True it searches the graph every step (and torch warns when nothing is
        unused). A fresh copy's one backward pass shows which the method needs."""
        method = trained["method"]
        model = method.apply(make_base(trained["config"]), trained["params"])
        model.train()
        model(**trained["batch"]).loss.backward()
        unused = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
        assert bool(unused) == method.ddp_find_unused_parameters, unused
