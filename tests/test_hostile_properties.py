"""Property-based hostile inputs (hypothesis): whatever bytes or JSON a model file or a spec file
holds, loading ends in a model or in ModelFileError / PluginError / ResourceLimitError, never in
another exception, a hang or an allocation beyond the limits. 1,400 examples in all."""
import json
import struct
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pgmdbn
from pgmdbn import io
from pgmdbn.errors import ModelFileError, PluginError, ResourceLimitError

ALLOWED = (ModelFileError, PluginError, ResourceLimitError)
FAST = settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
DIR = Path(tempfile.mkdtemp(prefix="pgmdbn-hypothesis-"))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)

names = st.sampled_from(["v", "h", "h1", "keys", "training", "__metadata__", "", "x.y", "layers"]) | st.text(max_size=6)
units = st.sampled_from(["bernoulli", "gaussian", "softmax", "replicated_softmax", "ising", ""]) | json_values
sizes = st.sampled_from([1, 3, 4, 0, -1, 2 ** 31, 10 ** 9, 2 ** 64]) | st.integers(-5, 50) | json_values
layer = st.fixed_dictionaries({"name": names, "unit": units, "size": sizes},
                              optional={"config": json_values, "shape": json_values, "plugin": json_values})
factor = st.fixed_dictionaries({"a": names, "b": names, "directed": st.booleans() | json_values},
                               optional={"factor": st.sampled_from(["dense", "conv"]) | json_values,
                                         "config": json_values})
specs = st.fixed_dictionaries({"layers": st.lists(layer, max_size=3) | json_values,
                               "factors": st.lists(factor, max_size=3) | json_values},
                              optional={"train": json_values, "init_scale": json_values, "seed": json_values})


def attempt(load, path):
    try:
        return load(path)
    except ALLOWED:
        return None


def write(data: bytes, name: str) -> Path:
    path = DIR / name
    path.write_bytes(data)
    return path


@settings(FAST, max_examples=300)
@given(st.binary(max_size=300))
def test_random_bytes_never_escape_model_file_error(data):
    attempt(pgmdbn.load, write(data, "bytes.safetensors"))


@settings(FAST, max_examples=300)
@given(json_values, st.binary(max_size=64))
def test_any_json_header_never_escapes_model_file_error(header, tail):
    text = json.dumps(header).encode()
    attempt(pgmdbn.load, write(struct.pack("<Q", len(text)) + text + tail, "header.safetensors"))


VALID = None


def valid_file() -> bytes:
    global VALID
    if VALID is None:
        VALID = io.save(pgmdbn.rbm(4, 3, seed=0), DIR / "valid.safetensors").read_bytes()
    return VALID


@settings(FAST, max_examples=250)
@given(st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), min_size=1, max_size=6))
def test_flipped_bytes_of_a_valid_file(edits):
    raw = bytearray(valid_file())
    for position, value in edits:
        raw[position % len(raw)] = value
    model = attempt(pgmdbn.load, write(bytes(raw), "flipped.safetensors"))
    if model is not None:
        assert all(torch.isfinite(p).all() for p in model.parameters())


@settings(FAST, max_examples=250)
@given(specs)
def test_any_stored_spec_in_a_valid_file(spec):
    raw = valid_file()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    header["__metadata__"]["spec"] = json.dumps(spec)
    text = json.dumps(header).encode()
    path = write(struct.pack("<Q", len(text)) + text + raw[8 + n:], "spec.safetensors")
    attempt(pgmdbn.load, path)
    attempt(io.read_info, path)


@settings(FAST, max_examples=300)
@given(specs | json_values)
def test_any_spec_file(spec):
    path = write(json.dumps(spec).encode(), "spec.json")
    model = attempt(io.model_from_spec_file, path)
    if model is not None:
        assert model.n_parameters() <= pgmdbn.limits.max_parameters


@pytest.mark.parametrize("depth", [10, 63, 64, 65, 3000])
def test_nesting_at_the_depth_limit(depth):
    path = write(("[" * depth + "]" * depth).encode(), "deep.json")
    if depth <= pgmdbn.limits.max_json_depth:
        with pytest.raises(ModelFileError, match="JSON object"):
            io.read_spec(path)
    else:
        with pytest.raises(ModelFileError, match="levels deep"):
            io.read_spec(path)
