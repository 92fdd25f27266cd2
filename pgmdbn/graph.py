"""Model: a graph whose nodes are layers of units and whose edges are factors.

The model knows its structure and its energies; it never knows how it is sampled or trained.
"""
from __future__ import annotations

import inspect
import math
import re
from collections.abc import Mapping

import networkx as nx
import torch
from torch import Tensor, nn

from .errors import ModelError, PgmdbnError, PluginError, UnsupportedModel
from .factors.base import Factor
from .hooks import registry
from .limits import limits
from .units import Units
from . import validation
from .validation import did_you_mean

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
States = Mapping[str, Tensor]
#: names a layer cannot take: attributes of nn.ModuleDict, which holds the layers
RESERVED_NAMES = frozenset(n for n in dir(nn.ModuleDict()) if not n.startswith("__"))


def make_units(unit: Units | str | type, size: int | None = None, **config) -> Units:
    """A unit-type instance from an instance, a class, or a registered name."""
    if isinstance(unit, Units):
        if size is not None and size != unit.size:
            raise ModelError(f"size {size} given for a {unit.name} layer that already has size {unit.size}")
        return unit
    if size is None:
        raise ModelError(f"a layer of unit type {unit!r} needs a size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ModelError(f"a layer of unit type {unit!r} needs a positive integer size, got {size!r}")
    limits.check("max_layer_units", size, f"a layer of {size} {unit if isinstance(unit, str) else ''} units")
    cls = registry.get("units", unit) if isinstance(unit, str) else unit
    check_options(cls, config, 1, f"unit type {getattr(cls, 'name', cls)!r}")
    provider = type_provider("units", cls)
    if provider is None:
        return cls(size, **config)
    try:
        return cls(size, **config)
    except PgmdbnError:
        raise
    except Exception as error:  # noqa: BLE001 - plugin code may raise anything
        raise PluginError(f"unit type {getattr(cls, 'name', cls.__name__)!r} of {provider} raised "
                          f"{type(error).__name__} in its constructor {cls.__name__}({size}"
                          f"{''.join(f', {k}={v!r}' for k, v in config.items())}): {error}") from error


def check_options(cls, config: dict, skip: int, what: str) -> None:
    """Refuse an option of ``config`` that the constructor of ``cls`` does not take (after its
    first ``skip`` positional arguments), naming the nearest one it takes; a constructor with
    ``**kwargs`` takes anything."""
    try:
        params = list(inspect.signature(cls).parameters.values())[skip:]
    except (TypeError, ValueError):  # no signature to read (a builtin): the constructor judges
        return
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return
    names = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    for key in config:
        if key not in names:
            raise ModelError(f"{what} takes no option {key!r}{did_you_mean(key, names)}; its options: "
                             f"{', '.join(names) or 'none'}")


def plugin_types(model: Model) -> str:
    """The unit and factor types of ``model`` that plugin (or other outside) code provides, in
    words, e.g. "unit type 'spin' of plugin 'spins' (layer 'h')"; "" when all are pgmdbn's."""
    found = [f"unit type {u.name!r} of {p} (layer {n!r})" for n, u in model.layers.items()
             if (p := type_provider("units", type(u))) is not None]
    found += [f"factor type {f.name!r} of {p} ({k})" for k, f in model.factors.items()
              if (p := type_provider("factors", type(f))) is not None]
    return "; ".join(found)


def type_provider(kind: str, cls) -> str | None:
    """Where a unit or factor type comes from, in words ("plugin 'x'", or the module of a class
    nobody registered), for messages that blame its code; None for pgmdbn's own types."""
    if not isinstance(cls, type) or cls.__module__.split(".")[0] == "pgmdbn":
        return None
    for entry in registry.entries().values():
        if entry.kind == kind and entry.obj is cls:
            return f"plugin {entry.plugin!r}"
    return f"module {cls.__module__!r} (not registered)"


@torch.no_grad()
def probe_units(units: Units, where: str, provider: str) -> None:
    """Check once, on a zero field of shape (2, size), that a plugin unit type's ``log_partition``,
    ``mean``, ``sample``, ``statistic`` and ``energy`` return the contract's shapes ((2,) or
    (2, size)); a wrong shape raises PluginError naming the method and the shape expected. A
    method that raises here (e.g. one that needs ``like``) is left to the call that uses it."""
    n, size = 2, units.size
    bias = units.bias
    eta = torch.zeros(n, size, dtype=bias.dtype, device=bias.device)
    generator = torch.Generator(device=bias.device).manual_seed(0)
    checks = [("log_partition", lambda: units.log_partition(eta), (n,)),
              ("mean", lambda: units.mean(eta), (n, size)),
              ("sample", lambda: units.sample(eta, 1.0, generator), (n, size)),
              ("statistic", lambda: units.statistic(drawn), (n, size)),
              ("energy", lambda: units.energy(drawn), (n,))]
    drawn = None
    for what, call, shape in checks:
        if what in ("statistic", "energy") and drawn is None:
            continue
        try:
            out = call()
        except Exception:  # noqa: BLE001 - see the docstring: only shapes are judged here
            continue
        got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        if got != shape:
            hint = "; sum over the units with .sum(-1)" if what in ("log_partition", "energy") and \
                got == (n, size) else ""
            raise PluginError(f"{where}: unit type {units.name!r} of {provider} breaks the unit contract: "
                              f"{what}() on a field of shape {(n, size)} returned "
                              f"{'shape ' + str(got) if isinstance(got, tuple) else 'a ' + got}, expected shape "
                              f"{shape} ({'one value per example' if len(shape) == 1 else '(..., size)'}){hint}")
        if what == "sample":
            drawn = out


class Model(nn.Module):
    """A directed/undirected graphical model of layers (nodes) and factors (edges)."""

    def __init__(self):
        super().__init__()
        self.graph = nx.DiGraph()  # undirected factors are stored once, in declaration order
        self.layers = nn.ModuleDict()
        self.factors = nn.ModuleDict()

    # --- declaring --------------------------------------------------------------------
    def add_layer(self, name: str, unit: Units | str, size: int | None = None, *,
                  shape: tuple[int, ...] | None = None, **config) -> Model:
        """Declare a layer of ``size`` units of a registered unit type (or an instance). ``shape``
        (e.g. ``(1, 28, 28)``) gives it a spatial layout for factors that need one; its product
        is the size, which may then be left out. ``**config`` are the unit type's own options,
        passed to its constructor (``add_layer("v", "binomial", 5, trials=3)``; ``channels=C``
        shares one bias per channel); the type's ``config()`` returns them for saved files, spec
        files (a layer's ``"config"`` object) and greedy pretraining's stage models."""
        if not isinstance(name, str) or not _NAME.match(name):
            raise ModelError(f"layer name {name!r} must start with a letter and use letters, digits, _")
        if name in self.layers:
            raise ModelError(f"layer {name!r} is declared twice; choose another name")
        if name in RESERVED_NAMES:
            raise ModelError(f"layer name {name!r} is reserved (an attribute of torch.nn.ModuleDict); choose another "
                             f"name, e.g. {name + '_'!r}")
        if shape is not None:
            shape = tuple(shape)
            if not shape or not all(isinstance(d, int) and d > 0 for d in shape):
                raise ModelError(f"layer {name!r}: shape must be a tuple of positive integers, got {shape!r}")
            if size is not None and size != math.prod(shape):
                raise ModelError(f"layer {name!r}: shape {shape} holds {math.prod(shape)} units, not size {size}")
            size = math.prod(shape)
        if size is not None and not isinstance(unit, Units):
            make_units_size = size if isinstance(size, int) and not isinstance(size, bool) else None
            if make_units_size is not None:
                limits.check("max_layer_units", make_units_size, f"layer {name!r} of {make_units_size} units")
                limits.check("max_parameters", self.n_parameters() + make_units_size,
                             f"layer {name!r} brings the model's parameter count to")
        try:
            units = make_units(unit, size, **config)
        except (PluginError, ModelError) as error:  # an unknown name or option (with the nearest), plugin code
            raise type(error)(f"layer {name!r}: {error}") from error.__cause__
        units.layer_name = name
        units.shape = shape or (units.size,)
        units.check_shape(units.shape)
        provider = type_provider("units", type(units))
        if provider is not None:
            probe_units(units, f"layer {name!r}", provider)
        self.layers[name] = units
        self.graph.add_node(name)
        return self

    def add_undirected(self, a: str, b: str, factor: str | type = "dense", **config) -> Model:
        """An undirected factor between layers ``a`` and ``b`` of a registered factor type
        (default "dense"; ``weight=`` gives a dense factor's starting matrix)."""
        return self._add_factor(a, b, False, factor, config)

    def add_directed(self, parent: str, child: str, factor: str | type = "dense", **config) -> Model:
        """parent → child: the factor defines p(child | parent)."""
        return self._add_factor(parent, child, True, factor, config)

    def _add_factor(self, a, b, directed, factor, config):
        for layer in (a, b):
            if layer not in self.layers:
                raise ModelError(f"unknown layer {layer!r}; declared layers: {', '.join(self.layers) or 'none'}. "
                                 f"Call add_layer first")
        if a == b:
            raise ModelError(f"factor {a}{'->' if directed else '--'}{b} would join layer {a!r} to itself (a "
                             f"self-loop); a factor joins two different layers: name another layer as its other end")
        if self.graph.has_edge(a, b) or self.graph.has_edge(b, a):
            raise ModelError(f"layers {a!r} and {b!r} are already joined by a factor; each pair takes one")
        if directed:
            directed_edges = [(u, v) for u, v, d in self.graph.edges(data="directed") if d] + [(a, b)]
            cycle = _find_cycle(directed_edges)
            if cycle:
                raise ModelError(f"directed factor {a} → {b} would close the cycle {' → '.join(cycle)}")
        where = f"factor {a}{'->' if directed else '--'}{b}"
        try:
            cls = registry.get("factors", factor) if isinstance(factor, str) else factor
        except PluginError as error:
            raise PluginError(f"{where}: {error}") from None
        if not (isinstance(cls, type) and issubclass(cls, Factor)):
            raise ModelError(f"{where}: factor type {factor!r} is not a pgmdbn.factors.Factor subclass")
        check_options(cls, config, 5, f"{where}: factor type {getattr(cls, 'name', cls.__name__)!r}")
        count = getattr(cls, "parameter_count", None)
        count = count(self.layers[a].size, self.layers[b].size, directed, **config) if count else None
        if count is not None:
            limits.check("max_parameters", self.n_parameters() + count,
                         f"factor {a}{'->' if directed else '--'}{b} brings the model's parameter count to")
        provider = type_provider("factors", cls)
        try:
            made = cls(a, b, self.layers[a], self.layers[b], directed, **config)
        except PgmdbnError:
            raise
        except Exception as error:  # noqa: BLE001 - plugin code may raise anything
            if provider is None:
                raise
            raise PluginError(f"{where}: factor type {getattr(cls, 'name', cls.__name__)!r} of {provider} raised "
                              f"{type(error).__name__} in its constructor: {error}") from error
        self.factors[made.key] = made
        self.graph.add_edge(a, b, directed=directed, key=made.key)
        return self

    def init_weights(self, scale: float = 0.01, seed: int | None = None) -> Model:
        """Weights ~ N(0, scale²) (Hinton's guide); recognition weights start tied to the
        generative ones. ``seed=None``: a fresh random initialisation each call (a generator
        seeded from the operating system's entropy; torch's global generator is neither read
        nor advanced); pass an int to reproduce (the same weights in any process)."""
        gen = validation.generator(validation.seed(seed, allow_none=True))
        for factor in self.factors.values():
            factor.reset_parameters(scale, gen)
        return self

    def submodel(self, layers) -> Model:
        """The model restricted to ``layers`` and the factors among them, sharing parameters
        (e.g. the top RBM of a DBN, which every RBM engine and estimator then handles)."""
        layers = list(layers)
        sub = Model()
        for name in layers:
            sub.layers[name] = self.layer(name)
            sub.graph.add_node(name)
        for key, f in self.factors.items():
            if f.a in layers and f.b in layers:
                sub.factors[key] = f
                sub.graph.add_edge(f.a, f.b, directed=f.directed, key=key)
        return sub

    def undirected_layers(self) -> list[str]:
        """Layers touched by an undirected factor (a DBN's top RBM), in declaration order."""
        touched = {n for f in self.factors.values() if not f.directed for n in (f.a, f.b)}
        return [n for n in self.layers if n in touched]

    # --- parameters ---------------------------------------------------------------------
    def n_parameters(self) -> int:
        """The number of parameter entries (each shared tensor once)."""
        return sum(p.numel() for p in {id(p): p for p in self.parameters()}.values())

    def layer(self, name: str) -> Units:
        if name not in self.layers:
            raise ModelError(f"unknown layer {name!r}; layers: {', '.join(self.layers)}")
        return self.layers[name]

    def factor(self, a: str, b: str) -> Factor:
        data = self.graph.get_edge_data(a, b) or self.graph.get_edge_data(b, a)
        if data is None:
            self.layer(a), self.layer(b)
            raise ModelError(f"no factor joins {a!r} and {b!r}")
        return self.factors[data["key"]]

    def weight(self, a: str, b: str) -> Tensor:
        """The factor's dense matrix of shape (size_a, size_b), whichever order it was declared in."""
        factor = self.factor(a, b)
        w = factor.dense()
        return w if factor.a == a else w.T

    def bias(self, layer: str) -> Tensor:
        """The layer's per-unit bias (size,). A plain parameter writes through (``copy_`` changes the
        model); a layer declared with ``channels=`` holds one bias per channel, so this is a computed
        (size,) tensor that refuses in-place writes (``SharedBias``) instead of dropping them: write
        ``model.layer(name).channel_bias`` (channels,), or call ``model.layer(name).set_bias``."""
        units = self.layer(layer)
        if getattr(units, "channels", None) is None:
            return units.bias
        shared = units.bias.as_subclass(SharedBias)
        shared.source = (layer, units.channels, units.size)
        return shared

    # --- structure -----------------------------------------------------------------------
    def undirected_neighbours(self, layer: str) -> list[str]:
        return [f.other(layer) for f in self.factors.values() if not f.directed and layer in (f.a, f.b)]

    def parents_of(self, layer: str) -> list[str]:
        return [a for a, _ in self.graph.in_edges(layer) if self.graph.edges[a, layer]["directed"]]

    def children_of(self, layer: str) -> list[str]:
        return [b for _, b in self.graph.out_edges(layer) if self.graph.edges[layer, b]["directed"]]

    @property
    def is_undirected(self) -> bool:
        return all(not f.directed for f in self.factors.values())

    @property
    def visible(self) -> str:
        """The visible layer: the first declared one (every builder's "v")."""
        if not self.layers:
            raise ModelError("the model has no layers; call add_layer first")
        return next(iter(self.layers))

    @property
    def structure(self) -> str:
        """The structure's name: "rbm", "dbm" (undirected), "dbn" (directed layers under an
        undirected top) or "sbn" (all directed)."""
        n_dir = sum(f.directed for f in self.factors.values())
        if n_dir == 0:
            return "rbm" if len(self.layers) == 2 and len(self.factors) == 1 else "dbm"
        return "sbn" if n_dir == len(self.factors) else "dbn"

    def colour_classes(self) -> list[list[str]]:
        """Two groups of layers with no factor inside either, the visible layer's group first
        (even and odd layers of a chain): layers of one group are conditionally independent
        given the other. Refuses directed models and odd cycles."""
        if not self.is_undirected:
            directed = [f.key for f in self.factors.values() if f.directed]
            raise UnsupportedModel(f"colour classes are defined for undirected models; this {self.structure} has "
                                   f"directed factors {', '.join(directed)}")
        graph = nx.Graph([(f.a, f.b) for f in self.factors.values()])
        graph.add_nodes_from(self.layers)
        if not nx.is_bipartite(graph):
            raise UnsupportedModel("the layers do not split into two conditionally independent groups: the "
                                   "layer graph has an odd cycle")
        colour = nx.bipartite.color(graph)
        first = colour[self.visible]
        return [[n for n in self.layers if colour[n] == c] for c in (first, 1 - first)]

    def up_order(self) -> list[str]:
        """Layers reached by the recognition up-pass, bottom-up: every layer whose directed
        children are all the visible layer or layers already reached."""
        visible = self.visible
        order, frontier = [], [visible]
        while frontier:
            child = frontier.pop(0)
            for parent in self.parents_of(child):
                if parent not in order and all(c == visible or c in order for c in self.children_of(parent)):
                    order.append(parent)
                    frontier.append(parent)
        return order

    def down_order(self) -> list[str]:
        """Layers with directed parents, each after all of its parents (the generative pass)."""
        directed = nx.DiGraph([(f.a, f.b) for f in self.factors.values() if f.directed])
        return [n for n in nx.topological_sort(directed) if self.parents_of(n)]

    def roots(self) -> list[str]:
        """Layers with neither directed parents nor undirected factors (drawn from their biases)."""
        top = set(self.undirected_layers())
        return [n for n in self.layers if n not in top and not self.parents_of(n)]

    def pair(self) -> tuple[str, str]:
        """(visible, hidden) names of a two-layer undirected model; the first declared layer is visible."""
        if self.structure != "rbm":
            raise UnsupportedModel(f"this needs an RBM (two layers, one undirected factor); the model is a "
                                   f"{self.structure} with layers {', '.join(self.layers)}")
        f = next(iter(self.factors.values()))
        order = list(self.layers)
        return (f.a, f.b) if order.index(f.a) < order.index(f.b) else (f.b, f.a)

    def draw_noise(self, layers, lead: tuple[int, ...], generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """The random numbers of the draws of ``layers``, one bulk draw per layer in the given
        order: {layer: (*lead, size)} (e.g. lead = (steps, chains)), drawn ahead of a loop that
        cannot take a generator (``Units.draw_ahead``); types that draw only inside ``sample``
        are left out."""
        out = {}
        for name in layers:
            units = self.layer(name)
            u = units.draw_ahead((*lead, units.size), generator, units.bias.dtype, units.bias.device)
            if u is not None:
                out[name] = u
        return out

    # --- energies ----------------------------------------------------------------------
    def field(self, layer: str, states: States, beta: float = 1.0, bias: Tensor | None = None) -> Tensor:
        """eta of ``layer`` given the states of its neighbours that appear in ``states``.

        Undirected neighbours and directed parents send messages; ``beta`` scales the
        interactions only (the layer's unit type applies its own beta to the whole field).
        ``bias`` replaces the layer's own (AIS interpolates biases along its path).
        """
        units = self.layer(layer)
        bias = units.bias if bias is None else bias
        eta = None
        for f in self.factors.values():
            if layer not in (f.a, f.b) or (f.directed and f.b != layer):
                continue
            other = f.other(layer)
            if other in states:
                stat = self.layer(other).statistic(states[other])
                eta = f.message(layer, stat, bias.to(stat.dtype) if eta is None else eta, beta)
        return bias if eta is None else eta

    def energy(self, states: States) -> Tensor:
        """Joint energy of a full state of an undirected model: (batch,)."""
        total = sum(self.layer(n).energy(x) for n, x in states.items())
        for f in self.factors.values():
            if f.directed:
                raise ModelError(f"energy is defined for undirected factors; {f.key} is directed")
            sa, sb = self.layer(f.a).statistic(states[f.a]), self.layer(f.b).statistic(states[f.b])
            total = total - f.interaction(sa, sb)
        return total

    def free_energy(self, states: States, beta: float = 1.0, return_fields: bool = False,
                    like: States | None = None, fields: States | None = None, return_means: bool = False):
        """Free energy of the given layers with every other layer summed/integrated out.

        The layers left out must be conditionally independent given those in ``states``
        (e.g. the hidden layer of an RBM, or the odd layers of a DBM). ``beta`` scales the
        interactions (annealing). Returns (batch,), and with ``return_fields`` also the fields
        of the summed layers (samplers reuse them instead of recomputing the products).
        ``like`` gives summed layers a state whose conserved quantities they keep (document length).
        ``fields`` supplies summed layers' fields already computed (exact enumeration builds them
        from partial products). ``return_means`` (with ``return_fields``) also returns the summed
        layers' means at beta 1, from the same pass (``Units.log_partition_and_mean``):
        (batch,), fields, means.
        """
        summed = [n for n in self.layers if n not in states]
        for f in self.factors.values():
            if f.directed:
                raise ModelError(f"free energy is defined for undirected factors; {f.key} is directed")
            if f.a in summed and f.b in summed:
                raise ModelError(f"cannot sum out both {f.a!r} and {f.b!r}: a factor joins them")
        total = sum(self.layer(n).energy(x) for n, x in states.items())
        for f in self.factors.values():
            if f.a in states and f.b in states:
                sa, sb = self.layer(f.a).statistic(states[f.a]), self.layer(f.b).statistic(states[f.b])
                total = total - beta * f.interaction(sa, sb)
        fields = {n: self.field(n, states, beta) if fields is None or n not in fields else fields[n] for n in summed}
        means = {}
        for n, eta in fields.items():
            if return_means:
                part, means[n] = self.layer(n).log_partition_and_mean(eta, like=(like or {}).get(n))
            else:
                part = self.layer(n).log_partition(eta, like=(like or {}).get(n))
            if part.shape != eta.shape[:-1]:  # a (batch, size) result would broadcast silently
                units = self.layer(n)
                raise ModelError(f"layer {n!r}: unit type {units.name!r} returned log_partition of shape "
                                 f"{tuple(part.shape)} for a field of shape {tuple(eta.shape)}; the unit contract "
                                 f"wants {tuple(eta.shape[:-1])}, one value per example (sum over the units with "
                                 f".sum(-1))")
            total = total - part
        if return_means:
            return total, fields, means
        return (total, fields) if return_fields else total

    # --- description ---------------------------------------------------------------------
    def spec(self) -> dict:
        """The structure as plain data (JSON-ready): layers with their unit types, and factors."""
        return {
            "layers": [{"name": n, "unit": u.name, "size": u.size, "config": u.config(),
                        **({"shape": list(u.shape)} if len(u.shape) > 1 else {})}
                       for n, u in self.layers.items()],
            "factors": [{"a": f.a, "b": f.b, "directed": f.directed, "factor": f.name, "config": f.config()}
                        for f in self.factors.values()],
        }

    @classmethod
    def from_spec(cls, spec: dict) -> Model:
        model = cls()
        for layer in spec["layers"]:
            shape = layer.get("shape")
            model.add_layer(layer["name"], layer["unit"], layer["size"], shape=None if shape is None else tuple(shape),
                            **layer.get("config", {}))
        for f in spec["factors"]:
            add = model.add_directed if f["directed"] else model.add_undirected
            add(f["a"], f["b"], f.get("factor", "dense"), **f.get("config", {}))
        return model

    def __repr__(self) -> str:
        lines = [f"Model ({self.structure})", "  layers:"]
        for n, u in self.layers.items():
            lines.append(f"    {n:<6} {u.extra_repr()}")
        lines.append("  factors:")
        for f in self.factors.values():
            lines.append(f"    {f.extra_repr()}")
        return "\n".join(lines)


class SharedBias(Tensor):
    """``Model.bias`` of a layer with a bias per channel: the (size,) values, computed from the
    layer's ``channel_bias``. Reading works as for any tensor (results are plain tensors); an
    in-place write, to it or to a view of it, would change a copy and not the model, so it raises
    ModelError with the way to write the bias."""

    source: tuple[str, int, int] = ("?", 0, 0)

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        writes = (name.endswith("_") and not name.startswith("_")) or name in _IN_PLACE or any(
            isinstance(t, SharedBias) for t in _outs(kwargs.get("out")))
        first = args[0] if args else None
        if writes and (isinstance(first, SharedBias) or "out" in kwargs):
            layer, channels, size = (first if isinstance(first, SharedBias) else
                                     next(t for t in _outs(kwargs.get("out")) if isinstance(t, SharedBias))).source
            raise ModelError(f"model.bias({layer!r}) of a layer declared with channels={channels} is a computed "
                             f"({size},) copy of its {channels} shared biases, so writing it ({name}) would not "
                             f"change the model; write model.layer({layer!r}).channel_bias ({channels},), or call "
                             f"model.layer({layer!r}).set_bias(values) with ({size},) values (each channel takes "
                             f"its average)")
        with torch._C.DisableTorchFunctionSubclass():
            out = func(*args, **kwargs)
        if isinstance(first, SharedBias) and isinstance(out, Tensor) and out.numel() and \
                out.untyped_storage().data_ptr() == first.untyped_storage().data_ptr():
            out = out.as_subclass(SharedBias)  # a view (detach, [None], .data): writes to it are refused too
            out.source = first.source
        return out


#: in-place operators that do not end in "_"
_IN_PLACE = frozenset({"__setitem__", "__iadd__", "__isub__", "__imul__", "__itruediv__", "__ifloordiv__",
                       "__imod__", "__ipow__", "__iand__", "__ior__", "__ixor__", "__ilshift__", "__irshift__",
                       "__imatmul__", "set_"})


def _outs(out) -> tuple:
    return () if out is None else tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _find_cycle(edges) -> list[str]:
    g = nx.DiGraph(edges)
    try:
        cycle = nx.find_cycle(g)
    except nx.NetworkXNoCycle:
        return []
    return [u for u, _ in cycle] + [cycle[0][0]]
