"""Convolutional factors and probabilistic max-pooling: exact against dense unrolling and brute
force, AIS, gradients, CD, Gibbs sampling, greedy stacking and the conv classifier."""
import itertools
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import pgmdbn
from pgmdbn import Model
from pgmdbn.errors import DataError, ModelError
from pgmdbn.finetune import error_rate, random_like, to_classifier, train_classifier


def randomise(model, seed, scale=0.7):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * scale)
    return model


def crbm(vis=(1, 4, 4), filters=2, kernel=2, pool=1, visible="bernoulli", seed=0, scale=0.7):
    hid = (filters, vis[1] - kernel + 1, vis[2] - kernel + 1)
    model = (Model().add_layer("v", visible, shape=vis, channels=vis[0])
             .add_layer("h", "pooled_bernoulli", shape=hid, pool=pool, channels=filters)
             .add_undirected("v", "h", factor="conv2d", filters=filters, kernel=kernel))
    return randomise(model, seed, scale)


def unrolled(model):
    """The same model as an RBM with a dense factor: the unrolled matrix and per-unit biases."""
    v, h = model.layer("v"), model.layer("h")
    dense = (Model().add_layer("v", v.name, shape=v.shape, **{k: x for k, x in v.config().items() if k != "channels"})
             .add_layer("h", h.name, shape=h.shape, **{k: x for k, x in h.config().items() if k != "channels"})
             .add_undirected("v", "h", weight=model.weight("v", "h").detach()))
    with torch.no_grad():
        dense.layer("v").bias.copy_(v.bias)
        dense.layer("h").bias.copy_(h.bias)
    return dense


def all_binary(n):
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=torch.float64)


@pytest.mark.parametrize("vis,kernel,pool", [((1, 4, 4), 2, 1), ((1, 3, 5), 2, 2), ((1, 4, 4), 3, 2)])
def test_exact_matches_dense_unrolling(vis, kernel, pool):
    model = crbm(vis, kernel=kernel, pool=pool)
    dense = unrolled(model)
    x = all_binary(math.prod(vis))[torch.randperm(2 ** math.prod(vis), generator=torch.Generator().manual_seed(1))[:64]]
    a = pgmdbn.log_likelihood(model, x, method="exact", progress=False)
    b = pgmdbn.log_likelihood(dense, x, method="exact", progress=False)
    assert abs(a.log_z - b.log_z) < 1e-9, (a.log_z, b.log_z)
    assert torch.allclose(a.per_example.double(), b.per_example.double(), atol=1e-9, rtol=0)


def brute_force_log_z(model):
    """log Z of a tiny pooled CRBM over every joint state, with the energy written out by loops
    (no conv2d, no unit contract): −E = Σ b_v v + Σ c_k h + Σ_k Σ_pos h_k,pos (W_k ⋆ v)_pos."""
    v_units, h_units = model.layer("v"), model.layer("h")
    c, hh, ww = v_units.shape
    k, oh, ow = h_units.shape
    pool = h_units.pool
    w = model.factor("v", "h").weight.detach().double()
    bv, bh = v_units.bias.detach().double(), h_units.bias.detach().double()
    hs = [h for h in all_binary(h_units.size)
          if all(h.reshape(k, oh, ow)[f, i:i + pool, j:j + pool].sum() <= 1
                 for f in range(k) for i in range(0, oh, pool) for j in range(0, ow, pool))]
    hs = torch.stack(hs)
    vs = all_binary(v_units.size)
    # responses[n, f, i, j] = Σ_c,di,dj W[f,c,di,dj] v[n, c, i+di, j+dj]
    img = vs.reshape(-1, c, hh, ww)
    kh, kw = w.shape[2:]
    resp = torch.zeros(len(vs), k, oh, ow, dtype=torch.float64)
    for f in range(k):
        for i in range(oh):
            for j in range(ow):
                resp[:, f, i, j] = (img[:, :, i:i + kh, j:j + kw] * w[f]).sum((1, 2, 3))
    neg_e = (vs @ bv)[:, None] + (hs @ bh)[None, :] + resp.reshape(len(vs), -1) @ hs.T
    return torch.logsumexp(neg_e.flatten(), 0).item(), len(hs), neg_e


