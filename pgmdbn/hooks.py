"""Plugin hooks and the one registry that resolves names of unit types, factor types, engines
and estimators.

Built-ins (``pgmdbn.builtins``, registered by the package on import) use the same hooks as
third-party plugins, which come from the ``pgmdbn`` entry-point group (loaded on the first
lookup) or from ``pgmdbn.register_plugin(obj)`` at run time. This module sits at the bottom of
the import layers: it knows names and objects, never what they are.
"""
from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from importlib import metadata

import pluggy

from .errors import PgmdbnError, PluginError
from .validation import did_you_mean

hookspec = pluggy.HookspecMarker("pgmdbn")
hookimpl = pluggy.HookimplMarker("pgmdbn")

KINDS = ("units", "factors", "engines", "estimators")


class Specs:
    @hookspec
    def pgmdbn_register_units(self):
        """Return {name: Units subclass} of unit types this plugin provides."""

    @hookspec
    def pgmdbn_register_factors(self):
        """Return {name: Factor subclass} of factor types this plugin provides."""

    @hookspec
    def pgmdbn_register_engines(self):
        """Return {name: engine class} of samplers and trainers this plugin provides."""

    @hookspec
    def pgmdbn_register_estimators(self):
        """Return {name: estimator function} of log-likelihood estimators this plugin provides."""

    @hookspec
    def pgmdbn_on_epoch_end(self, model, epoch, metrics):
        """Called after every training epoch with the metrics dict (monitors, loggers)."""


@dataclass(frozen=True)
class Entry:
    kind: str
    name: str
    obj: object
    plugin: str


@dataclass(frozen=True)
class Distribution:
    """The installed package (what ``pip install`` takes) that brought a plugin, and its version."""
    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


def _distribution(dist) -> Distribution | None:
    """(pip name, version) of an ``importlib.metadata`` distribution, or None where its metadata
    lacks a name (a broken install: the plugin then counts as registered at run time)."""
    try:
        name, version = dist.metadata["Name"], dist.version
    except Exception:  # noqa: BLE001 - unreadable metadata of someone else's distribution
        return None
    if not isinstance(name, str) or not name:
        return None
    return Distribution(name, version if isinstance(version, str) else "unknown")


