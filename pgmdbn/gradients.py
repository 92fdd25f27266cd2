"""Closed-form gradients of energies and free energies, for trainers that need no autograd.

Every message is linear in the statistic it is sent from (the factor contract), and a summed
layer enters a free energy only through −A(η) with ∂A/∂η = s(mean) (the unit contract). So the
gradient of Σ_r w_r F(x_r) is that of the bilinear energy

    E(s̄) = −Σ_layers s̄_l · b_l − Σ_factors interaction_f(s̄_a, s̄_b)

at s̄ = the statistic of each given layer and s(mean) of each summed one. A trainer stacks the
rows of its positive and negative phases, weights them ±1/rows, and gets its whole update from
one ``Factor.gradient`` per factor (one matrix product for a dense W) and one weighted sum per
bias: the differences of outer products of statistics and means. ``LinearGradient.loss`` hands
the result to the training loop as a loss whose backward pass returns it.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from .errors import ArgumentError


def trainable(model) -> list[Tensor]:
    """The model's trainable parameters, each once, in ``parameters()`` order."""
    return list({id(p): p for p in model.parameters() if p.requires_grad}.values())


def has_closed_form(model) -> bool:
    """Whether ``LinearGradient`` covers every trainable parameter of ``model``: no layer's unit
    type trains parameters besides its bias (``Units.bias_gradient``)."""
    return all(model.layer(n).bias_gradient(model.layer(n).bias.detach()) is not None for n in model.layers)


def closed_form(model, gradient: str) -> bool:
    """Whether a trainer with option ``gradient`` ("closed" or "autograd") takes its gradient in
    closed form: "closed" does wherever the model has one (``has_closed_form``); any other value
    is refused."""
    if gradient not in ("closed", "autograd"):
        raise ArgumentError(f"gradient={gradient!r}: use 'closed' (the closed form, where the model has one) or "
                            f"'autograd' (through the free energy)")
    return gradient == "closed" and has_closed_form(model)


class LinearGradient:
    """The gradient of Σ_r w_r E(s̄_r) (module docstring) for one model whose ``has_closed_form``
    holds; the parameter bookkeeping is done once here, not per update. ``params`` is
    ``trainable(model)``, the order of every result."""

    def __init__(self, model):
        self.model, self.params = model, trainable(model)
        at = {id(p): i for i, p in enumerate(self.params)}

        def index(module) -> dict[str, int]:
            return {name: at[id(p)] for name, p in module.named_parameters() if id(p) in at}

        self.layers = [(name, model.layer(name), index(model.layer(name))) for name in model.layers]
        self.factors = [(f, index(f)) for f in model.factors.values()]

    def __call__(self, stats: Mapping[str, Tensor], weights: Tensor) -> list[Tensor]:
        """∂/∂θ Σ_r weights_r E(stats_r) for each of ``params`` (zeros for those E does not read);
        ``stats`` {layer: (n, size)} for every layer, ``weights`` (n,)."""
        grads: list[Tensor | None] = [None] * len(self.params)

        def add(i: int, g: Tensor) -> None:
            g = g.to(self.params[i].dtype)
            grads[i] = g if grads[i] is None else grads[i] + g

        minus = -weights  # E's terms are negative: the sign goes on the weights, not on each gradient
        for name, units, at in self.layers:
            s = stats[name]
            for pname, g in units.bias_gradient(minus.to(s.dtype) @ s.reshape(len(s), -1)).items():
                add(at[pname], g)
        for f, at in self.factors:
            sa, sb = stats[f.a], stats[f.b]
            if sa.shape[-1] <= sb.shape[-1]:  # the weights scale the narrower statistic
                sa = minus.to(sa.dtype)[:, None] * sa
            else:
                sb = minus.to(sb.dtype)[:, None] * sb
            for pname, g in f.gradient(sa, sb).items():
                add(at[pname], g)
        return [torch.zeros_like(p) if g is None else g for p, g in zip(self.params, grads)]

    def contrast(self, positive: Mapping[str, Tensor], negative: Mapping[str, Tensor]) -> list[Tensor]:
        """∂/∂θ [mean F(positive) − mean F(negative)] from the two phases' ``phase_stats`` (a phase
        that gives every layer, a mean-field positive phase, stands for its energy)."""
        # one call per phase and a sum, rather than one call on the stacked rows: the same products,
        # without a copy of every layer's statistics (a conv layer's hidden maps are megabytes)
        n, m = len(next(iter(positive.values()))), len(next(iter(negative.values())))
        like = positive[self.model.visible]
        plus = self(positive, like.new_full((n,), 1.0 / n))
        minus = self(negative, like.new_full((m,), -1.0 / m))
        return [p.add_(q) for p, q in zip(plus, minus)]

    def loss(self, value: Tensor, grads: list[Tensor]) -> Tensor:
        """A scalar equal to ``value`` whose backward pass gives each of ``params`` its entry of
        ``grads``: how a closed-form gradient enters the one training loop, which calls
        ``backward`` (and composes with penalties and centering, which add to or transform it
        by autograd)."""
        return _Given.apply(value, tuple(grads), *self.params)


def signed_weights(positive: int, negative: int, like: Tensor) -> Tensor:
    """(positive + negative,): +1/positive for the positive phase's rows, −1/negative for the
    negative phase's, so the weighted sum is mean(positive) − mean(negative)."""
    return torch.cat([like.new_full((positive,), 1.0 / positive), like.new_full((negative,), -1.0 / negative)])


class _Given(torch.autograd.Function):
    """A scalar whose gradient with respect to ``params`` is ``grads`` (times the incoming one)."""

    @staticmethod
    def forward(ctx, value, grads, *params):
        ctx.grads = grads
        return value.detach().clone()

    @staticmethod
    def backward(ctx, outer):
        # the loop's backward() passes 1: on the CPU, reading it is free and skips a copy of every
        # gradient (on a GPU, reading it would wait for the device, so the product is kept)
        grads, ctx.grads = ctx.grads, None  # no other reference: autograd may keep them, not copy them
        if outer.device.type == "cpu" and outer.item() == 1.0:
            return (None, None, *grads)
        return (None, None, *(g * outer for g in grads))


def phase_stats(model, given: Mapping[str, Tensor], means: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The statistics s̄ of one phase of a trainer, {layer: (n, size)}: s(x) of each given layer,
    and s(mean) of each summed layer from its ``means`` (the unit contract's ∂A/∂η; a free
    energy's ``return_means`` gives them)."""
    out = {n: model.layer(n).statistic(x) for n, x in given.items()}
    out.update({n: model.layer(n).statistic(mu) for n, mu in means.items()})
    return out
