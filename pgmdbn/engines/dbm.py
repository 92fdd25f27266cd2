"""Joint training of a deep Boltzmann machine (Salakhutdinov & Hinton 2009): a mean-field
positive phase and a persistent-chain negative phase.

Surrogate loss: mean E(v, μ) − mean F(x⁰), with μ the mean-field posterior given the data and
x⁰ the chains' first colour class (v and every second hidden layer) with the other class summed
out. Its gradient is the variational likelihood gradient: the energy is linear in each layer's
statistic, so E_q[∂E] = ∂E(v, μ) for a factorised q, and E_p[∂E] = E_x⁰[∂F(x⁰)].
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..errors import UnsupportedModel
from .gibbs import BlockGibbs
from .meanfield import MeanField


class DBMTrainer:
    """Trainer for DBMs (and RBMs): ``k`` Gibbs sweeps of ``chains`` persistent chains per update,
    ``mean_field_steps`` fixed-point sweeps for the positive phase."""

    kind = "trainer"
    structures = ("dbm", "rbm")

    def __init__(self, model, k: int = 1, generator: torch.Generator | None = None, mean_field_steps: int = 10,
                 chains: int = 100):
        if not model.is_undirected:
            raise UnsupportedModel(f"DBM training needs an undirected model; this {model.structure} has "
                                   f"directed factors")
        self.model, self.k, self.n_chains = model, k, chains
        self.sampler = BlockGibbs(model, generator=generator)
        self.meanfield = MeanField(model, steps=mean_field_steps, tol=1e-4)
        self.visible = next(iter(model.layers))
        self.data_layers = [self.visible]
        self.chains: dict[str, Tensor] | None = None

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        v = batch[self.visible]
        means, fields = self.meanfield.run({self.visible: v})
        with torch.no_grad():
            if self.chains is None:  # start the chains at data rows and their posterior samples
                rows = torch.arange(self.n_chains, device=v.device) % len(v)
                self.chains = {self.visible: v[rows].clone(),
                               **{n: self.model.layer(n).sample(eta[rows], 1.0, self.sampler.generator)
                                  for n, eta in fields.items()}}
            self.sampler.run(self.chains, self.k)
        positive = self.model.energy({self.visible: v, **means})
        negative = self.model.free_energy({n: self.chains[n] for n in self.sampler.colours[0]})
        return positive.mean() - negative.mean()

    @torch.no_grad()
    def monitor(self, data: dict[str, Tensor], valid: dict[str, Tensor] | None = None) -> dict:
        """Mean squared error of v reconstructed from its mean-field posterior."""
        v = data[self.visible]
        means, _ = self.meanfield.run({self.visible: v})
        recon = self.model.layer(self.visible).mean(self.model.field(self.visible, means), like=v)
        return {"recon_error": (recon - v).pow(2).sum(-1).mean().item()}

    def state(self) -> dict[str, Tensor]:
        return {} if self.chains is None else {f"chain/{k}": x for k, x in self.chains.items()}

    def load_state(self, tensors: dict[str, Tensor]) -> None:
        chains = {k.split("/", 1)[1]: x for k, x in tensors.items() if k.startswith("chain/")}
        self.chains = chains or None
