"""Deep autoencoders (Hinton & Salakhutdinov 2006) against PCA: reconstruction error of test
images from 30-number codes.

    .venv/bin/python benchmarks/autoencoder.py --data mnist            # the full run (see FULL below)
    .venv/bin/python benchmarks/autoencoder.py --data olivetti           # the mild set
    .venv/bin/python benchmarks/autoencoder.py --data olivetti --paper   # the paper's set (see PAPER)
    .venv/bin/python benchmarks/autoencoder.py --data mnist --small    # smoke test (small nets, < 40 s)
    .venv/bin/python benchmarks/autoencoder.py --data olivetti --json --out out/ae   # JSON on stdout

Data and split:

mnist     the 10k MNIST training subset (``load_mnist("train")``) and the official 10k test
          set, intensities in [0, 1]; Bernoulli visible units, a logistic output trained on the
          cross-entropy. Net 784-1000-500-250-30.
olivetti  the 400 Olivetti faces at 25×25 (``pgmdbn.data.olivetti``), split by person, seeded:
          10 people (100 faces) test; of the other 30, 25 (250 faces) train and 5 (50 faces)
          validate (the epoch to stop fine-tuning at). The training set is enlarged
          with randomly rotated (±10°), scaled (±10 %) and shifted (±5 %) copies, made at 64×64
          before the area downscaling. Pixels are standardised with the training set's
          per-pixel mean and standard deviation; Gaussian visible units (sigma 1), a linear
          output trained on the squared error. Net 625-2000-1000-500-30. Errors are in these
          standardised units (as the paper's 126 vs 135). Two test sets: the 100 test faces as
          they are, and copies of them transformed like the training set (the paper's test set
          was transformed too, far more: rotations up to ±90°, scalings 1.4-2.0).
olivetti --paper
          the set as the paper made it (``pgmdbn.data.olivetti_paper_set``): 25×25 patches of
          the faces turned by up to ±90°, zoomed 1.4-2.0 (a window of 1/zoom of the side) and
          placed at random where the turned window lies inside the 64×64 face, area-averaged;
          the same people split (25 train, 5 validate, 10 test), PAPER["train_images"] images of
          the training people (the paper: 124,200 of 30 people), 5,000 of the validation people
          (the epoch to stop fine-tuning at) and 10,000 of the test people. Standardised with the
          training images' per-pixel mean and std. Two test sets: the paper-style images of the
          test people ("test", the paper's figure) and those people's 100 faces as they are.

Methods (one row each), all scored by the paper's figure, the squared error summed over the
pixels of a test image, averaged over the test images:

autoencoder  greedy pretraining of the stack (CD-1 on probabilities, ``pgmdbn.pretrain``; the top
             RBM has linear code units and its own learning rate), ``unroll``, then
             ``fine_tune`` by backprop (Adam with decoupled weight decay, cosine-decayed
             learning rate). Its wall time is pretraining + fine-tuning.
unrolled     the same autoencoder right after unrolling, before fine-tuning (pretraining alone).
random       (mnist) the same net with Glorot-uniform weights, fine-tuned with the same settings
             and epochs: what pretraining buys.
PCA-30       reconstruction from the first 30 principal components of the same training set
             (for olivetti also of the 300 training faces without their transformed copies).

Full-size epochs (FULL): mnist 30 per RBM + 200 fine-tuning (and 200 for the random start),
about 3 minutes on an H200 and over half an hour on 2 CPU cores; olivetti 100 per RBM + 60
fine-tuning, ending on the epoch best on the validation people (``restore_best``), about 8
minutes on one busy CPU core; olivetti --paper (PAPER) 25 per RBM + 25 fine-tuning on 40,000
images, about 26 minutes there. The test set is never looked at during training. A PNG
``<data>_reconstructions.png`` (``olivetti_paper_reconstructions.png`` with --paper) in
``--out`` shows test images (top row), autoencoder
reconstructions (middle) and PCA reconstructions (bottom), as in the lecture.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

import pgmdbn
from pgmdbn.data import load_mnist, olivetti_paper_set, standardize
from pgmdbn.data.olivetti import SIDE, augment, load_olivetti, person_split, resize
from pgmdbn.finetune.autoencoder import (fine_tune, pca_baseline, randomized, reconstruct,
                                         reconstruction_error, stack, unroll)
from pgmdbn.plot import save_grid

sys.path.insert(0, str(Path(__file__).resolve().parent))  # common.py, also when this file is loaded by path
from common import START, add_common_options, configure, greedy_options, parse, publish, say  # noqa: E402

FULL = {
    "mnist": {
        "train": None, "test": None,  # all 10k / 10k
        "sizes": [784, 1000, 500, 250, 30], "visible": "bernoulli", "init_scale": 0.01,
        # CD-1 at 0.05 with momentum 0.9 (0.1 stalls at the mean image here), weight decay 2e-4 as in
        # the paper; the linear top RBM at a 5× smaller rate
        "pretrain": {"epochs": 30, "lr": 0.05, "top_lr": 0.01, "momentum": 0.9, "weight_decay": 2e-4,
                     "batch_size": 100},
        # decoupled weight decay: with 10k images the wide first/last layers overfit without it. Chosen
        # on a validation split (8000 train / 2000 validate): 15+80 epochs, wd 0.3: 5.35; 15+200: 5.40;
        # 15+200 at lr 1e-3: 4.80; 30+200, wd 0.1: 4.41 (PCA-30 14.01)
        "finetune": {"epochs": 200, "optimizer": "adam", "lr": 3e-3, "weight_decay": 0.1, "batch_size": 100,
                     "lr_schedule": "cosine"},
        "random": "glorot",
        "k": 30,
    },
    "olivetti": {
        "size": 25, "test_people": 10, "valid_people": 5, "copies": 20, "test_copies": 10,
        "augment": {"max_angle": 10.0, "max_scale": 0.1, "max_shift": 0.05},
        "sizes": [625, 2000, 1000, 500, 30], "visible": "gaussian",
        # the Gaussian-visible RBM diverges at 0.01 on standardised pixels and learns faster from
        # weights of 0.1 (the paper's code); the binary RBMs above saturate at 0.05
        "init_scale": [0.1, 0.01, 0.01, 0.01],
        # long pretraining pays here: best validation error after fine-tuning 246 / 204 / 189 / 180 with
        # 10 / 30 / 60 / 100 epochs per RBM (a Gaussian RBM at 0.0025 diverges)
        "pretrain": {"epochs": 100, "lr": [0.0015, 0.01, 0.01, 0.002], "top_lr": None, "momentum": 0.9,
                     "weight_decay": 2e-4, "batch_size": 100},
        # 25 people overfit fast (on a GPU, 200 epochs with 50 copies: train error 6-50, validation
        # 210-280, rising after ~20 epochs): end on the epoch best on the validation people
        "finetune": {"epochs": 60, "optimizer": "adam", "lr": 1e-3, "weight_decay": 1.0, "batch_size": 100,
                     "lr_schedule": "cosine", "restore_best": True},
        "random": None,
        "k": 30,
    },
}

SMALL = {
    "mnist": {**FULL["mnist"], "train": 2000, "test": 1000, "sizes": [784, 256, 128, 64, 30],
              "pretrain": {**FULL["mnist"]["pretrain"], "epochs": 4},
              "finetune": {**FULL["mnist"]["finetune"], "epochs": 8}},
    "olivetti": {**FULL["olivetti"], "copies": 3, "test_copies": 2, "sizes": [625, 200, 100, 50, 30],
                 "pretrain": {**FULL["olivetti"]["pretrain"], "epochs": 4},
                 "finetune": {**FULL["olivetti"]["finetune"], "epochs": 8}},
}

# --paper: the faces as the paper made them (``pgmdbn.data.olivetti_paper_set``): patches turned by
# up to ±90°, zoomed 1.4-2.0 and placed at random inside the 64×64 face, area-averaged to 25×25
PAPER = {
    "paper": True, "size": 25, "test_people": 10, "valid_people": 5,
    # the paper: 124,200 training images, 50 epochs per RBM, long CG fine-tuning; here what fits
    # in about 25 minutes of one busy CPU core (pretraining ~0.7 ms and fine-tuning ~0.75 ms per
    # image and epoch). Chosen on the 5 validation people (PCA-30 ~98 there): fine-tuning 20
    # epochs from one pretraining (10k images, 100 epochs per RBM) gave 114.9 on 10k images and
    # 104.2 on 20k; Adam's weight decay 1.0 (the mild run's) 116.5 against 114.9 without
    # (it underfits here); L-BFGS (batches of 1000) 130.9 after 10 epochs, 4x Adam's time;
    # 10 instead of 100 epochs per RBM: 157 against 116 after the same fine-tuning.
    # This config (40k images, 25 + 25 epochs): 92.7 on the validation people, PCA-30 97.8.
    "train_images": 40_000, "valid_images": 5_000, "test_images": 10_000,
    "transform": {"max_angle": 90.0, "scale": [1.4, 2.0], "position": 1.0},
    "sizes": [625, 2000, 1000, 500, 30], "visible": "gaussian", "init_scale": [0.1, 0.01, 0.01, 0.01],
    "pretrain": {**FULL["olivetti"]["pretrain"], "epochs": 25},
    "finetune": {"epochs": 25, "optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "batch_size": 100,
                 "lr_schedule": "cosine", "restore_best": True},
    "random": None, "k": 30,
}
PAPER_SMALL = {**PAPER, "train_images": 2_000, "valid_images": 500, "test_images": 1_000,
               "sizes": SMALL["olivetti"]["sizes"], "pretrain": {**PAPER["pretrain"], "epochs": 3},
               "finetune": {**PAPER["finetune"], "epochs": 5}}


def mnist_data(cfg) -> dict:
    x, _ = load_mnist("train", limit=cfg["train"])
    tx, _ = load_mnist("test", limit=cfg["test"])
    return {"train": x, "tests": {"test": tx}, "raw_train": None, "pixels": lambda z: z, "side": 28,
            "note": f"{len(x)} training / {len(tx)} test images, intensities in [0, 1]"}


def olivetti_data(cfg) -> dict:
    faces, person = load_olivetti(size=SIDE)
    train_idx, test_idx = person_split(person, cfg["test_people"], seed=0)
    # validation people for early stopping, held out of the training people (the test set is never seen)
    keep, valid_idx = person_split(person[train_idx], cfg["valid_people"], seed=1)
    train_idx, valid_idx = train_idx[keep], train_idx[valid_idx]
    # transform at full resolution, then downscale: smoother than transforming 25×25 images
    copies = augment(faces[train_idx], SIDE, cfg["copies"], seed=0, **cfg["augment"])
    test_copies = augment(faces[test_idx], SIDE, cfg["test_copies"], seed=1, **cfg["augment"])
    size = cfg["size"]
    raw_train, test = resize(faces[train_idx], SIDE, size), resize(faces[test_idx], SIDE, size)
    train = torch.cat([raw_train, resize(copies, SIDE, size)])
    z, mean, std = standardize(train)
    scale = std + 1e-8

    def standard(a):
        return (a - mean) / scale

    n_people = len(torch.unique(person[train_idx]))
    return {"train": z, "raw_train": standard(raw_train), "side": size, "pixels": lambda a: a * scale + mean,
            "valid": standard(resize(faces[valid_idx], SIDE, size)),
            "tests": {"test": standard(test), "test_transformed": standard(resize(test_copies, SIDE, size))},
            "note": f"{n_people} people train ({len(train_idx)} faces + {len(copies)} transformed copies = "
                    f"{len(z)} images), {cfg['valid_people']} others validate (early stopping), "
                    f"{cfg['test_people']} others test ({len(test_idx)} faces as they are; "
                    f"'transformed': {len(test_copies)} copies transformed like the training set), {size}x{size}, "
                    f"pixels standardised with the training set's per-pixel mean and std"}


def olivetti_paper_data(cfg) -> dict:
    """The paper-style set (``olivetti_paper_set``) of the mild set's people: training, validation
    (early stopping) and test people as ``olivetti_data`` splits them, pixels standardised with
    the paper-style training images' per-pixel mean and std. Tests: the paper-style images of the
    test people, and their 100 faces as they are (upright, whole)."""
    made = olivetti_paper_set(cfg["train_images"], cfg["test_images"], n_valid=cfg["valid_images"],
                              test_people=cfg["test_people"], valid_people=cfg["valid_people"], seed=0, split_seed=0,
                              size=cfg["size"], max_angle=cfg["transform"]["max_angle"],
                              scale=tuple(cfg["transform"]["scale"]), position=cfg["transform"]["position"])
    faces, person = load_olivetti(size=cfg["size"])
    upright = faces[torch.isin(person, made["test"].person.unique())]
    z, mean, std = standardize(made["train"].images)
    scale = std + 1e-8

    def standard(a):
        return (a - mean) / scale

    t = cfg["transform"]
    return {"train": z, "raw_train": None, "side": cfg["size"], "pixels": lambda a: a * scale + mean,
            "valid": standard(made["valid"].images),
            "tests": {"test": standard(made["test"].images), "test_upright": standard(upright)},
            "note": f"paper-style patches (turned by up to ±{t['max_angle']:g}°, zoomed {t['scale'][0]:g}-"
                    f"{t['scale'][1]:g}, placed at random inside the face, {cfg['size']}x{cfg['size']}): "
                    f"{len(z)} training images of {len(made['train'].person.unique())} people, "
                    f"{len(made['valid'].images)} of {cfg['valid_people']} others validate (early stopping), "
                    f"{len(made['test'].images)} of {cfg['test_people']} others test ('test'; 'test upright': "
                    f"those people's {len(upright)} faces as they are); pixels standardised with the training "
                    f"images' per-pixel mean and std"}


def errors(net, x, tests) -> dict:
    """{"train_error": …, "<test set>_error": …} of an autoencoder."""
    out = {f"{name}_error": reconstruction_error(net, t) for name, t in tests.items()}
    out["train_error"] = reconstruction_error(net, x)
    return out


def run(cfg, data, progress: bool, device: str = "cpu") -> tuple[dict, dict]:
    """Every method's row, and the reconstructions of the test images for the PNG."""
    x, tests = data["train"], data["tests"]
    pre, fine = dict(cfg["pretrain"]), dict(cfg["finetune"])
    rows, recon = {}, {}
    model = stack(cfg["sizes"], visible=cfg["visible"], code="gaussian", init_scale=cfg["init_scale"], seed=0).to(device)
    say(f"stack {'-'.join(map(str, cfg['sizes']))}: greedy pretraining {pre}")
    t = time.perf_counter()
    pgmdbn.pretrain(model, x, seed=0, progress=progress, **greedy_options(pre, len(cfg["sizes"]) - 1))
    pretrain_s = time.perf_counter() - t
    ae = unroll(model)
    rows["unrolled"] = {**errors(ae, x, tests), "seconds": pretrain_s}
    say(f"  pretraining {pretrain_s:.1f} s; unrolled, not fine-tuned: test error {rows['unrolled']['test_error']:.2f}")
    starts = [("autoencoder", ae)]
    if cfg["random"]:
        starts.append(("random", randomized(ae, seed=1, init=cfg["random"])))
    for name, net in starts:
        say(f"fine-tuning {name}: {fine}")
        t = time.perf_counter()
        history = fine_tune(net, x, seed=0, progress=progress, valid=data.get("valid"), **fine).history
        seconds = time.perf_counter() - t
        rows[name] = {**errors(net, x, tests), "finetune_s": seconds, "seconds": seconds,
                      "loss_curve": [round(h["loss"], 4) for h in history]}
        if history and "valid_error" in history[0]:
            rows[name]["valid_curve"] = [round(h["valid_error"], 2) for h in history]
            if fine.get("restore_best"):
                rows[name]["best_epoch"] = 1 + min(range(len(history)), key=lambda i: history[i]["valid_error"])
        recon[name] = reconstruct(net, tests["test"])
        say(f"  {name}: test error {rows[name]['test_error']:.2f}, {seconds:.1f} s")
    rows["autoencoder"]["pretrain_s"] = pretrain_s
    rows["autoencoder"]["seconds"] += pretrain_s
    for name, train in (("pca", x), ("pca_raw", data["raw_train"])):
        if train is None:
            continue
        t = time.perf_counter()
        row = {f"{test}_error": pca_baseline(train, tx, cfg["k"])[0] for test, tx in tests.items()}
        row["train_error"] = pca_baseline(train, x, cfg["k"])[0]
        row["seconds"] = time.perf_counter() - t
        rows[name] = row
        recon.setdefault("pca", pca_baseline(train, tests["test"], cfg["k"])[1])
        say(f"  {name}: test error {row['test_error']:.2f}")
    return rows, recon


