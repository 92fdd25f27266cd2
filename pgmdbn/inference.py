"""Inference primitives that engines, estimators and applications share: conditionals on the
unit contract, the recognition up-pass and the generative down-pass of directed factors,
mean-field fixed points of undirected models, and generative classification.

Shapes: states are {layer: (n, size)}; per-example quantities are (n,).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from . import validation
from .errors import ModelError, UnsupportedModel

States = dict[str, Tensor]


def recognition_field(model, parent: str, states: States) -> Tensor:
    """The field of q(parent | children) from the children's states: (n, size of parent)."""
    ref = next(iter(states.values()))
    return sum(model.factor(parent, c).recognise(model.layer(c).statistic(states[c]).to(ref.dtype))
               for c in model.children_of(parent))


def up_pass(model, v: Tensor, generator: torch.Generator | None = None, sample: bool = True
            ) -> tuple[States, Tensor]:
    """h ~ q(h | v) (or its means) layer by layer up the recognition path; returns the states
    and log q(h | v), (n,)."""
    states, log_q = {model.visible: v}, torch.zeros(len(v), dtype=v.dtype, device=v.device)
    for parent in model.up_order():
        units = model.layer(parent)
        eta = recognition_field(model, parent, states)
        states[parent] = units.sample(eta, 1.0, generator) if sample else units.mean(eta)
        log_q = log_q + units.log_prob(states[parent], eta)
    return states, log_q


def log_q(model, states: States) -> Tensor:
    """log q(h | v) = Σ_parent log q(parent | its children) of given states, with gradient to the
    recognition parameters only: (n,)."""
    total = 0.0
    for parent in model.up_order():
        total = total + model.layer(parent).log_prob(states[parent], recognition_field(model, parent, states))
    return total


@torch.no_grad()
def down_pass(model, states: States, generator: torch.Generator | None = None, mean=()) -> States:
    """Fill every directed child from its parents, in place; roots not in ``states`` are drawn
    from their biases. Layers named in ``mean`` get their conditional means instead of a draw."""
    n = len(next(iter(states.values()))) if states else 1
    for name in model.roots():
        if name not in states:
            units = model.layer(name)
            eta = units.field(None).detach().expand(n, units.size)
            states[name] = units.mean(eta) if name in mean else units.sample(eta, 1.0, generator)
    for name in model.down_order():
        units = model.layer(name)
        eta = model.field(name, {p: states[p] for p in model.parents_of(name)})
        states[name] = units.mean(eta) if name in mean else units.sample(eta, 1.0, generator)
    return states


def generative_log_prob(model, states: States) -> Tensor:
    """Σ over layers with directed parents of log p(layer | parents): (n,)."""
    return sum(model.layer(n).log_prob(states[n], model.field(n, {p: states[p] for p in model.parents_of(n)}))
               for n in model.down_order())


def log_joint(model, states: States, top: Callable[[States], Tensor] | None = None) -> Tensor:
    """log p(v, h) of states of the visible layer and every layer of the up-pass: the directed
    conditionals, the roots' priors from their biases, and ``top(states)``, the log marginal of
    the undirected part's layers (needed exactly when the model has an undirected part)."""
    if top is None and model.undirected_layers():
        raise ModelError(f"log_joint of a {model.structure} needs the log prior of its undirected part "
                         f"({', '.join(model.undirected_layers())}); pass top=")
    total = generative_log_prob(model, states)
    for name in model.roots():
        units = model.layer(name)
        total = total + units.log_prob(states[name], units.field(torch.zeros_like(states[name])))
    return total if top is None else total + top(states)


@torch.no_grad()
def mean_field(model, clamped: States, steps: int = 50, tol: float | None = 1e-6, init: States | None = None
               ) -> tuple[States, States]:
    """Fixed-point updates q_l(x) ∝ exp(-base(x) + s(x)·λ_l) of every layer not ``clamped``,
    λ_l the field from the neighbours' expected statistics, one colour class at a time.

    Starts from ``init`` or a bottom-up pass (each layer sees what is known so far); stops after
    ``steps`` sweeps or when no mean moves by more than ``tol`` (None: always ``steps``, with no
    host synchronisation, as a compiled graph needs). Returns the expected states
    and the fields λ they were computed from (the pairs a variational bound needs).
    """
    free = [n for c in model.colour_classes() for n in c if n not in clamped]
    # bias plus the messages from the clamped layers: the same in every sweep, so sent once
    fixed = {n: model.field(n, clamped) for n in free}
    states, fields = dict(clamped), {}
    for n in free:
        if init is not None and n in init:
            states[n] = init[n]
        else:
            fields[n] = model.field(n, {m: states[m] for m in free if m in states}, bias=fixed[n])
            states[n] = model.layer(n).mean(fields[n], like=clamped.get(n))
    for _ in range(steps):
        moves = []
        for n in free:
            fields[n] = model.field(n, {m: states[m] for m in free}, bias=fixed[n])
            new = model.layer(n).mean(fields[n])
            if tol is not None:
                moves.append(torch.sub(new, states[n]).abs_().max().double())
            states[n] = new
        if tol is None:
            continue
        # one host synchronisation per sweep, not one per layer
        if not moves or torch.stack(moves).max().item() < tol:
            break
    return {n: states[n] for n in free}, fields


@torch.no_grad()
def up_means(model, v: Tensor) -> States:
    """Recognition probabilities of every layer of the up-pass given v: {layer: (n, size)}.
    For an undirected model the layers above v come from one mean-field pass instead."""
    states = {model.visible: v}
    if model.is_undirected:
        means, _ = mean_field(model, states, steps=1)
        return {**states, **means}
    for parent in model.up_order():
        states[parent] = model.layer(parent).mean(recognition_field(model, parent, states))
    return states


@torch.no_grad()
def label_log_probs(model, v: Tensor, label: str = "y") -> Tensor:
    """log p(y | v) for every state of the categorical layer ``label`` joined to the top RBM: (n, K).

    v goes up by recognition probabilities; the top RBM then scores each label state by its
    free energy with the top hidden layer summed out (Hinton, Osindero & Teh 2006).
    """
    if not isinstance(label, str) or label not in model.layers:
        top = model.undirected_layers()
        found = [n for n in top if model.layer(n).categories is not None]
        other = (f"; its categorical layer in the undirected top is {found[0]!r}: pass label={found[0]!r}" if found
                 else "")
        raise UnsupportedModel(f"generative classification needs a label layer, and this {model.structure} has no "
                               f"layer {label!r} (layers: {', '.join(model.layers)}){other}. Give the model one: "
                               f"pgmdbn.dbn(sizes, labels=K) joins a softmax layer 'y' of K classes to the top RBM, "
                               f"or add_layer('y', 'softmax', K) and add_undirected(<top layer>, 'y'); then train "
                               f"it on (data, labels)")
    units = model.layer(label)
    if units.categories is None or label not in model.undirected_layers():
        raise UnsupportedModel(f"generative classification needs a categorical label layer in the undirected top; "
                               f"{label!r} is a {units.name} layer")
    x = model.layer(model.visible).validate(validation.tensor("v", v)).to(next(model.parameters()).device)
    top = model.submodel(model.undirected_layers())
    given = {n: s for n, s in up_means(model, x).items() if n in top.layers and n != label}
    labels = units.states().to(x)
    scores = torch.stack([-top.free_energy({**given, label: y.expand(len(x), -1)}) for y in labels], 1)
    return torch.log_softmax(scores, 1)


def classify(model, v: Tensor, label: str = "y") -> Tensor:
    """The most probable label index per example: (n,)."""
    return label_log_probs(model, v, label).argmax(1)
