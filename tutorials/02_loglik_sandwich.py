"""Tutorial 2: an RBM's log-likelihood exactly, by AIS and by RAISE — and the sandwich.

AIS estimates log Z without bias in Z, so on average it *over*states log p(v) a little;
RAISE is a stochastic *lower* bound. With few temperatures both are loose; as the schedule
grows they close in on the exact value from both sides:

    RAISE  ≤  exact  ≤  AIS      (on average over runs)

Run it from the repository root:

    .venv/bin/python tutorials/02_loglik_sandwich.py             # MNIST 784-20 if the data is there
    .venv/bin/python tutorials/02_loglik_sandwich.py --data bars # no files needed
    .venv/bin/python tutorials/02_loglik_sandwich.py --small     # a few seconds (what the tests run)

It prints a table and writes sandwich.png (AIS, exact and RAISE against the number of
temperatures; the PNG's text metadata names the colours) into --out (default tutorial-02/).
"""
from __future__ import annotations

import argparse
from pathlib import Path


import pgmdbn
from pgmdbn.data import load_mnist, sample_bars_and_stripes
from pgmdbn.estimators.ais import paper_schedule
from pgmdbn.plot import line_plot_png


def load(data: str):
    if data == "bars":
        return sample_bars_and_stripes(2000, side=4, seed=0), sample_bars_and_stripes(500, side=4, seed=1)
    train, _ = load_mnist("train", binarize="stochastic", seed=0)
    test, _ = load_mnist("test", binarize="stochastic", seed=1)
    return train, test


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=["mnist", "bars"], default="mnist")
    parser.add_argument("--small", action="store_true", help="bars-and-stripes, short schedules")
    parser.add_argument("--out", default="tutorial-02")
    parser.add_argument("--runs", type=int, default=3, help="independent runs averaged per schedule")
    args = parser.parse_args(argv)
    if args.small:
        args.data = "bars"
    try:
        train, test = load(args.data)
    except pgmdbn.DataNotFound as e:
        print(f"MNIST not found ({e}); using bars-and-stripes instead")
        args.data = "bars"
        train, test = load("bars")

    # 1. An RBM small enough on one side (20 hidden units) to enumerate exactly.
    if args.data == "bars":  # CD-1 learns the 30 patterns well: a sharply multimodal model
        model = pgmdbn.rbm(16, 12, seed=0)
        pgmdbn.fit(model, train, method="cd", epochs=10 if args.small else 30, batch_size=20, lr=0.1,
                   momentum=0.9, seed=0, progress=not args.small)
    else:
        model = pgmdbn.rbm(784, 20, seed=0)
        pgmdbn.fit(model, train, method="pcd", epochs=20, batch_size=50, lr=0.02, momentum=0.9, seed=0)
    examples = test[:100] if args.small else test[:1000]

    # 2. The exact value: the 2^20 hidden states are enumerated, the pixels summed out.
    exact = pgmdbn.log_likelihood(model, examples, method="exact")
    print(f"exact test log-likelihood: {exact.mean:.3f} nats ({exact.kind})")

    # 3. AIS and RAISE for growing schedules; the paper's default is 14,500 temperatures.
    sizes = [10, 30, 100, 300] if args.small else [30, 100, 300, 1000, 3000, 10000]
    rows = {"AIS": [], "exact": [], "RAISE": []}
    print(f"{'temperatures':>12} {'RAISE':>10} {'exact':>10} {'AIS':>10}")
    for n in sizes:
        betas = paper_schedule(n)
        ais = [pgmdbn.log_likelihood(model, examples, method="ais", betas=betas, base_data=train, seed=s,
                                     progress=False).mean for s in range(args.runs)]
        rai = [pgmdbn.log_likelihood(model, examples, method="raise", betas=betas, base_data=train, seed=s,
                                     progress=False).mean for s in range(args.runs)]
        rows["AIS"].append(sum(ais) / len(ais))
        rows["RAISE"].append(sum(rai) / len(rai))
        rows["exact"].append(exact.mean)
        print(f"{n:>12} {rows['RAISE'][-1]:>10.3f} {exact.mean:>10.3f} {rows['AIS'][-1]:>10.3f}")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # AIS estimates log Z from below, so on average its log-likelihood lies above the exact value
    # and RAISE's below; one finite run can land on the wrong side, so the title says what this
    # run shows instead of what holds on average.
    order = {"RAISE <= exact": all(r <= exact.mean for r in rows["RAISE"]),
             "exact <= AIS": all(a >= exact.mean for a in rows["AIS"])}
    title = " and ".join(k for k, holds in order.items() if holds) or "neither bound held on every schedule"
    line_plot_png(out / "sandwich.png", rows, x=sizes, title=f"{title} (this run)", xlabel="temperatures",
                  ylabel="test log p(v), nats", logx=True, markers=True)
    print(f"wrote {out / 'sandwich.png'}")
    return rows


if __name__ == "__main__":
    main()
