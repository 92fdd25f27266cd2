"""Plugin hooks and the one registry that resolves names of unit types, factor types, engines
and estimators.

Built-ins (``pgmdbn.builtins``, registered by the package on import) use the same hooks as
third-party plugins, which come from the ``pgmdbn`` entry-point group (loaded on the first
lookup) or from ``pgmdbn.register_plugin(obj)`` at run time. This module sits at the bottom of
the import layers: it knows names and objects, never what they are.
"""
from __future__ import annotations

from dataclasses import dataclass

import pluggy

from .errors import PluginError

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


class Registry:
    """Names -> objects for every registered plugin; rebuilt when plugins change."""

    def __init__(self):
        self.manager = pluggy.PluginManager("pgmdbn")
        self.manager.add_hookspecs(Specs)
        self._entries: dict[tuple[str, str], Entry] | None = None
        self._loaded = False

    def _load(self):
        if self._loaded:
            return
        self._loaded = True
        self.manager.load_setuptools_entrypoints("pgmdbn")

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
        try:
            self.entries()
        except PluginError:
            self.manager.unregister(plugin)
            self._entries = None
            raise
        return registered

    def unregister(self, plugin) -> None:
        self.manager.unregister(plugin)
        self._entries = None

    def entries(self) -> dict[tuple[str, str], Entry]:
        self._load()
        if self._entries is None:
            entries = {}
            for kind in KINDS:
                hook = getattr(self.manager.hook, f"pgmdbn_register_{kind}")
                for impl in hook.get_hookimpls():
                    for name, obj in (impl.function() or {}).items():
                        old = entries.get((kind, name))
                        if old is not None and old.obj is not obj:
                            raise PluginError(f"{kind[:-1]} name {name!r} is registered by both "
                                              f"{old.plugin!r} and {impl.plugin_name!r}; rename one")
                        entries[(kind, name)] = Entry(kind, name, obj, impl.plugin_name)
            self._entries = entries
        return self._entries

    def get(self, kind: str, name: str):
        entry = self.entries().get((kind, name))
        if entry is None:
            known = ", ".join(sorted(n for k, n in self.entries() if k == kind))
            raise PluginError(f"unknown {kind[:-1]} {name!r}; registered: {known}. "
                              f"Install or register the plugin that provides it (pgmdbn plugins lists them)")
        return entry.obj

    def origin(self, kind: str, name: str) -> str:
        self.get(kind, name)
        return self.entries()[(kind, name)].plugin

    def names(self, kind: str) -> list[str]:
        return sorted(n for k, n in self.entries() if k == kind)

    def describe(self) -> list[dict]:
        """One row per registered name: kind, name, plugin, and the distribution it came from."""
        dists = {self.manager.get_name(p): f"{d.project_name} {d.version}"
                 for p, d in self.manager.list_plugin_distinfo()}
        return [{"kind": e.kind, "name": e.name, "plugin": e.plugin,
                 "source": "built-in" if e.plugin == "pgmdbn" else dists.get(e.plugin, "registered at run time")}
                for e in sorted(self.entries().values(), key=lambda e: (e.kind, e.name))]

    def epoch_end(self, model, epoch, metrics) -> None:
        self._load()
        self.manager.hook.pgmdbn_on_epoch_end(model=model, epoch=epoch, metrics=metrics)


registry = Registry()


def register_plugin(plugin, name: str | None = None) -> str:
    """Register a plugin object (module or instance with ``@hookimpl`` functions) at run time."""
    return registry.register(plugin, name)


def unregister_plugin(plugin) -> None:
    registry.unregister(plugin)
