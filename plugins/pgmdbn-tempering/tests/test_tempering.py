"""The tempering plugin: "pt" and "tt" register through the engine hook, sample the exact
(tempered) marginals of RBMs small enough to enumerate, train, reproduce, resume, and refuse bad
options with errors that name them."""
import copy
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import pgmdbn
from pgmdbn.protocols import Trainer

PLUGIN_DIR = Path(__file__).resolve().parents[1]
if str(PLUGIN_DIR) not in sys.path:
    sys.path.insert(0, str(PLUGIN_DIR))

import pgmdbn_tempering  # noqa: E402  (the plugin directory goes on the path first, as for pgmdbn-spin)
from pgmdbn_tempering import ParallelTempering, TemperedTransitions  # noqa: E402


@pytest.fixture
def plugin():
    pgmdbn.register_plugin(pgmdbn_tempering, name="pgmdbn_tempering")
    yield pgmdbn_tempering
    pgmdbn.unregister_plugin(pgmdbn_tempering)  # leaves the registry as the core tests expect it


# --- models whose marginals enumeration gives --------------------------------------------------

def bimodal_rbm(a=3.0):
    """5 Bernoulli visible, 3 hidden: two modes (about 0.47 each) that plain Gibbs at beta = 1 does
    not cross in hundreds of sweeps (its visible marginal is off by a total variation of 0.45)."""
    model = pgmdbn.rbm(5, 3)
    with torch.no_grad():
        model.factor("v", "h").weight.copy_(a * torch.tensor([1.0, -1.0, 1.0]).expand(5, 3))
        model.layer("v").bias.fill_(-a / 2)
        model.layer("h").bias.copy_(2.5 * a * torch.tensor([-1.0, 1.0, -1.0]))
    return model


def random_rbm(visible="bernoulli", seed=0, scale=3.0, n_visible=5, **config):
    """Weights and biases ~ N(0, scale²): several sharp modes."""
    model = pgmdbn.Model().add_layer("v", visible, n_visible, **config).add_layer("h", "bernoulli", 3)
    model.add_undirected("v", "h")
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * scale)
    return model


def exact_tempered(model, beta, like=None):
    """p_beta(v) ∝ Σ_h exp(-B(v) + beta (b·v + c·h + vᵀW h)) over the visible states, by hand:
    B the visible layer's base energy (only it stays untempered), hidden units binary."""
    v = model.layer("v").states(like).double()
    h = model.layer("h").states().double()
    b, c = model.layer("v").bias.detach().double(), model.layer("h").bias.detach().double()
    w = model.factor("v", "h").weight.detach().double()
    log_joint = (-model.layer("v").base_energy(v)[:, None]
                 + beta * ((v @ b)[:, None] + (h @ c)[None, :] + (v @ w) @ h.T))
    return torch.softmax(torch.logsumexp(log_joint, 1), 0), v


def moves(engine):
    """The Markov chain under test: PT's whole update; for TT the tempered-transition move alone,
    without the Gibbs sweeps at beta = 1 that would mix these small models by themselves and
    hide a wrong acceptance rule."""
    return engine.transition if isinstance(engine, TemperedTransitions) else engine.advance


def visit_frequencies(engine, start, updates, burn_in, states):
    """Each replica's visible-state frequencies over ``updates`` moves after ``burn_in``: (replicas, states)."""
    index = {tuple(row.tolist()): i for i, row in enumerate(states)}
    move = moves(engine)
    with torch.no_grad():
        engine.chains.states = engine.begin(start)
        counts = torch.zeros(len(engine.ladder()), len(states), dtype=torch.float64)
        for step in range(updates):
            move(engine.chains.states)
            if step >= burn_in:
                for t, rows in enumerate(engine.chains.states["v"]):
                    ids = torch.tensor([index[tuple(r)] for r in rows.double().tolist()])
                    counts[t] += torch.bincount(ids, minlength=len(states))
    return counts / counts.sum(1, keepdim=True)


def total_variation(p, q):
    return 0.5 * (p - q).abs().sum().item()


# --- registration and protocol -------------------------------------------------------------