def test_pooled_enumeration_matches_brute_force():
    model = crbm((1, 3, 3), kernel=2, pool=2, seed=3)
    log_z, n_h, neg_e = brute_force_log_z(model)
    assert n_h == 25  # two filters' 2×2 blocks: (4 + 1)² joint states
    units = model.layer("h")
    assert len(units.states().unique(dim=0)) == 25
    assert len(units.states()) == 25 and math.isclose(units.log_state_count(), math.log(25))
    exact = pgmdbn.log_partition(model, method="exact", progress=False)
    assert abs(exact.log_z - log_z) < 1e-9
    # log p(v) from the brute-force joint
    vs = all_binary(9)
    lp = torch.logsumexp(neg_e, 1) - log_z
    got = pgmdbn.log_likelihood(model, vs, method="exact", progress=False).per_example.double()
    assert torch.allclose(got, lp, atol=1e-9, rtol=0)


def test_pooled_unit_contract():
    units = crbm((1, 5, 5), kernel=2, pool=2).layer("h")
    eta = torch.randn(7, units.size, dtype=torch.float64)
    # log partition: Σ_blocks log(1 + Σ exp), checked against the enumerated states of one block
    blocks = units.blocks(eta)
    assert torch.allclose(units.log_partition(eta, beta=0.5),
                          torch.log1p(torch.exp(0.5 * blocks).sum(-1)).sum(-1))
    m = units.mean(eta)
    assert (units.blocks(m).sum(-1) < 1).all()
    assert torch.allclose(units.pooled(m), 1 - 1 / (1 + units.blocks(eta).exp().sum(-1)))
    # the mean is the gradient of the log partition
    e = eta.clone().requires_grad_(True)
    units.log_partition(e).sum().backward()
    assert torch.allclose(e.grad, m)
    # samples: at most one unit per block, frequencies near the mean
    gen = torch.Generator().manual_seed(0)
    draws = units.sample(eta[:1].expand(20000, -1), generator=gen)
    assert (units.blocks(draws).sum(-1) <= 1).all()
    assert (draws.mean(0) - m[0]).abs().max() < 0.02
    mode = units.mode(eta)
    assert (units.blocks(mode).sum(-1) <= 1).all()
    units.validate(draws[:5].float(), exact=True)
    bad = torch.zeros(1, units.size)
    bad[0, :2] = 1  # units 0 and 1 share the first block
    with pytest.raises(DataError, match="at most one detection unit"):
        units.validate(bad)
    # base-rate bias reproduces the data's detection marginals
    units.init_from_data(m.float())
    assert units.bias.shape == (units.size,) and units.channel_bias.shape == (2,)


def test_shape_errors():
    model = Model().add_layer("v", "bernoulli", shape=(1, 6, 6)).add_layer("h", "bernoulli", shape=(3, 4, 4))
    with pytest.raises(ModelError, match=r"shape=\(3, 5, 5\)"):
        model.add_undirected("v", "h", factor="conv2d", filters=3, kernel=2)
    with pytest.raises(ModelError, match="kernel"):
        model.add_undirected("v", "h", factor="conv2d", filters=3)
    flat = Model().add_layer("v", "bernoulli", 36).add_layer("h", "bernoulli", shape=(3, 4, 4))
    with pytest.raises(ModelError, match="shape=\\(channels, height, width\\)"):
        flat.add_undirected("v", "h", factor="conv2d", filters=3, kernel=3)
    with pytest.raises(ModelError, match="divisible by 2"):
        Model().add_layer("h", "pooled_bernoulli", shape=(2, 3, 3), pool=2)
    with pytest.raises(ModelError, match="channels=2"):
        Model().add_layer("h", "bernoulli", shape=(3, 2, 2), channels=2)


def test_pooled_input_side_matches_dense():
    """A conv factor reads a pooled layer through its pooling units (block sums)."""
    model = (Model().add_layer("h1", "pooled_bernoulli", shape=(2, 4, 4), pool=2, channels=2)
             .add_layer("h2", "bernoulli", shape=(2, 1, 1))
             .add_undirected("h1", "h2", factor="conv2d", filters=2, kernel=2))
    randomise(model, 5)
    f = model.factor("h1", "h2")
    s = model.layer("h1").sample(torch.randn(3, 32))
    assert torch.allclose(f.message("h2", s), s @ f.dense(), atol=1e-6)
    t = torch.rand(3, 2)
    assert torch.allclose(f.message("h1", t), t @ f.dense().T, atol=1e-6)
    dense = unrolled_pair(model, "h1", "h2")
    a = pgmdbn.log_partition(model, method="exact", progress=False).log_z
    b = pgmdbn.log_partition(dense, method="exact", progress=False).log_z
    assert abs(a - b) < 1e-9


