"""The closed-form gradients of CD, PCD and DBM training (pgmdbn.gradients) equal autograd's
through the free energy, the reference, to 1e-6 in float64: for every registered unit type (the
built-ins, the spin plugin, an installed pgmdbn-units) on either side of an RBM and inside a
DBM, and for every built-in factor type (dense, centered, conv2d with plain and pooled units)."""
import copy

import pytest
import torch

import pgmdbn
from pgmdbn.engines.contrastive import CD, PCD
from pgmdbn.engines.dbm import DBMTrainer
from pgmdbn.errors import ArgumentError
from pgmdbn.gradients import has_closed_form

from test_unit_contract import NAMES, OPTIONS, spin_plugin  # noqa: F401  (the fixture registers the spin plugin)

TOL = 1e-6


def perturbed(model, seed=0, scale=0.3):
    """``model`` in float64 with every parameter moved at random (biases too)."""
    model = model.double()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * scale)
    return model


def data_for(model, rows=6, seed=1):
    """Rows drawn from the visible layer's own conditional at a random field (valid data of any type)."""
    units = model.layer(model.visible)
    gen = torch.Generator().manual_seed(seed)
    eta = torch.randn(rows, units.size, generator=gen, dtype=torch.float64) * 0.5
    return units.sample(eta, 1.0, gen)


def gradients(model, engine, data, gradient, updates=2, **options):
    """Each update's (loss value, gradients) for a copy of ``model`` trained by ``engine``."""
    model = copy.deepcopy(model)
    trainer = engine(model, generator=torch.Generator().manual_seed(3), gradient=gradient, **options)
    out = []
    for _ in range(updates):
        model.zero_grad()
        loss = trainer.loss({model.visible: data})
        loss.backward()
        out.append((loss.item(), [p.grad.clone() for p in model.parameters() if p.requires_grad]))
    return trainer, out


def assert_same(model, engine, data, **options):
    closed, got = gradients(model, engine, data, "closed", **options)
    # a type that trains more than its bias (dReLU's shapes, learned variances) falls back to autograd
    assert closed.closed == has_closed_form(model)
    _, want = gradients(model, engine, data, "autograd", **options)
    for (value, grads), (ref_value, ref_grads) in zip(got, want):
        assert value == pytest.approx(ref_value, abs=TOL)
        for g, r in zip(grads, ref_grads):
            assert torch.allclose(g, r, atol=TOL, rtol=0), (g - r).abs().max().item()


def add(model, name, unit, size):
    """A layer of ``size`` units of type ``unit`` (a pooled type as (size, 1, 1) blocks of one)."""
    shape = (size, 1, 1) if unit == "pooled_bernoulli" else None
    return model.add_layer(name, unit, None if shape else size, shape=shape, **OPTIONS.get(unit, {}))


def model_with(visible, hidden):
    model = add(add(pgmdbn.Model(), "v", visible, 6), "h", hidden, 3)
    return model.add_undirected("v", "h")


def closed_form_types():
    """The registered unit types whose only trained parameter is the bias (all but learned variances)."""
    names = []
    for name in NAMES:
        units = pgmdbn.registry.get("units", name)(3, **OPTIONS.get(name, {}))
        if units.bias_gradient(units.bias.detach()) is not None:
            names.append(name)
    return names


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("engine", [CD, PCD], ids=["cd", "pcd"])
def test_rbm_gradient_in_closed_form_equals_autograd_for_every_unit_type(name, engine):
    for visible, hidden in ((name, "bernoulli"), ("bernoulli", name)):
        model = perturbed(model_with(visible, hidden))
        assert_same(model, engine, data_for(model), k=2)


@pytest.mark.parametrize("name", NAMES)
def test_dbm_gradient_in_closed_form_equals_autograd_for_every_unit_type(name):
    model = add(add(add(pgmdbn.Model(), "v", "bernoulli", 4), "h1", name, 3), "h2", name, 3)
    model.add_undirected("v", "h1").add_undirected("h1", "h2")
    model = perturbed(model)
    assert_same(model, DBMTrainer, data_for(model), chains=5, k=2, mean_field_steps=4)


@pytest.mark.parametrize("engine,options", [(CD, {"k": 1}), (PCD, {"k": 2}), (DBMTrainer, {"chains": 4})],
                         ids=["cd", "pcd", "dbm"])
def test_centered_factor_gradient_in_closed_form_equals_autograd(engine, options):
    model = pgmdbn.dbm([5, 4, 3], factor="centered") if engine is DBMTrainer else pgmdbn.rbm(5, 4, factor="centered")
    model = perturbed(model)
    assert_same(model, engine, data_for(model), **options)


@pytest.mark.parametrize("hidden", ["bernoulli", "pooled_bernoulli"])
@pytest.mark.parametrize("engine", [CD, PCD], ids=["cd", "pcd"])
def test_conv_factor_gradient_in_closed_form_equals_autograd(hidden, engine):
    model = pgmdbn.Model()
    model.add_layer("v", "bernoulli", shape=(1, 6, 6), channels=1)
    options = {"pool": 2} if hidden == "pooled_bernoulli" else {}
    model.add_layer("h", hidden, shape=(2, 4, 4), channels=2, **options)
    model.add_undirected("v", "h", factor="conv2d", kernel=3)
    model = perturbed(model, scale=0.2)
    assert_same(model, engine, data_for(model), k=1)


def test_units_that_train_more_than_their_bias_take_the_autograd_path():
    model = pgmdbn.Model().add_layer("v", "gaussian", 4, learn_sigma=True).add_layer("h", "bernoulli", 3)
    model.add_undirected("v", "h")
    assert not has_closed_form(model)
    assert not PCD(model, generator=torch.Generator().manual_seed(0)).closed
    assert {"bernoulli", "gaussian", "softmax", "pooled_bernoulli", "replicated_softmax"} <= set(closed_form_types())


def test_gradient_option_is_checked():
    with pytest.raises(ArgumentError, match="gradient='exact'.*'closed'.*'autograd'"):
        PCD(pgmdbn.rbm(4, 3, seed=0), gradient="exact")
