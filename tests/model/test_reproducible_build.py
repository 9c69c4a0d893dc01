"""Two builds of one recipe, in two fresh processes (as two machines), give byte-identical
model folders (issue 20 item 2). Only the marker differs: it records how long each build took."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from raymt.model.tiny import TINY_MARKER, TinyModelSpec

pytestmark = pytest.mark.slow

BUILD = """
import sys
from raymt.model.tiny import TinyModelSpec, build_tiny_base
print(build_tiny_base(TinyModelSpec.model_validate_json(sys.argv[1]), sys.argv[2], log=lambda m: None))
"""


def digests(folder: Path) -> dict[str, str]:
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(folder.iterdir()) if f.name != TINY_MARKER}


def test_two_builds_of_one_spec_are_byte_identical(tmp_path):
    spec = TinyModelSpec(pretrain_pairs=600, pretrain_epochs=2, threads=2)  # small, and 2 intra-op threads
    folders = []
    for run in ("a", "b"):
        out = (
            subprocess.run([sys.executable, "-c", BUILD, spec.model_dump_json(), str(tmp_path / run)], capture_output=True, text=True, check=True)
            .stdout.strip()
            .splitlines()[-1]
        )
        folders.append(Path(out))
    assert folders[0].name == folders[1].name == spec.cache_key()
    first, second = digests(folders[0]), digests(folders[1])
    assert {"model.safetensors", "tokenizer.json", "config.json"} <= set(first)
    assert first == second