def test_as_module_computes_the_messages_with_a_pooled_input():
    """The conv factor's torch.nn form: conv2d up (block sums of a pooled input first), its
    transpose down (sent to every unit of a block), the recognition field, scales and bias."""
    model = randomise(pgmdbn.cdbn((1, 10, 10), filters=[3, 2], kernels=[3, 2], pools=[2, 1]), 1)
    gen = torch.Generator().manual_seed(2)
    f, r = model.factor("h1", "h2"), model.factor("h1", "v")  # pooled input; directed
    for to in ("h1", "h2"):
        x = torch.rand(4, model.layer(f.other(to)).size, generator=gen)
        torch.testing.assert_close(f.as_module(to)(x), f.message(to, x))
    v = torch.rand(4, 100, generator=gen)
    torch.testing.assert_close(r.as_module("h1", recognition=True)(v), r.recognise(v))
    bias, half = model.layer("h1").bias, torch.full((100,), 0.5)
    scaled = r.as_module("h1", recognition=True, add=bias, in_scale=half, out_scale=torch.full((bias.numel(),), 2.0))
    torch.testing.assert_close(scaled(v), 2 * (bias + r.recognise(0.5 * v)))
    with pytest.raises(pgmdbn.UnsupportedModel, match="per channel"):
        r.as_module("h1", recognition=True, in_scale=torch.linspace(0.5, 1.0, 100))


def test_log_partition_classifier_gives_the_pooling_units_surprisal():
    """activation="log_partition": each pooled layer hands on −log p(block off) = −log(1 − P) of
    its pooling units' probabilities P in the up-pass, through the same conv modules."""
    model = randomise(pgmdbn.cdbn((1, 10, 10), filters=[3, 2], kernels=[3, 3], pools=[2, 2]), 3, scale=0.5)
    x = torch.rand(5, 100, generator=torch.Generator().manual_seed(4))
    means, softplus = to_classifier(model, 3), to_classifier(model, 3, activation="log_partition")
    h1, h2 = model.layer("h1"), model.layer("h2")
    q1 = h1.mean(model.factor("h1", "v").recognise(x))
    acts = softplus.activations(x)
    torch.testing.assert_close(h1.pooled(acts["h1"]), -torch.log1p(-h1.pooled(q1)), rtol=1e-4, atol=1e-5)
    field2 = softplus.h2[0](acts["h1"])  # the conv of h1's log partitions, pooled as the factor pools
    torch.testing.assert_close(field2, model.field("h2", {"h1": acts["h1"]}))
    torch.testing.assert_close(acts["h2"], -torch.log1p(-h2.pooled(h2.mean(field2))), rtol=1e-4, atol=1e-5)
    assert softplus.output.in_features == means.output.in_features == 2
    with pytest.raises(ValueError, match="activation"):
        to_classifier(model, 3, activation="relu")


def test_mode_classifier_is_relu_of_max_pooling():
    """activation="mode": each layer hands on s(mode(η)) ⊙ η, whose block sums are ReLU of the
    max-pooled field (an ordinary conv net's layer), and the next convolution reads them."""
    model = randomise(pgmdbn.cdbn((1, 10, 10), filters=[3, 2], kernels=[3, 3], pools=[2, 2]), 5, scale=0.5)
    x = torch.rand(5, 100, generator=torch.Generator().manual_seed(6))
    net = to_classifier(model, 3, activation="mode")
    h1 = model.layer("h1")
    field1 = model.factor("h1", "v").recognise(x)
    acts = net.activations(x)
    torch.testing.assert_close(acts["h1"], h1.statistic(h1.mode(field1)) * field1)
    relu_max = torch.nn.functional.max_pool2d(field1.reshape(5, 3, 8, 8), 2).relu().flatten(1)
    torch.testing.assert_close(h1.pooled(acts["h1"]), relu_max)
    field2 = model.field("h2", {"h1": acts["h1"]})
    torch.testing.assert_close(acts["h2"], torch.nn.functional.max_pool2d(field2.reshape(5, 2, 2, 2), 2).relu().flatten(1))


