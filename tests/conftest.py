"""Shared fixtures. PGMDBN_TEST_DEVICE=cuda runs the device-aware tests on a GPU."""
import os

import pytest
import torch


@pytest.fixture
def device():
    return torch.device(os.environ.get("PGMDBN_TEST_DEVICE", "cpu"))

