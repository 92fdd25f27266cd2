"""Contrastive divergence (CD-k) and persistent CD (PCD-k) for RBM-shaped models of any unit types.

"RBM-shaped": the layers split into two colour classes with no factor inside either, the data
gives the first (visible; a DBN's top RBM takes its penultimate layer and the labels there) and
the second is summed out. Both engines give a surrogate loss ``mean F(data) - mean F(model)``
whose gradient is the likelihood gradient with the model expectation replaced by samples. That
gradient is taken in closed form (``pgmdbn.gradients``: differences of outer products of
statistics and means, exact for every unit type since ∂A/∂η = s(mean)), or with
``gradient="autograd"`` by autograd through the free energy F, the reference, which a model
with a unit type that trains more than its bias (learned variances) always takes.
``centering=rate`` trains centered factors in centered coordinates
(``pgmdbn.centering``), the default for models that have them.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..centering import Centering
from ..compiled import compiled
from ..gradients import LinearGradient, closed_form, phase_stats, signed_weights
from ..protocols import PersistentChains
from .gibbs import BlockGibbs


class CD:
    """CD-k: chains start at the data batch and run k Gibbs sweeps.

    The random numbers of an update are drawn first, in bulk (``BlockGibbs.draw``); the update
    itself is a pure function of the batch, the chains and those numbers, which ``compile=True``
    captures whole (``pgmdbn.compiled``) and the default path runs as it is.

    ``centering`` is the sliding-average rate of the offsets of centered factors (see
    ``pgmdbn.centering.Centering.option``): None centers a model that has them at the default rate.
    ``gradient``: "closed" (closed form where the model has one, see ``pgmdbn.gradients``) or
    "autograd" (through the free energy; the reference)."""

    kind = "trainer"
    structures = ("rbm",)

    def __init__(self, model, k: int = 1, generator: torch.Generator | None = None, compile: bool = False,
                 centering: float | None = None, gradient: str = "closed"):
        if k < 1:
            raise ValueError(f"k (Gibbs steps per update) must be at least 1, got {k}")
        self.model, self.k = model, k
        self.sampler = BlockGibbs(model, generator=generator)
        self.data_layers, self.hidden = self.sampler.colours
        if not self.hidden:
            raise ValueError("CD needs a hidden layer to sum out; the model has a single colour class")
        self.negative: dict[str, Tensor] | None = None  # the last model sample (up-down's sleep phase reads it)
        self.closed = closed_form(model, gradient)
        self.linear = LinearGradient(model) if self.closed else None
        self._step = compiled(self._closed if self.closed else self._loss, next(model.parameters()).device, compile)
        self.centering = Centering.option(model, centering)

    def _noise(self, rows: int) -> dict[str, Tensor]:
        """The random numbers of one update: k draws of every layer, {layer: (k, rows, size)}."""
        return self.sampler.draw(self.data_layers + self.hidden, rows, self.k)

    def _sweeps(self, states: dict, noise: dict, hidden_from: int) -> None:
        """k × (visible | hidden, then hidden | visible), leaving a fresh visible sample last; the
        hidden draws use noise rows hidden_from, hidden_from + 1, …"""
        for i in range(self.k):
            self.sampler.update(states, self.data_layers, noise=_at(noise, self.data_layers, i))
            if i < self.k - 1:
                self.sampler.update(states, self.hidden, noise=_at(noise, self.hidden, hidden_from + i))

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        loss, self.negative, fields = self._step(batch, self._noise(len(next(iter(batch.values())))))
        return self._centred(batch, fields, loss)

    def _centred(self, batch: dict[str, Tensor], fields: dict[str, Tensor], loss) -> Tensor:
        """The loss (a tensor, or (value, closed-form gradients)) in centered coordinates (offsets
        moved first), from the hidden fields given the data."""
        if isinstance(loss, tuple):
            loss = self.linear.loss(*loss)
        if self.centering is None:
            return loss
        means = {n: self.model.layer(n).mean(eta) for n, eta in fields.items()}
        return self.centering(batch, means, loss)

    def _loss(self, batch: dict[str, Tensor], noise: dict[str, Tensor]
              ) -> tuple[Tensor, dict[str, Tensor], dict[str, Tensor]]:
        f_data, fields = self.model.free_energy(batch, return_fields=True)
        with torch.no_grad():
            states = dict(batch)
            self.sampler.update(states, self.hidden, fields={n: fields[n].detach() for n in self.hidden},
                                noise=_at(noise, self.hidden, 0))
            self._sweeps(states, noise, 1)
        f_model = self.model.free_energy({n: states[n] for n in self.data_layers})
        return f_data.mean() - f_model.mean(), states, {n: fields[n].detach() for n in self.hidden}

    @torch.no_grad()
    def _closed(self, batch: dict[str, Tensor], noise: dict[str, Tensor]
                ) -> tuple[tuple[Tensor, list[Tensor]], dict[str, Tensor], dict[str, Tensor]]:
        """``_loss`` with its gradient in closed form: ((value, gradients), chains, fields)."""
        f_data, fields, means = self.model.free_energy(batch, return_fields=True, return_means=True)
        states = dict(batch)
        self.sampler.update(states, self.hidden, fields=fields, noise=_at(noise, self.hidden, 0))
        self._sweeps(states, noise, 1)
        given = {n: states[n] for n in self.data_layers}
        f_model, _, model_means = self.model.free_energy(given, return_fields=True, return_means=True)
        grads = self.linear.contrast(phase_stats(self.model, batch, means), phase_stats(self.model, given, model_means))
        return (f_data.mean() - f_model.mean(), grads), states, fields

    @torch.no_grad()
    def monitor(self, data: dict[str, Tensor], valid: dict[str, Tensor] | None = None) -> dict:
        """Mean squared one-step reconstruction error and, with ``valid``, the free-energy gap
        mean F(valid) − mean F(train) (growing: overfitting)."""
        model = self.model
        means = dict(data)
        self.sampler.update(means, self.hidden, mean_field=True)
        recon = {n: model.layer(n).mean(model.field(n, means), like=data[n]) for n in self.data_layers}
        metrics = {"recon_error": sum((recon[n] - data[n]).pow(2).sum(-1).mean().item() for n in self.data_layers)}
        if valid is not None:
            rows = len(next(iter(data.values())))
            f_train = model.free_energy(data).mean()
            f_valid = model.free_energy({n: valid[n][:rows] for n in self.data_layers}).mean()
            metrics["free_energy_gap"] = (f_valid - f_train).item()
        return metrics

    def state(self) -> dict[str, Tensor]:
        return {} if self.centering is None else self.centering.state()

    def load_state(self, tensors: dict[str, Tensor]) -> None:
        if self.centering is not None:
            self.centering.load_state(tensors)


class PCD(CD):
    """PCD-k (Tieleman 2008): persistent chains carried across updates.

    The hidden sample is what persists; it is drawn from the fields the free-energy pass
    already computed, so PCD-1 costs the same matrix products as CD-1.
    """

    def __init__(self, model, k: int = 1, generator: torch.Generator | None = None, compile: bool = False,
                 centering: float | None = None, gradient: str = "closed"):
        super().__init__(model, k, generator, compile, centering, gradient)
        self.chains = PersistentChains()

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        if self.chains.states is None:
            with torch.no_grad():
                self.sampler.update(self.chains.start(batch), self.hidden)
        rows = len(next(iter(self.chains.states.values())))
        loss, self.chains.states, fields = self._step(batch, self.chains.states, self._noise(rows))
        self.negative = self.chains.states
        return self._centred(batch, fields, loss)

    def _loss(self, batch: dict[str, Tensor], chains: dict[str, Tensor], noise: dict[str, Tensor]
              ) -> tuple[Tensor, dict[str, Tensor], dict[str, Tensor]]:
        with torch.no_grad():
            chains = dict(chains)
            self._sweeps(chains, noise, 0)
        n = len(next(iter(batch.values())))
        both = {name: torch.cat([batch[name], chains[name]]) for name in self.data_layers}
        f, fields = self.model.free_energy(both, return_fields=True)
        with torch.no_grad():
            self.sampler.update(chains, self.hidden, fields={h: fields[h][n:].detach() for h in self.hidden},
                                noise=_at(noise, self.hidden, self.k - 1))
        return f[:n].mean() - f[n:].mean(), chains, {h: fields[h][:n].detach() for h in self.hidden}

    @torch.no_grad()
    def _closed(self, batch: dict[str, Tensor], chains: dict[str, Tensor], noise: dict[str, Tensor]
                ) -> tuple[tuple[Tensor, list[Tensor]], dict[str, Tensor], dict[str, Tensor]]:
        """``_loss`` with its gradient in closed form: ((value, gradients), chains, fields)."""
        chains = dict(chains)
        self._sweeps(chains, noise, 0)
        n = len(next(iter(batch.values())))
        both = {name: torch.cat([batch[name], chains[name]]) for name in self.data_layers}
        f, fields, means = self.model.free_energy(both, return_fields=True, return_means=True)
        grads = self.linear(phase_stats(self.model, both, means), signed_weights(n, len(f) - n, f))
        self.sampler.update(chains, self.hidden, fields={h: fields[h][n:] for h in self.hidden},
                            noise=_at(noise, self.hidden, self.k - 1))
        return (f[:n].mean() - f[n:].mean(), grads), chains, {h: fields[h][:n] for h in self.hidden}

    def state(self):
        return {**self.chains.state(), **super().state()}

    def load_state(self, tensors):
        self.chains.load_state(tensors)
        super().load_state(tensors)


def _at(noise: dict[str, Tensor], layers, i: int) -> dict[str, Tensor]:
    """Row ``i`` of the bulk noise of ``layers``: {layer: (rows, size)}."""
    return {n: noise[n][i] for n in layers if n in noise}
