"""Gaussian-process regression on the features of a pretrained model, and fine-tuning of those
features by the GP's marginal likelihood (Salakhutdinov & Hinton 2007, "Using deep belief nets
to learn covariance kernels for Gaussian processes").

The kernel is a spherical Gaussian (RBF) on the top-level features F(x) of the recognition
up-pass,

    k(x, x') = variance * exp(-|F(x) - F(x')|² / (2 lengthscale²)),

and the targets are y = f(x) + noise. Three ways to use it, each a ``GPRegressor``:

- on raw inputs (``features=None``): the plain GP baseline;
- on greedy features (``features=feature_network(model)``, frozen): ``fit`` learns only the
  lengthscale, variance and noise by maximising the log marginal likelihood log p(y | X);
- fine-tuned (``fine_tune``): the same objective, differentiated into the weights of the
  feature network as well, so the kernel itself is learnt from the labelled data. Each step
  may take the marginal likelihood of a random subset of the labelled points: on the face
  orientation benchmark (``benchmarks/gp_orientation.py``) full-batch steps drove the noise
  to ~0 at once and stalled, steps on random halves kept it finite and generalised better.

The GP is pyro's (``pyro.contrib.gp.models.GPRegression`` with ``kernels.RBF``); its negative
log marginal likelihood is ``pyro.infer.Trace_ELBO().differentiable_loss(model, guide)``, which
with no latent variables is exactly -log p(y | X). Kernel matrices, the Cholesky factor and the
hyperparameters are float64; the feature network keeps its own dtype (float32), and its outputs
are cast up before the kernel. Targets are standardised inside (zero mean, unit variance), so
the same initial hyperparameters suit any target scale; predictions come back in the targets'
units.

``feature_network`` reuses ``to_classifier``: the same Linear + Sigmoid blocks (recognition
weights for directed factors, the undirected top's weights from below, 1/sigma of a Gaussian
visible layer folded into the first Linear, so the network takes the data the model was
trained on), without the softmax output.
"""
from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..errors import DataError, ModelError, TrainingDiverged
from ..training import TrainResult, param_groups, train
from ..finetune.classifier import to_classifier

__all__ = ["feature_network", "extract_features", "GPRegressor", "rmse", "median_distance"]


def feature_network(model, layers: Sequence[str] | None = None) -> nn.Sequential:
    """The deterministic up-pass of a pretrained DBN (RBM, DBM, sigmoid belief net) as
    ``nn.Sequential`` of blocks ``Sequential(Linear, Sigmoid)`` named after the model's layers;
    its output is the top layer's recognition probabilities, or those of the last of ``layers``
    (a prefix of the up-pass). It owns copies of the weights, on the model's device."""
    net = to_classifier(model, 2, layers=layers)  # any class count: its output layer is dropped
    return nn.Sequential(OrderedDict((name, getattr(net, name)) for name in net.layer_names))


def _n_inputs(net: nn.Module) -> int | None:
    """The input width of a feature network's first Linear, or None where there is none."""
    first = next((m for m in net.modules() if isinstance(m, nn.Linear)), None)
    return None if first is None else first.in_features


def _device_of(module: nn.Module, default: torch.device) -> torch.device:
    param = next(module.parameters(), None)
    return default if param is None else param.device


@torch.no_grad()
def extract_features(net: nn.Module, x, batch_size: int = 1000) -> Tensor:
    """``net(x)`` in batches without gradients, on the network's device: (n, n_features)."""
    x = _as_inputs(x, "inputs", _n_inputs(net))
    first = next(net.parameters(), None)
    device, dtype = (x.device, x.dtype) if first is None else (first.device, first.dtype)
    was = net.training
    net.eval()
    try:
        return torch.cat([net(x[i:i + batch_size].to(device, dtype)) for i in range(0, len(x), batch_size)])
    finally:
        net.train(was)


def rmse(prediction, target) -> float:
    """Root mean squared error between two vectors of the same length."""
    p, t = torch.as_tensor(prediction).double().reshape(-1), torch.as_tensor(target).double().reshape(-1)
    if p.shape != t.shape or len(p) == 0:
        raise DataError(f"rmse needs two non-empty vectors of one length, got {len(p)} and {len(t)} values")
    return (p - t.to(p.device)).pow(2).mean().sqrt().item()


# --- input checks --------------------------------------------------------------------------------

