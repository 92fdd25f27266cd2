"""What the ``pgmdbn`` subcommands share: the --json/--device/--threads options, argument types,
data sources, one-line errors in the command line's words and the JSON output."""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

from ..errors import DataError, PgmdbnError

__all__ = ["CliError", "common_options", "emit", "one_line", "in_flags", "finite", "add_data_options",
           "positive_int", "nonnegative_int", "positive_float", "nonnegative_float", "state_count", "threads",
           "auto_threads", "check_device", "load_data", "bars_labels", "load_model", "visible_layer",
           "label_layer", "layers_text", "n_weights"]

MAX_STATES_LOG2 = 4096  # --max-states beyond 2^4096 is refused (its integer alone would be huge)


class CliError(PgmdbnError):
    """A command-line argument that cannot be used as given."""


def common_options() -> argparse.ArgumentParser:
    """The options every subcommand takes (a parent parser): --json, --device and --threads."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true",
                        help="print the result as JSON on stdout; human text goes to stderr")
    common.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)")
    common.add_argument("--threads", type=positive_int, metavar="N",
                        help="CPU threads for torch's operations (torch.set_num_threads). Default: torch's own "
                             "choice (one per core), except that train, sample and demo run models of at most "
                             "65,536 weights on one thread. Small models run fastest on 1 thread, most of all "
                             "on a busy machine")
    return common


def threads(n: int | None):
    """A context that runs its block with torch using ``n`` intra-op threads (None: leave torch's
    setting), restoring the setting after; imported here so that ``--help`` loads no torch."""
    from ..demo import torch_threads

    return torch_threads(n)


def auto_threads(args, model) -> int | None:
    """The threads a command trains or samples ``model`` on: --threads when given, else one thread
    for a small model (pgmdbn.demo.threads_for) and torch's setting otherwise (None)."""
    from ..demo import threads_for

    return args.threads if args.threads is not None else threads_for(n_weights(model))


def emit(result, text: str, as_json: bool) -> None:
    """With ``as_json`` the result as JSON on stdout and the human text on stderr; else the text on stdout."""
    if as_json:
        print(text, file=sys.stderr)
        print(json.dumps(finite(result), indent=2, allow_nan=False))
    else:
        print(text)


def one_line(error: BaseException) -> str:
    """The error's message on one line."""
    message = str(error) or type(error).__name__
    # An OSError raised by the OS reads "[Errno 2] No such file or directory: 'x'"; pgmdbn's own
    # (no errno) already say what to do.
    if isinstance(error, OSError) and error.errno is not None and error.filename is not None:
        message = f"{error.strerror}: {error.filename}; check the path and its permissions"
    return " ".join(message.split())


# "name=value" in a library message; the value quoted, a power "2**k", or a bare word
_ASSIGNMENT = re.compile(r"(?<![\w.])(?P<name>[a-z_][a-z0-9_]*)=(?P<value>'[^']*'|\"[^\"]*\"|[^\s,;()]+)?")


def in_flags(message: str, flags: dict[str, str], spec: str | None = None) -> str:
    """A library message in the command line's words: each ``name=value`` whose name is in
    ``flags`` ({python argument: flag}) becomes ``--flag value`` (``max_states=2**20`` reads
    ``--max-states 2^20``, ``method='ais'`` reads ``--method ais``, ``compile=True`` reads
    ``--compile``, ``pass compile=False`` reads ``leave out --compile``), and so does a bare
    name with an underscore (``max_states``); other names are left alone. With ``spec`` (an
    object of a spec file, "train") a value that may come from either place reads
    ``train.lr=-1 (or --lr -1)``."""
    def word(match):
        name, value = match["name"], match["value"] or ""
        if name not in flags:
            return match[0]
        end = ""
        if value.endswith("."):
            value, end = value[:-1], "."  # the sentence's full stop, not the value's
        value = value.strip("'\"").replace("**", "^")
        if spec is not None:
            return f"{spec}.{name}={value} (or {flags[name]} {value}){end}"
        if value == "True":
            return flags[name] + end
        if value == "False":
            return f"no {flags[name]}" + end
        return f"{flags[name]} {value}{end}" if value else flags[name] + end
    message = re.sub(r"\bpass ([a-z_]+)=False\b", lambda m: f"leave out {flags[m[1]]}" if m[1] in flags else m[0],
                     message)
    message = _ASSIGNMENT.sub(word, message)
    for name in (n for n in flags if "_" in n):  # a bare argument name (not an English word: it has a "_")
        message = re.sub(rf"(?<![\w.=-]){name}(?![\w=])", flags[name], message)
    for flag in flags.values():  # "--method bound or 'iwae'": the second choice as a flag too
        message = re.sub(rf"({re.escape(flag)} [\w.^-]+) or '([\w.-]+)'", rf"\1 or {flag} \2", message)
    return message


