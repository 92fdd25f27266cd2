"""Convolutional DBNs with probabilistic max-pooling (Lee, Grosse, Ranganath & Ng 2009) on the
data we have: part-based filters on Olivetti faces, MNIST features and fine-tuning, and the speed
of one CD-1 epoch against the bare convolutions it needs.

    .venv/bin/python benchmarks/cdbn.py                   # the full run (the MNIST part took 608 s on one shared core)
    .venv/bin/python benchmarks/cdbn.py --small           # smoke test (tiny nets and data, ~30 s)
    .venv/bin/python benchmarks/cdbn.py --json --threads 1 --out out/cdbn

Parts (each a table row with its wall time):

faces       ``pgmdbn.cdbn((1, 32, 32), filters, kernels, pools, visible="gaussian")`` on the 400
            Olivetti faces at 32×32, each image standardised (zero mean, unit variance, as Lee
            et al. whiten theirs), pretrained greedily with CD-1 and the sparsity option of
            ``fit``. PNGs: the first-layer filters, and the second layer's filters in pixel space
            as weighted combinations of first-layer filters (an h2 unit's generative down-pass
            through the pooling blocks and the first layer's filters).
mnist       ``pgmdbn.cdbn((1, 28, 28), ...)`` on the 10k MNIST training images (intensities in
            [0, 1], Bernoulli visible units), pretrained greedily (CD-1, sparsity), then:
            - LogisticRegression (scikit-learn) on the pooled features of both layers of the
              recognition up-pass (with the config's ``activation`` "log_partition": each block's
              −log p(off) = −log(1 − P) of the pooling probability P), against the same
              classifier on pixels and on the hidden probabilities of both layers of a dense DBN
              784-500-500 pretrained greedily with the same recipe;
            - the CDBN turned into a conv net (``to_classifier(..., activation=...)``: each
              factor's ``as_module``, a convolution, and the pooled layer's log partitions or
              means, a softmax output) and fine-tuned by backprop, against the same conv net
              from a random (Glorot) start and an ordinary small conv net (conv, ReLU,
              max-pooling, twice, and a linear output; Glorot), both with the same recipe.
speed       one CD-1 epoch of the first layer (batches of 100 over the 10k images, ``fit`` with
            monitors off) against the bare torch calls it needs per batch: conv2d of the data
            and of the reconstruction, conv_transpose2d of the hidden sample, and the two
            weight gradients of conv2d; the fraction of the epoch spent in them.
widths      (not run by default) the linear classifier on the features of CDBNs of several
            widths (16/32, 32/64 and 64/64 filters), the mnist recipe otherwise.

Every method trains on the same training images and is scored on the official 10k test images.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from collections import OrderedDict

import torch
from torch import nn
from torch.nn import functional as F

import pgmdbn
from pgmdbn.data import load_mnist, load_olivetti
from pgmdbn.finetune import Classifier, error_rate, random_like, to_classifier, train_classifier
from pgmdbn.plot import MIN_TILE_WIDTH, figure, save_figure

sys.path.insert(0, str(Path(__file__).resolve().parent))  # common.py, also when this file is loaded by path
from common import START, add_common_options, parse, publish, say  # noqa: E402

FULL = {
    # a convolution's weight gradient sums over every position, so its rates are far below a dense
    # RBM's (CD-1 at 0.01 kills MNIST's 24x24 detection maps within an epoch; 1e-3 trains them;
    # Gaussian faces diverge at 3e-4). Sparsity (target, cost): the cost weighs a sum over units.
    "faces": {"side": 32, "filters": [24, 36], "kernels": [7, 6], "pools": [2, 2], "epochs": [30, 30],
              "lr": [1e-4, 1e-3], "sparsity": [(0.02, 10.0), (0.02, 3.0)], "batch_size": 20},
    # MNIST: a weaker sparsity (0.05, 1) and a second-layer rate of 5e-4 (2e-3 drove h2's fields to a
    # spread of 15, up to 166) gave better features (linear 4.23% against 5.41%) and a better start
    # for fine-tuning (2.69% against 3.39%). The classifier hands on each layer's log partitions
    # (to_classifier(activation="log_partition")), the means' sum-pooled block softmax saturates
    # (benchmarks/cdbn_ablation.py and README.md)
    "mnist": {"train": None, "test": None, "filters": [16, 32], "kernels": [5, 5], "pools": [2, 2],
              "epochs": [2, 2], "lr": [1e-3, 5e-4], "sparsity": [(0.05, 1.0), (0.05, 1.0)], "batch_size": 100,
              "dense_sizes": [784, 500, 500], "dense_epochs": 5, "C": 0.1, "max_iter": 300,
              "activation": "log_partition",
              # Adam: SGD (lr 0.05, momentum 0.9) left the pretrained net at 13.69% after 3 epochs and the
              # random one at chance (88.65%), the plateau of sigmoid nets that finetune_mnist.py also shows;
              # Adam lr 1e-3 for 3 epochs gave 12.53% and 24.80% (benchmarks/README.md)
              "finetune": {"epochs": 10, "lr": 3e-3, "optimizer": "adam", "momentum": 0.9, "weight_decay": 1e-5,
                           "batch_size": 100, "lr_schedule": "cosine"}},
    # the benchmark's first layer, and Lee et al.'s larger filters (24 of 11×11 here, 28 − 11 + 1 = 18 poolable)
    "speed": {"train": None, "batch_size": 100, "layers": [(16, 5), (24, 11)]},
    # the linear classifier on features of wider CDBNs, the mnist recipe otherwise
    "widths": {"filters": [[16, 32], [32, 64], [64, 64]]},
}

SMALL = {
    "faces": {**FULL["faces"], "side": 16, "filters": [4, 4], "kernels": [5, 3], "epochs": [1, 1]},
    "mnist": {**FULL["mnist"], "train": 300, "test": 200, "filters": [4, 6], "epochs": [1, 1], "dense_sizes": [784, 50, 50],
              "dense_epochs": 1, "max_iter": 100, "finetune": {**FULL["mnist"]["finetune"], "epochs": 1}},
    "speed": {"train": 500, "batch_size": 100, "layers": [(16, 5)]},
    "widths": {"filters": [[2, 3], [4, 3]]},
}


def stage_options(cfg: dict) -> dict:
    """``pgmdbn.pretrain`` options: per-stage rates and sparsity from the config."""
    return {"epochs": list(cfg["epochs"]), "batch_size": cfg["batch_size"], "momentum": 0.9, "weight_decay": 1e-4,
            "per_stage": [{"lr": lr, "sparsity": tuple(s)} for lr, s in zip(cfg["lr"], cfg["sparsity"])]}


def filter_images(model) -> tuple[torch.Tensor, torch.Tensor]:
    """First-layer filters (K1, k1, k1), and each second-layer filter in pixel space: a unit of h2
    at the top-left position sent down through the h1 pooling blocks and the first layer's filters
    (the weighted combination of first-layer filters it stands for), cropped to its support."""
    f1, f2 = model.factor("h1", "v"), model.factor("h1", "h2")
    w1 = f1.weight.detach()
    k2, oh, ow = f2.out_shape
    one_hot = torch.zeros(k2, k2 * oh * ow)
    one_hot[torch.arange(k2), torch.arange(k2) * oh * ow] = 1.0  # each filter's first position
    with torch.no_grad():
        h1 = f2.message("h1", one_hot)
        pixels = f1.message("v", h1)
    c, hh, ww = model.layer("v").shape
    span = f2.kernel[0] * f2.pool_in + f1.kernel[0] - 1
    return w1[:, 0], pixels.reshape(k2, c, hh, ww)[:, 0, :span, :span]


def save_filters(path: Path, images: torch.Tensor, title: str) -> None:
    """Filters in a grid of up to 12 columns, each in grey scaled symmetrically about zero
    (mid-grey: 0), under ``title``; at least MIN_TILE_WIDTH pixels wide."""
    n = len(images)
    cols = min(n, 12)
    rows = (n + cols - 1) // cols
    fig = figure(max(MIN_TILE_WIDTH, cols * 90), rows * 90 + 40)
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([]), ax.set_yticks([])
        if i < n:
            im = images[i].float()
            ax.imshow(im.numpy(), cmap="gray", vmin=-im.abs().max().item(), vmax=im.abs().max().item())
        else:
            ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


def run_faces(cfg: dict, out: Path, progress: bool, device: str) -> dict:
    x, _ = load_olivetti(size=cfg["side"])
    x = (x - x.mean(1, keepdim=True)) / x.std(1, keepdim=True).clamp_min(1e-6)  # standardise each face
    model = pgmdbn.cdbn((1, cfg["side"], cfg["side"]), filters=cfg["filters"], kernels=cfg["kernels"],
                        pools=cfg["pools"], visible="gaussian", seed=0)
    say(f"faces: CDBN {cfg['filters']} filters {cfg['kernels']} pools {cfg['pools']} on {len(x)} faces")
    t = time.perf_counter()
    results = pgmdbn.pretrain(model, x, seed=0, progress=progress, device=device, **stage_options(cfg))
    seconds = time.perf_counter() - t
    model.cpu()
    first, second = filter_images(model)
    save_filters(out / "faces_layer1_filters.png", first, "Olivetti: first-layer filters")
    save_filters(out / "faces_layer2_filters.png", second,
                 "Olivetti: second-layer filters as combinations of first-layer filters")
    h1 = model.layer("h1")
    q1 = h1.mean(model.factor("h1", "v").recognise(x))
    row = {"seconds": seconds, "images": len(x), "recon_error": results[0].history[-1].get("recon_error"),
           "h1_mean_activation": float(q1.detach().mean()),
           "h1_pooled_mean": float(h1.pooled(q1.detach()).mean())}
    say(f"  faces: {seconds:.1f} s; mean detection activation {row['h1_mean_activation']:.3f}")
    return row


def features(net, model, x: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    """The up-pass's hidden activations of every layer, concatenated: (n, features); a pooled
    layer gives its pooling units' probabilities (the classifier's top block already does)."""
    def pooled(name, v):
        units = model.layer(name)
        return units.pooled(v) if getattr(units, "pool", 1) > 1 and v.shape[1] == units.size else v

    with torch.no_grad():
        parts = []
        for i in range(0, len(x), batch):
            acts = net.activations(x[i:i + batch])
            parts.append(torch.cat([pooled(k, v) for k, v in acts.items() if k != "output"], 1))
    return torch.cat(parts)


class ConvReluPool(nn.Module):
    """The plain conv net's layer on flat rows: (n, C·H·W) -> conv2d (k×k, a bias per filter),
    ReLU, max-pooling over p×p blocks -> (n, K·(H − k + 1)/p·(W − k + 1)/p)."""

    def __init__(self, in_shape, filters: int, kernel: int, pool: int):
        super().__init__()
        self.in_shape, self.pool = tuple(in_shape), int(pool)
        self.in_features = self.in_shape[0] * self.in_shape[1] * self.in_shape[2]
        self.conv = nn.utils.skip_init(nn.Conv2d, self.in_shape[0], filters, kernel)  # random_like sets it

    def forward(self, x):
        y = F.relu(self.conv(x.reshape(-1, *self.in_shape)))
        return F.max_pool2d(y, self.pool).flatten(1)


def plain_conv_net(filters, kernels, pools, seed: int) -> Classifier:
    """The ordinary small conv net of the CDBN's shape: per layer conv2d, ReLU, max-pooling, then
    a Linear output; Glorot-initialised (``random_like``), biases zero."""
    blocks, shape = OrderedDict(), (1, 28, 28)
    for i, (k, kernel, pool) in enumerate(zip(filters, kernels, pools), 1):
        blocks[f"c{i}"] = nn.Sequential(ConvReluPool(shape, k, kernel, pool))
        shape = (k, (shape[1] - kernel + 1) // pool, (shape[2] - kernel + 1) // pool)
    blocks["output"] = nn.utils.skip_init(nn.Linear, shape[0] * shape[1] * shape[2], 10)
    return random_like(Classifier(blocks), seed=seed)


def logistic(train_x, y, test_x, ty, cfg) -> tuple[float, float]:
    """Test error and seconds of LogisticRegression on standardised features (sparse features of
    mean ~0.02 would otherwise need weights the L2 penalty forbids)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    t = time.perf_counter()
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=cfg["C"], max_iter=cfg["max_iter"]))
    clf.fit(train_x.numpy(), y.numpy())
    return float((clf.predict(test_x.numpy()) != ty.numpy()).mean()), time.perf_counter() - t


