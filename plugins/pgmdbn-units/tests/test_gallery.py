"""pgmdbn-units against independent references: exact log-likelihoods of tiny RBMs with each type
on either side equal brute force (discrete) or quadrature (continuous) to 1e-8 in float64; a
12-20 RBM with relu hidden units exactly; AIS within 0.1 nats of exact on 2^16 visible states;
samples against exact distributions; training moves the learned precisions; save/load;
validation of options and data."""
import copy
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import integrate

import pgmdbn
from pgmdbn.errors import ArgumentError, DataError, ModelError

HERE = Path(__file__).resolve().parent
for path in (HERE, HERE.parent):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import pgmdbn_units  # noqa: E402  (installed, or from this checkout)
import gallery_reference as R  # noqa: E402
from pgmdbn_units import halfnormal  # noqa: E402

CONTINUOUS = ["relu", "drelu", "prelu", "xrelu"]
DISCRETE = {"binomial": {"trials": 3}, "potts": {"states": 3}}


@pytest.fixture(scope="module", autouse=True)
def gallery():
    """The gallery's types: through the entry point when the package is installed, else registered here."""
    added = "relu" not in pgmdbn.registry.names("units")
    if added:
        pgmdbn.register_plugin(pgmdbn_units, name="pgmdbn_units")
    yield
    if added:
        pgmdbn.unregister_plugin(pgmdbn_units)


def randomise(model, seed, scale=1.0):
    """Every parameter ~ N(0, scale²), float64."""
    model = model.double()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * scale)
    return model


def visible(name, n):
    """(builder argument, visible size) for ``n`` units or sites of a type."""
    if name == "potts":
        return {"type": "potts", "states": 3}, 3 * n
    return ({"type": name, **DISCRETE[name]} if name in DISCRETE else name), n


# --- exact log-likelihoods against brute force and quadrature ---------------------------------------

