"""``pgmdbn sample``: draw samples from a saved model, write them as a PNG grid and optionally a file."""
from __future__ import annotations

import argparse
import math
from pathlib import Path

from ..errors import PgmdbnError
from .common import (CliError, auto_threads, check_device, load_model, nonnegative_int, one_line, positive_int,
                     threads, visible_layer)

# pgmdbn.sample's arguments named in the library's messages, as this command's flags
FLAGS = {"method": "--method", "compile": "--compile", "steps": "--steps", "seed": "--seed", "threads": "--threads"}


def add(sub, common) -> None:
    p = sub.add_parser("sample", parents=[common], help="draw samples from a saved model (any kind)",
                       description="Run block-Gibbs chains on the model's undirected part, then a top-down pass "
                                   "through its directed layers, and write the visible layer: a PNG grid for "
                                   "image-shaped data, and optionally a .npy/.csv file. --clamp fixes layers "
                                   "(y=3 generates class 3 from a DBN with labels). --method picks any "
                                   "registered sampler instead (pgmdbn plugins lists them under engines).")
    p.add_argument("model", help="a .safetensors model file")
    p.add_argument("-n", "--n", type=positive_int, default=64, help="number of samples (default: 64)")
    p.add_argument("--steps", type=positive_int, default=1000,
                   help="Gibbs sweeps on the undirected part (default: 1000)")
    p.add_argument("--clamp", type=_clamp, action="append", metavar="LAYER=VALUE",
                   help="hold a layer fixed: an integer picks a state of a softmax layer (y=3); otherwise "
                        "comma-separated values, one per unit (h2=0,1,1,...). Repeatable")
    p.add_argument("--out", "-o", default="samples.png", help="PNG grid to write (default: samples.png)")
    p.add_argument("--shape", type=_image_shape, help="image shape HxW (default: square if the size is one)")
    p.add_argument("--scale", type=positive_int,
                   help="pixels per image pixel in the PNG (default: the smallest that makes the tiles at least "
                        "400 pixels wide)")
    p.add_argument("--save", help="also save the samples as .npy or .csv")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="random seed (default: 0)")
    p.add_argument("--method", metavar="SAMPLER",
                   help="a registered sampler run through pgmdbn.sample: ancestral (Gibbs on the undirected "
                        "part, then a top-down pass), gibbs (block Gibbs on an RBM or DBM) or a plugin's. "
                        "Default: block Gibbs states for a plain RBM, ancestral otherwise")
    p.add_argument("--compile", action="store_true",
                   help="run blocks of sweeps as torch.compile graphs (CUDA graphs on a GPU); needs a --method "
                        "with a compiled path, such as gibbs")
    p.set_defaults(run=run, flags=FLAGS)


def _clamp(text: str) -> tuple[str, object]:
    """LAYER=VALUE: (layer, int) for an integer, else (layer, list of floats)."""
    layer, sep, value = text.partition("=")
    layer, value = layer.strip(), value.strip()
    if not sep or not layer or not value:
        raise argparse.ArgumentTypeError(f"expected LAYER=VALUE such as y=3, got {text!r}")
    try:
        return layer, int(value)
    except ValueError:
        pass
    try:
        values = [float(v) for v in value.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: the value must be an integer (a softmax state) or "
                                         f"comma-separated numbers, one per unit") from None
    if not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: the values must be finite numbers")
    return layer, values


def _image_shape(text: str) -> tuple[int, int]:
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"expected HxW such as 28x28, got {text!r}")
    return int(parts[0]), int(parts[1])


