"""GP regression on DBN features: the predictor against the closed-form posterior, the rotated
faces, feature extraction, fine-tuning by marginal likelihood, and the benchmark at small size."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import pgmdbn
from pgmdbn.data.faces import rotated_faces, safe_crop
from pgmdbn.data.olivetti import SIDE, load_olivetti, person_split, resize
from pgmdbn.finetune.autoencoder import stack
from pgmdbn.apps.gp import GPRegressor, extract_features, feature_network, rmse
from pgmdbn.inference import up_means

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gp_orientation.py"


def _olivetti_available() -> bool:
    try:
        load_olivetti(size=8)
        return True
    except pgmdbn.DataNotFound:
        return False


needs_olivetti = pytest.mark.skipif(not _olivetti_available(),
                                    reason="Olivetti faces not found ($PGMDBN_DATA or "
                                           "../shared/data/olivetti/olivettifaces.mat)")


# --- the GP itself -------------------------------------------------------------------------------

def _toy_1d(n=12, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, generator=gen, dtype=torch.float64) * 6 - 3
    y = 5 + 2 * torch.sin(x[:, 0]) + 0.1 * torch.randn(n, generator=gen, dtype=torch.float64)
    return x, y


def _rbf(a, b, lengthscale, variance):
    return variance * torch.exp(-torch.cdist(a, b).pow(2) / (2 * lengthscale ** 2))


def test_prediction_equals_the_closed_form_posterior(device):
    """Fixed hyperparameters, no fitting: mean ȳ + k*ᵀ (K + σ²I)⁻¹ (y - ȳ) by Cholesky. Standardising
    the targets inside scales K, σ² and the residual alike, so the mean is the textbook one with
    the kernel variance and noise multiplied by the targets' variance."""
    x, y = _toy_1d()
    xs = torch.linspace(-3.5, 3.5, 9, dtype=torch.float64)[:, None]
    lengthscale, variance, noise, jitter = 0.8, 1.3, 0.05, 1e-6
    gp = GPRegressor(lengthscale=lengthscale, variance=variance, noise=noise, jitter=jitter, device=device)
    gp.set_data(x, y)
    s2 = y.var().item()
    k = _rbf(x, x, lengthscale, variance * s2) + (noise + jitter) * s2 * torch.eye(len(x), dtype=torch.float64)
    chol = torch.linalg.cholesky(k)
    k_star = _rbf(x, xs, lengthscale, variance * s2)
    alpha = torch.cholesky_solve((y - y.mean())[:, None], chol)
    expected_mean = y.mean() + (k_star.T @ alpha)[:, 0]
    v = torch.cholesky_solve(k_star, chol)
    expected_var = variance * s2 - (k_star * v).sum(0) + noise * s2
    mean, var = gp.predict(xs, return_var=True)
    assert mean.device.type == device.type
    torch.testing.assert_close(mean.cpu(), expected_mean, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(var.cpu(), expected_var, rtol=1e-4, atol=1e-5)
    hp = gp.hyperparameters()
    assert math.isclose(hp["variance"], variance * s2) and math.isclose(hp["noise"], noise * s2, rel_tol=1e-6)
    # -log p(y) in the targets' units, by hand
    resid = y - y.mean()
    nlml = (0.5 * resid @ torch.cholesky_solve(resid[:, None], chol)[:, 0] + chol.diagonal().log().sum()
            + 0.5 * len(y) * math.log(2 * math.pi))
    assert math.isclose(gp.neg_log_marginal_likelihood(), nlml.item(), rel_tol=1e-6)


def test_fit_raises_the_marginal_likelihood_and_predicts_well():
    x, y = _toy_1d(40)
    gp = GPRegressor(lengthscale=5.0, noise=0.5)
    gp.set_data(x, y)
    before = gp.neg_log_marginal_likelihood()
    gp.fit(x, y, steps=50)
    assert gp.neg_log_marginal_likelihood() < before - 1
    xs = torch.linspace(-2.5, 2.5, 20, dtype=torch.float64)[:, None]
    assert gp.rmse(xs, 5 + 2 * torch.sin(xs[:, 0])) < 0.15
    adam = GPRegressor(lengthscale=5.0, noise=0.5)
    adam.fit(x, y, steps=150, optimizer="adam")
    assert adam.neg_log_marginal_likelihood() < before - 1


def test_two_gps_keep_their_own_hyperparameters():
    """pyro's global param store would make every GPRegression share "kernel.lengthscale"."""
    x, y = _toy_1d(30)
    a = GPRegressor()
    a.fit(x, y, steps=30)
    fitted = a.hyperparameters()
    b = GPRegressor()
    b.fit(x * 10, y, steps=30)
    assert a.hyperparameters() == fitted
    assert b.hyperparameters()["lengthscale"] > 3 * fitted["lengthscale"]


def test_clear_errors_for_bad_inputs():
    x, y = _toy_1d()
    gp = GPRegressor()
    with pytest.raises(pgmdbn.ModelError, match="fit"):
        gp.predict(x)
    bad = x.clone()
    bad[3, 0] = float("nan")
    with pytest.raises(pgmdbn.DataError, match="NaN"):
        gp.fit(bad, y)
    with pytest.raises(pgmdbn.DataError, match="one target per row"):
        gp.fit(x, y[:-1])
    with pytest.raises(pgmdbn.DataError, match="2-D"):
        gp.fit(x[:, 0], y)
    with pytest.raises(ValueError, match="lengthscale"):
        GPRegressor(lengthscale=-1.0)
    gp.fit(x, y, steps=5)
    with pytest.raises(pgmdbn.DataError, match="NaN"):
        gp.predict(bad)
    with pytest.raises(pgmdbn.ModelError, match="feature network"):
        gp.fine_tune(steps=1)
    net_gp = GPRegressor(feature_network(stack([5, 4, 3], visible="gaussian", code="bernoulli", seed=0)))
    with pytest.raises(pgmdbn.DataError, match="takes 5 inputs"):
        net_gp.fit(torch.zeros(10, 4), torch.zeros(10))
    with pytest.raises(pgmdbn.DataError, match="one length"):
        rmse(torch.zeros(3), torch.zeros(4))
    singular = GPRegressor(lengthscale=1.0, noise=1e-30, jitter=0.0).set_data(torch.zeros(4, 2), torch.arange(4.0))
    with pytest.raises(pgmdbn.TrainingDiverged, match="not positive definite"):
        singular.neg_log_marginal_likelihood()


# --- features of a DBN ---------------------------------------------------------------------------

def _dbn_with_gaussian_input(seed=0):
    """A random 6-5-4-3 DBN with Gaussian visible units of sigma ≠ 1 and weights large enough
    for the probabilities to spread."""
    model = stack([6, 5, 4, 3], visible="gaussian", code="bernoulli", init_scale=0.7, seed=seed)
    with torch.no_grad():
        model.layer("v").log_sigma.copy_(torch.linspace(-0.5, 0.5, 6))
        for p in model.parameters():
            if p.ndim == 1 and p is not model.layer("v").log_sigma:
                p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())) * 0.5)
    return model


