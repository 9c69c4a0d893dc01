"""Starting a local Ray next to another one on the same machine, and what an attached driver passes on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest


@pytest.mark.slow
def test_a_local_ray_finds_itself_when_another_ray_runs_on_the_machine(tmp_path):
    """Ray Train's placement-group cleaner asks the State API about the trial's controller from
    inside the cluster; with two Ray instances on one machine that lookup raised "Found multiple
    active Ray instances" and finished trials kept their CPUs, so the next trial never started.
    The workers of raymt's local Ray must reach their own cluster's State API."""
    import ray

    from raymt.runtime import init_ray

    other = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
            import time, ray
            ray.init(num_cpus=1, include_dashboard=False)
            print("up", flush=True)
            time.sleep(600)
            """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "RAY_ADDRESS": ""},
    )
    try:
        assert other.stdout.readline().strip() == "up"
        init_ray(num_cpus=1, log=lambda m: None)
        try:

            @ray.remote(num_cpus=0)
            class Marker:
                def ping(self):
                    return True

            marker = Marker.options(name="raymt-runtime-marker").remote()
            ray.get(marker.ping.remote())

            @ray.remote(num_cpus=0)
            def state_api_view():
                from ray.util.state import list_actors

                return [a.name for a in list_actors()]

            names = ray.get(state_api_view.remote())  # raised ConnectionError before the fix
            assert "raymt-runtime-marker" in names  # ...and it is this cluster's state
            assert "RAY_ADDRESS" not in os.environ  # the driver's environment is as it was
        finally:
            ray.shutdown()
    finally:
        os.killpg(other.pid, signal.SIGTERM)
        other.wait(timeout=60)


# --- what an attached driver passes to the cluster's workers (no Ray) -----------------------------


@pytest.mark.parametrize(
    "address, environ, expected",
    [
        ("10.0.0.5:6379", {}, {"env_vars": {"RAY_ADDRESS": "10.0.0.5:6379"}}),  # `ray job submit` gives the driver this
        (
            "10.0.0.5:6379",
            {"RAY_JOB_CONFIG_JSON_ENV_VAR": json.dumps({"runtime_env": {"env_vars": {"X": "1"}, "working_dir": "gcs://x.zip"}})},
            {"env_vars": {"RAY_ADDRESS": "10.0.0.5:6379"}},
        ),  # merged by Ray with the job's own env
        (
            "10.0.0.5:6379",
            {"RAY_JOB_CONFIG_JSON_ENV_VAR": json.dumps({"runtime_env": {"env_vars": {"RAY_ADDRESS": "10.0.0.9:6379"}}})},
            None,
        ),  # the job's own RAY_ADDRESS stands (no merge conflict)
        ("auto", {}, None),
        ("ray://head:10001", {}, None),  # Ray Client: not a GCS address
        ("127.0.0.1:6379", {}, None),  # loopback: wrong on every other node
        ("localhost:6379", {}, None),
    ],
)
def test_attach_passes_the_gcs_address_only_when_it_is_safe(address, environ, expected):
    from raymt.runtime import attach_runtime_env

    assert attach_runtime_env(address, environ) == expected


def test_the_local_ray_trims_ray_trains_fixed_costs_and_a_users_setting_wins(monkeypatch):
    """raymt's local Ray gives Ray Train's processes a faster health-check poll and no
    preemption watcher (each trial paid for both; BENCHMARKS.md, "Trial efficiency"), but a
    RAY_TRAIN_* value the user exported is what Ray Train sees, and the driver's own
    environment is left as it was."""
    import ray

    from raymt.runtime import init_ray

    monkeypatch.setenv("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "3")
    monkeypatch.delenv("RAY_TRAIN_ENABLE_PREEMPTION_WATCHER", raising=False)
    init_ray(num_cpus=1, log=lambda m: None)
    try:

        @ray.remote(num_cpus=0)
        def seen():
            return {k: os.environ.get(k) for k in ("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER")}

        assert ray.get(seen.remote()) == {"RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "3", "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0"}
        assert "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER" not in os.environ
    finally:
        ray.shutdown()


def test_quiet_train_reports_reaches_ray_trains_per_report_line():
    """Ray Train logs every report of every worker at INFO on a logger named after its file, which
    LoggingConfig's level does not reach; raymt gives that logger the trial's level. If Ray moves
    or renames the line's logger, this fails and the helper must follow it."""
    import logging

    from ray.train.v2._internal.execution import context

    from raymt.runtime import quiet_train_reports

    assert context.logger.name == context.__file__  # the logger the report line goes through
    before = context.logger.level
    try:
        quiet_train_reports("WARNING")
        assert not context.logger.isEnabledFor(logging.INFO)
        quiet_train_reports("INFO")
        assert context.logger.isEnabledFor(logging.INFO)
    finally:
        context.logger.setLevel(before)


def test_tune_output_turns_off_tunes_start_box_unless_verbose_or_set_by_the_user(monkeypatch):
    """Tune's new output engine prints its "Configuration for experiment" box even at verbose=0;
    the old engine (RAY_AIR_NEW_OUTPUT=0) at verbose=0 prints nothing."""
    from raymt.runtime import AIR_NEW_OUTPUT_ENV, tune_output

    monkeypatch.delenv(AIR_NEW_OUTPUT_ENV, raising=False)
    with tune_output(False):
        assert os.environ[AIR_NEW_OUTPUT_ENV] == "0"
    assert AIR_NEW_OUTPUT_ENV not in os.environ
    with tune_output(True):
        assert AIR_NEW_OUTPUT_ENV not in os.environ
    monkeypatch.setenv(AIR_NEW_OUTPUT_ENV, "1")
    with tune_output(False):
        assert os.environ[AIR_NEW_OUTPUT_ENV] == "1"
