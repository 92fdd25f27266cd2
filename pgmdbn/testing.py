"""The contracts as a public conformance kit, for plugin authors (in the spirit of scikit-learn's
``check_estimator``):

- ``check_unit_type(cls, **options)``: a unit type against brute force, on its own and in tiny
  RBMs with the type on either side of a Bernoulli layer;
- ``check_factor_type(cls, **options)``: a factor type's messages, energy and exact likelihood;
- ``check_sampler(name)``, ``check_trainer(name)``, ``check_estimator(name)``: a registered
  engine or estimator on tiny models whose every state can be enumerated.

Every reference number is computed here by enumerating states or by numerical quadrature, in
float64, never by the code under test. A violation raises an ``AssertionError`` whose message
starts with the property and gives the numbers, e.g. ``log_partition: enumeration gives
-3.2100, the type gives -3.2110 (beta=0.5, size=3)``. Random draws come from seeded
generators and every sampling tolerance is computed from the number of draws, with a chance of a
false alarm below one in a million per check.

A type under test need not be registered: the kit registers it for the checks that go through
registered names (model files, greedy pretraining) and unregisters it afterwards. Nothing here
knows a type's name; what a type needs to be built (``trials=3``, a spatial ``shape``) comes
from the caller.
"""
from __future__ import annotations

import contextlib
import copy
import inspect
import json
import math
import numbers
import tempfile
from pathlib import Path

import numpy as np
import torch
from scipy import integrate
from torch import Tensor

from . import io
from .api import log_likelihood, sample
from .errors import DataError, ModelError, TrainingDiverged, UnsupportedModel
from .factors.base import Factor
from .graph import Model
from .hooks import hookimpl, register_plugin, registry, unregister_plugin
from .results import KINDS, LogLikelihood
from .training import fit, pretrain
from .units import Units
from . import validation
from .validation import ArgumentError, ArgumentTypeError

__all__ = ["check_unit_type", "check_factor_type", "check_sampler", "check_trainer", "check_estimator"]

#: draws per sampling check; with DELTA the tolerances below stay a few hundredths
DRAWS = 20000
#: the chance of a false alarm allowed to one sampling check
DELTA = 1e-6
#: agreement asked of numbers computed by enumeration (float64)
EXACT_TOL = 1e-8
#: agreement asked of numbers computed by quadrature
QUAD_TOL = 1e-6
#: values that lie outside some support; a non-finite value lies outside every support
OUTSIDE = (0.5, -1.0, 2.0, -0.5, 1.5, 1e9, float("nan"))
STRUCTURES = ("rbm", "dbm", "dbn", "sbn")


# ======================================================================================
# small helpers
# ======================================================================================

def _fail(prop: str, message: str):
    raise AssertionError(f"{prop}: {message}")


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _num(x) -> str:
    return f"{float(x):.10g}"


def _agree(prop: str, reference: Tensor, value: Tensor, *, tol: float, ref_name: str = "enumeration",
           value_name: str = "the type", where: str = "") -> None:
    """AssertionError naming ``prop`` and the worst pair unless |reference - value| <= tol
    (relative to max(1, |reference|)) everywhere; shapes must match."""
    reference = torch.as_tensor(reference).detach().to(torch.float64)
    value = torch.as_tensor(value).detach()
    if value.shape != reference.shape:
        _fail(prop, f"{ref_name} gives shape {tuple(reference.shape)}, {value_name} gives {tuple(value.shape)}"
                    f"{f' ({where})' if where else ''}")
    value = value.to(torch.float64)
    finite = torch.isfinite(value)
    if not finite.all():
        i = int((~finite).flatten().nonzero()[0])
        _fail(prop, f"{value_name} gives {value.flatten()[i].item()} where {ref_name} gives "
                    f"{_num(reference.flatten()[i])} ({where})")
    error = (value - reference).abs() / reference.abs().clamp(min=1)
    if error.numel() and error.max() > tol:
        i = int(error.flatten().argmax())
        _fail(prop, f"{ref_name} gives {_num(reference.flatten()[i])}, {value_name} gives "
                    f"{_num(value.flatten()[i])} (difference {float((value - reference).flatten()[i]):.3g}, "
                    f"tolerance {tol:g}{', ' + where if where else ''})")


def _tv_tolerance(n_states: int, n: int) -> float:
    """ε with P(total variation of an n-draw empirical distribution over n_states states ≥ ε) ≤ DELTA
    (Bretagnolle–Huber–Carol: P(TV ≥ ε) ≤ 2^K exp(−2nε²))."""
    return math.sqrt((n_states * math.log(2) + math.log(1 / DELTA)) / (2 * n))


def _state_index(rows: Tensor, table: Tensor, prop: str, what: str) -> Tensor:
    """The row of ``table`` (K, d) each of ``rows`` (n, d) equals; AssertionError for a row in none."""
    rows, table = rows.to(torch.float64), table.to(torch.float64)
    index = torch.full((len(rows),), -1, dtype=torch.long)
    for start in range(0, len(rows), 4096):
        eq = (rows[start:start + 4096, None, :] == table[None]).all(-1)
        found = eq.any(1)
        index[start:start + 4096] = torch.where(found, eq.float().argmax(1), -1)
    if (index < 0).any():
        bad = rows[int((index < 0).nonzero()[0])]
        _fail(prop, f"{what} drew {bad.tolist()}, which is none of the {len(table)} enumerated states")
    return index


def _total_variation(prop: str, index: Tensor, probs: Tensor, where: str) -> None:
    counts = torch.bincount(index, minlength=len(probs)).to(torch.float64)
    tv = 0.5 * (counts / len(index) - probs).abs().sum().item()
    tol = _tv_tolerance(len(probs), len(index))
    if tv > tol:
        worst = int((counts / len(index) - probs).abs().argmax())
        _fail(prop, f"{len(index)} draws lie at total variation {tv:.4f} from the exact distribution, more than "
                    f"{tol:.4f} ({where}; state {worst}: exact {probs[worst].item():.4f}, drawn "
                    f"{(counts[worst] / len(index)).item():.4f})")


def _cartesian(tables: list[Tensor]) -> list[Tensor]:
    """Every combination of rows of the tables: one (prod K_i, d_i) tensor per table."""
    if len(tables) == 1:
        return [tables[0]]
    grids = torch.cartesian_prod(*(torch.arange(len(t)) for t in tables))
    return [t[grids[:, i]] for i, t in enumerate(tables)]


def _states(units: Units, prop: str = "states") -> Tensor:
    try:
        return units.states().to(torch.float64)
    except DataError as e:
        _fail(prop, f"layer of {units.size} {units.name} units cannot be enumerated ({e}); a discrete type "
                    f"must give its states for small layers, or declare discrete = False")


def _perturb(module: torch.nn.Module, seed: int, scale: float = 0.3) -> None:
    """Every floating parameter moved by N(0, scale²) from its value, reproducibly."""
    gen = _gen(seed)
    with torch.no_grad():
        for p in module.parameters():
            if p.is_floating_point():
                p.add_(torch.randn(p.shape, generator=gen, dtype=torch.float64).to(p.dtype) * scale)


@contextlib.contextmanager
def _registered(kind: str, cls: type):
    """``cls`` resolvable by its name for the duration: registered by the kit when it is not
    already; an AssertionError when its name belongs to another object."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        _fail("name", f"{cls.__name__} needs a class attribute name, a non-empty string (its registered name)")
    known = registry.entries().get((kind, name))
    if known is not None:
        if known.obj is not cls:
            _fail("name", f"{cls.__name__}.name is {name!r}, which is registered to {known.obj!r} by plugin "
                          f"{known.plugin!r}; give the type a name of its own")
        yield
        return

    class _Plugin:
        pass

    plugin = _Plugin()
    hook = f"pgmdbn_register_{kind}"
    setattr(plugin, hook, hookimpl(lambda: {name: cls}))
    register_plugin(plugin, name=f"pgmdbn.testing:{name}")
    try:
        yield
    finally:
        unregister_plugin(plugin)


def _simple_attributes(units) -> dict:
    """The instance's plain-valued attributes (options such as ``trials``), for comparing rebuilt layers."""
    skip = {"layer_name", "training"}
    return {k: v for k, v in vars(units).items() if not k.startswith("_") and k not in skip
            and isinstance(v, (numbers.Number, str, tuple, type(None)))}


def _bounds(support) -> tuple[float, float]:
    base = getattr(support, "base_constraint", support)
    return float(getattr(base, "lower_bound", -math.inf)), float(getattr(base, "upper_bound", math.inf))


# ======================================================================================
# quadrature for continuous layers
# ======================================================================================

def _log_density(units: Units, x: Tensor, eta: Tensor, beta: float) -> Tensor:
    """−B(x) + β s(x)·η for points x (m, size) and fields η (K, size): (m, K)."""
    return -units.base_energy(x)[:, None] + beta * units.statistic(x) @ eta.T


def _inside(units: Units, value: float) -> float:
    """``value`` if it is finite and inside the support's bounds, else a point inside them."""
    lo, hi = _bounds(units.support)
    if math.isfinite(value) and lo < value < hi:
        return value
    if math.isfinite(lo) and math.isfinite(hi):
        return (lo + hi) / 2
    return lo + 1.0 if math.isfinite(lo) else (hi - 1.0 if math.isfinite(hi) else 0.0)