def _as_inputs(x, what: str, n_inputs: int | None = None) -> Tensor:
    x = torch.as_tensor(x)
    if x.ndim != 2:
        raise DataError(f"{what}: give a 2-D array (n, n_inputs), one row per point; got shape {tuple(x.shape)}")
    if n_inputs is not None and x.shape[1] != n_inputs:
        raise DataError(f"{what}: the model takes {n_inputs} inputs per row, got {x.shape[1]} (shape "
                        f"{tuple(x.shape)}); preprocess the data as for training")
    if len(x) == 0:
        raise DataError(f"{what}: no rows")
    if not x.is_floating_point():
        x = x.float()
    if not torch.isfinite(x).all():
        raise DataError(f"{what}: {int((~torch.isfinite(x)).sum())} values are NaN or infinite; "
                        f"drop or impute those rows first")
    return x


def _as_targets(y, n: int, what: str) -> Tensor:
    y = torch.as_tensor(y)
    if y.ndim != 1 or len(y) != n:
        raise DataError(f"{what}: give one target per row ({n}), as a vector; got shape {tuple(y.shape)}")
    y = y.double()
    if not torch.isfinite(y).all():
        raise DataError(f"{what}: {int((~torch.isfinite(y)).sum())} targets are NaN or infinite; drop those rows")
    return y


def _pyro_local():
    """pyro's PyroModules keep their parameters in one global param store by name, so two GPs
    (every GPRegression names its lengthscale "kernel.lengthscale") would silently share them;
    module-local parameters keep each GP's own. Every pyro call here runs inside this."""
    import pyro

    return pyro.settings.context(module_local_params=True)


def _positive(value, name: str) -> float:
    if value is None:
        return None
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


# --- the regressor -------------------------------------------------------------------------------

