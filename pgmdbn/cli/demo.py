"""``pgmdbn demo``: train an RBM on bars-and-stripes or MNIST and report exact log-likelihoods."""
from __future__ import annotations

import math
import re
from pathlib import Path

from ..errors import TooExpensive
from .common import check_device, nonnegative_int, positive_int, state_count

# run_demo's arguments named in the library's messages, as this command's flags
FLAGS = {"max_states": "--max-states", "threads": "--threads", "hidden": "--hidden", "epochs": "--epochs",
         "seed": "--seed"}


def add(sub, common) -> None:
    from ..demo import DATASETS

    p = sub.add_parser("demo", parents=[common], help="train an RBM and report exact log-likelihoods",
                       description="Train an RBM on bars-and-stripes 4x4 (no download) or MNIST, print exact "
                                   "train and test log-likelihoods, and write samples, filters and a "
                                   "learning curve as PNGs.")
    p.add_argument("--data", choices=DATASETS, default="bars", help="data set (default: bars)")
    p.add_argument("--hidden", type=positive_int, help="number of hidden units (default: 20)")
    p.add_argument("--epochs", type=positive_int, help="training epochs (default: 60 bars, 10 mnist)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="random seed (default: 0)")
    p.add_argument("--out", default="pgmdbn-demo", help="output folder (default: pgmdbn-demo)")
    p.add_argument("--max-states", type=state_count, metavar="COUNT",
                   help="let the exact evaluations enumerate up to COUNT joint states (2^22, 2**22 or "
                        "4194304), whatever they cost; by default their size is judged by "
                        "pgmdbn.limits.max_exact_work, the same on any machine")
    p.set_defaults(run=run, flags=FLAGS)


def run(args):
    """``pgmdbn demo``: see pgmdbn.demo.run_demo."""
    from ..demo import run_demo

    device = check_device(args.device)
    try:
        report = run_demo(data=args.data, hidden=args.hidden, epochs=args.epochs, seed=args.seed, out=args.out,
                          device=str(device), progress=True, threads=args.threads, max_states=args.max_states)
    except TooExpensive as e:  # the demo evaluates exactly or not at all: no other estimator to offer
        message = re.sub(r",? or use method=.*$", "", " ".join(str(e).split()))
        raise TooExpensive(f"{message}; or give fewer --hidden units") from None
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
