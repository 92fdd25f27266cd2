"""``check_sampler``, ``check_trainer`` and ``check_estimator``: a registered engine or estimator
on tiny models of each structure it declares, every state of which can be enumerated."""
from __future__ import annotations

import copy
import inspect
import math
import numbers

import torch
from torch import Tensor

from ..api import log_likelihood, sample
from ..errors import TrainingDiverged, UnsupportedModel
from ..graph import Model
from ..hooks import registry
from ..results import KINDS, LogLikelihood
from ..training import fit
from .. import validation
from ..validation import ArgumentTypeError
from .reference import (DRAWS, EXACT_TOL, STRUCTURES, _agree, _brute_joint_distribution, _brute_log_p,
                        _brute_pseudo_likelihood, _fail, _gen, _state_index, _states, _tiny, _total_variation)

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
