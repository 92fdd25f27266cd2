"""Charts and image tiles drawn with matplotlib (the non-interactive Agg canvas, no pyplot state).

Every function writes one file whose format follows the path's suffix: ``.png`` (also the
default for any other suffix or none), ``.pdf`` or ``.svg``, and returns the matplotlib
``Figure`` it drew, so a caller can add to it or read its title, labels and data back.

What a reader needs from a figure is checked by :func:`figure_problems`: a title, labelled
axes on every chart, markers on curves, whole-number epochs on an epoch axis, and tiles at
least ``MIN_TILE_WIDTH`` pixels wide. With the environment variable ``PGMDBN_CHECK_FIGURES=1``
(the test suite sets it) :func:`save_figure` refuses a figure that has any of these problems,
so every script's pictures are checked wherever they are written.
"""

from __future__ import annotations

import math
import os
import textwrap
from pathlib import Path

import numpy as np
import torch

__all__ = ["figure", "save_figure", "figure_problems", "image_grid", "save_grid", "line_plot_png", "scatter_png",
           "MIN_TILE_WIDTH"]

_FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg"}
DPI = 100
MIN_TILE_WIDTH = 400  # pixels: tiles narrower than this are unreadable on a screen
CHECK_ENV = "PGMDBN_CHECK_FIGURES"
MARKERS_UP_TO = 60  # points per curve drawn with a marker at each point by default


def figure(width: int = 640, height: int = 400):
    """A matplotlib ``Figure`` of ``width`` x ``height`` pixels (at ``DPI``) on an Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if width < 1 or height < 1:
        raise ValueError(f"a figure of {width}x{height} pixels is too small")
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def figure_title(fig) -> str:
    """The figure's title: its suptitle, else the first non-empty axes title, else ""."""
    suptitle = getattr(fig, "_suptitle", None)
    if suptitle is not None and suptitle.get_text().strip():
        return suptitle.get_text()
    return next((ax.get_title() for ax in fig.axes if ax.get_title().strip()), "")


def _is_reference(line) -> bool:
    """A constant horizontal line (an optimum, a baseline): it needs no markers."""
    y = np.asarray(line.get_ydata(), dtype=float)
    return y.size > 1 and bool(np.all(y == y[0]))


def figure_problems(fig) -> list[str]:
    """What keeps a reader from reading ``fig``, as sentences (empty: none).

    - the figure has no title (a suptitle, or a title on every axes that shows something);
    - an axes that shows data (lines, points, bars) lacks an x or y label;
    - a curve of up to ``MARKERS_UP_TO`` points has no markers (constant reference lines excepted);
    - on an axes whose x label names epochs, an x value is not a whole number >= 0;
    - a figure holding image tiles is narrower than ``MIN_TILE_WIDTH`` pixels.
    """
    problems = []
    shown = [ax for ax in fig.axes if ax.get_visible() and (ax.lines or ax.collections or ax.patches or ax.images)]
    if not figure_title(fig).strip() or (getattr(fig, "_suptitle", None) is None
                                          and not all(ax.get_title().strip() for ax in shown)):
        problems.append("the figure has no title (pass title=...)")
    for ax in shown:
        if ax.images or not ax.axison:
            continue
        name = f"the chart {ax.get_title()!r}" if ax.get_title() else "a chart"
        if not ax.get_xlabel().strip() or not ax.get_ylabel().strip():
            problems.append(f"{name} has an unlabelled axis (x: {ax.get_xlabel()!r}, y: {ax.get_ylabel()!r})")
        for line in ax.lines:
            if len(line.get_xdata()) <= MARKERS_UP_TO and line.get_marker() in (None, "None", "", " ") \
                    and not _is_reference(line):
                problems.append(f"{name}: the curve {line.get_label()!r} has no markers")
        if "epoch" in ax.get_xlabel().lower():
            xs = np.concatenate([np.asarray(line.get_xdata(), dtype=float) for line in ax.lines] or [np.zeros(0)])
            if xs.size and (np.any(xs < 0) or np.any(xs != np.round(xs))):
                problems.append(f"{name}: epochs must be whole numbers from 1 (0 for the untrained model), "
                                f"got {sorted(set(xs.tolist()))[:5]}")
    width = fig.get_size_inches()[0] * fig.dpi
    if any(ax.images for ax in fig.axes) and round(width) < MIN_TILE_WIDTH:
        problems.append(f"the tiles are {round(width)} pixels wide, under {MIN_TILE_WIDTH} (scale them up)")
    return problems


