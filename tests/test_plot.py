"""Tests for pgmdbn.plot: matplotlib charts written as real PNG/PDF/SVG files, labels read
back from the returned figures, and the grid layout of image tiles."""

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from pgmdbn.plot import MIN_TILE_WIDTH, figure_problems, image_grid, line_plot_png, save_grid, scatter_png


def png_size(path: Path) -> tuple[int, int]:
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def read_png(path: Path) -> np.ndarray:
    from matplotlib.image import imread

    return imread(path)


@pytest.mark.parametrize(
    "n,h,w,pad,ncols,expected",
    [
        (16, 4, 4, 1, None, (4 * 4 + 3, 4 * 4 + 3)),  # 4x4 tiles of 4x4
        (10, 3, 5, 2, None, (3 * 3 + 2 * 2, 4 * 5 + 3 * 2)),  # ncols=4, nrows=3
        (7, 2, 2, 0, 7, (2, 14)),
        (1, 8, 6, 1, None, (8, 6)),
        (5, 2, 3, 1, 2, (3 * 2 + 2, 2 * 3 + 1)),
    ],
)
def test_image_grid_shape(n, h, w, pad, ncols, expected):
    grid = image_grid(torch.rand(n, h, w), ncols=ncols, pad=pad)
    assert grid.shape == expected and grid.dtype == torch.float32


def test_image_grid_flat_input_and_placement():
    imgs = torch.arange(3 * 4, dtype=torch.float32).reshape(3, 4) / 11  # three 2x2 tiles
    grid = image_grid(imgs, normalize=None, pad=1, fill=0.25)
    assert grid.shape == (5, 5)
    assert torch.equal(grid[:2, :2], imgs[0].reshape(2, 2))
    assert torch.equal(grid[:2, 3:], imgs[1].reshape(2, 2))
    assert torch.equal(grid[3:, :2], imgs[2].reshape(2, 2))
    assert torch.all(grid[2, :] == 0.25) and torch.all(grid[:, 2] == 0.25)
    assert torch.all(grid[3:, 3:] == 0.25)  # unused slot
    assert image_grid(torch.rand(2, 6), shape=(2, 3)).shape == (2, 7)
    with pytest.raises(ValueError, match="shape"):
        image_grid(torch.rand(2, 6))


def test_image_grid_normalize_modes():
    imgs = torch.stack([torch.tensor([[0.0, 2.0]]), torch.tensor([[-4.0, 4.0]])])  # (2, 1, 2)
    each = image_grid(imgs, ncols=1, pad=0, normalize="each")
    assert each.tolist() == [[0.0, 1.0], [0.0, 1.0]]
    joint = image_grid(imgs, ncols=1, pad=0, normalize="all")
    assert joint.tolist() == [[0.5, 0.75], [0.0, 1.0]]
    clamp = image_grid(imgs, ncols=1, pad=0, normalize=None)
    assert clamp.tolist() == [[0.0, 1.0], [0.0, 1.0]]
    const = image_grid(torch.ones(1, 2, 2), normalize="each")  # all-on stays on
    assert torch.all(const == 1.0)
    with pytest.raises(ValueError):
        image_grid(imgs, normalize="bogus")
    with pytest.raises(ValueError):
        image_grid(torch.zeros(0, 2, 2))


def test_save_grid_is_the_grid_scaled_up(tmp_path):
    imgs = torch.eye(4).reshape(4, 4)  # four 2x2 tiles
    fig = save_grid(tmp_path / "s.png", imgs, scale=3, normalize=None, pad=1)  # a scale given is kept
    grid = image_grid(imgs, normalize=None, pad=1)
    assert png_size(tmp_path / "s.png") == (5 * 3, 5 * 3)
    assert fig.axes[0].images[0].get_array().shape == grid.shape
    pixels = read_png(tmp_path / "s.png")[..., 0]  # grey: R = G = B
    expected = grid.numpy().repeat(3, 0).repeat(3, 1)
    assert np.abs(pixels - expected).max() < 0.01
    with pytest.raises(ValueError):
        save_grid(tmp_path / "z.png", imgs, scale=0)
    with pytest.raises(ValueError, match="scale"):
        save_grid(tmp_path / "z.png", imgs, scale=1.5)


