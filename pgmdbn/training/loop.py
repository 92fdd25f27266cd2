"""The one training loop, ``train``: every training function (``fit`` for the trainer engines,
the classifier's and the autoencoder's backprop, the GP's kernel fine-tuning) is a loss on a
batch plus options of this loop, and returns its ``TrainResult``."""
from __future__ import annotations

import hashlib
import json
import math
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from .. import distributed, io, validation
from ..errors import ArgumentError, DataError, PgmdbnError, PluginError, TrainingDiverged
from ..limits import limits
from ..progress import progress_bar

RUN_FILE = ".pgmdbn-run.json"  # in a checkpoint folder: the one run whose checkpoints it holds

Schedule = str | Callable[[int], float] | None


@dataclass
class TrainResult:
    """What every training function returns: the trained model, one metrics dict per recorded
    epoch (or step), and the checkpoint files written."""

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


class StateKeeper:
    """Keeps a module's last good state (``keep`` after each epoch that ended finite; ``restore``
    after one that did not) and its best state by a validation score (lower is better)."""

    def __init__(self, module):
        self.module = module
        self.good = {name: t.detach().clone() for name, t in module.state_dict().items()}
        self.best_score, self.best = math.inf, self.good

    def keep(self, score: float | None = None) -> None:
        self.good = {name: t.detach().clone() for name, t in self.module.state_dict().items()}
        if score is not None and score < self.best_score:
            self.best_score, self.best = score, self.good

    def restore(self) -> None:
        self.module.load_state_dict(self.good)

    def restore_best(self) -> None:
        self.module.load_state_dict(self.best)


def param_groups(params: Iterable[Tensor], weight_decay: float, is_weight: Callable[[Tensor], bool] | None = None,
                 **options) -> list[dict]:
    """Two optimiser groups: the weights (``is_weight``, default: matrices) with ``weight_decay``,
    the rest (biases, scales) without; ``options`` (e.g. lr) go to both. Each parameter once."""
    params = list({id(p): p for p in params if p.requires_grad}.values())
    is_weight = is_weight or (lambda p: p.ndim > 1)
    return [{"params": [p for p in params if is_weight(p)], "weight_decay": weight_decay, **options},
            {"params": [p for p in params if not is_weight(p)], "weight_decay": 0.0, **options}]


def make_optimizer(name: str, groups: list[dict], lr: float, momentum: float = 0.9,
                   lbfgs_steps: int = 3) -> torch.optim.Optimizer:
    """"sgd" (momentum; torch's form, the step is lr times the velocity), "adam" (betas
    (momentum, 0.999), weight decay as an L2 term), "adamw" (the same with decoupled weight
    decay, Loshchilov & Hutter 2019) or "lbfgs" (``lbfgs_steps`` iterations with a strong-Wolfe
    line search per batch; one group, no weight decay: add a penalty to the loss instead)."""
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum)
    if name == "adam":
        return torch.optim.Adam(groups, lr=lr, betas=(momentum, 0.999))
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=(momentum, 0.999))
    if name == "lbfgs":
        params = [p for g in groups for p in g["params"]]
        return torch.optim.LBFGS(params, lr=lr, max_iter=lbfgs_steps, line_search_fn="strong_wolfe")
    raise ValueError(f"unknown optimizer {name!r}; use 'sgd', 'adam', 'adamw' or 'lbfgs'")


