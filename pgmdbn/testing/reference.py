"""What the conformance kit compares against, shared by its checks: the tolerances, the failure
message (``_fail``, ``_agree``), registration of a type under test, exact enumeration of a
layer's or a tiny model's states, numerical quadrature over continuous layers, the total
variation and Kolmogorov tests of samples, and the tiny models engines and estimators are
checked on. Every reference number is computed here in float64, never by the code under test."""
from __future__ import annotations

import contextlib
import math
import numbers

import numpy as np
import torch
from scipy import integrate
from torch import Tensor

from ..errors import DataError
from ..graph import Model
from ..hooks import hookimpl, register_plugin, registry, unregister_plugin
from ..units import Units
from ..validation import ArgumentError

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
