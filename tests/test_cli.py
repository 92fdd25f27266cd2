"""The ``pgmdbn`` command, run in-process through pgmdbn.cli.main at small sizes."""
from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest
import torch

import pgmdbn
from pgmdbn import cli, io
from pgmdbn.demo import bars_split, run_demo, torch_threads
from pgmdbn.errors import DataNotFound


# --- helpers ------------------------------------------------------------------------------

def run(capsys, *argv) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``pgmdbn argv``."""
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_json(capsys, *argv):
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def png_size(path) -> tuple[int, int]:
    """(width, height) of a PNG, after checking its signature and every chunk's CRC."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, kinds = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        kinds.append(kind)
        pos += 12 + length
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and b"IDAT" in kinds
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A small RBM trained on bars-and-stripes and saved, shared by the loglik/sample tests."""
    path = tmp_path_factory.mktemp("model") / "bars.safetensors"
    model = pgmdbn.rbm(16, 8, seed=0, init_scale=0.1)
    with torch_threads(1):  # tiny matrices: more threads only contend with other processes
        pgmdbn.fit(model, bars_split("train"), method="pcd", k=3, epochs=3, batch_size=20, lr=0.05,
                   momentum=0.9, progress=False)
    pgmdbn.save(model, path)
    return path


# --- demo -----------------------------------------------------------------------------------

def test_demo_writes_pngs_and_reports_exact_log_likelihoods(capsys, tmp_path, device):
    report = run_json(capsys, "demo", "--epochs", 3, "--hidden", 6, "--out", tmp_path / "demo", "--device", device)
    ll = report["log_likelihood"]
    assert ll["kind"] == "exact"
    assert ll["optimum"] == pytest.approx(-np.log(30))
    for split in ("train", "test"):
        # The optimum bounds the population log-likelihood; a finite sample may beat it by a hair.
        assert ll["trained"][split] < ll["optimum"] + 0.05
        assert ll["trained"][split] > ll["base_rate"][split]  # three epochs already help
    assert report["n_train"] == 2000 and report["n_test"] == 1000
    assert report["curve"]["epoch"] == [0, 1, 2, 3]  # epoch 0: the untrained model
    assert report["curve"]["test"][-1] == ll["trained"]["test"]
    assert report["curve"]["train"][-1] == ll["trained"]["train"]
    for name in ("samples", "filters", "curve"):
        assert png_size(tmp_path / "demo" / f"{name}.png")[0] > 0
    model = pgmdbn.load(report["files"]["model"])
    assert pgmdbn.log_likelihood(model, bars_split("test"), progress=False).mean == pytest.approx(
        ll["trained"]["test"], abs=1e-6)


def test_demo_human_output_names_the_optimum_and_base_rate(capsys, tmp_path):
    code, out, err = run(capsys, "demo", "--epochs", 1, "--hidden", 4, "--out", tmp_path)
    assert code == 0, err
    assert "-log 30" in out and "-3.401" in out and "base rate" in out
    assert "epoch" in err  # progress goes to stderr


def test_run_demo_is_reproducible(tmp_path):
    a = run_demo(hidden=4, epochs=2, seed=3, out=tmp_path / "a", progress=False)
    b = run_demo(hidden=4, epochs=2, seed=3, out=tmp_path / "b", progress=False)
    assert a["log_likelihood"] == b["log_likelihood"]


def test_demo_on_mnist(capsys, tmp_path):
    try:
        pgmdbn.data.data_dir()
    except DataNotFound as e:
        pytest.skip(f"MNIST not available: {e}")
    report = run_demo(data="mnist", hidden=6, epochs=1, out=tmp_path, progress=False)
    assert report["model"]["visible"] == 784 and report["n_test"] == 10000
    ll = report["log_likelihood"]
    assert ll["optimum"] is None
    assert ll["trained"]["test"] > ll["base_rate"]["test"]
    width, height = png_size(tmp_path / "samples.png")  # 8 x 8 tiles at scale 2, a title line above
    assert width == (8 * 28 + 7) * 2 and height > (8 * 28 + 7) * 2


# --- train ------------------------------------------------------------------------------------

def write_spec(tmp_path, train: dict | None = None):
    spec = pgmdbn.rbm(16, 6).spec()
    spec["seed"] = 1
    spec["init_scale"] = 0.1
    if train is not None:
        spec["train"] = train
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return path


def test_train_from_spec_file_saves_a_loadable_model(capsys, tmp_path):
    spec = write_spec(tmp_path, {"method": "pcd", "k": 2, "epochs": 5, "lr": 0.05, "batch_size": 50})
    out = tmp_path / "trained.safetensors"
    result = run_json(capsys, "train", spec, "--data", "bars", "--out", out, "--epochs", 2)
    assert result["train"]["epochs"] == 2  # the command line overrides the spec
    assert result["train"]["method"] == "pcd"
    assert len(result["history"]) == 2
    model, _, meta = io.load(out, with_extra=True)
    assert model.spec()["layers"][1]["size"] == 6
    assert meta["train"]["k"] == 2
    untrained = io.model_from_spec_file(spec)
    assert not torch.equal(model.weight("v", "h"), untrained.weight("v", "h"))


@pytest.mark.parametrize("suffix", ["npy", "csv"])
def test_train_reads_npy_and_csv_data(capsys, tmp_path, suffix):
    x = bars_split("train")[:200].numpy()
    data = tmp_path / f"data.{suffix}"
    if suffix == "npy":
        np.save(data, x)
    else:
        np.savetxt(data, x, delimiter=",", fmt="%d", header=",".join(f"p{i}" for i in range(16)), comments="")
    result = run_json(capsys, "train", write_spec(tmp_path), "--data", data, "--epochs", 1,
                      "--out", tmp_path / "m.safetensors")
    assert result["n_examples"] == 200


def test_train_rejects_unknown_training_options(capsys, tmp_path):
    code, out, err = run(capsys, "train", write_spec(tmp_path, {"epochz": 3}), "--data", "bars",
                         "--out", tmp_path / "m.safetensors")
    assert code == 2 and out == ""
    assert "train.epochz is not a training option" in err


def test_train_method_must_be_a_trainer(capsys, tmp_path):
    code, _, err = run(capsys, "train", write_spec(tmp_path), "--data", "bars", "--method", "gibbs")
    assert code == 2 and "'gibbs' is a sampler, not a trainer" in err and "pcd" in err
    code, _, err = run(capsys, "train", write_spec(tmp_path), "--data", "bars", "--method", "nope")
    assert code == 2 and "unknown engine 'nope'" in err


# --- loglik ----------------------------------------------------------------------------------

def test_loglik_json_matches_the_python_api(capsys, model_file, device):
    result = run_json(capsys, "loglik", model_file, "--data", "bars", "--method", "exact", "--device", device)
    expected = pgmdbn.log_likelihood(pgmdbn.load(model_file), bars_split("test"), method="exact", progress=False)
    assert result["mean"] == pytest.approx(expected.mean, abs=1e-6)
    assert result["log_z"] == pytest.approx(expected.log_z, abs=1e-6)
    assert result["kind"] == "exact" and result["n_examples"] == 1000


def test_loglik_human_output_and_split(capsys, model_file):
    code, out, _ = run(capsys, "loglik", model_file, "--data", "bars", "--split", "train", "--limit", 100)
    assert code == 0
    expected = pgmdbn.log_likelihood(pgmdbn.load(model_file), bars_split("train")[:100], progress=False)
    assert f"{expected.mean:.4f} nats" in out and "100 examples" in out


def test_loglik_ais_and_raise_options(capsys, model_file):
    exact = run_json(capsys, "loglik", model_file, "--data", "bars", "--limit", 200)
    ais = run_json(capsys, "loglik", model_file, "--data", "bars", "--limit", 200, "--method", "ais",
                   "--temperatures", 300, "--chains", 50, "--runs", 2, "--compare-raise", 50)
    assert ais["kind"] == "estimate" and ais["spread"]["n_chains"] == 100 and len(ais["spread"]["log_z_runs"]) == 2
    assert ais["mean"] == pytest.approx(exact["mean"], abs=0.3) and "raise_mean" in ais["spread"]
    low = run_json(capsys, "loglik", model_file, "--data", "bars", "--limit", 200, "--method", "raise",
                   "--temperatures", 300)
    assert low["kind"] == "stochastic lower bound" and low["mean"] < exact["mean"] + 0.05


def test_loglik_method_choices_are_the_registered_estimators():
    parser = cli.build_parser()
    loglik = parser._subparsers._group_actions[0].choices["loglik"]
    method = next(a for a in loglik._actions if a.dest == "method")
    assert list(method.choices) == pgmdbn.registry.names("estimators")


# --- sample -----------------------------------------------------------------------------------

def test_sample_writes_a_png_grid_and_the_samples(capsys, tmp_path, model_file, device):
    png, npy = tmp_path / "s.png", tmp_path / "s.npy"
    result = run_json(capsys, "sample", model_file, "-n", 9, "--steps", 20, "--out", png, "--save", npy,
                      "--scale", 2, "--device", device)
    width, height = png_size(png)  # the tiles at the scale asked for, a title line above
    assert width == (3 * 4 + 2) * 2 and height > (3 * 4 + 2) * 2
    samples = np.load(npy)
    assert samples.shape == (9, 16) and set(np.unique(samples)) <= {0.0, 1.0}
    assert np.array_equal(np.asarray(result["samples"]), samples)


def test_sample_is_reproducible_and_prints_text_images(capsys, tmp_path, model_file):
    code, out, _ = run(capsys, "sample", model_file, "-n", 4, "--steps", 5, "--out", tmp_path / "a.png")
    assert code == 0
    assert "#" in out or "." in out
    a = run_json(capsys, "sample", model_file, "-n", 4, "--steps", 5, "--out", tmp_path / "a.png", "--seed", 7)
    b = run_json(capsys, "sample", model_file, "-n", 4, "--steps", 5, "--out", tmp_path / "b.png", "--seed", 7)
    assert a["samples"] == b["samples"]


def test_sample_needs_a_shape_for_non_square_layers(capsys, tmp_path):
    path = tmp_path / "m.safetensors"
    pgmdbn.save(pgmdbn.rbm(6, 3, seed=0), path)
    code, _, err = run(capsys, "sample", path, "-n", 2, "--steps", 1, "--out", tmp_path / "x.png")
    assert code == 2 and "--shape" in err
    code, _, err = run(capsys, "sample", path, "-n", 2, "--steps", 1, "--out", tmp_path / "x.png", "--shape", "2x3")
    assert code == 0, err
    assert png_size(tmp_path / "x.png")[0] > 0


# --- deep models: train, sample --clamp, graph, loglik ------------------------------------------

DEEP = {"lr": 0.05, "batch_size": 20, "seed": 0}


def write_deep_spec(tmp_path, model, name, train=None):
    spec = model.spec()
    spec.update(seed=0, init_scale=0.1, train={**DEEP, **(train or {})})
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(spec))
    return path


def train_json(capsys, *argv):
    with torch_threads(1):
        return run_json(capsys, "train", *argv)


@pytest.fixture(scope="module")
def deep_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("deep")


@pytest.fixture(scope="module")
def dbn_run(deep_dir):
    """A 16-12-10 DBN with a 2-state label layer, trained by the CLI on labelled bars: greedy
    pretraining from the spec's train object, then up-down (the dbn default)."""
    spec = write_deep_spec(deep_dir, pgmdbn.dbn([16, 12, 10], labels=2), "dbn",
                           {"pretrain_epochs": 2, "epochs": 2})
    out = deep_dir / "dbn.safetensors"
    with torch_threads(1):
        code = cli.main(["train", str(spec), "--data", "bars", "--limit", "300", "--out", str(out), "--json"])
    assert code == 0
    return spec, out


