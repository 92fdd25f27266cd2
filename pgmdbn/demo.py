"""The demo job behind ``pgmdbn demo`` (and ``make demo``).

It trains an RBM on a data set that needs no download (bars-and-stripes 4×4), or on MNIST
when asked, and reports *exact* log-likelihoods: the trained model's, the untrained base-rate
model's, and (for bars-and-stripes) the known optimum. It writes samples, first-layer filters,
a learning curve and the trained model into one folder.
"""
from __future__ import annotations

import math
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import torch

from . import validation
from .api import log_likelihood
from .builders import rbm
from .engines.gibbs import BlockGibbs
from .io import save
from .plot import line_plot_png, save_grid
from .training import fit

__all__ = ["DATASETS", "DEFAULTS", "run_demo", "load_demo_data", "bars_split", "base_rate_model",
           "exact_split", "draw_samples", "torch_threads", "threads_for"]

DATASETS = ("bars", "mnist")

# Hyperparameters found by experiment (see docs/cli.md). PCD mixes far better than CD on
# bars-and-stripes, whose 30 patterns are separated by improbable states; momentum 0.9 with a
# cosine-decaying learning rate lets the noisy PCD updates move fast early and settle late.
# ``curve_points`` bounds the number of exact evaluations: each costs milliseconds for 16
# visible units but seconds for MNIST's 2^20 hidden states.
DEFAULTS = {
    "bars": {"hidden": 20, "epochs": 60, "method": "pcd", "k": 5, "lr": 0.01, "momentum": 0.9,
             "batch_size": 20, "weight_decay": 0.0, "lr_schedule": "cosine", "init_scale": 0.1,
             "sample_steps": 1000, "curve_points": None},
    "mnist": {"hidden": 20, "epochs": 10, "method": "pcd", "k": 1, "lr": 0.005, "momentum": 0.9,
              "batch_size": 20, "weight_decay": 1e-4, "lr_schedule": "cosine", "init_scale": 0.01,
              "sample_steps": 1000, "curve_points": 3},
}
BARS_SIDE = 4
BARS_TRAIN, BARS_TEST = 2000, 1000
N_SAMPLES = 64


# --- data ------------------------------------------------------------------------------

def bars_split(split: str, seed: int = 0) -> torch.Tensor:
    """The demo's bars-and-stripes split: 2000 training or 1000 test patterns (n, 16).

    The two splits are drawn with different seeds, so they are independent samples.
    """
    from .data import sample_bars_and_stripes

    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    n = BARS_TRAIN if split == "train" else BARS_TEST
    return sample_bars_and_stripes(n, BARS_SIDE, seed=2 * seed + (split == "test"))


def load_demo_data(data: str, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, str]:
    """(train, test, description) for ``data`` in DATASETS; MNIST is binarised at 0.5."""
    if data == "bars":
        return (bars_split("train", seed), bars_split("test", seed),
                f"bars-and-stripes {BARS_SIDE}x{BARS_SIDE}")
    if data == "mnist":
        from .data import load_mnist

        train, _ = load_mnist("train", binarize="threshold")
        test, _ = load_mnist("test", binarize="threshold")
        return train, test, "MNIST (binarised at 0.5)"
    from .errors import DataError

    raise DataError(f"unknown demo data {data!r}; choose one of {', '.join(DATASETS)}")


# --- models and measurements --------------------------------------------------------------

def base_rate_model(x: torch.Tensor):
    """The untrained starting point: zero weights, visible biases at the data's base rates.

    With zero weights the hidden layer adds the same constant to log p~(v) and to log Z, so
    its size does not matter; one hidden unit keeps the exact computation trivial.
    """
    model = rbm(x.shape[1], 1, init_scale=0.0)
    model.layer("v").init_from_data(x)
    return model


def exact_split(model, train: torch.Tensor, test: torch.Tensor, max_states=None) -> dict:
    """Mean exact log p(v) of ``train`` and ``test`` (nats) from one log Z computation;
    ``max_states`` as in ``pgmdbn.log_likelihood(method="exact")``."""
    per_example = log_likelihood(model, torch.cat([train, test]), method="exact", progress=False,
                                 max_states=max_states).per_example
    return {"train": per_example[:len(train)].mean().item(), "test": per_example[len(train):].mean().item()}


