"""Export / translate / evaluate without Ray: a results folder made by hand around real
artefacts saved by the methods themselves (the end-to-end search test exports trained ones)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from raymt.cli import main
from raymt.errors import ConfigError
from raymt.export import choose_trial, export_trial, load_exported, translate
from raymt.methods import get_method
from raymt.model.loading import forced_bos_id, load_model, load_tokenizer

SOURCES = ["the nurse treats the patient", "a doctor sees the fever", "the pills help"]


@pytest.fixture()
def results(tmp_path, tiny_base):
    """A search's results folder with a LoRA trial, an adapter trial and a failed one."""
    folder = tmp_path / "results"
    folder.mkdir()
    raw = {"name": "r", "storage_path": str(tmp_path), "model": {"name_or_path": "tiny"},
           "search": {"objectives": {"bleu": "max", "storage_mb": "min"},
                      "space": {"method": ["lora", "adapter"], "methods": {"lora": {"r": {"choices": [4, 8]}},
                                                                            "adapter": {"size": {"choices": [8, 16]}}}}}}
    (folder / "search_config.yaml").write_text(yaml.safe_dump(raw))
    (folder / "prepared.json").write_text(json.dumps({"base_path": str(tiny_base), "data_path": ""}))
    (folder / "raymt_experiment.json").write_text("{}")
    rows = []
    for trial_id, method, params, bleu in (("t_lora", "lora", {"r": 8}, 30.0), ("t_adapter", "adapter", {"size": 16}, 31.0)):
        m = get_method(method)
        art = folder / "artifacts" / trial_id
        m.save(m.apply(load_model(str(tiny_base)), m.validate_params(params)), art)
        size = sum(f.stat().st_size for f in art.rglob("*") if f.is_file()) / 1e6
        row = {"trial_id": trial_id, "status": "completed", "method": method, "bleu": bleu, "chrf": 50.0,
               "storage_mb": size, "artifact_path": str(art), "sacrebleu_signature": "nrefs:1|sig"}
        row.update({f"{method}.{k}": v for k, v in params.items()})
        rows.append(row)
    rows.append({"trial_id": "t_failed", "status": "failed", "method": "lora", "lora.r": 4})
    pd.DataFrame(rows).to_parquet(folder / "trials.parquet")
    return folder


def base_translations(tiny_base, lines):
    tok = load_tokenizer(str(tiny_base), "en_XX", "de_DE")
    model = load_model(str(tiny_base)).eval()
    out = model.generate(**tok(lines, return_tensors="pt", padding=True), forced_bos_token_id=forced_bos_id(tok, "de_DE"),
                         max_new_tokens=40)
    return [t.strip() for t in tok.batch_decode(out, skip_special_tokens=True)]


def test_exported_lora_is_peft_format_and_translates_like_its_model(results, tmp_path, tiny_base):
    df = pd.read_parquet(results / "trials.parquet")
    out = export_trial(results, choose_trial(df, trial="t_lora"), tmp_path / "out")
    meta = json.loads((out / "raymt_export.json").read_text())
    assert meta["method"] == "lora" and meta["config"]["method"]["r"] == 8 and meta["base"] == str(tiny_base)
    assert (out / "adapter_config.json").exists() and (out / "tokenizer_config.json").exists()
    assert "t_lora" in (out / "README.md").read_text()
    # a freshly initialised LoRA is the identity: its translations are the base model's
    assert translate(out, SOURCES, max_new_tokens=40) == base_translations(tiny_base, SOURCES)
    merged = export_trial(results, choose_trial(df, trial="t_lora"), tmp_path / "merged", merge=True)
    assert (merged / "model.safetensors").exists()
    assert translate(merged, SOURCES, max_new_tokens=40) == translate(out, SOURCES, max_new_tokens=40)


def test_choose_by_budget_and_refusals(results):
    df = pd.read_parquet(results / "trials.parquet")
    small = df.loc[df["trial_id"] == "t_lora", "storage_mb"].iloc[0]
    assert choose_trial(df, best_under_mb=small)["trial_id"] == "t_lora"
    assert choose_trial(df, best_under_mb=10.0)["trial_id"] == "t_adapter"  # higher BLEU within 10 MB
    with pytest.raises(ConfigError, match="failed"):
        choose_trial(df, trial="t_failed")
    with pytest.raises(ConfigError, match="no trial"):
        choose_trial(df, trial="nope")
    with pytest.raises(ConfigError, match="exactly one"):
        choose_trial(df)


def test_merge_is_for_lora_only(results, tmp_path):
    df = pd.read_parquet(results / "trials.parquet")
    with pytest.raises(ConfigError, match="--merge"):
        export_trial(results, choose_trial(df, trial="t_adapter"), tmp_path / "x", merge=True)


def test_cli_export_translate_evaluate(results, tmp_path, capsys):
    out = tmp_path / "cli-out"
    assert main(["export", str(results), "--knee", "--to", str(out)]) == 0
    model_tuple = load_exported(out)
    src = tmp_path / "src.txt"
    src.write_text("\n".join(SOURCES) + "\n")
    capsys.readouterr()
    assert main(["translate", str(out), str(src)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed == translate(out, SOURCES, loaded=model_tuple)
    ref = tmp_path / "ref.txt"
    ref.write_text("\n".join(printed) + "\n")                 # its own output as reference: BLEU 100
    assert main(["evaluate", str(out), "--src", str(src), "--ref", str(ref)]) == 0
    text = capsys.readouterr().out
    assert "BLEU 100.00" in text and "nrefs:1" in text
    assert main(["export", str(results), "--trial", "t_lora", "--to", str(out)]) == 2   # not empty
    assert main(["translate", str(tmp_path)]) == 2                                        # not an export
