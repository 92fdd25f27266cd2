"""Plugins: a sampler from outside the package (parallel tempering) trains an RBM with no core change.

The engine below lives only in this test module and reaches ``fit`` through the
``pgmdbn_register_engines`` hook, exactly as a third-party plugin would.
"""

import math

import pytest
import torch

import pgmdbn
from pgmdbn.data.toy import bars_and_stripes_optimum, sample_bars_and_stripes
from pgmdbn.engines.gibbs import BlockGibbs


class ParallelTempering:
    """Parallel-tempering trainer (Desjardins et al. 2010) for RBM-shaped models.

    Persistent chains run at inverse temperatures ``betas`` (1 = the model first, then hotter).
    One sweep is a block-Gibbs sweep at every temperature, then Metropolis swaps of whole
    (visible, hidden) states between neighbouring temperatures, alternating the even and odd
    pairs. Each batch row is its own replica set of ``len(betas)`` chains. The β = 1 chains give
    the negative phase of the surrogate loss ``mean F(data) - mean F(model)``, as in PCD.
    """

    kind = "trainer"
    structures = ("rbm",)

    def __init__(self, model, k=1, generator=None, betas=(1.0, 0.85, 0.7, 0.55, 0.4)):
        if k < 1:
            raise ValueError(f"k (sweeps per update) must be at least 1, got {k}")
        if betas[0] != 1 or any(a <= b for a, b in zip(betas, betas[1:])):
            raise ValueError(f"betas must start at 1 and decrease, got {betas}")
        self.model, self.k, self.generator, self.betas = model, k, generator, tuple(betas)
        # The unit types apply beta to the whole field (bias + interactions), so the chain at
        # beta samples exp(-beta E) for Bernoulli units; see tempered_energy for other types.
        self.samplers = [BlockGibbs(model, beta=b, generator=generator) for b in self.betas]
        self.data_layers, self.hidden = self.samplers[0].colours
        self.chains = None  # one {layer: (n, size)} per temperature
        self.sweeps = 0
        self.proposed = torch.zeros(len(self.betas) - 1)
        self.accepted = torch.zeros(len(self.betas) - 1)

    def tempered_energy(self, states):
        """The part of the joint energy the units scale by beta: E minus the base energies
        (zero for binary units; a Gaussian's quadratic term stays untempered)."""
        base = sum(self.model.layer(n).base_energy(x) for n, x in states.items())
        return self.model.energy(states) - base

    @torch.no_grad()
    def sweep(self):
        for sampler, states in zip(self.samplers, self.chains):
            sampler.update(states, self.hidden)
            sampler.update(states, self.data_layers)
        energies = [self.tempered_energy(states) for states in self.chains]
        for i in range(self.sweeps % 2, len(self.betas) - 1, 2):  # even pairs, then odd pairs
            j = i + 1
            # min(1, p_i(x_j) p_j(x_i) / (p_i(x_i) p_j(x_j))) for p_beta ∝ exp(-beta E)
            log_ratio = (self.betas[i] - self.betas[j]) * (energies[i] - energies[j])
            u = torch.rand(log_ratio.shape, generator=self.generator, device=log_ratio.device)
            swap = u.log() < log_ratio
            for name in self.chains[i]:
                a, b, m = self.chains[i][name], self.chains[j][name], swap.unsqueeze(-1)
                self.chains[i][name], self.chains[j][name] = torch.where(m, b, a), torch.where(m, a, b)
            energies[i], energies[j] = (torch.where(swap, energies[j], energies[i]),
                                        torch.where(swap, energies[i], energies[j]))
            self.proposed[i] += swap.numel()
            self.accepted[i] += swap.sum().item()
        self.sweeps += 1

    def start(self, batch):
        """Every temperature's chains start at the data (visible) with hidden drawn given it."""
        self.chains = [{n: x.clone() for n, x in batch.items()} for _ in self.betas]
        for sampler, states in zip(self.samplers, self.chains):
            sampler.update(states, self.hidden)

    @property
    def swap_rate(self):
        """Accepted / proposed swaps per neighbouring pair (hottest pair last)."""
        return self.accepted / self.proposed.clamp(min=1)

    def loss(self, batch):
        if self.chains is None:
            self.start({n: batch[n] for n in self.data_layers})
        for _ in range(self.k):
            self.sweep()
        f_data = self.model.free_energy({n: batch[n] for n in self.data_layers})
        f_model = self.model.free_energy({n: self.chains[0][n] for n in self.data_layers})
        return f_data.mean() - f_model.mean()

    def monitor(self, data, valid=None):
        return {"swap_rate": self.swap_rate.mean().item()}

    def state(self):
        if self.chains is None:
            return {}
        return {f"chain/{t}/{n}": x for t, states in enumerate(self.chains) for n, x in states.items()}

    def load_state(self, tensors):
        chains = [{} for _ in self.betas]
        for key, x in tensors.items():
            if key.startswith("chain/"):
                _, t, n = key.split("/", 2)
                chains[int(t)][n] = x
        self.chains = chains if all(chains) else None


