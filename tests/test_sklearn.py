"""pgmdbn.sklearn: scikit-learn's own estimator checks, Pipelines under GridSearchCV, and the
import of a fitted BernoulliRBM."""
import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.datasets import load_digits  # noqa: E402  (ships with scikit-learn, no download)
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.neural_network import BernoulliRBM  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import MinMaxScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from pgmdbn.sklearn import DBNClassifier, RBMTransformer, from_sklearn  # noqa: E402

# Bernoulli visible units model data in [0, 1] and refuse anything else with a DataError (the
# unit contract's data_support); these checks feed unscaled real data (blobs, values up to
# ~100), so for the Bernoulli transformer they end in that refusal. The Gaussian transformer
# below takes any real data and passes them all.
OUTSIDE_0_1 = ("the check's data lie outside [0, 1], which Bernoulli visible units refuse by "
               "contract (DataError naming the value); the Gaussian-visible instance passes this check")
BERNOULLI_REFUSES = [
    "check_estimators_dtypes", "check_pipeline_consistency", "check_estimators_pickle",
    "check_f_contiguous_array_estimator", "check_transformer_data_not_an_array", "check_transformer_general",
    "check_transformer_preserve_dtypes", "check_methods_sample_order_invariance",
    "check_methods_subset_invariance", "check_fit2d_1sample", "check_fit2d_1feature", "check_dict_unchanged",
    "check_fit_idempotent", "check_fit_check_is_fitted", "check_n_features_in", "check_fit2d_predict1d",
    "check_estimators_overwrite_params", "check_dont_overwrite_parameters", "check_estimators_fit_returns_self",
    "check_readonly_memmap_input", "check_n_features_in_after_fitting",
]
BERNOULLI_OWN_REASONS = {
    "check_fit_score_takes_y": "score is the exact log-likelihood, defined on binary data only ({0, 1}, the "
                               "Bernoulli support); the check scores reals in (0, 1) and gets a DataError",
    "check_positive_only_tag_during_fit": "negative data are refused with pgmdbn's DataError naming the value and "
                                          "the domain [0, 1], not with scikit-learn's 'Negative values in data' text",
}


def expected_failures(estimator):
    if isinstance(estimator, RBMTransformer) and estimator.visible == "bernoulli":
        return {**{name: OUTSIDE_0_1 for name in BERNOULLI_REFUSES}, **BERNOULLI_OWN_REASONS}
    return {}


@parametrize_with_checks([
    RBMTransformer(n_components=4, visible="gaussian", n_iter=3, random_state=0),
    RBMTransformer(n_components=4, n_iter=3, random_state=0),
    DBNClassifier(hidden_layer_sizes=(16,), visible="gaussian", pretrain_epochs=2, epochs=15, batch_size=32,
                  learning_rate=0.2, random_state=0),
], expected_failed_checks=expected_failures)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return x[:360] / 16.0, y[:360]


def test_rbm_transformer_in_a_pipeline_under_grid_search(digits):
    x, y = digits
    pipe = Pipeline([("rbm", RBMTransformer(n_iter=5, batch_size=20, learning_rate=0.1, random_state=0)),
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
    loglik = ours.score_samples((x[:50] > 0.5).astype(float))  # exact: defined on binary data
    assert loglik.shape == (50,) and np.isfinite(loglik).all() and (loglik < 0).all()


def test_score_samples_gibbs_and_partial_fit(digits):
    x, _ = digits
    binary = (x > 0.5).astype(float)
    rbm = RBMTransformer(n_components=6, n_iter=5, learning_rate=0.1, random_state=0).fit(binary)
    exact = rbm.score_samples(binary[:40])
    ais = RBMTransformer(n_components=6, score_method="ais", random_state=0)
    ais.model_, ais.n_features_in_, ais.mean_, ais.scale_ = rbm.model_, rbm.n_features_in_, rbm.mean_, rbm.scale_
    assert abs(ais.score_samples(binary[:40]).mean() - exact.mean()) < 0.5  # AIS agrees with the exact value
    untrained = RBMTransformer(n_components=6, n_iter=0, random_state=0).fit(binary)
    assert rbm.score(binary) > untrained.score(binary)  # training raised the likelihood
    sample = rbm.gibbs(binary[:10])
    assert sample.shape == (10, 64) and set(np.unique(sample)) <= {0.0, 1.0}
    online = RBMTransformer(n_components=6, learning_rate=0.1, random_state=0)
    for part in np.array_split(binary, 4) * 5:
        online.partial_fit(part)
    assert online.n_features_in_ == 64 and online._n_partial == 20
    assert online.score(binary) > untrained.score(binary)
    gaussian = RBMTransformer(n_components=4, visible="gaussian", n_iter=5, random_state=0).fit(x * 16)
    assert np.isfinite(gaussian.score_samples(x[:10] * 16)).all()  # log p of the unscaled data