def pretrained_features(cfg: dict, data, progress: bool, device: str):
    """Pretrain a CDBN of ``cfg`` on the training images of ``data`` (x, y, tx, ty) and score the
    linear classifier on its features. Returns (model, its classifier net, the row)."""
    x, y, tx, ty = data
    model = pgmdbn.cdbn((1, 28, 28), filters=cfg["filters"], kernels=cfg["kernels"], pools=cfg["pools"], seed=0)
    say(f"mnist: CDBN {cfg['filters']} filters {cfg['kernels']} pools {cfg['pools']} on {len(x)} images")
    t = time.perf_counter()
    pgmdbn.pretrain(model, x, seed=0, progress=progress, device=device, **stage_options(cfg))
    pretrain_s = time.perf_counter() - t
    model.cpu()
    net = to_classifier(model, 10, seed=0, activation=cfg["activation"])
    t = time.perf_counter()
    fx, ftx = features(net, model, x), features(net, model, tx)
    err, _ = logistic(fx, y, ftx, ty, cfg)
    say(f"  CDBN features ({fx.shape[1]}) + logistic: {100 * err:.2f}%")
    return model, net, {"test_error": err, "seconds": pretrain_s + time.perf_counter() - t,
                        "features": fx.shape[1], "pretrain_s": pretrain_s}


