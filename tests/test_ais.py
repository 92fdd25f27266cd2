"""AIS and RAISE against exact values on models small enough to enumerate."""
import math

import pytest
import torch

import pgmdbn
from pgmdbn.data.toy import sample_bars_and_stripes
from pgmdbn.estimators.ais import ais_log_z, paper_schedule
from pgmdbn.units import Bernoulli, Gaussian, Softmax


def test_paper_schedule():
    betas = paper_schedule()
    assert len(betas) == 14501 and betas[0] == 0 and betas[-1] == 1
    steps = betas.diff()
    assert (steps > 0).all()
    assert steps[:500].allclose(torch.tensor(1e-3, dtype=torch.float64))
    assert steps[500:4500].allclose(torch.tensor(1e-4, dtype=torch.float64))
    assert steps[4500:].allclose(torch.tensor(1e-5, dtype=torch.float64))
    assert len(paper_schedule(1000)) == 1001


def randomise(model, seed):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            scale = 0.3 if "log_sigma" in name else 1.0
            p.copy_(torch.randn(p.shape, generator=gen) * scale)
    return model


PAIRS = [
    (lambda: Bernoulli(8), lambda: Bernoulli(6)),
    (lambda: Gaussian(5), lambda: Bernoulli(6)),
    (lambda: Gaussian(5, learn_sigma=True), lambda: Bernoulli(4)),
    (lambda: Softmax(6), lambda: Bernoulli(5)),
    (lambda: Bernoulli(7), lambda: Softmax(4)),
    (lambda: Bernoulli(6), lambda: Gaussian(3)),
]


@pytest.mark.parametrize("make_v,make_h", PAIRS)
def test_ais_within_its_reported_three_sigma_of_exact(make_v, make_h, device):
    model = pgmdbn.Model().add_layer("v", make_v()).add_layer("h", make_h()).add_undirected("v", "h")
    model = randomise(model, seed=1).to(device)
    exact = pgmdbn.log_partition(model).log_z
    base = model.layer("v").sample(model.bias("v").expand(200, -1), generator=torch.Generator(device).manual_seed(0))
    result = pgmdbn.log_partition(model, method="ais", n_chains=200, betas=paper_schedule(1500), base_data=base,
                                  progress=False)
    assert result.kind == "estimate"
    assert result.spread["log_z_minus_3sigma"] <= exact <= result.spread["log_z_plus_3sigma"], (exact, result)
    assert abs(result.log_z - exact) < 0.05


def test_sandwich_raise_exact_ais_on_average():
    """Averaged over many single-chain runs: RAISE ≤ exact ≤ AIS (Jensen's gaps of both estimators)."""
    train, test = sample_bars_and_stripes(600, 3, seed=0), sample_bars_and_stripes(50, 3, seed=1)
    model = pgmdbn.rbm(9, 8, seed=0)
    pgmdbn.fit(model, train, epochs=20, batch_size=20, lr=0.1, momentum=0.9, progress=False)
    exact = pgmdbn.log_likelihood(model, test)
    betas = paper_schedule(20)  # short, so that both gaps are wide
    runs = ais_log_z(model, n_chains=2000, betas=betas, base_data=train, progress=False)
    log_z0 = runs["log_z"] - (torch.logsumexp(runs["log_weights"], 0).item() - math.log(2000))
    ais_per_run = exact.mean + exact.log_z - (log_z0 + runs["log_weights"])  # one estimate per chain
    rai = pgmdbn.log_likelihood(model, test, method="raise", betas=betas, base_data=train, progress=False)
    assert rai.kind == "stochastic lower bound"
    assert rai.mean < exact.mean - 0.05 and ais_per_run.mean().item() > exact.mean + 0.05, (rai.mean, exact.mean)
    assert abs(runs["log_z"] - exact.log_z) < 0.1  # all chains together: close to exact
    finer = pgmdbn.log_likelihood(model, test, method="raise", betas=paper_schedule(2000), base_data=train,
                                  progress=False)
    assert rai.mean < finer.mean < exact.mean + 0.02  # a finer schedule tightens the lower bound


def test_low_effective_sample_size_warns():
    model = randomise(pgmdbn.rbm(8, 6), seed=2)
    result = pgmdbn.log_partition(model, method="ais", betas=torch.tensor([0.0, 1.0]), n_chains=50,
                                  progress=False, min_ess=0.5)
    assert result.warnings and "effective sample size" in result.warnings[0]


def test_ais_refuses_structures_it_cannot_anneal():
    with pytest.raises(pgmdbn.UnsupportedModel, match="directed"):
        pgmdbn.log_partition(pgmdbn.dbn([6, 4, 3]), method="ais", progress=False)


def test_ais_on_real_data_agrees_with_exact(device):
    """A 784-20 RBM briefly trained on MNIST: AIS within 0.1 nats of the exact test log-likelihood."""
    try:
        from pgmdbn.data import load_mnist

        train = load_mnist("train", binarize="stochastic", limit=2000)[0]
        test = load_mnist("test", binarize="stochastic", limit=500)[0]
    except pgmdbn.DataNotFound as e:
        pytest.skip(f"MNIST not available: {e}")
    model = pgmdbn.rbm(784, 20, seed=0)
    pgmdbn.fit(model, train, method="pcd", epochs=3, batch_size=50, lr=0.05, progress=False, device=device)
    exact = pgmdbn.log_likelihood(model, test)
    ais = pgmdbn.log_likelihood(model, test, method="ais", base_data=train, betas=paper_schedule(3000),
                                progress=False)
    assert abs(ais.mean - exact.mean) < 0.1, (ais.mean, exact.mean)
