"""Builders for the common shapes. Layers: "v", "h1", "h2", … (an RBM's are "v", "h"); labels "y".
``factor`` names a registered factor type for every factor, ``factor_options`` its configuration."""
from __future__ import annotations

from collections.abc import Sequence

from .errors import ModelError
from .graph import Model
from .units import Units


def rbm(n_visible: int, n_hidden: int, visible: Units | str = "bernoulli", hidden: Units | str = "bernoulli",
        init_scale: float = 0.01, seed: int | None = None, factor: str = "dense",
        factor_options: dict | None = None) -> Model:
    """A restricted Boltzmann machine v — h."""
    return (Model().add_layer("v", visible, n_visible).add_layer("h", hidden, n_hidden)
            .add_undirected("v", "h", factor, **(factor_options or {})).init_weights(init_scale, seed))


def dbm(sizes: Sequence[int], visible: Units | str = "bernoulli", hidden: str = "bernoulli",
        init_scale: float = 0.01, seed: int | None = None, factor: str = "dense",
        factor_options: dict | None = None) -> Model:
    """A deep Boltzmann machine: v — h1 — h2 — … all undirected."""
    model = _layers(sizes, visible, hidden)
    names = list(model.layers)
    for a, b in zip(names, names[1:]):
        model.add_undirected(a, b, factor, **(factor_options or {}))
    return model.init_weights(init_scale, seed)


def dbn(sizes: Sequence[int], labels: int | None = None, visible: Units | str = "bernoulli",
        hidden: str = "bernoulli", init_scale: float = 0.01, seed: int | None = None, factor: str = "dense",
        factor_options: dict | None = None) -> Model:
    """A deep belief net: an undirected top pair over directed layers h_k → … → h1 → v.

    With ``labels`` a softmax layer "y" joins the top RBM (Hinton, Osindero & Teh 2006).
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


def sbn(sizes: Sequence[int], visible: Units | str = "bernoulli", hidden: str = "bernoulli",
        init_scale: float = 0.01, seed: int | None = None, factor: str = "dense",
        factor_options: dict | None = None) -> Model:
    """A sigmoid belief net: h_k → … → h1 → v, all directed."""
    model = _layers(sizes, visible, hidden)
    names = list(model.layers)
    for lower, upper in zip(names, names[1:]):
        model.add_directed(upper, lower, factor, **(factor_options or {}))
    return model.init_weights(init_scale, seed)


def _layers(sizes, visible, hidden) -> Model:
    if len(sizes) < 2:
        raise ModelError(f"a deep model needs a visible size and at least one hidden size, got {list(sizes)}")
    model = Model().add_layer("v", visible, sizes[0])
    for i, size in enumerate(sizes[1:], 1):
        model.add_layer(f"h{i}", hidden, size)
    return model


def cdbn(input_shape: Sequence[int], filters: Sequence[int], kernels: Sequence[int], pools: Sequence[int],
         visible: Units | str = "bernoulli", init_scale: float = 0.01, seed: int | None = None) -> Model:
    """A convolutional deep belief net (Lee, Grosse, Ranganath & Ng 2009): visible "v" of shape
    ``input_shape`` (C, H, W) and hidden layers "h1", "h2", … of probabilistic max-pooling units
    (``pooled_bernoulli``), layer i with ``filters[i]`` filters of ``kernels[i]``×``kernels[i]``
    over the pooling units of the layer below and blocks of ``pools[i]``×``pools[i]``. Biases
    are shared per channel (per filter). Directed ``conv2d`` factors h_i → h_{i−1} under an
    undirected top pair, as ``dbn``; ``pgmdbn.pretrain`` stacks it greedily."""
    n = len(filters)
    if not n or len(kernels) != n or len(pools) != n:
        raise ModelError(f"cdbn needs one filter count, kernel size and pool size per hidden layer, got "
                         f"filters={list(filters)}, kernels={list(kernels)}, pools={list(pools)}")
    shape = tuple(int(d) for d in input_shape)
    if len(shape) != 3:
        raise ModelError(f"cdbn: input_shape must be (channels, height, width), got {tuple(input_shape)}")
    model = Model().add_layer("v", visible, shape=shape, channels=shape[0])
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
