"""Hostile model files and spec files: every malformed file ends in ModelFileError (or
PluginError / ResourceLimitError) naming the file and the culprit; nothing is unpickled, run,
or allocated beyond the file's own bytes; paths that are not regular files are refused."""
import json
import math
import os
import struct

import pytest
import torch

import pgmdbn
from pgmdbn import io
from pgmdbn.errors import ModelFileError, PluginError, ResourceLimitError

from hostile import refused


def saved(tmp_path, model=None, name="m.safetensors"):
    return io.save(model or pgmdbn.rbm(4, 3, seed=0), tmp_path / name)


def header_of(path):
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def write_raw(path, header, data=b""):
    text = json.dumps(header).encode() if not isinstance(header, bytes) else header
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


def edit_spec(tmp_path, change, name="e.safetensors"):
    """A valid model file whose stored spec ``change(spec)`` edits (the tensors untouched)."""
    header, data = header_of(saved(tmp_path))
    spec = json.loads(header["__metadata__"]["spec"])
    change(spec)
    header["__metadata__"]["spec"] = spec if isinstance(spec, str) else json.dumps(spec)
    return write_raw(tmp_path / name, header, data)


def edit_entry(tmp_path, name, field, value):
    header, data = header_of(saved(tmp_path))
    header[name][field] = value
    return write_raw(tmp_path / "e.safetensors", header, data)


@pytest.mark.parametrize("cut", [0, 1, 7, 8, 9, 20, 60, 200, -60, -20, -4, -1])
def test_a_truncated_file(tmp_path, cut):
    raw = saved(tmp_path).read_bytes()
    path = tmp_path / "cut.safetensors"
    path.write_bytes(raw[:cut] if cut >= 0 else raw[:len(raw) + cut])
    with refused(ModelFileError, str(path)):
        pgmdbn.load(path)


@pytest.mark.parametrize("length", [2 ** 63, 2 ** 64 - 1, 2 ** 40, 10 ** 9, 1 << 27])
def test_a_huge_header_length(tmp_path, length):
    path = tmp_path / "h.safetensors"
    path.write_bytes(struct.pack("<Q", length) + b"{}" * 8)
    with refused(ModelFileError, str(path), "header length"):
        pgmdbn.load(path)


@pytest.mark.parametrize("depth", [65, 1000, 100_000])
@pytest.mark.parametrize("bracket", ["[", "{\"a\":"])
def test_deeply_nested_header_json(tmp_path, depth, bracket):
    close = "]" if bracket == "[" else "}"
    text = ("{\"x\":" + bracket * depth + "1" + close * depth + "}").encode()
    path = write_raw(tmp_path / "deep.safetensors", text)
    with refused(ModelFileError, str(path), "levels deep"):
        pgmdbn.load(path)


@pytest.mark.parametrize("depth", [100, 50_000])
def test_deeply_nested_spec_inside_a_valid_file(tmp_path, depth):
    path = edit_spec(tmp_path, lambda s: s["layers"][0].update(config=None), name="x.safetensors")
    header, data = header_of(path)
    header["__metadata__"]["spec"] = "[" * depth + "]" * depth
    path = write_raw(tmp_path / "deep.safetensors", header, data)
    with refused(ModelFileError, str(path), "levels deep"):
        pgmdbn.load(path)


ENTRY_FIELDS = [("dtype", ["F32"]), ("dtype", {"a": 1}), ("dtype", 32), ("dtype", None), ("dtype", "F8_E4M3"),
                ("dtype", "C64"), ("shape", "4"), ("shape", [-1]), ("shape", [4.0]), ("shape", [[4]]),
                ("shape", [True]), ("shape", None), ("shape", [2, 2, 2]), ("data_offsets", [0]),
                ("data_offsets", [8, 0]), ("data_offsets", "0,16"), ("data_offsets", [0, 2 ** 70]),
                ("data_offsets", [-16, 0]), ("data_offsets", [0.0, 16.0]), ("data_offsets", [4, 20])]


@pytest.mark.parametrize("field,value", ENTRY_FIELDS, ids=[f"{f}={v!r}" for f, v in ENTRY_FIELDS])
def test_a_malformed_tensor_entry(tmp_path, field, value):
    path = edit_entry(tmp_path, "layers.v.bias", field, value)
    with refused(ModelFileError, str(path), "layers.v.bias"):
        pgmdbn.load(path)


@pytest.mark.parametrize("name", ["keys", "training", "items", "values", "parameters", "forward", "pop", "clear",
                                  "update", "cuda", "eval"])
def test_a_layer_named_like_a_module_dict_attribute(tmp_path, name):
    def rename(spec):
        spec["layers"][1]["name"] = name
        spec["factors"][0]["b"] = name
    path = edit_spec(tmp_path, rename)
    with refused(ModelFileError, name, "reserved"):
        pgmdbn.load(path)


