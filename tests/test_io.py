"""Model files (safetensors), their strict validation, and JSON spec files."""
from __future__ import annotations

import json
import math
import pickle
import struct

import pytest
import torch

import pgmdbn
from pgmdbn import io
from pgmdbn.errors import ModelFileError, PluginError
from pgmdbn.graph import Model
from pgmdbn.units import Gaussian, ReplicatedSoftmax, Units


# --- helpers ------------------------------------------------------------------------------

def _perturb(model: Model, seed: int = 0) -> Model:
    """Give every parameter distinct random values, so a round trip is a real check."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return model


def _assert_same_model(a: Model, b: Model) -> None:
    assert a.spec() == b.spec()
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for name in sa:
        assert sa[name].dtype == sb[name].dtype, name
        assert torch.equal(sa[name], sb[name]), name
    grads = {n: p.requires_grad for n, p in a.named_parameters()}
    assert grads == {n: p.requires_grad for n, p in b.named_parameters()}


def _split(path):
    """(header dict, byte buffer) of a safetensors file, parsed here independently of io."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def _join(path, header, buffer):
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + buffer)


def _rewrite_header(path, edit):
    header, buffer = _split(path)
    edit(header)
    _join(path, header, buffer)


@pytest.fixture
def saved(tmp_path):
    model = _perturb(pgmdbn.rbm(6, 4, visible=Gaussian(6, learn_sigma=True)))
    return model, io.save(model, tmp_path / "model.safetensors")


# --- round trips --------------------------------------------------------------------------

def _onehot(n, k, gen):
    return torch.nn.functional.one_hot(torch.randint(k, (n,), generator=gen), k).float()


RBMS = {  # (the model from a seed, the data from a generator)
    "bernoulli": (lambda s: pgmdbn.rbm(6, 4, seed=s), lambda g: torch.randint(2, (8, 6), generator=g).float()),
    "gaussian_learn_sigma": (lambda s: pgmdbn.rbm(5, 3, visible=Gaussian(5, learn_sigma=True), seed=s),
                             lambda g: torch.randn(8, 5, generator=g)),
    "gaussian": (lambda s: pgmdbn.rbm(5, 3, visible="gaussian", seed=s), lambda g: torch.randn(8, 5, generator=g)),
    "softmax": (lambda s: pgmdbn.rbm(4, 3, visible="softmax", seed=s), lambda g: _onehot(8, 4, g)),
    "replicated_softmax": (lambda s: pgmdbn.rbm(6, 3, visible=ReplicatedSoftmax(6, length=10), seed=s),
                           lambda g: torch.stack([torch.bincount(torch.randint(6, (10,), generator=g), minlength=6)
                                                  for _ in range(8)]).float()),
}


@pytest.mark.parametrize("kind", sorted(RBMS))
def test_rbm_round_trip(tmp_path, kind):
    make, data = RBMS[kind]
    model, x = _perturb(make(1)), data(torch.Generator().manual_seed(1))
    path = io.save(model, tmp_path / f"{kind}.safetensors")
    assert path == tmp_path / f"{kind}.safetensors" and path.is_file()
    loaded = io.load(path)
    _assert_same_model(model, loaded)
    with torch.no_grad():
        assert torch.equal(model.free_energy({"v": x}), loaded.free_energy({"v": x}))
    assert loaded.layer("v").config() == model.layer("v").config()


def test_unit_config_survives(tmp_path):
    model = pgmdbn.rbm(6, 3, visible=ReplicatedSoftmax(6, length=17))
    model.add_layer("g", Gaussian(2, learn_sigma=True)).add_undirected("g", "h")
    loaded = io.load(io.save(model, tmp_path / "m.safetensors"))
    assert loaded.layer("v").length == 17
    assert loaded.layer("g").learn_sigma is True and loaded.layer("g").log_sigma.requires_grad
    assert pgmdbn.rbm(3, 2, visible="gaussian").layer("v").log_sigma.requires_grad is False


