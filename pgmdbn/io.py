"""Saving and loading models: one safetensors file per model, and plain JSON spec files.

A model file is a standard safetensors file, readable by any safetensors reader. Loading
never unpickles or executes anything: the 8-byte header length and the JSON header are read
and checked here first (a regular file, bounded lengths and nesting, offsets that tile the
file, every size against ``pgmdbn.limits`` and the file's bytes) and only then do the
``safetensors`` package read the tensors and the model get built. Its ``__metadata__`` holds::

    format          "pgmdbn"
    format_version  "1"
    spec            JSON of model.spec(), each layer and factor with the "plugin" that provides its
                    type and, for a plugin installed as a package, its "distribution" {"name", "version"}
                    (what ``pip install`` takes; files without it still load)
    metadata        JSON of the caller's metadata dict

Tensors are the model's ``state_dict()`` plus caller extras (checkpoints: optimizer buffers,
persistent chains, RNG states) stored as ``extra/<key>``.
"""
from __future__ import annotations

import json
import math
import os
import re
import secrets
import socket
import stat
import struct
from collections.abc import Mapping
from pathlib import Path

import safetensors.torch
import torch
from torch import Tensor

from . import validation
from .errors import ModelError, ModelFileError, ModelFileTooLarge, PluginError, ResourceLimitError
from .graph import RESERVED_NAMES, Model
from .hooks import registry
from .limits import limits
from .validation import did_you_mean

__all__ = ["FORMAT", "FORMAT_VERSION", "SUPPORTED_VERSIONS", "save", "load", "read_info",
           "read_tensors", "write_tensors", "read_spec", "write_spec", "check_spec",
           "model_from_spec_file"]

FORMAT = "pgmdbn"
FORMAT_VERSION = "1"
SUPPORTED_VERSIONS = ("1",)
EXTRA_PREFIX = "extra/"

# safetensors dtype codes <-> torch dtypes (the subset pgmdbn reads and writes).
DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}
CODES = {dtype: code for code, dtype in DTYPES.items()}
ELEMENT_SIZE = {code: torch.empty((), dtype=dtype).element_size() for code, dtype in DTYPES.items()}
_PathLike = str | os.PathLike


# ======================================================================================
# safetensors files: the header read and checked here, the tensors by the safetensors package
# ======================================================================================

def write_tensors(tensors: Mapping[str, Tensor], path: _PathLike,
                  metadata: Mapping[str, str] | None = None) -> Path:
    """Write ``tensors`` (name -> Tensor) and a str->str ``metadata`` map as a safetensors file.

    The write is atomic: bytes go to a temporary file in the same folder that replaces
    ``path`` only once complete, so an interrupted write never leaves a partial file.
    """
    path = Path(path)
    if metadata is not None:
        bad = [k for k, v in metadata.items() if not (isinstance(k, str) and isinstance(v, str))]
        if bad:
            raise ModelFileError(f"cannot write {path}: __metadata__ must map str to str; key {bad[0]!r} "
                                 f"does not (serialise values with json.dumps first)")
    checked = {name: _check_tensor(name, t, path) for name, t in tensors.items()}
    try:
        blob = safetensors.torch.save(checked, metadata=dict(metadata) if metadata else None)
    except Exception as e:  # noqa: BLE001 - the package's own errors, named after the file
        raise ModelFileError(f"cannot write {path}: {e}") from None
    _atomic_write(path, [blob])
    return path


def read_tensors(path: _PathLike) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Read a safetensors file: (name -> CPU Tensor, __metadata__ map). Strictly validated."""
    path = Path(path)
    entries, metadata, raw = _read_file(path, with_data=True)
    return _decode(raw, entries, path), metadata


def _decode(raw: bytes, entries: dict, path: Path) -> dict[str, Tensor]:
    """The tensors of a file whose header has been validated, decoded by the safetensors package."""
    if not entries:
        return {}
    try:
        tensors = safetensors.torch.load(raw)
    except Exception as e:  # noqa: BLE001 - SafetensorError and anything else: the file is bad
        raise ModelFileError(f"{path}: the safetensors reader refused the file ({' '.join(str(e).split())}); it is "
                             f"corrupted, save the model again") from None
    if set(tensors) != set(entries):
        raise ModelFileError(f"{path}: the safetensors reader found tensors {sorted(tensors)[:5]} where the header "
                             f"names {sorted(entries)[:5]}; the file is corrupted")
    return tensors


def _check_tensor(name, t, path) -> Tensor:
    """A detached, contiguous CPU copy of ``t`` that owns its memory, after checking name and dtype."""
    if not isinstance(name, str) or not name or name == "__metadata__":
        raise ModelFileError(f"cannot write {path}: tensor name {name!r} is not allowed; use a non-empty "
                             f"string other than '__metadata__'")
    if not isinstance(t, Tensor):
        raise ModelFileError(f"cannot write {path}: {name!r} is a {type(t).__name__}, not a torch.Tensor")
    if t.dtype not in CODES:
        raise ModelFileError(f"cannot write {path}: tensor {name!r} has dtype {t.dtype}; supported: "
                             f"{', '.join(str(d) for d in CODES)}. Convert it first")
    if t.layout != torch.strided:
        raise ModelFileError(f"cannot write {path}: tensor {name!r} is {t.layout}; convert it with .to_dense()")
    if t.is_meta:
        raise ModelFileError(f"cannot write {path}: tensor {name!r} is a meta tensor and holds no values")
    # a copy: safetensors refuses tensors that share memory (views, tied parameters)
    return t.detach().to("cpu", copy=True).contiguous()


#: a temporary file of a write in progress: .<target name>.[<host>-]<writer pid>.<8 hex>.tmp
_TMP = re.compile(r"^\.(?P<name>.+)\.(?:(?P<host>[A-Za-z0-9-]{1,32})-)?(?P<pid>\d+)\.[0-9a-f]{8}\.tmp$")


def _host() -> str:
    """This machine's name as temporary file names carry it (letters, digits and -, at most 32)."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:32] or "host"


