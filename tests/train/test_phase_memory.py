"""A worker's peak memory per phase (raymt.train.phase_memory): exact inside each phase, and
the moments between phases are not lost."""

from __future__ import annotations

import sys

import pytest

from raymt.train.phase_memory import ENV, PhaseMemory, read_phases

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self")
MIB = 1024**2


def _resident(mib: int) -> bytes:
    """``mib`` MiB written byte by byte, so every page is resident. ``bytearray(n)`` is calloc'd:
    fresh zero pages that glibc does not touch when it maps them, so the RSS may not rise at all
    (it failed so in a long test session)."""
    return b"\x01" * (mib * MIB)


def test_each_phase_records_its_own_peak_and_the_gap_before_it(tmp_path, monkeypatch):
    log = tmp_path / "phases.jsonl"
    monkeypatch.setenv(ENV, str(log))
    memory = PhaseMemory.from_env(rank=1)
    with memory.phase("backward", step=3):
        block = _resident(300)
        del block
    between = _resident(200)  # a peak outside any phase (a data loader, a barrier)
    del between
    with memory.phase("optimizer_step", step=3):
        pass
    first, second = read_phases(log)
    assert (first["phase"], first["step"], first["rank"]) == ("backward", 3, 1)
    # freed before the phase ended, yet its peak is the phase's: the high-water mark was reset at its start
    assert first["peak"] >= first["rss_start"] + 290 * MIB > first["rss_end"]
    assert second["peak"] < second["rss_start"] + 100 * MIB  # the earlier 300 MiB is not carried over
    assert second["peak_before"] >= second["rss_start"] + 190 * MIB


def test_marks_split_a_phase_into_segments_and_the_phase_keeps_their_peak(tmp_path, monkeypatch):
    log = tmp_path / "phases.jsonl"
    monkeypatch.setenv(ENV, str(log))
    memory = PhaseMemory.from_env(rank=0)
    memory.mark("ignored")  # outside a phase: nothing
    with memory.phase("backward", step=1):
        memory.mark("lm_head")
        block = _resident(300)
        del block
        memory.mark("decoder.layers.0")
    lines = {line["phase"]: line for line in read_phases(log)}
    assert set(lines) == {"backward:lm_head", "backward:decoder.layers.0", "backward"}
    head, layer, whole = lines["backward:lm_head"], lines["backward:decoder.layers.0"], lines["backward"]
    assert head["peak"] >= head["rss_start"] + 290 * MIB and layer["peak"] < layer["rss_start"] + 100 * MIB
    assert whole["peak"] >= head["peak"]  # the phase's own peak is its largest segment's


def test_without_the_variable_nothing_is_measured(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    memory = PhaseMemory.from_env(rank=0)
    with memory.phase("forward"):
        pass
    assert not memory.active and read_phases(tmp_path / "absent.jsonl") == []
