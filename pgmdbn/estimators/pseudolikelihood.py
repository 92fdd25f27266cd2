"""Pseudo-likelihood Σ_i log p(v_i | v_-i) of an RBM's visible layer (Besag 1975).

Exact: every unit, each conditional from the free energies of v with that unit set to each of
its values. Stochastic: one random unit per example, scaled by the number of units (the
estimate scikit-learn's BernoulliRBM.score_samples reports). For layers of independent
discrete units (Bernoulli, spin, ...).
"""
from __future__ import annotations

import torch
from torch import Tensor

from .. import validation
from ..errors import UnsupportedModel
from ..protocols import supports
from ..results import LogLikelihood
from .checks import no_nan

ROWS_PER_CHUNK = 2 ** 14


def _conditional(model, visible, x: Tensor, f0: Tensor, units_idx: Tensor, values: Tensor) -> Tensor:
    """log p(x_i | x_-i) for one unit index per row: x (m, d), units_idx (m,) -> (m,)."""
    k = len(values)
    flipped = x.repeat_interleave(k, 0)
    rows = torch.arange(len(flipped), device=x.device)
    flipped[rows, units_idx.repeat_interleave(k)] = values.repeat(len(x))
    f = model.free_energy({visible: flipped}).reshape(len(x), k)
    return -f0 - torch.logsumexp(-f, 1)


@supports("rbm")
@torch.no_grad()
def pseudo_likelihood(model, data: Tensor, *, stochastic: bool = False, seed: int = 0, progress: bool = True
                      ) -> LogLikelihood:
    """Σ_i log p(v_i | v_-i) per example of ``data`` (n, n_visible), in nats; not log p(v).

    ``stochastic=False``: every unit (kind "pseudo-likelihood"); ``stochastic=True``: one unit
    per example drawn with a generator seeded ``seed``, times the number of units (kind
    "pseudo-likelihood estimate", scikit-learn's ``score_samples``). ``spread`` holds
    "stochastic". Refuses (``UnsupportedModel``) a visible layer whose units are not independent
    and discrete."""
    visible, _ = model.pair()
    units = model.layer(visible)
    values = units.unit_values()
    if values is None:
        raise UnsupportedModel(f"pseudo-likelihood needs a visible layer of independent discrete units; layer "
                               f"{visible!r} is {units.name}. Use 'exact', 'ais' or 'raise'")
    device = next(model.parameters()).device
    x = units.validate(validation.tensor("data", data, allow_grad=True).detach(), exact=True).to(device, torch.float64)
    values = values.to(device, torch.float64)
    f0 = model.free_energy({visible: x})
    d = units.size
    if stochastic:
        gen = torch.Generator(device=device).manual_seed(seed)
        idx = torch.randint(d, (len(x),), generator=gen, device=device)
        per_example = d * _conditional(model, visible, x, f0, idx, values)
    else:
        per_example = torch.zeros(len(x), dtype=torch.float64, device=device)
        step = max(1, ROWS_PER_CHUNK // (len(values) * len(x)))
        for start in range(0, d, step):
            idx = torch.arange(start, min(start + step, d), device=device)
            m = len(idx)
            cond = _conditional(model, visible, x.repeat(m, 1), f0.repeat(m), idx.repeat_interleave(len(x)), values)
            per_example += cond.reshape(m, len(x)).sum(0)
    per_example = per_example.cpu()
    no_nan(model, "pl", per_example)
    kind = "pseudo-likelihood estimate" if stochastic else "pseudo-likelihood"
    return LogLikelihood(per_example.mean().item(), per_example, None, kind, "pl", {"stochastic": stochastic})
