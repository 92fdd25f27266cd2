"""The unit-type contract, checked for every registered unit type (the built-ins and the spin
plugin): cumulant derivatives, sampling, enumeration, support, log_prob, encode, torch.nn form."""
import math
from pathlib import Path

import pytest
import torch

import pgmdbn
from pgmdbn.errors import DataError, UnsupportedModel

SPIN_DIR = Path(__file__).resolve().parents[1] / "plugins" / "pgmdbn-spin"
SIZE = 3
# constructor arguments a type needs to describe its conditional without data
OPTIONS = {"replicated_softmax": {"length": 3}, "pooled_bernoulli": {"pool": 1}}
# types that lay their units out in space get a shape (Model.add_layer sets it); the pooled type's
# blocks of 2x2 are checked against brute force in tests/test_conv.py
SHAPES = {"pooled_bernoulli": (3, 1, 1)}
# values that fall outside some support; non-finite ones are outside every support
OUTSIDE = [0.5, -1.0, 2.0, -0.5, 1.5, float("nan")]


def _import_spin():
    import sys

    if str(SPIN_DIR) not in sys.path:
        sys.path.insert(0, str(SPIN_DIR))
    import pgmdbn_spin

    return pgmdbn_spin


def _unit_names():
    spin = _import_spin()
    pgmdbn.register_plugin(spin, name="pgmdbn_spin")
    try:
        return sorted(pgmdbn.registry.names("units"))
    finally:
        pgmdbn.unregister_plugin(spin)


NAMES = _unit_names()


@pytest.fixture(scope="module", autouse=True)
def spin_plugin():
    spin = _import_spin()
    pgmdbn.register_plugin(spin, name="pgmdbn_spin")
    yield spin
    pgmdbn.unregister_plugin(spin)


def make(name, seed=0):
    units = pgmdbn.registry.get("units", name)(SIZE, **OPTIONS.get(name, {})).double()
    units.layer_name = "lay"
    units.shape = SHAPES.get(name, (SIZE,))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in units.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * 0.5)
    return units