SPEC_EDITS = [
    ("layers not a list", lambda s: s.update(layers={"v": 4}), "layers"),
    ("no layers", lambda s: s.update(layers=[]), "layers"),
    ("layer not an object", lambda s: s["layers"].__setitem__(0, "v"), "layers[0]"),
    ("size a string", lambda s: s["layers"][0].update(size="4"), "layers[0].size"),
    ("size zero", lambda s: s["layers"][0].update(size=0), "layers[0].size"),
    ("size negative", lambda s: s["layers"][0].update(size=-4), "layers[0].size"),
    ("size a float", lambda s: s["layers"][0].update(size=4.0), "layers[0].size"),
    ("size true", lambda s: s["layers"][0].update(size=True), "layers[0].size"),
    ("size larger than the bias", lambda s: s["layers"][0].update(size=5), "layers.v.bias"),
    ("unit a list", lambda s: s["layers"][0].update(unit=["bernoulli"]), "layers[0].unit"),
    ("name with a dot", lambda s: s["layers"][0].update(name="v.x"), "layers[0].name"),
    ("name a number", lambda s: s["layers"][0].update(name=3), "layers[0].name"),
    ("duplicate name", lambda s: s["layers"][1].update(name="v"), "layers[1].name"),
    ("config a list", lambda s: s["layers"][0].update(config=[1]), "layers[0].config"),
    ("config unknown option", lambda s: s["layers"][0].update(config={"bogus": 1}), "does not build"),
    ("factor to nowhere", lambda s: s["factors"][0].update(b="z"), "factors[0].b"),
    ("directed a string", lambda s: s["factors"][0].update(directed="no"), "factors[0].directed"),
    ("factor type a dict", lambda s: s["factors"][0].update(factor={}), "factors[0].factor"),
    ("factors not a list", lambda s: s.update(factors={}), "factors"),
    ("factor config unknown", lambda s: s["factors"][0].update(config={"nope": 2}), "does not build"),
    ("shape mismatch", lambda s: s["layers"][0].update(shape=[3, 3]), "layers[0].shape"),
    ("shape nested", lambda s: s["layers"][0].update(shape=[[2, 2]]), "layers[0].shape"),
    ("spec a list", lambda s: s.clear() or None, "layers"),
]


@pytest.mark.parametrize("change,culprit", [e[1:] for e in SPEC_EDITS], ids=[e[0] for e in SPEC_EDITS])
def test_a_malformed_stored_spec(tmp_path, change, culprit):
    path = edit_spec(tmp_path, change)
    with refused(ModelFileError, str(path), culprit):
        pgmdbn.load(path)


def test_an_unknown_unit_type_names_its_plugin(tmp_path):
    def change(spec):
        spec["layers"][0].update(unit="ising", plugin="pgmdbn_spin")
    path = edit_spec(tmp_path, change)
    with refused(PluginError, "ising", "pgmdbn_spin"):
        pgmdbn.load(path)


@pytest.mark.parametrize("size", [2 * 10 ** 7, 10 ** 9, 10 ** 12, 2 ** 62])
def test_a_spec_declaring_huge_layers_allocates_nothing(tmp_path, size):
    path = edit_spec(tmp_path, lambda s: s["layers"][1].update(size=size))
    assert path.stat().st_size < 2048
    with pytest.raises((ModelFileError, ResourceLimitError), match=str(path)):
        pgmdbn.load(path)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("param", ["factors.v--h.weight", "layers.v.bias", "layers.h.bias"])
def test_non_finite_parameters_are_refused_unless_asked_for(tmp_path, value, param):
    model = pgmdbn.rbm(4, 3, seed=0)
    with torch.no_grad():
        model.state_dict()[param].view(-1)[0] = value
    path = io.save(model, tmp_path / "nan.safetensors")
    with refused(ModelFileError, param, "allow_nonfinite=True"):
        pgmdbn.load(path)
    loaded = pgmdbn.load(path, allow_nonfinite=True)
    assert not torch.isfinite(loaded.state_dict()[param]).all()


METADATA = [("format missing", lambda m: m.pop("format"), "not a pgmdbn model"),
            ("format other", lambda m: m.update(format="numpy"), "not a pgmdbn model"),
            ("version 2", lambda m: m.update(format_version="2"), "version '2'"),
            ("spec missing", lambda m: m.pop("spec"), "'spec'"),
            ("spec not JSON", lambda m: m.update(spec="{layers"), "not valid JSON"),
            ("spec NaN constant", lambda m: m.update(spec='{"layers": NaN}'), "NaN"),
            ("metadata a list", lambda m: m.update(metadata="[1]"), "metadata"),
            ("metadata deep", lambda m: m.update(metadata="[" * 500 + "]" * 500), "levels deep")]


