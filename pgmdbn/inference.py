"""Inference a researcher asks of a trained model: the deterministic up-pass (features) and
generative classification by the top RBM's free energy over the label states."""
from __future__ import annotations

import torch
from torch import Tensor

from .errors import ModelError, UnsupportedModel
from .estimators.directed import hidden_order, recognition_field


@torch.no_grad()
def up_means(model, v: Tensor) -> dict[str, Tensor]:
    """Recognition probabilities of every layer of the up-pass given v: {layer: (n, size)}.
    For an undirected model the layers above v come from one mean-field pass instead."""
    visible = next(iter(model.layers))
    states = {visible: v}
    if model.is_undirected:
        from .engines.meanfield import MeanField

        means, _ = MeanField(model, steps=1).run(states)
        return {**states, **means}
    for parent in hidden_order(model):
        states[parent] = model.layer(parent).mean(recognition_field(model, parent, states))
    return states


@torch.no_grad()
def label_log_probs(model, v: Tensor, label: str = "y") -> Tensor:
    """log p(y | v) for every state of the softmax layer ``label`` joined to the top RBM: (n, K).

    v goes up by recognition probabilities; the top RBM then scores each label state by its
    free energy with the top hidden layer summed out (Hinton, Osindero & Teh 2006).
    """
    if label not in model.layers:
        raise ModelError(f"the model has no label layer {label!r}; layers: {', '.join(model.layers)}")
    units = model.layer(label)
    if units.name != "softmax" or label not in model.undirected_layers():
        raise UnsupportedModel(f"generative classification needs a softmax label layer in the undirected top; "
                               f"{label!r} is a {units.name} layer")
    visible = next(iter(model.layers))
    x = model.layer(visible).validate(torch.as_tensor(v)).to(next(model.parameters()).device)
    top = model.submodel(model.undirected_layers())
    given = {n: s for n, s in up_means(model, x).items() if n in top.layers and n != label}
    labels = units.states().to(x)
    scores = torch.stack([-top.free_energy({**given, label: y.expand(len(x), -1)}) for y in labels], 1)
    return torch.log_softmax(scores, 1)


def classify(model, v: Tensor, label: str = "y") -> Tensor:
    """The most probable label index per example: (n,)."""
    return label_log_probs(model, v, label).argmax(1)
