"""The ``pgmdbn`` command: demo, train, loglik, sample and plugins.

Every subcommand takes ``--json`` (the machine-readable result on stdout; progress and human
text go to stderr) and ``--device``. Errors that pgmdbn raises on purpose print one line,
``pgmdbn: error: ...``, and exit with status 2.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from .errors import DataError, PgmdbnError

__all__ = ["main", "build_parser", "load_data", "CliError"]

TRAIN_OPTIONS = ("method", "k", "epochs", "batch_size", "lr", "momentum", "weight_decay", "lr_schedule",
                 "seed", "init_from_data", "monitor_size")


class CliError(PgmdbnError):
    """A command-line argument that cannot be used as given."""


# ======================================================================================
# entry point
# ======================================================================================

def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default: sys.argv[1:]); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse exits on --help (0) and usage errors (2)
        return int(e.code or 0)
    try:
        result, text = args.run(args)
    except (PgmdbnError, OSError) as e:  # OSError: missing, unreadable or unwritable files
        print(f"pgmdbn: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pgmdbn: interrupted", file=sys.stderr)
        return 130
    _emit(result, text, args.json)
    return 0


def _emit(result, text: str, as_json: bool) -> None:
    """With ``as_json`` the result as JSON on stdout and the human text on stderr; else the text on stdout."""
    if as_json:
        print(text, file=sys.stderr)
        print(json.dumps(_finite(result), indent=2, allow_nan=False))
    else:
        print(text)


def _one_line(error: BaseException) -> str:
    """The error's message on one line."""
    message = str(error) or type(error).__name__
    # An OSError raised by the OS reads "[Errno 2] No such file or directory: 'x'"; pgmdbn's own
    # (no errno) already say what to do.
    if isinstance(error, OSError) and error.errno is not None and error.filename is not None:
        message = f"{error.strerror}: {error.filename}; check the path and its permissions"
    return " ".join(message.split())


