"""Persistent chains with tempered-transition moves (Neal 1996; Salakhutdinov 2009, "Learning
in Markov random fields using tempered transitions")."""
from __future__ import annotations

import torch
from torch import Tensor

from .base import TemperedTrainer
from .ladder import tempered_energy


class TemperedTransitions(TemperedTrainer):
    """Persistent chains at beta = 1, each update first proposing a tempered transition.

    With 1 = β_0 > … > β_K the path runs x̂_0 = x, x̂_i = T̂_i(x̂_{i-1}) up to β_K, then
    x̌_{i-1} = Ť_i(x̌_i) back down (T̂ a block-Gibbs sweep at β_i, Ť the same sweep with its
    halves reversed), and x̌_0 replaces x with probability min(1, w), per chain, where

        log w = Σ_{i<K} (β_i - β_{i+1}) (U(x̂_i) - U(x̌_i))      (float64)

    is the product of importance ratios p_{i+1}/p_i up and p_i/p_{i+1} down for p_β ∝
    exp(-B - β U) (see ``ladder``). Then k ordinary Gibbs sweeps at beta = 1. The chains give
    the negative phase. Options: ``temperatures`` (default 10, evenly spaced) or ``betas``.
    ``monitor`` reports ``transition_rate``, the accepted fraction of proposals.
    """

    counter = "transition"

    def slots(self) -> int:
        return 1

    def ladder(self) -> tuple[float, ...]:
        return (1.0,)

    def advance(self, states: dict[str, Tensor]) -> None:
        self.transition(states)
        for _ in range(self.k):
            self.gibbs.sweep(states, (1.0,))

    def transition(self, states: dict[str, Tensor]) -> None:
        """One tempered-transition proposal per chain, accepted or not, in place."""
        path = {name: x.clone() for name, x in states.items()}
        log_w = torch.zeros(next(iter(states.values())).shape[1], dtype=torch.float64,
                            device=next(iter(states.values())).device)
        steps = list(zip(self.betas, self.betas[1:]))
        for here, hotter in steps:  # up: x̂_i → x̂_{i+1}
            log_w += (here - hotter) * tempered_energy(self.model, path)[0]
            self.gibbs.sweep(path, (hotter,))
        for here, hotter in reversed(steps):  # down: x̌_{i+1} → x̌_i
            self.gibbs.sweep(path, (hotter,), reverse=True)
            log_w -= (here - hotter) * tempered_energy(self.model, path)[0]
        u = torch.rand(log_w.shape, generator=self.generator, device=log_w.device, dtype=torch.float64)
        accept = u.log() < log_w
        for name, x in states.items():
            x.copy_(torch.where(accept[None, :, None], path[name], x))
        self.acceptance.add(slice(0, 1), accept[None], len(accept))

    @torch.no_grad()
    def monitor(self, data: dict[str, Tensor], valid: dict[str, Tensor] | None = None) -> dict:
        metrics = super().monitor(data, valid)
        metrics["transition_rate"] = self.acceptance.report()[0]
        return metrics