@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", ["binomial", "potts"])
def test_discrete_types_exact_log_likelihood_equals_brute_force_on_either_side(name, seed):
    kind, size = visible(name, 3)
    model = randomise(pgmdbn.rbm(size, 2, visible=kind), seed)
    states = R.discrete_states(model.layer("v"))
    log_z = R.log_z_discrete_visible(model)
    data = R.as_tensor(states[:: max(1, len(states) // 7)])
    result = pgmdbn.log_likelihood(model, data, method="exact", progress=False)
    expected = np.array([R.log_unnormalised(model, x) for x in data.numpy()]) - log_z
    assert abs(result.log_z - log_z) < 1e-8
    np.testing.assert_allclose(result.per_example.numpy(), expected, rtol=0, atol=1e-8)
    # the type as the hidden layer: the same joint with the roles swapped, against the same sum
    flipped = pgmdbn.rbm(2, size, hidden=kind).double()
    with torch.no_grad():
        flipped.factor("v", "h").weight.copy_(model.factor("v", "h").weight.T)
        flipped.layer("v").bias.copy_(model.layer("h").bias)
        flipped.layer("h").bias.copy_(model.layer("v").bias)
    assert abs(pgmdbn.log_partition(flipped, method="exact").log_z - log_z) < 1e-8


@pytest.mark.parametrize("name", CONTINUOUS)
def test_continuous_hidden_types_exact_log_likelihood_equals_quadrature(name):
    model = randomise(pgmdbn.rbm(3, 2, hidden=name), seed=3)
    states = R.discrete_states(model.layer("v"))
    log_z = R.log_z_discrete_visible(model)
    result = pgmdbn.log_likelihood(model, R.as_tensor(states), method="exact", progress=False)
    expected = np.array([R.log_unnormalised(model, x) for x in states]) - log_z
    assert abs(result.log_z - log_z) < 1e-8
    np.testing.assert_allclose(result.per_example.numpy(), expected, rtol=0, atol=1e-8)


@pytest.mark.parametrize("name", CONTINUOUS)
def test_continuous_visible_types_exact_log_likelihood_equals_quadrature(name):
    model = randomise(pgmdbn.rbm(2, 3, visible=name), seed=4, scale=0.5)
    rows = np.array([[0.3, 1.7], [0.02, 0.9], [2.5, 0.0]])
    if name != "relu":
        rows = rows * np.array([[1, -1], [-1, 1], [1, 1]])
    result = pgmdbn.log_likelihood(model, R.as_tensor(rows), method="exact", progress=False)
    assert abs(result.log_z - R.log_z_discrete_hidden(model)) < 1e-8
    np.testing.assert_allclose(result.per_example.numpy(), [R.log_p_continuous_visible(model, x) for x in rows],
                               rtol=0, atol=1e-8)


def test_a_12_20_rbm_with_relu_hidden_units_has_the_exact_log_likelihood_of_quadrature():
    """Every one of the 4096 visible states' hidden units integrated by quad (vectorised over the
    states, one unit at a time) against exact enumeration with the log partition in closed form."""
    model = randomise(pgmdbn.rbm(12, 20, hidden="relu"), seed=5, scale=0.4)
    v, h, b, c, w = R.rbm_parts(model)
    states = np.array(R.discrete_states(v))
    gamma = np.exp(h.log_gamma.detach().double().numpy())
    eta = c + states @ w                                          # (4096, 20)
    peak = np.maximum(eta, 0) ** 2 / (2 * gamma)                  # the log of each integrand's maximum
    log_f = states @ b + peak.sum(1)
    for j in range(20):
        f = lambda t, j=j: np.exp(eta[:, j] * t - gamma[j] * t * t / 2 - peak[:, j])  # noqa: E731
        pieces = [integrate.quad_vec(f, lo, hi, epsabs=0, epsrel=1e-13)[0] for lo, hi in ((0, 4), (4, np.inf))]
        log_f = log_f + np.log(pieces[0] + pieces[1])
    log_z = np.logaddexp.reduce(log_f)
    result = pgmdbn.log_likelihood(model, R.as_tensor(states), method="exact", progress=False)
    assert abs(result.log_z - log_z) < 1e-8
    np.testing.assert_allclose(result.per_example.numpy(), log_f - log_z, rtol=0, atol=1e-8)


# --- AIS on 2^16 states -------------------------------------------------------------------------------

@pytest.mark.parametrize("hidden", ["relu", "drelu"])
def test_ais_is_within_a_tenth_of_a_nat_of_exact_on_16_visible_units(hidden):
    """16 Bernoulli visible units (65,536 states) × 6 continuous hidden units, weights N(0, 0.5²):
    several seeds of AIS all land within 0.1 nats of the exact log Z (errors of at most 0.028 (relu)
    and 0.034 (drelu) measured over seeds 0-3 at these settings)."""
    model = randomise(pgmdbn.rbm(16, 6, hidden=hidden), seed=6, scale=0.5).float()
    exact = pgmdbn.log_partition(model, method="exact", progress=False).log_z
    for seed in (0, 1, 2):
        ais = pgmdbn.log_partition(model, method="ais", n_chains=200, betas=torch.linspace(0, 1, 1000),
                                   seed=seed, progress=False).log_z
        assert abs(ais - exact) < 0.1, (seed, ais, exact)


# --- sampling against exact distributions --------------------------------------------------------------

def total_variation(samples: torch.Tensor, states: torch.Tensor, probs: torch.Tensor) -> float:
    index = (samples[:, None, :] == states[None]).all(-1).double().argmax(1)
    counts = torch.bincount(index, minlength=len(states)).double() / len(samples)
    return 0.5 * float((counts - probs).abs().sum())


@pytest.mark.parametrize("name", ["binomial", "potts", "relu", "drelu"])
def test_gibbs_samples_of_the_visible_layer_match_its_exact_distribution(name):
    """Block Gibbs on a 3-(site)-visible RBM whose visible or hidden layer is the gallery type,
    4000 chains: total variation from the exact marginal under 0.05 (sampling noise about 0.02)."""
    if name in DISCRETE:
        kind, size = visible(name, 2)
        model = randomise(pgmdbn.rbm(size, 2, visible=kind), seed=7).float()
    else:
        model = randomise(pgmdbn.rbm(3, 2, hidden=name), seed=7).float()
    states = model.layer("v").states().double()
    with torch.no_grad():
        probs = torch.softmax(-copy.deepcopy(model).double().free_energy({"v": states}), 0)
    drawn = pgmdbn.sample(model, 4000, steps=50, seed=0, method="gibbs")["v"].double()
    assert total_variation(drawn, states, probs) < 0.05


@pytest.mark.parametrize("name", CONTINUOUS)
@pytest.mark.parametrize("field", [-30.0, -2.0, 0.0, 1.5, 25.0])
def test_continuous_draws_follow_the_conditional_distribution(name, field):
    """20,000 draws of one unit at fields from deep in the negative tail to far positive: the
    Kolmogorov–Smirnov distance to the quadrature CDF stays under 0.015 (its 1e-3 critical value
    is 0.0138 ... at this size the statistic's typical value is 0.006), the mean within 5 standard
    errors of the closed form."""
    units = randomise(pgmdbn.Model().add_layer("h", name, 1), seed=8, scale=0.5).layer("h")
    eta = torch.full((20000, 1), field, dtype=torch.float64)
    draws = units.sample(eta, generator=torch.Generator().manual_seed(0))[:, 0].numpy()
    log_z = R.log_integral(units, np.array([field]))
    energy = lambda x: R.own_energy(units, np.array([x]))  # noqa: E731
    density = lambda x: math.exp(field * x - energy(x) - log_z)  # noqa: E731
    lo = 0.0 if name == "relu" else -np.inf
    grid = np.quantile(draws, np.linspace(0.01, 0.99, 25))
    cdf = np.array([integrate.quad(density, lo, x, epsabs=1e-12, limit=200)[0] for x in grid])
    empirical = np.array([(draws <= x).mean() for x in grid])
    assert np.abs(cdf - empirical).max() < 0.015
    mean = units.mean(eta[:1])[0, 0].item()
    assert abs(draws.mean() - mean) < 5 * draws.std() / math.sqrt(len(draws)) + 1e-12


def test_draws_ahead_equal_draws_inside():
    for name, kind in [("binomial", {"type": "binomial", "trials": 4}), ("potts", {"type": "potts", "states": 3}),
                       *[(n, n) for n in CONTINUOUS]]:
        units = randomise(pgmdbn.rbm(6, 2, visible=kind), seed=9).layer("v")
        eta = torch.randn(5, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        inside = units.sample(eta, 0.7, torch.Generator().manual_seed(3))
        noise = units.draw_ahead(eta.shape, torch.Generator().manual_seed(3), torch.float64)
        assert noise is not None, name
        assert torch.equal(units.sample(eta, 0.7, noise=noise), inside), name


# --- the tails, training, save/load, validation ----------------------------------------------------------

def test_the_half_normal_pieces_are_accurate_in_the_far_tails():
    z = torch.tensor([-1e4, -300.0, -40.0, -5.0, 0.0, 5.0, 40.0], dtype=torch.float64)
    for zi, value in zip(z.tolist(), halfnormal.log_norm(z).tolist()):
        assert abs(value - R.log_half(zi, 1.0)) < 1e-10, zi
    log_p = torch.tensor([-1e5, -2000.0, -701.0, -699.0, -3.0, -1e-12], dtype=torch.float64)
    assert torch.allclose(torch.special.log_ndtr(halfnormal.inverse_log_cdf(log_p)), log_p, rtol=1e-12, atol=1e-14)
    x = torch.tensor([-1e3, -50.0, 0.0, 50.0], requires_grad=True)          # float32 training fields
    halfnormal.log_norm(x).sum().backward()
    assert torch.isfinite(x.grad).all() and torch.allclose(x.grad, halfnormal.mean(x.detach()), rtol=1e-4)
    t = halfnormal.sample(torch.full((5000,), -300.0, dtype=torch.float64),
                          1 - torch.rand(5000, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    assert (t >= 0).all() and abs(t.mean().item() - halfnormal.mean(torch.tensor(-300.0)).item()) < 2e-4


@pytest.mark.parametrize("name", CONTINUOUS)
def test_training_learns_the_extra_parameters_through_the_free_energy(name):
    """PCD on bars: every extra parameter (precisions, gaps, asymmetries) moves, the exact
    log-likelihood improves (by 0.86 to 1.46 nats over seeds 0-2 of data and model when measured;
    0.3 asked), and nothing becomes non-finite."""
    gen = torch.Generator().manual_seed(0)
    data = (torch.rand(400, 8, generator=gen) < 0.2).float()
    data[:200, :4] = 1.0
    model = pgmdbn.rbm(8, 4, hidden=name, seed=0, init_scale=0.1)
    extra = {k: p.detach().clone() for k, p in model.layer("h").named_parameters() if k != "bias"}
    before = pgmdbn.log_likelihood(model, data, method="exact", progress=False).mean
    pgmdbn.fit(model, data, method="pcd", k=5, epochs=10, batch_size=20, lr=0.02, seed=0, progress=False)
    after = pgmdbn.log_likelihood(model, data, method="exact", progress=False).mean
    for k, p in model.layer("h").named_parameters():
        assert torch.isfinite(p).all(), k
        if k in extra:
            assert (p.detach() - extra[k]).abs().max() > 1e-3, k
    assert after > before + 0.3


@pytest.mark.parametrize("name", [*DISCRETE, *CONTINUOUS])
def test_save_and_load_keep_options_parameters_and_the_likelihood(name, tmp_path):
    kind, size = visible(name, 2)
    model = randomise(pgmdbn.rbm(size, 3, visible=kind), seed=10, scale=0.5).float()
    path = tmp_path / f"{name}.safetensors"
    pgmdbn.save(model, path)
    back = pgmdbn.load(path)
    assert back.layer("v").config() == model.layer("v").config()
    layer = pgmdbn.io.read_info(path)["spec"]["layers"][0]
    assert "pgmdbn-units" in str(layer) or "pgmdbn_units" in str(layer), layer
    a = pgmdbn.log_partition(model, method="exact", progress=False).log_z
    assert pgmdbn.log_partition(back, method="exact", progress=False).log_z == pytest.approx(a, abs=1e-9)


def test_options_and_data_are_validated_with_errors_that_name_them():
    with pytest.raises(ArgumentError, match="trials"):
        pgmdbn.rbm(3, 2, visible={"type": "binomial", "trials": 0})
    with pytest.raises(ModelError, match="states=3.*sites"):
        pgmdbn.rbm(7, 2, visible={"type": "potts", "states": 3})
    binomial = pgmdbn.rbm(2, 2, visible={"type": "binomial", "trials": 2})
    with pytest.raises(DataError, match=r"0\.\.2"):
        pgmdbn.log_likelihood(binomial, torch.tensor([[1.0, 3.0]]), method="exact")
    potts = pgmdbn.rbm(6, 2, visible={"type": "potts", "states": 3})
    with pytest.raises(DataError, match="one-hot"):
        pgmdbn.log_likelihood(potts, torch.tensor([[1.0, 1.0, 0.0, 0.0, 0.0, 1.0]]), method="exact")
    with pytest.raises(DataError, match="0..2"):
        potts.layer("v").encode_sequences(torch.tensor([[0, 3]]))
    assert torch.equal(potts.layer("v").encode_sequences(torch.tensor([[2, 0]])), torch.tensor([[0., 0, 1, 1, 0, 0]]))
    relu = pgmdbn.rbm(2, 2, visible="relu")
    with pytest.raises(DataError, match="nonnegative"):
        pgmdbn.log_likelihood(relu, torch.tensor([[0.5, -0.1]]), method="exact")


def test_the_types_come_from_the_package_and_the_count_reaches_eleven():
    names = set(pgmdbn.registry.names("units"))
    gallery = {cls.name for cls in pgmdbn_units.TYPES}
    assert gallery == {"binomial", "potts", "relu", "drelu", "prelu", "xrelu"} and gallery <= names
    for name in gallery:
        assert pgmdbn.registry.get("units", name).__module__.startswith("pgmdbn_units")
    assert len(names | {"spin"}) >= 11
