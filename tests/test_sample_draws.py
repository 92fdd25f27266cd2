"""``pgmdbn.sample`` returns draws of every layer by default; conditional means only for the
layers named in ``conditional_means``."""
import pytest
import torch

import pgmdbn
from pgmdbn.errors import ArgumentTypeError, ModelError
from pgmdbn.protocols import handlers


@pytest.mark.parametrize("method", handlers("engines", role="sampler"))
def test_every_layer_comes_back_as_draws_by_default(method):
    model = pgmdbn.dbm([10, 6, 4], init_scale=0.5, seed=0) if method == "gibbs" else \
        pgmdbn.dbn([10, 6, 4], init_scale=0.5, seed=0)
    drawn = pgmdbn.sample(model, 50, steps=3, seed=1, method=method)
    assert set(drawn) == set(model.layers)
    for name, x in drawn.items():  # Bernoulli layers: states, never probabilities
        assert set(x.unique().tolist()) <= {0.0, 1.0}, name
    means = pgmdbn.sample(model, 50, steps=3, seed=1, method=method, conditional_means=("v",))
    assert ((means["v"] > 0) & (means["v"] < 1)).float().mean() > 0.9  # probabilities, not states
    assert all(set(means[n].unique().tolist()) <= {0.0, 1.0} for n in model.layers if n != "v")


def test_gaussian_visible_means_and_draws_differ():
    model = pgmdbn.rbm(5, 3, visible="gaussian", init_scale=0.5, seed=0)
    drawn = pgmdbn.sample(model, 2000, steps=2, seed=2, method="gibbs")["v"]
    means = pgmdbn.sample(model, 2000, steps=2, seed=2, method="gibbs", conditional_means=("v",))["v"]
    # a mean given the 3 binary hidden units takes one of 2^3 values; a draw adds continuous noise
    assert len(torch.unique(means, dim=0)) <= 8 and len(torch.unique(drawn, dim=0)) == 2000


@pytest.mark.parametrize("value,error,words", [("v", ArgumentTypeError, 'conditional_means=(\'v\',)'),
                                               (None, ArgumentTypeError, "tuple of layer names"),
                                               ((3,), ArgumentTypeError, "layer names"),
                                               (("x",), ModelError, "x")])
def test_conditional_means_names_layers(value, error, words):
    with pytest.raises(error) as caught:
        pgmdbn.sample(pgmdbn.rbm(4, 3, seed=0), 2, steps=1, conditional_means=value)
    assert words in str(caught.value)


def test_the_old_mean_argument_is_gone():
    with pytest.raises(TypeError, match="mean"):
        pgmdbn.sample(pgmdbn.rbm(4, 3, seed=0), 2, steps=1, mean=())
