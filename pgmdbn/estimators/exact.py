"""Exact log partition function and log-likelihood of an RBM by enumeration.

The smaller discrete layer is enumerated in bounded-memory chunks; the other layer is summed
or integrated out analytically through its unit type's log partition (the free energy), all
in float64. Works for every unit type that honours the contract.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from ..errors import UnsupportedModel
from .result import LogLikelihood

ELEMENTS_PER_CHUNK = 2 ** 21  # states × units of the summed layer, ~16 MB of float64 per chunk


def exact(model, data: Tensor | None = None, *, max_states: float = 2 ** 30, progress: bool = True) -> LogLikelihood:
    """log Z, and with ``data`` the exact log p(v) per example (nats)."""
    visible, hidden = model.pair()
    device = next(model.parameters()).device
    x = None
    if data is not None:
        x = model.layer(visible).validate(torch.as_tensor(data), exact=True).to(device, torch.float64)
    conserved = model.layer(visible).conserved(x) if x is not None else None
    groups = [None] if conserved is None else list(torch.unique(conserved, dim=0))
    log_z = {}
    with torch.no_grad():
        for value in groups:
            like = None if value is None else x[(conserved == value).all(-1).nonzero()[0]]
            log_z[None if value is None else tuple(value.tolist())] = _log_z(model, like, max_states, progress)
        if x is None:
            (z,) = log_z.values()
            return LogLikelihood(None, None, z, "exact", "exact")
        f = torch.cat([model.free_energy({visible: rows}) for rows in x.split(4096)])
        keys = [None] * len(x) if conserved is None else [tuple(c.tolist()) for c in conserved]
        z = torch.tensor([log_z[key] for key in keys], dtype=torch.float64, device=device)
    per_example = (-f - z).cpu()
    reported = next(iter(log_z.values())) if len(log_z) == 1 else None
    return LogLikelihood(per_example.mean().item(), per_example, reported, "exact", "exact",
                         spread={"std_per_example": per_example.std().item() if len(x) > 1 else 0.0})


def _log_z(model, like: Tensor | None, max_states: float, progress: bool) -> float:
    """log Σ_s exp(-F(s)) over all states s of the enumerated layer. ``like``: (1, n_visible) or None."""
    visible, _ = model.pair()
    enumerated = _pick_layer(model, like, max_states)
    summed = next(n for n in model.layers if n != enumerated)
    units = model.layer(enumerated)
    own_like = like if enumerated == visible else None
    other_like = {summed: like} if summed == visible and like is not None else None
    chunk = max(1, ELEMENTS_PER_CHUNK // model.layer(summed).size)
    device = next(model.parameters()).device
    n_chunks = math.ceil(math.exp(units.log_state_count(own_like)) / chunk)
    bar = _bar(progress and n_chunks > 32, n_chunks)
    parts = []
    for states in units.state_chunks(chunk, own_like):
        states = states.to(device, torch.float64)
        parts.append(torch.logsumexp(-model.free_energy({enumerated: states}, like=other_like), 0))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return torch.logsumexp(torch.stack(parts), 0).item()


def _pick_layer(model, like, max_states) -> str:
    visible, _ = model.pair()
    counts = {n: u.log_state_count(like if n == visible else None)
              for n, u in model.layers.items() if u.discrete}
    if not counts:
        raise UnsupportedModel("exact enumeration needs a discrete layer; both layers of this RBM are continuous. "
                               "Use method='ais'")
    name = min(counts, key=counts.get)
    if counts[name] > math.log(max_states):
        raise UnsupportedModel(f"exact enumeration of layer {name!r} would visit about e^{counts[name]:.1f} states, "
                               f"more than max_states={max_states:.3g}; use method='ais' or raise max_states")
    return name


def _bar(enabled, total):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="chunk", desc="exact log Z", leave=False, disable=None)
