"""The model DSL: declaring graphs, validation, parameters, printing, builders."""
import pytest
import torch

import pgmdbn
from pgmdbn import Model
from pgmdbn.errors import ModelError, PluginError
from pgmdbn.units import Bernoulli, Gaussian, Softmax


def test_declare_rbm_by_hand_and_access_parameters():
    model = Model().add_layer("v", Bernoulli(6)).add_layer("h", "gaussian", 3).add_undirected("v", "h")
    assert isinstance(model, torch.nn.Module)
    assert model.weight("v", "h").shape == (6, 3)
    assert model.weight("h", "v").shape == (3, 6)
    with torch.no_grad():
        model.weight("h", "v")[2, 5] = 1.5  # writing through the transposed view
    assert model.weight("v", "h")[5, 2].item() == 1.5
    model.bias("h").data.fill_(0.25)
    assert torch.all(model.layer("h").bias == 0.25)
    assert isinstance(model.layer("h"), Gaussian)
    assert model.structure == "rbm" and model.pair() == ("v", "h")
    text = repr(model)
    assert "v — h" in text and "gaussian, size=3" in text and "W (6, 3)" in text


def test_builders():
    m = pgmdbn.rbm(10, 4, visible="gaussian", seed=1)
    assert m.layer("v").name == "gaussian" and m.weight("v", "h").std() > 0
    assert torch.equal(pgmdbn.rbm(10, 4, seed=1).weight("v", "h"), m.weight("v", "h"))
    dbn = pgmdbn.dbn([20, 10, 8, 6], labels=5)
    assert list(dbn.layers) == ["v", "h1", "h2", "h3", "y"]
    assert dbn.parents_of("v") == ["h1"] and dbn.parents_of("h1") == ["h2"]
    assert sorted(dbn.undirected_neighbours("h3")) == ["h2", "y"]
    assert isinstance(dbn.layer("y"), Softmax) and dbn.structure == "dbn"
    dbm = pgmdbn.dbm([20, 10, 5])
    assert dbm.structure == "dbm" and dbm.undirected_neighbours("h1") == ["v", "h2"]
    sbn = pgmdbn.sbn([20, 10, 5])
    assert sbn.structure == "sbn" and sbn.children_of("h2") == ["h1"]
    assert "h2 → h1" in repr(sbn)


def test_validation_errors():
    m = Model().add_layer("v", "bernoulli", 4).add_layer("h", "bernoulli", 3)
    with pytest.raises(ModelError, match="declared twice"):
        m.add_layer("v", "bernoulli", 2)
    with pytest.raises(ModelError, match="unknown layer 'x'.*add_layer"):
        m.add_undirected("v", "x")
    m.add_undirected("v", "h")
    with pytest.raises(ModelError, match="already joined"):
        m.add_directed("h", "v")
    with pytest.raises(ModelError, match="two different layers"):
        m.add_undirected("v", "v")
    with pytest.raises(ModelError, match="must start with a letter"):
        m.add_layer("my.layer", "bernoulli", 2)
    with pytest.raises(ModelError, match="needs a size"):
        m.add_layer("z", "bernoulli")
    with pytest.raises(PluginError, match="unknown unit 'binary'"):
        m.add_layer("z", "binary", 3)
    m2 = Model().add_layer("a", Bernoulli(2)).add_layer("b", Bernoulli(2)).add_layer("c", Bernoulli(2))
    m2.add_directed("a", "b").add_directed("b", "c")
    with pytest.raises(ModelError, match="cycle a → b → c → a|cycle c → a → b → c"):
        m2.add_directed("c", "a")
    with pytest.raises(ModelError, match=r"weight of shape \(3, 3\).*2×2"):
        m2.add_undirected("a", "c", weight=torch.zeros(3, 3))
    with pytest.raises(ModelError, match="size 5 given"):
        Model().add_layer("v", Bernoulli(4), 5)
    with pytest.raises(ModelError, match="cannot sum out both"):
        m.free_energy({})


def test_free_energy_is_energy_marginalised():
    model = pgmdbn.rbm(3, 2, seed=0, init_scale=1.0)
    v = model.layer("v").states().double()
    h = model.layer("h").states().double()
    e = model.energy({"v": v.repeat_interleave(len(h), 0), "h": h.repeat(len(v), 1)}).reshape(len(v), len(h))
    assert torch.allclose(model.free_energy({"v": v}), -torch.logsumexp(-e, 1))
    assert torch.allclose(model.free_energy({"h": h}), -torch.logsumexp(-e, 0))
