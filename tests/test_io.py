"""Atomic writes: a crash mid-write must leave the previous result file intact and no litter."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from raymt.io import (
    _host_tag,
    atomic_savefig,
    atomic_to_csv,
    atomic_to_parquet,
    atomic_write,
    atomic_write_bytes,
    atomic_write_text,
    remove_stale_temps,
)


def _litter(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_write_text_and_bytes_replace_content(tmp_path):
    target = tmp_path / "sub" / "report.md"
    atomic_write_text(target, "first\n")
    atomic_write_text(target, "second\r\nline\n")
    assert target.read_bytes() == b"second\r\nline\n"  # no newline translation
    atomic_write_bytes(tmp_path / "blob.bin", b"\x00\x01")
    assert (tmp_path / "blob.bin").read_bytes() == b"\x00\x01"
    assert _litter(tmp_path) == [] and _litter(target.parent) == []


def test_exception_inside_context_keeps_previous_file_and_removes_temp(tmp_path):
    target = tmp_path / "trials.csv"
    target.write_text("old complete content\n")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_write(target) as tmp:
            tmp.write_text("half of the new")
            assert tmp.parent == target.parent  # same folder: os.replace stays atomic
            raise RuntimeError("boom")
    assert target.read_text() == "old complete content\n"
    assert _litter(tmp_path) == []


def test_failed_library_writer_keeps_previous_file(tmp_path):
    target = tmp_path / "trials.parquet"
    good = pd.DataFrame({"a": [1, 2]})
    atomic_to_parquet(good, target)

    class Unwritable:  # to_parquet of an object column pyarrow cannot encode
        pass

    bad = pd.DataFrame({"a": [Unwritable()]})
    with pytest.raises(ValueError):  # pyarrow's ArrowInvalid
        atomic_to_parquet(bad, target)
    pd.testing.assert_frame_equal(pd.read_parquet(target), good)
    assert _litter(tmp_path) == []


def test_killed_writer_leaves_previous_file_and_next_write_sweeps_its_temp(tmp_path):
    target = tmp_path / "trials.csv"
    target.write_text("previous\n")
    script = textwrap.dedent(
        f"""
        import os, signal
        from raymt.io import atomic_write
        with atomic_write({str(target)!r}) as tmp:
            with open(tmp, "w") as fh:
                fh.write("partial")
                fh.flush()
                os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == -signal.SIGKILL
    assert target.read_text() == "previous\n"
    assert len(_litter(tmp_path)) == 1  # SIGKILL cannot clean up after itself...
    atomic_write_text(target, "next\n")  # ...the next write of the same file does
    assert target.read_text() == "next\n"
    assert _litter(tmp_path) == []


def test_stale_sweep_spares_live_processes_and_other_hosts(tmp_path):
    target = tmp_path / "pareto.csv"
    live = tmp_path / f".pareto.csv.{_host_tag()}.{os.getppid()}.abc123.tmp"
    other_host = tmp_path / ".pareto.csv.some-other-node.999999.abc123.tmp"
    other_file = tmp_path / f".trials.csv.{_host_tag()}.999999.abc123.tmp"
    for p in (live, other_host, other_file):
        p.write_text("x")
    assert remove_stale_temps(target) == []
    dead = tmp_path / f".pareto.csv.{_host_tag()}.{_dead_pid()}.abc123.tmp"
    dead.write_text("x")
    assert remove_stale_temps(target) == [dead]
    assert live.exists() and other_host.exists() and other_file.exists()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_permissions_match_a_plain_write_or_the_replaced_file(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic_write_text(tmp_path / "atomic.txt", "x")
    assert (tmp_path / "atomic.txt").stat().st_mode & 0o777 == plain.stat().st_mode & 0o777
    os.chmod(plain, 0o640)
    atomic_write_text(plain, "y")
    assert plain.stat().st_mode & 0o777 == 0o640


def test_csv_parquet_round_trip(tmp_path):
    df = pd.DataFrame({"trial_id": ["a", "b"], "bleu": [1.5, float("nan")], "lora_r": [8.0, float("nan")]})
    atomic_to_csv(df, tmp_path / "t.csv")
    atomic_to_parquet(df, tmp_path / "t.parquet")
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "t.csv"), df, check_dtype=False)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "t.parquet"), df, check_dtype=False)


def test_savefig_writes_the_format_of_the_target_extension(tmp_path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1, 1))
    FigureCanvasAgg(fig)
    fig.add_subplot().plot([0, 1], [0, 1])
    atomic_savefig(fig, tmp_path / "p.png")
    atomic_savefig(fig, tmp_path / "p.svg")
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (tmp_path / "p.svg").read_bytes()[:500]
    with pytest.raises(ValueError, match="extension"):
        atomic_savefig(fig, tmp_path / "noext")
    assert _litter(tmp_path) == []
