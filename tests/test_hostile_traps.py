"""Hostile traps: writes that would go nowhere, values silently cast, misspellings silently ignored,
and the hostile cases of issue 21 (a model file given as a checkpoint, plugin code that raises,
returns NaN or the wrong shapes, a classifier without labels, a self-loop, a writer killed mid-save,
``blocks`` on the estimators). Each ends in a specific error naming the culprit, or runs right."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

import pgmdbn
from pgmdbn import io
from pgmdbn.errors import ArgumentError, ArgumentTypeError, ModelError, ModelFileError, PluginError, UnsupportedModel
from pgmdbn.estimators.ais import ais_log_z
from pgmdbn.hooks import hookimpl
from pgmdbn.units.bernoulli import Bernoulli

from hostile import refused

X = (torch.rand(40, 6, generator=torch.Generator().manual_seed(0)) > 0.5).float()
BETAS = torch.linspace(0, 1, 30, dtype=torch.float64)


def channel_model():
    return (pgmdbn.Model().add_layer("v", "bernoulli", shape=(2, 3, 3), channels=2)
            .add_layer("h", "bernoulli", 4).add_undirected("v", "h"))


# --- point 3: bias writes on channel layers ---------------------------------------------------

WRITES = {
    "copy_": lambda b: b.copy_(torch.ones(18)),
    "fill_ of detach()": lambda b: b.detach().fill_(1.0),
    "zero_ of .data": lambda b: b.data.zero_(),
    "item assignment": lambda b: b.__setitem__(0, 1.0),
    "+=": lambda b: b.__iadd__(1.0),
    "out=": lambda b: torch.add(b, 1.0, out=b),
    "a view's add_": lambda b: b[None, :3].add_(1.0),
}


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_writing_the_bias_of_a_channel_layer_is_refused_with_the_fix(write):
    model = channel_model()
    before = model.layer("v").channel_bias.detach().clone()
    with torch.no_grad(), refused(ModelError, "model.bias('v')", "channels=2", "channel_bias", "set_bias"):
        write(model.bias("v"))
    assert torch.equal(model.layer("v").channel_bias, before)


def test_the_bias_of_a_channel_layer_reads_as_a_plain_tensor_and_the_fix_writes_through():
    model = channel_model()
    with torch.no_grad():
        model.layer("v").channel_bias.copy_(torch.tensor([1.0, -2.0]))
    bias = model.bias("v")
    assert bias.shape == (18,) and torch.equal(bias, torch.tensor([1.0] * 9 + [-2.0] * 9))
    assert type(bias + 1) is torch.Tensor and type(bias.sum()) is torch.Tensor  # reads leave the guard behind
    samples = model.layer("v").sample(bias.detach().expand(5, -1), generator=torch.Generator().manual_seed(0))
    assert samples.shape == (5, 18)
    model.layer("v").set_bias(torch.arange(18.0))
    assert torch.equal(model.bias("v")[[0, 9]], torch.tensor([4.0, 13.0]))  # each channel's average
    bias.sum().backward()  # the gradient still reaches the shared parameter
    assert torch.equal(model.layer("v").channel_bias.grad, torch.tensor([9.0, 9.0]))


def test_the_bias_of_a_plain_layer_writes_through():
    model = pgmdbn.rbm(4, 3)
    with torch.no_grad():
        model.bias("v").copy_(torch.tensor([0.5, -1.0, 0.25, 2.0]))
    assert torch.equal(model.layer("v").bias.detach(), torch.tensor([0.5, -1.0, 0.25, 2.0]))


# --- point 3: a float64 weight is kept -----------------------------------------------------------

def test_a_float64_weight_makes_a_float64_factor_that_trains_estimates_and_saves(tmp_path):
    w = torch.randn(6, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 0.1
    model = pgmdbn.Model().add_layer("v", "bernoulli", 6).add_layer("h", "bernoulli", 4).add_undirected(
        "v", "h", weight=w)
    weight = model.factor("v", "h").weight
    assert weight.dtype == torch.float64 and torch.equal(weight.detach(), w)  # no float32 round trip
    exact = pgmdbn.log_likelihood(model, X, "exact", progress=False).mean
    twin = pgmdbn.rbm(6, 4)
    with torch.no_grad():
        twin.factor("v", "h").weight.copy_(w)
    assert exact == pytest.approx(pgmdbn.log_likelihood(twin, X, "exact", progress=False).mean, abs=1e-5)
    pgmdbn.fit(model, X, "pcd", epochs=2, batch_size=10, progress=False)
    assert model.factor("v", "h").weight.dtype == torch.float64
    pgmdbn.save(model, tmp_path / "m.safetensors")
    assert pgmdbn.load(tmp_path / "m.safetensors").factor("v", "h").weight.dtype == torch.float64
    directed = pgmdbn.Model().add_layer("v", "bernoulli", 6).add_layer("h", "bernoulli", 4).add_directed(
        "h", "v", weight=w.T.contiguous())
    factor = directed.factor("h", "v")
    assert {factor.weight.dtype, factor.recognition.dtype, factor.recognition_bias.dtype} == {torch.float64}


@pytest.mark.parametrize("weight, words", [
    (torch.ones(6, 4, dtype=torch.int64), ["torch.int64", "weight.float()"]),
    (torch.ones(6, 4, dtype=torch.bool), ["torch.bool", "floating point"]),
    ([[0.0] * 4] * 6, ["list", "torch.as_tensor"]),
    (torch.ones(4, 6), ["(4, 6)", "6×4"]),
])
def test_a_weight_that_is_not_a_float_matrix_of_the_right_shape_is_refused(weight, words):
    model = pgmdbn.Model().add_layer("v", "bernoulli", 6).add_layer("h", "bernoulli", 4)
    with refused(ModelError, "v--h", *words):
        model.add_undirected("v", "h", weight=weight)


def test_a_conv_factor_keeps_a_float64_weight():
    w = torch.randn(2, 1, 2, 2, dtype=torch.float64)
    model = (pgmdbn.Model().add_layer("v", "bernoulli", shape=(1, 4, 4)).add_layer("h", "bernoulli", shape=(2, 3, 3))
             .add_undirected("v", "h", "conv2d", kernel=2, weight=w))
    assert model.factor("v", "h").weight.dtype == torch.float64
    with refused(ModelError, "v--h", "torch.int32"):
        (pgmdbn.Model().add_layer("v", "bernoulli", shape=(1, 4, 4)).add_layer("h", "bernoulli", shape=(2, 3, 3))
         .add_undirected("v", "h", "conv2d", kernel=2, weight=w.int()))


# --- point 3: misspellings in spec files and names -------------------------------------------

SPEC = {"layers": [{"name": "v", "unit": "bernoulli", "size": 4}, {"name": "h", "unit": "bernoulli", "size": 3}],
        "factors": [{"a": "v", "b": "h", "directed": False}], "init_scale": 0.1, "seed": 0,
        "train": {"method": "cd", "epochs": 2}}


def write(tmp_path, spec):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return path


def misspelt(where, old, new):
    spec = json.loads(json.dumps(SPEC))
    item = spec if where is None else spec[where[0]] if len(where) == 1 else spec[where[0]][where[1]]
    item[new] = item.pop(old)
    return spec


MISSPELT_KEYS = [
    (None, "init_scale", "init_scael", "init_scael", "'init_scale'"),
    (None, "factors", "factor", "factor", "'factors'"),
    (("layers", 1), "unit", "units", "layers[1].units", "'unit'"),
    (("layers", 0), "size", "sise", "layers[0].sise", "'size'"),
    (("factors", 0), "directed", "direct", "factors[0].direct", "'directed'"),
    (("train",), "epochs", "epoch", "train.epoch", "'epochs'"),
    (("train",), "method", "methd", "train.methd", "'method'"),
]


@pytest.mark.parametrize("where, old, new, at, nearest", MISSPELT_KEYS, ids=[m[3] for m in MISSPELT_KEYS])
def test_a_misspelt_spec_key_is_refused_with_the_nearest_valid_key(tmp_path, where, old, new, at, nearest):
    path = write(tmp_path, misspelt(where, old, new))
    with refused(ModelFileError, str(path), at, f"did you mean {nearest}?"):
        io.read_spec(path)
    with refused(ModelFileError, at):
        io.model_from_spec_file(path)


def test_an_unknown_key_far_from_every_valid_one_is_refused_with_the_list(tmp_path):
    path = write(tmp_path, {**SPEC, "zzz": 1})
    with refused(ModelFileError, "zzz", "known: layers, factors"):
        io.read_spec(path)


def test_a_spec_that_saved_models_write_still_reads(tmp_path):
    model = pgmdbn.dbn([4, 3, 2], labels=2, seed=0)
    path = io.write_spec(model, tmp_path / "dbn.json")
    assert io.read_spec(path) == model.spec()
    pgmdbn.save(model, tmp_path / "dbn.safetensors")
    assert pgmdbn.load(tmp_path / "dbn.safetensors").spec() == model.spec()


def test_a_self_loop_in_a_spec_is_named(tmp_path):
    spec = {**SPEC, "factors": [{"a": "h", "b": "h", "directed": False}]}
    with refused(ModelFileError, "factors[0]", "'h' to itself", "self-loop"):
        io.read_spec(write(tmp_path, spec))
    with refused(ModelError, "'v' to itself", "self-loop"):
        pgmdbn.Model().add_layer("v", "bernoulli", 3).add_directed("v", "v")


def test_a_misspelt_unit_in_a_spec_names_the_file_and_layer_and_suggests(tmp_path):
    spec = json.loads(json.dumps(SPEC))
    spec["layers"][1]["unit"] = "bernouli"
    path = write(tmp_path, spec)
    with refused(PluginError, str(path), "layer 'h'", "'bernouli'", "did you mean 'bernoulli'?"):
        io.model_from_spec_file(path)


def test_a_misspelt_factor_type_or_option_in_a_spec_is_named(tmp_path):
    spec = json.loads(json.dumps(SPEC))
    spec["factors"][0]["factor"] = "dens"
    with refused(PluginError, "factor v--h", "did you mean 'dense'?"):
        io.model_from_spec_file(write(tmp_path, spec))
    spec = json.loads(json.dumps(SPEC))
    spec["layers"][0]["config"] = {"chanels": 1}
    with refused(ModelFileError, "layer 'v'", "'chanels'", "did you mean 'channels'?"):
        io.model_from_spec_file(write(tmp_path, spec))


NAMES = {
    "unit": (lambda: pgmdbn.Model().add_layer("hid", "gausian", 3), PluginError,
             ["layer 'hid'", "did you mean 'gaussian'?"]),
    "unit option": (lambda: pgmdbn.Model().add_layer("v", "gaussian", 3, learn_sigm=True), ModelError,
                    ["layer 'v'", "'learn_sigm'", "did you mean 'learn_sigma'?"]),
    "factor": (lambda: pgmdbn.Model().add_layer("v", "bernoulli", 3).add_layer("h", "bernoulli", 2)
               .add_undirected("v", "h", "centred"), PluginError, ["factor v--h", "did you mean 'centered'?"]),
    "factor option": (lambda: pgmdbn.Model().add_layer("v", "bernoulli", 3).add_layer("h", "bernoulli", 2)
                      .add_undirected("v", "h", wieght=None), ModelError, ["factor v--h", "did you mean 'weight'?"]),
    "trainer": (lambda: pgmdbn.fit(pgmdbn.rbm(6, 3), X, "pdc", progress=False), PluginError,
                ["'pdc'", "did you mean 'pcd'?"]),
    "estimator": (lambda: pgmdbn.log_likelihood(pgmdbn.rbm(6, 3), X, "exakt"), PluginError,
                  ["'exakt'", "did you mean 'exact'?"]),
    "sampler": (lambda: pgmdbn.sample(pgmdbn.rbm(6, 3), 2, method="gibs"), PluginError,
                ["'gibs'", "did you mean 'gibbs'?"]),
}


@pytest.mark.parametrize("call, error, words", NAMES.values(), ids=NAMES.keys())
def test_a_misspelt_name_suggests_the_nearest_registered_one(call, error, words):
    with refused(error, *words):
        call()


# --- point 9: resume from a plain model file ------------------------------------------------

def test_resuming_from_a_plain_model_file_says_it_is_not_a_checkpoint(tmp_path):
    model = pgmdbn.rbm(6, 3, seed=0)
    path = pgmdbn.save(model, tmp_path / "rbm.safetensors")
    with refused(ArgumentError, "rbm.safetensors", "model file", "not a training checkpoint", "checkpoint_dir="):
        pgmdbn.fit(pgmdbn.rbm(6, 3, seed=0), X, "pcd", epochs=2, progress=False, resume=path)
    fine = pgmdbn.fit(pgmdbn.rbm(6, 3, seed=0), X, "pcd", epochs=2, progress=False, checkpoint_dir=tmp_path / "ck")
    again = pgmdbn.fit(pgmdbn.rbm(6, 3, seed=0), X, "pcd", epochs=3, progress=False, resume=fine.checkpoints[-1])
    assert [m["epoch"] for m in again.history] == [1, 2, 3]


# --- point 9: plugin code that raises ---------------------------------------------------------

class RaisingHook:
    @hookimpl
    def pgmdbn_on_epoch_end(self, model, epoch, metrics):
        raise KeyError("no such metric")


class Broken(Bernoulli):
    name = "broken_ctor"

    def __init__(self, size, channels=None):
        raise RuntimeError("constructor bug")


class NaNPartition(Bernoulli):
    name = "nan_partition"

    def log_partition(self, eta, beta=1.0, like=None):
        out = super().log_partition(eta, beta, like)
        return out if not eta.any() else out * float("nan")  # finite on the probe's zero field only


class NaNMean(Bernoulli):
    name = "nan_mean"

    def mean(self, eta, beta=1.0, like=None):
        return torch.full_like(eta, float("nan")) if eta.any() else super().mean(eta, beta, like)


class Wide(Bernoulli):
    name = "wide"

    def log_partition(self, eta, beta=1.0, like=None):
        return torch.nn.functional.softplus(beta * eta)  # forgets .sum(-1)


class WideMean(Bernoulli):
    name = "wide_mean"

    def mean(self, eta, beta=1.0, like=None):
        return super().mean(eta, beta, like).sum(-1)


class UnitPlugin:
    @hookimpl
    def pgmdbn_register_units(self):
        return {c.name: c for c in (Broken, NaNPartition, NaNMean, Wide, WideMean)}


@pytest.fixture
def trap_units():
    plugin = UnitPlugin()
    pgmdbn.register_plugin(plugin, name="trap_units")
    yield
    pgmdbn.unregister_plugin(plugin)


def test_a_plugin_hook_that_raises_during_fit_names_the_plugin_and_hook():
    plugin = RaisingHook()
    pgmdbn.register_plugin(plugin, name="bad_monitor")
    try:
        with refused(PluginError, "bad_monitor", "pgmdbn_on_epoch_end", "KeyError", "no such metric") as caught:
            pgmdbn.fit(pgmdbn.rbm(6, 3, seed=0), X, "cd", epochs=2, progress=False)
        assert isinstance(caught.value.__cause__, KeyError)
    finally:
        pgmdbn.unregister_plugin(plugin)
    assert pgmdbn.fit(pgmdbn.rbm(6, 3, seed=0), X, "cd", epochs=1, progress=False).history  # gone again


def test_a_plugin_unit_constructor_that_raises_names_the_plugin_type_and_layer(trap_units):
    with refused(PluginError, "layer 'h'", "'broken_ctor'", "trap_units", "RuntimeError", "constructor bug"):
        pgmdbn.rbm(6, 3, hidden="broken_ctor")


@pytest.mark.parametrize("method", ["exact", "pl", "ais", "raise"])
def test_a_plugin_log_partition_returning_nan_fails_the_estimate_naming_the_plugin(trap_units, method):
    model = pgmdbn.rbm(6, 3, hidden="nan_partition", seed=0, init_scale=0.1)
    options = {"betas": BETAS, "n_chains": 4} if method in ("ais", "raise") else {}
    with refused(PluginError, "NaN", "'nan_partition'", "trap_units", "layer 'h'"):
        pgmdbn.log_likelihood(model, X, method, progress=False, **options)


def test_a_plugin_log_partition_returning_nan_fails_log_z_naming_the_plugin(trap_units):
    model = pgmdbn.dbm([3, 6, 3], hidden="nan_partition", seed=0, init_scale=0.1)
    with refused(PluginError, "log Z", "'nan_partition'", "trap_units"):
        pgmdbn.log_partition(model, "exact", progress=False)


def test_a_plugin_mean_returning_nan_fails_sample_naming_the_plugin(trap_units):
    model = pgmdbn.rbm(6, 3, visible="nan_mean", seed=0, init_scale=0.1)
    with refused(PluginError, "NaN", "'nan_mean'", "trap_units"):
        pgmdbn.sample(model, 4, steps=3, method="gibbs", conditional_means=("v",))


def test_a_plugin_mean_that_is_not_used_leaves_the_estimates_right(trap_units):
    model = pgmdbn.rbm(6, 3, hidden="nan_mean", seed=0, init_scale=0.1)
    twin = pgmdbn.rbm(6, 3, seed=0, init_scale=0.1)
    for method in ("exact", "pl"):
        assert pgmdbn.log_likelihood(model, X, method, progress=False).mean == pytest.approx(
            pgmdbn.log_likelihood(twin, X, method, progress=False).mean, abs=1e-9)


def test_nan_parameters_of_built_in_types_are_named_by_the_estimators():
    model = pgmdbn.rbm(6, 3, seed=0)
    with torch.no_grad():
        model.factor("v", "h").weight[0, 0] = float("nan")
    for method in ("exact", "pl"):
        with refused(ModelError, "NaN", "factors.v--h.weight"):
            pgmdbn.log_likelihood(model, X, method, progress=False)


@pytest.mark.parametrize("unit, method, shape", [("wide", "log_partition", "(2,)"), ("wide_mean", "mean", "(2, 6)")])
def test_a_plugin_unit_type_with_the_wrong_shapes_is_refused_when_the_layer_is_added(trap_units, unit, method, shape):
    with refused(PluginError, "layer 'h'", f"'{unit}'", "trap_units", f"{method}()", f"expected shape {shape}"):
        pgmdbn.rbm(6, 6, hidden=unit)
    with refused(PluginError, "layer 'v'", f"'{unit}'"):  # an unregistered class too
        pgmdbn.Model().add_layer("v", {"wide": Wide, "wide_mean": WideMean}[unit], 6)


def test_free_energy_refuses_a_log_partition_of_the_wrong_shape_even_when_batch_equals_size():
    model = pgmdbn.rbm(6, 6, seed=0)
    hidden = model.layer("h")
    hidden.log_partition = lambda eta, beta=1.0, like=None: torch.nn.functional.softplus(beta * eta)
    with refused(ModelError, "layer 'h'", "log_partition", "(6, 6)", "(6,)", ".sum(-1)"):
        model.free_energy({"v": X[:6]})
    with refused(ModelError, "log_partition"):
        pgmdbn.fit(model, X[:36], "cd", epochs=1, batch_size=6, progress=False)


# --- point 9: classify without labels ---------------------------------------------------------

def test_classify_without_a_label_layer_says_how_to_give_one():
    with refused(UnsupportedModel, "no layer 'y'", "labels=K", "softmax"):
        pgmdbn.classify(pgmdbn.rbm(6, 3), X)
    model = pgmdbn.Model().add_layer("v", "bernoulli", 6).add_layer("h", "bernoulli", 3).add_layer(
        "digit", "softmax", 4).add_undirected("v", "h").add_undirected("h", "digit")
    with refused(UnsupportedModel, "label='digit'"):
        pgmdbn.classify(model, X)
    assert pgmdbn.classify(model, X, label="digit").shape == (40,)


# --- point 9: a writer killed during save --------------------------------------------------------

KILLED_WRITER = textwrap.dedent("""
    import os, sys, time
    import torch, pgmdbn
    from pgmdbn import io
    folder, named = sys.argv[1], sys.argv[2] == "named"
    if named:
        io._write_anonymous = lambda *args: False
    real = os.fsync
    def stall(fd):
        real(fd)
        open(os.path.join(folder, "ready"), "w").close()
        time.sleep(600)
    os.fsync = stall
    pgmdbn.save(pgmdbn.rbm(200, 100, seed=0), os.path.join(folder, "model.safetensors"))