@pytest.mark.parametrize("change,culprit", [m[1:] for m in METADATA], ids=[m[0] for m in METADATA])
def test_malformed_model_metadata(tmp_path, change, culprit):
    header, data = header_of(saved(tmp_path))
    change(header["__metadata__"])
    path = write_raw(tmp_path / "meta.safetensors", header, data)
    with refused(ModelFileError, culprit):
        pgmdbn.load(path)


@pytest.mark.parametrize("header", [b"[]", b"3", b"\"x\"", b"null", b"{", b"\xff\xfe", b"{\"a\":1,\"a\":2}",
                                    b"{\"__metadata__\": [1]}", b"{\"__metadata__\": {\"a\": 1}}"])
def test_a_header_that_is_not_a_json_object(tmp_path, header):
    path = write_raw(tmp_path / "bad.safetensors", header)
    with refused(ModelFileError, str(path)):
        pgmdbn.load(path)


def test_a_fifo_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)
    with refused(ModelFileError, "FIFO"):
        pgmdbn.load(fifo)
    with refused(ModelFileError, "FIFO"):
        io.read_info(fifo)
    with refused(ModelFileError, "FIFO"):
        io.read_spec(fifo)


@pytest.mark.parametrize("kind", ["folder", "device", "symlink to fifo"])
def test_other_non_regular_paths_are_refused(tmp_path, kind):
    if kind == "folder":
        path = tmp_path
    elif kind == "device":
        path = "/dev/null"
    else:
        os.mkfifo(tmp_path / "p")
        path = tmp_path / "link.safetensors"
        os.symlink(tmp_path / "p", path)
    with refused(ModelFileError, "not a regular file"):
        pgmdbn.load(path)


@pytest.mark.parametrize("payload", [b"\x80\x04\x95", b"PK\x03\x04", b"cos\nsystem\n(S'echo hi'\ntR."])
def test_pickles_and_zip_archives_are_never_unpickled(tmp_path, payload):
    path = tmp_path / "evil.pt"
    path.write_bytes(payload + bytes(64))
    with refused(ModelFileError, str(path)):
        pgmdbn.load(path)


SPEC_FILES = [("not JSON", "{layers", ModelFileError, "invalid JSON"),
              ("deep", "[" * 100_000 + "]" * 100_000, ModelFileError, "levels deep"),
              ("NaN", '{"layers": [], "init_scale": NaN}', ModelFileError, "NaN"),
              ("size 10^9", json.dumps({"layers": [{"name": "v", "unit": "bernoulli", "size": 784},
                                                   {"name": "h", "unit": "bernoulli", "size": 10 ** 9}],
                                        "factors": [{"a": "v", "b": "h", "directed": False}]}),
               ResourceLimitError, "max_layer_units"),
              ("params", json.dumps({"layers": [{"name": "v", "unit": "bernoulli", "size": 10 ** 6},
                                                {"name": "h", "unit": "bernoulli", "size": 10 ** 6}],
                                     "factors": [{"a": "v", "b": "h", "directed": False}]}),
               ResourceLimitError, "max_parameters"),
              ("layer named keys", json.dumps({"layers": [{"name": "keys", "unit": "bernoulli", "size": 3}],
                                               "factors": []}), ModelFileError, "keys"),
              ("not UTF-8", b"\xff\xfe\x00", ModelFileError, "UTF-8"),
              ("a list", "[]", ModelFileError, "JSON object"),
              ("train a list", json.dumps({"layers": [{"name": "v", "unit": "bernoulli", "size": 3}], "factors": [],
                                           "train": []}), ModelFileError, "train"),
              ("negative init", json.dumps({"layers": [{"name": "v", "unit": "bernoulli", "size": 3}], "factors": [],
                                            "init_scale": -1}), ModelFileError, "init_scale"),
              ("seed string", json.dumps({"layers": [{"name": "v", "unit": "bernoulli", "size": 3}], "factors": [],
                                          "seed": "x"}), ModelFileError, "seed")]


@pytest.mark.parametrize("text,error,culprit", [s[1:] for s in SPEC_FILES], ids=[s[0] for s in SPEC_FILES])
def test_a_hostile_spec_file(tmp_path, text, error, culprit):
    path = tmp_path / "spec.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with refused(error, culprit):
        io.model_from_spec_file(path)


def test_saved_files_stay_readable_by_the_safetensors_package(tmp_path):
    from safetensors import safe_open

    model = pgmdbn.dbn([5, 4, 3], seed=0)
    path = io.save(model, tmp_path / "d.safetensors", extra={"chain": torch.ones(2, 5)})
    with safe_open(str(path), "pt") as f:
        assert f.metadata()["format"] == "pgmdbn"
        assert torch.equal(f.get_tensor("extra/chain"), torch.ones(2, 5))
        for name, t in model.state_dict().items():
            assert torch.equal(f.get_tensor(name), t)