def test_train_dbn_with_labels_pretrains_then_fine_tunes(capsys, dbn_run, deep_dir):
    spec, out = dbn_run
    result = train_json(capsys, spec, "--data", "bars", "--limit", 300, "--out", deep_dir / "again.safetensors")
    assert result["kind"] == "dbn" and result["labels"] == "y" and result["n_examples"] == 300
    assert [s["layer"] for s in result["pretrain"]] == ["h1", "h2"]
    assert all(len(s["history"]) == 2 for s in result["pretrain"])
    assert result["train"]["method"] == "updown" and len(result["history"]) == 2
    assert 0 <= result["accuracy"] <= 1
    model, _, meta = io.load(out, with_extra=True)
    assert model.structure == "dbn" and len(meta["pretrain"]) == 2
    again = pgmdbn.load(deep_dir / "again.safetensors")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_bars_labels_tell_bars_from_stripes():
    patterns = pgmdbn.data.bars_and_stripes(4)  # 16 stripe patterns (incl. all-off/on), then 14 bars
    assert cli.bars_labels(patterns).tolist() == [0] * 16 + [1] * 14


@pytest.mark.parametrize("kind, argv, method", [
    ("dbm", ["--pretrain-epochs", 1, "--epochs", 1], "dbm"),
    ("sbn", ["--epochs", 1], "wakesleep"),
    ("sbn", ["--epochs", 1, "--method", "rws"], "rws"),
])
def test_train_dbm_and_sbn(capsys, deep_dir, kind, argv, method):
    model = pgmdbn.dbm([16, 8, 6]) if kind == "dbm" else pgmdbn.sbn([16, 8, 4])
    spec = write_deep_spec(deep_dir, model, kind)
    out = deep_dir / f"{kind}-{method}.safetensors"
    result = train_json(capsys, spec, "--data", "bars", "--limit", 200, "--out", out, *argv)
    assert result["kind"] == kind and result["train"]["method"] == method and len(result["history"]) == 1
    assert len(result["pretrain"]) == (2 if kind == "dbm" else 0)
    assert pgmdbn.load(out).structure == kind
    png = deep_dir / f"{kind}-{method}.png"
    sampled = run_json(capsys, "sample", out, "--n", 4, "--steps", 5, "--out", png)
    assert png_size(png)[0] > 0 and sampled["kind"] == kind and sampled["values"] == "means"


