"""The plain entry points: log_likelihood and log_partition by a registered estimator."""
from __future__ import annotations

from .errors import UnsupportedModel
from .results import LogLikelihood
from .hooks import registry


def log_likelihood(model, data, method: str = "exact", **options) -> LogLikelihood:
    """Mean and per-example log p(v) of ``data`` (n, n_visible) in nats, by a registered estimator."""
    return _run(method, model, data, options)


def log_partition(model, method: str = "exact", **options) -> LogLikelihood:
    """log Z of ``model`` (the result's ``log_z``), by a registered estimator."""
    return _run(method, model, None, options)


def _run(method, model, data, options):
    estimator = registry.get("estimators", method)
    try:
        return estimator(model, data, **options)
    except UnsupportedModel as error:
        kind = model.structure
        able = [n for n in registry.names("estimators") if n != method
                and kind in getattr(registry.get("estimators", n), "structures", ())]
        raise UnsupportedModel(f"{error} (estimators that handle a {kind}: {', '.join(able) or 'none'})") from None


def supports(*structures: str):
    """Mark an estimator with the model structures it handles (rbm, dbm, dbn, sbn), so that a
    refusal can name the ones that do."""
    def mark(function):
        function.structures = structures
        return function
    return mark
