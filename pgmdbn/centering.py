"""Centering (Montavon & Müller 2012; Melchior, Fischer & Wiskott 2016): training a Boltzmann
machine in coordinates centred on the data-driven means of its layers.

A factor with offsets (``Factor.offsets()``; the built-in ``"centered"`` type) stands for the
energy term −(s_a − μ_a)ᵀ W (s_b − μ_b), with centered biases b̃ on the layers: coordinates
θ̃ = (W, b̃). The model stores the natural coordinates θ = (W, b) instead, with

    b_l = b̃_l + k_l(W),   k_l(W) = −Σ_{factors f at l} message_f(l, μ_other)   (−W μ_b for a dense W)

so every engine and estimator reads a plain model, and moving an offset changes no stored
number: the centered biases b̃ = b − k(W) move by W (μ' − μ) instead, the papers' bias
compensation. θ(θ̃) is linear with Jacobian M; SGD on θ̃ (gradient g̃ = Mᵀ g) moves θ by
M Mᵀ g, which ``centered_loss`` gives as a surrogate loss, by autograd through the messages. For
an RBM (offsets μ visible, λ hidden) that is the centered gradient of Melchior et al.:

    ∇W = g_W − g_b λᵀ − μ g_cᵀ,   ∇b = g_b − ∇W λ,   ∇c = g_c − ∇Wᵀ μ.

The offsets follow the data: μ ← μ + ν (mean of the batch − μ) for the data layers, and the
means of the hidden layers' posterior given the data (conditional or mean-field) for the others.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from . import distributed, validation
from .errors import ArgumentError
from .inference import mean_field

#: the offsets' sliding-average rate ν when a centered model trains without ``centering=``
DEFAULT_RATE = 0.05


def centered_factors(model) -> list:
    """The model's factors with offsets (``Factor.offsets()`` not empty)."""
    return [f for f in model.factors.values() if f.offsets()]


def check_rate(rate, name: str = "centering") -> float:
    """A sliding-average rate ν in [0, 1], or an error naming ``name``."""
    return validation.probability(name, rate, "the offsets' sliding-average rate, e.g. 0.05 (0 keeps them fixed, "
                                              "1 sets them to each batch's means)")


def shifts(model, factors=None) -> dict[str, Tensor]:
    """k_l(W) = −Σ_f message_f(l, μ_other) for each layer at a centered factor, (size,): the natural
    bias minus the centered one. Differentiable in the factors' parameters."""
    out: dict[str, Tensor] = {}
    for f in centered_factors(model) if factors is None else factors:
        offsets = f.offsets()
        for layer in (f.a, f.b):
            other = offsets[f.other(layer)]
            k = -f.message(layer, other[None])[0]
            out[layer] = k if layer not in out else out[layer] + k
    return out


@torch.no_grad()
def centered_biases(model) -> dict[str, Tensor]:
    """The centered biases b̃_l = b_l − k_l(W) of the layers at centered factors, (size,) each."""
    return {layer: model.layer(layer).bias.detach() - k for layer, k in shifts(model).items()}


@torch.no_grad()
def data_means(model, batch: Mapping[str, Tensor], means: Mapping[str, Tensor] | None = None,
               steps: int = 10) -> dict[str, Tensor]:
    """The data-driven mean statistic E[s(x)] (size,) of every layer at a centered factor: the
    batch's rows for the layers it gives (n, size), ``means`` (expected states (n, size), e.g. a
    trainer's positive phase) for others, and the mean-field posterior given the batch (``steps``
    sweeps; the exact conditional where one sweep settles it, as in an RBM) for the rest. Under
    torch.distributed the means are over every rank's rows."""
    layers = list(dict.fromkeys(n for f in centered_factors(model) for n in (f.a, f.b)))
    states = {**{n: x for n, x in batch.items() if n in model.layers}, **dict(means or {})}
    missing = [n for n in layers if n not in states]
    if missing:
        inferred, _ = mean_field(model, {n: x for n, x in batch.items() if n in model.layers}, steps)
        states.update({n: inferred[n] for n in missing})
    rows = len(states[layers[0]])
    sums = [model.layer(n).statistic(states[n]).reshape(rows, -1).sum(0) for n in layers]
    total = distributed.all_reduce_sum(torch.cat([*(s.double() for s in sums), sums[0].new_tensor([rows]).double()]))
    count = max(total[-1].item(), 1.0)
    out, at = {}, 0
    for n, s in zip(layers, sums):
        out[n] = (total[at:at + s.numel()] / count).to(s.dtype)
        at += s.numel()
    return out


