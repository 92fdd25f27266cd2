"""Discriminative fine-tuning: the classifier reproduces the model's up-pass, backprop learns a toy
task, the source model is left alone, the random baseline, the errors, and the MNIST script."""
import copy
import importlib.util
import json
from pathlib import Path

import pytest
import torch

import pgmdbn
from pgmdbn.finetune import error_rate, feature_path, random_like, to_classifier, train_classifier
from pgmdbn.inference import up_means
from test_deep_estimators import randomise  # every parameter random: recognition differs from generative

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "finetune_mnist.py"


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def prototypes(n=600, size=16, classes=3, flip=0.1, seed=0):
    """Noisy copies of one binary block per class, with their labels."""
    gen = torch.Generator().manual_seed(seed)
    proto = (torch.arange(size) * classes // size == torch.arange(classes)[:, None]).float()
    labels = torch.randint(0, classes, (n,), generator=gen)
    x = (proto[labels] + (torch.rand(n, size, generator=gen) < flip).float()) % 2
    return x, labels


def binary(n, size, seed=1):
    return (torch.rand(n, size, generator=torch.Generator().manual_seed(seed)) < 0.5).float()


# --- the up-pass ---------------------------------------------------------------------------

def test_dbn_classifier_reproduces_the_up_pass_and_the_top_sigmoid():
    model = randomise(pgmdbn.dbn([12, 8, 6, 10], labels=3, seed=0), scale=0.7)
    net = to_classifier(model, 4)
    assert net.layer_names == ["h1", "h2", "h3"] and net.n_classes == 4 and net.n_inputs == 12
    v = binary(20, 12)
    acts, up = net.activations(v), up_means(model, v)
    for layer in ("h1", "h2"):
        torch.testing.assert_close(acts[layer], up[layer])
    # the top hidden layer from h2 alone: the label layer's weights are not on the feature path
    top = torch.sigmoid(up["h2"] @ model.weight("h2", "h3") + model.bias("h3"))
    torch.testing.assert_close(acts["h3"], top)
    assert acts["output"].shape == (20, 4)
    torch.testing.assert_close(net(v), acts["output"])


def test_layers_keeps_a_prefix_of_the_up_pass():
    model = randomise(pgmdbn.dbn([12, 8, 6, 10], seed=0))
    net = to_classifier(model, 3, layers=["h1", "h2"])
    assert net.layer_names == ["h1", "h2"] and net.output.in_features == 6
    with pytest.raises(pgmdbn.ModelError, match="prefix"):
        to_classifier(model, 3, layers=["h2"])


def test_rbm_dbm_and_gaussian_visible_paths():
    rbm = randomise(pgmdbn.rbm(10, 5, seed=0))
    v = binary(7, 10)
    torch.testing.assert_close(to_classifier(rbm, 2).activations(v)["h"], up_means(rbm, v)["h"])
    # DBM: one bottom-up pass, each weight once (the documented approximation)
    dbm = randomise(pgmdbn.dbm([10, 6, 4], seed=0))
    assert [step[:2] for step in feature_path(dbm)] == [("v", "h1"), ("h1", "h2")]
    acts = to_classifier(dbm, 3).activations(v)
    h1 = torch.sigmoid(v @ dbm.weight("v", "h1") + dbm.bias("h1"))
    torch.testing.assert_close(acts["h1"], h1)
    torch.testing.assert_close(acts["h2"], torch.sigmoid(h1 @ dbm.weight("h1", "h2") + dbm.bias("h2")))
    # Gaussian visible units send x / sigma: the classifier folds 1/sigma into its first layer
    gauss = randomise(pgmdbn.rbm(10, 5, visible="gaussian", seed=0))
    x = torch.randn(7, 10)
    expected = gauss.layer("h").mean(gauss.field("h", {"v": x}))
    torch.testing.assert_close(to_classifier(gauss, 2).activations(x)["h"], expected)


def test_a_scaled_hidden_type_hands_on_its_mean_not_the_activation_of_a_scaled_field():
    # binomial units with 3 trials: the mean is 3 * sigmoid(field), not sigmoid(3 * field)
    model = randomise(pgmdbn.dbn([10, 6, 4], hidden={"type": "binomial", "trials": 3}, seed=0), scale=0.7)
    v = binary(7, 10)
    acts, up = to_classifier(model, 2).activations(v), up_means(model, v)
    torch.testing.assert_close(acts["h1"], up["h1"])
    assert acts["h1"].max() > 1  # a count, not a probability
    top = 3 * torch.sigmoid(up["h1"] @ model.weight("h1", "h2") + model.bias("h2"))
    torch.testing.assert_close(acts["h2"], top)


def test_unsupported_hidden_units_are_refused_with_a_reason():
    model = pgmdbn.dbn([8, 5, 4], hidden="gaussian", seed=0)
    with pytest.raises(pgmdbn.UnsupportedModel, match="Bernoulli"):
        to_classifier(model, 3)
    with pytest.raises(ValueError, match="n_classes"):
        to_classifier(pgmdbn.rbm(8, 4), 1)


# --- training -------------------------------------------------------------------------------

def test_finetuning_a_pretrained_dbn_learns_and_leaves_the_dbn_alone():
    x, labels = prototypes(n=600, size=16, flip=0.1, seed=0)
    tx, ty = prototypes(n=300, size=16, flip=0.1, seed=1)
    model = pgmdbn.dbn([16, 12, 8, 12], seed=0)
    pgmdbn.pretrain(model, x, epochs=5, lr=0.1, momentum=0.5, batch_size=20, progress=False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    net = to_classifier(model, 3)
    start = error_rate(net, tx, ty)
    history = train_classifier(net, x, labels, epochs=20, lr=0.5, momentum=0.9, batch_size=20, seed=0,
                               valid=(tx, ty), progress=False).history
    assert len(history) == 20 and history[-1]["loss"] < history[0]["loss"]
    assert history[-1]["valid_error"] == pytest.approx(error_rate(net, tx, ty))
    assert start > 0.3 and error_rate(net, tx, ty) < 0.05  # noise flips 10% of 16 bits: nearly separable
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_warmup_trains_only_the_output_layer_and_dropout_runs():
    x, labels = prototypes(n=200, size=16)
    model = randomise(pgmdbn.dbn([16, 8, 6, 8], seed=0), scale=0.3)
    net = to_classifier(model, 3)
    hidden = {k: v.clone() for k, v in net.state_dict().items() if not k.startswith("output")}
    out = net.output.weight.clone()
    history = train_classifier(net, x, labels, epochs=2, warmup_epochs=2, lr=0.1, batch_size=20,
                               progress=False).history
    assert all(h["warmup"] for h in history)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in hidden.items())
    assert not torch.equal(out, net.output.weight)
    assert all(p.requires_grad for p in net.parameters())
    train_classifier(net, x, labels, epochs=1, lr=0.1, dropout=0.5, input_dropout=0.2, optimizer="adam",
                     batch_size=20, progress=False)
    assert not torch.equal(hidden["h1.0.weight"], net.h1[0].weight)
    assert error_rate(net, x, labels) == error_rate(net, x, labels)  # dropout off in evaluation


def test_random_like_keeps_the_shapes_and_changes_the_weights():
    net = to_classifier(randomise(pgmdbn.dbn([12, 8, 6, 10], seed=0)), 3)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    for init in ("glorot", "pytorch", "small"):
        fresh = random_like(net, seed=3, init=init)
        again = random_like(net, seed=3, init=init)
        assert [p.shape for p in fresh.parameters()] == [p.shape for p in net.parameters()]
        weights = [k for k in before if k.endswith("weight")]
        assert all(not torch.equal(fresh.state_dict()[k], before[k]) for k in weights)
        assert all(torch.equal(fresh.state_dict()[k], again.state_dict()[k]) for k in before)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())
    with pytest.raises(ValueError, match="init"):
        random_like(net, init="he")


