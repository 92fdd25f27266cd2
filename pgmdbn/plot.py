"""Dependency-free PNG output: image grids (filters, samples) and simple line charts."""

from __future__ import annotations

import math
import os
import struct
import zlib

import numpy as np
import torch

__all__ = ["write_png", "image_grid", "save_grid", "line_plot_png"]

_PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
            (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]


def _to_uint8(image) -> np.ndarray:
    """(H, W) or (H, W, 3) tensor/array -> uint8 array; floats are read as [0, 1]."""
    a = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if a.dtype == np.uint8:
        return a
    if a.dtype.kind in "fb":
        a = np.nan_to_num(a.astype(np.float64), nan=0.0)
        return np.round(np.clip(a, 0.0, 1.0) * 255).astype(np.uint8)
    if a.size and (a.min() < 0 or a.max() > 255):
        raise ValueError("integer images must lie in 0..255")
    return a.astype(np.uint8)


def _chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC32 of type + data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_png(path, image, text: dict[str, str] | None = None) -> None:
    """Write an 8-bit PNG.

    Args:
        path: output file.
        image: uint8 (0..255) or float ([0, 1], clipped) of shape (H, W) grey or (H, W, 3) RGB.
        text: optional metadata written as tEXt chunks (e.g. {"Title": ...}), latin-1.
    """
    a = _to_uint8(image)
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)) or 0 in a.shape:
        raise ValueError(f"image must be non-empty (H, W) or (H, W, 3), got shape {a.shape}")
    height, width = a.shape[:2]
    color_type = 0 if a.ndim == 2 else 2
    # filter type 0 (None) in front of every scanline
    raw = np.concatenate([np.zeros((height, 1), np.uint8), a.reshape(height, -1)], 1).tobytes()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    body = [_chunk(b"IHDR", ihdr)]
    for key, value in (text or {}).items():
        payload = key.encode("latin-1") + b"\0" + value.encode("latin-1", "replace")
        body.append(_chunk(b"tEXt", payload))
    body += [_chunk(b"IDAT", zlib.compress(raw, 9)), _chunk(b"IEND", b"")]
    with open(os.fspath(path), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + b"".join(body))


def _rescale(x: torch.Tensor, dims) -> torch.Tensor:
    """Min-max scale over ``dims`` to [0, 1]; constant blocks are only clamped."""
    lo, hi = x.amin(dim=dims, keepdim=True), x.amax(dim=dims, keepdim=True)
    span = hi - lo
    scaled = (x - lo) / torch.where(span > 0, span, torch.ones_like(span))
    return torch.where(span > 0, scaled, x.clamp(0, 1))


