"""pgmdbn.sklearn: scikit-learn's own estimator checks on the default estimators (no expected
failures), the defaults shared with BernoulliRBM, the visible type chosen from the data, the
closed-form trainer against pgmdbn.fit, Pipelines under GridSearchCV, and the import of a fitted
BernoulliRBM."""
import numpy as np
import pytest
import torch

pytest.importorskip("sklearn")

from sklearn.datasets import load_digits  # noqa: E402  (ships with scikit-learn, no download)
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.neural_network import BernoulliRBM  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import MinMaxScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import pgmdbn  # noqa: E402
from pgmdbn import builders  # noqa: E402
from pgmdbn.errors import ArgumentError, DataError  # noqa: E402
from pgmdbn.sklearn import DBNClassifier, RBMTransformer, _seed, from_sklearn  # noqa: E402


# The estimators as a user gets them: default arguments, and no expected failures.
@parametrize_with_checks([RBMTransformer(), DBNClassifier()])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_rbm_transformer_defaults_are_bernoulli_rbms():
    ours, theirs = RBMTransformer().get_params(), BernoulliRBM().get_params()
    shared = set(ours) & set(theirs)
    assert shared == {"n_components", "learning_rate", "batch_size", "n_iter", "verbose", "random_state"}
    assert {name: ours[name] for name in shared} == {name: theirs[name] for name in shared}
    assert ours["method"] == "pcd" and ours["k"] == 1 and ours["momentum"] == 0 and ours["weight_decay"] == 0


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return x[:360] / 16.0, y[:360]


def test_auto_visible_bernoulli_for_unit_interval_gaussian_standardised_otherwise(digits):
    x, _ = digits
    grey = RBMTransformer(n_components=8, n_iter=1, random_state=0).fit(x)
    assert grey.visible_ == "bernoulli" and grey.model_.layer("v").name == "bernoulli"
    assert np.all(grey.mean_ == 0) and np.all(grey.scale_ == 1) and grey.learning_rate_ == 0.1
    real = RBMTransformer(n_components=16, n_iter=1, random_state=0).fit(x * 16 - 3)
    assert real.visible_ == "gaussian" and real.model_.layer("v").name == "gaussian"
    np.testing.assert_allclose(real.mean_, (x * 16 - 3).mean(0))
    assert real.learning_rate_ == pytest.approx(0.1 / 4)  # learning_rate / sqrt(n_components)
    for estimator in (RBMTransformer(), DBNClassifier()):
        assert not estimator.__sklearn_tags__().input_tags.positive_only
        assert type(estimator)(visible="bernoulli").__sklearn_tags__().input_tags.positive_only
        assert not type(estimator)(visible="gaussian").__sklearn_tags__().input_tags.positive_only
    with pytest.raises(DataError, match=r"Negative values in data passed to RBMTransformer.fit: X\[0, 0\] = -2"):
        RBMTransformer(visible="bernoulli").fit(x - x.max() - 1)
    with pytest.raises(DataError, match="1.5"):  # above [0, 1]: the unit contract names the value
        RBMTransformer(visible="bernoulli", n_components=2).fit(x + 0.5)
    with pytest.raises(DataError, match="Negative values in data passed to DBNClassifier.fit"):
        DBNClassifier(visible="bernoulli").fit(-x - 1, np.arange(len(x)) % 2)


@pytest.mark.parametrize("method,k,momentum,weight_decay", [("pcd", 1, 0.0, 0.0), ("pcd", 2, 0.5, 1e-3),
                                                            ("cd", 1, 0.0, 0.0), ("cd", 3, 0.9, 0.0)])
