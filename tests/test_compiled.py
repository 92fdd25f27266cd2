"""The compiled hot loops (``compile=True``, see pgmdbn.compiled) against the uncompiled path on
the same random numbers: training, AIS/RAISE and Gibbs sampling agree to float rounding."""
import pytest
import torch

import pgmdbn
from pgmdbn.errors import ArgumentError, ArgumentTypeError
from pgmdbn.estimators.ais import ais_log_z, raise_


def _data(n=40, size=12, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(n, size, generator=gen) < 0.3).float()


def _fit(model, method, compile, **options):
    pgmdbn.fit(model, _data(), method, epochs=2, batch_size=10, lr=0.05, seed=1, progress=False, monitor_size=0,
               compile=compile, **options)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("method", ["cd", "pcd"])
def test_compiled_contrastive_training_matches_the_uncompiled_path(method):
    eager = _fit(pgmdbn.rbm(12, 7, seed=0), method, False, k=2)
    graph = _fit(pgmdbn.rbm(12, 7, seed=0), method, True, k=2)
    start = pgmdbn.rbm(12, 7, seed=0).state_dict()
    assert any(not torch.equal(start[k], eager[k]) for k in eager)
    for name, value in eager.items():
        torch.testing.assert_close(graph[name], value, rtol=1e-5, atol=1e-5)


def test_compiled_dbm_training_matches_the_uncompiled_path_with_gaussian_visibles():
    def run(compile):
        model = pgmdbn.dbm([12, 6, 4], visible="gaussian", seed=0)
        return _fit(model, "dbm", compile, engine_options={"mean_field_steps": 3, "chains": 10})
    eager, graph = run(False), run(True)
    for name, value in eager.items():
        torch.testing.assert_close(graph[name], value, rtol=1e-4, atol=1e-4)


def test_compiled_ais_and_raise_match_the_uncompiled_path():
    model = pgmdbn.rbm(12, 7, seed=0, init_scale=0.5)
    betas = torch.linspace(0, 1, 35, dtype=torch.float64)  # 34 transitions: three full launches and a short one
    runs = [ais_log_z(model, n_chains=20, betas=betas, base_data=_data(), seed=3, progress=False, compile=c)
            for c in (False, True)]
    torch.testing.assert_close(runs[1]["log_weights"], runs[0]["log_weights"], rtol=1e-6, atol=1e-5)
    exact = pgmdbn.log_partition(model, method="exact", progress=False).log_z
    assert runs[1]["log_z"] == pytest.approx(exact, abs=0.5)
    back = [raise_(model, _data(5), n_chains=2, betas=betas, seed=3, progress=False, compile=c).per_example
            for c in (False, True)]
    torch.testing.assert_close(back[1], back[0], rtol=1e-6, atol=1e-5)


def test_compiled_ais_keeps_one_graph_per_model_type_and_chain_count():
    """The temperatures are graph inputs: nothing may compare one with a constant (a guard on its
    value compiles a graph per block until torch's recompile limit sends AIS back to eager). Two
    factor types and chain counts here: the first graph, its dynamic-temperature successor, and
    one for the second model (8 before the temperatures stopped being compared with 1)."""
    from pgmdbn.estimators.ais import GeometricPath, paper_schedule

    torch._dynamo.reset()
    x = (torch.rand(300, 30, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    for factor, chains in (("dense", 50), ("centered", 80)):
        model = pgmdbn.dbm([30, 10, 8], seed=0, factor=factor)
        pgmdbn.log_likelihood(model, x[:50], method="ais", n_chains=chains, betas=paper_schedule(2000),
                              base_data=x, compile=True, progress=False)
    graphs = torch._dynamo.eval_frame._debug_get_cache_entry_list(GeometricPath.anneal.__code__)
    assert len(graphs) <= 3, len(graphs)


def test_compiled_gibbs_sampling_draws_the_same_samples():
    model = pgmdbn.rbm(12, 7, seed=0, init_scale=0.5)
    eager, graph = (pgmdbn.sample(model, 50, steps=20, method="gibbs", seed=2, compile=c)
                    for c in (False, True))
    for name in eager:  # a draw whose uniform lies within rounding of its probability may differ
        assert (eager[name] != graph[name]).float().mean() < 0.01


def test_compile_refuses_what_has_no_compiled_path():
    model = pgmdbn.rbm(12, 7, seed=0)
    with pytest.raises(ArgumentTypeError, match="compile"):
        pgmdbn.fit(model, _data(), "pcd", epochs=1, progress=False, compile="yes")
    with pytest.raises(ArgumentError, match="no compiled path.*none for a dbn"):
        pgmdbn.fit(pgmdbn.dbn([12, 6, 4], seed=0), _data(), "updown", epochs=1, progress=False, compile=True)
    with pytest.raises(ArgumentError, match="no compiled path"):
        pgmdbn.sample(model, 5, method="ancestral", compile=True)
