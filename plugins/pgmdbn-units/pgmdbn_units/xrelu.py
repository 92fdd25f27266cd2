"""xReLU units (RestrictedBoltzmannMachines.jl's ``xReLU``): pReLU with the asymmetry written
κ = ξ / (1 + |ξ|) for an unconstrained learned ξ (``skew``). Its tails are algebraic where
tanh's are exponential, so the gradient on ξ stays alive for strongly one-sided units.
"""
from __future__ import annotations

from .prelu import PReLU


class XReLU(PReLU):
    """pReLU with κ = ξ / (1 + |ξ|)."""

    name = "xrelu"

    def asymmetry(self, dtype):
        xi = self.skew.to(dtype)
        return xi / (1 + xi.abs())