def test_closed_form_updates_are_pgmdbn_fits(digits, method, k, momentum, weight_decay):
    x, _ = digits
    ours = RBMTransformer(n_components=12, n_iter=2, random_state=0, method=method, k=k, momentum=momentum,
                          weight_decay=weight_decay).fit(x[:200])
    assert ours._trainer is not None  # the closed-form path, not the training loop
    model = builders.rbm(64, 12, seed=_seed(0))
    pgmdbn.fit(model, torch.tensor(x[:200], dtype=torch.float32), method=method, k=k, epochs=2, batch_size=10,
               lr=0.1, momentum=momentum, weight_decay=weight_decay, seed=_seed(0), progress=False, monitor_size=0)
    # the same random numbers and updates; only the floating-point order of the products differs
    np.testing.assert_allclose(ours.components_, model.weight("v", "h").detach().T.double(), atol=1e-5)
    np.testing.assert_allclose(ours.intercept_visible_, model.layer("v").bias.detach().double(), atol=1e-5)
    np.testing.assert_allclose(ours.intercept_hidden_, model.layer("h").bias.detach().double(), atol=1e-5)


def test_other_models_train_through_pgmdbn_fit(digits):
    x, _ = digits
    rbm = RBMTransformer(n_components=4, n_iter=2, visible={"type": "gaussian", "learn_sigma": True},
                         random_state=0).fit(x * 16)
    assert rbm._trainer is None and np.isfinite(rbm.transform(x[:5] * 16)).all()


def test_random_state_makes_fits_bit_identical_whatever_the_global_generator(digits):
    x, _ = digits
    fits = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        np.random.seed(global_seed)
        fits.append(RBMTransformer(n_components=16, n_iter=2, random_state=7).fit(x).components_)
    assert np.array_equal(fits[0], fits[1])
    other = RBMTransformer(n_components=16, n_iter=2, random_state=8).fit(x).components_
    assert not np.array_equal(fits[0], other)


def test_verbose_reports_each_iteration(digits, capsys):
    x, _ = digits
    RBMTransformer(n_components=4, n_iter=3, verbose=1, random_state=0).fit(x)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(",")[0] for line in lines] == [f"[RBMTransformer] Iteration {i}" for i in (1, 2, 3)]
    assert all("reconstruction error = " in line and "time = " in line for line in lines)
    with pytest.raises(ArgumentError, match="n_components"):
        RBMTransformer(n_components=0).fit(x)


def test_rbm_transformer_in_a_pipeline_under_grid_search(digits):
    x, y = digits
    pipe = Pipeline([("rbm", RBMTransformer(n_iter=5, batch_size=20, random_state=0)),
                     ("logistic", LogisticRegression(C=1000, max_iter=2000))])
    search = GridSearchCV(pipe, {"rbm__n_components": [8, 16]}, cv=2).fit(x, y)
    assert search.best_params_["rbm__n_components"] in (8, 16)
    assert search.best_score_ > 0.6  # ten classes: chance is 0.1
    features = search.best_estimator_.named_steps["rbm"].transform(x[:5])
    assert features.shape == (5, search.best_params_["rbm__n_components"]) and features.dtype == np.float64


def test_dbn_classifier_in_a_pipeline_under_grid_search(digits):
    x, y = digits
    pipe = Pipeline([("scale", MinMaxScaler()),
                     ("dbn", DBNClassifier(hidden_layer_sizes=(32,), pretrain_epochs=2, epochs=10, random_state=0))])
    search = GridSearchCV(pipe, {"dbn__learning_rate": [0.05, 0.2]}, cv=2).fit(x * 16, y)
    assert search.best_score_ > 0.7
    proba = search.predict_proba(x[:4] * 16)
    assert proba.shape == (4, 10) and np.allclose(proba.sum(1), 1)
    assert set(search.predict(x * 16)) <= set(range(10))


def test_from_sklearn_keeps_free_energies_and_transforms(digits):
    x, _ = digits
    theirs = BernoulliRBM(n_components=12, n_iter=3, learning_rate=0.05, random_state=0).fit(x)
    ours = from_sklearn(theirs)
    np.testing.assert_allclose(ours.free_energy(x), theirs._free_energy(x), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours.transform(x), theirs.transform(x), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours.components_, theirs.components_, atol=1e-6)
    # what BernoulliRBM lacks: exact log-likelihoods (the 2^12 hidden states summed out)
    loglik = ours.score_samples((x[:50] > 0.5).astype(float))
    assert loglik.shape == (50,) and np.isfinite(loglik).all() and (loglik < 0).all()


