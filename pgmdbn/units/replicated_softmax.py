"""Replicated softmax (Salakhutdinov & Hinton 2009): word counts of a document over K words."""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.distributions import constraints

from ..errors import DataError
from .base import Units, scaled


class ReplicatedSoftmax(Units):
    """Counts x over K words with total D: x | eta ~ Multinomial(D, softmax(beta * eta)).

    The document length D is conserved: it is read from ``like`` (a state of this layer, e.g.
    the data being reconstructed) or, without one, from ``length``. The base measure is the
    multinomial coefficient, so likelihoods are those of the count vector. The paper's hidden
    bias scaled by D is the rank-one part ``1 aᵀ`` of the weight matrix, so it needs no extra
    parameter here.
    """

    name = "replicated_softmax"
    support = constraints.nonnegative_integer

    def __init__(self, size: int, length: int | None = None):
        super().__init__(size)
        self.length = None if length is None else int(length)

    def _length(self, eta, like):
        if like is not None:
            return like.sum(-1, keepdim=True).to(eta.dtype)
        if self.length is None:
            raise DataError(f"layer {self.layer_name!r} (replicated_softmax) needs a document length: "
                            f"pass data of this layer or construct it with length=")
        return torch.full(eta.shape[:-1] + (1,), float(self.length), dtype=eta.dtype, device=eta.device)

    def log_partition(self, eta, beta=1.0, like=None):
        return (self._length(eta, like) * torch.logsumexp(scaled(eta, beta), -1, keepdim=True)).squeeze(-1)

    def mean(self, eta, beta=1.0, like=None):
        return self._length(eta, like) * torch.softmax(scaled(eta, beta), -1)

    def sample(self, eta, beta=1.0, generator=None, like=None):
        lengths = self._length(eta, like).expand(eta.shape[:-1] + (1,)).reshape(-1).long()
        p = torch.softmax(scaled(eta, beta), -1).reshape(-1, self.size)
        words = torch.multinomial(p, max(int(lengths.max()), 1), replacement=True, generator=generator)
        used = (torch.arange(words.shape[1], device=eta.device) < lengths[:, None]).to(eta.dtype)
        counts = torch.zeros_like(p).scatter_add_(1, words, used)
        return counts.reshape(eta.shape)

    def mode(self, eta, like=None):
        # The most probable count vector is not closed-form; the rounded mean is the usual stand-in.
        return self.mean(eta, like=like).round()

    def base_energy(self, x):
        # -log multinomial coefficient D! / prod x_k!
        return -(torch.lgamma(x.sum(-1) + 1) - torch.lgamma(x + 1).sum(-1))

    def states(self, like=None):
        total = int(self._length(self.bias.detach()[None], like).flatten()[0])
        if self.log_state_count(like) > math.log(1e7):
            return super().states()
        rows = []

        def fill(prefix, left, slots):
            if slots == 1:
                rows.append(prefix + [left])
                return
            for k in range(left + 1):
                fill(prefix + [k], left - k, slots - 1)

        fill([], total, self.size)
        return torch.tensor(rows, dtype=torch.get_default_dtype())

    def log_state_count(self, like=None):
        total = int(self._length(self.bias.detach()[None], like).flatten()[0])
        return math.lgamma(total + self.size) - math.lgamma(total + 1) - math.lgamma(self.size)

    def conserved(self, x):
        return x.sum(-1, keepdim=True)

    def domain_hint(self, support):
        return "non-negative integers (word counts)", "pass raw counts, not frequencies or tf-idf"

    def nn_activation(self):
        # the word probabilities: the mean is the document length (``conserved``) times them
        return nn.Softmax(dim=-1)

    def reconstruction_loss(self, eta, target):
        # the multinomial cross-entropy of the counts: -log p(target | eta) up to the multinomial coefficient
        return -(target * torch.log_softmax(eta, -1)).sum(-1)

    def base_rate_bias(self, x):
        p = (x.sum(0) + 1) / (x.sum() + self.size)
        return p.log() - p.log().mean()

    def init_from_data(self, x):
        super().init_from_data(x)
        self.length = int(round(x.sum(-1).mean().item()))

    def config(self):
        return {"length": self.length}
