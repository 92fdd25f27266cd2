"""The pgmdbn command under hostile input: every failure prints exactly one ``pgmdbn: error: ...``
line naming the culprit, never a traceback, and exits 2; a broken or clashing installed plugin is
reported and skipped while the command still works; ``train`` checkpoints and resumes."""
import json
import os

import pytest

import pgmdbn
from pgmdbn import builtins, cli, hooks, io
from pgmdbn.hooks import hookimpl
from pgmdbn.units.bernoulli import Bernoulli


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_error(code, err, *culprits):
    lines = [line for line in err.splitlines() if line.startswith("pgmdbn: error:")]
    assert code == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err, err
    for culprit in culprits:
        assert str(culprit) in lines[0], (culprit, lines[0])


def spec_file(tmp_path, train=None, change=None, name="spec.json"):
    spec = pgmdbn.rbm(16, 6).spec()
    spec["seed"] = 1
    if train is not None:
        spec["train"] = train
    if change is not None:
        change(spec)
    path = tmp_path / name
    path.write_text(json.dumps(spec))
    return path


BAD_TRAIN = [("lr", "abc"), ("lr", -1), ("epochs", -1), ("epochs", 2.5), ("batch_size", 0), ("batch_size", None),
             ("k", 0), ("k", [3, 0]), ("seed", "x"), ("seed", 2 ** 70), ("momentum", 2), ("weight_decay", -1),
             ("lr_schedule", "bogus"), ("init_from_data", "yes"), ("monitor_size", -3), ("engine_options", [1]),
             ("method", "bogus"), ("method", "gibbs"), ("propagate", "both"), ("pretrain_epochs", -2),
             ("bogus_option", 1)]


@pytest.mark.parametrize("name,value", BAD_TRAIN, ids=[f"{n}={v!r}" for n, v in BAD_TRAIN])
def test_bad_training_options_in_a_spec(capsys, tmp_path, name, value):
    spec = spec_file(tmp_path, {name: value})
    code, _, err = run(capsys, "train", spec, "--data", "bars", "--out", tmp_path / "m.safetensors")
    assert_one_error(code, err, name if name not in ("method",) else value)
    assert not (tmp_path / "m.safetensors").exists()


HOSTILE_SPECS = [
    ("layer named keys", lambda s: (s["layers"][1].update(name="keys"), s["factors"][0].update(b="keys")), "keys"),
    ("layer named training", lambda s: (s["layers"][1].update(name="training"),
                                        s["factors"][0].update(b="training")), "training"),
    ("10^9 units", lambda s: s["layers"][1].update(size=10 ** 9), "max_layer_units"),
    ("10^12 parameters", lambda s: (s["layers"][0].update(size=10 ** 6), s["layers"][1].update(size=10 ** 6)),
     "max_parameters"),
    ("unknown unit", lambda s: s["layers"][1].update(unit="ising"), "ising"),
    ("bad config", lambda s: s["layers"][1].update(config={"nope": 1}), "does not build"),
]


@pytest.mark.parametrize("change,culprit", [h[1:] for h in HOSTILE_SPECS], ids=[h[0] for h in HOSTILE_SPECS])
def test_hostile_spec_files(capsys, tmp_path, change, culprit):
    spec = spec_file(tmp_path, change=change)
    code, _, err = run(capsys, "train", spec, "--data", "bars", "--out", tmp_path / "m.safetensors")
    assert_one_error(code, err, culprit)


@pytest.mark.parametrize("text,culprit", [("[" * 100_000 + "]" * 100_000, "levels deep"), ("{", "invalid JSON"),
                                          ("", "invalid JSON"), ("null", "JSON object")])
def test_malformed_spec_text(capsys, tmp_path, text, culprit):
    spec = tmp_path / "spec.json"
    spec.write_text(text)
    code, _, err = run(capsys, "train", spec, "--data", "bars")
    assert_one_error(code, err, culprit)


@pytest.mark.parametrize("command", ["loglik", "sample", "graph"])
@pytest.mark.parametrize("content", [b"", b"garbage" * 10, b"\xff" * 8 + b"{}", "fifo", "folder"])
def test_hostile_model_files_for_every_command(capsys, tmp_path, command, content):
    path = tmp_path / "m.safetensors"
    if content == "fifo":
        os.mkfifo(path)
    elif content == "folder":
        path.mkdir()
    else:
        path.write_bytes(content)
    extra = ["--data", "bars"] if command == "loglik" else ["--out", tmp_path / "x.png"]
    code, _, err = run(capsys, command, path, *extra)
    assert_one_error(code, err, "m.safetensors")


@pytest.fixture
def model_file(tmp_path):
    return io.save(pgmdbn.rbm(16, 6, seed=0), tmp_path / "rbm.safetensors")


@pytest.mark.parametrize("argv,culprit", [
    (["loglik", "{model}", "--data", "bars", "--method", "ais", "--temperatures", 10 ** 9], "max_ais_bytes"),
    (["loglik", "{model}", "--data", "bars", "--method", "ais", "--chains", 10 ** 10], "max_ais_bytes"),
    (["loglik", "{model}", "--data", "bars", "--device", "bogus"], "bogus"),
    (["loglik", "{model}", "--data", "bars", "--device", "mps"], "mps"),
    (["sample", "{model}", "--clamp", "v=7", "--out", "{tmp}/s.png"], "--clamp"),
    (["sample", "{model}", "--clamp", "nope=1", "--out", "{tmp}/s.png"], "nope"),
    (["loglik", "{model}", "--data", "{tmp}/missing.npz"], "missing.npz"),
])
def test_hostile_command_lines(capsys, tmp_path, model_file, argv, culprit):
    argv = [str(a).format(model=model_file, tmp=tmp_path) for a in argv]
    code, _, err = run(capsys, *argv)
    assert_one_error(code, err, culprit)


