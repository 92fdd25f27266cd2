#!/usr/bin/env python
"""Speed of pgmdbn's hot loops: the compiled path (``compile=True``) against the previous,
uncompiled one (the default, ``compile=False``) and against scikit-learn or the bare matrix products.

Rows, all in one process (see benchmarks/README.md):

1. one PCD-1 epoch, 784-500 Bernoulli RBM, 10k MNIST images, batch 100, lr 0.01: pgmdbn.fit
   uncompiled and compiled, scikit-learn's BernoulliRBM, and the bare matrix products of the
   epoch (the four GEMMs of bench_rbm.py);
2. AIS, 100 chains × 14,500 temperatures on 784-500: ais_log_z uncompiled and compiled, and the
   two matrix products per temperature alone;
3. exact log Z of 784-20 and 784-24 (large batched products: no compiled path): against the bare
   products of the enumeration;
4. one DBM epoch (784-500-1000, method "dbm"): uncompiled and compiled;
5. 1-vs-2-process throughput of a PCD epoch, a DBM epoch and exact log Z 784-20 under torch.distributed
   (and the DBM epoch on 1 process with 2 threads), with the all-reduce time of each epoch.

Timings are the best of ``--repeats`` runs, interleaved (uncompiled, compiled, baseline, …) so
that a shared machine's load hits every column alike; each compiled column is warmed up (compiled)
once before the timed rounds, and the compile time is reported beside it.

Usage:  .venv/bin/python benchmarks/bench_scale.py [--small] [--repeats 3] [--threads N]
                                                   [--device cpu] [--json] [--out DIR]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_rbm import cpu_name  # noqa: E402
from common import add_common_options, parse, publish, say  # noqa: E402

import pgmdbn  # noqa: E402
from pgmdbn.data.mnist import load_mnist  # noqa: E402
from pgmdbn.errors import DataNotFound  # noqa: E402
from pgmdbn.estimators.ais import ais_log_z, paper_schedule  # noqa: E402

FULL = {"rows": 10000, "hidden": 500, "ais_chains": 100, "ais_temperatures": 14500, "logz_hidden": [20, 24],
        "dbm_sizes": [784, 500, 1000], "dbm_rows": 10000, "repeats": 3, "heavy_repeats": 1, "two_threads": True}
SMALL = {"rows": 500, "hidden": 50, "ais_chains": 10, "ais_temperatures": 200, "logz_hidden": [8, 10],
         "dbm_sizes": [784, 20, 20], "dbm_rows": 200, "repeats": 2, "heavy_repeats": 1, "two_threads": False}
BATCH, LR = 100, 0.01


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
    """Best-of-``repeats`` seconds of each callable, the columns run in turn in every round, after
    one untimed warm-up run of the compiled column (which compiles it: its seconds are "warm-up")."""
    best, values = {k: math.inf for k in columns}, {}
    warm = {name: timed(fn, device)[0] for name, fn in columns.items() if name == "compiled"}
    for _ in range(repeats):
        for name, fn in columns.items():
            seconds, values[name] = timed(fn, device)
            best[name] = min(best[name], seconds)
    return {"seconds": best, "values": values, "warm-up": warm}


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
def pcd_row(x, cfg, repeats, device, compile=True):
    """The PCD-1 epoch's columns; ``compile=False`` leaves the compiled column out (gpu_suite.py --small)."""
    hidden = cfg["hidden"]
    kwargs = dict(method="pcd", k=1, epochs=1, batch_size=BATCH, lr=LR, momentum=0.0, progress=False,
                  monitor_size=0, init_from_data=False, device=device)
    xd = x.to(device)

    def fit(compile):
        return lambda: pgmdbn.fit(pgmdbn.rbm(784, hidden, seed=0).to(device), xd, seed=0, compile=compile, **kwargs)

    steps = math.ceil(len(x) / BATCH)
    columns = {"eager": fit(False), **({"compiled": fit(True)} if compile else {}),
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
    res = interleaved(columns, repeats, device)
    out = res["seconds"]
    if compile:
        out["compile_seconds"] = res["warm-up"]["compiled"] - out["compiled"]
    out["what"] = f"PCD-1 epoch, 784-{hidden}, {len(x)} rows, batch {BATCH}"
    return out


def ais_row(x, cfg, repeats, device, compile=True):
    """AIS's columns; ``compile=False`` leaves the compiled column out (gpu_suite.py --small)."""
    hidden, chains, temps = cfg["hidden"], cfg["ais_chains"], cfg["ais_temperatures"]
    model = pgmdbn.rbm(784, hidden, seed=0, init_scale=0.05).to(device)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        model.layer("h").bias.copy_(0.1 * torch.randn(hidden, generator=g))
    betas = paper_schedule(temps)
    base = x[:2000]

    def ais(compile):
        return lambda: ais_log_z(model, n_chains=chains, betas=betas, base_data=base, seed=0, progress=False,
                                 compile=compile)["log_z"]
    columns = {"eager": ais(False), **({"compiled": ais(True)} if compile else {}),
               "gemm": gemm_loop([(chains, 784, hidden), (chains, hidden, 784)], temps, device)}
    res = interleaved(columns, repeats, device)
    out = res["seconds"]
    if compile:
        out["compile_seconds"] = res["warm-up"]["compiled"] - out["compiled"]
    out["log_z"] = {name: res["values"][name] for name in ("eager", "compiled") if name in res["values"]}
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
    columns = {"eager": lambda: pgmdbn.log_partition(model, method="exact", max_states=2.0 ** hidden,
                                                     progress=False).log_z, "gemm": gemm}
    res = interleaved(columns, repeats, device)  # max_states= accepts the enumeration
    out = res["seconds"]
    out["log_z"] = res["values"]["eager"]
    out["what"] = f"exact log Z, 784-{hidden} (float64)"
    return out


def dbm_row(x, cfg, repeats, device, compile=True):
    """The DBM epoch's columns; ``compile=False`` leaves the compiled column out (gpu_suite.py --small)."""
    sizes = cfg["dbm_sizes"]
    xd = x[:cfg["dbm_rows"]].to(device)
    kwargs = dict(method="dbm", epochs=1, batch_size=BATCH, lr=0.005, progress=False, monitor_size=0, device=device)

    def fit(compile):
        return lambda: pgmdbn.fit(pgmdbn.dbm(sizes, seed=0).to(device), xd, seed=0, compile=compile, **kwargs)
    res = interleaved({"eager": fit(False), **({"compiled": fit(True)} if compile else {})}, repeats, device)
    out = res["seconds"]
    if compile:
        out["compile_seconds"] = res["warm-up"]["compiled"] - out["compiled"]
    out["what"] = f"DBM epoch, {'-'.join(map(str, sizes))}, {len(xd)} rows, batch {BATCH}"
    return out


def _all_reduce_seconds(dist, model, updates: int) -> float:
    """Seconds of ``updates`` all-reduces of ``model``'s gradients alone (the loop's one flat one)."""
    grads = torch.zeros(sum(p.numel() for p in model.parameters()) + 2)
    start = time.perf_counter()
    for _ in range(updates):
        dist.all_reduce(grads)
    return time.perf_counter() - start


def _dist_worker(rank, world, init_file, x, hidden, logz_hidden, dbm, queue, threads=1):
    import torch.distributed as dist
    torch.set_num_threads(threads)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        kwargs = dict(method="pcd", k=1, epochs=1, batch_size=BATCH, lr=LR, momentum=0.0, progress=False,
                      monitor_size=0, init_from_data=False)
        seconds = {}
        dist.barrier()
        start = time.perf_counter()
        model = pgmdbn.rbm(784, hidden, seed=0)
        pgmdbn.fit(model, x, seed=0, **kwargs)
        dist.barrier()
        seconds["pcd"] = time.perf_counter() - start
        seconds["all_reduce"] = _all_reduce_seconds(dist, model, math.ceil(len(x) / BATCH))
        sizes, rows = dbm
        model = pgmdbn.dbm(sizes, seed=0)
        dist.barrier()
        start = time.perf_counter()
        pgmdbn.fit(model, x[:rows], seed=0, **{**kwargs, "method": "dbm", "lr": 0.005})
        dist.barrier()
        seconds["dbm"] = time.perf_counter() - start
        seconds["dbm_all_reduce"] = _all_reduce_seconds(dist, model, math.ceil(rows / BATCH))
        model = pgmdbn.rbm(784, logz_hidden, init_scale=0.1, seed=0)
        start = time.perf_counter()
        log_z = pgmdbn.log_partition(model, method="exact", max_states=2.0 ** logz_hidden, progress=False).log_z
        dist.barrier()
        seconds["exact"] = time.perf_counter() - start
        if rank == 0:
            queue.put((seconds, log_z))
    finally:
        dist.destroy_process_group()


def distributed_row(x, cfg):
    """Seconds of one PCD epoch (rows/s), one DBM epoch and exact log Z 784-<first logz size> on
    1 and 2 processes under torch.distributed (gloo, one thread each, as ``torchrun
    --nproc_per_node=2`` starts them), and at full size on 1 process with 2 threads ("1x2"); with
    each, the seconds the epoch's all-reduces of the gradients take alone. Never fatal to the
    other rows."""
    import tempfile

    import torch.multiprocessing as mp
    out = {"pcd": {}, "exact": {}, "log_z": {}}
    dbm = (cfg["dbm_sizes"], cfg["dbm_rows"])
    try:
        for world, threads in ((1, 1), (2, 1), (1, 2))[:3 if cfg["two_threads"] else 2]:
            key = str(world) if threads == 1 else f"{world}x{threads}"
            ctx = mp.get_context("spawn")
            queue = ctx.Queue()
            with tempfile.TemporaryDirectory() as tmp:
                mp.start_processes(_dist_worker, args=(world, os.path.join(tmp, "init"), x, cfg["hidden"],
                                                       cfg["logz_hidden"][0], dbm, queue, threads), nprocs=world,
                                   start_method="spawn")
            seconds, log_z = queue.get()
            out["pcd"][key] = len(x) / seconds["pcd"]
            for name in ("all_reduce", "dbm", "dbm_all_reduce"):
                out.setdefault(f"{name}_s", {})[key] = seconds[name]
            out.setdefault("pcd_s", {})[key] = seconds["pcd"]
            out["exact"][key] = seconds["exact"]
            out["log_z"][key] = log_z
    except Exception as error:  # reported in the table, never fatal to the other rows
        out = {"skipped": f"{type(error).__name__}: {error}"}
    return out


# --- report ------------------------------------------------------------------------------------------------------
def fmt(v):
    return f"{'—':>8}" if v is None else f"{v:8.3f}"


def print_table(report, file):
    print(f"\npgmdbn bench_scale ({'small' if report['small'] else 'full'}) on {report['env']['cpu']}, "
          f"{report['env']['threads']} threads, torch {report['env']['torch']}, device {report['env']['device']}",
          file=file)
    print(f"{'row':<50} {'eager s':>8} {'compiled':>8} {'compile':>8} {'baseline':>8} {'eag/comp':>8} "
          f"{'base/best':>9}", file=file)
    for key in ("pcd", "ais", "logz_a", "logz_b", "dbm"):
        row = report["rows"].get(key)
        if row is None:
            continue
        eager, graph = row["eager"], row.get("compiled")
        best = min(eager, graph) if graph else eager
        base = row.get("sklearn", row.get("gemm"))
        base_name = "sklearn" if "sklearn" in row else ("GEMM" if "gemm" in row else "")
        print(f"{row['what']:<50} {fmt(eager)} {fmt(graph)} {fmt(row.get('compile_seconds'))} {fmt(base)} "
              f"{fmt(eager / graph if graph else None)} {fmt(base / best if base else None)} "
              f"{f' ({base_name})' if base_name else ''}", file=file)
        if key == "pcd" and "gemm" in row:
            print(f"{'   GEMM share of the fastest pgmdbn epoch':<50} {row['gemm'] / best:8.1%}", file=file)
        if key == "ais":
            print(f"{'   GEMM share of the fastest AIS; log Z eager/compiled':<50} {row['gemm'] / best:8.1%}  "
                  f"{row['log_z']['eager']:.3f} / {row['log_z']['compiled']:.3f}", file=file)
    dist_row = report["rows"].get("distributed", {})
    if "skipped" in dist_row:
        print(f"{'1-vs-2-process (torch.distributed, gloo)':<50} {dist_row['skipped']}", file=file)
        return
    pcd, exact = dist_row["pcd"], dist_row["exact"]
    print(f"{'1-vs-2-process PCD epoch rows/s':<50} {pcd['1']:8.0f} {pcd['2']:8.0f}  ×{pcd['2'] / pcd['1']:.2f}"
          f"  (the epoch's gradient all-reduces alone: {dist_row['all_reduce_s']['2']:.3f} s of "
          f"{dist_row['pcd_s']['2']:.3f} s)", file=file)
    print(f"{'1-vs-2-process exact log Z s (log Z 1 / 2 proc)':<50} {exact['1']:8.3f} {exact['2']:8.3f}  "
          f"×{exact['1'] / exact['2']:.2f}  ({dist_row['log_z']['1']:.6f} / {dist_row['log_z']['2']:.6f})", file=file)
    dbm, reduce = dist_row["dbm_s"], dist_row["dbm_all_reduce_s"]
    threads = (f"; 1 process with 2 threads: {dbm['1x2']:.3f} s, ×{dbm['1x2'] / dbm['2']:.2f}" if "1x2" in dbm
               else "")
    print(f"{'1-vs-2-process DBM epoch s':<50} {dbm['1']:8.3f} {dbm['2']:8.3f}  ×{dbm['1'] / dbm['2']:.2f}  (the "
          f"epoch's gradient all-reduces alone: {reduce['2']:.3f} s{threads})", file=file)


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
