"""Bad input, table-driven, through the real CLI: one clear message naming the file/field and
the fix, exit code 2, no traceback, and no Ray started.

Each case is a YAML file (or a folder of data files) and the command a user would run on it.
`raymt validate` checks configs and search spaces; `raymt train` reaches the data and model
checks, which all run before Ray starts.
"""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import pytest
import yaml

from raymt.cli import main

SEARCH = """
search:
  objectives: {bleu: max, storage_mb: min}
  space:
    method: [full, lora]
    common:
      train.lr: {log_uniform: [1.0e-4, 1.0e-2]}
    methods:
      lora:
        r: {choices: [4, 8]}
"""

# (case id, YAML text, words the message must contain)
CONFIG_CASES = [
    ("yaml_syntax", "train:\n  epochs: [3\n", ["line"]),
    ("unknown_top_key", "trian: {epochs: 3}\n", ["trian", "did you mean", "train"]),
    ("unknown_nested_key", "train: {epoch: 3}\n", ["train.epoch", "epochs"]),
    ("wrong_type", "train: {epochs: three}\n", ["train.epochs"]),
    ("zero_epochs", "train: {epochs: 0}\n", ["train.epochs"]),
    ("lr_not_positive", "train: {lr: 0}\n", ["train.lr"]),
    ("negative_batch", "train: {batch_size: -8}\n", ["train.batch_size"]),
    ("negative_rank", "method: {name: lora, r: -4}\n", ["r"]),
    ("unknown_method", "method: {name: lorra}\n", ["lorra", "lora"]),
    ("key_of_another_method", "method: {name: adapter, r: 8}\n", ["r", "adapter"]),
    ("ratio_above_one", "augment: {word_dropout: {ratio: 1.5}}\n", ["augment.word_dropout.ratio"]),
    ("unknown_augment_op", "augment: {word_dropot: {ratio: 0.2}}\n", ["word_dropot"]),
    ("negative_data_size", "data: {source: synthetic, train_size: -5}\n", ["train_size"]),
    ("unknown_data_source", "data: {source: ftp, path: x}\n", ["data"]),
    ("unknown_strategy", "resources: {strategy: zero3}\n", ["resources.strategy"]),
    ("unknown_storage_scheme", "storage_path: ftp://host/raymt\n", ["storage_path", "s3://"]),
    ("zero_workers", "resources: {num_workers: 0}\n", ["resources.num_workers"]),
    ("bad_precision", "train: {precision: fp8}\n", ["train.precision"]),
    ("empty_choices", SEARCH.replace("{choices: [4, 8]}", "{choices: []}"), ["choices"]),
    ("unknown_sampler", SEARCH + "  sampler: {kind: cmaes2}\n", ["sampler"]),
    ("unknown_scheduler", SEARCH + "  scheduler: {kind: pbt2}\n", ["scheduler"]),
    ("space_key_under_wrong_branch", SEARCH.replace("      lora:\n        r:", "      full:\n        r:"), ["full"]),
    ("space_unknown_method", SEARCH.replace("[full, lora]", "[full, qlora]"), ["qlora"]),
    ("objective_bad_mode", SEARCH.replace("bleu: max", "bleu: maximise"), ["bleu"]),
    ("log_uniform_not_positive", SEARCH.replace("[1.0e-4, 1.0e-2]", "[0.0, 1.0e-2]"), ["train.lr", "lower bound"]),
    ("space_value_out_of_range", SEARCH.replace("{choices: [4, 8]}", "{choices: [4, -8]}"), ["r"]),
    (
        "searched_augment_params",
        SEARCH.replace("    common:\n", "    common:\n      augment.word_dropout.params.p: {uniform: [0.05, 0.3]}\n"),
        ["augment.word_dropout.params.p", "cannot be searched", "augment.word_dropout.ratio"],
    ),
    (
        "point_value_outside_space",
        SEARCH + "  points_to_evaluate: [{method: lora, train.lr: 1.0e-3, lora.r: 16}]\n",
        ["points_to_evaluate[0].lora.r", "16", "[4, 8]"],
    ),
    (
        "point_parameter_of_another_branch",
        SEARCH + "  points_to_evaluate: [{method: full, train.lr: 1.0e-3, lora.r: 4}]\n",
        ["points_to_evaluate[0].lora.r", "lora branch", "method is full"],
    ),
    (
        "point_name_not_in_space",
        SEARCH + "  points_to_evaluate: [{method: lora, train.lr: 1.0e-3, lora.rank: 4}]\n",
        ["points_to_evaluate[0].lora.rank", "does not have", "lora.r"],
    ),
    ("unknown_bleu_tokenizer", "eval: {bleu_tokenize: 13b}\n", ["eval.bleu_tokenize", "13a"]),
    ("eval_split_test", "eval: {split: test}\n", ["eval.split", "held out", "set it to validation", "--test"]),
]


