"""The public entry points that dispatch by registered name: log-likelihoods and log partition
functions by an estimator, samples by a sampler engine."""
from __future__ import annotations

import inspect

import torch
from torch import Tensor

from . import validation
from .errors import ArgumentError, DataError, ModelError, PgmdbnError, PluginError
from .graph import Model
from .hooks import registry
from .protocols import estimate, handlers
from .results import LogLikelihood


def log_likelihood(model: Model, data, method: str = "exact", **options) -> LogLikelihood:
    """Mean and per-example log p(v) of ``data`` (n, n_visible) in nats, by a registered estimator.

    ``data`` may also be a ``Dataset`` of rows (read in order, 1000 at a time) or any iterable
    of batches (a ``DataLoader``): the estimator runs on each batch with the same options and
    the per-example values join in order. An estimator's log Z is then computed per batch,
    the same each time for a given ``seed``; pass a known one where the estimator takes
    ``log_z`` to save the work.

    Args:
        model: the model; each method supports some structures (see the table in the README).
        data: (n, n_visible) tensor, ``Dataset`` or iterable of batches.
        method: a registered estimator: "exact" (RBM, DBM, DBN, SBN small enough on one side),
            "ais" (RBM, DBM), "raise" (RBM), "bound" (DBM, DBN, SBN), "iwae" (DBN, SBN),
            "pl" (RBM), or a plugin's. ``pgmdbn plugins`` lists them.
        **options: passed to the estimator; an option it does not take raises ``TypeError``
            naming it. By method:

            - exact: ``max_states`` (accept up to that many joint states per enumeration,
              e.g. ``2**24``, instead of the default limit on the work, ``pgmdbn.limits``),
              ``progress``.
            - ais: ``n_chains`` (100), ``betas`` (the increasing temperatures from 0 to 1,
              default ``estimators.ais.paper_schedule()``, 14,500 of them), ``base_data``
              (rows whose base rates give the β = 0 model; default ``data``), ``seed`` (0),
              ``runs`` (1: independent runs with seeds seed, seed + 1, ..., pooled),
              ``compare_raise`` (0: RAISE on that many examples too, warning if they
              disagree by more than 1 nat), ``min_ess`` (0.1: warn when the effective sample
              size is below this fraction of the chains), ``blocks`` (seeded blocks of
              chains; default the torchrun world size), ``compile``, ``progress``.
            - raise: ``n_chains`` (1 per example), ``betas``, ``base_data``, ``seed``,
              ``blocks``, ``compile``, ``progress``.
            - bound: ``k`` (10 samples of the recognition up-pass, DBN/SBN), ``log_z``
              ("exact", "ais", or a number: the top RBM's or the DBM's log Z), ``steps`` (50
              mean-field sweeps, DBM), ``seed``, ``progress``, and with ``log_z="ais"`` the
              ais options above.
            - iwae: ``k`` (100 importance samples), ``log_z``, ``seed``, ``progress`` and the
              ais options with ``log_z="ais"``.
            - pl: ``stochastic`` (False: every unit; True: one random unit per example),
              ``seed``, ``progress``.

    Returns:
        a ``LogLikelihood``: ``mean``, ``per_example``, ``log_z``, ``kind`` (exact, estimate,
        lower bound, ...), ``method``, ``spread`` and ``warnings``.

    Raises:
        TooExpensive: exact enumeration beyond the limit (the message names ``max_states``
            and ``method="ais"``).
        UnsupportedModel: the method does not support this model's structure.
    """
    from .training import is_stream

    if not is_stream(data):
        return estimate(method, model, data, **options)
    from torch.utils.data import DataLoader, Dataset, IterableDataset

    if isinstance(data, Dataset) and not isinstance(data, IterableDataset):
        data = DataLoader(data, batch_size=1000, shuffle=False)
    parts = []
    for batch in data:
        if isinstance(batch, (list, tuple)):
            batch = batch[0]
        parts.append(estimate(method, model, batch, **options))
    if not parts:
        raise DataError("the data gave no batches")
    per_example = torch.cat([p.per_example for p in parts])
    first = parts[0]
    warnings = list(dict.fromkeys(w for p in parts for w in p.warnings))
    spread = dict(first.spread, batches=len(parts))
    return LogLikelihood(per_example.mean().item(), per_example, first.log_z, first.kind, first.method, spread,
                         warnings)