def unrolled_pair(model, a, b):
    ua, ub = model.layer(a), model.layer(b)
    dense = (Model().add_layer(a, ua.name, shape=ua.shape, **{k: x for k, x in ua.config().items() if k != "channels"})
             .add_layer(b, ub.name, shape=ub.shape, **{k: x for k, x in ub.config().items() if k != "channels"})
             .add_undirected(a, b, weight=model.weight(a, b).detach()))
    with torch.no_grad():
        dense.layer(a).bias.copy_(ua.bias)
        dense.layer(b).bias.copy_(ub.bias)
    return dense


def test_ais_within_spread_of_exact():
    model = crbm((1, 6, 6), kernel=3, pool=2, seed=2, )
    with torch.no_grad():
        model.factor("v", "h").weight.mul_(0.5)
    exact = pgmdbn.log_partition(model, method="exact", progress=False).log_z
    result = pgmdbn.log_partition(model, method="ais", n_chains=200, betas=torch.linspace(0, 1, 1001).double(),
                                  seed=0, progress=False)
    assert result.spread["log_z_minus_3sigma"] <= exact <= result.spread["log_z_plus_3sigma"], (exact, result)
    assert abs(result.log_z - exact) < 0.2


def test_free_energy_gradient_is_the_correlation():
    model = crbm((1, 5, 5), kernel=2, pool=2, seed=4)
    v = torch.bernoulli(torch.full((6, 25), 0.5), generator=torch.Generator().manual_seed(0))
    w = model.factor("v", "h").weight
    model.free_energy({"v": v}).sum().backward()
    q = model.layer("h").mean(model.field("h", {"v": v})).detach().reshape(6, 2, 4, 4)
    img = v.reshape(6, 1, 5, 5)
    expected = torch.zeros_like(w)
    for di in range(2):
        for dj in range(2):
            expected[:, 0, di, dj] = -(q * img[:, :, di:di + 4, dj:dj + 4]).sum((0, 2, 3))
    assert torch.allclose(w.grad, expected, atol=1e-5)
    # the hidden bias is shared per filter: its gradient sums over positions
    assert torch.allclose(model.layer("h").channel_bias.grad, -q.sum((0, 2, 3)), atol=1e-5)


def test_cd_and_sparsity_train_a_crbm():
    model = crbm((1, 5, 5), kernel=2, pool=2, seed=1)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(0.05)
    gen = torch.Generator().manual_seed(0)
    bars = torch.zeros(200, 1, 5, 5)
    rows = torch.randint(0, 5, (200,), generator=gen)
    bars[torch.arange(200), 0, rows] = 1
    x = bars.reshape(200, 25)
    before = pgmdbn.log_likelihood(model, x, method="exact", progress=False).mean
    result = pgmdbn.fit(model, x, epochs=15, lr=0.1, momentum=0.5, batch_size=20, seed=0, progress=False,
                        sparsity=(0.05, 0.5))
    after = pgmdbn.log_likelihood(model, x, method="exact", progress=False).mean
    assert after > before + 1.0, (before, after)
    assert len(result.history) == 15
    q = model.layer("h").mean(model.field("h", {"v": x})).mean()
    assert q < 0.25
    for method in ("pcd",):
        pgmdbn.fit(model, x, method=method, epochs=1, lr=0.01, batch_size=20, progress=False)
    with pytest.raises(ValueError, match="sparsity"):
        pgmdbn.fit(model, x, epochs=1, sparsity=(2.0, 1.0), progress=False)


def test_gibbs_sampler_matches_exact_distribution():
    model = crbm((1, 3, 3), kernel=2, pool=2, seed=7, scale=0.8)
    vs = all_binary(9)
    exact = pgmdbn.log_likelihood(model, vs, method="exact", progress=False).per_example.double().exp()
    draws = pgmdbn.sample(model, 100000, steps=30, method="gibbs", seed=0)["v"]
    codes = (draws.long() * (2 ** torch.arange(8, -1, -1))).sum(1)
    freq = torch.bincount(codes, minlength=512).double() / len(codes)
    tv = 0.5 * (freq - exact).abs().sum().item()
    assert tv < 0.045, tv  # sampling noise alone gives about 0.03 with 100k draws over 512 states
    # mean field and the ancestral sampler run on it too
    pgmdbn.sample(model, 5, steps=3, method="ancestral")
    from pgmdbn.inference import mean_field
    assert callable(mean_field)


