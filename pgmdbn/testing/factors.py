"""``check_factor_type``: a factor type's messages, initialisation, configuration round trips and
exact likelihood, between small Bernoulli layers, against autograd and brute-force enumeration."""
from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import torch
from torch import Tensor

from .. import io
from ..api import log_likelihood
from ..errors import ModelError
from ..factors.base import Factor
from ..graph import Model
from .. import validation
from ..validation import ArgumentError, ArgumentTypeError
from .reference import EXACT_TOL, _agree, _brute_log_p, _fail, _gen, _perturb, _registered, _simple_attributes

# ======================================================================================
# factor types
# ======================================================================================

def check_factor_type(cls: type, *, shapes: tuple[tuple[int, ...], tuple[int, ...]] = ((3,), (2,)), seed: int = 0,
                      **options) -> None:
    """Check the factor type ``cls`` (a ``pgmdbn.factors.Factor`` subclass), joining Bernoulli layers
    of ``shapes`` (a, b) with ``cls(..., **options)``, against the factor contract: messages of
    the right shapes, equal to the gradients of the interaction and linear in the statistic,
    ``beta`` and ``add`` applied; ``gradient`` equal to autograd through the interaction; ``reset_parameters`` reproducible; ``parameter_count`` and
    ``dense`` consistent where given; ``as_module`` computing the messages (and the recognition
    field); ``config()`` round trips through the constructor and ``pgmdbn.save``/``load``; the exact log-likelihood of a tiny RBM (and of a two-layer sigmoid
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


def _check_gradient(f: Factor, xa: Tensor, xb: Tensor, where: str) -> None:
    """``gradient`` (what closed-form training reads) against autograd through ``interaction``."""
    params = {name: p for name, p in f.named_parameters() if p.requires_grad}
    with torch.enable_grad():
        reference = torch.autograd.grad(f.interaction(xa, xb).sum(), list(params.values()), allow_unused=True)
    got = f.gradient(xa, xb)
    for (name, p), ref in zip(params.items(), reference):
        ref = torch.zeros_like(p) if ref is None else ref
        value = got.get(name, torch.zeros_like(p))
        if tuple(value.shape) != tuple(p.shape):
            _fail("gradient", f"gradient gives {name} of shape {tuple(value.shape)}; the parameter has shape "
                              f"{tuple(p.shape)}, {where}")
        _agree("gradient", ref, value, tol=1e-9, ref_name=f"d Σ interaction / d {name}",
               value_name=f"gradient()[{name!r}]", where=where)


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
        _check_gradient(f, xa, xb, where)
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
    _check_as_module(f, xa, xb, gen)


def _check_as_module(f: Factor, xa: Tensor, xb: Tensor, gen: torch.Generator) -> None:
    """``as_module`` computes out_scale * (add + message(in_scale * x)) (recognise, read upwards, for
    a directed factor) in float32; scales constant over the layer, as every type accepts."""
    where = f"factor {f.key}"
    directions = [(f.b, xa, False)] + ([(f.a, xb, True)] if f.directed else [(f.a, xb, False)])
    for to, x, recognition in directions:
        other, size_to = f.other(to), (f.size_a if to == f.a else f.size_b)
        reference = f.recognise(x) if recognition else f.message(to, x)
        _agree("as_module", reference, f.as_module(to, recognition=recognition)(x.float()), tol=1e-5,
               ref_name="recognise" if recognition else f"message to {to}", value_name="as_module(...)(x)",
               where=where)
        add = torch.randn(size_to, generator=gen, dtype=torch.float64)
        in_scale, out_scale = torch.full((x.shape[-1],), 0.7, dtype=torch.float64), torch.full((size_to,), 1.3,
                                                                                              dtype=torch.float64)
        sent = f.recognise(in_scale * x) if recognition else f.message(to, in_scale * x)
        module = f.as_module(to, recognition=recognition, add=add, in_scale=in_scale, out_scale=out_scale)
        _agree("as_module", out_scale * (add + sent), module(x.float()), tol=1e-5,
               ref_name="out_scale * (add + field(in_scale * x))", value_name="as_module(add, in_scale, out_scale)",
               where=f"{where}, from {other}")


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
