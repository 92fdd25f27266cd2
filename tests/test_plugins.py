"""Plugins: a unit type from outside the package trains and evaluates an RBM with no core change;
installed plugins are described with their distribution, which model files record and the
missing-plugin error names; unit options reach layers through builders, spec files and pretraining."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import pgmdbn
import pgmdbn.training.greedy
from pgmdbn.data.toy import sample_bars_and_stripes
from pgmdbn.errors import PluginError
from pgmdbn.hooks import Registry

ROOT = Path(__file__).resolve().parents[1]

SPIN_DIR = Path(__file__).resolve().parents[1] / "plugins" / "pgmdbn-spin"


@pytest.fixture
def spin_plugin(monkeypatch):
    monkeypatch.syspath_prepend(str(SPIN_DIR))
    import pgmdbn_spin

    pgmdbn.register_plugin(pgmdbn_spin, name="pgmdbn_spin")
    yield pgmdbn_spin
    pgmdbn.unregister_plugin(pgmdbn_spin)


def test_spin_units_train_and_evaluate(spin_plugin):
    data = sample_bars_and_stripes(500, side=3, seed=0) * 2 - 1
    model = pgmdbn.rbm(9, 8, visible="spin", seed=0)
    assert type(model.layer("v")) is spin_plugin.Spin
    before = pgmdbn.log_likelihood(model, data).mean
    pgmdbn.fit(model, data, method="cd", k=3, epochs=30, batch_size=20, lr=0.1, momentum=0.9, seed=0, progress=False)
    after = pgmdbn.log_likelihood(model, data).mean
    assert after > before + 1.0, (before, after)
    assert pgmdbn.registry.origin("units", "spin") == "pgmdbn_spin"
    with pytest.raises(pgmdbn.DataError, match=r"\{-1, \+1\}.*2x - 1"):
        pgmdbn.log_likelihood(model, (data + 1) / 2)


def test_spin_exact_matches_brute_force(spin_plugin):
    model = pgmdbn.rbm(4, 3, visible="spin", hidden="spin")
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(2)) * 0.7)
    v, h = model.layer("v").states().double(), model.layer("h").states().double()
    e = -model.energy({"v": v.repeat_interleave(len(h), 0), "h": h.repeat(len(v), 1)})
    assert pgmdbn.log_partition(model).log_z == pytest.approx(torch.logsumexp(e, 0).item(), abs=1e-9)


def test_unknown_unit_type_names_registered_ones():
    with pytest.raises(PluginError, match="unknown unit 'ising'.*bernoulli.*gaussian"):
        pgmdbn.rbm(3, 3, visible="ising")


def test_name_clash_is_refused():
    class Clash:
        @pgmdbn.hookimpl
        def pgmdbn_register_units(self):
            return {"bernoulli": object}

    with pytest.raises(PluginError, match="'bernoulli' is registered by both"):
        pgmdbn.register_plugin(Clash(), name="clash")
    assert pgmdbn.registry.get("units", "bernoulli") is pgmdbn.units.Bernoulli


def test_entry_point_discovery(tmp_path, monkeypatch):
    """A plugin installed as a distribution with a `pgmdbn` entry point is found without registering."""
    dist = tmp_path / "pgmdbn_spin-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: pgmdbn-spin\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent("""\
        [pgmdbn]
        spin = pgmdbn_spin
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(SPIN_DIR))
    registry = Registry()
    names = registry.names("units")  # a bare registry holds only what entry points bring (other
    assert "spin" in names and "bernoulli" not in names  # installed plugins, e.g. the gallery, too)
    registry.add_builtins(pgmdbn.builtins)
    row = next(r for r in registry.describe() if r["name"] == "spin")
    assert row["source"] == "pgmdbn-spin 0.1.0"
    assert {"bernoulli", "gaussian", "softmax", "replicated_softmax"} <= set(registry.names("units"))
    assert {"cd", "pcd", "gibbs"} <= set(registry.names("engines"))
    assert "exact" in registry.names("estimators")


def test_epoch_end_hook_sees_metrics():
    seen = []

    class Monitor:
        @pgmdbn.hookimpl
        def pgmdbn_on_epoch_end(self, model, epoch, metrics):
            seen.append((epoch, metrics["recon_error"]))

    monitor = Monitor()
    pgmdbn.register_plugin(monitor, name="monitor")
    try:
        pgmdbn.fit(pgmdbn.rbm(9, 4), sample_bars_and_stripes(50, 3), epochs=3, batch_size=10, progress=False)
    finally:
        pgmdbn.unregister_plugin(monitor)
    assert [e for e, _ in seen] == [1, 2, 3]
    assert all(r >= 0 for _, r in seen)