def save_png(path: Path, data, recon, n: int = 10) -> None:
    """Test images, autoencoder reconstructions and PCA reconstructions, one row each."""
    tx = data["tests"]["test"]
    pick = torch.linspace(0, len(tx) - 1, min(n, len(tx))).round().long()  # spread over the test set
    rows = [tx[pick], recon["autoencoder"][pick], recon["pca"][pick]]
    images = torch.cat([data["pixels"](r).clamp(0, 1) for r in rows])
    save_grid(path, images, ncols=len(pick), normalize=None, shape=(data["side"], data["side"]),
              row_labels=["test image", "autoencoder", "PCA"],
              title="test images and their reconstructions by the fine-tuned autoencoder and by PCA")


def print_table(report: dict, file) -> None:
    def p(line=""):
        print(line, file=file)

    cfg, results = report["config"], report["results"]
    sizes = "-".join(map(str, cfg["sizes"]))
    pre, fine = cfg["pretrain"], cfg["finetune"]
    paper = " (--paper)" if report.get("paper") else ""
    p(f"Deep autoencoder vs PCA on {report['data']}{paper}: {report['note']}; torch {report['torch']} on "
      f"{report['device']}, {report['threads']} threads{', --small' if report['small'] else ''}")
    p(f"pretraining {pre['epochs']} epochs per RBM (CD-1, lr {pre['lr']}, top {pre['top_lr'] or 'as given'}); "
      f"fine-tuning {fine['epochs']} epochs ({fine['optimizer']}, lr {fine['lr']}, weight decay "
      f"{fine['weight_decay']}, {fine['lr_schedule']} schedule, batch {fine['batch_size']})")
    p()
    tests = [k[:-6] for k in results["autoencoder"] if k.endswith("_error") and k != "train_error"]
    head = "".join(f" {t.replace('_', ' ') + ' err':>18}" for t in tests)
    p(f"  {'method':<58}{head} {'train err':>10} {'wall s':>8}")
    names = {"autoencoder": f"pgmdbn deep autoencoder {sizes}, pretrained + backprop",
             "unrolled": "  the same, unrolled, before fine-tuning",
             "random": f"same net, random ({cfg['random']}) init + backprop",
             "pca": f"PCA-{cfg['k']} (same training set)",
             "pca_raw": f"PCA-{cfg['k']} (the training faces without the copies)"}
    for key, name in names.items():
        r = results.get(key)
        if r is not None:
            cells = "".join(f" {r[t + '_error']:>18.2f}" for t in tests)
            p(f"  {name:<58}{cells} {r['train_error']:>10.2f} {r['seconds']:>8.1f}")
    r = results["autoencoder"]
    p(f"  (autoencoder row: {r['pretrain_s']:.1f} s pretraining + {r['finetune_s']:.1f} s fine-tuning)")
    if "best_epoch" in r:
        p(f"  (fine-tuning ended on epoch {r['best_epoch']} of {fine['epochs']}, the best on the validation people: "
          f"{min(r['valid_curve']):.2f}; at the last epoch {r['valid_curve'][-1]:.2f})")
    p("  errors: squared error summed over the pixels of an image, averaged over the images")
    p(f"\nPNG (test / autoencoder / PCA rows): {report['png']}")
    p(f"total wall time {report['total_seconds']:.1f} s")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_options(parser, out="out/autoencoder", small="small nets, few epochs (smoke test, < 40 s)")
    parser.add_argument("--data", choices=("mnist", "olivetti"), default="mnist",
                        help="mnist: 28x28 digits (default); olivetti: face patches, Gaussian visible units")
    parser.add_argument("--epochs", type=int, default=None, help="fine-tuning epochs")
    parser.add_argument("--pretrain-epochs", type=int, default=None, help="greedy pretraining epochs per RBM")
    parser.add_argument("--train", type=int, default=None, help="(mnist) use the first N training images")
    parser.add_argument("--copies", type=int, default=None, help="(olivetti) transformed copies per training face")
    parser.add_argument("--no-random", action="store_true", help="skip the random-init baseline")
    parser.add_argument("--paper", action="store_true",
                        help="(olivetti) the paper's set: patches turned by up to ±90°, zoomed 1.4-2.0, "
                             "cropped, 25x25")
    parser.add_argument("--train-images", type=int, default=None, help="(--paper) training images")
    args = parse(parser, argv)
    if args.paper and args.data != "olivetti":
        parser.error("--paper needs --data olivetti")
    if args.train_images is not None and not args.paper:
        parser.error("--train-images needs --paper")
    if args.paper:
        cfg = configure(PAPER_SMALL if args.small else PAPER, args)
        if args.train_images is not None:
            cfg["train_images"] = args.train_images
    else:
        cfg = configure((SMALL if args.small else FULL)[args.data], args)
    if args.train is not None:
        cfg["train"] = args.train
    if args.copies is not None:
        cfg["copies"] = args.copies
    if args.no_random:
        cfg["random"] = None
    try:
        data = (mnist_data if args.data == "mnist" else olivetti_paper_data if args.paper else olivetti_data)(cfg)
    except pgmdbn.DataNotFound as e:
        say(f"{args.data} not found, nothing to do: {e}")
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, recon = run(cfg, data, progress=not args.small, device=args.device)
    png = out / f"{args.data}{'_paper' if args.paper else ''}_reconstructions.png"
    save_png(png, data, recon)
    report = {"data": args.data, "paper": args.paper, "small": args.small, "note": data["note"],
              "torch": torch.__version__,
              "device": args.device, "threads": torch.get_num_threads(), "config": cfg, "results": rows, "png": str(png),
              "total_seconds": time.perf_counter() - START}
    return publish(report, print_table, args.json)


if __name__ == "__main__":
    sys.exit(main())