def run_widths(cfg: dict, widths: dict, progress: bool, device: str) -> list[dict]:
    """The linear classifier on the features of CDBNs of each width in ``widths["filters"]``."""
    data = (*load_mnist("train", limit=cfg["train"]), *load_mnist("test", limit=cfg["test"]))
    return [{"filters": list(filters), **pretrained_features({**cfg, "filters": list(filters)}, data, progress,
                                                             device)[2]}
            for filters in widths["filters"]]


def run_mnist(cfg: dict, out: Path, progress: bool, device: str) -> dict:
    x, y = load_mnist("train", limit=cfg["train"])
    tx, ty = load_mnist("test", limit=cfg["test"])
    rows = {}
    model, net, rows["cdbn_features"] = pretrained_features(cfg, (x, y, tx, ty), progress, device)
    pretrain_s = rows["cdbn_features"]["pretrain_s"]
    first, second = filter_images(model)
    save_filters(out / "mnist_layer1_filters.png", first, "MNIST: first-layer filters")
    save_filters(out / "mnist_layer2_filters.png", second[:36], "MNIST: second-layer filters in pixel space")
    err, lr_s = logistic(x, y, tx, ty, cfg)
    rows["pixels"] = {"test_error": err, "seconds": lr_s, "features": x.shape[1]}
    say(f"  pixels + logistic: {100 * err:.2f}%")
    dense = pgmdbn.dbn(cfg["dense_sizes"], seed=0)
    t = time.perf_counter()
    pgmdbn.pretrain(dense, x, seed=0, progress=progress, device=device, epochs=cfg["dense_epochs"], lr=0.05,
                    momentum=0.9, weight_decay=2e-4, batch_size=100)
    dense.cpu()
    dnet = to_classifier(dense, 10, seed=0)
    dx, dtx = features(dnet, dense, x), features(dnet, dense, tx)
    err, _ = logistic(dx, y, dtx, ty, cfg)
    rows["dense_features"] = {"test_error": err, "seconds": time.perf_counter() - t, "features": dx.shape[1]}
    say(f"  dense DBN features ({dx.shape[1]}) + logistic: {100 * err:.2f}%")
    fine = dict(cfg["finetune"])
    plain = plain_conv_net(cfg["filters"], cfg["kernels"], cfg["pools"], seed=1)
    for name, start in (("cdbn_finetuned", net), ("conv_random", random_like(net, seed=1)), ("plain_conv", plain)):
        t = time.perf_counter()
        train_classifier(start, x, y, seed=0, progress=progress, device=device, **fine)
        seconds = time.perf_counter() - t
        start.cpu()
        rows[name] = {"test_error": error_rate(start, tx, ty), "train_error": error_rate(start, x, y),
                      "seconds": seconds + (pretrain_s if name == "cdbn_finetuned" else 0.0), "finetune_s": seconds}
        say(f"  {name}: {100 * rows[name]['test_error']:.2f}% ({seconds:.1f} s)")
    return {"train_images": len(x), "test_images": len(tx), "rows": rows}