# --- installed plugins: describe() first, distributions in files and errors ---------------------

FIRST_MODULE = '''
import pgmdbn
from pgmdbn.units import Bernoulli


class Coin(Bernoulli):
    name = "tp_coin"


@pgmdbn.hookimpl
def pgmdbn_register_units():
    return {"tp_coin": Coin}
'''


def _installed(tmp_path: Path, module: str, source: str, dist: str, version: str, entry: str) -> Path:
    """A folder holding ``module`` and a distribution ``dist`` ``version`` whose ``pgmdbn`` entry
    point ``entry`` names it: what pip installs, without pip."""
    site = tmp_path / "site"
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (site / f"{module}.py").write_text(source)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[pgmdbn]\n{entry} = {module}\n")
    return site


def _fresh_python(code: str, *paths: Path) -> subprocess.CompletedProcess:
    """``code`` in a new interpreter with ``paths`` and pgmdbn importable; fails the test on an error."""
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([*(str(p) for p in paths), str(ROOT)]))
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


def test_describe_as_the_first_registry_call_names_the_installed_distribution(tmp_path):
    site = _installed(tmp_path, "pgmdbn_tp_coin", FIRST_MODULE, "pgmdbn-tp-coin", "0.3.1", "tpcoin")
    out = _fresh_python("""
        import json
        import pgmdbn
        assert not pgmdbn.registry._loaded, "something looked a name up before describe()"
        rows = pgmdbn.registry.describe()
        print(json.dumps([r for r in rows if r["name"] in ("tp_coin", "bernoulli")]))
    """, site)
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    assert rows["tp_coin"] == {"kind": "units", "name": "tp_coin", "plugin": "tpcoin", "source": "pgmdbn-tp-coin 0.3.1",
                               "distribution": "pgmdbn-tp-coin", "version": "0.3.1"}
    assert rows["bernoulli"]["source"] == "built-in" and rows["bernoulli"]["distribution"] == "pgmdbn"


def test_run_time_plugins_have_no_distribution(spin_plugin):
    row = next(r for r in pgmdbn.registry.describe() if r["name"] == "spin")
    assert (row["source"], row["distribution"], row["version"]) == ("registered at run time", None, None)
    assert pgmdbn.registry.distribution("units", "spin") is None


def test_a_file_names_the_package_to_pip_install(tmp_path):
    site = _installed(tmp_path, "pgmdbn_tp_coin", FIRST_MODULE, "pgmdbn-tp-coin", "0.3.1", "tpcoin")
    path = tmp_path / "coin.safetensors"
    _fresh_python(f"""
        import pgmdbn
        model = pgmdbn.rbm(3, 2, visible="tp_coin", seed=0)
        pgmdbn.save(model, {str(path)!r})
        layer = pgmdbn.io.read_info({str(path)!r})["spec"]["layers"][0]
        assert layer["plugin"] == "tpcoin", layer
        assert layer["distribution"] == {{"name": "pgmdbn-tp-coin", "version": "0.3.1"}}, layer
        assert "distribution" not in pgmdbn.io.read_info({str(path)!r})["spec"]["layers"][1]  # built-in
        pgmdbn.load({str(path)!r})
    """, site)
    with pytest.raises(PluginError) as error:  # this process has no such package
        pgmdbn.load(path)
    message = str(error.value)
    for part in ("layer 'v'", "'tp_coin'", "'tpcoin'", "pip install pgmdbn-tp-coin (version 0.3.1 wrote this file)"):
        assert part in message, (part, message)


def _rewrite_spec(src: Path, dst: Path, edit) -> Path:
    """A copy of model file ``src`` whose stored spec went through ``edit`` (as an older or a
    hand-edited file would hold it)."""
    tensors, header = pgmdbn.io.read_tensors(src)
    spec = json.loads(header["spec"])
    edit(spec)
    return pgmdbn.io.write_tensors(tensors, dst, {**header, "spec": json.dumps(spec)})