def run(args):
    """``pgmdbn sample MODEL -n 64 --steps 1000 [--clamp y=3] --out samples.png``."""
    import torch

    from ..demo import draw_samples
    from ..api import as_clamp, sample
    from ..plot import save_grid

    _check_sampler(args.method, args.compile)
    device = check_device(args.device)
    model = load_model(args.model, device)
    visible = visible_layer(model)
    clamp = {}
    for layer, value in args.clamp or []:
        try:  # the library's check of the layer and the values' domain, named by the flag that gave them
            as_clamp(model, {layer: value}, 1)
        except (PgmdbnError, ValueError, RuntimeError) as e:
            shown = value if isinstance(value, int) else ",".join(f"{v:g}" for v in value)
            error = type(e) if isinstance(e, PgmdbnError) else CliError
            raise error(f"--clamp {layer}={shown}: {one_line(e)}") from None
        clamp[layer] = value
    size = model.layer(visible).size
    shape = _grid_shape(size, args.shape, args.out)
    plain_rbm = args.method is None and not clamp and model.structure == "rbm" and len(model.layers) == 2
    method = "gibbs" if plain_rbm else args.method or "ancestral"
    generator = torch.Generator(device=device).manual_seed(args.seed)
    with threads(auto_threads(args, model)):
        used_threads = torch.get_num_threads()
        if plain_rbm:  # the final binary states of block Gibbs, as always
            samples = draw_samples(model, args.n, args.steps, generator).cpu()
        else:  # a registered sampler (ancestral by default); the visible layer as its conditional means
            units = model.layer(visible)
            init = {} if visible in clamp else {
                visible: units.sample(units.field(None).detach().expand(args.n, size), 1.0, generator)}
            samples = sample(model, args.n, steps=args.steps, clamp=clamp, seed=args.seed, init=init, method=method,
                             compile=args.compile, conditional_means=(visible,))[visible].cpu()
    written = []
    for path in (args.out, args.save):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    if shape is not None:
        what = "samples" if plain_rbm else "conditional means of samples"
        save_grid(args.out, samples, shape=shape, normalize=None if _unit_range(samples) else "all", scale=args.scale,
                  title=f"{args.n} {what} of {Path(args.model).name}, {args.steps} steps"
                        + "".join(f", {k}={v}" for k, v in clamp.items()))
        written.append(args.out)
    if args.save:
        _save_array(Path(args.save), samples)
        written.append(args.save)
    summary = {"model": str(args.model), "kind": model.structure, "n": args.n, "steps": args.steps,
               "seed": args.seed, "method": method, "threads": used_threads, "clamp": clamp,
               "values": "states" if plain_rbm else "means", "files": written, "samples": samples.tolist()}
    return summary, _format_samples(samples, shape, written, clamp)


def _check_sampler(method: str | None, compile: bool) -> None:
    """Refuse, before any work, a --method that is not a registered sampler, and --compile without one."""
    from ..hooks import registry
    from ..protocols import handlers

    samplers = handlers("engines", role="sampler")
    if method is None:
        if compile:
            raise CliError(f"--compile needs --method, a sampler with a compiled path such as gibbs (registered "
                           f"samplers: {', '.join(samplers)})")
        return
    if method in samplers:
        return
    what = "not a registered engine"
    if method in registry.names("engines"):
        what = f"a {getattr(registry.get('engines', method), 'kind', 'non-sampler')} engine, not a sampler"
    raise CliError(f"--method {method} is {what}; pgmdbn sample --method takes one of: {', '.join(samplers)} "
                   f"(pgmdbn plugins lists every registered engine)")


def _grid_shape(size: int, shape, out) -> tuple[int, int] | None:
    """The image shape to draw, or None when the data are not image-shaped and no PNG was asked for."""
    if shape is not None:
        if shape[0] * shape[1] != size:
            raise CliError(f"--shape {shape[0]}x{shape[1]} has {shape[0] * shape[1]} pixels but the visible "
                           f"layer has {size} units")
        return shape
    side = math.isqrt(size)
    if side * side == size:
        return side, side
    raise CliError(f"the visible layer has {size} units, not a square image; pass --shape HxW to draw a PNG "
                   f"to {out}, or save the samples with --save samples.npy")


def _unit_range(x) -> bool:
    return bool(x.numel() == 0 or (x.min() >= 0 and x.max() <= 1))


def _save_array(path: Path, samples) -> None:
    import numpy as np

    if path.suffix.lower() == ".npy":
        np.save(path, samples.numpy())
    elif path.suffix.lower() == ".csv":
        np.savetxt(path, samples.numpy(), delimiter=",", fmt="%.6g")
    else:
        raise CliError(f"--save {path}: use a .npy or .csv file name")


def _format_samples(samples, shape, written, clamp=None) -> str:
    """Small binary images as text art (# for on, above 0.5), otherwise a one-line summary."""
    given = "" if not clamp else " given " + ", ".join(
        f"{k}={v}" if isinstance(v, int) else f"{k} ({len(v)} values)" for k, v in clamp.items())
    lines = [f"{len(samples)} samples of {samples.shape[1]} units{given}; mean activation {samples.mean():.3f}"]
    if shape is not None and shape[0] * shape[1] <= 64 and len(samples) <= 64:
        lines += _text_images(samples, shape)
    if written:
        lines.append("wrote " + ", ".join(str(w) for w in written))
    return "\n".join(lines)


def _text_images(samples, shape, per_row: int = 8) -> list[str]:
    """Images side by side as rows of '#' and '.' characters."""
    images = samples.reshape(len(samples), *shape) > 0.5
    lines = []
    for start in range(0, len(images), per_row):
        group = images[start:start + per_row]
        for r in range(shape[0]):
            lines.append("  " + "  ".join("".join("#" if on else "." for on in img[r].tolist()) for img in group))
        lines.append("")
    return lines
