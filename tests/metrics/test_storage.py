"""Bytes on disk and the exact safetensors size prediction behind every storage estimate."""

from __future__ import annotations

import json
import os

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

from raymt.metrics.storage import DTYPE_NAMES, artifact_bytes, mb, safetensors_bytes, safetensors_header


def test_mb_is_si_megabytes():
    assert mb(2_500_000) == 2.5
    assert mb(0) == 0.0


def test_artifact_bytes_counts_every_file_recursively(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"x" * 10)
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / "sub" / "b.json").write_text("{}")
    (tmp_path / "sub" / "deeper" / "c").write_bytes(b"y" * 1000)
    assert artifact_bytes(tmp_path) == 10 + 2 + 1000
    assert artifact_bytes(tmp_path / "a.bin") == 10


def test_artifact_bytes_does_not_count_links_twice(tmp_path):
    (tmp_path / "weights").write_bytes(b"z" * 100)
    os.symlink(tmp_path / "weights", tmp_path / "alias")
    assert artifact_bytes(tmp_path) == 100


def test_artifact_bytes_of_a_missing_path_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        artifact_bytes(tmp_path / "nope")


def test_empty_artefact_directory_is_zero_bytes(tmp_path):
    assert artifact_bytes(tmp_path) == 0


_names = st.text(alphabet="abcxyz._019é", min_size=1, max_size=40)
_tensor = st.tuples(st.sampled_from(list(DTYPE_NAMES)), st.lists(st.integers(0, 6), max_size=3))
_metadata = st.one_of(st.none(), st.dictionaries(st.text("fmtpé", min_size=1, max_size=6), st.text(max_size=8), max_size=3))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tensors=st.dictionaries(_names, _tensor, min_size=1, max_size=10), metadata=_metadata)
def test_safetensors_size_is_predicted_to_the_byte(tmp_path, tensors, metadata):
    path = tmp_path / "t.safetensors"
    save_file({name: torch.zeros(shape, dtype=dtype) for name, (dtype, shape) in tensors.items()}, path, metadata=metadata or None)
    assert safetensors_bytes(tensors, metadata or None) == path.stat().st_size
    raw = path.read_bytes()
    written = raw[8 : 8 + int.from_bytes(raw[:8], "little")]
    predicted = safetensors_header(tensors, metadata or None)
    # Same layout (offsets) and same length; the order of several metadata keys is the
    # writer's hash-map order, so compare the parsed JSON.
    assert len(written) == len(predicted)
    assert json.loads(written) == json.loads(predicted)


def test_header_bytes_matter_for_small_adapters():
    # 32 LoRA-like tensors of 512 floats: the header is several percent of the file.
    tensors = {f"base_model.model.model.encoder.layers.{i}.self_attn.q_proj.lora_A.weight": (torch.float32, (8, 64)) for i in range(32)}
    data = 32 * 8 * 64 * 4
    assert safetensors_bytes(tensors, {"format": "pt"}) > 1.05 * data
