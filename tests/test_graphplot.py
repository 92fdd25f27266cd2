"""Tests for pgmdbn.graphplot: PNG output, layer rows, box layout and arrowheads."""
import struct
from itertools import combinations

import numpy as np
import pytest

from pgmdbn.builders import dbm, dbn, rbm, sbn
from pgmdbn.errors import ModelError
from pgmdbn.graph import Model
from pgmdbn.graphplot import depths, graph_png, layout


def _two_layers(directed: bool) -> Model:
    model = Model().add_layer("v", "bernoulli", 6).add_layer("h", "bernoulli", 4)
    return model.add_directed("h", "v") if directed else model.add_undirected("v", "h")


def _ink(image: np.ndarray) -> int:
    """Number of non-white pixels."""
    return int((image != 255).any(axis=2).sum())


def test_writes_valid_png_matching_returned_image(tmp_path):
    path = tmp_path / "g.png"
    image = graph_png(dbn([784, 500, 500, 2000], labels=10), path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert image.dtype == np.uint8 and image.shape == (height, width, 3)
    assert set(np.unique(image)) == {0, 255}  # black on white only


def test_rows_follow_depth_with_labels_beside_h2():
    assert depths(dbn([784, 500, 500, 2000], labels=10)) == {"v": 0, "h1": 1, "h2": 2, "h3": 3, "y": 2}
    assert depths(dbm([784, 500, 1000])) == {"v": 0, "h1": 1, "h2": 2}
    assert depths(rbm(784, 500)) == {"v": 0, "h": 1}
    rects = layout(sbn([20, 10, 5]))
    assert rects["h2"][0] < rects["h1"][0] < rects["v"][0]  # visible at the bottom


def test_deeper_models_draw_taller(tmp_path):
    shallow = graph_png(rbm(784, 500), tmp_path / "rbm.png")
    deep = graph_png(dbm([784, 500, 1000]), tmp_path / "dbm.png")
    assert deep.shape[0] > shallow.shape[0]


def test_labelled_dbn_boxes_do_not_overlap_and_fit(tmp_path):
    model = dbn([784, 500, 500, 2000], labels=10)
    rects = layout(model, scale=2)
    assert set(rects) == set(model.layers)
    for (ra, ca, wa, ha), (rb, cb, wb, hb) in combinations(rects.values(), 2):
        assert ra + ha <= rb or rb + hb <= ra or ca + wa <= cb or cb + wb <= ca
    image = graph_png(model, tmp_path / "g.png", scale=2)
    for r, c, w, h in rects.values():  # every box is inside the image and framed in black
        assert r + h <= image.shape[0] and c + w <= image.shape[1]
        assert (image[r, c: c + w] == 0).all() and (image[r: r + h, c] == 0).all()


def test_directed_factor_draws_arrowhead_at_child(tmp_path):
    undirected = graph_png(_two_layers(False), tmp_path / "u.png")
    directed = graph_png(_two_layers(True), tmp_path / "d.png")
    assert _ink(directed) > _ink(undirected)
    r, c, w, _ = layout(_two_layers(True))["v"]  # child v is below: the head sits on its top edge
    centre = c + w // 2
    above_v = np.s_[r - 6: r - 1, centre - 4: centre + 5]
    assert _ink(directed[above_v]) > _ink(undirected[above_v]) + 10


def test_scale_and_empty_model_errors(tmp_path):
    with pytest.raises(ModelError, match="no layers"):
        graph_png(Model(), tmp_path / "empty.png")
    with pytest.raises(ValueError, match="scale"):
        graph_png(rbm(3, 2), tmp_path / "bad.png", scale=0)
