"""What the benchmark scripts share: stamped progress lines on stderr, the options every
application script takes, and the report's output (the table, or JSON on stdout with the table
on stderr)."""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable

import torch

START = time.perf_counter()


def say(message: str) -> None:
    """A progress line on stderr, stamped with the time since the start."""
    print(f"[{time.perf_counter() - START:7.1f} s] {message}", file=sys.stderr, flush=True)


def add_common_options(parser: argparse.ArgumentParser, *, out: str, small: str) -> None:
    """--small (with its help text), --json, --out (default ``out``), --device, --threads."""
    parser.add_argument("--small", action="store_true", help=small)
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout (table on stderr)")
    parser.add_argument("--out", default=out, help=f"folder for the PNGs (default {out})")
    parser.add_argument("--device", default="cpu", help="torch device for pgmdbn: cpu (default), cuda, cuda:1, ...")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads(N)")


def parse(parser: argparse.ArgumentParser, argv) -> argparse.Namespace:
    """Parse ``argv`` and apply --threads."""
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    return args


def configure(base: dict, args: argparse.Namespace) -> dict:
    """A copy of ``base`` (its "pretrain" and "finetune" dicts copied too, so overrides never touch
    the module's FULL/SMALL) with --epochs and --pretrain-epochs applied where the script has them."""
    cfg = {**base, "pretrain": dict(base["pretrain"]), "finetune": dict(base["finetune"])}
    if getattr(args, "epochs", None) is not None:
        cfg["finetune"]["epochs"] = args.epochs
    if getattr(args, "pretrain_epochs", None) is not None:
        cfg["pretrain"]["epochs"] = args.pretrain_epochs
    return cfg


def publish(report: dict, print_table: Callable, as_json: bool) -> int:
    """Print the table (on stderr when ``as_json``, with the report as JSON on stdout); 0."""
    print_table(report, sys.stderr if as_json else sys.stdout)
    if as_json:
        print(json.dumps(report, indent=1, default=str))
    return 0


def greedy_options(pretrain: dict, n_stages: int) -> dict:
    """A config's greedy pretraining options as ``pgmdbn.pretrain``'s keyword arguments: "lr" (one
    rate or one per RBM, bottom-up) and "top_lr" (the top RBM's, overriding) become per-stage
    rates; momentum 0.9 and weight decay 2e-4 unless the config says otherwise."""
    options = {"momentum": 0.9, "weight_decay": 2e-4, **pretrain}
    lr, top_lr = options.pop("lr", 0.05), options.pop("top_lr", None)
    rates = list(lr) if isinstance(lr, (list, tuple)) else [lr] * n_stages
    if top_lr is not None:
        rates[-1] = top_lr
    return {**options, "per_stage": [{"lr": rate} for rate in rates]}
