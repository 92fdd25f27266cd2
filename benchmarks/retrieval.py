"""Document retrieval on Reuters-21578 (Hinton & Salakhutdinov 2006; Salakhutdinov & Hinton
2009, "Semantic hashing"): deep-autoencoder codes against LSA and tf-idf, and semantic hashing
against brute-force search.

    .venv/bin/python benchmarks/retrieval.py                     # the full run (see FULL below)
    .venv/bin/python benchmarks/retrieval.py --select            # choose the settings, then the full run
    .venv/bin/python benchmarks/retrieval.py --small             # smoke test (tiny nets, < 60 s)
    .venv/bin/python benchmarks/retrieval.py --small --json --out out/retrieval   # JSON on stdout
    .venv/bin/python benchmarks/retrieval.py --device cuda       # everything on a GPU

Data (``pgmdbn.data.reuters``): the ModApte split of Reuters-21578, documents with at least one
topic (7,775 train, 3,019 test), as counts of the 2,000 Porter stems most frequent in the
training set (stop words removed). A test document (the query) and a training document are
relevant to each other when they share a topic. Every test document queries the training set.

Methods (one row each):

autoencoder   2000-500-250-125-10: a replicated-softmax RBM on the counts whose hidden units
              see each document's word frequencies times the mean document length
              (``ReplicatedSoftmax(normalize_length=...)``: a 20-word and a 200-word story on
              one subject drive them alike; the conditional of the words is then
              Multinomial(D, softmax(L eta / D))), Bernoulli RBMs above it and a top RBM with
              10 linear code units, pretrained greedily (CD-1, ``pgmdbn.pretrain``), unrolled
              (``unroll``: the encoder reads L x / D, a softmax output trained on the
              multinomial cross-entropy of the counts) and fine-tuned by backprop
              (``fine_tune``, Adam). Documents are ranked by the cosine of their 10-d codes.
unrolled      the same right after unrolling, before fine-tuning.
LSA-10        latent semantic analysis on log(1 + counts), 10 dimensions, cosine ranking.
tf-idf        cosine of the full 2,000-d tf-idf vectors (a reference, not a code).
hash-32       semantic hashing: the same lower layers (shared, not retrained) under a top RBM
              with 32 logistic code units; unrolled and fine-tuned with Gaussian noise (std 4)
              added to the code units' input, which makes them binary; codes thresholded at
              0.5. Ranked by Hamming distance (ties in training-set order) for the curve, and
              searched in Hamming balls of radius 0..3 through a hash table.
LSA-32 bits   LSA with 32 dimensions, each thresholded at its training median: the hashing
              baseline.

Precision-recall: precision at each recall level (0.0001 … 1, a fixed set, 1-2-5 per decade,
evenly spaced on the plot's x axis: nearly a log axis) averaged over the queries. Hamming balls:
precision (over the queries that retrieve something), recall, the fraction of queries that
retrieve something, and the documents retrieved per query. Speed, one query at a time, on the
same codes in the same run: the hash table per radius against brute-force Hamming scans and
brute-force cosine ranking (similarities + a full sort) over the 10-d codes and over tf-idf;
also brute-force cosine for all queries batched (the best case for brute force).

Also: a 2-D map of the test documents (a 2000-500-250-125-2 autoencoder on the same lower
layers, as in the Science paper's figure, against LSA-2), coloured by topic, and the words with
the largest weights of the first layer's strongest hidden units (its features).

The full run (FULL): 100 epochs per RBM (first RBM at rate 0.005), 4 fine-tuning epochs of the
10-d net (Adam, constant rate 1e-4), 20 of the hashing and map nets: 314-338 s on one busy CPU core.
Fixed epoch counts, no early stopping: the test documents are never looked at during training.

Choosing the settings (--select): 2,000 training documents drawn at random (--split-seed, 0)
query the other 5,775; every candidate of SELECT (first layer on counts or length-normalised;
10, 30 or 100 pretraining epochs; fine-tuning by Adam at 1e-3 or 1e-4 for 0-20 epochs, and the
earlier settings' 20 cosine epochs at 3e-3) is trained on the 5,775 and scored there, and the one
whose precision is furthest above LSA-10's at its worst recall level 0.001-0.5 wins; then
everything runs on the test set with it (493 s of choosing + 338 s). A random draw, not the last
training documents by date: the latest 1,500 hold 30% "earn" stories against 37% overall, and
there the old settings looked better than LSA-10 at recall 0.5 (+0.033) while on the test set
they were worse (-0.055); on the random draw they are worse too (-0.036). ``--validate N`` runs
everything with N random held-out training documents in place of the test set.

What the choice showed (held-out precision at recall 0.01 / 0.5, LSA-10 0.797 / 0.567): the
length normalisation matters most (counts, 100 epochs: 0.820 / 0.527 unrolled; normalised:
0.889 / 0.680); long pretraining next (normalised, 30 epochs: 0.858 / 0.663); fine-tuning
raises precision at low recall only for weak pretraining and lowers it at high recall as it
goes on (normalised, 100 epochs, Adam 1e-3: 0.885 / 0.661 after 2 epochs, 0.857 / 0.523 after
20) although the held-out reconstruction error keeps falling (450.6 -> 398.7 per document over
10 epochs): what reconstructs the words better does not sort the topics better.
"""
from __future__ import annotations

