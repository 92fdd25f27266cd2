"""The benchmark scripts stay wired to the API (they are run by hand, not by CI)."""
import importlib.util
import sys
from pathlib import Path

import torch

import pgmdbn
from pgmdbn.data.toy import sample_bars_and_stripes
from pgmdbn.estimators.ais import paper_schedule
from mnist_data import needs_mnist

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_rbm_fit_options_are_accepted():
    bench = load("bench_rbm")
    kwargs = bench.fit_kwargs(torch.device("cpu"))
    assert kwargs["monitor_size"] == 0
    pgmdbn.fit(pgmdbn.rbm(16, 4), sample_bars_and_stripes(200, 4), **{**kwargs, "epochs": 1})


def test_bench_likelihood_pieces_run_at_toy_size():
    bench = load("bench_likelihood")
    train, test = sample_bars_and_stripes(300, 3, seed=0), sample_bars_and_stripes(50, 3, seed=1)
    model = pgmdbn.rbm(9, 6, seed=0)
    pgmdbn.fit(model, train, epochs=3, batch_size=20, lr=0.1, progress=False)
    result = bench.evaluate(model, train, test, paper_schedule(30), runs=2, raise_examples=10,
                            device=torch.device("cpu"))
    assert len(result["log_z_runs"]) == 2 and result["raise_mean_subset"] is not None
    assert bench.gemm_bound(model, 5, 3, torch.device("cpu")) > 0


