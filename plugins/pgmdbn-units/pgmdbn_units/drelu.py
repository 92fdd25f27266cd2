"""Double-ReLU units (Tubiana, Cocco & Monasson, eLife 2019): h = h⁺ + h⁻, h⁺ ≥ 0 ≥ h⁻, with energy

    γ⁺ (h⁺)²/2 + θ⁺ h⁺ + γ⁻ (h⁻)²/2 + θ⁻ h⁻ − I h        (I: the input from the factors).

pgmdbn's field η = bias + I carries the common part of θ: θ⁺ = Δ − bias, θ⁻ = −Δ − bias, so the
layer's own energy is γ⁺(h⁺)²/2 + γ⁻(h⁻)²/2 + Δ|h| − bias·h; Δ > 0 opens a gap at zero. The four
learned parameters per unit are bias, Δ (``delta``), log γ⁺ and log γ⁻ (one-to-one with θ±, γ±).
At the start (Δ = 0, γ± = 1) a unit is Gaussian N(η, 1). ``TwoSided`` holds the mathematics for
any (γ⁺, γ⁻, δ⁺, δ⁻) with own energy γ⁺(h⁺)²/2 + γ⁻(h⁻)²/2 + δ⁺h⁺ − δ⁻h⁻ − bias·h; pReLU and
xReLU are other parametrisations of it.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.distributions import constraints

from pgmdbn.units import Units

from . import halfnormal


class TwoSided(Units):
    """Two half-line Gaussians joined at 0; subclasses say how their parameters give ``halves``."""

    discrete = False
    support = constraints.real

    def halves(self, dtype):
        """(γ⁺, γ⁻, δ⁺, δ⁻), each (size,), in ``dtype``."""
        raise NotImplementedError

    def _sides(self, eta, beta):
        """The standardised fields z± and log weights log Z± of the two halves, (..., size) each."""
        gp, gn, dp, dn = self.halves(eta.dtype)
        zp, zn = (beta * eta - dp) * gp.rsqrt(), (-beta * eta - dn) * gn.rsqrt()
        return zp, zn, halfnormal.log_norm(zp) - gp.log() / 2, halfnormal.log_norm(zn) - gn.log() / 2

    def base_energy(self, x):
        gp, gn, dp, dn = self.halves(x.dtype)
        pos, neg = x.clamp_min(0), x.clamp_max(0)  # the split h = h⁺ + h⁻
        return (gp * pos * pos / 2 + gn * neg * neg / 2 + dp * pos - dn * neg).sum(-1)

    def log_partition(self, eta, beta=1.0, like=None):
        _, _, lp, ln = self._sides(eta, beta)
        return torch.logaddexp(lp, ln).sum(-1)

    def mean(self, eta, beta=1.0, like=None):
        gp, gn, _, _ = self.halves(eta.dtype)
        zp, zn, lp, ln = self._sides(eta, beta)
        wp = torch.sigmoid(lp - ln)
        return wp * halfnormal.mean(zp) * gp.rsqrt() - (1 - wp) * halfnormal.mean(zn) * gn.rsqrt()

    def noise(self, shape, generator=None, dtype=None, device=None):
        return torch.rand(shape, generator=generator, dtype=dtype, device=device)

    def sample(self, eta, beta=1.0, generator=None, like=None, noise=None):
        """Inversion of one uniform u per unit: the negative half when u < its weight w⁻ (then
        1 − u/w⁻ is uniform on (0, 1]), else the positive half with (1 − u)/w⁺."""
        if noise is None:
            noise = self.noise(eta.shape, generator, eta.dtype, eta.device)
        with torch.no_grad():
            gp, gn, _, _ = self.halves(torch.float64)
            zp, zn, lp, ln = self._sides(eta.double(), beta)
            u, log_total = noise.double(), torch.logaddexp(lp, ln)
            negative = u < (ln - log_total).exp()
            v = torch.where(negative, 1 - u / (ln - log_total).exp(), (1 - u) / (lp - log_total).exp())
            v = v.clamp(torch.finfo(torch.float64).tiny, 1)  # last-bit rounding of the ratios only
            h = torch.where(negative, -halfnormal.sample(zn, v) * gn.rsqrt(), halfnormal.sample(zp, v) * gp.rsqrt())
        return h.to(eta.dtype)

    def mode(self, eta, like=None):
        gp, gn, dp, dn = self.halves(eta.dtype)
        up, down = (eta - dp).clamp_min(0), (-eta - dn).clamp_min(0)  # each half's peak is at up/γ⁺, −down/γ⁻
        return torch.where(up * up / gp >= down * down / gn, up / gp, -down / gn)

    def base_rate_bias(self, x):
        # the field under which each unit's mean is the data's (mean is increasing in η)
        with torch.no_grad():
            return halfnormal.solve_increasing(self.mean, x.mean(0))


class DReLU(TwoSided):
    """dReLU with learned γ⁺ = exp(log_gamma_pos), γ⁻ = exp(log_gamma_neg) and gap Δ = ``delta``."""

    name = "drelu"

    def __init__(self, size: int, channels: int | None = None):
        super().__init__(size, channels)
        self.log_gamma_pos = nn.Parameter(torch.zeros(self.size))
        self.log_gamma_neg = nn.Parameter(torch.zeros(self.size))
        self.delta = nn.Parameter(torch.zeros(self.size))

    def halves(self, dtype):
        delta = self.delta.to(dtype)
        return self.log_gamma_pos.to(dtype).exp(), self.log_gamma_neg.to(dtype).exp(), delta, delta
