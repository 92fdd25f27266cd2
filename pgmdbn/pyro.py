"""The directed part of a model as a pyro model, and its recognition model as a pyro guide.

``to_pyro(model)`` returns ``(pyro_model, guide)``, two functions of ``data`` (n, n_visible):

* ``pyro_model(data=None, n=None)`` samples every layer by name, top down inside a
  ``pyro.plate("data", n)``: a sigmoid belief net's roots from their biases, each directed
  child given its parents, the visible layer observed as ``data``. A DBN's directed layers sit
  under its undirected top as a prior: the site of the top layer that the directed part shares
  (``TopMarginal``) has the top's marginal p_top(h) = Σ exp(−E) / Z, with log Z given or
  estimated (exact or AIS) once when the model is exported.
* ``guide(data)`` samples the hidden layers bottom up from the recognition model
  q(h | v) = Π q(parent | children), the same sites by name.

Every site's distribution is a pgmdbn unit layer given its field (``UnitsDistribution``), so any
registered unit type works; layers with a finite state space (Bernoulli, softmax) support
enumeration, so pyro's ``TraceEnum_ELBO`` sums small models out exactly, and ``Importance`` with
the guide estimates log p(v) as pgmdbn's importance-weighted bound does.
"""
from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from torch import Tensor
from torch.distributions import constraints

from .errors import UnsupportedModel
from .estimators.directed import TopPrior, _check
from .inference import recognition_field

__all__ = ["to_pyro", "UnitsDistribution", "TopMarginal"]


class _LayerDistribution(dist.TorchDistribution):
    """A distribution over the states of one layer (event: the layer's units)."""

    arg_constraints: dict = {}

    def __init__(self, units, batch_shape, event_shape):
        self.units = units
        super().__init__(torch.Size(batch_shape), torch.Size(event_shape), validate_args=False)

    @property
    def support(self):
        return constraints.independent(self.units.support, 1)

    @property
    def has_enumerate_support(self) -> bool:
        try:
            self.units.states()
        except Exception:
            return False
        return True

    def enumerate_support(self, expand: bool = True) -> Tensor:
        states = self.units.states().to(self._dtype())
        values = states.reshape((len(states),) + (1,) * len(self.batch_shape) + self.event_shape)
        return values.expand((len(states),) + self.batch_shape + self.event_shape) if expand else values


class UnitsDistribution(_LayerDistribution):
    """The layer ``units`` given its field ``eta`` (..., size): ``units.sample`` and ``units.log_prob``."""

    def __init__(self, units, eta: Tensor):
        self.eta = eta
        super().__init__(units, eta.shape[:-1], eta.shape[-1:])

    def _dtype(self):
        return self.eta.dtype

    def expand(self, batch_shape, _instance=None):
        return UnitsDistribution(self.units, self.eta.expand(torch.Size(batch_shape) + self.event_shape))

    def sample(self, sample_shape=torch.Size()) -> Tensor:
        """Draws of shape ``sample_shape + batch_shape + (size,)``. Unlike pgmdbn's own entry
        points this draws from torch's global generator on purpose: pyro distributions follow
        pyro's convention, where ``pyro.set_rng_seed(s)`` (which seeds torch's global generator)
        makes a model's or guide's run reproducible."""
        with torch.no_grad():
            return self.units.sample(self.eta.expand(torch.Size(sample_shape) + self.eta.shape))

    def log_prob(self, value: Tensor) -> Tensor:
        return self.units.log_prob(value.to(self.eta.dtype), self.eta)


