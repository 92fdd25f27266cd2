"""Resource bombs: sizes from the DSL, specs, model files and the estimators are checked against
``pgmdbn.limits`` before anything is allocated; exact enumeration refuses by its size alone."""
import json
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import pgmdbn
from pgmdbn import io
from pgmdbn.errors import ArgumentError, ModelFileError, ResourceLimitError, TooExpensive
from pgmdbn.estimators.ais import ais, paper_schedule, raise_

from hostile import refused

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("build", [lambda: pgmdbn.rbm(784, 10 ** 9), lambda: pgmdbn.rbm(10 ** 9, 10),
                                   lambda: pgmdbn.rbm(10 ** 6, 10 ** 6), lambda: pgmdbn.dbn([784, 10 ** 5, 10 ** 5]),
                                   lambda: pgmdbn.dbm([784, 10 ** 9]), lambda: pgmdbn.sbn([10 ** 12, 5]),
                                   lambda: pgmdbn.Model().add_layer("v", "gaussian", 10 ** 10)])
def test_the_dsl_refuses_huge_models_before_allocating(build):
    with refused(ResourceLimitError, "pgmdbn.limits.max_"):
        build()


def test_the_limits_are_configurable_and_restored():
    with pgmdbn.limits.override(max_layer_units=10, max_parameters=50):
        with refused(ResourceLimitError, "max_layer_units=10"):
            pgmdbn.rbm(11, 2)
        with refused(ResourceLimitError, "max_parameters=50"):
            pgmdbn.rbm(8, 8)
        assert pgmdbn.rbm(4, 4) is not None
    assert pgmdbn.limits.max_layer_units == 10 ** 8


@pytest.mark.parametrize("name,value", [("max_parameters", 0), ("max_parameters", -5), ("max_exact_work", "x"),
                                        ("max_ais_bytes", float("nan")), ("nonsense", 3)])
def test_a_bad_limit_is_refused_by_name(name, value):
    with pytest.raises((ArgumentError, AttributeError), match=name):
        setattr(pgmdbn.limits, name, value)


@pytest.mark.parametrize("n", [10 ** 9, 10 ** 12])
def test_a_huge_temperature_count_is_refused(n):
    with refused(ResourceLimitError, "max_ais_bytes", f"{n + 1:,}"):
        paper_schedule(n)


@pytest.mark.parametrize("chains", [10 ** 9, 10 ** 12])
def test_ais_refuses_chains_that_do_not_fit(chains):
    with refused(ResourceLimitError, "max_ais_bytes", f"{chains:,} chains"):
        ais(pgmdbn.rbm(784, 500), None, n_chains=chains, betas=[0.0, 1.0], progress=False)


def test_raise_counts_chains_per_example():
    x = torch.zeros(10 ** 4, 784)
    with refused(ResourceLimitError, "max_ais_bytes"):
        raise_(pgmdbn.rbm(784, 10), x, n_chains=10 ** 4, betas=[0.0, 1.0], progress=False)


def test_a_huge_explicit_schedule_is_refused_before_conversion():
    class Long:
        def __len__(self):
            return 10 ** 10

        def __iter__(self):
            raise AssertionError("the schedule was converted")
    with refused(ResourceLimitError, "max_ais_bytes"):
        ais(pgmdbn.rbm(4, 3), None, n_chains=2, betas=Long(), progress=False)


@pytest.mark.parametrize("n_visible", [45, 60])
def test_exact_refuses_beyond_the_state_cap_at_once(n_visible):
    with refused(TooExpensive, "max_states"):
        pgmdbn.log_partition(pgmdbn.rbm(n_visible, n_visible), progress=False)


@pytest.mark.parametrize("method", ["partition", "likelihood"])
def test_exact_refuses_by_its_size(method):
    model = pgmdbn.rbm(34, 34, seed=0)
    with refused(TooExpensive, "max_states=2**34", "max_exact_work=2^32", "2^34 joint states"):
        if method == "partition":
            pgmdbn.log_partition(model, progress=False)
        else:
            pgmdbn.log_likelihood(model, torch.zeros(3000, 34), progress=False)


def test_a_directed_model_refuses_by_its_size():
    with refused(TooExpensive, "max_states=2**36", "method='bound' or 'iwae'"):
        pgmdbn.log_likelihood(pgmdbn.dbn([4, 36, 3]), torch.zeros(1, 4), progress=False)


def test_an_explicit_max_states_accepts_the_time():
    model = pgmdbn.rbm(12, 12, seed=0)
    with pgmdbn.limits.override(max_exact_work=1):
        with refused(TooExpensive, "max_exact_work=2^0"):
            pgmdbn.log_partition(model, progress=False)
        assert pgmdbn.log_partition(model, max_states=2 ** 12, progress=False).log_z is not None


def hostile_file(path: Path, units: int) -> Path:
    """A file of under 1.2 KB: a valid small RBM's tensors with a spec declaring ``units`` hidden units."""
    good = io.save(pgmdbn.rbm(4, 3, seed=0), path)
    raw = good.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    spec = json.loads(header["__metadata__"]["spec"])
    spec["layers"][1]["size"] = units
    header["__metadata__"]["spec"] = json.dumps(spec)
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + n:])
    return path


@pytest.mark.parametrize("units", [2 * 10 ** 7, 10 ** 9])
def test_loading_a_hostile_1kb_file_stays_under_50_mb(tmp_path, units):
    """Measured in a fresh process: the resident-set high-water mark (getrusage) before and after
    the load, and tracemalloc's peak of Python allocations during it."""
    path = hostile_file(tmp_path / "bomb.safetensors", units)
    assert path.stat().st_size < 1200
    script = textwrap.dedent(f"""
        import json, resource, tracemalloc
        import pgmdbn
        from pgmdbn.errors import ModelFileError, ResourceLimitError
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        tracemalloc.start()
        try:
            pgmdbn.load({str(path)!r})
            outcome = "loaded"
        except (ModelFileError, ResourceLimitError) as e:
            outcome = ("ModelFileError" if isinstance(e, ModelFileError) else "other") + ": " + str(e)
        peak = tracemalloc.get_traced_memory()[1]
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({{"outcome": outcome, "rss_growth_kb": after - before, "python_peak": peak}}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["outcome"].startswith("ModelFileError"), report
    assert "layers.h.bias" in report["outcome"] or "layers[1].size" in report["outcome"], report
    assert report["rss_growth_kb"] * 1024 < 50 * 2 ** 20, report
    assert report["python_peak"] < 50 * 2 ** 20, report
    print(f"hostile {path.stat().st_size}-byte file declaring {units} units: RSS growth "
          f"{report['rss_growth_kb'] / 1024:.2f} MB, Python peak {report['python_peak'] / 1024:.0f} KB")


@pytest.mark.parametrize("units", [2 * 10 ** 7, 10 ** 9, 10 ** 15])
def test_read_info_of_a_hostile_file_allocates_nothing(tmp_path, units):
    path = hostile_file(tmp_path / "bomb.safetensors", units)
    if units > pgmdbn.limits.max_layer_units:
        with refused(ModelFileError, "max_layer_units"):
            io.read_info(path)
    else:
        assert io.read_info(path)["spec"]["layers"][1]["size"] == units