def test_auto_score_method_follows_exact_enumerations_size_rule(digits):
    """score_method="auto" takes exact log Z only where exact enumeration's own rule (states ×
    numbers per state against pgmdbn.limits.max_exact_work, and at most 2^20 states) accepts it:
    20 hidden units are enumerated for 4,000 features (2^20 × 4,020 numbers) but not for 4,100."""
    from pgmdbn.sklearn import _exact_fits

    assert _exact_fits(pgmdbn.rbm(4000, 20, seed=0)) and not _exact_fits(pgmdbn.rbm(4100, 20, seed=0))
    assert not _exact_fits(pgmdbn.rbm(40, 21, seed=0))  # 2^21 states: beyond auto's 2^20 even if it fits
    assert _exact_fits(pgmdbn.rbm(5, 40, seed=0))  # the cheaper layer (2^5 visible states) is enumerated
    x, _ = digits
    rbm = RBMTransformer(n_components=6, n_iter=2, random_state=0).fit((x > 0.5).astype(float))

    def log_z(method):
        other = RBMTransformer(n_components=6, score_method=method)
        other.model_ = rbm.model_
        return other.log_z()

    exact, ais = log_z("exact"), log_z("ais")
    assert log_z("auto") == exact != ais
    with pgmdbn.limits.override(max_exact_work=2 ** 12):  # 2^6 states × 70 numbers = 2^12.1: refused
        assert not _exact_fits(rbm.model_)
        assert log_z("auto") == ais
        with pytest.raises(pgmdbn.TooExpensive, match=r"score_method='exact'.*max_exact_work=2\^12.*"
                                                      r"score_method='ais'.*max_exact_work=2\*\*13"):
            log_z("exact")


def test_score_samples_gibbs_and_partial_fit(digits):
    x, _ = digits
    binary = (x > 0.5).astype(float)
    rbm = RBMTransformer(n_components=6, n_iter=20, random_state=0).fit(binary)
    exact = rbm.score_samples(binary[:40])
    np.testing.assert_allclose(exact, pgmdbn.log_likelihood(rbm.model_, binary[:40], progress=False).per_example,
                               atol=1e-6)
    ais = RBMTransformer(n_components=6, score_method="ais", random_state=0)
    ais.model_, ais.n_features_in_, ais.mean_, ais.scale_ = rbm.model_, rbm.n_features_in_, rbm.mean_, rbm.scale_
    assert abs(ais.score_samples(binary[:40]).mean() - exact.mean()) < 0.5  # AIS agrees with the exact value
    untrained = RBMTransformer(n_components=6, n_iter=0, random_state=0).fit(binary)
    # training raised the likelihood: by 2.5 to 3.1 nats over random_state 0..3 (PCD, 20 epochs)
    assert rbm.score(binary) > untrained.score(binary) + 1
    with pytest.warns(UserWarning, match="not log-probabilities"):  # grey values: the density continued
        assert np.isfinite(rbm.score_samples(x[:5])).all()
    sample = rbm.gibbs(binary[:10])
    assert sample.shape == (10, 64) and set(np.unique(sample)) <= {0.0, 1.0}
    online = RBMTransformer(n_components=6, method="cd", momentum=0.5, random_state=0)
    for part in np.array_split(binary, 4) * 5:
        online.partial_fit(part)
    assert online.n_features_in_ == 64 and online._epochs == 20
    assert online.score(binary) > untrained.score(binary) + 0.3  # 0.75 to 0.84 nats over random_state 0..3
    gaussian = RBMTransformer(n_components=4, n_iter=5, random_state=0).fit(x * 16)
    assert gaussian.visible_ == "gaussian" and np.isfinite(gaussian.score_samples(x[:10] * 16)).all()
