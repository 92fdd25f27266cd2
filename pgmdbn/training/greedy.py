"""Greedy layer-wise pretraining (Hinton, Osindero & Teh 2006; Salakhutdinov & Hinton 2009).

Each stage trains an RBM on the layer below's posterior statistics (probabilities or samples)
and copies its parameters into the deep model:

- DBN: the RBM for parent → child gives the generative weights, the child's bias and, tied at
  first, the recognition weights and bias; the undirected top (with labels) is trained in place.
- DBM: every layer but the ends gets input from two sides once the RBMs are joined, so the
  first RBM sees two tied copies of its visible layer (bottom-up input doubled), the last two
  tied copies of its hidden layer (top-down input doubled) and the middle ones both. Joined,
  each weight is used once in each direction: the doubled inputs are halved.
  With centered factors the halving is done in centered coordinates: the joined DBM takes each
  layer's centered bias b̃ and the stage's offsets, and its natural biases are rebuilt from its
  own factors. A doubled stage's natural bias absorbs −2Wᵀμ for the two copies, which the
  joined layer, with one copy and a different layer on its other side, would mistake for a
  preference; the deviation from the means is what the doubling approximates.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from .. import validation
from ..centering import centered_biases, shifts
from ..errors import ModelError, UnsupportedModel
from ..graph import Model, make_units
from .loop import TrainResult
from .trainers import as_data, check_fit_options, fit


def stages(model) -> list[tuple[list[str], str]]:
    """The RBMs to train, bottom-up, as (input layers, hidden layer); the last stage of a DBN is
    its undirected top (input layers: all of the top's first colour class)."""
    if model.is_undirected:
        names = list(model.layers)
        if any(len(model.undirected_neighbours(n)) > 2 for n in names) or len(model.factors) != len(names) - 1:
            raise UnsupportedModel(f"greedy DBM pretraining needs a chain of layers; this {model.structure} has "
                                   f"factors {', '.join(model.factors)}")
        return [([a], b) for a, b in zip(names, names[1:])]
    top = model.undirected_layers()
    out = []
    for parent in model.up_order():
        children = model.children_of(parent)
        if len(children) != 1:
            raise UnsupportedModel(f"greedy pretraining stacks one RBM per directed factor; layer {parent!r} has "
                                   f"children {', '.join(children)}")
        out.append((children, parent))
    if top:
        inputs, hidden = model.submodel(top).colour_classes()
        if len(hidden) != 1:
            raise UnsupportedModel(f"the undirected top of this {model.structure} must have one hidden layer, "
                                   f"found {', '.join(hidden)}")
        out.append((inputs, hidden[0]))
    return out


def _fresh(units, name: str, tmp: Model) -> None:
    """A new layer of the same unit type and configuration, under ``name``: the type's class
    rebuilt from its ``config()`` (so every option a type keeps there, e.g. a binomial layer's
    ``trials``, reaches the stage; one ``config()`` drops is lost here as in a saved file)."""
    shape = tuple(units.shape) if len(units.shape) > 1 else None  # a spatial layout (conv factors) carries over
    tmp.add_layer(name, make_units(type(units), units.size, **units.config()), shape=shape)


def _tie(dst, src) -> None:
    """Share every parameter of module ``src`` with module ``dst`` (tied copies)."""
    for name, p in list(src.named_parameters(recurse=False)):
        setattr(dst, name, p)


def stage_rbm(model, inputs: list[str], hidden: str, copies: tuple[int, int] = (1, 1)) -> Model:
    """A fresh RBM over copies of the input and hidden layers; copies beyond the first (named
    ``layer__2``) share parameters with it, so a doubled layer sends twice its input."""
    tmp = Model()
    for name in inputs:
        for c in range(copies[0]):
            _fresh(model.layer(name), name if c == 0 else f"{name}__{c + 1}", tmp)
    for c in range(copies[1]):
        _fresh(model.layer(hidden), hidden if c == 0 else f"{hidden}__{c + 1}", tmp)
    for name in inputs:
        source = model.factor(name, hidden)
        for ci in range(copies[0]):
            for ch in range(copies[1]):
                a = name if ci == 0 else f"{name}__{ci + 1}"
                b = hidden if ch == 0 else f"{hidden}__{ch + 1}"
                # the same factor type, configuration and orientation as the model's factor, so
                # that parameters copy by name and shape (a dense W, a conv2d's filters)
                ends = (a, b) if source.a == name else (b, a)
                tmp.add_undirected(*ends, source.name, **source.config())
                if (ci, ch) != (0, 0):
                    _tie(tmp.factor(a, b), tmp.factor(name, hidden))
    for n in list(tmp.layers):
        if "__" in n:
            _tie(tmp.layer(n), tmp.layer(n.split("__")[0]))
    with torch.no_grad():
        for name in inputs:
            _copy_shared(tmp.factor(name, hidden), model.factor(name, hidden))
    return tmp


def _copy_shared(dst, src) -> None:
    """Copy into module ``dst`` every parameter of ``src`` that ``dst`` has (an undirected stage
    factor takes a directed factor's generative parameters, not its recognition ones)."""
    own = dict(dst.named_parameters())
    with torch.no_grad():
        for name, p in src.named_parameters():
            if name in own:
                own[name].copy_(p)


def pretrain(model, data, *, epochs: int | Sequence[int] = 10, propagate: str = "mean", method: str = "cd",
             seed: int = 0, device=None, progress: bool = True, per_stage: Sequence[dict] | None = None,
             **fit_options) -> list[TrainResult]:
    """Train ``model`` (DBN or DBM) greedily, one RBM per stage; returns each stage's TrainResult.

    ``data`` is the visible layer's (n, size) array, or {layer: array} with labels for the top
    RBM. ``propagate`` is "mean" (the next RBM trains on probabilities) or "sample" (on binary
    samples). Stage i trains with ``fit(rbm, ..., seed=seed + i, **fit_options, **stages[i])``:
    ``fit_options`` are shared, ``per_stage`` (one dict per stage, bottom-up) overrides them
    stage by stage, e.g. ``per_stage=[{"lr": 0.001}, {}, {"lr": 0.01}]`` (real-valued layers
    want smaller rates than binary ones). ``epochs`` is one count or one per stage (a shorthand
    for ``per_stage=[{"epochs": e}, ...]``).
    """
    if propagate not in ("mean", "sample"):
        raise ValueError(f"propagate must be 'mean' or 'sample', got {propagate!r}")
    seed = validation.seed(seed)
    device = validation.device(device) or next(model.parameters()).device
    model.to(device)
    plan = stages(model)
    counts = list(epochs) if isinstance(epochs, Sequence) else [epochs] * len(plan)
    own = [{}] * len(plan) if per_stage is None else list(per_stage)
    if len(counts) != len(plan) or len(own) != len(plan):
        raise ModelError(f"epochs and per_stage give {len(counts)} and {len(own)} values for {len(plan)} stages "
                         f"({', '.join(h for _, h in plan)})")
    for i, (count, options) in enumerate(zip(counts, own)):  # every stage's options, before any stage trains
        validation.nonnegative_int(f"epochs[{i}]" if isinstance(epochs, Sequence) else "epochs", count)
        merged = {**fit_options, **options}
        check_fit_options(**{k: merged.get(k, d) for k, d in (("epochs", count), ("batch_size", 100), ("lr", 0.01),
                                                              ("momentum", 0.5), ("weight_decay", 0.0), ("k", 1),
                                                              ("monitor_size", 1000), ("checkpoint_every", 1))},
                          seed=seed + i)
    known = as_data(model, data, device)
    generator = torch.Generator(device=device).manual_seed(seed)
    dbm = model.is_undirected
    results, centred = [], {}
    for i, ((inputs, hidden), n_epochs, options) in enumerate(zip(plan, counts, own)):
        missing = [n for n in inputs if n not in known]
        if missing:
            raise ModelError(f"stage {i + 1} (RBM {'+'.join(inputs)} — {hidden}) needs data for "
                             f"{', '.join(missing)}; pass {{layer: array}} (e.g. one-hot labels)")
        top = not dbm and i == len(plan) - 1 and bool(model.undirected_layers())
        if top:  # the DBN's undirected top trains in place
            rbm, copies = model.submodel(inputs + [hidden]), (1, 1)
        else:
            copies = (2 if dbm and i < len(plan) - 1 else 1, 2 if dbm and i > 0 else 1) if len(plan) > 1 else (1, 1)
            rbm = stage_rbm(model, inputs, hidden, copies)
        batch = {f"{n}__{c + 1}" if c else n: known[n] for n in inputs for c in range(copies[0])}
        options = {"method": method, "epochs": n_epochs, "seed": seed + i, "device": device, "progress": progress,
                   **fit_options, **options}
        results.append(fit(rbm, batch, **options))
        if not top:
            centred.update(_join(model, rbm, inputs, hidden, dbm))
        with torch.no_grad():  # the next stage's data: the posterior of this stage's hidden layer
            units = rbm.layer(hidden)
            eta = rbm.field(hidden, batch)
            known[hidden] = units.mean(eta) if propagate == "mean" else units.sample(eta, 1.0, generator)
    with torch.no_grad():  # natural biases from the centered ones and the joined model's factors
        for layer, k in shifts(model).items():
            if layer in centred:
                model.layer(layer).bias.copy_(centred[layer] + k)
    return results


@torch.no_grad()
def _join(model, rbm, inputs, hidden, dbm: bool) -> dict:
    """Copy a trained stage RBM into the deep model; returns the centered biases b̃ (size,) of the
    layers it gave a bias at centered factors (empty without them), for ``pretrain`` to rebuild
    their natural biases once every factor is joined."""
    tilde, taken = centered_biases(rbm), []
    for name in inputs:
        factor = model.factor(name, hidden)
        _copy_shared(factor, rbm.factor(name, hidden))
        for layer, offset in factor.offsets().items():
            offset.copy_(rbm.factor(name, hidden).offsets()[layer])
        if factor.directed:
            factor.recognition.copy_(factor.weight)
            factor.recognition_bias.copy_(rbm.layer(hidden).bias)
        if not dbm or list(model.layers).index(name) == 0:
            model.layer(name).load_state_dict(rbm.layer(name).state_dict())
            taken.append(name)
    if dbm:
        model.layer(hidden).load_state_dict(rbm.layer(hidden).state_dict())
        taken.append(hidden)
    return {layer: tilde[layer] for layer in taken if dbm and layer in tilde}
