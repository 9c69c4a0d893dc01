"""The docs say what the code does: every module is named in docs/architecture.md, its trials-table
columns are the ones raymt writes, its results files the ones raymt names, and every YAML block in
docs/ is a config raymt accepts (like the shipped spaces)."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from raymt.config.schema import ExperimentConfig
from raymt.search.config import SearchConfig
from raymt.search.load import load_search

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
ARCHITECTURE = (DOCS / "architecture.md").read_text(encoding="utf-8")


def section(text: str, title: str) -> str:
    match = re.search(rf"^#+ {re.escape(title)}.*?(?=^#+ |\Z)", text, flags=re.S | re.M)
    assert match, f"no section {title!r}"
    return match.group(0)


def module_tree() -> dict[str, str]:
    """Package folder ('' for raymt/ itself, 'search/sampler/', ...) -> its line of the tree."""
    block = re.search(r"```\nraymt/\n(.*?)```", section(ARCHITECTURE, "Modules"), flags=re.S)
    assert block, "the module tree is missing"
    tree: dict[str, str] = {}
    for line in block.group(1).splitlines():
        head, _, rest = line.strip().partition(" ")
        if head.endswith("/"):
            tree[head] = rest
        else:
            tree.setdefault("", "")
            tree[""] += " " + line.strip()
    return tree


MODULES = sorted(p.relative_to(ROOT / "raymt") for p in (ROOT / "raymt").rglob("*.py"))


@pytest.mark.parametrize("module", MODULES, ids=[str(m) for m in MODULES])
def test_every_module_is_named_in_the_architecture(module):
    tree = module_tree()
    package = "".join(f"{part}/" for part in module.parts[:-1])
    assert package in tree, f"docs/architecture.md has no line for raymt/{package}"
    assert re.search(rf"(^|[\s(;,]){re.escape(module.name)}\b", tree[package]), (
        f"raymt/{module} is not named in docs/architecture.md (line of raymt/{package})"
    )


def test_every_results_file_is_named_in_the_architecture():
    from raymt.results import files

    names = {v for k, v in vars(files).items() if k.isupper() and isinstance(v, str)}
    text = section(ARCHITECTURE, "Results folder")
    missing = sorted(n for n in names if f"`{n}" not in text)
    assert not missing, f"docs/architecture.md does not name {missing}"


def _documented_columns() -> set[str]:
    rows = [line for line in section(ARCHITECTURE, "Trials table").splitlines() if line.startswith("| `")]
    names = {n for row in rows for n in re.findall(r"`([^`]+)`", row.split("|")[1])}
    return {n for n in names if "<" not in n}


def test_the_documented_trials_table_is_the_one_raymt_writes(tmp_path):
    """collect_results on a trial that reported every metric, plus the held-out test and seed
    repeat columns added after the search: its columns, minus the space's parameters, are exactly the
    documented ones."""
    from raymt.analysis.seed_variance import SEED_COLUMNS
    from raymt.results.collect import METRIC_COLUMNS, collect_results
    from raymt.results.test_scores import TEST_COLUMNS

    metrics = {k: 1.0 for k in METRIC_COLUMNS} | {
        "trial_id": "abcde_00000",
        "finished": True,
        "epoch": 2,
        "time_total_s": 9.0,
        "init_stage": "denoise",
    }
    trial = SimpleNamespace(
        metrics=metrics, config={"method": "lora", "train.lr": 1e-3}, error=None, path=str(tmp_path / "t"), metrics_dataframe=None
    )
    trials, _ = collect_results([trial], ["method", "train.lr"], tmp_path, {"bleu": "max"}, "all", tmp_path / "refs.txt")
    written = (set(trials.columns) | set(TEST_COLUMNS) | set(SEED_COLUMNS)) - {"train.lr"}
    assert written == _documented_columns(), (sorted(written - _documented_columns()), sorted(_documented_columns() - written))


# --- YAML blocks ------------------------------------------------------------------------------


def yaml_blocks():
    for path in sorted(DOCS.glob("*.md")):
        for i, match in enumerate(re.finditer(r"```yaml\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)):
            yield pytest.param(path.name, match.group(1), id=f"{path.name}[{i}]")


@pytest.mark.parametrize("doc, text", list(yaml_blocks()))
def test_yaml_blocks_in_the_docs_are_valid(doc, text, tmp_path, recwarn):
    """A block is a raymt config (any of its sections), a fragment of the ``search:`` section, or
    a Ray cluster config (docs/cluster.md); the first two are validated as raymt validates a
    file: the config, every branch of its space, its points."""
    raw = yaml.safe_load(text)
    assert isinstance(raw, dict), f"{doc}: a YAML block that is not a mapping"
    keys = set(raw)
    if keys <= set(ExperimentConfig.model_fields):
        config = raw
    elif keys <= set(SearchConfig.model_fields):
        config = {"search": raw}
    else:
        assert {"cluster_name", "provider"} <= keys, f"{doc}: a YAML block raymt cannot place: {sorted(keys)}"
        return
    config = _with_existing_paths(config, tmp_path)
    path = tmp_path / "block.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    cfg, search, compiled, _ = load_search(path)
    assert compiled.checked, "no branch of the space was checked"
    assert not [w for w in recwarn if "deprecated" in str(w.message).lower() or "raymt 0.1" in str(w.message)], (
        f"{doc}: a block uses raymt 0.1's names"
    )


def _with_existing_paths(config: dict, tmp_path: Path) -> dict:
    """Local data folders named in a docs example (``/data/...``) exist on the reader's machine,
    not on this one: point them at an empty folder (the files are read when a run prepares its
    data, after validation)."""

    def fix(node):
        if isinstance(node, dict):
            if node.get("source") == "local" and "path" in node:
                node = {**node, "path": str(tmp_path)}
            return {k: fix(v) for k, v in node.items()}
        if isinstance(node, list):
            return [fix(v) for v in node]
        return node

    return fix(config)


def test_there_are_yaml_blocks_to_check():
    blocks = list(yaml_blocks())
    assert len(blocks) >= 5 and any(b.values[0] == "architecture.md" for b in blocks)
