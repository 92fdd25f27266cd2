"""Deep autoencoders: unrolling a pretrained stack, fine-tuning, the PCA baseline, and the
benchmark script at small size."""
import copy
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import pgmdbn
from pgmdbn.data import load_mnist
from pgmdbn.data.olivetti import load_olivetti
from pgmdbn.finetune.autoencoder import (fine_tune, pca_baseline, randomized, reconstruction_error,
                                         stack, unroll)
from pgmdbn.inference import up_means

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "autoencoder.py"


@pytest.fixture(scope="module")
def data():
    """Intensities in [0, 1] on a curved 3-d manifold in 16 dimensions: (400, 16)."""
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(400, 3, generator=gen)
    return torch.sigmoid(2 * z @ torch.randn(3, 16, generator=gen))


@pytest.fixture(scope="module")
def pretrained(data):
    model = stack([16, 12, 8, 3], seed=0)
    pgmdbn.pretrain(model, data, epochs=3, lr=0.05, batch_size=20, per_stage=[{}, {}, {"lr": 0.01}], momentum=0.9,
                    weight_decay=2e-4, progress=False)
    return model


def test_per_stage_options_reach_their_stage(data):
    """per_stage overrides the shared options of its stage only: a stage trained with lr 0 is
    left as it was (its fresh RBM copies the initial weights in), the others move."""
    model = stack([16, 12, 8, 3], seed=0)
    pairs = [("v", "h1"), ("h1", "h2"), ("h2", "h3")]
    before = {pair: model.weight(*pair).detach().clone() for pair in pairs}
    seen = []
    results = pgmdbn.pretrain(model, data, epochs=2, lr=0.05, batch_size=40, progress=False, init_from_data=False,
                              per_stage=[{}, {"lr": 0.0, "epochs": 1}, {"callbacks": [lambda *a: seen.append(a[1])]}])
    assert [len(r.history) for r in results] == [2, 1, 2] and seen == [1, 2]
    assert [r.history[0]["lr"] for r in results] == [0.05, 0.0, 0.05]
    assert [torch.equal(model.weight(*pair), before[pair]) for pair in pairs] == [False, True, False]
    with pytest.raises(pgmdbn.ModelError, match="per_stage give 3 and 2 values for 3 stages"):
        pgmdbn.pretrain(model, data, epochs=1, per_stage=[{}, {}], progress=False)


def test_pretrain_and_fine_tune_stay_on_the_device(data, device):
    """PGMDBN_TEST_DEVICE=cuda: each stage's fresh RBM must train where the model lives."""
    model = stack([16, 12, 8, 3], visible="bernoulli", seed=0).to(device)
    results = pgmdbn.pretrain(model, data, epochs=1, lr=0.05, batch_size=40, momentum=0.9, weight_decay=2e-4,
                              progress=False)
    assert all(p.device.type == device.type for p in model.parameters())
    assert all(math.isfinite(r.history[-1]["recon_error"]) for r in results)
    ae = unroll(model)
    fine_tune(ae, data, epochs=1, batch_size=40, progress=False)
    assert next(ae.parameters()).device.type == device.type and math.isfinite(reconstruction_error(ae, data))


def test_unrolled_code_is_the_up_pass(pretrained, data):
    ae = unroll(pretrained)
    assert ae.sizes == [16, 12, 8, 3] and ae.output == "logistic"
    means = up_means(pretrained, data)
    top = pretrained.layer("h3").mean(pretrained.field("h3", {"h2": means["h2"]}))
    with torch.no_grad():
        torch.testing.assert_close(ae.encode(data), top)
        torch.testing.assert_close(ae.encoder.h1(data), means["h1"])
        # the decoder is the generative down-pass from the code
        h2 = pretrained.layer("h2").mean(pretrained.field("h2", {"h3": top}))
        h1 = pretrained.layer("h1").mean(pretrained.field("h1", {"h2": h2}))
        v = pretrained.layer("v").mean(pretrained.field("v", {"h1": h1}))
        torch.testing.assert_close(ae(data), v)


def test_encoder_and_decoder_are_tied_in_value_not_in_parameters(pretrained):
    ae = unroll(pretrained)
    enc, dec = {id(p) for p in ae.encoder.parameters()}, {id(p) for p in ae.decoder.parameters()}
    assert not enc & dec
    assert not {id(p) for p in ae.parameters()} & {id(p) for p in pretrained.parameters()}
    torch.testing.assert_close(ae.decoder.v.weight, ae.encoder.h1[0].weight.T)
    torch.testing.assert_close(ae.decoder.h2[0].weight, ae.encoder.h3[0].weight.T)


