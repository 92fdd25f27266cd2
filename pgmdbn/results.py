"""The one result type every estimator returns."""
from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor

KINDS = ("exact", "estimate", "stochastic lower bound", "lower bound", "upper bound", "pseudo-likelihood",
         "pseudo-likelihood estimate")


@dataclass
class LogLikelihood:
    """A log-likelihood (nats per example) or log partition function, and what kind of number it is.

    ``mean`` is the average of ``per_example`` (None for a bare log Z); ``log_z`` the log
    partition function used; ``kind`` one of KINDS; ``spread`` the estimator's uncertainty
    (e.g. standard deviation, effective sample size; empty for exact values).
    """

    mean: float | None
    per_example: Tensor | None
    log_z: float | None
    kind: str
    method: str
    spread: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")

    def to_dict(self) -> dict:
        return {"mean": self.mean, "log_z": self.log_z, "kind": self.kind, "method": self.method,
                "n_examples": None if self.per_example is None else len(self.per_example),
                "spread": self.spread, "warnings": self.warnings}

    def __str__(self) -> str:
        value = self.log_z if self.mean is None else self.mean
        what = "log Z" if self.mean is None else "log p(v)"
        return f"{what} = {value:.4f} nats ({self.kind}, {self.method})"
