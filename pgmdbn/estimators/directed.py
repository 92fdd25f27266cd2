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

from .. import distributed, validation
from ..errors import UnsupportedModel
from ..inference import log_joint, up_pass
from ..protocols import estimate, supports
from ..results import LogLikelihood
from .enumerate import Enumeration, check_size, joint_state_chunks, log_count, log_marginal, plan, touched
from .meanfield_bound import dbm_bound


class TopPrior:
    """The undirected part of a DBN as a prior over the layers it shares with the directed part."""

    def __init__(self, model, log_z: float | str = "exact", **ais_options):
        self.layers = model.undirected_layers()
        self.top = model.submodel(self.layers) if self.layers else None
        self.max_states = ais_options.get("max_states") if log_z == "exact" else None
        self.log_z = 0.0
        if self.top is not None:
            if isinstance(log_z, str):
                log_z = estimate(log_z, self.top, **ais_options).log_z
            self.log_z = float(log_z)

    def log_prob(self, states: dict) -> Tensor:
        """log p_top of the top layers in ``states`` (its other layers summed out): (n,)."""
        given = {n: states[n] for n in self.layers if n in states}
        return log_marginal(self.top, given, max_states=self.max_states) - self.log_z

    def joint(self, model, states: dict) -> Tensor:
        """log p(v, h) of the model with this prior on its undirected part: (n,)."""
        return log_joint(model, states, self.log_prob if self.top is not None else None)


def _check(model):
    if model.is_undirected:
        raise UnsupportedModel(f"this estimator needs directed factors (DBN or sigmoid belief net); the model is "
                               f"a {model.structure}")
    for name in model.undirected_layers():
        if model.parents_of(name):
            raise UnsupportedModel(f"layer {name!r} has directed parents and undirected factors; the top of a "
                                   f"DBN must be a purely undirected part")


def _data(model, data):
    device = next(model.parameters()).device
    data = validation.tensor("data", data, allow_grad=True).detach()
    return model.layer(model.visible).validate(data, exact=True).to(device, torch.float64)


@torch.no_grad()
def importance_weights(model, data: Tensor, k: int, prior: TopPrior, seed: int = 0,
                       blocks: int | None = None) -> Tensor:
    """log p(v, h) - log q(h | v) for k recognition samples per example: (n, k) in float64.

    The examples form ``blocks`` contiguous blocks (default: the ``torch.distributed`` world
    size), block b sampled with a generator seeded ``distributed.block_seed(seed, b)``; under a
    process group rank r computes blocks r, r + world, … and every rank returns all the rows,
    equal to one process's with the same ``blocks``."""
    x = _data(model, data)
    blocks = min(validation.blocks(blocks) or distributed.world_size(), len(x))
    if blocks > 1:
        world, here = distributed.world_size(), distributed.rank()
        mine = {b: importance_weights(model, x[distributed.shard(len(x), blocks, b)], k, prior,
                                      distributed.block_seed(seed, b), blocks=1)
                for b in range(here if world > 1 else 0, blocks, world if world > 1 else 1)}
        parts = {b: w for found in distributed.gather_objects(mine) for b, w in found.items()}
        return torch.cat([parts[b] for b in range(blocks)])
    gen = torch.Generator(device=x.device).manual_seed(seed)
    reps = x.repeat_interleave(k, 0)
    states, log_q = up_pass(model, reps, gen)
    return (prior.joint(model, states) - log_q).reshape(len(x), k).cpu()


@supports("rbm", "dbm", "dbn", "sbn")
def bound(model, data: Tensor, *, k: int = 10, log_z: float | str = "exact", seed: int = 0, progress: bool = True,
          blocks: int | None = None, **ais_options) -> LogLikelihood:
    """The variational lower bound E_q[log p(v, h) - log q(h | v)], averaged over ``k`` samples.

    ``blocks`` splits the examples into seeded blocks (``importance_weights``) and, with
    ``log_z="ais"``, the AIS chains (default: the ``torch.distributed`` world size): one process
    with ``blocks=W`` reproduces a torchrun run of W processes. For DBMs this is the mean-field
    bound instead (see dbm_bound), where ``blocks`` goes to AIS."""
    blocks = validation.blocks(blocks)
    if model.is_undirected:
        return dbm_bound(model, data, log_z=log_z, progress=progress, **_with_blocks(ais_options, log_z, blocks))
    _check(model)
    prior = TopPrior(model, log_z, progress=progress, **_with_blocks(ais_options, log_z, blocks))
    log_w = importance_weights(model, data, k, prior, seed, blocks)
    per_example = log_w.mean(1)
    spread = {"samples": k, "std_error": (log_w.std(1) / math.sqrt(k)).mean().item() if k > 1 else None,
              "log_z_top": prior.log_z}
    return LogLikelihood(per_example.mean().item(), per_example, prior.log_z, "stochastic lower bound", "bound",
                         spread, _log_z_note(log_z))


