"""pgmdbn.pyro: a sigmoid belief net and a DBN's directed part as pyro models with named sites,
the recognition model as the guide; pyro's own inference matches pgmdbn's exact likelihoods."""
import math

import pyro
import pytest
import torch
from pyro import poutine
from pyro.infer import TraceEnum_ELBO, config_enumerate
from pyro.infer.importance import vectorized_importance_weights

import pgmdbn
from pgmdbn.pyro import to_pyro


@pytest.fixture
def sbn():
    model = pgmdbn.sbn([6, 4, 3], init_scale=1.0, seed=0).double()
    x = (torch.rand(8, 6, generator=torch.Generator().manual_seed(1)) < 0.4).double()
    return model, x


def sample_sites(trace) -> list[str]:
    return [n for n, s in trace.nodes.items() if s["type"] == "sample" and n != "data"]  # "data": the plate


def empty_guide(data, n=None):
    pass


def enumerated_log_likelihood(pyro_model, x) -> float:
    """Σ_i log p(v_i) by pyro's TraceEnum_ELBO: every hidden site enumerated in parallel and
    summed out exactly (tensor variable elimination); the guide has no latent sites."""
    pyro.clear_param_store()
    elbo = TraceEnum_ELBO(max_plate_nesting=1)
    return -elbo.differentiable_loss(config_enumerate(pyro_model, "parallel"), empty_guide, x).item()


def test_sites_are_the_layers_by_name(sbn):
    model, x = sbn
    pyro_model, guide = to_pyro(model)
    trace = poutine.trace(pyro_model).get_trace(x)
    assert sample_sites(trace) == ["h2", "h1", "v"] and trace.nodes["v"]["is_observed"]
    assert trace.nodes["h1"]["value"].shape == (8, 4)
    guide_trace = poutine.trace(guide).get_trace(x)
    assert sample_sites(guide_trace) == ["h1", "h2"]
    prior = poutine.trace(pyro_model).get_trace(n=5)
    assert prior.nodes["v"]["value"].shape == (5, 6)  # drawn forward, not observed


def test_trace_enum_elbo_matches_pgmdbn_exact_on_an_sbn(sbn):
    model, x = sbn
    exact = pgmdbn.log_likelihood(model, x, method="exact")
    assert exact.kind == "exact"
    pyro_model, _ = to_pyro(model)
    assert enumerated_log_likelihood(pyro_model, x) == pytest.approx(exact.per_example.sum().item(), abs=1e-8)


def test_importance_sampling_with_the_recognition_guide(sbn):
    model, x = sbn
    pyro_model, guide = to_pyro(model)
    exact = pgmdbn.log_likelihood(model, x[:1], method="exact").mean
    pyro.set_rng_seed(0)
    log_w, _, _ = vectorized_importance_weights(pyro_model, guide, x[:1], num_samples=20000, max_plate_nesting=1)
    estimate = (torch.logsumexp(log_w, 0) - math.log(len(log_w))).item()
    assert estimate == pytest.approx(exact, abs=0.05)


def test_dbn_directed_part_under_its_top_rbm_as_prior():
    model = pgmdbn.dbn([5, 4, 3], init_scale=1.0, seed=2).double()
    x = (torch.rand(6, 5, generator=torch.Generator().manual_seed(3)) < 0.5).double()
    exact = pgmdbn.log_likelihood(model, x, method="exact")
    pyro_model, guide = to_pyro(model, log_z="exact")
    assert enumerated_log_likelihood(pyro_model, x) == pytest.approx(exact.per_example.sum().item(), abs=1e-8)
    trace = poutine.trace(pyro_model).get_trace(x)
    assert sample_sites(trace) == ["h1", "v"]
    log_z = pgmdbn.log_partition(model.submodel(["h1", "h2"]), method="exact").log_z
    shifted, _ = to_pyro(model, log_z=log_z + 1.0)  # a given log Z: one nat more per example
    assert enumerated_log_likelihood(shifted, x) == pytest.approx(exact.per_example.sum().item() - 6, abs=1e-6)
    draws = poutine.trace(pyro_model).get_trace(n=4).nodes["h1"]["value"]
    assert draws.shape == (4, 4) and set(draws.unique().tolist()) <= {0.0, 1.0}