""")


def temporaries(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def kill_mid_save(folder, mode):
    child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(folder), mode])
    try:
        deadline = time.monotonic() + 300
        while not (folder / "ready").exists():
            assert child.poll() is None, "the writer ended before it stalled"
            assert time.monotonic() < deadline, "the writer never reached its fsync"
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    (folder / "ready").unlink()


def o_tmpfile_works(folder) -> bool:
    try:
        os.close(os.open(folder, os.O_TMPFILE | os.O_WRONLY, 0o600))
    except (AttributeError, OSError):
        return False
    return os.path.isdir("/proc/self/fd")


@pytest.mark.parametrize("mode", ["anonymous", "named"])
def test_a_writer_killed_mid_save_leaves_no_temporary_file_after_the_next_save(tmp_path, mode):
    old = pgmdbn.save(pgmdbn.rbm(6, 3, seed=1), tmp_path / "model.safetensors")
    kill_mid_save(tmp_path, mode)
    assert pgmdbn.load(old).spec() == pgmdbn.rbm(6, 3).spec()  # the target is the old, whole file
    left = temporaries(tmp_path)
    if mode == "anonymous" and o_tmpfile_works(tmp_path):
        assert left == []  # the kernel discarded the unnamed file with its writer
    else:
        assert len(left) == 1 and left[0].startswith(".model.safetensors.")
        assert (tmp_path / left[0]).stat().st_size > 0
    pgmdbn.save(pgmdbn.rbm(6, 3, seed=2), tmp_path / "other.safetensors")  # any later save in the folder
    assert temporaries(tmp_path) == []


def test_a_save_that_fails_midway_removes_its_temporary_file(tmp_path, monkeypatch):
    def fail(fd):
        raise OSError(28, "No space left on device")
    for anonymous in (True, False):
        if not anonymous:
            monkeypatch.setattr(io, "_write_anonymous", lambda *args: False)
        monkeypatch.setattr(os, "fsync", fail)
        with pytest.raises(OSError, match="No space left"):
            pgmdbn.save(pgmdbn.rbm(6, 3), tmp_path / "model.safetensors")
        monkeypatch.undo()
        assert list(tmp_path.iterdir()) == []


def test_the_sweep_leaves_temporaries_of_running_writers_and_other_hosts(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        host = io._host()
        live = tmp_path / f".a.safetensors.{host}-{sleeper.pid}.0123abcd.tmp"
        elsewhere = tmp_path / ".b.safetensors.otherhost-1.0123abcd.tmp"
        dead = tmp_path / f".c.safetensors.{host}-{2 ** 22 + 1}.0123abcd.tmp"
        legacy_dead = tmp_path / f".d.safetensors.{2 ** 22 + 1}.0123abcd.tmp"
        for path in (live, elsewhere, dead, legacy_dead):
            path.write_bytes(b"partial")
        pgmdbn.save(pgmdbn.rbm(6, 3), tmp_path / "model.safetensors")
        assert temporaries(tmp_path) == sorted([live.name, elsewhere.name])
    finally:
        sleeper.kill()
        sleeper.wait()
    pgmdbn.save(pgmdbn.rbm(6, 3), tmp_path / "model.safetensors")
    assert temporaries(tmp_path) == [elsewhere.name]


# --- point 9: blocks on the sampling estimators --------------------------------------------------

def test_ais_takes_blocks_and_equals_ais_log_z_with_the_same_blocks():
    model = pgmdbn.rbm(6, 4, seed=1, init_scale=0.5)
    for blocks in (1, 2, 3):
        result = pgmdbn.log_likelihood(model, X, "ais", betas=BETAS, n_chains=12, blocks=blocks, progress=False)
        direct = ais_log_z(model, n_chains=12, betas=BETAS, base_data=X, blocks=blocks, progress=False)
        assert result.log_z == direct["log_z"]
    default = pgmdbn.log_likelihood(model, X, "ais", betas=BETAS, n_chains=12, progress=False)
    assert default.log_z == pgmdbn.log_likelihood(model, X, "ais", betas=BETAS, n_chains=12, blocks=1,
                                                  progress=False).log_z  # one process: blocks=1
    assert pgmdbn.log_partition(model, "ais", betas=BETAS, n_chains=12, blocks=2, progress=False).log_z is not None


def test_raise_bound_and_iwae_take_blocks():
    model = pgmdbn.rbm(6, 4, seed=1, init_scale=0.5)
    split = pgmdbn.log_likelihood(model, X[:6], "raise", betas=BETAS, blocks=3, progress=False)
    assert len(split.per_example) == 6
    assert split.mean != pgmdbn.log_likelihood(model, X[:6], "raise", betas=BETAS, blocks=1, progress=False).mean
    dbn = pgmdbn.dbn([6, 4, 3], seed=0, init_scale=0.3)
    for method in ("bound", "iwae"):
        one = pgmdbn.log_likelihood(dbn, X, method, k=4, blocks=1, progress=False)
        two = pgmdbn.log_likelihood(dbn, X, method, k=4, blocks=2, progress=False)
        assert one.mean != two.mean and torch.isfinite(two.per_example).all()
        pgmdbn.log_likelihood(dbn, X, method, k=4, blocks=2, log_z="ais", betas=BETAS, progress=False)


@pytest.mark.parametrize("blocks, error", [(0, ArgumentError), (1.5, ArgumentTypeError), ("2", ArgumentTypeError)])
def test_bad_blocks_are_refused_by_name(blocks, error):
    with refused(error, "blocks="):
        pgmdbn.log_likelihood(pgmdbn.rbm(6, 3), X, "ais", betas=BETAS, blocks=blocks, progress=False)


def test_a_wrapping_epoch_end_hook_still_runs_and_a_raising_one_beside_it_is_named():
    seen = []

    class Wrapper:
        @hookimpl(wrapper=True)
        def pgmdbn_on_epoch_end(self, model, epoch, metrics):
            seen.append(epoch)
            return (yield)

    wrapper, raising = Wrapper(), RaisingHook()
    pgmdbn.register_plugin(wrapper, name="wrapping_monitor")
    try:
        pgmdbn.fit(pgmdbn.rbm(6, 3, seed=0), X, "cd", epochs=2, progress=False)
        assert seen == [1, 2]
        pgmdbn.register_plugin(raising, name="bad_monitor")
        with refused(PluginError, "bad_monitor", "wrapping_monitor", "pgmdbn_on_epoch_end", "KeyError"):
            pgmdbn.fit(pgmdbn.rbm(6, 3, seed=0), X, "cd", epochs=2, progress=False)
    finally:
        pgmdbn.unregister_plugin(wrapper)
        if pgmdbn.registry.manager.is_registered(raising):
            pgmdbn.unregister_plugin(raising)