def _integrals(units: Units, eta: Tensor, beta: float, shifts: Tensor) -> Tensor:
    """Quadrature moments of p̃_k(x) = exp(−B(x) + β s(x)·η_k − shift_k) for fields η (K, size):
    (K, size, 5), entry [k, d, p] = ∫ x_d^p p̃_k(x) dx, p = 0..4. One unit: scipy's adaptive
    quad_vec over the support. Two units: quad_vec over the first, each of its points integrating
    the second by composite Gauss–Legendre (64 panels of 16 nodes, breaking at 0 and at the
    claimed mean) over the range where the density is within e^−60 of its peak."""
    eta, shifts = eta.to(torch.float64), shifts.to(torch.float64)
    k, size = eta.shape
    lo, hi = _bounds(units.support)
    powers = torch.arange(5, dtype=torch.float64)
    if size == 1:
        def f(x):
            t = torch.tensor([[x]], dtype=torch.float64)
            w = torch.exp(_log_density(units, t, eta, beta)[0] - shifts)  # (K,)
            return (w[:, None] * x ** powers).numpy().ravel()

        centres = sorted({_inside(units, float(m)) for m in units.mean(eta, beta)[:, 0]})
        points = [c for c in centres if lo < c < hi]
        total = integrate.quad_vec(f, lo, hi, epsabs=1e-14, epsrel=1e-12, norm="max", limit=4000,
                                   points=points or None)[0]
        return torch.as_tensor(total, dtype=torch.float64).reshape(k, 1, 5)
    if size != 2:
        raise ArgumentError("quadrature covers layers of one or two units")
    centre = [_inside(units, float(m)) for m in units.mean(eta, beta).mean(0)]
    nodes, weights = (torch.as_tensor(v, dtype=torch.float64) for v in np.polynomial.legendre.leggauss(16))
    a, b = _scan(units, eta, beta, centre, 1)
    cuts = sorted({a, b, *(c for c in (0.0, centre[1]) if a < c < b)})
    edges = torch.cat([torch.linspace(u, v, max(2, round(64 * (v - u) / (b - a)) + 1), dtype=torch.float64)[:-1]
                       for u, v in zip(cuts, cuts[1:])] + [torch.tensor([b], dtype=torch.float64)])
    half = (edges[1:] - edges[:-1]) / 2
    x2 = ((edges[:-1] + edges[1:]) / 2)[:, None] + half[:, None] * nodes  # (panels, 16)
    w2 = (half[:, None] * weights).reshape(-1)
    x2 = x2.reshape(-1)

    def g(x):
        t = torch.stack([torch.full_like(x2, x), x2], 1)  # (m, 2)
        w = torch.exp(_log_density(units, t, eta, beta) - shifts) * w2[:, None]  # (m, K)
        out = torch.stack([(w * x ** p).sum(0) for p in range(5)] + [(w * x2[:, None] ** p).sum(0) for p in range(5)],
                          1)  # (K, 10)
        return out.numpy().ravel()

    points = [c for c in (0.0, centre[0]) if lo < c < hi]
    total = torch.as_tensor(integrate.quad_vec(g, lo, hi, epsabs=1e-14, epsrel=1e-11, norm="max", limit=4000,
                                               points=points or None)[0], dtype=torch.float64)
    return total.reshape(k, 2, 5)


def _scan(units: Units, eta: Tensor, beta: float, centre: list[float], dim: int) -> tuple[float, float]:
    """The range of coordinate ``dim`` (others at ``centre``) outside which every field's density
    lies e^−60 below its peak along the line, found by doubling steps; clipped to the support."""
    lo, hi = _bounds(units.support)
    steps = torch.tensor([0.0] + [2.0 ** i for i in range(-2, 16)], dtype=torch.float64)
    ends = []
    for sign, bound in ((-1, lo), (1, hi)):
        xs = (centre[dim] + sign * steps).clamp(min=lo, max=hi)
        t = torch.tensor(centre, dtype=torch.float64).repeat(len(xs), 1)
        t[:, dim] = xs
        g = _log_density(units, t, eta, beta)  # (steps, K)
        peak = torch.cummax(g, 0).values
        done = ((g < peak - 60).all(1) | (xs == bound)).nonzero()
        ends.append(float(xs[int(done[0])]) if len(done) else float(xs[-1]))
    return ends[0], ends[1]


def _cdf(units: Units, eta: Tensor, beta: float, shift: float, cuts: list[float]) -> Tensor:
    """P(x ≤ c) for each of ``cuts`` under a one-unit layer with field η (1,), normalised by e^shift."""
    lo, hi = _bounds(units.support)
    c = torch.tensor(cuts, dtype=torch.float64)

    def f(x):
        t = torch.tensor([[x]], dtype=torch.float64)
        w = torch.exp(_log_density(units, t, eta[None], beta)[0, 0] - shift)
        return (w * (x <= c).double()).numpy()

    inner = [v for v in cuts if lo < v < hi]
    return torch.as_tensor(integrate.quad_vec(f, lo, hi, epsabs=1e-12, epsrel=1e-10, norm="max", limit=4000,
                                              points=inner or None)[0], dtype=torch.float64)


def _quad_log_z(units: Units, eta: Tensor, beta: float = 1.0) -> Tensor:
    """log ∫ exp(−B(x) + β s(x)·η) dx by quadrature for fields (K, size): (K,)."""
    shifts = units.log_partition(eta, beta).detach().to(torch.float64)
    shifts = torch.where(torch.isfinite(shifts), shifts, torch.zeros_like(shifts))
    mass = _integrals(units, eta, beta, shifts)[:, 0, 0]
    if not (mass > 0).all():
        _fail("log_partition", f"quadrature of exp(−base_energy + beta·statistic·eta) gives {mass.tolist()} "
                               f"(beta={beta}): the density is not integrable where the type says")
    return mass.log() + shifts


# ======================================================================================
# unit types
# ======================================================================================

def check_unit_type(cls: type, *, sizes: tuple[int, ...] | None = None, shape: tuple[int, ...] | None = None,
                    seed: int = 0, **options) -> None:
    """Check the unit type ``cls`` (a ``pgmdbn.units.Units`` subclass) built as ``cls(size,
    **options)`` against the unit contract; an AssertionError names the first property violated.

    ``sizes`` are the layer sizes checked (default 1 and 3 units; 1 and 2 for continuous types,
    which quadrature covers up to 2), e.g. ``sizes=(3, 6)`` for a type whose size is a multiple of
    an option; the tiny models use the largest (the smallest for continuous types). ``shape`` is
    the layer's shape for a type that needs a spatial layout (then the one size checked is its
    product). The checks, in order: shapes; ``beta`` tempering (``log_partition(eta, beta) ==
    log_partition(beta * eta)``, the same for ``mean``); the mean as the gradient of the log
    partition (d/dη A(βη) = β s(E[x])); ``log_partition_change``; for discrete types
    ``states``/``state_chunks``/``unit_values``/``log_state_count`` consistent, then log
    partition, mean and ``log_prob`` against enumeration and samples against the exact
    distribution by total variation (conserved quantities kept); for continuous types the same
    by quadrature and moments; noise drawn ahead equal to drawing inside; support and
    ``validate``; ``encode`` for categorical types; ``init_from_data``; the torch.nn form where the
    type declares one; exact log-likelihoods of tiny RBMs with the type on either side of a
    Bernoulli layer against brute force; ``config()`` round trips through the constructor,
    ``pgmdbn.save``/``load`` and greedy pretraining. Takes a few seconds.
    """
    seed = validation.seed(seed)
    if not (isinstance(cls, type) and issubclass(cls, Units)):
        raise ArgumentTypeError(f"check_unit_type takes a pgmdbn.units.Units subclass, got {cls!r}; pass the class, "
                                f"not an instance or a name (pgmdbn.registry.get('units', name) gives the class)")
    if shape is not None:
        shape = tuple(shape)
        if not shape or not all(isinstance(d, int) and d > 0 for d in shape):
            raise ArgumentError(f"check_unit_type: shape must be a tuple of positive integers, got {shape!r}")
    if sizes is not None:
        sizes = tuple(sizes) if isinstance(sizes, (tuple, list)) else (sizes,)
        if not sizes or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in sizes):
            raise ArgumentError(f"check_unit_type: sizes must be positive integers, got {sizes!r}")
        if not cls.discrete and max(sizes) > 2:
            raise ArgumentError(f"check_unit_type: sizes={sizes!r}; layers of continuous units are checked by "
                                f"quadrature, which covers 1 or 2 units")
        if shape is not None and sizes != (math.prod(shape),):
            raise ArgumentError(f"check_unit_type: shape {shape} holds {math.prod(shape)} units; give sizes or "
                                f"shape, not both")
    sizes = (math.prod(shape),) if shape else (sizes or ((1, 3) if cls.discrete else (1, 2)))
    size = max(sizes) if cls.discrete else min(sizes)  # the tiny models' layer of the type
    with _registered("units", cls):
        with torch.no_grad():
            for i, n in enumerate(sizes):
                units = _make_units(cls, n, shape, options, seed + i)
                _check_layer(units, seed + i)
            _check_models(cls, size, shape, options, seed)
        _check_config(cls, size, shape, options, seed)


def _make_units(cls, size, shape, options, seed, name="x") -> Units:
    try:
        model = Model().add_layer(name, cls(size, **options), shape=shape)
    except Exception as e:  # noqa: BLE001 - reported with the options that caused it
        _fail("construction", f"{cls.__name__}({size}, **{options}) with shape {shape} raised "
                              f"{type(e).__name__}: {e}")
    units = model.layer(name).double()
    _perturb(units, seed)
    return units


