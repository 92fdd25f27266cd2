"""Probabilistic max-pooling (Lee, Grosse, Ranganath & Ng 2009): binary detection units in
non-overlapping pool×pool blocks, each block one categorical variable.

A layer of shape (K, H, W) is cut into blocks of pool×pool detection units per channel; a block
is in one of pool² + 1 states: one of its detection units on, or none. Its pooling unit is on
exactly when one detection unit is, so it is a function of the block's state (the sum of the
block) and needs no variable of its own. Given the field η of the detection units,

    p(h_i = 1) = exp(β η_i) / (1 + Σ_{j in block} exp(β η_j)),   p(pooling unit on) = 1 − p(off).

The statistic is the detection states themselves, so the layer is an exponential family like any
other and every engine and estimator handles it through the unit contract. A convolutional
factor whose input side is a pooled layer reads it through its pooling units (the block sums,
``pooled``): that is how the next layer of a convolutional DBN sees this one. With pool 1 the
layer is a layer of Bernoulli units.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.distributions import constraints
from torch.autograd.function import once_differentiable
from torch.nn import functional as F

from ..errors import DataError, ModelError
from .base import Units, scaled


class PooledBernoulli(Units):
    """Binary detection units in pool×pool blocks with at most one unit on per block.

    Options: ``pool`` (the block side; the layer's shape (K, H, W) needs H and W divisible by
    it) and ``channels`` (one bias per channel, as the filters of a convolutional layer share
    theirs)."""

    name = "pooled_bernoulli"
    support = constraints.boolean
    data_support = constraints.unit_interval

    def __init__(self, size: int, pool: int = 2, channels: int | None = None):
        super().__init__(size, channels)
        if int(pool) != pool or pool < 1:
            raise ValueError(f"pooled_bernoulli: pool must be a positive integer, got {pool!r}")
        self.pool = int(pool)

    # --- layout ----------------------------------------------------------------------------
    def check_shape(self, shape):
        super().check_shape(shape)
        if len(shape) != 3 or shape[1] % self.pool or shape[2] % self.pool:
            raise ModelError(f"layer {self.layer_name!r} (pooled_bernoulli, pool={self.pool}) needs a shape "
                             f"(K, H, W) with H and W divisible by {self.pool}, got {shape}")

    @property
    def pooled_shape(self) -> tuple[int, int, int]:
        """The shape of the pooling units, (K, H / pool, W / pool)."""
        k, h, w = self._shape()
        return k, h // self.pool, w // self.pool

    @property
    def pooled_size(self) -> int:
        return math.prod(self.pooled_shape)

    def _shape(self) -> tuple[int, int, int]:
        shape = tuple(getattr(self, "shape", (self.size,)))
        if len(shape) != 3:
            raise ModelError(f"layer {self.layer_name!r} (pooled_bernoulli) needs a shape (K, H, W); declare it "
                             f"with add_layer(..., shape=(K, H, W))")
        return shape

    def blocks(self, x: Tensor) -> Tensor:
        """(..., size) -> (..., n_blocks, pool²): each block's detection units in a row."""
        k, h, w = self._shape()
        c = self.pool
        lead = x.shape[:-1]
        y = x.reshape(-1, k, h // c, c, w // c, c).permute(0, 1, 2, 4, 3, 5)
        return y.reshape(*lead, k * (h // c) * (w // c), c * c)

    def unblocks(self, y: Tensor) -> Tensor:
        """The inverse of ``blocks``: (..., n_blocks, pool²) -> (..., size)."""
        k, h, w = self._shape()
        c = self.pool
        lead = y.shape[:-2]
        x = y.reshape(-1, k, h // c, w // c, c, c).permute(0, 1, 2, 4, 3, 5)
        return x.reshape(*lead, self.size)

    def pooled(self, x: Tensor) -> Tensor:
        """The pooling units' states (or probabilities, from means): the block sums,
        (..., size) -> (..., pooled_size), laid out as a flattened (K, H / pool, W / pool)."""
        return self._block_sum(self._grid(x)).reshape(*x.shape[:-1], -1)

    def _grid(self, x: Tensor) -> Tensor:
        """(..., size) -> (n, K, H, W), a view."""
        return x.reshape(-1, *self._shape())

    def _six(self, x: Tensor) -> Tensor:
        """(n, K, H, W) -> (n, K, H / pool, pool, W / pool, pool), a view: block sums and
        broadcasts need no copy of the layout."""
        n, k, h, w = x.shape
        c = self.pool
        return x.reshape(n, k, h // c, c, w // c, c)

    def _block_sum(self, x: Tensor) -> Tensor:
        """(n, K, H, W) -> (n, K, H / pool, W / pool): each block's sum (a pooling kernel, faster
        than a strided reduction)."""
        c = self.pool
        return F.avg_pool2d(x, c, divisor_override=1) if c > 1 else x

    def _corners(self, x: Tensor) -> list[Tensor]:
        """(n, K, H, W) -> pool² views (n, K, H / pool, W / pool) of the reshaped field, one per
        position in a block, in raster order: every block reduction runs over these views as
        elementwise operations, with no permuted copy (strided reductions over the block axes,
        and pooling kernels, are several times slower on a CPU)."""
        six, c = self._six(x), self.pool
        return [six[:, :, :, i, :, j] for i in range(c) for j in range(c)]

    # --- the conditional distribution ----------------------------------------------------------
    def log_partition(self, eta, beta=1.0, like=None):
        e = self._grid(scaled(eta, beta))
        return _LogPartition.apply(e, self.pool).reshape(eta.shape[:-1])

    def mean(self, eta, beta=1.0, like=None):
        e = self._grid(scaled(eta, beta))
        m, _, den = _block_normaliser(self._corners(e))
        return _block_softmax(e, m, den, self.pool).reshape(eta.shape)

    def log_partition_and_mean(self, eta, like=None):
        # one pass of block maxima and exponentials for both (no autograd record: training's
        # closed-form gradient reads them as statistics)
        e = self._grid(eta.detach())
        m, ex, den = _block_normaliser(self._corners(e))
        mean = _block_scatter(torch.empty_like(e), ex, den.reciprocal())
        return (m + den.log()).reshape(e.shape[0], -1).sum(-1).reshape(eta.shape[:-1]), mean.reshape(eta.shape)

    def _argmax_blocks(self, z: Tensor, z_off: Tensor | float) -> Tensor:
        """1 at each block's largest entry of ``z`` (n, K, H, W) where it beats ``z_off``, else 0;
        a tie goes to the first entry of the block in raster order."""
        parts = self._corners(z)
        best = parts[0]
        for part in parts[1:]:
            best = torch.maximum(best, part)
        free = best > z_off  # the blocks with a unit on, until that unit is written
        out = torch.empty_like(z)
        for part, view in zip(parts, self._corners(out)):
            hit = (part == best).logical_and_(free)
            view.copy_(hit)
            free.logical_xor_(hit)  # later positions that tie with this one stay off
        return out

    def sample(self, eta, beta=1.0, generator=None, like=None):
        # Gumbel-max: each block's state is the argmax of its log-weights plus Gumbel noise ("off": 0)
        e = self._grid(scaled(eta, beta))
        tiny = torch.finfo(e.dtype).tiny
        u = torch.rand(e.shape, generator=generator, device=e.device, dtype=e.dtype).clamp_min_(tiny)
        n, k, h, w = e.shape
        u_off = torch.rand((n, k, h // self.pool, w // self.pool), generator=generator, device=e.device,
                           dtype=e.dtype).clamp_min_(tiny)
        z = e - u.log_().neg_().log_()
        z_off = u_off.log_().neg_().log_().neg_()
        return self._argmax_blocks(z, z_off).reshape(eta.shape)

    def mode(self, eta, like=None):
        return self._argmax_blocks(self._grid(eta), 0.0).reshape(eta.shape)

    # --- enumeration ---------------------------------------------------------------------------
    def _n_blocks(self) -> int:
        k, h, w = self._shape()
        return k * (h // self.pool) * (w // self.pool)

    def log_state_count(self, like=None):
        return self._n_blocks() * math.log(self.pool ** 2 + 1)

    def states(self, like=None):
        return torch.cat(list(self.state_chunks(2 ** 16)))

    def state_chunks(self, chunk_size, like=None):
        if self.log_state_count() > 40 * math.log(2):
            Units.states(self)  # raises: far too many states to enumerate
        n_blocks, per = self._n_blocks(), self.pool ** 2 + 1
        total = per ** n_blocks
        radix = per ** torch.arange(n_blocks)
        for start in range(0, total, chunk_size):
            codes = torch.arange(start, min(start + chunk_size, total)).unsqueeze(-1)
            digits = (codes // radix) % per  # (n, n_blocks): each block's state, 0 = off
            on = F.one_hot(digits, per)[..., 1:].to(torch.get_default_dtype())
            yield self.unblocks(on)

    def unit_values(self):
        return torch.tensor([0.0, 1.0]) if self.pool == 1 else None

    # --- data ------------------------------------------------------------------------------------
    def validate(self, x, *, exact=False):
        x = super().validate(x, exact=exact)
        sums = self.blocks(torch.as_tensor(x).to(torch.float64)).sum(-1)
        bad = sums > 1 + 1e-6
        if bad.any():
            row, block = (int(i) for i in bad.nonzero()[0])
            raise DataError(f"layer {self.layer_name!r} (pooled_bernoulli, pool={self.pool}): row {row}, block "
                            f"{block} sums to {sums[row, block].item():g}; at most one detection unit per "
                            f"{self.pool}×{self.pool} block may be on (block means must sum to at most 1)")
        return x

    def domain_hint(self, support):
        if support is constraints.boolean:
            return "{0, 1}", "give binary states with at most one unit on per pooling block"
        return "[0, 1]", "give probabilities of the detection units"

    def base_rate_bias(self, x):
        # independent blocks matching the data's detection marginals: η_i = log p_i − log p_off
        p = self.blocks(x.mean(0)).clamp_min(1e-3)
        off = (1 - p.sum(-1, keepdim=True)).clamp_min(1e-3)
        return self.unblocks((p.log() - off.log())[None])[0]

    # --- torch.nn ----------------------------------------------------------------------------------
    def nn_activation(self):
        """Field (n, size) -> the detection units' probabilities (n, size), the block softmax with
        an "off" state (``BlockSoftmax``); ``SumPool`` turns them into the pooling units'."""
        return BlockSoftmax(self._shape(), self.pool)

    def nn_log_partition(self):
        """Field (n, size) -> each block's log(1 + Σ exp η) = −log p(block off) shared out over
        its detection units in proportion to their probabilities (``BlockLogPartition``): the
        block sums (the pooling layer) are a soft max-pooling of the field through a softplus."""
        return BlockLogPartition(self._shape(), self.pool)

    def nn_mode(self):
        """Field (n, size) -> each block's largest field where it is positive, on the unit that
        holds it (the mode's unit), 0 elsewhere (``BlockMax``): the block sums are ReLU of
        max-pooling, as in an ordinary conv net."""
        return BlockMax(self._shape(), self.pool) if self.pool > 1 else nn.ReLU()

    def nn_pool(self):
        """Detection probabilities (n, size) -> the pooling units' probabilities, the block sums
        (``SumPool``), (n, pooled_size)."""
        return SumPool(self._shape(), self.pool) if self.pool > 1 else nn.Identity()

    def reconstruction_loss(self, eta, target):
        # −log p(target | eta) for states, the cross-entropy of the block distributions for means
        return self.log_partition(eta) - (self.statistic(target) * eta).sum(-1)

    def config(self):
        return {"pool": self.pool, **super().config()}


def _block_normaliser(parts: list[Tensor]) -> tuple[Tensor, list[Tensor], Tensor]:
    """pool² views (n, K, H / pool, W / pool) of a block's field e -> (m, [exp(e − m)], den),
    each of that shape: m = max(0, max e) and den = Σ exp(e − m) + exp(−m), summed in raster
    order, so that the block's log(1 + Σ exp e) is m + log den."""
    m = parts[0]
    for part in parts[1:]:
        m = torch.maximum(m, part)
    m = m.clamp_min(0)
    ex = [(part - m).exp() for part in parts]
    den = ex[0]
    for x in ex[1:]:
        den = den + x
    return m, ex, den + (-m).exp()


def _block_softmax(e: Tensor, m: Tensor, den: Tensor, pool: int) -> Tensor:
    """The detection probabilities exp(e − m) / den, differentiable: e (n, K, H, W), each
    block's shift m and normaliser den (n, K, H / pool, W / pool) -> (n, K, H, W). The block
    values are repeated along W only, so the broadcast over a block's rows reads whole rows."""
    n, k, h, w = e.shape
    if pool > 1:
        m, den = m.repeat_interleave(pool, -1), den.repeat_interleave(pool, -1)
    rows = e.reshape(n, k, h // pool, pool, w)
    return ((rows - m[:, :, :, None, :]).exp() / den[:, :, :, None, :]).reshape(e.shape)


def _block_scatter(out: Tensor, ex: list[Tensor], scale: Tensor) -> Tensor:
    """Each block position's exp(e − m) times its block's ``scale`` (n, K, H / pool, W / pool),
    written into its view of ``out`` (n, K, H, W) with no autograd record; returns ``out``."""
    n, k, h, w = out.shape
    c = math.isqrt(len(ex))
    six = out.view(n, k, h // c, c, w // c, c)
    for index, x in enumerate(ex):
        torch.mul(x, scale, out=six[:, :, :, index // c, :, index % c])
    return out


class _LogPartition(torch.autograd.Function):
    """Σ over blocks of log(1 + Σ_block exp e): (n, K, H, W) -> (n,). Its gradient is the block
    softmax itself, so the backward pass is one product per block position with what the
    forward pass already computed, instead of autograd's way back through the max, the shifts
    and the block sums."""

    @staticmethod
    def forward(ctx, e: Tensor, pool: int) -> Tensor:
        six = e.reshape(e.shape[0], e.shape[1], e.shape[2] // pool, pool, e.shape[3] // pool, pool)
        m, ex, den = _block_normaliser([six[:, :, :, i, :, j] for i in range(pool) for j in range(pool)])
        ctx.save_for_backward(den, *ex)
        ctx.shape = e.shape
        return (m + den.log()).reshape(e.shape[0], -1).sum(-1)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        den, *ex = ctx.saved_tensors
        out = torch.empty(ctx.shape, dtype=den.dtype, device=den.device)
        return _block_scatter(out, ex, grad[:, None, None, None] / den), None


class _BlockModule(nn.Module):
    """A torch.nn module over the pool×pool blocks of a flat (n, K·H·W) layer of ``shape``."""

    def __init__(self, shape, pool: int):
        super().__init__()
        self.shape, self.pool = tuple(shape), int(pool)

    def _six(self, eta: Tensor) -> Tensor:
        """Flat (n, K·H·W) -> the view (n, K, H / pool, pool, W / pool, pool)."""
        k, h, w = self.shape
        c = self.pool
        return eta.reshape(-1, k, h // c, c, w // c, c)

    def extra_repr(self):
        return f"shape={self.shape}, pool={self.pool}"


class BlockSoftmax(_BlockModule):
    """Probabilistic max-pooling's detection probabilities as a torch.nn activation: the field of
    a (K, H, W) layer, flat (n, K·H·W), to exp(η_i) / (1 + Σ_block exp(η_j)), flat."""

    def forward(self, eta: Tensor) -> Tensor:
        e = self._six(eta)
        m = e.amax((3, 5), keepdim=True).clamp_min(0)
        ex = (e - m).exp()
        return (ex / (ex.sum((3, 5), keepdim=True) + (-m).exp())).reshape(eta.shape)


class BlockLogPartition(_BlockModule):
    """Each pool×pool block's log partition log(1 + Σ_block exp η) on its detection units in
    proportion to their softmax within the block: flat (n, K·H·W) -> flat (n, K·H·W) whose block
    sums (``SumPool``) are the log partitions."""

    def forward(self, eta: Tensor) -> Tensor:
        e = self._six(eta)
        top = e.amax((3, 5), keepdim=True)
        ex = (e - top).exp()
        total = ex.sum((3, 5), keepdim=True)
        log_z = F.softplus(top + total.log())  # log(1 + Σ exp e)
        return (ex / total * log_z).reshape(eta.shape)


class BlockMax(_BlockModule):
    """Flat (n, K·H·W) field -> flat (n, K·H·W): each pool×pool block's max where positive, at
    the block's first largest unit (raster order, as ``mode``), 0 elsewhere; the block sums
    (``SumPool``) are ReLU(max-pooling)."""

    def forward(self, eta: Tensor) -> Tensor:
        e = eta.reshape(-1, *self.shape)
        top, where = F.max_pool2d(e, self.pool, return_indices=True)
        return F.max_unpool2d(F.relu(top), where, self.pool, output_size=e.shape[-2:]).reshape(eta.shape)


class SumPool(_BlockModule):
    """Flat (n, K·H·W) detection probabilities or states -> flat (n, K·H/pool·W/pool) block sums:
    the pooling units' probabilities (states)."""

    def forward(self, x: Tensor) -> Tensor:
        if self.pool == 1:
            return x
        y = F.avg_pool2d(x.reshape(-1, *self.shape), self.pool, divisor_override=1)
        return y.reshape(x.shape[0], -1)
