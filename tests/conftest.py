"""Shared fixtures. PGMDBN_TEST_DEVICE=cuda runs the device-aware tests on a GPU."""
import os

import pytest
import torch


@pytest.fixture
def device():
    return torch.device(os.environ.get("PGMDBN_TEST_DEVICE", "cpu"))


@pytest.fixture(autouse=True)
def exact_time_limit_off_machine_load():
    """Exact enumeration refuses by its measured rate; on a loaded machine that rate drops, so the
    tests lift the time limit (the refusal tests set their own with limits.override)."""
    import pgmdbn

    with pgmdbn.limits.override(max_exact_seconds=3600):
        yield
