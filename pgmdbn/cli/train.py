"""``pgmdbn train``: build a model from a JSON spec, pretrain it greedily (optional), fit and save it."""
from __future__ import annotations

import sys
from pathlib import Path

from ..errors import DataError, PgmdbnError
from ..io import TRAIN_KEYS
from .common import (CliError, add_data_options, auto_threads, check_device, in_flags, label_layer, layers_text,
                     load_data, nonnegative_float, nonnegative_int, positive_float, positive_int, threads,
                     visible_layer)

# The greedy layer-wise stage that runs before fit (pgmdbn.pretrain), for DBNs and DBMs.
PRETRAIN_OPTIONS = ("pretrain_epochs", "pretrain_method", "propagate")
# fit's options: the spec format's training keys (read_spec refuses any other) less the greedy stage's
TRAIN_OPTIONS = tuple(key for key in TRAIN_KEYS if key not in PRETRAIN_OPTIONS)
# fit's method when neither the spec nor --method names one, by model.structure.
DEFAULT_METHOD = {"rbm": "cd", "dbn": "updown", "dbm": "dbm", "sbn": "wakesleep"}
# fit's and pretrain's arguments named in the library's messages, as this command's flags
FLAGS = {**{name: "--" + name.replace("_", "-") for name in TRAIN_OPTIONS + PRETRAIN_OPTIONS
            if name not in ("init_from_data", "monitor_size", "engine_options")},
         "checkpoint_dir": "--checkpoint-dir", "checkpoint_every": "--checkpoint-every", "resume": "--resume",
         "compile": "--compile", "threads": "--threads"}


def add(sub, common) -> None:
    p = sub.add_parser("train", parents=[common], help="train a model (RBM, DBN, DBM, SBN) from a JSON spec file",
                       description="Build a model from a JSON spec file, train it and save it as a .safetensors "
                                   "file. Training is an optional greedy layer-wise stage (--pretrain-epochs, "
                                   "for DBNs and DBMs) followed by --epochs of --method (default by model kind: "
                                   "rbm cd, dbn updown, dbm dbm, sbn wakesleep). Training options come from the "
                                   "spec's \"train\" object; options given here override them.")
    p.add_argument("spec", help="model spec JSON file (layers, factors, optional train options)")
    add_data_options(p, default_split="train")
    p.add_argument("--out", "-o", default="model.safetensors", help="where to save the trained model")
    p.add_argument("--method", help="trainer engine: cd, pcd, updown, wakesleep, rws, dbm or a plugin's "
                                    "(default by model kind: rbm cd, dbn updown, dbm dbm, sbn wakesleep)")
    p.add_argument("--k", type=positive_int, help="Gibbs steps per update")
    p.add_argument("--epochs", type=nonnegative_int,
                   help="epochs of --method after any pretraining (default 10; 0: pretraining only)")
    p.add_argument("--pretrain-epochs", type=nonnegative_int,
                   help="DBN/DBM: epochs of greedy layer-wise RBM training per stage first (default 0: none)")
    p.add_argument("--pretrain-method", help="trainer of the greedy stages' RBMs: cd or pcd (default: cd)")
    p.add_argument("--propagate", choices=("mean", "sample"),
                   help="what the next greedy stage trains on: the hidden probabilities or samples (default: mean)")
    p.add_argument("--batch-size", type=positive_int, help="examples per update")
    p.add_argument("--lr", type=positive_float, help="learning rate")
    p.add_argument("--momentum", type=nonnegative_float, help="SGD momentum")
    p.add_argument("--weight-decay", type=nonnegative_float, help="L2 penalty on the weights")
    p.add_argument("--lr-schedule", choices=("constant", "linear", "cosine"), help="learning-rate schedule")
    p.add_argument("--seed", type=nonnegative_int, help="random seed")
    p.add_argument("--checkpoint-dir", help="write a checkpoint of the fit stage into this folder (one run per "
                                            "folder) every --checkpoint-every epochs")
    p.add_argument("--checkpoint-every", type=positive_int, default=1, help="epochs between checkpoints (default 1)")
    p.add_argument("--resume", help="continue an interrupted run from a checkpoint file, or from the latest "
                                    "checkpoint in a folder, with the same spec, data, --seed and --method and "
                                    "the same number of torchrun processes; gives the parameters of an "
                                    "uninterrupted run")
    p.add_argument("--compile", action="store_true",
                   help="run each update of the cd, pcd and dbm trainers (and of the greedy stages) as a "
                        "torch.compile graph (a CUDA graph on a GPU) on the same random numbers; the first "
                        "epoch includes the compile time")
    p.set_defaults(run=run, flags=FLAGS)


