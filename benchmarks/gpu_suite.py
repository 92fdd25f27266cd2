#!/usr/bin/env python
"""The GPU rows of the hot-loop table in one run (issue 22, point 5), then the DBM and CDBN
recipes as far as a time budget allows.

Hot-loop rows (each uncompiled, ``compile=False``, and compiled, ``compile=True``: CUDA graphs on
a GPU), timed by bench_scale.py's own row functions and its interleaved best-of timing:

  pcd     one PCD-1 epoch, 784-500 Bernoulli RBM, 10k MNIST images, batch 100 (bench_scale.pcd_row)
  crbm    one CD-1 epoch of a CRBM with 16 filters of 5×5, pool 2, on the same images, and the share
          of the epoch that the bare convolutions take (cdbn.speed_row)
  dbm     one DBM epoch, 784-500-1000, method "dbm" (bench_scale.dbm_row)
  ais     AIS, 100 chains × 14,500 temperatures on a 784-500 RBM (bench_scale.ais_row)

Recipes, each started only when its estimate (from the rows just measured) fits in what is left of
``--budget-seconds``; otherwise skipped with the estimate stated:

  dbm_recipe   dbm_vs_rbm.py's full recipe for one candidate (dense factor, binarised images:
               greedy pretraining, 20 joint epochs, the test bound with log Z by 2 AIS runs)
  cdbn_recipe  cdbn.py's MNIST part (pretrained CDBN, features, fine-tuning, random-init net)

MNIST here is the 10k training images the project has (the papers use 60k): "paper scale" means
the papers' network sizes and AIS schedule, on the data we have.

    python benchmarks/gpu_suite.py --device cuda --json --out out/gpu      # when a GPU is lent (< 8 min)
    python benchmarks/gpu_suite.py --small --device cpu                    # smoke test (the test runs this)
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
import bench_scale  # noqa: E402
import cdbn as cdbn_bench  # noqa: E402
import dbm_vs_rbm  # noqa: E402
from bench_rbm import cpu_name  # noqa: E402
from common import START, add_common_options, parse, publish, say  # noqa: E402

import pgmdbn  # noqa: E402
from pgmdbn.data.mnist import load_mnist  # noqa: E402
from pgmdbn.errors import DataNotFound  # noqa: E402

# "estimate" is a row's guessed wall time on one GPU (compile included), used only to decide
# whether to start it; the recipes' estimates are computed from the rows measured before them.
FULL = {**bench_scale.FULL, "crbm": {"rows": 10000, "filters": 16, "kernel": 5},
        "repeats": 3, "heavy_repeats": 1, "budget": 470,
        "estimate": {"pcd": 60, "crbm": 60, "dbm": 60, "ais": 120},
        "dbm_recipe": dbm_vs_rbm.FULL, "cdbn_recipe": cdbn_bench.FULL["mnist"]}
SMALL = {**bench_scale.SMALL, "rows": 200, "hidden": 20, "ais_chains": 10, "ais_temperatures": 50,
         # 784-50-50: a compiled DBM epoch at 784-20-20 aborted the process on the CPU (heap corruption, torch 2.13)
         "dbm_sizes": [784, 50, 50], "dbm_rows": 200, "crbm": {"rows": 200, "filters": 16, "kernel": 5},
         "repeats": 2, "heavy_repeats": 1, "budget": 120,
         "estimate": {"pcd": 5, "crbm": 5, "dbm": 5, "ais": 5},
         "dbm_recipe": dbm_vs_rbm.SMALL, "cdbn_recipe": cdbn_bench.SMALL["mnist"]}
HOT_ROWS = ("pcd", "crbm", "dbm", "ais")
NO_COMPILE_SMALL = ("--small compiles nothing unless --compile is given: inductor takes 20-70 s per row to "
                    "compile on a CPU, longer than the whole smoke run")


def crbm_row(x, cfg, repeats, device, compile=True):
    """One CD-1 epoch of a CRBM (``cfg["crbm"]``'s filters and kernel, pool 2, batch 100),
    uncompiled and compiled, timed like bench_scale's rows; then cdbn.speed_row's split of an
    uncompiled epoch into the bare convolutions and the rest."""
    c = cfg["crbm"]
    xd = x[:c["rows"]].to(device)

    def fit(compiled):
        def run():
            model = pgmdbn.cdbn((1, 28, 28), filters=[c["filters"]], kernels=[c["kernel"]], pools=[2], seed=0)
            pgmdbn.fit(model.to(device), xd, epochs=1, batch_size=bench_scale.BATCH, lr=0.01, monitor_size=0,
                       progress=False, seed=0, device=device, compile=compiled)
        return run
    res = bench_scale.interleaved({"eager": fit(False), **({"compiled": fit(True)} if compile else {})}, repeats,
                                  device)
    out = res["seconds"]
    if compile:
        out["compile_seconds"] = res["warm-up"]["compiled"] - out["compiled"]
    split = cdbn_bench.speed_row(xd, c["filters"], c["kernel"], bench_scale.BATCH, str(device))
    out["conv"], out["conv_share"] = split["bare_s"], split["fraction"]
    out["what"] = f"CRBM CD-1 epoch, {c['filters']} filters {c['kernel']}x{c['kernel']}, pool 2, {len(xd)} rows"
    return out


def run_hot_row(name, x, cfg, device, compile):
    """One hot-loop row; a failure of the compiled path is retried uncompiled and its reason kept."""
    repeats = cfg["heavy_repeats"] if name in ("ais", "dbm") else cfg["repeats"]
    row_fn = {"pcd": bench_scale.pcd_row, "ais": bench_scale.ais_row, "dbm": bench_scale.dbm_row,
              "crbm": crbm_row}[name]
    if not compile:
        return {**row_fn(x, cfg, repeats, device, compile=False), "compiled_skipped": NO_COMPILE_SMALL}
    try:
        return row_fn(x, cfg, repeats, device, compile=True)
    except Exception as error:  # reported in the table and the JSON; the eager figure is still measured
        reason = f"compiled path failed: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        say(f"{name}: {reason}; timing the uncompiled path alone")
        return {**row_fn(x, cfg, repeats, device, compile=False), "compiled_skipped": reason}


def best(row):
    """The faster of a row's eager and compiled seconds."""
    return min(v for v in (row.get("eager"), row.get("compiled")) if v is not None)


def dbm_recipe_estimate(rows, cfg):
    """Seconds of dbm_vs_rbm's recipe from the measured rows: greedy epochs at 1.5 PCD epochs
    each (the 500-1000 RBM is twice the 784-500's products), joint epochs at 2 DBM epochs each
    (k=5 chains' sweeps), AIS on the DBM at 3 RBM-AIS runs per 100 chains × 14,500 temperatures."""
    if any(k not in rows or "skipped" in rows[k] for k in ("pcd", "dbm", "ais")):
        return None
    r = cfg["dbm_recipe"]
    ais_units = (r["select_chains"] * r["select_temperatures"] + 2 * r["chains"] * r["temperatures"]) / (
        cfg["ais_chains"] * cfg["ais_temperatures"])
    return (1.5 * sum(r["greedy"]["epochs"]) * best(rows["pcd"]) + 2 * r["joint"]["epochs"] * best(rows["dbm"])
            + 3 * ais_units * best(rows["ais"]))


def cdbn_recipe_estimate(rows, cfg):
    """Seconds of cdbn.py's MNIST part from the measured rows: each pretraining epoch at 3 CRBM
    epochs (the second layer's 32 filters see 16 maps), 3 × fine-tuning epochs at 1 CRBM epoch
    (the pretrained net, the same net from random init, the plain conv net),
    the dense DBN at 2 PCD epochs per epoch, plus 120 s for three scikit-learn LogisticRegressions."""
    if any(k not in rows or "skipped" in rows[k] for k in ("pcd", "crbm")):
        return None
    r = cfg["cdbn_recipe"]
    scale = (r["train"] or 10000) / cfg["crbm"]["rows"]
    return (scale * best(rows["crbm"]) * (3 * sum(r["epochs"]) + 3 * r["finetune"]["epochs"])
            + 2 * r["dense_epochs"] * best(rows["pcd"]) + (10 if r["train"] else 120))


def run_dbm_recipe(cfg, device, out, compile):
    """dbm_vs_rbm's recipe for its "dense, binary" candidate on ``device``: the test bound and the
    training-image bound with log Z by 2 AIS runs."""
    r = {**cfg["dbm_recipe"], "trace": 0}
    r = {**r, "greedy": {**r["greedy"], "device": device}, "joint": {**r["joint"], "device": device}}
    x = load_mnist("train", binarize="stochastic", seed=0, limit=r["rows"])[0]
    test = load_mnist("test", binarize="stochastic", seed=1, limit=r["test_rows"])[0]
    fit_x = x[:-r["valid"]].to(device)
    model, seconds = dbm_vs_rbm.train_dbm(r, "dense", fit_x, 0, False)
    result = dbm_vs_rbm.bound(model, test.to(device), fit_x, r["chains"], r["temperatures"], 2, 0, False,
                              compile=compile)
    pgmdbn.save(model.cpu(), out / "dbm.safetensors")
    return {**result, "train_seconds": seconds, "training_images": len(fit_x),
            "what": f"DBM {'-'.join(map(str, r['sizes']))} recipe (dbm_vs_rbm.py, dense, binary)"}


def run_cdbn_recipe(cfg, device, out):
    """cdbn.py's MNIST part on ``device`` (it has no compiled path)."""
    result = cdbn_bench.run_mnist(cfg["cdbn_recipe"], out, False, str(device))
    return {**result, "what": "CDBN MNIST recipe (cdbn.py --parts mnist)"}


def run_recipe(name, rows, cfg, device, out, remaining, compile):
    estimate = (dbm_recipe_estimate if name == "dbm_recipe" else cdbn_recipe_estimate)(rows, cfg)
    if estimate is None:
        return {"skipped": "not started: its estimate needs hot-loop rows that were skipped"}
    if estimate > remaining:
        return {"skipped": f"estimated {estimate:.0f} s, {remaining:.0f} s of the budget left", "estimate_s": estimate}
    say(f"{name}: estimated {estimate:.0f} s of {remaining:.0f} s left")
    start = time.perf_counter()
    result = (run_dbm_recipe(cfg, device, out, compile) if name == "dbm_recipe" else
              run_cdbn_recipe(cfg, device, out))
    return {**result, "estimate_s": estimate, "seconds": time.perf_counter() - start}


# --- report ------------------------------------------------------------------------------------------------------
def fmt(v, digits=3):
    return "—" if v is None else f"{v:.{digits}f}"


def print_table(report, file):
    env = report["env"]
    print(f"\nGPU suite ({'small' if report['small'] else 'full'}) on {env['device_name']} ({env['device']}), "
          f"torch {env['torch']}, {env['threads']} CPU threads, data {env['data']}\n", file=file)
    print("| row | uncompiled s | compiled s | compile s | uncompiled/compiled | baseline s | note |", file=file)
    print("|---|---:|---:|---:|---:|---:|---|", file=file)
    for key in HOT_ROWS:
        row = report["rows"][key]
        if "skipped" in row:
            print(f"| {key} | — | — | — | — | — | skipped: {row['skipped']} |", file=file)
            continue
        eager, graph = row["eager"], row.get("compiled")
        base_name = next((n for n in ("sklearn", "conv", "gemm") if n in row), None)
        notes = [f"baseline: {'bare convolutions' if base_name == 'conv' else base_name}"] if base_name else []
        if key == "crbm":
            notes.append(f"{row['conv_share']:.0%} of an uncompiled epoch in the convolutions")
        if key == "ais":
            notes.append("log Z " + " / ".join(f"{v:.3f}" for v in row["log_z"].values()))
        if "compiled_skipped" in row:
            notes.append(f"compiled skipped: {row['compiled_skipped'].split(':')[0]} (reason in the JSON)")
        print(f"| {row['what']} | {fmt(eager)} | {fmt(graph)} | {fmt(row.get('compile_seconds'), 1)} | "
              f"{fmt(eager / graph if graph else None, 2)} | {fmt(row.get(base_name)) if base_name else '—'} | "
              f"{'; '.join(notes)} |", file=file)
    for key in ("dbm_recipe", "cdbn_recipe"):
        r = report["rows"][key]
        if "skipped" in r:
            print(f"\n{key}: skipped ({r['skipped']})", file=file)
        elif key == "dbm_recipe":
            print(f"\n{r['what']}: test bound {r['bound']:.2f} nats, training images {r['train_bound']:.2f}, "
                  f"log Z runs {', '.join(f'{z:.2f}' for z in r['log_z_runs'])} (spread {r['log_z_run_spread']:.3f}), "
                  f"trained {r['train_seconds']:.1f} s "
                  f"on {r['training_images']} images, {r['seconds']:.1f} s in all (estimate {r['estimate_s']:.0f} s)",
                  file=file)
        else:
            errors = ", ".join(f"{n} {100 * v['test_error']:.2f}%" for n, v in r["rows"].items())
            print(f"\n{r['what']}: test errors {errors} ({r['train_images']} training images, "
                  f"{r['seconds']:.1f} s, estimate {r['estimate_s']:.0f} s)", file=file)
    print(f"\ntotal wall time {report['total_seconds']:.1f} s (budget {report['budget_seconds']:.0f} s)", file=file)


def resolve_device(parser, args) -> torch.device:
    """``--device`` as a torch.device; CUDA asked for and missing is a one-line error, except with
    --small, which falls back to the CPU and says so."""
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        if not args.small:
            parser.error(f"--device {args.device}: CUDA is not available here; use --device cpu or --small")
        say(f"--device {args.device}: CUDA is not available; --small runs on the CPU instead")
        device = torch.device("cpu")
    return device


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_options(p, out="out/gpu", small="tiny sizes on the CPU, uncompiled (a smoke test, seconds)")
    p.set_defaults(device="cuda")
    next(a for a in p._actions if a.dest == "device").help = "torch device: cuda (default), cuda:1, ... or cpu"
    p.add_argument("--budget-seconds", type=float, default=None,
                   help="wall-time budget: a row or recipe whose estimate does not fit in what is left is skipped "
                        "and said so (default 470, 120 with --small)")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="time the compiled path too (default: yes, except with --small)")
    args = parse(p, argv)
    if args.budget_seconds is not None and args.budget_seconds <= 0:
        p.error(f"--budget-seconds must be positive, got {args.budget_seconds}")
    device = resolve_device(p, args)
    cfg = SMALL if args.small else FULL
    budget = args.budget_seconds if args.budget_seconds is not None else cfg["budget"]
    compile = args.compile if args.compile is not None else not args.small
    try:
        x, _ = load_mnist("train")
        x, source = x.to(torch.float32)[:max(cfg["rows"], cfg["crbm"]["rows"])].contiguous(), "MNIST train"
    except DataNotFound as err:
        say(f"MNIST not found ({err}); random binary data instead, and no recipes")
        x = (torch.rand(cfg["rows"], 784, generator=torch.Generator().manual_seed(0)) < 0.13).float()
        source = "random binary"
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
    env = {"device": str(device), "device_name": name, "torch": torch.__version__, "threads": torch.get_num_threads(),
           "data": f"{source} {tuple(x.shape)}"}
    report = {"small": args.small, "env": env, "budget_seconds": budget, "compile": compile, "rows": {}}
    started = time.perf_counter()
    for key in HOT_ROWS:
        remaining = budget - (time.perf_counter() - started)
        if cfg["estimate"][key] > remaining:
            report["rows"][key] = {"skipped": f"estimated {cfg['estimate'][key]} s, {remaining:.0f} s of the budget left"}
            say(f"{key}: {report['rows'][key]['skipped']}")
            continue
        say(f"{key} ({'uncompiled and compiled' if compile else 'uncompiled only'})")
        report["rows"][key] = run_hot_row(key, x, cfg, device, compile)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for key in ("dbm_recipe", "cdbn_recipe"):
        if source != "MNIST train":
            report["rows"][key] = {"skipped": "MNIST not found"}
            continue
        report["rows"][key] = run_recipe(key, report["rows"], cfg, device, out,
                                         budget - (time.perf_counter() - started), compile)
        if "skipped" in report["rows"][key]:
            say(f"{key}: skipped ({report['rows'][key]['skipped']})")
    report["total_seconds"] = time.perf_counter() - START
    (out / "gpu_suite.json").write_text(json.dumps(report, indent=1, default=str))
    return publish(report, print_table, args.json)


if __name__ == "__main__":
    sys.exit(main())
