"""The dense factor: a full weight matrix between two layers (RBMs, DBNs, DBMs, SBNs)."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import ModelError
from .base import Factor


class Dense(Factor):
    """A weight matrix W (size_a, size_b): undirected energy term -s_aᵀ W s_b; directed, the
    child's field gets s_a W and q(parent | child) has field ``recognition_bias + s_b Rᵀ``
    (R of shape (size_a, size_b); stacking RBMs sets R = W, up-down and wake-sleep untie them).
    ``weight`` optionally gives W's starting value; the factor keeps its dtype (a float64 matrix
    makes a float64 factor; the default is float32)."""

    name = "dense"

    def __init__(self, a, b, units_a, units_b, directed, weight: Tensor | None = None):
        super().__init__(a, b, units_a, units_b, directed)
        shape = (self.size_a, self.size_b)
        if isinstance(weight, Tensor) and weight.ndim == 2 and tuple(weight.shape) != shape:
            raise ModelError(f"factor {self.key}: weight of shape {tuple(weight.shape)} does not join layers of "
                             f"sizes {shape[0]} and {shape[1]}; pass a {shape[0]}×{shape[1]} matrix")
        self.weight = nn.Parameter(self.start_weight(weight, shape))
        if directed:
            self.recognition = nn.Parameter(self.weight.detach().clone())
            self.recognition_bias = nn.Parameter(torch.zeros(self.size_a, dtype=self.weight.dtype))

    @classmethod
    def parameter_count(cls, size_a, size_b, directed, **config):
        return size_a * size_b * (2 if directed else 1) + (size_a if directed else 0)

    def matrix(self) -> Tensor:
        """W as the messages use it (subclasses may constrain it, e.g. by a connectivity mask)."""
        return self.weight

    def message(self, to, stat, add=None, beta=1.0):
        # bias and product fused in one addmm: the hot path of every sampler and free energy
        dtype = stat.dtype if add is None else torch.promote_types(stat.dtype, add.dtype)
        w = self.matrix().to(dtype)
        w = w if to == self.b else w.T
        flat = stat.reshape(-1, stat.shape[-1]).to(dtype)
        add = None if add is None else add.to(dtype)
        if add is not None and (add.dim() == 1 or add.shape[:-1] == stat.shape[:-1]):
            add = add.reshape(-1, w.shape[1]) if add.dim() > 1 else add  # a bias, or a field row by row
            if torch.compiler.is_compiling():  # a graph with beta as an input loses addmm's symbolic alpha
                return torch.addmm(add, flat * beta, w).reshape(*stat.shape[:-1], w.shape[1])
            return torch.addmm(add, flat, w, alpha=beta).reshape(*stat.shape[:-1], w.shape[1])
        unscaled = beta == 1 and not torch.compiler.is_compiling()  # see units.base.scaled
        out = (flat @ w if unscaled else beta * (flat @ w)).reshape(*stat.shape[:-1], w.shape[1])
        return out if add is None else add + out

    def interaction(self, stat_a, stat_b):
        return ((stat_a @ self.matrix().to(stat_a.dtype)) * stat_b).sum(-1)

    def gradient(self, stat_a, stat_b):
        if type(self).matrix is not Dense.matrix or not self.weight.requires_grad:  # a constrained W: autograd
            return super().gradient(stat_a, stat_b)
        dtype = self.weight.dtype
        return {"weight": stat_a.reshape(-1, self.size_a).to(dtype).T @ stat_b.reshape(-1, self.size_b).to(dtype)}

    def recognise(self, stat_child):
        dtype = stat_child.dtype
        return stat_child @ self.recognition.to(dtype).T + self.recognition_bias.to(dtype)

    def dense(self):
        return self.matrix()

    def extra_repr(self):
        return f"{super().extra_repr()}, W {tuple(self.weight.shape)}"