def test_dense_matrix_and_messages_agree():
    model = crbm((2, 5, 4), filters=3, kernel=2, pool=1)
    f = model.factor("v", "h")
    w = f.dense()
    assert w.shape == (40, 3 * 4 * 3)
    s = torch.rand(4, 40)
    assert torch.allclose(f.message("h", s), s @ w, atol=1e-5)
    t = torch.rand(4, 36)
    assert torch.allclose(f.message("v", t, beta=0.3), 0.3 * t @ w.T, atol=1e-5)
    assert torch.allclose(f.interaction(s, t), ((s @ w) * t).sum(-1), atol=1e-5)


def test_save_load_roundtrip(tmp_path):
    model = crbm((1, 5, 5), kernel=2, pool=2)
    pgmdbn.save(model, tmp_path / "crbm.safetensors")
    back = pgmdbn.load(tmp_path / "crbm.safetensors")
    x = torch.bernoulli(torch.full((50, 25), 0.5))
    assert torch.allclose(model.free_energy({"v": x}), back.free_energy({"v": x}))
    assert back.layer("h").pool == 2 and back.factor("v", "h").kernel == (2, 2)


def test_cdbn_greedy_sample_and_classifier():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(60, 1 * 10 * 10, generator=gen)
    y = torch.randint(0, 3, (60,), generator=gen)
    model = pgmdbn.cdbn((1, 10, 10), filters=[3, 4], kernels=[3, 2], pools=[2, 1], seed=0)
    assert model.structure == "dbn"
    assert model.layer("h1").shape == (3, 8, 8) and model.layer("h2").shape == (4, 3, 3)
    results = pgmdbn.pretrain(model, x, epochs=2, lr=0.05, batch_size=20, progress=False, sparsity=(0.1, 0.1))
    assert len(results) == 2
    f = model.factor("h1", "v")
    assert torch.equal(f.recognition, f.weight) and f.weight.abs().sum() > 0
    assert f.recognition_bias.abs().sum() > 0  # the first stage's hidden bias (stage 2 then trains h1's own)
    samples = pgmdbn.sample(model, 4, steps=5)
    assert samples["v"].shape == (4, 100)
    assert (model.layer("h1").blocks(samples["h1"]).sum(-1) <= 1).all()
    net = to_classifier(model, 3)
    # the classifier's first block is the recognition up-pass's detection probabilities, and the
    # second convolves their pooling units as the model's h1 — h2 factor does
    feats = net.activations(x)
    h1, h2 = model.layer("h1"), model.layer("h2")
    q = h1.mean(f.recognise(x))
    assert torch.allclose(feats["h1"], q, atol=1e-5)
    q2 = h2.mean(model.field("h2", {"h1": q}))
    assert torch.allclose(feats["h2"], q2, atol=1e-5)
    assert feats["h2"].shape == (60, 4 * 3 * 3)
    pooled_top = to_classifier(pgmdbn.cdbn((1, 10, 10), filters=[3, 2], kernels=[3, 3], pools=[2, 2]), 3)
    assert pooled_top.activations(x)["h2"].shape == (60, 2 * 1 * 1) and pooled_top.output.in_features == 2
    before = error_rate(net, x, y)
    train_classifier(net, x, y, epochs=30, lr=0.1, progress=False)
    assert error_rate(net, x, y) < before or error_rate(net, x, y) < 0.3
    rand = random_like(net, seed=1)
    filters = [p for name, p in rand.named_parameters() if p.dim() == 4]  # the convolutions' filter banks
    assert filters and not torch.equal(filters[0], net.h1[0].weight)
    with pytest.raises(ModelError):
        pgmdbn.cdbn((1, 10, 10), filters=[3], kernels=[3, 2], pools=[2])


def test_cdbn_gaussian_visible():
    model = pgmdbn.cdbn((1, 8, 8), filters=[2, 2], kernels=[3, 2], pools=[2, 1], visible="gaussian")
    x = torch.randn(40, 64)
    pgmdbn.pretrain(model, x, epochs=1, lr=0.01, batch_size=20, progress=False)
    assert torch.isfinite(torch.cat([p.flatten() for p in model.parameters()])).all()
    net = to_classifier(model, 2)
    assert net(x).shape == (40, 2)


ROOT = Path(__file__).resolve().parents[1]


