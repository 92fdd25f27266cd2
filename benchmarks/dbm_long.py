#!/usr/bin/env python
"""A long DBM run: a centered 784-500-1000 DBM trained for ``--updates`` joint updates (default
100,000, a third of Salakhutdinov & Hinton's ~300,000) on the 10k MNIST training images, in a
background process that checkpoints as it goes, so a killed run resumes where it stopped
(``--resume``) and ends on the parameters of an uninterrupted one; then its mean-field bound
on the official test set with log Z by AIS (``--runs`` runs, their spread and effective sample
size), beside the 784-500 RBM's AIS estimate on the same split (−92.80 nats, benchmarks/README.md).

    OMP_NUM_THREADS=1 nohup .venv/bin/python benchmarks/dbm_long.py --threads 1 --json > out/dbm_long.json &
    .venv/bin/python benchmarks/dbm_long.py --threads 1 --resume          # after a kill: continue
    .venv/bin/python benchmarks/dbm_long.py --evaluate-only               # the bound of the latest checkpoint
    torchrun --nproc_per_node=2 benchmarks/dbm_long.py --threads 1        # both cores, data-parallel
    .venv/bin/python benchmarks/dbm_long.py --small                       # smoke test (seconds)
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import add_common_options, parse, publish, say  # noqa: E402
from dbm_vs_rbm import bound  # noqa: E402

import pgmdbn  # noqa: E402
from pgmdbn import distributed  # noqa: E402
from pgmdbn.data import load_mnist  # noqa: E402

RBM_TEST = -92.80  # the 784-500 RBM's AIS estimate on the t10k images (benchmarks/README.md, issue 15)
FULL = {"sizes": [784, 500, 1000], "rows": None, "test_rows": None, "updates": 100_000, "batch_size": 100,
        "greedy": {"epochs": [5, 5], "lr": 0.05, "momentum": 0.9, "weight_decay": 2e-4, "batch_size": 100,
                   "method": "cd", "propagate": "mean"},
        "joint": {"k": 1, "lr": 0.003, "momentum": 0.5, "weight_decay": 2e-4, "lr_schedule": "linear"},
        "engine": {"mean_field_steps": 5, "chains": 100}, "checkpoint_every": 10,
        "temperatures": 14500, "chains": 200}
SMALL = {**FULL, "sizes": [784, 16, 32], "rows": 300, "test_rows": 100, "updates": 12, "batch_size": 50,
         "greedy": {**FULL["greedy"], "epochs": [1, 1]}, "engine": {"mean_field_steps": 3, "chains": 20},
         "checkpoint_every": 1, "temperatures": 200, "chains": 20}


def joint_epochs(cfg, rows: int) -> int:
    """Epochs of joint training that give at least ``cfg["updates"]`` updates on ``rows`` images."""
    per_epoch = -(-rows // cfg["batch_size"])
    return -(-cfg["updates"] // per_epoch)


def train(cfg, x, folder: Path, resume: bool, seed: int, progress: bool):
    """Greedy pretraining (skipped when resuming: the checkpoint holds the parameters), then joint
    training with a checkpoint every ``cfg["checkpoint_every"]`` epochs in ``folder``. Returns the
    model and the training result."""
    model = pgmdbn.dbm(cfg["sizes"], seed=seed, factor="centered")
    if not resume:
        say(f"greedy pretraining on {len(x)} images")
        pgmdbn.pretrain(model, x, progress=progress, seed=seed, **cfg["greedy"])
    epochs = joint_epochs(cfg, len(x))
    say(f"joint training: {epochs} epochs of {-(-len(x) // cfg['batch_size'])} updates"
        f"{', resuming from ' + str(folder) if resume else ''}")
    result = pgmdbn.fit(model, x, method="dbm", epochs=epochs, batch_size=cfg["batch_size"], seed=seed,
                        engine_options=cfg["engine"], checkpoint_dir=folder, checkpoint_every=cfg["checkpoint_every"],
                        resume=folder if resume else None, progress=progress, monitor_size=0, **cfg["joint"])
    return model, result


def print_table(report, file):
    t = report["test"]
    print(f"\nDBM {'-'.join(map(str, report['sizes']))}, centered, {report['updates']} joint updates "
          f"({report['epochs']} epochs on {report['training_images']} images, trained {report['train_seconds']:.0f} s "
          f"in this process)", file=file)
    print(f"test mean-field bound {t['bound']:.2f} nats (training images {t['train_bound']:.2f}); log Z "
          f"{t['log_z']:.2f}, runs {t['log_z_runs']} (spread {t['log_z_run_spread']}), ESS {t['ess']}", file=file)
    verdict = "above" if t["bound"] > RBM_TEST else "below"
    print(f"RBM 784-500 AIS on the same test set: {RBM_TEST:.2f} nats; the DBM bound is {verdict} it by "
          f"{abs(t['bound'] - RBM_TEST):.2f}", file=file)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(p, out="out/dbm_long", small="a tiny DBM for a dozen updates, short AIS (seconds)")
    p.add_argument("--updates", type=int, default=None, help="joint updates (default 100000)")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in OUT/checkpoints")
    p.add_argument("--evaluate-only", action="store_true",
                   help="no training: estimate the bound of the latest checkpoint in OUT/checkpoints")
    p.add_argument("--runs", type=int, default=2, help="independent AIS runs (default 2)")
    p.add_argument("--temperatures", type=int, default=None, help="AIS temperatures (default 14500)")
    p.add_argument("--weight-decay", type=float, default=None,
                   help="joint training's weight decay (default 2e-4, the RBM's chosen value)")
    p.add_argument("--seed", type=int, default=0, help="seed of training and of the estimators")
    args = parse(p, argv)
    cfg = dict(SMALL if args.small else FULL)
    cfg.update({k: v for k, v in (("updates", args.updates), ("temperatures", args.temperatures)) if v is not None})
    if args.weight_decay is not None:
        cfg["joint"] = {**cfg["joint"], "weight_decay": args.weight_decay}
    progress = not args.json
    distributed.init()
    x = load_mnist("train", limit=cfg["rows"])[0]  # grey levels as probabilities (the best DBM recipe)
    out = Path(args.out)
    folder = out / "checkpoints"
    start = time.perf_counter()
    if args.evaluate_only:
        found = sorted(folder.glob("epoch*.safetensors"))
        if not found:
            p.error(f"--evaluate-only: no checkpoint in {folder}; train first")
        model, result = pgmdbn.load(found[-1]), None
    else:
        model, result = train(cfg, x, folder, args.resume, args.seed, progress)
    seconds = time.perf_counter() - start
    if not distributed.is_main():
        return 0
    pgmdbn.save(model, out / "dbm_long.safetensors")
    say("AIS on the test set")
    test = load_mnist("test", binarize="stochastic", seed=1, limit=cfg["test_rows"])[0]
    binary = load_mnist("train", binarize="stochastic", seed=0, limit=cfg["rows"])[0]
    report = {"sizes": cfg["sizes"], "updates": cfg["updates"], "epochs": joint_epochs(cfg, len(x)),
              "training_images": len(x), "joint": cfg["joint"], "engine": cfg["engine"], "train_seconds": seconds,
              "world_size": distributed.world_size(),
              "history_tail": result.history[-3:] if result is not None else None,
              "test": bound(model, test, binary, cfg["chains"], cfg["temperatures"], args.runs, args.seed, progress,
                            compile=not args.small),
              "rbm_test": RBM_TEST}
    (out / "dbm_long.json").write_text(__import__("json").dumps(report, indent=1, default=str))
    return publish(report, print_table, args.json)


if __name__ == "__main__":
    sys.exit(main())
