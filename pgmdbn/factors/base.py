"""The factor-type contract: what every engine and estimator needs from an edge of the graph.

A factor joins layer ``a`` to layer ``b``. Undirected, it adds the interaction term
``-interaction(s_a, s_b)`` to the energy (an RBM's ``-s_aᵀ W s_b``); directed (``a`` the parent,
``b`` the child) it sends ``a``'s statistic into ``b``'s field, so p(b | a) is ``b``'s unit
type with that field, and it carries the recognition direction q(a | b) used by the up-pass.
Every message is linear in the statistic it is computed from; the exact estimator's
enumeration and AIS rely on that.

Shapes: statistics are flat, ``(..., size)``; a factor that needs a layer's spatial shape
reads ``units.shape`` (e.g. ``(1, 28, 28)``, whose product is the size).
"""
from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from .. import validation
from ..errors import ModelError
from ..units import Units


class Factor(nn.Module):
    """Base class of factor types; subclasses set ``name`` and implement the methods marked
    "required" (``recognise`` only if the type can be directed), and ``reset_parameters`` unless
    their weights are one ``weight`` parameter. Parameters named ``*bias`` get no weight decay."""

    name: ClassVar[str] = "factor"

    def __init__(self, a: str, b: str, units_a: Units, units_b: Units, directed: bool):
        super().__init__()
        self.a, self.b, self.directed = a, b, bool(directed)
        self.shape_a, self.shape_b = tuple(units_a.shape), tuple(units_b.shape)
        self.size_a, self.size_b = units_a.size, units_b.size

    # --- required ------------------------------------------------------------------------
    def message(self, to: str, stat: Tensor, add: Tensor | None = None, beta: float = 1.0) -> Tensor:
        """``add + beta * message`` to layer ``to`` from the other end's statistic:
        (..., size_other) -> (..., size_to). ``add`` is a bias (size_to,) or a field (..., size_to)."""
        raise NotImplementedError

    def interaction(self, stat_a: Tensor, stat_b: Tensor) -> Tensor:
        """The interaction term per example: (..., size_a), (..., size_b) -> (...)."""
        raise NotImplementedError

    def recognise(self, stat_child: Tensor) -> Tensor:
        """Directed factors: the parent's recognition field (including its recognition bias)
        from the child's statistic, (..., size_b) -> (..., size_a)."""
        raise NotImplementedError

    @torch.no_grad()
    def reset_parameters(self, scale: float, generator: torch.Generator | None = None) -> None:
        """Random initial weights of size ``scale``, drawn from ``generator`` (reproducible with a
        seeded one; None: a fresh generator seeded from the operating system's entropy, never
        torch's global one); recognition weights start tied to the generative ones. Default: a
        ``weight`` parameter ~ N(0, scale²) and, when directed, ``recognition`` a copy of it;
        other layouts override this and draw only from ``generator``."""
        if generator is None:
            generator = validation.generator(None)
        w = torch.randn(self.weight.shape, generator=generator) * scale
        self.weight.copy_(w)
        if self.directed:
            self.recognition.copy_(w)

    def start_weight(self, weight, shape: tuple[int, ...]) -> Tensor:
        """The starting value of a ``weight=`` option: zeros of ``shape`` (float32) when None, else
        a copy of the given tensor in its own floating dtype (a float64 matrix stays float64; the
        factor's other parameters follow it). Refuses anything but a floating tensor of ``shape``."""
        if weight is None:
            return torch.zeros(shape)
        if not isinstance(weight, Tensor):
            raise ModelError(f"factor {self.key} ({self.name}): weight must be a torch.Tensor of shape {shape}, got "
                             f"a {type(weight).__name__}; convert it with torch.as_tensor(...)")
        if tuple(weight.shape) != tuple(shape):
            raise ModelError(f"factor {self.key} ({self.name}): weight of shape {tuple(weight.shape)} does not fit; "
                             f"expected {tuple(shape)}")
        if not weight.is_floating_point():
            raise ModelError(f"factor {self.key} ({self.name}): weight has dtype {weight.dtype}; weights are "
                             f"floating point, pass weight.float() (or .double() for a float64 factor)")
        return weight.detach().clone()

    # --- optional --------------------------------------------------------------------------
    @classmethod
    def parameter_count(cls, size_a: int, size_b: int, directed: bool, **config) -> int | None:
        """How many parameter entries a factor of these sizes creates, known before it is made
        (``pgmdbn.limits.max_parameters`` is checked against it), or None when unknown."""
        return None

    def gradient(self, stat_a: Tensor, stat_b: Tensor) -> dict[str, Tensor]:
        """∂/∂θ of Σ_rows interaction(stat_a, stat_b) for each trainable parameter θ of the factor,
        {name: tensor of θ's shape}; (n, size_a), (n, size_b). Row weights go into one argument
        (the interaction is bilinear). Trainers take the CD, PCD and DBM gradients from it with
        s(mean) as the statistic of each summed layer (∂A/∂η = s(mean)). Default: by autograd
        through ``interaction``, right for every factor; types override it with a direct form
        (a dense W: stat_aᵀ stat_b)."""
        params = {name: p for name, p in self.named_parameters() if p.requires_grad}
        with torch.enable_grad():
            total = self.interaction(stat_a, stat_b).sum()
            grads = torch.autograd.grad(total, list(params.values()), allow_unused=True)
        return {name: g for name, g in zip(params, grads) if g is not None}

    def config(self) -> dict:
        """Constructor options besides the layers (JSON-ready; saved in model files)."""
        return {}

    def dense(self) -> Tensor:
        """The equivalent (size_a, size_b) matrix, for conversion to ``torch.nn`` layers."""
        raise ModelError(f"factor {self.key} ({self.name}) has no dense matrix form")

    @torch.no_grad()
    def as_module(self, to: str, *, recognition: bool = False, add: Tensor | None = None,
                  in_scale: Tensor | None = None, out_scale: Tensor | None = None) -> nn.Module:
        """A ``torch.nn`` module (float32, owning copies of the parameters) computing the field
        this factor gives layer ``to`` from the other layer's values x, flat
        (n, size_other) -> (n, size_to):

            out_scale * (add + message(to, in_scale * x))

        or, with ``recognition`` (a directed factor read upwards, ``to`` its parent), ``recognise``
        (recognition bias included) in place of the message. ``add`` (size_to,) is a bias,
        ``in_scale`` (size_other,) and ``out_scale`` (size_to,) per-unit scales (the unit
        contract's ``scales``); None: 0 and 1. Converters (classifier, autoencoder) build their
        networks from it and put the layer's ``nn_activation`` after it. Default: an
        ``nn.Linear`` from ``dense()`` (or from ``recognise`` applied to the unit vectors);
        types with a cheaper structure (a convolution) override it."""
        if to not in (self.a, self.b):
            raise ModelError(f"factor {self.key} joins {self.a!r} and {self.b!r}, not {to!r}")
        if recognition:
            if not self.directed or to != self.a:
                raise ModelError(f"factor {self.key}: recognition runs from a directed factor's child "
                                 f"{self.b!r} to its parent {self.a!r}")
            like = next(self.parameters())
            offset = self.recognise(torch.zeros(1, self.size_b, dtype=like.dtype, device=like.device))[0]
            eye = torch.eye(self.size_b, dtype=like.dtype, device=like.device)
            weight, bias = (self.recognise(eye) - offset).T, offset  # (size_a, size_b), (size_a,)
        else:
            matrix = self.dense()  # (size_a, size_b): the message to b is s_a @ matrix
            weight = matrix.T if to == self.b else matrix
            bias = weight.new_zeros(weight.shape[0])
        weight, bias = weight.detach().float(), bias.detach().float()
        if add is not None:
            bias = bias + add.detach().float()
        if in_scale is not None:
            weight = weight * in_scale.detach().float()[None, :]
        if out_scale is not None:
            out_scale = out_scale.detach().float()
            weight, bias = weight * out_scale[:, None], bias * out_scale
        linear = nn.utils.skip_init(nn.Linear, weight.shape[1], weight.shape[0], device=weight.device)
        linear.weight.copy_(weight)  # skip_init: no draw from torch's global generator
        linear.bias.copy_(bias)
        return linear

    def offsets(self) -> dict[str, Tensor]:
        """Centering offsets, ``{layer: (size,) buffer}`` for each end layer, of a factor whose
        parameters train in centered coordinates (``pgmdbn.centering``; the ``"centered"`` type).
        The buffers are moved in place toward the data-driven means; moving them must not change
        the model, only the coordinates its gradient is taken in. Default ``{}``: not centered."""
        return {}

    # --- derived ---------------------------------------------------------------------------
    @property
    def key(self) -> str:
        return f"{self.a}{'->' if self.directed else '--'}{self.b}"

    def other(self, layer: str) -> str:
        return self.b if layer == self.a else self.a

    def extra_repr(self) -> str:
        kind = "directed" if self.directed else "undirected"
        options = "".join(f", {k}={v}" for k, v in self.config().items())
        return f"{self.a} {'→' if self.directed else '—'} {self.b}, {kind}, {self.name}{options}"