def test_features_are_the_up_pass_means():
    model = _dbn_with_gaussian_input()
    v = torch.randn(20, 6, generator=torch.Generator().manual_seed(1))
    means = up_means(model, v)
    for layers in (["h1"], ["h1", "h2"]):
        net = feature_network(model, layers=layers)
        torch.testing.assert_close(extract_features(net, v), means[layers[-1]])
    # the undirected top: its hidden probabilities given the layer below's
    top = model.layer("h3").mean(model.field("h3", {"h2": means["h2"]}))
    torch.testing.assert_close(extract_features(feature_network(model), v, batch_size=7), top)


def test_fine_tuning_lowers_the_negative_marginal_likelihood(device):
    model = _dbn_with_gaussian_input()
    before = {k: p.clone() for k, p in model.state_dict().items()}
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(60, 6, generator=gen)
    y = torch.tanh(2 * x[:, 0]) * 10 + x[:, 1] ** 2
    gp = GPRegressor(feature_network(model), device=device)
    gp.fit(x, y, steps=30)
    greedy = gp.neg_log_marginal_likelihood()
    history = gp.fine_tune(steps=40, lr=1e-2, log_every=20).history
    assert [h["step"] for h in history] == [0, 20, 40]
    tuned = gp.neg_log_marginal_likelihood()
    assert tuned < greedy - 1, (greedy, tuned)
    assert math.isclose(history[-1]["loss"] * len(y), tuned - len(y) * math.log(y.std().item()), rel_tol=1e-4)
    assert next(gp.features.parameters()).device.type == device.type
    for k, p in model.state_dict().items():  # the network owns copies: the model stays as it was
        torch.testing.assert_close(p, before[k])
    # mini-batches of the labelled set work too
    gp.fine_tune(steps=5, lr=1e-3, batch_size=20)
    assert math.isfinite(gp.neg_log_marginal_likelihood())

    # a weight going non-finite stops fine-tuning with the last good step's parameters back in place
    kept = {}

    def poison(gp, record):
        kept.update({k: v.clone() for k, v in gp.state_dict().items()})
        next(gp.features.parameters()).data[0, 0] = float("nan")

    with pytest.raises(pgmdbn.TrainingDiverged, match=r"step 3: .*after step 2 are restored.*"
                                                        r"Lower lr \(now 0.001\) or hyper_lr \(now 0.01\)"):
        gp.fine_tune(steps=5, lr=1e-3, log_every=2, callback=poison)
    assert all(torch.isfinite(p).all() for p in gp.parameters())
    for k, v in gp.state_dict().items():  # the state after step 2, before the poison
        torch.testing.assert_close(v, kept[k])