def image_grid(images, shape=None, ncols=None, pad=1, normalize="each", fill=0.5) -> torch.Tensor:
    """Tile a batch of images into one grey image.

    Args:
        images: (n, h*w) with ``shape=(h, w)`` (a perfect square is inferred), or (n, h, w).
        ncols: tiles per row (default ceil(sqrt(n))).
        pad: pixels between tiles, filled with ``fill``.
        normalize: "each" scales every tile to [0, 1] (filters), "all" jointly, None clamps.

    Returns:
        float32 tensor (rows*h + (rows-1)*pad, ncols*w + (ncols-1)*pad).
    """
    x = torch.as_tensor(images).detach().cpu().to(torch.float32)
    if x.dim() == 2:
        if shape is None:
            side = math.isqrt(x.shape[1])
            if side * side != x.shape[1]:
                raise ValueError(f"pass shape=(h, w): {x.shape[1]} pixels is not a square")
            shape = (side, side)
        x = x.reshape(x.shape[0], *shape)
    if x.dim() != 3 or x.shape[0] == 0:
        raise ValueError(f"expected a non-empty (n, h*w) or (n, h, w) batch, got {x.shape}")
    if normalize == "each":
        x = _rescale(x, (1, 2))
    elif normalize == "all":
        x = _rescale(x, (0, 1, 2))
    elif normalize is None:
        x = x.nan_to_num(0.0).clamp(0, 1)
    else:
        raise ValueError(f"normalize must be 'each', 'all' or None, got {normalize!r}")
    n, h, w = x.shape
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    grid = torch.full((nrows * (h + pad) - pad, ncols * (w + pad) - pad), float(fill))
    for i in range(n):
        r, c = divmod(i, ncols)
        grid[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = x[i]
    return grid


def save_grid(path, images, scale: int = 1, **kw) -> torch.Tensor:
    """``write_png(path, image_grid(images, **kw))`` upsampled ``scale`` times (nearest);
    returns the unscaled grid."""
    if int(scale) < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")
    grid = image_grid(images, **kw)
    big = grid.repeat_interleave(int(scale), 0).repeat_interleave(int(scale), 1)
    write_png(path, big)
    return grid


def _draw_line(canvas, p0, p1, color) -> None:
    """Draw a segment by dense sampling (one sample per pixel step)."""
    steps = int(max(abs(p1[0] - p0[0]), abs(p1[1] - p0[1]))) + 1
    ys = np.rint(np.linspace(p0[0], p1[0], steps + 1)).astype(int)
    xs = np.rint(np.linspace(p0[1], p1[1], steps + 1)).astype(int)
    ok = (ys >= 0) & (ys < canvas.shape[0]) & (xs >= 0) & (xs < canvas.shape[1])
    canvas[ys[ok], xs[ok]] = color


def line_plot_png(path, series: dict[str, list[float]], width=640, height=400, title=None, x=None,
                  xlabel=None, ylabel=None) -> None:
    """Line chart of each series against ``x`` (default: its index), with a title, a legend,
    tick labels and axis labels drawn in a small bitmap font (also kept as PNG text chunks).
    Non-finite values break a line."""
    from .font import HEIGHT, draw_text, text_width

    legend_row = 24 if title else 8
    left, right, top, bottom = 70, width - 20, legend_row + HEIGHT + 12, height - 46
    if right - left < 10 or bottom - top < 10:
        raise ValueError(f"plot of {width}x{height} pixels is too small")
    canvas = np.full((height, width, 3), 255, np.uint8)
    vals = [np.asarray(v, np.float64).reshape(-1) for v in series.values()]
    finite = np.concatenate([v[np.isfinite(v)] for v in vals] + [np.zeros(0)])
    lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    margin = 0.03 * (hi - lo) if hi > lo else 0.5  # keep lines off the frame
    y0, y1 = lo - margin, hi + margin
    xmax = max([len(v) - 1 for v in vals] + [1])

    def to_px(i, y):  # data -> (row, col) in the plot box
        return bottom - (y - y0) / (y1 - y0) * (bottom - top), left + i / xmax * (right - left)

    legend = []
    for k, (name, v) in enumerate(zip(series, vals)):
        color = _PALETTE[k % len(_PALETTE)]
        legend.append(f"{name}=#{color[0]:02x}{color[1]:02x}{color[2]:02x}")
        ok = np.concatenate([[False], np.isfinite(v), [False]])  # padded: ok[i + 1] is v[i]
        for i in np.flatnonzero(ok[1:-1]):
            if ok[i + 2]:
                _draw_line(canvas, to_px(i, v[i]), to_px(i + 1, v[i + 1]), color)
            elif not ok[i]:  # isolated point: a small square so it stays visible
                r, c = (int(round(t)) for t in to_px(i, v[i]))
                canvas[max(r - 1, 0): r + 2, max(c - 1, 0): c + 2] = color
    col = left  # legend: one row above the plot box, so it never hides data
    for k, name in enumerate(map(str, series)):
        color = _PALETTE[k % len(_PALETTE)]
        canvas[legend_row + 3: legend_row + 5, col: col + 12] = color
        draw_text(canvas, legend_row, col + 16, name, color)
        col += 16 + text_width(name) + 18
    canvas[[top, bottom], left: right + 1] = 0  # axes box
    canvas[top: bottom + 1, [left, right]] = 0
    for t in np.linspace(0, 1, 6):  # y ticks with values
        r = round(bottom - t * (bottom - top))
        canvas[r, left - 5: left] = 0
        label = f"{y0 + t * (y1 - y0):.4g}"
        draw_text(canvas, r - 3, left - 8 - text_width(label), label)
    labels = list(x) if x is not None else list(range(xmax + 1))
    step = max(1, len(labels) // 8)
    for i in range(0, len(labels), step):  # x ticks at the data points
        c = round(left + i / xmax * (right - left))
        canvas[bottom: bottom + 6, c] = 0
        label = f"{labels[i]:.4g}" if isinstance(labels[i], float) else str(labels[i])
        draw_text(canvas, bottom + 9, c - text_width(label) // 2, label)
    if title:
        draw_text(canvas, 8, (width - text_width(str(title))) // 2, str(title))
    if xlabel:
        draw_text(canvas, height - 14, (left + right - text_width(xlabel)) // 2, xlabel)
    if ylabel:
        draw_text(canvas, top - 10, 4, ylabel)
    text = {"Comment": f"series: {', '.join(legend)}; y range [{lo:.6g}, {hi:.6g}]"}
    if title:
        text["Title"] = str(title)
    write_png(path, canvas, text=text)


__all__ += ["scatter_png"]


def scatter_png(path, points, labels, names=None, width=600, height=600, title=None, point_size=2) -> None:
    """Scatter plot of 2-D ``points`` (n, 2), each a small square coloured by its int label
    (palette colours in label order; rows with a negative label are left out), with a legend
    of ``names`` (one per label, default the label numbers), a frame and an optional title.
    Later points are drawn over earlier ones, so the caller's order decides what stays visible."""
    from .font import HEIGHT, draw_text, text_width

    xy = np.asarray(torch.as_tensor(points).detach().cpu().double())
    lab = np.asarray(torch.as_tensor(labels).detach().cpu().long()).reshape(-1)
    if xy.ndim != 2 or xy.shape[1] != 2 or len(xy) != len(lab):
        raise ValueError(f"scatter_png needs (n, 2) points and n labels, got {xy.shape} and {lab.shape}")
    keep = (lab >= 0) & np.isfinite(xy).all(1)
    xy, lab = xy[keep], lab[keep]
    n_labels = int(lab.max()) + 1 if lab.size else 0
    names = [str(k) for k in range(n_labels)] if names is None else [str(s) for s in names]
    legend_row = 24 if title else 8
    left, right, top, bottom = 12, width - 12, legend_row + HEIGHT + 12, height - 12
    if right - left < 10 or bottom - top < 10:
        raise ValueError(f"plot of {width}x{height} pixels is too small")
    canvas = np.full((height, width, 3), 255, np.uint8)
    if len(xy):
        lo, hi = xy.min(0), xy.max(0)
        span = np.where(hi > lo, hi - lo, 1.0)
        inner = point_size + 2  # keep squares off the frame
        cols = left + inner + (xy[:, 0] - lo[0]) / span[0] * (right - left - 2 * inner)
        rows = bottom - inner - (xy[:, 1] - lo[1]) / span[1] * (bottom - top - 2 * inner)
        for r, c, k in zip(np.rint(rows).astype(int), np.rint(cols).astype(int), lab):
            canvas[r - point_size: r + point_size + 1, c - point_size: c + point_size + 1] = \
                _PALETTE[k % len(_PALETTE)]
    canvas[[top, bottom], left: right + 1] = 0  # frame
    canvas[top: bottom + 1, [left, right]] = 0
    col = left
    for k, name in enumerate(names[:n_labels] if n_labels else names):
        color = _PALETTE[k % len(_PALETTE)]
        canvas[legend_row + 2: legend_row + 6, col: col + 4] = color
        draw_text(canvas, legend_row, col + 7, name, color)
        col += 7 + text_width(name) + 12
    if title:
        draw_text(canvas, 8, (width - text_width(str(title))) // 2, str(title))
    legend = ", ".join(f"{name}=#{c[0]:02x}{c[1]:02x}{c[2]:02x}"
                       for name, c in zip(names, (_PALETTE[k % len(_PALETTE)] for k in range(len(names)))))
    text = {"Comment": f"{len(xy)} points; labels: {legend}"}
    if title:
        text["Title"] = str(title)
    write_png(path, canvas, text=text)