def fields(n=4, seed=1):
    return torch.randn(n, SIZE, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def states(units):
    try:
        return units.states().double()
    except DataError:
        return None


def test_the_spin_plugin_is_among_the_types():
    assert {"bernoulli", "gaussian", "softmax", "replicated_softmax", "spin"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("beta", [1.0, 0.7])
def test_the_derivative_of_log_partition_is_the_mean(name, beta):
    units = make(name)
    eta = fields().requires_grad_(True)
    (grad,) = torch.autograd.grad(units.log_partition(eta, beta).sum(), eta)
    # d A(beta eta) / d eta = beta * E[s(x)]; s(x) = x except for Gaussian-like statistics
    mean = units.mean(eta.detach(), beta)
    torch.testing.assert_close(grad, beta * units.statistic(mean), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("beta, prev", [(0.5, 0.495), (0.9, 0.4)])
def test_the_log_partition_change_is_the_difference(name, beta, prev):
    units = make(name)
    for eta in (fields(), fields().float() * 30):  # direct forms may run in the fields' dtype
        change = units.log_partition_change(eta, beta, prev)
        wide = eta.double()
        exact = units.log_partition(wide, beta) - units.log_partition(wide, prev)
        assert change.dtype == torch.float64
        torch.testing.assert_close(change, exact, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_sample_moments_match_the_mean(name):
    units = make(name)
    n = 20000
    eta = fields(1).expand(n, SIZE)
    draws = units.sample(eta, 0.8, generator=torch.Generator().manual_seed(0)).double()
    assert draws.shape == (n, SIZE)
    error = (draws.mean(0) - units.mean(eta[:1], 0.8)[0]).abs()
    bound = 5 * draws.std(0) / math.sqrt(n) + 1e-12
    assert (error <= bound).all(), (error, bound)
    support = units.support
    assert support.check(draws).all(), "samples lie in the support"


@pytest.mark.parametrize("name", NAMES)
def test_noise_drawn_ahead_gives_the_sample_drawn_inside(name):
    units = make(name)
    eta = fields(50)
    u = units.draw_ahead(eta.shape, torch.Generator().manual_seed(3), eta.dtype, eta.device)
    if u is None:  # the type draws inside sample only; compiled loops leave its draws outside the graph
        return
    inside = units.sample(eta, 0.8, generator=torch.Generator().manual_seed(3))
    ahead = units.sample(eta, 0.8, generator=None, noise=u.clone())  # a draw may write into its noise
    assert torch.equal(ahead, inside) and torch.equal(units.sample(eta, 0.8, noise=u.clone()), ahead)
    assert units.sample(eta, 0.8, noise=u.clone()).dtype == eta.dtype and u.shape == eta.shape


@pytest.mark.parametrize("name", NAMES)
def test_states_agree_with_log_partition_and_lie_in_the_support(name):
    units = make(name)
    xs = states(units)
    if xs is None:
        pytest.skip(f"{name} has no finite state space")
    assert units.support.check(xs).all()
    units.validate(xs, exact=True)  # every state is valid exact data
    eta = fields()
    scores = units.statistic(xs) @ eta.T - units.base_energy(xs)[:, None]  # (n_states, n_fields)
    like = xs[:1].expand(len(eta), SIZE)
    torch.testing.assert_close(torch.logsumexp(scores, 0), units.log_partition(eta, like=like))
    # log_prob is normalised over the states, for every field
    log_p = units.log_prob(xs[:, None, :].expand(-1, len(eta), -1), eta)  # (n_states, n_fields)
    torch.testing.assert_close(torch.logsumexp(log_p, 0), torch.zeros(len(eta), dtype=torch.float64))


@pytest.mark.parametrize("name", NAMES)
def test_log_prob_is_the_exponential_family_density(name):
    units = make(name)
    eta = fields()
    x = units.sample(eta, generator=torch.Generator().manual_seed(3)).double()
    expected = -units.base_energy(x) + (units.statistic(x) * eta).sum(-1) - units.log_partition(eta, like=x)
    torch.testing.assert_close(units.log_prob(x, eta), expected)
    assert units.log_prob(x, eta).shape == (len(eta),)


def test_gaussian_log_prob_is_the_normal_density():
    units = make("gaussian")
    eta, x = fields(), fields(seed=5)
    sigma = units.sigma(torch.float64)
    normal = torch.distributions.Normal(sigma * eta, sigma)
    torch.testing.assert_close(units.log_prob(x, eta), normal.log_prob(x).sum(-1))


@pytest.mark.parametrize("name", NAMES)
def test_exact_validation_refuses_values_outside_the_support(name):
    units = make(name)
    row = units.mode(torch.zeros(1, SIZE, dtype=torch.float64))
    units.validate(row.expand(3, SIZE).clone(), exact=True)
    for value in OUTSIDE:
        x = row.expand(3, SIZE).clone()
        x[1, 0] = value
        if units.support.check(x).all():
            continue
        with pytest.raises(DataError, match="layer 'lay'"):
            units.validate(x, exact=True)
        break
    else:
        pytest.fail(f"no value outside the support of {name} found")


def test_data_support_is_wider_where_declared():
    units = make("bernoulli")
    x = torch.full((2, SIZE), 0.5, dtype=torch.float64)
    assert units.data_support.check(x).all() and not units.support.check(x).any()
    units.validate(x)  # training data may hold probabilities
    with pytest.raises(DataError, match=r"layer 'lay'.*\{0, 1\}.*row 0, column 0.*binarize"):
        units.validate(x, exact=True)


@pytest.mark.parametrize("name", NAMES)
def test_encode_round_trips_for_categorical_layers_and_refuses_otherwise(name):
    units = make(name)
    k = units.categories
    if k is None:
        with pytest.raises(DataError, match=rf"layer 'lay'.*{name}.*categorical"):
            units.encode(torch.tensor([0, 1]))
        return
    index = torch.arange(k).flip(0)
    rows = units.encode(index)
    assert rows.shape == (k, SIZE)
    units.validate(rows, exact=True)
    assert torch.equal(rows.argmax(-1), index)
    assert units.encode(1).shape == (SIZE,) and units.encode(1)[1] == 1
    with pytest.raises(DataError, match=rf"0\.\.{k - 1}"):
        units.encode(torch.tensor([0, k]))
    with pytest.raises(DataError, match=rf"0\.\.{k - 1}"):
        units.encode(-1)


@pytest.mark.parametrize("name", NAMES)
def test_the_torch_nn_form_reproduces_the_mean(name):
    units = make(name)
    try:
        activation = units.nn_activation()
        out_scale, in_scale = units.scales()
    except UnsupportedModel as e:
        assert "cannot be converted to torch.nn" in str(e) and "'lay'" in str(e)
        return
    eta = fields()
    like = units.sample(eta, generator=torch.Generator().manual_seed(4)).double()
    total = units.conserved(like)
    expected = units.mean(eta, like=like)
    got = out_scale * activation(eta) * (1 if total is None else total)
    torch.testing.assert_close(got, expected)
    # in_scale * x is what the layer sends through its factors
    torch.testing.assert_close(in_scale * like, units.statistic(like))
    loss = units.reconstruction_loss(eta, like)
    assert loss.shape == (len(eta),) and torch.isfinite(loss).all()


def test_a_type_without_a_torch_nn_form_is_refused_by_name():
    class Bare(pgmdbn.units.Units):
        name = "bare"

    class OwnStatistic(Bare):
        def statistic(self, x):
            return 2 * x

    units, own = Bare(2), OwnStatistic(2)
    units.layer_name = own.layer_name = "v"
    for method in (units.nn_activation, own.scales):
        with pytest.raises(UnsupportedModel, match="layer 'v' of type bare cannot be converted to torch.nn"):
            method()
    assert all(torch.equal(s, torch.ones(2)) for s in units.scales())  # a type that sends x itself