def epoch_order(n: int, seed: int, epoch: int) -> Tensor:
    """The order (n,) in which epoch ``epoch`` of a run seeded ``seed`` visits n rows: a
    permutation from a generator of its own, seeded ``seed * 1_000_003 + epoch``."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


def batches(data, batch_size: int, seed: int = 0):
    """Data as the loop takes it: a dict of tensors stays as it is (the fast path: the loop
    shuffles and slices it on the device); a ``torch.utils.data.Dataset`` of rows becomes a
    ``DataLoader`` of ``batch_size`` shuffled by a generator seeded with ``seed``; any other
    iterable of batches (a ``DataLoader``, a list, a generator function's re-iterable) is
    returned as it is, to be read once per epoch."""
    from torch.utils.data import DataLoader, Dataset, IterableDataset

    if isinstance(data, Dataset) and not isinstance(data, IterableDataset):
        return DataLoader(data, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed))
    return data


def train(module, data: Mapping[str, Tensor] | Iterable, loss: Callable[[dict[str, Tensor]], Tensor],
          optimizer: torch.optim.Optimizer, *, epochs: int, batch_size: int, seed: int = 0,
          lr_schedule: Schedule = None, order: Callable[[int], Tensor] | None = None,
          before_epoch: Callable[[int], None] | None = None, evaluate: Callable[[int], dict] | None = None,
          score: str | None = None, restore_best: bool = False, log_every: int = 1,
          callbacks: Sequence[Callable] = (), progress: bool = True, unit: str = "epoch", what: str = "training",
          advice: str = "", checkpoint_dir: str | Path | None = None, checkpoint_every: int = 1,
          resume: str | Path | None = None, extra_state: Callable[[], dict] | None = None,
          load_extra_state: Callable[[dict], None] | None = None, metadata: dict | None = None,
          prepare: Callable[[object], dict[str, Tensor]] | None = None, blame: str = "",
          check: Callable[[int], str | None] | None = None) -> TrainResult:
    """Train ``module``'s parameters by minimising ``loss(batch)`` with ``optimizer``.

    ``data`` {name: (n, ...)} lives on the training device; a batch holds the same rows of each.
    Epoch ``e`` (0-based) runs ``before_epoch(e)``, sets each group's lr to its initial one times
    ``lr_factor(lr_schedule, e, epochs)`` and takes the rows ``order(e)`` (default: a permutation
    seeded by ``seed * 1_000_003 + e``) in batches of ``batch_size``, stepping through a closure
    (for L-BFGS). The batch losses (means) are summed on the device, without a host sync.

    Non-finite parameters or loss after an epoch, or ``TrainingDiverged`` from ``loss``, restore
    the state after the last good epoch and raise ``TrainingDiverged`` naming ``what`` and the
    first group's lr in force, then ``advice``. Every ``log_every`` epochs and at the last, the
    metrics {unit, "lr", "loss" (mean per row), "seconds", **evaluate(e + 1)} join the history,
    ``score`` (lower is better) marks the best state for ``restore_best``, and ``callbacks`` run
    as ``cb(module, e + 1, metrics)``. With ``checkpoint_dir`` a pgmdbn ``Model`` is saved every
    ``checkpoint_every`` epochs and at the end with the optimiser state, ``extra_state()`` and
    ``metadata``; ``resume`` continues from such a file (its extra tensors go to
    ``load_extra_state``) and ends on the parameters of an uninterrupted run.

    ``data`` may instead be any iterable of batches (see ``batches``: a ``DataLoader`` over a
    memory-mapped file trains data larger than memory), read once per epoch in its own order;
    ``prepare(batch)`` turns each into {name: tensor} on the device (default: the batch is
    such a dict already), and ``batch_size``, ``seed`` and ``order`` are the iterable's
    business. The same batches give the same result as the tensor path.

    Guards: the parameter norm or the loss growing by ``pgmdbn.limits.divergence_factor`` over
    its start also counts as divergence. A resume must match the checkpoint's seed, method
    (``metadata["method"]``), model structure and data fingerprint, and a checkpoint folder
    belongs to one run (its ``.pgmdbn-run.json``); ``resume`` may name the folder (its latest
    checkpoint). ``blame`` names plugin code involved (unit types, engine): errors raised inside
    the loss, and non-finite values, then name it; ``check(e)`` (run after each epoch) returns a
    reason to stop as diverged, or None.

    Under ``torch.distributed`` (a process group initialised, e.g. by ``pgmdbn.distributed.init()``
    under torchrun) the loop is data-parallel: every rank holds the data and forms the same global
    batches of ``batch_size`` rows; rank r takes the rows ``distributed.shard(rows, world, r)`` of
    each, and the gradients (and the loss) are all-reduced as the row-weighted mean before each
    optimiser step, so the step is one process's on the global batch. Rank 0's parameters are
    broadcast first; rank 0 writes the checkpoints, holding every rank's ``extra_state()`` (as
    ``rank<r>/<key>``), and a resume must run at the same world size.
    """
    epochs = validation.nonnegative_int("epochs", epochs)
    batch_size = validation.positive_int("batch_size", batch_size, "pass the number of examples per update")
    log_every = validation.positive_int("log_every", log_every)
    checkpoint_every = validation.positive_int("checkpoint_every", checkpoint_every,
                                               "checkpoints are written every checkpoint_every epochs")
    seed = validation.seed(seed)
    if lr_schedule is not None and not callable(lr_schedule) and lr_schedule not in ("constant", "linear", "cosine"):
        raise ArgumentError(f"lr_schedule={lr_schedule!r} is not 'constant', 'linear', 'cosine' or a function of the "
                            f"epoch")
    if restore_best and score is None:
        raise ValueError("restore_best needs a validation score")
    if not data:
        raise DataError(f"{what}: no data was given")
    names = {p: name for name, p in module.named_parameters()}
    world, here = distributed.world_size(), distributed.rank()
    distributed.broadcast_module(module)
    params = [p for p in names if p.requires_grad]
    streamed = not isinstance(data, Mapping)
    if streamed and order is not None:
        raise ValueError("order applies to a dict of tensors; an iterable of batches gives its own order")
    if not streamed:
        n = len(next(iter(data.values())))
        device = next(iter(data.values())).device
    base = [group["lr"] for group in optimizer.param_groups]
    result, start = TrainResult(module), 0
    run = None
    if checkpoint_dir is not None or resume is not None:
        run = {"seed": seed, "method": (metadata or {}).get("method"), "fingerprint": fingerprint(data)}
    if resume is not None:
        start, result.history, run_id = _resume(module, optimizer, _latest(resume), names, load_extra_state, run)
        run["run_id"] = run_id
    if checkpoint_dir is not None:
        run.setdefault("run_id", secrets.token_hex(8))
        if world > 1:
            run["run_id"] = distributed.broadcast_object(run["run_id"])
            problem = None
            if here == 0:
                try:
                    _claim(Path(checkpoint_dir), run, resume is not None)
                except PgmdbnError as error:
                    problem = error
            problem = distributed.broadcast_object(problem)
            if problem is not None:
                raise problem
        else:
            _claim(Path(checkpoint_dir), run, resume is not None)
    n_batches = (len(data) if hasattr(data, "__len__") else None) if streamed else math.ceil(n / batch_size)
    bar = progress_bar(progress and here == 0, (epochs - start) * n_batches if order is None and n_batches is not None else None)
    keeper = StateKeeper(module)
    norm0, loss0 = _norm(module), None
    try:
        for epoch in range(start, epochs):
            t0 = time.perf_counter()
            if before_epoch is not None:
                before_epoch(epoch)
            for group, lr in zip(optimizer.param_groups, base):
                group["lr"] = lr * lr_factor(lr_schedule, epoch, epochs)
            if streamed:
                epoch_batches = (prepare(b) if prepare is not None else b for b in data)
                total, seen = None, 0
            else:
                rows = (order(epoch) if order is not None else epoch_order(n, seed, epoch)).to(device)
                shuffled = {name: x[rows] for name, x in data.items()}  # one gather per epoch; batches are views
                total, seen = torch.zeros((), device=device), len(rows)
                epoch_batches = ({name: x[b:b + batch_size] for name, x in shuffled.items()}
                                 for b in range(0, seen, batch_size))
            for batch in epoch_batches:
                rows_in_batch = len(next(iter(batch.values())))
                if world > 1:  # this rank's rows of the global batch
                    part = distributed.shard(rows_in_batch, world, here)
                    batch = {name: x[part] for name, x in batch.items()}

                def closure():
                    optimizer.zero_grad(set_to_none=True)
                    if world == 1:
                        value = loss(batch)
                        value.backward()
                        return value
                    mine = len(next(iter(batch.values())))
                    value = None
                    if mine:
                        value = loss(batch)
                        value.backward()
                    return distributed.average_gradients(params, mine, value if value is not None else
                                                         torch.zeros((), device=params[0].device))

                try:
                    value = optimizer.step(closure)
                except TrainingDiverged as error:
                    _diverged(keeper, optimizer, result, what, unit, epoch, str(error), advice, base, blame)
                except PgmdbnError:
                    raise
                except Exception as error:
                    if not blame:
                        raise
                    keeper.restore()
                    raise PluginError(f"{what} failed in {unit} {epoch + 1}: {type(error).__name__}: {error}; raised "
                                      f"in code that involves {blame}. The parameters after {unit} {epoch} are "
                                      f"restored") from error
                if streamed:
                    total = torch.zeros((), device=value.device) if total is None else total
                    seen += rows_in_batch
                total += value.detach() * rows_in_batch
                if bar is not None:
                    bar.update(1)
            if total is None:
                raise DataError(f"{what}: the data gave no batches in {unit} {epoch + 1}")
            bad = [names[p] for p in names if not torch.isfinite(p).all()]
            if bad or not torch.isfinite(total):
                _diverged(keeper, optimizer, result, what, unit, epoch,
                          f"non-finite values in {', '.join(bad) if bad else 'the loss'}", advice, base, blame)
            problem = check(epoch) if check is not None else None
            if problem:
                _diverged(keeper, optimizer, result, what, unit, epoch, problem, advice, base, blame)
            norm, mean_loss = _norm(module), abs(total.item()) / max(seen, 1)
            loss0 = mean_loss if loss0 is None else loss0
            factor = limits.divergence_factor
            if norm > factor * max(norm0, 1.0):
                _diverged(keeper, optimizer, result, what, unit, epoch, f"the parameter norm grew from {norm0:.3g} to "
                          f"{norm:.3g}, more than pgmdbn.limits.divergence_factor={factor:g} times", advice, base,
                          blame)
            if mean_loss > factor * max(loss0, 1.0):
                _diverged(keeper, optimizer, result, what, unit, epoch, f"the loss grew from {loss0:.3g} to "
                          f"{mean_loss:.3g}, more than pgmdbn.limits.divergence_factor={factor:g} times", advice,
                          base, blame)
            last = epoch + 1 == epochs
            if (epoch + 1) % log_every and not last:
                keeper.keep()
            else:
                metrics = {unit: epoch + 1, "lr": optimizer.param_groups[0]["lr"], "loss": total.item() / max(seen, 1)}
                if evaluate is not None:
                    metrics.update(evaluate(epoch + 1))
                metrics.setdefault("seconds", time.perf_counter() - t0)
                if world > 1:  # one history, and one best state, on every rank
                    metrics = distributed.broadcast_object(metrics)
                keeper.keep(metrics[score] if score is not None else None)
                result.history.append(metrics)
                if bar is not None:
                    bar.set_postfix({unit: epoch + 1, **{k: f"{metrics[k]:.4g}" for k in ("loss", score) if k}})
                for cb in callbacks:
                    cb(module, epoch + 1, metrics)
            if checkpoint_dir is not None and ((epoch + 1) % checkpoint_every == 0 or last):
                result.checkpoints.append(_checkpoint(module, optimizer, Path(checkpoint_dir), epoch + 1, names,
                                                      extra_state, {**(metadata or {}), **run,
                                                                    "history": result.history}))
    finally:
        if bar is not None:
            bar.close()
    if restore_best:
        keeper.restore_best()
    return result


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _norm(module) -> float:
    with torch.no_grad():
        squares = [p.detach().double().square().sum() for p in module.parameters() if p.is_floating_point()]
        return math.sqrt(torch.stack(squares).sum().item()) if squares else 0.0


def fingerprint(data) -> str:
    """A hash of the training data (names, shapes, dtypes, values): resume refuses other data. An
    iterable of batches is not read for it: only its type and length count."""
    digest = hashlib.blake2b(digest_size=16)
    if not isinstance(data, Mapping):
        digest.update(f"{type(data).__name__}:{len(data) if hasattr(data, '__len__') else '?'}".encode())
        return digest.hexdigest()
    for name in sorted(data):
        x = data[name].detach().to("cpu").contiguous()
        digest.update(f"{name}:{tuple(x.shape)}:{x.dtype};".encode())
        if x.numel():
            digest.update(memoryview(x.reshape(-1).view(torch.uint8).numpy()))
    return digest.hexdigest()


def _diverged(keeper, optimizer, result, what, unit, epoch, reason, advice, base=None, blame=""):
    keeper.restore()
    last = f"; the last checkpoint is {result.checkpoints[-1]}" if result.checkpoints else ""
    lr = optimizer.param_groups[0]["lr"]
    scheduled = ""
    if base and base[0] and not math.isclose(lr, base[0]):
        scheduled = f" (the lr in force: base lr {base[0]:g} times the schedule's {lr / base[0]:g})"
    plugins = f". Plugin code involved: {blame}" if blame else ""
    raise TrainingDiverged(f"{what} diverged in {unit} {epoch + 1}: {reason}; the parameters after {unit} {epoch} "
                           f"are restored{last}. Lower lr (now {lr:g}){advice}{scheduled}{plugins}")


def _claim(folder: Path, run: dict, resuming: bool) -> None:
    """Make ``folder`` the checkpoint folder of ``run``, refusing one that belongs to another run."""
    folder.mkdir(parents=True, exist_ok=True)
    io.remove_stale_temporaries(folder)
    marker = folder / RUN_FILE
    if marker.exists():
        try:
            owner = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            owner = {}
        if owner.get("run_id") != run["run_id"]:
            how = "pass resume= its latest checkpoint to continue that run" if not resuming else \
                "resume into the run's own folder"
            raise ArgumentError(f"checkpoint_dir={str(folder)!r} holds the checkpoints of another run "
                                f"({owner.get('run_id', 'unknown')}, seed {owner.get('seed')}, method "
                                f"{owner.get('method')!r}); use a new folder, or {how}")
        return
    text = json.dumps({k: run[k] for k in ("run_id", "seed", "method", "fingerprint")}) + "\n"
    io._atomic_write(marker, [text.encode("utf-8")])


def _latest(resume) -> Path:
    """A checkpoint file: ``resume`` itself, or the latest epoch file of a checkpoint folder."""
    path = Path(resume)
    if path.is_dir():
        found = sorted(path.glob("epoch*.safetensors"))
        if not found:
            raise FileNotFoundError(f"resume={str(path)!r} is a folder with no checkpoint (epoch*.safetensors) in it")
        return found[-1]
    return path


def _checkpoint(module, optimizer, folder: Path, epoch: int, names, extra_state, metadata) -> Path:
    path = folder / f"epoch{epoch:04d}.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = {f"optimizer/{key}/{names[p]}": value for p, state in optimizer.state.items()
             for key, value in state.items() if isinstance(value, Tensor)}
    own = extra_state() if extra_state is not None else {}
    world = distributed.world_size()
    if world > 1:  # every rank's chains and random state, in rank 0's file
        for r, state in enumerate(distributed.gather_objects(own)):
            extra.update({f"rank{r}/{key}": value for key, value in state.items()})
    else:
        extra.update(own)
    if distributed.is_main():
        io.save(module, path, extra=extra, metadata={"epoch": epoch, "world_size": world, **metadata})
    distributed.barrier()
    return path


def _resume(module, optimizer, path, names, load_extra_state, run) -> tuple[int, list[dict], str]:
    device = next(module.parameters()).device
    saved, extra, meta = io.load(path, device=device, with_extra=True)
    if not _is_int(meta.get("epoch")):
        raise ArgumentError(f"resume={str(path)!r} is a model file (pgmdbn.save), not a training checkpoint: it holds "
                            f"no epoch count, optimiser state or random-generator state to continue from. To train "
                            f"that model further, load it (pgmdbn.load) and call fit on it without resume=; to make "
                            f"resumable checkpoints, train with checkpoint_dir=FOLDER and resume from a file in it")
    if saved.spec() != module.spec():
        raise DataError(f"checkpoint {path} holds a different model structure; resume with the model it was "
                        f"trained from")
    for key, what in (("seed", "seed"), ("method", "method")):
        if key in meta and meta[key] != run[key]:
            raise ArgumentError(f"checkpoint {path} was trained with {what}={meta[key]!r}, not {run[key]!r}; resume "
                                f"with {what}={meta[key]!r} (the same run), or start a new run without resume=")
    if "fingerprint" in meta and meta["fingerprint"] != run["fingerprint"]:
        raise DataError(f"checkpoint {path} was trained on other data (fingerprint {meta['fingerprint'][:12]}…, this "
                        f"data {run['fingerprint'][:12]}…); resume with the same data, in the same order")
    distributed.check_world_size(meta.get("world_size"), f"checkpoint {path}")
    module.load_state_dict(saved.state_dict())
    if distributed.world_size() > 1:
        prefix = f"rank{distributed.rank()}/"
        extra = {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in extra.items()
                 if k.startswith(prefix) or k.startswith("optimizer/")}
    by_name = {name: p for p, name in names.items()}
    for key, value in extra.items():
        if key.startswith("optimizer/"):
            _, state, name = key.split("/", 2)
            optimizer.state[by_name[name]][state] = value.to(device, copy=True) if value.ndim else value.clone()
    if load_extra_state is not None:
        load_extra_state({k: v for k, v in extra.items() if not k.startswith("optimizer/")})
    return int(meta["epoch"]), list(meta.get("history", [])), meta.get("run_id") or secrets.token_hex(8)
