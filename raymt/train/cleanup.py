"""A trial that dies still gives its CPUs back: the next trial must be able to start.

A Ray Train run reserves its workers' resources in a placement group. Ray frees a placement group
an actor created only when the whole job ends, so Ray Train removes it itself: the controller
when it shuts its worker group down, and a detached ``PlacementGroupCleaner`` actor when the
controller dies first. Two ways a trial killed by Ray's out-of-memory monitor escaped both, and
every later trial of the search then waited for CPUs that never came back
(``WorkerGroupStartupTimeoutError``, retried forever; seen in tests/reliability/test_faults.py
before this module):

- a Train worker killed for memory: its pending call raises ``ray.exceptions.OutOfMemoryError``,
  which Ray Train's ``BackendSetupCallback`` does not take for a crashed worker (it catches
  ``RayActorError``/``RayTaskError`` only), so the worker group's shutdown stopped before it
  removed the placement group, and the controller then stopped its cleaner as after any ordinary
  end. :class:`ShutdownDespiteDeadWorkers` takes that error for what it is.
- the monitor kills several processes at once: the trial's Tune actor and Train controller with
  the ``PlacementGroupCleaner`` (seen in every such kill on the shared machine). Nothing of the
  trial is left to remove its placement group, so the search driver does it
  (:func:`free_placement_group`, called by raymt.search.trainable.FreeFailedTrials): the
  controller records each worker group's placement group under a key of its own Train run
  (:class:`RecordPlacementGroup`) and deletes the record when it removes the group itself.
"""

from __future__ import annotations

import logging

from ray.exceptions import OutOfMemoryError
from ray.train.v2._internal.callbacks.backend_setup import BackendSetupCallback
from ray.train.v2._internal.execution.callback import WorkerGroupCallback

from raymt.train.stop import NAMESPACE

logger = logging.getLogger(__name__)


def placement_key(train_storage: str, run_name: str) -> str:
    """One key per Train run, as :func:`raymt.train.stop.stop_key`: the trials folder (or URI)
    and the run's name."""
    return f"placement:{train_storage.rstrip('/')}/{run_name}"


class ShutdownDespiteDeadWorkers(BackendSetupCallback):
    """Ray Train's backend set-up and shutdown, where a worker killed for memory counts as a
    crashed worker (as a SIGKILLed one already does): the shutdown goes on to remove the
    workers and their placement group."""

    def before_execution_group_shutdown(self, execution_group) -> None:
        try:
            super().before_execution_group_shutdown(execution_group)
        except OutOfMemoryError:
            logger.warning("Graceful shutdown of the torch backend failed: a worker was killed for memory.", exc_info=True)


class RecordPlacementGroup(WorkerGroupCallback):
    """In the Train controller: the current worker group's placement group id under ``key`` in
    Ray's key-value store (GCS), deleted once the controller removed the group itself."""

    def __init__(self, key: str) -> None:
        self.key = key

    def after_worker_group_start(self, worker_group) -> None:
        from ray.experimental import internal_kv

        group = worker_group.get_worker_group_state().placement_group_handle.placement_group
        internal_kv._internal_kv_put(self.key, group.id.hex().encode(), overwrite=True, namespace=NAMESPACE)

    def after_worker_group_shutdown(self, worker_group_context) -> None:
        self._forget()

    def after_worker_group_abort(self, worker_group_context) -> None:
        self._forget()

    def _forget(self) -> None:
        from ray.experimental import internal_kv

        internal_kv._internal_kv_del(self.key, namespace=NAMESPACE)


def free_placement_group(key: str) -> bool:
    """Remove the placement group recorded under ``key`` (a Train run whose controller died
    before removing it) and the record; whether there was one."""
    import ray
    from ray.experimental import internal_kv
    from ray.util.placement_group import PlacementGroup, remove_placement_group

    recorded = internal_kv._internal_kv_get(key, namespace=NAMESPACE)
    if recorded is None:
        return False
    try:
        remove_placement_group(PlacementGroup(ray.PlacementGroupID.from_hex(recorded.decode())))
    except Exception:  # already gone: nothing held
        logger.debug("placement group %s was already removed", recorded, exc_info=True)
    internal_kv._internal_kv_del(key, namespace=NAMESPACE)
    return True
