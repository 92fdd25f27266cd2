"""Mean-field (fully factorised variational) inference as an engine."""
from __future__ import annotations

from ..inference import States, mean_field


class MeanField:
    """Mean-field inference on undirected models: ``run(clamped)`` returns the expected states of
    the other layers and their fields after at most ``steps`` sweeps (see ``inference.mean_field``)."""

    kind = "inference"
    structures = ("rbm", "dbm")

    def __init__(self, model, steps: int = 50, tol: float = 1e-6):
        model.colour_classes()  # refuses what it cannot handle at construction
        self.model, self.steps, self.tol = model, steps, tol

    def run(self, clamped: States, init: States | None = None) -> tuple[States, States]:
        return mean_field(self.model, clamped, self.steps, self.tol, init)
