"""Shared fixtures. PGMDBN_TEST_DEVICE=cuda runs the device-aware tests on a GPU."""
import os
import shutil
import tempfile

import pytest
import torch

# The compiled-path tests compile into a cache of this process's own: a cache shared with other
# processes (/tmp/torchinductor_$USER, or the controller's under pytest-xdist, whose workers
# inherit its environment) was seen to abort a run after concurrent writers. A cache directory
# the user set before pytest started is respected.
_OURS = "PGMDBN_TEST_INDUCTOR_CACHE"
if os.environ.get("TORCHINDUCTOR_CACHE_DIR") in (None, os.environ.get(_OURS)):
    OWN_CACHE = tempfile.mkdtemp(prefix="pgmdbn-test-inductor-")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.environ[_OURS] = OWN_CACHE

    def pytest_sessionfinish(session, exitstatus):
        shutil.rmtree(OWN_CACHE, ignore_errors=True)

# Under pytest-xdist (`make test` runs one worker per core) each worker gets its share of the
# cores, so two workers do not each start a thread per core and fight over them.
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))


@pytest.fixture
def device():
    return torch.device(os.environ.get("PGMDBN_TEST_DEVICE", "cpu"))
