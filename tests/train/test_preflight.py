"""Pre-flight: a trial that can never run is refused with the field and a fix; concurrency is
sized from what the cluster holds or, with the autoscaler config known, can grow to (no Ray)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from raymt.cluster_limits import load_cluster_limits
from raymt.config.schema import ExperimentConfig
from raymt.errors import ResourceError
from raymt.train.preflight import check_trial_fits, trial_concurrency

ROOT = Path(__file__).resolve().parents[2]
NOW = {"CPU": 2.0, "GPU": 0.0, "total_CPU": 2.0, "total_GPU": 0.0}  # a fixed 1-node, 2-CPU cluster


def cfg(**resources):
    return ExperimentConfig.model_validate({"resources": resources})


@pytest.fixture()
def fake_limits(tmp_path):
    """tests/cluster/ray_head.py's fake cluster: a 1-CPU head and up to 2 x 2-CPU nodes."""
    path = tmp_path / "fake.yaml"
    path.write_text(
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
    return load_cluster_limits(path)


@pytest.fixture()
def aws_limits():
    return load_cluster_limits(ROOT / "cluster.yaml")  # CPU head, up to 8 GPU nodes: 1-GPU g5.xlarge, 4-GPU g5.12xlarge


# --- refusals -------------------------------------------------------------------------------------


def test_a_worker_bigger_than_every_node_type_is_refused(fake_limits):
    with pytest.raises(ResourceError) as err:
        check_trial_fits(cfg(cpus_per_worker=4), limits=fake_limits)
    text = str(err.value)
    assert text.startswith("resources.cpus_per_worker:")
    assert "cpu2 (2 CPU)" in text and "ray.head.default (1 CPU)" in text and fake_limits.source in text
    assert "at most 2" in text  # the fix names the number


def test_more_workers_than_the_largest_cluster_holds_is_refused(fake_limits):
    """Each 1.2-CPU worker takes a whole 2-CPU node (0.8 CPU left is no second worker), so 3 never fit."""
    with pytest.raises(ResourceError) as err:
        check_trial_fits(cfg(num_workers=3, cpus_per_worker=1.2), limits=fake_limits)
    assert str(err.value).startswith("resources.num_workers:") and "holds 2 such workers" in str(err.value)
    assert "at most 2" in str(err.value) and "max_workers" in str(err.value)


def test_gpu_workers_need_a_gpu_node_type(aws_limits):
    check_trial_fits(cfg(use_gpu=True, num_workers=4, cpus_per_worker=4), limits=aws_limits)  # fits on a 4-GPU node
    with pytest.raises(ResourceError) as err:
        check_trial_fits(cfg(use_gpu=True, gpus_per_worker=8), limits=aws_limits)
    assert str(err.value).startswith("resources.gpus_per_worker:") and "gpu_4xa10g (48 CPU, 4 GPU)" in str(err.value)


def test_a_trial_that_fits_only_after_scale_up_passes_without_touching_ray(fake_limits):
    """The fake cluster's head (1 CPU) holds no 1.2-CPU worker; the nodes the autoscaler adds do.
    capacity=None and no Ray running: the check must not ask the live cluster."""
    check_trial_fits(cfg(num_workers=2, cpus_per_worker=1.2), limits=fake_limits)


def test_without_limits_a_fixed_cluster_is_checked_as_now(monkeypatch):
    monkeypatch.delenv("RAYMT_AUTOSCALING", raising=False)
    with pytest.raises(ResourceError, match="resources.cpus_per_worker"):
        check_trial_fits(cfg(cpus_per_worker=1.5, num_workers=1), capacity={**NOW, "CPU": 1.0}, limits=None)
    with pytest.raises(ResourceError, match="resources: a trial needs 3.1 CPUs"):
        check_trial_fits(cfg(num_workers=3), capacity=NOW, limits=None)


def test_raymt_autoscaling_without_limits_refuses_nothing(monkeypatch):
    monkeypatch.setenv("RAYMT_AUTOSCALING", "1")
    check_trial_fits(cfg(num_workers=64, cpus_per_worker=96), capacity=NOW, limits=None)


def test_known_limits_are_used_even_with_raymt_autoscaling(monkeypatch, fake_limits):
    monkeypatch.setenv("RAYMT_AUTOSCALING", "1")
    with pytest.raises(ResourceError):
        check_trial_fits(cfg(cpus_per_worker=4), limits=fake_limits)


# --- concurrency ----------------------------------------------------------------------------------


def test_an_explicit_max_concurrent_trials_wins(fake_limits):
    assert trial_concurrency(cfg(), 3, limits=fake_limits) == (3, "search.max_concurrent_trials")


def test_the_fake_cluster_runs_two_trials_at_once_though_its_head_holds_none(fake_limits):
    n, rule = trial_concurrency(cfg(num_workers=1, cpus_per_worker=1.2), None, limits=fake_limits)
    assert n == 2
    assert "2 worker slots / 1 per trial" in rule and fake_limits.source in rule


def binding(rule: str) -> str:
    return rule.split(" (bounds")[0].rsplit(": ", 1)[1]


def test_the_tightest_of_packing_and_total_cpus_binds(fake_limits):
    """1.2-CPU workers: the 5 CPUs would hold 3 trials of 1.3 CPUs, but each 2-CPU node takes
    one worker and the head none, so 2. 0.5-CPU workers: 10 slots hold 5 two-worker trials, but
    5 CPUs / 1.1 CPUs per trial (drivers included) only 4."""
    n, rule = trial_concurrency(cfg(num_workers=1, cpus_per_worker=1.2), None, limits=fake_limits)
    assert n == 2 and binding(rule) == "2 worker slots / 1 per trial"
    n, rule = trial_concurrency(cfg(num_workers=2, cpus_per_worker=0.5, trial_cpus=0.1), None, limits=fake_limits)
    assert n == 4 and binding(rule) == "5 CPUs / 1.1 per trial"


def test_gpus_bind_on_a_gpu_cluster(aws_limits):
    """1-CPU, 1-GPU workers: the 124 CPUs of the largest cluster would hold 59 two-worker trials;
    its GPUs (2 x 4-GPU + 6 x 1-GPU nodes) hold 14 workers, so 7 trials."""
    n, rule = trial_concurrency(cfg(use_gpu=True, num_workers=2, cpus_per_worker=1), None, limits=aws_limits)
    assert n == 7 and binding(rule) == "14 worker slots / 2 per trial"


def test_without_limits_the_cpus_of_the_cluster_now_decide(monkeypatch):
    monkeypatch.delenv("RAYMT_AUTOSCALING", raising=False)
    assert trial_concurrency(cfg(num_workers=1, cpus_per_worker=0.5), None, limits=None, capacity=NOW)[0] == 3
    monkeypatch.setenv("RAYMT_AUTOSCALING", "1")
    n, rule = trial_concurrency(cfg(num_workers=1, cpus_per_worker=1.2), None, limits=None, capacity={**NOW, "total_CPU": 1.0})
    assert n == 1 and "limits unknown" in rule and "RAYMT_AUTOSCALER_CONFIG" in rule
