"""Shared fixtures. PGMDBN_TEST_DEVICE=cuda runs the device-aware tests on a GPU."""
import os
import shutil
import tempfile

import pytest
import torch

# The compiled-path tests compile into a cache of this run's own: a cache shared with other
# processes on the machine (/tmp/torchinductor_$USER) was seen to abort a run after concurrent writers.
if "TORCHINDUCTOR_CACHE_DIR" not in os.environ:
    OWN_CACHE = os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="pgmdbn-test-inductor-")

    def pytest_sessionfinish(session, exitstatus):
        shutil.rmtree(OWN_CACHE, ignore_errors=True)


@pytest.fixture
def device():
    return torch.device(os.environ.get("PGMDBN_TEST_DEVICE", "cpu"))