def test_train_npz_with_labels_and_label_errors(capsys, tmp_path):
    x = bars_split("train")[:100]
    data = tmp_path / "labelled.npz"
    np.savez(data, x=x.numpy(), y=cli.bars_labels(x).numpy())
    spec = write_deep_spec(tmp_path, pgmdbn.dbn([16, 6, 5], labels=2), "dbn", {"epochs": 1})
    result = train_json(capsys, spec, "--data", data, "--out", tmp_path / "m.safetensors")
    assert result["labels"] == "y" and result["n_examples"] == 100
    np.savez(data, x=x.numpy(), y=np.full(100, 5))
    code, _, err = run(capsys, "train", spec, "--data", data, "--out", tmp_path / "m.safetensors")
    assert code == 2 and "layer 'y' has 2 states" in err and err.count("\n") == 1
    np.save(tmp_path / "x.npy", x.numpy())
    code, _, err = run(capsys, "train", spec, "--data", tmp_path / "x.npy", "--out", tmp_path / "m.safetensors")
    assert code == 2 and "label layer 'y'" in err and "needs labels" in err


@pytest.mark.parametrize("model, method, able", [
    (pgmdbn.dbn([16, 6, 5]), "cd", "trainers that handle a dbn: updown"),
    (pgmdbn.dbm([16, 6, 5]), "updown", "trainers that handle a dbm: dbm"),
    (pgmdbn.sbn([16, 6]), "pcd", "trainers that handle a sbn: rws, wakesleep"),
])
def test_train_method_that_cannot_handle_the_structure(capsys, tmp_path, model, method, able):
    spec = write_deep_spec(tmp_path, model, "m", {"pretrain_epochs": 1})
    code, out, err = run(capsys, "train", spec, "--data", "bars", "--method", method,
                         "--out", tmp_path / "m.safetensors")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert f"engine {method!r}" in err and able in err
    assert not (tmp_path / "m.safetensors").exists()


