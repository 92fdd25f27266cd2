"""The ``pgmdbn`` command: demo, train, loglik, sample, graph and plugins.

Every subcommand takes ``--json`` (the machine-readable result on stdout; progress and human
text go to stderr) and ``--device``. Errors that pgmdbn raises on purpose print one line,
``pgmdbn: error: ...``, and exit with status 2.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings
from pathlib import Path

from .errors import DataError, PgmdbnError

__all__ = ["main", "build_parser", "load_data", "CliError"]

TRAIN_OPTIONS = ("method", "k", "epochs", "batch_size", "lr", "momentum", "weight_decay", "lr_schedule",
                 "seed", "init_from_data", "monitor_size", "engine_options")
# The greedy layer-wise stage that runs before fit (pgmdbn.pretrain), for DBNs and DBMs.
PRETRAIN_OPTIONS = ("pretrain_epochs", "pretrain_method", "propagate")
# fit's method when neither the spec nor --method names one, by model.structure.
DEFAULT_METHOD = {"rbm": "cd", "dbn": "updown", "dbm": "dbm", "sbn": "wakesleep"}


class CliError(PgmdbnError):
    """A command-line argument that cannot be used as given."""


# ======================================================================================
# entry point
# ======================================================================================

def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default: sys.argv[1:]); returns the exit status.

    Every failure prints one ``pgmdbn: error: ...`` line and returns 2; a broken or clashing
    installed plugin is reported (``pgmdbn: warning: ...``) and skipped, and the command goes on.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        try:
            return _main(argv)
        finally:
            for w in caught:
                if issubclass(w.category, RuntimeWarning) and "pgmdbn plugin" in str(w.message):
                    print(f"pgmdbn: warning: {' '.join(str(w.message).split())}", file=sys.stderr)


def _main(argv) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse exits on --help (0) and usage errors (2)
        return e.code if isinstance(e.code, int) else 2
    except Exception as e:  # noqa: BLE001 - e.g. a plugin that breaks listing the estimators
        print(f"pgmdbn: error: {_one_line(e)}", file=sys.stderr)
        return 2
    try:
        from . import distributed

        distributed.init()  # under torchrun: one process group, data-parallel training, split estimators
        result, text = args.run(args)
    except KeyboardInterrupt:
        print("pgmdbn: interrupted", file=sys.stderr)
        return 130
    except MemoryError as e:  # a limit of pgmdbn.limits, or the allocator itself
        message = _one_line(e) if str(e) else "out of memory; use a smaller model, fewer examples or chains"
        print(f"pgmdbn: error: {message}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - the promise: one line, never a traceback
        message = _one_line(e)
        if not isinstance(e, (PgmdbnError, OSError)):
            message = f"{type(e).__name__}: {message} (an unexpected failure; please report it)"
        print(f"pgmdbn: error: {message}", file=sys.stderr)
        return 2
    from . import distributed

    main_rank = distributed.is_main()
    distributed.shutdown()
    if not main_rank:  # rank 0 prints the one result
        return 0
    try:
        _emit(result, text, args.json)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
    except BrokenPipeError:  # the reader stopped early (pgmdbn plugins --json | head): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
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
        prog="pgmdbn", description="Deep-belief-network family models (RBM, DBN, DBM, sigmoid belief net): "
                                   "train, evaluate, sample and draw them.")
    parser.add_argument("--version", action="version", version=f"pgmdbn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_demo(sub, common)
    _add_train(sub, common)
    _add_loglik(sub, common)
    _add_sample(sub, common)
    _add_graph(sub, common)
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
    p = sub.add_parser("train", parents=[common], help="train a model (RBM, DBN, DBM, SBN) from a JSON spec file",
                       description="Build a model from a JSON spec file, train it and save it as a .safetensors "
                                   "file. Training is an optional greedy layer-wise stage (--pretrain-epochs, "
                                   "for DBNs and DBMs) followed by --epochs of --method (default by model kind: "
                                   "rbm cd, dbn updown, dbm dbm, sbn wakesleep). Training options come from the "
                                   "spec's \"train\" object; options given here override them.")
    p.add_argument("spec", help="model spec JSON file (layers, factors, optional train options)")
    _add_data_options(p, default_split="train")
    p.add_argument("--out", "-o", default="model.safetensors", help="where to save the trained model")
    p.add_argument("--method", help="trainer engine: cd, pcd, updown, wakesleep, rws, dbm or a plugin's "
                                    "(default by model kind: rbm cd, dbn updown, dbm dbm, sbn wakesleep)")
    p.add_argument("--k", type=_positive_int, help="Gibbs steps per update")
    p.add_argument("--epochs", type=_nonnegative_int,
                   help="epochs of --method after any pretraining (default 10; 0: pretraining only)")
    p.add_argument("--pretrain-epochs", type=_nonnegative_int,
                   help="DBN/DBM: epochs of greedy layer-wise RBM training per stage first (default 0: none)")
    p.add_argument("--pretrain-method", help="trainer of the greedy stages' RBMs: cd or pcd (default: cd)")
    p.add_argument("--propagate", choices=("mean", "sample"),
                   help="what the next greedy stage trains on: the hidden probabilities or samples (default: mean)")
    p.add_argument("--batch-size", type=_positive_int, help="examples per update")
    p.add_argument("--lr", type=_positive_float, help="learning rate")
    p.add_argument("--momentum", type=_nonnegative_float, help="SGD momentum")
    p.add_argument("--weight-decay", type=_nonnegative_float, help="L2 penalty on the weights")
    p.add_argument("--lr-schedule", choices=("constant", "linear", "cosine"), help="learning-rate schedule")
    p.add_argument("--seed", type=_nonnegative_int, help="random seed")
    p.add_argument("--checkpoint-dir", help="write a checkpoint of the fit stage into this folder (one run per "
                                            "folder) every --checkpoint-every epochs")
    p.add_argument("--checkpoint-every", type=_positive_int, default=1, help="epochs between checkpoints (default 1)")
    p.add_argument("--resume", help="continue an interrupted run from a checkpoint file, or from the latest "
                                    "checkpoint in a folder; gives the parameters of an uninterrupted run")
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
    p.add_argument("--samples", type=_positive_int, default=None,
                   help="bound/iwae on a DBN or SBN: samples K per example")
    p.add_argument("--log-z", choices=("exact", "ais"), default="exact",
                   help="bound/iwae: log Z of the undirected part (a DBM, or a DBN's top RBM) by enumeration or "
                        "by AIS, with --temperatures/--chains/--runs (default: exact)")
    p.set_defaults(run=cmd_loglik)


def _add_sample(sub, common) -> None:
    p = sub.add_parser("sample", parents=[common], help="draw samples from a saved model (any kind)",
                       description="Run block-Gibbs chains on the model's undirected part, then a top-down pass "
                                   "through its directed layers, and write the visible layer: a PNG grid for "
                                   "image-shaped data, and optionally a .npy/.csv file. --clamp fixes layers "
                                   "(y=3 generates class 3 from a DBN with labels).")
    p.add_argument("model", help="a .safetensors model file")
    p.add_argument("-n", "--n", type=_positive_int, default=64, help="number of samples (default: 64)")
    p.add_argument("--steps", type=_positive_int, default=1000,
                   help="Gibbs sweeps on the undirected part (default: 1000)")
    p.add_argument("--clamp", type=_clamp, action="append", metavar="LAYER=VALUE",
                   help="hold a layer fixed: an integer picks a state of a softmax layer (y=3); otherwise "
                        "comma-separated values, one per unit (h2=0,1,1,...). Repeatable")
    p.add_argument("--out", "-o", default="samples.png", help="PNG grid to write (default: samples.png)")
    p.add_argument("--shape", type=_image_shape, help="image shape HxW (default: square if the size is one)")
    p.add_argument("--scale", type=_positive_int, help="pixels per image pixel in the PNG (default: automatic)")
    p.add_argument("--save", help="also save the samples as .npy or .csv")
    p.add_argument("--seed", type=_nonnegative_int, default=0, help="random seed (default: 0)")
    p.set_defaults(run=cmd_sample)


def _add_graph(sub, common) -> None:
    p = sub.add_parser("graph", parents=[common], help="draw a model's graph as a PNG",
                       description="Draw the layers (boxes) and factors (lines; arrows for directed ones, parent "
                                   "to child) of a saved model or a JSON spec, visible layer at the bottom.")
    p.add_argument("model", help="a .safetensors model file or a .json spec file")
    p.add_argument("--out", "-o", default="graph.png", help="PNG to write (default: graph.png)")
    p.add_argument("--scale", type=_positive_int, default=2, help="size of the drawing, 1 or more (default: 2)")
    p.set_defaults(run=cmd_graph)


def _add_plugins(sub, common) -> None:
    p = sub.add_parser("plugins", parents=[common], help="list registered unit types, factor types, engines and estimators",
                       description="List every registered unit type, factor type, engine and estimator and where "
                                   "it came from.")
    p.set_defaults(run=cmd_plugins)


def _add_data_options(p, default_split: str) -> None:
    p.add_argument("--data", required=True,
                   help="mnist (from $PGMDBN_DATA or ../shared/data), bars (bars-and-stripes 4x4), "
                        "a .npy/.csv file of shape (n, n_visible), or a .npz file with arrays x and, "
                        "optionally, labels y; mnist and bars carry labels for a model's softmax label layer")
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


# ======================================================================================
# shared pieces
# ======================================================================================

def check_device(name: str):
    """A torch.device for ``name``, or a CliError saying why it cannot be used here."""
    from . import validation

    try:
        return validation.device(name, "--device", allow_none=False)
    except PgmdbnError as e:
        raise CliError(f"{str(e).replace('--device=', '--device ')}; use --device cpu") from None


def load_data(source: str, split: str = "train", binarize: str = "threshold", limit: int | None = None,
              seed: int = 0, with_labels: bool = False):
    """Data named on the command line: "mnist", "bars", or a .npy/.csv/.npz path. Returns (n, d)
    float32; with ``with_labels`` (x, labels), labels an int64 (n,) tensor, an (n, K) tensor from
    an .npz file's ``y``, or None when the source has none.

    bars labels each pattern 1 if it is a "bars" pattern (columns on) and 0 if a "stripes" one
    (rows on; the all-off and all-on images count as stripes).
    """
    import torch

    labels = None
    if source == "mnist":
        from .data import load_mnist

        x, labels = load_mnist(split, binarize=None if binarize == "none" else binarize, seed=seed, limit=limit)
        return (x, labels) if with_labels else x
    if source == "bars":
        from .demo import bars_split

        x = bars_split(split, seed)
        labels = bars_labels(x)
    elif Path(source).suffix.lower() == ".npz":
        x, labels = _read_npz(Path(source))
    else:
        x = torch.as_tensor(_read_array(Path(source)), dtype=torch.float32)
    if limit is not None:
        x, labels = x[:limit], None if labels is None else labels[:limit]
    return (x, labels) if with_labels else x


def bars_labels(x):
    """1 for a bars-and-stripes pattern made of bars (every row the same, not all one value), else 0."""
    side = math.isqrt(x.shape[1])
    images = x.reshape(len(x), side, side)
    bars = (images == images[:, :1, :]).all(2).all(1)
    uniform = (x == x[:, :1]).all(1)
    return (bars & ~uniform).long()


def _read_npz(path: Path):
    """(x, y or None) from an .npz file with array x (n, n_visible) and optional y: labels (n,) or (n, K)."""
    import numpy as np
    import torch

    if not path.is_file():
        raise FileNotFoundError(f"no data file at {path}; check the path (or use --data mnist or --data bars)")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            found = {name: arrays[name] for name in arrays.files}
    except ValueError as e:
        raise DataError(f"{path}: not a plain numeric .npz file ({e}); save it with numpy.savez(path, x=..., "
                        f"y=...)") from None
    if "x" not in found:
        raise DataError(f"{path}: no array named x (found {', '.join(found) or 'none'}); save it with "
                        f"numpy.savez(path, x=data, y=labels)")
    x = torch.as_tensor(_as_rows(found["x"], f"{path}[x]"))
    y = found.get("y")
    if y is None:
        return x, None
    if y.ndim not in (1, 2) or len(y) != len(x) or not np.issubdtype(y.dtype, np.number):
        raise DataError(f"{path}: y must be {len(x)} integer labels (n,) or one-hot rows (n, K) to match x, got "
                        f"{y.dtype} of shape {y.shape}")
    if y.ndim == 1:
        if not np.all(np.mod(y, 1) == 0):
            raise DataError(f"{path}: y must hold integer labels, got non-integer values such as "
                            f"{y[np.mod(y, 1) != 0][0]}")
        return x, torch.as_tensor(y.astype(np.int64))
    return x, torch.as_tensor(y.astype(np.float32))


def _read_array(path: Path):
    """A 2-D float array from a .npy or .csv file (a CSV may have one header line)."""
    import numpy as np

    suffix = path.suffix.lower()
    if suffix not in (".npy", ".csv"):
        raise DataError(f"--data {str(path)!r} is neither mnist, bars, nor a .npy/.csv/.npz file; pass one of "
                        f"those")
    if not path.is_file():
        raise FileNotFoundError(f"no data file at {path}; check the path (or use --data mnist or --data bars)")
    if suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except ValueError as e:
            raise DataError(f"{path}: not a plain numeric .npy array ({e}); save it with numpy.save") from None
    else:
        array = _read_csv(path)
    return _as_rows(array, path)


def _as_rows(array, where):
    """A numeric array as float32 (n, d); one row is allowed as a 1-D array."""
    import numpy as np

    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise DataError(f"{where}: expected a numeric (n, n_visible) array, got {array.dtype} of shape "
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
    """The visible layer: the first declared one (every builder's "v")."""
    return model.visible


def _label_layer(model) -> str | None:
    """The model's label layer: its one categorical layer other than the visible one (a DBN's "y"), or None."""
    found = [n for n, u in model.layers.items() if n != model.visible and u.categories is not None]
    return found[0] if len(found) == 1 else None


def _layers_text(model) -> str:
    return " - ".join(f"{n}:{u.size}" for n, u in model.layers.items())


def _n_weights(model) -> int:
    return sum(f.weight.numel() for f in model.factors.values())


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
    """``pgmdbn train SPEC --data ...``: build a model, pretrain it greedily (optional), fit and save it."""
    import copy

    from .demo import threads_for, torch_threads
    from .io import model_from_spec_file, read_spec, save
    from .training import fit, pretrain, stages

    device = check_device(args.device)
    spec = read_spec(args.spec)
    options, greedy = _train_options(spec, args)
    model = model_from_spec_file(args.spec)
    kind = model.structure
    options.setdefault("method", DEFAULT_METHOD.get(kind, "cd"))
    _check_trainer(options["method"])
    epochs = options.get("epochs", 10)
    pretrain_epochs = greedy.get("pretrain_epochs", 0)
    plan = [hidden for _, hidden in stages(model)] if pretrain_epochs else []  # a clear error before any data
    # The data's own seed stays fixed, so train and loglik see the same bars split and binarisation.
    x, labels = load_data(args.data, args.split, args.binarize, args.limit, with_labels=True)
    visible, label = _visible(model), _label_layer(model)
    data = {visible: x}
    if label is not None:
        data[label] = _one_hot(labels, model.layer(label), label, args.data)
    if args.resume and not epochs:
        raise CliError("--resume continues the fit stage, but epochs is 0; give --epochs")
    if args.resume and pretrain_epochs:
        pretrain_epochs = 0  # the checkpoint holds the model after pretraining
        greedy["pretrain_epochs"] = 0
    if epochs:  # the library's own error for a method that cannot train this structure, before pretraining
        fit(copy.deepcopy(model), data, method=options["method"], k=options.get("k", 1), epochs=0,
            engine_options=options.get("engine_options"), monitor_size=0, progress=False)
    print(f"training {kind} {_layers_text(model)} on {len(x)} examples from {args.data}"
          + (f" with labels in {label!r}" if label else ""), file=sys.stderr)
    shared = {name: options[name] for name in ("batch_size", "lr", "momentum", "weight_decay", "lr_schedule",
                                                "monitor_size") if name in options}
    stage_results, result = [], None
    with torch_threads(threads_for(_n_weights(model))):
        if pretrain_epochs:
            k = options.get("k", 1)
            stage_results = pretrain(model, data, epochs=pretrain_epochs, propagate=greedy.get("propagate", "mean"),
                                     method=greedy.get("pretrain_method", "cd"), k=k if isinstance(k, int) else 1,
                                     seed=options.get("seed", 0), device=device, progress=True, **shared)
        if epochs:
            fit_options = {k: v for k, v in options.items() if k != "init_from_data"}
            # After pretraining the biases are learnt: do not reset them to the data's base rates.
            init = options.get("init_from_data", not pretrain_epochs)
            result = fit(model, data, device=device, progress=True, init_from_data=init, **fit_options,
                         checkpoint_dir=args.checkpoint_dir, checkpoint_every=args.checkpoint_every, resume=args.resume)
    history = result.history if result is not None else []
    pretrained = [{"layer": layer, "history": r.history} for layer, r in zip(plan, stage_results)]
    summary = {"model": None, "spec": str(args.spec), "data": args.data, "n_examples": len(x), "kind": kind,
               "visible": visible, "labels": label, "train": {**options, **greedy}, "pretrain": pretrained,
               "history": history}
    if label is not None and label in model.undirected_layers() and kind in ("dbn", "rbm"):
        from .inference import classify

        truth = data[label].argmax(1)
        summary["accuracy"] = (classify(model, x.to(device), label).cpu() == truth.cpu()).float().mean().item()
    from . import distributed

    out = Path(args.out)
    if distributed.is_main():  # under torchrun every rank holds the same model; rank 0 writes it
        out.parent.mkdir(parents=True, exist_ok=True)
        out = save(model, args.out, metadata={"train": summary["train"], "data": args.data, "history": history,
                                              "pretrain": pretrained})
    distributed.barrier()
    summary["model"] = str(out)
    return summary, _format_train(summary)


def _one_hot(labels, units, layer: str, source: str):
    """Labels for the softmax layer ``layer``: one-hot (n, K) rows from integer labels (n,)."""
    import torch

    if labels is None:
        raise CliError(f"the model's label layer {layer!r} (softmax, {units.size} states) needs labels, but "
                       f"--data {source} has none; use --data bars or mnist, or an .npz file with arrays x and y")
    if labels.ndim == 2:
        return labels
    if len(labels) and (labels.min() < 0 or labels.max() >= units.size):
        raise DataError(f"--data {source}: labels range from {labels.min().item()} to {labels.max().item()}, but "
                        f"layer {layer!r} has {units.size} states (0 to {units.size - 1}); resize it in the spec")
    return torch.nn.functional.one_hot(labels.long(), units.size).float()


def _format_train(summary: dict) -> str:
    lines = []
    if summary["pretrain"]:
        stages_ = ", ".join(f"{s['layer']} ({_epochs(len(s['history']))})" for s in summary["pretrain"])
        lines.append(f"pretrained greedily ({summary['train'].get('pretrain_method', 'cd')}), one RBM per stage: "
                     f"{stages_}")
    if summary["history"]:
        last = summary["history"][-1]
        lines.append(f"trained {_epochs(len(summary['history']))} ({summary['train']['method']}); last epoch: "
                     + ", ".join(f"{k} {v:.4g}" for k, v in last.items() if k != "epoch" and isinstance(v, float)))
    if "accuracy" in summary:
        lines.append(f"training-set label accuracy {summary['accuracy']:.3f}")
    lines.append(f"saved {summary['model']}")
    return "\n".join(lines)


def _epochs(n: int) -> str:
    return f"{n} epoch{'' if n == 1 else 's'}"


def _train_options(spec: dict, args) -> tuple[dict, dict]:
    """(fit() keyword arguments, greedy-stage options): the spec's "train" object, overridden by
    command-line options."""
    options = dict(spec.get("train", {}))
    unknown = sorted(set(options) - set(TRAIN_OPTIONS) - set(PRETRAIN_OPTIONS))
    if unknown:
        raise CliError(f"{args.spec}: train.{unknown[0]} is not a training option; known: "
                       f"{', '.join(TRAIN_OPTIONS + PRETRAIN_OPTIONS)}")
    for name in TRAIN_OPTIONS + PRETRAIN_OPTIONS:
        value = getattr(args, name, None)
        if value is not None:
            options[name] = value
    greedy = {name: options.pop(name) for name in PRETRAIN_OPTIONS if name in options}
    _check_value(args.spec, "pretrain_epochs", greedy.get("pretrain_epochs", 0),
                 lambda v: _is_count(v) or (isinstance(v, list) and v and all(_is_count(e) for e in v)),
                 "a non-negative integer or a list of them, one per stage")
    _check_value(args.spec, "epochs", options.get("epochs", 10), _is_count, "a non-negative integer")
    _check_value(args.spec, "propagate", greedy.get("propagate", "mean"), lambda v: v in ("mean", "sample"),
                 "'mean' or 'sample'")
    _check_value(args.spec, "engine_options", options.get("engine_options", {}), lambda v: isinstance(v, dict),
                 "an object of engine keyword arguments")
    if "method" in options:
        _check_trainer(options["method"])
    if "pretrain_method" in greedy:
        _check_trainer(greedy["pretrain_method"])
    from .training.trainers import check_fit_options

    defaults = {"epochs": 10, "batch_size": 100, "lr": 0.01, "momentum": 0.5, "weight_decay": 0.0, "seed": 0,
                "monitor_size": 1000, "k": 1}
    try:
        check_fit_options(**{name: options.get(name, value) for name, value in defaults.items()})
    except PgmdbnError as e:
        raise type(e)(f"{args.spec}: train options (or the command line): {e}") from None
    if "lr_schedule" in options and options["lr_schedule"] not in ("constant", "linear", "cosine"):
        raise CliError(f"{args.spec}: train.lr_schedule must be 'constant', 'linear' or 'cosine', got "
                       f"{options['lr_schedule']!r}")
    for name in ("init_from_data",):
        if name in options and not isinstance(options[name], bool):
            raise CliError(f"{args.spec}: train.{name} must be true or false, got {options[name]!r}")
    return options, greedy


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_value(spec, name, value, ok, what) -> None:
    if not ok(value):
        raise CliError(f"{spec}: train.{name} must be {what}, got {value!r}")


def _check_trainer(method: str) -> None:
    """Fail before any data is read if ``method`` is not a registered trainer engine."""
    from .hooks import registry
    from .protocols import handlers

    engine = registry.get("engines", method)  # a PluginError naming every engine
    if getattr(engine, "kind", None) != "trainer":
        raise CliError(f"engine {method!r} is a {getattr(engine, 'kind', 'non-trainer')}, not a trainer; --method "
                       f"takes one of {', '.join(handlers('engines', role='trainer'))}")


def cmd_loglik(args):
    """``pgmdbn loglik MODEL --data ... --method exact``."""
    from .api import log_likelihood

    device = check_device(args.device)
    model = _load_model(args.model, device)
    x = load_data(args.data, args.split, args.binarize, args.limit).to(device)
    result = log_likelihood(model, x, method=args.method, **_estimator_options(args, model))
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


def _estimator_options(args, model) -> dict:
    """The command-line options that the chosen estimator takes."""
    from .estimators.ais import paper_schedule

    options = {}
    annealed = args.method in ("ais", "raise") or (args.method in ("bound", "iwae") and args.log_z == "ais")
    if annealed:
        options["betas"] = paper_schedule(args.temperatures)
        if args.chains is not None:
            options["n_chains"] = args.chains
    if args.method == "ais":
        options.update(runs=args.runs, compare_raise=args.compare_raise)
    if args.method in ("bound", "iwae"):
        options["log_z"] = args.log_z
        if args.log_z == "ais":
            options["runs"] = args.runs
        if args.samples is not None and not model.is_undirected:  # a DBM's bound is mean-field: no samples
            options["k"] = args.samples
    if args.method in ("ais", "raise", "bound", "iwae", "exact"):
        options["progress"] = not args.json
    return options


def cmd_sample(args):
    """``pgmdbn sample MODEL -n 64 --steps 1000 [--clamp y=3] --out samples.png``."""
    import torch

    from .demo import draw_samples, threads_for, torch_threads
    from .api import as_clamp, sample
    from .plot import save_grid

    device = check_device(args.device)
    model = _load_model(args.model, device)
    visible = _visible(model)
    clamp = {}
    for layer, value in args.clamp or []:
        try:  # the library's check of the layer and the values' domain, named by the flag that gave them
            as_clamp(model, {layer: value}, 1)
        except (PgmdbnError, ValueError, RuntimeError) as e:
            shown = value if isinstance(value, int) else ",".join(f"{v:g}" for v in value)
            error = type(e) if isinstance(e, PgmdbnError) else CliError
            raise error(f"--clamp {layer}={shown}: {_one_line(e)}") from None
        clamp[layer] = value
    size = model.layer(visible).size
    shape = _grid_shape(size, args.shape, args.out)
    plain_rbm = not clamp and model.structure == "rbm" and len(model.layers) == 2
    generator = torch.Generator(device=device).manual_seed(args.seed)
    with torch_threads(threads_for(_n_weights(model))):
        if plain_rbm:  # the final binary states of block Gibbs, as always
            samples = draw_samples(model, args.n, args.steps, generator).cpu()
        else:  # ancestral sampling; the visible layer as its conditional means
            units = model.layer(visible)
            init = {} if visible in clamp else {
                visible: units.sample(units.field(None).detach().expand(args.n, size), 1.0, generator)}
            samples = sample(model, args.n, steps=args.steps, clamp=clamp, seed=args.seed, init=init)[visible].cpu()
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
    summary = {"model": str(args.model), "kind": model.structure, "n": args.n, "steps": args.steps,
               "seed": args.seed, "clamp": clamp, "values": "states" if plain_rbm else "means", "files": written,
               "samples": samples.tolist()}
    return summary, _format_samples(samples, shape, written, clamp)


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


def cmd_graph(args):
    """``pgmdbn graph MODEL_OR_SPEC --out graph.png``: the model's layers and factors as a PNG."""
    from .graphplot import graph_png
    from .io import model_from_spec_file

    check_device(args.device)
    if Path(args.model).suffix.lower() == ".json":
        model = model_from_spec_file(args.model)
    else:
        model = _load_model(args.model, "cpu")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    image = graph_png(model, args.out, scale=args.scale)
    layers = [{"name": n, "unit": u.name, "size": u.size} for n, u in model.layers.items()]
    factors = [{"a": f.a, "b": f.b, "directed": f.directed} for f in model.factors.values()]
    summary = {"out": str(args.out), "kind": model.structure, "layers": layers, "factors": factors,
               "width": int(image.shape[1]), "height": int(image.shape[0])}
    edges = ", ".join(f"{f['a']} {'->' if f['directed'] else '--'} {f['b']}" for f in factors)
    boxes = ", ".join(f"{n} ({u.name} {u.size})" for n, u in model.layers.items())
    text = (f"{model.structure}: {boxes}; {edges or 'no factors'}\nwrote {args.out} ({image.shape[1]}x{image.shape[0]})")
    return summary, text


def cmd_plugins(args):
    """``pgmdbn plugins``: every registered name, its plugin and where that came from."""
    from .hooks import KINDS, registry

    rows = registry.describe()
    width = max([len(r["name"]) for r in rows] + [4])
    lines = []
    for kind in KINDS:
        lines.append(f"{kind}:")
        lines += [f"  {r['name']:<{width}}  plugin {r['plugin']!r}, {r['source']}" for r in rows if r["kind"] == kind]
    return rows, "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
