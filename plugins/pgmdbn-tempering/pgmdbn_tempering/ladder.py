"""The tempered family both engines move through, and the block Gibbs sampler on it.

A unit type samples x | eta from exp(-base_energy(x) + beta * s(x) · eta), beta applied to the
whole field, bias included (``Units.sample``). Block Gibbs at beta therefore targets

    p_beta(x) ∝ exp(-B(x) - beta * U(x)),   B = Σ base energies,  U = E - B,

the joint energy with only its bias and interaction part scaled. ``Model.free_energy(states,
beta)`` is another family (interactions scaled, biases not), so the acceptance tests use the
joint ``U`` of the states the chains hold, which needs nothing of a unit type beyond the
contract (``energy``, ``base_energy``, ``statistic``).
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from pgmdbn.errors import ArgumentError, ArgumentTypeError

DEFAULT_TEMPERATURES = 10


def inverse_temperatures(temperatures=None, betas=None) -> tuple[float, ...]:
    """The ladder 1 = β_0 > β_1 > … > β_{M-1} > 0, from ``temperatures`` = M (evenly spaced,
    β_i = (M - i) / M) or an explicit ``betas``; refuses anything else naming the argument."""
    if temperatures is not None and betas is not None:
        raise ArgumentError(f"temperatures={temperatures!r} and betas=... both given; pass one: temperatures=M for "
                            f"M evenly spaced inverse temperatures, or betas=[1, ..., beta_min]")
    if betas is not None:
        return _checked_betas(betas)
    m = DEFAULT_TEMPERATURES if temperatures is None else temperatures
    if isinstance(m, Tensor) and m.numel() == 1:
        m = m.item()
    if not isinstance(m, numbers.Integral) or isinstance(m, bool):
        raise ArgumentTypeError(f"temperatures={m!r} must be an integer (got {type(m).__name__}); pass the number "
                                f"of inverse temperatures, e.g. temperatures=10")
    if m < 2:
        raise ArgumentError(f"temperatures={m} must be at least 2: the model at beta=1 and at least one hotter "
                            f"replica; e.g. temperatures=10")
    return tuple((m - i) / m for i in range(m))


def _checked_betas(betas) -> tuple[float, ...]:
    if isinstance(betas, (Tensor, np.ndarray)):
        if betas.ndim != 1 or (betas.is_complex() if isinstance(betas, Tensor) else np.iscomplexobj(betas)):
            raise ArgumentTypeError(f"betas must be a flat list of real numbers, got an array of shape "
                                    f"{tuple(betas.shape)}")
        betas = betas.tolist()
    if isinstance(betas, (str, bytes)) or not isinstance(betas, Sequence):
        raise ArgumentTypeError(f"betas={betas!r} must be a list of inverse temperatures from 1 down, e.g. "
                                f"betas=[1, 0.8, 0.6, 0.4]")
    for i, b in enumerate(betas):
        if not isinstance(b, numbers.Real) or isinstance(b, bool):
            raise ArgumentTypeError(f"betas[{i}]={b!r} must be a real number (got {type(b).__name__})")
    out = tuple(float(b) for b in betas)
    if len(out) < 2:
        raise ArgumentError(f"betas={list(out)} needs at least two inverse temperatures: 1 and a hotter one")
    if out[0] != 1:
        raise ArgumentError(f"betas[0]={out[0]!r} must be 1: the first replica is the model itself")
    for i, b in enumerate(out):
        if not (math.isfinite(b) and 0 < b <= 1):
            raise ArgumentError(f"betas[{i}]={b!r} is outside (0, 1]; inverse temperatures lie in (0, 1]")
    for i in range(1, len(out)):
        if out[i] >= out[i - 1]:
            raise ArgumentError(f"betas must decrease strictly from 1; betas[{i}]={out[i]!r} follows "
                                f"betas[{i - 1}]={out[i - 1]!r}")
    return out


def _flat(states: dict[str, Tensor]) -> dict[str, Tensor]:
    """{layer: (m, n, size)} -> {layer: (m * n, size)}: factors and unit types see plain batches."""
    return {name: x.reshape(-1, x.shape[-1]) for name, x in states.items()}


@torch.no_grad()
def tempered_energy(model, states: dict[str, Tensor]) -> Tensor:
    """U(x) = E(x) - Σ base energies in float64: (m, n, size) per layer -> (m, n)."""
    lead = next(iter(states.values())).shape[:-1]
    wide = {name: x.double() for name, x in _flat(states).items()}
    base = sum(model.layer(name).base_energy(x) for name, x in wide.items())
    return (model.energy(wide) - base).reshape(lead)


class TemperedGibbs:
    """Block Gibbs on replicas stacked along a leading axis: states {layer: (m, n, size)}, replica
    t at ``betas[t]``. One field pass serves all replicas; each unit type gets its own float beta."""

    def __init__(self, model, generator: torch.Generator | None = None):
        self.model, self.generator = model, generator
        self.colours = model.colour_classes()

    def update(self, states: dict[str, Tensor], layers, betas: Sequence[float]) -> None:
        """Resample ``layers`` in place, replica t from its conditional at betas[t]."""
        for name in layers:
            others = _flat({n: x for n, x in states.items() if n != name})
            m = len(betas)
            eta = self.model.field(name, others).reshape(m, -1, self.model.layer(name).size)
            units, old = self.model.layer(name), states.get(name)
            states[name] = torch.stack([units.sample(eta[t], beta, self.generator,
                                                     like=None if old is None else old[t])
                                        for t, beta in enumerate(betas)])

    def sweep(self, states: dict[str, Tensor], betas: Sequence[float], reverse: bool = False) -> None:
        """Second colour class given the first, then the first given the second; ``reverse``
        runs the two halves the other way round (the reverse kernel tempered transitions need)."""
        first, second = self.colours
        for layers in ((first, second) if reverse else (second, first)):
            self.update(states, layers, betas)


class Acceptance:
    """Accepted and proposed moves per slot (a neighbouring pair of replicas, or the one
    tempered transition) since the last ``report``; int64 on the chains' device, so counting
    needs no host sync."""

    def __init__(self, slots: int, prefix: str):
        self.slots, self.prefix = slots, prefix
        self.accepted: Tensor | None = None
        self.proposed: Tensor | None = None

    def add(self, slots, accepted: Tensor, proposed: int) -> None:
        """``accepted`` (len(slots), n) bool: the outcome of each chain's move in each slot."""
        if self.accepted is None:
            self.accepted = torch.zeros(self.slots, dtype=torch.int64, device=accepted.device)
            self.proposed = torch.zeros(self.slots, dtype=torch.int64, device=accepted.device)
        self.accepted[slots] += accepted.sum(-1)
        self.proposed[slots] += proposed

    def rates(self) -> list[float]:
        """Accepted / proposed per slot (NaN where nothing was proposed)."""
        if self.accepted is None:
            return [math.nan] * self.slots
        return [a / p if p else math.nan for a, p in zip(self.accepted.tolist(), self.proposed.tolist())]

    def pooled(self) -> float:
        if self.proposed is None or not self.proposed.sum():
            return math.nan
        return (self.accepted.sum() / self.proposed.sum()).item()

    def report(self) -> tuple[float, list[float]]:
        """(pooled rate, rate per slot) since the last report, then start counting afresh."""
        out = self.pooled(), self.rates()
        if self.accepted is not None:
            self.accepted.zero_()
            self.proposed.zero_()
        return out

    def state(self) -> dict[str, Tensor]:
        if self.accepted is None:
            return {}
        return {f"{self.prefix}/accepted": self.accepted, f"{self.prefix}/proposed": self.proposed}

    def load_state(self, tensors) -> None:
        accepted, proposed = tensors.get(f"{self.prefix}/accepted"), tensors.get(f"{self.prefix}/proposed")
        if accepted is not None and len(accepted) != self.slots:
            raise ArgumentError(f"the saved acceptance counts cover {len(accepted)} slots, this engine has "
                                f"{self.slots}; resume with the temperatures or betas of the saved run")
        self.accepted = None if accepted is None else accepted.clone()
        self.proposed = None if proposed is None else proposed.clone()
