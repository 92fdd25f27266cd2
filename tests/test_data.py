"""Tests for pgmdbn.data: IDX reader, MNIST loader, toy data and transforms."""

import gzip
import math
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from pgmdbn.data import (
    bars_and_stripes,
    bars_and_stripes_optimum,
    binarize,
    data_dir,
    load_mnist,
    read_idx,
    sample_bars_and_stripes,
    standardize,
)
from pgmdbn.errors import DataError, DataNotFound, PgmdbnError

# type code -> big-endian struct letter, for writing IDX files by hand
_CODES = {0x08: "B", 0x09: "b", 0x0B: "h", 0x0C: "i", 0x0D: "f", 0x0E: "d"}


def _idx_bytes(code: int, dims: tuple[int, ...], values: list) -> bytes:
    """Serialise an IDX file by hand (independently of the reader under test)."""
    header = struct.pack(">HBB", 0, code, len(dims)) + struct.pack(f">{len(dims)}I", *dims)
    return header + struct.pack(f">{len(values)}{_CODES[code]}", *values)


def _write(path: Path, payload: bytes, gz: bool = False) -> Path:
    """Write ``payload`` to ``path``, gzip-compressed if ``gz``."""
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return path


# ---------------------------------------------------------------- IDX


@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip_ubyte(tmp_path, gz):
    values = list(range(24))
    name = "a.idx.gz" if gz else "a.idx"
    path = _write(tmp_path / name, _idx_bytes(0x08, (2, 3, 4), values), gz)
    t = read_idx(path)
    assert t.dtype == torch.uint8 and t.shape == (2, 3, 4)
    assert t.flatten().tolist() == values


@pytest.mark.parametrize(
    "code,dtype,values",
    [
        (0x09, torch.int8, [-128, -1, 0, 127]),
        (0x0B, torch.int16, [-32768, -2, 300, 32767]),
        (0x0C, torch.int32, [-(2**31), -5, 70000, 2**31 - 1]),
        (0x0D, torch.float32, [-1.5, 0.0, 0.25, 3.0e10]),
        (0x0E, torch.float64, [-1e-300, math.pi, 2.0, -7.5]),
    ],
)
def test_idx_all_types_big_endian(tmp_path, code, dtype, values):
    path = _write(tmp_path / "t.idx", _idx_bytes(code, (2, 2), values))
    t = read_idx(path)
    assert t.dtype == dtype and t.shape == (2, 2)
    assert t.flatten().tolist() == pytest.approx(values)


def test_idx_one_dimensional_labels(tmp_path):
    path = _write(tmp_path / "l.idx", _idx_bytes(0x08, (5,), [9, 0, 1, 2, 3]))
    assert read_idx(path).tolist() == [9, 0, 1, 2, 3]


def test_idx_result_is_writable(tmp_path):
    path = _write(tmp_path / "w.idx", _idx_bytes(0x08, (3,), [1, 2, 3]))
    t = read_idx(path)
    t[0] = 7  # must not alias a read-only buffer
    assert t.tolist() == [7, 2, 3]


@pytest.mark.parametrize("gz", [False, True])
def test_idx_truncated_raises(tmp_path, gz):
    payload = _idx_bytes(0x08, (2, 3, 4), list(range(24)))[:-5]
    path = _write(tmp_path / "trunc.idx", payload, gz)
    with pytest.raises(DataError) as info:
        read_idx(path)
    msg = str(info.value)
    assert "trunc.idx" in msg and "expected" in msg and "found" in msg
    assert str(len(payload)) in msg


def test_idx_trailing_bytes_raise(tmp_path):
    path = _write(tmp_path / "long.idx", _idx_bytes(0x08, (2,), [1, 2]) + b"\x00")
    with pytest.raises(DataError, match="trailing"):
        read_idx(path)


def test_idx_truncated_header_raises(tmp_path):
    path = _write(tmp_path / "hdr.idx", struct.pack(">HBB", 0, 0x08, 3) + b"\x00\x00")
    with pytest.raises(DataError, match="header"):
        read_idx(path)


