"""scikit-learn estimators on pgmdbn models (needs the ``sklearn`` extra: ``pip install pgmdbn[sklearn]``).

``RBMTransformer`` is an RBM with any registered visible and hidden unit types as a
transformer (hidden-unit means as features), with real log-likelihoods (exact or AIS) where
scikit-learn's ``BernoulliRBM`` has a pseudo-likelihood; with its default arguments it is a
drop-in for ``BernoulliRBM`` (PCD-1, 256 hidden units, learning rate 0.1, batches of 10, 10
iterations, no momentum). ``DBNClassifier`` pretrains a deep belief net greedily and fine-tunes
it by backprop as a classifier. Both pass scikit-learn's estimator checks with their default
arguments, work in a ``Pipeline`` and under ``GridSearchCV``; ``from_sklearn`` imports a fitted
``BernoulliRBM``.

``visible="auto"`` (the default) picks the visible unit type from the training data: Bernoulli
units for data in [0, 1], Gaussian units otherwise. Real-valued visible units (a type whose
data domain is the real line) see standardised data: the estimators keep the training data's
``mean_`` and ``scale_`` and undo them in ``score_samples``, whose log-likelihoods are of the
data as given.

An RBM that CD or PCD trains, whose only trainable parameters are the two biases and a dense
weight matrix, trains by closed-form in-place updates (``_ClosedFormTrainer``): the same updates,
random numbers and divergence guard as ``pgmdbn.fit(method=...)`` without the training loop's
per-batch work in Python, which dominates at scikit-learn's batches of 10 rows. Any other
model or trainer engine trains through ``pgmdbn.fit``.
"""
from __future__ import annotations

import copy
import math
import sys
import time
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from torch.distributions import constraints

from . import builders, validation
from .api import log_partition
from .engines.contrastive import CD, PCD
from .errors import ArgumentError, DataError, TooExpensive, TrainingDiverged
from .estimators.ais import paper_schedule
from .estimators.enumerate import check_size, plan, pow2
from .factors.dense import Dense
from .finetune.classifier import _logits, to_classifier, train_classifier
from .hooks import registry
from .limits import limits
from .training import epoch_order
from .training import fit as fit_model
from .training import pretrain
from .units import Units

__all__ = ["RBMTransformer", "DBNClassifier", "from_sklearn"]

#: score_method="auto" enumerates exactly up to this many joint states (the cheaper layer's)
#: when the enumeration also fits pgmdbn.limits.max_exact_work, and uses AIS otherwise
EXACT_STATES = 2 ** 20
#: score_samples' AIS: chains and temperatures (spaced as in Salakhutdinov & Murray 2008)
AIS_CHAINS, AIS_TEMPERATURES = 100, 1000


def _seed(random_state) -> int:
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def _exact_fits(model) -> bool:
    """Whether score_method="auto" takes exact log Z for ``model`` (an RBM): its enumeration has
    at most ``EXACT_STATES`` joint states and passes exact enumeration's own size rule
    (``pgmdbn.limits.max_exact_work``), both judged from the sizes before any work; a model whose
    log Z needs no enumeration fits."""
    size = plan(model, [])
    if size is None:
        return True
    if size.states_log2 > math.log2(EXACT_STATES) + 1e-9:
        return False
    try:
        check_size([size])
    except TooExpensive:
        return False
    return True


def _unit_type(argument: str, value) -> type[Units]:
    """The registered class of a unit type given by name or {"type": name, **options}."""
    name, _ = builders.unit_spec(argument, value)
    if not isinstance(name, str):
        raise ArgumentError(f"{argument}={value!r}: give a unit type's name (or {{'type': name, **options}}), not an "
                            f"instance, so that the estimator can be cloned")
    return registry.get("units", name)


def _data_domain(argument: str, value) -> constraints.Constraint:
    cls = _unit_type(argument, value)
    return cls.data_support if cls.data_support is not None else cls.support


