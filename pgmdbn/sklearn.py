"""scikit-learn estimators on pgmdbn models (needs the ``sklearn`` extra: ``pip install pgmdbn[sklearn]``).

``RBMTransformer`` is an RBM with any registered visible and hidden unit types as a
transformer (hidden-unit means as features), with real log-likelihoods (exact or AIS) where
scikit-learn's ``BernoulliRBM`` has a pseudo-likelihood; ``DBNClassifier`` pretrains a deep
belief net greedily and fine-tunes it by backprop as a classifier. Both work in a ``Pipeline``
and under ``GridSearchCV``; ``from_sklearn`` imports a fitted ``BernoulliRBM``.

Real-valued (Gaussian) visible units see standardised data: the estimators keep the training
data's ``mean_`` and ``scale_`` and undo them in ``score_samples``, whose log-likelihoods are of
the data as given.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from . import builders
from .api import log_likelihood
from .finetune.classifier import _logits, to_classifier, train_classifier
from .training import fit as fit_model
from .training import pretrain

__all__ = ["RBMTransformer", "DBNClassifier", "from_sklearn"]

_EXACT_LIMIT = 20  # at most this many binary hidden units (2^20 states) are summed out exactly


def _seed(random_state) -> int:
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def _real_valued(unit: str) -> bool:
    return unit == "gaussian"


class _Standardise:
    """Mean and scale of real-valued training data (scale 1 where a column is constant)."""

    def _fit_scaling(self, X: np.ndarray) -> None:
        if _real_valued(self.visible):
            self.mean_ = X.mean(0)
            std = X.std(0)
            self.scale_ = np.where(std > 1e-12, std, 1.0)
        else:
            self.mean_, self.scale_ = np.zeros(X.shape[1]), np.ones(X.shape[1])

    def _tensor(self, X: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.array((X - self.mean_) / self.scale_, dtype=np.float32))


class RBMTransformer(_Standardise, TransformerMixin, BaseEstimator):
    """A restricted Boltzmann machine as a scikit-learn transformer.

    Args:
        n_components: hidden units.
        visible, hidden: registered unit types ("bernoulli", "gaussian", "softmax", ...);
            Bernoulli visible units need data in [0, 1], Gaussian ones take any real data
            (standardised inside).
        method: trainer engine ("cd", "pcd").
        k: Gibbs steps of CD-k / PCD-k.
        learning_rate, momentum, weight_decay, batch_size, n_iter: SGD with momentum for
            ``n_iter`` epochs.
        score_method: "exact" (enumerates the hidden states), "ais", or "auto" (exact up to
            20 binary hidden units, AIS beyond).
        random_state: seed of the initial weights, the batches and the sampling.

    Attributes:
        model_: the pgmdbn ``Model`` (layers "v" and "h").
        components_: (n_components, n_features) weights.
        intercept_hidden_: the hidden biases.
        intercept_visible_: the visible biases.
        mean_: the training data's column means (zeros unless the visible units are real-valued).
        scale_: the training data's column standard deviations (ones unless real-valued).
    """

    def __init__(self, n_components: int = 16, *, visible: str = "bernoulli", hidden: str = "bernoulli",
                 method: str = "cd", k: int = 1, learning_rate: float = 0.05, momentum: float = 0.5,
                 weight_decay: float = 0.0, batch_size: int = 10, n_iter: int = 10, score_method: str = "auto",
                 random_state=None):
        self.n_components = n_components
        self.visible = visible
        self.hidden = hidden
        self.method = method
        self.k = k
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.score_method = score_method
        self.random_state = random_state

    def _new_model(self, n_features: int, seed: int):
        return builders.rbm(n_features, self.n_components, visible=self.visible, hidden=self.hidden, seed=seed)

    def _train(self, X: np.ndarray, epochs: int, seed: int) -> None:
        fit_model(self.model_, self._tensor(X), method=self.method, k=self.k, epochs=epochs,
                  batch_size=self.batch_size, lr=self.learning_rate, momentum=self.momentum,
                  weight_decay=self.weight_decay, seed=seed, progress=False, monitor_size=0)

    def fit(self, X, y=None):
        """Train a new RBM on X (n_samples, n_features) for ``n_iter`` epochs."""
        X = validate_data(self, X, dtype=np.float64)
        seed = _seed(self.random_state)
        self._fit_scaling(X)
        self.model_ = self._new_model(X.shape[1], seed)
        self._train(X, self.n_iter, seed)
        self._n_partial = 0
        return self

    def partial_fit(self, X, y=None):
        """One epoch over X, starting a model on the first call (its scaling from that batch)."""
        first = not hasattr(self, "model_")
        X = validate_data(self, X, dtype=np.float64, reset=first)
        if first:
            self._fit_scaling(X)
            self.model_ = self._new_model(X.shape[1], _seed(self.random_state))
            self._n_partial = 0
        self._train(X, 1, _seed(self.random_state) + self._n_partial)
        self._n_partial += 1
        return self

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
        check_is_fitted(self, "model_")
        return self._tensor(validate_data(self, X, dtype=np.float64, reset=False))

    def transform(self, X) -> np.ndarray:
        """The hidden units' means given each row of X, (n_samples, n_components)."""
        v = self._checked(X)
        with torch.no_grad():
            h = self.model_.layer("h").mean(self.model_.field("h", {"v": v}))
        return h.double().numpy()

    def free_energy(self, X) -> np.ndarray:
        """F(v) with the hidden units summed out (nats), one per row."""
        v = self._checked(X)
        with torch.no_grad():
            return self.model_.free_energy({"v": v}).double().numpy()

    def score_samples(self, X) -> np.ndarray:
        """log p(x) per row in nats: exact (the hidden states enumerated) or by AIS, see
        ``score_method``; for Gaussian visible units, of the data as given (the
        standardisation's log-Jacobian included)."""
        v = self._checked(X)
        method = self.score_method
        if method == "auto":
            method = "exact" if self.n_components <= _EXACT_LIMIT else "ais"
        options = {"progress": False} if method == "exact" else {"progress": False, "seed": 0}
        result = log_likelihood(self.model_, v, method=method, **options)
        return result.per_example.double().numpy() - np.log(self.scale_).sum()

    def score(self, X, y=None) -> float:
        """The mean log-likelihood of X (nats per row)."""
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
        tags.input_tags.positive_only = not _real_valued(self.visible)
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags


