"""Binary {0, 1} units."""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.distributions import constraints
from torch.nn import functional as F

from .base import Units, scaled

#: the largest annealing step with the direct log-partition change (|d| = step·|η| stays far from
#: expm1's overflow for any realistic field); coarser steps take the float64 difference
SMALL_STEP = 0.01


class Bernoulli(Units):
    """Independent binary units: p(x_i = 1 | eta) = sigmoid(beta * eta_i)."""

    name = "bernoulli"
    support = constraints.boolean
    data_support = constraints.unit_interval

    def log_partition(self, eta, beta=1.0, like=None):
        # softplus returns x above its threshold; 40 keeps log1p(e^-x) below float64 precision
        return F.softplus(scaled(eta, beta), threshold=40).sum(-1)

    def log_partition_change(self, eta, beta, prev):
        if not 0 < beta - prev <= SMALL_STEP:
            return super().log_partition_change(eta, beta, prev)
        d = torch.mul(eta, beta - prev)
        # A(x) − A(x − d) = max(d, 0) − log1p(σ(−|x|) · expm1(|d|)), x = βη: the log1p argument is
        # never negative, so the change is accurate in eta's dtype at any field; summed in float64
        term = d.abs().expm1_().mul_(torch.mul(eta, beta).abs_().neg_().sigmoid_()).log1p_()
        return d.clamp_min_(0).sub_(term).sum(-1, dtype=torch.float64)

    def mean(self, eta, beta=1.0, like=None):
        return torch.sigmoid(scaled(eta, beta))

    def sample(self, eta, beta=1.0, generator=None, like=None, noise=None):
        p = self.mean(eta, beta).detach()  # a draw carries no gradient
        if noise is None:
            noise = self.noise(p.shape, generator, p.dtype, p.device)
        elif torch.compiler.is_compiling():  # a graph fuses the comparison; writing into its input would not
            return (noise < p).to(p.dtype)
        # in place into the uniforms (a draw consumes its noise), in their dtype: no boolean temporary
        return noise.lt_(p)

    def noise(self, shape, generator=None, dtype=None, device=None):
        return torch.rand(shape, generator=generator, dtype=dtype, device=device)

    def mode(self, eta, like=None):
        return (eta > 0).to(eta.dtype)

    def states(self, like=None):
        return torch.cat(list(self.state_chunks(2 ** 16)))

    def state_chunks(self, chunk_size, like=None):
        if self.size > 40:
            Units.states(self)  # raises: far too many states to enumerate
        bits = torch.arange(self.size)
        for start in range(0, 2 ** self.size, chunk_size):
            codes = torch.arange(start, min(start + chunk_size, 2 ** self.size)).unsqueeze(-1)
            yield ((codes >> bits) & 1).to(torch.get_default_dtype())

    def unit_values(self):
        return torch.tensor([0.0, 1.0])

    def log_state_count(self, like=None):
        return self.size * math.log(2)

    def domain_hint(self, support):
        if support is constraints.boolean:
            return "{0, 1}", "binarize the data first (pgmdbn.data.binarize)"
        return "[0, 1]", "scale the data to [0, 1]"

    def nn_activation(self):
        return nn.Sigmoid()

    def nn_log_partition(self):
        if type(self).log_partition is not Bernoulli.log_partition:  # a subclass with its own (e.g. counts)
            raise self._not_convertible("nn_log_partition() for its own log_partition")
        return nn.Softplus()  # log(1 + exp(eta)) = −log p(off)

    def nn_mode(self):
        if type(self).mode is not Bernoulli.mode or type(self).statistic is not Bernoulli.statistic:
            raise self._not_convertible("nn_mode() for its own mode or statistic")
        return nn.ReLU()  # max(0, eta): the mode's state times the field

    def reconstruction_loss(self, eta, target):
        # the cross-entropy of data in [0, 1]; -log p(target | eta) for binary targets
        return F.binary_cross_entropy_with_logits(eta, target, reduction="none").sum(-1)

    def base_rate_bias(self, x):
        p = x.mean(0).clamp(1e-3, 1 - 1e-3)
        return torch.log(p) - torch.log1p(-p)