def _real_valued(argument: str, value) -> bool:
    """Whether the unit type's data domain is the whole real line (then the data are standardised)."""
    return _data_domain(argument, value) is constraints.real


def _positive_only(argument: str, value) -> bool:
    """Whether the unit type's data domain excludes negative values (scikit-learn's tag)."""
    if value == "auto":
        return False
    return not bool(_data_domain(argument, value).check(torch.tensor([-1.0])).all())


def _resolve_visible(visible, X: np.ndarray):
    """``visible`` itself, or for "auto" Bernoulli for data in [0, 1] and Gaussian otherwise."""
    if visible != "auto":
        return visible
    return "bernoulli" if X.size and 0.0 <= X.min() and X.max() <= 1.0 else "gaussian"


def _check_negative(estimator, X: np.ndarray, where: str) -> None:
    """scikit-learn's refusal of negative data for a visible type whose domain excludes them."""
    if estimator.visible != "auto" and _positive_only("visible", estimator.visible) and X.size and X.min() < 0:
        i, j = np.unravel_index(np.argmin(X), X.shape)
        raise DataError(f"Negative values in data passed to {type(estimator).__name__}.{where}: X[{i}, {j}] = "
                        f"{X[i, j]:g}; visible={estimator.visible!r} units take no negative data. Scale the data "
                        f"into their domain, or pass visible='auto' (Gaussian units for real data)")


class _Standardise:
    """Mean and scale of real-valued training data (scale 1 where a column is constant)."""

    def _fit_scaling(self, X: np.ndarray) -> None:
        if _real_valued("visible", self.visible_):
            self.mean_ = X.mean(0)
            std = X.std(0)
            self.scale_ = np.where(std > 1e-12, std, 1.0)
        else:
            self.mean_, self.scale_ = np.zeros(X.shape[1]), np.ones(X.shape[1])

    def _tensor(self, X: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.array((X - self.mean_) / self.scale_, dtype=np.float32))


