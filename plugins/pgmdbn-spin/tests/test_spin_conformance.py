"""The spin plugin's unit type passes pgmdbn's conformance kit, as a plugin author would check it."""
import sys
from pathlib import Path

import pytest

PLUGIN_DIR = Path(__file__).resolve().parents[1]
if str(PLUGIN_DIR) not in sys.path:
    sys.path.insert(0, str(PLUGIN_DIR))

import pgmdbn_spin  # noqa: E402  (the plugin directory goes on the path first)
from pgmdbn.testing import check_unit_type  # noqa: E402


def test_spin_units_pass_the_unit_contract():
    check_unit_type(pgmdbn_spin.Spin)


def test_the_kit_would_catch_a_spin_sampler_off_its_field():
    class Skewed(pgmdbn_spin.Spin):
        name = "spin_skewed"

        def sample(self, eta, beta=1.0, generator=None, like=None):
            return super().sample(eta + 0.3, beta, generator, like)

    with pytest.raises(AssertionError, match=r"^sample: 20000 draws lie at total variation"):
        check_unit_type(Skewed)
