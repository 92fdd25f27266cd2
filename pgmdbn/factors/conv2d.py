"""The convolutional factor: K filters of size k×k shared over positions (a convolutional RBM).

Between an input layer of shape (C, H, W) and an output layer of shape (K, H' − k + 1,
W' − k + 1), where (H', W') = (H, W), or (H / pool, W / pool) when the input layer is a
probabilistic max-pooling layer (``pooled_bernoulli``): then the factor reads the input through
its pooling units (block sums) and sends its message back to every detection unit of a block
(nearest upsampling, the adjoint of the block sum). The energy term is

    −Σ_k  h_k · (W_k ⋆ s_in)        (⋆ the valid cross-correlation of torch's conv2d)

so the message up is ``conv2d(s_in, W)`` and the message down ``conv_transpose2d(s_out, W)``.
Biases are the layers' own (declare the layers with ``channels=`` to share them per filter and
per input channel). The input side is ``a`` for an undirected factor and the child ``b`` for a
directed one (a DBN's h1 → v), unless ``input`` says otherwise; directed, the parent's
recognition field is ``conv2d(s_child, R) + recognition_bias`` with R shaped like W.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..errors import ModelError, UnsupportedModel
from .base import Factor

# the CPU kernels torch dispatches to, fixed for the process (ATEN_CPU_CAPABILITY is read at start-up)
_AVX512 = "AVX512" in torch.backends.cpu.get_cpu_capability()


class Conv2d(Factor):
    """``filters`` filters of ``kernel``×``kernel`` (or (kh, kw)); ``weight`` (K, C, kh, kw)."""

    name = "conv2d"

    def __init__(self, a, b, units_a, units_b, directed, filters: int | None = None, kernel=None,
                 input: str | None = None, weight: Tensor | None = None):
        super().__init__(a, b, units_a, units_b, directed)
        if input is None:
            input = "b" if directed else "a"
        if input not in ("a", "b"):
            raise ModelError(f"factor {self.key} (conv2d): input must be 'a' or 'b' (which end is the image), "
                             f"got {input!r}")
        self.input = input
        in_units, out_units = (units_a, units_b) if input == "a" else (units_b, units_a)
        in_name, out_name = (a, b) if input == "a" else (b, a)
        in_shape, out_shape = tuple(in_units.shape), tuple(out_units.shape)
        for name, shape in ((in_name, in_shape), (out_name, out_shape)):
            if len(shape) != 3:
                raise ModelError(f"factor {self.key} (conv2d): layer {name!r} has shape {shape}; a convolution "
                                 f"joins layers declared with shape=(channels, height, width)")
        if filters is None:
            filters = out_shape[0]
        if kernel is None:
            raise ModelError(f"factor {self.key} (conv2d): give the filter size, kernel=k or kernel=(kh, kw)")
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
        self.filters, self.kernel = int(filters), (int(kh), int(kw))
        self.pool_in = int(getattr(in_units, "pool", 1))  # a pooled input is read through its pooling units
        c, h, w = in_shape
        if h % self.pool_in or w % self.pool_in:
            raise ModelError(f"factor {self.key} (conv2d): layer {in_name!r} of shape {in_shape} does not split "
                             f"into pooling blocks of {self.pool_in}×{self.pool_in}")
        hp, wp = h // self.pool_in, w // self.pool_in
        expected = (self.filters, hp - kh + 1, wp - kw + 1)
        if expected[1] < 1 or expected[2] < 1:
            raise ModelError(f"factor {self.key} (conv2d): a {kh}×{kw} filter does not fit the {hp}×{wp} input "
                             f"of layer {in_name!r}")
        if out_shape != expected:
            pooled = f" (pooled by {self.pool_in} to {(c, hp, wp)})" if self.pool_in > 1 else ""
            raise ModelError(f"factor {self.key} (conv2d): {self.filters} filters of {kh}×{kw} over layer "
                             f"{in_name!r} of shape {in_shape}{pooled} give shape {expected}, but layer "
                             f"{out_name!r} has shape {out_shape}; declare it with shape={expected}")
        self.in_shape, self.out_shape = in_shape, out_shape
        wshape = (self.filters, c, kh, kw)
        self.weight = nn.Parameter(self.start_weight(weight, wshape))  # in the dtype given (default float32)
        if directed:
            self.recognition = nn.Parameter(self.weight.detach().clone())
            self.recognition_bias = nn.Parameter(torch.zeros(self.size_a, dtype=self.weight.dtype))

    # --- the two directions ----------------------------------------------------------------
    def _to_input(self, to: str) -> bool:
        return (to == self.a) == (self.input == "a")

    def _images(self, stat: Tensor) -> Tensor:
        """Input statistic (..., size_in) -> the images the filters read, (n, C, H', W'): the block
        sums of a pooled input."""
        c, h, w = self.in_shape
        x = stat.reshape(-1, c, h, w)
        if self.pool_in > 1:
            p = self.pool_in
            x = x.reshape(-1, c, h // p, p, w // p, p).sum((3, 5))
        return x

    def _up(self, stat: Tensor, weight: Tensor) -> Tensor:
        """Input statistic (..., size_in) -> (..., size_out) by conv2d (after block sums)."""
        return F.conv2d(self._images(stat), weight).reshape(*stat.shape[:-1], -1)

    def _down(self, stat: Tensor, weight: Tensor) -> Tensor:
        """Output statistic (..., size_out) -> (..., size_in) by conv_transpose2d (then upsampled)."""
        lead = stat.shape[:-1]
        y = F.conv_transpose2d(stat.reshape(-1, *self.out_shape), weight)
        if self.pool_in > 1:
            y = y.repeat_interleave(self.pool_in, -2).repeat_interleave(self.pool_in, -1)
        return y.reshape(*lead, -1)

    def _send(self, to: str, stat: Tensor, weight: Tensor) -> Tensor:
        return self._down(stat, weight) if self._to_input(to) else self._up(stat, weight)

    # --- the contract ------------------------------------------------------------------------
    def message(self, to, stat, add=None, beta=1.0):
        dtype = stat.dtype if add is None else torch.promote_types(stat.dtype, add.dtype)
        out = self._send(to, stat.to(dtype), self.weight.to(dtype))
        if beta != 1 or torch.compiler.is_compiling():  # see units.base.scaled
            out = beta * out
        return out if add is None else add.to(dtype) + out

    def interaction(self, stat_a, stat_b):
        s_in, s_out = (stat_a, stat_b) if self.input == "a" else (stat_b, stat_a)
        return (self._up(s_in, self.weight.to(s_in.dtype)) * s_out).sum(-1)

    def gradient(self, stat_a, stat_b):
        """The filters' gradient Σ_n x_n ⋆ y_n, (K, C, kh, kw), from the input images x
        (n, C, H', W') and the output maps y (n, K, h, w): by the backward-weights convolution
        autograd runs, or, on a CPU without AVX-512, as one convolution with the batch as channels
        (the images (C, n, H', W') correlated with the maps (K, n, h, w)). Measured on one core,
        CD-1 of 16 filters of 5×5: the backward kernel is 2-5x faster on an AVX-512 Xeon, and
        2-4x slower on an AVX2 EPYC (issue 22)."""
        if not self.weight.requires_grad:
            return {}
        s_in, s_out = (stat_a, stat_b) if self.input == "a" else (stat_b, stat_a)
        dtype = self.weight.dtype
        x = self._images(s_in.to(dtype))
        y = s_out.to(dtype).reshape(-1, *self.out_shape)
        if x.device.type != "cpu" or _AVX512:
            return {"weight": torch.nn.grad.conv2d_weight(x, self.weight.shape, y)}
        return {"weight": F.conv2d(x.transpose(0, 1), y.transpose(0, 1)).transpose(0, 1)}

    def recognise(self, stat_child):
        dtype = stat_child.dtype
        return self._send(self.a, stat_child, self.recognition.to(dtype)) + self.recognition_bias.to(dtype)

    def config(self):
        return {"filters": self.filters, "kernel": list(self.kernel), "input": self.input}

    def dense(self):
        """The unrolled (size_a, size_b) matrix: row i is the message to ``b`` from the i-th unit
        vector of ``a``."""
        eye = torch.eye(self.size_a, dtype=self.weight.dtype, device=self.weight.device)
        return self._send(self.b, eye, self.weight)

    @torch.no_grad()
    def as_module(self, to, *, recognition=False, add=None, in_scale=None, out_scale=None):
        """A ``ConvField``: the convolution (up, block sums of a pooled input first) or its
        transpose (down, then upsampled to the blocks) with a copy of the filters, ``add`` as a
        bias map of the layer's shape. A convolution scales whole channels, so ``in_scale`` and
        ``out_scale`` must be constant over each channel's positions (``UnsupportedModel``
        otherwise)."""
        if to not in (self.a, self.b):
            raise ModelError(f"factor {self.key} joins {self.a!r} and {self.b!r}, not {to!r}")
        if recognition and (not self.directed or to != self.a):
            raise ModelError(f"factor {self.key}: recognition runs from a directed factor's child {self.b!r} to its "
                             f"parent {self.a!r}")
        down = self._to_input(to)
        source, target = (self.out_shape, self.in_shape) if down else (self.in_shape, self.out_shape)
        weight = (self.recognition if recognition else self.weight).detach().float().clone()  # (K, C, kh, kw)
        bias = torch.zeros(target, device=weight.device)
        if recognition:
            bias = bias + self.recognition_bias.detach().float().reshape(target)
        if add is not None:
            bias = bias + add.detach().float().reshape(target)
        # the source's channels are the filters' inputs going up and their outputs coming down
        source_axis, target_axis = (0, 1) if down else (1, 0)
        if in_scale is not None:
            weight = weight * _broadcast(_per_channel(in_scale, source, "input scale"), source_axis)
        if out_scale is not None:
            scale = _per_channel(out_scale, target, "output scale")
            weight, bias = weight * _broadcast(scale, target_axis), bias * scale[:, None, None]
        return ConvField(weight, bias, source, self.pool_in, transposed=down)

    @property
    def flops(self) -> int:
        """Multiply-adds of one message per example (for speed figures)."""
        return math.prod(self.out_shape) * math.prod(self.weight.shape[1:])

    def extra_repr(self):
        return f"{super().extra_repr()}, W {tuple(self.weight.shape)}"


def _per_channel(scale: Tensor, shape: tuple[int, int, int], what: str) -> Tensor:
    """A per-unit scale (C·H·W,) of a (C, H, W) layer as one value per channel (C,), or a refusal."""
    per = scale.detach().float().reshape(shape[0], -1)
    if not torch.allclose(per, per[:, :1].expand_as(per)):
        raise UnsupportedModel(f"a convolution takes one {what} per channel; this layer's varies over positions")
    return per[:, 0]


def _broadcast(scale: Tensor, axis: int) -> Tensor:
    """(n,) -> a view that scales axis ``axis`` (0 or 1) of a (K, C, kh, kw) filter bank."""
    return scale[:, None, None, None] if axis == 0 else scale[None, :, None, None]


class ConvField(nn.Module):
    """A conv2d factor's field as a ``torch.nn`` layer on flat rows: (n, size_source) reshaped to
    ``source`` (C, H, W); going up, its pool×pool blocks summed first when the input is a pooled
    layer (``pool``, as the factor reads its pooling units), then ``conv2d(x, weight)``; going down
    (``transposed``), ``conv_transpose2d(x, weight)`` sent to every unit of a block. Then plus
    ``bias``, a map of the target layer's shape (a model's biases are per unit), flattened.
    ``weight`` (K, C, kh, kw) and ``bias`` are parameters (trained by fine-tuning)."""

    def __init__(self, weight: Tensor, bias: Tensor, source, pool: int = 1, transposed: bool = False):
        super().__init__()
        self.source, self.pool, self.transposed = tuple(source), int(pool), bool(transposed)
        self.in_features, self.out_features = math.prod(self.source), bias.numel()
        self.weight = nn.Parameter(weight)
        self.bias = nn.Parameter(bias)

    def forward(self, x: Tensor) -> Tensor:
        x = x.reshape(-1, *self.source)
        if self.transposed:
            y = F.conv_transpose2d(x, self.weight)
            if self.pool > 1:
                y = y.repeat_interleave(self.pool, -2).repeat_interleave(self.pool, -1)
        else:
            if self.pool > 1:
                x = F.avg_pool2d(x, self.pool, divisor_override=1)
            y = F.conv2d(x, self.weight)
        return (y + self.bias).flatten(1)

    def extra_repr(self):
        direction = "transposed, " if self.transposed else ""
        return (f"{direction}source={self.source}, weight={tuple(self.weight.shape)}, pool={self.pool}, "
                f"bias={tuple(self.bias.shape)}")
