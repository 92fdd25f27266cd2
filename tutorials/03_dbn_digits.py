r"""Tutorial 3: a deep belief net that recognises digits and draws them (Hinton, Osindero & Teh 2006).

A DBN is a stack of directed layers under an undirected top. ``pgmdbn.dbn`` builds

        h3              the top RBM: h3 is joined (undirected) to h2 and
       /  \             to the 10-way softmax label layer y
     h2    y
      ↓                 directed: generative weights top-down, with
     h1                 recognition weights beside them for the way up
      ↓
      v  (28x28 pixels)

and this tutorial

1. trains it greedily, one RBM per stage, each on the posteriors of the one below
   (``pgmdbn.pretrain``);
2. classifies test digits *generatively*: the image goes up to h2, and the label whose
   top-RBM free energy is lowest wins (``pgmdbn.classify``) — no discriminative training;
3. fine-tunes every layer with the up-down algorithm, the top's Gibbs steps growing 3 → 6 → 10
   (``pgmdbn.fit(method="updown", k=[3, 6, 10])``), and classifies again;
4. draws digits of each class by clamping y while the top RBM's Gibbs chain runs, then one
   top-down pass to the pixels (``pgmdbn.sample(clamp={"y": c})``);
5. bounds the test log-likelihood from below: the variational bound with the recognition
   weights as q(h | v) and the top RBM's log Z by AIS (``pgmdbn.log_likelihood(method="bound")``).

Run it from the repository root (times measured on one thread, --threads 1):

    .venv/bin/python tutorials/03_dbn_digits.py --small   # 784-100-100-200, 1,000 digits, about 16 s
    .venv/bin/python tutorials/03_dbn_digits.py           # 784-500-500-2000, all training digits:
                                                          # hours on one core (--epochs 1: ~25 min,
                                                          # mostly the two 14,500-temperature AIS runs)

At --small size up-down fine-tuning raises the test bound by several nats (about −140 to −132)
while the test error stays near 0.2.

MNIST is read from $PGMDBN_DATA (or ../shared/data); the tutorial stops with a message if it
is missing. Everything it writes goes into --out (default tutorial-03/): graph.png,
errors.png (up-down's error curves) and samples.png (one row per digit class).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import pgmdbn
from pgmdbn.data import load_mnist
from pgmdbn.estimators.ais import paper_schedule
from pgmdbn.graphplot import graph_png
from pgmdbn.plot import line_plot_png, save_grid
from pgmdbn.training import k_at, stages

# Sizes, data and schedules: the paper's network at full size, a toy one with --small.
FULL = dict(sizes=[784, 500, 500, 2000], n_train=None, n_test=None, epochs=30, updown=30,
            gibbs_steps=1000, temperatures=14500)
SMALL = dict(sizes=[784, 100, 100, 200], n_train=1000, n_test=500, epochs=10, updown=6,
             gibbs_steps=200, temperatures=1000)


def load(n_train, n_test):
    """Binary images and one-hot labels. Stochastic binarisation (a Bernoulli draw per pixel)
    keeps the grey levels' information and is the usual choice when likelihoods are compared."""
    try:
        x, y = load_mnist("train", binarize="stochastic", seed=0, limit=n_train)
        x_test, y_test = load_mnist("test", binarize="stochastic", seed=1, limit=n_test)
    except pgmdbn.DataNotFound as e:
        raise SystemExit(f"This tutorial needs MNIST, which was not found:\n  {e}\n"
                         f"Put the IDX files in ../shared/data/mnist or point $PGMDBN_DATA at their folder.")
    return x, y, x_test, y_test


def one_hot(labels):
    """The softmax layer y takes one row of 10 with a single 1 per example."""
    return torch.nn.functional.one_hot(labels, 10).float()


def error_rate(model, images, labels) -> float:
    """Generative classification: argmax over c of log p(y=c | v) under the top RBM."""
    return (pgmdbn.classify(model, images) != labels).float().mean().item()


def pretrain(model, x, y, epochs: int, seed: int):
    """Greedy layer-wise training: v—h1, then h1—h2 on h1's probabilities, then the top RBM
    (h2 and the labels—h3) in place. The top stage gets twice the epochs: it alone learns
    how labels and features go together, which is what the classifier uses."""
    plan = stages(model)  # [(input layers, hidden layer), ...] bottom-up
    per_stage = [epochs] * (len(plan) - 1) + [2 * epochs]
    results = pgmdbn.pretrain(model, {"v": x, "y": one_hot(y)}, epochs=per_stage, propagate="mean",
                              method="cd", lr=0.1, momentum=0.5, weight_decay=1e-4, batch_size=20,
                              seed=seed, progress=False)
    print(f"{'stage':>5}  {'RBM':<14} {'epochs':>6}  {'recon error':>11}")
    for i, ((inputs, hidden), result) in enumerate(zip(plan, results), 1):
        rbm = f"{'+'.join(inputs)} — {hidden}"
        print(f"{i:>5}  {rbm:<14} {len(result.history):>6}  {result.history[-1]['recon_error']:>11.2f}")


