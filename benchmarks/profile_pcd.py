#!/usr/bin/env python
"""Where a PCD-1 epoch's time goes (784-500 RBM, 10k MNIST rows, batch 100, one thread), by
subtraction: the epoch's wall time, uncompiled and compiled, beside the same epoch's parts timed
alone in the same run.

  matrix products   the four GEMMs per batch (bench_scale.py's baseline)
  random numbers    the uniforms per batch (visible and hidden draws, float32)
  optimiser         torch.optim.SGD's step on the RBM's parameters with given gradients
  the rest          wall − the three: elementwise work, autograd's bookkeeping, Python

    .venv/bin/python benchmarks/profile_pcd.py [--small] [--repeats 3] [--json] [--out DIR]

(torch.profiler is not used: its per-operator records cost more than the operators here.)
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_scale import BATCH, LR, gemm_loop, interleaved  # noqa: E402
from common import add_common_options, parse, publish, say  # noqa: E402

import pgmdbn  # noqa: E402
from pgmdbn.data.mnist import load_mnist  # noqa: E402
from pgmdbn.errors import DataNotFound  # noqa: E402


def parts(x, hidden, device) -> dict:
    """Callables for the epoch (uncompiled, compiled) and its parts timed alone."""
    steps = math.ceil(len(x) / BATCH)
    kwargs = dict(method="pcd", k=1, epochs=1, batch_size=BATCH, lr=LR, momentum=0.0, progress=False,
                  monitor_size=0, init_from_data=False, seed=0, device=device)
    gen = torch.Generator(device=device).manual_seed(0)
    model = pgmdbn.rbm(784, hidden, seed=0).to(device)
    params = list(model.parameters())
    for p in params:
        p.grad = torch.randn(p.shape, generator=gen, device=device, dtype=p.dtype) * 1e-3
    opt = torch.optim.SGD(params, lr=LR)

    def random_numbers():
        for _ in range(steps):
            torch.rand(1, BATCH, 784, generator=gen, device=device)
            torch.rand(1, BATCH, hidden, generator=gen, device=device)

    def optimiser():
        for _ in range(steps):
            opt.step()

    def epoch(compile):
        return lambda: pgmdbn.fit(pgmdbn.rbm(784, hidden, seed=0).to(device), x, compile=compile, **kwargs)
    return {"eager": epoch(False), "compiled": epoch(True),
            "matrix products": gemm_loop([(BATCH, 784, hidden), (BATCH, hidden, 784), (BATCH, 784, hidden),
                                          (784, 2 * BATCH, hidden)], steps, device),
            "random numbers": random_numbers, "optimiser": optimiser}


def print_table(report, file):
    print(f"\nPCD-1 epoch, 784-{report['hidden']}, {report['rows']} rows, batch {BATCH}: where the time goes "
          f"({report['threads']} thread(s), best of {report['repeats']})", file=file)
    s = report["seconds"]
    print(f"{'':<30}{'uncompiled':>20}{'compiled':>20}", file=file)
    for name in ("matrix products", "random numbers", "optimiser", "the rest"):
        cells = [f"{report[p][name]:8.3f} s {report[p][name] / s[p]:6.1%}" for p in ("eager", "compiled")]
        print(f"{name:<30}{cells[0]:>20}{cells[1]:>20}", file=file)
    print(f"{'wall':<30}{s['eager']:>10.3f} s{'':>8}{s['compiled']:>10.3f} s", file=file)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_options(p, out="out/profile", small="a 784-50 RBM on 500 rows (seconds)")
    p.add_argument("--repeats", type=int, default=3, help="timings per part; the best is kept (default 3)")
    args = parse(p, argv)
    rows, hidden = (500, 50) if args.small else (10000, 500)
    device = torch.device(args.device)
    try:
        x = load_mnist("train")[0].float()[:rows].contiguous().to(device)
    except DataNotFound as err:
        say(f"MNIST not found ({err}); random binary data instead")
        x = (torch.rand(rows, 784, generator=torch.Generator().manual_seed(0)) < 0.13).float().to(device)
    seconds = interleaved(parts(x, hidden, device), args.repeats, device)["seconds"]
    report = {"rows": rows, "hidden": hidden, "threads": torch.get_num_threads(), "repeats": args.repeats,
              "seconds": seconds}
    for path in ("eager", "compiled"):
        known = {k: seconds[k] for k in ("matrix products", "random numbers", "optimiser")}
        report[path] = {**known, "the rest": seconds[path] - sum(known.values())}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "profile_pcd.json").write_text(json.dumps(report, indent=1))
    return publish(report, print_table, args.json)


if __name__ == "__main__":
    sys.exit(main())
