#!/usr/bin/env python
"""A 784-500 RBM's test log-likelihood on MNIST (10k training images, the official test set),
trained by a chosen recipe and estimated so that the estimate says whether it can be trusted:
AIS with ``--chains`` chains in ``--runs`` independent runs (their spread reported) and RAISE,
a stochastic lower bound, on the first ``--raise-examples`` test images beside it.

    .venv/bin/python benchmarks/rbm_loglik.py --recipe pt --epochs 100        # train, then estimate
    .venv/bin/python benchmarks/rbm_loglik.py --recipe pcd --epochs 100 --momentum 0.9
    .venv/bin/python benchmarks/rbm_loglik.py --recipe centered --select 2e-4 1e-3 --train-data binary intensities
    .venv/bin/python benchmarks/rbm_loglik.py --model out/rbm/rbm_pt.safetensors   # estimate a saved model
    .venv/bin/python benchmarks/rbm_loglik.py --small                         # smoke test (seconds)

Recipes: "pcd" (PCD-1, pgmdbn's built-in trainer), "centered" (PCD-1 on the "centered" factor:
centered gradients, Montavon & Müller 2012) and "pt" (PCD with parallel tempering over
``--replicas`` temperatures, from the pgmdbn-tempering plugin in plugins/). Data: stochastically
binarised with seeds 0 (train) and 1 (test), as bench_likelihood.py. The trained model is saved
in ``--out`` so that the estimate can be rerun. AIS runs compiled (``compile=True``).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins" / "pgmdbn-tempering"))
from common import add_common_options, parse, publish, say  # noqa: E402

import pgmdbn  # noqa: E402
from pgmdbn.data import load_mnist  # noqa: E402
from pgmdbn.estimators.ais import paper_schedule  # noqa: E402

FULL = {"rows": None, "test_rows": None, "hidden": 500, "temperatures": 14500}
SMALL = {"rows": 300, "test_rows": 100, "hidden": 20, "temperatures": 200}


def tempering_plugin():
    """The pgmdbn-tempering plugin, registered once (installed, or from plugins/ in this checkout)."""
    import pgmdbn_tempering

    if "pt" not in pgmdbn.registry.names("engines"):
        pgmdbn.register_plugin(pgmdbn_tempering, name="pgmdbn_tempering")


def train(args, cfg, x, device, weight_decay: float):
    options = {}
    if args.recipe == "pt":
        tempering_plugin()
        options = {"temperatures": args.replicas}
    factor = "centered" if args.recipe == "centered" else "dense"
    model = pgmdbn.rbm(784, cfg["hidden"], seed=args.seed, factor=factor).to(device)
    start = time.perf_counter()
    pgmdbn.fit(model, x, method="pcd" if args.recipe == "centered" else args.recipe, k=1, epochs=args.epochs,
               batch_size=100, lr=args.lr, momentum=args.momentum, weight_decay=weight_decay, lr_schedule="linear",
               seed=args.seed, device=device, engine_options=options, progress=not args.json)
    return model, time.perf_counter() - start


def mean_log_p(model, x, log_z: float) -> float:
    """Mean log p(v) of rows ``x`` (n, 784) given log Z, in float64 (an RBM's free energy is exact):
    on the training images it says how much of the test figure is lost to overfitting."""
    double = copy.deepcopy(model).double()
    with torch.no_grad():
        return (-double.free_energy({double.visible: x.to(next(double.parameters()).device, torch.float64)})
                - log_z).mean().item()


def estimate(model, train_x, test_x, args, cfg):
    start = time.perf_counter()
    result = pgmdbn.log_likelihood(model, test_x, method="ais", n_chains=args.chains, runs=args.runs,
                                   betas=paper_schedule(cfg["temperatures"]), base_data=train_x,
                                   compare_raise=args.raise_examples, seed=args.seed, compile=args.compile,
                                   progress=not args.json)
    spread = result.spread
    return {"ais_test_mean": result.mean, "ais_train_mean": mean_log_p(model, train_x, result.log_z),
            "log_z": result.log_z, "log_z_runs": spread.get("log_z_runs"),
            "log_z_run_spread": (max(spread["log_z_runs"]) - min(spread["log_z_runs"])
                                 if spread.get("log_z_runs") else None),
            "ess": spread["ess"], "n_chains": spread["n_chains"],
            "raise_mean_subset": spread.get("raise_mean"), "ais_mean_subset": spread.get("ais_mean_on_raise_subset"),
            "ais_minus_raise": (spread["ais_mean_on_raise_subset"] - spread["raise_mean"]
                                if spread.get("raise_mean") is not None else None),
            "warnings": result.warnings, "seconds": time.perf_counter() - start}


def select(args, cfg, binary, grey, device) -> dict:
    """Each candidate (a ``--train-data`` form × a ``--select`` weight decay) trained on all but the
    last ``--valid`` training images and scored by AIS (``--select-chains`` chains) on those held
    out, binarised: {"form, weight decay d": its scores}."""
    fit_rows = len(binary) - args.valid
    valid, base = binary[fit_rows:], binary[:fit_rows]
    scores = {}
    for form in args.train_data:
        for decay in args.select or [args.weight_decay]:
            name = f"{form}, weight decay {decay}"
            say(f"{name}: training on {fit_rows} images")
            model, seconds = train(args, cfg, (binary if form == "binary" else grey)[:fit_rows], device, decay)
            result = pgmdbn.log_likelihood(model, valid, method="ais", n_chains=args.select_chains, base_data=base,
                                           betas=paper_schedule(cfg["temperatures"]), seed=args.seed,
                                           compile=args.compile, progress=not args.json)
            scores[name] = {"train_data": form, "weight_decay": decay, "valid": result.mean,
                            "train": mean_log_p(model, base, result.log_z), "ess": result.spread["ess"],
                            "train_seconds": seconds}
            say(f"{name}: held out {result.mean:.2f}, training images {scores[name]['train']:.2f}")
    return scores


def print_table(report, file):
    for name, c in report.get("selection", {}).items():
        print(f"{name}: held-out AIS {c['valid']:.2f}, training images {c['train']:.2f} "
              f"(ESS {c['ess']:.0f}, trained {c['train_seconds']:.0f} s)", file=file)
    e = report["estimate"]
    print(f"\n784-{report['hidden']} RBM, recipe {report['recipe']}: {report['train']}", file=file)
    print(f"AIS test log-likelihood {e['ais_test_mean']:.2f} nats (log Z {e['log_z']:.2f}; {e['n_chains']} chains in "
          f"{len(e['log_z_runs'] or [1])} runs, log Z per run {e['log_z_runs']}, spread {e['log_z_run_spread']}, "
          f"ESS {e['ess']:.0f}); on the training images {e['ais_train_mean']:.2f}", file=file)
    if e["raise_mean_subset"] is not None:
        print(f"RAISE on the first test images {e['raise_mean_subset']:.2f} vs AIS {e['ais_mean_subset']:.2f} on the "
              f"same: AIS − RAISE {e['ais_minus_raise']:+.2f} nats", file=file)
    for w in e["warnings"]:
        print(f"warning: {w}", file=file)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_options(p, out="out/rbm", small="a 784-20 RBM, 300 rows, 200 temperatures (seconds)")
    p.add_argument("--recipe", choices=["pcd", "centered", "pt"], default="pt",
                   help="pcd: PCD-1; centered: PCD-1 on the centered factor; pt: parallel tempering (default)")
    p.add_argument("--epochs", type=int, default=100, help="training epochs (default 100)")
    p.add_argument("--lr", type=float, default=0.05, help="learning rate (default 0.05)")
    p.add_argument("--momentum", type=float, default=0.5, help="momentum (default 0.5)")
    p.add_argument("--weight-decay", type=float, default=2e-4, help="L2 weight decay (default 2e-4)")
    p.add_argument("--select", type=float, nargs="+", default=None, metavar="DECAY",
                   help="choose the weight decay among these on the last --valid training images held out")
    p.add_argument("--train-data", nargs="+", choices=["binary", "intensities"], default=["binary"],
                   help="what the RBM trains on: the binarised images, or their grey levels as the visible "
                        "probabilities (the data statistics then average over binarisations); several: chosen "
                        "on the held-out images as --select")
    p.add_argument("--valid", type=int, default=1000, help="training images held out by --select")
    p.add_argument("--select-chains", type=int, default=100, help="AIS chains scoring each --select candidate")
    p.add_argument("--replicas", type=int, default=10, help="parallel-tempering temperatures (recipe pt)")
    p.add_argument("--chains", type=int, default=1000, help="AIS chains per run")
    p.add_argument("--runs", type=int, default=2, help="independent AIS runs")
    p.add_argument("--raise-examples", type=int, default=200, help="test images RAISE estimates")
    p.add_argument("--seed", type=int, default=0, help="seed of training and of the estimators")
    p.add_argument("--no-compile", dest="compile", action="store_false", help="AIS on the uncompiled path")
    p.add_argument("--model", default=None, help="estimate this saved model instead of training one")
    args = parse(p, argv)
    cfg = SMALL if args.small else FULL
    if args.small:
        args.epochs, args.chains, args.raise_examples = min(args.epochs, 2), min(args.chains, 50), 10
        args.valid, args.select_chains = min(args.valid, 100), min(args.select_chains, 20)
    device = torch.device(args.device)
    train_x = load_mnist("train", binarize="stochastic", seed=0, limit=cfg["rows"])[0]
    grey = load_mnist("train", limit=cfg["rows"])[0]
    test_x = load_mnist("test", binarize="stochastic", seed=1, limit=cfg["test_rows"])[0]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {"hidden": cfg["hidden"], "recipe": args.recipe, "options": {k: v for k, v in vars(args).items()
                                                                          if k not in ("json", "out")}}
    if args.model:
        model = pgmdbn.load(args.model).to(device)
        report["recipe"], report["train"] = "loaded", f"loaded from {args.model}"
    else:
        form = args.train_data[0]
        if args.select or len(args.train_data) > 1:
            report["selection"] = select(args, cfg, train_x, grey, device)
            best = report["selection"][max(report["selection"], key=lambda n: report["selection"][n]["valid"])]
            form, args.weight_decay = best["train_data"], best["weight_decay"]
            report["options"].update(weight_decay=args.weight_decay, train_data=form)
            say(f"chosen {form}, weight decay {args.weight_decay}; training on all {len(train_x)} images")
        model, seconds = train(args, cfg, train_x if form == "binary" else grey, device, args.weight_decay)
        report["train"] = (f"{form} images, {args.epochs} epochs, lr {args.lr} (linear decay), momentum "
                           f"{args.momentum}, weight decay {args.weight_decay}, {seconds:.0f} s")
        path = out / f"rbm_{args.recipe}.safetensors"
        pgmdbn.save(model, path)
        say(f"saved {path}")
    report["estimate"] = estimate(model, train_x, test_x, args, cfg)
    (out / f"rbm_{report['recipe']}.json").write_text(json.dumps(report, indent=1))
    return publish(report, print_table, args.json)


if __name__ == "__main__":
    sys.exit(main())
