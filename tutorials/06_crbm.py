"""Tutorial 6: a convolutional RBM with probabilistic max-pooling, declared in the graph DSL,
trained with CD, its filters drawn, and checked exactly against the same model unrolled into a
dense RBM.

Run it from the repository root (times measured on one thread, --threads 1):

    .venv/bin/python tutorials/06_crbm.py              # 6x6 bars and stripes, about 16 s
    .venv/bin/python tutorials/06_crbm.py --small      # about 9 s (what the tests run)

It needs no data files. Everything it writes goes into --out (default tutorial-06/).
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

import pgmdbn
from pgmdbn import Model
from pgmdbn.data import sample_bars_and_stripes
from pgmdbn.plot import save_grid


def declare(side: int, filters: int, kernel: int, pool: int) -> Model:
    """v (1, side, side) — h (filters, side − kernel + 1, ...): a convolutional factor between two
    layers declared with shapes. ``channels`` shares each layer's bias per channel (the visible
    image's one channel; each filter's detection map), as a convolutional RBM does."""
    out = side - kernel + 1
    return (Model()
            .add_layer("v", "bernoulli", shape=(1, side, side), channels=1)
            # detection units in pool x pool blocks, at most one on per block (Lee et al. 2009)
            .add_layer("h", "pooled_bernoulli", shape=(filters, out, out), pool=pool, channels=filters)
            .add_undirected("v", "h", factor="conv2d", filters=filters, kernel=kernel)
            .init_weights(0.1, seed=0))


def unroll(model: Model) -> Model:
    """The same model with a dense factor: W = the conv factor's unrolled matrix (every filter
    copied to every position), and each layer's bias as a per-unit vector."""
    v, h = model.layer("v"), model.layer("h")
    dense = (Model().add_layer("v", "bernoulli", shape=v.shape)
             .add_layer("h", "pooled_bernoulli", shape=h.shape, pool=h.pool)
             .add_undirected("v", "h", weight=model.weight("v", "h").detach()))
    with torch.no_grad():
        dense.layer("v").bias.copy_(v.bias)
        dense.layer("h").bias.copy_(h.bias)
    return dense


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="fewer examples and epochs (what the tests run)")
    parser.add_argument("--out", default="tutorial-06", help="folder for the PNGs (default tutorial-06)")
    parser.add_argument("--epochs", type=int, default=None, help="CD-1 epochs (default 30, or 5 with --small)")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads(N) (default: 1 with --small, whose "
                        "models are too small to gain from more; otherwise torch's default)")
    args = parser.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    threads = args.threads or (1 if args.small else None)
    if threads:
        torch.set_num_threads(threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    side = 6
    train = sample_bars_and_stripes(300 if args.small else 2000, side=side, seed=0)
    test = sample_bars_and_stripes(200 if args.small else 1000, side=side, seed=1)

    # 2 filters of 3x3 over 6x6 images: 2 x 4 x 4 detection units in 8 pooling blocks of 2 x 2,
    # so the hidden layer has 5^8 = 390,625 joint states: small enough for exact likelihoods.
    model = declare(side, filters=2, kernel=3, pool=2)
    print(model)
    epochs = args.epochs or (5 if args.small else 30)
    before = pgmdbn.log_likelihood(model, test, method="exact", progress=False).mean
    # CD-1 with its gradient in closed form from the unit and factor contracts; sparsity pulls the
    # detection units' mean activation toward 0.1 (a fit option of every trainer)
    # a filter's gradient sums over its 16 positions, so the rate is a fraction of a dense RBM's
    pgmdbn.fit(model, train, method="cd", epochs=epochs, batch_size=20, lr=0.01, momentum=0.9, seed=0,
               sparsity=(0.1, 1.0), progress=False)
    after = pgmdbn.log_likelihood(model, test, method="exact", progress=False)
    print(f"exact test log p(v) before training: {before:.4f} nats")
    print(f"exact test log p(v) after {epochs} epochs of CD-1: {after.mean:.4f} nats "
          f"(uniform over the {2 ** (side + 1) - 2} patterns: {-math.log(2 ** (side + 1) - 2):.4f})")

    # the check: the same numbers from the dense unrolling, in float64
    dense = unroll(model)
    other = pgmdbn.log_likelihood(dense, test, method="exact", progress=False)
    gap_z = abs(after.log_z - other.log_z)
    gap_v = (after.per_example.double() - other.per_example.double()).abs().max().item()
    print(f"dense unrolling: log Z differs by {gap_z:.2e}, log p(v) by at most {gap_v:.2e}")
    x = test[:50].double()
    gap_f = (model.double().free_energy({"v": x}) - dense.double().free_energy({"v": x})).abs().max().item()
    print(f"free energies of the conv and dense models differ by at most {gap_f:.2e}")
    model.float()

    # the filters (one 3x3 image per filter) and samples from block Gibbs chains
    filters = model.factor("v", "h").weight.detach()[:, 0]
    save_grid(out / "filters.png", filters, ncols=len(filters), title=f"the {len(filters)} 3x3 filters")
    samples = pgmdbn.sample(model, 32, steps=200, method="gibbs", seed=0, conditional_means=("v",))["v"]
    save_grid(out / "samples.png", samples.reshape(-1, side, side), normalize=None,
              title="32 samples: p(v | h) after 200 block Gibbs sweeps")
    print(f"filters: {out / 'filters.png'}; samples: {out / 'samples.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
