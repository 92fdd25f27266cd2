"""The length-normalised replicated softmax (``ReplicatedSoftmax(size, normalize_length=L)``): it
sends L x / D instead of the counts x, is an exponential family in that statistic, stacks,
unrolls into an autoencoder whose encoder reads L x / D, and refuses bad lengths by name."""
import math

import numpy as np
import pytest
import torch

import pgmdbn
from pgmdbn.finetune.autoencoder import encode, fine_tune, stack, unroll
from pgmdbn.finetune.classifier import to_classifier
from pgmdbn.inference import up_means
from pgmdbn.units import ReplicatedSoftmax

from documents import topic_counts


def layer(size=3, length=4, normalize_length=2.5, seed=0):
    units = ReplicatedSoftmax(size, length=length, normalize_length=normalize_length).double()
    units.layer_name = "v"
    with torch.no_grad():
        units.bias.copy_(torch.randn(size, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return units


def fields(n=5, size=3, seed=1):
    return torch.randn(n, size, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_it_sends_word_frequencies_times_the_length():
    units = layer(size=4, normalize_length=10)
    short = torch.tensor([[1.0, 0, 1, 0]], dtype=torch.float64)
    torch.testing.assert_close(units.statistic(short), torch.tensor([[5.0, 0, 5, 0]], dtype=torch.float64))
    torch.testing.assert_close(units.statistic(7 * short), units.statistic(short))  # any length, one message
    assert torch.equal(units.statistic(torch.zeros(1, 4, dtype=torch.float64)), torch.zeros(1, 4, dtype=torch.float64))
    assert torch.equal(units.nn_input(short), units.statistic(short))
    plain = layer(size=4, normalize_length=None)
    assert torch.equal(plain.statistic(short), short) and torch.equal(plain.nn_input(short), short)


@pytest.mark.parametrize("length", [1, 3, 6])
def test_it_is_normalised_over_the_documents_of_each_length(length):
    units = layer(length=length)
    xs = units.states().double()
    assert (xs.sum(1) == length).all()
    eta = fields()
    log_p = units.log_prob(xs[:, None, :].expand(-1, len(eta), -1), eta)
    torch.testing.assert_close(torch.logsumexp(log_p, 0), torch.zeros(len(eta), dtype=torch.float64))
    # the partition function by enumeration, and the mean as the expectation over the states
    scores = units.statistic(xs) @ eta.T - units.base_energy(xs)[:, None]
    like = xs[:1].expand(len(eta), -1)
    torch.testing.assert_close(torch.logsumexp(scores, 0), units.log_partition(eta, like=like))
    probs = log_p.exp()
    torch.testing.assert_close(probs.T @ xs, units.mean(eta, like=like))


@pytest.mark.parametrize("beta", [1.0, 0.6])
def test_the_derivative_of_the_log_partition_is_the_expected_statistic(beta):
    units = layer()
    eta = fields().requires_grad_(True)
    (grad,) = torch.autograd.grad(units.log_partition(eta, beta).sum(), eta)
    torch.testing.assert_close(grad, beta * units.statistic(units.mean(eta.detach(), beta)))


def test_at_the_normalising_length_it_is_the_plain_layer():
    normalised, plain = layer(length=5, normalize_length=5), layer(length=5, normalize_length=None)
    eta = fields()
    x = plain.sample(eta, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(normalised.log_prob(x, eta), plain.log_prob(x, eta))
    torch.testing.assert_close(normalised.mean(eta), plain.mean(eta))
    torch.testing.assert_close(normalised.reconstruction_loss(eta, x), plain.reconstruction_loss(eta, x))


def test_samples_keep_the_length_and_match_the_mean():
    units = layer(length=8, normalize_length=3)
    eta = fields(1).expand(20000, 3)
    draws = units.sample(eta, 0.8, generator=torch.Generator().manual_seed(0)).double()
    assert (draws.sum(1) == 8).all()
    error = (draws.mean(0) - units.mean(eta[:1], 0.8)[0]).abs()
    assert (error <= 5 * draws.std(0) / math.sqrt(len(draws))).all()
    like = torch.tensor([[2.0, 0, 0]], dtype=torch.float64)  # a document of 2 words: temperature L / D = 3 / 2
    torch.testing.assert_close(units.mean(eta[:1], like=like), 2 * torch.softmax(1.5 * eta[:1], -1))


@pytest.mark.parametrize("bad", [0, -3.0, float("nan"), float("inf"), True, "10", [5]])
def test_bad_lengths_are_refused_by_name(bad):
    assert ReplicatedSoftmax(5, normalize_length=np.int64(7)).normalize_length == 7.0  # numpy numbers are numbers
    with pytest.raises(ValueError, match="normalize_length"):
        ReplicatedSoftmax(5, normalize_length=bad)


def test_the_option_is_saved_with_the_model(tmp_path):
    model = pgmdbn.rbm(6, 3, visible=ReplicatedSoftmax(6, length=10, normalize_length=7.5))
    assert model.layer("v").config() == {"length": 10, "normalize_length": 7.5}
    assert ReplicatedSoftmax(6, length=10).config() == {"length": 10}  # unchanged where unset
    path = tmp_path / "rsm.pt"
    pgmdbn.save(model, path)
    loaded = pgmdbn.load(path)
    assert loaded.layer("v").normalize_length == 7.5


@pytest.fixture(scope="module")
def counts():
    """Word counts of 120 documents over 20 words from 2 topics, lengths 3..60."""
    return topic_counts(120, 20, 2, (3, 60))


@pytest.fixture(scope="module")
def normalised_stack(counts):
    model = stack([20, 10, 6, 3], visible=ReplicatedSoftmax(20, normalize_length=25.0), seed=0)
    pgmdbn.pretrain(model, counts, epochs=2, batch_size=20, per_stage=[{"lr": r} for r in (0.01, 0.05, 0.005)],
                    momentum=0.9, progress=False)
    return model


def test_greedy_stacking_and_the_unrolled_encoder_read_the_normalised_counts(normalised_stack, counts):
    model = normalised_stack
    assert model.layer("v").normalize_length == 25.0
    ae = unroll(model)
    means = up_means(model, counts)
    code = model.layer("h3").mean(model.field("h3", {"h2": means["h2"]}))
    torch.testing.assert_close(encode(ae, counts, batch_size=7), code)
    # a document and the same document repeated three times have one code
    torch.testing.assert_close(encode(ae, 3 * counts[:5]), encode(ae, counts[:5]))
    with torch.no_grad():  # the loss is -log p(x | field) up to the coefficient, at temperature L / D
        field = ae.decode_field(ae.encode(counts))
        logits = field * 25.0 / counts.sum(1, keepdim=True)
        torch.testing.assert_close(ae.loss(counts), -(counts * torch.log_softmax(logits, -1)).sum(1))
        torch.testing.assert_close(ae(counts), counts.sum(1, keepdim=True) * torch.softmax(logits, -1))
    result = fine_tune(ae, counts, epochs=3, lr=3e-3, batch_size=20, progress=False)
    assert result.history[-1]["loss"] < result.history[0]["loss"]


def test_the_classifier_refuses_a_length_normalised_visible_layer(normalised_stack):
    with pytest.raises(pgmdbn.UnsupportedModel, match="normalize_length"):
        to_classifier(normalised_stack, 2)
