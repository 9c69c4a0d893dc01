"""``raymt translate`` / ``raymt evaluate`` on real text from ../shared/data (FLORES-200, Multi30k).

The model is the tiny default base with a LoRA warm-started by the denoising stage on real
German text, exported the way a search exports it. It has never seen these languages' real
words, so it translates badly: the tests check the mechanics a user relies on (one output line
per input line, whatever the input; BLEU and chrF with their sacrebleu signatures), not quality.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from raymt.cli import main
from raymt.config.load import validate_config
from raymt.train.init_stage import ensure_init_stage
from raymt.train.prepare import prepare_experiment

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
FLORES = SHARED_DATA / "flores200-devtest" / "devtest"
MULTI30K = SHARED_DATA / "multi30k" / "task1" / "raw"
LINES = 12

pytestmark = pytest.mark.skipif(
    not (FLORES.is_dir() and MULTI30K.is_dir()), reason=f"real text not found under {SHARED_DATA} (the ../shared data folder is absent)"
)


def read(path: Path, n: int) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [next(f).rstrip("\n") for _ in range(n)]


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_base, cache_root):
    """A results folder with one LoRA trial whose artefact is a denoising stage on FLORES German
    text (read from ../shared, never copied into the repo), exported with ``raymt export``."""
    root = tmp_path_factory.mktemp("real")
    cache = root / ".cache"
    cache.mkdir()
    for shared in ("models", "data"):
        (cache_root / shared).mkdir(exist_ok=True)
        (cache / shared).symlink_to(cache_root / shared, target_is_directory=True)
    raw = {
        "name": "real",
        "storage_path": str(root),
        "model": {"name_or_path": "tiny"},
        "data": {"source": "synthetic", "domain": "medical", "train_size": 100, "valid_size": 20, "test_size": 20, "lexicon_size": 20},
        "method": {"name": "lora", "r": 4},
        "init": {"stage": "denoise", "denoise": {"steps": 4, "batch_size": 8, "max_sentences": 64, "text": str(FLORES / "deu_Latn.devtest")}},
    }
    cfg = validate_config(raw, "test")
    prepared = prepare_experiment(cfg, log=lambda m: None)
    stage = ensure_init_stage(cfg, prepared, log=lambda m: None)
    results = root / "results"
    results.mkdir()
    (results / "search_config.yaml").write_text(yaml.safe_dump({**raw, "search": {"space": {"method": "lora"}}}))
    (results / "prepared.json").write_text(json.dumps({"base_path": prepared.base_path, "data_path": prepared.data_path}))
    (results / "raymt_experiment.json").write_text("{}")
    pd.DataFrame(
        [
            {
                "trial_id": "t_real",
                "status": "completed",
                "method": "lora",
                "bleu": 1.0,
                "chrf": 10.0,
                "storage_mb": 0.05,
                "artifact_path": stage.artifact,
            }
        ]
    ).to_parquet(results / "trials.parquet")
    out = root / "export"
    assert main(["export", str(results), "--trial", "t_real", "--to", str(out)]) == 0
    return out


@pytest.mark.parametrize(
    "src_path, ref_path",
    [
        (FLORES / "eng_Latn.devtest", FLORES / "deu_Latn.devtest"),
        (MULTI30K / "test_2016_flickr.en.gz", MULTI30K / "test_2016_flickr.de.gz"),
    ],
    ids=["flores200", "multi30k"],
)
def test_translate_and_evaluate_real_text(exported, tmp_path, capsys, src_path, ref_path):
    src, ref = tmp_path / "src.txt", tmp_path / "ref.txt"
    src.write_text("\n".join(read(src_path, LINES)) + "\n", encoding="utf-8")
    ref.write_text("\n".join(read(ref_path, LINES)) + "\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["translate", str(exported), str(src)]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == LINES  # one line per input line, even when a translation is empty
    assert main(["evaluate", str(exported), "--src", str(src), "--ref", str(ref)]) == 0
    text = capsys.readouterr().out
    bleu = re.search(r"^BLEU (\d+\.\d\d)  \((nrefs:1\|case:mixed\|eff:no\|tok:13a\|smooth:exp\|version:[\d.]+)\)$", text, re.M)
    chrf = re.search(r"^chrF (\d+\.\d\d)  \((nrefs:1\|case:mixed\|eff:yes\|nc:6\|nw:0\|space:no\|version:[\d.]+)\)$", text, re.M)
    assert bleu and chrf, text
    assert 0.0 <= float(bleu.group(1)) < 100.0 and 0.0 <= float(chrf.group(1)) < 100.0