def test_bench_likelihood_takes_small_and_survives_without_sklearn(monkeypatch, capsys):
    import json
    import sys

    bench = load("bench_likelihood")
    try:
        bench.load(True)
    except pgmdbn.DataNotFound as e:
        import pytest

        pytest.skip(f"MNIST not found: {e}")
    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn now raises ImportError
    monkeypatch.setitem(sys.modules, "sklearn.neural_network", None)
    assert bench.main(["--small", "--json", "--skip", "validate", "speed", "quality"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert "scikit-learn is not installed" in report["sklearn_784_500"]["skipped"]
    bench.print_table(report)  # the table prints the skip too
    assert "sklearn_784_500: skipped" in capsys.readouterr().out


def test_bench_scale_small_runs_every_row(tmp_path, capsys):
    import json

    bench = load("bench_scale")
    assert bench.main(["--small", "--json", "--out", str(tmp_path), "--repeats", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = report["rows"]
    for key in ("pcd", "ais", "logz_a", "logz_b", "dbm"):
        assert rows[key]["eager"] > 0, key
    for key in ("pcd", "ais", "dbm"):
        assert rows[key]["compiled"] > 0 and rows[key]["compile_seconds"] >= 0, key
    assert rows["pcd"]["gemm"] > 0 and rows["ais"]["gemm"] > 0
    # the compiled AIS draws the same random numbers: the estimates agree to rounding
    assert abs(rows["ais"]["log_z"]["eager"] - rows["ais"]["log_z"]["compiled"]) < 1e-3
    dist_row = rows["distributed"]
    assert "skipped" in dist_row or (dist_row["pcd"]["2"] > 0 and dist_row["exact"]["2"] > 0
                                     and dist_row["dbm_s"]["2"] > 0 and dist_row["dbm_all_reduce_s"]["2"] > 0)
    assert json.loads((tmp_path / "bench_scale.json").read_text())["small"] is True


def test_profile_pcd_small_splits_the_epoch_into_parts(tmp_path, capsys):
    import json

    bench = load("profile_pcd")
    assert bench.main(["--small", "--json", "--out", str(tmp_path), "--repeats", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    for path in ("eager", "compiled"):
        parts = report[path]
        assert set(parts) == {"matrix products", "random numbers", "optimiser", "the rest"}
        assert abs(sum(parts.values()) - report["seconds"][path]) < 1e-9 and parts["matrix products"] > 0


@needs_mnist
def test_rbm_loglik_small_trains_with_tempering_and_reports_ais_beside_raise(tmp_path, capsys):
    import json

    bench = load("rbm_loglik")
    before = set(pgmdbn.registry.names("engines"))
    try:
        assert bench.main(["--small", "--json", "--out", str(tmp_path), "--recipe", "pt", "--runs", "2"]) == 0
    finally:  # the bench registers the tempering plugin; other tests register engines of the same names
        if "pt" not in before and "pt" in pgmdbn.registry.names("engines"):
            pgmdbn.unregister_plugin(sys.modules["pgmdbn_tempering"])
    report = json.loads(capsys.readouterr().out)
    e = report["estimate"]
    assert len(e["log_z_runs"]) == 2 and e["log_z_run_spread"] >= 0
    assert e["raise_mean_subset"] is not None and abs(e["ais_minus_raise"]) < 5  # a 784-20 RBM: both near exact
    assert set(pgmdbn.registry.names("engines")) == before
    assert e["ais_train_mean"] < 0
    saved = tmp_path / "rbm_pt.safetensors"
    assert saved.exists() and bench.main(["--small", "--json", "--out", str(tmp_path), "--model", str(saved)]) == 0


@needs_mnist
def test_rbm_loglik_small_chooses_data_form_and_weight_decay_on_held_out_images(tmp_path, capsys):
    import json

    bench = load("rbm_loglik")
    assert bench.main(["--small", "--json", "--out", str(tmp_path), "--recipe", "centered", "--runs", "1",
                       "--select", "1e-4", "0.5", "--train-data", "binary", "intensities"]) == 0
    report = json.loads(capsys.readouterr().out)
    scores = report["selection"]
    assert len(scores) == 4 and all(c["valid"] < 0 and c["train"] < 0 for c in scores.values())
    best = scores[max(scores, key=lambda n: scores[n]["valid"])]
    assert (report["options"]["weight_decay"], report["options"]["train_data"]) == (best["weight_decay"],
                                                                                   best["train_data"])
    assert len({round(c["valid"], 6) for c in scores.values()}) == 4  # each candidate trained its own way
    assert report["train"].startswith(best["train_data"])


@needs_mnist
def test_dbm_long_small_checkpoints_and_a_killed_run_resumes(tmp_path, capsys):
    import json

    bench = load("dbm_long")
    wd = ["--weight-decay", "1e-3"]
    assert bench.main(["--small", "--json", "--out", str(tmp_path), "--runs", "2", *wd]) == 0  # 12 updates: 2 epochs
    first = json.loads(capsys.readouterr().out)
    assert first["epochs"] == 2 and first["history_tail"][-1]["epoch"] == 2
    assert first["joint"]["weight_decay"] == 1e-3
    # a longer run of the same recipe continues from the checkpoints instead of starting again
    assert bench.main(["--small", "--json", "--out", str(tmp_path), "--runs", "2", "--resume", "--updates", "18",
                       *wd]) == 0
    resumed = json.loads(capsys.readouterr().out)
    assert [h["epoch"] for h in resumed["history_tail"]] == [1, 2, 3]
    assert resumed["history_tail"][:2] == first["history_tail"]  # the first run's history, kept
    assert sorted(p.name for p in (tmp_path / "checkpoints").glob("epoch*")) == [
        "epoch0001.safetensors", "epoch0002.safetensors", "epoch0003.safetensors"]
    test = resumed["test"]
    assert test["bound"] < 0 and len(test["log_z_runs"]) == 2 and test["ess"] > 0


@needs_mnist
def test_dbm_vs_rbm_small_chooses_a_recipe_on_validation_and_reports_the_test_bound(tmp_path, capsys):
    import json

    bench = load("dbm_vs_rbm")
    assert bench.main(["--small", "--json", "--out", str(tmp_path), "--runs", "2", "--recipes", "dense",
                       "centered", "--train-data", "binary", "intensities", "--trace", "1", "--rows", "250"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["candidates"]) == {f"{r}, {d}" for r in ("dense", "centered") for d in ("binary", "intensities")}
    assert report["chosen"] in report["candidates"] and report["training_images"] == 250
    assert all(set(c["trajectory"]) == {"0", "1"} for c in report["candidates"].values())  # pretrained, 1 joint epoch
    assert report["test"]["bound"] < 0 and len(report["test"]["log_z_runs"]) == 2
    assert all(c["train_bound"] < 0 for c in [*report["candidates"].values(), report["test"]])
    assert (tmp_path / "dbm.safetensors").exists()


@needs_mnist
def test_gallery_small_compares_relu_with_bernoulli_hidden_units_and_fits_potts_drelu(tmp_path, capsys):
    import json

    bench = load("gallery")
    before = set(pgmdbn.registry.names("units"))
    try:
        assert bench.main(["--small", "--json", "--out", str(tmp_path), "--runs", "2"]) == 0
    finally:  # where pgmdbn-units is not installed the bench registers it from plugins/
        if "relu" not in before and "relu" in pgmdbn.registry.names("units"):
            pgmdbn.unregister_plugin(sys.modules["pgmdbn_units"])
    report = json.loads(capsys.readouterr().out)
    for row in report["mnist"].values():
        assert row["ais_test"] < 0 and len(row["log_z_runs"]) == 2 and row["log_z_spread"] >= 0
        assert isinstance(row["logistic_error"], str) or 0 <= row["logistic_error"] < 90
    p = report["proteins"]
    assert p["exact_test"] < 0 and abs(p["ais_log_z"] - p["exact_log_z"]) < 0.5  # 3^5 states: AIS near exact
    assert p["independent_test"] < 0 and p["generator_test"] < 0 and len(p["samples"]) == 5
    assert set(pgmdbn.registry.names("units")) == before


@needs_mnist
def test_gpu_suite_small_on_cpu_gives_every_hot_row_both_figures_or_a_skip_reason(tmp_path, capsys):
    import json

    bench = load("gpu_suite")
    assert bench.main(["--small", "--device", "cpu", "--json", "--out", str(tmp_path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["env"]["device"] == "cpu" and report["compile"] is False  # --small compiles nothing by default
    for key in bench.HOT_ROWS:
        row = report["rows"][key]
        assert row["eager"] > 0, key
        assert row.get("compiled", 0) > 0 or "--small compiles nothing" in row["compiled_skipped"], key
    assert 0 < report["rows"]["crbm"]["conv_share"] < 1
    for key in ("dbm_recipe", "cdbn_recipe"):  # run within the budget, or skipped with the estimate stated
        recipe = report["rows"][key]
        assert "estimated" in recipe.get("skipped", "estimated") and recipe["estimate_s"] > 0
    assert report["rows"]["dbm_recipe"]["bound"] < 0 and len(report["rows"]["dbm_recipe"]["log_z_runs"]) == 2
    assert set(report["rows"]["cdbn_recipe"]["rows"]) >= {"cdbn_finetuned", "conv_random"}
    assert json.loads((tmp_path / "gpu_suite.json").read_text())["rows"].keys() == report["rows"].keys()
    skipped = bench.main(["--small", "--device", "cpu", "--json", "--out", str(tmp_path), "--budget-seconds", "1"])
    report = json.loads(capsys.readouterr().out)
    assert skipped == 0 and all("of the budget left" in report["rows"][k]["skipped"] for k in bench.HOT_ROWS)
    assert all("were skipped" in report["rows"][k]["skipped"] for k in ("dbm_recipe", "cdbn_recipe"))


def test_gpu_suite_refuses_a_missing_cuda_in_one_line(capsys):
    import pytest

    bench = load("gpu_suite")
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(SystemExit):
        bench.main(["--device", "cuda"])
    err = capsys.readouterr().err.strip().splitlines()
    assert "CUDA is not available" in err[-1] and "--device cpu" in err[-1]