def test_save_grid_scales_small_tiles_up_to_the_minimum_width(tmp_path):
    # 4 tiles of 3x3, 1 pixel apart: a 7-pixel grid drawn at the smallest scale reaching 400 pixels
    fig = save_grid(tmp_path / "small.png", torch.rand(4, 9), title="tiles")
    assert png_size(tmp_path / "small.png")[0] == 7 * 58 >= MIN_TILE_WIDTH > 7 * 57
    assert fig.get_size_inches()[0] * fig.dpi >= MIN_TILE_WIDTH and figure_problems(fig) == []
    wide = save_grid(tmp_path / "wide.png", torch.rand(4, 30, 300), title="wide tiles")  # 601 pixels: kept
    assert png_size(tmp_path / "wide.png")[0] == 601 and figure_problems(wide) == []


def test_save_grid_row_labels_and_title(tmp_path):
    path = tmp_path / "rows.png"
    save_grid(path, torch.rand(20, 36), ncols=10, scale=2, row_labels=["data", "model"], title="samples")
    width, height = png_size(path)
    assert width > (10 * 7 - 1) * 2 and height > (2 * 7 - 1) * 2  # room for labels and title
    with pytest.raises(ValueError, match="row labels"):
        save_grid(tmp_path / "bad.png", torch.rand(20, 36), ncols=10, row_labels=["only one"])


@pytest.mark.parametrize("suffix,magic", [(".png", b"\x89PNG"), (".pdf", b"%PDF"), (".svg", b"<?xml")])
def test_line_plot_formats_by_suffix(tmp_path, suffix, magic):
    path = tmp_path / f"curve{suffix}"
    fig = line_plot_png(path, {"train": [1.0, 2.0, 2.5], "test": [0.5, float("nan"), 2.0]}, title="curves",
                        xlabel="epoch", ylabel="nats")
    assert path.read_bytes()[: len(magic)] == magic
    ax = fig.axes[0]
    assert (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) == ("curves", "epoch", "nats")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "test"]
    if suffix == ".svg":
        assert "<svg" in path.read_text()


def test_line_plot_png_size_log_axes_and_scatter_series(tmp_path):
    path = tmp_path / "pr.png"
    fig = line_plot_png(path, {"precision": [0.9, 0.8, 0.5], "guess": [0.2, 0.3, 0.1]}, x=[0.001, 0.01, 0.1],
                        width=500, height=300, logx=True, scatter=["guess"])
    assert png_size(path) == (500, 300)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "linear"
    assert len(ax.lines) == 1 and len(ax.collections) == 1  # one line, one scatter
    assert np.allclose(ax.collections[0].get_offsets(), [[0.001, 0.2], [0.01, 0.3], [0.1, 0.1]])
    # lower-case labels survive (the old bitmap font printed capitals only)
    assert fig.axes[0].get_legend().get_texts()[0].get_text() == "precision"


def test_line_plot_png_degenerate_inputs(tmp_path):
    line_plot_png(tmp_path / "empty.png", {})
    line_plot_png(tmp_path / "one.png", {"a": [3.0]})
    line_plot_png(tmp_path / "nan.png", {"a": [float("nan")] * 3})
    assert all(png_size(tmp_path / f"{n}.png")[0] > 0 for n in ("empty", "one", "nan"))


def test_scatter_png_has_axes_and_a_legend_per_label(tmp_path):
    points = torch.tensor([[0.0, 0.0], [1.0, 2.0], [3.0, -1.0], [float("nan"), 0.0], [2.0, 2.0]])
    labels = torch.tensor([0, 1, 2, 1, -1])
    fig = scatter_png(tmp_path / "map.svg", points, labels, names=["earn", "acq", "crude"], title="codes")
    ax = fig.axes[0]
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title() == "codes"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["earn", "acq", "crude"]
    assert len(ax.collections[0].get_offsets()) == 3  # the non-finite and the unlabelled row dropped
    assert (tmp_path / "map.svg").read_text().lstrip().startswith("<?xml")
    with pytest.raises(ValueError):
        scatter_png(tmp_path / "bad.png", torch.zeros(3, 3), torch.zeros(3))
