"""Builders for the common shapes. Layers: "v", "h1", "h2", … (an RBM's are "v", "h"); labels "y".
``factor`` names a registered factor type for every factor, ``factor_options`` its configuration.

A layer's unit type is a registered name (``"bernoulli"``) or, with options, a dict that names
it under ``"type"`` beside its options: ``visible={"type": "binomial", "trials": 3}`` is
``add_layer("v", "binomial", n, trials=3)``. ``hidden`` of a deep model applies to every hidden
layer. (A ready ``Units`` instance also fills one layer, as in ``add_layer``.)

Initial weights ~ N(0, ``init_scale``²) come from a generator of their own (``Model.init_weights``):
``seed=None``: a fresh random initialisation each call (seeded from the operating system's
entropy; torch's global generator is neither read nor advanced); pass an int to reproduce (the
same weights in any process, whatever else ran before).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from .errors import ArgumentTypeError, ModelError
from .graph import Model
from .units import Units

#: a unit type as the builders take it: a registered name, or {"type": name, **options}
UnitSpec = str | Mapping

#: keys the builders set themselves, never a unit option
_LAYER_KEYS = ("size", "shape")


def unit_spec(argument: str, value, taken: Sequence[str] = ()) -> tuple[Units | str, dict]:
    """(unit type or instance, options) of a builder's ``visible``/``hidden`` argument: a name,
    a dict {"type": name, **options}, or a Units instance; ``taken`` lists options the builder
    sets itself (a cdbn's ``channels``)."""
    if isinstance(value, (str, Units)):
        return value, {}
    if not isinstance(value, Mapping):
        raise ArgumentTypeError(f"{argument}={value!r} must name a unit type (e.g. 'bernoulli') or be a dict "
                                f"{{'type': name, **options}}, e.g. {{'type': 'binomial', 'trials': 3}}")
    options = dict(value)
    unit = options.pop("type", None)
    if not isinstance(unit, str) or not unit:
        raise ModelError(f"{argument}={dict(value)!r} names no unit type; give it under 'type', e.g. "
                         f"{{'type': 'binomial', 'trials': 3}}")
    bad = [k for k in options if not isinstance(k, str) or k in _LAYER_KEYS or k in taken]
    if bad:
        raise ModelError(f"{argument}: {bad[0]!r} is not a unit option here (the builder sets the layer's "
                         f"{', '.join(_LAYER_KEYS + tuple(taken))}); give only the unit type's own options")
    return unit, options


def _each_layer(argument: str, value, layers: int) -> tuple[Units | str, dict]:
    """``unit_spec`` for an argument that fills ``layers`` layers, where one instance cannot serve."""
    unit, options = unit_spec(argument, value)
    if isinstance(unit, Units) and layers > 1:
        raise ModelError(f"{argument}: one {unit.name} Units instance cannot be {layers} layers; give the type "
                         f"as {{'type': {unit.name!r}, **options}} and each layer gets its own")
    return unit, options


def rbm(n_visible: int, n_hidden: int, visible: UnitSpec = "bernoulli", hidden: UnitSpec = "bernoulli",
        init_scale: float = 0.01, seed: int | None = None, factor: str = "dense",
        factor_options: dict | None = None) -> Model:
    """A restricted Boltzmann machine v — h; ``visible``/``hidden`` a unit type's name or
    {"type": name, **options} (``rbm(5, 3, visible={"type": "binomial", "trials": 3})``).
    Weights ~ N(0, ``init_scale``²); ``seed=None``: a fresh random initialisation each call; pass an
    int to reproduce."""
    (v, v_options), (h, h_options) = unit_spec("visible", visible), unit_spec("hidden", hidden)
    return (Model().add_layer("v", v, n_visible, **v_options).add_layer("h", h, n_hidden, **h_options)
            .add_undirected("v", "h", factor, **(factor_options or {})).init_weights(init_scale, seed))


def dbm(sizes: Sequence[int], visible: UnitSpec = "bernoulli", hidden: UnitSpec = "bernoulli",
        init_scale: float = 0.01, seed: int | None = None, factor: str = "dense",
        factor_options: dict | None = None) -> Model:
    """A deep Boltzmann machine: v — h1 — h2 — … all undirected.
    Weights ~ N(0, ``init_scale``²); ``seed=None``: a fresh random initialisation each call; pass an
    int to reproduce."""
    model = _layers(sizes, visible, hidden)
    names = list(model.layers)
    for a, b in zip(names, names[1:]):
        model.add_undirected(a, b, factor, **(factor_options or {}))
    return model.init_weights(init_scale, seed)


def dbn(sizes: Sequence[int], labels: int | None = None, visible: UnitSpec = "bernoulli",
        hidden: UnitSpec = "bernoulli", init_scale: float = 0.01, seed: int | None = None, factor: str = "dense",
        factor_options: dict | None = None) -> Model:
    """A deep belief net: an undirected top pair over directed layers h_k → … → h1 → v.

    With ``labels`` a softmax layer "y" joins the top RBM (Hinton, Osindero & Teh 2006).
    Weights ~ N(0, ``init_scale``²); ``seed=None``: a fresh random initialisation each call; pass an
    int to reproduce.
    """
    model = _layers(sizes, visible, hidden)
    names = list(model.layers)
    options = factor_options or {}
    for lower, upper in zip(names[:-2], names[1:-1]):
        model.add_directed(upper, lower, factor, **options)
    model.add_undirected(names[-2], names[-1], factor, **options)
    if labels is not None:
        model.add_layer("y", "softmax", labels).add_undirected("y", names[-1])
    return model.init_weights(init_scale, seed)


def sbn(sizes: Sequence[int], visible: UnitSpec = "bernoulli", hidden: UnitSpec = "bernoulli",
        init_scale: float = 0.01, seed: int | None = None, factor: str = "dense",
        factor_options: dict | None = None) -> Model:
    """A sigmoid belief net: h_k → … → h1 → v, all directed.
    Weights ~ N(0, ``init_scale``²); ``seed=None``: a fresh random initialisation each call; pass an
    int to reproduce."""
    model = _layers(sizes, visible, hidden)
    names = list(model.layers)
    for lower, upper in zip(names, names[1:]):
        model.add_directed(upper, lower, factor, **(factor_options or {}))
    return model.init_weights(init_scale, seed)


def _layers(sizes, visible, hidden) -> Model:
    if len(sizes) < 2:
        raise ModelError(f"a deep model needs a visible size and at least one hidden size, got {list(sizes)}")
    (v, v_options), (h, h_options) = unit_spec("visible", visible), _each_layer("hidden", hidden, len(sizes) - 1)
    model = Model().add_layer("v", v, sizes[0], **v_options)
    for i, size in enumerate(sizes[1:], 1):
        model.add_layer(f"h{i}", h, size, **h_options)
    return model


def cdbn(input_shape: Sequence[int], filters: Sequence[int], kernels: Sequence[int], pools: Sequence[int],
         visible: UnitSpec = "bernoulli", init_scale: float = 0.01, seed: int | None = None) -> Model:
    """A convolutional deep belief net (Lee, Grosse, Ranganath & Ng 2009): visible "v" of shape
    ``input_shape`` (C, H, W) and hidden layers "h1", "h2", … of probabilistic max-pooling units
    (``pooled_bernoulli``), layer i with ``filters[i]`` filters of ``kernels[i]``×``kernels[i]``
    over the pooling units of the layer below and blocks of ``pools[i]``×``pools[i]``. Biases
    are shared per channel (per filter). Directed ``conv2d`` factors h_i → h_{i−1} under an
    undirected top pair, as ``dbn``; ``pgmdbn.pretrain`` stacks it greedily. ``visible`` takes a
    unit type's options as the other builders do; its ``channels`` is ``input_shape[0]``.
    Weights ~ N(0, ``init_scale``²); ``seed=None``: a fresh random initialisation each call; pass an
    int to reproduce."""
    n = len(filters)
    if not n or len(kernels) != n or len(pools) != n:
        raise ModelError(f"cdbn needs one filter count, kernel size and pool size per hidden layer, got "
                         f"filters={list(filters)}, kernels={list(kernels)}, pools={list(pools)}")
    shape = tuple(int(d) for d in input_shape)
    if len(shape) != 3:
        raise ModelError(f"cdbn: input_shape must be (channels, height, width), got {tuple(input_shape)}")
    unit, options = unit_spec("visible", visible, taken=("channels",))
    model = Model().add_layer("v", unit, shape=shape, channels=shape[0], **options)
    below, pool_below = shape, 1
    for i, (k, kernel, pool) in enumerate(zip(filters, kernels, pools), 1):
        h, w = below[1] // pool_below - kernel + 1, below[2] // pool_below - kernel + 1
        if h < 1 or w < 1 or h % pool or w % pool:
            raise ModelError(f"cdbn: layer h{i} ({k} filters of {kernel}×{kernel} over {below[1] // pool_below}×"
                             f"{below[2] // pool_below}) has {h}×{w} detection units, which pool={pool} does not "
                             f"split into blocks; change the kernel or pool sizes")
        below, pool_below = (int(k), h, w), int(pool)
        model.add_layer(f"h{i}", "pooled_bernoulli", shape=below, pool=pool, channels=int(k))
    names = list(model.layers)
    for j, (lower, upper) in enumerate(zip(names[:-1], names[1:])):
        options = {"filters": int(filters[j]), "kernel": int(kernels[j])}
        if j < n - 1:
            model.add_directed(upper, lower, "conv2d", **options)
        else:
            model.add_undirected(lower, upper, "conv2d", **options)
    return model.init_weights(init_scale, seed)