class Clash:
    @hookimpl
    def pgmdbn_register_units(self):
        return {"bernoulli": type("Impostor", (Bernoulli,), {})}


class Boom:
    @hookimpl
    def pgmdbn_register_estimators(self):
        raise RuntimeError("estimator table broken")


class Point:
    def __init__(self, name, load):
        self.name, self.load, self.dist = name, load, None


def broken_import():
    raise ImportError("No module named 'missing_dependency'")


@pytest.fixture(params=["import fails", "clashes with a built-in", "hook raises"])
def broken_installed_plugin(request, monkeypatch):
    load = {"import fails": broken_import, "clashes with a built-in": Clash, "hook raises": Boom}[request.param]
    registry = hooks.Registry()
    registry.add_builtins(builtins)
    monkeypatch.setattr(hooks.metadata, "entry_points", lambda group: [Point("broken_thing", load)])
    for module in (hooks, pgmdbn, pgmdbn.api, pgmdbn.protocols, pgmdbn.graph, pgmdbn.io,
                   pgmdbn.training.trainers):
        if hasattr(module, "registry"):
            monkeypatch.setattr(module, "registry", registry)
    return registry


@pytest.mark.parametrize("argv", [["--help"], ["plugins"], ["plugins", "--json"], ["loglik", "--help"]])
def test_a_broken_installed_plugin_is_reported_and_the_command_works(capsys, broken_installed_plugin, argv):
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    assert "Traceback" not in err
    if argv[0] == "plugins":
        assert "bernoulli" in out
        assert "broken_thing" in err and "pgmdbn: warning:" in err


def test_train_checkpoints_and_resumes(capsys, tmp_path):
    spec = spec_file(tmp_path, {"method": "pcd", "epochs": 3, "batch_size": 50, "lr": 0.05})
    full, part = tmp_path / "full.safetensors", tmp_path / "part.safetensors"
    assert run(capsys, "train", spec, "--data", "bars", "--out", full, "--checkpoint-dir", tmp_path / "a")[0] == 0
    assert sorted(p.name for p in (tmp_path / "a").glob("epoch*")) == [f"epoch000{i}.safetensors" for i in (1, 2, 3)]
    assert run(capsys, "train", spec, "--data", "bars", "--out", part, "--checkpoint-dir", tmp_path / "b",
               "--epochs", 1)[0] == 0
    code, _, err = run(capsys, "train", spec, "--data", "bars", "--out", part, "--resume", tmp_path / "b")
    assert code == 0, err
    a, b = io.load(full), io.load(part)
    assert all((x == y).all() for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_train_into_another_runs_checkpoint_folder(capsys, tmp_path):
    spec = spec_file(tmp_path, {"epochs": 1, "batch_size": 50})
    assert run(capsys, "train", spec, "--data", "bars", "--out", tmp_path / "m.safetensors",
               "--checkpoint-dir", tmp_path / "ck")[0] == 0
    code, _, err = run(capsys, "train", spec, "--data", "bars", "--out", tmp_path / "m.safetensors",
                       "--checkpoint-dir", tmp_path / "ck")
    assert_one_error(code, err, "another run", "ck")


@pytest.mark.parametrize("option,value", [("--checkpoint-every", 0), ("--resume", "nowhere.safetensors")])
def test_bad_checkpoint_options(capsys, tmp_path, option, value):
    spec = spec_file(tmp_path, {"epochs": 1})
    code, _, err = run(capsys, "train", spec, "--data", "bars", option, value)
    assert code == 2 and "Traceback" not in err
    assert str(value) in err or "positive" in err


def test_resume_refusals_speak_in_flags(capsys, tmp_path):
    spec = spec_file(tmp_path, {"method": "pcd", "epochs": 2, "batch_size": 50})
    model = tmp_path / "m.safetensors"
    assert run(capsys, "train", spec, "--data", "bars", "--out", model, "--checkpoint-dir", tmp_path / "ck",
               "--epochs", 1)[0] == 0
    code, _, err = run(capsys, "train", spec, "--data", "bars", "--out", model, "--resume", tmp_path / "ck",
                       "--seed", 5)
    assert_one_error(code, err, "--seed 0, not 5", "without --resume")
    code, _, err = run(capsys, "train", spec, "--data", "bars", "--out", tmp_path / "n.safetensors", "--resume", model)
    assert_one_error(code, err, f"--resume {model}", "--checkpoint-dir")
    for line in (err,):
        assert "resume=" not in line and "seed=" not in line and "checkpoint_dir" not in line


@pytest.mark.parametrize("value", ["0", "-2", "many", "2.5"])
def test_bad_threads_value(capsys, value):
    code, out, err = run(capsys, "demo", "--threads", value)
    assert_one_error(code, err, "--threads", repr(value))
    assert out == "" and err.count("\n") == 1


def test_exact_refusal_names_the_flags(capsys, tmp_path):
    model = io.save(pgmdbn.rbm(16, 12, seed=0), tmp_path / "wide.safetensors")
    code, _, err = run(capsys, "loglik", model, "--data", "bars", "--max-states", 2 ** 10)
    assert_one_error(code, err, "2^12", "--max-states", "--method ais")
    assert "max_states" not in err and "method=" not in err
    code, _, err = run(capsys, "loglik", model, "--data", "bars", "--max-states", "2^12", "--limit", 5)
    assert code == 0, err
