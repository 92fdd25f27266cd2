"""Training: CD/PCD raise the exact likelihood, real-valued data, exact resume, divergence."""
import pytest
import torch

import pgmdbn
from pgmdbn.data import standardize
from pgmdbn.data.toy import sample_bars_and_stripes
from pgmdbn.errors import DataError, DataNotFound, TrainingDiverged
from pgmdbn.training import lr_factor, make_optimizer, param_groups, train

TRAIN = sample_bars_and_stripes(600, side=3, seed=0)
TEST = sample_bars_and_stripes(300, side=3, seed=1)


@pytest.mark.parametrize("method,k,lr,epochs", [("cd", 1, 0.1, 25), ("cd", 5, 0.1, 25), ("pcd", 1, 0.01, 60)])
def test_training_raises_exact_log_likelihood(method, k, lr, epochs, device):
    model = pgmdbn.rbm(9, 8, seed=0).to(device)
    model.layer("v").init_from_data(TRAIN)
    before = pgmdbn.log_likelihood(model, TEST).mean
    result = pgmdbn.fit(model, TRAIN, method=method, k=k, epochs=epochs, batch_size=20, lr=lr, momentum=0.9,
                        seed=0, valid=TEST, progress=False, device=device)
    after = pgmdbn.log_likelihood(model, TEST).mean
    assert after > before + 1.0, (before, after)
    assert [m["epoch"] for m in result.history] == list(range(1, epochs + 1))
    assert result.history[-1]["recon_error"] < result.history[0]["recon_error"]
    assert "free_energy_gap" in result.history[-1]


def _mnist_or_skip(n):
    try:
        from pgmdbn.data import load_mnist

        return load_mnist("train", limit=n)[0]
    except DataNotFound as e:
        pytest.skip(f"MNIST not available: {e}")


def test_gaussian_bernoulli_rbm_on_standardised_images(device):
    x, _, _ = standardize(_mnist_or_skip(1000))
    model = pgmdbn.rbm(784, 64, visible="gaussian", seed=0)
    result = pgmdbn.fit(model, x, method="cd", epochs=4, batch_size=50, lr=0.002, momentum=0.9, seed=0,
                        progress=False, device=device)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    errors = [m["recon_error"] for m in result.history]
    assert errors[-1] < errors[0] and errors[-1] < 784  # better than predicting the mean


def test_learned_sigma_moves_and_stays_finite():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(500, 6, generator=gen) * torch.tensor([0.5, 1, 2, 0.5, 1, 2])
    model = pgmdbn.rbm(6, 4, visible=pgmdbn.units.Gaussian(6, learn_sigma=True), seed=0)
    pgmdbn.fit(model, x, method="pcd", epochs=10, batch_size=50, lr=0.01, seed=0, progress=False)
    sigma = model.layer("v").sigma().detach()
    assert torch.isfinite(sigma).all()
    assert sigma[2] > sigma[0]  # the wide columns get the wide units


@pytest.mark.parametrize("method", ["cd", "pcd"])
def test_resume_gives_the_uninterrupted_parameters(tmp_path, method, device):
    kw = dict(method=method, epochs=4, batch_size=32, lr=0.05, momentum=0.8, seed=3, progress=False, device=device)
    full = pgmdbn.rbm(9, 5, seed=0)
    pgmdbn.fit(full, TRAIN, checkpoint_dir=tmp_path / "a", **kw)
    part = pgmdbn.rbm(9, 5, seed=0)
    pgmdbn.fit(part, TRAIN, checkpoint_dir=tmp_path / "b", checkpoint_every=2, **{**kw, "epochs": 2})
    resumed = pgmdbn.rbm(9, 5, seed=0)
    result = pgmdbn.fit(resumed, TRAIN, resume=tmp_path / "b" / "epoch0002.safetensors", **kw)
    for (name, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert [m["epoch"] for m in result.history] == [1, 2, 3, 4]


def test_divergence_stops_with_the_last_good_state(tmp_path):
    x = torch.randn(200, 5) * 50  # not standardised: a Gaussian RBM at this rate blows up
    model = pgmdbn.rbm(5, 3, visible="gaussian", seed=0)
    with pytest.raises(TrainingDiverged, match=r"epoch \d+.*(non-finite|grew).*restored.*Lower lr") as info:
        pgmdbn.fit(model, x, epochs=50, batch_size=20, lr=5.0, momentum=0.9, progress=False,
                   checkpoint_dir=tmp_path)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    if "last checkpoint" in str(info.value):
        assert pgmdbn.load(sorted(tmp_path.iterdir())[-1]) is not None


def test_bad_training_data():
    model = pgmdbn.rbm(9, 3)
    with pytest.raises(DataError, match=r"shape \(n, 9\)"):
        pgmdbn.fit(model, torch.zeros(10, 8), epochs=1, progress=False)
    with pytest.raises(DataError, match="non-finite"):
        pgmdbn.fit(model, torch.full((10, 9), float("nan")), epochs=1, progress=False)
    with pytest.raises(DataError, match="empty"):
        pgmdbn.fit(model, torch.zeros(0, 9), epochs=1, progress=False)
    with pytest.raises(pgmdbn.PluginError, match="unknown engine 'cd2'"):
        pgmdbn.fit(model, TRAIN, method="cd2", epochs=1, progress=False)


def test_lr_schedules():
    assert lr_factor(None, 3, 10) == 1.0
    assert lr_factor("linear", 5, 10) == pytest.approx(0.5)
    assert lr_factor("cosine", 0, 10) == pytest.approx(1.0)
    assert lr_factor(lambda e: 0.9 ** e, 2, 10) == pytest.approx(0.81)
    with pytest.raises(ValueError, match="unknown lr_schedule"):
        lr_factor("step", 1, 10)


def test_the_loop_logs_every_n_epochs_and_ends_on_the_best_score():
    """pgmdbn.training.train on a plain torch module: history every log_every epochs (and the
    last), callbacks on those, restore_best ends on the epoch with the lowest score."""
    module = torch.nn.Linear(3, 1)
    x = torch.randn(50, 3, generator=torch.Generator().manual_seed(0))
    y = x @ torch.tensor([1.0, -2.0, 0.5])
    scores, states = iter([3.0, 1.0, 2.0, 5.0]), []
    optimizer = make_optimizer("sgd", param_groups(module.parameters(), 0.0), lr=0.05)
    result = train(module, {"x": x, "y": y}, lambda b: (module(b["x"]).squeeze(1) - b["y"]).pow(2).mean(), optimizer,
                   epochs=8, batch_size=10, log_every=3, evaluate=lambda e: {"score": next(scores)}, score="score",
                   restore_best=True, progress=False,
                   callbacks=[lambda m, e, metrics: states.append({k: v.clone() for k, v in m.state_dict().items()})])
    assert isinstance(result, pgmdbn.TrainResult) and result.model is module
    assert [m["epoch"] for m in result.history] == [3, 6, 8] and len(states) == 3
    assert result.history[0]["loss"] > result.history[-1]["loss"]
    for k, v in module.state_dict().items():  # epoch 6 scored best
        assert torch.equal(v, states[1][k])
    with pytest.raises(ValueError, match="restore_best needs a validation score"):
        train(module, {"x": x}, lambda b: module(b["x"]).sum(), optimizer, epochs=1, batch_size=10,
              restore_best=True, progress=False)
