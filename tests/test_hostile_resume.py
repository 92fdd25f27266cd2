"""Killed and resumed runs, and concurrent saves and loads: a run killed with SIGKILL mid-epoch
and resumed from its checkpoint folder ends bit-identical to an uninterrupted one; resume refuses
another seed, method, structure or data; a checkpoint folder belongs to one run; interrupted saves
leave no temporary files; loads racing writers never see a torn file."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import torch

import pgmdbn
from pgmdbn import io
from pgmdbn.errors import ArgumentError, DataError, TrainingDiverged

from hostile import refused

ROOT = Path(__file__).resolve().parents[1]
X = (torch.rand(60, 6, generator=torch.Generator().manual_seed(1)) > 0.5).float()
KW = dict(method="pcd", epochs=4, batch_size=10, lr=0.05, seed=3, progress=False)

CHILD = textwrap.dedent("""
    import sys, torch, pgmdbn
    torch.set_num_threads(1)
    mode, folder, out = sys.argv[1:4]
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(3000, 16, generator=g) > 0.5).float()
    model = pgmdbn.rbm(16, 12, seed=0)
    options = dict(method="pcd", k=2, epochs=6, batch_size=5, lr=0.05, seed=7, progress=False, checkpoint_dir=folder)
    if mode == "resume":
        options["resume"] = folder
    pgmdbn.fit(model, x, **options)
    pgmdbn.save(model, out)
