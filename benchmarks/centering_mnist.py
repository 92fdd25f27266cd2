"""A centered RBM against a dense one on MNIST: the same 784-H Bernoulli RBM, the same PCD-1 run
(seed, batches, learning rate, momentum), trained once with the "dense" factor and once with the
"centered" one (offsets moved at ``--rate``), and scored by AIS on the test images.

    python benchmarks/centering_mnist.py                  # 784-200, 5 epochs, lr 0.01 and 0.05
    python benchmarks/centering_mnist.py --json --lrs 0.05 --epochs 10

The data are the 10k MNIST training images and the 10k test images (``load_mnist``, binarized
stochastically with seeds 0 and 1), found as ``pgmdbn/data/mnist.py`` describes.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pgmdbn
from pgmdbn.data.mnist import load_mnist

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import parse, publish, say  # noqa: E402


def run(factor: str, x, xtest, *, hidden, epochs, lr, momentum, rate, chains, seed, device) -> dict:
    model = pgmdbn.rbm(x.shape[1], hidden, factor=factor, seed=seed, init_scale=0.01)
    options = {"centering": rate} if factor == "centered" else {}
    t0 = time.perf_counter()
    result = pgmdbn.fit(model, x, method="pcd", epochs=epochs, batch_size=100, lr=lr, momentum=momentum, seed=seed,
                        device=device, progress=False, monitor_size=0, engine_options=options)
    seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    ll = pgmdbn.log_likelihood(model, xtest.to(device), method="ais", n_chains=chains, seed=seed, progress=False)
    train_ll = -model.free_energy({"v": x[:2000].to(device)}).mean().item() - ll.log_z
    return {"factor": factor, "lr": lr, "train_s": round(seconds, 1), "ais_s": round(time.perf_counter() - t0, 1),
            "test_ll": round(ll.mean, 2), "train_ll_2000": round(train_ll, 2), "log_z": round(ll.log_z, 2),
            "log_z_spread": {k: round(v, 3) if isinstance(v, float) else v for k, v in ll.spread.items()},
            "final_loss": round(result.history[-1]["loss"], 3)}


def print_table(report: dict, out=sys.stdout) -> None:
    print(f"784-{report['hidden']} RBM, PCD-1, {report['epochs']} epochs of {report['rows']} images, batch 100, "
          f"momentum {report['momentum']}, centering rate {report['rate']}; AIS with {report['chains']} chains",
          file=out)
    print(f"{'factor':<10} {'lr':>6} {'test LL':>9} {'train LL':>9} {'log Z':>9} {'train s':>8} {'AIS s':>7}", file=out)
    for r in report["runs"]:
        print(f"{r['factor']:<10} {r['lr']:>6} {r['test_ll']:>9} {r['train_ll_2000']:>9} {r['log_z']:>9} "
              f"{r['train_s']:>8} {r['ais_s']:>7}", file=out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, default=200, help="hidden units (default 200)")
    parser.add_argument("--epochs", type=int, default=5, help="PCD-1 epochs (default 5)")
    parser.add_argument("--lrs", type=float, nargs="+", default=[0.01, 0.05],
                        help="learning rates, each run with both factors (default 0.01 0.05)")
    parser.add_argument("--momentum", type=float, default=0.5, help="momentum (default 0.5)")
    parser.add_argument("--rate", type=float, default=0.05, help="the offsets' sliding-average rate")
    parser.add_argument("--chains", type=int, default=100, help="AIS chains")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights, batches, chains and AIS")
    parser.add_argument("--data", default=None, help="data root (default: $PGMDBN_DATA or ../shared/data)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    parser.add_argument("--device", default="cpu", help="torch device: cpu (default), cuda, ...")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads(N)")
    args = parse(parser, argv)
    x, _ = load_mnist("train", root=args.data, binarize="stochastic", seed=0)
    xtest, _ = load_mnist("test", root=args.data, binarize="stochastic", seed=1)
    report = {"hidden": args.hidden, "epochs": args.epochs, "rows": len(x), "momentum": args.momentum,
              "rate": args.rate, "chains": args.chains, "runs": []}
    for lr in args.lrs:
        for factor in ("dense", "centered"):
            say(f"{factor}, lr {lr}")
            report["runs"].append(run(factor, x, xtest, hidden=args.hidden, epochs=args.epochs, lr=lr,
                                      momentum=args.momentum, rate=args.rate, chains=args.chains, seed=args.seed,
                                      device=args.device))
            say(str(report["runs"][-1]))
    return publish(report, print_table, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
