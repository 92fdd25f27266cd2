"""Persistent contrastive divergence with parallel tempering (Desjardins et al. 2010; Cho,
Raiko & Ilin 2010)."""
from __future__ import annotations

import torch
from torch import Tensor

from .base import TemperedTrainer
from .ladder import tempered_energy


class ParallelTempering(TemperedTrainer):
    """PT-PCD for RBMs: M replicas at 1 = β_0 > … > β_{M-1} > 0, each n persistent chains.

    An update runs k block-Gibbs sweeps in every replica at its own beta, then proposes swaps of
    whole (v, h) states between neighbouring replicas, the even pairs and then the odd pairs,
    accepted with min(1, exp((β_i - β_j)(U_i - U_j))) for p_β ∝ exp(-B - β U) (see ``ladder``).
    Replica 0 gives the negative phase. Options: ``temperatures`` = M (default 10, evenly
    spaced) or ``betas``. ``monitor`` reports ``swap_rate`` (all pairs), ``swap_rate_min`` and
    ``swap_rate_<i>`` for the pair (i, i + 1).
    """

    counter = "swap"

    def slots(self) -> int:
        return len(self.betas) - 1  # one per neighbouring pair

    def ladder(self) -> tuple[float, ...]:
        return self.betas

    def advance(self, states: dict[str, Tensor]) -> None:
        for _ in range(self.k):
            self.gibbs.sweep(states, self.betas)
        self.swap(states)

    def swap(self, states: dict[str, Tensor]) -> None:
        """Metropolis swaps between replicas (i, i + 1), for even i and then for odd i, in place."""
        energy = tempered_energy(self.model, states)  # (M, n), float64
        betas = torch.tensor(self.betas, dtype=torch.float64, device=energy.device)
        n = energy.shape[1]
        for parity in (0, 1):
            low = torch.arange(parity, len(self.betas) - 1, 2, device=energy.device)
            if not len(low):
                continue
            high = low + 1
            log_ratio = (betas[low] - betas[high])[:, None] * (energy[low] - energy[high])  # (pairs, n)
            u = torch.rand(log_ratio.shape, generator=self.generator, device=energy.device, dtype=torch.float64)
            accept = u.log() < log_ratio
            for name, x in states.items():
                a, b, m = x[low], x[high], accept.unsqueeze(-1)
                x[low], x[high] = torch.where(m, b, a), torch.where(m, a, b)
            e_low, e_high = energy[low], energy[high]
            energy[low], energy[high] = torch.where(accept, e_high, e_low), torch.where(accept, e_low, e_high)
            self.acceptance.add(low, accept, n)

    @torch.no_grad()
    def monitor(self, data: dict[str, Tensor], valid: dict[str, Tensor] | None = None) -> dict:
        metrics = super().monitor(data, valid)
        pooled, per_pair = self.acceptance.report()
        metrics["swap_rate"] = pooled
        metrics["swap_rate_min"] = min(per_pair)
        metrics.update({f"swap_rate_{i}": rate for i, rate in enumerate(per_pair)})
        return metrics
