"""Centering (pgmdbn.centering and the "centered" factor): the model never changes when offsets
move, a centered model is the dense model with the same parameters, its gradient is the centered
gradient of Melchior, Fischer & Wiskott (2016), and training with it helps where the data's mean
is far from 0.5."""
import math

import pytest
import torch

import pgmdbn
from pgmdbn import centering
from pgmdbn.errors import ArgumentError, ArgumentTypeError, ModelError, ModelFileError
from pgmdbn.graph import Model


def lines(side: int, n: int, noise: float = 0.05, seed: int = 0, invert: bool = False) -> torch.Tensor:
    """Bars and stripes with one line on (side × side images), each pixel flipped with ``noise``;
    ``invert`` turns it into dark lines on a bright background (pixel mean ≈ 0.77 for side 5)."""
    g = torch.Generator().manual_seed(seed)
    patterns = []
    for i in range(side):
        for rows in (True, False):
            image = torch.zeros(side, side)
            if rows:
                image[i] = 1
            else:
                image[:, i] = 1
            patterns.append(image.flatten())
    x = torch.stack(patterns)[torch.randint(2 * side, (n,), generator=g)]
    x = (x + (torch.rand(x.shape, generator=g) < noise).float()) % 2
    return 1 - x if invert else x


def randomised(model: Model, seed: int = 0) -> Model:
    """``model`` in float64 with random weights, biases and offsets."""
    g = torch.Generator().manual_seed(seed)
    model = model.double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))
        for f in model.factors.values():
            for offset in f.offsets().values():
                offset.copy_(torch.rand(offset.shape, generator=g, dtype=offset.dtype))
    return model


def joint_states(model: Model) -> dict[str, torch.Tensor]:
    """Every joint state of a small binary model, {layer: (2^total, size)}."""
    sizes = [u.size for u in model.layers.values()]
    codes = torch.arange(2 ** sum(sizes))[:, None]
    bits = ((codes >> torch.arange(sum(sizes))) & 1).double()
    return dict(zip(model.layers, bits.split(sizes, 1)))


def centred_energy(model: Model, states, offsets, biases) -> torch.Tensor:
    """The papers' form: −Σ_f (s_a − μ_a)ᵀ W (s_b − μ_b) − Σ_l b̃_l · s_l, written out here."""
    total = -sum(states[n] @ b for n, b in biases.items())
    for key, f in model.factors.items():
        mu = offsets[key]
        total = total - (((states[f.a] - mu[f.a]) @ f.weight) * (states[f.b] - mu[f.b])).sum(-1)
    return total


def centred_log_z(model: Model, offsets, biases) -> float:
    """log Z from the centered form, its constant Σ_f μ_aᵀ W μ_b put back (E = E_c + Σ μ_aᵀ W μ_b)."""
    constant = sum((offsets[k][f.a] @ f.weight @ offsets[k][f.b]).item() for k, f in model.factors.items())
    energies = centred_energy(model, joint_states(model), offsets, biases)
    return torch.logsumexp(-energies, 0).item() - constant


def snapshot(model: Model):
    offsets = {k: {n: o.clone() for n, o in f.offsets().items()} for k, f in model.factors.items()}
    return offsets, {n: b.clone() for n, b in centering.centered_biases(model).items()}


# --- (1) moving the offsets leaves the model unchanged ------------------------------------------