def run_cli(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.err


def assert_clean_refusal(code, err, words):
    import ray

    assert code == 2, err
    assert "Traceback" not in err
    assert err.startswith("raymt: error:")
    low = err.lower()
    for word in words:
        assert word.lower() in low, (word, err)
    assert "fix:" in low or "did you mean" in low, err
    assert not ray.is_initialized()


@pytest.mark.parametrize("case, text, words", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_bad_config_is_refused_with_the_field_and_a_fix(tmp_path, capsys, case, text, words):
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    code, err = run_cli(["validate", str(path)], capsys)
    assert_clean_refusal(code, err, words + [path.name])


# --- data and model: reached by `raymt train`, still before Ray ------------------------------------


def _train_yaml(tmp_path, tiny_base, data: dict | None = None, **over) -> Path:
    raw = {"name": "bad", "storage_path": str(tmp_path / "results"), "model": {"name_or_path": str(tiny_base)}}
    if data is not None:
        raw["data"] = data
    raw.update(over)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _moses(folder: Path, src_lines, tgt_lines, *, raw_bytes: bytes | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.de").write_text("".join(line + "\n" for line in src_lines), encoding="utf-8")
    if raw_bytes is not None:
        (folder / "train.en").write_bytes(raw_bytes)
    else:
        (folder / "train.en").write_text("".join(line + "\n" for line in tgt_lines), encoding="utf-8")
    return folder


def _local(folder):
    return {"source": "local", "path": str(folder), "format": "moses", "src": "de", "tgt": "en", "valid_size": 1, "test_size": 1}


DATA_CASES = [
    (
        "missing_model_folder",
        lambda tmp, base: _train_yaml(tmp, base, model={"name_or_path": str(tmp / "no-such-model")}),
        ["model.name_or_path", "no-such-model"],
    ),
    (
        "unknown_language_code",
        lambda tmp, base: _train_yaml(tmp, base, model={"name_or_path": str(base), "tgt_lang": "xx_YY"}),
        ["model.tgt_lang", "xx_YY"],
    ),
    ("missing_data_folder", lambda tmp, base: _train_yaml(tmp, base, _local(tmp / "nowhere")), ["nowhere"]),
    (
        "mismatched_parallel_files",
        lambda tmp, base: _train_yaml(tmp, base, _local(_moses(tmp / "d", ["a b", "c d", "e f"], ["x y", "z w"]))),
        ["train"],
    ),
    ("empty_corpus", lambda tmp, base: _train_yaml(tmp, base, _local(_moses(tmp / "d", [], []))), ["train"]),
    (
        "non_utf8_text",
        lambda tmp, base: _train_yaml(tmp, base, _local(_moses(tmp / "d", ["a b"] * 5, None, raw_bytes=b"ok\n\xff\xfe bad\n" * 2 + b"x\n"))),
        ["train.en:2", "utf-8"],
    ),
    ("storage_not_writable", lambda tmp, base: _train_yaml(tmp, base, storage_path="/proc/raymt-results"), ["storage_path"]),
]


@pytest.mark.parametrize("case, make, words", DATA_CASES, ids=[c[0] for c in DATA_CASES])
def test_bad_data_or_model_is_refused_before_ray(tmp_path, capsys, tiny_base, case, make, words):
    path = make(tmp_path, tiny_base)
    code, err = run_cli(["train", str(path)], capsys)
    assert_clean_refusal(code, err, words)


# --- command lines: files and folders named on the command line, and the flags -------------------


def _empty_yaml(tmp: Path) -> str:
    path = tmp / "empty.yaml"
    path.write_text("# my search, to be written\n")  # nothing but a comment: an empty config
    return str(path)


def _experiment(tmp: Path) -> str:
    """A finished search's results folder as `raymt search` leaves it (marker, config copy, table)."""
    import pandas as pd

    folder = tmp / "results" / "default"
    folder.mkdir(parents=True)
    (folder / "raymt_experiment.json").write_text('{"raymt": "0.1.0", "name": "default"}')
    (folder / "search_config.yaml").write_text((Path(__file__).resolve().parents[1] / "search_spaces" / "default.yaml").read_text())
    pd.DataFrame(
        {
            "trial_id": ["8e6257b1", "b0c1d2e3", "83884cdd"],
            "status": "completed",
            "method": ["lora", "adapter", "full"],
            "bleu": [25.7, 30.0, 36.7],
            "storage_mb": [0.029, 0.5, 2.8],
        }
    ).to_parquet(folder / "trials.parquet")
    return str(folder)


def _export_under(mb: str):
    return lambda tmp: ["export", _experiment(tmp), "--best-under-mb", mb, "--to", str(tmp / "out")]


# (case id, tmp -> argv, words the message must contain, words it must not contain)
CLI_CASES = [
    ("empty_yaml_search", lambda tmp: ["search", _empty_yaml(tmp)], ["empty.yaml", "is empty", "raymt search"], []),
    ("empty_yaml_train", lambda tmp: ["train", _empty_yaml(tmp)], ["empty.yaml", "is empty", "raymt train"], []),
    ("empty_yaml_validate", lambda tmp: ["validate", _empty_yaml(tmp)], ["empty.yaml", "is empty"], []),
    ("missing_config_file", lambda tmp: ["train", str(tmp / "nope.yaml")], ["nope.yaml"], []),
    ("resume_not_an_experiment", lambda tmp: ["search", "--resume", str(tmp)], ["not a raymt experiment", "--resume"], []),
    (
        "report_missing_folder",
        lambda tmp: ["report", str(tmp / "no-such-results")],
        ["raymt report RESULTS_DIR", "no-such-results does not exist"],
        ["--resume", "--warm-start"],
    ),
    (
        "report_not_an_experiment",
        lambda tmp: ["report", str(tmp)],
        ["raymt report RESULTS_DIR", "not a raymt experiment"],
        ["--resume", "--warm-start"],
    ),
    (
        "export_missing_folder",
        lambda tmp: ["export", str(tmp / "no-such-results"), "--knee", "--to", str(tmp / "out")],
        ["raymt export RESULTS_DIR", "no-such-results does not exist"],
        ["--resume", "--warm-start"],
    ),
    (
        "best_under_mb_below_the_front",
        _export_under("0.01"),
        ["--best-under-mb", "no trial on the front fits in 0.01 MB", "0.029 MB", "raise --best-under-mb"],
        ["select("],
    ),
    ("best_under_mb_negative", _export_under("-1"), ["--best-under-mb", "above 0 MB", "got -1"], ["select("]),
    ("best_under_mb_zero", _export_under("0"), ["--best-under-mb", "above 0 MB", "got 0"], ["select("]),
]


@pytest.mark.parametrize("case, make, words, absent", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_bad_command_line_is_refused_in_the_users_terms(tmp_path, capsys, case, make, words, absent):
    code, err = run_cli(make(tmp_path), capsys)
    assert_clean_refusal(code, err, words)
    assert len(err.strip().splitlines()) == 1, err  # one line
    for word in absent:  # no option the user never passed, no Python call
        assert word not in err, (word, err)
    assert not (tmp_path / "out").exists()


# --- resources against an autoscaling cluster's config: refused before data or Ray -----------------


def test_a_worker_no_node_type_can_hold_is_refused_before_ray(tmp_path, capsys, monkeypatch):
    """With the autoscaler's cluster config known, a worker bigger than every node type would wait
    forever for a node that is never added: `raymt search` refuses it up front."""
    cluster = tmp_path / "fake-cluster.yaml"
    cluster.write_text(
        yaml.safe_dump(
            {
                "max_workers": 2,
                "head_node_type": "ray.head.default",
                "available_node_types": {
                    "ray.head.default": {"resources": {"CPU": 1}, "max_workers": 0},
                    "cpu2": {"resources": {"CPU": 2}, "min_workers": 0, "max_workers": 2},
                },
            }
        )
    )
    monkeypatch.setenv("RAYMT_AUTOSCALER_CONFIG", str(cluster))
    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "search_spaces" / "default.yaml").read_text())
    raw.update(storage_path=str(tmp_path / "results"), resources={"num_workers": 1, "cpus_per_worker": 4})
    path = tmp_path / "big_worker.yaml"
    path.write_text(yaml.safe_dump(raw))
    code, err = run_cli(["search", str(path)], capsys)
    assert_clean_refusal(code, err, ["resources.cpus_per_worker", "4 CPUs", "cpu2 (2 CPU)", str(cluster), "at most 2"])
    results = tmp_path / "results"
    assert not results.exists() or not any(results.iterdir())  # no data cache, no experiment folder


# --- export / translate / evaluate: one line, exit 2, nothing written -----------------------------


def make_export(tmp: Path, base: Path) -> tuple[Path, Path]:
    """A hand-made results folder (tests/hand_made_results.py) and an export of its LoRA trial."""
    import pandas as pd
    from hand_made_results import make_results_folder

    from raymt.export import choose_trial, export_trial

    results = make_results_folder(tmp / "results", base, failed=False)
    out = export_trial(results, choose_trial(pd.read_parquet(results / "trials.parquet"), trial="t_lora"), tmp / "export")
    return results, out


def _file(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


# (case id, argv from (case folder, results folder, export folder), words the message must contain)
EXPORT_CASES = [
    (
        "export_to_a_file",
        lambda tmp, results, out: ["export", str(results), "--trial", "t_lora", "--to", _file(tmp / "model.bin", "x\n")],
        ["--to", "model.bin", "is a file"],
    ),
    (
        "export_under_a_file",
        lambda tmp, results, out: ["export", str(results), "--trial", "t_lora", "--to", str(Path(_file(tmp / "f", "x\n")) / "model")],
        ["--to", "is a file"],
    ),
    (
        "evaluate_empty_files",
        lambda tmp, results, out: ["evaluate", str(out), "--src", _file(tmp / "src.txt", ""), "--ref", _file(tmp / "ref.txt", "")],
        ["--src", "empty"],
    ),
    (
        "evaluate_unknown_bleu_tokenizer",
        lambda tmp, results, out: [
            "evaluate",
            str(out),
            "--src",
            _file(tmp / "s.txt", "a b\n"),
            "--ref",
            _file(tmp / "r.txt", "a b\n"),
            "--bleu-tokenize",
            "13b",
        ],
        ["--bleu-tokenize", "13a"],
    ),
    ("translate_empty_file", lambda tmp, results, out: ["translate", str(out), _file(tmp / "empty.txt", "")], ["empty.txt", "no input"]),
]


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_base):
    return make_export(tmp_path_factory.mktemp("exported"), tiny_base)


@pytest.mark.parametrize("case, make, words", EXPORT_CASES, ids=[c[0] for c in EXPORT_CASES])
def test_bad_export_translate_evaluate_input(tmp_path, capsys, exported, case, make, words):
    code, err = run_cli(make(tmp_path, *exported), capsys)
    assert_clean_refusal(code, err, words)
    assert not (tmp_path / "model.bin.partial").exists()


def test_translate_of_empty_stdin(capsys, exported, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code, err = run_cli(["translate", str(exported[1])], capsys)
    assert_clean_refusal(code, err, ["stdin", "no input"])


# --- an optional extra that is not installed: the command names the extra to install --------------


@contextlib.contextmanager
def missing_module(name: str):
    """Import ``name`` fails as if its package were not installed."""
    saved = sys.modules.get(name, _ABSENT)
    sys.modules[name] = None
    try:
        yield
    finally:
        if saved is _ABSENT:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = saved


_ABSENT = object()

# (case id, the module that is missing, tmp -> argv, words the message must contain)
MISSING_EXTRA_CASES = [
    (
        "dashboard_without_its_extra",
        "optuna_dashboard",
        lambda tmp: ["dashboard", _experiment(tmp)],
        ["raymt dashboard", "optuna-dashboard is not installed", "pip install 'raymt[dashboard]'"],
    ),
]


@pytest.mark.parametrize("case, module, make, words", MISSING_EXTRA_CASES, ids=[c[0] for c in MISSING_EXTRA_CASES])
def test_a_missing_extra_is_named_in_one_line(tmp_path, capsys, case, module, make, words):
    with missing_module(module):
        code, err = run_cli(make(tmp_path), capsys)
    assert_clean_refusal(code, err, words)
    assert len(err.strip().splitlines()) == 1, err


def test_a_missing_cjk_extra_is_named_before_ray(tmp_path, capsys, monkeypatch):
    """Japanese targets are scored with sacrebleu's ja-mecab tokenizer; without MeCab the config
    is refused at once with the extra to install (not a RuntimeError on rank 0 after training)."""
    import sacrebleu.tokenizers.tokenizer_ja_mecab as ja

    from raymt.metrics import bleu

    monkeypatch.setattr(ja, "MeCab", None)
    bleu._load_error.cache_clear()
    path = tmp_path / "japanese.yaml"
    path.write_text("model: {src_lang: en_XX, tgt_lang: ja_XX}\n")
    try:
        code, err = run_cli(["validate", str(path)], capsys)
    finally:
        bleu._load_error.cache_clear()
    assert_clean_refusal(code, err, ["japanese.yaml", "eval.bleu_tokenize", "ja_XX", "ja-mecab", "raymt[cjk]"])
    assert len(err.strip().splitlines()) == 1
