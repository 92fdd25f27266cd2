"""Ancestral sampling: block Gibbs on a model's undirected part, then one top-down pass through
its directed factors (a DBN's generation, Hinton, Osindero & Teh 2006); an all-directed model
(sigmoid belief net) is sampled from its roots down in one pass."""
from __future__ import annotations

import networkx as nx
import torch
from torch import Tensor

from ..errors import ModelError, UnsupportedModel
from .gibbs import BlockGibbs


def top_down_order(model) -> list[str]:
    """Layers with directed parents, each after all of its parents."""
    directed = nx.DiGraph([(f.a, f.b) for f in model.factors.values() if f.directed])
    return [n for n in nx.topological_sort(directed) if model.parents_of(n)]


def roots(model) -> list[str]:
    """Layers that neither have directed parents nor belong to the undirected part."""
    top = set(model.undirected_layers())
    return [n for n in model.layers if n not in top and not model.parents_of(n)]


@torch.no_grad()
def down_pass(model, states: dict, generator=None, mean: tuple = ()) -> dict:
    """Fill every directed child from its parents, in place; roots not in ``states`` are drawn
    from their biases. Layers named in ``mean`` get their conditional means instead of a draw."""
    ref = next(iter(states.values())) if states else None
    n = 1 if ref is None else len(ref)
    for name in roots(model):
        if name not in states:
            units = model.layer(name)
            eta = units.field(None).detach().expand(n, units.size)
            states[name] = units.mean(eta) if name in mean else units.sample(eta, 1.0, generator)
    for name in top_down_order(model):
        units = model.layer(name)
        eta = model.field(name, {p: states[p] for p in model.parents_of(name)})
        states[name] = units.mean(eta) if name in mean else units.sample(eta, 1.0, generator)
    return states


class Ancestral:
    """Sampler for any model: ``steps`` block-Gibbs sweeps on the undirected part (with clamped
    layers or units held fixed), then the down pass. Directed children cannot be clamped:
    conditioning on them needs posterior inference, which ancestral sampling does not do."""

    kind = "sampler"
    structures = ("rbm", "dbm", "dbn", "sbn")

    def __init__(self, model, beta: float = 1.0, generator: torch.Generator | None = None):
        self.model, self.beta, self.generator = model, beta, generator
        top = model.undirected_layers()
        self.gibbs = BlockGibbs(model.submodel(top), beta, generator) if top else None

    @torch.no_grad()
    def run(self, states: dict, steps: int = 1000, clamp=(), masks: dict | None = None,
            mean: tuple = ()) -> dict:
        """Sample every layer not in ``clamp``; ``states`` holds the clamped values and may hold
        starting states for the undirected part (others start from their biases)."""
        model = self.model
        for name in list(clamp) + list(masks or {}):
            if name not in model.layers:
                raise ModelError(f"cannot clamp unknown layer {name!r}; layers: {', '.join(model.layers)}")
            if model.parents_of(name):
                raise UnsupportedModel(
                    f"Ancestral sampling cannot clamp layer {name!r}: it has directed parents "
                    f"({', '.join(model.parents_of(name))}), and conditioning on it needs posterior inference. "
                    f"Clamp layers of the undirected top or roots, or fill in a layer with an RBM/DBM and "
                    f"the 'gibbs' sampler")
        n = len(next(iter(states.values())))
        if self.gibbs is not None:
            top = self.gibbs.model
            for name in top.layers:
                if name not in states:
                    units = top.layer(name)
                    states[name] = units.sample(units.field(None).detach().expand(n, units.size), 1.0, self.generator)
            self.gibbs.run(states, steps, clamp=clamp, masks=masks, mean=mean)
        return down_pass(model, states, self.generator, mean)


def as_clamp(model, clamp: dict, n: int, device=None, dtype=torch.float32) -> dict[str, Tensor]:
    """Clamped values as (n, size) tensors: a label index for a softmax layer (``y=3``), one
    state broadcast to n rows, or n rows. Values outside the layer's domain raise DataError."""
    out = {}
    for name, value in clamp.items():
        units = model.layer(name)
        if isinstance(value, int) or (isinstance(value, Tensor) and value.ndim == 0):
            index = int(value)
            if units.name != "softmax" or not 0 <= index < units.size:
                raise ModelError(f"layer {name!r} ({units.name}, size {units.size}): an integer clamp names one "
                                 f"state of a softmax layer, 0 to {units.size - 1}; got {index}")
            value = torch.nn.functional.one_hot(torch.tensor(index), units.size)
        x = torch.as_tensor(value, dtype=dtype)
        x = x.expand(n, units.size) if x.ndim == 1 and x.shape[0] == units.size else x
        out[name] = units.validate(x, exact=True).to(device, dtype).clone()
    return out


def sample(model, n: int, *, steps: int = 1000, clamp: dict | None = None, masks: dict | None = None,
           seed: int | None = 0, mean: tuple | None = None, engine: str = "ancestral",
           init: dict | None = None) -> dict[str, Tensor]:
    """``n`` joint samples of every layer, {layer: (n, size)}.

    ``clamp`` fixes layers ({"y": 3} generates one digit class); with ``masks`` {layer: bool
    (size,) or (n, size)} only the True units of a clamped layer stay fixed and the rest are
    filled in (missing pixels). ``mean`` names layers returned as conditional means (default:
    the visible layer, for pictures). ``engine`` names a registered sampler with the
    ``run(states, steps, clamp, masks, mean)`` method.
    """
    from ..hooks import registry

    device = next(model.parameters()).device
    visible = next(iter(model.layers))
    clamp = dict(clamp or {})
    states = as_clamp(model, clamp, n, device)
    for name, mask in (masks or {}).items():
        if name not in states:
            raise ModelError(f"mask for layer {name!r} needs its values in clamp={{{name!r}: ...}}")
    masks = {k: torch.as_tensor(m, dtype=torch.bool, device=device) for k, m in (masks or {}).items()}
    states.update({k: v.to(device) for k, v in (init or {}).items()})
    if not states:  # chains start at the visible layer's biases (a DBN's down pass replaces it)
        units = model.layer(visible)
        states[visible] = units.sample(units.field(None).detach().expand(n, units.size))
    generator = torch.Generator(device=device).manual_seed(seed) if seed is not None else None
    sampler = registry.get("engines", engine)(model, generator=generator)
    fixed = [k for k in clamp if k not in masks]
    mean = (visible,) if mean is None else tuple(mean)
    return sampler.run(states, steps, clamp=fixed, masks=masks, mean=mean)
