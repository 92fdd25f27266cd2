"""Hostile data: malformed arrays given to fit, the estimators, sample's clamps and classify are
refused with an error that names the argument (and the layer or value at fault)."""
import math

import pytest
import torch

import pgmdbn
from pgmdbn.errors import ArgumentTypeError, DataError
from pgmdbn.estimators.ais import ais, raise_

from hostile import refused


def small(visible="bernoulli"):
    return pgmdbn.rbm(6, 4, visible=visible, seed=0)


GOOD = (torch.rand(20, 6) > 0.5).float()


def with_value(value, row=3, col=2):
    x = GOOD.clone()
    x[row, col] = value
    return x


BAD = [
    ("complex", GOOD.to(torch.complex64), ArgumentTypeError, "complex"),
    ("sparse", GOOD.to_sparse(), ArgumentTypeError, "sparse"),
    ("meta", torch.empty(20, 6, device="meta"), ArgumentTypeError, "meta"),
    ("requires_grad", GOOD.clone().requires_grad_(), ArgumentTypeError, "requires grad"),
    ("nan", with_value(math.nan), DataError, "nan"),
    ("inf", with_value(math.inf), DataError, "inf"),
    ("-inf", with_value(-math.inf), DataError, "inf"),
    ("outside [0, 1]", with_value(2.0), DataError, "2.0"),
    ("negative", with_value(-1.0), DataError, "-1.0"),
    ("wrong columns", torch.zeros(20, 5), DataError, "(20, 5)"),
    ("one dimension", torch.zeros(6), DataError, "(6,)"),
    ("three dimensions", torch.zeros(2, 3, 6), DataError, "(2, 3, 6)"),
    ("empty", torch.zeros(0, 6), DataError, "empty"),
    ("strings", [["a"] * 6], ArgumentTypeError, "data"),
    ("ragged", [[0, 1], [0]], ArgumentTypeError, "data"),
]


@pytest.mark.parametrize("x,error,culprit", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_fit_refuses_bad_data(x, error, culprit):
    with refused(error, culprit):
        pgmdbn.fit(small(), x, epochs=1, progress=False)


EXACT_BAD = [b for b in BAD if b[0] not in ("strings", "ragged", "requires_grad")] + [("fraction for exact", with_value(0.5), DataError, "0.5")]


@pytest.mark.parametrize("x,error,culprit", [b[1:] for b in EXACT_BAD], ids=[b[0] for b in EXACT_BAD])
@pytest.mark.parametrize("method", ["ais", "raise"])
def test_estimators_refuse_bad_data(method, x, error, culprit):
    with refused(error, culprit):
        if method == "ais":
            ais(small(), x, betas=[0.0, 0.5, 1.0], n_chains=4, progress=False)
        else:
            raise_(small(), x, betas=[0.0, 0.5, 1.0], progress=False)


BASE = [("nan", with_value(math.nan), DataError, "nan"), ("outside [0, 1]", with_value(3.0), DataError, "3.0"),
        ("wrong columns", torch.zeros(4, 7), DataError, "base_data"), ("one dimension", torch.zeros(6), DataError,
                                                                        "base_data"),
        ("complex", GOOD.to(torch.complex64), ArgumentTypeError, "base_data"),
        ("sparse", GOOD.to_sparse(), ArgumentTypeError, "base_data")]


@pytest.mark.parametrize("base,error,culprit", [b[1:] for b in BASE], ids=[b[0] for b in BASE])
@pytest.mark.parametrize("method", ["ais", "raise"])
def test_base_data_is_validated_by_the_unit_type(method, base, error, culprit):
    with refused(error, culprit):
        if method == "ais":
            ais(small(), None, betas=[0.0, 0.5, 1.0], n_chains=4, base_data=base, progress=False)
        else:
            raise_(small(), GOOD[:2], betas=[0.0, 0.5, 1.0], base_data=base, progress=False)


@pytest.mark.parametrize("x,error,culprit", [b[1:] for b in EXACT_BAD], ids=[b[0] for b in EXACT_BAD])
def test_exact_refuses_bad_data(x, error, culprit):
    with refused(error, culprit):
        pgmdbn.log_likelihood(small(), x, method="exact", progress=False)


CLAMPS = [("nan", torch.full((6,), math.nan), DataError, "nan"), ("outside", torch.full((6,), 2.0), DataError, "2.0"),
          ("complex", torch.zeros(6, dtype=torch.complex64), ArgumentTypeError, "clamp['v']"),
          ("wrong size", torch.zeros(5), DataError, "v"), ("sparse", torch.zeros(4, 6).to_sparse(), ArgumentTypeError,
                                                           "clamp['v']")]


@pytest.mark.parametrize("value,error,culprit", [c[1:] for c in CLAMPS], ids=[c[0] for c in CLAMPS])
def test_sample_refuses_bad_clamps(value, error, culprit):
    with refused(error, culprit):
        pgmdbn.sample(small(), 4, steps=2, clamp={"v": value})


CLASSIFY = [("complex", GOOD.to(torch.complex64), ArgumentTypeError, "v"), ("nan", with_value(math.nan), DataError,
                                                                              "nan"),
            ("wrong columns", torch.zeros(3, 5), DataError, "(3, 5)"), ("meta", torch.empty(2, 6, device="meta"),
                                                                     ArgumentTypeError, "meta")]


@pytest.mark.parametrize("v,error,culprit", [c[1:] for c in CLASSIFY], ids=[c[0] for c in CLASSIFY])
def test_classify_refuses_bad_data(v, error, culprit):
    model = pgmdbn.dbn([6, 4], labels=3, seed=0)
    with refused(error, culprit):
        pgmdbn.classify(model, v, "y")


@pytest.mark.parametrize("x,culprit", [(torch.randn(20, 6).to(torch.complex64), "complex"),
                                       (torch.full((20, 6), math.inf), "inf")])
def test_gaussian_layers_refuse_bad_real_data(x, culprit):
    with refused(pgmdbn.PgmdbnError, culprit):
        pgmdbn.fit(small("gaussian"), x, epochs=1, progress=False)