def test_registers_through_the_engine_hook_and_meets_the_trainer_protocol(plugin):
    assert {"pt", "tt"} <= set(pgmdbn.registry.names("engines"))
    for name, cls in (("pt", ParallelTempering), ("tt", TemperedTransitions)):
        assert pgmdbn.registry.get("engines", name) is cls
        assert pgmdbn.registry.origin("engines", name) == "pgmdbn_tempering"
        assert cls.kind == "trainer" and cls.structures == ("rbm",)
        engine = cls(pgmdbn.rbm(6, 4, seed=0), k=1, generator=torch.Generator().manual_seed(0))
        assert isinstance(engine, Trainer)
        assert engine.loss({"v": torch.zeros(4, 6)}).ndim == 0
    assert "pt" in pgmdbn.protocols.handlers("engines", "rbm", role="trainer")


def test_default_ladder_is_ten_evenly_spaced_betas():
    engine = ParallelTempering(pgmdbn.rbm(3, 2))
    assert engine.betas == tuple((10 - i) / 10 for i in range(10))
    assert TemperedTransitions(pgmdbn.rbm(3, 2), temperatures=4).betas == (1.0, 0.75, 0.5, 0.25)
    for betas in ([1, 0.5, 0.25], (1.0, 0.5, 0.25), torch.tensor([1.0, 0.5, 0.25]), np.array([1.0, 0.5, 0.25])):
        assert ParallelTempering(pgmdbn.rbm(3, 2), betas=betas).betas == (1.0, 0.5, 0.25)
    assert ParallelTempering(pgmdbn.rbm(3, 2), temperatures=np.int64(3)).betas == (1.0, 2 / 3, 1 / 3)


# --- sampling the exact distributions ----------------------------------------------------------
# Seeded, so each run gives the same numbers; the tolerances are what sampling noise allows. For
# N independent draws over S states E[TV] ≈ Σ_s sqrt(p_s (1 - p_s) / (2π N)), about 0.005 here
# (N = 50k per replica); the chains are correlated, so 0.025 leaves room. Measured: PT below 0.012
# on every replica, TT below 0.011. Seeded mutants of the acceptance rule fail: its exponent
# times 2 or 1/2 gives 0.045-0.1 on at least one model, a sign error 0.17-0.6, the base energy
# tempered too 0.086-0.09 on the replicated-softmax model; plain Gibbs at beta = 1 on the
# bimodal model stays in one mode (0.45).
TOL = 0.025


@pytest.mark.parametrize("make", [bimodal_rbm, random_rbm], ids=["bimodal", "random"])
def test_pt_samples_every_replicas_exact_tempered_marginal(make):
    model = make()
    p1, states = exact_tempered(model, 1.0)
    exact = pgmdbn.log_likelihood(model, states.float(), method="exact", progress=False).per_example.exp()
    assert torch.allclose(p1, exact, atol=1e-9)  # the hand enumeration agrees with pgmdbn's at beta = 1
    engine = ParallelTempering(model, generator=torch.Generator().manual_seed(1), temperatures=6)
    freq = visit_frequencies(engine, {"v": torch.zeros(200, 5)}, 300, 50, states)
    tv = [total_variation(freq[t], exact_tempered(model, beta)[0]) for t, beta in enumerate(engine.betas)]
    rates = engine.acceptance.rates()
    print("PT TV per replica", [f"{d:.4f}" for d in tv], "swap rates", [f"{r:.3f}" for r in rates])
    assert max(tv) < TOL, tv
    assert all(0.05 < r < 0.99 for r in rates), rates  # swaps happen, and some are refused


@pytest.mark.parametrize("make", [bimodal_rbm, random_rbm], ids=["bimodal", "random"])
def test_tt_samples_the_exact_marginal(make):
    model = make()
    exact, states = exact_tempered(model, 1.0)
    engine = TemperedTransitions(model, generator=torch.Generator().manual_seed(1), temperatures=6)
    freq = visit_frequencies(engine, {"v": torch.zeros(200, 5)}, 300, 50, states)
    tv = total_variation(freq[0], exact)
    rate = engine.acceptance.pooled()
    print(f"TT TV {tv:.4f} transition rate {rate:.3f}")
    assert tv < TOL, tv
    assert 0.05 < rate < 0.99, rate


