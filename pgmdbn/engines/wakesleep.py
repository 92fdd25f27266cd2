"""Wake-sleep (Hinton, Dayan, Frey & Neal 1995) and reweighted wake-sleep (Bornschein & Bengio
2015) for all-directed models (sigmoid belief nets / Helmholtz machines) of any unit types and
any DAG of layers.

A directed factor parent → child carries two models: the generative p(child | parents)
(``weight`` and the child's bias) and the recognition q(parent | children) (``recognition`` and
``recognition_bias``). Both engines give a surrogate loss whose gradient is their update:

    wake-sleep   −log p(v, h),              h ~ q(h | v)        (generative parameters)
                 −log q(h | v),             (h, v) ~ p          (recognition parameters, "sleep")
    reweighted   −Σ_k w̃_k [log p(v, h_k) + log q(h_k | v)],  h_k ~ q(h | v),
                 w̃_k ∝ p(v, h_k) / q(h_k | v) normalised over the K samples (detached)

Samples are drawn without gradient, so each term reaches only the parameters of the
distribution it scores. Exception: a hidden layer's own shape parameters (a Gaussian's learned
sigma) belong to its unit type and therefore to both p and q, and receive both terms.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..errors import UnsupportedModel
from ..inference import down_pass, log_joint, log_q, up_pass


class WakeSleep:
    """Wake-sleep: one recognition sample per example trains p (wake), one dream per example
    drawn from p trains q (sleep)."""

    kind = "trainer"
    structures = ("sbn",)

    def __init__(self, model, k: int = 1, generator: torch.Generator | None = None):
        undirected = [key for key, f in model.factors.items() if not f.directed]
        if undirected:
            raise UnsupportedModel(f"{type(self).__name__} trains all-directed models (sigmoid belief nets); this "
                                   f"model is a {model.structure} with undirected factor(s) {', '.join(undirected)}")
        visible = model.visible
        unreached = [n for n in model.layers if n != visible and n not in model.up_order()]
        if unreached:
            raise UnsupportedModel(f"{type(self).__name__} infers every hidden layer by the recognition up-pass from "
                                   f"the visible layer {visible!r}, which does not reach {', '.join(unreached)}: every "
                                   f"hidden layer's children must be {visible!r} or other hidden layers")
        self.model, self.k, self.generator = model, k, generator  # k (Gibbs steps) is unused here
        self.data_layers = [visible]

    def wake(self, batch: dict[str, Tensor]) -> Tensor:
        """Mean −log p(v, h) over the batch with h ~ q(h | v): gradient to p only."""
        with torch.no_grad():
            states, _ = up_pass(self.model, batch[self.data_layers[0]], self.generator)
        return -log_joint(self.model, states).mean()

    def sleep(self, v: Tensor) -> Tensor:
        """Mean −log q(h | v) over dreams (h, v) ~ p, one per row of ``v`` (n, size): gradient to
        q only. ``v`` only sets the number of rows and the device: the down pass replaces it."""
        dreams = down_pass(self.model, {self.data_layers[0]: v}, self.generator)
        return -log_q(self.model, dreams).mean()

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        return self.wake(batch) + self.sleep(batch[self.data_layers[0]])

    @torch.no_grad()
    def monitor(self, data: dict[str, Tensor], valid: dict[str, Tensor] | None = None) -> dict:
        """``bound``: mean log p(v, h) − log q(h | v) of one recognition sample per row, a stochastic
        lower bound on mean log p(v); a fixed seed gives common random numbers across epochs."""
        v = data[self.data_layers[0]]
        gen = torch.Generator(device=v.device).manual_seed(0)
        states, lq = up_pass(self.model, v, gen)
        return {"bound": (log_joint(self.model, states) - lq).mean().item()}

    def state(self) -> dict[str, Tensor]:
        return {}

    def load_state(self, tensors: dict[str, Tensor]) -> None:
        pass


class ReweightedWakeSleep(WakeSleep):
    """Reweighted wake-sleep: ``samples`` (K) recognition samples per example, importance
    weighted; q is trained in the wake phase on the same weighted samples, and also by the
    sleep phase when ``sleep`` is true."""

    def __init__(self, model, k: int = 1, generator: torch.Generator | None = None, samples: int = 5,
                 sleep: bool = False):
        super().__init__(model, k, generator)
        if int(samples) != samples or samples < 1:
            raise ValueError(f"samples (K, recognition samples per example) must be a positive integer, "
                             f"got {samples!r}")
        self.samples, self.use_sleep = int(samples), bool(sleep)

    def wake(self, batch: dict[str, Tensor]) -> Tensor:
        """Mean over examples of −Σ_k w̃_k [log p(v, h_k) + log q(h_k | v)]: gradient to p and q."""
        v = batch[self.data_layers[0]]
        with torch.no_grad():
            states, _ = up_pass(self.model, v.repeat_interleave(self.samples, 0), self.generator)
        lp, lq = log_joint(self.model, states), log_q(self.model, states)
        w = torch.softmax((lp - lq).detach().reshape(len(v), self.samples), 1)
        return -(w * (lp + lq).reshape(len(v), self.samples)).sum(1).mean()

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        wake = self.wake(batch)
        return wake + self.sleep(batch[self.data_layers[0]]) if self.use_sleep else wake