def test_train_rejects_bad_pretraining_options(capsys, tmp_path):
    spec = write_deep_spec(tmp_path, pgmdbn.dbn([16, 6, 5]), "m", {"pretrain_epochs": "many"})
    code, _, err = run(capsys, "train", spec, "--data", "bars")
    assert code == 2 and "train.pretrain_epochs must be a non-negative integer" in err


def test_sample_clamped_label_writes_a_png_grid(capsys, dbn_run, tmp_path):
    _, model = dbn_run
    png = tmp_path / "x.png"
    result = run_json(capsys, "sample", model, "--n", 9, "--steps", 10, "--clamp", "y=1", "--out", png,
                      "--scale", 2)
    width, height = png_size(png)  # the tiles at the scale asked for, a title line above
    assert width == (3 * 4 + 2) * 2 and height > (3 * 4 + 2) * 2
    assert result["clamp"] == {"y": 1} and result["kind"] == "dbn" and result["values"] == "means"
    samples = np.asarray(result["samples"])
    assert samples.shape == (9, 16) and samples.min() >= 0 and samples.max() <= 1
    again = run_json(capsys, "sample", model, "--n", 9, "--steps", 10, "--clamp", "y=1", "--out", png)
    assert again["samples"] == result["samples"]  # --seed 0 by default