""")


def child(mode, folder, out):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", CHILD, mode, str(folder), str(out)], env=env, cwd=ROOT,
                            stderr=subprocess.PIPE)


def test_kill_9_mid_epoch_then_resume_is_bit_identical(tmp_path):
    full = child("run", tmp_path / "full", tmp_path / "full.safetensors")
    killed = child("run", tmp_path / "killed", tmp_path / "never.safetensors")
    deadline = time.time() + 240
    while not (tmp_path / "killed" / "epoch0002.safetensors").exists():
        assert killed.poll() is None and time.time() < deadline, killed.stderr.read().decode()
        time.sleep(0.01)
    time.sleep(0.3)  # into epoch 3 (an epoch takes seconds)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert not (tmp_path / "killed" / "epoch0004.safetensors").exists()  # killed before epoch 4 ended
    assert killed.returncode == -signal.SIGKILL
    assert not (tmp_path / "never.safetensors").exists()
    assert not (tmp_path / "killed" / "epoch0006.safetensors").exists()
    # a save that the kill interrupted would leave a temporary file of a dead process: plant one
    (tmp_path / "killed" / ".epoch0003.safetensors.999999.0badf00d.tmp").write_bytes(b"partial")
    resumed = child("resume", tmp_path / "killed", tmp_path / "resumed.safetensors")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()
    assert full.wait(timeout=300) == 0, full.stderr.read().decode()
    a, b = pgmdbn.load(tmp_path / "full.safetensors"), pgmdbn.load(tmp_path / "resumed.safetensors")
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), name
    assert not list((tmp_path / "killed").glob(".*.tmp"))


def first_run(tmp_path):
    pgmdbn.fit(pgmdbn.rbm(6, 4, seed=0), X, checkpoint_dir=tmp_path / "run", **{**KW, "epochs": 2})
    return tmp_path / "run" / "epoch0002.safetensors"


@pytest.mark.parametrize("change,error,culprit", [
    ({"seed": 4}, ArgumentError, "seed=3"), ({"method": "cd"}, ArgumentError, "method='pcd'"),
])
def test_resume_refuses_another_seed_or_method(tmp_path, change, error, culprit):
    checkpoint = first_run(tmp_path)
    with refused(error, culprit, str(checkpoint)):
        pgmdbn.fit(pgmdbn.rbm(6, 4, seed=0), X, resume=checkpoint, **{**KW, **change})


@pytest.mark.parametrize("data", [1 - X, X[:50], X[torch.randperm(60)]])
def test_resume_refuses_other_data(tmp_path, data):
    checkpoint = first_run(tmp_path)
    with refused(DataError, "other data", str(checkpoint)):
        pgmdbn.fit(pgmdbn.rbm(6, 4, seed=0), data, resume=checkpoint, **KW)


def test_resume_refuses_another_structure(tmp_path):
    checkpoint = first_run(tmp_path)
    with refused(DataError, "different model structure"):
        pgmdbn.fit(pgmdbn.rbm(6, 5, seed=0), X, resume=checkpoint, **KW)


def test_a_checkpoint_folder_belongs_to_one_run(tmp_path):
    first_run(tmp_path)
    with refused(ArgumentError, "another run", str(tmp_path / "run")):
        pgmdbn.fit(pgmdbn.rbm(6, 4, seed=0), X, checkpoint_dir=tmp_path / "run", **KW)


def test_resuming_into_another_runs_folder_is_refused(tmp_path):
    checkpoint = first_run(tmp_path)
    pgmdbn.fit(pgmdbn.rbm(6, 4, seed=0), X, checkpoint_dir=tmp_path / "other", **{**KW, "epochs": 1})
    with refused(ArgumentError, "another run"):
        pgmdbn.fit(pgmdbn.rbm(6, 4, seed=0), X, resume=checkpoint, checkpoint_dir=tmp_path / "other", **KW)


def test_resume_from_the_folder_continues_the_latest_checkpoint(tmp_path):
    first_run(tmp_path)
    model = pgmdbn.rbm(6, 4, seed=0)
    result = pgmdbn.fit(model, X, resume=tmp_path / "run", checkpoint_dir=tmp_path / "run", **KW)
    full = pgmdbn.rbm(6, 4, seed=0)
    pgmdbn.fit(full, X, **KW)
    assert all(torch.equal(a, b) for a, b in zip(full.state_dict().values(), model.state_dict().values()))
    assert [c.name for c in result.checkpoints] == ["epoch0003.safetensors", "epoch0004.safetensors"]


def test_resume_from_an_empty_folder(tmp_path):
    with refused(FileNotFoundError, "no checkpoint"):
        pgmdbn.fit(pgmdbn.rbm(6, 4, seed=0), X, resume=tmp_path, **KW)


def test_a_failed_save_leaves_no_temporary_file(tmp_path, monkeypatch):
    path = io.save(pgmdbn.rbm(4, 3, seed=0), tmp_path / "m.safetensors")
    before = path.read_bytes()

    def broken(src, dst):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(io.os, "replace", broken)
    with pytest.raises(OSError, match="No space left"):
        io.save(pgmdbn.rbm(4, 3, seed=1), path)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]
    assert path.read_bytes() == before


def test_stale_temporaries_of_dead_processes_are_removed_and_live_ones_kept(tmp_path):
    folder = tmp_path / "ck"
    folder.mkdir()
    dead = folder / ".epoch0001.safetensors.999999.0badf00d.tmp"
    live = folder / f".epoch0001.safetensors.{os.getppid()}.0badf00d.tmp"
    dead.write_bytes(b"x")
    live.write_bytes(b"x")
    pgmdbn.fit(pgmdbn.rbm(6, 4, seed=0), X, checkpoint_dir=folder, **{**KW, "epochs": 1})
    assert not dead.exists() and live.exists()


def test_a_finite_blow_up_is_divergence_and_quotes_the_lr_in_force():
    model = pgmdbn.rbm(6, 4, seed=0)
    with refused(TrainingDiverged, "grew", "Lower lr (now 1e+06)"):
        pgmdbn.fit(model, X, method="cd", epochs=20, batch_size=10, lr=1e6, progress=False)
    assert max(p.abs().max().item() for p in model.parameters()) < 1e6


def test_a_schedule_that_raises_the_lr_is_quoted_as_in_force():
    model = pgmdbn.rbm(6, 4, seed=0)
    with refused(TrainingDiverged, "Lower lr (now 1e+06)", "base lr 1", "schedule"):
        pgmdbn.fit(model, X, method="cd", epochs=20, batch_size=10, lr=1.0, progress=False,
                   lr_schedule=lambda e: 1.0 if e == 0 else 1e6)


RACES = ["model", "spec", "info"]


@pytest.mark.parametrize("kind", RACES)
@pytest.mark.parametrize("round_", range(2))
def test_loads_racing_two_writers_never_see_a_torn_file(tmp_path, kind, round_):
    models = [pgmdbn.rbm(5, 3, seed=0), pgmdbn.rbm(40, 30, seed=1)]
    path = tmp_path / ("m.safetensors" if kind != "spec" else "s.json")

    def write(model):
        if kind == "spec":
            io.write_spec(model, path)
        else:
            io.save(model, path)
    write(models[0])
    stop, errors = threading.Event(), []

    def writer(model):
        while not stop.is_set():
            try:
                write(model)
            except Exception as e:  # noqa: BLE001
                errors.append(e)

    threads = [threading.Thread(target=writer, args=(m,)) for m in models]
    for t in threads:
        t.start()
    try:
        for _ in range(150):
            if kind == "model":
                loaded = pgmdbn.load(path)
                assert any(all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(),
                                                                 m.state_dict().values())) for m in models)
            elif kind == "spec":
                assert io.read_spec(path) in [m.spec() for m in models]
            else:
                assert io.read_info(path)["spec"]["layers"][0]["size"] in (5, 40)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors
    assert not list(tmp_path.glob(".*.tmp"))
