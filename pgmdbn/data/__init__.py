"""Data loading and preprocessing: MNIST, Olivetti and Reuters-21578 readers, toy data sets and
transforms."""

from pgmdbn.data.faces import olivetti_paper_set
from pgmdbn.data.idx import read_idx
from pgmdbn.data.mnist import data_dir, load_mnist
from pgmdbn.data.olivetti import load_olivetti
from pgmdbn.data.reuters import load_reuters
from pgmdbn.data.toy import (
    bars_and_stripes,
    bars_and_stripes_optimum,
    sample_bars_and_stripes,
)
from pgmdbn.data.transforms import binarize, standardize

__all__ = [
    "read_idx",
    "data_dir",
    "load_mnist",
    "load_olivetti",
    "olivetti_paper_set",
    "load_reuters",
    "bars_and_stripes",
    "sample_bars_and_stripes",
    "bars_and_stripes_optimum",
    "binarize",
    "standardize",
]