import argparse
import copy
import re
import sys
import time
from pathlib import Path

import torch

import pgmdbn
from pgmdbn.data.reuters import load_reuters
from pgmdbn.finetune.autoencoder import (add_code_noise, binary_codes, encode, fine_tune, stack,
                                         unroll)
from pgmdbn.apps.retrieval import (RECALL_LEVELS, HammingIndex, cosine_similarities, hamming_ball_precision_recall,
                                       hamming_distances, lsa_codes, median_bits, pack_bits, precision_recall_curve,
                                       queries_per_second, tfidf)
from pgmdbn.inference import up_means
from pgmdbn.plot import line_plot_png, scatter_png
from pgmdbn.training import fit, pretrain
from pgmdbn.units import ReplicatedSoftmax

sys.path.insert(0, str(Path(__file__).resolve().parent))  # common.py, also when this file is loaded by path
from common import START, add_common_options, configure, greedy_options, parse, publish, say  # noqa: E402

FULL = {
    "train": None, "test": None,  # all 7,775 / 3,019 documents
    "vocab": 2000,
    "sizes": [2000, 500, 250, 125, 10], "hash_bits": 32, "map_dims": 2,
    # the replicated-softmax RBM sends each document's word frequencies times this length instead
    # of its counts ("mean": the training documents' mean length, 66.6 words; None: the counts)
    "normalize_length": "mean",
    # CD-1, 100 epochs per RBM; the first RBM at 0.005, the binary ones at 0.05, the linear top at
    # 0.005 (chosen with --select on held-out training documents, see SELECT)
    "pretrain": {"epochs": 100, "lr": [0.005, 0.05, 0.05, 0.005], "momentum": 0.9, "weight_decay": 2e-4,
                 "batch_size": 100},
    "hash_top_lr": 0.05,  # the logistic code layer of the hashing net takes the binary RBMs' rate
    # fine-tuning of the 10-d net (chosen with --select: short and gentle, since longer or faster
    # fine-tuning lowers the held-out precision at recall 0.05-0.5 while the reconstruction improves)
    "finetune": {"epochs": 4, "optimizer": "adam", "lr": 1e-4, "weight_decay": 0.0, "batch_size": 100,
                 "lr_schedule": None},
    # fine-tuning of the hashing net (the noise needs epochs to make the codes binary) and the 2-D map
    "finetune_other": {"epochs": 20, "optimizer": "adam", "lr": 3e-3, "weight_decay": 0.0, "batch_size": 100,
                       "lr_schedule": "cosine"},
    "noise_std": 4.0,  # the semantic-hashing paper's variance 16
    "lsa_k": 10, "radii": [0, 1, 2, 3],
    "speed_queries": 1000,  # queries timed one at a time per search method
    "map_topics": 8,  # the most frequent topics coloured in the 2-D map
    "features": 8,  # first-layer hidden units whose top words are listed
}

SMALL = {
    **FULL, "train": 600, "test": 200, "sizes": [2000, 48, 24, 16, 10], "hash_bits": 16,
    "pretrain": {**FULL["pretrain"], "epochs": 3, "batch_size": 50},
    "finetune": {**FULL["finetune"], "epochs": 2, "batch_size": 50},
    "finetune_other": {**FULL["finetune_other"], "epochs": 4, "batch_size": 50},
    "radii": [0, 1, 2], "speed_queries": 200,
}

# --select: the candidates, each trained on the training documents less a random held-out set and
# scored with the held-out documents as queries against the rest; the one whose precision is
# furthest above LSA-10's at its worst recall level (0.001 … 0.5) wins. Each pretraining is
# fine-tuned by each of its runs, and the codes are scored after each checkpoint epoch of a run
# (0: the unrolled net); a checkpoint of a constant-rate run is the run of that many epochs.
_LR = [0.005, 0.05, 0.05, 0.005]
_ADAM = {"optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "batch_size": 100, "lr_schedule": None}
_BEFORE = {"epochs": 20, "optimizer": "adam", "lr": 3e-3, "weight_decay": 0.0, "batch_size": 100,
           "lr_schedule": "cosine"}  # the fine-tuning of the settings before --select
_TRIED = [{**_ADAM, "checkpoints": [0, 2, 5, 20]}, {**_ADAM, "lr": 1e-4, "checkpoints": [2, 4, 10]}]
SELECT = {
    "holdout": 2000, "seed": 0,
    "candidates": [
        {"normalize_length": None, "pretrain": {"epochs": 10, "lr": [0.02, 0.05, 0.05, 0.005]},
         "runs": _TRIED + [{**_BEFORE, "checkpoints": [20]}]},  # the settings before
        {"normalize_length": None, "pretrain": {"epochs": 100, "lr": _LR}, "runs": _TRIED},
        {"normalize_length": "mean", "pretrain": {"epochs": 30, "lr": _LR}, "runs": _TRIED},
        {"normalize_length": "mean", "pretrain": {"epochs": 100, "lr": _LR}, "runs": _TRIED},
    ],
}
SELECT_SMALL = {
    "holdout": 2000, "seed": 0,
    "candidates": [
        {"normalize_length": normalize, "pretrain": {"epochs": 2}, "runs": [{**_ADAM, "batch_size": 50,
                                                                               "checkpoints": [0, 2]}]}
        for normalize in (None, "mean")],
}

COMPARE_LEVELS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)  # where the codes must beat LSA-10
TABLE_LEVELS = COMPARE_LEVELS + (1.0,)  # recall levels shown in the table

