"""Ancestral sampling: block Gibbs on a model's undirected part, then one top-down pass through
its directed factors (a DBN's generation, Hinton, Osindero & Teh 2006); an all-directed model
(sigmoid belief net) is sampled from its roots down in one pass."""
from __future__ import annotations

import torch

from ..errors import ModelError, UnsupportedModel
from ..inference import down_pass
from .gibbs import BlockGibbs


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
