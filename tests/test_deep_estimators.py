"""DBM and DBN likelihoods: exact enumeration vs brute force, bounds below exact, IWAE, PL."""
import itertools
import math

import pytest
import torch

import pgmdbn
from pgmdbn.units import Bernoulli, Softmax


def randomise(model, seed=0, scale=1.0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * scale)
    return model


def all_states(model, names):
    tables = [model.layer(n).states().double() for n in names]
    for combo in itertools.product(*tables):
        yield dict(zip(names, combo))


def brute_undirected(model, data):
    """log Z and log p(v) from the energy of every joint state."""
    names = list(model.layers)
    rows = list(all_states(model, names))
    joint = {n: torch.stack([r[n] for r in rows]) for n in names}
    neg_e = -model.energy(joint)
    log_z = torch.logsumexp(neg_e, 0).item()
    logp = []
    for v in data.double():
        match = (joint["v"] == v).all(-1)
        logp.append(torch.logsumexp(neg_e[match], 0).item() - log_z)
    return log_z, torch.tensor(logp, dtype=torch.float64)


def test_exact_dbm_matches_brute_force():
    model = randomise(pgmdbn.Model().add_layer("v", Bernoulli(4)).add_layer("h1", Bernoulli(3))
                      .add_layer("h2", Softmax(3)).add_undirected("v", "h1").add_undirected("h1", "h2"), seed=1)
    data = model.layer("v").states()[[0, 3, 9, 15]]
    log_z, logp = brute_undirected(model, data)
    result = pgmdbn.log_likelihood(model, data)
    assert result.log_z == pytest.approx(log_z, abs=1e-9)
    assert torch.allclose(result.per_example, logp, atol=1e-9)


def brute_directed(model, top_layers, data):
    """log p(v) of a DBN/SBN: sum over every hidden state of prior × conditionals."""
    hidden = [n for n in model.layers if n != "v"]
    rows = list(all_states(model, hidden))
    if top_layers:
        top = model.submodel(top_layers)
        log_z_top = torch.logsumexp(torch.stack([-top.energy({n: r[n][None] for n in top_layers})[0] for r in rows]), 0)
    out = []
    for v in data.double():
        terms = []
        for r in rows:
            states = {"v": v[None], **{n: x[None] for n, x in r.items()}}
            t = -top.energy({n: states[n] for n in top_layers})[0] - log_z_top if top_layers else 0.0
            for name in states:
                if name in top_layers:
                    continue
                parents = model.parents_of(name)
                eta = model.field(name, {p: states[p] for p in parents}) if parents else model.bias(name).double()[None]
                t = t + model.layer(name).log_prob(states[name], eta)[0]
            terms.append(t)
        out.append(torch.logsumexp(torch.stack(terms), 0).item())
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("kind", ["dbn", "dbn_labels", "sbn"])
def test_exact_directed_matches_brute_force_and_normalises(kind):
    if kind == "dbn":
        model, top = pgmdbn.dbn([4, 3, 2]), ["h1", "h2"]
    elif kind == "dbn_labels":
        model, top = pgmdbn.dbn([3, 2, 2], labels=3), ["h1", "h2", "y"]
    else:
        model, top = pgmdbn.sbn([4, 3, 2]), []
    randomise(model, seed=2)
    everything = model.layer("v").states()
    result = pgmdbn.log_likelihood(model, everything)
    assert torch.logsumexp(result.per_example, 0).item() == pytest.approx(0.0, abs=1e-9)  # Σ_v p(v) = 1
    assert torch.allclose(result.per_example[:5], brute_directed(model, top, everything[:5]), atol=1e-9)


def test_dbm_mean_field_bound_below_exact():
    for seed in range(3):
        model = randomise(pgmdbn.dbm([5, 4, 3]), seed=seed)
        data = model.layer("v").states()[::3]
        exact = pgmdbn.log_likelihood(model, data)
        bound = pgmdbn.log_likelihood(model, data, method="bound")
        assert bound.kind == "lower bound"
        assert (bound.per_example <= exact.per_example + 1e-9).all()
        assert bound.mean > exact.mean - 3.0  # and not vacuous


def test_mean_field_bound_is_exact_for_an_rbm():
    """With one hidden layer, mean field is the exact posterior, so the bound is tight."""
    model = randomise(pgmdbn.rbm(5, 4), seed=4)
    data = model.layer("v").states()[::5]
    exact = pgmdbn.log_likelihood(model, data)
    assert torch.allclose(pgmdbn.log_likelihood(model, data, method="bound").per_example, exact.per_example,
                          atol=1e-9)


def stacked_dbn(rbm):
    """A 2-layer DBN whose second RBM is the first one transposed (it equals that RBM)."""
    n_v, n_h = rbm.layer("v").size, rbm.layer("h").size
    model = pgmdbn.dbn([n_v, n_h, n_v])
    w, b, c = rbm.weight("v", "h").detach(), rbm.bias("v").detach(), rbm.bias("h").detach()
    with torch.no_grad():
        down = model.factor("h1", "v")
        down.weight.copy_(w.T), down.recognition.copy_(w.T), down.recognition_bias.copy_(c)
        model.bias("v").copy_(b), model.bias("h1").copy_(c), model.bias("h2").copy_(b)
        model.weight("h1", "h2").copy_(w.T)
    return model


