#!/usr/bin/env python
"""Speed benchmark of pgmdbn's RBM training and exact log Z (a script, not a test).

Figures, all in one process (see benchmarks/README.md for what each one means):

1. one epoch of PCD-1 on a 784-500 Bernoulli RBM over the 10k MNIST training images
   (batch 100, lr 0.01, momentum 0): pgmdbn.fit versus scikit-learn's BernoulliRBM on the
   same float32 data; median of ``--repeats`` runs each, and the ratio sklearn / pgmdbn; the
   same fit with its gradient by autograd (the reference path) beside the closed form; and
   (1b) the two default calls a user writes, with monitors, progress and default threads;
2. the bare matrix-product bound: the four GEMMs a PCD-1 update needs at minimum, alone,
   over 100 batches of 100, and what fraction of each implementation's epoch that is;
3. wall time of the exact log partition function of a 784-20 Bernoulli RBM (float64).

Usage:  .venv/bin/python benchmarks/bench_rbm.py [--repeats 3] [--device cpu|cuda]
                                                 [--threads N] [--json]
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import statistics
import sys
import time

import numpy as np
import torch

import pgmdbn
from pgmdbn.data.mnist import load_mnist
from pgmdbn.errors import DataNotFound

N_VISIBLE, N_HIDDEN, BATCH, LR = 784, 500, 100, 0.01
LOGZ_HIDDEN = 20
GEMM_BATCHES = 100

# targets (benchmarks/README.md)
TARGET_SPEEDUP = 1.3        # sklearn_time / pgmdbn_time
TARGET_GEMM_FRACTION = 0.75  # bound_time / pgmdbn_time
TARGET_LOGZ_S = 3.0          # exact log Z of 784-20 on CPU


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3, help="timed runs per figure; the median is reported (>= 3)")
    p.add_argument("--device", default="cpu", help="device of the pgmdbn runs and the GEMM bound (cpu, cuda, cuda:1…)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch.set_num_threads(N); the BLAS scikit-learn uses is limited to N too, for parity "
                        "(default: leave both at their defaults)")
    p.add_argument("--json", action="store_true", help="print all figures as one JSON object on stdout "
                                                       "(the human-readable report goes to stderr)")
    args = p.parse_args(argv)
    if args.repeats < 3:
        p.error("--repeats must be at least 3 (the figures are medians)")
    return args


class Timer:
    """Wall time of a block, synchronising a CUDA device before and after."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"

    def __enter__(self):
        if self.cuda:
            torch.cuda.synchronize()
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if self.cuda:
            torch.cuda.synchronize()
        self.seconds = time.perf_counter() - self.start


def median(values):
    return statistics.median(values)


# --- 1. one epoch of PCD-1 ------------------------------------------------------------------
def fit_kwargs(device):
    kwargs = dict(method="pcd", k=1, epochs=1, batch_size=BATCH, lr=LR, momentum=0.0, progress=False,
                  device=device)
    if "init_from_data" in inspect.signature(pgmdbn.fit).parameters:
        kwargs["init_from_data"] = False
    # scikit-learn computes no per-epoch monitors, so neither does the timed pgmdbn run
    kwargs["monitor_size"] = 0
    return kwargs


def time_pgmdbn_epoch(x: torch.Tensor, device: torch.device, repeats: int, **options):
    """Seconds of pgmdbn.fit (only the call) for one epoch, per run; data and model already on the
    device; ``options`` go to fit (e.g. ``engine_options``)."""
    kwargs = {**fit_kwargs(device), **options}
    x = x.to(device)
    # untimed warm-up on 1000 rows: loads the BLAS kernels / cuBLAS handles, allocator pools
    pgmdbn.fit(pgmdbn.rbm(N_VISIBLE, N_HIDDEN, seed=1234).to(device), x[:1000], seed=1234, **kwargs)
    times = []
    for r in range(repeats):
        model = pgmdbn.rbm(N_VISIBLE, N_HIDDEN, seed=r).to(device)
        with Timer(device) as t:
            pgmdbn.fit(model, x, seed=r, **kwargs)
        times.append(t.seconds)
    return times


def time_sklearn_epoch(x: np.ndarray, repeats: int):
    """Seconds of BernoulliRBM.fit for one epoch, per run, and whether it kept float32."""
    from sklearn.neural_network import BernoulliRBM

    def make(seed):
        return BernoulliRBM(n_components=N_HIDDEN, learning_rate=LR, batch_size=BATCH, n_iter=1,
                            random_state=seed, verbose=0)

    make(1234).fit(x[:1000])  # untimed warm-up
    times, dtypes = [], set()
    for r in range(repeats):
        rbm = make(r)
        start = time.perf_counter()
        rbm.fit(x)
        times.append(time.perf_counter() - start)
        dtypes.update({rbm.components_.dtype, rbm.intercept_hidden_.dtype, rbm.intercept_visible_.dtype,
                       rbm.h_samples_.dtype})
    kept = dtypes == {np.dtype(np.float32)}
    return times, kept, sorted(str(d) for d in dtypes)