def test_divergence_restores_the_last_good_epoch_and_restore_best_picks_the_best():
    x, labels = prototypes()
    net = to_classifier(randomise(pgmdbn.dbn([16, 8, 6], seed=0), scale=0.3), 3)
    kept = {}

    def poison(net, epoch, metrics):  # after epoch 1 a weight goes non-finite
        kept.update({k: v.clone() for k, v in net.state_dict().items()})
        if epoch == 1:
            next(net.parameters()).data[0, 0] = float("nan")

    with pytest.raises(pgmdbn.TrainingDiverged, match="after epoch 1 are restored"):
        train_classifier(net, x, labels, epochs=3, lr=0.1, progress=False, callbacks=[poison])
    for k, v in net.state_dict().items():
        torch.testing.assert_close(v, kept[k])

    valid = prototypes(200, seed=5)
    fresh = to_classifier(randomise(pgmdbn.dbn([16, 8, 6], seed=0), scale=0.3), 3)
    seen = []
    history = train_classifier(fresh, x, labels, epochs=6, lr=0.5, valid=valid, restore_best=True, progress=False,
                               callbacks=[lambda n, e, m: seen.append({k: v.clone() for k, v in n.state_dict().items()})]
                               ).history
    best = min(range(6), key=lambda i: history[i]["valid_loss"])
    for k, v in fresh.state_dict().items():
        torch.testing.assert_close(v, seen[best][k])
    with pytest.raises(ValueError, match="restore_best needs validation data"):
        train_classifier(fresh, x, labels, epochs=1, restore_best=True, progress=False)


