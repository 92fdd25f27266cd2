"""Hostile arguments: every bad value of fit, pretrain, the estimators, sample and the fine-tuning
loops is refused before any work, by one pgmdbn error (also the matching builtin) that names the
argument and the value."""
import math

import pytest
import torch

import pgmdbn
from pgmdbn import validation
from pgmdbn.errors import ArgumentError, ArgumentTypeError, DeviceError, PgmdbnError, PluginError
from pgmdbn.estimators.ais import ais, raise_
from pgmdbn.finetune.autoencoder import fine_tune, unroll
from pgmdbn.finetune.classifier import to_classifier, train_classifier

from hostile import refused

X = (torch.rand(40, 6) > 0.5).float()
CUDA = torch.cuda.is_available()


def small():
    return pgmdbn.rbm(6, 4, seed=0)


FIT_CASES = [
    ("epochs", -3, ArgumentError), ("epochs", 2.5, ArgumentTypeError), ("epochs", "10", ArgumentTypeError),
    ("epochs", None, ArgumentTypeError), ("batch_size", 0, ArgumentError), ("batch_size", -1, ArgumentError),
    ("batch_size", 2.5, ArgumentTypeError), ("batch_size", None, ArgumentTypeError),
    ("batch_size", "100", ArgumentTypeError), ("lr", -1.0, ArgumentError), ("lr", math.nan, ArgumentError),
    ("lr", math.inf, ArgumentError), ("lr", "0.1", ArgumentTypeError), ("lr", None, ArgumentTypeError),
    ("momentum", -0.1, ArgumentError), ("momentum", 1.0, ArgumentError), ("momentum", 1.5, ArgumentError),
    ("momentum", math.nan, ArgumentError), ("weight_decay", -1.0, ArgumentError),
    ("weight_decay", math.nan, ArgumentError), ("weight_decay", math.inf, ArgumentError),
    ("weight_decay", "big", ArgumentTypeError), ("seed", "abc", ArgumentTypeError), ("seed", 2 ** 70, ArgumentError),
    ("seed", -1, ArgumentError), ("seed", 1.5, ArgumentTypeError), ("seed", None, ArgumentTypeError),
    ("k", 0, ArgumentError), ("k", -1, ArgumentError), ("k", [3, 0], ArgumentError), ("k", [], ArgumentError),
    ("k", "2", ArgumentTypeError), ("k", 1.5, ArgumentTypeError), ("checkpoint_every", 0, ArgumentError),
    ("checkpoint_every", -2, ArgumentError), ("checkpoint_every", 1.5, ArgumentTypeError),
    ("monitor_size", -1, ArgumentError), ("monitor_size", 0.5, ArgumentTypeError),
    ("device", "bogus", DeviceError), ("device", "meta", DeviceError), ("device", 42, ArgumentTypeError),
    ("device", "cuda:99", DeviceError),
]


@pytest.mark.parametrize("name,value,error", FIT_CASES, ids=[f"{n}={v!r}" for n, v, _ in FIT_CASES])
def test_fit_refuses_a_bad_option_by_name(name, value, error, tmp_path):
    model = small()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with refused(error, name) as info:
        pgmdbn.fit(model, X, **{"epochs": 2, "progress": False, name: value})
    assert isinstance(info.value, PgmdbnError)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # refused before training


