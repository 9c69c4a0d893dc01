"""What an autoscaling cluster can grow to, read from the autoscaler's cluster config (no Ray)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from raymt.cluster_limits import ENV_CONFIG, find_cluster_limits, load_cluster_limits
from raymt.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path, config: dict, name="cluster.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return path


def fake_config(**over) -> dict:
    """The shape of tests/cluster/ray_head.py's fake cluster: a 1-CPU head and up to 2 x 2-CPU nodes."""
    config = {
        "max_workers": 2,
        "head_node_type": "ray.head.default",
        "available_node_types": {
            "ray.head.default": {"resources": {"CPU": 1}, "node_config": {}, "max_workers": 0},
            "cpu2": {"resources": {"CPU": 2}, "node_config": {}, "min_workers": 0, "max_workers": 2},
        },
    }
    config.update(over)
    return config


def test_the_fake_cluster_grows_to_the_head_plus_two_2_cpu_nodes(tmp_path):
    limits = load_cluster_limits(write(tmp_path, fake_config()))
    assert limits.head.name == "ray.head.default" and limits.max_workers == 2
    largest = limits.largest_cluster(cpu=1.2, gpu=0)
    assert [(t.name, n) for t, n in largest.nodes] == [("ray.head.default", 1), ("cpu2", 2)]
    assert largest.cpu == 5 and largest.worker_slots == 2  # a 1.2-CPU worker: 0 on the head, 1 per 2-CPU node


def test_the_global_max_workers_caps_the_node_types_and_the_roomiest_types_come_first(tmp_path):
    config = fake_config(max_workers=3)
    config["available_node_types"]["cpu8"] = {"resources": {"CPU": 8}, "node_config": {}, "max_workers": 2}
    limits = load_cluster_limits(write(tmp_path, config))
    largest = limits.largest_cluster(cpu=2, gpu=0)
    assert [(t.name, n) for t, n in largest.nodes] == [("ray.head.default", 1), ("cpu8", 2), ("cpu2", 1)]
    assert largest.worker_slots == 4 + 4 + 1 and largest.cpu == 1 + 16 + 2


def test_ray_up_defaults_for_missing_per_type_max_workers(tmp_path):
    """As Ray's prepare_config (applied by `ray up`): worker types default to the global max, the head to 0."""
    config = fake_config(max_workers=5)
    for spec in config["available_node_types"].values():
        spec.pop("max_workers")
    limits = load_cluster_limits(write(tmp_path, config))
    assert {t.name: t.max_workers for t in limits.node_types} == {"ray.head.default": 0, "cpu2": 5}


def test_gpu_nodes_pack_workers_by_their_gpus(tmp_path):
    limits = load_cluster_limits(ROOT / "cluster.yaml")  # the shipped AWS config: head + g5.xlarge + g5.12xlarge
    largest = limits.largest_cluster(cpu=1, gpu=1)
    assert [(t.name, n) for t, n in largest.nodes] == [("head", 1), ("gpu_4xa10g", 2), ("gpu_a10g", 6)]
    assert largest.worker_slots == 2 * 4 + 6 and largest.gpu == 14


def test_ray_up_bootstrap_json_reads_as_yaml(tmp_path):
    path = tmp_path / "ray_bootstrap_config.yaml"
    path.write_text(json.dumps(fake_config()))  # `ray up` writes the head's copy as JSON
    assert load_cluster_limits(path).max_workers == 2


@pytest.mark.parametrize(
    "config, words",
    [
        ({"max_workers": 2}, ["available_node_types"]),
        (fake_config(head_node_type="head"), ["head_node_type", "'head'"]),
        ({**fake_config(), "available_node_types": {"ray.head.default": {"node_config": {}}}}, ["ray.head.default", "resources"]),
    ],
)
def test_a_config_that_is_not_usable_names_the_file_and_field(tmp_path, config, words):
    path = write(tmp_path, config)
    with pytest.raises(ConfigError) as err:
        load_cluster_limits(path, where=ENV_CONFIG)
    text = str(err.value)
    assert text.startswith(ENV_CONFIG) and str(path) in text and "Fix:" in text
    for word in words:
        assert word in text


def test_the_explicit_env_path_wins_and_a_missing_file_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    path = write(tmp_path, fake_config())
    assert find_cluster_limits({ENV_CONFIG: str(path)}).source == str(path)
    with pytest.raises(ConfigError, match=ENV_CONFIG):
        find_cluster_limits({ENV_CONFIG: str(tmp_path / "nope.yaml")})


def test_the_ray_up_bootstrap_config_is_used_only_when_attached(tmp_path, monkeypatch):
    """`ray up` writes ~/ray_bootstrap_config.yaml on the head, where job drivers run (RAY_ADDRESS
    set). A local raymt run starts its own Ray, so the file says nothing about that cluster."""
    monkeypatch.setenv("HOME", str(tmp_path))
    assert find_cluster_limits({"RAY_ADDRESS": "10.0.0.1:6379"}) is None  # no file
    write(tmp_path, fake_config(), name="ray_bootstrap_config.yaml")
    assert find_cluster_limits({}) is None
    limits = find_cluster_limits({"RAY_ADDRESS": "10.0.0.1:6379"})
    assert limits.source == str(tmp_path / "ray_bootstrap_config.yaml")


def test_an_unusable_bootstrap_config_is_logged_and_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    write(tmp_path, {"cluster_name": "x"}, name="ray_bootstrap_config.yaml")
    lines = []
    assert find_cluster_limits({"RAY_ADDRESS": "10.0.0.1:6379"}, log=lines.append) is None
    assert "ignoring" in lines[0] and "available_node_types" in lines[0]
