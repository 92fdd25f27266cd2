"""Up-down fine-tuning of a DBN (contrastive wake-sleep; Hinton, Osindero & Teh 2006).

Wake: the recognition up-pass samples every directed layer from the data, and the generative
weights learn to reproduce each layer from the one above. Top: CD-k in the undirected top
starting from the wake states (with the labels clamped in the positive phase). Sleep: the top's
negative sample goes down through the generative weights, and the recognition weights learn to
recover each layer from the one below. The three terms touch disjoint parameters, so their sum
is one surrogate loss whose gradient is the whole update.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..errors import UnsupportedModel
from ..inference import classify, down_pass, generative_log_prob, log_q, up_pass
from .contrastive import CD, PCD


class UpDown:
    """Trainer for DBNs; ``k`` is the top's Gibbs iterations (fit's k schedule, e.g. [3, 6, 10]),
    ``top`` is "cd" (chains from the wake states, as in the paper) or "pcd"."""

    kind = "trainer"
    structures = ("dbn",)

    def __init__(self, model, k: int = 1, generator: torch.Generator | None = None, top: str = "cd"):
        top_layers = model.undirected_layers()
        if model.is_undirected or not top_layers:
            raise UnsupportedModel(f"up-down fine-tunes a DBN (directed layers under an undirected top); this "
                                   f"model is a {model.structure}")
        if top not in ("cd", "pcd"):
            raise ValueError(f"top must be 'cd' or 'pcd', got {top!r}")
        self.model, self.generator = model, generator
        self.top = (CD if top == "cd" else PCD)(model.submodel(top_layers), k, generator)
        self.visible = model.visible
        up = set(model.up_order())
        self.labels = [n for n in self.top.data_layers if n not in up]
        self.data_layers = [self.visible] + self.labels

    @property
    def k(self) -> int:
        return self.top.k

    @k.setter
    def k(self, value: int) -> None:
        self.top.k = value

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        model = self.model
        with torch.no_grad():
            wake, _ = up_pass(model, batch[self.visible], self.generator)
        wake_loss = -generative_log_prob(model, wake).mean()
        top_loss = self.top.loss({n: wake[n] if n in wake else batch[n] for n in self.top.data_layers})
        with torch.no_grad():
            dream = down_pass(model, dict(self.top.negative), self.generator)
        sleep_loss = -log_q(model, dream).mean()
        return wake_loss + top_loss + sleep_loss

    @torch.no_grad()
    def monitor(self, data: dict[str, Tensor], valid: dict[str, Tensor] | None = None) -> dict:
        """Generative classification error on the monitored rows (and ``valid``) when the top
        has a label layer."""
        metrics = {}
        for name, rows in (("train", data), ("valid", valid)):
            if rows is not None and self.labels:
                label = self.labels[0]
                predicted = classify(self.model, rows[self.visible], label)
                metrics[f"{name}_error"] = (predicted != rows[label].argmax(1)).float().mean().item()
        return metrics

    def state(self) -> dict[str, Tensor]:
        return self.top.state()

    def load_state(self, tensors: dict[str, Tensor]) -> None:
        self.top.load_state(tensors)
