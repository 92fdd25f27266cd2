"""Draw a model's graph (layers as boxes, factors as lines/arrows) to a PNG, dependency-free."""
from __future__ import annotations

import networkx as nx
import numpy as np

from .errors import ModelError
from .font import HEIGHT, draw_text, text_width
from .plot import _draw_line, write_png

__all__ = ["graph_png", "layout", "depths"]

# sizes in pixels at scale 1: outer margin, padding inside a box, gaps between boxes
_MARGIN, _PAD, _HGAP, _VGAP = 10, 5, 16, 30
_LEGEND = (("undirected", False), ("directed (parent > child)", True))


def depths(model) -> dict[str, int]:
    """Row of each layer, 0 at the bottom: hops from the first-declared (visible) layer along
    any factor. Layers it cannot reach go one row above the highest reachable one.

    One exception keeps a DBN's labels beside the layer they join the top RBM with: a
    dangling layer that is the visible side (``a``) of its only, undirected, factor moves one
    row beneath its neighbour when that neighbour already has another input there.
    """
    if not len(model.layers):
        raise ModelError("cannot draw a model with no layers; add one with Model.add_layer")
    graph = model.graph.to_undirected(as_view=True)
    first = model.visible
    hops = nx.single_source_shortest_path_length(graph, first)
    rows = {name: hops.get(name, max(hops.values()) + 1) for name in model.layers}
    for f in model.factors.values():
        below = [n for n in graph[f.b] if n != f.a and rows[n] == rows[f.b] - 1]
        if not f.directed and f.a != first and graph.degree(f.a) == 1 and below:
            rows[f.a] = rows[f.b] - 1
    return rows


def _label(model, name: str) -> str:
    return f"{name}: {model.layers[name].name} {model.layers[name].size}"


def layout(model, scale: int = 2) -> dict[str, tuple[int, int, int, int]]:
    """Pixel rectangle (row, col, width, height), top-left anchored, of each layer's box.

    Depth 0 is the bottom row; a row's boxes sit side by side in declaration order, the row
    centred; a band is left free at the top for the legend.
    """
    rows, box_h = depths(model), (HEIGHT + 2 * _PAD) * scale
    widths = {n: text_width(_label(model, n), scale) + 2 * _PAD * scale for n in rows}
    row_w = {d: sum(widths[n] + _HGAP * scale for n in rows if rows[n] == d) - _HGAP * scale
             for d in set(rows.values())}
    legend_w = _draw_legend(np.zeros((0, 0, 3), np.uint8), scale) - _MARGIN * scale
    full = max(max(row_w.values()), legend_w)  # centre the rows under a wider legend too
    col = {d: _MARGIN * scale + (full - w) // 2 for d, w in row_w.items()}
    top, rects = max(rows.values()), {}
    for name, d in rows.items():
        row = (HEIGHT + 2 * _MARGIN) * scale + (top - d) * (box_h + _VGAP * scale)
        rects[name] = (row, col[d], widths[name], box_h)
        col[d] += widths[name] + _HGAP * scale
    return rects


def _border_point(rect, toward) -> np.ndarray:
    """Where the ray from the rect's centre to ``toward`` (row, col) leaves the rect."""
    r, c, w, h = rect
    centre = np.array([r + (h - 1) / 2, c + (w - 1) / 2])
    d = np.asarray(toward, float) - centre
    limits = [(h - 1) / 2 / abs(d[0]) if d[0] else np.inf, (w - 1) / 2 / abs(d[1]) if d[1] else np.inf]
    return centre + min(limits + [1.0]) * d


def _stroke(canvas, p0, p1, width: int, arrow: float = 0.0) -> None:
    """A line ``width`` pixels thick (parallel one-pixel lines offset along the normal),
    with a filled arrowhead ``arrow`` pixels long at ``p1`` (fanned lines from the tip)."""
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    u = (p1 - p0) / (np.hypot(*(p1 - p0)) or 1.0)
    normal = np.array([-u[1], u[0]])
    for k in np.arange(width) - (width - 1) / 2:
        _draw_line(canvas, p0 + k * normal, p1 + k * normal, (0, 0, 0))
    for t in np.linspace(-0.45, 0.45, int(2 * arrow) + 2) if arrow else ():
        _draw_line(canvas, p1, p1 - arrow * u + t * arrow * normal, (0, 0, 0))


def _draw_legend(canvas, scale: int) -> int:
    """Sample strokes for the two kinds of factor on one row at the top; returns the column
    where the legend ends (drawing clips, so an empty canvas just measures it)."""
    row, col, seg, line = _MARGIN * scale, _MARGIN * scale, 16 * scale, max(1, scale // 2)
    mid = row + HEIGHT * scale // 2 - 1
    for text, directed in _LEGEND:
        _stroke(canvas, (mid, col), (mid, col + seg), line, 5 * scale if directed else 0)
        draw_text(canvas, row, col + seg + 4 * scale, text, scale=scale)
        col += seg + 4 * scale + text_width(text, scale) + 12 * scale
    return col


def graph_png(model, path, scale: int = 2) -> np.ndarray:
    """Draw ``model``'s layers and factors (visible layer at the bottom) and write a PNG.

    Returns the (H, W, 3) uint8 RGB image written to ``path``.
    """
    if int(scale) < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")
    scale, line = int(scale), max(1, int(scale) // 2)
    rects = layout(model, scale)
    legend_w = _draw_legend(np.zeros((0, 0, 3), np.uint8), scale)
    width = max([c + w for _, c, w, _ in rects.values()] + [legend_w]) + _MARGIN * scale
    height = max(r + h for r, _, _, h in rects.values()) + _MARGIN * scale
    canvas = np.full((height, width, 3), 255, np.uint8)
    _draw_legend(canvas, scale)
    centre = {n: (r + h / 2, c + w / 2) for n, (r, c, w, h) in rects.items()}
    for f in model.factors.values():  # a directed factor's arrow points at b, the child
        p0, p1 = _border_point(rects[f.a], centre[f.b]), _border_point(rects[f.b], centre[f.a])
        _stroke(canvas, p0, p1, line, 6 * scale if f.directed else 0)
    for name, (r, c, w, h) in rects.items():
        canvas[r: r + h, c: c + w] = 0  # frame, then a white inside that hides lines behind it
        canvas[r + line: r + h - line, c + line: c + w - line] = 255
        draw_text(canvas, r + _PAD * scale, c + _PAD * scale, _label(model, name), scale=scale)
    write_png(path, canvas, text={"Title": f"graph of a {model.structure}"})
    return canvas