def fine_tune(model, x, y, x_test, y_test, epochs: int, seed: int):
    """Up-down: a wake phase (recognition up-pass; generative weights learn to reconstruct),
    CD-k in the top RBM with the labels clamped, and a sleep phase (the top's sample goes down;
    recognition weights learn to invert it). k grows over the run: longer chains give a better
    gradient once the model is good enough for short ones to mislead."""
    schedule = [3, 6, 10]
    result = pgmdbn.fit(model, {"v": x, "y": one_hot(y)}, method="updown", k=schedule, epochs=epochs,
                        lr=0.01, momentum=0.5, batch_size=20, seed=seed, progress=False,
                        valid={"v": x_test, "y": one_hot(y_test)})
    print(f"{'epoch':>5} {'k':>3} {'train error':>12} {'test error':>11}")
    for h in result.history:
        k = k_at(schedule, h["epoch"] - 1, epochs)
        print(f"{h['epoch']:>5} {k:>3} {h['train_error']:>12.3f} {h['valid_error']:>11.3f}")
    return result.history


def bound(model, x_test, temperatures: int, seed: int):
    """E_q[log p(v, h) - log q(h | v)] ≤ log p(v), averaged over k=10 up-pass samples. Only the
    top RBM needs a partition function, and its log Z comes from AIS: an estimate, so the
    bound holds up to AIS's error."""
    return pgmdbn.log_likelihood(model, x_test, method="bound", k=10, log_z="ais", n_chains=100,
                                 betas=paper_schedule(temperatures), seed=seed, progress=False)


def draw_classes(model, per_class: int, steps: int, seed: int) -> torch.Tensor:
    """For each class c: clamp y=c, run the top RBM's Gibbs chain, go down once. One row each."""
    rows = [pgmdbn.sample(model, per_class, steps=steps, clamp={"y": c}, seed=seed + c,
                          conditional_means=("v",))["v"] for c in range(10)]
    return torch.cat(rows)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="a small network on 1,000 digits (what the tests run)")
    parser.add_argument("--epochs", type=int, help="pretraining epochs per stage (the top gets twice as many) "
                        "and up-down epochs")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights, the batches and the chains")
    parser.add_argument("--out", type=Path, default=Path("tutorial-03"), help="output folder (default tutorial-03)")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads(N) (default: 1 with --small, whose "
                        "models are too small to gain from more; otherwise torch's default)")
    args = parser.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    threads = args.threads or (1 if args.small else None)
    if threads:
        torch.set_num_threads(threads)
    cfg = dict(SMALL if args.small else FULL)
    if args.epochs:
        cfg["epochs"] = cfg["updown"] = args.epochs
    start = time.perf_counter()

    # 1. Data and the model. Labels join the top RBM as a 10-way softmax layer.
    x, y, x_test, y_test = load(cfg["n_train"], cfg["n_test"])
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"MNIST: {len(x)} training and {len(x_test)} test digits")
    model = pgmdbn.dbn(cfg["sizes"], labels=10, seed=args.seed)
    graph_png(model, args.out / "graph.png")
    print(f"{model.structure}: " + ", ".join(f"{n} ({model.layer(n).size})" for n in model.layers))

    # 2. Greedy pretraining, then the error of the generative classifier it already is.
    print("\ngreedy layer-wise pretraining")
    pretrain(model, x, y, cfg["epochs"], args.seed)
    errors = {"pretrained": error_rate(model, x_test, y_test)}
    train_error = error_rate(model, x, y)
    bounds = {"pretrained": bound(model, x_test, cfg["temperatures"], args.seed)}  # printed in section 5
    print(f"test error after pretraining: {errors['pretrained']:.3f}")

    # 3. Up-down fine-tuning adjusts all layers together, which greedy training never does, and
    #    unties the recognition weights from the generative ones. The test set's error is only
    #    watched (nothing is chosen by it), so it stays a fair test.
    print("\nup-down fine-tuning")
    history = fine_tune(model, x, y, x_test, y_test, cfg["updown"], args.seed)
    errors["up-down"] = error_rate(model, x_test, y_test)
    bounds["up-down"] = bound(model, x_test, cfg["temperatures"], args.seed)
    print(f"test error after up-down:     {errors['up-down']:.3f}")
    line_plot_png(args.out / "errors.png",  # epoch 0: the pretrained model
                  {"train error": [train_error] + [h["train_error"] for h in history],
                   "test error": [errors["pretrained"]] + [h["valid_error"] for h in history]},
                  x=[0] + [h["epoch"] for h in history],
                  title="up-down fine-tuning: classification error (epoch 0: after greedy pretraining)",
                  xlabel="epoch", ylabel="error rate")

    # 4. Digits of each class: rows 0..9 of samples.png. "v" comes back as probabilities.
    save_grid(args.out / "samples.png", draw_classes(model, 10, cfg["gibbs_steps"], args.seed),
              ncols=10, normalize=None, scale=2, row_labels=[f"class {c}" for c in range(10)],
              title=f"p(v | h1) of samples with the label clamped, {cfg['gibbs_steps']} Gibbs steps in the top RBM")

    # 5. How well does it model the images? A lower bound on log p(v), in nats per test digit.
    print(f"\n{'':<14} {'test error':>10} {'log p(v) ≥':>11} {'± (k=10)':>9} {'top log Z':>10}")
    for stage in ("pretrained", "up-down"):
        b = bounds[stage]
        print(f"{stage:<14} {errors[stage]:>10.3f} {b.mean:>11.2f} {b.spread['std_error']:>9.2f} "
              f"{b.log_z:>10.2f}")
    print(f"test log-likelihood bound: {bounds['up-down'].mean:.2f} nats ({bounds['up-down'].kind}; "
          f"the top RBM's log Z by AIS with {cfg['temperatures']} temperatures)")
    print(f"wrote graph.png, errors.png and samples.png to {args.out}/ in {time.perf_counter() - start:.0f} s")
    return {"errors": errors, "bound": bounds["up-down"].mean}


if __name__ == "__main__":
    main()
