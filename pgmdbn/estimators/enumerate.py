"""Enumeration primitives of exact inference: log Σ exp(-E) over the joint states of some layers
of an undirected model, the rest summed out analytically through the generic free energy, in
float64 and in bounded-memory chunks. Every unit type honouring the contract works.

Whether an enumeration runs is decided from its size alone, before any work (``Enumeration``,
``check_size``): the joint states of the enumerated layers times the numbers each state costs,
the same answer on every run and on any machine, however busy.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
from torch import Tensor
from .. import distributed, validation
from ..errors import TooExpensive, UnsupportedModel
from ..limits import limits
from ..progress import progress_bar

ELEMENTS_PER_CHUNK = 2 ** 19  # states × summed units per chunk: 4 MB of float64, small enough to reuse memory


def pow2(log2: float) -> str:
    """A count given by its log2 as a power of two: 20.0 -> "2^20", 29.65 -> "2^29.7"."""
    whole = round(log2)
    return f"2^{whole}" if abs(log2 - whole) < 0.05 else f"2^{log2:.1f}"


def ceil_log2(log2: float) -> int:
    """The smallest whole k with 2^k at least 2^log2 (rounding noise of a log ignored)."""
    return max(0, math.ceil(log2 - 1e-9))


@dataclass(frozen=True)
class Enumeration:
    """The size of one exact enumeration, known before any work: the joint states of ``layers``
    (``states_log2`` = log2 of their number), visited once for each of ``rows`` given rows, each
    state costing ``per_state`` numbers (the sizes of the layers and the products of the factors
    its free energy touches)."""

    layers: tuple[str, ...]
    states_log2: float
    rows: int
    per_state: int

    @property
    def work_log2(self) -> float:
        """log2 of the numbers the whole enumeration computes: states × rows × per_state."""
        return self.states_log2 + math.log2(self.rows) + math.log2(self.per_state)


def max_states_log2(max_states) -> float | None:
    """log2 of a ``max_states=`` argument (None: not given); any positive int (2**500 too) or
    finite positive float."""
    if max_states is None:
        return None
    if validation._is_int(max_states):
        if max_states < 1:
            raise validation.ArgumentError(f"max_states={max_states} must be a positive number of joint states, "
                                           f"e.g. max_states=2**30")
        return math.log2(max_states)
    return math.log2(validation.positive_float("max_states", max_states, "e.g. max_states=2**30"))


def check_size(enumerations, max_states=None, alternative: tuple[str, ...] = ("ais",)) -> None:
    """Refuse a request of exact enumerations by its size alone (a pure function: nothing is run
    or timed). With ``max_states`` given, each enumeration may have up to that many joint states
    whatever its cost; without it, all of them together may compute up to
    ``pgmdbn.limits.max_exact_work`` numbers. Raises ``TooExpensive`` carrying the figures as
    attributes (``states_log2``, ``work_log2``, ``limit_log2``, ``limit``, ``alternative``) so
    that a command line can word them as flags."""
    enumerations = [e for e in enumerations if e is not None and e.rows > 0]
    if not enumerations:
        return
    largest = max(enumerations, key=lambda e: e.states_log2)
    total = max(e.work_log2 for e in enumerations)
    total += math.log2(sum(2.0 ** (e.work_log2 - total) for e in enumerations))
    given = max_states_log2(max_states)
    what = f"layer{'s' if len(largest.layers) > 1 else ''} {', '.join(largest.layers)}"
    accept = f"pass max_states=2**{ceil_log2(largest.states_log2)} to accept the time"
    instead = "method=" + " or ".join(repr(m) for m in alternative)
    if given is not None:
        if largest.states_log2 > given + 1e-9:
            raise TooExpensive(f"exact enumeration of {what} has {pow2(largest.states_log2)} joint states, more than "
                               f"max_states={pow2(given)}; {accept}, or use {instead}",
                               states_log2=largest.states_log2, work_log2=total, limit_log2=given,
                               limit="max_states", alternative=alternative)
        return
    limit = math.log2(limits.max_exact_work)
    if total > limit + 1e-9:
        heaviest = max(enumerations, key=lambda e: e.work_log2)
        what = f"layer{'s' if len(heaviest.layers) > 1 else ''} {', '.join(heaviest.layers)}"
        rows = f" for each of {heaviest.rows:,} rows" if heaviest.rows > 1 else ""
        more = " (with the rest of the request)" if len(enumerations) > 1 else ""
        raise TooExpensive(f"exact enumeration of the {pow2(heaviest.states_log2)} joint states of {what}{rows}, "
                           f"{heaviest.per_state:,} numbers per state, computes {pow2(total)} numbers{more}, more "
                           f"than pgmdbn.limits.max_exact_work={pow2(limit)} (decided by the size alone); {accept}, "
                           f"or use {instead}",
                           states_log2=largest.states_log2, work_log2=total, limit_log2=limit,
                           limit="max_exact_work", alternative=alternative)


def touched(model, layers=None) -> int:
    """Numbers one joint state's free energy touches: the sizes of ``layers`` (default: all of the
    model's) and the products a.size × b.size of the factors among them."""
    layers = set(model.layers if layers is None else layers)
    sizes = sum(model.layer(n).size for n in layers)
    products = sum(model.layer(f.a).size * model.layer(f.b).size for f in model.factors.values()
                   if f.a in layers and f.b in layers)
    return sizes + products


