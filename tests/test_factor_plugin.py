"""A factor type from outside the package works with every engine and estimator that handles
its structure, with no change to any of them.

The masked factor below lives only in this test module and reaches the models through the
``pgmdbn_register_factors`` hook, as a third-party plugin would: a dense factor whose units
connect only where a fixed random mask (seeded, so the config rebuilds it) says so. A unit
plugin from this file (±1 spins) joins it in the same models.
"""
import math

import pytest
import torch
from torch.nn import functional as F

import pgmdbn
from pgmdbn.errors import PluginError
from pgmdbn.factors import Dense
from pgmdbn.graph import Model
from pgmdbn.protocols import handlers
from pgmdbn.units import Units


class Masked(Dense):
    """W ⊙ M with a fixed 0/1 mask M drawn with probability ``density`` from ``seed``."""

    name = "masked"

    def __init__(self, a, b, units_a, units_b, directed, density: float = 0.5, seed: int = 0):
        super().__init__(a, b, units_a, units_b, directed)
        self.density, self.seed = density, seed
        gen = torch.Generator().manual_seed(seed)
        self.register_buffer("mask", (torch.rand(self.size_a, self.size_b, generator=gen) < density).float(),
                             persistent=False)

    def matrix(self):
        return self.weight * self.mask.to(self.weight.dtype)

    def recognise(self, stat_child):
        r = (self.recognition * self.mask).to(stat_child.dtype)
        return stat_child @ r.T + self.recognition_bias.to(stat_child.dtype)

    def config(self):
        return {"density": self.density, "seed": self.seed}


class Spin(Units):
    """±1 units: p(x_i = +1 | eta) = sigmoid(2 beta eta_i)."""

    name = "spin_t"

    def log_partition(self, eta, beta=1.0, like=None):
        return (F.softplus(2 * beta * eta) - beta * eta).sum(-1)

    def mean(self, eta, beta=1.0, like=None):
        return torch.tanh(beta * eta)

    def sample(self, eta, beta=1.0, generator=None, like=None):
        p = torch.sigmoid(2 * beta * eta)
        u = torch.rand(p.shape, generator=generator, device=p.device, dtype=p.dtype)
        return torch.where(u < p, 1.0, -1.0).to(p.dtype)

    def mode(self, eta, like=None):
        return torch.where(eta >= 0, 1.0, -1.0).to(eta.dtype)

    def state_chunks(self, chunk_size, like=None):
        bits = torch.arange(self.size)
        for start in range(0, 2 ** self.size, chunk_size):
            codes = torch.arange(start, min(start + chunk_size, 2 ** self.size)).unsqueeze(-1)
            yield ((codes >> bits) & 1).to(torch.get_default_dtype()) * 2 - 1

    def states(self, like=None):
        return torch.cat(list(self.state_chunks(2 ** 16)))

    def log_state_count(self, like=None):
        return self.size * math.log(2)

    def unit_values(self):
        return torch.tensor([-1.0, 1.0])


class Plugin:
    @pgmdbn.hookimpl
    def pgmdbn_register_factors(self):
        return {"masked": Masked}

    @pgmdbn.hookimpl
    def pgmdbn_register_units(self):
        return {"spin_t": Spin}


@pytest.fixture(autouse=True)
def plugin():
    instance = Plugin()
    pgmdbn.register_plugin(instance, name="masked_factors")
    yield instance
    if pgmdbn.registry.manager.is_registered(instance):
        pgmdbn.unregister_plugin(instance)


OPTIONS = {"density": 0.6, "seed": 3}


def build(structure: str, visible: str = "bernoulli") -> Model:
    """A model of ``structure`` with masked factors and ``visible`` units (a plugin's, or built in)."""
    if structure == "rbm":
        return pgmdbn.rbm(6, 4, visible=visible, init_scale=0.5, seed=1, factor="masked", factor_options=OPTIONS)
    make = {"dbm": pgmdbn.dbm, "dbn": pgmdbn.dbn, "sbn": pgmdbn.sbn}[structure]
    return make([6, 4, 3], visible=visible, init_scale=0.5, seed=1, factor="masked", factor_options=OPTIONS)


def data(n=64, visible: str = "bernoulli"):
    gen = torch.Generator().manual_seed(0)
    bits = (torch.rand(n, 6, generator=gen) < 0.3).float()
    return bits * 2 - 1 if visible == "spin_t" else bits


STRUCTURES = pytest.mark.parametrize("structure", ["rbm", "dbm", "dbn", "sbn"])
VISIBLE = pytest.mark.parametrize("visible", ["bernoulli", "spin_t"])