@pytest.mark.parametrize("build", [
    lambda: pgmdbn.dbn([6, 5, 4], labels=3),
    lambda: pgmdbn.dbn([6, 5, 4, 3]),
    lambda: pgmdbn.dbm([6, 5, 4]),
    lambda: pgmdbn.sbn([6, 5, 4]),
], ids=["dbn_labels", "dbn", "dbm", "sbn"])
def test_deep_round_trip(tmp_path, build):
    model = _perturb(build())
    loaded = io.load(io.save(model, tmp_path / "deep.safetensors"))
    _assert_same_model(model, loaded)
    assert loaded.structure == model.structure


def test_float64_model_keeps_its_dtype(tmp_path):
    model = pgmdbn.rbm(4, 3)
    for p in model.parameters():  # not model.double(): keeps this test about io only
        p.data = p.data.double()
    model = _perturb(model)
    loaded = io.load(io.save(model, tmp_path / "m.safetensors"))
    assert loaded.factor("v", "h").weight.dtype == torch.float64
    _assert_same_model(model, loaded)


def test_load_on_device(saved):
    model, path = saved
    loaded = io.load(path, device="cpu")
    assert all(p.device.type == "cpu" for p in loaded.parameters())
    assert isinstance(loaded.factor("v", "h").weight, torch.nn.Parameter)


def test_extra_and_metadata_round_trip(tmp_path):
    gen = torch.Generator().manual_seed(123)
    extra = {
        "rng": gen.get_state(),
        "chains/v": torch.rand(5, 6),
        "step": torch.tensor(42),
        "empty": torch.zeros(0, 3),
        "mask": torch.tensor([True, False, True]),
        "half": torch.randn(3).half(),
        "bf16": torch.randn(3).bfloat16(),
        "f64": torch.randn(2, 2, dtype=torch.float64),
        "i8": torch.tensor([-1, 2], dtype=torch.int8),
        "i16": torch.tensor([-300, 2], dtype=torch.int16),
        "i32": torch.tensor([-70000], dtype=torch.int32),
        "strided": torch.arange(12.0).reshape(3, 4).T,  # non-contiguous on purpose
    }
    metadata = {"epoch": 3, "lr": 0.1, "history": [1.5, 2.5], "nested": {"engine": "pcd"}, "note": "é"}
    expected_draw = torch.rand(4, generator=gen)
    model = pgmdbn.rbm(6, 4)
    path = io.save(model, tmp_path / "ckpt.safetensors", metadata=metadata, extra=extra)
    loaded, got_extra, got_meta = io.load(path, with_extra=True)
    assert got_meta == metadata
    assert set(got_extra) == set(extra)
    for key, t in extra.items():
        assert got_extra[key].dtype == t.dtype and torch.equal(got_extra[key], t), key
    assert got_extra["rng"].dtype == torch.uint8
    restored = torch.Generator()
    restored.set_state(got_extra["rng"])
    assert torch.equal(torch.rand(4, generator=restored), expected_draw)
    _assert_same_model(model, loaded)


def test_no_metadata_gives_empty_dict(saved):
    _, path = saved
    _, extra, metadata = io.load(path, with_extra=True)
    assert extra == {} and metadata == {}


def test_read_info_needs_no_tensors(saved):
    model, path = saved
    info = io.read_info(path)
    assert info["format_version"] == io.FORMAT_VERSION
    assert [layer["plugin"] for layer in info["spec"]["layers"]] == ["pgmdbn", "pgmdbn"]
    assert info["tensors"]["factors.v--h.weight"] == {"dtype": "F32", "shape": [6, 4]}


def test_file_layout_is_standard(saved):
    _, path = saved
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert (8 + n) % 8 == 0  # padded so tensors are aligned
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__")
    assert meta["format"] == "pgmdbn" and meta["format_version"] == "1"
    assert json.loads(meta["metadata"]) == {}
    spans = sorted(tuple(e["data_offsets"]) for e in header.values())
    assert spans[0][0] == 0 and spans[-1][1] == len(raw) - 8 - n
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))


