"""The contracts as a public conformance kit, for plugin authors (in the spirit of scikit-learn's
``check_estimator``):

- ``check_unit_type(cls, **options)``: a unit type against brute force, on its own and in tiny
  RBMs with the type on either side of a Bernoulli layer;
- ``check_factor_type(cls, **options)``: a factor type's messages, energy and exact likelihood;
- ``check_sampler(name)``, ``check_trainer(name)``, ``check_estimator(name)``: a registered
  engine or estimator on tiny models whose every state can be enumerated.

Every reference number is computed here by enumerating states or by numerical quadrature, in
float64, never by the code under test. A violation raises an ``AssertionError`` whose message
starts with the property and gives the numbers, e.g. ``log_partition: enumeration gives
-3.2100, the type gives -3.2110 (beta=0.5, size=3)``. Random draws come from seeded
generators and every sampling tolerance is computed from the number of draws, with a chance of a
false alarm below one in a million per check.

A type under test need not be registered: the kit registers it for the checks that go through
registered names (model files, greedy pretraining) and unregisters it afterwards. Nothing here
knows a type's name; what a type needs to be built (``trials=3``, a spatial ``shape``) comes
from the caller.
"""
from __future__ import annotations

# the checks live in submodules (units, factors, engines) over a shared reference module
from .reference import DELTA, DRAWS, EXACT_TOL, OUTSIDE, QUAD_TOL, STRUCTURES
from .units import check_unit_type
from .factors import check_factor_type
from .engines import check_sampler, check_trainer, check_estimator

__all__ = ["check_unit_type", "check_factor_type", "check_sampler", "check_trainer", "check_estimator"]