def run_speed(cfg: dict, device: str) -> list[dict]:
    x, _ = load_mnist("train", limit=cfg["train"])
    return [speed_row(x.to(device), filters, kernel, cfg["batch_size"], device) for filters, kernel in cfg["layers"]]


def speed_row(x, filters: int, kernel: int, b: int, device: str) -> dict:
    """One CD-1 epoch of a first layer with the gradient in closed form (the default) and by
    autograd (the reference), against the bare convolutions it needs, timed two ways: with the
    filters' gradients by autograd (convolution_backward) and as the closed form takes them
    (``Conv2d.gradient`` once per phase)."""
    sync = torch.cuda.synchronize if str(device).startswith("cuda") else (lambda: None)
    epochs = {}
    for gradient in ("closed", "autograd"):
        model = pgmdbn.cdbn((1, 28, 28), filters=[filters], kernels=[kernel], pools=[2], seed=0).to(device)
        options = {"engine_options": {"gradient": gradient}}
        pgmdbn.fit(model, x[:200], epochs=1, batch_size=b, monitor_size=0, progress=False, **options)  # warm-up
        sync()
        t = time.perf_counter()
        pgmdbn.fit(model, x, epochs=1, batch_size=b, monitor_size=0, progress=False, lr=0.01, **options)
        sync()
        epochs[gradient] = time.perf_counter() - t
    f = model.factor("v", "h1")
    w = f.weight.detach().clone().requires_grad_(True)
    gen = torch.Generator(device=device).manual_seed(0)
    h = (torch.rand(b, *f.out_shape, generator=gen, device=device) < 0.1).float()
    g = torch.randn(2 * b, *f.out_shape, generator=gen, device=device)
    bare = {}
    for how in ("autograd", "closed"):
        sync()
        t = time.perf_counter()
        for i in range(0, len(x), b):
            v = x[i:i + b].reshape(-1, 1, 28, 28)
            up = F.conv2d(v, w)  # the data's hidden field
            recon = F.conv_transpose2d(h[:len(v)], w.detach()).sigmoid()  # the reconstruction
            up2 = F.conv2d(recon, w)  # the reconstruction's hidden field
            if how == "autograd":  # the two weight gradients
                ((up * g[:len(v)]).sum() + (up2 * g[len(v):2 * len(v)]).sum()).backward()
                w.grad = None
            else:  # as the closed form takes them: Conv2d.gradient, once per phase
                for images, maps in ((v, g[:len(v)]), (recon, g[len(v):2 * len(v)])):
                    f.gradient(images.reshape(len(v), -1), maps.reshape(len(v), -1))
        sync()
        bare[how] = time.perf_counter() - t
    epoch_s, bare_s = epochs["closed"], bare["autograd"]
    say(f"speed: {filters} filters of {kernel}x{kernel}: CD-1 epoch {epoch_s:.2f} s (autograd {epochs['autograd']:.2f} s), "
        f"bare convolutions {bare_s:.2f} s (weight gradients as the closed form takes them {bare['closed']:.2f} s)")
    return {"images": len(x), "filters": filters, "kernel": kernel, "epoch_s": epoch_s,
            "epoch_autograd_s": epochs["autograd"], "bare_s": bare_s, "bare_closed_s": bare["closed"],
            "fraction": bare_s / epoch_s, "fraction_closed": bare["closed"] / epoch_s, "device": str(device)}


