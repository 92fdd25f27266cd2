"""Block Gibbs sampling on an undirected model, one colour class of layers at a time."""
from __future__ import annotations

import torch
from torch import Tensor

from ..compiled import compiled
from ..errors import ModelError

#: sweeps per compiled block in ``run``: one graph launch each, and a bounded amount of noise in memory
SWEEPS_PER_BLOCK = 16


class BlockGibbs:
    """Alternating Gibbs sampler over a two-colouring of the layers (even/odd for a chain).

    Layers of one colour are conditionally independent given the other colour, so each half
    step samples a whole colour class in parallel. ``clamp`` names layers kept fixed.
    ``compile=True`` runs blocks of sweeps as one compiled graph (see ``pgmdbn.compiled``) on
    the same random numbers as the default path.
    """

    kind = "sampler"
    structures = ("rbm", "dbm")

    def __init__(self, model, beta: float = 1.0, generator: torch.Generator | None = None, compile: bool = False):
        self.colours = model.colour_classes()  # refuses directed factors and odd cycles
        self.model, self.beta, self.generator = model, beta, generator
        self._block = compiled(self.sweeps, next(model.parameters()).device, compile)

    def update(self, states: dict, layers, mean_field: bool = False, fields: dict | None = None,
               noise: dict | None = None) -> dict:
        """Resample (or set to their means) the given layers from their conditionals, in place;
        ``fields`` holds fields already computed (e.g. by a free-energy pass), ``noise`` the
        random numbers of the draw of some layers (``draw``)."""
        for name in layers:
            units = self.model.layer(name)
            eta = fields[name] if fields and name in fields else self.model.field(name, states)
            if eta.dim() == 1:  # no neighbour given yet (a DBM chain started at one layer): the bias alone
                eta = eta.detach().expand(len(next(iter(states.values()))), -1)
            like = states.get(name)
            if mean_field:
                states[name] = units.mean(eta, self.beta, like=like)
            elif noise and name in noise:
                states[name] = units.sample(eta, self.beta, like=like, noise=noise[name])
            else:
                states[name] = units.sample(eta, self.beta, self.generator, like=like)
        return states

    def draw(self, layers, rows: int, steps: int | None = None) -> dict[str, Tensor]:
        """The random numbers of ``steps`` updates of ``layers`` over ``rows`` chains, one bulk
        draw per layer: {layer: (steps, rows, size)}, or (rows, size) when ``steps`` is None.
        Layers whose type draws only inside ``sample`` (``Units.draw_ahead`` is None) are left out."""
        return self.model.draw_noise(layers, (rows,) if steps is None else (steps, rows), self.generator)

    def sweeps(self, states: dict, order: tuple, noise: dict, count: int, kept: dict | None = None) -> dict:
        """``count`` sweeps over the colour classes in ``order`` (each a list of layers) on the
        bulk noise {layer: (count, rows, size)} of ``draw``; ``kept`` {layer: (mask, values)}
        puts masked values back after each half step. Returns new states."""
        states = dict(states)
        for s in range(count):
            for layers in order:
                self.update(states, layers, noise={n: noise[n][s] for n in layers if n in noise})
                for n, (m, x) in (kept or {}).items():
                    if n in layers:
                        states[n] = torch.where(m, x, states[n])
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
        order = tuple([n for n in self.colours[c] if n not in clamp] for c in (first, 1 - first))
        rows = len(next(iter(states.values())))
        free = [n for layers in order for n in layers]
        for done in range(0, steps, SWEEPS_PER_BLOCK):
            count = min(SWEEPS_PER_BLOCK, steps - done)
            states.update(self._block(states, order, self.draw(free, rows, count), count, kept))
        for n in mean:
            if n not in clamp and n in self.model.layers:
                states[n] = self.model.layer(n).mean(self.model.field(n, states), self.beta, like=states[n])
                if n in kept:
                    states[n] = torch.where(kept[n][0], kept[n][1], states[n])
        return states
