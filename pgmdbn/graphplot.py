"""Draw a model's graph (layers as boxes, factors as lines or arrows) with networkx on matplotlib."""
from __future__ import annotations

import networkx as nx
import numpy as np

from .errors import ModelError
from . import plot

__all__ = ["graph_png", "graph_figure", "layout", "depths"]


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


def label(model, name: str) -> str:
    """A layer's box text: its name, unit type and size."""
    return f"{name}: {model.layers[name].name} {model.layers[name].size}"


def layout(model) -> dict[str, tuple[float, float]]:
    """Position (x, y) of each layer's box centre: y is its depth (visible layer at 0), a row's
    layers side by side in declaration order, every row centred on x = 0."""
    rows = depths(model)
    pos = {}
    for d in set(rows.values()):
        names = [n for n in model.layers if rows[n] == d]
        for i, name in enumerate(names):
            pos[name] = (i - (len(names) - 1) / 2, float(d))
    return pos


def graph_figure(model, scale: int = 2):
    """The matplotlib Figure of ``model``'s graph: boxes by depth, plain lines for undirected
    factors, arrows from parent to child for directed ones, a title naming the structure and a
    legend."""
    from matplotlib.lines import Line2D

    if int(scale) < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")
    scale = int(scale)
    pos = layout(model)
    widest = max(sum(1 for p in pos.values() if p[1] == d) for d in {p[1] for p in pos.values()})
    chars = max(len(label(model, n)) for n in model.layers)
    height_rows = max(p[1] for p in pos.values()) + 1
    fig = plot.figure(int(max(4.0, widest * chars * 0.09 + 1.5) * 50 * scale),
                 int((1.2 + 0.9 * height_rows) * 50 * scale))
    ax = fig.add_axes((0.02, 0.02, 0.96, 0.86))
    graph = nx.DiGraph()
    graph.add_nodes_from(model.layers)
    directed = [(f.a, f.b) for f in model.factors.values() if f.directed]
    undirected = [(f.a, f.b) for f in model.factors.values() if not f.directed]
    graph.add_edges_from(directed + undirected)
    box = dict(boxstyle="round,pad=0.4", facecolor="white", edgecolor="black")
    nx.draw_networkx_labels(graph, pos, labels={n: label(model, n) for n in model.layers}, ax=ax,
                            font_size=4.5 * scale, bbox=box)
    common = dict(ax=ax, node_size=300 * scale * scale, node_shape="s", width=0.6 * scale)
    if undirected:
        nx.draw_networkx_edges(graph, pos, edgelist=undirected, arrows=False, **common)
    if directed:
        nx.draw_networkx_edges(graph, pos, edgelist=directed, arrows=True, arrowstyle="-|>",
                               arrowsize=8 * scale, **common)
    xs = [p[0] for p in pos.values()]
    ax.set_xlim(min(xs) - 0.8, max(xs) + 0.8)
    ax.set_ylim(-0.5, height_rows - 0.5)
    ax.axis("off")
    handles = [Line2D([], [], color="black", label="undirected"),
               Line2D([], [], color="black", marker=">", label="directed (parent > child)")]
    fig.suptitle(f"model graph ({model.structure})", fontsize=5 * scale, y=0.995, va="top")
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.96), ncol=2, fontsize=4 * scale,
               frameon=False)
    return fig


def graph_png(model, path, scale: int = 2) -> np.ndarray:
    """Draw ``model``'s graph (visible layer at the bottom) to ``path`` (PNG, or PDF/SVG by the
    suffix). Returns the drawing as an (H, W, 3) uint8 RGB image, the pixels of the PNG."""
    fig = graph_figure(model, scale)
    plot.save_figure(fig, path)  # looked up when called, so a check or recording of it applies here too
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
