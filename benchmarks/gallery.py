#!/usr/bin/env python
"""The pgmdbn-units gallery on data, side by side.

1. MNIST (10k training images, the official 10k test images, stochastically binarised with seeds
   0 and 1 as bench_likelihood.py): a 784-500 RBM with ``relu`` hidden units against the same RBM
   with Bernoulli hidden units, both PCD-1 for the same epochs; the AIS test log-likelihood of
   each (``--runs`` independent runs, their spread) and the test error of a logistic regression
   (scikit-learn) on the hidden means.
2. Lattice-protein-like sequences: a random Potts model over ``L`` sites of ``q`` letters with
   couplings on the contacts of a folded chain on a square lattice (neighbours along the chain
   and a few non-local contacts), sampled by Gibbs; a Potts-visible, dReLU-hidden RBM trained on
   them. Its exact log-likelihood (the q^L visible states enumerated, the dReLU hidden units
   integrated analytically) and AIS beside it, against the independent-site model and the
   generator itself; Gibbs samples of the RBM against the data (single-site frequencies and
   pairwise connected correlations) and a few sample sequences.

    .venv/bin/python benchmarks/gallery.py --threads 1          # the run in benchmarks/README.md
    .venv/bin/python benchmarks/gallery.py --small              # smoke test (seconds)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins" / "pgmdbn-units"))
from common import add_common_options, parse, publish, say  # noqa: E402

import pgmdbn  # noqa: E402
from pgmdbn.data import load_mnist  # noqa: E402
from pgmdbn.estimators.ais import paper_schedule  # noqa: E402

FULL = {"rows": None, "test_rows": None, "hidden": 500, "epochs": 20, "temperatures": 5000, "chains": 100,
        "sites": 10, "letters": 4, "sequences": 3000, "potts_hidden": 10, "potts_epochs": 60}
SMALL = {"rows": 300, "test_rows": 100, "hidden": 20, "epochs": 2, "temperatures": 200, "chains": 20,
         "sites": 5, "letters": 3, "sequences": 300, "potts_hidden": 3, "potts_epochs": 3}
LETTERS = "ACDEFGHIKLMNPQRSTVWY"


def gallery_plugin():
    """pgmdbn-units, registered once (installed, or from plugins/ in this checkout)."""
    import pgmdbn_units

    if "relu" not in pgmdbn.registry.names("units"):
        pgmdbn.register_plugin(pgmdbn_units, name="pgmdbn_units")


# --- 1. MNIST: relu against Bernoulli hidden units ------------------------------------------------

def hidden_means(model, x: torch.Tensor) -> torch.Tensor:
    """E[h | v] for rows ``x`` (n, 784) -> (n, hidden), in batches."""
    units = model.layer("h")
    with torch.no_grad():
        return torch.cat([units.mean(model.field("h", {"v": rows})) for rows in x.split(1000)])


def logistic_error(train_f, train_y, test_f, test_y) -> float | str:
    """Test error (%) of a multinomial logistic regression on standardised features."""
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
    except ImportError:
        return "skipped: scikit-learn is not installed (pip install -e '.[bench]')"
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))
    clf.fit(train_f.double().numpy(), train_y.numpy())
    return 100.0 * float((clf.predict(test_f.double().numpy()) != test_y.numpy()).mean())


def mnist_pair(cfg, args, device) -> dict:
    train_x, train_y = load_mnist("train", binarize="stochastic", seed=0, limit=cfg["rows"])
    test_x, test_y = load_mnist("test", binarize="stochastic", seed=1, limit=cfg["test_rows"])
    rows = {}
    for hidden in args.hidden:
        model = pgmdbn.rbm(784, cfg["hidden"], hidden=hidden, seed=args.seed).to(device)
        say(f"784-{cfg['hidden']} RBM, {hidden} hidden: PCD-1, {cfg['epochs']} epochs on {len(train_x)} images")
        start = time.perf_counter()
        pgmdbn.fit(model, train_x, method="pcd", k=1, epochs=cfg["epochs"], batch_size=100, lr=args.lr,
                   momentum=0.5, weight_decay=2e-4, lr_schedule="linear", seed=args.seed, device=device,
                   progress=False)
        seconds = time.perf_counter() - start
        pgmdbn.save(model, Path(args.out) / f"rbm_{hidden}.safetensors")
        start = time.perf_counter()
        ais = pgmdbn.log_likelihood(model, test_x, method="ais", n_chains=cfg["chains"], runs=args.runs,
                                    betas=paper_schedule(cfg["temperatures"]), base_data=train_x, seed=args.seed,
                                    progress=False)
        log_zs = ais.spread.get("log_z_runs") or [ais.log_z]
        error = logistic_error(hidden_means(model, train_x), train_y, hidden_means(model, test_x), test_y)
        rows[hidden] = {"train_seconds": seconds, "ais_seconds": time.perf_counter() - start,
                        "ais_test": ais.mean, "log_z": ais.log_z, "log_z_runs": log_zs,
                        "log_z_spread": max(log_zs) - min(log_zs), "ess": ais.spread.get("ess"),
                        "logistic_error": error, "warnings": ais.warnings}
        if hidden == "relu":
            gamma = model.layer("h").gamma().detach()
            rows[hidden]["gamma_quartiles"] = torch.quantile(gamma, torch.tensor([0.25, 0.5, 0.75])).tolist()
        say(f"{hidden}: AIS test {ais.mean:.2f} nats, log Z runs {log_zs}, logistic error {error}")
    return rows


# --- 2. Potts-visible, dReLU-hidden RBM on lattice-protein-like sequences -------------------------

def lattice_contacts(sites: int, generator: torch.Generator) -> list[tuple[int, int]]:
    """The contacts of a random self-avoiding walk of ``sites`` steps on the square lattice: pairs
    of sites that are lattice neighbours (along the chain, and the non-local ones of the fold)."""
    moves = torch.tensor([[1, 0], [-1, 0], [0, 1], [0, -1]])
    while True:
        path, taken = [(0, 0)], {(0, 0)}
        for _ in range(sites - 1):
            free = [tuple((torch.tensor(path[-1]) + m).tolist()) for m in moves]
            free = [p for p in free if p not in taken]
            if not free:
                break
            path.append(free[int(torch.randint(len(free), (1,), generator=generator))])
            taken.add(path[-1])
        if len(path) == sites:
            break
    where = {p: i for i, p in enumerate(path)}
    return sorted({tuple(sorted((i, where[q]))) for i, p in enumerate(path)
                   for q in [(p[0] + 1, p[1]), (p[0], p[1] + 1)] if q in where})


def potts_generator(sites: int, letters: int, seed: int):
    """(fields (sites, q), couplings (sites, q, sites, q) symmetric, contacts) of the generator."""
    g = torch.Generator().manual_seed(seed)
    contacts = lattice_contacts(sites, g)
    fields = 0.5 * torch.randn(sites, letters, generator=g, dtype=torch.float64)
    couplings = torch.zeros(sites, letters, sites, letters, dtype=torch.float64)
    for i, j in contacts:
        block = 1.2 * torch.randn(letters, letters, generator=g, dtype=torch.float64)
        couplings[i, :, j, :], couplings[j, :, i, :] = block, block.T
    return fields, couplings, contacts


def potts_log_weights(seqs: torch.Tensor, fields, couplings) -> torch.Tensor:
    """log of the generator's unnormalised probability of integer sequences (n, sites)."""
    n, sites = seqs.shape
    onehot = torch.nn.functional.one_hot(seqs, fields.shape[1]).double().reshape(n, -1)
    flat = couplings.reshape(onehot.shape[1], onehot.shape[1])
    return onehot @ fields.reshape(-1) + 0.5 * ((onehot @ flat) * onehot).sum(-1)


