"""Tests for pgmdbn.graphplot: the graph drawn by networkx on matplotlib, layer rows, the
layout and arrowheads on directed factors, PNG/SVG output."""
import struct

import numpy as np
import pytest
from matplotlib.patches import FancyArrowPatch

from pgmdbn.builders import dbm, dbn, rbm, sbn
from pgmdbn.errors import ModelError
from pgmdbn.graph import Model
from pgmdbn.graphplot import depths, graph_figure, graph_png, layout


def _two_layers(directed: bool) -> Model:
    model = Model().add_layer("v", "bernoulli", 6).add_layer("h", "bernoulli", 4)
    return model.add_directed("h", "v") if directed else model.add_undirected("v", "h")


def test_writes_valid_png_matching_returned_image(tmp_path):
    path = tmp_path / "g.png"
    image = graph_png(dbn([784, 500, 500, 2000], labels=10), path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert image.dtype == np.uint8 and image.shape == (height, width, 3)
    assert (image < 128).any() and (image == 255).mean() > 0.5  # dark drawing on white


def test_svg_by_suffix(tmp_path):
    graph_png(sbn([6, 4]), tmp_path / "g.svg")
    assert "<svg" in (tmp_path / "g.svg").read_text()


def test_rows_follow_depth_with_labels_beside_h2():
    assert depths(dbn([784, 500, 500, 2000], labels=10)) == {"v": 0, "h1": 1, "h2": 2, "h3": 3, "y": 2}
    assert depths(dbm([784, 500, 1000])) == {"v": 0, "h1": 1, "h2": 2}
    assert depths(rbm(784, 500)) == {"v": 0, "h": 1}
    pos = layout(sbn([20, 10, 5]))
    assert pos["h2"][1] > pos["h1"][1] > pos["v"][1]  # visible at the bottom
    pos = layout(dbn([784, 500, 500, 2000], labels=10))
    assert pos["y"][1] == pos["h2"][1] and pos["y"][0] != pos["h2"][0]  # side by side


def test_boxes_carry_lower_case_labels(tmp_path):
    model = dbn([784, 500, 500, 2000], labels=10)
    texts = {t.get_text() for t in graph_figure(model).axes[0].texts}
    assert {"v: bernoulli 784", "y: softmax 10", "h3: bernoulli 2000"} <= texts


def test_deeper_models_draw_taller(tmp_path):
    shallow = graph_png(rbm(784, 500), tmp_path / "rbm.png")
    deep = graph_png(dbm([784, 500, 1000]), tmp_path / "dbm.png")
    assert deep.shape[0] > shallow.shape[0]


def test_directed_factors_draw_arrowheads_undirected_do_not():
    def heads(fig):
        return [p for p in fig.axes[0].patches if isinstance(p, FancyArrowPatch)
                and p.get_arrowstyle().__class__.__name__ != "Curve"]

    assert len(heads(graph_figure(_two_layers(True)))) == 1
    assert not heads(graph_figure(_two_layers(False)))
    assert len(heads(graph_figure(dbn([10, 8, 6, 4])))) == 2  # h2 -> h1 -> v


def test_scale_and_empty_model_errors(tmp_path):
    with pytest.raises(ModelError, match="no layers"):
        graph_png(Model(), tmp_path / "empty.png")
    with pytest.raises(ValueError, match="scale"):
        graph_png(rbm(3, 2), tmp_path / "bad.png", scale=0)
