"""The notebook API (``from raymt import api``) and a light ``import raymt``."""

from __future__ import annotations

import inspect
import subprocess
import sys


def test_api_offers_train_and_search_with_the_cli_options():
    from raymt import api

    assert list(inspect.signature(api.train).parameters) == ["config", "overrides", "log"]
    assert list(inspect.signature(api.search).parameters) == ["config", "resume", "warm_start", "overrides", "log", "verbose"]
    assert list(inspect.signature(api.plan).parameters) == ["config", "gpu_memory", "gpus_per_node", "overrides"]


def test_import_raymt_stays_light():
    code = "import sys, raymt.api; print(any(m in sys.modules for m in ('torch', 'ray', 'transformers')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
