"""Annealed importance sampling (Salakhutdinov & Murray 2008) and its reverse, RAISE
(Burda, Grosse & Salakhutdinov 2015), for undirected models whose layers split into two
conditionally independent groups: S (holding the visible layer, sampled) and T (summed out).

The path is geometric between a base-rate model (no interactions; the visible bias fitted to
the data's marginals) and the target:

    log f_β(x_S) = Σ_{l∈S} [-base_l(x_l) + s(x_l)·((1-β) a_l + β b_l)] + Σ_{l∈T} A_l(β η_l(x_S))

where a are the base-rate biases, b the model's, η_l the field of a summed layer and A_l its
log partition. Every unit type that honours the contract works unchanged. Each step reuses
its matrix products: one for the fields of T, one for the fields of S.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from .. import distributed, validation
from ..compiled import compiled
from ..errors import ResourceLimitError, UnsupportedModel
from ..limits import limits
from ..progress import progress_bar
from ..protocols import supports
from ..results import LogLikelihood
from .checks import no_nan
from .meanfield_bound import mean_field_elbo


#: temperatures per bulk draw of random numbers and per compiled launch (``compile=True``)
TEMPERATURES_PER_LAUNCH = 10


def paper_schedule(n: int = 14500, dtype=torch.float64) -> Tensor:
    """Inverse temperatures 0 = β_0 < … < β_n = 1 spaced like the paper's ≈14,500 (steps of 1e-3
    up to 0.5, 1e-4 up to 0.9, 1e-5 up to 1), scaled proportionally to ``n`` transitions."""
    n = validation.positive_int("n (temperatures)", n)
    _check_memory(n + 1, 0, 0, "the temperature schedule")
    counts = [max(1, round(n * c / 14500)) for c in (500, 4000)]
    counts.append(max(1, n - sum(counts)))
    edges = [0.0, 0.5, 0.9, 1.0]
    parts = [torch.linspace(lo, hi, c + 1, dtype=dtype)[:-1] for lo, hi, c in zip(edges, edges[1:], counts)]
    return torch.cat(parts + [torch.ones(1, dtype=dtype)])


class GeometricPath:
    """The annealing path of a two-colourable undirected model; see the module docstring."""

    def __init__(self, model, base_data: Tensor | None = None):
        colours = model.colour_classes()  # checks the structure; colours[0] holds the visible layer
        self.model, self.sampled, self.summed = model, colours[0], colours[1]
        self.visible = model.visible
        self.base = {n: torch.zeros_like(model.bias(n)) for n in self.sampled}
        if base_data is not None:
            units = model.layer(self.visible)
            self.base[self.visible] = units.base_rate_bias(base_data.to(units.bias.device, units.bias.dtype)).detach()
        self.gap = {n: (model.bias(n) - self.base[n]).detach() for n in self.sampled}  # b - a

    def fields(self, xs: dict) -> dict:
        """η of each summed layer given the sampled ones (the expensive products)."""
        return {n: self.model.field(n, xs) for n in self.summed}

    def log_f(self, xs: dict, fields: dict, beta: float) -> Tensor:
        """log f_β(x_S) in float64, (chains,)."""
        total = 0.0
        for n in self.sampled:
            units, x = self.model.layer(n), xs[n].double()
            bias = (1 - beta) * self.base[n].double() + beta * units.bias.double()
            total = total - units.base_energy(x) + units.statistic(x) @ bias
        for n in self.summed:
            total = total + self.model.layer(n).log_partition(fields[n].double(), beta)
        return total

    def log_f_change(self, xs: dict, fields: dict, beta: float, prev: float) -> Tensor:
        """log f_β(x_S) - log f_prev(x_S) in float64, (chains,): the base energies cancel, so only
        the linear terms and the summed layers' log-partition changes are evaluated."""
        total = 0.0
        for n in self.sampled:
            total = total + (beta - prev) * (self.model.layer(n).statistic(xs[n]) @ self.gap[n]).double()
        for n in self.summed:
            total = total + self.model.layer(n).log_partition_change(fields[n], beta, prev)
        return total

    def log_z0(self, like: dict | None = None) -> float:
        """log partition function of the base-rate model (β = 0)."""
        total = 0.0
        for n in self.sampled:
            total += self.model.layer(n).log_partition(self.base[n].double()[None], like=_row(like, n)).item()
        for n in self.summed:
            units = self.model.layer(n)
            zero_field = torch.zeros(1, units.size, dtype=torch.float64, device=units.bias.device)
            total += units.log_partition(zero_field).item()
        return total

    def sample_base(self, n_chains: int, generator, like: dict | None = None) -> dict:
        return {n: self.model.layer(n).sample(self.base[n].expand(n_chains, -1), 1.0, generator,
                                              like=_row(like, n, n_chains))
                for n in self.sampled}

    def step(self, xs: dict, fields: dict, beta: float, generator, noise: dict | None = None) -> dict:
        """One Gibbs transition leaving p_β invariant: T | S, then S | T; ``noise`` holds the random
        numbers of some layers' draws ({layer: (chains, size)}, see ``draw``)."""
        noise = noise or {}
        hidden = {n: _sample(self.model.layer(n), fields[n], beta, generator, noise.get(n)) for n in self.summed}
        out = {}
        for n in self.sampled:
            eta = self.model.field(n, hidden, beta, bias=self.base[n] + beta * self.gap[n])
            out[n] = _sample(self.model.layer(n), eta, 1.0, generator, noise.get(n), like=xs[n])
        return out

    def draw(self, steps: int, chains: int, generator) -> dict[str, Tensor]:
        """The random numbers of ``steps`` transitions in one bulk draw per layer:
        {layer: (steps, chains, size)}, leaving out types that draw inside ``sample``."""
        return self.model.draw_noise(self.summed + self.sampled, (steps, chains), generator)

    def anneal(self, xs: dict, log_w: Tensor, noise: dict, generator, *betas: float) -> tuple[dict, Tensor]:
        """AIS through the temperatures ``betas`` (the first is where ``xs`` stands): the log
        weights gain log f_β − log f_prev at each, then one transition at β. The temperatures
        come as separate floats, which a compiled graph takes as inputs (a list's would be
        constants of the graph, compiled anew for every run)."""
        for j in range(len(betas) - 1):
            fields = self.fields(xs)
            log_w = log_w + self.log_f_change(xs, fields, betas[j + 1], betas[j])
            xs = self.step(xs, fields, betas[j + 1], generator, {n: u[j] for n, u in noise.items()})
        return xs, log_w

    def reverse(self, xs: dict, fields: dict, log_w: Tensor, noise: dict, generator, *betas: float
                ) -> tuple[dict, dict, Tensor]:
        """RAISE down the temperatures ``betas`` (descending): at each, log f_β before and after
        one transition at β."""
        for j, beta in enumerate(betas):
            log_w = log_w + self.log_f(xs, fields, beta)
            xs = self.step(xs, fields, beta, generator, {n: u[j] for n, u in noise.items()})
            fields = self.fields(xs)
            log_w = log_w - self.log_f(xs, fields, beta)
        return xs, fields, log_w


