"""Categorical units: one variable with K states, coded one-hot (e.g. class labels)."""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.distributions import constraints
from torch.nn import functional as F

from ..errors import DataError
from .base import Units, scaled


class Softmax(Units):
    """One K-state categorical variable: p(x = e_k | eta) = softmax(beta * eta)_k."""

    name = "softmax"
    support = constraints.one_hot

    def log_partition(self, eta, beta=1.0, like=None):
        return torch.logsumexp(scaled(eta, beta), -1)

    def mean(self, eta, beta=1.0, like=None):
        return torch.softmax(scaled(eta, beta), -1)

    def sample(self, eta, beta=1.0, generator=None, like=None):
        p = self.mean(eta, beta).reshape(-1, self.size)
        k = torch.multinomial(p, 1, generator=generator).squeeze(-1)
        return F.one_hot(k, self.size).to(eta.dtype).reshape(eta.shape)

    def mode(self, eta, like=None):
        return F.one_hot(eta.argmax(-1), self.size).to(eta.dtype)

    def states(self, like=None):
        return torch.eye(self.size)

    def log_state_count(self, like=None):
        return math.log(self.size)

    @property
    def categories(self):
        return self.size

    def encode(self, index):
        return F.one_hot(self._check_indices(index), self.size).to(self.bias.dtype)

    def _check_support(self, x, support, domain, fix):
        if support.check(x).all():
            return
        self._first_bad(x, (x != 0) & (x != 1), "{0, 1} (one-hot)", fix)
        r = int((x.sum(-1) != 1).nonzero()[0])
        raise DataError(f"layer {self.layer_name!r} (softmax): row {r} has {x[r].sum().item():g} "
                        f"active states, needs exactly one; one-hot encode the categories")

    def domain_hint(self, support):
        return "one-hot rows", "one-hot encode the categories (torch.nn.functional.one_hot, or Softmax.encode)"

    def nn_activation(self):
        return nn.Softmax(dim=-1)

    def reconstruction_loss(self, eta, target):
        return -(target * torch.log_softmax(eta, -1)).sum(-1)

    def base_rate_bias(self, x):
        p = x.mean(0).clamp_min(1e-3)
        return p.log() - p.log().mean()
