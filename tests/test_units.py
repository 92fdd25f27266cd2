"""Each unit type against its defining distribution: log partition, mean, samples, domain checks."""
import math

import pytest
import torch

import pgmdbn
from pgmdbn.engines.gibbs import BlockGibbs
from pgmdbn.errors import DataError
from pgmdbn.units import Bernoulli, Gaussian, ReplicatedSoftmax, Softmax

torch.set_default_dtype(torch.float32)
GEN = lambda seed=0: torch.Generator().manual_seed(seed)  # noqa: E731


def brute(units, eta, beta, like=None):
    """log Σ_x exp(-base_energy(x) + beta s(x)·eta) and E[x] over the enumerated states."""
    x = units.states(like).double()
    logits = -units.base_energy(x) + beta * units.statistic(x) @ eta
    p = torch.softmax(logits, 0)
    return torch.logsumexp(logits, 0), p @ x


DISCRETE = [(Bernoulli(4), None), (Softmax(5), None), (ReplicatedSoftmax(3), torch.tensor([[2., 1, 1]]))]


@pytest.mark.parametrize("units,like", DISCRETE)
@pytest.mark.parametrize("beta", [1.0, 0.3])
def test_discrete_log_partition_and_mean(units, like, beta):
    eta = torch.randn(units.size, generator=GEN(1), dtype=torch.float64)
    log_z, mean = brute(units, eta, beta, like)
    lk = None if like is None else like.double()
    assert units.log_partition(eta[None], beta, like=lk).item() == pytest.approx(log_z.item(), abs=1e-10)
    assert torch.allclose(units.mean(eta[None], beta, like=lk)[0], mean, atol=1e-10)


@pytest.mark.parametrize("units,like", DISCRETE)
def test_discrete_samples_follow_the_conditional(units, like):
    eta = torch.randn(units.size, generator=GEN(2))
    n = 40000
    lk = None if like is None else like.expand(n, -1)
    x = units.sample(eta.expand(n, -1), 1.0, GEN(3), like=lk)
    expected = units.mean(eta[None], like=like)[0]
    # standard error of a mean of n draws is at most sqrt(D²/4n); allow 5 of them
    bound = 5 * (1 if like is None else like.sum().item()) / (2 * math.sqrt(n))
    assert torch.allclose(x.mean(0), expected, atol=bound)
    units.validate(x, exact=True)  # draws lie in the unit's domain


@pytest.mark.parametrize("learn_sigma", [False, True])
def test_gaussian_against_quadrature_and_samples(learn_sigma):
    units = Gaussian(1, learn_sigma=learn_sigma)
    with torch.no_grad():
        units.log_sigma.fill_(math.log(0.7) if learn_sigma else 0.0)
    eta = torch.tensor([[0.8]], dtype=torch.float64)
    for beta in (1.0, 0.4):
        g = torch.linspace(-15, 15, 20001, dtype=torch.float64)[:, None]
        integrand = torch.exp(-units.base_energy(g) + beta * units.statistic(g)[:, 0] * eta[0, 0])
        assert units.log_partition(eta, beta).item() == pytest.approx(
            torch.trapezoid(integrand, g[:, 0]).log().item(), abs=1e-9)
    x = units.sample(eta.float().expand(50000, 1), 1.0, GEN(4))
    sigma = units.sigma().item()
    assert x.mean().item() == pytest.approx(units.mean(eta).item(), abs=5 * sigma / math.sqrt(50000))
    assert x.std().item() == pytest.approx(sigma, rel=0.02)


def test_replicated_softmax_keeps_document_length():
    units = ReplicatedSoftmax(6)
    docs = torch.tensor([[3., 0, 0, 1, 0, 0], [0, 10, 2, 0, 0, 2]])
    x = units.sample(torch.randn(2, 6), 1.0, GEN(), like=docs)
    assert torch.equal(x.sum(-1), docs.sum(-1))
    with pytest.raises(DataError, match="document length"):
        units.sample(torch.randn(2, 6))
    units.init_from_data(docs)
    assert units.length == 9 and units.sample(torch.randn(4, 6)).sum(-1).eq(9).all()


@pytest.mark.parametrize("units,bad,message", [
    (Bernoulli(3), [[0, 1, 2.0]], r"\{0, 1\}.*2.0.*row 0, column 2.*binarize"),
    (Softmax(3), [[0, 1, 1.0]], "row 0 has 2 active"),
    (Softmax(3), [[0, 0.5, 0.5]], "one-hot"),
    (ReplicatedSoftmax(3), [[1, -1, 0.0]], "non-negative integers"),
    (ReplicatedSoftmax(3), [[1, 0.5, 0.0]], "non-negative integers"),
    (Gaussian(3), [[0, float("inf"), 0.0]], "non-finite value inf at row 0, column 1"),
])
def test_domain_errors_name_layer_value_and_fix(units, bad, message):
    units.layer_name = "v"
    with pytest.raises(DataError, match=message) as info:
        units.validate(torch.tensor(bad), exact=True)
    assert "'v'" in str(info.value)


def test_block_gibbs_reaches_the_model_distribution():
    model = pgmdbn.rbm(3, 2, seed=0, init_scale=1.0)
    with torch.no_grad():
        model.bias("v").copy_(torch.tensor([0.5, -1.0, 0.2]))
    exact = pgmdbn.log_likelihood(model, model.layer("v").states()).per_example.exp()
    sampler = BlockGibbs(model, generator=GEN(5))
    states = sampler.run({"v": torch.zeros(20000, 3)}, steps=30)
    codes = (states["v"] * torch.tensor([1, 2, 4])).sum(-1).long()
    empirical = torch.bincount(codes, minlength=8).double() / len(codes)
    assert 0.5 * (empirical - exact).abs().sum().item() < 0.02  # total variation


def test_block_gibbs_clamps_layers():
    model = pgmdbn.dbm([4, 3, 2], seed=0)
    sampler = BlockGibbs(model, generator=GEN())
    assert sampler.colours == [["v", "h2"], ["h1"]]
    v = torch.ones(5, 4)
    states = sampler.run({"v": v}, steps=3, clamp=["v"])
    assert torch.equal(states["v"], v) and set(states) == {"v", "h1", "h2"}
    with pytest.raises(pgmdbn.ModelError, match="unknown layer 'y'"):
        sampler.run({"v": v}, clamp=["y"])
    with pytest.raises(pgmdbn.UnsupportedModel, match="directed"):
        BlockGibbs(pgmdbn.sbn([4, 3]))