def run(args):
    """``pgmdbn train SPEC --data ...``: build a model, pretrain it greedily (optional), fit and save it."""
    import copy

    import torch

    from ..io import model_from_spec_file, read_spec, save
    from ..training import fit, pretrain, stages

    device = check_device(args.device)
    spec = read_spec(args.spec)
    options, greedy = _train_options(spec, args)
    model = model_from_spec_file(args.spec, default_seed=options.get("seed", 0))  # reproducible without "seed"
    kind = model.structure
    options.setdefault("method", DEFAULT_METHOD.get(kind, "cd"))
    _check_trainer(options["method"], f"{args.spec}: train.method or --method")
    epochs = options.get("epochs", 10)
    pretrain_epochs = greedy.get("pretrain_epochs", 0)
    plan = [hidden for _, hidden in stages(model)] if pretrain_epochs else []  # a clear error before any data
    # The data's own seed stays fixed, so train and loglik see the same bars split and binarisation.
    x, labels = load_data(args.data, args.split, args.binarize, args.limit, with_labels=True)
    visible, label = visible_layer(model), label_layer(model)
    data = {visible: x}
    if label is not None:
        data[label] = _one_hot(labels, model.layer(label), label, args.data)
    if args.resume and not epochs:
        raise CliError("--resume continues the fit stage, but epochs is 0; give --epochs")
    if args.resume and pretrain_epochs:
        pretrain_epochs = 0  # the checkpoint holds the model after pretraining
        greedy["pretrain_epochs"] = 0
    if epochs:  # the library's own error for a method that cannot train this structure, before pretraining
        fit(copy.deepcopy(model), data, method=options["method"], k=options.get("k", 1), epochs=0,
            engine_options=options.get("engine_options"), monitor_size=0, progress=False, compile=args.compile)
    print(f"training {kind} {layers_text(model)} on {len(x)} examples from {args.data}"
          + (f" with labels in {label!r}" if label else ""), file=sys.stderr)
    shared = {name: options[name] for name in ("batch_size", "lr", "momentum", "weight_decay", "lr_schedule",
                                                "monitor_size") if name in options}
    if args.compile:
        shared["compile"] = True
    stage_results, result = [], None
    with threads(auto_threads(args, model)):
        used_threads = torch.get_num_threads()
        if pretrain_epochs:
            k = options.get("k", 1)
            stage_results = pretrain(model, data, epochs=pretrain_epochs, propagate=greedy.get("propagate", "mean"),
                                     method=greedy.get("pretrain_method", "cd"), k=k if isinstance(k, int) else 1,
                                     seed=options.get("seed", 0), device=device, progress=True, **shared)
        if epochs:
            fit_options = {k: v for k, v in options.items() if k != "init_from_data"}
            # After pretraining the biases are learnt: do not reset them to the data's base rates.
            init = options.get("init_from_data", not pretrain_epochs)
            result = fit(model, data, device=device, progress=True, init_from_data=init, **fit_options,
                         checkpoint_dir=args.checkpoint_dir, checkpoint_every=args.checkpoint_every, resume=args.resume,
                         compile=args.compile)
    history = result.history if result is not None else []
    pretrained = [{"layer": layer, "history": r.history} for layer, r in zip(plan, stage_results)]
    summary = {"model": None, "spec": str(args.spec), "data": args.data, "n_examples": len(x), "kind": kind,
               "visible": visible, "labels": label, "train": {**options, **greedy}, "pretrain": pretrained,
               "history": history, "threads": used_threads, "compile": args.compile}
    if label is not None and label in model.undirected_layers() and kind in ("dbn", "rbm"):
        from ..inference import classify

        truth = data[label].argmax(1)
        summary["accuracy"] = (classify(model, x.to(device), label).cpu() == truth.cpu()).float().mean().item()
    from .. import distributed

    out = Path(args.out)
    if distributed.is_main():  # under torchrun every rank holds the same model; rank 0 writes it
        out.parent.mkdir(parents=True, exist_ok=True)
        out = save(model, args.out, metadata={"train": summary["train"], "data": args.data, "history": history,
                                              "pretrain": pretrained})
    distributed.barrier()
    summary["model"] = str(out)
    return summary, _format_train(summary)


