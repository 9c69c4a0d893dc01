#!/usr/bin/env bash
# Fresh machine -> tests: a venv, the CPU torch wheel FIRST (so pip never pulls a CUDA build),
# raymt with its test extras, the linter and the format check (ruff, configured in pyproject.toml), then the whole suite
# (slow end-to-end Ray tests included), printing the 30 slowest tests (where the suite's time goes).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[test]"
.venv/bin/python -m ruff check .
.venv/bin/python -m ruff format --check .
exec .venv/bin/python -m pytest -q -ra --durations=30 "$@"
