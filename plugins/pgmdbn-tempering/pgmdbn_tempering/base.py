"""What both tempering trainers share: persistent chains stacked over replicas, moved by the
subclass's ``advance``, and the PCD surrogate loss on the replica at beta = 1."""
from __future__ import annotations

import torch
from torch import Tensor

from pgmdbn import validation
from pgmdbn.engines.contrastive import CD
from pgmdbn.errors import ArgumentError
from pgmdbn.protocols import PersistentChains

from .ladder import Acceptance, TemperedGibbs, inverse_temperatures


class TemperedTrainer(CD):
    """Base of the tempering trainers for RBMs of any unit types.

    ``chains.states`` holds {layer: (replicas, n, size)}, replica 0 at beta = 1; n is the first
    batch's size. ``loss(batch)`` advances the chains (no gradient), then returns
    ``mean F(batch) - mean F(replica 0)``, whose gradient is PCD's with replica 0's samples.
    ``monitor`` adds acceptance rates (since its last call: one epoch under ``fit``) to CD's.
    """

    kind = "trainer"
    structures = ("rbm",)
    counter = "accept"  # the checkpoint prefix of the acceptance counts

    def __init__(self, model, k: int = 1, generator: torch.Generator | None = None, *, temperatures=None,
                 betas=None):
        model.pair()  # UnsupportedModel for any other structure; fit names the trainers that take it
        k = validation.positive_int("k", k, "the number of Gibbs sweeps per update, e.g. k=1")
        super().__init__(model, k, generator)
        self.betas = inverse_temperatures(temperatures, betas)
        self.gibbs = TemperedGibbs(model, generator)
        self.chains = PersistentChains()
        self.acceptance = Acceptance(self.slots(), self.counter)

    @property
    def generator(self) -> torch.Generator | None:
        return self.gibbs.generator

    def begin(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Every replica starts at the batch's data layers, the rest drawn at its own beta."""
        betas = self.ladder()
        states = {n: batch[n].detach().unsqueeze(0).expand(len(betas), *batch[n].shape).clone()
                  for n in self.data_layers}
        self.gibbs.update(states, self.hidden, betas)
        return states

    def ladder(self) -> tuple[float, ...]:
        """The betas of the stacked replicas (all of them for PT, (1,) for TT)."""
        raise NotImplementedError

    def slots(self) -> int:
        """How many kinds of move the acceptance counts tell apart."""
        raise NotImplementedError

    def advance(self, states: dict[str, Tensor]) -> None:
        """One update's Markov chain moves, in place."""
        raise NotImplementedError

    def sample(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Start the chains if needed, advance them once; returns replica 0's states {layer: (n, size)}."""
        with torch.no_grad():
            if self.chains.states is None:
                self.chains.states = self.begin(batch)
            self.advance(self.chains.states)
        self.negative = {n: x[0] for n, x in self.chains.states.items()}
        return self.negative

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        negative = self.sample(batch)
        n = len(next(iter(batch.values())))
        both = {name: torch.cat([batch[name], negative[name].to(batch[name].dtype)]) for name in self.data_layers}
        f = self.model.free_energy(both)
        return f[:n].mean() - f[n:].mean()

    def state(self) -> dict[str, Tensor]:
        return {**self.chains.state(), **self.acceptance.state()}

    def load_state(self, tensors) -> None:
        self.chains.load_state(tensors)
        states = self.chains.states
        m = len(self.ladder())
        if states is not None and any(x.ndim != 3 or len(x) != m for x in states.values()):
            shapes = {n: tuple(x.shape) for n, x in states.items()}
            raise ArgumentError(f"the saved chains {shapes} are not {m} stacked replicas of this engine; resume "
                                f"with the temperatures or betas of the saved run")
        self.acceptance.load_state(tensors)