@pytest.mark.parametrize("cls", [ParallelTempering, TemperedTransitions])
def test_a_unit_type_with_a_base_energy_keeps_it_untempered(cls):
    """Replicated-softmax counts: the multinomial coefficient is a base energy, and the document
    length a conserved quantity every replica of a row shares, so swaps and paths keep it."""
    model = random_rbm("replicated_softmax", seed=2, scale=1.5, n_visible=3)
    like = torch.tensor([[2.0, 2.0, 1.0]])  # documents of 5 words over 3: 21 count vectors
    p1, states = exact_tempered(model, 1.0, like)
    exact = pgmdbn.log_likelihood(model, states.float(), method="exact", progress=False).per_example.exp()
    assert torch.allclose(p1, exact, atol=1e-9)
    engine = cls(model, generator=torch.Generator().manual_seed(3), temperatures=4)
    freq = visit_frequencies(engine, {"v": like.expand(200, 3)}, 250, 50, states)
    tv = [total_variation(freq[t], exact_tempered(model, beta, like)[0]) for t, beta in enumerate(engine.ladder())]
    print(cls.__name__, "replicated softmax TV", [f"{d:.4f}" for d in tv], "rates", engine.acceptance.rates())
    assert max(tv) < TOL, tv


# --- training ----------------------------------------------------------------------------------

def bimodal_data(n=120, seed=0):
    """Two prototypes of 6 bits with 10% of the bits flipped."""
    gen = torch.Generator().manual_seed(seed)
    prototypes = torch.tensor([[1.0, 1, 1, 0, 0, 0], [0.0, 0, 0, 1, 1, 1]])
    x = prototypes[torch.randint(0, 2, (n,), generator=gen)]
    flip = torch.rand(x.shape, generator=gen) < 0.1
    return torch.where(flip, 1 - x, x)


DATA = bimodal_data()
FIT = dict(k=1, batch_size=20, lr=0.1, momentum=0.8, seed=5, progress=False)
OPTIONS = {"pt": {"temperatures": 5}, "tt": {"temperatures": 5}}


def tiny_rbm():
    return pgmdbn.rbm(6, 3, seed=0, init_scale=0.1)


@pytest.mark.parametrize("method", ["pt", "tt"])
def test_training_raises_the_exact_likelihood_and_reproduces(plugin, method):
    models = [tiny_rbm() for _ in range(2)]
    before = pgmdbn.log_likelihood(models[0], DATA, progress=False).mean
    results = [pgmdbn.fit(m, DATA, method=method, epochs=15, engine_options=OPTIONS[method], **FIT) for m in models]
    after = pgmdbn.log_likelihood(models[0], DATA, progress=False).mean
    pcd = tiny_rbm()
    pgmdbn.fit(pcd, DATA, method="pcd", epochs=15, **FIT)
    plain = pgmdbn.log_likelihood(pcd, DATA, progress=False).mean
    rate = results[0].history[-1]["swap_rate" if method == "pt" else "transition_rate"]
    print(method, f"log-likelihood {before:.3f} -> {after:.3f} (PCD, same budget: {plain:.3f}), acceptance {rate:.3f}")
    assert after > before + 1.0, (before, after)  # from about -4.18 to about -2.7 nats
    assert after > plain + 0.5, (after, plain)  # PCD's chains do not keep up at this rate and momentum
    assert 0 < rate < 1
    for (name, a), b in zip(models[0].state_dict().items(), models[1].state_dict().values()):
        assert torch.equal(a, b), name  # seeded runs are bit-identical
    assert results[0].history[-1]["loss"] == results[1].history[-1]["loss"]