def synchronizer(device: torch.device):
    """A function that waits for the device's queued work (for honest timings), or None."""
    return torch.cuda.synchronize if device.type == "cuda" else None


class Clock:
    """Wall time of a block, waiting for the device at both ends."""

    def __init__(self, device):
        self.sync = synchronizer(device) or (lambda: None)

    def __enter__(self):
        self.sync()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.sync()
        self.seconds = time.perf_counter() - self.t0


# --- the nets ------------------------------------------------------------------------------

def copy_lower_layers(source, target, top: str) -> None:
    """Copy every parameter of ``source`` into ``target`` except those of layer ``top`` and the
    factors touching it: a new top RBM over already pretrained lower layers."""
    def touches_top(key):
        return top in re.split(r"--|->", key.split(".")[1])
    own = target.state_dict()
    shared = {k: v for k, v in source.state_dict().items() if k in own and not touches_top(k)}
    target.load_state_dict(shared, strict=False)


def visible_units(cfg, x):
    """The first layer: a replicated softmax over the counts ``x``, length-normalised when the
    config says so ("mean": to the mean length of the documents in ``x``, to 0.1 word)."""
    length = cfg["normalize_length"]
    if length == "mean":
        length = round(x.sum(1).mean().item(), 1)
    return ReplicatedSoftmax(cfg["sizes"][0], normalize_length=length)


def pretrained_stack(cfg, x, device, progress: bool, seed: int = 0):
    """The 10-d stack (replicated-softmax visible, linear code units), pretrained greedily on
    ``x``; and the seconds it took."""
    sizes, pre = cfg["sizes"], dict(cfg["pretrain"])
    model = stack(sizes, visible=visible_units(cfg, x), code="gaussian", seed=seed).to(device)
    say(f"stack {'-'.join(map(str, sizes))} ({model.layer('v')}): greedy pretraining {pre}")
    with Clock(device) as clock:
        pretrain(model, x, seed=seed, progress=progress, **greedy_options(pre, len(sizes) - 1))
    say(f"  pretraining {clock.seconds:.1f} s")
    return model, clock.seconds


def new_top(pretrained, cfg, x, code_size: int, code: str, top_lr: float, device, seed: int):
    """A stack with ``pretrained``'s lower layers and a new top RBM of ``code_size`` ``code``
    units, trained by CD-1 on the up-pass probabilities of the layer below it."""
    sizes = cfg["sizes"][:-1] + [code_size]
    model = stack(sizes, visible=copy.deepcopy(pretrained.layer("v")), code=code, seed=seed).to(device)
    top, below = f"h{len(sizes) - 1}", f"h{len(sizes) - 2}"
    copy_lower_layers(pretrained, model, top)
    with torch.no_grad():
        features = up_means(pretrained, x)[below]
    pre = cfg["pretrain"]
    fit(model.submodel([below, top]), {below: features}, method="cd", epochs=pre["epochs"], lr=top_lr,
        momentum=pre["momentum"], weight_decay=pre["weight_decay"], batch_size=pre["batch_size"], seed=seed,
        device=device, progress=False)
    return model


def train_nets(cfg, data, device, progress: bool) -> dict:
    """Pretrain the stack once; fine-tune the 10-d net, the hashing net and the 2-D map net."""
    x = data.train_counts.to(device)
    pre = cfg["pretrain"]
    model, pretrain_s = pretrained_stack(cfg, x, device, progress)  # on the model's device
    nets = {"pretrained": model, "pretrain_s": pretrain_s, "unrolled": unroll(model)}
    plans = [("autoencoder", None, cfg["finetune"]),
             ("hash", (cfg["hash_bits"], "bernoulli", cfg["hash_top_lr"]), cfg["finetune_other"]),
             ("map", (cfg["map_dims"], "gaussian", pre["lr"][-1]), cfg["finetune_other"])]
    for seed, (name, top, fine) in enumerate(plans, 1):
        with Clock(device) as top_clock:
            source = model if top is None else new_top(model, cfg, x, *top, device=device, seed=seed)
        ae = unroll(source)
        if name == "hash":
            add_code_noise(ae, cfg["noise_std"], seed=seed)
        say(f"fine-tuning {name} {'-'.join(map(str, ae.sizes))}: {fine}")
        with Clock(device) as fine_clock:
            history = fine_tune(ae, x, seed=seed, progress=progress, device=device, **fine).history \
                if fine["epochs"] else []
        nets[name] = ae
        nets[f"{name}_s"] = {"top_rbm_s": top_clock.seconds if top else 0.0, "finetune_s": fine_clock.seconds,
                             "loss_curve": [round(h["loss"], 2) for h in history]}
        if history:
            say(f"  {name}: loss {history[0]['loss']:.1f} -> {history[-1]['loss']:.1f}, {fine_clock.seconds:.1f} s")
    return nets


