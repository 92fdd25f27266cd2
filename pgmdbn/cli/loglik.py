"""``pgmdbn loglik``: the mean log-likelihood of data under a saved model, by any registered estimator."""
from __future__ import annotations

from .common import add_data_options, check_device, load_data, load_model, nonnegative_int, positive_int


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
    p.set_defaults(run=run)



def run(args):
    """``pgmdbn loglik MODEL --data ... --method exact``."""
    from ..api import log_likelihood

    device = check_device(args.device)
    model = load_model(args.model, device)
    x = load_data(args.data, args.split, args.binarize, args.limit).to(device)
    result = log_likelihood(model, x, method=args.method, **_estimator_options(args, model))
    summary = {"model": str(args.model), "data": args.data, "split": args.split, **result.to_dict()}
    text = f"{result} on {len(x)} examples from {args.data}"
    if result.log_z is not None:
        text += f"; log Z = {result.log_z:.4f}"
    for key in ("ess", "log_z_run_std", "raise_mean", "std_error"):
        if result.spread.get(key) is not None:
            text += f"; {key} = {result.spread[key]:.4g}"
    for warning in result.warnings:
        text += f"\nwarning: {warning}"
    return summary, text


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
    if args.method in ("bound", "iwae"):
        options["log_z"] = args.log_z
        if args.log_z == "ais":
            options["runs"] = args.runs
        if args.samples is not None and not model.is_undirected:  # a DBM's bound is mean-field: no samples
            options["k"] = args.samples
    if args.method in ("ais", "raise", "bound", "iwae", "exact"):
        options["progress"] = not args.json
    return options