class TopMarginal(_LayerDistribution):
    """The marginal of one layer of a DBN's undirected top, its other layers summed out and the
    top's log Z subtracted (``TopPrior``); draws come from block Gibbs on the top."""

    def __init__(self, prior: TopPrior, layer: str, batch_shape=(), dtype=torch.float32, gibbs_steps: int = 200):
        self.prior, self.layer, self.dtype, self.gibbs_steps = prior, layer, dtype, gibbs_steps
        units = prior.top.layer(layer)
        super().__init__(units, batch_shape, (units.size,))

    def _dtype(self):
        return self.dtype

    def expand(self, batch_shape, _instance=None):
        return TopMarginal(self.prior, self.layer, batch_shape, self.dtype, self.gibbs_steps)

    def sample(self, sample_shape=torch.Size()) -> Tensor:
        """Draws of shape ``sample_shape + batch_shape + (size,)`` by ``pgmdbn.sample`` (block
        Gibbs on the top), whose seed is drawn from torch's global generator on purpose: pyro
        distributions follow pyro's convention, where ``pyro.set_rng_seed(s)`` (which seeds torch's
        global generator) makes a model's or guide's run reproducible (as ``UnitsDistribution``'s
        draws do)."""
        from .api import sample

        shape = torch.Size(sample_shape) + self.batch_shape
        n = max(1, shape.numel())
        seed = int(torch.randint(2 ** 31 - 1, ()).item())  # pyro.set_rng_seed makes it reproducible
        draws = sample(self.prior.top, n, steps=self.gibbs_steps, method="gibbs", seed=seed)[self.layer]
        return draws.to(self.dtype).reshape(shape + self.event_shape)

    def log_prob(self, value: Tensor) -> Tensor:
        flat = value.reshape(-1, value.shape[-1])
        out = self.prior.log_prob({self.layer: flat}).to(value.dtype).reshape(value.shape[:-1])
        return out.expand(torch.broadcast_shapes(out.shape, self.batch_shape))  # over the plate, as pyro checks


def to_pyro(model, log_z: float | str = "exact", gibbs_steps: int = 200, **ais_options):
    """``(pyro_model, guide)`` for the directed part of ``model`` (a sigmoid belief net, or a
    DBN with its undirected top as the prior of the layer it shares with the directed part).

    ``log_z`` is the top's log partition function: a number, or an estimator's name ("exact",
    "ais" with ``ais_options``) run once here. ``gibbs_steps``: block-Gibbs steps per draw from
    the top when the model is run forward (prior samples). See the module docstring.
    """
    _check(model)
    prior = TopPrior(model, log_z, progress=False, **ais_options)
    shared = [n for n in prior.layers if model.children_of(n)]
    if len(shared) > 1:
        raise UnsupportedModel(f"the undirected top shares {len(shared)} layers ({', '.join(shared)}) with the "
                               f"directed part; the pyro export takes one")
    visible, down, roots, up = model.visible, model.down_order(), model.roots(), model.up_order()

    def pyro_model(data: Tensor | None = None, n: int | None = None) -> dict[str, Tensor]:
        if data is None and n is None:
            raise ValueError("give data (n, n_visible) to condition on, or n to draw samples")
        n = len(data) if data is not None else n
        dtype = data.dtype if data is not None else torch.get_default_dtype()
        states = {}
        with pyro.plate("data", n):
            for name in shared:
                states[name] = pyro.sample(name, TopMarginal(prior, name, (n,), dtype, gibbs_steps))
            for name in roots:
                units = model.layer(name)
                eta = units.field(None).to(dtype).expand(n, units.size)
                states[name] = pyro.sample(name, UnitsDistribution(units, eta))
            for name in down:
                eta = model.field(name, {p: states[p] for p in model.parents_of(name)}).to(dtype)
                observed = data if name == visible else None
                states[name] = pyro.sample(name, UnitsDistribution(model.layer(name), eta), obs=observed)
        return states

    def guide(data: Tensor, n: int | None = None) -> dict[str, Tensor]:
        states = {visible: data}
        with pyro.plate("data", len(data)):
            for name in up:
                eta = recognition_field(model, name, states).to(data.dtype)
                states[name] = pyro.sample(name, UnitsDistribution(model.layer(name), eta))
        return states

    return pyro_model, guide