def _atomic_write(path: Path, chunks: list[bytes]) -> None:
    """Write ``chunks`` to ``path`` atomically: an interrupted write never leaves a partial file
    at ``path``, and leaves no temporary file behind for long.

    On Linux the bytes go to an anonymous file in the target's folder (``O_TMPFILE``), which the
    kernel discards if the writer dies, even by SIGKILL; only once complete and fsynced is it
    given a temporary name and moved over ``path``. Elsewhere (or on a file system without
    ``O_TMPFILE``) a named temporary sibling ``.<name>.<host>-<pid>.<hex>.tmp`` takes the bytes,
    and is removed on any exception. A writer killed before it could clean up leaves that file;
    every write into a folder first removes the temporaries there of writers on this machine
    that are no longer running (``remove_stale_temporaries``)."""
    remove_stale_temporaries(path.parent)
    tmp = path.with_name(f".{path.name}.{_host()}-{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        if _write_anonymous(path.parent, tmp, chunks):
            os.replace(tmp, path)
            return
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fd = None
    try:
        # os.open with 0o666 lets the umask set permissions as for any new file.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        with os.fdopen(fd, "wb") as f:
            fd = None
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if fd is not None:
            os.close(fd)
        tmp.unlink(missing_ok=True)
        raise


def _write_anonymous(folder: Path, tmp: Path, chunks: list[bytes]) -> bool:
    """Write ``chunks`` to an unnamed file in ``folder`` (Linux ``O_TMPFILE``), fsync it and link
    it as ``tmp``; False, with nothing written, where the system or file system lacks that."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not os.path.isdir("/proc/self/fd"):
        return False
    try:
        fd = os.open(folder, flag | os.O_WRONLY, 0o666)
    except OSError:  # EOPNOTSUPP, EISDIR (old kernels), ...: take the named temporary file
        return False
    try:
        with os.fdopen(fd, "wb", closefd=False) as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(fd)
        try:
            os.link(f"/proc/self/fd/{fd}", tmp)  # linkat(AT_SYMLINK_FOLLOW): the unprivileged way
        except OSError:
            return False
    finally:
        os.close(fd)
    return True


def remove_stale_temporaries(folder: _PathLike) -> list[Path]:
    """Delete the temporary files that writes by processes no longer running (killed mid-write)
    left in ``folder``; returns those removed. A temporary file names its writer's host and pid;
    those of other hosts (a shared file system) and of running processes are left alone."""
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    host = _host()
    for entry in folder.iterdir():
        match = _TMP.match(entry.name)
        if not match or not entry.is_file() or match["host"] not in (None, host):
            continue
        pid = int(match["pid"])
        if pid != os.getpid() and _alive(pid):
            continue
        if pid == os.getpid():
            continue  # ours: in progress in another thread, or cleaned by _atomic_write
        entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


# --- reading and validating -----------------------------------------------------------

def _open_regular(path: Path) -> int:
    """A read-only descriptor of ``path``, which must be a regular file (not a FIFO, device or folder)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"no model file at {path}; check the path") from None
    if not stat.S_ISREG(st.st_mode):
        raise ModelFileError(f"{path} is {_file_kind(st.st_mode)}, not a regular file; give the path of a "
                             f".safetensors model file")
    # O_NONBLOCK: should the path turn into a FIFO after the check, opening it does not hang
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ModelFileError(f"{path} is not a regular file; give the path of a .safetensors model file")
    return fd


def _file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a regular file"