def dense_copy(model: Model) -> Model:
    """The same model with built-in dense factors holding the masked matrices."""
    copy = Model()
    for name, units in model.layers.items():
        copy.add_layer(name, units.name, units.size)
        copy.layer(name).load_state_dict(units.state_dict())
    for f in model.factors.values():
        (copy.add_directed if f.directed else copy.add_undirected)(f.a, f.b, weight=f.matrix().detach())
        if f.directed:
            copy.factor(f.a, f.b).recognition.data.copy_(f.recognition * f.mask)
            copy.factor(f.a, f.b).recognition_bias.data.copy_(f.recognition_bias)
    return copy


def test_masked_factor_matches_a_dense_copy_exactly():
    for structure in ("rbm", "dbm", "dbn", "sbn"):
        model = build(structure).double()
        reference = dense_copy(model).double()
        for f in model.factors.values():
            assert (f.matrix()[f.mask == 0] == 0).all() and (f.matrix() != 0).any()
        ours = pgmdbn.log_likelihood(model, data(8), "exact", progress=False)
        theirs = pgmdbn.log_likelihood(reference, data(8), "exact", progress=False)
        assert torch.allclose(ours.per_example, theirs.per_example, atol=1e-9, rtol=0), structure


@STRUCTURES
@VISIBLE
def test_every_trainer_for_the_structure_trains_it(structure, visible):
    trainers = handlers("engines", structure, role="trainer")
    assert trainers, structure
    for method in trainers:
        model = build(structure, visible)
        factor = next(iter(model.factors.values()))
        before = factor.matrix().detach().clone()
        result = pgmdbn.fit(model, data(64, visible), method=method, epochs=2, batch_size=16, lr=0.05,
                            progress=False)
        after = factor.matrix().detach()
        assert len(result.history) == 2 and math.isfinite(result.history[-1]["loss"]), method
        assert not torch.equal(before, after), f"{method} did not move the weights"
        assert (after[factor.mask == 0] == 0).all(), f"{method} leaked through the mask"


@STRUCTURES
@VISIBLE
def test_every_sampler_for_the_structure_samples_it(structure, visible):
    values = set(data(64, visible).unique().tolist())
    for method in handlers("engines", structure, role="sampler"):
        states = pgmdbn.sample(build(structure, visible), 5, steps=3, method=method, seed=0)
        assert states["v"].shape == (5, 6) and set(states["v"].unique().tolist()) <= values, method


@STRUCTURES
@VISIBLE
def test_every_estimator_for_the_structure_evaluates_it(structure, visible):
    model = build(structure, visible).double()
    x = data(16, visible)
    exact = pgmdbn.log_likelihood(model, x, "exact", progress=False).mean
    options = {"ais": {"n_chains": 200, "betas": torch.linspace(0, 1, 2000, dtype=torch.float64)},
               "raise": {"betas": torch.linspace(0, 1, 500, dtype=torch.float64)},
               "bound": {"k": 20}, "iwae": {"k": 200}, "pl": {}, "exact": {}}
    for method in handlers("estimators", structure):
        result = pgmdbn.log_likelihood(model, x, method, progress=False, **options.get(method, {}))
        assert math.isfinite(result.mean), method
        if method in ("ais", "raise", "iwae"):
            assert abs(result.mean - exact) < 0.3, (method, result.mean, exact)
        if result.kind in ("lower bound", "stochastic lower bound"):
            assert result.mean <= exact + 0.05, (method, result.mean, exact)


def test_the_unit_plugin_enumerates_like_brute_force():
    model = pgmdbn.rbm(6, 4, visible="spin_t", init_scale=0.3, seed=0, factor="masked",
                       factor_options=OPTIONS).double()
    x = data(32) * 2 - 1
    brute = torch.logsumexp(torch.stack([-model.free_energy({"v": v[None]})[0]
                                         for v in model.layer("v").states().double()]), 0)
    assert abs(pgmdbn.log_partition(model, progress=False).log_z - brute.item()) < 1e-9
    pgmdbn.fit(model, x, method="pcd", epochs=2, batch_size=8, progress=False)
    assert set(pgmdbn.sample(model, 4, steps=2, method="gibbs")["v"].unique().tolist()) <= {-1.0, 1.0}


def test_saved_file_names_the_factor_type_and_needs_its_plugin(tmp_path, plugin):
    model = build("dbn")
    path = pgmdbn.save(model, tmp_path / "masked.safetensors")
    factors = pgmdbn.io.read_info(path)["spec"]["factors"]
    assert {(f["factor"], f["plugin"]) for f in factors} == {("masked", "masked_factors")}
    assert factors[0]["config"] == OPTIONS
    loaded = pgmdbn.load(path)
    assert torch.equal(loaded.weight("v", "h1"), model.weight("v", "h1"))
    pgmdbn.unregister_plugin(plugin)
    with pytest.raises(PluginError, match="'masked'.*'masked_factors'"):
        pgmdbn.load(path)