# --- interoperability with the safetensors package ----------------------------------------

def test_safetensors_package_reads_our_file(tmp_path):
    st = pytest.importorskip("safetensors.torch")
    from safetensors import safe_open

    model = _perturb(pgmdbn.dbn([6, 5, 4], labels=3))
    extra = {"rng": torch.Generator().get_state(), "mask": torch.tensor([True, False]),
             "bf16": torch.randn(3).bfloat16(), "step": torch.tensor(7)}
    path = io.save(model, tmp_path / "m.safetensors", metadata={"a": 1}, extra=extra)
    theirs = st.load_file(path)
    ours = dict(model.state_dict(), **{f"extra/{k}": v for k, v in extra.items()})
    assert set(theirs) == set(ours)
    for name, t in ours.items():
        assert theirs[name].dtype == t.dtype and torch.equal(theirs[name], t), name
    with safe_open(path, framework="pt") as f:
        assert f.metadata()["format"] == "pgmdbn"


def test_we_read_a_file_written_by_safetensors(tmp_path):
    st = pytest.importorskip("safetensors.torch")
    from safetensors import safe_open

    model = _perturb(pgmdbn.rbm(6, 4, visible=Gaussian(6, learn_sigma=True)))
    ours = io.save(model, tmp_path / "ours.safetensors", metadata={"epoch": 2},
                   extra={"rng": torch.Generator().get_state()})
    with safe_open(ours, framework="pt") as f:
        meta = f.metadata()
    theirs = tmp_path / "theirs.safetensors"
    st.save_file(st.load_file(ours), theirs, metadata=meta)
    loaded, extra, metadata = io.load(theirs, with_extra=True)
    _assert_same_model(model, loaded)
    assert metadata == {"epoch": 2} and extra["rng"].dtype == torch.uint8


def test_codec_reads_every_dtype_from_safetensors(tmp_path):
    st = pytest.importorskip("safetensors.torch")
    tensors = {code: (torch.arange(6).reshape(2, 3) % 2).to(dtype) for code, dtype in io.DTYPES.items()}
    tensors["scalar"] = torch.tensor(3.5)
    path = tmp_path / "all.safetensors"
    st.save_file(tensors, path, metadata={"k": "v"})
    got, metadata = io.read_tensors(path)
    assert metadata == {"k": "v"}
    for name, t in tensors.items():
        assert got[name].dtype == t.dtype and torch.equal(got[name], t), name


# --- safety ----------------------------------------------------------------------------------

def test_loading_never_unpickles(saved, monkeypatch):
    model, path = saved

    def forbidden(*args, **kwargs):
        raise AssertionError("loading a model must not unpickle anything")

    for target, name in ((pickle, "loads"), (pickle, "load"), (torch, "load")):
        monkeypatch.setattr(target, name, forbidden)
    _assert_same_model(model, io.load(path))
    io.load(path, with_extra=True)


