"""Seeds that reproduce: every seeded public entry point (each sampler, each trainer through
``fit``, ``pretrain``, each estimator, ``cdbn``, the fine-tuning loops, the scikit-learn
estimators with ``random_state``) gives bit-identical outputs in two fresh processes whose
global generators were consumed by different amounts before the calls, and none of them draws
from torch's global generator. The entry points and the digests are in ``seed_entry_points.py``."""
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

import pgmdbn
from pgmdbn.protocols import handlers

HERE = Path(__file__).resolve().parent


def run(consume: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONHASHSEED=str(consume))
    done = subprocess.run([sys.executable, str(HERE / "seed_entry_points.py"), str(consume)], capture_output=True,
                          text=True, env=env, timeout=900, cwd=HERE.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_seeded_entry_point_is_bit_identical_across_processes():
    first, second = run(1), run(1000)
    names = list(first["digests"])
    print(f"\n{len(names)} seeded entry points, bit-identical in two fresh processes:\n  " + "\n  ".join(names))
    assert not first["errors"] and not second["errors"], (first["errors"], second["errors"])
    assert first["global_generator_used"] == [] and second["global_generator_used"] == [], \
        (first["global_generator_used"], second["global_generator_used"])
    differ = [name for name in names if first["digests"][name] != second["digests"].get(name)]
    assert not differ, f"different outputs across processes: {differ}"
    assert names == list(second["digests"])
    # every registered sampler, trainer and estimator took part, and the other families too
    for name in handlers("engines", role="sampler"):
        assert any(n.startswith(f"sample[{name},") for n in names), name
    for name in handlers("engines", role="trainer"):
        assert any(n.startswith(f"fit[{name},") for n in names), name
    for name in pgmdbn.registry.names("estimators"):
        assert any(n.startswith(f"log_likelihood[{name},") for n in names), name
    for family in ("pretrain[", "cdbn", "finetune.train_classifier", "finetune.fine_tune", "sklearn.RBMTransformer",
                   "sklearn.DBNClassifier"):
        assert any(n.startswith(family) for n in names), family


def test_the_same_seed_twice_in_one_process_gives_the_same_samples():
    """The start of the chains comes from the seeded generator too (it once came from the global one)."""
    model = pgmdbn.rbm(12, 5, init_scale=0.5, seed=0)
    for method in handlers("engines", role="sampler"):
        a = pgmdbn.sample(model, 30, steps=3, seed=3, method=method)
        b = pgmdbn.sample(model, 30, steps=3, seed=3, method=method)
        assert all(a[k].equal(b[k]) for k in a), method
        c = pgmdbn.sample(model, 30, steps=3, seed=4, method=method)
        assert not all(a[k].equal(c[k]) for k in a), method


UNSEEDED_BUILDS = {
    "rbm": lambda seed: pgmdbn.rbm(12, 5, seed=seed),
    "dbn": lambda seed: pgmdbn.dbn([12, 6, 4], labels=3, seed=seed),
    "dbm": lambda seed: pgmdbn.dbm([12, 6, 4], seed=seed),
    "sbn": lambda seed: pgmdbn.sbn([12, 6, 4], seed=seed),
    "cdbn": lambda seed: pgmdbn.cdbn((1, 8, 8), filters=[3], kernels=[3], pools=[2], seed=seed),
    "init_weights": lambda seed: pgmdbn.rbm(12, 5, seed=0).init_weights(0.1, seed=seed),
}


def _weights(model) -> list:
    return [p.detach().clone() for p in model.parameters()]


def test_an_unseeded_build_leaves_the_global_generator_alone_and_differs_each_call():
    """``seed=None`` draws from a generator seeded by the operating system's entropy: torch's
    global generator is neither read nor advanced, two unseeded builds differ, and an int seed
    reproduces the weights whatever the global generator's state."""
    for name, build in UNSEEDED_BUILDS.items():
        torch.manual_seed(123)
        before = torch.get_rng_state()
        first, second = _weights(build(None)), _weights(build(None))
        assert torch.equal(torch.get_rng_state(), before), f"{name}(seed=None) used torch's global generator"
        assert any(not a.equal(b) for a, b in zip(first, second)), f"two {name}(seed=None) builds are equal"
        torch.manual_seed(7)
        seeded = _weights(build(5))
        torch.manual_seed(8)
        assert all(a.equal(b) for a, b in zip(seeded, _weights(build(5)))), f"{name}(seed=5) does not reproduce"
    before = torch.get_rng_state()
    draws = [pgmdbn.sample(pgmdbn.rbm(12, 5, init_scale=0.5, seed=0), 30, steps=2, seed=None)["v"] for _ in range(2)]
    assert torch.equal(torch.get_rng_state(), before) and not draws[0].equal(draws[1])


def test_a_spec_file_without_a_seed_takes_the_default_seed_or_a_fresh_one(tmp_path):
    """``pgmdbn train`` passes its training seed as ``default_seed``, so a spec without "seed"
    still builds the same model each run; with neither, each build is a fresh draw."""
    from pgmdbn.io import model_from_spec_file

    path = tmp_path / "spec.json"
    path.write_text(json.dumps({**pgmdbn.rbm(6, 4, seed=0).spec(), "init_scale": 0.1}))
    before = torch.get_rng_state()
    same = [_weights(model_from_spec_file(path, default_seed=3)) for _ in range(2)]
    fresh = [_weights(model_from_spec_file(path)) for _ in range(2)]
    assert torch.equal(torch.get_rng_state(), before)
    assert all(a.equal(b) for a, b in zip(*same)) and any(not a.equal(b) for a, b in zip(*fresh))
    assert all(a.equal(b) for a, b in zip(same[0], _weights(pgmdbn.rbm(6, 4, init_scale=0.1, seed=3))))
