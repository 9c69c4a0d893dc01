"""The trial driver's settings for Ray Train that are not in the config (no Ray started)."""

from __future__ import annotations

import os

from raymt.config.load import validate_config
from raymt.train.prepare import PreparedExperiment
from raymt.runtime import HEALTH_CHECK_INTERVAL_ENV, HEALTH_CHECK_INTERVAL_S, LOCAL_TRAIN_ENV
from raymt.train.trial import make_trainer


def _trainer():
    cfg = validate_config({"name": "t", "method": {"name": "lora"}}, "test")
    return make_trainer(cfg, PreparedExperiment(base_path="base", data_path="data"), name="x", storage_path="/tmp/x")


def test_the_controller_polls_its_workers_often_unless_the_user_said_otherwise(monkeypatch):
    """A finished trial is seen done (and each report reaches Tune) within half a second, not
    Ray's default 2 s; Ray passes the variable on to the controller only when it is set."""
    from ray.train.v2._internal.constants import HEALTH_CHECK_INTERVAL_S_ENV_VAR, get_env_vars_to_propagate

    assert HEALTH_CHECK_INTERVAL_ENV == HEALTH_CHECK_INTERVAL_S_ENV_VAR
    monkeypatch.setenv(HEALTH_CHECK_INTERVAL_ENV, "unset")  # recorded: the test leaves the environment as it found it
    monkeypatch.delenv(HEALTH_CHECK_INTERVAL_ENV)
    _trainer()
    assert get_env_vars_to_propagate()[HEALTH_CHECK_INTERVAL_ENV] == str(HEALTH_CHECK_INTERVAL_S) == os.environ[HEALTH_CHECK_INTERVAL_ENV]
    monkeypatch.setenv(HEALTH_CHECK_INTERVAL_ENV, "3")
    _trainer()
    assert get_env_vars_to_propagate()[HEALTH_CHECK_INTERVAL_ENV] == "3"


def test_a_local_and_a_cluster_search_poll_at_the_same_interval(monkeypatch):
    """One value owns the poll: the local Ray raymt starts hands its processes the same interval
    that a trial driver on a cluster (no raymt-started Ray, nothing exported) sets for its
    controller. They were 0.5 s and 0.25 s."""
    monkeypatch.setenv(HEALTH_CHECK_INTERVAL_ENV, "unset")
    monkeypatch.delenv(HEALTH_CHECK_INTERVAL_ENV)  # a cluster's trial driver: nothing in its environment
    _trainer()
    assert os.environ[HEALTH_CHECK_INTERVAL_ENV] == LOCAL_TRAIN_ENV[HEALTH_CHECK_INTERVAL_ENV] == str(HEALTH_CHECK_INTERVAL_S) == "0.5"


def test_a_trial_starts_no_ray_data_actor_but_a_run_with_datasets_still_does():
    from ray.train.torch import TorchTrainer
    from ray.train.v2._internal.callbacks import DatasetsCallback

    from raymt.train.trainer import TrialTrainer

    trainer = _trainer()
    assert isinstance(trainer, TorchTrainer) and isinstance(trainer, TrialTrainer)  # still a Ray Train TorchTrainer run
    callbacks = trainer._create_default_callbacks()
    assert callbacks and not any(isinstance(c, DatasetsCallback) for c in callbacks)
    with_data = TrialTrainer(lambda: None, datasets={"train": [1, 2]})  # a plain list: Ray wraps it later, at fit()
    assert any(isinstance(c, DatasetsCallback) for c in with_data._create_default_callbacks())
