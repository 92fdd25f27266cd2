"""Exact log-likelihood against brute force over both layers, for every unit-type pair."""
import math

import pytest
import torch

import pgmdbn
from pgmdbn.errors import DataError, UnsupportedModel
from pgmdbn.units import Bernoulli, Gaussian, ReplicatedSoftmax, Softmax


def randomise(model, scale=0.8, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "log_sigma" in name:
                p.copy_(torch.rand(p.shape, generator=gen) - 0.5)  # sigma in [0.6, 1.65]
            else:
                p.copy_(torch.randn(p.shape, generator=gen) * scale)
    return model


def brute_log_z_and_logp(model, data, like=None):
    """Sum exp(-E) over the joint states of both (discrete) layers, in float64."""
    v_states = model.layer("v").states(like).double()
    h_states = model.layer("h").states().double()
    vv = v_states.repeat_interleave(len(h_states), 0)
    hh = h_states.repeat(len(v_states), 1)
    neg_e = -model.energy({"v": vv, "h": hh}).reshape(len(v_states), len(h_states))
    log_z = torch.logsumexp(neg_e.flatten(), 0).item()
    per_state = torch.logsumexp(neg_e, 1)
    index = [int((v_states == row).all(-1).nonzero()[0]) for row in data.double()]
    return log_z, per_state[index] - log_z


def quadrature_log_z_and_logp(model, data, continuous, lim=12.0, n=501):
    """Integrate a 2-unit Gaussian layer on a grid (trapezoid), enumerate the other."""
    other = "h" if continuous == "v" else "v"
    g = torch.linspace(-lim, lim, n, dtype=torch.float64)
    grid = torch.cartesian_prod(g, g)
    dx = (g[1] - g[0]).item()
    w = torch.full((n,), dx, dtype=torch.float64)
    w[0] = w[-1] = dx / 2
    weights = torch.outer(w, w).flatten().log()
    states = model.layer(other).states().double()
    terms = torch.stack([-model.energy({continuous: grid, other: s.expand(len(grid), -1)}) + weights
                         for s in states])  # (n_states, n_grid)
    log_z = torch.logsumexp(terms.flatten(), 0).item()
    if continuous == "v":
        logp = [torch.logsumexp(-model.energy({"v": x.double().expand(len(states), -1), "h": states}), 0).item() - log_z
                for x in data]
    else:
        logp = [torch.logsumexp(terms[int((states == x.double()).all(-1).nonzero()[0])], 0).item() - log_z
                for x in data]
    return log_z, torch.tensor(logp, dtype=torch.float64)


DISCRETE_PAIRS = [
    (lambda: Bernoulli(5), lambda: Bernoulli(4)),
    (lambda: Bernoulli(3), lambda: Bernoulli(7)),  # the visible layer is the smaller: enumerated
    (lambda: Softmax(4), lambda: Bernoulli(3)),
    (lambda: Bernoulli(4), lambda: Softmax(5)),
    (lambda: Softmax(3), lambda: Softmax(4)),
]


@pytest.mark.parametrize("make_v,make_h", DISCRETE_PAIRS)
def test_exact_matches_brute_force_discrete(make_v, make_h, device):
    model = randomise(pgmdbn.Model().add_layer("v", make_v()).add_layer("h", make_h()).add_undirected("v", "h"))
    data = model.layer("v").states()[[0, -1, 1]]
    log_z, logp = brute_log_z_and_logp(model, data)
    model.to(device)
    result = pgmdbn.log_likelihood(model, data.to(device), method="exact")
    assert result.kind == "exact"
    assert result.log_z == pytest.approx(log_z, abs=1e-6)
    assert torch.allclose(result.per_example, logp, atol=1e-6)
    assert result.mean == pytest.approx(logp.mean().item(), abs=1e-6)
    assert pgmdbn.log_partition(model).log_z == pytest.approx(log_z, abs=1e-6)
    # probabilities over all visible states sum to one
    everything = pgmdbn.log_likelihood(model, model.layer("v").states().to(device)).per_example
    assert torch.logsumexp(everything, 0).item() == pytest.approx(0.0, abs=1e-9)


def test_exact_replicated_softmax_per_document_length():
    model = randomise(pgmdbn.Model().add_layer("v", ReplicatedSoftmax(3)).add_layer("h", Bernoulli(3))
                      .add_undirected("v", "h"), scale=0.5)
    docs = torch.tensor([[2., 0, 1], [0, 0, 3], [1, 1, 0], [4, 0, 1]])
    result = pgmdbn.log_likelihood(model, docs)
    for doc, value in zip(docs, result.per_example):
        _, logp = brute_log_z_and_logp(model, doc[None], like=doc[None])
        assert value.item() == pytest.approx(logp.item(), abs=1e-6)
    # count vectors of one length form a distribution
    like = docs[:1]
    states = model.layer("v").states(like)
    assert len(states) == math.comb(3 + 3 - 1, 2)
    total = pgmdbn.log_likelihood(model, states).per_example
    assert torch.logsumexp(total, 0).item() == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("learn_sigma", [False, True])
def test_exact_gaussian_visible_matches_quadrature(learn_sigma):
    model = randomise(pgmdbn.Model().add_layer("v", Gaussian(2, learn_sigma=learn_sigma))
                      .add_layer("h", Bernoulli(3)).add_undirected("v", "h"), scale=0.6, seed=3)
    data = torch.tensor([[0.3, -1.2], [2.0, 0.5], [-0.7, 0.0]])
    log_z, logp = quadrature_log_z_and_logp(model, data, "v")
    result = pgmdbn.log_likelihood(model, data)
    assert result.log_z == pytest.approx(log_z, abs=1e-6)
    assert torch.allclose(result.per_example, logp, atol=1e-6)


def test_exact_gaussian_hidden_matches_quadrature():
    model = randomise(pgmdbn.Model().add_layer("v", Bernoulli(4)).add_layer("h", Gaussian(2))
                      .add_undirected("v", "h"), scale=0.5, seed=5)
    data = model.layer("v").states()[[0, 5, 15]]
    log_z, logp = quadrature_log_z_and_logp(model, data, "h")
    result = pgmdbn.log_likelihood(model, data)
    assert result.log_z == pytest.approx(log_z, abs=1e-6)
    assert torch.allclose(result.per_example, logp, atol=1e-6)


def test_zero_weights_closed_form():
    model = randomise(pgmdbn.rbm(6, 5), seed=1)
    with torch.no_grad():
        model.weight("v", "h").zero_()
    expected = (torch.nn.functional.softplus(model.bias("v").double()).sum()
                + torch.nn.functional.softplus(model.bias("h").double()).sum()).item()
    assert pgmdbn.log_partition(model).log_z == pytest.approx(expected, abs=1e-9)


def test_chunked_enumeration_agrees(monkeypatch):
    model = randomise(pgmdbn.rbm(12, 10), scale=0.3)
    whole = pgmdbn.log_partition(model).log_z
    monkeypatch.setattr("pgmdbn.estimators.enumerate.ELEMENTS_PER_CHUNK", 7 * 12)
    assert pgmdbn.log_partition(model).log_z == pytest.approx(whole, abs=1e-9)


def test_exact_errors():
    with pytest.raises(UnsupportedModel, match="continuous"):
        pgmdbn.log_partition(pgmdbn.rbm(3, 3, visible="gaussian", hidden="gaussian"))
    with pytest.raises(UnsupportedModel, match="ais"):
        pgmdbn.log_partition(pgmdbn.rbm(50, 50))
    model = pgmdbn.rbm(4, 3)
    with pytest.raises(DataError, match=r"\{0, 1\}.*row 1, column 2.*binarize"):
        pgmdbn.log_likelihood(model, torch.tensor([[0., 1, 0, 1], [1, 0, 0.5, 0]]))
    with pytest.raises(DataError, match=r"shape \(n, 4\)"):
        pgmdbn.log_likelihood(model, torch.zeros(2, 5))
    with pytest.raises(DataError, match="non-finite"):
        pgmdbn.log_likelihood(model, torch.tensor([[0., float("nan"), 0, 1]]))
    with pytest.raises(DataError, match="empty"):
        pgmdbn.log_likelihood(model, torch.zeros(0, 4))
    with pytest.raises(UnsupportedModel, match="'bound' or 'iwae'"):
        pgmdbn.log_likelihood(pgmdbn.dbn([4, 40, 3]), torch.zeros(1, 4))