# --- evaluation ----------------------------------------------------------------------------

def curve_row(name, query_codes, database_codes, data, device, seconds: float, score=cosine_similarities) -> dict:
    """A method's precision-recall curve, with its wall time (training + evaluation)."""
    with Clock(device) as clock:
        curve = precision_recall_curve(query_codes, database_codes, data.test_topics, data.train_topics,
                                       score=score, device=device)
    row = {"method": name, **curve, "eval_s": clock.seconds, "seconds": seconds + clock.seconds}
    shown = ", ".join(f"{p:.3f}" for p in at_levels(row, TABLE_LEVELS))
    say(f"  {name}: precision at recall {TABLE_LEVELS} = {shown}")
    return row


def at_levels(row, levels) -> list[float]:
    return [row["precision"][row["recall"].index(r)] for r in levels]


def margins(row, reference) -> list[float]:
    """Precision of ``row`` minus that of ``reference`` at each of COMPARE_LEVELS."""
    return [a - b for a, b in zip(at_levels(row, COMPARE_LEVELS), at_levels(reference, COMPARE_LEVELS))]


def verdict(row, reference, name: str) -> str:
    """One line: does ``row`` beat ``reference`` at every level of COMPARE_LEVELS, and if not where not."""
    gaps = margins(row, reference)
    worst = min(range(len(gaps)), key=gaps.__getitem__)
    if gaps[worst] > 0:
        return (f"the 10-d codes beat {name} at every recall level {COMPARE_LEVELS[0]:g}-{COMPARE_LEVELS[-1]:g} "
                f"(smallest margin {gaps[worst]:+.3f} at recall {COMPARE_LEVELS[worst]:g})")
    below = ", ".join(f"{r:g} ({g:+.3f})" for r, g in zip(COMPARE_LEVELS, gaps) if g <= 0)
    return f"the 10-d codes do NOT beat {name} at every recall level: not above it at recall {below}"


def negative_hamming(queries, database):
    """Similarity for ranking by Hamming distance: closer codes score higher."""
    return -hamming_distances(queries, database).float()


def code_stats(ae, x) -> dict:
    """How binary the logistic code units are: the fraction of activations below 0.1 or above 0.9,
    and the mean bit (balance)."""
    codes = encode(ae, x)
    return {"near_binary": ((codes < 0.1) | (codes > 0.9)).float().mean().item(),
            "mean_bit": (codes > 0.5).float().mean().item()}


def hashing_rows(nets, data, cfg, device, times) -> tuple[dict, tuple]:
    """Semantic hashing (autoencoder bits) and the binarised-LSA baseline: Hamming-ranking
    curves and Hamming-ball precision/recall per radius; also the (train, test) bits."""
    x, tx = data.train_counts, data.test_counts
    rows = {}
    with Clock(device) as clock:
        train_bits, test_bits = binary_codes(nets["hash"], x), binary_codes(nets["hash"], tx)
    hash_s = nets["hash_s"]
    seconds = times["pretrain_s"] + hash_s["top_rbm_s"] + hash_s["finetune_s"] + clock.seconds
    rows["hash"] = curve_row(f"hash-{cfg['hash_bits']}", test_bits, train_bits, data, device, seconds,
                             score=negative_hamming)
    rows["hash"].update(code_stats(nets["hash"], tx))
    with Clock(device) as clock:
        lsa_train, lsa_test = lsa_codes(x.to(device), tx.to(device), cfg["hash_bits"])
        lsa_train_bits, lsa_test_bits = median_bits(lsa_train, lsa_test)
    rows["lsa_bits"] = curve_row(f"LSA-{cfg['hash_bits']} bits", lsa_test_bits, lsa_train_bits, data, device,
                                 clock.seconds, score=negative_hamming)
    for key, (q, d) in (("hash", (test_bits, train_bits)), ("lsa_bits", (lsa_test_bits, lsa_train_bits))):
        balls = hamming_ball_precision_recall(q, d, data.test_topics, data.train_topics, cfg["radii"], device=device)
        rows[key]["radius"] = {str(r): v for r, v in balls.items()}
    return rows, (train_bits, test_bits)


