"""The engine and estimator contracts every built-in and plugin meets, as typed protocols; the
persistent-chain helper shared by PCD and DBM training; and the one registry query "which
engines or estimators handle this structure" that every refusal message uses.

Structures are the names ``Model.structure`` returns: "rbm", "dbm", "dbn", "sbn".
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import ClassVar, Protocol, runtime_checkable

import torch
from torch import Tensor

from .errors import UnsupportedModel
from .hooks import registry
from .results import LogLikelihood

States = Mapping[str, Tensor]


@runtime_checkable
class Sampler(Protocol):
    """A registered engine with ``kind = "sampler"``: draws states of the model's layers.

    ``run`` fills every layer not in ``clamp`` in ``states`` ({layer: (n, size)}), in place,
    and returns it; ``masks`` {layer: bool (size,) or (n, size)} keep only some units of a
    layer at their given values; layers in ``mean`` end on their conditional means.
    """

    kind: ClassVar[str]
    structures: ClassVar[tuple[str, ...]]

    def __init__(self, model, beta: float = 1.0, generator: torch.Generator | None = None) -> None: ...

    def run(self, states: dict[str, Tensor], steps: int = 1, clamp=(), masks: dict | None = None,
            mean=()) -> dict[str, Tensor]: ...


@runtime_checkable
class Trainer(Protocol):
    """A registered engine with ``kind = "trainer"``: a surrogate loss whose gradient is its update.

    The training loop owns everything else (batches, optimiser, schedules, checkpoints): it
    constructs the engine as ``cls(model, k=k, generator=generator, **options)``, sets ``k``
    each epoch (a schedule), feeds ``loss`` batches {layer: (b, size)} of the ``data_layers``,
    calls ``monitor`` on up to ``monitor_size`` rows after each epoch, and stores ``state()``
    (persistent chains) in checkpoints to hand back through ``load_state`` on resume.
    """

    kind: ClassVar[str]
    structures: ClassVar[tuple[str, ...]]
    data_layers: list[str]
    k: int

    def loss(self, batch: dict[str, Tensor]) -> Tensor: ...

    def monitor(self, data: dict[str, Tensor], valid: dict[str, Tensor] | None = None) -> dict[str, float]: ...

    def state(self) -> dict[str, Tensor]: ...

    def load_state(self, tensors: Mapping[str, Tensor]) -> None: ...


@runtime_checkable
class Estimator(Protocol):
    """A registered estimator: ``estimator(model, data, **options) -> LogLikelihood``.

    ``data`` is the visible layer's (n, size) array, or None for log Z alone; it refuses
    structures it does not handle with ``UnsupportedModel``. ``structures`` is set by ``supports``.
    """

    structures: tuple[str, ...]

    def __call__(self, model, data: Tensor | None, **options) -> LogLikelihood: ...


def supports(*structures: str) -> Callable:
    """Mark an estimator with the model structures it handles, so refusals can name the ones that do."""
    def mark(function):
        function.structures = structures
        return function
    return mark


def handlers(kind: str, structure: str | None = None, role: str | None = None) -> list[str]:
    """Registered names of ``kind`` ("engines" or "estimators") that declare ``structure`` (any,
    when None); ``role`` keeps engines of one kind ("trainer", "sampler")."""
    names = []
    for name in registry.names(kind):
        obj = registry.get(kind, name)
        if role is not None and getattr(obj, "kind", None) != role:
            continue
        if structure is None or structure in getattr(obj, "structures", ()):
            names.append(name)
    return names


def refusal(message: str, kind: str, structure: str, role: str | None = None) -> UnsupportedModel:
    """``UnsupportedModel`` whose message ends with the registered names that handle ``structure``."""
    what = role + "s" if role else kind
    able = ", ".join(handlers(kind, structure, role)) or "none"
    return UnsupportedModel(f"{message} ({what} that handle a {structure}: {able})")


def estimate(method: str, model, data: Tensor | None = None, **options) -> LogLikelihood:
    """Run the registered estimator ``method``; a refusal names the estimators that handle the model."""
    estimator = registry.get("estimators", method)
    try:
        return estimator(model, data, **options)
    except UnsupportedModel as error:
        refused = refusal(str(error), "estimators", model.structure)
        if type(error) is not UnsupportedModel:  # keep the subclass (TooExpensive: also a MemoryError)
            figures = dict(vars(error))  # and its attributes (a refusal's figures)
            refused = type(error)(str(refused))
            vars(refused).update(figures)
        raise refused from None


class PersistentChains:
    """Markov chains carried across updates (PCD, DBM training), saved in checkpoints as
    ``chain/<layer>`` tensors so that a resumed run continues the same chains."""

    def __init__(self):
        self.states: dict[str, Tensor] | None = None

    def start(self, states: dict[str, Tensor]) -> dict[str, Tensor]:
        """Begin the chains at ``states`` (copied) unless they are running already; returns them."""
        if self.states is None:
            self.states = {n: x.clone() for n, x in states.items()}
        return self.states

    def state(self) -> dict[str, Tensor]:
        return {} if self.states is None else {f"chain/{n}": x for n, x in self.states.items()}

    def load_state(self, tensors: Mapping[str, Tensor]) -> None:
        self.states = {k.split("/", 1)[1]: x for k, x in tensors.items() if k.startswith("chain/")} or None