class DBNClassifier(_Standardise, ClassifierMixin, BaseEstimator):
    """A deep belief net pretrained greedily (CD-k on each RBM) and fine-tuned by backprop as a
    softmax classifier on its up-pass features.

    Args:
        hidden_layer_sizes: the hidden layers' sizes, bottom up.
        visible: the visible unit type ("bernoulli" for data in [0, 1], "gaussian" for any
            real data, standardised inside); hidden layers are Bernoulli.
        pretrain_epochs, pretrain_lr: greedy pretraining (0 epochs: a randomly started net).
        epochs, learning_rate, momentum, batch_size: SGD fine-tuning.
        random_state: seed of the weights, the batches and the sampling.

    Attributes:
        classes_: the class labels seen in ``fit``.
        model_: the pretrained DBN.
        net_: the fine-tuned ``Classifier``.
    """

    def __init__(self, hidden_layer_sizes=(32,), *, visible: str = "bernoulli", pretrain_epochs: int = 5,
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
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_, index = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"DBNClassifier needs at least 2 classes in y; got 1 class ({self.classes_[0]!r})")
        seed = _seed(self.random_state)
        self._fit_scaling(X)
        x = self._tensor(X)
        sizes = [X.shape[1], *map(int, self.hidden_layer_sizes)]
        self.model_ = builders.dbn(sizes, visible=self.visible, seed=seed)
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
        x = self._tensor(validate_data(self, X, dtype=np.float64, reset=False))
        return torch.softmax(_logits(self.net_, x).double(), 1).numpy()

    def predict(self, X) -> np.ndarray:
        """The most probable class of each row."""
        check_is_fitted(self, "net_")
        return self.classes_[self.predict_proba(X).argmax(1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def from_sklearn(rbm) -> RBMTransformer:
    """An ``RBMTransformer`` holding a fitted ``sklearn.neural_network.BernoulliRBM``'s weights and
    biases: the same free energies and transforms, and real log-likelihoods besides."""
    check_is_fitted(rbm, "components_")
    weights = np.asarray(rbm.components_, dtype=np.float32)
    n_hidden, n_features = weights.shape
    out = RBMTransformer(n_components=n_hidden, batch_size=rbm.batch_size, n_iter=rbm.n_iter,
                         learning_rate=rbm.learning_rate, random_state=rbm.random_state)
    out.model_ = builders.rbm(n_features, n_hidden, seed=0)
    with torch.no_grad():
        out.model_.factor("v", "h").weight.copy_(torch.from_numpy(weights.T))  # (v, h), as declared
        out.model_.layer("h").bias.copy_(torch.from_numpy(np.asarray(rbm.intercept_hidden_, np.float32)))
        out.model_.layer("v").bias.copy_(torch.from_numpy(np.asarray(rbm.intercept_visible_, np.float32)))
    out.n_features_in_ = n_features
    if hasattr(rbm, "feature_names_in_"):
        out.feature_names_in_ = rbm.feature_names_in_
    out.mean_, out.scale_ = np.zeros(n_features), np.ones(n_features)
    out._n_partial = 0
    return out
