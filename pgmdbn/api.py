"""The plain entry points: log_likelihood and log_partition by a registered estimator."""
from __future__ import annotations

from .estimators.result import LogLikelihood
from .hooks import registry


def log_likelihood(model, data, method: str = "exact", **options) -> LogLikelihood:
    """Mean and per-example log p(v) of ``data`` (n, n_visible) in nats, by a registered estimator."""
    return registry.get("estimators", method)(model, data, **options)


def log_partition(model, method: str = "exact", **options) -> LogLikelihood:
    """log Z of ``model`` (the result's ``log_z``), by a registered estimator."""
    return registry.get("estimators", method)(model, None, **options)
