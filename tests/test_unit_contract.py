"""The unit-type contract beyond the conformance kit, for every registered unit type (the
built-ins, the spin plugin and any installed plugin): annealing changes in float32 at large
fields, the Gaussian density, wider data supports, class indices, the refusal of a type without
a torch.nn form. The kit itself (pgmdbn.testing.check_unit_type: log partition, mean, log_prob
and samples against enumeration or quadrature, states, support, torch.nn form, config round
trips) runs on the built-ins in tests/test_conformance.py and on each plugin package's types in
its own tests (plugins/*/tests)."""
from pathlib import Path

import pytest
import torch

import pgmdbn
from pgmdbn.errors import DataError, UnsupportedModel

SPIN_DIR = Path(__file__).resolve().parents[1] / "plugins" / "pgmdbn-spin"
SIZE = 3
# constructor arguments a type needs to describe its conditional without data
OPTIONS = {"replicated_softmax": {"length": 3}, "pooled_bernoulli": {"pool": 1},
           "potts": {"states": 3}}  # an installed pgmdbn-units (plugins/): one 3-state site
# types that lay their units out in space get a shape (Model.add_layer sets it); the pooled type's
# blocks of 2x2 are checked against brute force in tests/test_conv.py
SHAPES = {"pooled_bernoulli": (3, 1, 1)}


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


def test_the_spin_plugin_is_among_the_types():
    assert {"bernoulli", "gaussian", "softmax", "replicated_softmax", "spin"} <= set(NAMES)


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


def test_gaussian_log_prob_is_the_normal_density():
    units = make("gaussian")
    eta, x = fields(), fields(seed=5)
    sigma = units.sigma(torch.float64)
    normal = torch.distributions.Normal(sigma * eta, sigma)
    torch.testing.assert_close(units.log_prob(x, eta), normal.log_prob(x).sum(-1))


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
