"""Likelihoods of models with directed factors: DBNs (directed layers under an undirected top)
and sigmoid belief nets (all directed).

    log p(v, h) = Σ_directed log p(child | parents) + log p_top(top layers) [+ log p(root | bias)]

where p_top is the undirected part's marginal over the layers it shares with the directed part
(its other layers summed or enumerated), normalised by its log Z (exact or AIS). The recognition
up-pass q(h | v) = Π q(parent | children) gives the variational bound (Salakhutdinov & Murray
2008) and the importance-weighted bound with K samples; small models are enumerated exactly.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from ..errors import UnsupportedModel
from .exact import _log_count, joint_state_chunks, log_marginal
from ..api import supports
from ..results import LogLikelihood


def log_prob(units, x: Tensor, eta: Tensor) -> Tensor:
    """log p(x | eta) of a unit type, from its contract: -base(x) + s(x)·eta - A(eta)."""
    return -units.base_energy(x) + (units.statistic(x) * eta).sum(-1) - units.log_partition(eta, like=x)


def hidden_order(model) -> list[str]:
    """Layers reached by the recognition up-pass, bottom-up: every layer with a directed child."""
    visible = next(iter(model.layers))
    order, frontier = [], [visible]
    while frontier:
        child = frontier.pop(0)
        for parent in model.parents_of(child):
            if parent not in order and all(c == visible or c in order for c in model.children_of(parent)):
                order.append(parent)
                frontier.append(parent)
    return order


def recognition_field(model, parent: str, states: dict) -> Tensor:
    """The field of q(parent | children) from the children's states: (n, size of parent)."""
    ref = next(iter(states.values()))
    return sum(model.factor(parent, c).recognise(model.layer(c).statistic(states[c]).to(ref.dtype))
               for c in model.children_of(parent))


def up_pass(model, v: Tensor, generator=None, sample: bool = True) -> tuple[dict, Tensor]:
    """Draw h ~ q(h | v) level by level; returns the states and log q(h | v) (batch,)."""
    states, log_q = {next(iter(model.layers)): v}, torch.zeros(len(v), dtype=v.dtype, device=v.device)
    for parent in hidden_order(model):
        units = model.layer(parent)
        eta = recognition_field(model, parent, states)
        states[parent] = units.sample(eta, 1.0, generator) if sample else units.mean(eta)
        log_q = log_q + log_prob(units, states[parent], eta)
    return states, log_q


class TopPrior:
    """The undirected part of a DBN as a prior over the layers it shares with the directed part."""

    def __init__(self, model, log_z: float | str = "exact", **ais_options):
        self.layers = model.undirected_layers()
        self.top = model.submodel(self.layers) if self.layers else None
        self.log_z = 0.0
        if self.top is not None:
            if isinstance(log_z, str):
                from ..api import log_partition

                log_z = log_partition(self.top, method=log_z, **ais_options).log_z
            self.log_z = float(log_z)

    def log_prob(self, states: dict) -> Tensor:
        given = {n: states[n] for n in self.layers if n in states}
        return log_marginal(self.top, given) - self.log_z


def log_joint(model, states: dict, prior: TopPrior) -> Tensor:
    """log p(v, h) for states of the visible layer and every layer of the up-pass."""
    total = 0.0
    for name, x in states.items():
        units = model.layer(name)
        if model.parents_of(name):
            total = total + log_prob(units, x, model.field(name, {p: states[p] for p in model.parents_of(name)}))
        elif name not in prior.layers:
            total = total + log_prob(units, x, units.field(torch.zeros_like(x)))
    if prior.top is not None:
        total = total + prior.log_prob(states)
    return total


def _check(model):
    if model.is_undirected:
        raise UnsupportedModel("this estimator needs directed factors (DBN or sigmoid belief net); for RBMs and "
                               "DBMs use 'exact', 'ais' or 'bound'")
    for name in model.undirected_layers():
        if model.parents_of(name):
            raise UnsupportedModel(f"layer {name!r} has directed parents and undirected factors; the top of a "
                                   f"DBN must be a purely undirected part")


def _data(model, data):
    visible = next(iter(model.layers))
    device = next(model.parameters()).device
    return model.layer(visible).validate(torch.as_tensor(data), exact=True).to(device, torch.float64)


