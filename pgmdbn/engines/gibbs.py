"""Block Gibbs sampling on an undirected model, one colour class of layers at a time."""
from __future__ import annotations

import networkx as nx
import torch

from ..errors import ModelError, UnsupportedModel


class BlockGibbs:
    """Alternating Gibbs sampler over a two-colouring of the layers (even/odd for a chain).

    Layers of one colour are conditionally independent given the other colour, so each half
    step samples a whole colour class in parallel. ``clamp`` names layers kept fixed.
    """

    kind = "sampler"

    def __init__(self, model, beta: float = 1.0, generator: torch.Generator | None = None):
        if not model.is_undirected:
            directed = [f.key for f in model.factors.values() if f.directed]
            raise UnsupportedModel(f"BlockGibbs samples undirected models; this {model.describe()} has directed "
                                   f"factors {', '.join(directed)}")
        graph = nx.Graph([(f.a, f.b) for f in model.factors.values()])
        graph.add_nodes_from(model.layers)
        if not nx.is_bipartite(graph):
            raise UnsupportedModel("BlockGibbs needs layers that split into two conditionally independent "
                                   "groups; this model's layer graph has an odd cycle")
        colour = nx.bipartite.color(graph)
        order = list(model.layers)
        first = colour[order[0]]  # the first declared layer (the visible one) leads
        self.colours = [[n for n in order if colour[n] == c] for c in (first, 1 - first)]
        self.model, self.beta, self.generator = model, beta, generator

    def update(self, states: dict, layers, mean_field: bool = False, fields: dict | None = None) -> dict:
        """Resample (or set to their means) the given layers from their conditionals, in place;
        ``fields`` holds fields already computed (e.g. by a free-energy pass)."""
        for name in layers:
            units = self.model.layer(name)
            eta = fields[name] if fields and name in fields else self.model.field(name, states)
            like = states.get(name)
            states[name] = (units.mean(eta, self.beta, like=like) if mean_field
                            else units.sample(eta, self.beta, self.generator, like=like))
        return states

    @torch.no_grad()
    def run(self, states: dict, steps: int = 1, clamp=()) -> dict:
        """``steps`` sweeps over both colour classes, starting with the class not fully given."""
        for name in clamp:
            if name not in self.model.layers:
                raise ModelError(f"cannot clamp unknown layer {name!r}; layers: {', '.join(self.model.layers)}")
        first = 0 if any(n not in states for n in self.colours[0]) else 1
        for _ in range(steps):
            for c in (first, 1 - first):
                self.update(states, [n for n in self.colours[c] if n not in clamp])
        return states