def test_a_huge_learning_rate_stops_with_the_state_after_the_last_good_epoch():
    """The training loop under train_classifier: epoch 2's rate (1e30 times the first) makes
    everything non-finite; the parameters after epoch 1 come back and the message quotes the
    rate in force then, not the base rate."""
    x, labels = prototypes()
    net = to_classifier(randomise(pgmdbn.dbn([16, 8, 6], seed=0), scale=0.3), 3)
    after = []
    with pytest.raises(pgmdbn.TrainingDiverged, match=r"epoch 2: non-finite values in h1.0.weight.*after epoch 1 "
                                                      r"are restored. Lower lr \(now 1e\+29\)"):
        train_classifier(net, x, labels, epochs=3, lr=0.1, lr_schedule=lambda e: 1.0 if e == 0 else 1e30,
                         progress=False, callbacks=[lambda n, e, m: after.append(copy.deepcopy(n.state_dict()))])
    assert len(after) == 1
    for k, v in net.state_dict().items():
        assert torch.equal(v, after[0][k]), k


def test_bad_data_is_refused():
    net = to_classifier(pgmdbn.rbm(6, 4), 3)
    x = binary(10, 6)
    with pytest.raises(pgmdbn.DataError, match="labels must lie"):
        train_classifier(net, x, torch.full((10,), 3), epochs=1, progress=False)
    with pytest.raises(pgmdbn.DataError, match="shape"):
        error_rate(net, binary(10, 5), torch.zeros(10, dtype=torch.long))
    with pytest.raises(ValueError, match="warmup_epochs"):
        train_classifier(net, x, torch.zeros(10, dtype=torch.long), epochs=1, warmup_epochs=2, progress=False)


# --- the benchmark script -----------------------------------------------------------------------

def test_finetune_mnist_script_runs_small(capsys, tmp_path):
    from pgmdbn.data import load_mnist

    try:
        load_mnist("test", limit=1)
    except pgmdbn.DataNotFound as e:
        pytest.skip(f"MNIST not available (set PGMDBN_DATA or put it in ../shared/data/mnist): {e}")
    spec = importlib.util.spec_from_file_location("finetune_mnist", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--small", "--json", "--threads", "1", "--out", str(tmp_path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["train_images"] == 1000 and report["test_images"] == 500
    for key in ("pretrained", "random", "random_adam", "sklearn"):
        row = report["results"][key]
        if key == "sklearn" and "skipped" in row:  # scikit-learn is the [bench] extra, not a test dependency
            continue
        assert 0 <= row["test_error"] <= 1 and row["seconds"] > 0
    for layer in (1, 2):
        assert (tmp_path / f"mnist_layer{layer}_features.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