@torch.no_grad()
def importance_weights(model, data: Tensor, k: int, prior: TopPrior, seed: int = 0) -> Tensor:
    """log p(v, h) - log q(h | v) for k recognition samples per example: (n, k) in float64."""
    x = _data(model, data)
    gen = torch.Generator(device=x.device).manual_seed(seed)
    reps = x.repeat_interleave(k, 0)
    states, log_q = up_pass(model, reps, gen)
    return (log_joint(model, states, prior) - log_q).reshape(len(x), k).cpu()


@supports("rbm", "dbm", "dbn", "sbn")
def bound(model, data: Tensor, *, k: int = 10, log_z: float | str = "exact", seed: int = 0, progress: bool = True,
          **ais_options) -> LogLikelihood:
    """The variational lower bound E_q[log p(v, h) - log q(h | v)], averaged over ``k`` samples.

    For DBMs this is the mean-field bound instead (see dbm_bound)."""
    if model.is_undirected:
        from .meanfield_bound import dbm_bound

        return dbm_bound(model, data, log_z=log_z, progress=progress, **ais_options)
    _check(model)
    prior = TopPrior(model, log_z, progress=progress, **ais_options)
    log_w = importance_weights(model, data, k, prior, seed)
    per_example = log_w.mean(1)
    spread = {"samples": k, "std_error": (log_w.std(1) / math.sqrt(k)).mean().item() if k > 1 else None,
              "log_z_top": prior.log_z}
    return LogLikelihood(per_example.mean().item(), per_example, prior.log_z, "stochastic lower bound", "bound",
                         spread, _log_z_note(log_z))


@supports("dbn", "sbn")
def iwae(model, data: Tensor, *, k: int = 100, log_z: float | str = "exact", seed: int = 0, progress: bool = True,
         **ais_options) -> LogLikelihood:
    """The importance-weighted bound log (1/K) Σ_k p(v, h_k) / q(h_k | v); K=1 is the variational
    bound in expectation, and it tightens as K grows (Burda, Grosse & Salakhutdinov 2016)."""
    _check(model)
    prior = TopPrior(model, log_z, progress=progress, **ais_options)
    log_w = importance_weights(model, data, k, prior, seed)
    per_example = torch.logsumexp(log_w, 1) - math.log(k)
    w = torch.softmax(log_w, 1)
    spread = {"samples": k, "ess_mean": (1 / (w ** 2).sum(1)).mean().item(), "log_z_top": prior.log_z}
    return LogLikelihood(per_example.mean().item(), per_example, prior.log_z, "stochastic lower bound", "iwae",
                         spread, _log_z_note(log_z))


def _log_z_note(log_z) -> list[str]:
    if log_z == "ais":
        return ["the top RBM's log Z is an AIS estimate, so the bound holds only up to its error"]
    return []


@torch.no_grad()
def exact_directed(model, data: Tensor | None, *, max_states: float = 2 ** 30, progress: bool = True) -> LogLikelihood:
    """Exact log p(v) of a small DBN or sigmoid belief net by enumerating its up-pass layers."""
    _check(model)
    prior = TopPrior(model, "exact", max_states=max_states, progress=progress)
    if data is None:
        return LogLikelihood(None, None, prior.log_z, "exact", "exact")
    hidden = hidden_order(model)
    count = _log_count(model, hidden, None)
    if count > math.log(max_states):
        raise UnsupportedModel(f"exact enumeration of layers {', '.join(hidden)} would visit about e^{count:.1f} "
                               f"states; use method='bound' or 'iwae'")
    x = _data(model, data)
    visible = next(iter(model.layers))
    parts = []
    for rows in x.split(256):
        terms = []
        for states in joint_state_chunks(model, hidden, max(1, 2 ** 16 // len(rows))):
            m = len(next(iter(states.values())))
            full = {n: s.to(x.device, torch.float64).repeat(len(rows), 1) for n, s in states.items()}
            full[visible] = rows.repeat_interleave(m, 0)
            terms.append(log_joint(model, full, prior).reshape(len(rows), m))
        parts.append(torch.logsumexp(torch.cat(terms, 1), 1))
    per_example = torch.cat(parts).cpu()
    return LogLikelihood(per_example.mean().item(), per_example, prior.log_z, "exact", "exact",
                         spread={"std_per_example": per_example.std().item() if len(x) > 1 else 0.0})