def test_interrupted_save_keeps_the_old_file(saved, monkeypatch):
    model, path = saved
    before = path.read_bytes()

    def crash(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(io.os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        io.save(pgmdbn.rbm(6, 4), path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        io.load(missing)
    with pytest.raises(FileNotFoundError, match="nope.json"):
        io.read_spec(tmp_path / "nope.json")


# --- malformed files ---------------------------------------------------------------------

def test_truncated_files(saved):
    _, path = saved
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    cuts = [0, 3, 7, 8, 20, 8 + n - 1, 8 + n, 8 + n + 5, len(raw) - 4, len(raw) - 1]
    for cut in cuts:
        path.write_bytes(raw[:cut])
        with pytest.raises(ModelFileError, match="truncated") as err:
            io.load(path)
        assert str(path) in str(err.value), cut


def test_trailing_garbage(saved):
    _, path = saved
    path.write_bytes(path.read_bytes() + b"\0" * 4)
    with pytest.raises(ModelFileError, match="after the last tensor"):
        io.load(path)


@pytest.mark.parametrize("header, problem", [
    (b"{not json" + b" " * 7, "not valid JSON"),
    (b"[1, 2, 3]", "not an object"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "a": 1}', "twice"),
    (b'{"__metadata__": {"format": 1}}', "__metadata__"),
])
def test_corrupted_header(tmp_path, header, problem):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 4)
    with pytest.raises(ModelFileError, match=problem):
        io.load(path)


def test_corrupted_header_bytes_in_saved_file(saved):
    _, path = saved
    raw = bytearray(path.read_bytes())
    raw[8] = ord("x")  # the opening brace of the JSON header
    path.write_bytes(bytes(raw))
    with pytest.raises(ModelFileError, match="not valid JSON"):
        io.load(path)


def _set_meta(key, value):
    def edit(header):
        if value is None:
            del header["__metadata__"][key]
        else:
            header["__metadata__"][key] = value
    return edit


def _set_entry(name, field, value):
    def edit(header):
        header[name][field] = value
    return edit


W = "factors.v--h.weight"


@pytest.mark.parametrize("edit, problem", [
    (_set_meta("format_version", "99"), r"version '99' is not supported.*version\(s\) 1"),
    (_set_meta("format", None), "not a pgmdbn model"),
    (_set_meta("format", "other"), "not a pgmdbn model"),
    (lambda h: h.pop("__metadata__"), "not a pgmdbn model"),
    (_set_meta("spec", "{oops"), "stored spec is not valid JSON"),
    (_set_meta("spec", None), "no 'spec' entry"),
    (_set_meta("spec", json.dumps({"layers": [{"name": "v", "unit": "bernoulli", "size": 0}],
                                   "factors": []})), r"layers\[0\]\.size must be a positive integer"),
    (_set_meta("metadata", "[1]"), "not an object"),
    (_set_entry(W, "dtype", "C64"), "dtype 'C64'"),
    (_set_entry(W, "shape", [6, -4]), "non-negative integers"),
    (_set_entry(W, "shape", "6x4"), "non-negative integers"),
    (_set_entry(W, "shape", [6, 5]), "needs 120 bytes but its offsets span 96"),
    (_set_entry(W, "data_offsets", [0, 10 ** 9]), "truncated"),
    (_set_entry(W, "data_offsets", [-4, 92]), "data_offsets"),
    (_set_entry(W, "data_offsets", [8]), "data_offsets"),
    (_set_entry(W, "extra_field", 1), "exactly dtype, shape and data_offsets"),
    (lambda h: h.update({"layers.v.bias": h[W]}), "overlaps"),
])
def test_tampered_header(saved, edit, problem):
    _, path = saved
    _rewrite_header(path, edit)
    with pytest.raises(ModelFileError, match=problem):
        io.load(path)


def test_tampered_shape_with_consistent_bytes(saved):
    model, path = saved
    tensors, metadata = io.read_tensors(path)
    tensors[W] = tensors[W].T.contiguous()  # same bytes count, wrong shape for the spec
    io.write_tensors(tensors, path, metadata)
    with pytest.raises(ModelFileError, match=r"factors\.v--h\.weight has shape \(4, 6\).*implies \(6, 4\)"):
        io.load(path)


def test_missing_and_unexpected_tensors(saved):
    _, path = saved
    tensors, metadata = io.read_tensors(path)
    io.write_tensors({k: v for k, v in tensors.items() if k != "layers.v.log_sigma"}, path, metadata)
    with pytest.raises(ModelFileError, match="layers.v.log_sigma are missing"):
        io.load(path)
    io.write_tensors(dict(tensors, **{"layers.z.bias": torch.zeros(3)}), path, metadata)
    with pytest.raises(ModelFileError, match="layers.z.bias that the stored spec does not define"):
        io.load(path)


def test_integer_parameter_rejected(saved):
    _, path = saved
    tensors, metadata = io.read_tensors(path)
    tensors["layers.h.bias"] = tensors["layers.h.bias"].long()
    io.write_tensors(tensors, path, metadata)
    with pytest.raises(ModelFileError, match="floating point"):
        io.load(path)


def test_plain_safetensors_file_is_not_a_model(tmp_path):
    path = io.write_tensors({"x": torch.zeros(2)}, tmp_path / "plain.safetensors")
    with pytest.raises(ModelFileError, match="not a pgmdbn model"):
        io.load(path)
    assert torch.equal(io.read_tensors(path)[0]["x"], torch.zeros(2))


# --- saving errors ---------------------------------------------------------------------------

def test_save_rejects_bad_inputs(tmp_path):
    model = pgmdbn.rbm(3, 2)
    with pytest.raises(ModelFileError, match="not JSON-serialisable"):
        io.save(model, tmp_path / "m.safetensors", metadata={"t": torch.zeros(1)})
    with pytest.raises(ModelFileError, match="not a torch.Tensor"):
        io.save(model, tmp_path / "m.safetensors", extra={"x": [1, 2]})
    with pytest.raises(ModelFileError, match="dtype torch.complex64"):
        io.save(model, tmp_path / "m.safetensors", extra={"z": torch.zeros(2, dtype=torch.complex64)})
    with pytest.raises(ModelFileError, match="non-empty string"):
        io.save(model, tmp_path / "m.safetensors", extra={"": torch.zeros(1)})
    assert list(tmp_path.iterdir()) == []


# --- unit types from plugins ----------------------------------------------------------------

class Spin(Units):
    """±1 units: p(x_i = 1 | eta) = sigmoid(2 beta eta_i)."""

    name = "spin"

    def log_partition(self, eta, beta=1.0, like=None):
        return (math.log(2) + torch.log(torch.cosh(beta * eta))).sum(-1)

    def mean(self, eta, beta=1.0, like=None):
        return torch.tanh(beta * eta)

    def sample(self, eta, beta=1.0, generator=None, like=None):
        p = torch.sigmoid(2 * beta * eta)
        return torch.where(torch.rand(p.shape, generator=generator) < p, 1.0, -1.0).to(eta.dtype)

    def mode(self, eta, like=None):
        return torch.where(eta >= 0, 1.0, -1.0).to(eta.dtype)


class SpinPlugin:
    @pgmdbn.hookimpl
    def pgmdbn_register_units(self):
        return {"spin": Spin}


def test_unit_type_from_missing_plugin(tmp_path):
    plugin = SpinPlugin()
    pgmdbn.register_plugin(plugin, name="spin_units")
    try:
        model = _perturb(Model().add_layer("v", "spin", 4).add_layer("h", "bernoulli", 3).add_undirected("v", "h"))
        path = io.save(model, tmp_path / "spin.safetensors")
        assert io.read_info(path)["spec"]["layers"][0]["plugin"] == "spin_units"
        _assert_same_model(model, io.load(path))  # loads while the plugin is registered
    finally:
        pgmdbn.unregister_plugin(plugin)
    with pytest.raises(PluginError) as err:
        io.load(path)
    message = str(err.value)
    for part in ("'v'", "'spin'", "'spin_units'", "register_plugin"):
        assert part in message
    assert io.read_info(path)["spec"]["layers"][0]["unit"] == "spin"  # still inspectable


# --- JSON spec files -------------------------------------------------------------------------

SPEC = {
    "layers": [{"name": "v", "unit": "gaussian", "size": 5, "config": {"learn_sigma": True}},
               {"name": "h", "unit": "bernoulli", "size": 3}],
    "factors": [{"a": "v", "b": "h", "directed": False}],
    "train": {"method": "cd", "epochs": 2},
    "init_scale": 0.1,
    "seed": 7,
}


def test_spec_file_round_trip(tmp_path):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(SPEC))
    assert io.read_spec(path) == SPEC
    model = io.model_from_spec_file(path)
    assert model.layer("v").learn_sigma and model.layer("h").size == 3
    again = io.model_from_spec_file(path)
    assert torch.equal(model.factor("v", "h").weight, again.factor("v", "h").weight)  # seeded
    assert 0.01 < model.factor("v", "h").weight.std() < 1.0  # init_scale 0.1 was applied
    out = io.write_spec(model, tmp_path / "out.json")
    assert io.read_spec(out) == model.spec()
    assert io.write_spec(SPEC, tmp_path / "copy.json") == tmp_path / "copy.json"
    assert io.read_spec(tmp_path / "copy.json") == SPEC


def test_spec_file_defaults(tmp_path):
    spec = {"layers": SPEC["layers"][1:] + [{"name": "h2", "unit": "bernoulli", "size": 2}],
            "factors": [{"a": "h2", "b": "h", "directed": True}]}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    model = io.model_from_spec_file(path)
    assert model.structure == "sbn"
    assert model.factor("h2", "h").weight.abs().max() < 0.1  # default init_scale 0.01


def _with(path_keys, value):
    spec = json.loads(json.dumps(SPEC))
    node = spec
    for key in path_keys[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path_keys[-1]]
    else:
        node[path_keys[-1]] = value
    return spec


@pytest.mark.parametrize("spec, problem", [
    (_with(["layers", 1, "size"], 0), r"layers\[1\]\.size must be a positive integer, got 0"),
    (_with(["layers", 1, "size"], 2.5), r"layers\[1\]\.size must be a positive integer"),
    (_with(["layers", 1, "size"], True), r"layers\[1\]\.size must be a positive integer"),
    (_with(["layers", 0, "size"], KeyError), r"layers\[0\]\.size must be a positive integer, got None"),
    (_with(["layers", 0, "unit"], 3), r"layers\[0\]\.unit must be the name of a unit type"),
    (_with(["layers", 1, "name"], "v"), r"layers\[1\]\.name 'v' is already the name of layers\[0\]"),
    (_with(["layers", 1, "name"], "1h"), r"layers\[1\]\.name must be a string"),
    (_with(["layers", 0, "config"], [1]), r"layers\[0\]\.config must be an object"),
    (_with(["layers", 1], "h"), r"layers\[1\] must be an object"),
    (_with(["layers"], []), "layers must be a non-empty list"),
    (_with(["layers"], KeyError), "layers must be a non-empty list"),
    (_with(["factors"], KeyError), "factors must be a list"),
    (_with(["factors", 0, "b"], "h9"), r"factors\[0\]\.b must name a declared layer \(v, h\), got 'h9'"),
    (_with(["factors", 0, "directed"], "no"), r"factors\[0\]\.directed must be true or false"),
    (_with(["factors", 0], None), r"factors\[0\] must be an object"),
    (_with(["train"], 3), "train must be an object"),
    (_with(["init_scale"], -1), "init_scale must be a non-negative number"),
    (_with(["seed"], "x"), "seed must be a non-negative integer"),
    ([1, 2], "the spec must be a JSON object"),
])
def test_read_spec_errors(tmp_path, spec, problem):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    with pytest.raises(ModelFileError, match=problem) as err:
        io.read_spec(path)
    assert str(path) in str(err.value)
    with pytest.raises(ModelFileError, match=problem):
        io.write_spec(spec, tmp_path / "never.json")
    assert not (tmp_path / "never.json").exists()


def test_read_spec_invalid_json(tmp_path):
    path = tmp_path / "spec.json"
    path.write_text('{"layers": [\n  {"name": "v",}\n]}')
    with pytest.raises(ModelFileError, match="invalid JSON at line 2, column"):
        io.read_spec(path)


def test_spec_file_that_does_not_build(tmp_path):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(_with(["layers", 0, "config"], {"wobble": 1})))
    with pytest.raises(ModelFileError, match="does not build a model"):
        io.model_from_spec_file(path)
    path.write_text(json.dumps(_with(["layers", 0, "unit"], "nonexistent")))
    with pytest.raises(PluginError, match="nonexistent"):
        io.model_from_spec_file(path)
