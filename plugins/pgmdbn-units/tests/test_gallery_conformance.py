"""Every gallery type passes pgmdbn's conformance kit (pgmdbn.testing.check_unit_type), as a
plugin author checks a type; and the kit catches a relu copy whose sampler is off its field."""
import sys
from pathlib import Path

import pytest

PLUGIN_DIR = Path(__file__).resolve().parents[1]
if str(PLUGIN_DIR) not in sys.path:
    sys.path.insert(0, str(PLUGIN_DIR))

import pgmdbn_units  # noqa: E402  (installed, or from this checkout)
from pgmdbn.testing import check_unit_type  # noqa: E402

#: options, and the shape of the layer checked where the type needs one (a Potts layer is sites × q)
CASES = {"binomial": {"trials": 3}, "potts": {"states": 3, "shape": (2, 3)}}


@pytest.mark.parametrize("cls", pgmdbn_units.TYPES, ids=lambda cls: cls.name)
def test_each_gallery_type_passes_the_unit_contract(cls):
    check_unit_type(cls, **CASES.get(cls.name, {}))


def test_the_kit_would_catch_a_relu_sampler_off_its_field():
    class Skewed(pgmdbn_units.ReLU):
        name = "relu_skewed"

        def sample(self, eta, beta=1.0, generator=None, like=None, noise=None):
            return super().sample(eta + 0.3, beta, generator, like, noise)

    with pytest.raises(AssertionError, match=r"^sample"):
        check_unit_type(Skewed)


def test_the_kit_would_catch_a_drelu_log_partition_off_by_a_thousandth_per_unit():
    class Shifted(pgmdbn_units.DReLU):
        name = "drelu_shifted"

        def log_partition(self, eta, beta=1.0, like=None):
            return super().log_partition(eta, beta, like) + 1e-3 * eta.shape[-1]

    with pytest.raises(AssertionError, match=r"^log_partition: quadrature gives"):
        check_unit_type(Shifted)
