"""The training loop shared by every trainer engine: batches, SGD with momentum, schedules,
metrics, callbacks, checkpoints with exact resume, and a stop on non-finite parameters."""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from .errors import DataError, PluginError, TrainingDiverged
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


def _as_data(model, layer: str, data, device) -> Tensor:
    x = torch.as_tensor(data, dtype=torch.get_default_dtype())
    return model.layer(layer).validate(x).to(device)


def fit(model, data, method: str = "cd", *, k: int = 1, epochs: int = 10, batch_size: int = 100,
        lr: float = 0.01, momentum: float = 0.5, weight_decay: float = 0.0, lr_schedule: Schedule = None,
        seed: int = 0, device: str | torch.device | None = None, valid=None, init_from_data: bool = True,
        monitor_size: int = 1000, callbacks: Sequence[Callable] = (), checkpoint_dir: str | Path | None = None,
        checkpoint_every: int = 1, resume: str | Path | None = None, progress: bool = True) -> FitResult:
    """Train an RBM-structured ``model`` on ``data`` (n, n_visible) with a trainer engine.

    ``method`` names a registered trainer ("cd", "pcd", or a plugin's); ``k`` its Gibbs steps.
    Each epoch reports ``recon_error`` (mean squared one-step reconstruction error on up to
    ``monitor_size`` training rows; 0 turns the monitors off) and, with ``valid``, ``free_energy_gap`` (mean F(valid) minus
    mean F(train)); a growing gap means overfitting. ``callbacks`` are called as
    ``cb(model, epoch, metrics)``. With ``checkpoint_dir`` a checkpoint is written every
    ``checkpoint_every`` epochs; ``resume`` continues from one and gives the same parameters
    as an uninterrupted run with the same seed and device.
    """
    from . import io

    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    visible, _ = model.pair()
    x = _as_data(model, visible, data, device)
    x_valid = None if valid is None else _as_data(model, visible, valid, device)
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")

    generator = torch.Generator(device=device).manual_seed(seed)
    engine_cls = registry.get("engines", method)
    if getattr(engine_cls, "kind", None) != "trainer":
        trainers = [n for n in registry.names("engines") if getattr(registry.get("engines", n), "kind", "") == "trainer"]
        raise PluginError(f"engine {method!r} is a {getattr(engine_cls, 'kind', 'non-trainer')}, not a trainer; "
                          f"fit takes one of: {', '.join(trainers)}")
    engine = engine_cls(model, k=k, generator=generator)
    weights = [f.weight for f in model.factors.values()]
    others = [p for p in model.parameters() if p.requires_grad and all(p is not w for w in weights)]
    optimizer = torch.optim.SGD([{"params": weights, "weight_decay": weight_decay},
                                 {"params": others, "weight_decay": 0.0}], lr=lr, momentum=momentum)
    names = {p: n for n, p in model.named_parameters()}
    result = FitResult(model)
    start = 0
    if resume is not None:
        start, result.history = _restore(model, optimizer, engine, generator, resume, names)
    elif init_from_data:
        model.layer(visible).init_from_data(x)

    monitor = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:monitor_size].cpu()]
    n_batches = math.ceil(len(x) / batch_size)
    bar = _progress(progress, total=(epochs - start) * n_batches)
    good = {n: t.detach().clone() for n, t in model.state_dict().items()}
    for epoch in range(start, epochs):
        for group in optimizer.param_groups:
            group["lr"] = lr * lr_factor(lr_schedule, epoch, epochs)
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
        shuffled = x[order.to(device)]  # one gather per epoch; batches are views
        total = torch.zeros((), device=device)
        for b in range(n_batches):
            batch = shuffled[b * batch_size:(b + 1) * batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = engine.loss(batch)
            loss.backward()
            optimizer.step()
            total += loss.detach()
            if bar is not None:
                bar.update(1)
        bad = [names[p] for p in model.parameters() if not torch.isfinite(p).all()]
        if bad or not torch.isfinite(total):
            model.load_state_dict(good)
            where = f" in {', '.join(bad)}" if bad else " in the loss"
            last = f"; the last checkpoint is {result.checkpoints[-1]}" if result.checkpoints else ""
            raise TrainingDiverged(f"training diverged in epoch {epoch + 1}: non-finite values{where}. The model "
                                   f"was restored to its state after epoch {epoch}{last}. Lower lr (now {lr}), "
                                   f"raise weight_decay, or standardise real-valued data")
        metrics = {"epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"], "loss": total.item() / n_batches,
                   **(evaluate(model, monitor, x_valid) if monitor_size else {})}
        result.history.append(metrics)
        good = {n: t.detach().clone() for n, t in model.state_dict().items()}
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


@torch.no_grad()
def evaluate(model, x: Tensor, x_valid: Tensor | None = None) -> dict:
    """Per-epoch monitors: one-step mean reconstruction error and the free-energy gap."""
    visible, hidden = model.pair()
    vis, hid = model.layer(visible), model.layer(hidden)
    h = hid.mean(model.field(hidden, {visible: x}))
    recon = vis.mean(model.field(visible, {hidden: h}), like=x)
    metrics = {"recon_error": (recon - x).pow(2).sum(-1).mean().item()}
    if x_valid is not None:
        f_train = model.free_energy({visible: x}).mean()
        f_valid = model.free_energy({visible: x_valid[:len(x)]}).mean()
        metrics["free_energy_gap"] = (f_valid - f_train).item()
    return metrics


def _restore(model, optimizer, engine, generator, path, names):
    from . import io

    saved, extra, meta = io.load(path, device=next(model.parameters()).device, with_extra=True)
    if saved.spec() != model.spec():
        raise DataError(f"checkpoint {path} holds a different model structure; resume with the model it was "
                        f"trained from")
    model.load_state_dict(saved.state_dict())
    by_name = {n: p for p, n in names.items()}
    for key, buf in extra.items():
        if key.startswith("momentum/"):
            optimizer.state[by_name[key.split("/", 1)[1]]]["momentum_buffer"] = buf.clone()
    engine.load_state(extra)
    generator.set_state(extra["generator"])
    return int(meta["epoch"]), list(meta.get("history", []))


def _progress(enabled: bool, total: int):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="batch", leave=False, disable=None)
