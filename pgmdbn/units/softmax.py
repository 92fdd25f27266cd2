"""Categorical units: one variable with K states, coded one-hot (e.g. class labels)."""
from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from ..errors import DataError
from .base import Units, scaled


class Softmax(Units):
    """One K-state categorical variable: p(x = e_k | eta) = softmax(beta * eta)_k."""

    name = "softmax"

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

    def validate(self, x, *, exact=False):
        x = super().validate(x)
        self._first_bad(x, (x != 0) & (x != 1), "{0, 1} (one-hot)",
                        "one-hot encode the categories (torch.nn.functional.one_hot)")
        rows = (x.sum(-1) != 1).nonzero()
        if len(rows):
            r = int(rows[0])
            raise DataError(f"layer {self.layer_name!r} (softmax): row {r} has {x[r].sum().item():g} "
                            f"active states, needs exactly one; one-hot encode the categories")
        return x

    def base_rate_bias(self, x):
        p = x.mean(0).clamp_min(1e-3)
        return p.log() - p.log().mean()
