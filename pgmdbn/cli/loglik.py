"""``pgmdbn loglik``: the mean log-likelihood of data under a saved model, by any registered estimator."""
from __future__ import annotations

from .common import (CliError, add_data_options, check_device, load_data, load_model, nonnegative_int,
                     positive_int, state_count)

# the estimators' arguments named in the library's messages, as this command's flags
FLAGS = {"max_states": "--max-states", "method": "--method", "n_chains": "--chains", "runs": "--runs",
         "compare_raise": "--compare-raise", "blocks": "--blocks", "compile": "--compile", "log_z": "--log-z",
         "threads": "--threads"}
ANNEALED = ("ais", "raise")  # the estimators that take --blocks and --compile


def add(sub, common) -> None:
    from ..hooks import registry

    p = sub.add_parser("loglik", parents=[common], help="log-likelihood of data under a saved model",
                       description="Print the mean log-likelihood (nats per example) of data under a saved model.")
    p.add_argument("model", help="a .safetensors model file")
    add_data_options(p, default_split="test")
    p.add_argument("--method", choices=registry.names("estimators"), default="exact",
                   help="registered estimator (default: exact)")
    p.add_argument("--temperatures", type=positive_int, default=14500,
                   help="ais/raise: number of temperatures, spaced like the paper's (default 14500)")
    p.add_argument("--chains", type=positive_int, default=None,
                   help="ais: chains (default 100); raise: chains per example (default 1)")
    p.add_argument("--runs", type=positive_int, default=1, help="ais: independent runs, pooled (default 1)")
    p.add_argument("--compare-raise", type=nonnegative_int, default=0,
                   help="ais: also run RAISE on this many examples and warn when they disagree by > 1 nat")
    p.add_argument("--samples", type=positive_int, default=None,
                   help="bound/iwae on a DBN or SBN: samples K per example")
    p.add_argument("--log-z", choices=("exact", "ais"), default="exact",
                   help="bound/iwae: log Z of the undirected part (a DBM, or a DBN's top RBM) by enumeration or "
                        "by AIS, with --temperatures/--chains/--runs (default: exact)")
    p.add_argument("--max-states", type=state_count, metavar="COUNT",
                   help="exact (and bound/iwae with --log-z exact): enumerate up to COUNT joint states (2^22, "
                        "2**22 or 4194304), whatever the cost; by default the size of the enumeration is "
                        "judged by pgmdbn.limits.max_exact_work, the same on any machine")
    p.add_argument("--blocks", type=positive_int, metavar="N",
                   help="ais/raise: anneal the chains (raise: the examples) in N seeded blocks. Default: one "
                        "per process, so a torchrun run of W processes equals one process with --blocks W")
    p.add_argument("--compile", action="store_true",
                   help="ais/raise: run the temperatures as torch.compile graphs (CUDA graphs on a GPU); the "
                        "numbers agree with the default path to float rounding, the first call compiles")
    p.set_defaults(run=run, flags=FLAGS)


def run(args):
    """``pgmdbn loglik MODEL --data ... --method exact``."""
    from ..api import log_likelihood

    import torch

    _check_options(args)
    device = check_device(args.device)
    model = load_model(args.model, device)
    x = load_data(args.data, args.split, args.binarize, args.limit).to(device)
    result = log_likelihood(model, x, method=args.method, **_estimator_options(args, model))
    summary = {"model": str(args.model), "data": args.data, "split": args.split, **result.to_dict(),
               "threads": torch.get_num_threads()}
    text = f"{result} on {len(x)} examples from {args.data}"
    if result.log_z is not None:
        text += f"; log Z = {result.log_z:.4f}"
    for key in ("ess", "log_z_run_std", "raise_mean", "std_error"):
        if result.spread.get(key) is not None:
            text += f"; {key} = {result.spread[key]:.4g}"
    for warning in result.warnings:
        text += f"\nwarning: {warning}"
    return summary, text


def _check_options(args) -> None:
    """Refuse a flag the chosen estimator would not use, before any work."""
    exact_enumeration = args.method == "exact" or (args.method in ("bound", "iwae") and args.log_z == "exact")
    if args.max_states is not None and not exact_enumeration:
        raise CliError(f"--max-states bounds exact enumeration, which --method {args.method}"
                       f"{' --log-z ais' if args.method in ('bound', 'iwae') else ''} does not run; use it with "
                       f"--method exact, or bound/iwae with --log-z exact")
    for flag, given in (("--blocks", args.blocks is not None), ("--compile", args.compile)):
        if given and args.method not in ANNEALED:
            raise CliError(f"{flag} applies to --method ais or raise, not --method {args.method}")


def _estimator_options(args, model) -> dict:
    """The command-line options that the chosen estimator takes."""
    from ..estimators.ais import paper_schedule

    options = {}
    annealed = args.method in ("ais", "raise") or (args.method in ("bound", "iwae") and args.log_z == "ais")
    if annealed:
        options["betas"] = paper_schedule(args.temperatures)
        if args.chains is not None:
            options["n_chains"] = args.chains
    if args.method == "ais":
        options.update(runs=args.runs, compare_raise=args.compare_raise)
    if args.method in ANNEALED:
        if args.blocks is not None:
            options["blocks"] = args.blocks
        if args.compile:
            options["compile"] = True
    if args.max_states is not None:
        options["max_states"] = args.max_states
    if args.method in ("bound", "iwae"):
        options["log_z"] = args.log_z
        if args.log_z == "ais":
            options["runs"] = args.runs
        if args.samples is not None and not model.is_undirected:  # a DBM's bound is mean-field: no samples
            options["k"] = args.samples
    if args.method in ("ais", "raise", "bound", "iwae", "exact"):
        options["progress"] = not args.json
    return options