def _read_exactly(fd: int, n: int) -> bytes:
    parts, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 24))
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _read_file(path: Path, with_data: bool) -> tuple[dict[str, dict], dict[str, str], bytes]:
    """(tensor entries, __metadata__, the whole file or b"") of a safetensors file whose header
    is validated, against ``pgmdbn.limits`` and the file's length, before the tensors are read."""
    fd = _open_regular(path)
    try:
        size = os.fstat(fd).st_size
        if size < 8:
            raise ModelFileError(f"{path}: the file has {size} bytes, too short to be a model file; it is "
                                 f"empty or truncated, save the model again")
        head = _read_exactly(fd, 8)
        (n,) = struct.unpack("<Q", head)
        if n > size - 8:
            raise ModelFileError(f"{path}: header length {n} exceeds the {size - 8} bytes after it; the file "
                                 f"is truncated or not a safetensors file, save the model again")
        if n > limits.max_header_bytes:
            raise ModelFileError(f"{path}: header length {n} exceeds pgmdbn.limits.max_header_bytes="
                                 f"{limits.max_header_bytes}; the file is corrupted, or raise the limit")
        raw_header = _read_exactly(fd, n)
        header = _parse_header(raw_header, path)
        buffer_len = size - 8 - n
        metadata = _check_metadata(header.pop("__metadata__", None), path)
        _check_entries(header, buffer_len, path)
        raw = b""
        if with_data:
            rest = _read_exactly(fd, buffer_len + 1)
            if len(rest) != buffer_len:
                raise ModelFileError(f"{path}: the file changed while being read; read it again")
            raw = head + raw_header + rest
    finally:
        os.close(fd)
    return header, metadata, raw


def _parse_header(raw: bytes, path: Path) -> dict:
    """The header's JSON object; duplicate keys are rejected since they make names ambiguous."""
    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        dup = next((k for k in keys if keys.count(k) > 1), None)
        if dup is not None:
            raise ModelFileError(f"{path}: the header names {dup!r} twice; the file is corrupted")
        return dict(pairs)

    try:
        header = _loads(raw.decode("utf-8"), f"{path}: the header", object_pairs_hook=no_duplicates)
    except UnicodeDecodeError as e:
        raise ModelFileError(f"{path}: the header is not UTF-8 text ({e.reason} at byte {e.start}); the file "
                             f"is corrupted or not a safetensors file") from None
    except json.JSONDecodeError as e:
        raise ModelFileError(f"{path}: the header is not valid JSON ({e.msg} at character {e.pos}); the file "
                             f"is corrupted or not a safetensors file") from None
    if not isinstance(header, dict):
        raise ModelFileError(f"{path}: the header is a JSON {type(header).__name__}, not an object; the file "
                             f"is corrupted or not a safetensors file")
    return header


def _loads(text: str, what: str, **options):
    """json.loads, refusing nesting deeper than ``pgmdbn.limits.max_json_depth`` (before parsing,
    so no RecursionError) and the non-standard constants NaN and Infinity."""
    depth = _json_depth(text)
    if depth > limits.max_json_depth:
        raise ModelFileError(f"{what} nests JSON {depth} levels deep, more than pgmdbn.limits.max_json_depth="
                             f"{limits.max_json_depth}; the file is corrupted or hostile")

    def no_constant(name):
        raise ModelFileError(f"{what} holds the non-standard JSON constant {name}; the file is corrupted")

    return json.loads(text, parse_constant=no_constant, **options)


_BRACKETS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _json_depth(text: str) -> int:
    """The deepest nesting of [ and { in JSON text, skipping strings (a regex scan, no recursion)."""
    depth = deepest = 0
    for match in _BRACKETS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif token in "]}":
            depth -= 1
    return deepest


def _check_metadata(metadata, path: Path) -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ModelFileError(f"{path}: __metadata__ must map strings to strings; the file is corrupted")
    return metadata


def _check_entries(entries: dict, buffer_len: int, path: Path) -> None:
    """Each entry well-formed, and the offsets tile the byte buffer exactly."""
    for name, entry in entries.items():
        _check_entry(name, entry, buffer_len, path)
    spans = sorted((e["data_offsets"][0], e["data_offsets"][1], name) for name, e in entries.items())
    position = 0
    for begin, end, name in spans:
        if begin < position:
            raise ModelFileError(f"{path}: tensor {name!r} overlaps the bytes of another tensor; the file is "
                                 f"corrupted, save the model again")
        if begin > position:
            raise ModelFileError(f"{path}: {begin - position} bytes before tensor {name!r} belong to no tensor; "
                                 f"the file is corrupted, save the model again")
        position = end
    if position != buffer_len:
        raise ModelFileError(f"{path}: {buffer_len - position} bytes after the last tensor belong to no tensor; "
                             f"the file is corrupted, save the model again")


