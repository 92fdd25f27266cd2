"""Deep models on MNIST: a DBN's generative classification and likelihood bound, a DBM next to an
RBM by AIS, and a sigmoid belief net trained by wake-sleep and by reweighted wake-sleep.

    .venv/bin/python benchmarks/deep_mnist.py                       # all three parts
    .venv/bin/python benchmarks/deep_mnist.py --parts dbn --json     # one part, JSON on stdout
    .venv/bin/python benchmarks/deep_mnist.py --small                # smoke test (tiny models, seconds)
    .venv/bin/python benchmarks/deep_mnist.py --epochs-scale 0.5     # every epoch count halved
    .venv/bin/python benchmarks/deep_mnist.py --ais-temperatures 14500   # the paper's AIS schedule

Data: the 10k MNIST training subset and the official 10k test set (``load_mnist``), binarised
stochastically (each pixel ~ Bernoulli(intensity); training images with seed 0, test images with
seed 1), the same binarisation as ``bench_likelihood.py``. Every log-likelihood is measured on the
binary test images and every model but the DBN trains on the binary training images; the DBN trains
on the grey levels read as pixel probabilities (as Hinton et al. 2006 did) and is classified on the
grey test images (its error on the binary test images is reported too).

Parts (``--parts``, comma-separated):

dbn  784-500-500-2000 DBN with 10 softmax label units joined to the top RBM (Hinton, Osindero &
     Teh 2006): greedy CD-1 pretraining, then up-down fine-tuning with k = 3, 6, 10 Gibbs steps in
     the top over thirds of the run. Test error of generative classification (the label with the
     lowest free energy in the top RBM) after each; the variational lower bound on the test
     log-likelihood (k recognition samples per image) with the top RBM's log Z by AIS; samples
     per clamped class and the up-down learning curve as PNGs.
dbm  784-500-1000 DBM (Salakhutdinov & Hinton 2009): greedy pretraining (with the doubled inputs
     built into ``pgmdbn.pretrain``), then joint training (mean-field positive phase, persistent
     chains). Its mean-field lower bound on the test log-likelihood with log Z by AIS, next to a
     784-500 RBM trained with PCD and evaluated by AIS.
sbn  784-200-200 sigmoid belief net trained by wake-sleep and by reweighted wake-sleep (K = 5),
     each evaluated by the importance-weighted bound on the test log-likelihood.

The full epoch counts (the ``FULL`` settings below) are scaled down from the papers to fit a
~25-minute run on a 2-core CPU; ``--epochs-scale`` multiplies every epoch count. ``--small``
runs tiny models on 300 images for one epoch (a smoke test; its figures mean nothing).
Log-likelihoods are in nats per test image.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

import pgmdbn
from pgmdbn.data import load_mnist
from pgmdbn.estimators.ais import paper_schedule
from pgmdbn.inference import up_means
from pgmdbn.plot import line_plot_png, save_grid

sys.path.insert(0, str(Path(__file__).resolve().parent))  # common.py, also when this file is loaded by path
from common import START, say  # noqa: E402

# Settings of the full run. Epoch counts are multiplied by --epochs-scale.
FULL = {
    "images": None,  # all 10k training and 10k test images
    "dbn": {
        "sizes": [784, 500, 500, 2000],
        # Hinton et al. 2006: lr 0.1 on probabilities, weight decay 2e-4; momentum 0.9 throughout
        # (pretrain takes one momentum, so no 0.5 -> 0.9 switch)
        # the top RBM (with the labels) gets more epochs: generative classification depends on it most
        "greedy": {"epochs": [20, 20, 40], "lr": 0.1, "momentum": 0.9, "weight_decay": 2e-4, "batch_size": 100,
                   "method": "cd", "propagate": "mean"},
        "updown": {"epochs": 12, "k": [3, 6, 10], "lr": 0.01, "momentum": 0.9, "weight_decay": 0.0,
                   "batch_size": 100},
        "monitor_rows": 1000,  # training / test rows whose error the learning curve shows
        "bound_samples": 5, "ais_chains": 100, "ais_temperatures": 5000,
        "samples_per_class": 10, "sample_steps": 1000,
    },
    "dbm": {
        "sizes": [784, 500, 1000],
        # 5 pretraining epochs per stage gave a better starting point (mean-field bound about -140 on
        # 2000 test images) than 10 epochs at momentum 0.5 (about -212); joint training at lr 0.002 with
        # momentum 0.9 from the latter made it no better (-196)
        "greedy": {"epochs": [5, 5], "lr": 0.05, "momentum": 0.9, "weight_decay": 2e-4, "batch_size": 100,
                   "method": "cd", "propagate": "mean"},
        "joint": {"epochs": 10, "k": 5, "lr": 0.003, "momentum": 0.5, "weight_decay": 2e-4, "batch_size": 100,
                  "lr_schedule": "linear", "mean_field_steps": 10, "chains": 100},
        "rbm": {"hidden": 500, "epochs": 20, "k": 1, "lr": 0.05, "momentum": 0.5, "weight_decay": 2e-4,
                "batch_size": 100, "lr_schedule": "linear"},
        "ais_chains": 100, "ais_temperatures": 5000,
    },
    "sbn": {
        "sizes": [784, 200, 200],
        # lr 0.05 beat 0.01 for both (IWAE-50 on 2000 test images after 20 epochs: -115.7 vs -123.7 for
        # wake-sleep)
        "wakesleep": {"epochs": 20, "lr": 0.05, "momentum": 0.9, "batch_size": 100},
        "rws": {"epochs": 20, "lr": 0.05, "momentum": 0.9, "batch_size": 100, "samples": 5},
        "iwae_samples": 50, "iwae_chunk": 200,  # k=50 on 10k images: ~1 min each in float64
    },
}

# --small: tiny layers, 300 images, one epoch, short AIS (a smoke test of the whole pipeline).
SMALL = {
    "images": 300,
    "dbn": {**FULL["dbn"], "sizes": [784, 16, 16, 32],
            "greedy": {**FULL["dbn"]["greedy"], "epochs": [1, 1, 1]},
            "updown": {**FULL["dbn"]["updown"], "epochs": 1},
            "monitor_rows": 100, "bound_samples": 2, "ais_chains": 10, "ais_temperatures": 100,
            "samples_per_class": 2, "sample_steps": 10},
    "dbm": {**FULL["dbm"], "sizes": [784, 16, 32],
            "greedy": {**FULL["dbm"]["greedy"], "epochs": [1, 1]},
            "joint": {**FULL["dbm"]["joint"], "epochs": 1, "chains": 20},
            "rbm": {**FULL["dbm"]["rbm"], "hidden": 16, "epochs": 1},
            "ais_chains": 10, "ais_temperatures": 100},
    "sbn": {**FULL["sbn"], "sizes": [784, 10, 10],
            "wakesleep": {**FULL["sbn"]["wakesleep"], "epochs": 1},
            "rws": {**FULL["sbn"]["rws"], "epochs": 1},
            "iwae_samples": 10},
}

PARTS = ("dbn", "dbm", "sbn")
class Stopwatch:
    """``with watch("phase"):`` records the phase's wall time in ``watch.seconds``."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    def __call__(self, phase: str):
        watch = self

        class _Phase:
            def __enter__(self):
                say(f"{phase} ...")
                self.t = time.perf_counter()

            def __exit__(self, *exc):
                watch.seconds[phase] = time.perf_counter() - self.t
                if exc[0] is None:
                    say(f"{phase}: {watch.seconds[phase]:.1f} s")

        return _Phase()