def time_default_calls(x: torch.Tensor, repeats: int):
    """Seconds per run of the calls a user writes, each with its defaults (per-epoch monitors,
    progress bar, momentum 0.5, the library's default threads): ``pgmdbn.fit(model, x,
    method="pcd", k=1, epochs=1, batch_size=100, lr=0.05)`` and ``BernoulliRBM(n_components=500,
    batch_size=100, n_iter=1).fit(x)``, interleaved."""
    from sklearn.neural_network import BernoulliRBM

    xn = x.numpy()
    pg, sk = [], []
    for r in range(repeats + 1):  # the first round warms both up
        model = pgmdbn.rbm(N_VISIBLE, N_HIDDEN, seed=r)
        start = time.perf_counter()
        pgmdbn.fit(model, x, method="pcd", k=1, epochs=1, batch_size=100, lr=0.05, seed=r)
        pg.append(time.perf_counter() - start)
        start = time.perf_counter()
        BernoulliRBM(n_components=N_HIDDEN, batch_size=100, n_iter=1, random_state=r).fit(xn)
        sk.append(time.perf_counter() - start)
    return pg[1:], sk[1:]


# --- 2. the GEMM bound -------------------------------------------------------------------------
def time_gemm_bound(device: torch.device, repeats: int, batches: int | None = None):
    """Seconds for ``batches`` PCD-1 updates' worth of matrix products alone (float32), per run.

    Per batch of 100: (100×784)@(784×500) positive hidden field, (100×500)@(500×784) negative
    visible field, (100×784)@(784×500) negative hidden field, and the weight gradient
    (784×200)@(200×500) with data and negative samples stacked. Inputs are preallocated and
    the products write into preallocated outputs (``out=``). The transposed operands are
    views, as autograd and the sampler use them (BLAS takes the transpose flag, no copy).
    """
    batches = GEMM_BATCHES if batches is None else batches
    g = torch.Generator().manual_seed(0)
    f32 = dict(dtype=torch.float32)
    w = (0.01 * torch.randn(N_VISIBLE, N_HIDDEN, generator=g, **f32)).to(device)
    v = torch.rand(2 * BATCH, N_VISIBLE, generator=g, **f32).to(device)      # data rows, then chain rows
    dh = torch.rand(2 * BATCH, N_HIDDEN, generator=g, **f32).to(device)      # d loss / d hidden field
    h_chain = torch.rand(BATCH, N_HIDDEN, generator=g, **f32).to(device).round()
    eta_pos = torch.empty(BATCH, N_HIDDEN, device=device, **f32)
    eta_vis = torch.empty(BATCH, N_VISIBLE, device=device, **f32)
    eta_neg = torch.empty(BATCH, N_HIDDEN, device=device, **f32)
    grad_w = torch.empty(N_VISIBLE, N_HIDDEN, device=device, **f32)
    v_data, v_chain, wt, vt = v[:BATCH], v[BATCH:], w.T, v.T

    def run(n):
        for _ in range(n):
            torch.mm(v_data, w, out=eta_pos)
            torch.mm(h_chain, wt, out=eta_vis)
            torch.mm(v_chain, w, out=eta_neg)
            torch.mm(vt, dh, out=grad_w)

    run(10)  # warm-up
    times = []
    for _ in range(repeats):
        with Timer(device) as t:
            run(batches)
        times.append(t.seconds)
    flops = batches * 2 * (3 * BATCH * N_VISIBLE * N_HIDDEN + N_VISIBLE * 2 * BATCH * N_HIDDEN)
    return times, flops


# --- 3. exact log Z ----------------------------------------------------------------------------
def logz_model(device: torch.device):
    """784-20 Bernoulli RBM: weights N(0, 0.1²) (seed 0), visible and hidden biases N(0, 0.1²) (seed 1)."""
    model = pgmdbn.rbm(N_VISIBLE, LOGZ_HIDDEN, init_scale=0.1, seed=0)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        model.layer("v").bias.copy_(0.1 * torch.randn(N_VISIBLE, generator=g))
        model.layer("h").bias.copy_(0.1 * torch.randn(LOGZ_HIDDEN, generator=g))
    return model.to(device)


