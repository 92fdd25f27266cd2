"""Resource limits, checked before anything is allocated.

``pgmdbn.limits`` is one mutable object read by ``Model.add_layer`` and the factors (before
they create parameters), by the spec and model-file loaders (before a model is built), by exact
enumeration (the numbers it would compute, from the sizes alone) and by AIS/RAISE (their memory).
The resource limits are judged from the size of a request, never from a measured time, so
the same request gets the same answer on any machine. Raise a limit for a job that needs more, for a
whole session (``pgmdbn.limits.max_parameters = 4 * 10**9``) or for a block
(``with pgmdbn.limits.override(max_exact_work=2**36): ...``). A request beyond a limit raises
``ResourceLimitError`` (also a ``MemoryError``) naming the limit and how to raise it.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, fields

from .errors import ArgumentError, ResourceLimitError

__all__ = ["Limits", "limits"]


@dataclass
class Limits:
    #: units in one layer
    max_layer_units: int = 10 ** 8
    #: parameters of one model (all layers and factors); 10^9 float32 numbers are 4 GB
    max_parameters: int = 10 ** 9
    #: numbers exact enumeration may compute (joint states × rows × numbers per state), judged
    #: from the sizes before any work; an explicit ``max_states=`` replaces it for one call
    max_exact_work: float = 2.0 ** 32
    #: bytes AIS/RAISE may hold for their chains and temperature schedule
    max_ais_bytes: int = 4 * 2 ** 30
    #: bytes of a model file's JSON header
    max_header_bytes: int = 64 * 2 ** 20
    #: nesting depth of JSON in model files and spec files
    max_json_depth: int = 64
    #: training diverges when the parameter norm or the loss grows by this factor over its start
    divergence_factor: float = 1e4

    def __setattr__(self, name, value):
        if name not in {f.name for f in fields(Limits)}:
            raise AttributeError(f"pgmdbn.limits has no limit {name!r}; limits: "
                                 f"{', '.join(f.name for f in fields(Limits))}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ArgumentError(f"pgmdbn.limits.{name}={value!r} must be a positive number")
        super().__setattr__(name, value)

    @contextlib.contextmanager
    def override(self, **values):
        """Temporarily set some limits: ``with pgmdbn.limits.override(max_parameters=10**10): ...``."""
        old = {name: getattr(self, name) for name in values}
        try:
            for name, value in values.items():
                setattr(self, name, value)
            yield self
        finally:
            for name, value in old.items():
                object.__setattr__(self, name, value)

    def check(self, name: str, amount: float, what: str) -> None:
        """Raise ResourceLimitError when ``amount`` exceeds the limit ``name``."""
        limit = getattr(self, name)
        if amount > limit:
            raise ResourceLimitError(f"{what}: {amount:,.0f} exceeds pgmdbn.limits.{name}={limit:,.0f}; nothing was "
                                     f"allocated. Shrink it, or raise the limit (pgmdbn.limits.{name} = ...) if this "
                                     f"machine can hold it")


limits = Limits()