class PTPlugin:
    @pgmdbn.hookimpl
    def pgmdbn_register_engines(self):
        return {"pt": ParallelTempering}


@pytest.fixture
def pt_plugin():
    plugin = PTPlugin()
    pgmdbn.register_plugin(plugin, name="pt_plugin")
    yield plugin
    pgmdbn.unregister_plugin(plugin)


def test_pt_trains_an_rbm_as_well_as_pcd(pt_plugin):
    assert "pt" in pgmdbn.registry.names("engines")
    assert pgmdbn.registry.origin("engines", "pt") == "pt_plugin"
    data = sample_bars_and_stripes(200, side=3, seed=0)
    # the same budget for both: 1000 updates, one sweep (at every temperature, for PT) each
    options = dict(k=1, epochs=100, batch_size=20, lr=0.05, momentum=0.8, seed=0, progress=False)
    ll = {}
    for method in ("pt", "pcd"):
        model = pgmdbn.rbm(9, 8, seed=0)
        model.layer("v").init_from_data(data)
        ll["before"] = pgmdbn.log_likelihood(model, data, progress=False).mean
        result = pgmdbn.fit(model, data, method=method, **options)
        if method == "pt":
            swap_rate = result.history[-1]["swap_rate"]  # the engine's monitor reaches the history
        ll[method] = pgmdbn.log_likelihood(model, data, progress=False).mean
    print(ll, "optimum", bars_and_stripes_optimum(3), "swap rate", swap_rate)
    assert ll["pt"] > ll["before"] + 1.5, ll  # from about -6.2 (near uniform) to about -4.4 nats
    assert ll["pt"] > ll["pcd"] - 0.3, ll
    assert 0 < swap_rate < 1


def tiny_rbm(seed=3, scale=1.5):
    """4 visible, 3 hidden, weights and biases ~ N(0, scale²): several well-separated modes."""
    model = pgmdbn.rbm(4, 3)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * scale)
    return model


def exact_marginal(model, beta):
    """p_beta(v) ∝ Σ_h exp(-beta E(v, h)) over all 16 visible states, by enumeration."""
    v, h = model.layer("v").states(), model.layer("h").states()
    e = model.energy({"v": v.repeat_interleave(len(h), 0), "h": h.repeat(len(v), 1)}).view(len(v), len(h))
    return torch.softmax(torch.logsumexp(-beta * e.double(), 1), 0)


@torch.no_grad()
def test_pt_samples_the_exact_marginals():
    model = tiny_rbm()
    n, burn_in, sweeps = 500, 50, 250
    engine = ParallelTempering(model, generator=torch.Generator().manual_seed(1))
    engine.start({"v": torch.zeros(n, 4)})  # every replica set starts in the same state
    codes = 2 ** torch.arange(4)  # visible state -> its row in Bernoulli.states()
    counts = torch.zeros(len(engine.betas), 16, dtype=torch.float64)
    for s in range(sweeps):
        engine.sweep()
        if s >= burn_in:
            for t, states in enumerate(engine.chains):
                counts[t] += torch.bincount((states["v"] @ codes.float()).long(), minlength=16)
    assert (model.layer("v").states() @ codes.float()).tolist() == list(range(16))
    exact = [exact_marginal(model, b) for b in engine.betas]
    tv = [0.5 * (counts[t] / counts[t].sum() - p).abs().sum().item() for t, p in enumerate(exact)]
    # For N independent draws E|p̂_s - p_s| ≈ sqrt(2 p_s (1 - p_s) / (π N)), so the expected TV is
    # about 0.005 here (N = 100k per temperature). The chains are nearly independent sweep to
    # sweep on so small a model; 3x that allows autocorrelation and luck, and still catches an
    # acceptance rule off by a factor 2 in the exponent (TV about 0.02).
    tol = [1.5 * math.sqrt(2 / (math.pi * counts[t].sum().item())) * (p * (1 - p)).sqrt().sum().item()
           for t, p in enumerate(exact)]
    rate = engine.swap_rate
    print("TV per temperature", [f"{x:.4f}" for x in tv], "tolerance", f"{max(tol):.4f}",
          "swap rates", [f"{x:.3f}" for x in rate.tolist()])
    assert all(d < e for d, e in zip(tv, tol)), (tv, tol)
    assert ((rate > 0.05) & (rate < 1)).all(), rate  # swaps happen, and some are refused


def test_unregistered_engine_is_refused():
    plugin = PTPlugin()
    pgmdbn.register_plugin(plugin, name="pt_plugin")
    pgmdbn.unregister_plugin(plugin)
    assert "pt" not in pgmdbn.registry.names("engines")
    with pytest.raises(pgmdbn.PluginError, match="unknown engine 'pt'"):
        pgmdbn.fit(pgmdbn.rbm(9, 4), sample_bars_and_stripes(20, side=3), method="pt", progress=False)
