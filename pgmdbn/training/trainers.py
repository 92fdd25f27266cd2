"""``fit``: a registered trainer engine's surrogate loss on the training loop, with SGD and
momentum, weight decay on the weights, k schedules, monitors and checkpoints with exact resume."""
from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import Tensor

from .. import distributed, validation
from ..errors import ArgumentError, DataError, PluginError, UnsupportedModel
from ..hooks import registry
from ..protocols import Trainer, handlers, refusal
from .loop import Schedule, TrainResult, batches, make_optimizer, param_groups, train


def k_at(k, epoch: int, epochs: int) -> int:
    """The Gibbs steps for ``epoch`` (0-based): an int, a function of the epoch, or a sequence
    spread over equal parts of the run ([3, 6, 10]: 3, then 6, then 10, as in up-down)."""
    if callable(k):
        value = k(epoch)
        return validation.positive_int(f"k({epoch})", value, "k as a function must return Gibbs steps >= 1")
    if isinstance(k, (list, tuple)):
        return int(k[min(len(k) - 1, epoch * len(k) // max(epochs, 1))])
    return int(k)


def as_data(model, data, device=None) -> dict[str, Tensor]:
    """Training data as {layer: (n, size)}; a bare array is the visible layer's."""
    if not isinstance(data, dict):
        data = {model.visible: data}
    out = {}
    for name, x in data.items():
        x = validation.tensor(f"data[{name!r}]" if len(data) > 1 else "data", x, finite=False)
        x = x.to(torch.get_default_dtype()) if not x.is_floating_point() else x.float()
        out[name] = model.layer(name).validate(x).to(device)
    rows = {name: len(x) for name, x in out.items()}
    if len(set(rows.values())) > 1:
        raise DataError(f"the data's layers have different numbers of rows: {rows}; give one row per example")
    return out


def is_stream(data) -> bool:
    """Whether ``data`` is batches to read one by one (a ``Dataset``, a ``DataLoader``, any
    other iterable of batches, a list of tensors or dicts) rather than arrays in memory (a
    tensor, a numpy array, nested lists of numbers or of rows, a dict of those); a list is
    batches when its items are dicts or 2-D arrays."""
    import numpy as np

    if isinstance(data, (dict, Tensor, np.ndarray, str, bytes)):
        return False
    if isinstance(data, (list, tuple)):  # a list of batches, or nested lists of numbers (rows)
        first = data[0] if data else None
        if isinstance(first, (list, tuple)) and first and isinstance(first[0], (Tensor, np.ndarray)):
            first = first[0]  # (x,) tuples, as a TensorDataset's loader gives
        return isinstance(first, dict) or (isinstance(first, (Tensor, np.ndarray)) and first.ndim >= 2)
    from torch.utils.data import Dataset

    return isinstance(data, Dataset) or hasattr(data, "__iter__")


def batch_dict(model, batch) -> dict:
    """One batch as {layer: rows}: a dict as it is, a bare array (or a one-element tuple, as a
    ``TensorDataset`` gives) as the visible layer's."""
    if isinstance(batch, dict):
        return batch
    if isinstance(batch, (list, tuple)):
        if len(batch) != 1:
            raise DataError(f"a batch of {len(batch)} arrays is ambiguous; yield {{layer: rows}} dicts, or "
                            f"one array for the visible layer")
        batch = batch[0]
    return {model.visible: batch}


def stream_sample(model, source, rows: int, device) -> dict[str, Tensor]:
    """The first ``rows`` rows (at least one batch) an iterable of batches gives, as one dict."""
    parts = []
    for raw in source:
        parts.append(as_data(model, batch_dict(model, raw), device))
        if sum(len(next(iter(p.values()))) for p in parts) >= rows:
            break
    if not parts:
        raise DataError("the data gave no batches")
    return {name: torch.cat([p[name] for p in parts])[:max(rows, 1)] for name in parts[0]}


def sparsity_layers(model, data_layers: list[str]) -> list[str]:
    """The hidden layers whose posterior given the data layers is one conditional: every factor
    they touch (undirected, or directed from a parent) leads to a data layer (an RBM's hidden layer,
    a DBN top's hidden layer)."""
    out = []
    for name in model.layers:
        if name in data_layers:
            continue
        ends = [f.other(name) for f in model.factors.values()
                if name in (f.a, f.b) and (not f.directed or f.b == name)]
        if ends and all(e in data_layers for e in ends) and not any(
                f.directed and f.a == name for f in model.factors.values()):
            out.append(name)
    return out


def sparsity_penalty(model, batch: dict[str, Tensor], target: float, layers: list[str]) -> Tensor:
    """Σ over hidden units of (target − q̄)², q̄ a unit's mean activation E[h | data] averaged over the
    batch (Lee, Ekanadham & Ng 2008). The sum runs over units, not filters, so in a convolutional
    layer a filter's share grows with its positions as its CD gradient does, and one ``cost``
    means about the same for dense and convolutional layers."""
    total = 0.0
    for name in layers:
        units = model.layer(name)
        q = units.mean(model.field(name, batch)).mean(0)
        total = total + (target - q).pow(2).sum()
    return total


def make_engine(model, method: str, **options) -> Trainer:
    """A registered trainer engine for ``model``; a refusal names the trainers that handle it."""
    engine_cls = registry.get("engines", method)
    if getattr(engine_cls, "kind", None) != "trainer":
        raise PluginError(f"engine {method!r} is a {getattr(engine_cls, 'kind', 'non-trainer')}, not a trainer; "
                          f"trainers that handle a {model.structure}: "
                          f"{', '.join(handlers('engines', model.structure, role='trainer')) or 'none'}")
    if "compile" in options and "compile" not in inspect.signature(engine_cls).parameters:
        compiling = [n for n in handlers("engines", model.structure, role="trainer")
                     if "compile" in inspect.signature(registry.get("engines", n)).parameters]
        raise ArgumentError(f"engine {method!r} has no compiled path; pass compile=False, or use one that has "
                            f"({', '.join(compiling) or 'none for a ' + model.structure})")
    try:
        return engine_cls(model, **options)
    except UnsupportedModel as error:
        raise refusal(f"engine {method!r}: {error}", "engines", model.structure, role="trainer") from None


def fit(model, data, method: str = "cd", *, k=1, epochs: int = 10, batch_size: int = 100,
        lr: float = 0.01, momentum: float = 0.5, weight_decay: float = 0.0, lr_schedule: Schedule = None,
        seed: int = 0, device: str | torch.device | None = None, valid=None, init_from_data: bool | None = None,
        monitor_size: int = 1000, callbacks: Sequence[Callable] = (), checkpoint_dir: str | Path | None = None,
        checkpoint_every: int = 1, resume: str | Path | None = None, progress: bool = True,
        engine_options: dict | None = None, sparsity: tuple[float, float] | None = None,
        compile: bool = False) -> TrainResult:
    """Train ``model`` on ``data`` with a registered trainer engine.

    ``data`` is (n, size) for the visible layer, or {layer: (n, size)} when the engine also
    takes other layers (labels, a DBN top RBM's two inputs). ``method`` names a trainer ("cd",
    "pcd", "updown", "wakesleep", "rws", "dbm", or a plugin's); ``k`` its Gibbs steps (an int, a
    function of the epoch or a list spread over the run, see ``k_at``); ``engine_options`` go to
    the engine; ``compile=True`` runs each update as one compiled graph (a CUDA graph on a GPU,
    see ``pgmdbn.compiled``) on the same random numbers. The engine's ``loss(batch)`` is a surrogate whose gradient is its update; SGD
    with momentum applies it (``weight_decay`` on the factors' weights only). Each epoch
    reports the loss and the engine's monitors on up to ``monitor_size`` training rows (0 turns
    them off; for an RBM: ``recon_error`` and, with ``valid``, ``free_energy_gap``, mean
    F(valid) minus mean F(train), which grows with overfitting). ``callbacks`` are called as
    ``cb(model, epoch, metrics)``, then the ``pgmdbn_on_epoch_end`` hook. With
    ``checkpoint_dir`` a checkpoint is written every ``checkpoint_every`` epochs; ``resume``
    continues from one and gives the same parameters as an uninterrupted run with the same seed
    and device. ``sparsity=(target, cost)`` adds ``sparsity_penalty`` to the engine's loss: the
    hidden layers' mean activations pulled toward ``target`` (Lee, Ekanadham & Ng 2008), for any
    trainer. ``init_from_data`` sets the data layers' biases to the data's base rates: True
    always, False never, None (default) where a bias is still all zero (an untrained layer, not
    one that pretraining set). The rest is the training loop's (``pgmdbn.training.train``).

    ``data`` may also be a ``torch.utils.data.Dataset`` of rows (batched by a seeded shuffling
    ``DataLoader``) or any iterable of batches (a ``DataLoader``, say over a memory-mapped
    ``.npy``), each a dict or a visible-layer array, read once per epoch: data larger than
    memory trains from disk. The base rates and the monitor then come from the first
    ``monitor_size`` rows it gives (at least one batch), read only when needed; the same
    batches give the same parameters as the in-memory path.

    Under ``torchrun`` (a ``torch.distributed`` process group initialised) training is
    data-parallel: each rank takes its share of every global batch of ``batch_size`` rows and its
    own random stream and persistent chains, gradients are averaged over ranks, and rank 0 writes
    the checkpoints; see docs/distributed.md.
    """
    check_fit_options(epochs=epochs, batch_size=batch_size, lr=lr, momentum=momentum, weight_decay=weight_decay,
                      seed=seed, monitor_size=monitor_size, checkpoint_every=checkpoint_every, k=k)
    device = validation.device(device) or next(model.parameters()).device
    model.to(device)
    # Under torch.distributed each rank samples its rows with its own stream (rank 0's is the
    # single-process one) and keeps its own persistent chains; see pgmdbn.training.train.
    generator = torch.Generator(device=device).manual_seed(distributed.block_seed(seed, distributed.rank()))
    options = dict(engine_options or {}, **({"compile": True} if validation.flag("compile", compile) else {}))
    engine = make_engine(model, method, k=k_at(k, 0, epochs), generator=generator, **options)
    streamed = is_stream(data)
    if streamed:
        source = batches(data, batch_size, seed)
        wants_init = resume is None and init_from_data is not False
        x = stream_sample(model, source, monitor_size, device) if wants_init or monitor_size else {
            n: torch.empty(0, model.layer(n).size, device=device) for n in engine.data_layers}
    else:
        x = as_data(model, data, device)
    missing = [n for n in engine.data_layers if n not in x]
    kind = model.structure
    if missing and kind not in getattr(engine, "structures", (kind,)):
        raise refusal(f"engine {method!r} trains {', '.join(engine.structures)} models, which the data gives whole; "
                      f"this {kind} would need data for {', '.join(missing)}", "engines", kind, role="trainer")
    if missing:
        raise DataError(f"engine {method!r} trains on layers {', '.join(engine.data_layers)} of this "
                        f"{kind}; the data lacks {', '.join(missing)}: pass {{layer: array}}")
    x = {n: x[n] for n in engine.data_layers}
    x_valid = None if valid is None else as_data(model, valid, device)
    if resume is None and (len(next(iter(x.values()))) or not streamed):
        for name, rows in x.items():
            bias = model.layer(name).bias
            if init_from_data or (init_from_data is None and not bias.detach().any()):
                model.layer(name).init_from_data(rows)
    weights = {id(p) for f in model.factors.values() for name, p in f.named_parameters() if not name.endswith("bias")}
    blame = plugin_code(model, method)
    optimizer = make_optimizer("sgd", param_groups(model.parameters(), weight_decay, lambda p: id(p) in weights),
                               lr, momentum)
    pick = torch.randperm(len(next(iter(x.values()))), generator=torch.Generator().manual_seed(seed))
    monitor = {name: rows[pick[:monitor_size].to(device)] for name, rows in x.items()}

    def set_k(epoch):
        engine.k = k_at(k, epoch, epochs)

    def load_extra_state(extra):  # extra tensors load on the CPU; the generator's state stays there
        if "generator" not in extra:
            raise ArgumentError(f"resume={str(resume)!r} is a checkpoint of another training loop (a fine-tuning "
                                f"or GP run): it holds no sampler state of a fit() trainer; resume it with the "
                                f"function that wrote it, or start fit without resume=")
        engine.load_state({key: t.to(device) for key, t in extra.items() if key != "generator"})
        generator.set_state(extra["generator"])

    def prepare(raw):
        rows = as_data(model, batch_dict(model, raw), device)
        lacking = [n for n in engine.data_layers if n not in rows]
        if lacking:
            raise DataError(f"engine {method!r} trains on layers {', '.join(engine.data_layers)}; a batch lacks "
                            f"{', '.join(lacking)}")
        return {n: rows[n] for n in engine.data_layers}

    loss = engine.loss
    if sparsity is not None:
        target, cost = (float(v) for v in sparsity)
        if not 0 < target < 1 or cost < 0:
            raise validation.ArgumentError(f"sparsity=(target, cost) needs 0 < target < 1 and cost >= 0, got "
                                           f"{sparsity!r}; e.g. (0.02, 0.1)")
        sparse_layers = sparsity_layers(model, list(x))
        if not sparse_layers:
            raise UnsupportedModel(f"sparsity: no hidden layer of this {kind} has all its neighbours among the data "
                                   f"layers {', '.join(x)}, so none has a mean activation given the data")

        def sparse_loss(batch):
            return engine.loss(batch) + cost * sparsity_penalty(model, batch, target, sparse_layers)

        loss = sparse_loss

    return train(model, source if streamed else x, loss, optimizer, epochs=epochs, batch_size=batch_size, seed=seed,
                 lr_schedule=lr_schedule, before_epoch=set_k, progress=progress,
                 evaluate=(lambda e: engine.monitor(monitor, x_valid))
                 if monitor_size and hasattr(engine, "monitor") else None,
                 callbacks=[*callbacks, registry.epoch_end], checkpoint_dir=checkpoint_dir,
                 checkpoint_every=checkpoint_every, resume=resume,
                 extra_state=lambda: {**engine.state(), "generator": generator.get_state()},
                 load_extra_state=load_extra_state, metadata={"method": method, "seed": seed}, prepare=prepare,
                 advice=", raise weight_decay, or standardise real-valued data", blame=blame,
                 check=(lambda e: probe_plugin_units(model, {n: r[:64] for n, r in x.items()}, generator))
                 if blame else None)


def probe_plugin_units(model, data: dict[str, Tensor], generator) -> str | None:
    """Once per epoch when plugin unit types take part: each plugin layer's ``mean`` and ``sample``
    on a few training rows must be finite (a NaN they return would otherwise pass silently).
    Returns the problem, naming the plugin and unit type, or None."""
    states = dict(data)
    with torch.no_grad():
        order = [n for n in model.layers if n not in states] + [n for n in model.layers if n in states]
        for name in order:
            units = model.layer(name)
            origin = _origin("units", units.name)
            eta = model.field(name, {k: v for k, v in states.items() if k != name})
            if eta.dim() == 1:
                eta = eta.expand(len(next(iter(data.values()))), -1)
            if origin in (None, "pgmdbn"):
                if name not in states:
                    states[name] = units.mean(eta)
                continue
            for what in ("mean", "sample"):
                try:
                    out = units.mean(eta) if what == "mean" else units.sample(eta, 1.0, generator)
                except Exception as error:  # noqa: BLE001 - plugin code
                    raise PluginError(f"unit type {units.name!r} of plugin {origin!r} (layer {name!r}) raised "
                                      f"{type(error).__name__} in {what}(): {error}") from error
                if not torch.isfinite(out).all():
                    return (f"unit type {units.name!r} of plugin {origin!r} (layer {name!r}) returned NaN or infinite "
                            f"values from {what}()")
            states.setdefault(name, out)
    return None


def check_fit_options(*, epochs, batch_size, lr, momentum, weight_decay, seed, monitor_size=0, checkpoint_every=1,
                      k=1) -> None:
    """fit's and pretrain's numeric options, each refused with its name, value and fix."""
    validation.nonnegative_int("epochs", epochs)
    validation.positive_int("batch_size", batch_size, "pass the number of examples per update")
    validation.nonnegative_float("lr", lr, "a learning rate such as 0.01 (0 freezes the parameters)")
    momentum = validation.nonnegative_float("momentum", momentum)
    if momentum >= 1:
        raise validation.ArgumentError(f"momentum={momentum!r} must be below 1 (SGD diverges otherwise); e.g. 0.9")
    validation.nonnegative_float("weight_decay", weight_decay, "an L2 penalty such as 1e-4, or 0 for none")
    validation.seed(seed)
    validation.nonnegative_int("monitor_size", monitor_size)
    validation.positive_int("checkpoint_every", checkpoint_every,
                            "checkpoints are written every checkpoint_every epochs")
    validation.int_schedule("k", k, minimum=1)


def plugin_code(model, method: str | None = None) -> str:
    """The plugin code a model and an engine involve, in words ("" when all is built in)."""
    found = []
    for name, units in getattr(model, "layers", {}).items():
        origin = _origin("units", getattr(units, "name", ""))
        if origin not in (None, "pgmdbn"):
            found.append(f"unit type {units.name!r} of plugin {origin!r} (layer {name!r})")
    for key, factor in getattr(model, "factors", {}).items():
        origin = _origin("factors", getattr(factor, "name", ""))
        if origin not in (None, "pgmdbn"):
            found.append(f"factor type {factor.name!r} of plugin {origin!r} ({key})")
    origin = _origin("engines", method) if method else None
    if origin not in (None, "pgmdbn"):
        found.append(f"engine {method!r} of plugin {origin!r}")
    return "; ".join(found)


def _origin(kind, name):
    try:
        return registry.origin(kind, name)
    except PluginError:
        return None