def finite(value):
    """JSON has no inf/nan: non-finite floats become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def add_data_options(p, default_split: str) -> None:
    p.add_argument("--data", required=True,
                   help="mnist (from $PGMDBN_DATA or ../shared/data), bars (bars-and-stripes 4x4), "
                        "a .npy/.csv file of shape (n, n_visible), or a .npz file with arrays x and, "
                        "optionally, labels y; mnist and bars carry labels for a model's softmax label layer")
    p.add_argument("--split", choices=("train", "test"), default=default_split,
                   help=f"split of mnist or bars (default: {default_split})")
    p.add_argument("--binarize", choices=("threshold", "stochastic", "none"), default="threshold",
                   help="how MNIST intensities become {0, 1} (default: threshold at 0.5)")
    p.add_argument("--limit", type=positive_int, help="use only the first LIMIT examples")


# --- argument types -----------------------------------------------------------------------

def positive_int(text: str) -> int:
    return _number(text, int, lambda v: v > 0, "a positive integer")


def nonnegative_int(text: str) -> int:
    return _number(text, int, lambda v: v >= 0, "a non-negative integer")


def positive_float(text: str) -> float:
    return _number(text, float, lambda v: math.isfinite(v) and v > 0, "a positive number")


def nonnegative_float(text: str) -> float:
    return _number(text, float, lambda v: math.isfinite(v) and v >= 0, "a non-negative number")


def _number(text, kind, ok, what):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def state_count(text: str) -> int | float:
    """A number of joint states: a power "2^22" or "2**22", an integer "4194304", or a number
    such as "1e6"; an int where it is whole."""
    what = "a positive number of joint states such as 2^22, 2**22 or 4194304"
    power = re.fullmatch(r"\s*(\d+)\s*(?:\^|\*\*)\s*(\d+)\s*", text)
    if power:
        base, exponent = int(power[1]), int(power[2])
        if base < 1:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        if base > 1 and exponent * math.log2(base) > MAX_STATES_LOG2:
            raise argparse.ArgumentTypeError(f"{text!r} is more than 2^{MAX_STATES_LOG2} states, beyond any "
                                             f"enumeration that can finish")
        return base ** exponent
    try:
        return _number(text, int, lambda v: v > 0, what)
    except argparse.ArgumentTypeError:
        value = _number(text, float, lambda v: math.isfinite(v) and v >= 1, what)
        return int(value) if value.is_integer() else value


def check_device(name: str):
    """A torch.device for ``name``, or a CliError saying why it cannot be used here."""
    from .. import validation

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
        from ..data import load_mnist

        x, labels = load_mnist(split, binarize=None if binarize == "none" else binarize, seed=seed, limit=limit)
        return (x, labels) if with_labels else x
    if source == "bars":
        from ..demo import bars_split

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


def load_model(path: str, device):
    from ..io import load

    return load(path, device=device)


def visible_layer(model) -> str:
    """The visible layer: the first declared one (every builder's "v")."""
    return model.visible


def label_layer(model) -> str | None:
    """The model's label layer: its one categorical layer other than the visible one (a DBN's "y"), or None."""
    found = [n for n, u in model.layers.items() if n != model.visible and u.categories is not None]
    return found[0] if len(found) == 1 else None


def layers_text(model) -> str:
    return " - ".join(f"{n}:{u.size}" for n, u in model.layers.items())


def n_weights(model) -> int:
    return sum(f.weight.numel() for f in model.factors.values())
