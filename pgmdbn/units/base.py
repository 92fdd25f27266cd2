"""The unit-type contract.

A layer of units is an exponential family in its *statistic* ``s(x)``:

    p(x | eta) ∝ exp(-base_energy(x) + beta * s(x) · eta)

where ``eta`` (the *field*) is the layer's natural bias plus everything the factors send in
(``W s(x_other)``). Every engine and estimator is written against the methods below, so a new
unit type only has to describe its own conditional distribution.

Shapes: ``x`` and ``eta`` are ``(..., size)``; per-example reductions return ``(...)``.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.distributions import constraints

from ..errors import DataError, ModelError, UnsupportedModel


def scaled(eta: Tensor, beta: float) -> Tensor:
    """beta * eta, without the copy when beta is 1 (the common case in training and enumeration).
    A compiled graph always multiplies: comparing a symbolic temperature with 1 would guard on
    its value, and a graph specialised to one temperature is compiled anew for the next."""
    if torch.compiler.is_compiling():
        return beta * eta
    return eta if isinstance(beta, (int, float)) and beta == 1 else beta * eta


class Units(nn.Module):
    """A layer of ``size`` units of one type; subclasses set ``name``, ``discrete`` and ``support``
    (and ``data_support`` where training data may hold more than exact samples, e.g. [0, 1])."""

    name: str = "units"
    discrete: bool = True
    #: the strict domain of a sample, and of data for an exact likelihood (a torch constraint)
    support: constraints.Constraint = constraints.real
    #: what training data may hold; None means the same as ``support``
    data_support: constraints.Constraint | None = None

    def __init__(self, size: int, channels: int | None = None):
        super().__init__()
        if int(size) != size or size < 1:
            raise ValueError(f"{type(self).__name__}: size must be a positive integer, got {size!r}")
        self.size = int(size)
        self.channels = None if channels is None else int(channels)
        if self.channels is None:
            self.bias = nn.Parameter(torch.zeros(self.size))
        else:  # one bias per channel, shared over the positions of a (channels, H, W) layer
            if self.channels < 1 or self.size % self.channels:
                raise ValueError(f"{type(self).__name__}: channels={channels!r} must divide the size {self.size}")
            self.channel_bias = nn.Parameter(torch.zeros(self.channels))
        self.layer_name = "?"  # set by Model.add_layer, used in error messages

    def __getattr__(self, name: str):
        # ``bias`` is the per-unit vector every engine reads; with ``channels`` it is the per-channel
        # parameter ``channel_bias`` repeated over each channel's positions (channel-major layout,
        # as a flattened (C, H, W) image), so gradients and updates are shared within a channel
        if name == "bias":
            params = self.__dict__["_parameters"]
            if "bias" in params:
                return params["bias"]
            if "channel_bias" in params:
                return params["channel_bias"].repeat_interleave(self.size // self.channels)
        return super().__getattr__(name)

    def set_bias(self, values: Tensor) -> None:
        """Set the bias to the per-unit ``values`` (size,); a channel-shared bias takes each
        channel's average."""
        with torch.no_grad():
            if self.channels is None:
                self.bias.copy_(values)
            else:
                self.channel_bias.copy_(values.reshape(self.channels, -1).mean(1))

    def bias_gradient(self, grad: Tensor) -> dict[str, Tensor] | None:
        """The gradients of the layer's trainable parameters, {name: tensor}, of a function that
        reads them only through the per-unit ``bias`` and has gradient ``grad`` (size,) there (a
        channel-shared bias sums its channel's share). None when the type trains other parameters
        too (a learned variance): their gradient is not a function of the bias's, and trainers
        then take the whole gradient by autograd."""
        params = {name: p for name, p in self.named_parameters() if p.requires_grad}
        own = "bias" if self.channels is None else "channel_bias"
        if set(params) - {own}:
            return None
        if own not in params:
            return {}
        return {own: grad if self.channels is None else grad.reshape(self.channels, -1).sum(1)}

    def check_shape(self, shape: tuple[int, ...]) -> None:
        """Called by ``Model.add_layer`` with the layer's shape; a type that needs a spatial layout
        (pooling blocks, a channel-shared bias) refuses one it cannot use with a ModelError."""
        if self.channels is not None and (len(shape) < 2 or shape[0] != self.channels):
            raise ModelError(f"layer {self.layer_name!r}: channels={self.channels} shares the bias per channel of "
                             f"a (channels, H, W) layer; declare shape=({self.channels}, H, W), got {shape}")

    # --- the conditional distribution given a field ------------------------------------
    def log_partition(self, eta: Tensor, beta: float = 1.0, like: Tensor | None = None) -> Tensor:
        """Σ over units of the cumulant A(beta*eta): (..., size) -> (...)."""
        raise NotImplementedError

    def mean(self, eta: Tensor, beta: float = 1.0, like: Tensor | None = None) -> Tensor:
        """E[x | eta]: (..., size) -> (..., size)."""
        raise NotImplementedError

    def log_partition_and_mean(self, eta: Tensor, like: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(log_partition(eta), mean(eta)) at beta 1, (...) and (..., size): what a closed-form
        training step needs of a summed layer. Types whose two share work (a softmax's
        normaliser) override it to do that work once."""
        return self.log_partition(eta, like=like), self.mean(eta, like=like)

    def sample(self, eta: Tensor, beta: float = 1.0, generator: torch.Generator | None = None,
               like: Tensor | None = None, noise: Tensor | None = None) -> Tensor:
        """One draw of x given eta: (..., size) -> (..., size). Types whose ``noise`` gives the
        random numbers of a draw take them as ``noise`` (then ``generator`` is unused) and draw
        ``self.noise(eta.shape, generator, ...)`` otherwise, so both give the same sample. A draw
        consumes its noise: the type may write the sample into it."""
        raise NotImplementedError

    def noise(self, shape: tuple[int, ...], generator: torch.Generator | None = None,
              dtype: torch.dtype | None = None, device=None) -> Tensor | None:
        """The random numbers one ``sample`` of fields of ``shape`` consumes, drawn ahead of it:
        compiled loops (``compile=True``) draw them in bulk outside the captured graph, since a
        graph cannot take a ``torch.Generator``. None (the default): the type draws inside
        ``sample`` only, and a compiled loop leaves its draws outside the graph."""
        return None

    def draw_ahead(self, shape: tuple[int, ...], generator: torch.Generator | None = None,
                   dtype: torch.dtype | None = None, device=None) -> Tensor | None:
        """``noise``, as the loops that draw before sampling ask for it: None unless this type's
        ``sample`` comes from the class that defines its ``noise`` (a subclass that overrides
        ``sample`` alone keeps drawing inside it, and is never passed ``noise``)."""
        mro = type(self).__mro__
        owner = {name: next(k for k in mro if name in vars(k)) for name in ("sample", "noise")}
        return self.noise(shape, generator, dtype, device) if owner["sample"] is owner["noise"] else None

    def mode(self, eta: Tensor, like: Tensor | None = None) -> Tensor:
        """The most probable x given eta."""
        raise NotImplementedError

    def log_partition_change(self, eta: Tensor, beta: float, prev: float) -> Tensor:
        """A(beta * eta) - A(prev * eta) per example in float64, (..., size) -> (...): the change of
        the summed layer's log partition between two annealing temperatures (AIS, RAISE). Types
        override it where a direct form is cheaper or more accurate than the difference."""
        wide = eta.double()
        return self.log_partition(wide, beta) - self.log_partition(wide, prev)

    def log_prob(self, x: Tensor, eta: Tensor, like: Tensor | None = None) -> Tensor:
        """log p(x | eta) per example: (..., size), (..., size) -> (...).

        ``like`` is ignored: the conserved quantities (document length) are read from ``x``."""
        return -self.base_energy(x) + (self.statistic(x) * eta).sum(-1) - self.log_partition(eta, like=x)

    # --- the layer's own terms ---------------------------------------------------------
    def statistic(self, x: Tensor) -> Tensor:
        """s(x), what the layer sends through its factors (x itself for most types)."""
        return x

    def base_energy(self, x: Tensor) -> Tensor:
        """Energy terms that do not involve the bias (e.g. Gaussian quadratic): (..., size) -> (...)."""
        return x.new_zeros(x.shape[:-1])

    def energy(self, x: Tensor) -> Tensor:
        """The layer's own energy: base energy minus bias · s(x). (..., size) -> (...)."""
        return self.base_energy(x) - self.statistic(x) @ self.bias.to(x.dtype)

    def field(self, inputs: Tensor | None = None) -> Tensor:
        """eta = natural bias + inputs from factors."""
        return self.bias if inputs is None else inputs + self.bias.to(inputs.dtype)

    # --- enumeration, data, conditioning ----------------------------------------------
    def states(self, like: Tensor | None = None) -> Tensor:
        """All joint states of the layer, (n_states, size); only for small discrete layers."""
        raise DataError(f"layer {self.layer_name!r} ({self.name}) has no finite state space to enumerate")

    def state_chunks(self, chunk_size: int, like: Tensor | None = None):
        """Yield ``states(like)`` in pieces of at most ``chunk_size`` rows (bounded memory)."""
        yield from self.states(like).split(chunk_size)

    def unit_values(self) -> Tensor | None:
        """The values one unit can take, for layers of independent discrete units (else None);
        pseudo-likelihood conditions on all units but one."""
        return None

    def log_state_count(self, like: Tensor | None = None) -> float:
        """log of the number of joint states (to decide whether enumeration is feasible)."""
        return float("inf")

    def conserved(self, x: Tensor) -> Tensor | None:
        """Per-example quantities a sampler must keep fixed (e.g. document length), or None."""
        return None

    # --- categorical layers: integer class indices ---------------------------------------
    @property
    def categories(self) -> int | None:
        """The number of states when the layer is one categorical variable (e.g. a label), else None."""
        return None

    def encode(self, index) -> Tensor:
        """Integer class indices (n,) or a scalar -> the layer's one-hot rows (n, size) or (size,)."""
        raise DataError(f"layer {self.layer_name!r} is of type {self.name}, which takes no integer class values: "
                        f"integer values need a categorical layer (softmax); pass (n, {self.size}) rows instead")

    def _check_indices(self, index) -> Tensor:
        """``index`` as a long tensor of class indices in 0..categories-1, or a DataError."""
        index = torch.as_tensor(index)
        k = self.categories
        if index.is_floating_point() or index.is_complex() or index.dtype == torch.bool:
            if index.dtype == torch.bool or not torch.equal(index, index.round()):
                raise DataError(f"layer {self.layer_name!r} ({self.name}) takes integer class indices in "
                                f"0..{k - 1}, got {index.flatten()[:5].tolist()}")
        index = index.long()
        if index.ndim > 1:
            raise DataError(f"layer {self.layer_name!r} ({self.name}): class indices must be a scalar or of shape "
                            f"(n,), got {tuple(index.shape)}")
        bad = (index < 0) | (index >= k)
        if bad.any():
            raise DataError(f"layer {self.layer_name!r} ({self.name}) has {k} categories: class indices must lie "
                            f"in 0..{k - 1}, got {index[bad].flatten()[0].item()}")
        return index

    # --- conversion to torch.nn (classifier, autoencoder) -------------------------------
    def _not_convertible(self, what: str):
        return UnsupportedModel(f"layer {self.layer_name!r} of type {self.name} cannot be converted to torch.nn: "
                                f"the unit type defines no {what}")

    def nn_activation(self) -> nn.Module:
        """The module ``act`` with mean(eta) = out_scale * act(eta) (see ``scales``), applied to the
        field over the last dimension (times the conserved total for a layer that has one)."""
        raise self._not_convertible("nn_activation()")

    def nn_pool(self) -> nn.Module:
        """The module taking ``nn_activation``'s output (n, size) to the features this layer hands
        a classifier's output layer when it is the top of the up-pass, (n, features). Default:
        ``nn.Identity`` (the units' own means); a pooling layer gives its pooling units'."""
        return nn.Identity()

    def nn_log_partition(self) -> nn.Module:
        """The module taking the field (n, size) to each variable's log partition (for a binary
        variable −log p(off), a softplus of the field), shared out over the variable's units in
        proportion to their means, (n, size): a variable's units sum to its log partition. The
        activation of a "log_partition" classifier (``to_classifier``): unbounded where the mean
        saturates, and equal to the mean to first order where it is small (a sparse layer), so
        pretrained weights still fit it."""
        raise self._not_convertible("nn_log_partition()")

    def nn_mode(self) -> nn.Module:
        """The module taking the field η (n, size) to s(mode(η)) ⊙ η, the mode's statistic times
        the field (n, size): each variable's log partition at zero temperature,
        lim_{β→∞} A(βη) / β = max over its states of s · η, on the units the mode turns on (a
        ReLU for Bernoulli units; for a pooling block, ReLU of its max). Its gradient is the
        mode, as the mean is the log partition's. The activation of a "mode" classifier
        (``to_classifier``): the max-product counterpart of the mean-field up-pass."""
        raise self._not_convertible("nn_mode()")

    def nn_input(self, x: Tensor) -> Tensor:
        """What a torch.nn form (an unrolled encoder) feeds its first Linear from data ``x`` of
        this layer, before the ``scales`` fold: x itself (default), or for a type whose statistic
        rescales each example as a whole (a length-normalised replicated softmax: L x / D) that
        statistic. (n, size) -> (n, size)."""
        return x

    def scales(self) -> tuple[Tensor, Tensor]:
        """(out_scale, in_scale), each (size,), detached: the mean is out_scale * act(field), and the
        layer sends in_scale * nn_input(x) through its factors (its statistic as a per-unit scaling
        of x). Default: ones, for types that send x itself; a type with its own ``statistic`` must
        override it."""
        if type(self).statistic is not Units.statistic:
            raise self._not_convertible("scales() (its statistic is not x itself)")
        one = torch.ones(self.size, dtype=self.bias.dtype, device=self.bias.device)
        return one, one

    def reconstruction_loss(self, eta: Tensor, target: Tensor) -> Tensor:
        """The loss per example, (n, size), (n, size) -> (n,), of an output layer with field ``eta``
        reconstructing ``target`` (the training loss of an unrolled autoencoder)."""
        raise self._not_convertible("reconstruction_loss()")

    def validate(self, x: Tensor, *, exact: bool = False) -> Tensor:
        """Check shape and finiteness of data for this layer, and that it lies in ``data_support``
        or, with ``exact=True``, in ``support`` (the strict domain an exact likelihood needs, e.g.
        {0, 1}). Subclasses override ``domain_hint`` for the wording of the refusal.
        """
        if not isinstance(x, Tensor):
            x = torch.as_tensor(x)
        if x.ndim != 2 or x.shape[-1] != self.size:
            raise DataError(
                f"layer {self.layer_name!r} expects data of shape (n, {self.size}), got {tuple(x.shape)}; "
                f"reshape or select the right columns")
        if x.shape[0] == 0:
            raise DataError(f"layer {self.layer_name!r}: the data set is empty")
        in_range = None
        if x.is_floating_point():
            # one pass for the common case: finite extremes mean finite data (NaN propagates)
            lo, hi = (float(v) for v in torch.aminmax(x)) if x.numel() else (0.0, 0.0)
            in_range = (lo, hi)
            bad = None if math.isfinite(lo) and math.isfinite(hi) else ~torch.isfinite(x)
            if bad is not None and bad.any():
                row, col = (int(i) for i in bad.nonzero()[0])
                raise DataError(
                    f"layer {self.layer_name!r}: non-finite value {x[row, col].item()} at row {row}, "
                    f"column {col}; remove or impute missing values first")
        support = self.support if exact or self.data_support is None else self.data_support
        if support is constraints.unit_interval and in_range is not None and 0 <= in_range[0] <= in_range[1] <= 1:
            return x  # [0, 1] follows from the extremes already taken
        if support is not constraints.real:
            self._check_support(x, support, *self.domain_hint(support))
        return x

    def domain_hint(self, support: constraints.Constraint) -> tuple[str, str]:
        """(the domain in words, how to fix data outside it) for a refusal by ``validate``."""
        return str(support), f"map the data into the domain of {self.name} units"

    def _check_support(self, x: Tensor, support: constraints.Constraint, domain: str, fix: str) -> None:
        ok = support.check(x)
        if ok.all():
            return
        if ok.ndim == x.ndim:  # element-wise constraint
            self._first_bad(x, ~ok, domain, fix)
        row = int((~ok).nonzero()[0][0])  # a constraint on whole rows (event_dim 1)
        raise DataError(f"layer {self.layer_name!r} ({self.name}) needs rows in {domain}, row {row} is "
                        f"{x[row].tolist() if x.shape[-1] <= 10 else 'not'}; {fix}")

    def _first_bad(self, x: Tensor, bad: Tensor, domain: str, fix: str) -> None:
        if bad.any():
            row, col = (int(i) for i in bad.nonzero()[0])
            raise DataError(
                f"layer {self.layer_name!r} ({self.name}) needs values in {domain}, got {x[row, col].item()} "
                f"at row {row}, column {col}; {fix}")

    def base_rate_bias(self, x: Tensor) -> Tensor:
        """The bias under which independent units match the data's marginals (the other
        parameters kept as they are); AIS starts from it."""
        return torch.zeros_like(self.bias)

    def init_from_data(self, x: Tensor) -> None:
        """Base-rate initialisation of the bias from data of this layer."""
        self.set_bias(self.base_rate_bias(x))

    def config(self) -> dict:
        """Constructor arguments besides ``size`` (for save/load and printing)."""
        return {} if self.channels is None else {"channels": self.channels}

    def extra_repr(self) -> str:
        extra = "".join(f", {k}={v}" for k, v in self.config().items())
        return f"{self.name}, size={self.size}{extra}"
