"""Replicated softmax (Salakhutdinov & Hinton 2009): word counts of a document over K words."""
from __future__ import annotations

import math
import numbers

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

    ``normalize_length`` (a positive number L, or None): the layer sends s(x) = L x / D through
    its factors, each document's word frequencies times L instead of its counts, so a short and a
    long document on one subject drive the hidden units alike (the plain layer sends x, and a
    document of 10 words gives its hidden units a tenth of the input of one of 100). It is an
    exponential family in that statistic: with D fixed, x | eta ~ Multinomial(D, softmax(beta L
    eta / D)) (at D = L the plain layer's conditional). Its torch.nn input (``nn_input``) is
    the statistic, so an unrolled encoder reads L x / D too.
    """

    name = "replicated_softmax"
    support = constraints.nonnegative_integer

    def __init__(self, size: int, length: int | None = None, normalize_length: float | None = None):
        super().__init__(size)
        self.length = None if length is None else int(length)
        if normalize_length is not None:
            if isinstance(normalize_length, bool) or not isinstance(normalize_length, numbers.Real) \
                    or not math.isfinite(normalize_length) or normalize_length <= 0:
                raise ValueError(f"ReplicatedSoftmax: normalize_length must be a positive number of words (e.g. the "
                                 f"mean document length) or None, got {normalize_length!r}")
            normalize_length = float(normalize_length)
        self.normalize_length = normalize_length

    def _length(self, eta, like):
        if like is not None:
            return like.sum(-1, keepdim=True).to(eta.dtype)
        if self.length is None:
            raise DataError(f"layer {self.layer_name!r} (replicated_softmax) needs a document length: "
                            f"pass data of this layer or construct it with length=")
        return torch.full(eta.shape[:-1] + (1,), float(self.length), dtype=eta.dtype, device=eta.device)

    def _logits(self, eta, beta, length):
        """beta * eta, times L / D for a length-normalised layer: the words' softmax logits."""
        if self.normalize_length is None:
            return scaled(eta, beta)
        return scaled(eta, beta) * (self.normalize_length / length.clamp(min=1))

    def log_partition(self, eta, beta=1.0, like=None):
        length = self._length(eta, like)
        return (length * torch.logsumexp(self._logits(eta, beta, length), -1, keepdim=True)).squeeze(-1)

    def mean(self, eta, beta=1.0, like=None):
        length = self._length(eta, like)
        return length * torch.softmax(self._logits(eta, beta, length), -1)

    def sample(self, eta, beta=1.0, generator=None, like=None):
        length = self._length(eta, like)
        lengths = length.expand(eta.shape[:-1] + (1,)).reshape(-1).long()
        p = torch.softmax(self._logits(eta, beta, length), -1).reshape(-1, self.size)
        words = torch.multinomial(p, max(int(lengths.max()), 1), replacement=True, generator=generator)
        used = (torch.arange(words.shape[1], device=eta.device) < lengths[:, None]).to(eta.dtype)
        counts = torch.zeros_like(p).scatter_add_(1, words, used)
        return counts.reshape(eta.shape)

    def mode(self, eta, like=None):
        # The most probable count vector is not closed-form; the rounded mean is the usual stand-in.
        return self.mean(eta, like=like).round()

    def statistic(self, x):
        if self.normalize_length is None:
            return x
        return x * (self.normalize_length / x.sum(-1, keepdim=True).clamp(min=1))

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

    def nn_input(self, x):
        return self.statistic(x)

    def scales(self):
        # what the layer sends is nn_input(x) itself (x, or L x / D), with no per-unit scaling
        one = torch.ones(self.size, dtype=self.bias.dtype, device=self.bias.device)
        return one, one

    def nn_activation(self):
        # the word probabilities: the mean is the document length (``conserved``) times them
        return nn.Softmax(dim=-1)

    def reconstruction_loss(self, eta, target):
        # the multinomial cross-entropy of the counts: -log p(target | eta) up to the multinomial coefficient
        logits = self._logits(eta, 1.0, target.sum(-1, keepdim=True).to(eta.dtype))
        return -(target * torch.log_softmax(logits, -1)).sum(-1)

    def base_rate_bias(self, x):
        p = (x.sum(0) + 1) / (x.sum() + self.size)
        return p.log() - p.log().mean()

    def init_from_data(self, x):
        super().init_from_data(x)
        self.length = int(round(x.sum(-1).mean().item()))

    def config(self):
        # normalize_length only where set, so configurations saved before it load unchanged
        return {"length": self.length,
                **({"normalize_length": self.normalize_length} if self.normalize_length is not None else {})}