def time_exact_logz(device: torch.device, repeats: int):
    model = logz_model(device)
    times, values = [], []
    for _ in range(repeats):
        with Timer(device) as t:
            result = pgmdbn.log_partition(model, method="exact", progress=False)
        times.append(t.seconds)
        values.append(result.log_z)
    return times, values


# --- report ------------------------------------------------------------------------------------
def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_info():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return [{"library": i.get("internal_api"), "threads": i.get("num_threads"), "version": i.get("version")}
            for i in threadpool_info() if i.get("user_api") == "blas"]


def main(argv=None) -> int:
    args = parse_args(argv)
    out = sys.stderr if args.json else sys.stdout

    def say(*parts):
        print(*parts, file=out, flush=True)

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        say(f"--device {args.device}: CUDA is not available in this torch build ({torch.__version__}); use --device cpu")
        return 2
    try:  # imported before any thread limit, so that the BLAS scipy loads is limited too
        import sklearn
        import sklearn.neural_network  # noqa: F401
        sklearn_version = sklearn.__version__
    except ImportError:
        sklearn_version = None
    blas_limit = None
    if args.threads is not None:
        torch.set_num_threads(args.threads)
        try:
            from threadpoolctl import threadpool_limits
            blas_limit = threadpool_limits(limits=args.threads, user_api="blas")
        except ImportError:
            pass

    env = {
        "python": platform.python_version(), "torch": torch.__version__, "sklearn": sklearn_version,
        "numpy": np.__version__, "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name(),
        "torch_threads": torch.get_num_threads(), "torch_interop_threads": torch.get_num_interop_threads(),
        "numpy_blas": blas_info(), "repeats": args.repeats, "cpu_count": os.cpu_count(),
        "load_average_1min_start": os.getloadavg()[0],
    }
    say(f"pgmdbn RBM benchmark  python {env['python']}  torch {env['torch']}  scikit-learn {sklearn_version}  "
        f"numpy {env['numpy']}")
    say(f"device {device} ({env['device_name']}); torch threads {env['torch_threads']} "
        f"(interop {env['torch_interop_threads']}); numpy BLAS "
        + (", ".join(f"{b['library']} {b['version']} threads {b['threads']}" for b in env["numpy_blas"]) or "unknown")
        + f"; median of {args.repeats} runs")
    if env["load_average_1min_start"] + env["torch_threads"] > (os.cpu_count() or 1) + 0.5:
        say(f"warning: the 1-minute load average is {env['load_average_1min_start']:.2f} on {os.cpu_count()} cores "
            f"and torch uses {env['torch_threads']} threads: other processes compete for the CPU, so the timings "
            f"will be noisy (and much slower with several threads); rerun on a quiet machine")

    figures: dict = {"env": env}

    # data
    x = None
    try:
        x, _ = load_mnist("train")
        x = x.to(torch.float32).contiguous()
        say(f"data: MNIST train {tuple(x.shape)} {x.dtype}, range [{x.min().item():.0f}, {x.max().item():.0f}]")
    except DataNotFound as err:
        say(f"SKIPPED the PCD-1 epoch figures (1): MNIST not found ({err})")
        figures["skipped"] = f"MNIST not found: {err}"

    # 1. PCD-1 epoch
    pg_t = sk_t = None
    if x is not None:
        say("\n1. one epoch of PCD-1, 784-500 Bernoulli RBM, batch 100, lr 0.01, momentum 0, "
            f"{len(x)} images (float32)")
        times = time_pgmdbn_epoch(x, device, args.repeats)
        pg_t = median(times)
        init = fit_kwargs(device).get("init_from_data")
        say(f"   pgmdbn.fit (init_from_data={init}) on {device}: {pg_t:.3f} s/epoch   "
            f"runs {', '.join(f'{t:.3f}' for t in times)}")
        figures["pgmdbn_epoch_s"], figures["pgmdbn_epoch_runs_s"] = pg_t, times
        if sklearn_version is None:
            say("   scikit-learn is not installed (pip install -e '.[bench]'): its figures are skipped")
        else:
            times, kept, dtypes = time_sklearn_epoch(x.numpy(), args.repeats)
            sk_t = median(times)
            say(f"   sklearn BernoulliRBM.fit on cpu: {sk_t:.3f} s/epoch   runs {', '.join(f'{t:.3f}' for t in times)}")
            say(f"   sklearn kept float32: {'yes' if kept else 'NO'} (parameter dtypes after fit: {', '.join(dtypes)})")
            ratio = sk_t / pg_t
            say(f"   ratio sklearn_time / pgmdbn_time = {ratio:.3f}   (target >= {TARGET_SPEEDUP})")
            figures.update(sklearn_epoch_s=sk_t, sklearn_epoch_runs_s=times, sklearn_kept_float32=kept,
                           sklearn_param_dtypes=dtypes, speedup_vs_sklearn=ratio)
        times = time_pgmdbn_epoch(x, device, args.repeats, engine_options={"gradient": "autograd"})
        say(f"   pgmdbn.fit with the gradient by autograd (the reference path): {median(times):.3f} s/epoch; the "
            f"closed form is {median(times) / pg_t:.3f}x faster")
        figures.update(pgmdbn_autograd_epoch_s=median(times), closed_form_speedup=median(times) / pg_t)
        if sklearn_version is not None and device.type == "cpu":
            say("\n1b. the default calls: pgmdbn.fit(model, x, method='pcd', k=1, epochs=1, batch_size=100, lr=0.05) "
                "against BernoulliRBM(n_components=500, batch_size=100, n_iter=1).fit(x), monitors and threads as "
                "they come")
            pg, sk = time_default_calls(x, args.repeats)
            say(f"   pgmdbn {median(pg):.3f} s, scikit-learn {median(sk):.3f} s: ratio {median(sk) / median(pg):.3f} "
                f"(target >= {TARGET_SPEEDUP})")
            figures.update(default_pgmdbn_s=median(pg), default_sklearn_s=median(sk),
                           default_speedup=median(sk) / median(pg))

    # 2. GEMM bound
    say(f"\n2. GEMM bound: 4 float32 products per PCD-1 batch, {GEMM_BATCHES} batches, on {device}")
    times, flops = time_gemm_bound(device, max(args.repeats, 5), GEMM_BATCHES)
    bound = median(times)
    say(f"   bound: {bound:.3f} s per {GEMM_BATCHES} batches ({1e3 * bound / GEMM_BATCHES:.3f} ms/batch, "
        f"{flops / bound / 1e9:.1f} GFLOP/s)   runs {', '.join(f'{t:.3f}' for t in times)}")
    figures.update(gemm_bound_s=bound, gemm_bound_runs_s=times, gemm_bound_gflops=flops / bound / 1e9)
    if pg_t is not None:
        frac = bound / pg_t
        say(f"   bound_time / pgmdbn_time  = {frac:.3f}   (target >= {TARGET_GEMM_FRACTION})")
        figures["gemm_fraction_pgmdbn"] = frac
    if sk_t is not None:
        frac = bound / sk_t
        if device.type != "cpu":
            say(f"   bound_time / sklearn_time = {frac:.3f}   (bound on {device}, sklearn on cpu: not comparable)")
        else:
            say(f"   bound_time / sklearn_time = {frac:.3f}")
        figures["gemm_fraction_sklearn"] = frac

    # 3. exact log Z
    say(f"\n3. exact log Z of a 784-{LOGZ_HIDDEN} Bernoulli RBM (2^{LOGZ_HIDDEN} hidden states, float64) on {device}")
    times, values = time_exact_logz(device, args.repeats)
    logz_t = median(times)
    target = f"(target < {TARGET_LOGZ_S} s on CPU)"
    say(f"   log Z = {values[0]:.10f}   wall {logz_t:.3f} s   runs {', '.join(f'{t:.3f}' for t in times)}   {target}")
    if len({round(v, 9) for v in values}) > 1:
        say(f"   warning: log Z differs between runs: {values}")
    figures.update(exact_logz_s=logz_t, exact_logz_runs_s=times, exact_logz=values[0])

    # summary
    figures["env"]["load_average_1min_end"] = os.getloadavg()[0]
    figures["targets"] = {
        "speedup_vs_sklearn": {"target": TARGET_SPEEDUP, "value": figures.get("speedup_vs_sklearn"),
                               "met": None if "speedup_vs_sklearn" not in figures
                               else figures["speedup_vs_sklearn"] >= TARGET_SPEEDUP},
        "gemm_fraction_pgmdbn": {"target": TARGET_GEMM_FRACTION, "value": figures.get("gemm_fraction_pgmdbn"),
                                 "met": None if "gemm_fraction_pgmdbn" not in figures
                                 else figures["gemm_fraction_pgmdbn"] >= TARGET_GEMM_FRACTION},
        "exact_logz_s": {"target": TARGET_LOGZ_S, "value": logz_t,
                         "met": logz_t < TARGET_LOGZ_S if device.type == "cpu" else None},
    }
    say("\ntargets: " + "; ".join(
        f"{name} {'met' if t['met'] else 'not met' if t['met'] is False else 'n/a'}"
        for name, t in figures["targets"].items()))
    if blas_limit is not None:
        blas_limit.restore_original_limits()
    if args.json:
        print(json.dumps(figures, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
