"""Why the CDBN's conv net from random init falls behind an ordinary small conv net (issue 22,
point 3): the same two-layer net in the CDBN's shape (16 filters 5×5, 2×2 pooling, 32 filters
5×5, 2×2 pooling, a linear output), changing one piece at a time, each trained from a random
start with the fine-tuning recipe of ``cdbn.py`` on the 10k MNIST training images and scored on
the official 10k test images.

    .venv/bin/python benchmarks/cdbn_ablation.py --threads 1            # every variant (about 20 minutes)
    .venv/bin/python benchmarks/cdbn_ablation.py --threads 1 --variants plain,converted

A variant is (activation of the detection field, pooling, bias):

- activation "block_softmax" (the converted CDBN's: probabilistic max-pooling's detection
  probabilities), "sigmoid", "relu", or "none" (the field itself);
- pooling "sum" (the converted CDBN's: the pooling units' probabilities are block sums),
  "max", or "log_partition" (each block's log(1 + Σ exp η) = −log p(block off), a softplus of a
  soft max-pooling: the unit contract's ``nn_log_partition`` summed per block);
- bias "map" (one per unit, as the converted CDBN's) or "channel" (one per filter).

Filters are Glorot-uniform from a generator seeded 1, the output N(0, 0.01²) (as
``to_classifier``'s), biases ``bias_init`` (0 unless given); Adam (β 0.9, 0.999), lr 3e-3 with a
cosine schedule over 10 epochs, weight decay 1e-5 on the weights, batches of 100 shuffled by a
generator seeded 0.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from pgmdbn.data import load_mnist

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import add_common_options, parse, publish, say  # noqa: E402

VARIANTS = {
    "converted": ("block_softmax", "sum", "map", 0.0),
    "converted_channel_bias": ("block_softmax", "sum", "channel", 0.0),
    "block_softmax_max": ("block_softmax", "max", "map", 0.0),
    "sigmoid_max": ("sigmoid", "max", "map", 0.0),
    "relu_max_map": ("relu", "max", "map", 0.0),
    "plain": ("relu", "max", "channel", 0.0),
    "log_partition": ("none", "log_partition", "channel", 0.0),
    "log_partition_bias_-3": ("none", "log_partition", "channel", -3.0),
}
FULL = {"filters": (16, 32), "epochs": 10, "lr": 3e-3, "train": None, "test": None}
SMALL = {**FULL, "filters": (4, 6), "epochs": 1, "train": 300, "test": 200}


def block_softmax(e: torch.Tensor, pool: int) -> torch.Tensor:
    """Probabilistic max-pooling's detection probabilities of a field (n, K, H, W)."""
    n, k, h, w = e.shape
    e6 = e.reshape(n, k, h // pool, pool, w // pool, pool)
    m = e6.amax((3, 5), keepdim=True).clamp_min(0)
    ex = (e6 - m).exp()
    return (ex / (ex.sum((3, 5), keepdim=True) + (-m).exp())).reshape(e.shape)


def block_log_partition(e: torch.Tensor, pool: int) -> torch.Tensor:
    """(n, K, H, W) -> (n, K, H / pool, W / pool): log(1 + Σ_block exp e)."""
    n, k, h, w = e.shape
    e6 = e.reshape(n, k, h // pool, pool, w // pool, pool)
    m = e6.amax((3, 5), keepdim=True).clamp_min(0)
    return (m + ((e6 - m).exp().sum((3, 5), keepdim=True) + (-m).exp()).log()).reshape(n, k, h // pool, w // pool)


class Net(nn.Module):
    def __init__(self, activation: str, pooling: str, bias: str, bias_init: float, filters=(16, 32)):
        super().__init__()
        self.activation, self.pooling = activation, pooling
        self.c1 = nn.utils.skip_init(nn.Conv2d, 1, filters[0], 5, bias=False)
        self.c2 = nn.utils.skip_init(nn.Conv2d, filters[0], filters[1], 5, bias=False)
        maps = [(filters[0], 24, 24), (filters[1], 8, 8)] if bias == "map" else [(k, 1, 1) for k in filters]
        self.b1, self.b2 = (nn.Parameter(torch.full(shape, float(bias_init))) for shape in maps)
        self.out = nn.utils.skip_init(nn.Linear, filters[1] * 16, 10)
        gen = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for conv in (self.c1, self.c2):
                w, receptive = conv.weight, conv.weight[0, 0].numel()
                bound = math.sqrt(6 / (w.shape[0] * receptive + w.shape[1] * receptive))
                w.copy_((torch.rand(w.shape, generator=gen) * 2 - 1) * bound)
            self.out.weight.copy_(torch.randn(self.out.weight.shape, generator=gen) * 0.01)
            self.out.bias.zero_()

    def layer(self, x, conv, bias):
        e = conv(x) + bias
        if self.pooling == "log_partition":
            return block_log_partition(e, 2)
        a = {"block_softmax": lambda: block_softmax(e, 2), "sigmoid": e.sigmoid, "relu": e.relu,
             "none": lambda: e}[self.activation]()
        return F.avg_pool2d(a, 2, divisor_override=1) if self.pooling == "sum" else F.max_pool2d(a, 2)

    def forward(self, x):
        h1 = self.layer(x.reshape(-1, 1, 28, 28), self.c1, self.b1)
        return self.out(self.layer(h1, self.c2, self.b2).flatten(1))


def errors(net, x, y) -> float:
    with torch.no_grad():
        guesses = torch.cat([net(x[i:i + 1000]).argmax(1) for i in range(0, len(x), 1000)])
    return (guesses != y).float().mean().item()


def run(name: str, cfg: dict, x, y, tx, ty) -> dict:
    activation, pooling, bias, bias_init = VARIANTS[name]
    net = Net(activation, pooling, bias, bias_init, cfg["filters"])
    decay = [p for n, p in net.named_parameters() if "weight" in n]
    rest = [p for n, p in net.named_parameters() if "weight" not in n]
    opt = torch.optim.Adam([{"params": decay, "weight_decay": 1e-5}, {"params": rest, "weight_decay": 0}],
                           lr=cfg["lr"], betas=(0.9, 0.999))
    gen = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for epoch in range(cfg["epochs"]):
        for group in opt.param_groups:
            group["lr"] = cfg["lr"] * 0.5 * (1 + math.cos(math.pi * epoch / cfg["epochs"]))
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), 100):
            rows = order[i:i + 100]
            loss = F.cross_entropy(net(x[rows]), y[rows])
            opt.zero_grad()
            loss.backward()
            opt.step()
    row = {"variant": name, "activation": activation, "pooling": pooling, "bias": bias, "bias_init": bias_init,
           "test_error": errors(net, tx, ty), "train_error": errors(net, x, y), "seconds": time.perf_counter() - start}
    say(f"{name}: test {100 * row['test_error']:.2f}%, train {100 * row['train_error']:.2f}%")
    return row


def print_table(report: dict, file) -> None:
    print(f"CDBN-shaped conv nets from random init ({report['threads']} threads{', --small' if report['small'] else ''})",
          file=file)
    print(f"  {'variant':<24} {'activation':<14} {'pooling':<14} {'bias':<8} {'test err':>9} {'train err':>10} "
          f"{'s':>6}", file=file)
    for r in report["rows"]:
        print(f"  {r['variant']:<24} {r['activation']:<14} {r['pooling']:<14} {r['bias']:<8} "
              f"{100 * r['test_error']:>8.2f}% {100 * r['train_error']:>9.2f}% {r['seconds']:>6.1f}", file=file)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_options(parser, out="out/cdbn", small="tiny nets on a few hundred images, one epoch (smoke test)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    args = parse(parser, argv)
    names = args.variants.split(",")
    if not set(names) <= set(VARIANTS):
        parser.error(f"unknown variants {sorted(set(names) - set(VARIANTS))}")
    cfg = SMALL if args.small else FULL
    x, y = load_mnist("train", limit=cfg["train"])
    tx, ty = load_mnist("test", limit=cfg["test"])
    rows = [run(name, cfg, x, y, tx, ty) for name in names]
    return publish({"small": args.small, "threads": torch.get_num_threads(), "config": cfg, "rows": rows},
                   print_table, args.json)


if __name__ == "__main__":
    sys.exit(main())
