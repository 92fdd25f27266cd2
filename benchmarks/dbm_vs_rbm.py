#!/usr/bin/env python
"""A 784-500-1000 DBM against a 784-500 RBM on the same MNIST data (Salakhutdinov & Hinton
2009: DBM −84.62 above RBM −86.34 on 60k images): the DBM's mean-field lower bound on the test
log-likelihood with log Z by AIS (``--runs`` independent runs, their spread reported), beside
the RBM's AIS estimate from ``rbm_loglik.py`` (read from its JSON).

The DBM recipe is chosen on a validation split: the last ``--valid`` of the 10k training images
are held out, each candidate recipe (``--recipes``: greedy pretraining then joint training, on
the dense or the centered factor, on the binarised images or their grey levels: ``--train-data``)
trains on the rest, and its bound on the held-out binarised images (short AIS) decides. The
winner is then estimated on the official test set. The DBM therefore sees fewer training images
than the RBM it is compared with (9k against 10k).

    .venv/bin/python benchmarks/dbm_vs_rbm.py --rbm-json out/rbm/rbm_centered.json
    .venv/bin/python benchmarks/dbm_vs_rbm.py --small                    # smoke test (seconds)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import add_common_options, parse, publish, say  # noqa: E402

import pgmdbn  # noqa: E402
from pgmdbn.data import load_mnist  # noqa: E402
from pgmdbn.estimators.ais import paper_schedule  # noqa: E402

FULL = {"sizes": [784, 500, 1000], "rows": None, "test_rows": None, "valid": 1000,
        "greedy": {"epochs": [5, 5], "lr": 0.05, "momentum": 0.9, "weight_decay": 2e-4, "batch_size": 100,
                   "method": "cd", "propagate": "mean"},
        "joint": {"epochs": 20, "k": 5, "lr": 0.003, "momentum": 0.5, "weight_decay": 2e-4, "batch_size": 100,
                  "lr_schedule": "linear"},
        "engine": {"mean_field_steps": 10, "chains": 100},
        "select_temperatures": 2000, "select_chains": 100, "temperatures": 14500, "chains": 200}
SMALL = {**FULL, "sizes": [784, 16, 32], "rows": 400, "test_rows": 100, "valid": 100,
         "greedy": {**FULL["greedy"], "epochs": [1, 1]}, "joint": {**FULL["joint"], "epochs": 1},
         "engine": {"mean_field_steps": 3, "chains": 20},
         "select_temperatures": 100, "select_chains": 10, "temperatures": 200, "chains": 20}


def train_dbm(cfg, factor: str, x, seed: int, progress: bool, trace=None):
    """Greedy pretraining then joint training; ``trace(model, epoch)`` after pretraining (epoch 0)
    and as a callback every ``cfg["trace"]`` joint epochs. Returns (model, seconds)."""
    model = pgmdbn.dbm(cfg["sizes"], seed=seed, factor=factor)
    start = time.perf_counter()
    pgmdbn.pretrain(model, x, progress=progress, seed=seed, **cfg["greedy"])
    callbacks = ()
    if trace is not None and cfg["trace"]:
        trace(model, 0)
        callbacks = [lambda m, epoch, metrics: epoch % cfg["trace"] == 0 and trace(m, epoch)]
    pgmdbn.fit(model, x, method="dbm", engine_options=cfg["engine"], progress=progress, seed=seed,
               callbacks=callbacks, **cfg["joint"])
    return model, time.perf_counter() - start


def bound(model, data, base, chains, temperatures, runs, seed, progress, compile=True):
    """The mean-field bound on ``data`` with log Z by AIS (compiled unless ``compile=False``), and the
    same bound on the training images ``base`` with that log Z (train − test apart: overfitting;
    both low: undertraining)."""
    result = pgmdbn.log_likelihood(model, data, method="ais", n_chains=chains, runs=runs, base_data=base,
                                   betas=paper_schedule(temperatures), seed=seed, compile=compile, progress=progress)
    on_train = pgmdbn.log_likelihood(model, base, method="bound", log_z=result.log_z, progress=False)
    runs_z = result.spread.get("log_z_runs")
    return {"bound": result.mean, "train_bound": on_train.mean, "log_z": result.log_z, "log_z_runs": runs_z,
            "log_z_run_spread": max(runs_z) - min(runs_z) if runs_z else None, "ess": result.spread["ess"],
            "warnings": result.warnings}


def print_table(report, file):
    print(f"\nDBM {'-'.join(map(str, report['sizes']))} on {report['training_images']} MNIST training images vs RBM "
          f"784-500", file=file)
    for name, c in report["candidates"].items():
        print(f"  candidate {name:<22} validation bound {c['bound']:.2f}, training images {c['train_bound']:.2f} "
              f"(trained {c['train_seconds']:.0f} s)", file=file)
    t = report["test"]
    print(f"chosen {report['chosen']}: test mean-field bound {t['bound']:.2f} nats (training images "
          f"{t['train_bound']:.2f}), log Z {t['log_z']:.2f} (runs "
          f"{t['log_z_runs']}, spread {t['log_z_run_spread']})", file=file)
    rbm = report.get("rbm")
    if rbm:
        verdict = "above" if t["bound"] > rbm["ais_test_mean"] else "below"
        print(f"RBM ({rbm['train']}): AIS {rbm['ais_test_mean']:.2f} nats — the DBM bound is {verdict} it by "
              f"{abs(t['bound'] - rbm['ais_test_mean']):.2f}", file=file)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_options(p, out="out/dbm", small="tiny DBM, 400 rows, short AIS (seconds)")
    p.add_argument("--recipes", nargs="+", default=["dense", "centered"], choices=["dense", "centered"],
                   help="the DBM candidates' factors (default both)")
    p.add_argument("--train-data", nargs="+", choices=["binary", "intensities"], default=["binary"],
                   help="candidates train on the binarised images and/or their grey levels as probabilities")
    p.add_argument("--runs", type=int, default=2, help="independent AIS runs (default 2)")
    p.add_argument("--rbm-json", default=None, help="rbm_loglik.py's JSON for the RBM to compare with")
    p.add_argument("--greedy-epochs", type=int, nargs=2, default=None, help="pretraining epochs of the two RBMs")
    p.add_argument("--joint-epochs", type=int, default=None, help="joint (PCD mean-field) training epochs")
    p.add_argument("--joint-lr", type=float, default=None, help="joint training's initial learning rate")
    p.add_argument("--rows", type=int, default=None,
                   help="train on only the first N of the images not held out (the same held-out images): the "
                        "data-size side of the DBM's gap")
    p.add_argument("--trace", type=int, default=0, metavar="N",
                   help="every N joint epochs (and after pretraining), each candidate's held-out and training-image "
                        "bounds by the selection's AIS: where joint training helps, stalls or overfits")
    p.add_argument("--seed", type=int, default=0, help="seed of training and of the estimators")
    args = parse(p, argv)
    cfg = SMALL if args.small else FULL
    greedy_epochs = {"epochs": args.greedy_epochs} if args.greedy_epochs else {}
    cfg = {**cfg, "trace": args.trace, "greedy": {**cfg["greedy"], **greedy_epochs},
           "joint": {**cfg["joint"], **{k: v for k, v in (("epochs", args.joint_epochs), ("lr", args.joint_lr))
                                         if v is not None}}}
    progress = not args.json
    x = load_mnist("train", binarize="stochastic", seed=0, limit=cfg["rows"])[0]
    test = load_mnist("test", binarize="stochastic", seed=1, limit=cfg["test_rows"])[0]
    fit_x, valid = x[:-cfg["valid"]][:args.rows], x[-cfg["valid"]:]
    grey = load_mnist("train", limit=cfg["rows"])[0][:len(fit_x)]
    report = {"sizes": cfg["sizes"], "training_images": len(fit_x), "greedy": cfg["greedy"], "joint": cfg["joint"],
              "engine": cfg["engine"], "candidates": {}}
    models = {}
    for recipe in args.recipes:
        for form in args.train_data:
            name = f"{recipe}, {form}"
            say(f"candidate {name}: training on {len(fit_x)} images")
            trajectory = {}

            def trace(model, epoch, trajectory=trajectory, name=name):
                scores = bound(model, valid, fit_x, cfg["select_chains"], cfg["select_temperatures"], 1, args.seed,
                               False)
                trajectory[epoch] = {k: scores[k] for k in ("bound", "train_bound", "log_z")}
                say(f"{name}, joint epoch {epoch}: held-out bound {scores['bound']:.2f}, training images "
                    f"{scores['train_bound']:.2f}, log Z {scores['log_z']:.1f}")

            models[name], seconds = train_dbm(cfg, recipe, fit_x if form == "binary" else grey, args.seed, progress,
                                              trace)
            report["candidates"][name] = {**bound(models[name], valid, fit_x, cfg["select_chains"],
                                                  cfg["select_temperatures"], 1, args.seed, progress),
                                          "train_seconds": seconds, "trajectory": trajectory}
    chosen = max(report["candidates"], key=lambda r: report["candidates"][r]["bound"])
    report["chosen"] = chosen
    say(f"chosen: {chosen}; estimating on the test set")
    report["test"] = bound(models[chosen], test, fit_x, cfg["chains"], cfg["temperatures"], args.runs, args.seed,
                           progress)
    if args.rbm_json and Path(args.rbm_json).exists():
        rbm = json.loads(Path(args.rbm_json).read_text())
        report["rbm"] = {"train": rbm["train"], **rbm["estimate"]}
    elif args.rbm_json:
        say(f"{args.rbm_json} does not exist (yet): no RBM beside the DBM")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pgmdbn.save(models[chosen], out / "dbm.safetensors")
    (out / "dbm_vs_rbm.json").write_text(json.dumps(report, indent=1))
    return publish(report, print_table, args.json)


if __name__ == "__main__":
    sys.exit(main())