def speed(cfg, data, codes10, bits, device) -> dict:
    """Queries per second, one query at a time (and batched brute force), on the same codes."""
    train_bits, test_bits = bits
    n = min(cfg["speed_queries"], len(data.test_counts))
    sync = synchronizer(device)
    index = HammingIndex(train_bits)
    keys = pack_bits(test_bits)
    out = {"queries": n, "distinct_codes": len(index), "database": len(train_bits)}
    for r in cfg["radii"]:
        out[f"hash_r{r}"] = queries_per_second(lambda i, r=r: index.search(keys[i], r), n)
    agree = all(sorted(index.search(keys[i], max(cfg["radii"])).tolist()) ==
                (hamming_distances(test_bits[i:i + 1], train_bits)[0] <= max(cfg["radii"])).nonzero()
                .flatten().tolist() for i in range(min(n, 50)))
    out["hash_equals_brute_force"] = agree
    db_bits, q_bits = train_bits.to(device), test_bits.to(device)
    out["brute_hamming"] = queries_per_second(
        lambda i: (hamming_distances(q_bits[i:i + 1], db_bits)[0] <= max(cfg["radii"])).nonzero(), n, sync)
    train_tfidf, test_tfidf = tfidf(data.train_counts.to(device), data.test_counts.to(device))
    for name, (db, q) in (("cosine_10d", codes10), ("cosine_tfidf", (train_tfidf, test_tfidf))):
        db_n = torch.nn.functional.normalize(db.to(device).float(), dim=1)
        q_n = torch.nn.functional.normalize(q.to(device).float(), dim=1)
        out[f"brute_{name}"] = queries_per_second(lambda i: torch.argsort(db_n @ q_n[i], descending=True), n, sync)
        t0 = time.perf_counter()
        for b in range(0, n, 256):
            torch.sort(q_n[b:b + 256] @ db_n.T, dim=1, descending=True)
        if sync:
            sync()
        out[f"batched_{name}"] = n / max(time.perf_counter() - t0, 1e-12)
    return out


def top_words(model, vocab, n_units: int, n_words: int = 8) -> list[dict]:
    """The words with the largest weights of the first layer's hidden units with the largest
    weight norms (after pretraining): what the replicated-softmax RBM's features respond to."""
    weight = model.weight("v", "h1").detach().cpu()  # (n_visible, n_hidden)
    strongest = weight.norm(dim=0).argsort(descending=True)[:n_units]
    return [{"unit": int(j), "words": [vocab[i] for i in weight[:, j].argsort(descending=True)[:n_words]]}
            for j in strongest]


# --- choosing settings on held-out training documents --------------------------------------

def candidate_config(cfg, candidate) -> dict:
    """``cfg`` with a --select candidate's first layer and pretraining."""
    return {**cfg, "normalize_length": candidate["normalize_length"],
            "pretrain": {**cfg["pretrain"], **candidate["pretrain"]}}


def describe(cfg, run, epochs: int) -> str:
    """A candidate in a few words: first layer, pretraining, fine-tuning."""
    pre = cfg["pretrain"]
    first = "counts" if cfg["normalize_length"] is None else f"length-normalised ({cfg['normalize_length']})"
    head = f"{first}, pre {pre['epochs']} ep lr1 {pre['lr'][0] if isinstance(pre['lr'], list) else pre['lr']}"
    if not epochs:
        return f"{head}, no fine-tuning"
    schedule = run["lr_schedule"] or "const"
    return f"{head}, {run['optimizer']} {run['lr']:g} {schedule} {epochs} ep"


def select(cfg, plan, data, device, progress: bool) -> tuple[dict, dict]:
    """Train every candidate of ``plan`` on ``data``'s training side (held-out training documents
    on its test side) and score the codes of the held-out queries against the rest. Returns the
    config of the candidate whose precision is furthest above LSA-10's at its worst level of
    COMPARE_LEVELS, and the report of every candidate."""
    x, tx = data.train_counts, data.test_counts
    rows = []
    with Clock(device) as clock:
        lsa_train, lsa_test = lsa_codes(x.to(device), tx.to(device), cfg["lsa_k"])
    lsa = curve_row(f"LSA-{cfg['lsa_k']}", lsa_test, lsa_train, data, device, clock.seconds)
    train_tfidf, test_tfidf = tfidf(x.to(device), tx.to(device))
    reference = {"lsa": lsa, "tfidf": curve_row("tf-idf", test_tfidf, train_tfidf, data, device, 0.0)}
    for candidate in plan["candidates"]:
        ccfg = candidate_config(cfg, candidate)
        model, pretrain_s = pretrained_stack(ccfg, x.to(device), device, progress)
        for run in candidate["runs"]:
            options = {k: v for k, v in run.items() if k != "checkpoints"}
            ae = unroll(model)

            def score(epochs, seconds, ae=ae, run=run, options=options):
                with torch.no_grad():
                    row = curve_row(describe(ccfg, run, epochs), encode(ae, tx), encode(ae, x), data, device,
                                    seconds)
                gaps = margins(row, lsa)
                rows.append({**row, "config": {"normalize_length": candidate["normalize_length"],
                                               "pretrain": ccfg["pretrain"],
                                               "finetune": {**options, "epochs": epochs}},
                             "min_margin": min(gaps), "margins": gaps})

            if 0 in run["checkpoints"]:
                score(0, pretrain_s)
            last = max(run["checkpoints"])
            if last:
                t0 = time.perf_counter()

                def checkpoint(net, epoch, metrics, run=run, score=score, t0=t0):
                    if epoch + 1 in run["checkpoints"]:
                        net.eval()
                        score(epoch + 1, pretrain_s + time.perf_counter() - t0)
                        net.train()

                fine_tune(ae, x, seed=1, progress=False, device=device, callbacks=[checkpoint],
                          **{**options, "epochs": last})
    best = max(rows, key=lambda r: r["min_margin"])
    chosen = {**cfg, "normalize_length": best["config"]["normalize_length"], "pretrain": best["config"]["pretrain"],
              "finetune": best["config"]["finetune"]}
    return chosen, {"holdout": plan["holdout"], "seed": plan["seed"], "queries": len(tx), "database": len(x),
                    "candidates": rows, "reference": reference, "chosen": best["method"]}


