"""The one build sequence of raymt's own models (tiny base, real-text base, reverse model): built
once per machine even when several processes ask at once, published whole, marker last."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from raymt.model.build_cache import build_model_once


class _Saved:
    """Stands in for a model or tokenizer: ``save_pretrained`` writes one file."""

    def __init__(self, name: str):
        self.name = name

    def save_pretrained(self, folder, **_):
        (Path(folder) / self.name).write_text(self.name)


def test_racing_builders_build_once_and_the_others_reuse_it(tmp_path):
    out = tmp_path / "models" / "tiny-abc"
    builds: list[int] = []
    logs: list[str] = []

    def build():
        builds.append(1)
        time.sleep(0.5)  # long enough for the other callers to arrive while it builds
        return _Saved("model.safetensors"), _Saved("tokenizer.json"), {"spec": {"d_model": 8}}

    folders: list[Path] = []
    threads = [
        threading.Thread(target=lambda: folders.append(build_model_once(out, "marker.json", build, what="tiny base", log=logs.append)))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert builds == [1] and folders == [out] * 3
    assert sorted(p.name for p in out.iterdir()) == ["marker.json", "model.safetensors", "tokenizer.json"]
    meta = json.loads((out / "marker.json").read_text())
    assert list(meta) == ["spec", "build_s"] and meta["build_s"] >= 0.5  # the recipe's keys, then the build's seconds
    assert len(logs) == 1 and logs[0].startswith("tiny base built in ") and logs[0].endswith(f"-> {out}")
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".build-")] == []  # no half-written folder left
    assert build_model_once(out, "marker.json", build, what="tiny base", log=logs.append) == out and builds == [1]
