"""Fixtures shared by the method tests (helpers live in method_helpers.py)."""

from __future__ import annotations

import warnings

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _quiet_and_single_threaded():
    """One thread: the CI box is shared and oversubscribed; tiny models gain nothing from more."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
    torch.set_num_threads(threads)
