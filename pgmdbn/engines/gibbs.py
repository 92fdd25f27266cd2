"""Block Gibbs sampling on an undirected model, one colour class of layers at a time."""
from __future__ import annotations

import torch

from ..errors import ModelError


class BlockGibbs:
    """Alternating Gibbs sampler over a two-colouring of the layers (even/odd for a chain).

    Layers of one colour are conditionally independent given the other colour, so each half
    step samples a whole colour class in parallel. ``clamp`` names layers kept fixed.
    """

    kind = "sampler"
    structures = ("rbm", "dbm")

    def __init__(self, model, beta: float = 1.0, generator: torch.Generator | None = None):
        self.colours = model.colour_classes()  # refuses directed factors and odd cycles
        self.model, self.beta, self.generator = model, beta, generator

    def update(self, states: dict, layers, mean_field: bool = False, fields: dict | None = None) -> dict:
        """Resample (or set to their means) the given layers from their conditionals, in place;
        ``fields`` holds fields already computed (e.g. by a free-energy pass)."""
        for name in layers:
            units = self.model.layer(name)
            eta = fields[name] if fields and name in fields else self.model.field(name, states)
            if eta.dim() == 1:  # no neighbour given yet (a DBM chain started at one layer): the bias alone
                eta = eta.detach().expand(len(next(iter(states.values()))), -1)
            like = states.get(name)
            states[name] = (units.mean(eta, self.beta, like=like) if mean_field
                            else units.sample(eta, self.beta, self.generator, like=like))
        return states

    @torch.no_grad()
    def run(self, states: dict, steps: int = 1, clamp=(), masks: dict | None = None, mean=()) -> dict:
        """``steps`` sweeps over both colour classes, starting with the class not fully given.

        ``clamp`` names layers kept fixed; ``masks`` {layer: bool (size,) or (n, size)} keeps
        only the True units of a layer at their values in ``states`` (filling in the rest);
        layers in ``mean`` end on their conditional means given the last sweep (for pictures).
        """
        for name in list(clamp) + list(masks or {}):
            if name not in self.model.layers:
                raise ModelError(f"cannot clamp unknown layer {name!r}; layers: {', '.join(self.model.layers)}")
        kept = {n: (m, states[n].clone()) for n, m in (masks or {}).items()}
        first = 0 if any(n not in states for n in self.colours[0]) else 1
        for _ in range(steps):
            for c in (first, 1 - first):
                self.update(states, [n for n in self.colours[c] if n not in clamp])
                for n, (m, x) in kept.items():
                    states[n] = torch.where(m, x, states[n])
        for n in mean:
            if n not in clamp and n in self.model.layers:
                states[n] = self.model.layer(n).mean(self.model.field(n, states), self.beta, like=states[n])
                if n in kept:
                    states[n] = torch.where(kept[n][0], kept[n][1], states[n])
        return states