@pytest.mark.parametrize("clamp, message", [
    ("z=1", "--clamp z=1: unknown layer 'z'; layers: v, h1, h2, y"),
    ("y=2", "--clamp y=2: layer 'y' (softmax) has 2 categories: class indices must lie in 0..1, got 2"),
    ("h2=1,0", "--clamp h2=1,0: layer 'h2' expects data of shape (n, 10)"),
    ("h2=" + ",".join(["0.5"] * 10), "layer 'h2' (bernoulli) needs values in {0, 1}"),
    ("v=" + ",".join(["1"] * 16), "cannot clamp layer 'v': it has directed parents"),
])
def test_sample_bad_clamps_are_one_line_errors(capsys, dbn_run, tmp_path, clamp, message):
    code, out, err = run(capsys, "sample", dbn_run[1], "--n", 2, "--steps", 1, "--clamp", clamp,
                         "--out", tmp_path / "x.png")
    assert code == 2 and out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("pgmdbn: error: ") and message in err
    assert not (tmp_path / "x.png").exists()


def test_sample_clamp_syntax_is_a_usage_error(capsys, dbn_run):
    code, _, err = run(capsys, "sample", dbn_run[1], "--clamp", "y")
    assert code == 2 and "expected LAYER=VALUE" in err


@pytest.mark.parametrize("source", ["model", "spec"])
def test_graph_writes_a_png_of_the_model(capsys, dbn_run, tmp_path, source):
    spec, model = dbn_run
    png = tmp_path / "graph.png"
    result = run_json(capsys, "graph", model if source == "model" else spec, "--out", png)
    assert result["out"] == str(png) and result["kind"] == "dbn"
    assert [layer["name"] for layer in result["layers"]] == ["v", "h1", "h2", "y"]
    assert {"a": "h1", "b": "v", "directed": True} in result["factors"]
    assert png_size(png) == (result["width"], result["height"])


def test_loglik_of_deep_models(capsys, dbn_run):
    model = dbn_run[1]
    exact = run_json(capsys, "loglik", model, "--data", "bars", "--limit", 50)
    iwae = run_json(capsys, "loglik", model, "--data", "bars", "--limit", 50, "--method", "iwae", "--samples", 20)
    assert iwae["method"] == "iwae" and iwae["spread"]["samples"] == 20
    assert iwae["mean"] <= exact["mean"] + 0.5
    code, _, err = run(capsys, "loglik", model, "--data", "bars", "--limit", 50, "--method", "raise")
    assert code == 2 and err.count("\n") == 1 and "estimators that handle a dbn: bound, exact, iwae" in err


# --- plugins ----------------------------------------------------------------------------------

def test_plugins_lists_every_registered_name(capsys):
    rows = run_json(capsys, "plugins")
    names = {(r["kind"], r["name"]) for r in rows}
    assert ("units", "bernoulli") in names and ("engines", "cd") in names
    assert ("estimators", "exact") in names
    assert all(r["source"] for r in rows)
    code, out, _ = run(capsys, "plugins")
    assert code == 0 and "bernoulli" in out and "cd" in out and "built-in" in out