def test_files_without_the_distribution_still_load_and_a_bad_one_is_named(tmp_path, spin_plugin):
    model = pgmdbn.rbm(4, 3, visible="spin", seed=0, init_scale=0.3)
    saved = pgmdbn.save(model, tmp_path / "spin.safetensors")
    old = _rewrite_spec(saved, tmp_path / "old.safetensors", lambda s: [l.pop("plugin") for l in s["layers"]])
    back = pgmdbn.load(old)  # a file from before plugins were recorded
    assert torch.equal(back.factor("v", "h").weight, model.factor("v", "h").weight)

    def bad(spec):
        spec["layers"][0]["distribution"] = {"name": "pgmdbn-spin"}
    with pytest.raises(pgmdbn.errors.ModelFileError, match=r"layers\[0\]\.distribution.*\"version\""):
        pgmdbn.load(_rewrite_spec(saved, tmp_path / "bad.safetensors", bad))
    pgmdbn.unregister_plugin(spin_plugin)
    try:
        with pytest.raises(PluginError, match="install the package that provides it"):
            pgmdbn.load(old)
        with pytest.raises(PluginError, match="'pgmdbn_spin'.*register_plugin"):
            pgmdbn.load(saved)
    finally:
        pgmdbn.register_plugin(spin_plugin, name="pgmdbn_spin")


# --- unit options through the builders, spec files and greedy pretraining -----------------------

SIGMA = {"type": "gaussian", "learn_sigma": True}


@pytest.mark.parametrize("build", [
    lambda: pgmdbn.rbm(4, 3, visible=SIGMA),
    lambda: pgmdbn.dbn([4, 3, 2], visible=SIGMA, hidden={"type": "bernoulli"}),
    lambda: pgmdbn.dbm([4, 3, 2], visible=SIGMA),
    lambda: pgmdbn.sbn([4, 3, 2], visible=SIGMA),
    lambda: pgmdbn.cdbn((1, 6, 6), [2], [3], [2], visible=SIGMA),
], ids=["rbm", "dbn", "dbm", "sbn", "cdbn"])
def test_builders_pass_unit_options(build):
    model = build()
    assert model.layer("v").config()["learn_sigma"] is True
    assert pgmdbn.graph.Model.from_spec(model.spec()).layer("v").config() == model.layer("v").config()


def test_builders_pass_options_to_every_hidden_layer():
    model = pgmdbn.dbm([4, 3, 2], hidden=SIGMA)
    assert [model.layer(n).config().get("learn_sigma") for n in ("h1", "h2")] == [True, True]
    assert model.layer("h1") is not model.layer("h2")


@pytest.mark.parametrize("value, error, words", [
    ({"trials": 3}, pgmdbn.errors.ModelError, "names no unit type; give it under 'type'"),
    ({"type": "gaussian", "size": 4}, pgmdbn.errors.ModelError, "'size' is not a unit option"),
    ({"type": "gaussian", "shape": (4,)}, pgmdbn.errors.ModelError, "'shape' is not a unit option"),
    (3, pgmdbn.errors.ArgumentTypeError, r"must name a unit type .* or be a dict"),
    ({"type": "gaussian", "sigma_learned": True}, (pgmdbn.errors.ModelError, TypeError), "sigma_learned"),
])
def test_builders_refuse_bad_unit_options(value, error, words):
    with pytest.raises(error, match=words):
        pgmdbn.rbm(4, 3, visible=value)


def test_one_units_instance_cannot_fill_several_layers():
    with pytest.raises(pgmdbn.errors.ModelError, match="cannot be 2 layers.*'type': 'bernoulli'"):
        pgmdbn.dbn([4, 3, 2], hidden=pgmdbn.units.Bernoulli(3))
    with pytest.raises(pgmdbn.errors.ModelError, match="'channels' is not a unit option"):
        pgmdbn.cdbn((1, 6, 6), [2], [3], [2], visible={"type": "gaussian", "channels": 1})


def test_spec_files_and_greedy_stages_keep_unit_options(tmp_path):
    spec = {"layers": [{"name": "v", "unit": "gaussian", "size": 4, "config": {"learn_sigma": True}},
                       {"name": "h1", "unit": "bernoulli", "size": 3},
                       {"name": "h2", "unit": "bernoulli", "size": 2}],
            "factors": [{"a": "h1", "b": "v", "directed": True}, {"a": "h1", "b": "h2", "directed": False}],
            "seed": 0}
    model = pgmdbn.io.model_from_spec_file(pgmdbn.io.write_spec(spec, tmp_path / "dbn.json"))
    assert model.layer("v").config() == {"learn_sigma": True}
    stage = pgmdbn.training.greedy.stage_rbm(model, ["v"], "h1")
    assert stage.layer("v").config() == {"learn_sigma": True}
    x = torch.randn(60, 4, generator=torch.Generator().manual_seed(0)).double()
    sigma = model.layer("v").log_sigma.detach().clone()
    pgmdbn.pretrain(model.double(), x, epochs=2, batch_size=20, lr=0.01, progress=False)
    assert not torch.equal(model.layer("v").log_sigma, sigma)  # the learned sigma trained in the stage