class Registry:
    """Names -> objects for every registered plugin; rebuilt when plugins change."""

    def __init__(self):
        self.manager = pluggy.PluginManager("pgmdbn")
        self.manager.add_hookspecs(Specs)
        self._entries: dict[tuple[str, str], Entry] | None = None
        self._loaded = False
        #: (plugin, problem) of every plugin or registration that failed and was skipped
        self.failures: list[tuple[str, str]] = []
        self._import_failures: list[tuple[str, str]] = []
        self._warned: set[tuple[str, str]] = set()
        self._registering: str | None = None
        #: plugin name -> (the plugin object, the installed distribution its entry point came from)
        self._distributions: dict[str, tuple[object, Distribution]] = {}

    def _load(self):
        """Import the ``pgmdbn`` entry points; one that fails to import or register is reported
        (a warning, ``failures``, ``describe()``) and skipped, and the rest still load."""
        if self._loaded:
            return
        self._loaded = True
        try:
            points = metadata.entry_points(group="pgmdbn")
        except Exception as e:  # noqa: BLE001 - broken distribution metadata
            self._fail("entry points", f"reading the installed entry points failed: {type(e).__name__}: {e}", True)
            return
        for point in points:
            if self.manager.is_blocked(point.name):
                continue
            if self.manager.get_plugin(point.name) is not None:
                self._fail(point.name, f"its entry-point name {point.name!r} is already the name of a registered "
                                       f"plugin; rename the entry point", True)
                continue
            try:
                plugin = point.load()
                self.manager.register(plugin, name=point.name)
                dist = _distribution(point.dist) if getattr(point, "dist", None) is not None else None
                if dist is not None:
                    self._distributions[point.name] = (plugin, dist)
            except Exception as e:  # noqa: BLE001 - a plugin's import may raise anything
                self._fail(point.name, f"importing it failed: {type(e).__name__}: {e}", True)

    def _fail(self, plugin: str, problem: str, on_import: bool = False) -> None:
        row = (plugin, problem)
        target = self._import_failures if on_import else self.failures
        if row not in target:
            target.append(row)
        if row not in self._warned and plugin != self._registering:  # once each; a refused registration raises
            self._warned.add(row)
            warnings.warn(f"pgmdbn plugin {plugin!r} is skipped: {problem}", RuntimeWarning, stacklevel=3)

    def add_builtins(self, plugin) -> None:
        """Register pgmdbn's own plugin (under the name "pgmdbn"), before any entry point loads."""
        if not self.manager.is_registered(plugin):
            self.manager.register(plugin, name="pgmdbn")
            self._entries = None

    def register(self, plugin, name: str | None = None) -> str:
        self._load()
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        if self.manager.is_registered(plugin):
            return self.manager.get_name(plugin)
        registered = self.manager.register(plugin, name=name)
        self._entries = None
        self._registering = registered
        try:
            self.entries()
        finally:
            self._registering = None
        new = [f for f in self.failures if f[0] == registered]
        if new:  # registered explicitly: refuse it, leaving the registry as it was
            self.manager.unregister(plugin)
            self._entries = None
            self.failures = [f for f in self.failures if f[0] != registered]
            raise PluginError(f"plugin {registered!r} cannot be registered: {new[0][1]}")
        return registered

    def unregister(self, plugin) -> None:
        self.manager.unregister(plugin)
        self._entries = None

    def entries(self) -> dict[tuple[str, str], Entry]:
        self._load()
        if self._entries is None:
            entries, self.failures = {}, []
            for kind in KINDS:
                hook = getattr(self.manager.hook, f"pgmdbn_register_{kind}")
                # pluggy lists later registrations first; built-ins are registered before any other
                impls = sorted(hook.get_hookimpls(), key=lambda i: i.plugin_name != "pgmdbn")
                for impl in impls:
                    for name, obj in self._provided(kind, impl):
                        old = entries.get((kind, name))
                        if old is not None and old.obj is not obj:
                            self._fail(impl.plugin_name, f"{kind[:-1]} name {name!r} is registered by both "
                                                         f"{old.plugin!r} and {impl.plugin_name!r}; rename one")
                            continue
                        entries[(kind, name)] = Entry(kind, name, obj, impl.plugin_name)
            self._entries = entries
        return self._entries

    def _provided(self, kind: str, impl) -> list[tuple[str, object]]:
        """The (name, object) pairs one plugin's registration hook returns, checked; a hook that
        raises or returns something else is reported and contributes nothing."""
        plugin = impl.plugin_name
        try:
            provided = impl.function()
        except Exception as e:  # noqa: BLE001 - plugin code may raise anything
            self._fail(plugin, f"its pgmdbn_register_{kind} hook raised {type(e).__name__}: {e}")
            return []
        if provided is None:
            return []
        if not isinstance(provided, dict):
            self._fail(plugin, f"its pgmdbn_register_{kind} hook returned a {type(provided).__name__}, not a dict "
                               f"of {{name: {kind[:-1]}}}")
            return []
        good = []
        for name, obj in provided.items():
            if not isinstance(name, str) or not name:
                self._fail(plugin, f"its pgmdbn_register_{kind} hook uses {name!r} as a name; names are non-empty "
                                   f"strings")
            elif kind in ("units", "factors", "engines") and not isinstance(obj, type):
                self._fail(plugin, f"its {kind[:-1]} type {name!r} is a {type(obj).__name__}, not a class")
            elif kind == "estimators" and not callable(obj):
                self._fail(plugin, f"its estimator {name!r} is a {type(obj).__name__}, not a function")
            else:
                good.append((name, obj))
        return good

    def get(self, kind: str, name: str):
        entry = self.entries().get((kind, name))
        if entry is None:
            known = ", ".join(sorted(n for k, n in self.entries() if k == kind))
            near = did_you_mean(name, (n for k, n in self.entries() if k == kind))
            raise PluginError(f"unknown {kind[:-1]} {name!r}{near}; registered: {known}. "
                              f"Install or register the plugin that provides it (pgmdbn plugins lists them)")
        return entry.obj

    def origin(self, kind: str, name: str) -> str:
        self.get(kind, name)
        return self.entries()[(kind, name)].plugin

    def names(self, kind: str) -> list[str]:
        return sorted(n for k, n in self.entries() if k == kind)

    def distribution(self, kind: str, name: str) -> Distribution | None:
        """The installed distribution (pip name, version) whose entry point registered ``name``:
        pgmdbn's own for a built-in, None for a plugin registered at run time."""
        return self._distribution_of(self.origin(kind, name))

    def _distribution_of(self, plugin: str) -> Distribution | None:
        if plugin == "pgmdbn":
            return _own_distribution()
        obj, dist = self._distributions.get(plugin, (None, None))
        # the entry point's object still registered under that name (not a later run-time stand-in)
        return dist if obj is not None and self.manager.get_plugin(plugin) is obj else None

    def describe(self) -> list[dict]:
        """One row per registered name: kind, name, plugin, the pip-installable distribution it came
        from and its version (None for a plugin registered at run time), and ``source`` in words.
        Entry points load first, so an installed plugin is described as installed on any call."""
        entries = sorted(self.entries().values(), key=lambda e: (e.kind, e.name))  # loads entry points
        rows = []
        for e in entries:
            dist = self._distribution_of(e.plugin)
            source = "built-in" if e.plugin == "pgmdbn" else str(dist) if dist else "registered at run time"
            rows.append({"kind": e.kind, "name": e.name, "plugin": e.plugin, "source": source,
                         "distribution": dist.name if dist else None, "version": dist.version if dist else None})
        return rows + [{"kind": "failed", "name": "", "plugin": plugin, "source": f"skipped: {problem}",
                        "distribution": None, "version": None}
                       for plugin, problem in self._import_failures + self.failures]

    def epoch_end(self, model, epoch, metrics) -> None:
        """Call every plugin's ``pgmdbn_on_epoch_end`` (latest registered first, as pluggy does);
        one that raises ends in a PluginError naming the plugin and the hook, the error chained."""
        self._load()
        given = {"model": model, "epoch": epoch, "metrics": metrics}
        impls = self.manager.hook.pgmdbn_on_epoch_end.get_hookimpls()
        wrapped = any(i.hookwrapper or getattr(i, "wrapper", False) for i in impls)
        # pluggy's own call where a plugin wraps the hook (then the culprit is one of them all)
        for impl in [None] if wrapped else reversed(impls):
            try:
                if impl is None:
                    self.manager.hook.pgmdbn_on_epoch_end(**given)
                else:
                    impl.function(*(given[a] for a in impl.argnames))
            except PgmdbnError:
                raise
            except Exception as error:
                who = f"plugin {impl.plugin_name!r}" if impl is not None else \
                    f"one of the plugins {', '.join(repr(i.plugin_name) for i in impls)}"
                raise PluginError(f"{who} raised {type(error).__name__} in its pgmdbn_on_epoch_end hook after epoch "
                                  f"{epoch}: {error}; fix or unregister the plugin (pgmdbn.unregister_plugin)") \
                    from error


@functools.cache
def _own_distribution() -> Distribution:
    """pgmdbn's own distribution; a source checkout that is not installed reads as version "unknown"."""
    try:
        found = _distribution(metadata.distribution("pgmdbn"))
    except metadata.PackageNotFoundError:
        found = None
    return found or Distribution("pgmdbn", "unknown")


registry = Registry()


def register_plugin(plugin, name: str | None = None) -> str:
    """Register a plugin object (module or instance with ``@hookimpl`` functions) at run time."""
    return registry.register(plugin, name)


def unregister_plugin(plugin) -> None:
    registry.unregister(plugin)