def log_partition(model: Model, method: str = "exact", **options) -> LogLikelihood:
    """log Z of ``model`` (the result's ``log_z``; ``mean`` and ``per_example`` are None), by a
    registered estimator: "exact" or "ais", with the options ``log_likelihood`` lists for them
    (``max_states``; ``n_chains``, ``betas``, ``base_data``, ``seed``, ``runs``, ...). AIS
    needs ``base_data`` for its β = 0 model unless it should start from zero biases."""
    return estimate(method, model, None, **options)


def as_clamp(model: Model, clamp: dict, n: int, device=None, dtype=torch.float32) -> dict[str, Tensor]:
    """Clamped values as {layer: (n, size)}: a class index for a categorical layer (``y=3``),
    one state broadcast to n rows, or n rows. Values outside the layer's domain raise DataError."""
    out = {}
    if not isinstance(clamp, dict):
        raise validation.ArgumentTypeError(f"clamp={clamp!r} must be a dict {{layer: values}}")
    for name, value in clamp.items():
        units = model.layer(name)
        if isinstance(value, int) or (isinstance(value, Tensor) and value.ndim == 0):
            value = units.encode(int(value))  # a class index of a categorical layer
        x = validation.tensor(f"clamp[{name!r}]", value).to(dtype)
        x = x.expand(n, units.size) if x.ndim == 1 and x.shape[0] == units.size else x
        if x.ndim == 2 and x.shape[0] != n:
            raise DataError(f"clamp[{name!r}] has {x.shape[0]} rows for n={n} samples; give {n} rows, or one row "
                            f"of {units.size} values to clamp every sample to")
        out[name] = units.validate(x, exact=True).to(device, dtype).clone()
    return out


