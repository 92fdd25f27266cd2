"""Tutorial 5: from a pretrained DBN to a classifier and a deep autoencoder, fine-tuned by backprop.

Generative pretraining gives weights that backprop can start from (Hinton & Salakhutdinov 2006).
pgmdbn keeps the two apart: the model is pretrained with its own engines, and
``pgmdbn.finetune`` copies what backprop needs into plain ``torch.nn`` modules, leaving the
model untouched.

1. A classifier. ``to_classifier(dbn, 10)`` is the DBN's recognition up-pass (sigmoid units)
   with a new softmax output; ``train_classifier`` maximises log P(y | v). The same net from a
   random start, trained the same way, shows what pretraining buys.
2. A deep autoencoder. ``stack`` builds a stack of RBMs with linear code units at the top,
   ``pgmdbn.pretrain`` trains them greedily (a smaller rate for the top RBM), ``unroll`` turns
   them into an encoder and a decoder (equal to the transposed encoder at first, trained
   apart), and ``fine_tune`` minimises the reconstruction error. PCA with as many components is the baseline.

Run it from the repository root (times measured on one thread, --threads 1):

    .venv/bin/python tutorials/05_finetuning.py --small   # 2,000 digits, small nets, about 45 s
    .venv/bin/python tutorials/05_finetuning.py           # all 10k training digits, the papers' nets:
                                                         # tens of minutes on one core

For the full-size results (2.29% test error; autoencoder 4.04 against PCA 13.97) see
``benchmarks/finetune_mnist.py`` and ``benchmarks/autoencoder.py``. MNIST is read from
$PGMDBN_DATA (or ../shared/data). Everything it writes goes into --out (default tutorial-05/):
features.png (first-layer filters) and reconstructions.png (test digits, autoencoder, PCA).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import pgmdbn
from pgmdbn.data import load_mnist
from pgmdbn.finetune import error_rate, random_like, to_classifier, train_classifier
from pgmdbn.finetune.autoencoder import fine_tune, pca_baseline, reconstruction_error, stack, unroll
from pgmdbn.plot import save_grid

FULL = dict(n_train=None, n_test=None, classifier=[784, 500, 500, 2000], autoencoder=[784, 1000, 500, 250, 30],
            pretrain_epochs=10, finetune_epochs=30, batch_size=100)
SMALL = dict(n_train=2000, n_test=500, classifier=[784, 200, 200], autoencoder=[784, 200, 100, 30],
             pretrain_epochs=10, finetune_epochs=40, batch_size=20)


def load(n_train, n_test):
    """Grey levels in [0, 1]: the RBMs read them as probabilities, the networks as inputs."""
    try:
        return load_mnist("train", limit=n_train), load_mnist("test", limit=n_test)
    except pgmdbn.DataNotFound as e:
        raise SystemExit(f"This tutorial needs MNIST, which was not found:\n  {e}\n"
                         f"Put the IDX files in ../shared/data/mnist or point $PGMDBN_DATA at their folder.")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="small nets on 2,000 digits (what the tests run)")
    parser.add_argument("--out", type=Path, default=Path("tutorial-05"), help="output folder (default tutorial-05)")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads(N) (default: 1 with --small, whose "
                        "models are too small to gain from more; otherwise torch's default)")
    args = parser.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    threads = args.threads or (1 if args.small else None)
    if threads:
        torch.set_num_threads(threads)
    cfg = SMALL if args.small else FULL
    start = time.perf_counter()
    (x, y), (x_test, y_test) = load(cfg["n_train"], cfg["n_test"])
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"MNIST: {len(x)} training and {len(x_test)} test digits")
    common = dict(batch_size=cfg["batch_size"], progress=False)

    # 1. Classifier: greedy CD-1 pretraining, then backprop on log P(y | v) with light dropout.
    dbn = pgmdbn.dbn(cfg["classifier"], seed=0)
    pgmdbn.pretrain(dbn, x, epochs=cfg["pretrain_epochs"], lr=0.05, momentum=0.9, weight_decay=2e-4, **common)
    save_grid(args.out / "features.png", dbn.weight("v", "h1").T[:100].detach().reshape(-1, 28, 28), scale=2,
              title="the first 100 first-layer filters after pretraining (each scaled to black-white)")
    net = to_classifier(dbn, 10)
    recipe = dict(epochs=cfg["finetune_epochs"], lr=0.5, momentum=0.9, lr_schedule="cosine", dropout=0.2, **common)
    train_classifier(net, x, y, **recipe)
    # the same architecture from a random start; Adam, since plain SGD stalls on a deep sigmoid net
    random_net = random_like(net, seed=1)
    train_classifier(random_net, x, y, **{**recipe, "optimizer": "adam", "lr": 1e-3})
    print("\nclassifier " + "-".join(map(str, cfg["classifier"])) + "-10")
    print(f"  test error, pretrained + backprop:  {error_rate(net, x_test, y_test):.4f}")
    print(f"  test error, random start + backprop: {error_rate(random_net, x_test, y_test):.4f}")

    # 2. Autoencoder: the top RBM has linear code units and learns at a 5x smaller rate.
    model = stack(cfg["autoencoder"], seed=0)
    top_rate = [{}] * (len(cfg["autoencoder"]) - 2) + [{"lr": 0.01}]
    pgmdbn.pretrain(model, x, epochs=cfg["pretrain_epochs"], lr=0.05, momentum=0.9, weight_decay=2e-4,
                    per_stage=top_rate, **common)
    ae = unroll(model)
    unrolled = reconstruction_error(ae, x_test)
    fine_tune(ae, x, epochs=cfg["finetune_epochs"], lr=3e-3, weight_decay=0.1, **common)
    k = cfg["autoencoder"][-1]
    pca_error, pca_recon = pca_baseline(x, x_test, k)
    print("\nautoencoder " + "-".join(map(str, cfg["autoencoder"])) + " (squared error per test digit)")
    print(f"  unrolled, before fine-tuning: {unrolled:.2f}")
    print(f"  autoencoder:                  {reconstruction_error(ae, x_test):.2f}")
    print(f"  PCA with {k} components:       {pca_error:.2f}")
    with torch.no_grad():
        rows = [x_test[:10], ae(x_test[:10]).cpu(), pca_recon[:10]]
    save_grid(args.out / "reconstructions.png", torch.cat(rows).clamp(0, 1).reshape(-1, 28, 28), ncols=10,
              normalize=None, scale=2, row_labels=["test digit", "autoencoder", f"PCA-{k}"],
              title=f"test digits and their reconstructions from {k} numbers")
    print(f"\n{time.perf_counter() - start:.0f} s; PNGs in {args.out}/")


if __name__ == "__main__":
    main()