def test_fine_tuning_lowers_the_error(pretrained, data):
    ae = unroll(pretrained)
    source = pretrained.weight("v", "h1").detach().clone()
    before = reconstruction_error(ae, data)
    history = fine_tune(ae, data, epochs=30, lr=1e-2, batch_size=20, valid=data[:50], progress=False).history
    assert len(history) == 30 and "valid_error" in history[-1] and all(math.isfinite(h["loss"]) for h in history)
    assert reconstruction_error(ae, data) < 0.8 * before
    assert torch.equal(pretrained.weight("v", "h1"), source)  # the source model is untouched
    rand = randomized(unroll(pretrained), seed=1)
    assert not torch.equal(rand.encoder.h1[0].weight, ae.encoder.h1[0].weight)
    lbfgs = unroll(pretrained)
    fine_tune(lbfgs, data, epochs=2, optimizer="lbfgs", lr=1.0, batch_size=400, progress=False)
    assert reconstruction_error(lbfgs, data) < before


def test_divergence_restores_the_last_good_epoch_and_restore_best_picks_the_best(pretrained, data):
    ae = unroll(pretrained)
    honest, calls = ae.loss, []

    def loss_going_bad(x):  # finite for the first epoch's 10 batches, then NaN
        calls.append(1)
        out = honest(x)
        return out if len(calls) <= 10 else out * float("nan")

    ae.loss = loss_going_bad
    first = unroll(pretrained)
    fine_tune(first, data, epochs=1, lr=1e-2, batch_size=40, progress=False)
    with pytest.raises(pgmdbn.TrainingDiverged, match="after epoch 1 are restored"):
        fine_tune(ae, data, epochs=3, lr=1e-2, batch_size=40, progress=False)
    for p, q in zip(ae.parameters(), first.parameters()):  # the state after epoch 1, not the NaNs
        torch.testing.assert_close(p, q)

    valid = data[:60]
    best_run = unroll(pretrained)
    history = fine_tune(best_run, data, epochs=5, lr=3e-2, batch_size=40, valid=valid, restore_best=True,
                        progress=False).history
    best = min(range(5), key=lambda i: history[i]["valid_error"])
    assert math.isclose(reconstruction_error(best_run, valid), history[best]["valid_error"], rel_tol=1e-5)
    with pytest.raises(ValueError, match="restore_best needs validation data"):
        fine_tune(unroll(pretrained), data, epochs=1, restore_best=True, progress=False)


def test_a_huge_learning_rate_stops_with_the_state_after_the_last_good_epoch(pretrained, data):
    """The training loop under fine_tune: SGD at 1e36 in epoch 2 overflows; the parameters
    after epoch 1 come back and the message quotes the rate in force."""
    ae = unroll(pretrained)
    after = []
    with pytest.raises(pgmdbn.TrainingDiverged, match=r"epoch 2: non-finite.*after epoch 1 are restored. "
                                                      r"Lower lr \(now 1e\+36\)"):
        fine_tune(ae, data, epochs=3, optimizer="sgd", lr=0.01, lr_schedule=lambda e: 1.0 if e == 0 else 1e38,
                  batch_size=40, progress=False,
                  callbacks=[lambda n, e, m: after.append(copy.deepcopy(n.state_dict()))])
    assert len(after) == 1
    for k, v in ae.state_dict().items():
        assert torch.equal(v, after[0][k]), k


def test_gaussian_visible_gives_a_linear_output():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(300, 6, generator=gen) @ torch.randn(6, 10, generator=gen)
    x = (x - x.mean(0)) / x.std(0)
    model = stack([10, 8, 3], visible="gaussian", init_scale=[0.1, 0.01], seed=0)
    pgmdbn.pretrain(model, x, epochs=3, batch_size=30, per_stage=[{"lr": 0.001}, {"lr": 0.01}], momentum=0.9,
                    weight_decay=2e-4, progress=False)
    ae = unroll(model)
    assert ae.output == "linear"
    with torch.no_grad():  # the decoder's output is the Gaussian visible mean
        h1 = up_means(model, x)["h1"]
        code = model.layer("h2").mean(model.field("h2", {"h1": h1}))
        h1_down = model.layer("h1").mean(model.field("h1", {"h2": code}))
        torch.testing.assert_close(ae(x), model.layer("v").mean(model.field("v", {"h1": h1_down})))
    before = reconstruction_error(ae, x)
    fine_tune(ae, x, epochs=20, lr=3e-3, batch_size=30, progress=False)
    assert reconstruction_error(ae, x) < before


