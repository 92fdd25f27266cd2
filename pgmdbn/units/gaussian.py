"""Real-valued Gaussian units with unit or learned per-unit standard deviation."""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.distributions import constraints

from .base import Units, scaled


class Gaussian(Units):
    """Linear units: x | eta ~ N(sigma * beta * eta, sigma^2), with statistic s(x) = x / sigma.

    The bias is the natural one (mean / sigma), so the same field formula serves every type.
    With ``learn_sigma=False`` sigma stays 1 (the usual choice for standardised data).
    """

    name = "gaussian"
    discrete = False
    support = constraints.real

    def __init__(self, size: int, learn_sigma: bool = False, channels: int | None = None):
        super().__init__(size, channels)
        self.learn_sigma = bool(learn_sigma)
        self.log_sigma = nn.Parameter(torch.zeros(self.size), requires_grad=self.learn_sigma)

    def sigma(self, dtype=None):
        return (self.log_sigma if dtype is None else self.log_sigma.to(dtype)).exp()

    def statistic(self, x):
        return x / self.sigma(x.dtype)

    def base_energy(self, x):
        return (x / self.sigma(x.dtype)).pow(2).sum(-1) / 2

    def log_partition(self, eta, beta=1.0, like=None):
        log_norm = 0.5 * math.log(2 * math.pi) + self.log_sigma.to(eta.dtype)
        return (scaled(eta, beta).pow(2) / 2 + log_norm).sum(-1)

    def mean(self, eta, beta=1.0, like=None):
        return self.sigma(eta.dtype) * scaled(eta, beta)

    def sample(self, eta, beta=1.0, generator=None, like=None, noise=None):
        if noise is None:
            noise = self.noise(eta.shape, generator, eta.dtype, eta.device)
        return self.mean(eta, beta) + self.sigma(eta.dtype) * noise

    def noise(self, shape, generator=None, dtype=None, device=None):
        return torch.randn(shape, generator=generator, dtype=dtype, device=device)

    def mode(self, eta, like=None):
        return self.mean(eta)

    def nn_activation(self):
        return nn.Identity()

    def scales(self):
        sigma = self.sigma().detach()
        return sigma, 1.0 / sigma

    def reconstruction_loss(self, eta, target):
        # the squared error of the mean (Hinton & Salakhutdinov 2006), not the Gaussian -log p
        return (eta * self.sigma(eta.dtype) - target).pow(2).sum(-1)

    def base_rate_bias(self, x):
        return x.mean(0) / self.sigma(x.dtype)

    def init_from_data(self, x):
        if self.learn_sigma:
            with torch.no_grad():
                self.log_sigma.copy_(x.std(0).clamp_min(1e-3).log())
        super().init_from_data(x)

    def config(self):
        return {"learn_sigma": self.learn_sigma, **super().config()}