def _sample(units, eta: Tensor, beta: float, generator, noise: Tensor | None, like: Tensor | None = None) -> Tensor:
    if noise is None:
        return units.sample(eta, beta, generator, like=like)
    return units.sample(eta, beta, like=like, noise=noise)


def _check_memory(n_betas: int, n_chains: int, width: int, what: str) -> None:
    """Refuse, before allocating, AIS/RAISE settings whose schedule and chains exceed
    ``pgmdbn.limits.max_ais_bytes``: 8 bytes per temperature (plus a Python float while
    annealing, about 32), and about 8 float64 copies of every chain's states and fields."""
    need = n_betas * 40 + n_chains * width * 8 * 8
    if need > limits.max_ais_bytes:
        raise ResourceLimitError(f"{what}: {n_betas:,} temperatures and {n_chains:,} chains of {width:,} units need "
                                 f"about {need / 2 ** 30:.1f} GiB, more than pgmdbn.limits.max_ais_bytes="
                                 f"{limits.max_ais_bytes / 2 ** 30:.1f} GiB; use fewer temperatures or chains, or "
                                 f"raise the limit if this machine can hold it")


def _check_inputs(model, n_chains, betas, base_data, seed, what, per_example=1):
    """The annealing options, refused with the argument's name: (chains, schedule as floats, base data)."""
    n_chains = validation.positive_int("n_chains", n_chains)
    validation.seed(seed)
    if betas is not None and not isinstance(betas, Tensor):
        try:
            count = len(betas)
        except TypeError:
            count = 0
        _check_memory(count, 0, 0, what)
    schedule = paper_schedule() if betas is None else validation.schedule("betas", betas)
    width = sum(model.layer(n).size for n in model.layers)
    _check_memory(len(schedule), n_chains * per_example, width, what)
    if base_data is not None:
        units = model.layer(model.visible)
        base_data = units.validate(validation.tensor("base_data", base_data, ndim=2, columns=units.size,
                                                           allow_grad=True).detach())
    return n_chains, schedule.tolist(), base_data


