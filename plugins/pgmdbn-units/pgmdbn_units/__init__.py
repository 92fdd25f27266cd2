"""pgmdbn-units: a gallery of unit types for pgmdbn, written against its public hooks only.

binomial, potts, relu, drelu, prelu and xrelu; ``pip install pgmdbn-units`` and each name works
wherever pgmdbn takes a unit type (``pgmdbn.rbm(784, 500, hidden="relu")``).
"""
import pgmdbn

from .binomial import Binomial
from .drelu import DReLU, TwoSided
from .potts import Potts
from .prelu import PReLU
from .relu import ReLU
from .xrelu import XReLU

TYPES = (Binomial, Potts, ReLU, DReLU, PReLU, XReLU)
__all__ = ["Binomial", "Potts", "ReLU", "DReLU", "PReLU", "XReLU", "TwoSided", "TYPES"]


@pgmdbn.hookimpl
def pgmdbn_register_units():
    return {cls.name: cls for cls in TYPES}
