"""Every registered engine and estimator meets its protocol, and the one registry query agrees
with what each declares."""
import pytest
import torch

import pgmdbn
from pgmdbn.protocols import Estimator, PersistentChains, Sampler, Trainer, handlers, refusal

MODELS = {"rbm": lambda: pgmdbn.rbm(6, 4, seed=0), "dbm": lambda: pgmdbn.dbm([6, 4, 3], seed=0),
          "dbn": lambda: pgmdbn.dbn([6, 4, 3], seed=0), "sbn": lambda: pgmdbn.sbn([6, 4, 3], seed=0)}


@pytest.mark.parametrize("name", pgmdbn.registry.names("engines"))
def test_every_engine_meets_its_protocol_on_every_structure_it_declares(name):
    cls = pgmdbn.registry.get("engines", name)
    assert cls.structures and set(cls.structures) <= set(MODELS), name
    for structure in cls.structures:
        model = MODELS[structure]()
        if cls.kind == "trainer":
            engine = cls(model, k=1, generator=torch.Generator().manual_seed(0))
            assert isinstance(engine, Trainer), name
            batch = {n: torch.zeros(4, model.layer(n).size) for n in engine.data_layers}
            assert engine.loss(batch).ndim == 0
        elif cls.kind == "sampler":
            assert isinstance(cls(model, generator=torch.Generator().manual_seed(0)), Sampler), name


@pytest.mark.parametrize("name", pgmdbn.registry.names("estimators"))
def test_every_estimator_meets_the_protocol(name):
    estimator = pgmdbn.registry.get("estimators", name)
    assert isinstance(estimator, Estimator) and set(estimator.structures) <= set(MODELS), name


def test_the_registry_query_matches_the_declarations():
    def builtin(kind, names):  # an installed plugin (pgmdbn-tempering's "pt", "tt") may add its own
        return [n for n in names if pgmdbn.registry.origin(kind, n) == "pgmdbn"]

    assert builtin("engines", handlers("engines", "rbm", role="trainer")) == ["cd", "dbm", "pcd"]
    assert builtin("engines", handlers("engines", "dbn", role="trainer")) == ["updown"]
    assert builtin("engines", handlers("engines", "sbn", role="trainer")) == ["rws", "wakesleep"]
    assert builtin("engines", handlers("engines", role="sampler")) == ["ancestral", "gibbs"]
    assert builtin("estimators", handlers("estimators", "dbn")) == ["bound", "exact", "iwae"]

    error = refusal("no", "engines", "dbm", role="trainer")
    assert isinstance(error, pgmdbn.UnsupportedModel) and str(error) == "no (trainers that handle a dbm: dbm)"


def test_persistent_chains_start_once_and_round_trip():
    chains = PersistentChains()
    assert chains.state() == {}
    first = chains.start({"v": torch.ones(2, 3)})
    assert chains.start({"v": torch.zeros(2, 3)}) is first and first["v"].sum() == 6
    other = PersistentChains()
    other.load_state({**chains.state(), "momentum/x": torch.zeros(1)})
    assert other.states.keys() == {"v"} and torch.equal(other.states["v"], first["v"])
