"""Which new domain can the real-text base (tiny-multilingual) adapt to? Each candidate corpus
measured cheaply, on its VALIDATION cut only: tokenizer fit and the untouched base (prepare, no
Ray), then one full fine-tuning trial (``raymt.api.train``: 4,000 training pairs, 2 epochs, lr 1e-3).

    python -m benchmarks.domain_candidates --work DIR [--base FOLDER] [--only tat_deen ...]

``--base``: a built tiny-multilingual folder (``<cache>/models/multilingual-<key>``) linked into
``DIR/.cache/models`` so that nothing is rebuilt. Candidates: Tatoeba (../shared/data/tatoeba-test,
four directions, carved by source sentence) and FLORES-200 devtest en->de (1,012 sentences: 412
left to train on; probed only). The test cuts are carved here too (so the candidates' splits are
the spaces' splits) but never decoded. Prints ``uptime`` around every run: times depend on load,
BLEU does not. The choice it made: BENCHMARKS.md "Real-text base" (search_spaces/tatoeba_domain.yaml).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from benchmarks.machine_load import uptime

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
TATOEBA = SHARED / "tatoeba-test" / "testsets"
CODES = {"eng": "en_XX", "deu": "de_DE", "fra": "fr_XX"}


def _tatoeba(pair: str, src: str, tgt: str) -> dict:
    return {
        "model": {"src_lang": CODES[src], "tgt_lang": CODES[tgt], "max_length": 64},
        "data": {
            "path": str(TATOEBA / pair / "tatoeba-test-v2021-08-07"),
            "src": src,
            "tgt": tgt,
            "carve_by": "source",
            "valid_size": 500,
            "test_size": 1000,
        },
        "train": True,
    }


CANDIDATES = {
    "tat_ende": _tatoeba("deu-eng", "eng", "deu"),
    "tat_enfr": _tatoeba("eng-fra", "eng", "fra"),
    "flores_ende": {
        "model": {"src_lang": "en_XX", "tgt_lang": "de_DE", "max_length": 96},
        "data": {
            "path": str(SHARED / "flores200-devtest" / "devtest"),
            "src": "en",
            "tgt": "de",
            "src_file": "eng_Latn.devtest",
            "tgt_file": "deu_Latn.devtest",
            "validation": None,
            "test": None,
            "valid_size": 300,
            "test_size": 300,
        },
        "train": False,
    },
    "tat_deen": _tatoeba("deu-eng", "deu", "eng"),
    "tat_fren": _tatoeba("eng-fra", "fra", "eng"),
}


def experiment(name: str, work: Path) -> dict:
    cand = CANDIDATES[name]
    max_new = cand["model"]["max_length"]
    return {
        "name": name,
        "storage_path": str(work),
        "model": {"name_or_path": "tiny-multilingual", **cand["model"]},
        "data": {"source": "local", "format": "moses", "max_train_pairs": 4000, **cand["data"]},
        "method": {"name": "full"},
        "train": {"epochs": 2, "batch_size": 32, "lr": 1.0e-3, "warmup_ratio": 0.1},
        "eval": {"split": "validation", "beam_size": 1, "max_new_tokens": max_new, "max_samples": 500},
        "resources": {"num_workers": 2, "cpus_per_worker": 0.95, "trial_cpus": 0.1},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="storage_path of the candidates' runs")
    parser.add_argument("--base", type=Path, help="a built tiny-multilingual folder to reuse (linked, never rebuilt)")
    parser.add_argument("--only", nargs="+", choices=sorted(CANDIDATES), help="these candidates only")
    args = parser.parse_args(argv)
    import yaml

    from raymt.api import train
    from raymt.config.load import load_config
    from raymt.train.prepare import prepare_experiment

    work = args.work.resolve()
    if args.base is not None:
        models = work / ".cache" / "models"
        models.mkdir(parents=True, exist_ok=True)
        link = models / args.base.name
        if not link.exists():
            link.symlink_to(args.base.resolve())
    for name in args.only or list(CANDIDATES):
        path = work / f"{name}.yaml"
        path.write_text(yaml.safe_dump(experiment(name, work), sort_keys=False))
        t0 = time.perf_counter()
        print(f"=== {name} ({path}) | {uptime()}", flush=True)
        if CANDIDATES[name]["train"]:
            m = train(path)
            row = {k: m.get(k) for k in ("bleu", "chrf", "best_epoch", "epoch", "train_time_s", "eval_time_s", "storage_mb")}
        else:
            p = prepare_experiment(load_config(path))
            row = {"sizes": p.sizes, "tokenizer_fit": p.tokenizer_fit, "untouched_base": p.base_scores.get("")}
        print(f"RESULT {name} " + json.dumps(row), flush=True)
        print(f"=== {name} done in {time.perf_counter() - t0:.1f} s | {uptime()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