@supports("dbn", "sbn")
def iwae(model, data: Tensor, *, k: int = 100, log_z: float | str = "exact", seed: int = 0, progress: bool = True,
         blocks: int | None = None, **ais_options) -> LogLikelihood:
    """The importance-weighted bound log (1/K) Σ_k p(v, h_k) / q(h_k | v); K=1 is the variational
    bound in expectation, and it tightens as K grows (Burda, Grosse & Salakhutdinov 2016).
    ``blocks`` as in ``bound``."""
    blocks = validation.blocks(blocks)
    _check(model)
    prior = TopPrior(model, log_z, progress=progress, **_with_blocks(ais_options, log_z, blocks))
    log_w = importance_weights(model, data, k, prior, seed, blocks)
    per_example = torch.logsumexp(log_w, 1) - math.log(k)
    w = torch.softmax(log_w, 1)
    spread = {"samples": k, "ess_mean": (1 / (w ** 2).sum(1)).mean().item(), "log_z_top": prior.log_z}
    return LogLikelihood(per_example.mean().item(), per_example, prior.log_z, "stochastic lower bound", "iwae",
                         spread, _log_z_note(log_z))


def _with_blocks(ais_options: dict, log_z, blocks: int | None) -> dict:
    """The options of the top's log Z estimate, with ``blocks`` when that estimate is AIS."""
    return {**ais_options, "blocks": blocks} if blocks is not None and log_z == "ais" else ais_options


def _log_z_note(log_z) -> list[str]:
    if log_z == "ais":
        return ["the top RBM's log Z is an AIS estimate, so the bound holds only up to its error"]
    return []


@torch.no_grad()
def exact_directed(model, data: Tensor | None, *, max_states: float | None = None,
                   progress: bool = True) -> LogLikelihood:
    """Exact log p(v) of a small DBN or sigmoid belief net by enumerating its up-pass layers."""
    _check(model)
    hidden = model.up_order()
    x = _data(model, data) if data is not None else None
    everything = x
    if x is not None:
        x = x[distributed.shard(len(x))]  # under torch.distributed: this rank's rows
    top = model.submodel(model.undirected_layers()) if model.undirected_layers() else None
    # the whole request's size, judged before any work: the top's log Z, then the up-pass layers per row
    per_row = Enumeration(tuple(hidden), log_count(model, hidden, None) / math.log(2), len(everything),
                          touched(model)) if x is not None and hidden and len(everything) else None
    check_size([plan(top, [], None) if top is not None else None, per_row], max_states,
               alternative=("bound", "iwae"))
    prior = TopPrior(model, "exact", max_states=max_states, progress=progress)
    if x is None:
        return LogLikelihood(None, None, prior.log_z, "exact", "exact")
    visible = model.visible
    parts = []
    for rows in x.split(256):
        terms = []
        for states in joint_state_chunks(model, hidden, max(1, 2 ** 16 // len(rows))):
            m = len(next(iter(states.values())))
            full = {n: s.to(x.device, torch.float64).repeat(len(rows), 1) for n, s in states.items()}
            full[visible] = rows.repeat_interleave(m, 0)
            terms.append(prior.joint(model, full).reshape(len(rows), m))
        parts.append(torch.logsumexp(torch.cat(terms, 1), 1))
    per_example = distributed.gather_cat(torch.cat(parts).cpu() if parts else torch.zeros(0, dtype=torch.float64))
    return LogLikelihood(per_example.mean().item(), per_example, prior.log_z, "exact", "exact",
                         spread={"std_per_example": per_example.std().item() if len(everything) > 1 else 0.0})
