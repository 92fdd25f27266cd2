"""The unit-type contract.

A layer of units is an exponential family in its *statistic* ``s(x)``:

    p(x | eta) ∝ exp(-base_energy(x) + beta * s(x) · eta)

where ``eta`` (the *field*) is the layer's natural bias plus everything the factors send in
(``W s(x_other)``). Every engine and estimator is written against the methods below, so a new
unit type only has to describe its own conditional distribution.

Shapes: ``x`` and ``eta`` are ``(..., size)``; per-example reductions return ``(...)``.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import DataError


def scaled(eta: Tensor, beta: float) -> Tensor:
    """beta * eta, without the copy when beta is 1 (the common case in training and enumeration)."""
    return eta if isinstance(beta, (int, float)) and beta == 1 else beta * eta


class Units(nn.Module):
    """A layer of ``size`` units of one type; subclasses set ``name`` and ``discrete``."""

    name: str = "units"
    discrete: bool = True

    def __init__(self, size: int):
        super().__init__()
        if int(size) != size or size < 1:
            raise ValueError(f"{type(self).__name__}: size must be a positive integer, got {size!r}")
        self.size = int(size)
        self.bias = nn.Parameter(torch.zeros(self.size))
        self.layer_name = "?"  # set by Model.add_layer, used in error messages

    # --- the conditional distribution given a field ------------------------------------
    def log_partition(self, eta: Tensor, beta: float = 1.0, like: Tensor | None = None) -> Tensor:
        """Σ over units of the cumulant A(beta*eta): (..., size) -> (...)."""
        raise NotImplementedError

    def mean(self, eta: Tensor, beta: float = 1.0, like: Tensor | None = None) -> Tensor:
        """E[x | eta]: (..., size) -> (..., size)."""
        raise NotImplementedError

    def sample(self, eta: Tensor, beta: float = 1.0, generator: torch.Generator | None = None,
               like: Tensor | None = None) -> Tensor:
        """One draw of x given eta: (..., size) -> (..., size)."""
        raise NotImplementedError

    def mode(self, eta: Tensor, like: Tensor | None = None) -> Tensor:
        """The most probable x given eta."""
        raise NotImplementedError

    # --- the layer's own terms ---------------------------------------------------------
    def statistic(self, x: Tensor) -> Tensor:
        """s(x), what the layer sends through its factors (x itself for most types)."""
        return x

    def base_energy(self, x: Tensor) -> Tensor:
        """Energy terms that do not involve the bias (e.g. Gaussian quadratic): (..., size) -> (...)."""
        return x.new_zeros(x.shape[:-1])

    def energy(self, x: Tensor) -> Tensor:
        """The layer's own energy: base energy minus bias · s(x). (..., size) -> (...)."""
        return self.base_energy(x) - self.statistic(x) @ self.bias.to(x.dtype)

    def field(self, inputs: Tensor | None = None) -> Tensor:
        """eta = natural bias + inputs from factors."""
        return self.bias if inputs is None else inputs + self.bias.to(inputs.dtype)

    # --- enumeration, data, conditioning ----------------------------------------------
    def states(self, like: Tensor | None = None) -> Tensor:
        """All joint states of the layer, (n_states, size); only for small discrete layers."""
        raise DataError(f"layer {self.layer_name!r} ({self.name}) has no finite state space to enumerate")

    def state_chunks(self, chunk_size: int, like: Tensor | None = None):
        """Yield ``states(like)`` in pieces of at most ``chunk_size`` rows (bounded memory)."""
        yield from self.states(like).split(chunk_size)

    def unit_values(self) -> Tensor | None:
        """The values one unit can take, for layers of independent discrete units (else None);
        pseudo-likelihood conditions on all units but one."""
        return None

    def log_state_count(self, like: Tensor | None = None) -> float:
        """log of the number of joint states (to decide whether enumeration is feasible)."""
        return float("inf")

    def conserved(self, x: Tensor) -> Tensor | None:
        """Per-example quantities a sampler must keep fixed (e.g. document length), or None."""
        return None

    def validate(self, x: Tensor, *, exact: bool = False) -> Tensor:
        """Check shape and finiteness of data for this layer; subclasses add domain checks.

        ``exact=True`` asks for the strict domain an exact likelihood needs (e.g. {0, 1}).
        """
        if not isinstance(x, Tensor):
            x = torch.as_tensor(x)
        if x.ndim != 2 or x.shape[-1] != self.size:
            raise DataError(
                f"layer {self.layer_name!r} expects data of shape (n, {self.size}), got {tuple(x.shape)}; "
                f"reshape or select the right columns")
        if x.shape[0] == 0:
            raise DataError(f"layer {self.layer_name!r}: the data set is empty")
        if x.is_floating_point():
            bad = ~torch.isfinite(x)
            if bad.any():
                row, col = (int(i) for i in bad.nonzero()[0])
                raise DataError(
                    f"layer {self.layer_name!r}: non-finite value {x[row, col].item()} at row {row}, "
                    f"column {col}; remove or impute missing values first")
        return x

    def _first_bad(self, x: Tensor, bad: Tensor, domain: str, fix: str) -> None:
        if bad.any():
            row, col = (int(i) for i in bad.nonzero()[0])
            raise DataError(
                f"layer {self.layer_name!r} ({self.name}) needs values in {domain}, got {x[row, col].item()} "
                f"at row {row}, column {col}; {fix}")

    def base_rate_bias(self, x: Tensor) -> Tensor:
        """The bias under which independent units match the data's marginals (the other
        parameters kept as they are); AIS starts from it."""
        return torch.zeros_like(self.bias)

    def init_from_data(self, x: Tensor) -> None:
        """Base-rate initialisation of the bias from data of this layer."""
        with torch.no_grad():
            self.bias.copy_(self.base_rate_bias(x))

    def config(self) -> dict:
        """Constructor arguments besides ``size`` (for save/load and printing)."""
        return {}

    def extra_repr(self) -> str:
        extra = "".join(f", {k}={v}" for k, v in self.config().items())
        return f"{self.name}, size={self.size}{extra}"
