"""Binomial units: counts x in 0..n (option ``trials`` = n) with p(x | η) ∝ C(n, x) e^{β η x},
i.e. x ~ Binomial(n, sigmoid(β η)); one unit is the sum of n Bernoulli units sharing a field."""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.distributions import constraints
from torch.nn import functional as F

from pgmdbn import validation
from pgmdbn.units import Units


class Binomial(Units):
    """Independent counts of successes in ``trials`` tries."""

    name = "binomial"

    def __init__(self, size: int, trials: int = 2, channels: int | None = None):
        super().__init__(size, channels)
        self.trials = validation.positive_int("trials", trials, "binomial units count successes in trials >= 1 tries")
        self.support = constraints.integer_interval(0, self.trials)

    def log_choose(self, x):
        """log C(n, x) element-wise."""
        n = torch.full_like(x, float(self.trials))
        return torch.lgamma(n + 1) - torch.lgamma(x + 1) - torch.lgamma(n - x + 1)

    def base_energy(self, x):
        return -self.log_choose(x).sum(-1)

    def log_partition(self, eta, beta=1.0, like=None):
        return self.trials * F.softplus(beta * eta, threshold=40).sum(-1)

    def mean(self, eta, beta=1.0, like=None):
        return self.trials * torch.sigmoid(beta * eta)

    def noise(self, shape, generator=None, dtype=None, device=None):
        return torch.rand(shape, generator=generator, dtype=dtype, device=device)

    def sample(self, eta, beta=1.0, generator=None, like=None, noise=None):
        """Inversion of one uniform per unit through the cumulative distribution over 0..n (float64)."""
        if noise is None:
            noise = self.noise(eta.shape, generator, eta.dtype, eta.device)
        with torch.no_grad():
            k = torch.arange(self.trials + 1, dtype=torch.float64, device=eta.device)
            e = (beta * eta.double()).unsqueeze(-1)
            log_pmf = self.log_choose(k) + k * F.logsigmoid(e) + (self.trials - k) * F.logsigmoid(-e)
            cdf = log_pmf.exp().cumsum(-1)[..., :-1]  # P(x <= k) for k < n
            return (noise.double().unsqueeze(-1) >= cdf).sum(-1).to(eta.dtype)

    def mode(self, eta, like=None):
        return torch.floor((self.trials + 1) * torch.sigmoid(eta)).clamp(max=self.trials)

    def states(self, like=None):
        return torch.cat(list(self.state_chunks(2 ** 16)))

    def state_chunks(self, chunk_size, like=None):
        if self.log_state_count() > 40 * math.log(2):
            Units.states(self)  # raises: far too many states to enumerate
        base, total = self.trials + 1, (self.trials + 1) ** self.size
        place = base ** torch.arange(self.size)
        for start in range(0, total, chunk_size):
            codes = torch.arange(start, min(start + chunk_size, total)).unsqueeze(-1)
            yield (codes // place % base).to(torch.get_default_dtype())

    def unit_values(self):
        return torch.arange(self.trials + 1.0)

    def log_state_count(self, like=None):
        return self.size * math.log(self.trials + 1)

    def domain_hint(self, support):
        return f"0..{self.trials}", f"pass whole counts of successes out of trials={self.trials}"

    def nn_activation(self):
        return nn.Sigmoid()

    def scales(self):
        one = torch.ones(self.size, dtype=self.bias.dtype, device=self.bias.device)
        return self.trials * one, one

    def reconstruction_loss(self, eta, target):
        return -self.log_prob(target, eta)

    def base_rate_bias(self, x):
        p = (x.mean(0) / self.trials).clamp(1e-3, 1 - 1e-3)
        return torch.log(p) - torch.log1p(-p)

    def config(self):
        return {"trials": self.trials, **super().config()}