def print_selection(selection: dict, file) -> None:
    def p(line=""):
        print(line, file=file)

    p(f"Choosing settings: {selection['queries']} held-out training documents (random, seed {selection['seed']}) "
      f"query the other {selection['database']}; the test documents are not used")
    head = "".join(f" {format(r, 'g'):>6}" for r in COMPARE_LEVELS)
    p(f"  {'candidate (precision at recall)':<74}{head}  {'worst vs LSA-10':>16}")
    for key in ("lsa", "tfidf"):
        row = selection["reference"][key]
        p(f"  {row['method']:<74}{''.join(f' {v:>6.3f}' for v in at_levels(row, COMPARE_LEVELS))}")
    for row in selection["candidates"]:
        worst = COMPARE_LEVELS[row["margins"].index(row["min_margin"])]
        mark = "  <- chosen" if row["method"] == selection["chosen"] else ""
        p(f"  {row['method']:<74}{''.join(f' {v:>6.3f}' for v in at_levels(row, COMPARE_LEVELS))}  "
          f"{row['min_margin']:+.3f} at {worst:g}{mark}")
    p(f"chosen: {selection['chosen']} (the largest worst-level margin over LSA-10)")
    p()


# --- figures -------------------------------------------------------------------------------

def map_labels(data, n_topics: int) -> tuple[torch.Tensor, list[str]]:
    """Test documents' primary topics renumbered 0..n_topics-1 by training frequency, -1 else."""
    frequency = data.train_topics.sum(0)
    keep = frequency.argsort(descending=True)[:n_topics]
    renumber = torch.full((len(data.topic_names),), -1, dtype=torch.long)
    renumber[keep] = torch.arange(len(keep))
    primary = data.test_primary
    labels = torch.where(primary >= 0, renumber[primary.clamp(min=0)], torch.full_like(primary, -1))
    return labels, [data.topic_names[k] for k in keep]