def _run(args, tmp_path, timeout=600):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_crbm_tutorial_runs_small(tmp_path):
    out = tmp_path / "out"
    result = _run([str(ROOT / "tutorials" / "06_crbm.py"), "--small", "--out", str(out)], tmp_path)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    before = float(re.search(r"before training: (-?[\d.]+)", text).group(1))
    after = float(re.search(r"epochs of CD-1: (-?[\d.]+)", text).group(1))
    assert after > before, text
    gap = float(re.search(r"log p\(v\) by at most ([\d.e+-]+)", text).group(1))
    assert gap < 1e-9, text
    for name in ("filters.png", "samples.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _data_missing():
    try:
        from pgmdbn.data import load_mnist, load_olivetti
        load_mnist("train", limit=1)
        load_olivetti(size=8)
    except pgmdbn.DataNotFound as e:
        return str(e)
    return None


@pytest.mark.skipif(_data_missing() is not None, reason=f"MNIST or Olivetti not available: {_data_missing()}")
def test_cdbn_ablation_runs_small(tmp_path):
    result = _run([str(ROOT / "benchmarks" / "cdbn_ablation.py"), "--small", "--json", "--threads", "1",
                   "--variants", "converted,plain,log_partition"], tmp_path)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["rows"]
    assert [r["variant"] for r in rows] == ["converted", "plain", "log_partition"]
    assert all(0 <= r["test_error"] <= 1 and 0 <= r["train_error"] <= 1 for r in rows)


@pytest.mark.skipif(_data_missing() is not None, reason=f"MNIST or Olivetti not available: {_data_missing()}")
def test_cdbn_benchmark_runs_small(tmp_path):
    out = tmp_path / "out"
    result = _run([str(ROOT / "benchmarks" / "cdbn.py"), "--small", "--json", "--threads", "1", "--out", str(out),
                   "--parts", "faces,mnist,speed,widths"], tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    rows = report["mnist"]["rows"]
    assert set(rows) == {"pixels", "dense_features", "cdbn_features", "cdbn_finetuned", "conv_random", "plain_conv"}
    assert all(0 <= r["test_error"] <= 1 and r["seconds"] >= 0 for r in rows.values())
    speed = report["speed"][0]
    assert 0 < speed["fraction"] < 1.5 and 0 < speed["fraction_closed"] < 1.5 and speed["epoch_autograd_s"] > 0
    widths = report["widths"]
    assert [w["filters"] for w in widths] == [[2, 3], [4, 3]] and all(0 <= w["test_error"] <= 1 for w in widths)
    assert [w["features"] for w in widths] == [2 * 12 * 12 + 3 * 4 * 4, 4 * 12 * 12 + 3 * 4 * 4]
    assert "CDBN pooled features" in result.stderr and "wall s" in result.stderr and "Widths:" in result.stderr
    for name in ("faces_layer1_filters.png", "faces_layer2_filters.png", "mnist_layer1_filters.png",
                 "mnist_layer2_filters.png", "speed.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_conv_dbm_trains_and_mean_field_bound_is_below_exact():
    """A DBM of two conv factors: greedy doubling, DBM training, mean field and its bound."""
    model = (Model().add_layer("v", "bernoulli", shape=(1, 4, 4), channels=1)
             .add_layer("h1", "pooled_bernoulli", shape=(2, 2, 2), pool=2, channels=2)
             .add_layer("h2", "bernoulli", shape=(2, 1, 1), channels=2)
             .add_undirected("v", "h1", factor="conv2d", filters=2, kernel=3)
             .add_undirected("h1", "h2", factor="conv2d", filters=2, kernel=1)
             .init_weights(0.1, seed=0))
    x = torch.bernoulli(torch.full((100, 16), 0.3), generator=torch.Generator().manual_seed(0))
    pgmdbn.pretrain(model, x, epochs=2, lr=0.05, batch_size=20, progress=False)
    pgmdbn.fit(model, x, method="dbm", epochs=2, lr=0.01, batch_size=20, progress=False)
    from pgmdbn.engines.meanfield import MeanField
    means, _ = MeanField(model).run({"v": x})
    assert (model.layer("h1").blocks(means["h1"]).sum(-1) < 1).all()
    exact = pgmdbn.log_likelihood(model, x, method="exact", progress=False)
    bound = pgmdbn.log_likelihood(model, x, method="bound", progress=False)
    assert (bound.per_example <= exact.per_example + 1e-4).all()