def _check_entry(name: str, entry, buffer_len: int, path: Path) -> None:
    where = f"{path}: tensor {name!r}"
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise ModelFileError(f"{where} must be described by exactly dtype, shape and data_offsets; the file "
                             f"is corrupted")
    if not isinstance(entry["dtype"], str) or entry["dtype"] not in DTYPES:
        raise ModelFileError(f"{where} has dtype {entry['dtype']!r}, which pgmdbn does not read (supported: "
                             f"{', '.join(DTYPES)}); convert it before saving")
    shape = entry["shape"]
    if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape) or len(shape) > 64:
        raise ModelFileError(f"{where} has shape {_short(shape)}; a shape is a list of at most 64 non-negative "
                             f"integers. The file is corrupted")
    offsets = entry["data_offsets"]
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) for o in offsets)
            and 0 <= offsets[0] <= offsets[1]):
        raise ModelFileError(f"{where} has data_offsets {_short(offsets)}; they must be [begin, end] with "
                             f"0 <= begin <= end. The file is corrupted")
    if offsets[1] > buffer_len:
        raise ModelFileError(f"{where} ends at byte {offsets[1]} of a {buffer_len}-byte buffer; the file is "
                             f"truncated, save the model again")
    expected = math.prod(shape) * ELEMENT_SIZE[entry["dtype"]]
    if offsets[1] - offsets[0] != expected:
        raise ModelFileError(f"{where} ({entry['dtype']}, shape {shape}) needs {expected} bytes but its offsets "
                             f"span {offsets[1] - offsets[0]}; the file is corrupted")


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


# ======================================================================================
# model files
# ======================================================================================