def _row(like, name, n=1):
    if not like or name not in like:
        return None
    return like[name].expand(n, -1)


def _logmeanexp(x: Tensor, dim=0) -> Tensor:
    return torch.logsumexp(x, dim) - math.log(x.shape[dim])


@torch.no_grad()
def ais_log_z(model, *, n_chains: int = 100, betas: Tensor | None = None, base_data: Tensor | None = None,
              seed: int = 0, progress: bool = True, blocks: int | None = None, compile: bool = False) -> dict:
    """Run AIS and return the log weights and the summaries of the log Z estimate.

    The temperatures go in runs of ``TEMPERATURES_PER_LAUNCH``, their random numbers drawn in
    bulk first; ``compile=True`` runs each run of temperatures as one compiled graph (a CUDA
    graph on a GPU; see ``pgmdbn.compiled``) on the same numbers.

    The chains form ``blocks`` contiguous blocks (default: the ``torch.distributed`` world
    size, 1 without a process group), block b annealed with its own generator seeded
    ``distributed.block_seed(seed, b)`` (``seed`` for block 0), so a chain's random stream
    depends on its block, not on which process runs it. Under a process group rank r anneals
    blocks r, r + world, …; the log weights are gathered in block order and every rank returns
    the same result, which equals one process's with the same ``blocks``."""
    device = next(model.parameters()).device
    n_chains, betas, base_data = _check_inputs(model, n_chains, betas, base_data, seed, "AIS")
    blocks = validation.blocks(blocks) or distributed.world_size()
    if min(blocks, n_chains) > 1:
        return _split_chains(model, n_chains, betas, base_data, seed, progress, min(blocks, n_chains), compile)
    path = GeometricPath(model, base_data)
    anneal = compiled(path.anneal, device, compile)
    gen = torch.Generator(device=device).manual_seed(seed)
    xs = path.sample_base(n_chains, gen)
    log_w = torch.zeros(n_chains, dtype=torch.float64, device=device)
    bar = progress_bar(progress, len(betas) - 1, "β", "AIS")
    for start in range(0, len(betas) - 1, TEMPERATURES_PER_LAUNCH):
        run = betas[start:start + TEMPERATURES_PER_LAUNCH + 1]
        xs, log_w = anneal(xs, log_w, path.draw(len(run) - 1, n_chains, gen), gen, *run)
        if bar is not None:
            bar.update(len(run) - 1)
    if bar is not None:
        bar.close()
    return summarise_log_weights(log_w.cpu(), path.log_z0())


def _split_chains(model, n_chains, betas, base_data, seed, progress, blocks, compile) -> dict:
    """AIS over ``blocks`` seeded blocks of chains, spread over the ranks and gathered."""
    world, here = distributed.world_size(), distributed.rank()
    betas = torch.tensor(betas, dtype=torch.float64)
    mine = {b: ais_log_z(model, n_chains=distributed.shard(n_chains, blocks, b).stop -
                         distributed.shard(n_chains, blocks, b).start, betas=betas, base_data=base_data,
                         seed=distributed.block_seed(seed, b), progress=progress and here == 0,
                         blocks=1, compile=compile)["log_weights"]
            for b in range(here if world > 1 else 0, blocks, world if world > 1 else 1)}
    parts = {b: w for found in distributed.gather_objects(mine) for b, w in found.items()}
    log_z0 = GeometricPath(model, base_data).log_z0()
    return summarise_log_weights(torch.cat([parts[b] for b in range(blocks)]), log_z0)


def _split_examples(model, x, n_chains, betas, base_data, seed, progress, blocks, compile) -> LogLikelihood:
    """RAISE over ``blocks`` seeded blocks of examples, spread over the ranks and gathered."""
    world, here = distributed.world_size(), distributed.rank()
    betas = torch.tensor(betas, dtype=torch.float64)
    mine = {}
    for b in range(here if world > 1 else 0, blocks, world if world > 1 else 1):
        part = raise_(model, x[distributed.shard(len(x), blocks, b)], n_chains=n_chains, betas=betas,
                      base_data=base_data, seed=distributed.block_seed(seed, b), progress=progress and here == 0,
                      blocks=1, compile=compile)
        mine[b] = (part.per_example, part.spread["log_weight_std"])
    found = {b: v for part in distributed.gather_objects(mine) for b, v in part.items()}
    per_example = torch.cat([found[b][0] for b in range(blocks)])
    stds = [(found[b][1], len(found[b][0])) for b in range(blocks)]
    spread = {"n_chains": n_chains,
              "log_weight_std": sum(s * m for s, m in stds) / len(x) if n_chains > 1 else None,
              "std_per_example": per_example.std().item() if len(x) > 1 else 0.0}
    return LogLikelihood(per_example.mean().item(), per_example, None, "stochastic lower bound", "raise", spread)


