"""Joint training of a deep Boltzmann machine (Salakhutdinov & Hinton 2009): a mean-field
positive phase and a persistent-chain negative phase.

Surrogate loss: mean E(v, μ) − mean F(x⁰), with μ the mean-field posterior given the data and
x⁰ the chains' first colour class (v and every second hidden layer) with the other class summed
out. Its gradient is the variational likelihood gradient: the energy is linear in each layer's
statistic, so E_q[∂E] = ∂E(v, μ) for a factorised q, and E_p[∂E] = E_x⁰[∂F(x⁰)]. The gradient is
taken in closed form (``pgmdbn.gradients``) or, with ``gradient="autograd"``, by autograd (the
reference).
"""
from __future__ import annotations

import torch
from torch import Tensor

from .. import distributed, validation
from ..centering import Centering
from ..compiled import compiled
from ..errors import ArgumentError, UnsupportedModel
from ..gradients import LinearGradient, closed_form, phase_stats
from ..inference import mean_field
from ..protocols import PersistentChains
from .gibbs import BlockGibbs


class DBMTrainer:
    """Trainer for DBMs (and RBMs): ``k`` Gibbs sweeps of ``chains`` persistent chains per update
    (split over the ranks under torch.distributed),
    ``mean_field_steps`` fixed-point sweeps for the positive phase (stopping early once the means
    settle). ``compile=True`` runs each update as one compiled graph on the same random numbers
    (see ``pgmdbn.compiled``); its mean field always runs all ``mean_field_steps``, since a graph
    cannot stop on a value it computes. ``centering`` is the sliding-average rate of the offsets
    of centered factors (``pgmdbn.centering``), the hidden ones following the mean-field means;
    None centers a model that has them at the default rate. ``gradient``: "closed" (closed form
    where the model has one) or "autograd" (the reference)."""

    kind = "trainer"
    structures = ("dbm", "rbm")

    def __init__(self, model, k: int = 1, generator: torch.Generator | None = None, mean_field_steps: int = 10,
                 chains: int = 100, compile: bool = False, centering: float | None = None,
                 gradient: str = "closed"):
        if not model.is_undirected:
            raise UnsupportedModel(f"DBM training needs an undirected model; this {model.structure} has "
                                   f"directed factors")
        chains = validation.positive_int("chains", chains, "the number of persistent chains, e.g. 100")
        if chains < distributed.world_size():
            raise ArgumentError(f"chains={chains} cannot be split over {distributed.world_size()} processes; give "
                                f"at least one chain per process")
        # under torch.distributed each rank runs its share, so W processes run as many chains as one
        shard = distributed.shard(chains)
        self.model, self.k, self.mean_field_steps = model, k, mean_field_steps
        self.n_chains = shard.stop - shard.start
        self.sampler = BlockGibbs(model, generator=generator)
        self.visible = model.visible
        self.data_layers = [self.visible]
        self.chains = PersistentChains()
        self.tol = None if validation.flag("compile", compile) else 1e-4
        self.closed = closed_form(model, gradient)
        self.linear = LinearGradient(model) if self.closed else None
        self._step = compiled(self._closed if self.closed else self._loss, next(model.parameters()).device, compile)
        self.centering = Centering.option(model, centering)

    def _posterior(self, v: Tensor) -> tuple[dict, dict]:
        return mean_field(self.model, {self.visible: v}, self.mean_field_steps, tol=self.tol)

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        v = batch[self.visible]
        if self.chains.states is None:  # start the chains at data rows and their posterior samples
            with torch.no_grad():
                _, fields = self._posterior(v)
                rows = torch.arange(self.n_chains, device=v.device) % len(v)
                self.chains.start({self.visible: v[rows],
                                   **{n: self.model.layer(n).sample(eta[rows], 1.0, self.sampler.generator)
                                      for n, eta in fields.items()}})
        odd, even = self.sampler.colours[1], self.sampler.colours[0]  # the chains hold both
        noise = self.sampler.draw(odd + even, len(self.chains.states[self.visible]), self.k)
        loss, self.chains.states, means = self._step(v, self.chains.states, noise)
        if self.closed:
            loss = self.linear.loss(*loss)
        return loss if self.centering is None else self.centering(batch, means, loss)

    def _sweeps(self, chains: dict, noise: dict) -> tuple[dict, dict]:
        """k sweeps of the chains, each the even colour class (v, h2, …) given the odd, then the odd
        given the even; the last odd draw comes from the fields the negative phase's free energy
        sums the odd class out with, so it costs no products of its own. Returns (the chains before
        that last draw, its noise)."""
        odd, even = self.sampler.colours[1], self.sampler.colours[0]
        chains = self.sampler.sweeps(chains, (even, odd), noise, self.k - 1)
        return self.sampler.update(chains, even, noise={n: noise[n][self.k - 1] for n in even if n in noise}), \
            {n: noise[n][self.k - 1] for n in odd if n in noise}

    def _loss(self, v: Tensor, chains: dict, noise: dict) -> tuple[Tensor, dict, dict]:
        means, _ = self._posterior(v)
        with torch.no_grad():
            chains, last = self._sweeps(chains, noise)
        even = {n: chains[n] for n in self.sampler.colours[0]}
        positive = self.model.energy({self.visible: v, **means})
        negative, fields = self.model.free_energy(even, return_fields=True)
        with torch.no_grad():
            self.sampler.update(chains, self.sampler.colours[1], fields={n: f.detach() for n, f in fields.items()},
                                noise=last)
        return positive.mean() - negative.mean(), chains, {n: m.detach() for n, m in means.items()}

    def _positive_energy(self, v: Tensor, means: dict, fields: dict) -> Tensor:
        """E(v, μ) per row, (n,), from the fields mean field ended on: every factor joins the odd
        class to the even one, and mean field computed the odd layers' fields last, from the final
        means (and the clamped data), so Σ_f interaction = Σ_odd s(μ)·(λ − b) and no product is
        needed. ``model.energy`` where an odd layer is clamped (it has no field)."""
        odd = self.sampler.colours[1]
        if any(n not in fields for n in odd):
            return self.model.energy({self.visible: v, **means})
        states = {self.visible: v, **means}
        total = sum(self.model.layer(n).energy(x) for n, x in states.items())
        for n in odd:
            units = self.model.layer(n)
            total = total - (units.statistic(means[n]) * (fields[n] - units.bias.to(fields[n].dtype))).sum(-1)
        return total

    @torch.no_grad()
    def _closed(self, v: Tensor, chains: dict, noise: dict) -> tuple[tuple[Tensor, list], dict, dict]:
        """``_loss`` with its gradient in closed form: ((value, gradients), chains, means)."""
        means, mean_fields = self._posterior(v)
        chains, last = self._sweeps(chains, noise)
        even = {n: chains[n] for n in self.sampler.colours[0]}
        positive = self._positive_energy(v, means, mean_fields)
        negative, fields, odd_means = self.model.free_energy(even, return_fields=True, return_means=True)
        grads = self.linear.contrast(phase_stats(self.model, {self.visible: v, **means}, {}),
                                     phase_stats(self.model, even, odd_means))
        self.sampler.update(chains, self.sampler.colours[1], fields=fields, noise=last)
        return (positive.mean() - negative.mean(), grads), chains, means

    @torch.no_grad()
    def monitor(self, data: dict[str, Tensor], valid: dict[str, Tensor] | None = None) -> dict:
        """Mean squared error of v reconstructed from its mean-field posterior."""
        v = data[self.visible]
        means, _ = self._posterior(v)
        recon = self.model.layer(self.visible).mean(self.model.field(self.visible, means), like=v)
        return {"recon_error": (recon - v).pow(2).sum(-1).mean().item()}

    def state(self) -> dict[str, Tensor]:
        return {**self.chains.state(), **(self.centering.state() if self.centering is not None else {})}

    def load_state(self, tensors: dict[str, Tensor]) -> None:
        self.chains.load_state(tensors)
        if self.centering is not None:
            self.centering.load_state(tensors)
