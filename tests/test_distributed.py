"""Data-parallel training and split estimators under torch.distributed: 2 processes with the
gloo backend, spawned by the test, against the single-process results."""
import math
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import pgmdbn
from pgmdbn import distributed
from pgmdbn.engines.contrastive import CD
from pgmdbn.engines.dbm import DBMTrainer
from pgmdbn.errors import ArgumentError
from pgmdbn.estimators.ais import ais_log_z
from pgmdbn.training import fit

WORLD = 2


class MeanFieldCD(CD):
    """CD-1 with a mean-field negative phase: a deterministic update, so that a data-parallel run
    can be compared with one process to float tolerance (sampling streams differ per rank)."""

    def loss(self, batch):
        f_data = self.model.free_energy(batch)
        with torch.no_grad():
            states = dict(batch)
            self.sampler.update(states, self.hidden, mean_field=True)
            self.sampler.update(states, self.data_layers, mean_field=True)
        return f_data.mean() - self.model.free_energy({n: states[n] for n in self.data_layers}).mean()


class _Engines:
    @pgmdbn.hookimpl
    def pgmdbn_register_engines(self):
        return {"mfcd_test": MeanFieldCD}


def _register():
    plugin = None
    if "mfcd_test" not in pgmdbn.registry.names("engines"):
        plugin = _Engines()
        pgmdbn.register_plugin(plugin, "test_distributed")
    return plugin


@pytest.fixture()
def registered():
    """The test engine in this process, for one test (other tests see the registry as it was)."""
    plugin = _register()
    yield
    if plugin is not None:
        pgmdbn.unregister_plugin(plugin)


def _data(n=37):
    gen = torch.Generator().manual_seed(5)
    return (torch.rand(n, 8, generator=gen) < 0.3).float()


def _model(seed=1):
    return pgmdbn.rbm(8, 5, seed=seed)


