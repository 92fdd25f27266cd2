"""Exact log partition functions and log-likelihoods by enumeration.

Undirected models whose layers split into two conditionally independent colour classes
(RBMs, DBMs): the cheaper colour class is enumerated in bounded-memory chunks and the other
summed or integrated out analytically through its unit types' log partitions (the free
energy), in float64; see ``enumerate.py``. Models with directed factors (DBNs, sigmoid belief
nets) enumerate their directed hidden layers; see ``directed.py``.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .. import validation
from ..protocols import supports
from ..results import LogLikelihood
from .checks import no_nan
from .directed import exact_directed
from .enumerate import check_size, log_marginal, plan


@supports("rbm", "dbm", "dbn", "sbn")
def exact(model, data: Tensor | None = None, *, max_states: float | None = None,
          progress: bool = True) -> LogLikelihood:
    """log Z, and with ``data`` the exact log p(v) per example (nats), by enumerating the joint
    states of the cheaper colour class of layers.

    The request is refused before any work when it is too large, from its size alone (the same
    answer on every run): by default when it would compute more than
    ``pgmdbn.limits.max_exact_work`` numbers (joint states × rows × numbers per state);
    ``max_states=2**k`` instead accepts up to 2^k joint states per enumeration, whatever the
    time. The refusal (``TooExpensive``) names both and ``method='ais'``."""
    if not model.is_undirected:
        result = exact_directed(model, data, max_states=max_states, progress=progress)
        no_nan(model, "exact", result.per_example, result.log_z)
        return result
    visible = model.visible
    device = next(model.parameters()).device
    x = None
    if data is not None:
        data = validation.tensor("data", data, allow_grad=True).detach()
        x = model.layer(visible).validate(data, exact=True).to(device, torch.float64)
    conserved = model.layer(visible).conserved(x) if x is not None else None
    groups = [None] if conserved is None else list(torch.unique(conserved, dim=0))
    likes = [None if value is None else {visible: x[(conserved == value).all(-1).nonzero()[0]]} for value in groups]
    # the whole request's size, judged before any work: log Z once per group, then the rows
    check_size([plan(model, [], like) for like in likes] + ([plan(model, [visible], None, len(x))] if x is not None
                                                            else []), max_states)
    log_z = {}
    with torch.no_grad():
        for value, like in zip(groups, likes):
            key = None if value is None else tuple(value.tolist())
            log_z[key] = log_marginal(model, {}, like, max_states, progress).item()
        if x is None:
            (z,) = log_z.values()
            no_nan(model, "exact", None, z)
            return LogLikelihood(None, None, z, "exact", "exact")
        unnorm = torch.cat([log_marginal(model, {visible: rows}, None, max_states, False) for rows in x.split(1024)])
        keys = [None] * len(x) if conserved is None else [tuple(c.tolist()) for c in conserved]
        z = torch.tensor([log_z[key] for key in keys], dtype=torch.float64, device=device)
    per_example = (unnorm - z).cpu()
    no_nan(model, "exact", per_example)  # a NaN log Z shows in every row
    reported = next(iter(log_z.values())) if len(log_z) == 1 else None
    return LogLikelihood(per_example.mean().item(), per_example, reported, "exact", "exact",
                         spread={"std_per_example": per_example.std().item() if len(x) > 1 else 0.0})
