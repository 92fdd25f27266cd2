"""The one check every built-in estimator makes of its result before returning it: no NaN.

A NaN log-likelihood or log Z is never an answer. It comes from plugin code that breaks the unit
contract (a ``log_partition``, ``mean`` or ``sample`` returning NaN) or from parameters that hold
non-finite values; the check runs once per result, outside every inner loop, and names the
culprit: the plugin types involved (PluginError), or the non-finite parameters (ModelError).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from ..errors import ModelError, PluginError
from ..graph import plugin_types


def no_nan(model, method: str, per_example: Tensor | None = None, log_z: float | None = None) -> None:
    """Raise when the ``method`` estimate of ``model`` holds NaN (per-example values (n,) or
    log Z); infinite values pass (a state of probability 0 has log-likelihood -inf)."""
    bad = []
    if log_z is not None and math.isnan(log_z):
        bad.append("log Z")
    if per_example is not None and torch.isnan(per_example).any():
        count = int(torch.isnan(per_example).sum())
        bad.append(f"{count} of {per_example.numel()} per-example values")
    if not bad:
        return
    what = f"the {method!r} estimate is NaN ({' and '.join(bad)})"
    blame = plugin_types(model)
    if blame:
        raise PluginError(f"{what}; plugin code involved: {blame}. A unit type's log_partition, mean or sample (or "
                          f"a factor's message) returned NaN: check it on the model's fields")
    broken = [name for name, p in model.named_parameters() if not torch.isfinite(p).all()]
    if broken:
        raise ModelError(f"{what}: parameter(s) {', '.join(broken[:5])} hold NaN or infinite values; reload the "
                         f"model from a good checkpoint or retrain it")
    raise ModelError(f"{what}, though every parameter is finite: the parameters are too large for the float64 "
                     f"arithmetic (largest magnitude {max(p.abs().max().item() for p in model.parameters()):.3g}); "
                     f"retrain with a lower lr or weight_decay")
