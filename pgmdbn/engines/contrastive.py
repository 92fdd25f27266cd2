"""Contrastive divergence (CD-k) and persistent CD (PCD-k) for RBMs of any unit types.

Both give a surrogate loss ``mean F(v_data) - mean F(v_model)`` whose gradient is the
likelihood gradient with the model expectation replaced by samples; autograd through the
free energy F makes the positive phase exact for every unit type, learned variances included.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .gibbs import BlockGibbs


class CD:
    """CD-k: chains start at the data batch and run k Gibbs sweeps."""

    kind = "trainer"

    def __init__(self, model, k: int = 1, generator: torch.Generator | None = None):
        if k < 1:
            raise ValueError(f"k (Gibbs steps per update) must be at least 1, got {k}")
        self.model, self.k = model, k
        self.visible, self.hidden = model.pair()
        self.sampler = BlockGibbs(model, generator=generator)

    def _sweeps(self, states: dict, n: int) -> None:
        """n × (v | h, then h | v), leaving a fresh visible sample last."""
        for i in range(n):
            self.sampler.update(states, [self.visible])
            if i < n - 1:
                self.sampler.update(states, [self.hidden])

    def loss(self, v: Tensor) -> Tensor:
        f_data, fields = self.model.free_energy({self.visible: v}, return_fields=True)
        with torch.no_grad():
            states = {self.visible: v}
            self.sampler.update(states, [self.hidden], fields={self.hidden: fields[self.hidden].detach()})
            self._sweeps(states, self.k)
        f_model = self.model.free_energy({self.visible: states[self.visible]})
        return f_data.mean() - f_model.mean()

    def state(self) -> dict[str, Tensor]:
        return {}

    def load_state(self, tensors: dict[str, Tensor]) -> None:
        pass


class PCD(CD):
    """PCD-k (Tieleman 2008): persistent chains carried across updates.

    The hidden sample is what persists; it is drawn from the fields the free-energy pass
    already computed, so PCD-1 costs the same matrix products as CD-1.
    """

    def __init__(self, model, k: int = 1, generator: torch.Generator | None = None):
        super().__init__(model, k, generator)
        self.chains: dict[str, Tensor] | None = None

    def loss(self, v: Tensor) -> Tensor:
        with torch.no_grad():
            if self.chains is None:
                self.chains = {self.visible: v.clone()}
                self.sampler.update(self.chains, [self.hidden])
            self._sweeps(self.chains, self.k)
        n = len(v)
        both = torch.cat([v, self.chains[self.visible]])
        f, fields = self.model.free_energy({self.visible: both}, return_fields=True)
        with torch.no_grad():
            self.sampler.update(self.chains, [self.hidden], fields={self.hidden: fields[self.hidden][n:].detach()})
        return f[:n].mean() - f[n:].mean()

    def state(self):
        return {} if self.chains is None else {f"chain/{k}": v for k, v in self.chains.items()}

    def load_state(self, tensors):
        chains = {k.split("/", 1)[1]: v for k, v in tensors.items() if k.startswith("chain/")}
        self.chains = chains or None