def _fields(units: Units, n: int, seed: int, scale: float = 1.0) -> Tensor:
    return torch.randn(n, units.size, generator=_gen(1000 + seed), dtype=torch.float64) * scale


def _check_layer(units: Units, seed: int) -> None:
    size = units.size
    where = f"size={size}"
    eta = _fields(units, 4, seed)
    # shapes
    lp, mean = units.log_partition(eta), units.mean(eta)
    if tuple(lp.shape) != (len(eta),) or tuple(mean.shape) != tuple(eta.shape):
        _fail("shapes", f"log_partition gives {tuple(lp.shape)} and mean {tuple(mean.shape)} for fields of shape "
                        f"{tuple(eta.shape)}; expected ({len(eta)},) and {tuple(eta.shape)}")
    lead = units.log_partition(eta.reshape(2, 2, size))
    _agree("shapes", lp.reshape(2, 2), lead, tol=1e-12, ref_name="fields (4, size)", value_name="fields (2, 2, size)",
           where=f"log_partition over extra leading dimensions, {where}")
    for beta in (0.5, 0.8):
        _agree("beta", units.log_partition(beta * eta), units.log_partition(eta, beta), tol=1e-10,
               ref_name="log_partition(beta * eta)", value_name="log_partition(eta, beta)",
               where=f"beta={beta}, {where}")
        _agree("beta", units.mean(beta * eta), units.mean(eta, beta), tol=1e-10, ref_name="mean(beta * eta)",
               value_name="mean(eta, beta)", where=f"beta={beta}, {where}")
    for beta in (1.0, 0.7):
        x = eta.clone().requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(units.log_partition(x, beta).sum(), x)
        expected = beta * units.statistic(units.mean(eta, beta))
        _agree("mean", grad, expected, tol=1e-8, ref_name="d log_partition / d eta", value_name="beta * s(mean)",
               where=f"beta={beta}, {where}")
    for beta, prev in ((0.5, 0.495), (0.9, 0.4)):
        change = units.log_partition_change(eta, beta, prev)
        if change.dtype != torch.float64:
            _fail("log_partition_change", f"returns {change.dtype}; the annealing weights need float64")
        _agree("log_partition_change", units.log_partition(eta, beta) - units.log_partition(eta, prev), change,
               tol=1e-8, ref_name="the difference of log partitions", value_name="log_partition_change",
               where=f"beta={beta}, prev={prev}, {where}")
    if units.discrete:
        _check_enumeration(units, eta, seed)
    else:
        _check_quadrature(units, seed)
    _check_draw_ahead(units, eta)
    _check_support(units, seed)
    _check_categories(units)
    _check_torch_nn(units, eta, seed)
    _check_init_from_data(units, seed)


