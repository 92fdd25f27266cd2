"""The one way a model layer becomes a ``torch.nn`` block (classifier and autoencoder): its
factor's ``as_module`` field, the layer's activation, and the layer's output scale."""
from __future__ import annotations

import torch
from torch import Tensor, nn


class Scale(nn.Module):
    """Multiplies (n, size) by a fixed per-unit scale (size,)."""

    def __init__(self, scale: Tensor):
        super().__init__()
        self.register_buffer("scale", scale.detach().float().clone())

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale


def layer_block(field: nn.Module, units, activation: nn.Module) -> nn.Sequential:
    """``Sequential(field, activation)``, then ``Scale(out_scale)`` where the unit contract's
    ``scales`` gives a layer whose value is out_scale * act(field) with out_scale not all ones
    (a Gaussian layer's σ, a binomial layer's trials): the block hands on that value, as the
    model's up-pass does, not act(out_scale * field)."""
    block = nn.Sequential(field, activation)
    out_scale = units.scales()[0]
    if not torch.all(out_scale == 1):
        block.append(Scale(out_scale))
    return block