def summarise_log_weights(log_w: Tensor, log_z0: float) -> dict:
    """log Ẑ = log Z_0 + log mean w, with log(Ẑ ± 3 σ_Ẑ) and the effective sample size."""
    n = len(log_w)
    log_mean = _logmeanexp(log_w).item()
    w = torch.exp(log_w - log_w.max())
    rel_sem = (w.std() / w.mean() / math.sqrt(n)).item() if n > 1 else float("inf")  # σ_Ẑ / Ẑ
    ess = (w.sum() ** 2 / (w ** 2).sum()).item()
    log_z = log_z0 + log_mean
    return {"log_z": log_z, "log_weights": log_w, "log_weight_std": log_w.std().item() if n > 1 else 0.0,
            "log_z_plus_3sigma": log_z + math.log1p(3 * rel_sem),
            "log_z_minus_3sigma": log_z + math.log1p(-3 * rel_sem) if 3 * rel_sem < 1 else float("-inf"),
            "ess": ess, "n_chains": n}


@supports("rbm", "dbm")
def ais(model, data: Tensor | None = None, *, n_chains: int = 100, betas: Tensor | None = None,
        base_data: Tensor | None = None, seed: int = 0, runs: int = 1, compare_raise: int = 0,
        progress: bool = True, min_ess: float = 0.1, blocks: int | None = None, compile: bool = False
        ) -> LogLikelihood:
    """AIS estimate of log Z and, with ``data``, of log p(v) per example.

    An RBM's free energy is exact, so only log Z is estimated (Ẑ is unbiased, so log p(v) is a
    stochastic upper bound in expectation); for a DBM the per-example values are the mean-field
    lower bound with the AIS log Z. The base-rate model is fitted to ``base_data`` (default:
    ``data``). ``runs`` independent runs (seeds seed, seed+1, …) pool their chains and report
    their spread; ``compare_raise`` > 0 also runs RAISE on that many examples and warns when the
    two disagree by more than 1 nat. ``compile=True`` runs the annealing as compiled graphs (see
    ``ais_log_z``) on the same random numbers. ``blocks`` splits each run's chains (and
    ``compare_raise``'s examples) into that many seeded blocks, as ``ais_log_z`` and ``raise_``
    do (default: the ``torch.distributed`` world size, 1 without a process group): a run under
    torchrun with W processes gives the same numbers as one process with ``blocks=W``.
    """
    visible = model.visible
    runs = validation.positive_int("runs", runs, "the number of independent AIS runs")
    compare_raise = validation.nonnegative_int("compare_raise", compare_raise)
    validation.probability("min_ess", min_ess)
    blocks = validation.blocks(blocks)
    n_chains, _, base_data = _check_inputs(model, n_chains, betas, base_data, seed, "AIS")
    x = None if data is None else model.layer(visible).validate(
        validation.tensor("data", data, allow_grad=True).detach(), exact=True)
    if model.layer(visible).conserved(x if x is not None else model.bias(visible)[None]) is not None:
        raise UnsupportedModel(f"AIS here anneals models whose visible layer has no conserved quantity; layer "
                               f"{visible!r} ({model.layer(visible).name}) conditions on document length. Use 'exact'")
    base = base_data if base_data is not None else x
    each = [ais_log_z(model, n_chains=n_chains, betas=betas, base_data=base, seed=seed + r, progress=progress,
                      blocks=blocks, compile=compile)
            for r in range(runs)]
    log_z0 = each[0]["log_z"] - _logmeanexp(each[0]["log_weights"]).item()
    summary = summarise_log_weights(torch.cat([e["log_weights"] for e in each]), log_z0)
    spread = {k: v for k, v in summary.items() if k not in ("log_z", "log_weights")}
    warnings = []
    if summary["ess"] < min_ess * summary["n_chains"]:
        warnings.append(f"effective sample size {summary['ess']:.1f} of {summary['n_chains']} chains is low: the "
                        f"estimate is unreliable; use more temperatures or chains")
    if runs > 1:
        per_run = torch.tensor([e["log_z"] for e in each])
        spread.update(log_z_runs=per_run.tolist(), log_z_run_std=per_run.std().item())
    log_z = summary["log_z"]
    no_nan(model, "ais", None, log_z)
    if x is None:
        return LogLikelihood(None, None, log_z, "estimate", "ais", spread, warnings)
    if model.structure == "rbm":
        per_example = -_free_energy(model, x) - log_z
    else:
        device = next(model.parameters()).device
        per_example = torch.cat([mean_field_elbo(model, rows.to(device, torch.float64)).cpu()
                                 for rows in x.split(4096)]) - log_z
        warnings.append("per-example values are the mean-field lower bound on log p(v) with the AIS log Z")
    if compare_raise:
        subset = x[:compare_raise]
        reverse = raise_(model, subset, betas=betas, base_data=base, seed=seed, progress=progress, blocks=blocks,
                         compile=compile)
        ais_subset = per_example[:compare_raise].mean().item()
        spread.update(raise_mean=reverse.mean, ais_mean_on_raise_subset=ais_subset)
        if abs(ais_subset - reverse.mean) > 1.0:
            warnings.append(f"AIS ({ais_subset:.2f}) and RAISE ({reverse.mean:.2f}) disagree by more than 1 nat on "
                            f"{len(subset)} examples: the annealing schedule is too short for this model")
    no_nan(model, "ais", per_example)
    return LogLikelihood(per_example.mean().item(), per_example, log_z, "estimate", "ais", spread, warnings)