def test_a_scaled_hidden_type_unrolls_to_its_means():
    # binomial units with 3 trials: each block hands on 3 * sigmoid(field), not sigmoid(3 * field)
    model = pgmdbn.dbn([10, 6, 4], hidden={"type": "binomial", "trials": 3}, seed=0)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.7)
    v = (torch.rand(7, 10, generator=gen) < 0.5).float()
    ae = unroll(model)
    with torch.no_grad():
        h1 = model.layer("h1").mean(model.factor("h1", "v").recognise(v))  # the recognition up-pass
        code = model.layer("h2").mean(model.field("h2", {"h1": h1}))
        torch.testing.assert_close(ae.encoder.h1(v), h1)
        torch.testing.assert_close(ae.encode(v), code)
        assert code.max() > 1  # a count, not a probability
        h1_down = model.layer("h1").mean(model.field("h1", {"h2": code}))
        torch.testing.assert_close(ae(v), model.layer("v").mean(model.field("v", {"h1": h1_down})))


def test_unroll_refuses_what_it_cannot_unroll():
    with pytest.raises(pgmdbn.UnsupportedModel):
        unroll(pgmdbn.dbm([6, 4, 3]))
    with pytest.raises(pgmdbn.UnsupportedModel):
        unroll(pgmdbn.Model().add_layer("v", "bernoulli", 4).add_layer("h", "softmax", 3).add_undirected("v", "h"))
    ae = unroll(pgmdbn.rbm(6, 3, seed=0))  # a single RBM unrolls to a one-layer autoencoder
    assert ae.sizes == [6, 3]
    with pytest.raises(pgmdbn.DataError):
        reconstruction_error(ae, torch.full((2, 6), 2.0))


def test_pca_baseline_is_exact_at_full_rank():
    gen = torch.Generator().manual_seed(0)
    basis = torch.randn(4, 12, generator=gen)
    train = torch.randn(50, 4, generator=gen) @ basis + 3.0
    test = torch.randn(20, 4, generator=gen) @ basis + 3.0
    error, recon = pca_baseline(train, test, k=4)
    assert error < 1e-8 and recon.shape == test.shape
    assert pca_baseline(train, test, k=2)[0] > 1e-3
    # the error is the summed squared error per image, averaged over images
    err2, rec2 = pca_baseline(train, test, k=2)
    assert err2 == pytest.approx((rec2.double() - test.double()).pow(2).sum(1).mean().item(), rel=1e-5)


def _available(name: str) -> bool:
    try:
        load_mnist("test", limit=1) if name == "mnist" else load_olivetti(size=8)
        return True
    except pgmdbn.DataNotFound:
        return False


@pytest.mark.parametrize("name", ["mnist", "olivetti"])
def test_benchmark_small_json(tmp_path, name):
    if not _available(name):
        pytest.skip(f"{name} not found ($PGMDBN_DATA or ../shared/data); the autoencoder benchmark needs the real "
                    f"images")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(SCRIPT), "--data", name, "--small", "--json", "--out",
                           str(tmp_path)], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["small"] and report["data"] == name
    rows = report["results"]
    assert {"autoencoder", "unrolled", "pca"} <= set(rows) and ("random" in rows) == (name == "mnist")
    for row in rows.values():
        assert math.isfinite(row["test_error"]) and row["test_error"] > 0 and row["seconds"] >= 0
    assert rows["autoencoder"]["test_error"] < rows["unrolled"]["test_error"]  # fine-tuning helps
    assert Path(report["png"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_benchmark_paper_small_json(tmp_path):
    """--paper: the paper-style set (turned, zoomed, cropped patches), scored on those of the test
    people and on their upright faces."""
    if not _available("olivetti"):
        pytest.skip("olivetti not found ($PGMDBN_DATA or ../shared/data); the autoencoder benchmark needs the "
                    "real images")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(SCRIPT), "--data", "olivetti", "--paper", "--small", "--json", "--out",
                           str(tmp_path)], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["small"] and report["paper"] and report["data"] == "olivetti"
    assert report["config"]["transform"] == {"max_angle": 90.0, "scale": [1.4, 2.0], "position": 1.0}
    assert "paper-style" in report["note"]
    rows = report["results"]
    assert {"autoencoder", "unrolled", "pca"} <= set(rows) and "pca_raw" not in rows
    for row in rows.values():
        for key in ("test_error", "test_upright_error", "train_error"):
            assert math.isfinite(row[key]) and row[key] > 0
    assert rows["autoencoder"]["test_error"] < rows["unrolled"]["test_error"]
    assert Path(report["png"]).name == "olivetti_paper_reconstructions.png"
    bad = subprocess.run([sys.executable, str(SCRIPT), "--data", "mnist", "--paper", "--small"], capture_output=True,
                         text=True, timeout=120, env=env)
    assert bad.returncode == 2 and "--paper needs --data olivetti" in bad.stderr