def _finite(value):
    """JSON has no inf/nan: non-finite floats become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


# ======================================================================================
# the parser
# ======================================================================================

def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of the whole command, one sub-parser per subcommand."""
    from . import __version__

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true",
                        help="print the result as JSON on stdout; human text goes to stderr")
    common.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)")

    parser = argparse.ArgumentParser(
        prog="pgmdbn", description="Deep-belief-network family models: train, evaluate and sample RBMs.")
    parser.add_argument("--version", action="version", version=f"pgmdbn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_demo(sub, common)
    _add_train(sub, common)
    _add_loglik(sub, common)
    _add_sample(sub, common)
    _add_plugins(sub, common)
    return parser


def _add_demo(sub, common) -> None:
    from .demo import DATASETS

    p = sub.add_parser("demo", parents=[common], help="train an RBM and report exact log-likelihoods",
                       description="Train an RBM on bars-and-stripes 4x4 (no download) or MNIST, print exact "
                                   "train and test log-likelihoods, and write samples, filters and a "
                                   "learning curve as PNGs.")
    p.add_argument("--data", choices=DATASETS, default="bars", help="data set (default: bars)")
    p.add_argument("--hidden", type=_positive_int, help="number of hidden units (default: 20)")
    p.add_argument("--epochs", type=_positive_int, help="training epochs (default: 60 bars, 10 mnist)")
    p.add_argument("--seed", type=_nonnegative_int, default=0, help="random seed (default: 0)")
    p.add_argument("--out", default="pgmdbn-demo", help="output folder (default: pgmdbn-demo)")
    p.set_defaults(run=cmd_demo)


def _add_train(sub, common) -> None:
    p = sub.add_parser("train", parents=[common], help="train a model from a JSON spec file",
                       description="Build a model from a JSON spec file, train it with CD or PCD and save it as "
                                   "a .safetensors file. Training options come from the spec's \"train\" "
                                   "object; options given here override them.")
    p.add_argument("spec", help="model spec JSON file (layers, factors, optional train options)")
    _add_data_options(p, default_split="train")
    p.add_argument("--out", "-o", default="model.safetensors", help="where to save the trained model")
    p.add_argument("--method", help="trainer engine, e.g. cd or pcd (default: cd)")
    p.add_argument("--k", type=_positive_int, help="Gibbs steps per update")
    p.add_argument("--epochs", type=_positive_int, help="training epochs")
    p.add_argument("--batch-size", type=_positive_int, help="examples per update")
    p.add_argument("--lr", type=_positive_float, help="learning rate")
    p.add_argument("--momentum", type=_nonnegative_float, help="SGD momentum")
    p.add_argument("--weight-decay", type=_nonnegative_float, help="L2 penalty on the weights")
    p.add_argument("--lr-schedule", choices=("constant", "linear", "cosine"), help="learning-rate schedule")
    p.add_argument("--seed", type=_nonnegative_int, help="random seed")
    p.set_defaults(run=cmd_train)


def _add_loglik(sub, common) -> None:
    from .hooks import registry

    p = sub.add_parser("loglik", parents=[common], help="log-likelihood of data under a saved model",
                       description="Print the mean log-likelihood (nats per example) of data under a saved model.")
    p.add_argument("model", help="a .safetensors model file")
    _add_data_options(p, default_split="test")
    p.add_argument("--method", choices=registry.names("estimators"), default="exact",
                   help="registered estimator (default: exact)")
    p.add_argument("--temperatures", type=_positive_int, default=14500,
                   help="ais/raise: number of temperatures, spaced like the paper's (default 14500)")
    p.add_argument("--chains", type=_positive_int, default=None,
                   help="ais: chains (default 100); raise: chains per example (default 1)")
    p.add_argument("--runs", type=_positive_int, default=1, help="ais: independent runs, pooled (default 1)")
    p.add_argument("--compare-raise", type=_nonnegative_int, default=0,
                   help="ais: also run RAISE on this many examples and warn when they disagree by > 1 nat")
    p.add_argument("--samples", type=_positive_int, default=None, help="bound/iwae: samples K per example")
    p.set_defaults(run=cmd_loglik)


def _add_sample(sub, common) -> None:
    p = sub.add_parser("sample", parents=[common], help="draw samples from a saved model by block Gibbs",
                       description="Run block-Gibbs chains from base-rate visible states and write the final "
                                   "visible states: a PNG grid for image-shaped data, and optionally a .npy file.")
    p.add_argument("model", help="a .safetensors model file")
    p.add_argument("-n", type=_positive_int, default=64, help="number of samples (default: 64)")
    p.add_argument("--steps", type=_positive_int, default=1000, help="Gibbs sweeps (default: 1000)")
    p.add_argument("--out", "-o", default="samples.png", help="PNG grid to write (default: samples.png)")
    p.add_argument("--shape", type=_image_shape, help="image shape HxW (default: square if the size is one)")
    p.add_argument("--scale", type=_positive_int, help="pixels per image pixel in the PNG (default: automatic)")
    p.add_argument("--save", help="also save the samples as .npy or .csv")
    p.add_argument("--seed", type=_nonnegative_int, default=0, help="random seed (default: 0)")
    p.set_defaults(run=cmd_sample)


def _add_plugins(sub, common) -> None:
    p = sub.add_parser("plugins", parents=[common], help="list registered unit types, engines and estimators",
                       description="List every registered unit type, engine and estimator and where it came from.")
    p.set_defaults(run=cmd_plugins)


def _add_data_options(p, default_split: str) -> None:
    p.add_argument("--data", required=True,
                   help="mnist (from $PGMDBN_DATA or ../shared/data), bars (bars-and-stripes 4x4), "
                        "or a .npy/.csv file of shape (n, n_visible)")
    p.add_argument("--split", choices=("train", "test"), default=default_split,
                   help=f"split of mnist or bars (default: {default_split})")
    p.add_argument("--binarize", choices=("threshold", "stochastic", "none"), default="threshold",
                   help="how MNIST intensities become {0, 1} (default: threshold at 0.5)")
    p.add_argument("--limit", type=_positive_int, help="use only the first LIMIT examples")


# --- argument types -----------------------------------------------------------------------

def _positive_int(text: str) -> int:
    return _number(text, int, lambda v: v > 0, "a positive integer")


def _nonnegative_int(text: str) -> int:
    return _number(text, int, lambda v: v >= 0, "a non-negative integer")


def _positive_float(text: str) -> float:
    return _number(text, float, lambda v: math.isfinite(v) and v > 0, "a positive number")


def _nonnegative_float(text: str) -> float:
    return _number(text, float, lambda v: math.isfinite(v) and v >= 0, "a non-negative number")


def _number(text, kind, ok, what):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def _image_shape(text: str) -> tuple[int, int]:
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"expected HxW such as 28x28, got {text!r}")
    return int(parts[0]), int(parts[1])