def save_figure(fig, path, title=None) -> str:
    """Write ``fig`` to ``path`` as PNG, PDF or SVG by its suffix (PNG for any other), with
    ``title`` (default: the figure's or first axes' title) in the file's metadata; returns
    the format written.

    Raises:
        ValueError: with ``PGMDBN_CHECK_FIGURES=1`` set, when :func:`figure_problems` finds any,
            naming the file and each problem.
    """
    if os.environ.get(CHECK_ENV, "") not in ("", "0"):
        problems = figure_problems(fig)
        if problems:
            raise ValueError(f"{os.fspath(path)}: " + "; ".join(problems) + f" ({CHECK_ENV} is set)")
    fmt = _FORMATS.get(Path(os.fspath(path)).suffix.lower(), "png")
    fig.savefig(os.fspath(path), format=fmt, dpi=fig.dpi, metadata=_metadata(fig, fmt, title))
    return fmt


def _metadata(fig, fmt: str, title=None) -> dict:
    title = title or figure_title(fig)
    if fmt == "png":
        return {"Title": title, "Software": "pgmdbn with matplotlib"}
    return {"Title": title, "Creator": "pgmdbn with matplotlib"}


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


def grid_scale(grid_width: int, min_width: int = MIN_TILE_WIDTH) -> int:
    """The smallest whole scale that draws a grid ``grid_width`` pixels wide at least
    ``min_width`` screen pixels wide (1 if it already is)."""
    return max(1, math.ceil(min_width / max(1, int(grid_width))))


