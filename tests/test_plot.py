"""Tests for pgmdbn.plot: PNG encoding (parsed back by hand) and grid layout."""

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from pgmdbn.plot import image_grid, line_plot_png, save_grid, write_png

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _read_png(path: Path) -> dict:
    """Minimal PNG decoder for the files write_png emits (8-bit, filter type 0).

    Checks the signature and every chunk CRC; returns the IHDR fields, the tEXt entries,
    the chunk order and the pixels as a (H, W) or (H, W, 3) uint8 array.
    """
    data = path.read_bytes()
    assert data[:8] == _SIGNATURE
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos: pos + 4])
        kind, body = data[pos + 4: pos + 8], data[pos + 8: pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length: pos + 12 + length])
        assert crc == zlib.crc32(kind + body), f"bad CRC in {kind!r}"
        chunks.append((kind, body))
        pos += 12 + length
    kinds = [k for k, _ in chunks]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and b"IDAT" in kinds
    w, h, depth, ctype, comp, filt, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, comp, filt, interlace) == (8, 0, 0, 0)
    channels = {0: 1, 2: 3}[ctype]
    raw = zlib.decompress(b"".join(b for k, b in chunks if k == b"IDAT"))
    rows = np.frombuffer(raw, np.uint8).reshape(h, 1 + w * channels)
    assert np.all(rows[:, 0] == 0)  # filter type None on every scanline
    pixels = rows[:, 1:].reshape((h, w) if channels == 1 else (h, w, 3))
    text = dict(b.decode("latin-1").split("\0", 1) for k, b in chunks if k == b"tEXt")
    return {"width": w, "height": h, "color_type": ctype, "pixels": pixels, "text": text}


def test_write_png_grey_uint8(tmp_path):
    img = np.arange(5 * 7, dtype=np.uint8).reshape(5, 7) * 7
    write_png(tmp_path / "g.png", img)
    png = _read_png(tmp_path / "g.png")
    assert (png["width"], png["height"], png["color_type"]) == (7, 5, 0)
    assert np.array_equal(png["pixels"], img)


def test_write_png_rgb_uint8_tensor(tmp_path):
    g = torch.Generator().manual_seed(0)
    img = torch.randint(0, 256, (4, 6, 3), generator=g, dtype=torch.uint8)
    write_png(tmp_path / "c.png", img)
    png = _read_png(tmp_path / "c.png")
    assert (png["width"], png["height"], png["color_type"]) == (6, 4, 2)
    assert np.array_equal(png["pixels"], img.numpy())


def test_write_png_float_is_scaled_and_clipped(tmp_path):
    img = torch.tensor([[0.0, 0.5, 1.0], [-1.0, 2.0, float("nan")]])
    write_png(str(tmp_path / "f.png"), img)
    png = _read_png(tmp_path / "f.png")
    assert png["pixels"].tolist() == [[0, 128, 255], [0, 255, 0]]


def test_write_png_text_chunks(tmp_path):
    write_png(tmp_path / "t.png", np.zeros((2, 2)), text={"Title": "hello"})
    assert _read_png(tmp_path / "t.png")["text"] == {"Title": "hello"}


@pytest.mark.parametrize("shape", [(3,), (2, 2, 4), (0, 3), (2, 3, 2)])
def test_write_png_rejects_bad_shapes(tmp_path, shape):
    with pytest.raises(ValueError):
        write_png(tmp_path / "x.png", np.zeros(shape))


def test_write_png_rejects_out_of_range_ints(tmp_path):
    with pytest.raises(ValueError):
        write_png(tmp_path / "x.png", np.full((2, 2), 300, dtype=np.int32))


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


def test_save_grid_scale(tmp_path):
    imgs = torch.eye(4).reshape(4, 4)  # four 2x2 tiles
    grid = save_grid(tmp_path / "s.png", imgs, scale=3, normalize=None, pad=1)
    png = _read_png(tmp_path / "s.png")
    assert (png["height"], png["width"]) == (5 * 3, 5 * 3)
    expected = np.round(grid.numpy() * 255).astype(np.uint8).repeat(3, 0).repeat(3, 1)
    assert np.array_equal(png["pixels"], expected)
    with pytest.raises(ValueError):
        save_grid(tmp_path / "z.png", imgs, scale=0)


def test_line_plot_png(tmp_path):
    series = {"train": [3.0, 2.0, 1.5, 1.2, 1.1], "valid": [3.2, 2.5, float("nan"), 2.0]}
    line_plot_png(tmp_path / "l.png", series, width=200, height=120, title="loss")
    png = _read_png(tmp_path / "l.png")
    assert (png["width"], png["height"], png["color_type"]) == (200, 120, 2)
    px = png["pixels"]
    assert px[0, 0].tolist() == [255, 255, 255]  # white background
    assert np.any(np.all(px == 0, axis=-1))  # black axes
    colours = {tuple(c) for c in px.reshape(-1, 3).tolist()}
    assert (31, 119, 180) in colours and (255, 127, 14) in colours  # one colour per series
    assert png["text"]["Title"] == "loss" and "train=#1f77b4" in png["text"]["Comment"]


def test_line_plot_png_degenerate_inputs(tmp_path):
    line_plot_png(tmp_path / "a.png", {"flat": [1.0, 1.0, 1.0], "one": [1.0], "empty": []})
    assert _read_png(tmp_path / "a.png")["width"] == 640
    line_plot_png(tmp_path / "b.png", {})
    with pytest.raises(ValueError):
        line_plot_png(tmp_path / "c.png", {"x": [1.0]}, width=20, height=20)


def test_font_draws_labels_inside_the_canvas():
    import numpy as np

    from pgmdbn.font import _BITMAPS, draw_text, text_width

    assert all(b.shape == (7, 5) for b in _BITMAPS.values())
    canvas = np.full((20, 40, 3), 255, np.uint8)
    draw_text(canvas, 2, 2, "-1.5e3", (0, 0, 0))
    inked = np.argwhere(canvas[..., 0] == 0)
    assert len(inked) > 20 and inked[:, 1].max() < 2 + text_width("-1.5e3")
    draw_text(canvas, 15, 35, "CLIPPED")  # runs off the edge without raising
