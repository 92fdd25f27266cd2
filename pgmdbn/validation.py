"""The one validation layer: small pure checks of the arguments that ``fit``, ``pretrain``, the
estimators, ``sample``, ``classify`` and the fine-tuning loops share. Each returns the value
(normalised) or raises one pgmdbn error naming the argument, the value and the fix:
``ArgumentTypeError`` (also a ``TypeError``) for a wrong type, ``ArgumentError`` (a
``ValueError``) for a value out of range, ``DeviceError`` for a device this machine lacks.
"""
from __future__ import annotations

import difflib
import math
import numbers

import torch
from torch import Tensor

from .errors import ArgumentError, ArgumentTypeError, DataError, DeviceError

__all__ = ["positive_int", "nonnegative_int", "positive_float", "nonnegative_float", "probability", "seed",
           "generator", "blocks", "one_of", "device", "available_devices", "tensor", "schedule", "int_schedule", "flag",
           "did_you_mean"]

MAX_SEED = 2 ** 63 - 1


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _as_number(name, value, kind):
    if isinstance(value, Tensor) and value.numel() == 1 and not value.is_complex():
        value = value.item()
    if kind == "int" and not _is_int(value):
        if _is_real(value) and float(value).is_integer():
            return int(value)
        raise ArgumentTypeError(f"{name}={_show(value)} must be an integer (got {type(value).__name__}); "
                                f"pass a whole number such as {name}=10")
    if kind == "float" and not _is_real(value):
        raise ArgumentTypeError(f"{name}={_show(value)} must be a real number (got {type(value).__name__}); "
                                f"pass a number such as {name}=0.1")
    return value


def positive_int(name: str, value, fix: str = "") -> int:
    value = int(_as_number(name, value, "int"))
    if value < 1:
        raise ArgumentError(f"{name}={value} must be a positive integer (1 or more){fix and '; ' + fix}")
    return value


def nonnegative_int(name: str, value, fix: str = "") -> int:
    value = int(_as_number(name, value, "int"))
    if value < 0:
        raise ArgumentError(f"{name}={value} must be a non-negative integer (0 or more){fix and '; ' + fix}")
    return value


def positive_float(name: str, value, fix: str = "") -> float:
    value = float(_as_number(name, value, "float"))
    if not (math.isfinite(value) and value > 0):
        raise ArgumentError(f"{name}={value!r} must be a finite number above 0{fix and '; ' + fix}")
    return value


def nonnegative_float(name: str, value, fix: str = "") -> float:
    value = float(_as_number(name, value, "float"))
    if not (math.isfinite(value) and value >= 0):
        raise ArgumentError(f"{name}={value!r} must be a finite number of 0 or more{fix and '; ' + fix}")
    return value


def probability(name: str, value, fix: str = "") -> float:
    value = float(_as_number(name, value, "float"))
    if not 0 <= value <= 1:  # also refuses NaN
        raise ArgumentError(f"{name}={value!r} must be a probability in [0, 1]{fix and '; ' + fix}")
    return value


