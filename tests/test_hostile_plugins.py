"""Hostile plugins: a failing registration or entry-point import is reported with the plugin's name
and skipped, the registry stays usable, bad registrations are refused naming the plugin, and
errors or non-finite values from plugin unit code name the plugin and the unit type."""
import warnings

import pytest
import torch

import pgmdbn
from pgmdbn import builtins, hooks
from pgmdbn.errors import PluginError, TrainingDiverged
from pgmdbn.hooks import Registry, hookimpl
from pgmdbn.units.bernoulli import Bernoulli

from hostile import refused

X = (torch.rand(30, 5) > 0.5).float()


class Plugin:
    """A plugin object whose unit registration hook returns ``provided`` (or raises it)."""

    def __init__(self, provided):
        self.provided = provided

    @hookimpl
    def pgmdbn_register_units(self):
        if isinstance(self.provided, BaseException):
            raise self.provided
        return self.provided


class EntryPoint:
    def __init__(self, name, load):
        self.name, self._load, self.dist = name, load, None

    def load(self):
        return self._load()


def fresh_registry(monkeypatch, points):
    monkeypatch.setattr(hooks.metadata, "entry_points", lambda group: points)
    registry = Registry()
    registry.add_builtins(builtins)
    return registry


def raising(error):
    def load():
        raise error
    return load


IMPORT_ERRORS = [ImportError("No module named 'torch_xla'"), SyntaxError("invalid syntax"),
                 RuntimeError("CUDA init failed"), AttributeError("module has no attribute 'Units'"),
                 ValueError("bad config")]


@pytest.mark.parametrize("error", IMPORT_ERRORS, ids=[type(e).__name__ for e in IMPORT_ERRORS])
def test_an_entry_point_that_fails_to_import_is_reported_and_skipped(monkeypatch, error):
    registry = fresh_registry(monkeypatch, [EntryPoint("broken_plugin", raising(error)),
                                            EntryPoint("good_plugin", lambda: Plugin({"good": Bernoulli}))])
    with pytest.warns(RuntimeWarning, match="broken_plugin"):
        assert registry.get("units", "bernoulli") is Bernoulli
    assert registry.get("units", "good") is Bernoulli  # the rest still loads
    failed = [row for row in registry.describe() if row["kind"] == "failed"]
    assert failed and failed[0]["plugin"] == "broken_plugin" and type(error).__name__ in failed[0]["source"]


ENTRY_FAULTS = [
    ("hook raises", Plugin(RuntimeError("boom")), "boom"),
    ("returns a list", Plugin(["spin"]), "list"),
    ("returns a string", Plugin("spin"), "str"),
    ("unit is a function", Plugin({"spin": lambda n: n}), "not a class"),
    ("unit is an instance", Plugin({"spin": Bernoulli(3)}), "not a class"),
    ("clashes with a built-in", Plugin({"bernoulli": type("Other", (Bernoulli,), {})}), "registered by both"),
    ("name is not a string", Plugin({3: Bernoulli}), "3"),
]


@pytest.mark.parametrize("plugin,problem", [f[1:] for f in ENTRY_FAULTS], ids=[f[0] for f in ENTRY_FAULTS])
def test_a_faulty_installed_plugin_is_reported_and_skipped(monkeypatch, plugin, problem):
    registry = fresh_registry(monkeypatch, [EntryPoint("faulty_plugin", lambda: plugin)])
    with pytest.warns(RuntimeWarning, match="faulty_plugin"):
        names = registry.names("units")
    assert "bernoulli" in names and registry.get("units", "bernoulli") is Bernoulli
    failed = [row for row in registry.describe() if row["kind"] == "failed"]
    assert any(row["plugin"] == "faulty_plugin" and problem in row["source"] for row in failed), failed


def test_an_entry_point_named_like_the_builtins_is_reported(monkeypatch):
    registry = fresh_registry(monkeypatch, [EntryPoint("pgmdbn", lambda: Plugin({"x": Bernoulli}))])
    with pytest.warns(RuntimeWarning, match="'pgmdbn'"):
        assert registry.get("units", "bernoulli") is Bernoulli


RUNTIME_FAULTS = ENTRY_FAULTS + [("returns an int", Plugin(7), "int"), ("empty name", Plugin({"": Bernoulli}), "''")]


@pytest.mark.parametrize("plugin,problem", [f[1:] for f in RUNTIME_FAULTS], ids=[f[0] for f in RUNTIME_FAULTS])
def test_registering_a_faulty_plugin_is_refused_and_leaves_the_registry_usable(plugin, problem):
    before = pgmdbn.registry.describe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with refused(PluginError, "faulty", problem):
            pgmdbn.register_plugin(plugin, name="faulty")
    assert pgmdbn.registry.describe() == before
    assert pgmdbn.registry.get("units", "bernoulli") is Bernoulli
    assert pgmdbn.rbm(3, 2) is not None


def test_a_non_callable_estimator_is_refused():
    class Bad:
        @hookimpl
        def pgmdbn_register_estimators(self):
            return {"nonsense": 42}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with refused(PluginError, "bad_estimators", "not a function"):
            pgmdbn.register_plugin(Bad(), name="bad_estimators")


class Raising(Bernoulli):
    name = "raising"

    def sample(self, eta, beta=1.0, generator=None, like=None):
        raise ZeroDivisionError("plugin bug")


class NaNs(Bernoulli):
    name = "nans"

    def sample(self, eta, beta=1.0, generator=None, like=None):
        return torch.full_like(eta, float("nan"))


@pytest.fixture
def unit_plugins():
    plugin = Plugin({"raising": Raising, "nans": NaNs})
    pgmdbn.register_plugin(plugin, name="buggy_units")
    yield
    pgmdbn.unregister_plugin(plugin)


@pytest.mark.parametrize("hidden", ["raising", "nans"])
@pytest.mark.parametrize("method", ["gibbs", "ancestral"])
def test_sampling_through_buggy_plugin_units_names_the_plugin(unit_plugins, hidden, method):
    model = pgmdbn.rbm(5, 3, hidden=hidden, seed=0)
    with refused(PluginError, "buggy_units", hidden):
        pgmdbn.sample(model, 4, steps=3, method=method)


@pytest.mark.parametrize("method", ["cd", "pcd"])
def test_training_through_a_raising_plugin_unit_names_the_plugin(unit_plugins, method):
    model = pgmdbn.rbm(5, 3, hidden="raising", seed=0)
    with refused(PluginError, "buggy_units", "'raising'", "ZeroDivisionError"):
        pgmdbn.fit(model, X, method=method, epochs=2, progress=False)
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.parametrize("method", ["cd", "pcd"])
def test_training_through_a_nan_plugin_unit_names_the_plugin(unit_plugins, method):
    model = pgmdbn.rbm(5, 3, hidden="nans", seed=0)
    with refused(TrainingDiverged, "buggy_units", "'nans'"):
        pgmdbn.fit(model, X, method=method, epochs=2, progress=False)
    assert all(torch.isfinite(p).all() for p in model.parameters())