def _params(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _fit_mf(model, **options):
    return fit(model, _data(), "mfcd_test", epochs=3, batch_size=8, lr=0.1, momentum=0.5, seed=2, progress=False,
               **options)


def _dbn():
    model = pgmdbn.dbn([8, 4, 3], seed=3)
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.5 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return model


def _estimators(blocks=None):
    """IWAE samples, exact enumeration and RAISE, split into ``blocks`` (default: the world)."""
    from pgmdbn.estimators.ais import raise_
    from pgmdbn.estimators.directed import TopPrior, exact_directed, importance_weights

    model, x = _dbn(), _data(9)
    return {"iwae": importance_weights(model, x, 5, TopPrior(model), seed=6, blocks=blocks),
            "exact": exact_directed(model, x, progress=False).per_example,
            "raise": raise_(_model(), _data(7), n_chains=2, betas=torch.linspace(0, 1, 60, dtype=torch.float64),
                            seed=8, progress=False, blocks=blocks).per_example}


def _dbm_exact():
    """Exact log-likelihoods of a small DBM in many enumeration chunks (the chunk size shrunk so
    that both ranks take several): {log_z, per_example}."""
    from pgmdbn.estimators import enumerate as enumeration

    model = pgmdbn.dbm([8, 9, 5], init_scale=0.5, seed=4)
    saved, enumeration.ELEMENTS_PER_CHUNK = enumeration.ELEMENTS_PER_CHUNK, 64
    try:
        result = pgmdbn.log_likelihood(model, _data(6), method="exact", progress=False)
    finally:
        enumeration.ELEMENTS_PER_CHUNK = saved
    return {"log_z": result.log_z, "per_example": result.per_example}


def _worker(rank, port, folder):
    os.environ.pop("RANK", None)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    try:
        _register()
        out = {"rank": rank, "world": distributed.world_size()}
        # Different initial parameters per rank: rank 0's are broadcast.
        model = _model(seed=1 + rank)
        out["mf_history"] = _fit_mf(model).history
        out["mf"] = _params(model)
        # PCD (per-rank chains and random streams): uninterrupted vs checkpoint and resume.
        straight = _model()
        fit(straight, _data(), "pcd", epochs=4, batch_size=8, lr=0.05, seed=3, progress=False,
            checkpoint_dir=f"{folder}/straight")
        out["pcd"] = _params(straight)
        first = _model()
        fit(first, _data(), "pcd", epochs=2, batch_size=8, lr=0.05, seed=3, progress=False,
            checkpoint_dir=f"{folder}/resumed")
        resumed = _model(seed=9)
        fit(resumed, _data(), "pcd", epochs=4, batch_size=8, lr=0.05, seed=3, progress=False,
            checkpoint_dir=f"{folder}/resumed", resume=f"{folder}/resumed/epoch0002.safetensors")
        out["pcd_resumed"] = _params(resumed)
        # AIS: 11 chains in two seeded blocks, one per rank.
        out["ais"] = ais_log_z(_model(), n_chains=11, betas=torch.linspace(0, 1, 120, dtype=torch.float64),
                               seed=4, progress=False)
        out.update(_estimators())
        out["exact_dbm"] = _dbm_exact()
        # DBM training: the 9 chains split over the ranks (5 and 4), trained data-parallel
        dbm = pgmdbn.dbm([8, 6, 4], seed=2)
        result = fit(dbm, _data(), "dbm", epochs=2, batch_size=8, lr=0.05, seed=3, progress=False,
                     engine_options={"chains": 9, "mean_field_steps": 3})
        out["dbm"] = {"params": _params(dbm), "loss": [h["loss"] for h in result.history],
                      "chains": DBMTrainer(dbm, chains=9).n_chains}
        torch.save(out, f"{folder}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dist")
    mp.spawn(_worker, args=(_free_port(), str(folder)), nprocs=WORLD, join=True)
    return folder, [torch.load(folder / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]


def test_helpers_without_a_process_group():
    assert not distributed.is_active() and distributed.world_size() == 1 and distributed.rank() == 0
    assert [distributed.shard(5, 2, r) for r in range(2)] == [slice(0, 3), slice(3, 5)]
    assert distributed.block_seed(7, 0) == 7 and distributed.block_seed(7, 1) != 7
    x = torch.arange(3.0)
    assert distributed.gather_cat(x) is x and distributed.gather_objects(1) == [1]


def test_two_process_fit_matches_one_process_with_the_same_global_batch(two_ranks, registered):
    _, ranks = two_ranks
    reference = _model()
    history = _fit_mf(reference).history
    assert [r["world"] for r in ranks] == [2, 2]
    for out in ranks:
        for name, value in _params(reference).items():
            torch.testing.assert_close(out["mf"][name], value, rtol=1e-5, atol=1e-6)
        assert out["mf_history"][-1]["loss"] == pytest.approx(history[-1]["loss"], rel=1e-4, abs=1e-6)
    start = _params(_model())
    assert any(not torch.equal(start[name], ranks[0]["mf"][name]) for name in start)  # training moved them


def test_two_process_checkpoint_resumes_exactly(two_ranks):
    folder, ranks = two_ranks
    for out in ranks:
        for name, value in out["pcd"].items():
            torch.testing.assert_close(out["pcd_resumed"][name], value, rtol=0, atol=0)
    for name, value in ranks[0]["pcd"].items():  # the ranks hold one model
        assert torch.equal(ranks[1]["pcd"][name], value)
    files = sorted(p.name for p in (folder / "straight").glob("epoch*.safetensors"))
    assert files == [f"epoch000{e}.safetensors" for e in range(1, 5)]
    _, extra, meta = pgmdbn.io.load(folder / "straight" / "epoch0004.safetensors", with_extra=True)
    assert int(meta["world_size"]) == 2
    assert {"rank0/chain/v", "rank1/chain/v", "rank0/generator", "rank1/generator"} <= set(extra)
    assert not torch.equal(extra["rank0/chain/v"], extra["rank1/chain/v"])  # each rank's own chains
    with pytest.raises(ArgumentError, match="2 process"):  # one process cannot continue a 2-process run
        fit(_model(), _data(), "pcd", epochs=5, batch_size=8, lr=0.05, seed=3, progress=False,
            resume=folder / "straight")


def test_ais_split_over_two_ranks_matches_one_process_with_the_same_chain_seeds(two_ranks):
    _, ranks = two_ranks
    one = ais_log_z(_model(), n_chains=11, betas=torch.linspace(0, 1, 120, dtype=torch.float64), seed=4,
                    progress=False, blocks=2)
    for out in ranks:
        assert out["ais"]["n_chains"] == 11
        torch.testing.assert_close(out["ais"]["log_weights"], one["log_weights"], rtol=1e-12, atol=1e-12)
        assert out["ais"]["log_z"] == pytest.approx(one["log_z"], abs=1e-9)
    plain = ais_log_z(_model(), n_chains=11, betas=torch.linspace(0, 1, 120, dtype=torch.float64), seed=4,
                      progress=False)
    assert plain["n_chains"] == 11 and not torch.equal(plain["log_weights"], one["log_weights"])


def test_the_command_runs_under_torchrun(tmp_path):
    """``torchrun --nproc_per_node=2 -m pgmdbn train``: one process group, one result printed,
    one model written by rank 0."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    spec = {"layers": [{"name": "v", "unit": "bernoulli", "size": 16}, {"name": "h", "unit": "bernoulli", "size": 6}],
            "factors": [{"a": "v", "b": "h", "directed": False}], "init_scale": 0.1, "seed": 0,
            "train": {"method": "pcd", "epochs": 2, "batch_size": 20, "lr": 0.05}}
    (tmp_path / "rbm.json").write_text(json.dumps(spec))
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "-m", "pgmdbn", "train", "rbm.json", "--data", "bars", "--out", "rbm.safetensors",
                           "--json"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    summary = json.loads("\n".join(lines))  # one JSON document: rank 0 alone printed
    assert summary["model"].endswith("rbm.safetensors")
    model = pgmdbn.load(tmp_path / "rbm.safetensors")
    assert model.spec()["layers"][1]["size"] == 6


def test_iwae_samples_enumeration_and_raise_split_over_two_ranks(two_ranks):
    from pgmdbn.estimators.ais import raise_
    from pgmdbn.estimators.directed import TopPrior, exact_directed, importance_weights

    _, ranks = two_ranks
    one = _estimators(blocks=2)
    exact = exact_directed(_dbn(), _data(9), progress=False).per_example  # no blocks: deterministic
    for out in ranks:
        torch.testing.assert_close(out["iwae"], one["iwae"], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(out["raise"], one["raise"], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(out["exact"], exact, rtol=1e-10, atol=1e-10)
        assert out["iwae"].shape == (9, 5) and out["raise"].shape == (7,)
    plain = importance_weights(_dbn(), _data(9), 5, TopPrior(_dbn()), seed=6)  # one block: the plain path
    assert plain.shape == (9, 5) and not torch.equal(plain, one["iwae"])
    assert torch.equal(raise_(_model(), _data(7), n_chains=2, betas=torch.linspace(0, 1, 60, dtype=torch.float64),
                              seed=8, progress=False, blocks=1).per_example,
                       raise_(_model(), _data(7), n_chains=2, betas=torch.linspace(0, 1, 60, dtype=torch.float64),
                              seed=8, progress=False).per_example)


def test_dbm_training_splits_its_chains_over_the_ranks_and_keeps_one_model(two_ranks):
    _, ranks = two_ranks
    assert [out["dbm"]["chains"] for out in ranks] == [5, 4]  # as rows are split: 9 chains in all
    for name, p in ranks[0]["dbm"]["params"].items():
        torch.testing.assert_close(ranks[1]["dbm"]["params"][name], p, rtol=0, atol=0)  # the same step on every rank
    assert ranks[0]["dbm"]["loss"] == ranks[1]["dbm"]["loss"] and all(map(math.isfinite, ranks[0]["dbm"]["loss"]))
    with pytest.raises(pgmdbn.ArgumentError, match="chains=0"):
        DBMTrainer(pgmdbn.dbm([8, 6, 4], seed=2), chains=0)


def test_exact_enumeration_of_a_dbm_splits_its_chunks_over_two_ranks(two_ranks):
    _, ranks = two_ranks
    one = _dbm_exact()
    for out in ranks:
        assert out["exact_dbm"]["log_z"] == one["log_z"]  # the same partial sums, combined in the same order
        torch.testing.assert_close(out["exact_dbm"]["per_example"], one["per_example"], rtol=0, atol=0)
    whole = pgmdbn.log_likelihood(pgmdbn.dbm([8, 9, 5], init_scale=0.5, seed=4), _data(6), method="exact",
                                  progress=False)
    assert whole.log_z == pytest.approx(one["log_z"], abs=1e-9)  # one chunk per sum: the same numbers
    torch.testing.assert_close(whole.per_example, one["per_example"], rtol=1e-10, atol=1e-10)
