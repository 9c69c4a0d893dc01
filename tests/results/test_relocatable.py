"""A results folder that is copied or moved works on its own: its files say where things are
relative to the folder, an old folder's absolute paths are read from the copy, and the one thing
outside it (the base model, in the search's cache) is named, with how to point at it."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from hand_made_results import make_results_folder

from raymt.analysis.results import load, write_results
from raymt.cli import main
from raymt.errors import DataError
from raymt.export.bundle import choose_trial, export_trial, load_exported
from raymt.results.files import PREPARED, TRIALS_CSV, TRIALS_FILE
from raymt.results.paths import BASE_ENV, read_prepared, write_prepared


@pytest.fixture()
def layout(tmp_path, tiny_base):
    """``project/cache/base`` (the search's cache) beside ``project/results/exp``."""
    base = tmp_path / "project" / "cache" / "base"
    shutil.copytree(tiny_base, base)
    exp = make_results_folder(tmp_path / "project" / "results" / "exp", base)
    return tmp_path, base, exp


def test_the_files_hold_paths_relative_to_the_folder(layout):
    _, base, exp = layout
    on_disk = pd.read_parquet(exp / TRIALS_FILE)
    assert on_disk.loc[0, "artifact_path"] == "artifacts/t_lora"
    assert json.loads((exp / PREPARED).read_text())["base_path"] == "../../cache/base"
    trials = load(exp)  # in memory: paths on this machine
    assert trials.loc[0, "artifact_path"] == str(exp / "artifacts" / "t_lora")
    write_results(exp, trials)  # written back: relative again, CSV too
    assert pd.read_parquet(exp / TRIALS_FILE).loc[0, "artifact_path"] == "artifacts/t_lora"
    assert pd.read_csv(exp / TRIALS_CSV).loc[0, "artifact_path"] == "artifacts/t_lora"
    assert read_prepared(exp)["base_path"] == str(base)


def test_a_moved_project_exports_and_translates_from_its_own_files(layout, capsys):
    tmp, _, exp = layout
    moved = tmp / "elsewhere"
    shutil.move(tmp / "project", moved)  # results and cache together (an rsync, a download)
    exp = moved / "results" / "exp"
    assert main(["report", str(exp)]) == 0
    report = (exp / "report.md").read_text()
    front = report[report.index("## Pareto front") :].split("\n## ")[0]
    assert "| artifacts/t_lora |" in front  # the front table's paths are the folder's own: it may move again
    assert str(tmp) not in report
    assert main(["export", str(exp), "--trial", "t_lora", "--to", str(tmp / "out")]) == 0
    meta = json.loads((tmp / "out" / "raymt_export.json").read_text())
    assert meta["base"] == str(moved / "cache" / "base")
    src = tmp / "src.txt"
    src.write_text("hello world\n")
    capsys.readouterr()
    assert main(["translate", str(tmp / "out"), str(src)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1


def test_a_copy_of_the_folder_alone_reads_its_own_artefacts_and_names_the_base(layout, tmp_path, capsys, monkeypatch):
    tmp, base, exp = layout
    copy = tmp / "copy" / "exp"
    shutil.copytree(exp, copy)
    shutil.rmtree(exp)  # the original is gone: nothing may be read from it
    assert load(copy).set_index("trial_id").loc["t_lora", "artifact_path"] == str(copy / "artifacts" / "t_lora")
    # a copy on the same machine still finds the cache where the folder was written
    assert read_prepared(copy)["base_path"] == str(base)
    moved_base = tmp / "my_base"
    shutil.move(base, moved_base)  # now the base is not where the search left it
    monkeypatch.delenv(BASE_ENV, raising=False)
    assert main(["export", str(copy), "--trial", "t_adapter", "--to", str(tmp / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(base) in err and "--base" in err and BASE_ENV in err and PREPARED in err
    assert main(["export", str(copy), "--trial", "t_adapter", "--to", str(tmp / "out"), "--base", str(moved_base)]) == 0
    shutil.move(moved_base, tmp / "base_again")  # the export's base moved too: translate says so, --base fixes it
    src = tmp / "src.txt"
    src.write_text("hello\n")
    assert main(["translate", str(tmp / "out"), str(src)]) == 2
    assert "--base" in capsys.readouterr().err
    monkeypatch.setenv(BASE_ENV, str(tmp / "base_again"))
    assert main(["translate", str(tmp / "out"), str(src)]) == 0


def test_an_old_folder_with_absolute_paths_is_read_from_the_copy(tmp_path, tiny_base):
    old = make_results_folder(tmp_path / "old" / "exp", tiny_base, absolute=True)
    assert pd.read_parquet(old / TRIALS_FILE).loc[0, "artifact_path"] == str(old / "artifacts" / "t_lora")
    copy = tmp_path / "copy" / "exp"
    shutil.copytree(old, copy)
    shutil.rmtree(old / "artifacts")  # the original's artefacts are gone: the copy's are used, not "gone"
    row = choose_trial(load(copy), trial="t_lora")
    assert row["artifact_path"] == str(copy / "artifacts" / "t_lora")
    export_trial(copy, row, tmp_path / "out")
    model, _, _ = load_exported(tmp_path / "out")
    assert model is not None


def test_prepared_paths_round_trip_and_the_base_error_is_a_data_error(tmp_path):
    folder = tmp_path / "exp"
    folder.mkdir()
    write_prepared(
        folder, {"base_path": str(tmp_path / "nowhere"), "data_path": str(folder / "data"), "augment_pools": {"bt": str(tmp_path / "pool")}}
    )
    raw = json.loads((folder / PREPARED).read_text())
    assert raw["data_path"] == "data" and raw["augment_pools"] == {"bt": "../pool"}
    prepared = read_prepared(folder)
    assert prepared["augment_pools"]["bt"] == str(tmp_path / "pool") and "written_at" not in prepared
    from raymt.results.paths import locate_base

    with pytest.raises(DataError, match="not on this machine"):
        locate_base(prepared["base_path"], where="prepared.json")