def save(model: Model, path: _PathLike, *, metadata: dict | None = None,
         extra: Mapping[str, Tensor] | None = None) -> Path:
    """Save ``model`` (structure, parameters, ``metadata``, ``extra`` tensors) to one file.

    ``metadata`` must be JSON-serialisable; ``extra`` tensors come back from
    ``load(path, with_extra=True)`` under the same keys. Returns the path written.
    """
    path = Path(path)
    if metadata is not None and not isinstance(metadata, Mapping):
        raise ModelFileError(f"cannot save {path}: metadata must be a dict, got {type(metadata).__name__}")
    try:
        meta_json = json.dumps(dict(metadata or {}), allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ModelFileError(f"cannot save {path}: metadata is not JSON-serialisable ({e}); store tensors "
                             f"in extra= and convert other values to str, numbers, lists or dicts") from None
    tensors = {name: t for name, t in model.state_dict().items()}
    for key, t in (extra or {}).items():
        if not isinstance(key, str) or not key:
            raise ModelFileError(f"cannot save {path}: extra key {key!r} must be a non-empty string")
        tensors[EXTRA_PREFIX + key] = t
    header = {"format": FORMAT, "format_version": FORMAT_VERSION,
              "spec": json.dumps(_spec_with_plugins(model)), "metadata": meta_json}
    return write_tensors(tensors, path, header)


def _spec_with_plugins(model: Model) -> dict:
    """model.spec() with each layer and factor naming the plugin that provides its type and, for a
    plugin from an installed package, that package's pip name and version ("distribution")."""
    spec = model.spec()
    for kind, items, key in (("units", spec["layers"], "unit"), ("factors", spec["factors"], "factor")):
        for item in items:
            item["plugin"] = registry.origin(kind, item[key])
            dist = registry.distribution(kind, item[key])
            if item["plugin"] != "pgmdbn" and dist is not None:
                item["distribution"] = {"name": dist.name, "version": dist.version}
    return spec


def read_info(path: _PathLike) -> dict:
    """What a model file holds, without reading tensors or needing its plugins.

    Returns {"format_version", "spec", "metadata", "tensors": {name: {"dtype", "shape"}}}.
    """
    path = Path(path)
    entries, header, _ = _read_file(path, with_data=False)
    spec, metadata = _model_header(header, path)
    tensors = {name: {"dtype": e["dtype"], "shape": e["shape"]} for name, e in entries.items()}
    return {"format_version": header["format_version"], "spec": spec, "metadata": metadata,
            "tensors": tensors}


def load(path: _PathLike, *, device: torch.device | str | None = None, with_extra: bool = False,
         allow_nonfinite: bool = False):
    """Load a model saved by :func:`save`, on ``device`` if given.

    With ``with_extra=True`` returns (model, extra, metadata), extra tensors on the CPU.
    Raises ModelFileError for any malformed or inconsistent file, including parameters that
    hold NaN or infinite values (``allow_nonfinite=True`` loads them for inspection), and
    PluginError when a layer's unit type is not registered. Every size the stored spec
    declares is checked against ``pgmdbn.limits`` and the file's own tensors before the
    model is built, so a hostile file allocates nothing.
    """
    path = Path(path)
    if device is not None:
        device = validation.device(device)
    entries, header, raw = _read_file(path, with_data=True)
    spec, metadata = _model_header(header, path)
    _check_sizes(spec, entries, path)
    tensors = _decode(raw, entries, path)
    del raw
    model = _build(spec, path)
    extra = {n[len(EXTRA_PREFIX):]: t for n, t in tensors.items() if n.startswith(EXTRA_PREFIX)}
    params = {n: t for n, t in tensors.items() if not n.startswith(EXTRA_PREFIX)}
    _check_params(model, params, path)
    if not allow_nonfinite:
        for name, t in params.items():
            if t.is_floating_point() and not torch.isfinite(t).all():
                count = int((~torch.isfinite(t)).sum())
                raise ModelFileError(f"{path}: parameter {name} holds {count} NaN or infinite value(s); every "
                                     f"estimate from it would be meaningless. Load an earlier checkpoint, or pass "
                                     f"allow_nonfinite=True to load it for inspection")
    if device is not None:
        # Move tensors rather than the model: one copy, and no reliance on Module.to.
        params = {n: t.to(device) for n, t in params.items()}
    # assign=True keeps the file's dtypes and devices (a float64 model loads as float64).
    model.load_state_dict(params, strict=True, assign=True)
    return (model, extra, metadata) if with_extra else model


def _check_sizes(spec: dict, entries: dict[str, dict], path: Path) -> None:
    """Before anything is built: each layer's bias and each dense factor's matrices must be in the
    file with the shapes the spec declares, so the model is no larger than the file's bytes."""
    sizes = {layer["name"]: layer["size"] for layer in spec["layers"]}
    expected = {}
    for layer in spec["layers"]:  # a per-unit bias, or one per channel shared over positions
        channels = layer.get("config", {}).get("channels")
        expected[f"layers.{layer['name']}.{'bias' if channels is None else 'channel_bias'}"] = (
            [layer["size"]] if channels is None else [channels])
    for f in spec["factors"]:
        key = f"factors.{f['a']}{'->' if f['directed'] else '--'}{f['b']}"
        if f.get("factor", "dense") == "dense":
            expected[f"{key}.weight"] = [sizes[f["a"]], sizes[f["b"]]]
            if f["directed"]:
                expected[f"{key}.recognition"] = [sizes[f["a"]], sizes[f["b"]]]
                expected[f"{key}.recognition_bias"] = [sizes[f["a"]]]
        else:
            _check_factor_size(f, key, sizes, entries, path)
    missing = [name for name in expected if name not in entries]
    if missing:
        raise ModelFileError(f"{path}: parameter(s) {', '.join(missing)} are missing from the file; it is "
                             f"corrupted or was edited, save the model again")
    for name, shape in expected.items():
        if entries[name]["shape"] != shape:
            raise ModelFileError(f"{path}: parameter {name} has shape {tuple(entries[name]['shape'])} but the spec "
                                 f"implies {tuple(shape)}; the file is corrupted or was edited")


def _check_factor_size(f: dict, key: str, sizes: dict, entries: dict[str, dict], path: Path) -> None:
    """A factor of another registered type may not declare more parameter entries (its type's
    ``parameter_count``) than the file holds under its name: building it would allocate them."""
    try:
        cls = registry.get("factors", f.get("factor"))
        count = cls.parameter_count(sizes[f["a"]], sizes[f["b"]], f["directed"], **f.get("config", {}))
    except Exception:  # noqa: BLE001 - an unknown type or a config no constructor takes; _build reports it
        return
    if count is None:
        return
    held = sum(math.prod(e["shape"]) for name, e in entries.items() if name.startswith(key + "."))
    if count > held:
        raise ModelFileError(f"{path}: factor {key[len('factors.'):]} ({f.get('factor')}) declares {count:,} "
                             f"parameter entries but the file holds {held:,} for it; the file is corrupted or was "
                             f"edited")


def _model_header(header: dict[str, str], path: Path) -> tuple[dict, dict]:
    """(spec, metadata) from a model file's __metadata__, after checking format and version."""
    if header.get("format") != FORMAT:
        raise ModelFileError(f"{path}: this safetensors file is not a pgmdbn model (its metadata has no "
                             f"format='{FORMAT}'); save models with pgmdbn.io.save")
    version = header.get("format_version")
    if version not in SUPPORTED_VERSIONS:
        raise ModelFileError(f"{path}: model file format version {version!r} is not supported; this pgmdbn "
                             f"reads version(s) {', '.join(SUPPORTED_VERSIONS)}. Upgrade pgmdbn or re-save the "
                             f"model with this version")
    spec = _json_field(header, "spec", path)
    try:
        check_spec(spec, f"{path}: spec")
    except ResourceLimitError as e:
        raise ModelFileTooLarge(str(e)) from None
    metadata = _json_field(header, "metadata", path) if "metadata" in header else {}
    if not isinstance(metadata, dict):
        raise ModelFileError(f"{path}: the stored metadata is a JSON {type(metadata).__name__}, not an object")
    return spec, metadata


def _json_field(header: dict[str, str], key: str, path: Path):
    if key not in header:
        raise ModelFileError(f"{path}: the model file has no {key!r} entry in its metadata; it is corrupted, "
                             f"save the model again")
    try:
        return _loads(header[key], f"{path}: the stored {key}")
    except json.JSONDecodeError as e:
        raise ModelFileError(f"{path}: the stored {key} is not valid JSON ({e.msg} at character {e.pos}); "
                             f"the file is corrupted") from None


def _build(spec: dict, path: Path) -> Model:
    """The model a stored spec describes, with a clear error for unit types nobody registered."""
    for kind, items, what, key in (("units", spec["layers"], "unit type", "unit"),
                                   ("factors", spec["factors"], "factor type", "factor")):
        known = set(registry.names(kind))
        for item in items:
            name = item.get(key, "dense")
            if name not in known:
                where = f"layer {item['name']!r}" if kind == "units" else f"factor {item['a']}-{item['b']}"
                raise PluginError(f"{path}: {where} uses {what} {name!r}, which is not registered here; "
                                  f"{_missing_plugin_fix(item)}")
    try:
        return Model.from_spec(spec)
    except (ResourceLimitError, PluginError):
        raise
    except Exception as e:  # noqa: BLE001 - a stored config that no constructor takes (TypeError, ...)
        raise ModelFileError(f"{path}: the stored spec does not build a model ({type(e).__name__}: {e}); the file "
                             f"was saved by an incompatible version of pgmdbn or of a plugin") from None


def _missing_plugin_fix(item: dict) -> str:
    """What to install for a layer's or factor's type that is not registered: the package the
    file names (pip name and the version that wrote it), else the plugin's name."""
    dist, plugin = item.get("distribution"), item.get("plugin")
    if dist is not None:
        return (f"it comes from plugin {plugin!r} of the package {dist['name']!r}; install it with: "
                f"pip install {dist['name']} (version {dist['version']} wrote this file)")
    if plugin is None:
        return "install the package that provides it, or pgmdbn.register_plugin(...) it before loading"
    return (f"it comes from plugin {plugin!r}, which was not an installed package when the file was written "
            f"(registered at run time, or an older file); pgmdbn.register_plugin(...) it, or install the package "
            f"that provides it, before loading")


def _check_params(model: Model, params: dict[str, Tensor], path: Path) -> None:
    """Exactly the model's parameters, each with the shape its spec implies."""
    expected = model.state_dict()
    missing = [n for n in expected if n not in params]
    if missing:
        raise ModelFileError(f"{path}: parameter(s) {', '.join(missing)} are missing from the file; it is "
                             f"corrupted or was edited, save the model again")
    unexpected = [n for n in params if n not in expected]
    if unexpected:
        raise ModelFileError(f"{path}: the file has parameter(s) {', '.join(unexpected)} that the stored spec "
                             f"does not define; it is corrupted or was edited (store extra tensors via extra=)")
    trainable = dict(model.named_parameters())
    for name, ref in expected.items():
        t = params[name]
        if t.shape != ref.shape:
            raise ModelFileError(f"{path}: parameter {name} has shape {tuple(t.shape)} but the spec implies "
                                 f"{tuple(ref.shape)}; the file is corrupted or was edited")
        if name in trainable and not t.is_floating_point():
            raise ModelFileError(f"{path}: parameter {name} has integer dtype {t.dtype}; parameters must be "
                                 f"floating point. The file is corrupted or was edited")


# ======================================================================================
# JSON spec files
# ======================================================================================

def read_spec(path: _PathLike) -> dict:
    """A model spec from a JSON file, validated (layers, factors, optional train/init_scale/seed)."""
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"no spec file at {path}; check the path") from None
    if not stat.S_ISREG(st.st_mode):
        raise ModelFileError(f"{path} is {_file_kind(st.st_mode)}, not a regular file; give the path of a JSON spec")
    if st.st_size > limits.max_header_bytes:
        raise ModelFileError(f"{path}: {st.st_size} bytes is more than a spec holds (pgmdbn.limits.max_header_bytes="
                             f"{limits.max_header_bytes}); give the path of a JSON spec")
    fd = _open_regular_spec(path)
    try:
        data = _read_exactly(fd, st.st_size + 1)
    finally:
        os.close(fd)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ModelFileError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start}); save it as UTF-8") from None
    try:
        spec = _loads(text, str(path))
    except json.JSONDecodeError as e:
        raise ModelFileError(f"{path}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    check_spec(spec, str(path))
    return spec


def _open_regular_spec(path: Path) -> int:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ModelFileError(f"{path} is not a regular file; give the path of a JSON spec")
    return fd


def write_spec(spec: dict | Model, path: _PathLike) -> Path:
    """Write a spec (or a Model's spec) as indented JSON, atomically; returns the path."""
    path = Path(path)
    if isinstance(spec, Model):
        spec = spec.spec()
    check_spec(spec, f"cannot write {path}")
    try:
        text = json.dumps(spec, indent=2, allow_nan=False) + "\n"
    except (TypeError, ValueError) as e:
        raise ModelFileError(f"cannot write {path}: the spec is not JSON-serialisable ({e})") from None
    _atomic_write(path, [text.encode("utf-8")])
    return path


def model_from_spec_file(path: _PathLike, default_seed: int | None = None) -> Model:
    """A freshly initialised model from a JSON spec file (init_scale default 0.01, optional seed).
    The initial weights' seed is the spec's ``seed``, else ``default_seed`` (``pgmdbn train``
    passes its training seed); with neither, a fresh random initialisation each call."""
    spec = read_spec(path)
    try:
        model = Model.from_spec(spec)
    except ResourceLimitError:
        raise
    except PluginError as e:  # an unknown unit or factor type (with the nearest name), or plugin code
        raise PluginError(f"{path}: {e}") from e.__cause__
    except (ModelError, TypeError, ValueError, KeyError, AttributeError, RuntimeError) as e:
        # TypeError: a layer's config has arguments its unit type does not take.
        raise ModelFileError(f"{path}: the spec does not build a model: {e}") from None
    seed = spec.get("seed")
    return model.init_weights(spec.get("init_scale", 0.01), seed=default_seed if seed is None else seed)


#: the keys a spec may hold at each level; any other is refused with the nearest of these
SPEC_KEYS = ("layers", "factors", "init_scale", "seed", "train")
LAYER_KEYS = ("name", "unit", "size", "shape", "config", "plugin", "distribution")
FACTOR_KEYS = ("a", "b", "directed", "factor", "config", "plugin", "distribution")
#: the options of a spec's "train" object: ``fit``'s, and the greedy stage's (``pretrain``) that
#: ``pgmdbn train`` runs first
TRAIN_KEYS = ("method", "k", "epochs", "batch_size", "lr", "momentum", "weight_decay", "lr_schedule", "seed",
              "init_from_data", "monitor_size", "engine_options", "pretrain_epochs", "pretrain_method", "propagate")


def check_spec(spec, where: str = "spec") -> None:
    """Raise ModelFileError naming the JSON path (e.g. layers[1].size) of the first problem; a key
    the spec format does not know (at the top, in a layer, a factor or ``train``) is refused with
    the nearest known key, so a misspelling is never ignored."""
    if not isinstance(spec, dict):
        _bad(where, "", f"the spec must be a JSON object, got {_kind(spec)}")
    _known_keys(spec, SPEC_KEYS, where, "", "spec key")
    names = _check_layers(spec.get("layers"), where)
    _check_factors(spec.get("factors"), names, where)
    sizes = {layer["name"]: layer["size"] for layer in spec["layers"]}
    count = sum(sizes.values()) + sum(sizes[f["a"]] * sizes[f["b"]] * (2 if f["directed"] else 1)
                                      for f in spec["factors"] if f.get("factor", "dense") == "dense")
    if count > limits.max_parameters:
        raise ResourceLimitError(f"{where}: the layers and dense factors declare {count:,} parameters, more than "
                                 f"pgmdbn.limits.max_parameters={limits.max_parameters:,}; nothing was allocated. "
                                 f"Shrink the model, or raise the limit if this machine can hold it")
    if "train" in spec and not isinstance(spec["train"], dict):
        _bad(where, "train", "must be an object of training options")
    if "train" in spec:
        _known_keys(spec["train"], TRAIN_KEYS, where, "train.", "training option")
    if "init_scale" in spec:
        scale = spec["init_scale"]
        if not (isinstance(scale, (int, float)) and not isinstance(scale, bool) and math.isfinite(scale)
                and scale >= 0):
            _bad(where, "init_scale", f"must be a non-negative number, got {scale!r}")
    if "seed" in spec and spec["seed"] is not None and not (_is_int(spec["seed"]) and spec["seed"] >= 0):
        _bad(where, "seed", f"must be a non-negative integer or null, got {spec['seed']!r}")


_LAYER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def _check_layers(layers, where: str) -> list[str]:
    if not isinstance(layers, list) or not layers:
        _bad(where, "layers", f"must be a non-empty list of layers, got {_kind(layers)}")
    names = []
    for i, layer in enumerate(layers):
        at = f"layers[{i}]"
        if not isinstance(layer, dict):
            _bad(where, at, f"must be an object with name, unit and size, got {_kind(layer)}")
        _known_keys(layer, LAYER_KEYS, where, f"{at}.", "layer key")
        name = layer.get("name")
        if not isinstance(name, str) or not _LAYER_NAME.match(name):
            _bad(where, f"{at}.name", f"must be a string that starts with a letter and uses letters, digits "
                                      f"and _, got {name!r}")
        if name in names:
            _bad(where, f"{at}.name", f"{name!r} is already the name of layers[{names.index(name)}]")
        if name in RESERVED_NAMES:
            _bad(where, f"{at}.name", f"{name!r} is reserved (an attribute of torch.nn.ModuleDict); rename the layer")
        if not isinstance(layer.get("unit"), str) or not layer["unit"]:
            _bad(where, f"{at}.unit", f"must be the name of a unit type (e.g. 'bernoulli'), got "
                                      f"{layer.get('unit')!r}")
        if not (_is_int(layer.get("size")) and layer["size"] > 0):
            _bad(where, f"{at}.size", f"must be a positive integer, got {_short(layer.get('size'))}")
        if layer["size"] > limits.max_layer_units:
            raise ResourceLimitError(f"{where}: {at}.size {layer['size']:,} exceeds pgmdbn.limits.max_layer_units="
                                     f"{limits.max_layer_units:,}; nothing was allocated. Shrink the layer, or raise "
                                     f"the limit if this machine can hold it")
        if "config" in layer and not isinstance(layer["config"], dict):
            _bad(where, f"{at}.config", f"must be an object of unit options, got {_kind(layer['config'])}")
        _check_origin(layer, at, where)
        shape = layer.get("shape")
        if shape is not None and not (isinstance(shape, list) and shape and all(_is_int(d) and d > 0 for d in shape)
                                      and math.prod(shape) == layer["size"]):
            _bad(where, f"{at}.shape", f"must be a list of positive integers whose product is the size "
                                       f"{layer['size']}, got {shape!r}")
        names.append(name)
    return names


def _check_factors(factors, names: list[str], where: str) -> None:
    if not isinstance(factors, list):
        _bad(where, "factors", f"must be a list of factors (may be empty), got {_kind(factors)}")
    for i, factor in enumerate(factors):
        at = f"factors[{i}]"
        if not isinstance(factor, dict):
            _bad(where, at, f"must be an object with a, b and directed, got {_kind(factor)}")
        _known_keys(factor, FACTOR_KEYS, where, f"{at}.", "factor key")
        for end in ("a", "b"):
            if factor.get(end) not in names:
                _bad(where, f"{at}.{end}", f"must name a declared layer ({', '.join(names)}), got "
                                           f"{factor.get(end)!r}")
        if factor["a"] == factor["b"]:
            _bad(where, at, f"joins layer {factor['a']!r} to itself (a self-loop); a factor joins two different "
                            f"layers: set {at}.b to another layer")
        if not isinstance(factor.get("directed"), bool):
            _bad(where, f"{at}.directed", f"must be true or false, got {factor.get('directed')!r}")
        if not isinstance(factor.get("factor", "dense"), str):
            _bad(where, f"{at}.factor", f"must be the name of a factor type (e.g. 'dense'), got "
                                        f"{factor.get('factor')!r}")
        if not isinstance(factor.get("config", {}), dict):
            _bad(where, f"{at}.config", f"must be an object of factor options, got {_kind(factor['config'])}")
        _check_origin(factor, at, where)


def _check_origin(item: dict, at: str, where: str) -> None:
    """A layer's or factor's optional "plugin" (a name) and "distribution" ({"name", "version"}:
    the package to pip install), as save writes them; the missing-plugin error quotes both."""
    if "plugin" in item and not (isinstance(item["plugin"], str) and item["plugin"]):
        _bad(where, f"{at}.plugin", f"must be the name of the plugin that provides the type, got "
                                    f"{_short(item['plugin'])}")
    dist = item.get("distribution")
    if "distribution" in item and not (isinstance(dist, dict) and set(dist) == {"name", "version"}
                                       and all(isinstance(dist[k], str) and dist[k] for k in ("name", "version"))):
        _bad(where, f"{at}.distribution", f"must be an object {{\"name\": pip name, \"version\": version}} of "
                                          f"non-empty strings, got {_short(dist)}")


def _known_keys(item: dict, known: tuple[str, ...], where: str, at: str, what: str) -> None:
    """Refuse the first key of ``item`` not in ``known``, suggesting the nearest known one."""
    for key in item:
        if key not in known:
            _bad(where, f"{at}{key}", f"is not a {what}{did_you_mean(key, known)}; known: {', '.join(known)}")


def _bad(where: str, at: str, problem: str):
    raise ModelFileError(f"{where}: {at + ' ' if at else ''}{problem}")


def _kind(value) -> str:
    if value is None:
        return "nothing"
    return f"a {type(value).__name__}" if not isinstance(value, (str, int, float)) else repr(value)
