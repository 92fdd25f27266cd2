"""Enumeration primitives of exact inference: log Σ exp(-E) over the joint states of some layers
of an undirected model, the rest summed out analytically through the generic free energy, in
float64 and in bounded-memory chunks. Every unit type honouring the contract works.
"""
from __future__ import annotations

import itertools
import math
import time

import torch
from torch import Tensor
from .. import distributed
from ..errors import TooExpensive, UnsupportedModel
from ..limits import limits
from ..progress import progress_bar

ELEMENTS_PER_CHUNK = 2 ** 19  # states × summed units per chunk: 4 MB of float64, small enough to reuse memory


class Clock:
    """Exact enumeration's time guard: after the first ``warmup`` seconds of work, the measured
    rate (states per second) predicts the total; beyond ``pgmdbn.limits.max_exact_seconds`` it
    refuses, naming max_states and the estimate. An explicit ``max_states`` turns the guard off."""

    def __init__(self, total_states: float, explicit: bool, warmup: float = 0.25, alternative: str = "method='ais'"):
        self.total, self.explicit, self.warmup, self.alternative = total_states, explicit, warmup, alternative
        self.start, self.done, self.checked = time.perf_counter(), 0, False

    def tick(self, states: int) -> None:
        self.done += states
        if self.explicit or self.checked:
            return
        elapsed = time.perf_counter() - self.start
        if elapsed < self.warmup or self.done >= self.total:
            return
        self.checked = True
        estimate = elapsed / self.done * self.total
        if estimate > limits.max_exact_seconds:
            raise TooExpensive(f"exact enumeration of {self.total:.4g} states would take about {_duration(estimate)} "
                               f"at "
                               f"the measured {self.done / elapsed:,.0f} states/s, more than pgmdbn.limits."
                               f"max_exact_seconds={limits.max_exact_seconds:g}; use {self.alternative}, or pass "
                               f"max_states={self.total:.3g} (or more) to accept the time")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.1f} hours"