def save_grid(path, images, scale: int | None = None, row_labels=None, title=None, **kw):
    """Draw ``image_grid(images, **kw)`` in grey, each grid pixel ``scale`` x ``scale`` screen
    pixels, with optional ``row_labels`` (one per row of tiles, left of the row) and a
    ``title`` above; returns the Figure.

    Args:
        scale: screen pixels per grid pixel; None (default) picks the smallest whole scale that
            makes the tiles at least ``MIN_TILE_WIDTH`` pixels wide (small tiles are scaled up).
            A scale given is kept as given.

    Without labels or title the file holds only the tiles (a PNG of exactly the grid's size
    times ``scale``).
    """
    if scale is not None and (int(scale) != scale or int(scale) < 1):
        raise ValueError(f"scale must be a positive integer or None (automatic), got {scale!r}")
    grid = image_grid(images, **kw)
    h, w = grid.shape
    scale = grid_scale(w) if scale is None else int(scale)
    left = 0 if not row_labels else 8 + 7 * max(len(str(s)) for s in row_labels)
    lines = textwrap.wrap(str(title), max(10, (w * scale + left - 8) // 7)) if title else []
    top = 0 if not lines else 10 + 14 * len(lines)  # 9-point text: about 7 pixels a character, 14 a line
    width, height = w * scale + left, h * scale + top
    fig = figure(width, height)
    fw, fh = fig.get_size_inches() * fig.dpi
    ax = fig.add_axes((left / fw, 1 - (top + h * scale) / fh, w * scale / fw, h * scale / fh))
    ax.imshow(grid.numpy(), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest", aspect="auto")
    ax.set_xticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if row_labels:
        pad = kw.get("pad", 1)
        first = torch.as_tensor(images)
        n = first.shape[0]
        ncols = kw.get("ncols") or math.ceil(math.sqrt(n))
        n_rows = math.ceil(n / ncols)
        if len(row_labels) != n_rows:
            raise ValueError(f"{len(row_labels)} row labels for {n_rows} rows of tiles")
        step = (h + pad) / n_rows  # one tile's height plus the gap
        ax.set_yticks([i * step + (step - pad - 1) / 2 for i in range(n_rows)], [str(s) for s in row_labels],
                      fontsize=8)
        ax.tick_params(axis="y", length=0)
    else:
        ax.set_yticks([])
    if lines:
        fig.suptitle("\n".join(lines), fontsize=9, y=1 - 4 / fh, va="top")
    save_figure(fig, path)
    return fig


def _wrapped(title, width: int) -> str:
    """``title`` broken into lines that fit a chart ``width`` pixels wide (12-point text, about
    10 pixels a character at most)."""
    return "\n".join(textwrap.wrap(str(title), max(20, (int(width) - 40) // 10)))


def _values(v) -> np.ndarray:
    if isinstance(v, torch.Tensor):
        v = v.detach().cpu().double().numpy()
    return np.asarray(v, np.float64).reshape(-1)


def line_plot_png(path, series: dict, width=640, height=400, title=None, x=None, xlabel=None, ylabel=None,
                  logx=False, logy=False, markers=None, scatter=None, reference=None):
    """Curves of each series against ``x`` (default: its index) with a legend, axis labels and
    a title; non-finite values break a line.

    Args:
        logx, logy: logarithmic axes, for data spaced or varying by factors (recall levels,
            numbers of temperatures).
        markers: a marker at every point besides the line; None (default): on curves of up to
            ``MARKERS_UP_TO`` points.
        scatter: names of series drawn as points only (predictions, where neighbours are
            unrelated); the others stay lines.
        reference: {label: y} horizontal dashed lines across the plot (an optimum, a baseline).
    Returns:
        the Figure. An ``xlabel`` that names epochs gets whole-number ticks.
    """
    from matplotlib.ticker import MaxNLocator

    fig = figure(width, height)
    ax = fig.add_subplot()
    scatter = set(scatter or ())
    for name, v in series.items():
        y = _values(v)
        xs = np.arange(len(y)) if x is None else _values(x)[: len(y)]
        if name in scatter:
            ax.scatter(xs, y, s=10, label=str(name), alpha=0.8)
        else:
            mark = len(y) <= MARKERS_UP_TO if markers is None else markers
            ax.plot(xs, y, marker="o" if mark else None, markersize=3, label=str(name))
    for name, y in (reference or {}).items():
        ax.axhline(float(y), linestyle="--", color="grey", linewidth=1, label=str(name))
    if logx:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter("{x:g}")
    if logy:
        ax.set_yscale("log")
    if xlabel and "epoch" in str(xlabel).lower() and not logx:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if title:
        ax.set_title(_wrapped(title, width))
    if xlabel:
        ax.set_xlabel(str(xlabel))
    if ylabel:
        ax.set_ylabel(str(ylabel))
    ax.grid(True, alpha=0.3)
    if series or reference:
        ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    return fig


def scatter_png(path, points, labels, names=None, width=600, height=600, title=None, point_size=2,
                xlabel="code 1", ylabel="code 2"):
    """Scatter of 2-D ``points`` (n, 2) coloured by their int label (rows with a negative
    label or non-finite coordinates are left out), with axes, a legend of ``names`` (one per
    label, default the label numbers) and an optional title. Later points are drawn over
    earlier ones, so the caller's order decides what stays visible. Returns the Figure."""
    xy = _values(points).reshape(-1, 2) if np.size(points) else np.zeros((0, 2))
    lab = np.asarray(torch.as_tensor(labels).detach().cpu().long()).reshape(-1)
    if np.ndim(np.asarray(torch.as_tensor(points))) != 2 or len(xy) != len(lab):
        raise ValueError(f"scatter_png needs (n, 2) points and n labels, got "
                         f"{tuple(np.shape(np.asarray(torch.as_tensor(points))))} and {lab.shape}")
    keep = (lab >= 0) & np.isfinite(xy).all(1)
    xy, lab = xy[keep], lab[keep]
    n_labels = int(lab.max()) + 1 if lab.size else 0
    names = [str(k) for k in range(n_labels)] if names is None else [str(s) for s in names]
    fig = figure(width, height)
    ax = fig.add_subplot()
    from matplotlib import colormaps

    colours = colormaps["tab10"].colors
    ax.scatter(xy[:, 0], xy[:, 1], s=(point_size * 2) ** 2 / 2, c=[colours[k % 10] for k in lab], linewidths=0)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker="o", linestyle="", color=colours[k % 10], label=names[k] if k < len(names)
                      else str(k)) for k in range(n_labels)]
    if handles:
        ax.legend(handles=handles, fontsize=8, loc="best")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(_wrapped(title, width))
    fig.tight_layout()
    save_figure(fig, path)
    return fig
