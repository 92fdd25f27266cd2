"""Tutorial 1: train an RBM, measure its exact log-likelihood, save it, load it, draw from it.

Run it from the repository root:

    .venv/bin/python tutorials/01_rbm_quickstart.py            # bars-and-stripes 4x4, ~10 s
    .venv/bin/python tutorials/01_rbm_quickstart.py --data mnist --hidden 20
    .venv/bin/python tutorials/01_rbm_quickstart.py --small    # a few seconds (what the tests run)

MNIST is read from $PGMDBN_DATA (or ../shared/data); bars-and-stripes needs no files.
Everything it writes goes into --out (default tutorial-01/).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

import pgmdbn
from pgmdbn.data import bars_and_stripes_optimum, load_mnist, sample_bars_and_stripes
from pgmdbn.engines.gibbs import BlockGibbs
from pgmdbn.plot import line_plot_png, save_grid


def load(data: str, small: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Binary training and test sets, (n, n_visible) each."""
    if data == "bars":
        # Two independent draws from the 30 bars-and-stripes patterns of a 4x4 image.
        n_train, n_test = (500, 500) if small else (2000, 1000)
        return sample_bars_and_stripes(n_train, side=4, seed=0), sample_bars_and_stripes(n_test, side=4, seed=1)
    # MNIST intensities are in [0, 1]; Bernoulli units with an exact likelihood need {0, 1}.
    limit = 1000 if small else None
    train, _ = load_mnist("train", binarize="threshold", limit=limit)
    test, _ = load_mnist("test", binarize="threshold", limit=limit)
    return train, test


def train_rbm(train, test, hidden: int, epochs: int, seed: int, lr: float = 0.01):
    """Fit an RBM with PCD-5, recording the exact test log-likelihood after every epoch."""
    # pgmdbn.rbm builds the graph v — h with Bernoulli units; init_scale is the std of the weights.
    model = pgmdbn.rbm(train.shape[1], hidden, seed=seed, init_scale=0.1)
    curve = []

    def exact_test_ll(model, epoch, metrics):
        # Callbacks run after each epoch; exact enumeration costs milliseconds at this size.
        curve.append(pgmdbn.log_likelihood(model, test, method="exact", progress=False).mean)
        print(f"epoch {epoch:3d}  recon error {metrics['recon_error']:.3f}  test log p(v) {curve[-1]:.3f}")

    # PCD keeps persistent Gibbs chains between updates; momentum and a cosine-decaying rate
    # settle its noisy updates. fit() starts the visible biases at the data's base rates.
    pgmdbn.fit(model, train, method="pcd", k=5, epochs=epochs, batch_size=20, lr=lr, momentum=0.9,
               lr_schedule="cosine", seed=seed, callbacks=[exact_test_ll], progress=False)
    return model, curve


def report(model, train, test, data: str) -> float:
    """Print exact log-likelihoods next to the untrained model's (and the optimum for bars)."""
    base = pgmdbn.rbm(train.shape[1], model.layer("h").size, init_scale=0.0)
    base.layer("v").init_from_data(train)  # zero weights: independent pixels at their base rates
    for name, m in (("untrained (base rates)", base), ("trained RBM", model)):
        ll_train = pgmdbn.log_likelihood(m, train, method="exact", progress=False)
        ll_test = pgmdbn.log_likelihood(m, test, method="exact", progress=False)
        print(f"{name:<24} train {ll_train.mean:8.3f}  test {ll_test.mean:8.3f}  nats ({ll_test.kind})")
    if data == "bars":
        print(f"{'optimum (-log 30)':<24} {bars_and_stripes_optimum(4):8.3f}")
    return ll_test.mean


def save_and_reload(model, test, path: Path, expected: float):
    """One .safetensors file holds the weights and the JSON spec; loading rebuilds the graph."""
    pgmdbn.save(model, path, metadata={"tutorial": 1})
    again = pgmdbn.load(path)
    ll = pgmdbn.log_likelihood(again, test, method="exact", progress=False).mean
    assert abs(ll - expected) < 1e-9, (ll, expected)
    print(f"saved and reloaded {path}: same test log-likelihood {ll:.3f}")
    return again


def draw(model, n: int, steps: int, seed: int) -> torch.Tensor:
    """n samples by block Gibbs: start at the visible base rates, run ``steps`` sweeps."""
    generator = torch.Generator().manual_seed(seed)
    bias = model.bias("v").detach().expand(n, -1)
    start = model.layer("v").sample(bias, generator=generator)
    return BlockGibbs(model, generator=generator).run({"v": start}, steps)["v"]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("bars", "mnist"), default="bars")
    parser.add_argument("--hidden", type=int, default=20)
    parser.add_argument("--epochs", type=int, help="default: 60, or 10 with --small")
    parser.add_argument("--small", action="store_true", help="a quick run with less data and fewer epochs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("tutorial-01"))
    args = parser.parse_args(argv)
    epochs = args.epochs or (10 if args.small else 60)
    # --small: MNIST keeps 8 hidden units (2^8 states enumerated per epoch); the short run takes
    # larger steps, so that its RBM still clearly beats the untrained one
    hidden = min(args.hidden, 8) if args.small and args.data == "mnist" else args.hidden
    lr = 0.1 if args.small else 0.01
    args.out.mkdir(parents=True, exist_ok=True)

    train, test = load(args.data, args.small)
    model, curve = train_rbm(train, test, hidden, epochs, args.seed, lr)
    test_ll = report(model, train, test, args.data)
    model = save_and_reload(model, test, args.out / "rbm.safetensors", test_ll)

    side = int(train.shape[1] ** 0.5)
    scale = 8 if side < 10 else 2
    save_grid(args.out / "samples.png", draw(model, 64, 20 if args.small else 1000, args.seed),
              shape=(side, side), normalize=None, scale=scale)
    save_grid(args.out / "filters.png", model.weight("v", "h").detach().T, shape=(side, side), scale=scale)
    line_plot_png(args.out / "curve.png", {"exact test log-likelihood": curve}, title="tutorial 1",
                  xlabel="epoch", ylabel="nats")
    print(f"wrote samples.png, filters.png and curve.png to {args.out}/")


if __name__ == "__main__":
    main()
