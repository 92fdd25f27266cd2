"""``check_unit_type``: a unit type against the unit contract, layer by layer (enumeration for
discrete types, quadrature for continuous ones), in tiny RBMs beside a Bernoulli layer, and
through its ``config()`` round trips (constructor, model files, greedy pretraining)."""
from __future__ import annotations

import copy
import json
import math
import tempfile
from pathlib import Path

import torch
from torch import Tensor

from .. import io
from ..api import log_likelihood
from ..errors import DataError, UnsupportedModel
from ..graph import Model
from ..training import pretrain
from ..units import Units
from .. import validation
from ..validation import ArgumentError, ArgumentTypeError
from .reference import (DRAWS, EXACT_TOL, OUTSIDE, QUAD_TOL, _agree, _cartesian, _fail, _gen, _integrals, _kolmogorov,
                        _log_density, _perturb, _quad_log_z, _registered, _simple_attributes, _state_index, _states,
                        _total_variation)

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
    both = units.log_partition_and_mean(eta)
    _agree("log_partition_and_mean", lp, both[0], tol=1e-10, ref_name="log_partition",
           value_name="log_partition_and_mean[0]", where=where)
    _agree("log_partition_and_mean", mean, both[1], tol=1e-10, ref_name="mean", value_name="log_partition_and_mean[1]",
           where=where)
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
    try:
        log_partitions = units.nn_log_partition()
    except UnsupportedModel:
        log_partitions = None
    if log_partitions is not None:  # each variable's units sum to its log partition
        _agree("nn_log_partition", units.log_partition(eta, like=like), log_partitions(eta).sum(-1), tol=1e-10,
               ref_name="log_partition", value_name="nn_log_partition()(eta) summed", where=f"size={units.size}")
    try:
        mode_field = units.nn_mode()
    except UnsupportedModel:
        mode_field = None
    if mode_field is not None:  # the zero-temperature log partition on the mode's units
        _agree("nn_mode", units.statistic(units.mode(eta, like=like)) * eta, mode_field(eta), tol=1e-10,
               ref_name="statistic(mode(eta)) * eta", value_name="nn_mode()(eta)", where=f"size={units.size}")
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