def _check_enumeration(units: Units, eta: Tensor, seed: int) -> None:
    size, where = units.size, f"size={units.size}"
    xs = _states(units)
    if xs.ndim != 2 or xs.shape[1] != size:
        _fail("states", f"states() gives shape {tuple(xs.shape)} for a layer of {size} units; expected (n_states, "
                        f"{size})")
    count = units.log_state_count()
    if not abs(count - math.log(len(xs))) <= 1e-9:
        _fail("states", f"log_state_count() says e^{count:.6f} = {math.exp(count):.6g} states, states() gives "
                        f"{len(xs)} rows ({where})")
    if len(torch.unique(xs, dim=0)) != len(xs):
        _fail("states", f"states() repeats rows ({len(xs)} rows, {len(torch.unique(xs, dim=0))} distinct; {where})")
    chunks = torch.cat([c.to(torch.float64) for c in units.state_chunks(max(1, len(xs) // 3))])
    if chunks.shape != xs.shape or not torch.equal(chunks, xs):
        _fail("states", f"state_chunks() gives {len(chunks)} rows that differ from states()' {len(xs)} ({where})")
    if not units.support.check(xs).all():
        _fail("states", f"a state lies outside the support {units.support}: "
                        f"{xs[~units.support.check(xs).reshape(len(xs), -1).all(-1)][0].tolist()}")
    try:
        units.validate(xs, exact=True)
    except DataError as e:
        _fail("validate", f"validate(states(), exact=True) refuses a state of the layer: {e}")
    values = units.unit_values()
    if values is not None:
        values = values.to(torch.float64)
        product = torch.cartesian_prod(*[values] * size).reshape(-1, size) if size > 1 else values[:, None]
        same = len(product) == len(xs) and (torch.unique(product, dim=0) == torch.unique(xs, dim=0)).all()
        if not same:
            _fail("unit_values", f"unit_values() = {values.tolist()} says a layer of {size} independent units has "
                                 f"{len(values)}^{size} = {len(product)} states, all combinations; states() gives "
                                 f"{len(xs)} rows that are not those combinations")
    for beta in (1.0, 0.6):
        scores = beta * units.statistic(xs) @ eta.T - units.base_energy(xs)[:, None]  # (n_states, n_fields)
        _agree("log_partition", torch.logsumexp(scores, 0), units.log_partition(eta, beta),
               tol=EXACT_TOL, where=f"beta={beta}, {where}")
        p = torch.softmax(scores, 0)
        _agree("mean", p.T @ xs, units.mean(eta, beta), tol=EXACT_TOL, ref_name="E[x] by enumeration",
               value_name="mean", where=f"beta={beta}, {where}")
    log_p = units.log_prob(xs[:, None, :].expand(-1, len(eta), -1), eta)  # (n_states, n_fields)
    scores = units.statistic(xs) @ eta.T - units.base_energy(xs)[:, None]
    _agree("log_prob", scores - torch.logsumexp(scores, 0), log_p, tol=EXACT_TOL, ref_name="enumeration",
           value_name="log_prob", where=f"log p(x | eta) of every state, {where}")
    # sampling against the exact distribution, at two temperatures
    for beta in (1.0, 0.6):
        field = eta[:1].expand(DRAWS, size)
        draws = units.sample(field, beta, generator=_gen(seed + 7))
        if tuple(draws.shape) != (DRAWS, size):
            _fail("sample", f"sample gives shape {tuple(draws.shape)} for fields of shape {(DRAWS, size)}")
        draws = draws.to(torch.float64)
        if not units.support.check(draws).all():
            _fail("sample", f"a draw lies outside the support {units.support} ({where})")
        probs = torch.softmax(beta * units.statistic(xs) @ eta[0] - units.base_energy(xs), 0)
        index = _state_index(draws, xs, "sample", "sample")
        _total_variation("sample", index, probs, f"beta={beta}, eta={[round(v, 3) for v in eta[0].tolist()]}, {where}")
        kept = units.conserved(xs[index[:50]])
        if kept is not None:
            again = units.sample(eta[:1].expand(50, size), beta, generator=_gen(seed), like=xs[index[:50]])
            if not torch.equal(units.conserved(again.to(torch.float64)), kept):
                _fail("conserved", "sample(eta, like=x) changes the quantity conserved(x) that a sampler must keep")


def _check_quadrature(units: Units, seed: int) -> None:
    size, where = units.size, f"size={units.size}"
    if units.unit_values() is not None:
        _fail("unit_values", f"a continuous type (discrete = False) returns unit_values() = "
                             f"{units.unit_values().tolist()}; it is None for continuous units")
    eta = _fields(units, 3 if size == 1 else 2, seed)
    for beta in (1.0, 0.6):
        claimed = units.log_partition(eta, beta)
        shifts = torch.where(torch.isfinite(claimed), claimed, torch.zeros_like(claimed))
        moments = _integrals(units, eta, beta, shifts)  # (K, size, 5)
        mass = moments[:, 0, 0]
        if not (mass > 0).all():
            _fail("log_partition", f"quadrature of exp(−base_energy + beta·statistic·eta) gives {mass.tolist()} "
                                   f"(beta={beta}): the density is not integrable where the type says")
        log_z = mass.log() + shifts
        _agree("log_partition", log_z, claimed, tol=QUAD_TOL, ref_name="quadrature", where=f"beta={beta}, {where}")
        m = moments / mass[:, None, None]  # E[x_d^p]
        _agree("mean", m[:, :, 1], units.mean(eta, beta), tol=QUAD_TOL, ref_name="E[x] by quadrature",
               value_name="mean", where=f"beta={beta}, {where}")
        if beta == 1.0:  # log p(x | eta) = −B(x) + s(x)·η − A(η), A by quadrature, at the first field's mean
            t = m[:1, :, 1]
            ref = _log_density(units, t, eta, 1.0)[0] - log_z
            _agree("log_prob", ref, units.log_prob(t.expand(len(eta), size), eta), tol=QUAD_TOL,
                   ref_name="quadrature", value_name="log_prob", where=f"at x={t[0].tolist()}, {where}")
        # sampling: moments of every unit, and for one unit the Kolmogorov distance
        e = eta[:1]
        draws = units.sample(e.expand(DRAWS, size), beta, generator=_gen(seed + 7))
        if tuple(draws.shape) != (DRAWS, size):
            _fail("sample", f"sample gives shape {tuple(draws.shape)} for fields of shape {(DRAWS, size)}")
        draws = draws.to(torch.float64)
        if not units.support.check(draws).all():
            _fail("sample", f"a draw lies outside the support {units.support} ({where})")
        z = 6.0  # six standard errors: a false alarm about once in 5e8
        for d in range(size):
            m1, m2, m3, m4 = (m[0, d, p].item() for p in range(1, 5))
            var = m2 - m1 ** 2
            sem = math.sqrt(var / DRAWS)
            got = draws[:, d].mean().item()
            if abs(got - m1) > z * sem:
                _fail("sample", f"the mean of {DRAWS} draws of unit {d} is {got:.5f}, quadrature gives {m1:.5f} "
                                f"(more than {z:g} standard errors of {sem:.2g}; beta={beta}, eta={e[0].tolist()})")
            central4 = m4 - 4 * m1 * m3 + 6 * m1 ** 2 * m2 - 3 * m1 ** 4
            var_sem = math.sqrt(max(central4 - var ** 2, 0) / DRAWS)
            got = draws[:, d].var().item()
            if abs(got - var) > z * var_sem + 1e-12:
                _fail("sample", f"the variance of {DRAWS} draws of unit {d} is {got:.5f}, quadrature gives "
                                f"{var:.5f} (more than {z:g} standard errors of {var_sem:.2g}; beta={beta}, "
                                f"eta={e[0].tolist()})")
        if size == 1:
            _kolmogorov(units, e[0], beta, float(log_z[0]), draws[:, 0], where)


def _kolmogorov(units, eta, beta, log_z, draws: Tensor, where: str) -> None:
    """The largest gap between the draws' empirical CDF and the CDF by quadrature, at 15 of the
    draws' quantiles, against the Dvoretzky–Kiefer–Wolfowitz bound."""
    n = len(draws)
    cuts = sorted(set(draws.sort().values[(torch.linspace(0.05, 0.95, 15) * n).long()].tolist()))
    exact = _cdf(units, eta, beta, log_z, cuts)
    empirical = torch.tensor([(draws <= c).double().mean().item() for c in cuts], dtype=torch.float64)
    gaps = (exact - empirical).abs()
    tol = math.sqrt(math.log(2 / DELTA) / (2 * n))
    if gaps.max() > tol:
        i = int(gaps.argmax())
        _fail("sample", f"{n} draws lie at Kolmogorov distance {gaps[i].item():.4f} from the distribution by "
                        f"quadrature, more than {tol:.4f} (at x={cuts[i]:.4f}: exact CDF {exact[i].item():.4f}, drawn "
                        f"{empirical[i].item():.4f}; beta={beta}, eta={eta.tolist()}, {where})")


def _check_draw_ahead(units: Units, eta: Tensor) -> None:
    u = units.draw_ahead(eta.shape, _gen(3), eta.dtype, eta.device)
    if u is None:  # the type draws inside sample only
        return
    if not isinstance(u, Tensor):
        _fail("noise", f"noise() returns a {type(u).__name__}; it returns a tensor of random numbers or None")
    inside = units.sample(eta, 0.8, generator=_gen(3))
    ahead = units.sample(eta, 0.8, generator=None, noise=u.clone())  # a draw may write into its noise
    if not torch.equal(ahead.to(torch.float64), inside.to(torch.float64)):
        _fail("noise", "sample(eta, noise=noise(shape, generator)) differs from sample(eta, generator=generator) "
                       "with the generator in the same state: drawing ahead must give the same sample")
    if ahead.dtype != eta.dtype:
        _fail("noise", f"sample(eta, noise=...) returns {ahead.dtype} for fields of {eta.dtype}")


def _check_support(units: Units, seed: int) -> None:
    eta = _fields(units, 3, seed)
    x = units.sample(eta, generator=_gen(seed + 11)).to(torch.float64)
    try:
        units.validate(x, exact=True)
        units.validate(x)
    except DataError as e:
        _fail("validate", f"validate refuses the type's own samples: {e}")
    for bad_shape in ((3, units.size + 1), (units.size,)):
        try:
            units.validate(torch.zeros(bad_shape, dtype=torch.float64), exact=True)
        except DataError:
            pass
        else:
            _fail("validate", f"validate accepts data of shape {bad_shape} for a layer of {units.size} units; it "
                              f"raises DataError")
    for value in OUTSIDE:
        y = x.clone()
        y[1, 0] = value
        if units.support.check(y).all():
            continue
        try:
            units.validate(y, exact=True)
        except DataError:
            continue
        except Exception as e:  # noqa: BLE001 - the kind of error is the property checked
            _fail("validate", f"validate(exact=True) raises {type(e).__name__} for a value {value} outside the support "
                              f"{units.support}; it raises pgmdbn.DataError naming the layer")
        _fail("validate", f"validate(exact=True) accepts the value {value} outside the support {units.support}; it "
                          f"raises DataError")


def _check_categories(units: Units) -> None:
    k = units.categories
    if k is None:
        try:
            units.encode(torch.tensor([0]))
        except DataError:
            return
        _fail("encode", "a type with categories = None accepts integer class indices in encode(); it raises DataError")
    rows = units.encode(torch.arange(k))
    if tuple(rows.shape) != (k, units.size):
        _fail("encode", f"encode(arange({k})) gives shape {tuple(rows.shape)}, expected {(k, units.size)}")
    units.validate(rows.to(torch.float64), exact=True)
    if len(torch.unique(rows, dim=0)) != k:
        _fail("encode", f"encode gives {len(torch.unique(rows, dim=0))} distinct rows for {k} classes")
    for bad in (-1, k):
        try:
            units.encode(torch.tensor([bad]))
        except DataError:
            continue
        _fail("encode", f"encode accepts class {bad} of a layer with {k} categories; it raises DataError")


def _check_torch_nn(units: Units, eta: Tensor, seed: int) -> None:
    try:
        activation = units.nn_activation()
        out_scale, in_scale = units.scales()
    except UnsupportedModel:
        return
    like = units.sample(eta, generator=_gen(seed + 4)).to(torch.float64)
    total = units.conserved(like)
    got = out_scale.to(torch.float64) * activation(eta) * (1 if total is None else total)
    _agree("nn_activation", units.mean(eta, like=like), got, tol=1e-10, ref_name="mean",
           value_name="out_scale * nn_activation()(eta)", where=f"size={units.size}")
    _agree("scales", units.statistic(like), in_scale.to(torch.float64) * units.nn_input(like), tol=1e-10,
           ref_name="statistic(x)", value_name="in_scale * nn_input(x)", where=f"size={units.size}")
    loss = units.reconstruction_loss(eta, like)
    if tuple(loss.shape) != (len(eta),) or not torch.isfinite(loss).all():
        _fail("reconstruction_loss", f"gives {loss.tolist()} (shape {tuple(loss.shape)}); expected {len(eta)} "
                                     f"finite values")


def _check_init_from_data(units: Units, seed: int) -> None:
    x = units.sample(_fields(units, 50, seed), generator=_gen(seed + 5)).to(torch.float64)
    fresh = copy.deepcopy(units)
    fresh.init_from_data(x)
    bad = [n for n, p in fresh.named_parameters() if not torch.isfinite(p).all()]
    if bad:
        _fail("init_from_data", f"leaves parameters {', '.join(bad)} non-finite on the type's own samples")


# --- the type in tiny models --------------------------------------------------------------

def _pair_model(cls, size, shape, options, seed, side: str) -> tuple[Model, str, str]:
    """An RBM with ``size`` units of the type on ``side`` ("visible" or "hidden") and 2 Bernoulli
    units on the other."""
    model = Model()
    ours = cls(size, **options)
    if side == "visible":
        model.add_layer("v", ours, shape=shape).add_layer("h", "bernoulli", 2)
    else:
        model.add_layer("v", "bernoulli", 2).add_layer("h", ours, shape=shape)
    model.add_undirected("v", "h").init_weights(0.7, seed).double()
    _perturb(model, seed + 1, 0.5)
    return model, ("v" if side == "visible" else "h"), ("h" if side == "visible" else "v")


def _check_models(cls, size, shape, options, seed) -> None:
    for side in ("visible", "hidden"):
        model, ours, other = _pair_model(cls, size, shape, options, seed, side)
        units, partner = model.layer(ours), model.layer(other)
        where = f"RBM with the type {side} ({units.size} units) and 2 Bernoulli units"
        partner_states = partner.states().to(torch.float64)
        if cls.discrete:
            own = _states(units)
            joint = dict(zip((ours, other), _cartesian([own, partner_states])))
            log_joint = -model.energy(joint)
            log_z = torch.logsumexp(log_joint, 0)
            visible = joint["v"]
            # log p(v) for every visible state: the joint grouped by visible row
            vs = model.layer("v").states().to(torch.float64)
            index = _state_index(visible, vs, "states", "the joint enumeration")
            log_pv = torch.stack([torch.logsumexp(log_joint[index == i], 0) for i in range(len(vs))]) - log_z
            data = vs
            tol = EXACT_TOL
        else:
            fields = model.field(ours, {other: partner_states})  # (n_partner, size)
            own_energy = partner.energy(partner_states)
            integrals = -own_energy + _quad_log_z(units, fields)  # log ∫ exp(−E) over the type's layer
            log_z = torch.logsumexp(integrals, 0)
            tol = QUAD_TOL
            if side == "hidden":
                data, log_pv = partner_states, integrals - log_z
            else:
                data = units.sample(units.bias.detach()[None].expand(4, -1), generator=_gen(seed)).to(torch.float64)
                rows = dict(zip(("v", "h"), _cartesian([data, partner_states])))
                log_joint = -model.energy(rows).reshape(len(data), len(partner_states))
                log_pv = torch.logsumexp(log_joint, 1) - log_z
        result = log_likelihood(model, data, "exact", progress=False)
        _agree("exact log-likelihood", log_z, torch.tensor(result.log_z, dtype=torch.float64), tol=tol,
               ref_name="brute force" if cls.discrete else "quadrature", value_name="pgmdbn's exact log Z",
               where=where)
        _agree("exact log-likelihood", log_pv, result.per_example, tol=tol,
               ref_name="brute force" if cls.discrete else "quadrature", value_name="pgmdbn's exact log p(v)",
               where=where)


# --- config round trips -------------------------------------------------------------------

def _same_layer(prop: str, original: Units, rebuilt: Units, how: str, seed: int) -> None:
    """``rebuilt`` (another instance, its own parameters) is the same layer as ``original``: the same
    class, configuration, plain attributes, and with the original's parameters the same log partition."""
    if type(rebuilt) is not type(original):
        _fail(prop, f"{how} gives a {type(rebuilt).__name__} layer for a {type(original).__name__} one")
    if rebuilt.config() != original.config():
        _fail(prop, f"{how} gives config() {rebuilt.config()}, the original {original.config()}")
    ours, theirs = _simple_attributes(original), _simple_attributes(rebuilt)
    changed = {k: (v, theirs.get(k)) for k, v in ours.items() if theirs.get(k) != v}
    if changed:
        _fail(prop, f"{how} changes " + ", ".join(f"{k}: {a!r} → {b!r}" for k, (a, b) in changed.items())
              + "; config() must return every constructor option")
    original, twin = copy.deepcopy(original).double(), copy.deepcopy(rebuilt).double()
    try:
        twin.load_state_dict(original.state_dict())
    except RuntimeError as e:
        _fail(prop, f"{how} gives parameters that do not take the original's: {e}")
    eta = _fields(original, 3, seed)
    _agree(prop, original.log_partition(eta), twin.log_partition(eta), tol=1e-12, ref_name="the original layer",
           value_name=how, where="log_partition with the same parameters")


def _check_config(cls, size, shape, options, seed) -> None:
    units = _make_units(cls, size, shape, options, seed)
    config = units.config()
    if not isinstance(config, dict):
        _fail("config", f"config() returns a {type(config).__name__}; it returns a dict of constructor options")
    try:
        json.dumps(config, allow_nan=False)
    except (TypeError, ValueError) as e:
        _fail("config", f"config() = {config!r} is not JSON (model files store it): {e}")
    try:
        rebuilt = Model().add_layer("x", cls(units.size, **config), shape=shape).layer("x")
    except Exception as e:  # noqa: BLE001
        _fail("config", f"{cls.__name__}({units.size}, **{config}) raised {type(e).__name__}: {e}")
    _same_layer("config", units, rebuilt, f"{cls.__name__}(size, **config())", seed)
    # save and load
    model, ours, _ = _pair_model(cls, size, shape, options, seed, "visible")
    with tempfile.TemporaryDirectory() as folder:
        path = io.save(model, Path(folder) / "model.safetensors")
        loaded = io.load(path)
    _same_layer("config", model.layer(ours), loaded.layer(ours), "pgmdbn.save and pgmdbn.load", seed)
    for name, p in model.layer(ours).state_dict().items():
        if not torch.equal(p, loaded.layer(ours).state_dict()[name]):
            _fail("config", f"pgmdbn.save and pgmdbn.load change parameter {name}")
    # greedy pretraining rebuilds each stage's layers from their type and config()
    for position in (0, 1):
        _check_pretrain(cls, size, shape, options, seed, position)


def _check_pretrain(cls, size, shape, options, seed, position: int) -> None:
    model = Model()
    names = ["v", "h1", "h2"]
    for i, name in enumerate(names):
        if i == position:
            model.add_layer(name, cls(size, **options), shape=shape)
        else:
            model.add_layer(name, "bernoulli", 2 if i else 3)
    for a, b in zip(names, names[1:]):
        model.add_undirected(a, b)
    model.init_weights(0.1, seed)
    ours = model.layer(names[position])
    if position == 0:
        with torch.no_grad():
            data = ours.sample(ours.bias.detach()[None].expand(32, -1), generator=_gen(seed)).float()
    else:
        data = (torch.rand(32, 3, generator=_gen(seed)) < 0.5).float()
    seen = []

    def record(stage, epoch, metrics):
        seen.extend(u for n, u in stage.layers.items() if n.split("__")[0] == names[position])

    try:
        pretrain(model, data, epochs=1, batch_size=16, propagate="sample", progress=False, monitor_size=0,
                 callbacks=[record])
    except Exception as e:  # noqa: BLE001 - reported with where it happened
        _fail("pretrain", f"greedy pretraining of a DBM with the type as layer {names[position]} raised "
                          f"{type(e).__name__}: {e}")
    if not seen:
        _fail("pretrain", f"no stage of greedy pretraining had a {cls.__name__} layer: the stages rebuild each layer "
                          f"from its type and config()")
    for stage_layer in seen:
        _same_layer("config", ours, stage_layer, "greedy pretraining's rebuilt layer", seed)


# ======================================================================================
# factor types
# ======================================================================================

def check_factor_type(cls: type, *, shapes: tuple[tuple[int, ...], tuple[int, ...]] = ((3,), (2,)), seed: int = 0,
                      **options) -> None:
    """Check the factor type ``cls`` (a ``pgmdbn.factors.Factor`` subclass), joining Bernoulli layers
    of ``shapes`` (a, b) with ``cls(..., **options)``, against the factor contract: messages of
    the right shapes, equal to the gradients of the interaction and linear in the statistic,
    ``beta`` and ``add`` applied; ``reset_parameters`` reproducible; ``parameter_count`` and
    ``dense`` consistent where given; ``config()`` round trips through the constructor and
    ``pgmdbn.save``/``load``; the exact log-likelihood of a tiny RBM (and of a two-layer sigmoid
    belief net, where the type can be directed) equal to brute-force enumeration."""
    seed = validation.seed(seed)
    if not (isinstance(cls, type) and issubclass(cls, Factor)):
        raise ArgumentTypeError(f"check_factor_type takes a pgmdbn.factors.Factor subclass, got {cls!r}")
    shapes = tuple(tuple(s) for s in shapes)
    if len(shapes) != 2 or not all(s and all(isinstance(d, int) and d > 0 for d in s) for s in shapes):
        raise ArgumentError(f"check_factor_type: shapes must be two tuples of positive integers, got {shapes!r}")
    with _registered("factors", cls):
        model = _factor_model(cls, shapes, options, seed, directed=False)
        _check_messages(model, seed)
        _check_factor_init(cls, shapes, options, seed)
        _check_factor_config(model, cls, shapes, options, seed)
        _check_factor_likelihood(model, "undirected")
        try:
            directed = _factor_model(cls, shapes, options, seed, directed=True)
        except ModelError:
            directed = None  # the type is undirected only (a refusal with ModelError is the contract)
        if directed is not None:
            _check_messages(directed, seed)
            _check_factor_likelihood(directed, "directed")


def _factor_model(cls, shapes, options, seed, directed: bool) -> Model:
    model = Model().add_layer("a", "bernoulli", shape=shapes[0]).add_layer("b", "bernoulli", shape=shapes[1])
    if directed:  # b the parent of a; a type that is undirected only refuses with ModelError
        model.add_directed("b", "a", cls, **options)
    else:
        try:
            model.add_undirected("a", "b", cls, **options)
        except Exception as e:  # noqa: BLE001
            _fail("construction", f"{cls.__name__} between layers of shapes {shapes} with {options} raised "
                                  f"{type(e).__name__}: {e}")
    model.init_weights(0.5, seed).double()
    _perturb(model, seed + 1, 0.3)
    return model


def _check_messages(model: Model, seed: int) -> None:
    f = next(iter(model.factors.values()))
    sa, sb = model.layer(f.a).size, model.layer(f.b).size
    gen = _gen(seed + 2)
    xa = (torch.rand(5, sa, generator=gen, dtype=torch.float64) < 0.5).double()
    xb = (torch.rand(5, sb, generator=gen, dtype=torch.float64) < 0.5).double()
    where = f"factor {f.key}"
    to_b = f.message(f.b, xa)
    to_a = to_b.new_zeros(5, sa) if f.directed else f.message(f.a, xb)  # a directed factor sends to its child
    if tuple(to_a.shape) != (5, sa) or tuple(to_b.shape) != (5, sb):
        _fail("shapes", f"messages have shapes {tuple(to_a.shape)} (to {f.a}) and {tuple(to_b.shape)} (to {f.b}); "
                        f"expected {(5, sa)} and {(5, sb)}")
    lead = f.message(f.b, xa.reshape(5, 1, sa).expand(5, 2, sa))
    if tuple(lead.shape) != (5, 2, sb):
        _fail("shapes", f"a message from statistics of shape (5, 2, {sa}) has shape {tuple(lead.shape)}; expected "
                        f"(5, 2, {sb})")
    if not f.directed:
        inter = f.interaction(xa, xb)
        if tuple(inter.shape) != (5,):
            _fail("shapes", f"interaction gives shape {tuple(inter.shape)} for 5 pairs of states; expected (5,)")
        a, b = xa.clone().requires_grad_(True), xb.clone().requires_grad_(True)
        ga, gb = torch.autograd.grad(f.interaction(a, b).sum(), (a, b))
        _agree("message", ga, to_a, tol=1e-10, ref_name="d interaction / d s_a", value_name=f"message to {f.a}",
               where=where)
        _agree("message", gb, to_b, tol=1e-10, ref_name="d interaction / d s_b", value_name=f"message to {f.b}",
               where=where)
        _agree("interaction", inter, (xa * to_a).sum(-1), tol=1e-10, ref_name="interaction",
               value_name="s_a · message to a", where=where)
    ya = torch.randn(5, sa, generator=gen, dtype=torch.float64)
    _agree("message", 2 * to_b - 3 * f.message(f.b, ya), f.message(f.b, 2 * xa - 3 * ya), tol=1e-10,
           ref_name="2 m(x) − 3 m(y)", value_name="m(2x − 3y)", where=f"messages are linear, {where}")
    for beta in (0.0, 0.6):
        _agree("beta", beta * to_b, f.message(f.b, xa, beta=beta), tol=1e-10, ref_name="beta * message",
               value_name="message(beta=beta)", where=f"beta={beta}, {where}")
    bias = torch.randn(sb, generator=gen, dtype=torch.float64)
    field = torch.randn(5, sb, generator=gen, dtype=torch.float64)
    _agree("message", bias + 0.6 * to_b, f.message(f.b, xa, add=bias, beta=0.6), tol=1e-10,
           ref_name="add + beta * message", value_name="message(add=bias, beta)", where=where)
    _agree("message", field + to_b, f.message(f.b, xa, add=field), tol=1e-10, ref_name="add + message",
           value_name="message(add=field)", where=where)
    try:
        matrix = f.dense()
    except ModelError:
        matrix = None
    if matrix is not None:
        if not f.directed:
            _agree("dense", to_b, xa @ matrix.to(torch.float64), tol=1e-10, ref_name=f"message to {f.b}",
                   value_name="s_a @ dense()", where=where)
    if f.directed:
        rec = f.recognise(xb)
        if tuple(rec.shape) != (5, sa):
            _fail("shapes", f"recognise gives shape {tuple(rec.shape)} from the child's statistics; expected the "
                            f"parent's (5, {sa})")


def _check_factor_init(cls, shapes, options, seed) -> None:
    def fresh(s):
        m = Model().add_layer("a", "bernoulli", shape=shapes[0]).add_layer("b", "bernoulli", shape=shapes[1])
        m.add_undirected("a", "b", cls, **options)
        f = next(iter(m.factors.values()))
        f.reset_parameters(0.3, _gen(s))
        return f

    one, two = fresh(seed), fresh(seed)
    for (name, p), q in zip(one.named_parameters(), two.parameters()):
        if not torch.equal(p, q):
            _fail("reset_parameters", f"two calls with generators seeded alike give different {name}")
    count = cls.parameter_count(math.prod(shapes[0]), math.prod(shapes[1]), False, **options)
    actual = sum(p.numel() for p in one.parameters())
    if count is not None and count != actual:
        _fail("parameter_count", f"says {count} parameter entries, the factor has {actual}")


def _check_factor_config(model: Model, cls, shapes, options, seed) -> None:
    f = next(iter(model.factors.values()))
    config = f.config()
    try:
        json.dumps(config, allow_nan=False)
    except (TypeError, ValueError) as e:
        _fail("config", f"config() = {config!r} is not JSON (model files store it): {e}")
    with tempfile.TemporaryDirectory() as folder:
        path = io.save(model, Path(folder) / "model.safetensors")
        loaded = io.load(path)
    g = next(iter(loaded.factors.values()))
    if type(g) is not cls or g.config() != config:
        _fail("config", f"pgmdbn.save and pgmdbn.load give a {type(g).__name__} with config() {g.config()}, the "
                        f"original a {cls.__name__} with {config}")
    changed = {k: (v, _simple_attributes(g).get(k)) for k, v in _simple_attributes(f).items()
               if _simple_attributes(g).get(k) != v}
    if changed:
        _fail("config", "pgmdbn.save and pgmdbn.load change " + ", ".join(f"{k}: {a!r} → {b!r}" for k, (a, b)
                                                                          in changed.items()))
    xa = (torch.rand(4, f.size_a, generator=_gen(seed)) < 0.5).double()
    _agree("config", f.message(f.b, xa), g.message(g.b, xa), tol=1e-12, ref_name="the original factor",
           value_name="the loaded factor", where="messages after save and load")


def _check_factor_likelihood(model: Model, kind: str) -> None:
    visible = model.visible
    data = model.layer(visible).states().to(torch.float64)
    reference_pv, reference_z = _brute_log_p(model, data)
    result = log_likelihood(model, data, "exact", progress=False)
    _agree("exact log-likelihood", reference_pv, result.per_example, tol=EXACT_TOL, ref_name="brute force",
           value_name="pgmdbn's exact log p(v)", where=f"{kind} factor between layers of sizes "
                                                   f"{model.layer('a').size} and {model.layer('b').size}")
    if reference_z is not None and result.log_z is not None:
        _agree("exact log-likelihood", reference_z, torch.tensor(result.log_z, dtype=torch.float64), tol=EXACT_TOL,
               ref_name="brute force",
               value_name="pgmdbn's exact log Z", where=f"{kind} factor")


# ======================================================================================
# brute force over tiny models of any structure
# ======================================================================================

def _joint_states(model: Model, layers: list[str]) -> dict[str, Tensor]:
    tables = [_states(model.layer(n)) for n in layers]
    return dict(zip(layers, _cartesian(tables)))


def _brute_log_z(model: Model) -> Tensor:
    """log Z of an undirected model: its discrete layers enumerated, any others (conditionally
    independent given them) summed out through their log partitions."""
    discrete = [n for n in model.layers if model.layer(n).discrete]
    states = _joint_states(model, discrete)
    if len(discrete) == len(model.layers):
        return torch.logsumexp(-model.energy(states), 0)
    return torch.logsumexp(-model.free_energy(states), 0)


def _brute_log_joint(model: Model, states: dict[str, Tensor]) -> Tensor:
    """log p(every layer) for full joint states {layer: (m, size)} of any model: the undirected
    part by its energy and log Z, the directed layers by their conditionals. (m,)"""
    top = model.undirected_layers()
    m = len(next(iter(states.values())))
    total = torch.zeros(m, dtype=torch.float64)
    if top:
        sub = model.submodel(top)
        total = total - sub.energy({n: states[n] for n in top}) - _brute_log_z(sub)
    for name in model.layers:
        if name in top:
            continue
        eta = model.field(name, states)
        if eta.dim() == 1:
            eta = eta.expand(m, -1)
        total = total + model.layer(name).log_prob(states[name], eta.to(torch.float64))
    return total


def _brute_log_p(model: Model, data: Tensor) -> tuple[Tensor, Tensor | None]:
    """(log p(v) per row of ``data``, log Z or None for a model with directed factors), every layer
    but the visible one enumerated."""
    visible = model.visible
    hidden = [n for n in model.layers if n != visible]
    hs = _joint_states(model, hidden)
    k = len(next(iter(hs.values())))
    rows = {visible: data.to(torch.float64).repeat_interleave(k, 0)}
    rows.update({n: h.repeat(len(data), 1) for n, h in hs.items()})
    log_joint = _brute_log_joint(model, rows).reshape(len(data), k)
    log_z = _brute_log_z(model) if model.is_undirected else None
    return torch.logsumexp(log_joint, 1), log_z


def _brute_joint_distribution(model: Model) -> tuple[dict[str, Tensor], Tensor]:
    """Every joint state {layer: (K, size)} and its probability (K,) of an all-discrete model."""
    states = _joint_states(model, list(model.layers))
    return states, torch.softmax(_brute_log_joint(model, states), 0)


# ======================================================================================
# tiny models for engines and estimators
# ======================================================================================

def _tiny(structure: str, seed: int, scale: float = 0.8, visible: str = "bernoulli", n_visible: int = 3) -> Model:
    """A tiny model of ``structure`` of Bernoulli hidden layers (2 units each) over ``visible`` units,
    in float64, weights and biases ~ N(0, scale²)."""
    model = Model().add_layer("v", visible, n_visible)
    if structure == "rbm":
        model.add_layer("h", "bernoulli", 2).add_undirected("v", "h")
    else:
        model.add_layer("h1", "bernoulli", 2).add_layer("h2", "bernoulli", 2)
        if structure == "dbm":
            model.add_undirected("v", "h1").add_undirected("h1", "h2")
        elif structure == "dbn":
            model.add_directed("h1", "v").add_undirected("h1", "h2")
        elif structure == "sbn":
            model.add_directed("h1", "v").add_directed("h2", "h1")
        else:
            raise ArgumentError(f"unknown structure {structure!r}; one of {', '.join(STRUCTURES)}")
    model.double()
    gen = _gen(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) * scale)
    return model


def _engine(name: str, role: str):
    if not isinstance(name, str):
        raise ArgumentTypeError(f"check_{role}: name must be a registered engine's name (a str), got {name!r}")
    engine = registry.get("engines", name)
    if getattr(engine, "kind", None) != role:
        _fail("kind", f"engine {name!r} has kind {getattr(engine, 'kind', None)!r}, not {role!r}")
    structures = tuple(getattr(engine, "structures", ()))
    known = [s for s in structures if s in STRUCTURES]
    if not known:
        _fail("structures", f"engine {name!r} declares structures {structures!r}; it names at least one of "
                            f"{', '.join(STRUCTURES)}")
    return engine, known


# ======================================================================================
# samplers
# ======================================================================================

def check_sampler(name: str, *, seed: int = 0, steps: int = 30) -> None:
    """Check the registered sampler ``name`` (an engine with ``kind = "sampler"``) through
    ``pgmdbn.sample(..., method=name)`` on a tiny model of each structure it declares: joint samples
    of every layer after ``steps`` sweeps against the exact distribution (total variation);
    ``beta`` honoured (the engine built directly with beta=0.5 samples exp(−0.5 E)); on an RBM,
    a clamped layer kept and the other drawn from its exact conditional, masked units kept and
    the rest drawn from the exact conditional given them; the same seed giving the same samples."""
    seed = validation.seed(seed)
    steps = validation.positive_int("steps", steps, "the Gibbs sweeps before the draws are compared, e.g. 30")
    engine, structures = _engine(name, "sampler")
    n = DRAWS
    for structure in structures:
        exact = _tiny(structure, seed)
        states, probs = _brute_joint_distribution(exact)
        model = copy.deepcopy(exact).float()  # sampled as users sample, in float32
        layers = list(model.layers)
        table = torch.cat([states[k] for k in layers], 1)
        drawn = sample(model, n, steps=steps, seed=seed, method=name)
        _check_drawn(model, drawn, n, layers)
        index = _state_index(torch.cat([drawn[k] for k in layers], 1), table, "sample", f"sampler {name!r}")
        _total_variation("sample", index, probs, f"sampler {name!r}, {structure} with layers "
                                                 f"{', '.join(f'{k} ({model.layer(k).size})' for k in layers)}, "
                                                 f"{steps} steps")
        again = sample(model, 50, steps=steps, seed=seed + 1, method=name)
        twice = sample(model, 50, steps=steps, seed=seed + 1, method=name)
        if any(not torch.equal(again[k], twice[k]) for k in layers):
            _fail("seed", f"sampler {name!r} gives different samples for the same seed ({structure})")
    if "rbm" in structures:
        _check_sampler_beta(engine, name, seed, steps)
        _check_clamp(name, seed, steps)


def _check_drawn(model: Model, drawn: dict, n: int, layers: list[str]) -> None:
    for k in layers:
        if k not in drawn:
            _fail("sample", f"the sampler returns no states of layer {k!r}; it fills every layer not clamped")
        if tuple(drawn[k].shape) != (n, model.layer(k).size):
            _fail("sample", f"layer {k!r} comes back of shape {tuple(drawn[k].shape)}, expected "
                            f"{(n, model.layer(k).size)}")


def _check_sampler_beta(engine, name, seed, steps) -> None:
    exact = _tiny("rbm", seed + 3, scale=1.2)
    beta = 0.5
    states, _ = _brute_joint_distribution(exact)
    probs = torch.softmax(-beta * exact.energy(states), 0)  # Bernoulli layers: no base energy
    model = copy.deepcopy(exact).float()
    gen = _gen(seed)
    sampler = engine(model, beta=beta, generator=gen)
    units = model.layer("v")
    start = {"v": units.sample(units.field(None).detach().expand(DRAWS, -1), beta, gen)}
    with torch.no_grad():
        out = sampler.run(start, steps, clamp=(), masks=None, mean=())
    table = torch.cat([states["v"], states["h"]], 1)
    index = _state_index(torch.cat([out["v"], out["h"]], 1), table, "beta", f"sampler {name!r} at beta={beta}")
    _total_variation("beta", index, probs, f"sampler {name!r} built with beta={beta}, RBM 3-2, {steps} steps")


def _check_clamp(name, seed, steps) -> None:
    exact = _tiny("rbm", seed + 5, scale=1.0)
    states, probs = _brute_joint_distribution(exact)
    model = copy.deepcopy(exact).float()
    # a clamped hidden layer: v drawn from p(v | h)
    h_row = torch.tensor([1.0, 0.0])
    drawn = sample(model, DRAWS, steps=steps, seed=seed, method=name, clamp={"h": h_row})
    if not (drawn["h"] == h_row).all():
        _fail("clamp", f"sampler {name!r} changed the clamped layer h")
    keep = (states["h"] == h_row).all(1)
    index = _state_index(drawn["v"], states["v"][keep], "clamp", f"sampler {name!r} with h clamped")
    _total_variation("clamp", index, probs[keep] / probs[keep].sum(), f"sampler {name!r}, v | h = {h_row.tolist()}")
    # masked visible units: the others and h drawn from their exact conditional
    v_row = torch.tensor([1.0, 0.0, 1.0])
    mask = torch.tensor([True, False, False])
    drawn = sample(model, DRAWS, steps=steps, seed=seed, method=name, clamp={"v": v_row},
                   masks={"v": mask})
    if not (drawn["v"][:, mask] == v_row[mask]).all():
        _fail("masks", f"sampler {name!r} changed masked units of v")
    keep = states["v"][:, 0] == v_row[0]
    table = torch.cat([states["v"], states["h"]], 1)[keep]
    index = _state_index(torch.cat([drawn["v"], drawn["h"]], 1), table, "masks", f"sampler {name!r} with a mask")
    _total_variation("masks", index, probs[keep] / probs[keep].sum(),
                     f"sampler {name!r}, v_0 = 1 masked, the rest drawn")


# ======================================================================================
# trainers
# ======================================================================================

def _teacher_data(structure: str, seed: int, n: int = 400) -> Tensor:
    """n visible rows drawn exactly from a tiny model of ``structure`` with strong parameters."""
    teacher = _tiny(structure, seed + 100, scale=2.0, n_visible=4)
    states, probs = _brute_joint_distribution(teacher)
    index = torch.multinomial(probs, n, replacement=True, generator=_gen(seed))
    return states["v"][index].float()


def check_trainer(name: str, *, seed: int = 0, epochs: int = 8, lr: float = 0.05, **engine_options) -> None:
    """Check the registered trainer ``name`` (an engine with ``kind = "trainer"``) on a tiny model of
    each structure it declares, trained with ``pgmdbn.fit(..., method=name)`` on data drawn from a
    model of that structure: ``epochs`` epochs raise the exact log-likelihood (by enumeration) of
    the training data by at least 0.02 nats; the same seed gives the same parameters; and, built
    directly as the training loop builds it, ``loss`` is a finite scalar with finite gradients,
    ``state()`` finite tensors that ``load_state`` takes back, ``monitor`` a dict of numbers.
    ``engine_options`` go to the engine."""
    seed = validation.seed(seed)
    epochs = validation.positive_int("epochs", epochs, "the epochs of the learning run, e.g. 8")
    lr = validation.positive_float("lr", lr, "the learning rate of the learning run, e.g. 0.05")
    engine, structures = _engine(name, "trainer")
    for structure in structures:
        data = _teacher_data(structure, seed)
        start = _tiny(structure, seed, scale=0.01, n_visible=4).float()
        with torch.no_grad():
            for units in start.layers.values():
                units.bias.zero_()
        before = _brute_log_p(copy.deepcopy(start).double(), data.double())[0].mean().item()
        runs = []
        for count in (epochs, 1, 1):  # the learning run, then two short runs for the seed
            model = copy.deepcopy(start)
            try:
                fit(model, data, method=name, epochs=count, batch_size=20, lr=lr, seed=seed, progress=False,
                    init_from_data=False, monitor_size=0, engine_options=engine_options or None)
            except UnsupportedModel as e:
                _fail("structures", f"trainer {name!r} declares {structure} but refuses a tiny one: {e}")
            except TrainingDiverged as e:
                _fail("finite", f"trainer {name!r} diverges on a tiny {structure} ({count} epochs, lr={lr}): {e}")
            for k, p in model.state_dict().items():
                if p.is_floating_point() and not torch.isfinite(p).all():
                    _fail("finite", f"trainer {name!r} leaves {k} non-finite ({structure})")
            runs.append(model)
        for (k, p), q in zip(runs[1].state_dict().items(), runs[2].state_dict().values()):
            if not torch.equal(p, q):
                _fail("seed", f"trainer {name!r} gives different {k} for the same seed ({structure})")
        after = _brute_log_p(copy.deepcopy(runs[0]).double(), data.double())[0].mean().item()
        if not after > before + 0.02:
            _fail("learning", f"{epochs} epochs of trainer {name!r} take the exact log-likelihood of the training data "
                              f"from {before:.4f} to {after:.4f} nats, not up by 0.02 ({structure}, 400 rows, "
                              f"lr={lr})")
        _check_engine_protocol(engine, name, structure, data, seed, engine_options)


def _check_engine_protocol(engine, name, structure, data, seed, engine_options) -> None:
    model = _tiny(structure, seed, scale=0.1, n_visible=4).float()
    instance = engine(model, k=1, generator=_gen(seed), **engine_options)
    layers = getattr(instance, "data_layers", None)
    if not isinstance(layers, list) or not layers or any(n not in model.layers for n in layers):
        _fail("data_layers", f"trainer {name!r} has data_layers {layers!r}; a list of the model's layers it trains on")
    if not isinstance(getattr(instance, "k", None), int):
        _fail("k", f"trainer {name!r} has no integer attribute k")
    batch = {"v": data[:20]}
    for step in range(3):
        model.zero_grad()
        loss = instance.loss(batch)
        if not isinstance(loss, Tensor) or loss.ndim != 0 or not torch.isfinite(loss):
            _fail("loss", f"trainer {name!r}'s loss is {loss!r}; a finite scalar tensor ({structure}, update {step})")
        loss.backward()
        for k, p in model.named_parameters():
            if p.grad is not None and not torch.isfinite(p.grad).all():
                _fail("loss", f"trainer {name!r}'s loss gives a non-finite gradient of {k} ({structure})")
    state = instance.state()
    if not isinstance(state, dict) or any(not isinstance(t, Tensor) for t in state.values()):
        _fail("state", f"trainer {name!r}'s state() is not a dict of tensors")
    bad = [k for k, t in state.items() if t.is_floating_point() and not torch.isfinite(t).all()]
    if bad:
        _fail("state", f"trainer {name!r} keeps non-finite state {', '.join(bad)} ({structure})")
    other = engine(copy.deepcopy(model), k=1, generator=_gen(seed), **engine_options)
    other.load_state({k: t.clone() for k, t in state.items()})
    back = other.state()
    if set(back) != set(state) or any(not torch.equal(back[k], state[k]) for k in state):
        _fail("state", f"trainer {name!r}: load_state(state()) does not give the same state back")
    if hasattr(instance, "monitor"):
        metrics = instance.monitor(batch)
        if not isinstance(metrics, dict) or any(not isinstance(k, str) or not isinstance(v, numbers.Real)
                                                for k, v in metrics.items()):
            _fail("monitor", f"trainer {name!r}'s monitor gives {metrics!r}; a dict of names to numbers")


# ======================================================================================
# estimators
# ======================================================================================

def _estimator_models(structure: str, seed: int) -> list[tuple[str, Model, Tensor]]:
    """(description, model, data) for the structure: several visible unit types for an RBM."""
    gen = _gen(seed + 9)
    out = []
    if structure == "rbm":
        for visible, n_visible in (("bernoulli", 4), ("softmax", 3), ("gaussian", 2)):
            model = _tiny("rbm", seed, visible=visible, n_visible=n_visible)
            units = model.layer("v")
            if units.discrete:
                xs = _states(units)
                data = xs[torch.randint(len(xs), (12,), generator=gen)]
            else:
                data = torch.randn(12, n_visible, generator=gen, dtype=torch.float64)
            out.append((f"RBM with {n_visible} {visible} visible and 2 Bernoulli hidden units", model, data))
    else:
        model = _tiny(structure, seed)
        xs = _states(model.layer("v"))
        out.append((f"{structure} 3-2-2 of Bernoulli units", model, xs[torch.randint(len(xs), (12,), generator=gen)]))
    return out


def _sigma(result: LogLikelihood) -> float | None:
    """The estimator's own standard error of log Z or of the mean, where its spread gives one."""
    s = result.spread or {}
    if isinstance(s.get("log_z_plus_3sigma"), float) and result.log_z is not None:
        return (s["log_z_plus_3sigma"] - result.log_z) / 3
    for key in ("std_error", "log_z_std_error", "stderr"):
        if isinstance(s.get(key), float):
            return s[key]
    return None


def _brute_pseudo_likelihood(model: Model, data: Tensor) -> Tensor:
    """Σ_i log p(v_i | v_−i) per row, each conditional from brute-force log p̃(v)."""
    units = model.layer(model.visible)
    values = units.unit_values().to(torch.float64)
    total = torch.zeros(len(data), dtype=torch.float64)
    base = _brute_log_p(model, data)[0]
    for i in range(units.size):
        alternatives = []
        for value in values:
            x = data.clone()
            x[:, i] = value
            alternatives.append(_brute_log_p(model, x)[0])
        total += base - torch.logsumexp(torch.stack(alternatives), 0)
    return total


def check_estimator(name: str, *, seed: int = 0, tolerance: float = 0.1, **options) -> None:
    """Check the registered estimator ``name`` on tiny models of each structure it declares
    (``structures``; on RBMs with Bernoulli, softmax and Gaussian visible units), against brute-force
    enumeration, by the kind of number it says it returns: "exact" equal to 1e-8; "estimate" within
    5 of its own standard errors plus 0.01 where its spread gives one (AIS: log Ẑ ± 3σ), else within
    ``tolerance`` nats, for log Z and for the mean on RBMs (a deeper model's estimate may come with
    a bound on the rest: at most exact + tolerance there); "stochastic lower bound" at most exact +
    the same tolerance; "lower bound" at most and "upper bound" at least exact ± 1e-8;
    "pseudo-likelihood" equal to the brute-force pseudo-likelihood, "pseudo-likelihood estimate"
    within 6 standard errors of it. The result is a LogLikelihood of a known kind, named ``name``,
    whose mean is the mean of its per-example values; with a ``seed`` option, the same seed gives
    the same number. A refusal must be ``UnsupportedModel``, and each declared structure must take
    at least one of its tiny models. ``options`` go to the estimator."""
    seed = validation.seed(seed)
    tolerance = validation.positive_float("tolerance", tolerance, "nats an estimate may be off without a spread, "
                                                                  "e.g. 0.1")
    if not isinstance(name, str):
        raise ArgumentTypeError(f"check_estimator: name must be a registered estimator's name (a str), got {name!r}")
    estimator = registry.get("estimators", name)
    structures = [s for s in getattr(estimator, "structures", ()) if s in STRUCTURES]
    if not structures:
        _fail("structures", f"estimator {name!r} declares structures {getattr(estimator, 'structures', None)!r}; mark "
                            f"it with pgmdbn.protocols.supports(...) naming at least one of {', '.join(STRUCTURES)}")
    parameters = inspect.signature(estimator).parameters
    takes = lambda key: key in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())  # noqa: E731
    extra = {"progress": False} if takes("progress") else {}
    for structure in structures:
        accepted = 0
        for description, model, data in _estimator_models(structure, seed):
            try:
                result = log_likelihood(model, data, name, **extra, **options)
            except UnsupportedModel:
                continue
            accepted += 1
            _check_estimate(name, result, model, data, description, tolerance)
            if takes("seed") and accepted == 1:
                again = log_likelihood(model, data, name, **extra, **{**options, "seed": options.get("seed", 0)})
                first = log_likelihood(model, data, name, **extra, **{**options, "seed": options.get("seed", 0)})
                if again.mean != first.mean:
                    _fail("seed", f"estimator {name!r} gives {first.mean} and {again.mean} for the same seed "
                                  f"({description})")
        if not accepted:
            _fail("structures", f"estimator {name!r} declares {structure} but refuses every tiny {structure}")


def _check_estimate(name, result, model, data, description, tolerance) -> None:
    if not isinstance(result, LogLikelihood):
        _fail("result", f"estimator {name!r} returns a {type(result).__name__}, not a pgmdbn.LogLikelihood")
    if result.kind not in KINDS:
        _fail("kind", f"estimator {name!r} returns kind {result.kind!r}; one of {', '.join(KINDS)}")
    if result.method != name:
        _fail("result", f"estimator {name!r} returns method {result.method!r}; the result names its estimator")
    per = result.per_example
    if per is None or tuple(per.shape) != (len(data),):
        _fail("result", f"estimator {name!r} returns per_example of shape "
                        f"{None if per is None else tuple(per.shape)} for {len(data)} rows")
    if not abs(result.mean - per.double().mean().item()) <= 1e-9 * max(1, abs(result.mean)):
        _fail("result", f"estimator {name!r}: mean {result.mean} is not the mean of per_example "
                        f"({per.double().mean().item()})")
    pv, log_z = _brute_log_p(model, data)
    exact_mean = pv.mean().item()
    kind, where = result.kind, f"estimator {name!r}, {description}"
    sigma = _sigma(result)
    tol = 5 * sigma + 0.01 if sigma is not None else tolerance
    if kind == "exact":
        _agree("exact", pv, per, tol=EXACT_TOL, ref_name="brute force", value_name=f"{name!r}", where=where)
        if result.log_z is not None and log_z is not None:
            _agree("exact", log_z, torch.tensor(result.log_z, dtype=torch.float64), tol=EXACT_TOL,
                   ref_name="brute force log Z",
                   value_name=f"{name!r}", where=where)
    elif kind == "estimate":
        if result.log_z is not None and log_z is not None and abs(result.log_z - log_z.item()) > tol:
            _fail("estimate", f"brute force gives log Z {log_z.item():.4f}, {name!r} estimates {result.log_z:.4f}, "
                              f"more than {tol:.4f} away ({where})")
        if model.structure == "rbm" and abs(result.mean - exact_mean) > tol:
            _fail("estimate", f"brute force gives {exact_mean:.4f} nats, {name!r} estimates {result.mean:.4f}, more "
                              f"than {tol:.4f} away ({where})")
        if result.mean > exact_mean + tol:
            _fail("estimate", f"brute force gives {exact_mean:.4f} nats, {name!r} estimates {result.mean:.4f} "
                              f"({where})")
    elif kind == "stochastic lower bound":
        if result.mean > exact_mean + tol:
            _fail("lower bound", f"brute force gives {exact_mean:.4f} nats, the stochastic lower bound {name!r} "
                                 f"gives {result.mean:.4f}, above it by more than {tol:.4f} ({where})")
    elif kind == "lower bound":
        if result.mean > exact_mean + EXACT_TOL:
            _fail("lower bound", f"brute force gives {exact_mean:.10f} nats, the lower bound {name!r} gives "
                                 f"{result.mean:.10f} ({where})")
    elif kind == "upper bound":
        if result.mean < exact_mean - EXACT_TOL:
            _fail("upper bound", f"brute force gives {exact_mean:.10f} nats, the upper bound {name!r} gives "
                                 f"{result.mean:.10f} ({where})")
    else:  # the pseudo-likelihoods
        reference = _brute_pseudo_likelihood(model, data)
        if kind == "pseudo-likelihood":
            _agree("pseudo-likelihood", reference, per, tol=EXACT_TOL, ref_name="brute force",
                   value_name=f"{name!r}", where=where)
        else:
            diff = per.double() - reference
            sem = diff.std().item() / math.sqrt(len(diff))
            if abs(diff.mean().item()) > 6 * sem + 1e-9:
                _fail("pseudo-likelihood", f"brute force gives {reference.mean().item():.4f}, the estimate "
                                           f"{name!r} {result.mean:.4f}, more than 6 standard errors ({sem:.3g}) "
                                           f"away ({where})")