# --- errors -----------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["loglik", "missing.safetensors", "--data", "bars"], "no model file at missing.safetensors"),
    (["train", "missing.json", "--data", "bars"], "no spec file at missing.json"),
    (["demo", "--device", "nonsense"], "is not a torch device"),
])
def test_errors_print_one_line_and_exit_2(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("pgmdbn: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_bad_data_files_give_clear_errors(capsys, tmp_path, model_file):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\nc,d\n")
    code, _, err = run(capsys, "loglik", model_file, "--data", bad)
    assert code == 2 and "not a CSV of numbers" in err
    code, _, err = run(capsys, "loglik", model_file, "--data", tmp_path / "x.txt")
    assert code == 2 and "neither mnist, bars, nor a .npy/.csv/.npz file" in err
    wide = tmp_path / "wide.npy"
    np.save(wide, np.zeros((3, 5)))
    code, _, err = run(capsys, "loglik", model_file, "--data", wide)
    assert code == 2 and "expects data of shape (n, 16)" in err


def test_missing_mnist_names_the_environment_variable(capsys, tmp_path, monkeypatch, model_file):
    monkeypatch.setenv("PGMDBN_DATA", str(tmp_path / "nowhere"))
    code, _, err = run(capsys, "loglik", model_file, "--data", "mnist")
    assert code == 2 and "PGMDBN_DATA" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_unavailable_device_is_a_clear_error(capsys, tmp_path):
    code, _, err = run(capsys, "demo", "--device", "cuda", "--out", tmp_path)
    assert code == 2 and "CUDA is not available" in err and "--device cpu" in err


def test_usage_errors_exit_2(capsys):
    code, _, err = run(capsys, "sample")
    assert code == 2 and err.count("\n") == 1
    assert err == "pgmdbn: error: the following arguments are required: model; see pgmdbn sample --help\n"
    code, _, err = run(capsys, "demo", "--epochs", 0)
    assert code == 2 and "positive integer" in err


# --- --threads, --max-states, --blocks, sample --method ----------------------------------------

def test_threads_sets_torch_threads_for_the_command_and_restores_them(capsys, tmp_path, model_file):
    before = torch.get_num_threads()
    spec = write_spec(tmp_path, {"epochs": 1, "batch_size": 50})
    for n in (1, 2):
        trained = run_json(capsys, "train", spec, "--data", "bars", "--limit", 100, "--threads", n,
                           "--out", tmp_path / "m.safetensors")
        assert trained["threads"] == n
        assert torch.get_num_threads() == before
    assert run_json(capsys, "loglik", model_file, "--data", "bars", "--threads", 2)["threads"] == 2
    assert run_json(capsys, "sample", model_file, "-n", 2, "--steps", 2, "--out", tmp_path / "s.png",
                    "--threads", 2)["threads"] == 2
    # without --threads: a model this small trains and samples on one thread; loglik keeps torch's setting
    assert run_json(capsys, "train", spec, "--data", "bars", "--limit", 100,
                    "--out", tmp_path / "m.safetensors")["threads"] == 1
    assert run_json(capsys, "loglik", model_file, "--data", "bars")["threads"] == before
    assert torch.get_num_threads() == before


def test_demo_threads_and_max_states(capsys, tmp_path):
    report = run_json(capsys, "demo", "--epochs", 1, "--hidden", 4, "--out", tmp_path, "--threads", 2,
                      "--max-states", "2^4")
    assert report["threads"] == {"training": 2, "evaluation": 2}
    default = run_demo(hidden=4, epochs=1, out=tmp_path / "d", progress=False)
    assert default["threads"]["training"] == 1  # 16 x 4 weights: one thread by default
    assert report["log_likelihood"] == default["log_likelihood"]  # threads change no number here
    code, out, err = run(capsys, "demo", "--epochs", 1, "--hidden", 6, "--out", tmp_path, "--max-states", "2^4")
    errors = [line for line in err.splitlines() if line.startswith("pgmdbn: error:")]
    assert code == 2 and out == "" and len(errors) == 1 and "Traceback" not in err, err
    assert "2^6" in errors[0] and "--max-states 2^4" in errors[0] and "--hidden" in errors[0]
    assert "max_states" not in err and "method" not in err  # no Python names, no flag demo lacks


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", ""])
@pytest.mark.parametrize("command", ["demo", "train", "loglik", "sample", "graph", "plugins"])
def test_bad_threads_is_a_one_line_usage_error(capsys, command, value):
    code, out, err = run(capsys, command, "--threads", value)
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert err.startswith("pgmdbn: error: argument --threads: expected a positive integer")
    assert f"see pgmdbn {command} --help" in err


def test_loglik_max_states_accepts_or_refuses_by_the_flag(capsys, model_file):
    exact = run_json(capsys, "loglik", model_file, "--data", "bars")
    for given in ("2^8", "2**8", "256", "1e6"):  # the 16-8 RBM's exact enumeration visits 2^8 hidden states
        assert run_json(capsys, "loglik", model_file, "--data", "bars", "--max-states", given)["mean"] == exact["mean"]
    code, out, err = run(capsys, "loglik", model_file, "--data", "bars", "--max-states", "2^4")
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert err.startswith("pgmdbn: error: exact enumeration") and "--max-states" in err and "--method ais" in err
    assert "max_states" not in err and "method=" not in err


@pytest.mark.parametrize("kind", ["dbm", "dbn"])
def test_max_states_reaches_the_bounds_exact_log_z(capsys, tmp_path, kind):
    """bound (and iwae) with --log-z exact enumerate the undirected part: a DBM's 2^8 states of h1,
    a DBN's top RBM's 2^8 states of h1 (8 units against 10)."""
    model = pgmdbn.dbm([16, 8, 10], seed=0) if kind == "dbm" else pgmdbn.dbn([16, 8, 10], seed=0)
    path = pgmdbn.save(model, tmp_path / f"{kind}.safetensors")
    argv = ["loglik", path, "--data", "bars", "--limit", 20, "--method", "bound"]
    plain = run_json(capsys, *argv)
    assert run_json(capsys, *argv, "--max-states", "2^8")["log_z"] == pytest.approx(plain["log_z"], abs=1e-9)
    code, _, err = run(capsys, *argv, "--max-states", "2^4")
    assert code == 2 and err.count("\n") == 1 and "--max-states 2^4" in err and "max_states" not in err, err


@pytest.mark.parametrize("argv, flag", [
    (["--max-states", "0"], "--max-states"),
    (["--max-states", "lots"], "--max-states"),
    (["--max-states", "2^9999"], "--max-states"),
    (["--method", "ais", "--max-states", "2^8"], "--max-states"),
    (["--method", "pl", "--blocks", "2"], "--blocks"),
    (["--blocks", "0"], "--blocks"),
    (["--method", "exact", "--compile"], "--compile"),
])
def test_loglik_flags_the_estimator_would_not_use_are_refused(capsys, model_file, argv, flag):
    code, out, err = run(capsys, "loglik", model_file, "--data", "bars", *argv)
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert err.startswith("pgmdbn: error:") and flag in err


def test_loglik_blocks_reproduces_the_split_run_in_one_process(capsys, model_file):
    from pgmdbn.estimators.ais import paper_schedule

    argv = ["loglik", model_file, "--data", "bars", "--limit", 50, "--method", "ais", "--temperatures", 200,
            "--chains", 40]
    model, x = pgmdbn.load(model_file), bars_split("test")[:50]
    for blocks in (1, 2):
        result = run_json(capsys, *argv, "--blocks", blocks)
        expected = pgmdbn.log_likelihood(model, x, method="ais", betas=paper_schedule(200), n_chains=40,
                                         blocks=blocks, progress=False)
        assert result["log_z"] == pytest.approx(expected.log_z, abs=1e-9)
    # without --blocks one process is one block
    assert run_json(capsys, *argv)["log_z"] == pytest.approx(run_json(capsys, *argv, "--blocks", 1)["log_z"], abs=1e-9)


def test_torchrun_loglik_ais_equals_one_process_with_blocks(tmp_path, model_file):
    """``torchrun --nproc_per_node=2 -m pgmdbn loglik --method ais``: the numbers of one process
    run with ``--blocks 2``, not those of a plain one-process run."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    argv = ["loglik", str(model_file), "--data", "bars", "--limit", "30", "--method", "ais", "--temperatures",
            "200", "--chains", "20", "--json"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "-m", "pgmdbn", *argv], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    two = json.loads(done.stdout)  # one JSON document: rank 0 alone printed
    one = json.loads(subprocess.run([sys.executable, "-m", "pgmdbn", *argv, "--blocks", "2"], cwd=tmp_path, env=env,
                                    capture_output=True, text=True, timeout=300, check=True).stdout)
    plain = json.loads(subprocess.run([sys.executable, "-m", "pgmdbn", *argv], cwd=tmp_path, env=env,
                                      capture_output=True, text=True, timeout=300, check=True).stdout)
    assert two["log_z"] == pytest.approx(one["log_z"], abs=1e-9) and two["mean"] == pytest.approx(one["mean"], abs=1e-9)
    assert two["log_z"] != plain["log_z"]  # other blocks, other random numbers


def test_sample_method_runs_any_registered_sampler(capsys, tmp_path, model_file):
    argv = ["sample", model_file, "-n", 6, "--steps", 30, "--out", tmp_path / "s.png", "--seed", 3]
    found = {}
    for method in ("gibbs", "ancestral"):
        result = run_json(capsys, *argv, "--method", method)
        assert result["method"] == method
        samples = np.asarray(result["samples"])
        assert samples.shape == (6, 16) and samples.min() >= 0 and samples.max() <= 1
        assert run_json(capsys, *argv, "--method", method)["samples"] == result["samples"]  # seeded
        found[method] = samples
    assert run_json(capsys, *argv)["method"] == "gibbs"  # a plain RBM's default: block Gibbs states
    assert not np.array_equal(found["gibbs"], np.asarray(run_json(capsys, *argv[:-1], 4, "--method", "gibbs")["samples"]))


class ZeroSampler:
    """A plugin sampler that sets every free layer to zeros: its mark is unmistakable in the output."""
    kind = "sampler"
    structures = ("rbm", "dbm", "dbn", "sbn")

    def __init__(self, model, beta=1.0, generator=None):
        self.model = model

    def run(self, states, steps=1, clamp=(), masks=None, mean=()):
        n = len(next(iter(states.values())))
        for name, units in self.model.layers.items():
            if name not in clamp:
                states[name] = torch.zeros(n, units.size)
        return states


class ZeroPlugin:
    @pgmdbn.hookimpl
    def pgmdbn_register_engines(self):
        return {"zeros": ZeroSampler}


def test_sample_method_takes_a_plugin_sampler(capsys, tmp_path, model_file):
    plugin = ZeroPlugin()
    pgmdbn.register_plugin(plugin, name="zero_sampler")
    try:
        result = run_json(capsys, "sample", model_file, "-n", 3, "--steps", 1, "--out", tmp_path / "z.png",
                          "--method", "zeros")
        rows = run_json(capsys, "plugins")
    finally:
        pgmdbn.unregister_plugin(plugin)
    assert result["method"] == "zeros" and np.asarray(result["samples"]).tolist() == [[0.0] * 16] * 3
    row = next(r for r in rows if r["name"] == "zeros")
    assert row["kind"] == "engines" and row["role"] == "sampler" and row["plugin"] == "zero_sampler"


@pytest.mark.parametrize("argv, message", [
    (["--method", "bogus"], "--method bogus is not a registered engine; pgmdbn sample --method takes one of: "),
    (["--method", "cd"], "--method cd is a trainer engine, not a sampler"),
    (["--compile"], "--compile needs --method"),
    (["--method", "ancestral", "--compile"], "--compile"),
])
def test_sample_bad_method_lists_the_samplers(capsys, tmp_path, model_file, argv, message):
    code, out, err = run(capsys, "sample", model_file, "-n", 2, "--steps", 1, "--out", tmp_path / "x.png", *argv)
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert message in err and "compile=" not in err and "method=" not in err
    if "--compile" not in argv:
        assert "ancestral" in err and "gibbs" in err


def test_sample_method_gibbs_refuses_a_dbn_in_flags(capsys, dbn_run, tmp_path):
    code, _, err = run(capsys, "sample", dbn_run[1], "-n", 2, "--steps", 1, "--out", tmp_path / "x.png",
                       "--method", "gibbs")
    assert code == 2 and err.count("\n") == 1 and "directed" in err, err


def test_plugins_names_kind_role_and_package(capsys):
    code, out, _ = run(capsys, "plugins")
    lines = out.splitlines()
    assert lines[0].split() == ["KIND", "NAME", "ROLE", "PACKAGE"]
    gibbs = next(line.split(None, 3) for line in lines if line.split()[1:2] == ["gibbs"])
    assert gibbs[:3] == ["engines", "gibbs", "sampler"] and gibbs[3].startswith("pgmdbn ")
    assert gibbs[3].endswith("(built-in)")


# --- every --help is whole ---------------------------------------------------------------------

DANGLING = {"a", "an", "the", "of", "to", "and", "or", "with", "by", "for", "in", "on", "as", "from", "at",
            "than", "is", "are", "per", "such", "e.g.", "i.e.", "if", "when", "that", "which", "its", "their"}


def whole(text: str) -> bool:
    """Text that ends as a sentence or phrase does: not on a connective, comma or open bracket,
    with its brackets and quotes balanced."""
    text = " ".join(text.split())
    last = text.split()[-1].lower() if text else ""
    return (bool(text) and last not in DANGLING and text[-1] not in ",;:(-/" and text.count("(") == text.count(")")
            and text.count('"') % 2 == 0)


def parsers():
    """(name, parser) for the top level and every subcommand."""
    import argparse

    top = cli.build_parser()
    sub = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    return [("pgmdbn", top)] + [(f"pgmdbn {n}", p) for n, p in sub.choices.items()], sub


def test_every_help_is_whole(capsys):
    found, sub = parsers()
    assert {name for name, _ in found} >= {"pgmdbn demo", "pgmdbn train", "pgmdbn loglik", "pgmdbn sample",
                                           "pgmdbn graph", "pgmdbn plugins"}
    for choice in sub._choices_actions:  # each subcommand's line in the top-level help
        assert whole(choice.help), choice.dest
    for name, parser in found:
        assert parser.description and whole(parser.description), name
        code, out, err = run(capsys, *name.split()[1:], "--help")
        assert code == 0 and err == "" and out.startswith("usage: " + name), (name, err)
        for action in parser._actions:
            if action.dest in ("help", "version", "command"):
                continue
            shown = action.option_strings or [action.metavar or action.dest]
            assert action.help and whole(action.help % {"default": action.default}), (name, shown, action.help)
            assert all(flag in out for flag in shown), (name, shown)


def test_whole_catches_cut_help():
    assert whole("number of samples (default: 64)") and whole("let the run finish")
    assert not whole("the number of") and not whole("samples (default:") and not whole("a list,")