@pytest.mark.parametrize("shape", [[6, 4], [4, 3, 2]], ids=["rbm", "dbm"])
def test_moving_offsets_compensates_the_biases_and_keeps_log_z(shape):
    build = pgmdbn.rbm if len(shape) == 2 else pgmdbn.dbm
    model = randomised(build(*shape, factor="centered") if len(shape) == 2 else build(shape, factor="centered"))
    x = (torch.rand(16, shape[0], generator=torch.Generator().manual_seed(1)) < 0.4).double()
    log_z = pgmdbn.log_partition(model, method="exact", progress=False).log_z
    ll = pgmdbn.log_likelihood(model, x, method="exact", progress=False).per_example
    params = {n: p.clone() for n, p in model.named_parameters()}
    offsets, biases = snapshot(model)
    assert abs(centred_log_z(model, offsets, biases) - log_z) < 1e-9

    targets = {n: torch.rand(u.size, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
               for n, u in model.layers.items()}
    centering.move_offsets(model, targets, 0.7)
    moved, moved_biases = snapshot(model)
    for key, f in model.factors.items():
        for n in (f.a, f.b):
            assert torch.allclose(moved[key][n], offsets[key][n] + 0.7 * (targets[n] - offsets[key][n]), atol=1e-12)
    # the papers' compensation, written out: b̃_a += W (μ_b' − μ_b), b̃_b += Wᵀ (μ_a' − μ_a)
    expected = {n: b.clone() for n, b in biases.items()}
    for key, f in model.factors.items():
        expected[f.a] += f.weight.detach() @ (moved[key][f.b] - offsets[key][f.b])
        expected[f.b] += f.weight.detach().T @ (moved[key][f.a] - offsets[key][f.a])
    for n in expected:
        assert torch.allclose(moved_biases[n], expected[n], atol=1e-12, rtol=0)
    assert abs(centred_log_z(model, moved, moved_biases) - log_z) < 1e-9
    assert all(torch.equal(p, params[n]) for n, p in model.named_parameters())  # nothing stored moved
    assert abs(pgmdbn.log_partition(model, method="exact", progress=False).log_z - log_z) < 1e-9
    after = pgmdbn.log_likelihood(model, x, method="exact", progress=False).per_example
    assert torch.allclose(after, ll, atol=1e-9, rtol=0)


def test_update_offsets_follows_the_data_driven_means():
    model = randomised(pgmdbn.rbm(5, 3, factor="centered"))
    x = (torch.rand(40, 5, generator=torch.Generator().manual_seed(3)) < 0.3).double()
    centering.update_offsets(model, {"v": x}, 1.0)
    f = model.factor("v", "h")
    assert torch.allclose(f.offset_a, x.mean(0), atol=1e-12)
    assert torch.allclose(f.offset_b, torch.sigmoid(model.field("h", {"v": x})).mean(0), atol=1e-12)
    start = f.offset_b.clone()
    centering.update_offsets(model, {"v": 1 - x}, 0.1)
    target = torch.sigmoid(model.field("h", {"v": 1 - x})).mean(0)
    assert torch.allclose(f.offset_b, start + 0.1 * (target - start), atol=1e-12)


def test_a_new_centered_factor_starts_at_the_mean_under_the_bias():
    model = pgmdbn.rbm(4, 3, factor="centered")
    assert torch.equal(model.factor("v", "h").offset_a, torch.full((4,), 0.5))
    assert torch.equal(model.factor("v", "h").offset_b, torch.full((3,), 0.5))


# --- (2) a centered model is the dense model with the same parameters -------------------------

def dense_twin(model: Model) -> Model:
    twin = Model()
    for name, units in model.layers.items():
        twin.add_layer(name, units.name, units.size)
    for f in model.factors.values():
        twin.add_undirected(f.a, f.b)
    twin = twin.to(next(model.parameters()).dtype)
    twin.load_state_dict({k: t for k, t in model.state_dict().items() if "offset" not in k})
    return twin


def test_centered_and_dense_twins_are_one_model():
    model = randomised(pgmdbn.rbm(5, 4, factor="centered"))
    with torch.no_grad():
        model.factor("v", "h").weight.mul_(0.5)
    twin = dense_twin(model)
    x = joint_states(model.submodel(["v"]))["v"]
    assert torch.equal(model.free_energy({"v": x}), twin.free_energy({"v": x}))
    exact = pgmdbn.log_partition(model, method="exact", progress=False).log_z
    assert exact == pgmdbn.log_partition(twin, method="exact", progress=False).log_z
    ours, theirs = (pgmdbn.log_partition(m, method="ais", n_chains=100, betas=torch.linspace(0, 1, 500).double(),
                                         seed=0, progress=False).log_z for m in (model, twin))
    assert ours == theirs and abs(ours - exact) < 0.05
    a = pgmdbn.sample(model, 3000, steps=30, seed=4)["v"]
    b = pgmdbn.sample(twin, 3000, steps=30, seed=4)["v"]
    assert torch.equal(a, b)
    codes = (a @ (2 ** torch.arange(5.0)).double()).long()
    empirical = torch.bincount(codes, minlength=32).double() / len(codes)
    exact_p = (-model.free_energy({"v": x}) - exact).exp()
    assert 0.5 * (empirical - exact_p).abs().sum() < 0.06


# --- the gradient is the centered one ---------------------------------------------------------

def test_the_surrogate_gives_melchiors_centered_gradient():
    model = randomised(pgmdbn.rbm(5, 3, factor="centered"))
    g = torch.Generator().manual_seed(5)
    x, y = ((torch.rand(20, 5, generator=g) < p).double() for p in (0.3, 0.6))
    loss = model.free_energy({"v": x}).mean() - model.free_energy({"v": y}).mean()
    f = model.factor("v", "h")
    params = [f.weight, model.layer("v").bias, model.layer("h").bias]
    gw, gb, gc = torch.autograd.grad(loss, params, retain_graph=True)
    surrogate = centering.centered_loss(model, loss)
    assert surrogate.item() == loss.item()
    cw, cb, cc = torch.autograd.grad(surrogate, params)
    mu, lam = f.offset_a, f.offset_b
    expected_w = gw - torch.outer(gb, lam) - torch.outer(mu, gc)  # Melchior et al. (2016), eq. of ∇W
    assert torch.allclose(cw, expected_w, atol=1e-12)
    assert torch.allclose(cb, gb - expected_w @ lam, atol=1e-12)
    assert torch.allclose(cc, gc - expected_w.T @ mu, atol=1e-12)


def test_a_dbm_step_is_a_step_in_centered_coordinates():
    """One SGD step of the surrogate equals a step taken on (W, b̃) by autograd through the
    centered parametrisation, mapped back to the natural parameters."""
    model = randomised(pgmdbn.dbm([4, 3, 2], factor="centered"))
    g = torch.Generator().manual_seed(6)
    v, h2 = (torch.rand(12, 4, generator=g) < 0.5).double(), (torch.rand(12, 2, generator=g) < 0.5).double()
    w1, w2 = model.factor("v", "h1"), model.factor("h1", "h2")
    m1, m2 = w1.offsets(), w2.offsets()  # each factor its own offsets (h1's differ here)

    def natural(wa, wb, bias):  # b = b̃ − Σ_f W μ_other
        return {"v": bias["v"] - wa @ m1["h1"], "h1": bias["h1"] - wa.T @ m1["v"] - wb @ m2["h2"],
                "h2": bias["h2"] - wb.T @ m2["h1"]}

    def loss_of(wa, wb, b):  # mean F(v, h2 | data) − mean F(v, h2 | "model"), h1 summed out
        def free(vv, hh):
            return -(vv @ b["v"]) - hh @ b["h2"] - torch.nn.functional.softplus(b["h1"] + vv @ wa + hh @ wb.T).sum(-1)
        return free(v, h2).mean() - free(1 - v, 1 - h2).mean()

    loss = model.free_energy({"v": v, "h2": h2}).mean() - model.free_energy({"v": 1 - v, "h2": 1 - h2}).mean()
    b = {n: model.layer(n).bias for n in model.layers}
    assert abs(loss.item() - loss_of(w1.weight, w2.weight, b).item()) < 1e-12
    params = [w1.weight, w2.weight, *b.values()]
    ours = torch.autograd.grad(centering.centered_loss(model, loss), params)

    tilde = {n: t.clone().requires_grad_() for n, t in centering.centered_biases(model).items()}
    wa, wb = w1.weight.detach().clone().requires_grad_(), w2.weight.detach().clone().requires_grad_()
    assert all(torch.allclose(natural(wa, wb, tilde)[n], b[n], atol=1e-12) for n in b)
    grads = torch.autograd.grad(loss_of(wa, wb, natural(wa, wb, tilde)), [wa, wb, *tilde.values()])
    step = dict(zip(["wa", "wb", *tilde], grads))
    after = natural(wa - step["wa"], wb - step["wb"], {n: tilde[n] - step[n] for n in tilde})
    before = natural(wa, wb, tilde)
    theirs = [step["wa"], step["wb"], *[before[n] - after[n] for n in b]]
    for a, c in zip(ours, theirs):
        assert torch.allclose(a, c, atol=1e-10)


# --- (3), (4) training --------------------------------------------------------------------------

def exact_ll(model, x) -> float:
    return pgmdbn.log_likelihood(model.double(), x, method="exact", progress=False).mean


def test_centered_pcd_beats_plain_pcd_on_dark_lines_on_a_bright_background():
    x = lines(5, 500, invert=True)
    assert x.mean() > 0.75
    scores = {}
    for factor in ("dense", "centered"):
        for seed in (0, 1):
            model = pgmdbn.rbm(25, 10, factor=factor, seed=seed, init_scale=0.01)
            start = exact_ll(model, x)
            pgmdbn.fit(model.float(), x, method="pcd", epochs=30, batch_size=25, lr=0.2, momentum=0.5, seed=seed,
                       progress=False)
            scores[factor, seed] = exact_ll(model, x)
            assert scores[factor, seed] > start + (5 if factor == "centered" else 1), (factor, seed, start)
    print({k: round(v, 3) for k, v in scores.items()})
    dense, centred = (sum(scores[f, s] for s in (0, 1)) / 2 for f in ("dense", "centered"))
    assert centred > dense + 2, (centred, dense)


def test_centered_dbm_training_improves_the_exact_likelihood():
    x = lines(3, 300, invert=True)
    model = pgmdbn.dbm([9, 6, 4], factor="centered", seed=0, init_scale=0.01)
    start = exact_ll(model, x)
    pgmdbn.pretrain(model.float(), x, epochs=3, method="cd", lr=0.1, progress=False)
    pretrained = exact_ll(model, x)
    result = pgmdbn.fit(model.float(), x, method="dbm", epochs=20, batch_size=20, lr=0.1, seed=0, progress=False,
                        engine_options={"chains": 50, "centering": 0.05})
    trained = exact_ll(model, x)
    print(f"DBM 9-6-4 exact log-likelihood: start {start:.3f}, pretrained {pretrained:.3f}, trained {trained:.3f}")
    assert math.isfinite(result.history[-1]["loss"]) and trained > start + 0.5 and trained > pretrained
    f = model.factor("h1", "h2")
    assert not torch.equal(f.offset_b, torch.full_like(f.offset_b, 0.5))
    assert torch.equal(model.factor("v", "h1").offset_b, f.offset_a)  # h1's offset is one value in both factors


def test_greedy_pretraining_joins_a_centered_dbm_in_centered_coordinates():
    """A doubled stage RBM's natural biases absorb −2Wᵀμ; joined as they were, the centered DBM
    started far below the dense one (here −11.74 against −8.23; on MNIST −260 against −145).
    Joined as centered biases with the stages' offsets, it starts at least as well."""
    x = lines(5, 500, invert=True)
    scores = {}
    for factor in ("dense", "centered"):
        model = pgmdbn.dbm([25, 10, 6], factor=factor, seed=0, init_scale=0.01)
        pgmdbn.pretrain(model.float(), x, epochs=[20, 20], method="cd", lr=0.3, momentum=0.5, batch_size=25,
                        progress=False)
        scores[factor] = exact_ll(model, x)
    print({k: round(v, 3) for k, v in scores.items()})
    assert scores["centered"] > scores["dense"] - 0.1, scores
    assert not torch.equal(model.factor("h1", "h2").offset_a, torch.full((10,), 0.5))  # the stage's offsets


# --- (5) files and resume -------------------------------------------------------------------------

def test_offsets_survive_save_load_and_resume(tmp_path):
    x = lines(3, 120, invert=True)

    def run(epochs, **options):
        model = pgmdbn.rbm(9, 5, factor="centered", seed=0, init_scale=0.1)
        pgmdbn.fit(model, x, method="pcd", epochs=epochs, batch_size=20, lr=0.1, seed=0, progress=False, **options)
        return model

    model = run(3)
    path = pgmdbn.save(model, tmp_path / "centred.safetensors")
    loaded = pgmdbn.load(path)
    assert loaded.factor("v", "h").name == "centered"
    for (name, t), (_, u) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(t, u), name
    assert not torch.equal(loaded.factor("v", "h").offset_b, torch.full((5,), 0.5))

    run(2, checkpoint_dir=tmp_path / "ck")
    resumed = run(3, checkpoint_dir=tmp_path / "ck", resume=tmp_path / "ck")
    for (name, t), (_, u) in zip(model.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(t, u), name


# --- (6) hostile ----------------------------------------------------------------------------------

@pytest.mark.parametrize("rate, error", [(-0.1, ArgumentError), (1.5, ArgumentError), (float("nan"), ArgumentError),
                                         ("0.1", ArgumentTypeError), (True, ArgumentTypeError),
                                         ([0.1], ArgumentTypeError)])
@pytest.mark.parametrize("method", ["pcd", "cd", "dbm"])
def test_bad_rates_are_refused_by_name(rate, error, method):
    model = pgmdbn.rbm(4, 3, factor="centered")
    with pytest.raises(error, match="centering="):
        pgmdbn.fit(model, torch.ones(8, 4), method=method, epochs=1, progress=False,
                   engine_options={"centering": rate})
    with pytest.raises(error, match="rate="):
        centering.move_offsets(model, {"v": torch.zeros(4)}, rate)


def test_centering_a_model_without_offsets_is_refused():
    with pytest.raises(ArgumentError, match="factor='centered'"):
        pgmdbn.fit(pgmdbn.rbm(4, 3), torch.ones(8, 4), method="pcd", epochs=1, progress=False,
                   engine_options={"centering": 0.1})


def test_a_dense_model_trains_as_before():
    x = lines(3, 60)
    a, b = pgmdbn.rbm(9, 4, seed=0, init_scale=0.1), pgmdbn.rbm(9, 4, seed=0, init_scale=0.1)
    pgmdbn.fit(a, x, method="pcd", epochs=2, batch_size=20, progress=False)
    pgmdbn.fit(b, x, method="pcd", epochs=2, batch_size=20, progress=False, engine_options={"centering": None})
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_centered_factors_are_undirected_with_a_bias_per_unit():
    with pytest.raises(ModelError, match="undirected"):
        pgmdbn.dbn([6, 4, 3], factor="centered")
    with pytest.raises(ModelError, match="undirected"):
        Model().add_layer("v", "bernoulli", 4).add_layer("h", "bernoulli", 3).add_directed("h", "v", "centered")
    shared = Model().add_layer("v", "bernoulli", shape=(2, 2, 2), channels=2).add_layer("h", "bernoulli", 3)
    with pytest.raises(ModelError, match="channels"):
        shared.add_undirected("v", "h", "centered")


def test_a_file_declaring_a_huge_centered_factor_is_refused_before_building(tmp_path):
    import json

    from pgmdbn import io

    model = pgmdbn.rbm(20000, 1, factor="centered")  # a real header to edit
    path = io.save(model, tmp_path / "small.safetensors")
    tensors, header = io.read_tensors(path)
    spec = json.loads(header["spec"])
    spec["layers"][1]["size"] = 20000  # 4·10^8 weights (1.6 GB) declared; the file holds 20,000
    tensors["layers.h.bias"] = torch.zeros(20000)
    tensors["factors.v--h.offset_b"] = torch.zeros(20000)
    header["spec"] = json.dumps(spec)
    io.write_tensors(tensors, tmp_path / "huge.safetensors", header)
    with pytest.raises(ModelFileError, match="declares 400,000,000 parameter entries"):
        pgmdbn.load(tmp_path / "huge.safetensors")