def epochs_scaled(epochs, scale: float):
    """Epoch counts times ``scale``, at least 1 each."""
    if isinstance(epochs, (list, tuple)):
        return [epochs_scaled(e, scale) for e in epochs]
    return max(1, round(epochs * scale))


def log_epoch(name: str):
    """A fit callback logging every epoch's metrics to stderr."""
    def callback(model, epoch, metrics):
        shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if k not in ("epoch", "lr"))
        say(f"  {name} epoch {epoch}: {shown}")
    return callback


def one_hot(labels: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.one_hot(labels, 10).to(torch.float32)


def error_rate(model, x, labels) -> float:
    return (pgmdbn.classify(model, x) != labels).float().mean().item()


def chunked_bound(model, x, method: str, chunk: int, **options) -> dict:
    """``log_likelihood`` over ``x`` in chunks of rows (the estimators draw k samples per row at once,
    (rows × k) states in float64), each chunk with its own seed; the mean over all rows."""
    values = []
    for i, start in enumerate(range(0, len(x), chunk)):
        values.append(pgmdbn.log_likelihood(model, x[start:start + chunk], method=method, seed=i, progress=False,
                                            **options).per_example)
    per_example = torch.cat(values)
    return {"mean": per_example.mean().item(), "sem": (per_example.std() / math.sqrt(len(per_example))).item()}


def ais_summary(estimate) -> dict:
    s = estimate.spread
    return {"log_z": estimate.log_z, "log_z_minus_3sigma": s.get("log_z_minus_3sigma"),
            "log_z_plus_3sigma": s.get("log_z_plus_3sigma"), "ess": s.get("ess"), "chains": s.get("n_chains"),
            "warnings": list(estimate.warnings)}


# ---------------------------------------------------------------------------------------------
def run_dbn(cfg, data, out: Path, scale: float, progress: bool) -> dict:
    # trained and classified on grey levels read as pixel probabilities (Hinton et al. 2006);
    # its likelihood bound is measured on the binarised test images, like the other parts
    _, y, tx_binary, ty, x, tx = data
    watch = Stopwatch()
    greedy = dict(cfg["greedy"], epochs=epochs_scaled(cfg["greedy"]["epochs"], scale))
    updown = dict(cfg["updown"], epochs=epochs_scaled(cfg["updown"]["epochs"], scale))
    model = pgmdbn.dbn(cfg["sizes"], labels=10, seed=0)
    say(f"DBN {'-'.join(map(str, cfg['sizes']))} + 10 labels; greedy {greedy}, up-down {updown}")
    train = {"v": x, "y": one_hot(y)}
    with watch("dbn greedy pretraining"):
        stages = pgmdbn.pretrain(model, train, progress=progress, callbacks=[log_epoch("greedy stage")], **greedy)
    with watch("dbn classify after greedy"):
        err_greedy = error_rate(model, tx, ty)
        err_greedy_binary = error_rate(model, tx_binary, ty)
    say(f"  test error after greedy training: {100 * err_greedy:.2f}% (binarised test images "
        f"{100 * err_greedy_binary:.2f}%)")

    rows = cfg["monitor_rows"]
    with watch("dbn up-down fine-tuning"):
        fit = pgmdbn.fit(model, train, method="updown", progress=progress, monitor_size=rows,
                         valid={"v": tx[:rows], "y": one_hot(ty[:rows])}, callbacks=[log_epoch("up-down")],
                         **updown)
    with watch("dbn classify after up-down"):
        err_updown = error_rate(model, tx, ty)
        err_updown_binary = error_rate(model, tx_binary, ty)
        err_train = error_rate(model, x, y)
    say(f"  test error after up-down: {100 * err_updown:.2f}% (binarised test images {100 * err_updown_binary:.2f}%, "
        f"training error {100 * err_train:.2f}%)")

    # the top RBM's log Z by AIS, once; the base-rate model is fitted to the training images' h2
    top = model.submodel(model.undirected_layers())
    betas = paper_schedule(cfg["ais_temperatures"])
    with watch("dbn AIS of the top RBM"):
        with torch.no_grad():
            base = up_means(model, x)[top.visible]
        log_z = pgmdbn.log_partition(top, method="ais", n_chains=cfg["ais_chains"], betas=betas, base_data=base,
                                     progress=progress)
    with watch("dbn variational bound"):
        bound = chunked_bound(model, tx_binary, "bound", 1000, k=cfg["bound_samples"], log_z=log_z.log_z)
    say(f"  variational lower bound on the test log-likelihood: {bound['mean']:.2f} nats "
        f"(top log Z {log_z.log_z:.2f} by AIS)")

    with watch("dbn samples"):
        n, steps = cfg["samples_per_class"], cfg["sample_steps"]
        images = [pgmdbn.sample(model, n, steps=steps, clamp={"y": c}, seed=c, conditional_means=("v",))["v"]
                  for c in range(10)]
        save_grid(out / "dbn_samples.png", torch.cat(images), ncols=n, normalize=None,
                  row_labels=[f"class {c}" for c in range(10)],
                  title=f"DBN samples, one row per clamped label, {steps} Gibbs steps in the top RBM")
    history = fit.history
    line_plot_png(out / "dbn_updown_curve.png",
                  {"train error": [h.get("train_error", math.nan) for h in history],
                   "test error": [h.get("valid_error", math.nan) for h in history]},
                  x=[h["epoch"] for h in history], title=f"DBN up-down: error on {rows} train / test images",
                  xlabel="epoch", ylabel="error")
    line_plot_png(out / "dbn_greedy_curve.png",
                  {f"stage {i + 1}": [h["recon_error"] for h in s.history] for i, s in enumerate(stages)},
                  x=list(range(1, 1 + max(len(s.history) for s in stages))),
                  title="DBN greedy pretraining: reconstruction error", xlabel="epoch", ylabel="squared error")
    return {"sizes": cfg["sizes"], "labels": 10, "greedy": greedy, "updown": updown,
            "train_data": "grey levels as probabilities (classification on grey test images; the bound on the "
                          "binarised test images)",
            "test_error_greedy": err_greedy, "test_error_updown": err_updown, "train_error_updown": err_train,
            "test_error_greedy_binarised": err_greedy_binary, "test_error_updown_binarised": err_updown_binary,
            "bound_samples": cfg["bound_samples"], "test_bound": bound["mean"], "test_bound_sem": bound["sem"],
            "top_ais": {**ais_summary(log_z), "temperatures": cfg["ais_temperatures"]},
            "updown_history": history, "seconds": watch.seconds,
            "pngs": ["dbn_samples.png", "dbn_updown_curve.png", "dbn_greedy_curve.png"]}


def run_dbm(cfg, data, out: Path, scale: float, progress: bool) -> dict:
    x, _, tx, _ = data[:4]
    watch = Stopwatch()
    greedy = dict(cfg["greedy"], epochs=epochs_scaled(cfg["greedy"]["epochs"], scale))
    joint = dict(cfg["joint"], epochs=epochs_scaled(cfg["joint"]["epochs"], scale))
    rbm_cfg = dict(cfg["rbm"], epochs=epochs_scaled(cfg["rbm"]["epochs"], scale))
    betas = paper_schedule(cfg["ais_temperatures"])
    ais = {"n_chains": cfg["ais_chains"], "betas": betas, "base_data": x, "progress": progress}

    model = pgmdbn.dbm(cfg["sizes"], seed=0)
    say(f"DBM {'-'.join(map(str, cfg['sizes']))}; greedy {greedy}, joint {joint}")
    with watch("dbm greedy pretraining"):
        pgmdbn.pretrain(model, x, progress=progress, callbacks=[log_epoch("greedy stage")], **greedy)
    engine = {k: joint.pop(k) for k in ("mean_field_steps", "chains")}
    with watch("dbm joint training"):
        fit = pgmdbn.fit(model, x, method="dbm", engine_options=engine, progress=progress,
                         callbacks=[log_epoch("dbm")], **joint)
    joint.update(engine)
    with watch("dbm AIS + mean-field bound"):
        dbm_ll = pgmdbn.log_likelihood(model, tx, method="bound", log_z="ais", **ais)
    say(f"  DBM mean-field bound with AIS log Z: {dbm_ll.mean:.2f} nats")

    hidden = rbm_cfg.pop("hidden")
    rbm = pgmdbn.rbm(784, hidden, seed=0)
    say(f"RBM 784-{hidden}; PCD {rbm_cfg}")
    with watch("rbm PCD training"):
        rbm_fit = pgmdbn.fit(rbm, x, method="pcd", progress=progress, callbacks=[log_epoch("rbm")], **rbm_cfg)
    rbm_cfg["hidden"] = hidden
    with watch("rbm AIS"):
        rbm_ll = pgmdbn.log_likelihood(rbm, tx, method="ais", **ais)
    say(f"  RBM AIS test log-likelihood: {rbm_ll.mean:.2f} nats")
    line_plot_png(out / "dbm_rbm_curve.png",
                  {"DBM recon error": [h.get("recon_error", math.nan) for h in fit.history],
                   "RBM recon error": [h.get("recon_error", math.nan) for h in rbm_fit.history]},
                  x=list(range(1, 1 + max(len(fit.history), len(rbm_fit.history)))),
                  title="DBM joint training and RBM PCD: reconstruction error", xlabel="epoch",
                  ylabel="squared error")
    with torch.no_grad():
        save_grid(out / "dbm_filters.png", model.weight("v", "h1").T[:100], normalize="each",
                  title="DBM: the first 100 filters of h1 (each scaled to black-white)")
    return {"sizes": cfg["sizes"], "greedy": greedy, "joint": joint, "rbm": rbm_cfg,
            "ais_temperatures": cfg["ais_temperatures"],
            "dbm_test_loglik": dbm_ll.mean, "dbm_ais": ais_summary(dbm_ll),
            "rbm_test_loglik": rbm_ll.mean, "rbm_ais": ais_summary(rbm_ll),
            "dbm_history": fit.history, "rbm_history": rbm_fit.history, "seconds": watch.seconds,
            "pngs": ["dbm_rbm_curve.png", "dbm_filters.png"]}


def run_sbn(cfg, data, out: Path, scale: float, progress: bool) -> dict:
    x, _, tx, _ = data[:4]
    watch = Stopwatch()
    result = {"sizes": cfg["sizes"], "iwae_samples": cfg["iwae_samples"], "seconds": watch.seconds}
    curves = {}
    for method in ("wakesleep", "rws"):
        options = dict(cfg[method], epochs=epochs_scaled(cfg[method]["epochs"], scale))
        engine = {"samples": options.pop("samples")} if method == "rws" else {}
        model = pgmdbn.sbn(cfg["sizes"], seed=0)
        say(f"SBN {'-'.join(map(str, cfg['sizes']))}; {method} {options} {engine}")
        with watch(f"sbn {method} training"):
            fit = pgmdbn.fit(model, x, method=method, engine_options=engine, progress=progress,
                             callbacks=[log_epoch(method)], **options)
        with watch(f"sbn {method} IWAE"):
            ll = chunked_bound(model, tx, "iwae", cfg["iwae_chunk"], k=cfg["iwae_samples"])
        say(f"  {method}: importance-weighted test log-likelihood {ll['mean']:.2f} nats")
        curves[f"{method} bound (train)"] = [h.get("bound", math.nan) for h in fit.history]
        result[method] = {**options, **engine, "test_loglik": ll["mean"], "test_loglik_sem": ll["sem"],
                          "history": fit.history}
    line_plot_png(out / "sbn_curve.png", curves, title="SBN: one-sample bound on 1000 training images",
                  x=list(range(1, 1 + max(len(c) for c in curves.values()))), xlabel="epoch", ylabel="nats")
    result["pngs"] = ["sbn_curve.png"]
    return result


RUNNERS = {"dbn": run_dbn, "dbm": run_dbm, "sbn": run_sbn}


# ---------------------------------------------------------------------------------------------
def print_tables(report: dict, file) -> None:
    def p(line=""):
        print(line, file=file)

    p(f"Deep models on MNIST ({report['train_images']} training / {report['test_images']} test images, "
      f"stochastically binarised, the DBN on grey levels; torch {report['torch']}, {report['threads']} threads"
      f"{', --small' if report['small'] else ''}, epochs x{report['epochs_scale']})")
    if "dbn" in report:
        r, s = report["dbn"], report["dbn"]["seconds"]
        p(f"\nDBN {'-'.join(map(str, r['sizes']))} + 10 labels")
        p(f"  {'figure':<52} {'value':>10} {'wall s':>8}")
        p(f"  {'test error, greedy (' + str(r['greedy']['epochs']) + ' epochs)':<52} "
          f"{100 * r['test_error_greedy']:>9.2f}% {s['dbn greedy pretraining']:>8.1f}")
        p(f"  {'test error, + up-down (' + str(r['updown']['epochs']) + ' epochs)':<52} "
          f"{100 * r['test_error_updown']:>9.2f}% {s['dbn up-down fine-tuning']:>8.1f}")
        p(f"  {'  same, binarised test images (greedy / up-down)':<52} {100 * r['test_error_greedy_binarised']:>9.2f}%"
          f" / {100 * r['test_error_updown_binarised']:.2f}%")
        p(f"  {'training error after up-down':<52} {100 * r['train_error_updown']:>9.2f}%")
        p(f"  {'top RBM log Z (AIS, ' + str(r['top_ais']['temperatures']) + ' temperatures)':<52} "
          f"{r['top_ais']['log_z']:>10.2f} {s['dbn AIS of the top RBM']:>8.1f}")
        p(f"  {'variational bound, test (k=' + str(r['bound_samples']) + '), nats':<52} "
          f"{r['test_bound']:>10.2f} {s['dbn variational bound']:>8.1f}")
    if "dbm" in report:
        r, s = report["dbm"], report["dbm"]["seconds"]
        p(f"\nDBM {'-'.join(map(str, r['sizes']))} vs RBM 784-{r['rbm']['hidden']} "
          f"(AIS, {r['ais_temperatures']} temperatures)")
        p(f"  {'figure':<52} {'value':>10} {'wall s':>8}")
        phases = f"DBM pretraining {r['greedy']['epochs']} + joint {r['joint']['epochs']} epochs"
        p(f"  {phases:<52} {'':>10} {s['dbm greedy pretraining'] + s['dbm joint training']:>8.1f}")
        p(f"  {'DBM test log-likelihood (mean-field bound), nats':<52} {r['dbm_test_loglik']:>10.2f} "
          f"{s['dbm AIS + mean-field bound']:>8.1f}")
        p(f"  {'RBM PCD training (' + str(r['rbm']['epochs']) + ' epochs)':<52} {'':>10} "
          f"{s['rbm PCD training']:>8.1f}")
        p(f"  {'RBM test log-likelihood (AIS), nats':<52} {r['rbm_test_loglik']:>10.2f} {s['rbm AIS']:>8.1f}")
    if "sbn" in report:
        r, s = report["sbn"], report["sbn"]["seconds"]
        p(f"\nSBN {'-'.join(map(str, r['sizes']))} (importance-weighted bound, k={r['iwae_samples']})")
        p(f"  {'figure':<52} {'value':>10} {'wall s':>8}")
        for method, name in (("wakesleep", "wake-sleep"), ("rws", "reweighted wake-sleep (K=5)")):
            m = r[method]
            p(f"  {name + ' training (' + str(m['epochs']) + ' epochs)':<52} {'':>10} "
              f"{s[f'sbn {method} training']:>8.1f}")
            p(f"  {name + ' test log-likelihood, nats':<52} {m['test_loglik']:>10.2f} {s[f'sbn {method} IWAE']:>8.1f}")
    p(f"\ntotal wall time {report['total_seconds']:.1f} s; PNGs in {report['out']}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default=",".join(PARTS), help="comma-separated subset of dbn,dbm,sbn")
    parser.add_argument("--small", action="store_true", help="tiny models, 300 images, 1 epoch (smoke test)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout (tables on stderr)")
    parser.add_argument("--out", default="out/deep_mnist", help="folder for the PNGs (default out/deep_mnist)")
    parser.add_argument("--epochs-scale", type=float, default=1.0, help="multiply every epoch count")
    parser.add_argument("--ais-temperatures", type=int, default=None,
                        help="AIS transitions for every log Z (default 5000 in the full run; the paper used 14500)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads(N)")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        parser.error(f"--parts takes a comma-separated subset of {','.join(PARTS)}; got {args.parts!r}")
    if args.epochs_scale <= 0:
        parser.error("--epochs-scale must be positive")
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = SMALL if args.small else FULL
    if args.ais_temperatures:
        cfg = {**cfg, **{part: {**cfg[part], "ais_temperatures": args.ais_temperatures} for part in ("dbn", "dbm")}}
    try:
        x, y = load_mnist("train", binarize="stochastic", seed=0, limit=cfg["images"])
        tx, ty = load_mnist("test", binarize="stochastic", seed=1, limit=cfg["images"])
        x_grey, _ = load_mnist("train", limit=cfg["images"])
        tx_grey, _ = load_mnist("test", limit=cfg["images"])
    except pgmdbn.DataNotFound as e:
        say(f"MNIST not found, nothing to do: {e}")
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    progress = not args.small
    report = {"small": args.small, "epochs_scale": args.epochs_scale, "torch": torch.__version__,
              "threads": torch.get_num_threads(), "train_images": len(x), "test_images": len(tx),
              "binarize": "stochastic (train seed 0, test seed 1); the DBN trains on grey levels",
              "out": str(out)}
    for part in parts:
        report[part] = RUNNERS[part](cfg[part], (x, y, tx, ty, x_grey, tx_grey), out, args.epochs_scale, progress)
    report["total_seconds"] = time.perf_counter() - START
    print_tables(report, sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