def _free_energy(model, x: Tensor) -> Tensor:
    visible, _ = model.pair()
    device = next(model.parameters()).device
    with torch.no_grad():
        return torch.cat([model.free_energy({visible: rows.to(device, torch.float64)}) for rows in x.split(4096)]).cpu()


@supports("rbm")
@torch.no_grad()
def raise_(model, data: Tensor, *, n_chains: int = 1, betas: Tensor | None = None, base_data: Tensor | None = None,
           seed: int = 0, progress: bool = True, blocks: int | None = None, compile: bool = False) -> LogLikelihood:
    """Reverse AIS: a conservative estimate of log p(v) per example (Burda et al. 2015) — a
    stochastic lower bound on the log-likelihood of the annealing model, which tends to the
    model's own as the schedule gets finer.

    Starting at each data vector, the chain anneals from β = 1 down to the base-rate model;
    the weights estimate the likelihood of the annealing model that AIS defines, which needs
    no partition function and converges to the RBM's as the schedule gets finer.

    The examples form ``blocks`` contiguous blocks (default: the ``torch.distributed`` world
    size), block b annealed with a generator seeded ``distributed.block_seed(seed, b)``; under
    a process group rank r anneals blocks r, r + world, … and every rank returns the same
    result, equal to one process's with the same ``blocks``. ``compile`` as in ``ais_log_z``.
    """
    visible, _ = model.pair()
    device = next(model.parameters()).device
    x = model.layer(visible).validate(validation.tensor("data", data, allow_grad=True).detach(), exact=True)
    n_chains, betas, base_data = _check_inputs(model, n_chains, betas, base_data, seed, "RAISE", len(x))
    blocks = min(validation.blocks(blocks) or distributed.world_size(), len(x))
    if blocks > 1:
        return _split_examples(model, x, n_chains, betas, base_data if base_data is not None else x, seed,
                               progress, blocks, compile)
    path = GeometricPath(model, base_data if base_data is not None else x)
    reverse = compiled(path.reverse, device, compile)
    gen = torch.Generator(device=device).manual_seed(seed)
    xs = {visible: x.to(device, model.bias(visible).dtype).repeat_interleave(n_chains, 0)}
    log_w = torch.zeros(len(xs[visible]), dtype=torch.float64, device=device)
    fields = path.fields(xs)
    bar = progress_bar(progress, len(betas) - 1, "β", "RAISE")
    descending = betas[:0:-1]  # β_n … β_1
    for start in range(0, len(descending), TEMPERATURES_PER_LAUNCH):
        run = descending[start:start + TEMPERATURES_PER_LAUNCH]
        xs, fields, log_w = reverse(xs, fields, log_w, path.draw(len(run), len(log_w), gen), gen, *run)
        if bar is not None:
            bar.update(len(run))
    if bar is not None:
        bar.close()
    log_w += path.log_f(xs, fields, 0.0) - path.log_z0()
    per_chain = log_w.reshape(len(x), n_chains).cpu()
    per_example = _logmeanexp(per_chain, 1)
    no_nan(model, "raise", per_example)
    spread = {"n_chains": n_chains, "log_weight_std": per_chain.std(1).mean().item() if n_chains > 1 else None,
              "std_per_example": per_example.std().item() if len(x) > 1 else 0.0}
    return LogLikelihood(per_example.mean().item(), per_example, None, "stochastic lower bound", "raise", spread)
