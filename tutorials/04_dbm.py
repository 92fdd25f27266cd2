"""Tutorial 4: a deep Boltzmann machine — pretrain, train jointly, bound its likelihood, fill in digits.

A DBM (Salakhutdinov & Hinton 2009) is v — h1 — h2 with every connection undirected, so h1
hears from both v below and h2 above. That changes three things compared with a DBN:

- Greedy pretraining must not double-count: joined, h1 gets input from two sides, so the first
  RBM is trained with two tied copies of v (h1 gets its bottom-up input twice) and the last
  with two tied copies of h2; ``pgmdbn.pretrain`` does this for a DBM by itself.
- The posterior p(h | v) no longer factorises, not even approximately after one pass. Joint
  training (``pgmdbn.fit(method="dbm")``) uses mean-field for the data-dependent statistics
  and persistent Gibbs chains for the model's.
- log p(v) needs log Z (by AIS) *and* a sum over h that is intractable: the mean-field
  posterior gives a lower bound (``pgmdbn.log_likelihood(method="bound")``).

It compares the bound with an RBM of h1's size trained as long, draws samples, and fills in
the bottom half of test digits given their top half (``pgmdbn.sample(clamp=..., masks=...)``).

Run it from the repository root (times measured on one thread, --threads 1):

    .venv/bin/python tutorials/04_dbm.py --small   # 784-100-200, 1,000 digits, about 28 s
    .venv/bin/python tutorials/04_dbm.py           # 784-500-1000 as in the paper, all training digits:
                                                  # hours on one core (--epochs 1: ~10 min)

MNIST is read from $PGMDBN_DATA (or ../shared/data); the tutorial stops with a message if it
is missing. Everything it writes goes into --out (default tutorial-04/): graph.png,
samples.png and fill_in.png.
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
from pgmdbn.plot import save_grid

FULL = dict(sizes=[784, 500, 1000], n_train=None, n_test=None, epochs=30, joint=30, gibbs_steps=1000,
            temperatures=14500)
SMALL = dict(sizes=[784, 100, 200], n_train=1000, n_test=500, epochs=10, joint=10, gibbs_steps=200,
             temperatures=2000)


def load(n_train, n_test):
    """Binary images (a Bernoulli draw per pixel), the usual choice when likelihoods are compared."""
    try:
        x, _ = load_mnist("train", binarize="stochastic", seed=0, limit=n_train)
        x_test, _ = load_mnist("test", binarize="stochastic", seed=1, limit=n_test)
    except pgmdbn.DataNotFound as e:
        raise SystemExit(f"This tutorial needs MNIST, which was not found:\n  {e}\n"
                         f"Put the IDX files in ../shared/data/mnist or point $PGMDBN_DATA at their folder.")
    return x, x_test


def evaluate(model, x, x_test, temperatures: int, seed: int) -> dict:
    """log Z by AIS, then the test log-likelihood.

    AIS anneals from a model without weights (pixels at the training data's base rates) to the
    trained one through ``temperatures`` intermediate models, on 100 independent chains. Its
    effective sample size (ESS) says how many chains really count: a few of 100 means the
    schedule is too short and log Z is likely underestimated.

    For the DBM, log p(v) ≥ E_q[-E(v, h)] + H(q) - log Z with q the mean-field posterior. For an
    RBM the hidden layer sums out exactly, so only log Z is estimated (and log p(v), since AIS
    tends to underestimate log Z, is if anything a little overstated)."""
    ais = dict(n_chains=100, betas=paper_schedule(temperatures), base_data=x, seed=seed, progress=False)
    if model.structure == "rbm":
        ll = pgmdbn.log_likelihood(model, x_test, method="ais", **ais)
        return {"log_z": ll.log_z, "ess": ll.spread["ess"], "ll": ll.mean, "kind": ll.kind}
    z = pgmdbn.log_partition(model, method="ais", **ais)
    ll = pgmdbn.log_likelihood(model, x_test, method="bound", log_z=z.log_z)  # log_z="ais" would run AIS itself
    return {"log_z": z.log_z, "ess": z.spread["ess"], "ll": ll.mean, "kind": ll.kind}


def fill_in(model, digits, chains: int, steps: int, seed: int):
    """Clamp the top half of each digit and let the Gibbs chain fill in the bottom half.

    The mask is True where a pixel is observed (held fixed). The clamped tensor's other pixels
    are only where the chain starts, so they are blanked: starting from the true bottom half
    would let a short chain "fill in" what it was given. Each digit gets ``chains`` chains;
    their average estimates p(bottom pixel on | top half)."""
    mask = torch.zeros(28, 28, dtype=torch.bool)
    mask[:14] = True
    mask = mask.reshape(-1)
    observed = digits * mask  # the bottom half set to 0
    clamp = observed.repeat(chains, 1)  # chain c of digit i is row c * n + i
    filled = pgmdbn.sample(model, len(clamp), steps=steps, clamp={"v": clamp}, masks={"v": mask}, seed=seed,
                           conditional_means=("v",))["v"]
    return mask, observed, filled.reshape(chains, len(digits), -1)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="a small DBM on 1,000 digits (what the tests run)")
    parser.add_argument("--epochs", type=int, help="pretraining epochs per stage; joint training runs as many")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights, the batches and the chains")
    parser.add_argument("--out", type=Path, default=Path("tutorial-04"), help="output folder (default tutorial-04)")
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
        cfg["epochs"] = cfg["joint"] = args.epochs
    start = time.perf_counter()

    # 1. Data and the model.
    x, x_test = load(cfg["n_train"], cfg["n_test"])
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"MNIST: {len(x)} training and {len(x_test)} test digits")
    model = pgmdbn.dbm(cfg["sizes"], seed=args.seed)
    graph_png(model, args.out / "graph.png")
    print(f"{model.structure}: " + " — ".join(f"{n} ({model.layer(n).size})" for n in model.layers))

    # 2. Greedy pretraining with doubled inputs at the ends (see the docstring), CD-1.
    results = pgmdbn.pretrain(model, x, epochs=cfg["epochs"], method="cd", lr=0.05, momentum=0.5, batch_size=20,
                              seed=args.seed, progress=False)
    v, h1, h2 = model.layers
    print(f"\ngreedy pretraining: RBM {v}(x2) — {h1}, then RBM {h1} — {h2}(x2), "
          f"{len(results[0].history)} epochs each")
    rows = {"DBM, greedy only": evaluate(model, x, x_test, cfg["temperatures"], args.seed)}

    # 3. Joint training: 10 mean-field sweeps per batch for the positive phase, 100 persistent
    #    chains (5 Gibbs sweeps per update) for the negative one. A small learning rate: the
    #    pretrained weights are already good, and the persistent chains must keep up with them.
    history = pgmdbn.fit(model, x, method="dbm", k=5, epochs=cfg["joint"], lr=0.001, momentum=0.9, batch_size=20,
                         seed=args.seed, progress=False,
                         engine_options={"mean_field_steps": 10, "chains": 100}).history
    print(f"joint training: {cfg['joint']} epochs, mean-field reconstruction error "
          f"{history[0]['recon_error']:.2f} -> {history[-1]['recon_error']:.2f}")
    rows["DBM, joint"] = evaluate(model, x, x_test, cfg["temperatures"], args.seed)

    # 4. The baseline: an RBM with h1's units, CD-1 for as many epochs as the DBM saw in all.
    #    The DBM's number is a lower bound and the RBM's an estimate, so where the DBM's is
    #    higher it is the better model of the test digits (up to AIS's error in both log Z's).
    rbm = pgmdbn.rbm(cfg["sizes"][0], cfg["sizes"][1], seed=args.seed)
    pgmdbn.fit(rbm, x, method="cd", epochs=2 * cfg["epochs"] + cfg["joint"], lr=0.05, momentum=0.5,
               batch_size=20, seed=args.seed, progress=False)
    rows[f"RBM {cfg['sizes'][0]}-{cfg['sizes'][1]}"] = evaluate(rbm, x, x_test, cfg["temperatures"], args.seed)

    print(f"\nAIS with {cfg['temperatures']} temperatures, 100 chains")
    print(f"{'model':<18} {'log Z':>9} {'ESS':>6} {'test log p(v)':>14}  kind")
    for name, r in rows.items():
        print(f"{name:<18} {r['log_z']:>9.2f} {r['ess']:>6.1f} {r['ll']:>14.2f}  {r['kind']}")
    if any(r["ess"] < 10 for r in rows.values()):
        print("an ESS under 10 of 100 chains: that log Z is likely too low and its log p(v) too high, by a nat or\n"
              "more; more temperatures fix it (the full run uses 14,500), so read small differences with care")
    print(f"test log-likelihood bound: {rows['DBM, joint']['ll']:.2f} nats (mean-field lower bound, log Z by AIS)")

    # 5. Samples: 100 chains from the visible biases, block Gibbs (v and h2 | h1, then h1 | v, h2).
    samples = pgmdbn.sample(model, 100, steps=cfg["gibbs_steps"], seed=args.seed, conditional_means=("v",))["v"]
    save_grid(args.out / "samples.png", samples, normalize=None, scale=2,
              title=f"100 DBM samples: p(v | h1) after {cfg['gibbs_steps']} block Gibbs sweeps")

    # 6. Filling in: rows of fill_in.png are the test digit, what the model sees, three single
    #    chains and the average of all chains. The score: squared error on the hidden pixels,
    #    next to guessing each pixel's base rate in the training set.
    digits = x_test[:50]
    mask, observed, filled = fill_in(model, digits, chains=10, steps=cfg["gibbs_steps"], seed=args.seed)
    hidden = ~mask
    dbm_error = (filled.mean(0)[:, hidden] - digits[:, hidden]).pow(2).mean().item()
    base_error = (x.mean(0)[hidden] - digits[:, hidden]).pow(2).mean().item()
    print(f"fill-in squared error per hidden pixel: DBM {dbm_error:.4f}, base rates {base_error:.4f}")
    shown = observed[:10].clone()
    shown[:, hidden] = 0.5  # grey: not seen
    picture = torch.cat([digits[:10], shown, filled[0, :10], filled[1, :10], filled[2, :10], filled.mean(0)[:10]])
    save_grid(args.out / "fill_in.png", picture, ncols=10, normalize=None, scale=2,
              row_labels=["test digit", "seen", "chain 1", "chain 2", "chain 3", "mean of chains"],
              title="filling in the bottom half given the top half (grey: not seen)")

    print(f"wrote graph.png, samples.png and fill_in.png to {args.out}/ in {time.perf_counter() - start:.0f} s")
    return {"rows": rows, "fill_in": (dbm_error, base_error)}


if __name__ == "__main__":
    main()