def _one_hot(labels, units, layer: str, source: str):
    """Labels for the softmax layer ``layer``: one-hot (n, K) rows from integer labels (n,)."""
    import torch

    if labels is None:
        raise CliError(f"the model's label layer {layer!r} (softmax, {units.size} states) needs labels, but "
                       f"--data {source} has none; use --data bars or mnist, or an .npz file with arrays x and y")
    if labels.ndim == 2:
        return labels
    if len(labels) and (labels.min() < 0 or labels.max() >= units.size):
        raise DataError(f"--data {source}: labels range from {labels.min().item()} to {labels.max().item()}, but "
                        f"layer {layer!r} has {units.size} states (0 to {units.size - 1}); resize it in the spec")
    return torch.nn.functional.one_hot(labels.long(), units.size).float()


def _format_train(summary: dict) -> str:
    lines = []
    if summary["pretrain"]:
        stages_ = ", ".join(f"{s['layer']} ({_epochs(len(s['history']))})" for s in summary["pretrain"])
        lines.append(f"pretrained greedily ({summary['train'].get('pretrain_method', 'cd')}), one RBM per stage: "
                     f"{stages_}")
    if summary["history"]:
        last = summary["history"][-1]
        lines.append(f"trained {_epochs(len(summary['history']))} ({summary['train']['method']}); last epoch: "
                     + ", ".join(f"{k} {v:.4g}" for k, v in last.items() if k != "epoch" and isinstance(v, float)))
    if "accuracy" in summary:
        lines.append(f"training-set label accuracy {summary['accuracy']:.3f}")
    lines.append(f"saved {summary['model']}")
    return "\n".join(lines)


def _epochs(n: int) -> str:
    return f"{n} epoch{'' if n == 1 else 's'}"


def _train_options(spec: dict, args) -> tuple[dict, dict]:
    """(fit() keyword arguments, greedy-stage options): the spec's "train" object, overridden by
    command-line options."""
    options = dict(spec.get("train", {}))
    for name in TRAIN_OPTIONS + PRETRAIN_OPTIONS:
        value = getattr(args, name, None)
        if value is not None:
            options[name] = value
    greedy = {name: options.pop(name) for name in PRETRAIN_OPTIONS if name in options}
    _check_value(args.spec, "pretrain_epochs", greedy.get("pretrain_epochs", 0),
                 lambda v: _is_count(v) or (isinstance(v, list) and v and all(_is_count(e) for e in v)),
                 "a non-negative integer or a list of them, one per stage")
    _check_value(args.spec, "epochs", options.get("epochs", 10), _is_count, "a non-negative integer")
    _check_value(args.spec, "propagate", greedy.get("propagate", "mean"), lambda v: v in ("mean", "sample"),
                 "'mean' or 'sample'")
    _check_value(args.spec, "engine_options", options.get("engine_options", {}), lambda v: isinstance(v, dict),
                 "an object of engine keyword arguments")
    if "method" in options:
        _check_trainer(options["method"], f"{args.spec}: train.method or --method")
    if "pretrain_method" in greedy:
        _check_trainer(greedy["pretrain_method"], f"{args.spec}: train.pretrain_method or --pretrain-method")
    from ..training.trainers import check_fit_options

    defaults = {"epochs": 10, "batch_size": 100, "lr": 0.01, "momentum": 0.5, "weight_decay": 0.0, "seed": 0,
                "monitor_size": 1000, "k": 1}
    try:
        check_fit_options(**{name: options.get(name, value) for name, value in defaults.items()})
    except PgmdbnError as e:
        raise type(e)(f"{args.spec}: train options (or the command line): {in_flags(str(e), FLAGS, 'train')}") \
            from None
    if "lr_schedule" in options and options["lr_schedule"] not in ("constant", "linear", "cosine"):
        raise CliError(f"{args.spec}: train.lr_schedule must be 'constant', 'linear' or 'cosine', got "
                       f"{options['lr_schedule']!r}")
    for name in ("init_from_data",):
        if name in options and not isinstance(options[name], bool):
            raise CliError(f"{args.spec}: train.{name} must be true or false, got {options[name]!r}")
    return options, greedy


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_value(spec, name, value, ok, what) -> None:
    if not ok(value):
        raise CliError(f"{spec}: train.{name} must be {what}, got {value!r}")


def _check_trainer(method: str, where: str) -> None:
    """Fail before any data is read if ``method`` is not a registered trainer engine."""
    from ..hooks import registry
    from ..protocols import handlers

    try:
        engine = registry.get("engines", method)  # names the nearest registered engine
    except PgmdbnError as error:
        raise CliError(f"{where}: {error}") from error
    if getattr(engine, "kind", None) != "trainer":
        raise CliError(f"engine {method!r} is a {getattr(engine, 'kind', 'non-trainer')}, not a trainer; --method "
                       f"takes one of {', '.join(handlers('engines', role='trainer'))}")