def print_table(report: dict, file) -> None:
    def p(line=""):
        print(line, file=file)

    p(f"CDBN benchmark (torch {report['torch']} on {report['device']}, {report['threads']} threads"
      f"{', --small' if report['small'] else ''})")
    if "faces" in report:
        print_faces(report, p)
    if "mnist" in report:
        print_mnist(report, p)
    if "speed" in report:
        print_speed(report, p)
    if "widths" in report:
        p("\nWidths: the linear classifier (LogisticRegression) on the pooled features of both layers of CDBNs of "
          "each width, the mnist recipe otherwise")
        p(f"  {'filters':<12} {'features':>9} {'test err':>9} {'pretraining s':>14}")
        for row in report["widths"]:
            p(f"  {'/'.join(map(str, row['filters'])):<12} {row['features']:>9} {100 * row['test_error']:>8.2f}% "
              f"{row['pretrain_s']:>14.1f}")
    p(f"\ntotal wall time {report['total_seconds']:.1f} s")


def print_faces(report, p) -> None:
    fc = report["config"]["faces"]
    r = report["faces"]
    p(f"\nOlivetti faces ({r['images']} at {fc['side']}x{fc['side']}, standardised, Gaussian visible): filters "
      f"{fc['filters']}, kernels {fc['kernels']}, pools {fc['pools']}, epochs {fc['epochs']}")
    p(f"  pretraining {r['seconds']:.1f} s; mean detection activation {r['h1_mean_activation']:.3f}, "
      f"pooled {r['h1_pooled_mean']:.3f}; PNGs faces_layer1_filters.png, faces_layer2_filters.png")


