"""The mean-field variational lower bound on log p(v) of an undirected model (a DBM):

    log p(v) ≥ -E_v(v) + Σ_factors E[s_a]ᵀ W E[s_b] + Σ_hidden [A_l(λ_l) - E[s_l]·(λ_l - b_l)] - log Z

for a factorised q with natural parameters λ; base energies cancel between the expected energy
and the entropy, so only the unit types' log partitions and expected statistics appear. The
statistics of all built-in unit types are linear in x, so E[s(x)] = s(E[x]).
"""
from __future__ import annotations

import torch
from torch import Tensor

from .. import validation
from ..inference import mean_field
from ..protocols import estimate
from ..results import LogLikelihood


@torch.no_grad()
def mean_field_elbo(model, v: Tensor, steps: int = 50) -> Tensor:
    """The bound without -log Z, (batch,) in float64."""
    visible = model.visible
    means, fields = mean_field(model, {visible: v}, steps)
    stats = {n: model.layer(n).statistic(x) for n, x in {visible: v, **means}.items()}
    total = -model.layer(visible).energy(v)
    for f in model.factors.values():
        total = total + f.interaction(stats[f.a], stats[f.b])
    for n in means:
        units = model.layer(n)
        total = total + units.log_partition(fields[n]) - (stats[n] * (fields[n] - units.bias.double())).sum(-1)
    return total


def dbm_bound(model, data: Tensor, *, log_z: float | str = "exact", steps: int = 50, progress: bool = True,
              **ais_options) -> LogLikelihood:
    """Mean-field lower bound on log p(v) per example; log Z exact, by AIS, or given."""
    visible = model.visible
    device = next(model.parameters()).device
    data = validation.tensor("data", data, allow_grad=True).detach()
    x = model.layer(visible).validate(data, exact=True).to(device, torch.float64)
    warnings = []
    if isinstance(log_z, str):
        # exact log Z takes only max_states of the options; AIS takes them all
        options = ais_options if log_z == "ais" else {k: v for k, v in ais_options.items() if k == "max_states"}
        result = estimate(log_z, model, progress=progress, **options)
        log_z, warnings = result.log_z, list(result.warnings)
        if result.kind != "exact":
            warnings.append("log Z is an AIS estimate, so the bound holds only up to its error")
    per_example = torch.cat([mean_field_elbo(model, rows, steps) for rows in x.split(4096)]).cpu() - log_z
    return LogLikelihood(per_example.mean().item(), per_example, float(log_z), "lower bound", "bound",
                         {"mean_field_steps": steps}, warnings)