@pytest.mark.skipif(CUDA, reason="this machine has CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "mps"])
def test_an_unavailable_device_names_what_is_available(device):
    with refused(DeviceError, device, "available here: cpu"):
        pgmdbn.fit(small(), X, epochs=1, progress=False, device=device)


def test_checkpoint_every_zero_is_refused_before_an_epoch_trains(tmp_path):
    with refused(ArgumentError, "checkpoint_every"):
        pgmdbn.fit(small(), X, epochs=3, checkpoint_dir=tmp_path, checkpoint_every=0, progress=False)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("k", [lambda e: 0, lambda e: -2, lambda e: 1.5])
def test_a_k_function_returning_nonsense_is_refused(k):
    with refused(PgmdbnError, "k(0)"):
        pgmdbn.fit(small(), X, epochs=1, k=k, progress=False)


PRETRAIN_CASES = [("epochs", -1, ArgumentError), ("epochs", [2, -1], ArgumentError), ("lr", -0.5, ArgumentError),
                  ("batch_size", 0, ArgumentError), ("seed", "x", ArgumentTypeError), ("momentum", 2.0, ArgumentError),
                  ("propagate", "bogus", ValueError), ("device", "bogus", DeviceError)]


@pytest.mark.parametrize("name,value,error", PRETRAIN_CASES, ids=[f"{n}={v!r}" for n, v, _ in PRETRAIN_CASES])
def test_pretrain_refuses_a_bad_option_by_name(name, value, error):
    model = pgmdbn.dbn([6, 4, 3], seed=0)
    with refused(error, name):
        pgmdbn.pretrain(model, X, progress=False, **{"epochs": 1, name: value})


BETAS = [([], "at least two"), ([1.0], "at least two"), ([0.0, 0.5], "end at 1"), ([0.2, 1.0], "start at 0"),
         ([0.0, 0.6, 0.4, 1.0], "increase"), ([0.0, 0.5, 0.5, 1.0], "increase"), ([0.0, math.nan, 1.0], "finite"),
         ([0.0, math.inf, 1.0], "finite"), ([0.0, 1.5, 1.0], "increase"), ([0.0, -0.5, 1.0], "increase"),
         ([[0.0, 1.0]], "shape"), ([1.0, 0.5, 0.0], "start at 0")]


@pytest.mark.parametrize("betas,problem", BETAS, ids=[str(b) for b, _ in BETAS])
@pytest.mark.parametrize("estimator", ["ais", "raise"])
def test_annealing_schedules_are_checked(estimator, betas, problem):
    model = small()
    with refused(ArgumentError, "betas", problem):
        if estimator == "ais":
            ais(model, X, betas=betas, n_chains=4, progress=False)
        else:
            raise_(model, X[:3], betas=betas, progress=False)


@pytest.mark.parametrize("betas", ["0,1", None.__class__, object()])
def test_a_schedule_that_is_no_sequence_of_numbers(betas):
    with refused(ArgumentTypeError, "betas"):
        ais(small(), X, betas=betas, n_chains=4, progress=False)


COUNTS = [("n_chains", 0, ArgumentError), ("n_chains", -5, ArgumentError), ("n_chains", 2.5, ArgumentTypeError),
          ("runs", 0, ArgumentError), ("runs", -1, ArgumentError), ("runs", "2", ArgumentTypeError),
          ("compare_raise", -1, ArgumentError), ("seed", "s", ArgumentTypeError), ("min_ess", 2.0, ArgumentError)]


@pytest.mark.parametrize("name,value,error", COUNTS, ids=[f"{n}={v!r}" for n, v, _ in COUNTS])
def test_ais_counts_are_checked(name, value, error):
    with refused(error, name):
        ais(small(), X, betas=[0.0, 0.5, 1.0], progress=False, **{name: value})


@pytest.mark.parametrize("name,value,error", [("n_chains", 0, ArgumentError), ("n_chains", -1, ArgumentError),
                                              ("seed", 2 ** 64, ArgumentError)])
def test_raise_counts_are_checked(name, value, error):
    with refused(error, name):
        raise_(small(), X[:2], betas=[0.0, 0.5, 1.0], progress=False, **{name: value})


SAMPLE_CASES = [("n", 0, ArgumentError), ("n", -1, ArgumentError), ("n", 2.5, ArgumentTypeError),
                ("n", "4", ArgumentTypeError), ("steps", -5, ArgumentError), ("steps", 1.5, ArgumentTypeError),
                ("seed", "abc", ArgumentTypeError), ("seed", 2 ** 70, ArgumentError), ("method", "bogus", PluginError),
                ("clamp", [1, 2], ArgumentTypeError)]


@pytest.mark.parametrize("name,value,error", SAMPLE_CASES, ids=[f"{n}={v!r}" for n, v, _ in SAMPLE_CASES])
def test_sample_refuses_a_bad_option_by_name(name, value, error):
    options = {"n": 4, "steps": 2, name: value}
    n = options.pop("n")
    with refused(error, name if name != "method" else value):
        pgmdbn.sample(small(), n, **options)


def test_a_clamp_with_the_wrong_number_of_rows():
    with refused(pgmdbn.DataError, "clamp['v']", "3 rows", "n=5"):
        pgmdbn.sample(small(), 5, steps=2, clamp={"v": torch.zeros(3, 6)})


@pytest.mark.parametrize("mask", [torch.ones(5, dtype=torch.bool), torch.ones(2, 6, dtype=torch.bool),
                                  torch.full((6,), 0.5)])
def test_a_mask_of_the_wrong_shape_or_kind(mask):
    with refused(pgmdbn.DataError, "masks['v']"):
        pgmdbn.sample(small(), 4, steps=2, clamp={"v": torch.zeros(6)}, masks={"v": mask})


def test_sample_init_with_the_wrong_rows():
    with refused(pgmdbn.DataError, "init['v']"):
        pgmdbn.sample(small(), 4, steps=2, method="gibbs", init={"v": torch.zeros(2, 6)})


def classifier_parts():
    model = pgmdbn.dbn([6, 4], seed=0)
    return to_classifier(model, 3), X, torch.arange(40) % 3


CLASSIFIER_CASES = [("lr", -1.0, ArgumentError), ("seed", "x", ArgumentTypeError),
                    ("weight_decay", -1.0, ArgumentError), ("device", "bogus", DeviceError)]


@pytest.mark.parametrize("name,value,error", CLASSIFIER_CASES, ids=[f"{n}={v!r}" for n, v, _ in CLASSIFIER_CASES])
def test_train_classifier_refuses_a_bad_option(name, value, error):
    net, x, y = classifier_parts()
    with refused(error, name):
        train_classifier(net, x, y, **{"epochs": 1, "progress": False, name: value})


AE_CASES = [("lr", -1.0, ArgumentError), ("seed", 2 ** 70, ArgumentError), ("weight_decay", math.nan, ArgumentError),
            ("momentum", -1.0, ArgumentError), ("device", "mps:7", DeviceError), ("batch_size", 0, ArgumentError),
            ("epochs", -1, ArgumentError)]


@pytest.mark.parametrize("name,value,error", AE_CASES, ids=[f"{n}={v!r}" for n, v, _ in AE_CASES])
def test_autoencoder_fine_tune_refuses_a_bad_option(name, value, error):
    ae = unroll(pgmdbn.dbn([6, 4, 3], seed=0))
    with refused(error, name):
        fine_tune(ae, X, progress=False, **{"epochs": 1, name: value})


VALIDATORS = [(validation.positive_int, 0), (validation.positive_int, True), (validation.nonnegative_int, -1),
              (validation.positive_float, 0.0), (validation.nonnegative_float, -1e-9), (validation.probability, 1.01),
              (validation.probability, -0.01), (validation.probability, math.nan)]


@pytest.mark.parametrize("check,value", VALIDATORS, ids=[f"{c.__name__}({v!r})" for c, v in VALIDATORS])
def test_each_check_names_the_argument_and_value(check, value):
    with refused(PgmdbnError, "the_argument", repr(value) if not isinstance(value, bool) else "True"):
        check("the_argument", value)
