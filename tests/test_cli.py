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
    assert report["curve"]["epoch"] == [1, 2, 3]
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
    assert png_size(tmp_path / "samples.png") == ((8 * 28 + 7) * 2, (8 * 28 + 7) * 2)


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
    assert png_size(png) == ((3 * 4 + 2) * 2, (3 * 4 + 2) * 2)
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
    assert png_size(png) == ((3 * 4 + 2) * 2, (3 * 4 + 2) * 2)
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
    assert code == 2 and "usage:" in err
    code, _, err = run(capsys, "demo", "--epochs", 0)
    assert code == 2 and "positive integer" in err