def gibbs_sequences(n: int, fields, couplings, sweeps: int, seed: int) -> torch.Tensor:
    """``n`` independent chains of single-site Gibbs sampling of the generator, ``sweeps`` sweeps."""
    g = torch.Generator().manual_seed(seed)
    sites, q = fields.shape
    seqs = torch.randint(q, (n, sites), generator=g)
    for _ in range(sweeps):
        for i in range(sites):
            onehot = torch.nn.functional.one_hot(seqs, q).double()
            logits = fields[i] + torch.einsum("njb,ajb->na", onehot, couplings[i])
            seqs[:, i] = torch.multinomial(torch.softmax(logits, -1), 1, generator=g).squeeze(-1)
    return seqs


def all_sequences(sites: int, q: int) -> torch.Tensor:
    codes = torch.arange(q ** sites).unsqueeze(-1)
    return codes // q ** torch.arange(sites) % q


def statistics(onehot: torch.Tensor, sites: int, q: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Single-site frequencies (sites·q,) and connected pair correlations over distinct sites."""
    f1 = onehot.mean(0)
    c = onehot.T @ onehot / len(onehot) - torch.outer(f1, f1)
    site = torch.arange(sites).repeat_interleave(q)
    return f1, c[site[:, None] < site[None, :]]


def pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a @ b) / (a.norm() * b.norm()))


def proteins(cfg, args) -> dict:
    sites, q = cfg["sites"], cfg["letters"]
    fields, couplings, contacts = potts_generator(sites, q, args.seed)
    say(f"sequences: {sites} sites × {q} letters, {len(contacts)} lattice contacts; Gibbs sampling the generator")
    seqs = gibbs_sequences(2 * cfg["sequences"], fields, couplings, sweeps=200, seed=args.seed)
    train_s, test_s = seqs[:cfg["sequences"]], seqs[cfg["sequences"]:]
    log_z_true = torch.logsumexp(potts_log_weights(all_sequences(sites, q), fields, couplings), 0)
    true_test = (potts_log_weights(test_s, fields, couplings) - log_z_true).mean().item()
    model = pgmdbn.rbm(sites * q, cfg["potts_hidden"], visible={"type": "potts", "states": q}, hidden="drelu",
                       seed=args.seed, init_scale=0.05)
    potts = model.layer("v")
    train_x, test_x = potts.encode_sequences(train_s), potts.encode_sequences(test_s)
    freq = (train_x.mean(0).reshape(sites, q) + 1e-3).log()
    independent = ((test_x.reshape(-1, sites, q) * (freq - freq.logsumexp(-1, keepdim=True))).sum((1, 2))).mean()
    say(f"Potts-dReLU RBM {sites * q}-{cfg['potts_hidden']}: PCD-5, {cfg['potts_epochs']} epochs")
    start = time.perf_counter()
    pgmdbn.fit(model, train_x, method="pcd", k=5, epochs=cfg["potts_epochs"], batch_size=50, lr=0.02, momentum=0.5,
               weight_decay=1e-4, lr_schedule="linear", seed=args.seed, progress=False)
    seconds = time.perf_counter() - start
    exact = pgmdbn.log_likelihood(model.double(), test_x.double(), method="exact", progress=False)
    train_exact = pgmdbn.log_likelihood(model, train_x.double(), method="exact", progress=False)
    ais = pgmdbn.log_partition(model, method="ais", n_chains=cfg["chains"], runs=args.runs,
                               betas=paper_schedule(cfg["temperatures"]), base_data=train_x.double(),
                               seed=args.seed, progress=False)
    drawn = pgmdbn.sample(model, 2000 if not args.small else 200, steps=200, seed=args.seed, method="gibbs")["v"]
    data_f1, data_c = statistics(test_x.double(), sites, q)
    model_f1, model_c = statistics(drawn.double(), sites, q)
    letters = drawn.reshape(-1, sites, q).argmax(-1)
    return {"sites": sites, "letters": q, "contacts": contacts, "train_sequences": len(train_s),
            "hidden": cfg["potts_hidden"], "epochs": cfg["potts_epochs"], "train_seconds": seconds,
            "exact_test": exact.mean, "exact_train": train_exact.mean, "exact_log_z": exact.log_z,
            "ais_log_z": ais.log_z, "ais_log_z_runs": ais.spread.get("log_z_runs"),
            "generator_test": true_test, "independent_test": independent.item(),
            "single_site_r": pearson(data_f1, model_f1), "pair_correlation_r": pearson(data_c, model_c),
            "samples": ["".join(LETTERS[a] for a in row) for row in letters[:5].tolist()],
            "data": ["".join(LETTERS[a] for a in row) for row in test_s[:5].tolist()]}


def print_table(report, file):
    if "mnist" in report:
        print(f"\nMNIST 784-{report['hidden']} RBMs, PCD-1, {report['epochs']} epochs each; AIS "
              f"{report['chains']} chains × {report['temperatures']} temperatures, {report['runs']} runs", file=file)
        print(f"{'hidden units':<14}{'AIS test log p (nats)':>24}{'log Z spread':>14}{'logistic error':>16}"
              f"{'train s':>9}", file=file)
        for name, r in report["mnist"].items():
            err = r["logistic_error"]
            err = f"{err:.2f} %" if isinstance(err, float) else err
            print(f"{name:<14}{r['ais_test']:>24.2f}{r['log_z_spread']:>14.3f}{err:>16}{r['train_seconds']:>9.0f}",
                  file=file)
            for w in r["warnings"]:
                print(f"  warning: {w}", file=file)
    if "proteins" in report:
        p = report["proteins"]
        print(f"\nPotts({p['letters']})-visible × {p['hidden']} dReLU-hidden RBM on {p['train_sequences']} "
              f"sequences of {p['sites']} sites ({p['epochs']} epochs, {p['train_seconds']:.0f} s)", file=file)
        print(f"test log p: RBM exact {p['exact_test']:.3f} (train {p['exact_train']:.3f}), independent sites "
              f"{p['independent_test']:.3f}, generator {p['generator_test']:.3f} nats", file=file)
        print(f"log Z: exact {p['exact_log_z']:.4f}, AIS {p['ais_log_z']:.4f} (runs {p['ais_log_z_runs']})", file=file)
        print(f"samples vs test data: single-site frequencies r = {p['single_site_r']:.3f}, pair correlations "
              f"r = {p['pair_correlation_r']:.3f}", file=file)
        print(f"samples {' '.join(p['samples'])}; data {' '.join(p['data'])}", file=file)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_options(p, out="out/gallery", small="784-20 RBMs on 300 images, 5-site sequences (seconds)")
    p.add_argument("--epochs", type=int, default=None, help="MNIST training epochs (default 20)")
    p.add_argument("--lr", type=float, default=0.02, help="MNIST learning rate (linear decay)")
    p.add_argument("--runs", type=int, default=2, help="independent AIS runs")
    p.add_argument("--seed", type=int, default=0, help="seed of the models, training, AIS and the protein data (default 0)")
    p.add_argument("--skip", nargs="*", choices=["mnist", "proteins"], default=[],
                   help="data sets to leave out")
    p.add_argument("--hidden", nargs="+", choices=["bernoulli", "relu"], default=["bernoulli", "relu"],
                   help="the MNIST RBMs' hidden unit types (default both)")
    p.add_argument("--temperatures", type=int, default=None, help="AIS temperatures (default 5000)")
    p.add_argument("--chains", type=int, default=None, help="AIS chains per run (default 100)")
    args = parse(p, argv)
    cfg = dict(SMALL if args.small else FULL)
    for key in ("epochs", "temperatures", "chains"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    gallery_plugin()
    device = torch.device(args.device)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    report = {"hidden": cfg["hidden"], "epochs": cfg["epochs"], "chains": cfg["chains"],
              "temperatures": cfg["temperatures"], "runs": args.runs, "command": " ".join(sys.argv)}
    if "mnist" not in args.skip:
        report["mnist"] = mnist_pair(cfg, args, device)
    if "proteins" not in args.skip:
        report["proteins"] = proteins(cfg, args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gallery.json").write_text(json.dumps(report, indent=1))
    return publish(report, print_table, args.json)


if __name__ == "__main__":
    sys.exit(main())