class GPRegressor(nn.Module):
    """GP regression with an RBF kernel on ``features(x)`` (raw x when ``features`` is None).

    Args:
        features: a network mapping inputs to features (e.g. ``feature_network(model)``); the
            regressor owns it (``fine_tune`` changes its weights). None: the inputs themselves.
        lengthscale, variance, noise: initial hyperparameters, with variance and noise in units
            of the standardised targets (so 1 is the targets' variance). Defaults: the median
            distance between training features, 1, and 0.1.
        jitter: added to the kernel's diagonal before the Cholesky (pyro's ``jitter``).
        device: where the features, the GP and all tensors live ("cpu", "cuda", ...).

    Use: ``fit(x, y)`` (hyperparameters by marginal likelihood), optionally ``fine_tune(...)``,
    then ``predict(x_new)`` or ``rmse(x_new, y_new)``.
    """

    def __init__(self, features: nn.Module | None = None, *, lengthscale: float | None = None,
                 variance: float = 1.0, noise: float = 0.1, jitter: float = 1e-6, device=None):
        super().__init__()
        features = nn.Identity() if features is None else features
        # default: where the feature network lives (the CPU for raw inputs)
        self.device = torch.device(device) if device is not None else _device_of(features, torch.device("cpu"))
        self.features = features.to(self.device)
        self.initial = {"lengthscale": _positive(lengthscale, "lengthscale"),
                        "variance": _positive(variance, "variance"), "noise": _positive(noise, "noise")}
        self.jitter = float(jitter)
        self.gp = None  # pyro's GPRegression, built by set_data once the feature width is known
        self.y_mean, self.y_scale = 0.0, 1.0
        self.x = self.y = None

    # -- data ----------------------------------------------------------------------------------

    @property
    def n_inputs(self) -> int | None:
        return _n_inputs(self.features)

    def _features(self, x: Tensor) -> Tensor:
        """features(x) in float64 for the kernel, with gradients where the network has them."""
        dtype = next(self.features.parameters(), x).dtype
        return self.features(x.to(self.device, dtype)).double()

    def set_data(self, x, y) -> GPRegressor:
        """Take the training inputs (n, n_inputs) and targets (n,), standardise the targets and
        build the GP on their features (the first call also sets the initial hyperparameters)."""
        x = _as_inputs(x, "training inputs", self.n_inputs).to(self.device)
        y = _as_targets(y, len(x), "training targets").to(self.device)
        if len(x) < 2:
            raise DataError("training inputs: a GP needs at least 2 training points")
        self.x = x
        self.y_mean = y.mean().item()
        self.y_scale = y.std().item() if y.std() > 0 else 1.0  # constant targets stay as they are
        self.y = (y - self.y_mean) / self.y_scale
        with torch.no_grad():
            feats = self._features(x)
        if self.gp is None:
            self.gp = self._build(feats)
        elif feats.shape[1] != self.gp.X.shape[1]:
            raise DataError(f"training inputs give {feats.shape[1]} features, the GP was built for "
                            f"{self.gp.X.shape[1]}")
        self.gp.set_data(feats, self.y)
        return self

    def _build(self, feats: Tensor):
        import pyro.contrib.gp as gp

        lengthscale = self.initial["lengthscale"] or median_distance(feats)
        with _pyro_local():
            kernel = gp.kernels.RBF(input_dim=feats.shape[1], variance=feats.new_tensor(self.initial["variance"]),
                                    lengthscale=feats.new_tensor(lengthscale))
            model = gp.models.GPRegression(feats, self.y, kernel, noise=feats.new_tensor(self.initial["noise"]),
                                           jitter=self.jitter)
        return model.to(self.device, torch.float64)

    def _need_data(self):
        if self.gp is None:
            raise ModelError("the GP has no training data yet: call fit(x, y) (or set_data) first")

    # -- the objective -------------------------------------------------------------------------

    def hyperparameters(self) -> dict[str, float]:
        """{"lengthscale", "variance", "noise"}, variance and noise in the targets' units (squared)."""
        self._need_data()
        s2 = self.y_scale ** 2
        with _pyro_local():
            return {"lengthscale": self.gp.kernel.lengthscale.item(), "variance": self.gp.kernel.variance.item() * s2,
                    "noise": self.gp.noise.item() * s2}

    def _loss(self, x: Tensor | None = None, y: Tensor | None = None) -> Tensor:
        """-log p(y | X) of the standardised targets, through pyro: the whole training set, or
        (x, y) with features computed (and differentiated) now."""
        import pyro

        if x is not None:
            self.gp.set_data(self._features(x), y)
        try:
            with _pyro_local():
                return pyro.infer.Trace_ELBO().differentiable_loss(self.gp.model, self.gp.guide)
        except torch.linalg.LinAlgError as e:  # K + noise I lost positive definiteness numerically
            reason = str(e).splitlines()[0]  # pyro appends its trace's shapes
            raise TrainingDiverged(f"the kernel matrix is not positive definite ({reason}); features may have "
                                   f"collapsed or the noise vanished: raise jitter (now {self.jitter:g}) or lower "
                                   f"the learning rate") from None

    def neg_log_marginal_likelihood(self) -> float:
        """-log p(y | X) of the training targets in their own units (nats): the standardisation's
        Jacobian, n log(scale), is added back."""
        self._need_data()
        with torch.no_grad():
            loss = self._loss(self.x, self.y)
        return loss.item() + len(self.y) * math.log(self.y_scale)

    # -- training ------------------------------------------------------------------------------

    def fit(self, x, y, *, steps: int = 100, optimizer: str = "lbfgs", lr: float | None = None) -> list[dict]:
        """Take the training data and learn lengthscale, variance and noise by maximising the
        log marginal likelihood, the features fixed. ``optimizer`` "lbfgs" (strong-Wolfe line
        search, ``steps`` iterations, lr 1 by default) or "adam" (``steps`` steps, lr 0.05).
        Returns one record per evaluation of the objective (L-BFGS) or per step (Adam)."""
        self.set_data(x, y)
        params = list(self.gp.parameters())
        history = []
        with torch.no_grad():  # the features stay fixed: computed once
            self.gp.set_data(self._features(self.x), self.y)

        def closure():
            opt.zero_grad(set_to_none=True)
            loss = self._loss()
            loss.backward()
            history.append({"step": len(history) + 1, "loss": loss.item() / len(self.y)})
            return loss

        if optimizer == "lbfgs":
            opt = torch.optim.LBFGS(params, lr=lr or 1.0, max_iter=steps, line_search_fn="strong_wolfe")
            opt.step(closure)
        elif optimizer == "adam":
            opt = torch.optim.Adam(params, lr=lr or 0.05)
            for _ in range(steps):
                closure()
                opt.step()
        else:
            raise ValueError(f"optimizer must be 'lbfgs' or 'adam', got {optimizer!r}")
        self._check_finite("fitting the hyperparameters")
        return history

    def fine_tune(self, *, steps: int = 100, lr: float = 1e-3, hyper_lr: float = 1e-2, batch_size: int | None = None,
                  weight_decay: float = 0.0, seed: int = 0, log_every: int = 10, callback=None,
                  progress: bool = False) -> TrainResult:
        """Backpropagate -log p(y | F(X)) into the feature network and the hyperparameters
        together on the training loop (``pgmdbn.training.train``, one step an epoch): AdamW with
        ``lr`` for the network, ``hyper_lr`` for the GP's three parameters, ``weight_decay``
        decoupled, on the network's weight matrices only.

        Each step uses the whole training set (``batch_size`` None) or a random subset of
        ``batch_size`` points (seeded), the marginal likelihood of that subset. Call ``fit``
        first: fine-tuning starts from its hyperparameters. The result's history holds records
        ``{"step", "lr", "loss", "seconds"}`` at step 0 and every ``log_every`` steps (loss: -log
        p per point of the standardised targets, full set; seconds since the start);
        ``callback(self, record)`` sees each after step 0. A step with a non-finite likelihood
        or parameters raises ``TrainingDiverged`` with the last good parameters restored.
        """
        self._need_data()
        if steps < 0 or (batch_size is not None and batch_size < 2):
            raise ValueError(f"need steps >= 0 and batch_size None or >= 2; got {steps} and {batch_size}")
        net_params = [p for p in self.features.parameters() if p.requires_grad]
        if not net_params:
            raise ModelError("fine_tune needs a feature network with parameters; this GP works on the raw inputs")
        groups = [*param_groups(net_params, weight_decay, lr=lr),
                  {"params": list(self.gp.parameters()), "lr": hyper_lr, "weight_decay": 0.0}]
        gen = torch.Generator().manual_seed(int(seed))
        n, t0 = len(self.y), time.perf_counter()
        size = n if batch_size is None or batch_size >= n else batch_size
        record = self._record(0, t0)
        self.features.train()
        result = train(self, {"x": self.x, "y": self.y}, lambda batch: self._loss(batch["x"], batch["y"]),
                       torch.optim.AdamW(groups), epochs=steps, batch_size=size, unit="step", log_every=log_every,
                       order=lambda step: torch.arange(n) if size == n else torch.randperm(n, generator=gen)[:size],
                       evaluate=lambda step: self._record(step, t0), progress=progress,
                       callbacks=[lambda gp, step, rec: callback(gp, rec)] if callback is not None else (),
                       what="fine-tuning the kernel", advice=f" or hyper_lr (now {hyper_lr:g})")
        result.history.insert(0, record)
        with torch.no_grad():  # leave the GP on the whole training set's new features
            self.gp.set_data(self._features(self.x), self.y)
        return result

    def _record(self, step: int, t0: float) -> dict:
        with torch.no_grad():
            loss = self._loss(self.x, self.y).item() / len(self.y)
        return {"step": step, "loss": loss, "seconds": time.perf_counter() - t0}

    def _check_finite(self, what: str) -> None:
        for name, p in [*self.gp.named_parameters(), *self.features.named_parameters()]:
            if not torch.isfinite(p).all():
                raise TrainingDiverged(f"{what}: parameter {name} became non-finite; lower the learning rate")

    # -- prediction ----------------------------------------------------------------------------

    @torch.no_grad()
    def predict(self, x, return_var: bool = False, batch_size: int = 2000):
        """The posterior mean of f at each row of ``x`` in the targets' units, (n,); with
        ``return_var`` also the predictive variance of a new target (noise included)."""
        self._need_data()
        x = _as_inputs(x, "inputs to predict", self.n_inputs).to(self.device)
        was = self.features.training
        self.features.eval()
        try:
            means, variances = [], []
            for i in range(0, len(x), batch_size):
                with _pyro_local():
                    mean, var = self.gp(self._features(x[i:i + batch_size]), full_cov=False, noiseless=False)
                means.append(mean)
                variances.append(var)
        finally:
            self.features.train(was)
        mean = torch.cat(means) * self.y_scale + self.y_mean
        return (mean, torch.cat(variances) * self.y_scale ** 2) if return_var else mean

    def rmse(self, x, y) -> float:
        """Root mean squared error of the predicted means on (x, y), in the targets' units."""
        x = _as_inputs(x, "test inputs", self.n_inputs)
        y = _as_targets(y, len(x), "test targets")
        return rmse(self.predict(x), y)


@torch.no_grad()
def median_distance(feats: Tensor, max_points: int = 1000) -> float:
    """The median Euclidean distance between distinct rows (of the first ``max_points``): the usual
    starting lengthscale of an RBF kernel. 1 where all rows coincide."""
    f = feats[:max_points].double()
    d = torch.cdist(f, f)
    off = d[~torch.eye(len(f), dtype=torch.bool, device=f.device)]
    med = off.median().item() if off.numel() else 0.0
    return med if med > 0 else 1.0