def print_mnist(report, p) -> None:
    m = report["mnist"]
    mc = report["config"]["mnist"]
    p(f"\nMNIST ({m['train_images']} training / {m['test_images']} test images): CDBN filters {mc['filters']}, "
      f"kernels {mc['kernels']}, pools {mc['pools']}, pretraining epochs {mc['epochs']}; "
      f"fine-tuning {mc['finetune']['epochs']} epochs")
    p(f"  command: python benchmarks/cdbn.py --threads {report['threads']} --parts mnist"
      f"{' --small' if report['small'] else ''}; fine-tuning {mc['finetune']}")
    p(f"  {'method':<66} {'test err':>9} {'wall s':>8}")
    names = {"pixels": "pixels -> LogisticRegression",
             "dense_features": f"dense DBN {'-'.join(map(str, mc['dense_sizes']))} features -> LogisticRegression",
             "cdbn_features": "CDBN pooled features, both layers -> LogisticRegression",
             "cdbn_finetuned": f"CDBN as a conv net ({mc['activation']}), fine-tuned by backprop",
             "conv_random": "same conv net from random (Glorot) init, same recipe",
             "plain_conv": "plain conv net (conv, ReLU, max-pool x2, linear), same recipe"}
    for key, name in names.items():
        row = m["rows"][key]
        extra = f" ({row['features']} features)" if "features" in row else ""
        p(f"  {(name + extra):<66} {100 * row['test_error']:>8.2f}% {row['seconds']:>8.1f}")


