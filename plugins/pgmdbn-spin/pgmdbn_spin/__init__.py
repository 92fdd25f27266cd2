"""±1 spin units: p(x_i = +1 | eta) = sigmoid(2 beta eta_i)."""
import math

import torch
from torch.nn import functional as F

import pgmdbn
from pgmdbn.units import Units


class Spin(Units):
    name = "spin"

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

    def validate(self, x, *, exact=False):
        x = super().validate(x)
        self._first_bad(x, (x != 1) & (x != -1), "{-1, +1}", "map binary data with 2x - 1")
        return x

    def base_rate_bias(self, x):
        return torch.atanh(x.mean(0).clamp(-0.999, 0.999))


@pgmdbn.hookimpl
def pgmdbn_register_units():
    return {"spin": Spin}
