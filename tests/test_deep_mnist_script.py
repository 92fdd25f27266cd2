"""benchmarks/deep_mnist.py --small --json runs end to end on MNIST and reports sane numbers."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pgmdbn
from pgmdbn.data import load_mnist

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "deep_mnist.py"


def _mnist_available() -> bool:
    try:
        load_mnist("test", limit=1)
        return True
    except pgmdbn.DataNotFound:
        return False


@pytest.mark.skipif(not _mnist_available(), reason="MNIST not found ($PGMDBN_DATA or ../shared/data/mnist); "
                                                   "the deep-model script needs the real images")
def test_deep_mnist_small_json(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(SCRIPT), "--small", "--json", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300, env=env, cwd=Path.cwd())
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["small"] and {"dbn", "dbm", "sbn"} <= set(report)

    def loglik(value):
        assert isinstance(value, float) and math.isfinite(value) and value < 0, value

    def error(value):
        assert isinstance(value, float) and 0.0 <= value <= 1.0, value

    dbn = report["dbn"]
    error(dbn["test_error_greedy"])
    error(dbn["test_error_updown"])
    loglik(dbn["test_bound"])
    assert math.isfinite(dbn["top_ais"]["log_z"])
    dbm = report["dbm"]
    loglik(dbm["dbm_test_loglik"])
    loglik(dbm["rbm_test_loglik"])
    for method in ("wakesleep", "rws"):
        loglik(report["sbn"][method]["test_loglik"])
    for part in ("dbn", "dbm", "sbn"):
        assert all(math.isfinite(s) and s >= 0 for s in report[part]["seconds"].values())
        for name in report[part]["pngs"]:
            assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