# --- rotated faces -------------------------------------------------------------------------------

def _synthetic_faces(m=5, side=SIDE, seed=0):
    """Smooth random images, one per person."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(m, 1, 8, 8, generator=gen)
    images = torch.nn.functional.interpolate(coarse, size=(side, side), mode="bilinear", align_corners=False)
    return images.reshape(m, side * side), torch.arange(m) + 100


def test_angle_zero_returns_the_faces_resampled():
    faces, person = _synthetic_faces()
    images, angles, who = rotated_faces(faces, person, 5, seed=3, size=28, max_angle=0.0)
    assert images.shape == (5, 784) and angles.abs().max() == 0
    assert sorted(who.tolist()) == person.tolist()  # each face used once
    expected = resize(faces, SIDE, 28)[who - 100]
    torch.testing.assert_close(images, expected, atol=1e-5, rtol=0)


def test_angles_in_range_and_direction():
    faces, person = _synthetic_faces()
    _, angles, _ = rotated_faces(faces, person, 400, seed=0, max_angle=30.0)
    assert angles.abs().max() <= 30 and angles.min() < -25 and angles.max() > 25
    again = rotated_faces(faces, person, 400, seed=0, max_angle=30.0)
    torch.testing.assert_close(again[1], angles)  # seeded
    # a bright spot right of the centre goes up (row 0 is the top) for positive angles
    spot = torch.zeros(1, SIDE, SIDE)
    spot[0, 31:33, 52:58] = 1
    images, angles, _ = rotated_faces(spot.reshape(1, -1), torch.tensor([0]), 50, seed=1, size=SIDE)
    rows = (images.reshape(50, SIDE, SIDE).sum(2) * torch.arange(SIDE)).sum(1) / images.sum(1)
    big = angles.abs() > 30
    assert ((rows[big] < 31.5) == (angles[big] > 0)).all()


def test_safe_crop_needs_no_padding_and_errors():
    faces, person = _synthetic_faces()
    crop = safe_crop(90, 1.0, 0.05)
    a = rotated_faces(faces, person, 20, seed=4, crop=crop, max_shift=0.05, padding="zeros")[0]
    b = rotated_faces(faces, person, 20, seed=4, crop=crop, max_shift=0.05, padding="reflection")[0]
    torch.testing.assert_close(a, b)
    with pytest.raises(pgmdbn.DataError, match="shape"):
        rotated_faces(faces[:, :100], person, 3)
    bad = faces.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(pgmdbn.DataError, match="NaN"):
        rotated_faces(bad, person, 3)
    with pytest.raises(pgmdbn.DataError, match="person id"):
        rotated_faces(faces, person[:2], 3)


@needs_olivetti
def test_rotated_split_by_person_never_shares_people():
    faces, person = load_olivetti(size=SIDE)
    train, test = person_split(person, 10, seed=0)
    _, _, train_who = rotated_faces(faces[train], person[train], 300, seed=1)
    images, angles, test_who = rotated_faces(faces[test], person[test], 100, seed=2)
    assert set(train_who.tolist()).isdisjoint(test_who.tolist())
    assert set(test_who.tolist()) == set(person[test].tolist()) and len(set(train_who.tolist())) == 30
    assert images.shape == (100, 784) and 0 <= images.min() and images.max() <= 1
    assert angles.abs().max() <= 90


# --- the benchmark -------------------------------------------------------------------------------

def _load_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gp_orientation", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@needs_olivetti
def test_validation_people_come_from_the_training_people():
    bench = _load_script()
    small = {**bench.SMALL, "unlabelled": 60, "labelled": 20, "test": 20}
    split = bench.make_data({**small, "validate": 0}, None)["people"]
    held = bench.make_data({**small, "validate": 5}, None)["people"]
    assert len(split["train"]) == 30 and len(split["test"]) == 10
    assert len(held["test"]) == 5 and len(held["train"]) == 25
    assert set(held["test"]) | set(held["train"]) == set(split["train"])  # the test people stay unseen
    with pytest.raises(SystemExit):
        bench.main(["--small", "--set", "pretrain.no_such_setting=1"])


@needs_olivetti
def test_benchmark_small_json(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(SCRIPT), "--small", "--json", "--threads", "1", "--out", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    rows = report["results"]
    assert {"gp_pixels", "gp_greedy", "gp_finetuned"} <= set(rows)
    for name in ("gp_pixels", "gp_greedy", "gp_finetuned"):
        r = rows[name]
        assert 0 < r["test_rmse"] < 120 and r["seconds"] >= 0 and math.isfinite(r["nlml_per_point"]), (name, r)
    assert rows["gp_finetuned"]["nlml_per_point"] < rows["gp_greedy"]["nlml_per_point"]
    assert "GP on pixels" in proc.stderr and "fine-tuned" in proc.stderr
    for png in report["png"].values():
        assert Path(png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