def test_transposed_second_layer_makes_the_bound_tight():
    rbm = randomise(pgmdbn.rbm(6, 4), seed=5, scale=0.7)
    data = rbm.layer("v").states()[::4]
    dbn = stacked_dbn(rbm)
    expected = pgmdbn.log_likelihood(rbm, data).per_example
    assert torch.allclose(pgmdbn.log_likelihood(dbn, data).per_example, expected, atol=1e-9)
    for method in ("bound", "iwae"):
        got = pgmdbn.log_likelihood(dbn, data, method=method, k=3, progress=False).per_example
        assert torch.allclose(got, expected, atol=1e-9), method


def test_bounds_below_exact_and_iwae_grows_with_k():
    model = randomise(pgmdbn.dbn([6, 5, 4]), seed=6)
    data = model.layer("v").states()[::7]
    exact = pgmdbn.log_likelihood(model, data).mean
    elbo = pgmdbn.log_likelihood(model, data, method="bound", k=2000, progress=False)
    assert elbo.kind == "stochastic lower bound" and elbo.mean < exact
    iw = [pgmdbn.log_likelihood(model, data, method="iwae", k=k, progress=False).mean for k in (1, 10, 100, 1000)]
    k1 = [pgmdbn.log_likelihood(model, data, method="iwae", k=1, seed=s, progress=False).mean for s in range(200)]
    assert sum(k1) / 200 == pytest.approx(elbo.mean, abs=0.1)  # K=1 is the variational bound in expectation
    assert iw[0] < iw[1] < iw[2] < iw[3] < exact + 1e-3


def test_training_the_second_layer_raises_the_bound():
    from pgmdbn.data.toy import sample_bars_and_stripes
    from pgmdbn.inference import up_pass

    data = sample_bars_and_stripes(600, 3, seed=0)
    rbm = pgmdbn.rbm(9, 8, seed=0)
    pgmdbn.fit(rbm, data, epochs=15, batch_size=20, lr=0.1, momentum=0.9, progress=False)
    dbn = stacked_dbn(rbm)
    before = pgmdbn.log_likelihood(dbn, data, method="bound", k=50, progress=False).mean
    assert before == pytest.approx(pgmdbn.log_likelihood(rbm, data).mean, abs=1e-6)
    h1 = up_pass(dbn, data.double(), torch.Generator().manual_seed(0))[0]["h1"].float()
    pgmdbn.fit(dbn.submodel(["h1", "h2"]), h1, epochs=10, batch_size=20, lr=0.05, progress=False,
               init_from_data=False)
    after = pgmdbn.log_likelihood(dbn, data, method="bound", k=50, progress=False).mean
    assert after > before + 0.05, (before, after)


def test_pseudo_likelihood_exact_and_stochastic():
    model = randomise(pgmdbn.rbm(5, 3), seed=7)
    data = model.layer("v").states()
    logp = pgmdbn.log_likelihood(model, data).per_example
    brute = torch.zeros(len(data), dtype=torch.float64)
    for i in range(5):  # log p(v_i | v_-i) from the exact joint
        flipped = data.clone()
        flipped[:, i] = 1 - flipped[:, i]
        other = pgmdbn.log_likelihood(model, flipped).per_example
        brute += logp - torch.logaddexp(logp, other)
    pl = pgmdbn.log_likelihood(model, data, method="pl")
    assert pl.kind == "pseudo-likelihood"
    assert torch.allclose(pl.per_example, brute, atol=1e-9)
    draws = torch.stack([pgmdbn.log_likelihood(model, data, method="pl", stochastic=True, seed=s).per_example
                         for s in range(400)])
    error = (draws.mean(0) - brute).abs()  # unbiased: its mean over draws is the exact PL
    assert (error < 4 * draws.std(0) / math.sqrt(400) + 1e-9).all()
    with pytest.raises(pgmdbn.UnsupportedModel, match="'exact', 'ais'"):
        pgmdbn.log_likelihood(pgmdbn.rbm(3, 2, visible="gaussian"), torch.zeros(2, 3), method="pl")


def test_unsupported_structure_names_the_estimators_that_handle_it():
    with pytest.raises(pgmdbn.UnsupportedModel, match=r"handle a dbm: ais, bound, exact"):
        pgmdbn.log_likelihood(pgmdbn.dbm([4, 3, 2]), torch.zeros(2, 4), method="raise")
    with pytest.raises(pgmdbn.UnsupportedModel, match=r"handle a rbm: .*pl, raise"):
        pgmdbn.log_likelihood(pgmdbn.rbm(4, 3), torch.zeros(2, 4), method="iwae")
