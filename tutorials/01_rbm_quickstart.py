"""Tutorial 1: train an RBM, measure its exact log-likelihood, save it, load it, draw from it.

Run it from the repository root (times measured on one thread, --threads 1):

    .venv/bin/python tutorials/01_rbm_quickstart.py            # bars-and-stripes 4x4, about 13 s
    .venv/bin/python tutorials/01_rbm_quickstart.py --data mnist --hidden 20
    .venv/bin/python tutorials/01_rbm_quickstart.py --small    # about 7 s (what the tests run)

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
    """Fit an RBM with PCD-5, recording the exact test log-likelihood before training (epoch 0)
    and after every epoch (1, 2, ...): returns the model and {epoch: log-likelihood}."""
    # pgmdbn.rbm builds the graph v — h with Bernoulli units; init_scale is the std of the weights.
    model = pgmdbn.rbm(train.shape[1], hidden, seed=seed, init_scale=0.1)
    curve = {0: pgmdbn.log_likelihood(model, test, method="exact", progress=False).mean}

    def exact_test_ll(model, epoch, metrics):
        # Callbacks run after each epoch (numbered from 1); exact enumeration costs milliseconds here.
        curve[epoch] = pgmdbn.log_likelihood(model, test, method="exact", progress=False).mean
        print(f"epoch {epoch:3d}  recon error {metrics['recon_error']:.3f}  test log p(v) {curve[epoch]:.3f}")

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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=("bars", "mnist"), default="bars",
                        help="bars: 4x4 bars-and-stripes, generated (default); mnist: 28x28 digits, thresholded")
    parser.add_argument("--hidden", type=int, default=20,
                        help="hidden units (default 20; at most 8 with --small --data mnist)")
    parser.add_argument("--epochs", type=int, help="training epochs (default: 60, or 10 with --small)")
    parser.add_argument("--small", action="store_true", help="a quick run with less data and fewer epochs")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights, the batches and the chains")
    parser.add_argument("--out", type=Path, default=Path("tutorial-01"), help="output folder (default tutorial-01)")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads(N) (default: 1 with --small, whose "
                        "model is too small to gain from more; otherwise torch's default)")
    args = parser.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    threads = args.threads or (1 if args.small else None)
    if threads:
        torch.set_num_threads(threads)
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
    steps = 20 if args.small else 1000
    # save_grid scales small tiles up to at least 400 pixels across
    save_grid(args.out / "samples.png", draw(model, 64, steps, args.seed), shape=(side, side), normalize=None,
              title=f"64 samples, {steps} Gibbs sweeps each")
    save_grid(args.out / "filters.png", model.weight("v", "h").detach().T, shape=(side, side),
              title=f"the {hidden} hidden units' filters (weights, each scaled to black-white)")
    line_plot_png(args.out / "curve.png", {"exact test log-likelihood": list(curve.values())}, x=list(curve),
                  title="tutorial 1: the RBM's exact test log-likelihood (epoch 0: untrained)",
                  xlabel="epoch", ylabel="log p(v), nats per test example",
                  reference={"optimum (-log 30)": bars_and_stripes_optimum(4)} if args.data == "bars" else None)
    print(f"wrote samples.png, filters.png and curve.png to {args.out}/")


if __name__ == "__main__":
    main()