@torch.no_grad()
def draw_samples(model, n: int, steps: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` visible samples after ``steps`` block-Gibbs sweeps from base-rate visible states.

    The chains start from the visible layer's own conditional with no input (its biases),
    which for a model initialised from data is the data's base rate. Returns (n, n_visible).
    """
    visible, _ = model.pair()
    units = model.layer(visible)
    eta = units.field(None).detach().expand(n, units.size)
    start = units.sample(eta, generator=generator)
    states = BlockGibbs(model, generator=generator).run({visible: start}, steps)
    return states[visible]


SMALL_MODEL = 2 ** 16  # weights; below this one thread trains fastest
BIG_ENUMERATION = 2 ** 24  # states x units; above this exact evaluation uses every thread


def threads_for(n_weights: int) -> int | None:
    """Intra-op threads for training a model with ``n_weights`` weights (None: torch's default).

    For matrices this small thread synchronisation costs more than it saves: ten times
    more for a 16x20 RBM on a busy two-core machine. So small models train on one thread.
    """
    return 1 if n_weights <= SMALL_MODEL else None


@contextmanager
def torch_threads(n: int | None):
    """Run the block with ``n`` intra-op threads (None: unchanged), restoring the setting after."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# --- the job -------------------------------------------------------------------------------

def run_demo(data: str = "bars", hidden: int | None = None, epochs: int | None = None, seed: int = 0,
             out: str | Path = "pgmdbn-demo", device: str = "cpu", progress: bool = True,
             threads: int | None = None, max_states=None) -> dict:
    """Train an RBM on ``data`` ("bars" or "mnist") and report exact log-likelihoods.

    Writes ``samples.png``, ``filters.png``, ``curve.png`` (exact train and test
    log-likelihood per epoch) and ``model.safetensors`` into ``out``. Returns a JSON-ready
    dict with the settings, the log-likelihoods (nats per example) of the trained model, of
    the untrained base-rate model and, for bars-and-stripes, the optimum, plus the learning
    curve, the file paths and the run time. ``progress`` prints progress lines to stderr.

    ``threads`` sets torch's intra-op threads for the whole run; by default a model of at most
    ``SMALL_MODEL`` weights trains on one thread and an evaluation of more than
    ``BIG_ENUMERATION`` numbers uses torch's setting. ``max_states`` accepts exact enumerations of
    up to that many joint states (as in ``pgmdbn.log_likelihood``); by default their size is
    judged by ``pgmdbn.limits.max_exact_work``.
    """
    if threads is not None:
        threads = validation.positive_int("threads", threads, "the torch threads to run on, e.g. threads=1")
    start = time.perf_counter()
    settings = _settings(data, hidden, epochs)
    say = _reporter(progress)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    train, test, description = load_demo_data(data, seed)
    train, test = train.to(device), test.to(device)
    n_visible = train.shape[1]
    # Exact enumeration of MNIST's 2^20 hidden states is big enough to use every thread.
    work = 2 ** min(n_visible, settings["hidden"]) * max(n_visible, settings["hidden"])
    settings["eval_threads"] = threads or (torch.get_num_threads() if work > BIG_ENUMERATION else 1)
    settings["train_threads"] = threads or threads_for(n_visible * settings["hidden"]) or torch.get_num_threads()
    settings["max_states"] = max_states
    say(f"training a {n_visible}-{settings['hidden']} RBM on {description}: {len(train)} training and "
        f"{len(test)} test examples, {settings['method'].upper()}-{settings['k']}, {settings['epochs']} epochs")
    with torch_threads(settings["train_threads"]):
        model, curve = _train(train, test, settings, seed, device, say)
        generator = torch.Generator(device=device).manual_seed(seed)
        samples = draw_samples(model, N_SAMPLES, settings["sample_steps"], generator)
    report = _report(data, description, settings, seed, device, train, test, curve)
    report["files"] = _write_outputs(out, model, samples, report, settings["sample_steps"])
    report["seconds"] = round(time.perf_counter() - start, 2)
    return report


def _settings(data: str, hidden: int | None, epochs: int | None) -> dict:
    """The data set's defaults with the caller's hidden size and epochs."""
    if data not in DEFAULTS:
        load_demo_data(data)  # raises the error that names the choices
    settings = dict(DEFAULTS[data])
    settings["hidden"] = settings["hidden"] if hidden is None else hidden
    settings["epochs"] = settings["epochs"] if epochs is None else epochs
    _check_positive(hidden=settings["hidden"], epochs=settings["epochs"])
    return settings


def _train(train, test, settings, seed, device, say):
    """Fit the RBM; a callback records exact train and test log-likelihoods along the way.

    Returns (model, curve) with curve = {"epoch": [...], "train": [...], "test": [...]}; the
    first entry is epoch 0, the untrained model training starts from (its visible biases at the
    data's base rates), and the last is the final epoch, so the trained model's numbers need no
    extra computation.
    """
    epochs = settings["epochs"]
    points = settings["curve_points"] or epochs
    every = max(1, math.ceil(epochs / points))
    say_every = max(1, epochs // 10)
    model = rbm(train.shape[1], settings["hidden"], init_scale=settings["init_scale"], seed=seed)
    curve = {"epoch": [], "train": [], "test": []}
    model.to(device).layer(model.visible).init_from_data(train)  # what fit would do first

    def record(model, epoch, metrics):
        if epoch % every and epoch != epochs:
            return
        with torch_threads(settings["eval_threads"]):
            ll = exact_split(model, train, test, settings["max_states"])
        for key, value in (("epoch", epoch), ("train", ll["train"]), ("test", ll["test"])):
            curve[key].append(value)
        if epoch % say_every == 0 or epoch == epochs or every > 1:
            say(f"  epoch {epoch:4d}/{epochs}  exact log-likelihood: train {ll['train']:9.3f}  "
                f"test {ll['test']:9.3f} nats")

    record(model, 0, {})
    fit(model, train, method=settings["method"], k=settings["k"], epochs=epochs,
        batch_size=settings["batch_size"], lr=settings["lr"], momentum=settings["momentum"],
        weight_decay=settings["weight_decay"], lr_schedule=settings["lr_schedule"], seed=seed,
        device=device, callbacks=[record], progress=False)
    return model, curve


def _report(data, description, settings, seed, device, train, test, curve) -> dict:
    """The JSON-ready summary of a finished run."""
    from .data import bars_and_stripes_optimum

    optimum = bars_and_stripes_optimum(BARS_SIDE) if data == "bars" else None
    hyper = {k: settings[k] for k in ("method", "k", "lr", "momentum", "batch_size", "weight_decay",
                                      "lr_schedule", "init_scale")}
    base = exact_split(base_rate_model(train).to(device), train, test, settings["max_states"])
    return {
        "data": data, "description": description, "seed": seed, "device": str(device),
        "model": {"visible": train.shape[1], "hidden": settings["hidden"], "unit": "bernoulli"},
        "n_train": len(train), "n_test": len(test), "epochs": settings["epochs"], "training": hyper,
        "threads": {"training": settings["train_threads"], "evaluation": settings["eval_threads"]},
        "log_likelihood": {
            "kind": "exact", "unit": "nats per example",
            "trained": {"train": curve["train"][-1], "test": curve["test"][-1]},
            "base_rate": base,
            "optimum": optimum,
        },
        "curve": curve,
    }


def _write_outputs(out: Path, model, samples, report, steps: int) -> dict:
    """Write the PNGs (tiles at least 400 pixels wide, titled; the curve from epoch 0, the
    untrained model) and the model file; returns {what: path}."""
    side = math.isqrt(samples.shape[1])
    shape = (side, side)  # both demo data sets are square images
    files = {"samples": out / "samples.png", "filters": out / "filters.png", "curve": out / "curve.png",
             "model": out / "model.safetensors"}
    save_grid(files["samples"], samples.cpu(), shape=shape, normalize=None,
              title=f"{len(samples)} samples of the trained RBM, {steps} Gibbs sweeps each")
    hidden = model.weight("v", "h").shape[1]
    save_grid(files["filters"], model.weight("v", "h").detach().T.cpu(), shape=shape, normalize="each",
              title=f"the {hidden} hidden units' filters (weights, each scaled to black-white)")
    curve = report["curve"]
    series = {"exact test log-likelihood": curve["test"], "exact train log-likelihood": curve["train"]}
    optimum = report["log_likelihood"]["optimum"]
    line_plot_png(files["curve"], series, x=curve["epoch"],
                  title=f"pgmdbn demo: {report['description']} (epoch 0: untrained)", xlabel="epoch",
                  ylabel="exact log-likelihood, nats per example",
                  reference=None if optimum is None else {"optimum": optimum})
    save(model, files["model"], metadata={"demo": {k: report[k] for k in ("data", "seed", "epochs", "training")}})
    return {k: str(v) for k, v in files.items()}


# --- small helpers --------------------------------------------------------------------------

def _check_positive(**values) -> None:
    for name, value in values.items():
        if int(value) != value or value < 1:
            from .errors import PgmdbnError

            raise PgmdbnError(f"{name} must be a positive integer, got {value!r}")


def _reporter(progress: bool):
    """A print-like function to stderr, or a no-op; stdout is kept for results."""
    if not progress:
        return lambda message: None
    return lambda message: print(message, file=sys.stderr, flush=True)
