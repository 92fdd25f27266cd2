"""The training loop shared by every trainer engine: batches, SGD with momentum, schedules,
metrics, callbacks, checkpoints with exact resume, and a stop on non-finite parameters."""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from .errors import DataError, PluginError, TrainingDiverged, UnsupportedModel
from .hooks import registry

Schedule = str | Callable[[int], float] | None


@dataclass
class FitResult:
    """What ``fit`` returns: the trained model and one metrics dict per epoch."""

    model: object
    history: list[dict] = field(default_factory=list)
    checkpoints: list[Path] = field(default_factory=list)


def lr_factor(schedule: Schedule, epoch: int, epochs: int) -> float:
    """Multiplier of the base learning rate in ``epoch`` (0-based)."""
    if schedule in (None, "constant"):
        return 1.0
    if callable(schedule):
        return float(schedule(epoch))
    progress = epoch / max(epochs, 1)
    if schedule == "linear":
        return 1.0 - progress
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * progress))
    raise ValueError(f"unknown lr_schedule {schedule!r}; use 'constant', 'linear', 'cosine' or a function of the epoch")


def k_at(k, epoch: int, epochs: int) -> int:
    """The Gibbs steps for ``epoch`` (0-based): an int, a function of the epoch, or a sequence
    spread over equal parts of the run ([3, 6, 10]: 3, then 6, then 10, as in up-down)."""
    if callable(k):
        return int(k(epoch))
    if isinstance(k, (list, tuple)):
        return int(k[min(len(k) - 1, epoch * len(k) // max(epochs, 1))])
    return int(k)


def snapshot(module) -> dict[str, Tensor]:
    """A detached copy of ``module``'s state: what training restores after a diverged epoch."""
    return {name: t.detach().clone() for name, t in module.state_dict().items()}


class StateKeeper:
    """Keeps a module's last good state (``keep`` after each step that ended finite; ``restore``
    after one that did not) and its best state by a validation score (lower is better)."""

    def __init__(self, module):
        self.module = module
        self.good = snapshot(module)
        self.best_score, self.best = math.inf, self.good

    def keep(self, score: float | None = None) -> None:
        self.good = snapshot(self.module)
        if score is not None and score < self.best_score:
            self.best_score, self.best = score, self.good

    def restore(self) -> None:
        self.module.load_state_dict(self.good)

    def restore_best(self) -> None:
        self.module.load_state_dict(self.best)


def as_data(model, data, device=None) -> dict[str, Tensor]:
    """Training data as {layer: (n, size)}; a bare array is the first declared (visible) layer's."""
    if not isinstance(data, dict):
        data = {next(iter(model.layers)): data}
    out = {}
    for name, x in data.items():
        x = torch.as_tensor(x)
        x = x.to(torch.get_default_dtype()) if not x.is_floating_point() else x.float()
        out[name] = model.layer(name).validate(x).to(device)
    rows = {name: len(x) for name, x in out.items()}
    if len(set(rows.values())) > 1:
        raise DataError(f"the data's layers have different numbers of rows: {rows}; give one row per example")
    return out


def make_engine(model, method: str, **options):
    """A registered trainer engine for ``model``; a refusal names the trainers that handle it."""
    engine_cls = registry.get("engines", method)
    trainers = [n for n in registry.names("engines") if getattr(registry.get("engines", n), "kind", "") == "trainer"]
    if getattr(engine_cls, "kind", None) != "trainer":
        raise PluginError(f"engine {method!r} is a {getattr(engine_cls, 'kind', 'non-trainer')}, not a trainer; "
                          f"fit takes one of: {', '.join(trainers)}")
    try:
        return engine_cls(model, **options)
    except UnsupportedModel as error:
        kind = model.structure
        able = [n for n in trainers if kind in getattr(registry.get("engines", n), "structures", ())]
        raise UnsupportedModel(f"engine {method!r}: {error} (trainers that handle a {kind}: "
                               f"{', '.join(able) or 'none'})") from None


def fit(model, data, method: str = "cd", *, k=1, epochs: int = 10, batch_size: int = 100,
        lr: float = 0.01, momentum: float = 0.5, weight_decay: float = 0.0, lr_schedule: Schedule = None,
        seed: int = 0, device: str | torch.device | None = None, valid=None, init_from_data: bool | None = None,
        monitor_size: int = 1000, callbacks: Sequence[Callable] = (), checkpoint_dir: str | Path | None = None,
        checkpoint_every: int = 1, resume: str | Path | None = None, progress: bool = True,
        engine_options: dict | None = None) -> FitResult:
    """Train ``model`` on ``data`` with a registered trainer engine.

    ``data`` is (n, size) for the first declared (visible) layer, or {layer: (n, size)} when the
    engine also takes other layers (labels, a DBN top RBM's two inputs). ``method`` names a
    trainer ("cd", "pcd", "updown", "wakesleep", "rws", "dbm", or a plugin's); ``k`` its Gibbs
    steps (an int, a function of the epoch or a list spread over the run, see ``k_at``);
    ``engine_options`` go to the engine. The engine's ``loss(batch)`` is a surrogate whose
    gradient is its update; SGD with momentum applies it. Each epoch reports the loss and the
    engine's monitors on up to ``monitor_size`` training rows (0 turns them off; for an RBM:
    ``recon_error`` and, with ``valid``, ``free_energy_gap``, mean F(valid) minus mean F(train),
    which grows with overfitting). ``callbacks`` are called as ``cb(model, epoch, metrics)``. With
    ``checkpoint_dir`` a checkpoint is written every ``checkpoint_every`` epochs; ``resume``
    continues from one and gives the same parameters as an uninterrupted run with the same seed
    and device. ``init_from_data`` sets the data layers' biases to the data's base rates: True
    always, False never, None (default) where a bias is still all zero (an untrained layer, not
    one that pretraining set).
    """
    from . import io

    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    generator = torch.Generator(device=device).manual_seed(seed)
    engine = make_engine(model, method, k=k_at(k, 0, epochs), generator=generator, **(engine_options or {}))
    x = as_data(model, data, device)
    missing = [n for n in engine.data_layers if n not in x]
    kind = model.structure
    if missing and kind not in getattr(engine, "structures", (kind,)):
        able = [m for m in registry.names("engines") if getattr(registry.get("engines", m), "kind", "") == "trainer"
                and kind in getattr(registry.get("engines", m), "structures", ())]
        raise UnsupportedModel(f"engine {method!r} trains {', '.join(engine.structures)} models, which the data "
                               f"gives whole; this {kind} would need data for {', '.join(missing)}. Trainers "
                               f"that handle a {kind}: {', '.join(able) or 'none'}")
    if missing:
        raise DataError(f"engine {method!r} trains on layers {', '.join(engine.data_layers)} of this "
                        f"{model.structure}; the data lacks {', '.join(missing)}: pass {{layer: array}}")
    x = {n: x[n] for n in engine.data_layers}
    x_valid = None if valid is None else as_data(model, valid, device)
    n = len(next(iter(x.values())))

    # each parameter once (tied layers share them), weight decay on the weights only
    params = list({id(p): p for p in model.parameters() if p.requires_grad}.values())
    weights = {id(p) for f in model.factors.values() for name, p in f.named_parameters() if not name.endswith("bias")}
    optimizer = torch.optim.SGD([{"params": [p for p in params if id(p) in weights], "weight_decay": weight_decay},
                                 {"params": [p for p in params if id(p) not in weights], "weight_decay": 0.0}],
                                lr=lr, momentum=momentum)
    names = {p: name for name, p in model.named_parameters()}
    result = FitResult(model)
    start = 0
    if resume is not None:
        start, result.history = _restore(model, optimizer, engine, generator, resume, names)
    else:
        for name, rows in x.items():
            bias = model.layer(name).bias
            if init_from_data or (init_from_data is None and not bias.detach().any()):
                model.layer(name).init_from_data(rows)

    pick = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:monitor_size].to(device)
    monitor = {name: rows[pick] for name, rows in x.items()}
    n_batches = math.ceil(n / batch_size)
    bar = progress_bar(progress, total=(epochs - start) * n_batches)
    keeper = StateKeeper(model)
    for epoch in range(start, epochs):
        for group in optimizer.param_groups:
            group["lr"] = lr * lr_factor(lr_schedule, epoch, epochs)
        engine.k = k_at(k, epoch, epochs)
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch)).to(device)
        shuffled = {name: rows[order] for name, rows in x.items()}  # one gather per epoch; batches are views
        total = torch.zeros((), device=device)
        for b in range(n_batches):
            batch = {name: rows[b * batch_size:(b + 1) * batch_size] for name, rows in shuffled.items()}
            optimizer.zero_grad(set_to_none=True)
            loss = engine.loss(batch)
            loss.backward()
            optimizer.step()
            total += loss.detach()
            if bar is not None:
                bar.update(1)
        bad = [names[p] for p in model.parameters() if not torch.isfinite(p).all()]
        if bad or not torch.isfinite(total):
            keeper.restore()
            where = f" in {', '.join(bad)}" if bad else " in the loss"
            last = f"; the last checkpoint is {result.checkpoints[-1]}" if result.checkpoints else ""
            raise TrainingDiverged(f"training diverged in epoch {epoch + 1}: non-finite values{where}. The model "
                                   f"was restored to its state after epoch {epoch}{last}. Lower lr (now {lr}), "
                                   f"raise weight_decay, or standardise real-valued data")
        metrics = {"epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"], "loss": total.item() / n_batches}
        if monitor_size and hasattr(engine, "monitor"):
            metrics.update(engine.monitor(monitor, x_valid))
        result.history.append(metrics)
        keeper = StateKeeper(model)
        if bar is not None:
            bar.set_postfix(epoch=epoch + 1, loss=f"{metrics['loss']:.4g}")
        for cb in callbacks:
            cb(model, epoch + 1, metrics)
        registry.epoch_end(model, epoch + 1, metrics)
        if checkpoint_dir is not None and ((epoch + 1) % checkpoint_every == 0 or epoch + 1 == epochs):
            path = Path(checkpoint_dir) / f"epoch{epoch + 1:04d}.safetensors"
            path.parent.mkdir(parents=True, exist_ok=True)
            extra = {f"momentum/{names[p]}": s["momentum_buffer"] for p, s in optimizer.state.items()
                     if s.get("momentum_buffer") is not None}
            extra.update(engine.state())
            extra["generator"] = generator.get_state()
            io.save(model, path, extra=extra, metadata={"epoch": epoch + 1, "method": method, "seed": seed,
                                                        "history": result.history})
            result.checkpoints.append(path)
    if bar is not None:
        bar.close()
    return result


def _restore(model, optimizer, engine, generator, path, names):
    from . import io

    device = next(model.parameters()).device
    saved, extra, meta = io.load(path, device=device, with_extra=True)
    if saved.spec() != model.spec():
        raise DataError(f"checkpoint {path} holds a different model structure; resume with the model it was "
                        f"trained from")
    model.load_state_dict(saved.state_dict())
    by_name = {n: p for p, n in names.items()}
    for key, buf in extra.items():
        if key.startswith("momentum/"):
            optimizer.state[by_name[key.split("/", 1)[1]]]["momentum_buffer"] = buf.to(device, copy=True)
    # extra tensors load on the CPU; the generator's state stays there (torch wants a CPU ByteTensor)
    engine.load_state({k: t.to(device) for k, t in extra.items() if k != "generator"})
    generator.set_state(extra["generator"])
    return int(meta["epoch"]), list(meta.get("history", []))


def progress_bar(enabled: bool, total: int, unit: str = "batch"):
    """A tqdm bar where tqdm is installed and ``enabled``, else None."""
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit=unit, leave=False, disable=None)
