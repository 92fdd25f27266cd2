"""±1 spin units: p(x_i = +1 | eta) = sigmoid(2 beta eta_i)."""
import math

import torch
from torch import nn
from torch.distributions import constraints
from torch.nn import functional as F

import pgmdbn
from pgmdbn.units import Units


class _PlusMinusOne(constraints.Constraint):
    """The values -1 and +1, element-wise."""

    is_discrete = True
    event_dim = 0

    def check(self, value):
        return (value == 1) | (value == -1)

    def __repr__(self):
        return "PlusMinusOne()"


plus_minus_one = _PlusMinusOne()


class Spin(Units):
    name = "spin"
    support = plus_minus_one

    def log_partition(self, eta, beta=1.0, like=None):
        # log(e^{βη} + e^{-βη}) = softplus(2βη) - βη
        return (F.softplus(2 * beta * eta) - beta * eta).sum(-1)

    def mean(self, eta, beta=1.0, like=None):
        return torch.tanh(beta * eta)

    def sample(self, eta, beta=1.0, generator=None, like=None):
        up = torch.rand(eta.shape, generator=generator, device=eta.device, dtype=eta.dtype) < torch.sigmoid(2 * beta * eta)
        return up.to(eta.dtype) * 2 - 1

    def mode(self, eta, like=None):
        return torch.where(eta >= 0, 1.0, -1.0).to(eta.dtype)

    def states(self, like=None):
        codes = torch.arange(2 ** self.size).unsqueeze(-1)
        return (((codes >> torch.arange(self.size)) & 1) * 2 - 1).to(torch.get_default_dtype())

    def unit_values(self):
        return torch.tensor([-1.0, 1.0])

    def log_state_count(self, like=None):
        return self.size * math.log(2)

    def domain_hint(self, support):
        return "{-1, +1}", "map binary data with 2x - 1"

    def nn_activation(self):
        return nn.Tanh()

    def reconstruction_loss(self, eta, target):
        return -self.log_prob(target, eta)

    def base_rate_bias(self, x):
        return torch.atanh(x.mean(0).clamp(-0.999, 0.999))


@pgmdbn.hookimpl
def pgmdbn_register_units():
    return {"spin": Spin}