def plan(model, given, like: dict | None = None, rows: int = 1) -> Enumeration | None:
    """The enumeration ``log_marginal(model, given, like)`` runs for ``rows`` given rows (None when
    the rest is summed analytically), from the model's sizes alone. ``given`` names layers."""
    rest = [n for n in model.layers if n not in set(given)]
    enumerated = _cheapest_enumeration(model, rest, like)
    if not enumerated:
        return None
    if _splits(model, given, enumerated):  # fields from partial products: only the layers' own numbers per state
        per_state = sum(model.layer(n).size for n in rest)
    else:
        per_state = touched(model)
    return Enumeration(tuple(enumerated), log_count(model, enumerated, like) / math.log(2), rows, per_state)


def _splits(model, given, enumerated) -> bool:
    return not given and len(enumerated) == 1 and model.layer(enumerated[0]).unit_values() is not None


def log_marginal(model, given: dict, like: dict | None = None, max_states: float | None = None,
                 progress: bool = False) -> Tensor:
    """log Σ exp(-E) over every layer not in ``given``: (batch,) for a batch of given states, or a
    0-d tensor when nothing is given (log Z).

    The rest is split into an enumerated part (the cheaper colour class's share of it) and a
    part summed analytically, which is conditionally independent given everything else. The
    enumeration is refused by its size before any work (``check_size``).

    Under a ``torch.distributed`` process group the chunks of the enumeration are dealt
    round-robin over the ranks and their partial sums gathered in chunk order: every rank
    returns the single-process result.
    """
    batch = len(next(iter(given.values()))) if given else 1
    size = plan(model, list(given), like, batch)
    check_size([size], max_states)
    rest = [n for n in model.layers if n not in given]
    enumerated = list(size.layers) if size is not None else []
    summed = [n for n in rest if n not in enumerated]
    other_like = {n: like[n] for n in summed if like and n in like} or None
    if not enumerated:
        return -model.free_energy(_float64(given), like=other_like)
    label = f"exact log Z, {pow2(size.states_log2)} states"
    if _splits(model, given, enumerated):
        return _log_z_split(model, enumerated[0], other_like, progress, label)
    chunk = max(1, ELEMENTS_PER_CHUNK // max(1, batch * sum(model.layer(n).size for n in summed)))
    n_chunks = math.ceil(math.exp(log_count(model, enumerated, like)) / chunk)
    world = distributed.world_size()  # rank 0's bar counts its share of the chunks
    bar = progress_bar(progress and n_chunks > 32 and distributed.is_main(), math.ceil(n_chunks / world), "chunk",
                       label)
    device = next(model.parameters()).device
    parts = {}
    for i, states in enumerate(joint_state_chunks(model, enumerated, chunk, like)):
        if not distributed.owns(i):
            continue
        m = len(next(iter(states.values())))
        full = {n: s.to(device, torch.float64).repeat(batch, 1) for n, s in states.items()}
        full.update({n: x.to(device, torch.float64).repeat_interleave(m, 0) for n, x in given.items()})
        parts[i] = torch.logsumexp(-model.free_energy(full, like=other_like).reshape(batch, m), 1)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    result = torch.logsumexp(torch.stack(distributed.gather_items(parts, device), 1), 1)
    return result if given else result[0]


def _log_z_split(model, name: str, like, progress: bool, label: str = "exact log Z") -> Tensor:
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
                       math.ceil(n_high_states / distributed.world_size()), "state", label)
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


def _cheapest_enumeration(model, rest: list[str], like) -> list[str]:
    """The layers of ``rest`` to enumerate: the colour class of discrete layers with the fewest
    joint states ([] when no factor joins two layers of ``rest``)."""
    rest_set = set(rest)
    if not any(f.a in rest_set and f.b in rest_set for f in model.factors.values()):
        return []
    options = [[n for n in colour if n in rest_set] for colour in model.colour_classes()]
    feasible = [o for o in options if all(model.layer(n).discrete for n in o)]
    if not feasible:
        raise UnsupportedModel("exact enumeration needs one colour class of discrete layers; this model has "
                               "continuous layers on both sides. Use method='ais'")
    return min(feasible, key=lambda o: log_count(model, o, like))


def log_count(model, layers, like) -> float:
    return sum(model.layer(n).log_state_count((like or {}).get(n)) for n in layers)


def _float64(states: dict) -> dict:
    return {n: x.to(torch.float64) for n, x in states.items()}