@pytest.mark.parametrize("magic", [b"\x00\x00\x07\x01", b"\x01\x00\x08\x01", b"PK\x03\x04"])
def test_idx_bad_magic_raises(tmp_path, magic):
    path = _write(tmp_path / "bad.idx", magic + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(DataError, match="magic") as info:
        read_idx(path)
    assert "bad.idx" in str(info.value)
    assert isinstance(info.value, (PgmdbnError, ValueError))


def test_idx_corrupt_gzip_raises(tmp_path):
    blob = gzip.compress(_idx_bytes(0x08, (100,), list(range(100))))
    path = _write(tmp_path / "c.gz", blob[: len(blob) // 2])
    with pytest.raises(DataError, match="gzip"):
        read_idx(path)


def test_idx_missing_file(tmp_path):
    with pytest.raises(DataNotFound) as info:
        read_idx(tmp_path / "nope.idx")
    assert isinstance(info.value, FileNotFoundError)


# ---------------------------------------------------------------- data_dir / MNIST


def test_data_dir_argument_and_env(tmp_path, monkeypatch):
    assert data_dir(tmp_path) == tmp_path.resolve()
    monkeypatch.setenv("PGMDBN_DATA", str(tmp_path))
    assert data_dir() == tmp_path.resolve()


def test_data_dir_missing_raises(tmp_path, monkeypatch):
    with pytest.raises(DataNotFound, match="PGMDBN_DATA") as info:
        data_dir(tmp_path / "absent")
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, DataError)
    monkeypatch.setenv("PGMDBN_DATA", str(tmp_path / "absent"))
    with pytest.raises(DataNotFound, match="pass a path"):
        data_dir()


def _fake_mnist(root: Path, prefix: str, n: int = 6, gz: bool = True) -> None:
    """Write a tiny MNIST-like pair of IDX files under root/mnist."""
    folder = root / "mnist"
    folder.mkdir(parents=True, exist_ok=True)
    pixels = [(i * 37) % 256 for i in range(n * 28 * 28)]
    ext = ".gz" if gz else ""
    _write(folder / f"{prefix}-images-idx3-ubyte{ext}", _idx_bytes(0x08, (n, 28, 28), pixels), gz)
    labels = [i % 10 for i in range(n)]
    _write(folder / f"{prefix}-labels-idx1-ubyte{ext}", _idx_bytes(0x08, (n,), labels), gz)


def test_load_mnist_fake_official_names(tmp_path):
    _fake_mnist(tmp_path, "train", gz=False)  # official name, uncompressed
    x, y = load_mnist("train", root=tmp_path)
    assert x.shape == (6, 784) and x.dtype == torch.float32
    assert y.tolist() == [0, 1, 2, 3, 4, 5] and y.dtype == torch.int64
    assert x[0, 1].item() == pytest.approx(37 / 255)


def test_load_mnist_prefers_train10k_and_limit(tmp_path):
    _fake_mnist(tmp_path, "train", n=6)
    _fake_mnist(tmp_path, "train10k", n=4)
    x, y = load_mnist(root=tmp_path)
    assert x.shape == (4, 784)
    x, y = load_mnist(root=tmp_path, limit=2)
    assert x.shape == (2, 784) and y.shape == (2,)


def test_load_mnist_label_mismatch_raises(tmp_path):
    _fake_mnist(tmp_path, "t10k", n=6)
    labels = tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz"
    _write(labels, _idx_bytes(0x08, (5,), [0] * 5), gz=True)
    with pytest.raises(DataError, match="labels"):
        load_mnist("test", root=tmp_path)


def test_load_mnist_missing_files_and_bad_args(tmp_path):
    with pytest.raises(DataNotFound, match="t10k"):
        load_mnist("test", root=tmp_path)
    with pytest.raises(ValueError, match="split"):
        load_mnist("validation", root=tmp_path)
    with pytest.raises(ValueError, match="binarize"):
        load_mnist(root=tmp_path, binarize="otsu")


@pytest.fixture(scope="module")
def real_root():
    try:
        root = data_dir()
    except DataNotFound as exc:
        pytest.skip(f"real MNIST data not available: {exc}")
    if not (root / "mnist").is_dir():
        pytest.skip(f"real MNIST data not available: no mnist/ folder in {root}")
    return root


@pytest.mark.parametrize("split", ["train", "test"])
def test_load_mnist_real(real_root, split):
    x, y = load_mnist(split, root=real_root)
    assert x.shape == (10000, 784) and x.dtype == torch.float32
    assert y.shape == (10000,) and y.dtype == torch.int64
    assert x.min().item() == 0.0 and x.max().item() == 1.0
    assert sorted(y.unique().tolist()) == list(range(10))
    # MNIST digits are mostly background
    assert 0.05 < x.mean().item() < 0.25


def test_load_mnist_real_binarized(real_root):
    x, _ = load_mnist("test", root=real_root, limit=100)
    xt, _ = load_mnist("test", root=real_root, limit=100, binarize="threshold")
    assert torch.equal(xt, (x > 0.5).float())
    a, _ = load_mnist("test", root=real_root, limit=100, binarize="stochastic", seed=3)
    b, _ = load_mnist("test", root=real_root, limit=100, binarize="stochastic", seed=3)
    c, _ = load_mnist("test", root=real_root, limit=100, binarize="stochastic", seed=4)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert set(a.unique().tolist()) <= {0.0, 1.0}


# ---------------------------------------------------------------- bars and stripes


@pytest.mark.parametrize("side,count", [(1, 2), (2, 6), (3, 14), (4, 30)])
def test_bars_and_stripes_count_and_distinct(side, count):
    p = bars_and_stripes(side)
    assert p.shape == (count, side * side) and p.dtype == torch.float32
    assert torch.unique(p, dim=0).shape[0] == count
    assert bars_and_stripes_optimum(side) == pytest.approx(-math.log(count))


@pytest.mark.parametrize("side", [3, 4])
def test_bars_and_stripes_structure(side):
    imgs = bars_and_stripes(side).reshape(-1, side, side)
    assert set(imgs.unique().tolist()) <= {0.0, 1.0}
    rows_const = (imgs == imgs[:, :, :1]).flatten(1).all(1)  # every row constant
    cols_const = (imgs == imgs[:, :1, :]).flatten(1).all(1)  # every column constant
    assert bool((rows_const | cols_const).all())
    # both families are fully present
    assert int(rows_const.sum()) == 2**side and int(cols_const.sum()) == 2**side


def test_bars_and_stripes_bad_side():
    with pytest.raises(ValueError):
        bars_and_stripes(0)
    with pytest.raises(ValueError):
        bars_and_stripes_optimum(2.5)


def test_sample_bars_and_stripes_uniform_and_reproducible():
    n, side = 30000, 3
    s = sample_bars_and_stripes(n, side=side, seed=1)
    assert s.shape == (n, side * side)
    assert torch.equal(s, sample_bars_and_stripes(n, side=side, seed=1))
    assert not torch.equal(s, sample_bars_and_stripes(n, side=side, seed=2))
    patterns = bars_and_stripes(side)
    # every sample is a pattern; counts per pattern near n / 14
    match = (s.unsqueeze(1) == patterns.unsqueeze(0)).all(-1)
    assert bool((match.sum(1) == 1).all())
    counts = match.sum(0).double()
    expected = n / patterns.shape[0]
    chi2 = ((counts - expected) ** 2 / expected).sum().item()
    assert chi2 < 40  # 13 dof: p < 1e-4 for a correct sampler
    assert sample_bars_and_stripes(0, side=side).shape == (0, 9)


# ---------------------------------------------------------------- transforms


def test_binarize_threshold():
    x = torch.tensor([[0.0, 0.5, 0.51, 1.0]])
    assert binarize(x).tolist() == [[0.0, 0.0, 1.0, 1.0]]
    assert binarize(x, threshold=0.2).tolist() == [[0.0, 1.0, 1.0, 1.0]]
    assert binarize(np.array([0, 1, 2]), threshold=1).dtype == torch.float32


def test_binarize_stochastic_reproducible_and_unbiased():
    x = torch.full((200, 100), 0.3)
    a = binarize(x, "stochastic", seed=7)
    assert torch.equal(a, binarize(x, "stochastic", seed=7))
    assert not torch.equal(a, binarize(x, "stochastic", seed=8))
    assert set(a.unique().tolist()) == {0.0, 1.0}
    assert a.mean().item() == pytest.approx(0.3, abs=0.02)
    edge = binarize(torch.tensor([0.0, 1.0] * 50), "stochastic")
    assert edge.tolist() == [0.0, 1.0] * 50
    # a prefix of the data gets the same draw as the whole
    assert torch.equal(binarize(x.flatten()[:50], "stochastic", seed=7), a.flatten()[:50])


def test_binarize_errors():
    with pytest.raises(ValueError, match="method"):
        binarize(torch.zeros(3), method="otsu")
    with pytest.raises(ValueError, match="0, 1"):
        binarize(torch.tensor([1.5]), method="stochastic")


def test_standardize():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(500, 4, generator=g) * torch.tensor([1.0, 2.0, 5.0, 0.0]) + 3.0
    z, mean, std = standardize(x)
    assert z.shape == x.shape and mean.shape == (4,) and std.shape == (4,)
    assert torch.allclose(z.mean(0), torch.zeros(4), atol=1e-5)
    assert torch.allclose(z[:, :3].std(0, correction=0), torch.ones(3), atol=1e-4)
    assert torch.all(z[:, 3] == 0)  # constant column: no NaN
    # reuse training statistics on new data
    z2, m2, s2 = standardize(x[:10] + 1.0, mean, std)
    assert torch.equal(m2, mean) and torch.equal(s2, std)
    assert torch.allclose(z2[:, 0], z[:10, 0] + 1.0 / (std[0] + 1e-8), atol=1e-5)
    assert torch.allclose(z * (std + 1e-8) + mean, x, atol=1e-5)
    with pytest.raises(ValueError):
        standardize(torch.zeros(3))
