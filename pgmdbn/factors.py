"""Factors: the edges of a model graph and their parameters."""
from __future__ import annotations

import torch
from torch import Tensor, nn


class Factor(nn.Module):
    """A weight matrix W (size_a, size_b) joining layers a and b.

    Undirected: energy term -s(x_a)ᵀ W s(x_b) (RBM style).
    Directed (a = parent, b = child): the child's field gets s(x_a) W, so p(child | parent)
    is the child's unit type with that field (sigmoid-belief style). A directed factor also
    carries the recognition direction, q(parent | child) with field
    ``recognition_bias + s(x_b) Rᵀ`` (R of shape (size_a, size_b)), used by the up-pass of DBNs
    and Helmholtz machines; stacking RBMs sets R = W, up-down and wake-sleep untie them.
    """

    def __init__(self, a: str, b: str, size_a: int, size_b: int, directed: bool, weight: Tensor | None = None):
        super().__init__()
        self.a, self.b, self.directed = a, b, directed
        self.weight = nn.Parameter(torch.zeros(size_a, size_b) if weight is None else weight.clone().float())
        if directed:
            self.recognition = nn.Parameter(self.weight.detach().clone())
            self.recognition_bias = nn.Parameter(torch.zeros(size_a))

    def recognise(self, stat_child: Tensor) -> Tensor:
        """The parent's recognition field from the child's statistic: (..., size_b) -> (..., size_a)."""
        return stat_child @ self.recognition.to(stat_child.dtype).T + self.recognition_bias.to(stat_child.dtype)

    @property
    def key(self) -> str:
        return f"{self.a}{'->' if self.directed else '--'}{self.b}"

    def other(self, layer: str) -> str:
        return self.b if layer == self.a else self.a

    def message(self, to: str, stat: Tensor, add: Tensor | None = None, beta: float = 1.0) -> Tensor:
        """``add + beta * s W`` sent to layer ``to`` from the other end's statistic s (..., size_other),
        fused into one matrix product (the hot path of every sampler and free energy)."""
        dtype = stat.dtype if add is None else torch.promote_types(stat.dtype, add.dtype)
        w = self.weight.to(dtype)
        w = w if to == self.b else w.T
        flat = stat.reshape(-1, stat.shape[-1]).to(dtype)
        add = None if add is None else add.to(dtype)
        if add is not None and add.dim() == 1:  # a bias: fused
            return torch.addmm(add, flat, w, alpha=beta).reshape(*stat.shape[:-1], w.shape[1])
        out = (flat @ w if beta == 1 else beta * (flat @ w)).reshape(*stat.shape[:-1], w.shape[1])
        return out if add is None else add + out

    def interaction(self, stat_a: Tensor, stat_b: Tensor) -> Tensor:
        """s_aᵀ W s_b per example: (..., size_a), (..., size_b) -> (...)."""
        return ((stat_a @ self.weight.to(stat_a.dtype)) * stat_b).sum(-1)

    def extra_repr(self) -> str:
        kind = "directed" if self.directed else "undirected"
        return f"{self.a} {'→' if self.directed else '—'} {self.b}, {kind}, W {tuple(self.weight.shape)}"
