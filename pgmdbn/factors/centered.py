"""The centered factor: a dense weight matrix trained in centered coordinates (Montavon & Müller
2012; Melchior, Fischer & Wiskott 2016).

The model it stands for has the energy term −(s_a − μ_a)ᵀ W (s_b − μ_b) with offsets μ_a, μ_b
and centered biases b̃ on the layers. Expanded, that is −s_aᵀ W s_b plus terms linear in one
layer and a constant, so the factor stores the model in its natural form: the same W as a
dense factor, and the layers' own ``bias`` holding the natural biases b = b̃ − W μ_b (b̃ −
Wᵀ μ_a at the other end). Messages stay linear, as the factor contract requires, and every
engine, estimator and converter reads a centered model exactly as the dense model with the same
W and biases. The offsets change only the coordinates in which training takes its gradient
(``pgmdbn.centering``); moving them changes no parameter, so the model is unchanged by
construction and the centered biases b̃ = b + W μ_b follow (the papers' bias compensation).
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..errors import DataError, ModelError
from .dense import Dense


class Centered(Dense):
    """A weight matrix W (size_a, size_b) with offsets μ_a (size_a,) and μ_b (size_b,), kept as
    buffers (saved in model files with the parameters). Undirected only. The offsets start at each
    layer's mean under its own bias (0.5 for Bernoulli units with zero bias); training
    (``fit(..., method="pcd" | "cd" | "dbm")``) moves them toward the data-driven means."""

    name = "centered"

    def __init__(self, a, b, units_a, units_b, directed, weight: Tensor | None = None):
        if directed:
            raise ModelError(f"factor {a}->{b}: the centered factor is undirected (its offsets centre an energy "
                             f"term); use add_undirected, or factor='dense' for a directed factor")
        for units in (units_a, units_b):
            if getattr(units, "channels", None) is not None:
                raise ModelError(f"factor {a}--{b}: the centered factor needs a bias per unit, and layer "
                                 f"{units.layer_name!r} shares its bias over channels={units.channels}; declare it "
                                 f"without channels, or use factor='dense'")
        super().__init__(a, b, units_a, units_b, directed, weight)
        self.register_buffer("offset_a", _own_mean(units_a))
        self.register_buffer("offset_b", _own_mean(units_b))

    def offsets(self) -> dict[str, Tensor]:
        return {self.a: self.offset_a, self.b: self.offset_b}

    def extra_repr(self):
        return f"{super().extra_repr()}, offsets {tuple(self.offset_a.shape)} {tuple(self.offset_b.shape)}"


@torch.no_grad()
def _own_mean(units) -> Tensor:
    """E[s(x)] under the layer's bias alone, (size,): the papers' starting offset (sigmoid of the
    bias). Zeros where the mean needs data (a replicated softmax without a document length)."""
    try:
        bias = units.bias.detach().float()[None]
        return units.statistic(units.mean(bias))[0].detach().clone()
    except DataError:
        return torch.zeros(units.size)
