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
    assert code == 2 and "neither mnist, bars, nor a .npy/.csv file" in err
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