@torch.no_grad()
def move_offsets(model, targets: Mapping[str, Tensor], rate: float) -> None:
    """μ ← μ + rate (target − μ) for every centered factor's offset of a layer in ``targets``
    ({layer: (size,)}). No parameter changes: the model stays the same distribution."""
    rate = check_rate(rate, "rate")
    for f in centered_factors(model):
        for layer, offset in f.offsets().items():
            if layer in targets:
                offset.lerp_(targets[layer].to(offset), rate)


def update_offsets(model, batch: Mapping[str, Tensor], rate: float,
                   means: Mapping[str, Tensor] | None = None) -> dict[str, Tensor]:
    """Move the offsets by ``rate`` toward ``batch``'s data-driven means (``data_means``); returns
    those means."""
    rate = check_rate(rate, "rate")
    targets = data_means(model, batch, means)
    move_offsets(model, targets, rate)
    return targets


def centered_loss(model, loss: Tensor) -> Tensor:
    """A surrogate with the value of ``loss`` whose gradient is the centered one, M Mᵀ ∇loss (see the
    module's docstring); ``loss`` itself when the model has no centered factor."""
    factors = centered_factors(model)
    if not factors:
        return loss
    params = [p for p in {id(p): p for p in model.parameters()}.values() if p.requires_grad]
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    g = {id(p): torch.zeros_like(p) if d is None else d for p, d in zip(params, grads)}
    _precondition(model, factors, g)
    return loss.detach() + sum(((p - p.detach()) * g[id(p)]).sum() for p in params)


def _precondition(model, factors, g: dict[int, Tensor]) -> None:
    """g ← M Mᵀ g in place for the factors' parameters and their layers' biases."""
    weights = [p for p in {id(p): p for f in factors for p in f.parameters()}.values() if id(p) in g]
    biases: dict[int, tuple[Tensor, list[str]]] = {}  # a bias tied between copies of a layer counts once
    for layer in dict.fromkeys(n for f in factors for n in (f.a, f.b)):
        bias = model.layer(layer).bias
        if id(bias) in g:
            biases.setdefault(id(bias), (bias, []))[1].append(layer)
    if not biases:
        return
    with torch.enable_grad():
        k = shifts(model, factors)
        u = {key: g[key].detach().clone().requires_grad_() for key in biases}
        # Kᵀ u, linear in u: at u = g_b it is the weights' share of the biases' gradient
        pairs = sum((torch.stack([k[n] for n in layers]).mean(0) * u[key]).sum()
                    for key, (_, layers) in biases.items())
        kt_u = torch.autograd.grad(pairs, weights, create_graph=True, allow_unused=True)
        centred = [g[id(w)] + (0 if d is None else d.detach()) for w, d in zip(weights, kt_u)]
        # K ∇W = ∂⟨Kᵀ u, ∇W⟩ / ∂u
        inner = sum((d * c).sum() for d, c in zip(kt_u, centred) if d is not None)
        k_w = torch.autograd.grad(inner, list(u.values()), allow_unused=True) if torch.is_tensor(inner) else None
    for w, c in zip(weights, centred):
        g[id(w)] = c
    for i, key in enumerate(u):
        if k_w is not None and k_w[i] is not None:
            g[key] = g[key] + k_w[i].detach()


class Centering:
    """A trainer's centering: before each update the offsets move by ``rate`` toward the batch's
    data-driven means (the first update all the way: the data mean for the data layers, the
    posterior means for the others, which for small starting weights are the papers' sigmoid of
    the bias), then the loss becomes ``centered_loss``. ``state`` marks that the first update
    happened, so a resumed run continues as an uninterrupted one."""

    def __init__(self, model, rate: float):
        self.model, self.rate, self.started = model, check_rate(rate), False

    @classmethod
    def option(cls, model, rate) -> Centering | None:
        """A trainer's ``centering`` option: None centers a model with centered factors at
        ``DEFAULT_RATE`` (and leaves others alone); a rate in [0, 1] needs centered factors."""
        factors = centered_factors(model)
        if rate is None:
            return cls(model, DEFAULT_RATE) if factors else None
        rate = check_rate(rate)
        if not factors:
            kinds = ", ".join(sorted({f.name for f in model.factors.values()})) or "none"
            raise ArgumentError(f"centering={rate!r} needs factors with offsets; this {model.structure}'s factors are "
                                f"{kinds}. Build it with factor='centered' (pgmdbn.rbm(..., factor='centered'))")
        return cls(model, rate)

    def __call__(self, batch: Mapping[str, Tensor], means: Mapping[str, Tensor], loss: Tensor) -> Tensor:
        update_offsets(self.model, batch, self.rate if self.started else 1.0, means)
        self.started = True
        return centered_loss(self.model, loss)

    def state(self) -> dict[str, Tensor]:
        return {"centering/started": torch.ones(())} if self.started else {}

    def load_state(self, tensors: Mapping[str, Tensor]) -> None:
        self.started = self.started or "centering/started" in tensors
