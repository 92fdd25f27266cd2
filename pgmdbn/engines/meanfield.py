"""Mean-field (fully factorised variational) inference on undirected models."""
from __future__ import annotations

import torch

from .gibbs import BlockGibbs


class MeanField:
    """Fixed-point updates q_l(x) ∝ exp(-base(x) + s(x)·λ_l), λ_l = field from the neighbours'
    expected statistics, one colour class at a time, with ``clamp``ed layers held at their data.

    Returns the expected states and the fields λ they were computed from (the pairs a
    variational bound needs).
    """

    kind = "inference"

    def __init__(self, model, steps: int = 50, tol: float = 1e-6):
        self.model, self.steps, self.tol = model, steps, tol
        self.colours = BlockGibbs(model).colours

    @torch.no_grad()
    def run(self, clamped: dict, init: dict | None = None) -> tuple[dict, dict]:
        model = self.model
        free = [n for c in self.colours for n in c if n not in clamped]
        states, fields = dict(clamped), {}
        for n in free:  # start from the bottom-up pass: each layer sees what is known so far
            if init is not None and n in init:
                states[n] = init[n]
            else:
                fields[n] = model.field(n, states)
                states[n] = model.layer(n).mean(fields[n], like=clamped.get(n))
        for _ in range(self.steps):
            change = 0.0
            for colour in self.colours:
                for n in colour:
                    if n in clamped:
                        continue
                    fields[n] = model.field(n, states)
                    new = model.layer(n).mean(fields[n])
                    change = max(change, (new - states[n]).abs().max().item())
                    states[n] = new
            if change < self.tol:
                break
        return {n: states[n] for n in free}, fields