def seed(value, name: str = "seed", allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if not _is_int(value):
        raise ArgumentTypeError(f"{name}={_show(value)} must be an integer in 0..2**63-1"
                                f"{' or None' if allow_none else ''} (got {type(value).__name__}); e.g. {name}=0")
    if not 0 <= value <= MAX_SEED:
        raise ArgumentError(f"{name}={value} is outside 0..2**63-1, the seeds torch generators take; "
                            f"use a smaller non-negative integer")
    return int(value)


def generator(seed: int | None, device=None) -> torch.Generator:
    """A fresh ``torch.Generator`` on ``device`` (default CPU): seeded with ``seed`` (an int
    already checked by ``seed()``), or with ``seed=None`` seeded afresh from the operating
    system's entropy, so an unseeded call is a new random draw each time and never reads or
    advances torch's global generator. The one place that rule is written."""
    gen = torch.Generator(device=device) if device is not None else torch.Generator()
    if seed is None:
        gen.seed()  # the operating system's entropy, never torch's global generator
    else:
        gen.manual_seed(seed)
    return gen


def blocks(value) -> int | None:
    """An estimator's ``blocks=``: None (the ``torch.distributed`` world size) or a positive int,
    the number of seeded blocks its chains or examples are split into."""
    if value is None:
        return None
    return positive_int("blocks", value, "the number of seeded blocks (the world size of the torchrun run to "
                        "reproduce)")


def flag(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise ArgumentTypeError(f"{name}={_show(value)} must be True or False")
    return value


def did_you_mean(name, known) -> str:
    """" (did you mean 'x'?)" with the nearest of ``known`` to a misspelt ``name`` (difflib's
    closeness, cut-off 0.6), or "" when none is near: the tail of a refusal of an unknown name."""
    if not isinstance(name, str):
        return ""
    found = difflib.get_close_matches(name, [k for k in known if isinstance(k, str)], n=1)
    return f" (did you mean {found[0]!r}?)" if found else ""


def one_of(name: str, value, choices) -> object:
    if value not in choices:
        raise ArgumentError(f"{name}={_show(value)} is not one of {', '.join(repr(c) for c in choices)}")
    return value


def available_devices() -> list[str]:
    """The torch devices usable here, e.g. ['cpu', 'cuda:0']."""
    found = ["cpu"]
    if torch.cuda.is_available():
        found += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return found


def device(value, name: str = "device", allow_none: bool = True) -> torch.device | None:
    """A usable torch.device, or DeviceError naming the devices available here."""
    if value is None and allow_none:
        return None
    here = ", ".join(available_devices())
    if not isinstance(value, (str, torch.device)):
        raise ArgumentTypeError(f"{name}={_show(value)} must be a device name such as 'cpu' or 'cuda:0'; "
                                f"available here: {here}")
    try:
        dev = torch.device(value)
    except (RuntimeError, ValueError):
        raise DeviceError(f"{name}={_show(value)} is not a torch device; available here: {here}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"{name}={str(value)!r}: CUDA is not available in this torch build or on this "
                              f"machine; available here: {here}")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"{name}={str(value)!r}: there are only {torch.cuda.device_count()} CUDA device(s); "
                              f"available here: {here}")
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise DeviceError(f"{name}={str(value)!r}: MPS (Apple GPU) is not available here; available here: {here}")
    elif dev.type == "meta":
        raise DeviceError(f"{name}={str(value)!r}: meta tensors hold no values to compute with; available here: {here}")
    elif dev.type != "cpu":
        try:
            torch.empty(0, device=dev)
        except Exception:  # noqa: BLE001 - any backend failure means unusable
            raise DeviceError(f"{name}={str(value)!r} cannot hold tensors in this torch build; available here: "
                              f"{here}") from None
    return dev


def tensor(name: str, x, *, ndim: int | None = None, columns: int | None = None, rows: int | None = None,
           finite: bool = True, allow_grad: bool = False, error=DataError) -> Tensor:
    """``x`` as a dense real tensor that holds values: refuses complex, sparse, meta and
    (unless ``allow_grad``) requires_grad tensors, other shapes than ``ndim``/``columns``/``rows``,
    and (with ``finite``) NaN or infinite entries; raises ``error`` (default DataError) for
    value problems and ArgumentTypeError for type problems."""
    if isinstance(x, Tensor):
        if x.layout != torch.strided:
            raise ArgumentTypeError(f"{name} is a {x.layout} tensor; pass a dense one ({name}.to_dense())")
        if x.is_meta:
            raise ArgumentTypeError(f"{name} is a meta tensor, which holds no values; pass real data")
        if x.requires_grad and not allow_grad:
            raise ArgumentTypeError(f"{name} requires grad; pass {name}.detach() (pgmdbn computes its own "
                                    f"gradients and does not backpropagate into data)")
    else:
        try:
            x = torch.as_tensor(x)
        except (TypeError, ValueError, RuntimeError) as e:
            raise ArgumentTypeError(f"{name} of type {type(x).__name__} is not an array of numbers ({e}); "
                                    f"pass a torch tensor or numpy array") from None
    if x.is_complex():
        raise ArgumentTypeError(f"{name} has complex dtype {x.dtype}; pass real values (e.g. {name}.real)")
    if ndim is not None and x.ndim != ndim:
        raise error(f"{name} has shape {tuple(x.shape)}; it must have {ndim} dimension(s)"
                    + (f" (n, {columns})" if ndim == 2 and columns else ""))
    if columns is not None and (x.ndim < 1 or x.shape[-1] != columns):
        raise error(f"{name} has shape {tuple(x.shape)}; it needs {columns} columns")
    if rows is not None and (x.ndim < 1 or x.shape[0] != rows):
        raise error(f"{name} has {x.shape[0] if x.ndim else 0} rows, but {rows} are needed; pass {rows} rows "
                    f"or one row to broadcast")
    if finite and x.is_floating_point() and x.numel() and not torch.isfinite(x).all():
        bad = (~torch.isfinite(x)).nonzero()[0].tolist()
        raise error(f"{name} has a non-finite value {x[tuple(bad)].item()} at index {tuple(bad)}; remove or "
                    f"impute it first")
    return x


def schedule(name: str, betas, fix: str = "use pgmdbn.estimators.ais.paper_schedule(n)") -> Tensor:
    """An annealing schedule: at least two finite inverse temperatures increasing from 0 to 1."""
    if betas is None:
        raise ArgumentTypeError(f"{name}=None is not a schedule; {fix}")
    if isinstance(betas, (str, bytes)):
        raise ArgumentTypeError(f"{name}={_show(betas)} must be a sequence of numbers from 0 to 1; {fix}")
    try:
        b = torch.as_tensor(betas, dtype=torch.float64) if not isinstance(betas, Tensor) else betas
    except (TypeError, ValueError, RuntimeError):
        raise ArgumentTypeError(f"{name}={_show(betas)} must be a sequence of numbers from 0 to 1; {fix}") from None
    if b.is_complex() or b.layout != torch.strided or b.is_meta:
        raise ArgumentTypeError(f"{name} must be a dense real tensor of inverse temperatures; {fix}")
    b = b.detach().to("cpu", torch.float64)
    if b.ndim != 1 or len(b) < 2:
        raise ArgumentError(f"{name} has shape {tuple(b.shape)}; it needs at least two inverse temperatures "
                            f"in a flat list, from 0 to 1; {fix}")
    if not torch.isfinite(b).all():
        i = int((~torch.isfinite(b)).nonzero()[0])
        raise ArgumentError(f"{name}[{i}] is {b[i].item()}; every inverse temperature must be finite; {fix}")
    if b[0] != 0 or b[-1] != 1:
        raise ArgumentError(f"{name} runs from {b[0].item():g} to {b[-1].item():g}; it must start at 0 and end at 1; "
                            f"{fix}")
    steps = b[1:] - b[:-1]
    if (steps <= 0).any():
        i = int((steps <= 0).nonzero()[0])
        raise ArgumentError(f"{name} must increase strictly; {name}[{i + 1}]={b[i + 1].item():g} follows "
                            f"{name}[{i}]={b[i].item():g}; {fix}")
    return b


def int_schedule(name: str, value, minimum: int = 1):
    """An int, a non-empty list/tuple of ints, or a callable (checked when called): each >= ``minimum``."""
    if callable(value):
        return value
    if isinstance(value, (list, tuple)):
        if not value:
            raise ArgumentError(f"{name}=[] is empty; give at least one value")
        for i, v in enumerate(value):
            v = _as_number(f"{name}[{i}]", v, "int")
            if v < minimum:
                raise ArgumentError(f"{name}[{i}]={v} must be at least {minimum} (in {name}={_show(value)})")
        return list(value)
    v = _as_number(name, value, "int")
    if v < minimum:
        raise ArgumentError(f"{name}={v} must be at least {minimum}")
    return int(v)
