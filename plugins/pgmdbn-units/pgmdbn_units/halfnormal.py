"""The half-line Gaussian that the ReLU family is built from, in standard form:

    q_z(t) ∝ exp(z t − t²/2) on t ≥ 0,

a normal N(z, 1) truncated to [0, ∞). A unit with p(h) ∝ exp(a h − γ h²/2) on h ≥ 0 is
h = t / √γ with z = a / √γ. Everything works element-wise on tensors of any shape and is
accurate at every z (no cancellation in the tails); sampling runs in float64.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.special import erfcx, log_ndtr, ndtri

LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
#: below this log-probability exp() underflows in float64 and ndtri needs help (Newton on log Φ)
LOG_TINY = -700.0


def norm_and_mills(z: Tensor) -> tuple[Tensor, Tensor]:
    """(log ∫_0^∞ exp(z t − t²/2) dt, φ(z)/Φ(z)) from one erfcx evaluation at |z|/√2, computed in
    float64 and returned in z's dtype. The first is z²/2 + log Φ(z) + log √(2π): for z < 0 it is
    log(erfcx(−z/√2)/2) + log √(2π), which has no z²/2 − z²/2 cancellation, and for z ≥ 0
    Φ(z) = 1 − erfcx(z/√2) e^{−z²/2}/2. Both branches are finite everywhere, so are their gradients
    (|z| is written so that z = 0 takes the right-hand derivative, the z ≥ 0 branch's)."""
    w = z.double()
    negative = w < 0
    e = erfcx(torch.where(negative, -w, w) / math.sqrt(2))
    pos = w.clamp(min=0)
    tail = e * torch.exp(-pos * pos / 2)  # erfc(z/√2) for z ≥ 0
    log_norm = torch.where(negative, torch.log(e / 2), pos * pos / 2 + torch.log1p(-tail / 2)) + LOG_SQRT_2PI
    mills = torch.where(negative, SQRT_2_OVER_PI / e, SQRT_2_OVER_PI * torch.exp(-pos * pos / 2) / (2 - tail))
    return log_norm.to(z.dtype), mills.to(z.dtype)


def log_norm(z: Tensor) -> Tensor:
    """log ∫_0^∞ exp(z t − t²/2) dt, accurate at every z (see ``norm_and_mills``)."""
    return norm_and_mills(z)[0]


def mills(z: Tensor) -> Tensor:
    """φ(z) / Φ(z), stable at every z (→ 0 as z → ∞, ≈ −z as z → −∞)."""
    return norm_and_mills(z)[1]


def mean(z: Tensor) -> Tensor:
    """E[t] = d log_norm / dz = z + φ(z)/Φ(z), computed in float64."""
    return (z.double() + mills(z.double())).to(z.dtype)


def inverse_log_cdf(log_p: Tensor) -> Tensor:
    """x with log Φ(x) = log_p (log_p ≤ 0), float64: ndtri where Φ(x) is representable, else (only
    where some element needs it) an asymptotic start x = −√(−2 log_p − log(−2 log_p) − log 2π)
    refined by Newton steps on the concave log Φ, which approach the root from below."""
    x = ndtri(log_p.exp())
    tail = log_p <= LOG_TINY
    if not tail.any():
        return x
    p = log_p.clamp(max=LOG_TINY)
    s = -2 * p
    t = -(s - torch.log(s) - math.log(2 * math.pi)).sqrt()
    for _ in range(5):
        t = t - (log_ndtr(t) - p) / mills(t)
    return torch.where(tail, t, x)


def sample(z: Tensor, v: Tensor) -> Tensor:
    """t ≥ 0 from q_z by inversion of v in (0, 1], float64: t = z − Y with Y = Φ⁻¹(v Φ(z)) the
    standard normal truncated to (−∞, z], so that t = z + X, X truncated to [−z, ∞). Exact
    arithmetic gives Y ≤ z; the clamp only removes a last-bit rounding below 0 at v = 1."""
    z = z.double()
    log_cdf = log_norm(z) - z * z / 2 - LOG_SQRT_2PI  # log Φ(z)
    y = inverse_log_cdf(torch.log(v.double()) + log_cdf)
    return (z - y).clamp_min(0)



def solve_increasing(f, target: Tensor, steps: int = 100) -> Tensor:
    """x with f(x) = target element-wise, for an increasing f (a unit's mean as a function of its
    field): a bracket doubled outward from [−1, 1] until it holds the target, then bisection."""
    lo, hi = -torch.ones_like(target), torch.ones_like(target)
    for _ in range(60):
        low, high = f(lo) > target, f(hi) < target
        if not (low.any() or high.any()):
            break
        lo, hi = torch.where(low, 2 * lo, lo), torch.where(high, 2 * hi, hi)
    for _ in range(steps):
        mid = (lo + hi) / 2
        below = f(mid) < target
        lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
    return (lo + hi) / 2
