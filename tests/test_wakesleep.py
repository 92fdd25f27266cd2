"""Wake-sleep and reweighted wake-sleep: they raise the exact log-likelihood of a tiny sigmoid
belief net, each phase reaches only its own parameters, and IWAE agrees with the exact value."""
import pytest
import torch

import pgmdbn
from pgmdbn.engines.wakesleep import ReweightedWakeSleep, WakeSleep
from pgmdbn.inference import log_q
from pgmdbn.errors import UnsupportedModel
from pgmdbn.inference import up_pass

PROTOTYPES = torch.tensor([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1], [1, 0, 1, 0, 1, 0], [0, 1, 0, 1, 0, 1.]])


def prototypes(n: int, flip: float = 0.05, seed: int = 0) -> torch.Tensor:
    """(n, 6) binary rows: one of four prototypes with each bit flipped with probability ``flip``."""
    gen = torch.Generator().manual_seed(seed)
    x = PROTOTYPES[torch.randint(len(PROTOTYPES), (n,), generator=gen)]
    return (x + (torch.rand(x.shape, generator=gen) < flip).float()) % 2


DATA = prototypes(400)


class _Engines:
    @pgmdbn.hookimpl
    def pgmdbn_register_engines(self):
        return {"wakesleep": WakeSleep, "rws": ReweightedWakeSleep}


@pytest.fixture(scope="module", autouse=True)
def registered():
    """Register the engines for fit unless the built-ins already do."""
    names = pgmdbn.registry.names("engines")
    plugin = None if {"wakesleep", "rws"} <= set(names) else _Engines()
    if plugin is not None:
        pgmdbn.register_plugin(plugin, "test_wakesleep")
    yield
    if plugin is not None:
        pgmdbn.unregister_plugin(plugin)


def _exact(model, data=DATA) -> float:
    return pgmdbn.log_likelihood(model, data, method="exact").mean


@pytest.fixture(scope="module")
def trained(registered):
    """{method: (exact LL before, after, model, history)} for WS and RWS (K=5) trained alike."""
    out = {}
    for method, options in [("wakesleep", {}), ("rws", {"samples": 5})]:
        model = pgmdbn.sbn([6, 4, 3], seed=0)
        model.layer("v").init_from_data(DATA)
        before = _exact(model)
        result = pgmdbn.fit(model, DATA, method=method, epochs=20, batch_size=20, lr=0.05, momentum=0.9,
                            seed=0, progress=False, engine_options=options)
        out[method] = (before, _exact(model), model, result.history)
    return out


@pytest.mark.parametrize("method", ["wakesleep", "rws"])
def test_training_raises_exact_log_likelihood(trained, method):
    before, after, _, history = trained[method]
    assert after > before + 1.0, (before, after)
    assert history[-1]["bound"] > history[0]["bound"] + 0.5, history
    assert history[-1]["bound"] <= after + 0.05  # a lower bound, up to sampling noise


def test_reweighted_is_at_least_as_good(trained):
    assert trained["rws"][1] >= trained["wakesleep"][1] - 0.05, {m: t[:2] for m, t in trained.items()}


def test_iwae_approaches_exact(trained):
    model = trained["wakesleep"][2]
    exact = _exact(model)
    one = pgmdbn.log_likelihood(model, DATA, method="iwae", k=1).mean
    many = pgmdbn.log_likelihood(model, DATA, method="iwae", k=500).mean
    assert one < many <= exact + 0.01, (one, many, exact)
    assert many > exact - 0.05, (many, exact)


def _grads(model) -> tuple[set, set]:
    """Names of the generative and of the recognition parameters with a non-zero gradient."""
    touched = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    recognition = {n for n in touched if "recognition" in n}
    return touched - recognition, recognition


def test_each_phase_reaches_only_its_parameters():
    model = pgmdbn.sbn([6, 4, 3], seed=0, init_scale=0.5)
    engine = WakeSleep(model, generator=torch.Generator().manual_seed(0))
    batch = {"v": DATA[:50]}
    engine.wake(batch).backward()
    generative, recognition = _grads(model)
    assert generative and not recognition
    model.zero_grad(set_to_none=True)
    engine.sleep(batch["v"]).backward()
    generative, recognition = _grads(model)
    assert recognition == {n for n, _ in model.named_parameters() if "recognition" in n} and not generative
    assert len(batch["v"]) == 50 and torch.equal(batch["v"], DATA[:50])  # the dream did not write into the data


def test_reweighted_wake_phase_trains_both_models():
    model = pgmdbn.sbn([6, 4, 3], seed=0, init_scale=0.5)
    engine = ReweightedWakeSleep(model, generator=torch.Generator().manual_seed(0), samples=3)
    engine.loss({"v": DATA[:50]}).backward()
    generative, recognition = _grads(model)
    assert generative and recognition
    with pytest.raises(ValueError, match="samples"):
        ReweightedWakeSleep(model, samples=0)


def test_log_q_matches_the_up_pass():
    model = pgmdbn.sbn([6, 4, 3], seed=0, init_scale=0.5)
    states, lq = up_pass(model, DATA[:30], torch.Generator().manual_seed(0))
    assert torch.allclose(log_q(model, states), lq)


def test_any_dag_of_layers():
    """A skip connection h2 → v beside h2 → h1 → v: both passes follow the DAG."""
    model = (pgmdbn.Model().add_layer("v", "bernoulli", 6).add_layer("h1", "bernoulli", 3)
             .add_layer("h2", "bernoulli", 2).add_directed("h2", "h1").add_directed("h1", "v")
             .add_directed("h2", "v").init_weights(0.01, seed=0))
    model.layer("v").init_from_data(DATA)
    before = _exact(model)
    pgmdbn.fit(model, DATA, method="rws", epochs=8, batch_size=20, lr=0.05, momentum=0.9, progress=False,
               engine_options={"samples": 3, "sleep": True})
    assert _exact(model) > before + 0.5


def test_undirected_factor_is_refused_through_fit():
    with pytest.raises(UnsupportedModel, match="all-directed.*h1--h2.*trainers that handle a dbn"):
        pgmdbn.fit(pgmdbn.dbn([6, 4, 3], seed=0), DATA, method="wakesleep", epochs=1, progress=False)
