"""The tempering plugin's engines pass pgmdbn's conformance kit: both are trainers ("pt", "tt"),
checked with pgmdbn.testing.check_trainer on tiny RBMs (the exact log-likelihood rises, the same
seed gives the same parameters, loss, state and monitor keep the trainer protocol)."""
import sys
from pathlib import Path

import pytest

import pgmdbn
from pgmdbn.testing import check_trainer

PLUGIN_DIR = Path(__file__).resolve().parents[1]
if str(PLUGIN_DIR) not in sys.path:
    sys.path.insert(0, str(PLUGIN_DIR))

import pgmdbn_tempering  # noqa: E402


@pytest.fixture
def plugin():
    pgmdbn.register_plugin(pgmdbn_tempering, name="pgmdbn_tempering")
    yield pgmdbn_tempering
    pgmdbn.unregister_plugin(pgmdbn_tempering)


@pytest.mark.parametrize("name", ["pt", "tt"])
def test_the_tempering_trainers_pass_the_trainer_contract(plugin, name):
    assert getattr(pgmdbn.registry.get("engines", name), "kind", None) == "trainer"  # no sampler to check
    check_trainer(name)