# ======================================================================================
# shared pieces
# ======================================================================================

def check_device(name: str):
    """A torch.device for ``name``, or a CliError saying why it cannot be used here."""
    import torch

    try:
        device = torch.device(name)
    except RuntimeError:
        raise CliError(f"--device {name!r} is not a torch device; use cpu, cuda, cuda:1, mps ...") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CliError(f"--device {name}: CUDA is not available in this torch build or on this machine; "
                       f"use --device cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise CliError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) here")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise CliError(f"--device {name}: MPS is not available here; use --device cpu")
    return device


def load_data(source: str, split: str = "train", binarize: str = "threshold", limit: int | None = None,
              seed: int = 0):
    """Data named on the command line: "mnist", "bars", or a .npy/.csv path. Returns (n, d) float32."""
    import torch

    if source == "mnist":
        from .data import load_mnist

        x, _ = load_mnist(split, binarize=None if binarize == "none" else binarize, seed=seed, limit=limit)
        return x
    if source == "bars":
        from .demo import bars_split

        x = bars_split(split, seed)
    else:
        x = torch.as_tensor(_read_array(Path(source)), dtype=torch.float32)
    return x[:limit] if limit is not None else x


def _read_array(path: Path):
    """A 2-D float array from a .npy or .csv file (a CSV may have one header line)."""
    import numpy as np

    suffix = path.suffix.lower()
    if suffix not in (".npy", ".csv"):
        raise DataError(f"--data {str(path)!r} is neither mnist, bars, nor a .npy/.csv file; pass one of those")
    if not path.is_file():
        raise FileNotFoundError(f"no data file at {path}; check the path (or use --data mnist or --data bars)")
    if suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except ValueError as e:
            raise DataError(f"{path}: not a plain numeric .npy array ({e}); save it with numpy.save") from None
    else:
        array = _read_csv(path)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise DataError(f"{path}: expected a numeric (n, n_visible) array, got {array.dtype} of shape "
                        f"{array.shape}; reshape it to one row per example")
    return array.astype(np.float32)


def _read_csv(path: Path):
    import numpy as np

    for skip in (0, 1):  # one header line is allowed
        try:
            return np.loadtxt(path, delimiter=",", ndmin=2, skiprows=skip, dtype=np.float64)
        except ValueError as e:
            error = e
    raise DataError(f"{path}: not a CSV of numbers ({error}); one example per line, comma-separated, "
                    f"at most one header line")


def _load_model(path: str, device):
    from .io import load

    return load(path, device=device)


def _visible(model) -> str:
    """The visible layer of a model the CLI can evaluate or sample (an RBM)."""
    visible, _ = model.pair()
    return visible


# ======================================================================================
# subcommands: each returns (JSON-ready result, human text)
# ======================================================================================

def cmd_demo(args):
    """``pgmdbn demo``: see pgmdbn.demo.run_demo."""
    from .demo import run_demo

    device = check_device(args.device)
    report = run_demo(data=args.data, hidden=args.hidden, epochs=args.epochs, seed=args.seed, out=args.out,
                      device=str(device), progress=True)
    return report, format_demo(report)