def print_speed(report, p) -> None:
    p("\nSpeed: one CD-1 epoch of a first layer (pool 2, batches of 100) on MNIST, against the bare "
      "conv2d/conv_transpose2d calls it needs")
    p("  (epoch: gradient in closed form; autograd: the reference path; bare: the convolutions with the filters' "
      "gradients by autograd, and as the closed form takes them)")
    p(f"  {'first layer':<28} {'images':>7} {'epoch s':>8} {'autograd s':>11} {'bare conv s':>12} {'fraction':>9} "
      f"{'bare (closed) s':>16} {'fraction':>9}")
    for s in report["speed"]:
        p(f"  {s['filters']:>3} filters of {s['kernel']:>2}x{s['kernel']:<2} ({s['device']:<4})  {s['images']:>7} "
          f"{s['epoch_s']:>8.2f} {s['epoch_autograd_s']:>11.2f} {s['bare_s']:>12.2f} {100 * s['fraction']:>8.0f}% "
          f"{s['bare_closed_s']:>16.2f} {100 * s['fraction_closed']:>8.0f}%")


def save_speed(path: Path, speed: list[dict]) -> None:
    fig = figure(600, int(100 * (1.2 + 0.7 * len(speed))))
    ax = fig.add_subplot()
    labels = [f"{s['filters']} filters {s['kernel']}x{s['kernel']} ({100 * s['fraction']:.0f}% in conv)" for s in speed]
    pos = torch.arange(len(speed)).float()
    ax.barh(pos + 0.2, [s["epoch_s"] for s in speed], height=0.4, label="pgmdbn CD-1 epoch")
    ax.barh(pos - 0.2, [s["bare_s"] for s in speed], height=0.4, color="grey", label="bare conv calls")
    ax.set_yticks(pos.tolist(), labels)
    ax.set_xlabel("seconds")
    ax.set_ylabel("first layer")
    ax.legend(fontsize=7)
    ax.set_title(f"one CD-1 epoch of the first layer on {speed[0]['images']} MNIST images ({speed[0]['device']})",
                 fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_options(parser, out="out/cdbn", small="tiny nets on a few hundred images, one epoch (smoke test)")
    parser.add_argument("--parts", default="faces,mnist,speed",
                        help="comma-separated parts to run: faces, mnist, speed, widths (default faces,mnist,speed)")
    args = parse(parser, argv)
    parts = set(args.parts.split(","))
    if not parts <= {"faces", "mnist", "speed", "widths"}:
        parser.error(f"--parts takes faces, mnist, speed and widths, got {args.parts}")
    cfg = SMALL if args.small else FULL
    try:
        load_mnist("train", limit=1)
        load_olivetti(size=8)
    except pgmdbn.DataNotFound as e:
        say(f"data not found, nothing to do: {e}")
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    progress = not args.small
    report = {"small": args.small, "torch": torch.__version__, "threads": torch.get_num_threads(),
              "device": args.device, "config": cfg}
    if "faces" in parts:
        report["faces"] = run_faces(cfg["faces"], out, progress, args.device)
    if "mnist" in parts:
        report["mnist"] = run_mnist(cfg["mnist"], out, progress, args.device)
    if "speed" in parts:
        report["speed"] = run_speed(cfg["speed"], args.device)
        save_speed(out / "speed.png", report["speed"])
    if "widths" in parts:
        report["widths"] = run_widths(cfg["mnist"], cfg["widths"], progress, args.device)
    report["total_seconds"] = time.perf_counter() - START
    return publish(report, print_table, args.json)


if __name__ == "__main__":
    sys.exit(main())
