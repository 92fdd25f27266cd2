#!/usr/bin/env python
"""Speed of pgmdbn's hot loops against the previous code path and the bare matrix products.

Rows, all in one process (see benchmarks/README.md):

1. one PCD-1 epoch, 784-500 Bernoulli RBM, 10k MNIST images, batch 100, lr 0.01: pgmdbn.fit,
   the previous code path (the old hot-loop functions, kept below, patched in), scikit-learn's
   BernoulliRBM, and the bare matrix products of the epoch (the four GEMMs of bench_rbm.py);
2. AIS, 100 chains × 14,500 temperatures on 784-500: pgmdbn's ais_log_z, the previous loop
   (kept below) and the two matrix products per temperature alone;
3. exact log Z of 784-20 and 784-24 (code path unchanged on this branch): against the bare
   products of the enumeration;
4. one DBM epoch (784-500-1000, method "dbm"): current and previous code path;
5. 1-vs-2-process PCD throughput when ``pgmdbn.distributed`` exists (skipped with a note otherwise).

Timings are the best of ``--repeats`` runs, interleaved (current, previous, baseline, …) so that
a shared machine's load hits every column alike.

Usage:  .venv/bin/python benchmarks/bench_scale.py [--small] [--repeats 3] [--threads N]
                                                   [--device cpu] [--json] [--out DIR]
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import os
import sys
import time
from pathlib import Path

import torch
from torch import Tensor
from torch.distributions import constraints

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_rbm import cpu_name  # noqa: E402
from common import add_common_options, parse, publish, say  # noqa: E402

import pgmdbn  # noqa: E402
from pgmdbn.data.mnist import load_mnist  # noqa: E402
from pgmdbn.errors import DataError, DataNotFound  # noqa: E402
from pgmdbn.limits import limits  # noqa: E402
from pgmdbn.estimators.ais import GeometricPath, ais_log_z, paper_schedule, summarise_log_weights  # noqa: E402
from pgmdbn.units.base import Units  # noqa: E402
from pgmdbn.units.bernoulli import Bernoulli  # noqa: E402

FULL = {"rows": 10000, "hidden": 500, "ais_chains": 100, "ais_temperatures": 14500, "logz_hidden": [20, 24],
        "dbm_sizes": [784, 500, 1000], "dbm_rows": 10000, "repeats": 3, "heavy_repeats": 1}
SMALL = {"rows": 500, "hidden": 50, "ais_chains": 10, "ais_temperatures": 200, "logz_hidden": [8, 10],
         "dbm_sizes": [784, 20, 20], "dbm_rows": 200, "repeats": 2, "heavy_repeats": 1}
BATCH, LR = 100, 0.01


# --- the previous code path (this branch's parent), kept verbatim where it was replaced ------------------------
def _previous_bernoulli_sample(self, eta, beta=1.0, generator=None, like=None):
    p = self.mean(eta, beta)
    u = torch.rand(p.shape, generator=generator, device=p.device, dtype=p.dtype)
    return torch.lt(u, p, out=u)  # written into the uniforms: one allocation per draw


def _previous_validate(self, x, *, exact=False):
    if not isinstance(x, Tensor):
        x = torch.as_tensor(x)
    if x.ndim != 2 or x.shape[-1] != self.size:
        raise DataError(
            f"layer {self.layer_name!r} expects data of shape (n, {self.size}), got {tuple(x.shape)}; "
            f"reshape or select the right columns")
    if x.shape[0] == 0:
        raise DataError(f"layer {self.layer_name!r}: the data set is empty")
    if x.is_floating_point():
        bad = ~torch.isfinite(x)
        if bad.any():
            row, col = (int(i) for i in bad.nonzero()[0])
            raise DataError(
                f"layer {self.layer_name!r}: non-finite value {x[row, col].item()} at row {row}, "
                f"column {col}; remove or impute missing values first")
    support = self.support if exact or self.data_support is None else self.data_support
    if support is not constraints.real:
        self._check_support(x, support, *self.domain_hint(support))
    return x


@contextlib.contextmanager
def previous_code_path():
    """Swap the replaced hot-loop functions for their previous versions while the block runs
    (the previous AIS step took every log-partition change as a float64 difference)."""
    saved = Bernoulli.sample, Units.validate, Bernoulli.log_partition_change
    Bernoulli.sample, Units.validate = _previous_bernoulli_sample, _previous_validate
    Bernoulli.log_partition_change = Units.log_partition_change
    try:
        yield
    finally:
        Bernoulli.sample, Units.validate, Bernoulli.log_partition_change = saved


@torch.no_grad()
def previous_ais_log_z(model, *, n_chains, betas, base_data, seed=0) -> dict:
    """The previous ais_log_z loop: fields, log_f_change, step, per temperature."""
    device = next(model.parameters()).device
    betas = betas.tolist()
    path = GeometricPath(model, base_data)
    gen = torch.Generator(device=device).manual_seed(seed)
    with previous_code_path():
        xs = path.sample_base(n_chains, gen)
        log_w = torch.zeros(n_chains, dtype=torch.float64, device=device)
        for prev, beta in zip(betas, betas[1:]):
            fields = path.fields(xs)
            log_w += path.log_f_change(xs, fields, beta, prev)
            xs = path.step(xs, fields, beta, gen)
    return summarise_log_weights(log_w.cpu(), path.log_z0())


# --- timing helpers ------------------------------------------------------------------------------------------
def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device):
    sync(device)
    start = time.perf_counter()
    value = fn()
    sync(device)
    return time.perf_counter() - start, value


def interleaved(columns: dict, repeats: int, device) -> dict:
    """Best-of-``repeats`` seconds of each callable, the columns run in turn in every round."""
    best, values = {k: math.inf for k in columns}, {}
    for _ in range(repeats):
        for name, fn in columns.items():
            seconds, values[name] = timed(fn, device)
            best[name] = min(best[name], seconds)
    return {"seconds": best, "values": values}


def gemm_loop(shapes, steps, device):
    """A callable running ``steps`` rounds of the given (m, k, n) float32 products into preallocated outputs."""
    g = torch.Generator().manual_seed(0)
    ops = []
    for m, k, n in shapes:
        a = torch.rand(m, k, generator=g).to(device)
        b = (0.01 * torch.randn(k, n, generator=g)).to(device)
        ops.append((a, b, torch.empty(m, n, device=device)))

    def run():
        for _ in range(steps):
            for a, b, out in ops:
                torch.mm(a, b, out=out)
    return run


# --- rows ------------------------------------------------------------------------------------------------------
def pcd_row(x, cfg, repeats, device):
    hidden = cfg["hidden"]
    kwargs = dict(method="pcd", k=1, epochs=1, batch_size=BATCH, lr=LR, momentum=0.0, progress=False,
                  monitor_size=0, init_from_data=False, device=device)
    xd = x.to(device)

    def current():
        pgmdbn.fit(pgmdbn.rbm(784, hidden, seed=0).to(device), xd, seed=0, **kwargs)

    def previous():
        with previous_code_path():
            pgmdbn.fit(pgmdbn.rbm(784, hidden, seed=0).to(device), xd, seed=0, **kwargs)

    steps = math.ceil(len(x) / BATCH)
    columns = {"pgmdbn": current, "previous": previous,
               "gemm": gemm_loop([(BATCH, 784, hidden), (BATCH, hidden, 784), (BATCH, 784, hidden),
                                  (784, 2 * BATCH, hidden)], steps, device)}
    try:
        from sklearn.neural_network import BernoulliRBM
        xn = x.cpu().numpy()

        def sklearn():
            BernoulliRBM(n_components=hidden, learning_rate=LR, batch_size=BATCH, n_iter=1, random_state=0).fit(xn)
        columns["sklearn"] = sklearn
    except ImportError:
        say("scikit-learn missing: no sklearn column")
    for fn in columns.values():  # untimed warm-up
        fn()
    out = interleaved(columns, repeats, device)["seconds"]
    out["what"] = f"PCD-1 epoch, 784-{hidden}, {len(x)} rows, batch {BATCH}"
    return out


def ais_row(x, cfg, repeats, device):
    hidden, chains, temps = cfg["hidden"], cfg["ais_chains"], cfg["ais_temperatures"]
    model = pgmdbn.rbm(784, hidden, seed=0, init_scale=0.05).to(device)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        model.layer("h").bias.copy_(0.1 * torch.randn(hidden, generator=g))
    betas = paper_schedule(temps)
    base = x[:2000]
    columns = {
        "pgmdbn": lambda: ais_log_z(model, n_chains=chains, betas=betas, base_data=base,
                                                          seed=0, progress=False)["log_z"],
        "previous": lambda: previous_ais_log_z(model, n_chains=chains, betas=betas, base_data=base)["log_z"],
        "gemm": gemm_loop([(chains, 784, hidden), (chains, hidden, 784)], temps, device),
    }
    res = interleaved(columns, repeats, device)
    out = res["seconds"]
    out["log_z"] = {"pgmdbn": res["values"]["pgmdbn"], "previous": res["values"]["previous"]}
    out["what"] = f"AIS {chains} chains x {temps:,} temperatures, 784-{hidden}"
    return out


def logz_row(hidden, repeats, device):
    model = pgmdbn.rbm(784, hidden, init_scale=0.1, seed=0).to(device)
    chunk = min(2 ** hidden, 2 ** 16)
    # the enumeration's products: every hidden state times Wᵀ, in chunks of 2^16 states (float64)
    g = torch.Generator().manual_seed(0)
    a = torch.rand(chunk, hidden, generator=g, dtype=torch.float64).to(device)
    b = torch.rand(hidden, 784, generator=g, dtype=torch.float64).to(device)
    out_buf = torch.empty(chunk, 784, dtype=torch.float64, device=device)

    def gemm():
        for _ in range(2 ** hidden // chunk):
            torch.mm(a, b, out=out_buf)
    columns = {"pgmdbn": lambda: pgmdbn.log_partition(model, method="exact", max_states=2.0 ** hidden,
                                                      progress=False).log_z, "gemm": gemm}
    with limits.override(max_exact_seconds=3600):
        res = interleaved(columns, repeats, device)
    out = res["seconds"]
    out["previous"] = None  # unchanged on this branch
    out["log_z"] = res["values"]["pgmdbn"]
    out["what"] = f"exact log Z, 784-{hidden} (float64)"
    return out


def dbm_row(x, cfg, repeats, device):
    sizes = cfg["dbm_sizes"]
    xd = x[:cfg["dbm_rows"]].to(device)
    kwargs = dict(method="dbm", epochs=1, batch_size=BATCH, lr=0.005, progress=False, monitor_size=0, device=device)

    def current():
        pgmdbn.fit(pgmdbn.dbm(sizes, seed=0).to(device), xd, seed=0, **kwargs)

    def previous():
        with previous_code_path():
            pgmdbn.fit(pgmdbn.dbm(sizes, seed=0).to(device), xd, seed=0, **kwargs)
    out = interleaved({"pgmdbn": current, "previous": previous}, repeats, device)["seconds"]
    out["what"] = f"DBM epoch, {'-'.join(map(str, sizes))}, {len(xd)} rows, batch {BATCH}"
    return out


def _dist_worker(rank, world, init_file, x, hidden, queue):
    import torch.distributed as dist
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        kwargs = dict(method="pcd", k=1, epochs=1, batch_size=BATCH, lr=LR, momentum=0.0, progress=False,
                      monitor_size=0, init_from_data=False)
        dist.barrier()
        start = time.perf_counter()
        pgmdbn.fit(pgmdbn.rbm(784, hidden, seed=0), x, seed=0, **kwargs)
        dist.barrier()
        if rank == 0:
            queue.put(time.perf_counter() - start)
    finally:
        dist.destroy_process_group()


def distributed_row(x, cfg):
    spec = importlib.util.find_spec("pgmdbn.distributed")
    # only this checkout's module counts (an editable install elsewhere may resolve the name)
    if spec is None or spec.origin is None or Path(spec.origin).parent != Path(pgmdbn.__file__).parent:
        return {"skipped": "pgmdbn.distributed is absent on this branch (it arrives with the data-parallel work)"}
    import tempfile

    import torch.multiprocessing as mp
    out = {}
    try:
        for world in (1, 2):
            ctx = mp.get_context("spawn")
            queue = ctx.Queue()
            with tempfile.TemporaryDirectory() as tmp:
                mp.start_processes(_dist_worker, args=(world, os.path.join(tmp, "init"), x, cfg["hidden"], queue),
                                   nprocs=world, start_method="spawn")
            out[f"{world}-process rows/s"] = len(x) / queue.get()
    except Exception as error:  # reported in the table, never fatal to the other rows
        out["skipped"] = f"{type(error).__name__}: {error}"
    return out


# --- report ------------------------------------------------------------------------------------------------------
def fmt(v):
    return f"{'—':>8}" if v is None else f"{v:8.3f}"


def print_table(report, file):
    print(f"\npgmdbn bench_scale ({'small' if report['small'] else 'full'}) on {report['env']['cpu']}, "
          f"{report['env']['threads']} threads, torch {report['env']['torch']}, device {report['env']['device']}",
          file=file)
    print(f"{'row':<52} {'pgmdbn s':>9} {'previous':>9} {'baseline':>9} {'prev/new':>9} {'base/new':>9}", file=file)
    for key in ("pcd", "ais", "logz_a", "logz_b", "dbm"):
        row = report["rows"].get(key)
        if row is None:
            continue
        new, prev = row["pgmdbn"], row.get("previous")
        base = row.get("sklearn", row.get("gemm"))
        base_name = "sklearn" if "sklearn" in row else ("GEMM" if "gemm" in row else "")
        print(f"{row['what']:<52} {fmt(new)} {fmt(prev)} {fmt(base)} "
              f"{fmt(prev / new if prev else None)} {fmt(base / new if base else None)}"
              f"{f'  ({base_name})' if base_name else ''}", file=file)
        if key == "pcd" and "gemm" in row:
            print(f"{'   GEMM share of the pgmdbn epoch':<52} {row['gemm'] / new:8.1%}", file=file)
        if key == "ais":
            print(f"{'   GEMM share of the pgmdbn AIS; log Z new / previous':<52} {row['gemm'] / new:8.1%}  "
                  f"{row['log_z']['pgmdbn']:.3f} / {row['log_z']['previous']:.3f}", file=file)
    dist_row = report["rows"].get("distributed", {})
    print(f"{'1-vs-2-process PCD throughput':<52} " +
          (dist_row["skipped"] if "skipped" in dist_row else
           ", ".join(f"{k}: {v:.0f}" for k, v in dist_row.items())), file=file)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_options(p, out="out/scale", small="tiny sizes (a smoke test of every row, seconds)")
    p.add_argument("--repeats", type=int, default=None, help="timed rounds (best of); default 3, 2 with --small")
    args = parse(p, argv)
    cfg = SMALL if args.small else FULL
    if args.threads:  # scikit-learn's BLAS gets the same number of threads as torch, for parity
        try:
            from threadpoolctl import threadpool_limits
            threadpool_limits(args.threads)
        except ImportError:
            say("threadpoolctl missing: scikit-learn's BLAS keeps its default threads")
    repeats = args.repeats or cfg["repeats"]
    heavy = min(repeats, cfg["heavy_repeats"]) if args.repeats is None else repeats
    device = torch.device(args.device)
    try:
        x, _ = load_mnist("train")
        x, source = x.to(torch.float32)[:cfg["rows"]].contiguous(), "MNIST train"
    except DataNotFound as err:
        say(f"MNIST not found ({err}); random binary data instead")
        x = (torch.rand(cfg["rows"], 784, generator=torch.Generator().manual_seed(0)) < 0.13).float()
        source = "random binary"
    env = {"cpu": cpu_name(), "threads": torch.get_num_threads(), "torch": torch.__version__, "device": str(device),
           "data": f"{source} {tuple(x.shape)}", "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None}
    report = {"small": args.small, "env": env, "repeats": repeats, "rows": {}}
    say("1. PCD-1 epoch")
    report["rows"]["pcd"] = pcd_row(x, cfg, repeats, device)
    say("2. AIS")
    report["rows"]["ais"] = ais_row(x, cfg, heavy, device)
    for key, hidden in zip(("logz_a", "logz_b"), cfg["logz_hidden"]):
        say(f"3. exact log Z 784-{hidden}")
        report["rows"][key] = logz_row(hidden, heavy, device)
    say("4. DBM epoch")
    report["rows"]["dbm"] = dbm_row(x, cfg, heavy, device)
    say("5. 1-vs-2-process throughput")
    report["rows"]["distributed"] = distributed_row(x, cfg)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "bench_scale.json").write_text(json.dumps(report, indent=1, default=str))
    return publish(report, print_table, args.json)


if __name__ == "__main__":
    sys.exit(main())