def format_demo(report: dict) -> str:
    """The human summary of a demo run: a small table of exact log-likelihoods and the files."""
    ll = report["log_likelihood"]
    m = report["model"]
    t = report["training"]
    lines = [
        f"pgmdbn demo: {m['visible']}-{m['hidden']} RBM on {report['description']}, "
        f"{report['n_train']} train / {report['n_test']} test examples",
        f"  trained {report['epochs']} epochs with {t['method'].upper()}-{t['k']}, lr {t['lr']} ({t['lr_schedule']}), "
        f"momentum {t['momentum']}, batch {t['batch_size']}, weight decay {t['weight_decay']}",
        "",
        "  exact log-likelihood (nats per example)      train      test",
        f"  untrained model (data base rates)        {ll['base_rate']['train']:9.3f} {ll['base_rate']['test']:9.3f}",
        f"  trained RBM                              {ll['trained']['train']:9.3f} {ll['trained']['test']:9.3f}",
    ]
    if ll["optimum"] is not None:
        opt = ll["optimum"]
        lines.append(f"  optimum, -log {round(math.exp(-opt))} (uniform over patterns) {opt:9.3f} {opt:9.3f}")
    folder = Path(report["files"]["samples"]).parent
    names = ", ".join(Path(p).name for p in report["files"].values())
    lines += ["", f"  wrote {names} to {folder}/ in {report['seconds']:.1f} s"]
    return "\n".join(lines)


def cmd_train(args):
    """``pgmdbn train SPEC --data ...``: build, fit and save a model."""
    from .io import model_from_spec_file, read_spec, save
    from .training import fit

    device = check_device(args.device)
    spec = read_spec(args.spec)
    options = _train_options(spec, args)
    model = model_from_spec_file(args.spec)
    visible = _visible(model)
    # The data's own seed stays fixed, so train and loglik see the same bars split and binarisation.
    x = load_data(args.data, args.split, args.binarize, args.limit)
    print(f"training {model.describe()} {' - '.join(f'{n}:{u.size}' for n, u in model.layers.items())} on "
          f"{len(x)} examples from {args.data}", file=sys.stderr)
    from .demo import threads_for, torch_threads

    n_weights = sum(f.weight.numel() for f in model.factors.values())
    with torch_threads(threads_for(n_weights)):
        result = fit(model, x, device=device, progress=True, **options)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    out = save(model, args.out, metadata={"train": options, "data": args.data, "history": result.history})
    last = result.history[-1] if result.history else {}
    summary = {"model": str(out), "spec": str(args.spec), "data": args.data, "n_examples": len(x),
               "visible": visible, "train": options, "history": result.history}
    text = (f"trained {len(result.history)} epochs ({options.get('method', 'cd')}); last epoch: "
            + ", ".join(f"{k} {v:.4g}" for k, v in last.items() if k != "epoch" and isinstance(v, float))
            + f"\nsaved {out}")
    return summary, text


def _train_options(spec: dict, args) -> dict:
    """fit() keyword arguments: the spec's "train" object, overridden by command-line options."""
    options = dict(spec.get("train", {}))
    unknown = sorted(set(options) - set(TRAIN_OPTIONS))
    if unknown:
        raise CliError(f"{args.spec}: train.{unknown[0]} is not a training option; known: "
                       f"{', '.join(TRAIN_OPTIONS)}")
    for name in TRAIN_OPTIONS:
        value = getattr(args, name, None)
        if value is not None:
            options[name] = value
    _check_trainer(options.get("method", "cd"))
    return options


