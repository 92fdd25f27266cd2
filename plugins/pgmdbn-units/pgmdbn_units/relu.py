"""Rectified Gaussian (ReLU) units: h ≥ 0 with p(h | η) ∝ exp(β η h − γ h²/2).

The field η = bias + inputs, so the bias is −θ of the energy γh²/2 + θh (RestrictedBoltzmannMachines.jl
writes the same energy with the sign of θ flipped). The precision γ > 0 is learned per unit through
``log_gamma``; training moves it by autograd through the free energy like every other parameter.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.distributions import constraints

from pgmdbn.units import Units

from . import halfnormal


class ReLU(Units):
    """h_i ≥ 0 given η_i: a normal N(η_i/γ_i, 1/γ_i) truncated to [0, ∞)."""

    name = "relu"
    discrete = False
    support = constraints.greater_than_eq(0.0)

    def __init__(self, size: int, channels: int | None = None):
        super().__init__(size, channels)
        self.log_gamma = nn.Parameter(torch.zeros(self.size))

    def gamma(self, dtype=None):
        """γ, (size,)."""
        return (self.log_gamma if dtype is None else self.log_gamma.to(dtype)).exp()

    def _z(self, eta, beta):
        return beta * eta * torch.exp(-self.log_gamma.to(eta.dtype) / 2)

    def base_energy(self, x):
        return (self.gamma(x.dtype) * x * x).sum(-1) / 2

    def log_partition(self, eta, beta=1.0, like=None):
        return (halfnormal.log_norm(self._z(eta, beta)) - self.log_gamma.to(eta.dtype) / 2).sum(-1)

    def mean(self, eta, beta=1.0, like=None):
        return halfnormal.mean(self._z(eta, beta)) * torch.exp(-self.log_gamma.to(eta.dtype) / 2)

    def noise(self, shape, generator=None, dtype=None, device=None):
        return torch.rand(shape, generator=generator, dtype=dtype, device=device)

    def sample(self, eta, beta=1.0, generator=None, like=None, noise=None):
        eta = eta.detach()  # a draw carries no gradient
        if noise is None:
            noise = self.noise(eta.shape, generator, eta.dtype, eta.device)
        t = halfnormal.sample(self._z(eta, beta).detach(), 1 - noise.double())  # 1 − u lies in (0, 1]
        return (t * torch.exp(-self.log_gamma.detach().double() / 2)).to(eta.dtype)

    def mode(self, eta, like=None):
        return (eta / self.gamma(eta.dtype)).clamp_min(0)

    def domain_hint(self, support):
        return "[0, ∞)", "relu units take nonnegative values; shift or rectify the data"

    def base_rate_bias(self, x):
        # the field under which each unit's mean is the data's (mean is increasing in η)
        with torch.no_grad():
            return halfnormal.solve_increasing(self.mean, x.mean(0).clamp_min(1e-3))
