"""Deep models: samplers against exact distributions, clamping, greedy stacking, up-down, DBM
training, and the errors an engine gives for a structure it cannot handle."""
import itertools

import pytest
import torch

import pgmdbn
from pgmdbn.training.greedy import stage_rbm, stages
from pgmdbn.estimators.directed import exact_directed
from pgmdbn.graph import Model
from pgmdbn.training import k_at
from test_deep_estimators import randomise


def binary_states(n):
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)))


def empirical(samples, states):
    """Frequencies of each row of ``states`` among ``samples``."""
    index = (samples.round() @ (2 ** torch.arange(samples.shape[1] - 1, -1, -1)).float()).long()
    counts = torch.bincount(index, minlength=len(states)).double()
    order = (states @ (2 ** torch.arange(states.shape[1] - 1, -1, -1)).float()).long()
    return counts[order] / counts.sum()


def prototypes(n=600, size=16, classes=3, flip=0.1, seed=0):
    """Noisy copies of a few binary prototypes, with their labels (a task a tiny DBN can learn)."""
    gen = torch.Generator().manual_seed(seed)
    proto = (torch.arange(size) * classes // size == torch.arange(classes)[:, None]).float()  # one block each
    labels = torch.randint(0, classes, (n,), generator=gen)
    x = (proto[labels] + (torch.rand(n, size, generator=gen) < flip).float()) % 2
    return x, labels, torch.nn.functional.one_hot(labels, classes).float()


# --- samplers against known distributions -------------------------------------------------

@pytest.mark.parametrize("build", [lambda: pgmdbn.dbn([4, 3, 3, 2], seed=0), lambda: pgmdbn.sbn([4, 3, 2], seed=0)])
def test_ancestral_samples_follow_the_exact_marginal(build):
    torch.set_num_threads(1)
    model = randomise(build(), seed=1, scale=1.2)
    states = binary_states(4)
    exact = exact_directed(model, states, progress=False).per_example.exp()
    samples = pgmdbn.sample(model, 40000, steps=30, seed=0)["v"]
    tv = 0.5 * (empirical(samples, states) - exact).abs().sum().item()
    assert exact.sum().item() == pytest.approx(1.0, abs=1e-9)
    assert tv < 0.02  # 16 cells, 40k draws: sampling noise alone gives about 0.008


def test_clamped_label_and_masked_pixels_follow_exact_conditionals():
    torch.set_num_threads(1)
    model = (Model().add_layer("v", "bernoulli", 4).add_layer("y", "softmax", 2).add_layer("h", "bernoulli", 3)
             .add_undirected("v", "h").add_undirected("y", "h"))
    randomise(model, seed=2, scale=1.5)
    states = binary_states(4)
    for label in (0, 1):
        y = torch.nn.functional.one_hot(torch.tensor(label), 2).float().expand(16, 2)
        exact = torch.softmax(-model.free_energy({"v": states, "y": y}).detach(), 0).double()
        v = pgmdbn.sample(model, 20000, steps=20, clamp={"y": label}, seed=label)["v"]
        assert 0.5 * (empirical(v, states) - exact).abs().sum().item() < 0.03
    # fill in v[2:] given v[:2] = (1, 0) and y = 1: p ∝ exp(-F) over the 4 completions
    known = torch.tensor([1.0, 0.0, 0.0, 0.0])
    rows = states[(states[:, :2] == known[:2]).all(1)]
    y = torch.tensor([0.0, 1.0]).expand(len(rows), 2)
    exact = torch.softmax(-model.free_energy({"v": rows, "y": y}).detach(), 0).double()
    v = pgmdbn.sample(model, 20000, steps=20, clamp={"v": known, "y": 1}, masks={"v": torch.arange(4) < 2},
                      seed=3)["v"]
    assert (v[:, :2] == known[:2]).all()
    freq = empirical(v[:, 2:], binary_states(2))
    assert 0.5 * (freq - exact).abs().sum().item() < 0.03


def test_clamping_errors_name_the_layer_and_the_fix():
    model = pgmdbn.dbn([6, 4, 3], labels=2, seed=0)
    with pytest.raises(pgmdbn.ModelError, match="unknown layer 'z'"):
        pgmdbn.sample(model, 2, steps=1, clamp={"z": 1})
    with pytest.raises(pgmdbn.DataError, match="'y'.*0..1, got 5"):
        pgmdbn.sample(model, 2, steps=1, clamp={"y": 5})
    with pytest.raises(pgmdbn.DataError, match="'h2'.*integer values need a categorical layer"):
        pgmdbn.sample(model, 2, steps=1, clamp={"h2": 1})
    with pytest.raises(pgmdbn.DataError, match="layer 'h2'.*0, 1"):
        pgmdbn.sample(model, 2, steps=1, clamp={"h2": torch.full((3,), 2.0)})
    with pytest.raises(pgmdbn.UnsupportedModel, match="Ancestral.*'v'.*directed parents"):
        pgmdbn.sample(model, 2, steps=1, clamp={"v": torch.zeros(6)})


# --- greedy stacking ----------------------------------------------------------------------

def test_stages_follow_the_graph():
    assert stages(pgmdbn.dbn([8, 6, 5, 4], labels=3)) == [(["v"], "h1"), (["h1"], "h2"), (["h2", "y"], "h3")]
    assert stages(pgmdbn.dbm([8, 6, 4])) == [(["v"], "h1"), (["h1"], "h2")]


def test_doubled_stage_ties_copies_and_doubles_the_input():
    model = randomise(pgmdbn.dbm([5, 4, 3]), seed=0)
    rbm = stage_rbm(model, ["v"], "h1", copies=(2, 1))
    assert rbm.factor("v__2", "h1").weight is rbm.factor("v", "h1").weight
    assert rbm.layer("v__2").bias is rbm.layer("v").bias
    v = torch.bernoulli(torch.full((3, 5), 0.5))
    field = rbm.field("h1", {"v": v, "v__2": v})
    expected = rbm.layer("h1").bias + 2 * v @ model.weight("v", "h1")
    assert torch.allclose(field, expected, atol=1e-6)
    assert len({id(p) for p in rbm.parameters()}) == 3  # W, the visible bias, the hidden bias


def test_greedy_dbn_ties_recognition_and_improves_likelihood():
    torch.set_num_threads(1)
    x, _, _ = prototypes(size=10)
    model = pgmdbn.dbn([10, 6, 4, 4], seed=0)
    before = exact_directed(model, x, progress=False).mean
    results = pgmdbn.pretrain(model, x, epochs=15, lr=0.1, momentum=0.9, batch_size=20, progress=False)
    assert len(results) == 3
    f = model.factor("h1", "v")
    assert torch.equal(f.recognition, f.weight)
    after = exact_directed(model, x, progress=False).mean
    assert after > before + 1.5
    sampled = pgmdbn.dbn([10, 6, 4, 4], seed=0)
    pgmdbn.pretrain(sampled, x, epochs=15, propagate="sample", lr=0.1, momentum=0.9, batch_size=20, progress=False)
    assert exact_directed(sampled, x, progress=False).mean > before + 1.0


def dbm_training_gains(seed: int) -> dict[str, float]:
    """Exact log-likelihoods and mean-field bounds of a 10-6-4 DBM before, after greedy
    pretraining and after joint training, on prototypes drawn with ``seed``."""
    x, _, _ = prototypes(size=10, seed=seed)
    model = pgmdbn.dbm([10, 6, 4], seed=seed)
    start = pgmdbn.log_likelihood(model, x, progress=False).mean
    pgmdbn.pretrain(model, x, epochs=15, lr=0.1, momentum=0.9, batch_size=20, progress=False)
    pretrained = pgmdbn.log_likelihood(model, x, progress=False).mean
    pretrained_bound = pgmdbn.log_likelihood(model, x, method="bound", progress=False).mean
    result = pgmdbn.fit(model, x, method="dbm", k=1, epochs=20, lr=0.005, momentum=0.5, batch_size=20,
                        progress=False, engine_options={"chains": 50, "mean_field_steps": 10})
    joint = pgmdbn.log_likelihood(model, x, progress=False).mean
    bound = pgmdbn.log_likelihood(model, x, method="bound", progress=False).mean
    assert "recon_error" in result.history[-1]
    assert bound <= joint + 1e-6  # a bound, whatever the trajectory
    return {"pretraining": pretrained - start, "bound": bound - pretrained_bound, "joint": joint - pretrained}


def test_greedy_dbm_and_joint_training_improve_exact_likelihood():
    # The gains vary with the seed and with the CPU's floating-point kernels (seed 0's bound gain
    # was 0.23 on one machine, 0.17 on another; over seeds 0-5 the pretraining gain ran 0.6-2.3
    # and the bound gain 0.23-2.1). So each seed must only improve, and the means over three
    # seeds (measured 1.78, 0.70, 0.70) must clear margins of about half of them.
    torch.set_num_threads(1)
    gains = [dbm_training_gains(seed) for seed in range(3)]
    for name in ("pretraining", "bound", "joint"):
        assert all(g[name] > 0 for g in gains), (name, gains)
    mean = {name: sum(g[name] for g in gains) / len(gains) for name in gains[0]}
    assert mean["pretraining"] > 0.9, gains
    assert mean["bound"] > 0.3, gains  # the objective joint training climbs: the mean-field bound
    assert mean["joint"] > 0.3, gains


# --- DBN with labels: classification and up-down ------------------------------------------

def test_up_down_improves_the_bound_and_classifies():
    torch.set_num_threads(1)
    x, labels, onehot = prototypes(size=12, flip=0.15)
    model = pgmdbn.dbn([12, 8, 6, 10], labels=3, seed=0)
    pgmdbn.pretrain(model, {"v": x, "y": onehot}, epochs=[10, 10, 20], lr=0.1, momentum=0.9, batch_size=20,
                    progress=False)
    greedy = pgmdbn.log_likelihood(model, x, method="bound", k=20, progress=False).mean
    assert (pgmdbn.classify(model, x) != labels).float().mean() < 0.05
    result = pgmdbn.fit(model, {"v": x, "y": onehot}, method="updown", k=[3, 6], epochs=20, lr=0.01, momentum=0.9,
                        batch_size=20, progress=False, valid={"v": x, "y": onehot})
    tuned = pgmdbn.log_likelihood(model, x, method="bound", k=20, progress=False).mean
    assert tuned > greedy
    assert result.history[-1]["valid_error"] < 0.05
    assert not torch.equal(model.factor("h1", "v").recognition, model.factor("h1", "v").weight)  # untied


def test_k_schedule_spreads_over_the_run():
    assert [k_at([3, 6, 10], e, 30) for e in (0, 9, 10, 19, 20, 29)] == [3, 3, 6, 6, 10, 10]
    assert k_at(lambda epoch: epoch + 1, 4, 10) == 5 and k_at(2, 7, 10) == 2


# --- structures an engine cannot handle ---------------------------------------------------

def test_engines_refuse_structures_and_name_one_that_can():
    x = torch.bernoulli(torch.full((20, 6), 0.5))
    with pytest.raises(pgmdbn.UnsupportedModel, match=r"'cd'.*dbm.*h2 \(trainers that handle a dbm: dbm\)$"):
        pgmdbn.fit(pgmdbn.dbm([6, 4, 3]), x, method="cd", epochs=1, progress=False)
    with pytest.raises(pgmdbn.UnsupportedModel, match="'updown'.*rbm.*handle a rbm: cd, dbm, pcd"):
        pgmdbn.fit(pgmdbn.rbm(6, 4), x, method="updown", epochs=1, progress=False)
    with pytest.raises(pgmdbn.UnsupportedModel, match="'dbm'.*handle a dbn: updown"):
        pgmdbn.fit(pgmdbn.dbn([6, 4, 3]), x, method="dbm", epochs=1, progress=False)
    with pytest.raises(pgmdbn.DataError, match="lacks y"):
        pgmdbn.fit(pgmdbn.dbn([6, 4, 3], labels=2), x, method="updown", epochs=1, progress=False)
    with pytest.raises(pgmdbn.DataError, match="different numbers of rows"):
        pgmdbn.fit(pgmdbn.dbn([6, 4, 3], labels=2), {"v": x, "y": torch.eye(2)}, method="updown", progress=False)
    with pytest.raises(pgmdbn.UnsupportedModel, match="categorical label layer.*'h2' is a bernoulli layer"):
        pgmdbn.classify(pgmdbn.dbn([6, 4, 3]), x, label="h2")