def _check_trainer(method: str) -> None:
    """Fail before any data is read if ``method`` is not a registered trainer engine."""
    from .hooks import registry

    engine = registry.get("engines", method)  # a PluginError naming every engine
    if getattr(engine, "kind", "trainer") != "trainer":
        trainers = [n for n in registry.names("engines")
                    if getattr(registry.get("engines", n), "kind", "trainer") == "trainer"]
        raise CliError(f"engine {method!r} is a {engine.kind}, not a trainer; --method takes one of "
                       f"{', '.join(trainers)}")


def cmd_loglik(args):
    """``pgmdbn loglik MODEL --data ... --method exact``."""
    from .api import log_likelihood

    device = check_device(args.device)
    model = _load_model(args.model, device)
    _visible(model)
    x = load_data(args.data, args.split, args.binarize, args.limit).to(device)
    result = log_likelihood(model, x, method=args.method, **_estimator_options(args))
    summary = {"model": str(args.model), "data": args.data, "split": args.split, **result.to_dict()}
    text = f"{result} on {len(x)} examples from {args.data}"
    if result.log_z is not None:
        text += f"; log Z = {result.log_z:.4f}"
    for key in ("ess", "log_z_run_std", "raise_mean", "std_error"):
        if result.spread.get(key) is not None:
            text += f"; {key} = {result.spread[key]:.4g}"
    for warning in result.warnings:
        text += f"\nwarning: {warning}"
    return summary, text


def _estimator_options(args) -> dict:
    """The command-line options that the chosen estimator takes."""
    from .estimators.ais import paper_schedule

    options = {}
    if args.method in ("ais", "raise"):
        options["betas"] = paper_schedule(args.temperatures)
        if args.chains is not None:
            options["n_chains"] = args.chains
    if args.method == "ais":
        options.update(runs=args.runs, compare_raise=args.compare_raise)
    if args.method in ("bound", "iwae") and args.samples is not None:
        options["k"] = args.samples
    if args.method in ("ais", "raise", "bound", "iwae", "exact"):
        options["progress"] = not args.json
    return options


def cmd_sample(args):
    """``pgmdbn sample MODEL -n 64 --steps 1000 --out samples.png``."""
    import torch

    from .demo import draw_samples, threads_for, torch_threads
    from .plot import save_grid

    device = check_device(args.device)
    model = _load_model(args.model, device)
    size = model.layer(_visible(model)).size
    shape = _grid_shape(size, args.shape, args.out)
    generator = torch.Generator(device=device).manual_seed(args.seed)
    n_weights = sum(f.weight.numel() for f in model.factors.values())
    with torch_threads(threads_for(n_weights)):
        samples = draw_samples(model, args.n, args.steps, generator).cpu()
    written = []
    for path in (args.out, args.save):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    if shape is not None:
        scale = args.scale or max(1, 64 // max(shape))
        save_grid(args.out, samples, shape=shape, normalize=None if _unit_range(samples) else "all", scale=scale)
        written.append(args.out)
    if args.save:
        _save_array(Path(args.save), samples)
        written.append(args.save)
    summary = {"model": str(args.model), "n": args.n, "steps": args.steps, "seed": args.seed,
               "files": written, "samples": samples.tolist()}
    return summary, _format_samples(samples, shape, written)


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


def _format_samples(samples, shape, written) -> str:
    """Small binary images as text art (# for on), otherwise a one-line summary."""
    lines = [f"{len(samples)} samples of {samples.shape[1]} units; mean activation {samples.mean():.3f}"]
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


def cmd_plugins(args):
    """``pgmdbn plugins``: every registered name, its plugin and where that came from."""
    from .hooks import registry

    rows = registry.describe()
    width = max([len(r["name"]) for r in rows] + [4])
    lines = []
    for kind in ("units", "engines", "estimators"):
        lines.append(f"{kind}:")
        lines += [f"  {r['name']:<{width}}  plugin {r['plugin']!r}, {r['source']}" for r in rows if r["kind"] == kind]
    others = [r for r in rows if r["kind"] not in ("units", "engines", "estimators")]
    lines += [f"{r['kind']}: {r['name']} ({r['plugin']}, {r['source']})" for r in others]
    return rows, "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