def log_marginal(model, given: dict, like: dict | None = None, max_states: float | None = None,
                 progress: bool = False) -> Tensor:
    """log Σ exp(-E) over every layer not in ``given``: (batch,) for a batch of given states, or a
    0-d tensor when nothing is given (log Z).

    The rest is split into an enumerated part (the cheaper colour class's share of it) and a
    part summed analytically, which is conditionally independent given everything else.

    Under a ``torch.distributed`` process group the chunks of the enumeration are dealt
    round-robin over the ranks and their partial sums gathered in chunk order: every rank
    returns the single-process result.
    """
    explicit = max_states is not None
    max_states = limits.max_exact_states if max_states is None else max_states
    rest = [n for n in model.layers if n not in given]
    enumerated = _cheapest_enumeration(model, rest, like, max_states)
    summed = [n for n in rest if n not in enumerated]
    other_like = {n: like[n] for n in summed if like and n in like} or None
    if not enumerated:
        return -model.free_energy(_float64(given), like=other_like)
    batch = len(next(iter(given.values()))) if given else 1
    clock = Clock(math.exp(log_count(model, enumerated, like)) * batch / distributed.world_size(), explicit)
    if not given and len(enumerated) == 1 and model.layer(enumerated[0]).unit_values() is not None:
        return _log_z_split(model, enumerated[0], other_like, progress, clock)
    chunk = max(1, ELEMENTS_PER_CHUNK // max(1, batch * sum(model.layer(n).size for n in summed)))
    n_chunks = math.ceil(math.exp(log_count(model, enumerated, like)) / chunk)
    world = distributed.world_size()  # rank 0's bar counts its share of the chunks
    bar = progress_bar(progress and n_chunks > 32 and distributed.is_main(), math.ceil(n_chunks / world), "chunk",
                       "exact log Z")
    device = next(model.parameters()).device
    parts = {}
    for i, states in enumerate(joint_state_chunks(model, enumerated, chunk, like)):
        if not distributed.owns(i):
            continue
        m = len(next(iter(states.values())))
        full = {n: s.to(device, torch.float64).repeat(batch, 1) for n, s in states.items()}
        full.update({n: x.to(device, torch.float64).repeat_interleave(m, 0) for n, x in given.items()})
        parts[i] = torch.logsumexp(-model.free_energy(full, like=other_like).reshape(batch, m), 1)
        clock.tick(m * batch)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    result = torch.logsumexp(torch.stack(distributed.gather_items(parts, device), 1), 1)
    return result if given else result[0]


def _log_z_split(model, name: str, like, progress: bool, clock: Clock | None = None) -> Tensor:
    """log Z by enumerating a layer of independent discrete units as (low units) × (high units).

    Fields are linear in the statistic, which is unit-wise for such layers, so the summed layers'
    fields for every joint state are the low part's products plus one row of the high part's:
    one small product per side instead of one per state. With x0 the all-first-value state,
    η(low, high) = η(low, x0_high) + η(x0_low, high) − η(x0). The blocks of high states are dealt
    over the ranks of a process group, as in ``log_marginal``.
    """
    units = model.layer(name)
    device = next(model.parameters()).device
    values = units.unit_values().to(device, torch.float64)
    summed = [n for n in model.layers if n != name]
    width = sum(model.layer(n).size for n in summed)  # numbers per enumerated state
    n_low = min(units.size, max(1, int(math.log(max(ELEMENTS_PER_CHUNK / width, 1)) / math.log(len(values)))))
    n_high = units.size - n_low

    def product(n, start=0, stop=None):  # combinations start..stop of unit values for n units
        stop = len(values) ** n if stop is None else stop
        codes = torch.arange(start, stop, device=device)[:, None]
        digits = codes // len(values) ** torch.arange(n, device=device) % len(values)
        return values[digits].reshape(len(codes), n)

    low, x0 = product(n_low), values[0].expand(units.size)
    with_low = torch.cat([low, x0[n_low:].expand(len(low), -1)], 1)
    field_low = {n: model.field(n, {name: with_low}) for n in summed}
    field_x0 = {n: model.field(n, {name: x0[None]}) for n in summed}
    parts = {}
    n_high_states = len(values) ** n_high
    bar = progress_bar(progress and n_high_states > 32 and distributed.is_main(),
                       math.ceil(n_high_states / distributed.world_size()), "state", "exact log Z")
    for start in range(0, n_high_states, 64):
        if not distributed.owns(start // 64):
            continue
        high = product(n_high, start, min(start + 64, n_high_states))
        with_high = torch.cat([x0[:n_low].expand(len(high), -1), high], 1)
        field_high = {n: model.field(n, {name: with_high}) - field_x0[n] for n in summed}
        rows = []
        for j, row in enumerate(high):
            states = torch.cat([low, row.expand(len(low), -1)], 1)
            fields = {n: field_low[n] + field_high[n][j] for n in summed}
            rows.append(torch.logsumexp(-model.free_energy({name: states}, like=like, fields=fields), 0))
        parts[start // 64] = torch.logsumexp(torch.stack(rows), 0)
        if clock is not None:
            clock.tick(len(high) * len(low))
        if bar is not None:
            bar.update(len(high))
    if bar is not None:
        bar.close()
    return torch.logsumexp(torch.stack(distributed.gather_items(parts, device)), 0)


def joint_state_chunks(model, layers: list[str], chunk_size: int, like: dict | None = None):
    """Chunks of the joint states of ``layers`` as {name: (m, size)}; one layer streams lazily."""
    likes = {n: (like or {}).get(n) for n in layers}
    if len(layers) == 1:
        (n,) = layers
        for states in model.layer(n).state_chunks(chunk_size, likes[n]):
            yield {n: states}
        return
    tables = [model.layer(n).states(likes[n]) for n in layers]
    index = itertools.product(*(range(len(t)) for t in tables))
    while rows := list(itertools.islice(index, chunk_size)):
        cols = torch.tensor(rows).T
        yield {n: t[c] for n, t, c in zip(layers, tables, cols)}


def _cheapest_enumeration(model, rest: list[str], like, max_states) -> list[str]:
    rest_set = set(rest)
    if not any(f.a in rest_set and f.b in rest_set for f in model.factors.values()):
        return []
    options = [[n for n in colour if n in rest_set] for colour in model.colour_classes()]
    feasible = [o for o in options if all(model.layer(n).discrete for n in o)]
    if not feasible:
        raise UnsupportedModel("exact enumeration needs one colour class of discrete layers; this model has "
                               "continuous layers on both sides. Use method='ais'")
    best = min(feasible, key=lambda o: log_count(model, o, like))
    count = log_count(model, best, like)
    if count > math.log(max_states):
        raise TooExpensive(f"exact enumeration of layers {', '.join(best)} would visit about e^{count:.1f} "
                           f"states, more than max_states={max_states:.3g}; use method='ais' or raise max_states")
    return best


def log_count(model, layers, like) -> float:
    return sum(model.layer(n).log_state_count((like or {}).get(n)) for n in layers)


def _float64(states: dict) -> dict:
    return {n: x.to(torch.float64) for n, x in states.items()}

