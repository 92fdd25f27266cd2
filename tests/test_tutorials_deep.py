"""The deep-model tutorials run at --small size and print sane numbers: 03 (a labelled DBN on
MNIST), 04 (a DBM on MNIST) and 05 (fine-tuning a DBN as a classifier and an autoencoder). All
need the MNIST files; without them they are skipped, and the scripts themselves must say what is
missing."""
from __future__ import annotations

import math
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from mnist_data import needs_mnist

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "tutorials"
PNG = b"\x89PNG\r\n\x1a\n"
UNIFORM = -784 * math.log(2)  # log p(v) of a model that puts the same mass on every binary image




def run(script: str, cwd: Path, *args: str, env: dict | None = None, timeout: int = 300):
    """Run a tutorial in a fresh interpreter, as tests/test_docs.py does; one intra-op thread,
    since these models are small and extra threads only fight other processes."""
    # PGMDBN_CHECK_FIGURES: pgmdbn.plot refuses to write a figure without a title, axis labels, ...
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", PGMDBN_CHECK_FIGURES="1", **(env or {}))
    return subprocess.run([sys.executable, str(TUTORIALS / script), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def run_small(script: str, tmp_path: Path) -> tuple[str, Path]:
    out = tmp_path / "out"
    result = run(script, tmp_path, "--small", "--out", str(out))
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout, out


def number(pattern: str, text: str) -> float:
    """The float captured by ``pattern`` in the printed output."""
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in the output:\n{text}"
    return float(match.group(1))


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    data = path.read_bytes()
    assert data[:8] == PNG, f"{path.name} is not a PNG"
    return struct.unpack(">II", data[16:24])


@needs_mnist
def test_dbn_tutorial_runs_small(tmp_path):
    stdout, out = run_small("03_dbn_digits.py", tmp_path)
    pretrained = number(r"test error after pretraining:\s+([\d.]+)", stdout)
    fine_tuned = number(r"test error after up-down:\s+([\d.]+)", stdout)
    # Chance is 0.9; the small run gets about 0.2 both times.
    assert 0 <= pretrained < 0.5 and 0 <= fine_tuned < 0.5, stdout
    bound = number(r"test log-likelihood bound:\s+(-?[\d.]+) nats", stdout)
    assert math.isfinite(bound) and UNIFORM < bound < 0, stdout
    # the tutorial's claim at this size: up-down raises the bound by several nats (-140 -> -132,
    # against a standard error of about 1 nat each)
    before = number(r"pretrained\s+[\d.]+\s+(-?[\d.]+)", stdout)
    after = number(r"up-down\s+[\d.]+\s+(-?[\d.]+)", stdout)
    assert after == bound and after > before + 2, stdout
    for name in ("graph.png", "errors.png"):
        png_size(out / name)
    # one row of 10 digits per class: 10 x 10 tiles of 28 pixels, 1 pixel apart, scaled 2x, with the
    # rows' labels on the left and a title above
    width, height = png_size(out / "samples.png")
    assert width > 2 * (10 * 29 - 1) and height > 2 * (10 * 29 - 1)


@needs_mnist
def test_dbm_tutorial_runs_small(tmp_path):
    stdout, out = run_small("04_dbm.py", tmp_path)
    greedy = number(r"DBM, greedy only\s+[\d.]+\s+[\d.]+\s+(-?[\d.]+)\s+lower bound", stdout)
    joint = number(r"DBM, joint\s+[\d.]+\s+[\d.]+\s+(-?[\d.]+)\s+lower bound", stdout)
    rbm = number(r"RBM 784-\d+\s+[\d.]+\s+[\d.]+\s+(-?[\d.]+)\s+estimate", stdout)
    bound = number(r"test log-likelihood bound:\s+(-?[\d.]+) nats", stdout)
    assert bound == joint
    for value in (greedy, joint, rbm):
        assert math.isfinite(value) and UNIFORM < value < 0, stdout
    assert joint > greedy, stdout  # joint training tightens the model (about 10 nats here)
    dbm_error = number(r"fill-in squared error per hidden pixel: DBM ([\d.]+)", stdout)
    base_error = number(r"fill-in squared error per hidden pixel: DBM [\d.]+, base rates ([\d.]+)", stdout)
    assert dbm_error < base_error, stdout  # the visible top half informs the bottom
    png_size(out / "graph.png")
    width, height = png_size(out / "samples.png")  # 10 x 10 digits scaled 2x, a title above
    assert width == 2 * (10 * 29 - 1) and height > 2 * (10 * 29 - 1)
    # rows: digit, top half, three chains, their average; 10 digits per row, labels on the left
    width, height = png_size(out / "fill_in.png")
    assert height > 2 * (6 * 29 - 1) and width > 2 * (10 * 29 - 1)


@needs_mnist
def test_finetuning_tutorial_runs_small(tmp_path):
    stdout, out = run_small("05_finetuning.py", tmp_path)
    pretrained = number(r"pretrained \+ backprop:\s+([\d.]+)", stdout)
    random = number(r"random start \+ backprop:\s+([\d.]+)", stdout)
    assert 0 <= pretrained < random < 0.5, stdout  # about 0.06 against 0.08 at this size
    unrolled = number(r"unrolled, before fine-tuning:\s+([\d.]+)", stdout)
    tuned = number(r"autoencoder:\s+([\d.]+)", stdout)
    pca = number(r"PCA with 30 components:\s+([\d.]+)", stdout)
    assert tuned < unrolled and tuned < pca, stdout  # about 12.6 against 24.6 and 14.5
    width, height = png_size(out / "reconstructions.png")  # three labelled rows of 10 digits
    assert height > 2 * (3 * 29 - 1) and width > 2 * (10 * 29 - 1)
    png_size(out / "features.png")


@pytest.mark.parametrize("script", ["03_dbn_digits.py", "04_dbm.py", "05_finetuning.py"])
def test_tutorial_says_mnist_is_missing(tmp_path, script):
    empty = tmp_path / "no-data"
    empty.mkdir()
    result = run(script, tmp_path, "--small", "--out", str(tmp_path / "out"), env={"PGMDBN_DATA": str(empty)},
                 timeout=120)
    assert result.returncode != 0
    assert "needs MNIST" in result.stderr and "PGMDBN_DATA" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