def sample(model: Model, n: int, *, steps: int = 1000, clamp: dict | None = None, masks: dict | None = None,
           seed: int | None = 0, conditional_means: tuple = (), method: str = "ancestral",
           init: dict | None = None, compile: bool = False) -> dict[str, Tensor]:
    """``n`` joint samples of every layer, {layer: (n, size)}, by a registered sampler.

    Every layer comes back as draws (states in the units' domain: 0/1 for Bernoulli units, counts
    for replicated softmax, real values for Gaussian units), unless named in
    ``conditional_means``: those layers end instead on their conditional means given the last
    states of the others (E[x | rest]: probabilities for Bernoulli units, expected counts,
    Gaussian means), smoother pictures — ``conditional_means=("v",)`` for images.

    ``clamp`` fixes layers ({"y": 3} generates one digit class); with ``masks`` {layer: bool
    (size,) or (n, size)} only the True units of a clamped layer stay fixed and the rest are
    filled in (missing pixels). ``method`` names a sampler ("ancestral", "gibbs", or a plugin's;
    see ``protocols.Sampler``); ``init`` gives starting states, otherwise chains start from a
    draw of the visible layer given its biases alone. Every random number comes from one
    generator seeded by ``seed`` (the same seed gives the same samples in any process, whatever
    else used torch's global generator); ``seed=None`` seeds it afresh from the operating
    system, not reproducibly. ``compile=True`` runs blocks of sweeps as compiled graphs where
    the sampler has that path (see ``pgmdbn.compiled``).
    """
    device = next(model.parameters()).device
    visible = model.visible
    n = validation.positive_int("n", n, "the number of samples to draw")
    steps = validation.nonnegative_int("steps", steps, "the number of Gibbs steps")
    seed = validation.seed(seed, allow_none=True)
    means = _layer_names(model, "conditional_means", conditional_means)
    if clamp is not None and not isinstance(clamp, dict):
        raise validation.ArgumentTypeError(f"clamp={clamp!r} must be a dict {{layer: values}}")
    clamp = dict(clamp or {})
    states = as_clamp(model, clamp, n, device)
    for name in masks or {}:
        if name not in states:
            raise ModelError(f"mask for layer {name!r} needs its values in clamp={{{name!r}: ...}}")
    masks = {k: _mask(model, k, m, n, device) for k, m in (masks or {}).items()}
    init = {k: model.layer(k).validate(validation.tensor(f"init[{k!r}]", v, ndim=2, rows=n)) for k, v in
            (init or {}).items()}
    states.update({k: v.to(device) for k, v in init.items()})
    generator = validation.generator(seed, device)  # seed=None: the OS's entropy, never torch's global one
    if not states:  # chains start at a draw given the visible layer's biases (a DBN's down pass replaces it)
        units = model.layer(visible)
        with torch.no_grad():
            states[visible] = units.sample(units.field(None).detach().expand(n, units.size), 1.0, generator)
    engine = registry.get("engines", method)
    if getattr(engine, "kind", None) != "sampler":
        raise PluginError(f"engine {method!r} is not a sampler; sample takes one of: "
                          f"{', '.join(handlers('engines', role='sampler'))}")
    if validation.flag("compile", compile) and "compile" not in inspect.signature(engine).parameters:
        raise ArgumentError(f"sampler {method!r} has no compiled path; pass compile=False or method='gibbs'")
    sampler = engine(model, generator=generator, **({"compile": True} if compile else {}))
    fixed = [k for k in clamp if k not in masks]
    blame = _plugin_code(model, method)
    try:
        out = sampler.run(states, steps, clamp=fixed, masks=masks, mean=means)
    except Exception as error:
        if not blame or isinstance(error, (PgmdbnError,)):
            raise
        raise PluginError(f"sampling failed: {type(error).__name__}: {error}; raised in code that involves {blame}") \
            from error
    bad = [k for k, x in out.items() if x.is_floating_point() and not torch.isfinite(x).all()]
    if bad:  # checked once at the end, so the sampler's loop stays fast
        where = f"; the code involved: {blame}" if blame else "; the model's parameters may be too large"
        raise PluginError(f"sampling returned NaN or infinite values in layer(s) {', '.join(bad)}{where}") if blame \
            else DataError(f"sampling returned NaN or infinite values in layer(s) {', '.join(bad)}{where}")
    return out


def _layer_names(model, name: str, value) -> tuple[str, ...]:
    """A tuple of the model's layer names given as a tuple, list or set of strings."""
    if isinstance(value, str) or not isinstance(value, (tuple, list, set, frozenset)):
        example = model.visible if model.layers else "v"
        raise validation.ArgumentTypeError(f"{name}={value!r} must be a tuple of layer names, e.g. "
                                           f"{name}=({example!r},)")
    names = tuple(value)
    for layer in names:
        if not isinstance(layer, str):
            raise validation.ArgumentTypeError(f"{name} holds {layer!r}; give layer names (strings) such as "
                                               f"{model.visible!r}")
        model.layer(layer)  # an unknown name raises, naming the layers
    return names


def _mask(model, name, mask, n, device) -> Tensor:
    units = model.layer(name)
    m = validation.tensor(f"masks[{name!r}]", mask)
    if m.dtype != torch.bool:
        if m.is_floating_point() and not ((m == 0) | (m == 1)).all():
            raise DataError(f"masks[{name!r}] must be boolean (True: the unit stays clamped); got other values")
        m = m.bool()
    if not (m.shape == (units.size,) or m.shape == (n, units.size)):
        raise DataError(f"masks[{name!r}] has shape {tuple(m.shape)}; give ({units.size},) or ({n}, {units.size})")
    return m.to(device)


def _plugin_code(model, method) -> str:
    found = []
    for layer, units in model.layers.items():
        try:
            origin = registry.origin("units", units.name)
        except PluginError:
            continue
        if origin != "pgmdbn":
            found.append(f"unit type {units.name!r} of plugin {origin!r} (layer {layer!r})")
    try:
        origin = registry.origin("engines", method)
    except PluginError:
        origin = "pgmdbn"
    if origin != "pgmdbn":
        found.append(f"engine {method!r} of plugin {origin!r}")
    return "; ".join(found)