def closed_form_applies(model, method: str) -> bool:
    """Whether ``_ClosedFormTrainer`` trains ``model`` as ``pgmdbn.fit(model, method=method)``
    does: the built-in CD or PCD engine on an RBM v — h joined by one plain dense factor, the
    layers' only trainable parameters their (size,) biases, the visible energy the contract's
    ``base_energy − bias · statistic``, and the hidden type's E[statistic | η] (the gradient of
    its log partition) equal to ``statistic(mean(η))`` (checked on a few random fields)."""
    if registry.get("engines", method) not in (CD, PCD) or list(model.layers) != ["v", "h"]:
        return False
    if len(model.factors) != 1:
        return False
    factor = next(iter(model.factors.values()))
    if type(factor) is not Dense or factor.directed or (factor.a, factor.b) != ("v", "h"):
        return False
    v, h = model.layer("v"), model.layer("h")
    allowed = {id(v.bias), id(h.bias), id(factor.weight)}
    if {id(p) for p in model.parameters() if p.requires_grad} != allowed or len(allowed) != 3:
        return False
    if v.bias.shape != (v.size,) or h.bias.shape != (h.size,) or type(v).energy is not Units.energy:
        return False
    eta = torch.randn(4, h.size, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 3
    if h.conserved(eta) is not None:
        return False
    eta.requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(h.log_partition(eta).sum(), eta)
    with torch.no_grad():
        closed = h.statistic(h.mean(eta.detach()))
    return bool(torch.allclose(grad, closed, rtol=1e-6, atol=1e-9))


class _ClosedFormTrainer:
    """CD-k / PCD-k on an RBM (see ``closed_form_applies``) by in-place closed-form updates.

    The update is pgmdbn's CD/PCD engine's with SGD (momentum and weight decay on the weight as
    ``torch.optim.SGD`` applies them): the gradient of mean F(data) − mean F(model) in closed form,
    ∂F/∂W = −s(v)ᵀ E[s(h) | v], ∂F/∂b_v = −s(v), ∂F/∂b_h = −E[s(h) | v], from the same random
    numbers (a generator seeded with ``seed``, bulk noise per update, epochs shuffled as the
    training loop shuffles). The state (chains, momentum buffers, generator) carries across
    ``epochs`` calls, so ``partial_fit`` continues one run."""

    def __init__(self, model, method: str, k: int, seed: int):
        self.model, self.k, self.seed = model, k, seed
        self.persistent = registry.get("engines", method) is PCD
        self.v, self.h = model.layer("v"), model.layer("h")
        self.weight = model.factor("v", "h").weight  # (n_visible, n_hidden)
        self.params = [self.weight, self.v.bias, self.h.bias]
        self.generator = torch.Generator().manual_seed(seed)
        self.chains: dict[str, torch.Tensor] | None = None
        self.buffers: list[torch.Tensor | None] = [None, None, None]
        self.norm0 = self._norm()

    def _norm(self) -> float:
        return math.sqrt(sum(p.detach().double().square().sum().item() for p in self.model.parameters()))

    def _hidden_field(self, v: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.h.bias, self.v.statistic(v), self.weight)

    def _step(self, x: torch.Tensor, lr: float, momentum: float, weight_decay: float) -> None:
        """One update on the batch x (n, n_visible)."""
        v, h, k = self.v, self.h, self.k
        if self.persistent:
            if self.chains is None:  # chains start at the first batch, hidden states drawn given it
                self.chains = {"v": x.clone()}
                self.chains["h"] = h.sample(self._hidden_field(self.chains["v"]), 1.0, self.generator)
            chain_v, chain_h = self.chains["v"], self.chains["h"]
            noise = self.model.draw_noise(["v", "h"], (k, len(chain_v)), self.generator)
            eta_data = self._hidden_field(x)
            hidden_from = 0
        else:
            noise = self.model.draw_noise(["v", "h"], (k, len(x)), self.generator)
            eta_data = self._hidden_field(x)
            chain_v, chain_h = x, self._sample(h, eta_data, None, noise, "h", 0)
            hidden_from = 1
        for i in range(k):
            eta_v = torch.addmm(v.bias, h.statistic(chain_h), self.weight.T)
            chain_v = self._sample(v, eta_v, chain_v, noise, "v", i)
            if i < k - 1:
                chain_h = self._sample(h, self._hidden_field(chain_v), chain_h, noise, "h", hidden_from + i)
        eta_model = self._hidden_field(chain_v)
        if self.persistent:
            self.chains = {"v": chain_v, "h": self._sample(h, eta_model, chain_h, noise, "h", k - 1)}
        s_data, s_model = v.statistic(x), v.statistic(chain_v)
        m_data, m_model = h.statistic(h.mean(eta_data)), h.statistic(h.mean(eta_model))
        n, m = len(x), len(chain_v)
        if momentum == 0 and weight_decay == 0:  # plain SGD: straight into the parameters
            self.weight.addmm_(s_data.T, m_data, alpha=lr / n).addmm_(s_model.T, m_model, alpha=-lr / m)
            self.v.bias.add_(s_data.mean(0) - s_model.mean(0), alpha=lr)
            self.h.bias.add_(m_data.mean(0) - m_model.mean(0), alpha=lr)
            return
        grads = [torch.mm(s_model.T, m_model).div_(m).sub_(torch.mm(s_data.T, m_data).div_(n)),
                 s_model.mean(0) - s_data.mean(0), m_model.mean(0) - m_data.mean(0)]
        for i, (p, grad) in enumerate(zip(self.params, grads)):
            if i == 0 and weight_decay:
                grad = grad.add(p, alpha=weight_decay)
            if momentum:
                buf = self.buffers[i]
                self.buffers[i] = buf = grad.clone() if buf is None else buf.mul_(momentum).add_(grad)
                grad = buf
            p.add_(grad, alpha=-lr)

    def _sample(self, units, eta, like, noise, layer, i):
        if layer in noise:
            return units.sample(eta, 1.0, like=like, noise=noise[layer][i])
        return units.sample(eta, 1.0, self.generator, like=like)

    @torch.no_grad()
    def epochs(self, x: torch.Tensor, count: int, batch_size: int, lr: float, momentum: float, weight_decay: float,
               first_epoch: int = 0, callback=None) -> None:
        """``count`` epochs over x (n, n_visible) in batches of ``batch_size``; epoch e's order is
        the training loop's (``training.epoch_order``). After each epoch,
        non-finite parameters or a parameter norm grown by ``pgmdbn.limits.divergence_factor``
        restore the epoch's start and raise ``TrainingDiverged``; ``callback(epoch)`` runs then."""
        for epoch in range(first_epoch, first_epoch + count):
            kept = [p.detach().clone() for p in self.params]
            data = x[epoch_order(len(x), self.seed, epoch)]
            for start in range(0, len(data), batch_size):
                self._step(data[start:start + batch_size], lr, momentum, weight_decay)
            reason = None
            if not all(bool(torch.isfinite(p).all()) for p in self.params):
                reason = "non-finite parameters"
            elif self._norm() > limits.divergence_factor * max(self.norm0, 1.0):
                reason = (f"the parameter norm grew from {self.norm0:.3g} to {self._norm():.3g}, more than "
                          f"pgmdbn.limits.divergence_factor={limits.divergence_factor:g} times")
            if reason:
                for p, good in zip(self.params, kept):
                    p.copy_(good)
                self.chains, self.buffers = None, [None, None, None]
                raise TrainingDiverged(f"RBM training diverged in epoch {epoch + 1}: {reason}; the parameters after "
                                       f"epoch {epoch} are restored. Lower learning_rate (now {lr:g}), raise "
                                       f"weight_decay, or standardise real-valued data")
            if callback is not None:
                callback(epoch)


class RBMTransformer(_Standardise, TransformerMixin, BaseEstimator):
    """A restricted Boltzmann machine as a scikit-learn transformer, a drop-in for
    ``sklearn.neural_network.BernoulliRBM`` with the same defaults and parameter names.

    Args:
        n_components: hidden units (default 256, as BernoulliRBM).
        learning_rate: SGD step size of the mean-per-row gradient (0.1). With real-valued
            visible units the step is ``learning_rate / sqrt(n_components)`` (``learning_rate_``):
            a Gaussian unit's field sums the hidden units' weights without a saturating sigmoid,
            and at BernoulliRBM's 0.1 every fit of 256 hidden units on standardised data diverged
            in our trials (CD and PCD); Hinton's practical guide advises a step one or two orders
            smaller for Gaussian units.
        batch_size: rows per update (10).
        n_iter: epochs over the training data (10).
        verbose: print each epoch's reconstruction error and time when true (0).
        random_state: None, an int or a ``numpy.random.RandomState``: the seed of the initial
            weights, the batches and the sampling; an int makes ``fit`` bit-identical across
            runs and processes (no global generator is used).
        visible: "auto" (Bernoulli units for data in [0, 1], Gaussian units with standardised
            data otherwise) or a registered unit type ("bernoulli", "gaussian", "softmax", ...,
            or {"type": name, **options}); Bernoulli visible units take data in [0, 1].
        hidden: the hidden unit type ("bernoulli").
        method: trainer engine: "pcd" (persistent chains, as BernoulliRBM), "cd", or any
            registered trainer of RBMs.
        k: Gibbs steps per update (1).
        momentum, weight_decay: SGD momentum and L2 penalty on the weights (0 and 0, as
            BernoulliRBM).
        score_method: how ``score_samples`` finds log Z: "exact" (enumerating the cheaper
            layer; refused, as ``pgmdbn.log_partition(method="exact")`` is, when it would
            compute more than ``pgmdbn.limits.max_exact_work`` numbers), "ais", or "auto"
            (exact when the enumeration has at most 2^20 joint states and fits that limit,
            judged from the sizes before any work; AIS otherwise).

    Attributes:
        model_: the pgmdbn ``Model`` (layers "v" and "h").
        visible_: the visible unit type used ("auto" resolved).
        learning_rate_: the SGD step in use (see ``learning_rate``).
        components_: (n_components, n_features) weights.
        intercept_hidden_: the hidden biases.
        intercept_visible_: the visible biases.
        mean_: the training data's column means (zeros unless the visible units are real-valued).
        scale_: the training data's column standard deviations (ones unless real-valued).
    """

    def __init__(self, n_components: int = 256, *, learning_rate: float = 0.1, batch_size: int = 10,
                 n_iter: int = 10, verbose: int = 0, random_state=None, visible="auto", hidden="bernoulli",
                 method: str = "pcd", k: int = 1, momentum: float = 0.0, weight_decay: float = 0.0,
                 score_method: str = "auto"):
        self.n_components = n_components
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.verbose = verbose
        self.random_state = random_state
        self.visible = visible
        self.hidden = hidden
        self.method = method
        self.k = k
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.score_method = score_method

    def _check_params(self) -> None:
        validation.positive_int("n_components", self.n_components, "the number of hidden units, e.g. 256")
        validation.nonnegative_float("learning_rate", self.learning_rate, "e.g. 0.1")
        validation.positive_int("batch_size", self.batch_size, "rows per update, e.g. 10")
        validation.nonnegative_int("n_iter", self.n_iter, "epochs over the data, e.g. 10")
        validation.nonnegative_int("verbose", int(self.verbose) if isinstance(self.verbose, bool) else self.verbose,
                                   "0 for silence, 1 to print each epoch")
        validation.positive_int("k", self.k, "Gibbs steps per update, e.g. 1")
        if not 0 <= validation.nonnegative_float("momentum", self.momentum) < 1:
            raise ArgumentError(f"momentum={self.momentum!r} must be below 1 (SGD diverges otherwise); e.g. 0.5")
        validation.nonnegative_float("weight_decay", self.weight_decay, "an L2 penalty such as 1e-4, or 0")
        validation.one_of("score_method", self.score_method, ("auto", "exact", "ais"))
        if self.visible != "auto":
            _unit_type("visible", self.visible)
        _unit_type("hidden", self.hidden)
        registry.get("engines", self.method)

    def _start(self, X: np.ndarray, seed: int) -> None:
        """A new model for X: the visible type resolved, the scaling kept, the trainer set up."""
        self.visible_ = _resolve_visible(self.visible, X)
        self._fit_scaling(X)
        self.model_ = builders.rbm(X.shape[1], self.n_components, visible=self.visible_, hidden=self.hidden,
                                   seed=seed)
        self._log_z = None
        self._epochs = 0
        self.learning_rate_ = float(self.learning_rate)
        if _real_valued("visible", self.visible_):
            self.learning_rate_ /= math.sqrt(self.n_components)
        self._trainer = _ClosedFormTrainer(self.model_, self.method, self.k, seed) \
            if closed_form_applies(self.model_, self.method) else None

    def _train(self, x: torch.Tensor, epochs: int, seed: int, first: bool) -> None:
        t0 = time.perf_counter()
        if self._trainer is None:  # any other model or engine: the training loop
            fit_model(self.model_, x, method=self.method, k=self.k, epochs=epochs, batch_size=self.batch_size,
                      lr=self.learning_rate_, momentum=self.momentum, weight_decay=self.weight_decay, seed=seed,
                      progress=False, monitor_size=0, init_from_data=None if first else False,
                      callbacks=[lambda model, epoch, metrics: self._report(x, self._epochs + epoch - 1, t0)]
                      if self.verbose else ())
        else:
            if first:  # as pgmdbn.fit: the visible biases start at the data's base rates
                self.model_.layer("v").init_from_data(x)
            self._trainer.epochs(x, epochs, self.batch_size, self.learning_rate_, self.momentum, self.weight_decay,
                                 first_epoch=self._epochs,
                                 callback=(lambda epoch: self._report(x, epoch, t0)) if self.verbose else None)
        self._epochs += epochs
        self._log_z = None

    def _report(self, x: torch.Tensor, epoch: int, start: float) -> None:
        model = self.model_
        with torch.no_grad():
            h = model.layer("h").mean(model.field("h", {"v": x}))
            recon = model.layer("v").mean(model.field("v", {"h": h}), like=x)
            error = (recon - x).pow(2).sum(-1).mean().item()
        print(f"[{type(self).__name__}] Iteration {epoch + 1}, reconstruction error = {error:.4f}, "
              f"time = {time.perf_counter() - start:.2f}s", file=sys.stdout, flush=True)

    def fit(self, X, y=None):
        """Train a new RBM on X (n_samples, n_features) for ``n_iter`` epochs."""
        self._check_params()
        X = validate_data(self, X, dtype=np.float64)
        _check_negative(self, X, "fit")
        seed = _seed(self.random_state)
        self._start(X, seed)
        self._seed_ = seed
        x = self._visible_data(X)
        self._train(x, self.n_iter, seed, first=True)
        return self

    def partial_fit(self, X, y=None):
        """One epoch over X (in batches of ``batch_size``), starting a model on the first call
        (its visible type and scaling from that batch). On the closed-form path the persistent
        chains and momentum carry over between calls; through ``pgmdbn.fit`` (other models and
        engines) each call is a fresh one-epoch run on the current parameters."""
        first = not hasattr(self, "model_")
        if first:
            self._check_params()
        X = validate_data(self, X, dtype=np.float64, reset=first)
        _check_negative(self, X, "partial_fit")
        if first:
            self._seed_ = _seed(self.random_state)
            self._start(X, self._seed_)
        self._train(self._visible_data(X), 1, self._seed_ + self._epochs, first=first)
        return self

    def _visible_data(self, X: np.ndarray) -> torch.Tensor:
        """X scaled, as a float32 tensor checked against the visible type's data domain."""
        return self.model_.layer("v").validate(self._tensor(X))

    @property
    def components_(self) -> np.ndarray:
        check_is_fitted(self, "model_")
        return self.model_.weight("v", "h").detach().T.cpu().double().numpy()

    @property
    def intercept_hidden_(self) -> np.ndarray:
        check_is_fitted(self, "model_")
        return self.model_.layer("h").bias.detach().cpu().double().numpy()

    @property
    def intercept_visible_(self) -> np.ndarray:
        check_is_fitted(self, "model_")
        return self.model_.layer("v").bias.detach().cpu().double().numpy()

    def _checked(self, X) -> torch.Tensor:
        """X scaled, as a float32 tensor; the features, free energies and Gibbs steps are defined
        for any real rows (as BernoulliRBM's), so only ``score_samples`` checks the domain."""
        check_is_fitted(self, "model_")
        return self._tensor(validate_data(self, X, dtype=np.float64, reset=False))

    def transform(self, X) -> np.ndarray:
        """The hidden units' means given each row of X, (n_samples, n_components)."""
        v = self._checked(X)
        with torch.no_grad():
            h = self.model_.layer("h").mean(self.model_.field("h", {"v": v}))
        return h.double().numpy()

    def free_energy(self, X) -> np.ndarray:
        """F(v) with the hidden units summed out (nats), one per row, of the scaled data."""
        v = self._checked(X)
        with torch.no_grad():
            return self.model_.free_energy({"v": v}).double().numpy()

    def log_z(self) -> float:
        """log Z of the fitted model, by ``score_method`` (computed once per fitted model)."""
        check_is_fitted(self, "model_")
        if getattr(self, "_log_z", None) is None:
            self._log_z, method = None, self.score_method
            if method == "exact" or (method == "auto" and _exact_fits(self.model_)):
                try:
                    self._log_z = log_partition(self.model_, "exact", progress=False).log_z
                except TooExpensive as e:  # worded for this estimator: it takes no max_states
                    raise TooExpensive(
                        f"score_method='exact': exact log Z enumerates {pow2(e.states_log2)} joint states and "
                        f"computes {pow2(e.work_log2)} numbers, more than pgmdbn.limits.max_exact_work="
                        f"{pow2(e.limit_log2)}; use score_method='ais' (or 'auto'), or raise the limit: "
                        f"with pgmdbn.limits.override(max_exact_work=2**{math.ceil(e.work_log2)}): ...",
                        states_log2=e.states_log2, work_log2=e.work_log2, limit_log2=e.limit_log2,
                        limit=e.limit, alternative=e.alternative) from None
            if self._log_z is None:
                self._log_z = log_partition(self.model_, "ais", n_chains=AIS_CHAINS, seed=0, progress=False,
                                            betas=paper_schedule(AIS_TEMPERATURES)).log_z
        return self._log_z

    def score_samples(self, X) -> np.ndarray:
        """log p(x) per row in nats, −F(x) − log Z in float64 (see ``score_method`` and
        ``log_z``); for real-valued visible units, of the data as given (the standardisation's
        log-Jacobian included). Rows that lie off the visible type's exact states (grey values
        in (0, 1) for Bernoulli units, the data BernoulliRBM trains on) get the same formula, the
        log density continued off those states and no longer a normalised probability, with a
        warning; binarize such data for log-likelihoods."""
        units = self.model_.layer("v")
        v = units.validate(self._checked(X))
        exact = units.support
        if exact is not units.data_support and units.data_support is not None and not bool(exact.check(v).all()):
            domain, fix = units.domain_hint(exact)
            warnings.warn(f"score_samples: some rows of X lie outside the {units.name} units' exact states "
                          f"({domain}); their values are −F(x) − log Z continued off those states, not "
                          f"log-probabilities ({fix} for log-likelihoods)", stacklevel=2)
        with torch.no_grad():
            free = self.model_.free_energy({"v": v.double()}).numpy()
        return -free - self.log_z() - np.log(self.scale_).sum()

    def score(self, X, y=None) -> float:
        """The mean of ``score_samples`` over X (nats per row)."""
        return float(self.score_samples(X).mean())

    def gibbs(self, X) -> np.ndarray:
        """One Gibbs step from each row of X: hidden states sampled given X, then visible
        states given those (in the data's units)."""
        v = self._checked(X)
        generator = torch.Generator().manual_seed(_seed(self.random_state))
        model = self.model_
        with torch.no_grad():
            h = model.layer("h").sample(model.field("h", {"v": v}), 1.0, generator)
            new = model.layer("v").sample(model.field("v", {"h": h}), 1.0, generator, like=v)
        return new.double().numpy() * self.scale_ + self.mean_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.positive_only = _positive_only("visible", self.visible)
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags



class DBNClassifier(_Standardise, ClassifierMixin, BaseEstimator):
    """A deep belief net pretrained greedily (CD-k on each RBM) and fine-tuned by backprop as a
    softmax classifier on its up-pass features.

    Args:
        hidden_layer_sizes: the hidden layers' sizes, bottom up.
        visible: "auto" (Bernoulli units for data in [0, 1], Gaussian units with standardised
            data otherwise) or a registered unit type; hidden layers are Bernoulli.
        pretrain_epochs, pretrain_lr: greedy pretraining (0 epochs: a randomly started net).
        epochs, learning_rate, momentum, batch_size: SGD fine-tuning.
        random_state: seed of the weights, the batches and the sampling.

    Attributes:
        classes_: the class labels seen in ``fit``.
        visible_: the visible unit type used ("auto" resolved).
        model_: the pretrained DBN.
        net_: the fine-tuned ``Classifier``.
    """

    def __init__(self, hidden_layer_sizes=(32,), *, visible="auto", pretrain_epochs: int = 5,
                 pretrain_lr: float = 0.05, epochs: int = 30, learning_rate: float = 0.1, momentum: float = 0.9,
                 batch_size: int = 20, random_state=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.visible = visible
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_lr = pretrain_lr
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.batch_size = batch_size
        self.random_state = random_state

    def fit(self, X, y):
        """Pretrain the DBN on X, then fine-tune it with the labels y."""
        if self.visible != "auto":
            _unit_type("visible", self.visible)
        X, y = validate_data(self, X, y, dtype=np.float64)
        _check_negative(self, X, "fit")
        check_classification_targets(y)
        self.classes_, index = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"DBNClassifier needs at least 2 classes in y; got 1 class ({self.classes_[0]!r})")
        seed = _seed(self.random_state)
        self.visible_ = _resolve_visible(self.visible, X)
        self._fit_scaling(X)
        sizes = [X.shape[1], *map(int, self.hidden_layer_sizes)]
        self.model_ = builders.dbn(sizes, visible=self.visible_, seed=seed)
        x = self.model_.layer("v").validate(self._tensor(X))
        if self.pretrain_epochs:
            pretrain(self.model_, x, epochs=self.pretrain_epochs, method="cd", lr=self.pretrain_lr, momentum=0.5,
                     batch_size=self.batch_size, seed=seed, progress=False, monitor_size=0)
        self.net_ = to_classifier(copy.deepcopy(self.model_), len(self.classes_), seed=seed)
        train_classifier(self.net_, x, torch.from_numpy(index.astype(np.int64)), epochs=self.epochs,
                         lr=self.learning_rate, momentum=self.momentum, batch_size=self.batch_size, seed=seed,
                         progress=False)
        return self

    def predict_proba(self, X) -> np.ndarray:
        """P(class | x) per row, columns in the order of ``classes_``."""
        check_is_fitted(self, "net_")
        x = self._tensor(validate_data(self, X, dtype=np.float64, reset=False))  # the up-pass takes any real rows
        return torch.softmax(_logits(self.net_, x).double(), 1).numpy()

    def predict(self, X) -> np.ndarray:
        """The most probable class of each row."""
        check_is_fitted(self, "net_")
        return self.classes_[self.predict_proba(X).argmax(1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.positive_only = _positive_only("visible", self.visible)
        return tags


def from_sklearn(rbm) -> RBMTransformer:
    """An ``RBMTransformer`` holding a fitted ``sklearn.neural_network.BernoulliRBM``'s weights and
    biases: the same free energies and transforms, and real log-likelihoods besides."""
    check_is_fitted(rbm, "components_")
    weights = np.asarray(rbm.components_, dtype=np.float32)
    n_hidden, n_features = weights.shape
    out = RBMTransformer(n_components=n_hidden, learning_rate=rbm.learning_rate, batch_size=rbm.batch_size,
                         n_iter=rbm.n_iter, verbose=rbm.verbose, random_state=rbm.random_state, visible="bernoulli")
    out.model_ = builders.rbm(n_features, n_hidden, seed=0)
    with torch.no_grad():
        out.model_.factor("v", "h").weight.copy_(torch.from_numpy(weights.T))  # (v, h), as declared
        out.model_.layer("h").bias.copy_(torch.from_numpy(np.asarray(rbm.intercept_hidden_, np.float32)))
        out.model_.layer("v").bias.copy_(torch.from_numpy(np.asarray(rbm.intercept_visible_, np.float32)))
    out.n_features_in_ = n_features
    if hasattr(rbm, "feature_names_in_"):
        out.feature_names_in_ = rbm.feature_names_in_
    out.visible_, out.learning_rate_ = "bernoulli", float(rbm.learning_rate)
    out.mean_, out.scale_ = np.zeros(n_features), np.ones(n_features)
    out._log_z, out._epochs, out._seed_ = None, 0, _seed(rbm.random_state)
    out._trainer = _ClosedFormTrainer(out.model_, "pcd", 1, out._seed_)
    return out
