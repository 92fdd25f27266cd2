"""``pgmdbn graph``: draw a model's layers and factors as a PNG."""
from __future__ import annotations

from pathlib import Path

from .common import check_device, load_model, positive_int

FLAGS = {"scale": "--scale"}  # graph_png's arguments named in its messages, as this command's flags


def add(sub, common) -> None:
    p = sub.add_parser("graph", parents=[common], help="draw a model's graph as a PNG",
                       description="Draw the layers (boxes) and factors (lines; arrows for directed ones, parent "
                                   "to child) of a saved model or a JSON spec, visible layer at the bottom.")
    p.add_argument("model", help="a .safetensors model file or a .json spec file")
    p.add_argument("--out", "-o", default="graph.png", help="PNG to write (default: graph.png)")
    p.add_argument("--scale", type=positive_int, default=2, help="size of the drawing, 1 or more (default: 2)")
    p.set_defaults(run=run, flags=FLAGS)


def run(args):
    """``pgmdbn graph MODEL_OR_SPEC --out graph.png``: the model's layers and factors as a PNG."""
    from ..graphplot import graph_png
    from ..io import model_from_spec_file

    check_device(args.device)
    if Path(args.model).suffix.lower() == ".json":
        model = model_from_spec_file(args.model)
    else:
        model = load_model(args.model, "cpu")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    image = graph_png(model, args.out, scale=args.scale)
    layers = [{"name": n, "unit": u.name, "size": u.size} for n, u in model.layers.items()]
    factors = [{"a": f.a, "b": f.b, "directed": f.directed} for f in model.factors.values()]
    summary = {"out": str(args.out), "kind": model.structure, "layers": layers, "factors": factors,
               "width": int(image.shape[1]), "height": int(image.shape[0])}
    edges = ", ".join(f"{f['a']} {'->' if f['directed'] else '--'} {f['b']}" for f in factors)
    boxes = ", ".join(f"{n} ({u.name} {u.size})" for n, u in model.layers.items())
    text = (f"{model.structure}: {boxes}; {edges or 'no factors'}\n"
            f"wrote {args.out} ({image.shape[1]}x{image.shape[0]})")
    return summary, text
