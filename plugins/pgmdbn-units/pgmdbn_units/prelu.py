"""Parametric ReLU units (Tubiana's thesis; RestrictedBoltzmannMachines.jl's ``pReLU``): a dReLU
written with a common precision γ, a gap Δ and an asymmetry κ in (−1, 1),

    γ⁺ = γ / (1 + κ),  γ⁻ = γ / (1 − κ),  δ± = Δ / (1 ± κ)

(own energy γ⁺(h⁺)²/2 + γ⁻(h⁻)²/2 + δ⁺h⁺ − δ⁻h⁻ − bias·h; see ``drelu``). κ = 0 is a symmetric
unit, κ → ±1 a one-sided (ReLU-like) one. RestrictedBoltzmannMachines.jl calls κ "η" (η is pgmdbn's
field) and writes Δ with the opposite sign. Learned per unit: bias, log γ, Δ and ``skew``, with
κ = tanh(skew) so that no gradient step can leave (−1, 1).
"""
from __future__ import annotations

import torch
from torch import nn

from .drelu import TwoSided


class PReLU(TwoSided):
    """pReLU units; ``asymmetry`` maps the learned ``skew`` into (−1, 1)."""

    name = "prelu"

    def __init__(self, size: int, channels: int | None = None):
        super().__init__(size, channels)
        self.log_gamma = nn.Parameter(torch.zeros(self.size))
        self.delta = nn.Parameter(torch.zeros(self.size))
        self.skew = nn.Parameter(torch.zeros(self.size))

    def asymmetry(self, dtype):
        """κ in (−1, 1), (size,)."""
        return torch.tanh(self.skew.to(dtype))

    def halves(self, dtype):
        kappa, gamma, delta = self.asymmetry(dtype), self.log_gamma.to(dtype).exp(), self.delta.to(dtype)
        up, down = 1 + kappa, 1 - kappa
        return gamma / up, gamma / down, delta / up, delta / down