def write_pngs(out: Path, rows, nets, data, cfg, device) -> list[str]:
    """The precision-recall curves and the 2-D maps (autoencoder and LSA)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    curves = {rows[k]["method"]: rows[k]["precision"] for k in ("autoencoder", "unrolled", "lsa", "tfidf", "hash",
                                                               "lsa_bits") if k in rows}
    path = out / "reuters_precision_recall.png"
    line_plot_png(path, curves, width=760, height=440, x=list(RECALL_LEVELS),
                  xlabel="recall", ylabel="precision", logx=True, markers=True,
                  title="Reuters-21578 retrieval: precision at recall, test queries")
    paths.append(str(path))
    labels, names = map_labels(data, cfg["map_topics"])
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))  # no class drawn last
    ae_points = encode(nets["map"], data.test_counts)
    _, lsa_points = lsa_codes(data.train_counts.to(device), data.test_counts.to(device), 2)
    for name, points in (("autoencoder", ae_points), ("lsa", lsa_points.cpu())):
        path = out / f"reuters_map_{name}.png"
        title = (f"2-D codes of test documents: autoencoder {'-'.join(map(str, nets['map'].sizes))}"
                 if name == "autoencoder" else "2-D codes of test documents: LSA-2")
        scatter_png(path, points[order], labels[order], names=names, width=700, height=640, title=title)
        paths.append(str(path))
    return paths


# --- the report ----------------------------------------------------------------------------

NAMES = {
    "autoencoder": "pgmdbn autoencoder {sizes}, cosine",
    "unrolled": "  the same, unrolled, before fine-tuning",
    "lsa": "LSA-{k} (log counts), cosine",
    "tfidf": "tf-idf 2000-d, cosine (reference)",
    "hash": "pgmdbn semantic hashing {bits} bits, Hamming ranking",
    "lsa_bits": "LSA-{bits} median-thresholded bits, Hamming ranking",
}


def print_table(report: dict, file) -> None:
    def p(line=""):
        print(line, file=file)

    cfg, rows, sp = report["config"], report["results"], report["speed"]
    if report.get("selection"):
        print_selection(report["selection"], file)
    fill = {"sizes": "-".join(map(str, cfg["sizes"])), "k": cfg["lsa_k"], "bits": cfg["hash_bits"]}
    p(f"Document retrieval on Reuters-21578 (ModApte, docs with topics): {report['note']}; torch {report['torch']}, "
      f"{report['device']}, {report['threads']} threads{', --small' if report['small'] else ''}")
    pre, fine, other = cfg["pretrain"], cfg["finetune"], cfg["finetune_other"]
    first = ("counts" if report["visible"]["normalize_length"] is None
             else f"word frequencies x {report['visible']['normalize_length']:g}")
    p(f"first layer: replicated softmax sending {first}; pretraining {pre['epochs']} epochs per RBM (CD-1, lr "
      f"{pre['lr']}); fine-tuning of the 10-d net {fine['epochs']} epochs ({fine['optimizer']}, lr {fine['lr']}, "
      f"{fine['lr_schedule'] or 'constant'}), of the hashing and map nets {other['epochs']} epochs "
      f"({other['optimizer']}, lr {other['lr']}, {other['lr_schedule'] or 'constant'}); relevance: sharing a topic")
    p()
    head = "".join(f" {'P@R=' + format(r, 'g'):>9}" for r in TABLE_LEVELS)
    p(f"  {'method':<54}{head} {'wall s':>8}")
    for key, template in NAMES.items():
        row = rows.get(key)
        if row is not None:
            cells = "".join(f" {v:>9.3f}" for v in at_levels(row, TABLE_LEVELS))
            p(f"  {template.format(**fill):<54}{cells} {row['seconds']:>8.1f}")
    p(f"  {report['verdict']}")
    t = report["times"]
    p(f"  (autoencoder: {t['pretrain_s']:.1f} s shared pretraining + {t['autoencoder']['finetune_s']:.1f} s "
      f"fine-tuning; hashing: + {t['hash']['top_rbm_s']:.1f} s top RBM + {t['hash']['finetune_s']:.1f} s "
      f"fine-tuning; wall s includes evaluating all {rows['lsa']['queries']} queries)")
    h = rows["hash"]
    p(f"  hashing codes: {100 * h['near_binary']:.1f}% of code activations below 0.1 or above 0.9, "
      f"{100 * h['mean_bit']:.1f}% of bits on")
    p()
    p(f"  Hamming-ball search ({cfg['hash_bits']}-bit codes; precision over the queries that find something)")
    p(f"  {'radius':>8} {'method':<16} {'precision':>10} {'recall':>8} {'found':>7} {'retrieved':>10} {'hash q/s':>10}")
    for r in cfg["radii"]:
        for key, name in (("hash", "pgmdbn"), ("lsa_bits", "LSA bits")):
            b = rows[key]["radius"][str(r)]
            qps = f"{sp[f'hash_r{r}']:>10.0f}" if key == "hash" else f"{'':>10}"
            p(f"  {r:>8} {name:<16} {b['precision']:>10.3f} {b['recall']:>8.4f} {b['found']:>7.2f} "
              f"{b['retrieved']:>10.1f} {qps}")
    p()
    p(f"  search speed, queries/s ({sp['queries']} queries one at a time, {sp['database']} documents, "
      f"{sp['distinct_codes']} distinct codes; hash table equals brute force: {sp['hash_equals_brute_force']})")
    for r in cfg["radii"]:
        p(f"    hash table, Hamming ball radius {r:<24} {sp[f'hash_r{r}']:>12.0f}")
    p(f"    brute-force Hamming scan (radius {max(cfg['radii'])}){'':<17} {sp['brute_hamming']:>12.0f}")
    p(f"    brute-force cosine + sort, 10-d codes{'':<15} {sp['brute_cosine_10d']:>12.0f}")
    p(f"    brute-force cosine + sort, tf-idf 2000-d{'':<12} {sp['brute_cosine_tfidf']:>12.0f}")
    p(f"    the same two batched (256 queries per product){'':<6} {sp['batched_cosine_10d']:>12.0f} "
      f"{sp['batched_cosine_tfidf']:>10.0f}")
    p()
    p("  first-layer features (top words of the hidden units with the largest weights):")
    for f in report["features"]:
        p(f"    h1[{f['unit']:>3}]: {' '.join(f['words'])}")
    p(f"\nPNGs: {', '.join(report['pngs'])}")
    if report.get("selection"):
        p(f"wall time: choosing settings {report['select_seconds']:.1f} s, the final run on the chosen settings "
          f"{report['total_seconds'] - report['select_seconds']:.1f} s")
    p(f"total wall time {report['total_seconds']:.1f} s")


def run(cfg, data, device, progress: bool) -> dict:
    """Train, evaluate and time everything; the report without the PNGs."""
    nets = train_nets(cfg, data, device, progress)
    x, tx = data.train_counts, data.test_counts
    rows = {}
    times = {"pretrain_s": nets["pretrain_s"], **{k: nets[f"{k}_s"] for k in ("autoencoder", "hash", "map")}}
    codes = {}
    for key in ("autoencoder", "unrolled"):
        with Clock(device) as clock:
            codes[key] = (encode(nets[key], x), encode(nets[key], tx))
        seconds = times["pretrain_s"] + clock.seconds + (times["autoencoder"]["finetune_s"] if key == "autoencoder"
                                                         else 0.0)
        rows[key] = curve_row(key, codes[key][1], codes[key][0], data, device, seconds)
    with Clock(device) as clock:
        lsa_train, lsa_test = lsa_codes(x.to(device), tx.to(device), cfg["lsa_k"])
    rows["lsa"] = curve_row(f"LSA-{cfg['lsa_k']}", lsa_test, lsa_train, data, device, clock.seconds)
    with Clock(device) as clock:
        train_tfidf, test_tfidf = tfidf(x.to(device), tx.to(device))
    rows["tfidf"] = curve_row("tf-idf", test_tfidf, train_tfidf, data, device, clock.seconds)
    hash_rows, bits = hashing_rows(nets, data, cfg, device, times)
    rows.update(hash_rows)
    say("timing searches")
    speeds = speed(cfg, data, codes["autoencoder"], bits, device)
    return {"results": rows, "speed": speeds, "times": times, "nets": nets,
            "features": top_words(nets["pretrained"], data.vocab, cfg["features"])}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_options(parser, out="out/retrieval", small="tiny nets, few epochs, a few hundred documents (< 60 s)")
    parser.add_argument("--data", default=None, help="data root holding reuters21578/ (default $PGMDBN_DATA or "
                                                     "../shared/data)")
    parser.add_argument("--epochs", type=int, default=None, help="fine-tuning epochs per net")
    parser.add_argument("--pretrain-epochs", type=int, default=None, help="greedy pretraining epochs per RBM")
    parser.add_argument("--validate", type=int, default=0, metavar="N",
                        help="run everything with N held-out training documents (drawn at random, --split-seed) "
                             "querying the other training documents instead of the test set")
    parser.add_argument("--select", action="store_true",
                        help="first choose the settings (SELECT's candidates) on held-out training documents, "
                             "then run everything on the test set with the chosen ones")
    parser.add_argument("--split-seed", type=int, default=None, metavar="S",
                        help="seed of the random held-out set of --validate and --select (default 0)")
    args = parse(parser, argv)
    if args.validate < 0:
        parser.error(f"--validate must be a positive number of documents (or 0: off), got {args.validate}")
    if args.split_seed is not None and args.split_seed < 0:
        parser.error(f"--split-seed must be a non-negative integer, got {args.split_seed}")
    if args.select and args.validate:
        parser.error("--select and --validate exclude each other: --select holds out its own documents and then "
                     "scores the test set")
    cfg = configure(SMALL if args.small else FULL, args)
    plan = {**(SELECT_SMALL if args.small else SELECT)}
    seed = 0 if args.split_seed is None else args.split_seed
    plan["seed"] = seed
    device = torch.device(args.device)
    try:
        say("reading Reuters-21578")
        full = load_reuters(args.data, vocab_size=cfg["vocab"])
        held = full.validation_split(args.validate or plan["holdout"], seed=seed).subset(cfg["train"], cfg["test"])
        data = held if args.validate else full.subset(cfg["train"], cfg["test"])
    except pgmdbn.DataNotFound as e:
        say(f"Reuters-21578 not found, nothing to do: {e}")
        return 2
    except ValueError as e:  # --validate larger than the training set
        parser.error(f"--validate: {e}")
    selection, select_seconds = None, 0.0
    if args.select:
        say(f"choosing settings: {len(held.test_counts)} held-out training documents query the other "
            f"{len(held.train_counts)}")
        cfg, selection = select(cfg, plan, held, device, progress=not args.small)
        select_seconds = time.perf_counter() - START
        say(f"chosen: {selection['chosen']} ({select_seconds:.1f} s)")
    note = (f"{len(data.train_counts)} training / {len(data.test_counts)} "
            f"{'VALIDATION (held-out training)' if args.validate else 'test'} documents, {len(data.vocab)} stems")
    say(note)
    report = run(cfg, data, device, progress=not args.small)
    nets = report.pop("nets")
    report["pngs"] = write_pngs(Path(args.out), report["results"], nets, data, cfg, device)
    report["verdict"] = verdict(report["results"]["autoencoder"], report["results"]["lsa"], f"LSA-{cfg['lsa_k']}")
    report["beats_lsa_everywhere"] = min(margins(report["results"]["autoencoder"], report["results"]["lsa"])) > 0
    visible = nets["pretrained"].layer("v")
    report.update({"data": "reuters21578", "small": args.small, "note": note, "torch": torch.__version__,
                   "device": str(device), "threads": torch.get_num_threads(), "config": cfg,
                   "visible": {"normalize_length": visible.normalize_length}, "selection": selection,
                   "select_seconds": select_seconds, "total_seconds": time.perf_counter() - START})
    return publish(report, print_table, args.json)


if __name__ == "__main__":
    sys.exit(main())
