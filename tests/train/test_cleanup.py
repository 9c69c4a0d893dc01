"""A trial killed for memory gives its CPUs back (raymt.train.cleanup)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from ray.exceptions import OutOfMemoryError
from ray.train.torch import TorchConfig
from ray.train.v2._internal.callbacks.backend_setup import BackendSetupCallback

from raymt.train.cleanup import RecordPlacementGroup, ShutdownDespiteDeadWorkers, placement_key


def _raises_oom(*args):
    raise OutOfMemoryError("1 worker(s) were killed due to the node running low on memory. ...")


def test_a_worker_killed_for_memory_does_not_stop_the_worker_groups_shutdown():
    """Ray Train's own callback lets the error out, and the worker group's shutdown stopped
    before it removed the placement group (the next trial then never got its CPUs)."""
    ray_own, raymt_own = BackendSetupCallback(TorchConfig()), ShutdownDespiteDeadWorkers(TorchConfig())
    for callback in (ray_own, raymt_own):
        callback._backend = SimpleNamespace(on_shutdown=_raises_oom)
    with pytest.raises(OutOfMemoryError):
        ray_own.before_execution_group_shutdown(execution_group=None)
    raymt_own.before_execution_group_shutdown(execution_group=None)  # a crashed worker: the shutdown goes on


def test_a_trials_train_run_records_its_placement_group_under_its_own_key():
    from raymt.config.load import validate_config
    from raymt.results.files import train_run_name
    from raymt.train.prepare import PreparedExperiment
    from raymt.train.trial import make_trainer

    cfg = validate_config({"name": "t", "method": {"name": "lora"}}, "test")
    name = train_run_name("abc12345")
    trainer = make_trainer(cfg, PreparedExperiment(base_path="base", data_path="data"), name=name, storage_path="/tmp/x/trials/")
    callbacks = trainer._create_default_callbacks()
    assert not any(type(c) is BackendSetupCallback for c in callbacks)
    assert sum(isinstance(c, ShutdownDespiteDeadWorkers) for c in callbacks) == 1
    (record,) = [c for c in callbacks if isinstance(c, RecordPlacementGroup)]
    assert record.key == placement_key("/tmp/x/trials", name) == f"placement:/tmp/x/trials/{name}"


@pytest.mark.slow
def test_the_driver_frees_a_dead_train_runs_placement_group(ray_local):
    """The Train controller died (killed for memory with Ray Train's PlacementGroupCleaner):
    Ray keeps a placement group an actor created until the job ends, so the search driver
    removes the one the run recorded when Tune reports the trial failed."""
    import time

    ray = ray_local
    from ray.util import placement_group_table

    from raymt.results.files import train_run_name
    from raymt.search.trainable import FreeFailedTrials

    key = placement_key("/tmp/raymt-cleanup-test/trials", train_run_name("dead0001"))

    @ray.remote(num_cpus=0)
    class Controller:  # stands in for Ray Train's: creates the group, records it, then dies
        def start(self, key):
            from ray.util.placement_group import placement_group

            group = placement_group([{"CPU": 1}])
            ray.get(group.ready())
            state = SimpleNamespace(placement_group_handle=SimpleNamespace(placement_group=group))
            RecordPlacementGroup(key).after_worker_group_start(SimpleNamespace(get_worker_group_state=lambda: state))
            return group.id.hex()

    controller = Controller.remote()
    group_id = ray.get(controller.start.remote(key))
    ray.kill(controller)
    time.sleep(2)
    assert placement_group_table()[group_id]["state"] == "CREATED"  # Ray does not free it: the CPU stays taken
    FreeFailedTrials("/tmp/raymt-cleanup-test/trials").on_trial_error(0, [], SimpleNamespace(trial_id="dead0001"))
    deadline = time.time() + 30
    while (placement_group_table()[group_id]["state"] != "REMOVED" or ray.available_resources().get("CPU") != 2) and time.time() < deadline:
        time.sleep(0.2)
    assert placement_group_table()[group_id]["state"] == "REMOVED"
    assert ray.available_resources().get("CPU") == 2  # the next trial gets its CPU
    FreeFailedTrials("/tmp/raymt-cleanup-test/trials").on_trial_error(0, [], SimpleNamespace(trial_id="dead0001"))  # nothing left: no error