@pytest.mark.parametrize("method", ["pt", "tt"])
def test_resume_gives_the_uninterrupted_parameters(plugin, method, tmp_path):
    kw = dict(method=method, epochs=4, engine_options=OPTIONS[method], **FIT)
    full = tiny_rbm()
    whole = pgmdbn.fit(full, DATA, checkpoint_dir=tmp_path / "a", **kw)
    part = tiny_rbm()
    pgmdbn.fit(part, DATA, checkpoint_dir=tmp_path / "b", checkpoint_every=2, **{**kw, "epochs": 2})
    _, extra, _ = pgmdbn.io.load(tmp_path / "b" / "epoch0002.safetensors", with_extra=True)
    assert extra["chain/v"].shape == ((5, 20, 6) if method == "pt" else (1, 20, 6))  # every replica is kept
    resumed = tiny_rbm()
    result = pgmdbn.fit(resumed, DATA, resume=tmp_path / "b" / "epoch0002.safetensors", **kw)
    for (name, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    def timeless(history):
        return [{key: value for key, value in m.items() if key != "seconds"} for m in history]

    assert timeless(result.history) == timeless(whole.history)  # losses and acceptance rates too


# --- hostile options ---------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [ParallelTempering, TemperedTransitions])
@pytest.mark.parametrize("options, error, words", [
    ({"temperatures": 1}, ValueError, r"temperatures=1 must be at least 2"),
    ({"temperatures": 0}, ValueError, r"temperatures=0 must be at least 2"),
    ({"temperatures": 2.5}, TypeError, r"temperatures=2.5 must be an integer"),
    ({"temperatures": "10"}, TypeError, r"temperatures='10' must be an integer"),
    ({"temperatures": True}, TypeError, r"temperatures=True must be an integer"),
    ({"betas": [1.0, 0.5, 0.7]}, ValueError, r"betas must decrease strictly.*betas\[2\]=0.7"),
    ({"betas": [1.0, 1.0]}, ValueError, r"betas must decrease strictly"),
    ({"betas": [1.0, 0.5, 0.0]}, ValueError, r"betas\[2\]=0.0 is outside \(0, 1\]"),
    ({"betas": [1.0, -0.5]}, ValueError, r"betas\[1\]=-0.5 is outside \(0, 1\]"),
    ({"betas": [1.0, float("nan")]}, ValueError, r"betas\[1\]=nan is outside"),
    ({"betas": [0.9, 0.5]}, ValueError, r"betas\[0\]=0.9 must be 1"),
    ({"betas": [1.5, 1.0]}, ValueError, r"betas\[0\]=1.5 must be 1"),
    ({"betas": [1.0]}, ValueError, r"betas=\[1.0\] needs at least two"),
    ({"betas": "1,0.5"}, TypeError, r"betas='1,0.5' must be a list"),
    ({"betas": 0.5}, TypeError, r"betas=0.5 must be a list"),
    ({"betas": [1.0, "0.5"]}, TypeError, r"betas\[1\]='0.5' must be a real number"),
    ({"betas": torch.ones(2, 2)}, TypeError, r"betas must be a flat list"),
    ({"betas": np.ones((2, 2))}, TypeError, r"betas must be a flat list"),
    ({"temperatures": 4, "betas": [1.0, 0.5]}, ValueError, r"temperatures=4 and betas=.*both given"),
    ({"k": 0}, ValueError, r"k=0 must be a positive integer"),
])
def test_bad_options_are_refused_naming_the_argument(cls, options, error, words):
    with pytest.raises(error, match=words):
        cls(pgmdbn.rbm(4, 2), **options)


def test_bad_options_reach_the_caller_of_fit(plugin):
    with pytest.raises(pgmdbn.ArgumentError, match="temperatures=1 must be at least 2"):
        pgmdbn.fit(pgmdbn.rbm(6, 3), DATA, method="pt", engine_options={"temperatures": 1}, progress=False)


@pytest.mark.parametrize("method", ["pt", "tt"])
def test_a_dbm_is_refused_naming_the_trainers_that_take_one(plugin, method):
    with pytest.raises(pgmdbn.UnsupportedModel, match=rf"engine '{method}'.*needs an RBM.*trainers that handle a "
                                                      rf"dbm: dbm\)"):
        pgmdbn.fit(pgmdbn.dbm([6, 4, 3], seed=0), DATA, method=method, epochs=1, progress=False)


def test_resuming_with_another_ladder_is_refused():
    engine = ParallelTempering(pgmdbn.rbm(4, 2, seed=0), temperatures=4)
    engine.loss({"v": torch.zeros(3, 4)})
    saved = copy.deepcopy(engine.state())
    other = ParallelTempering(pgmdbn.rbm(4, 2, seed=0), temperatures=3)
    with pytest.raises(pgmdbn.ArgumentError, match="not 3 stacked replicas.*temperatures or betas"):
        other.load_state(saved)
    same = ParallelTempering(pgmdbn.rbm(4, 2, seed=0), temperatures=4)
    same.load_state(saved)
    assert all(torch.equal(same.state()[key], value) for key, value in saved.items())
    assert math.isfinite(same.monitor({"v": torch.zeros(3, 4)})["swap_rate"])
