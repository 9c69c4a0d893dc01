"""cluster.yaml is a valid Ray autoscaler config (`ray up` would accept its shape)."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_cluster_yaml_passes_rays_autoscaler_schema():
    from ray.autoscaler._private.util import validate_config

    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    config.setdefault("cluster_synced_files", [])  # filled in by `ray up` itself
    validate_config(config)
    types = config["available_node_types"]
    assert types[config["head_node_type"]]["resources"].get("GPU", 0) == 0  # training never lands on the head
    assert any(t["resources"].get("GPU", 0) >= 1 for t in types.values())
    assert all(t.get("max_workers", 0) <= config["max_workers"] for t in types.values())
