"""Reader for the IDX binary format used by MNIST.

Layout (all big-endian): two zero bytes, a type code byte, a byte giving the number of
dimensions ``ndim``, then ``ndim`` unsigned 32-bit sizes, then the data in C order.
Files may be gzip-compressed; compression is detected from the content, not the name.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from pgmdbn.errors import DataError, DataNotFound

__all__ = ["read_idx", "IDX_TYPES"]

# type code -> (name, big-endian numpy dtype); torch cannot hold big-endian data, so the
# array is converted to native order after parsing.
IDX_TYPES: dict[int, tuple[str, str]] = {
    0x08: ("ubyte", ">u1"),
    0x09: ("byte", ">i1"),
    0x0B: ("short", ">i2"),
    0x0C: ("int", ">i4"),
    0x0D: ("float", ">f4"),
    0x0E: ("double", ">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    """Return the (decompressed) content of ``path``.

    Raises DataNotFound for a missing file and DataError for a damaged gzip stream.
    """
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError as exc:
        raise DataNotFound(f"{path}: expected an IDX file, found no such file") from exc
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
        raise DataError(
            f"{path}: expected a valid gzip stream, found a corrupt or truncated one ({exc})"
        ) from exc


def _parse_header(data: bytes, path: Path) -> tuple[int, tuple[int, ...], int]:
    """Parse an IDX header.

    Returns ``(type_code, dims, header_size)``; raises DataError on a bad magic number or
    a header shorter than it claims to be.
    """
    if len(data) < 4:
        raise DataError(
            f"{path}: expected at least a 4-byte IDX magic number, found {len(data)} bytes"
        )
    zero, code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or code not in IDX_TYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_TYPES)
        raise DataError(
            f"{path}: expected an IDX magic number 0x0000TTNN with type TT in {{{known}}}, "
            f"found 0x{int.from_bytes(data[:4], 'big'):08X}"
        )
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise DataError(
            f"{path}: expected a {header_size}-byte header for {ndim} dimensions, "
            f"found only {len(data)} bytes"
        )
    dims = struct.unpack(f">{ndim}I", data[4:header_size])
    return code, tuple(dims), header_size


def read_idx(path: str | os.PathLike) -> torch.Tensor:
    """Read an IDX file (plain or gzip-compressed) into a tensor.

    Args:
        path: file to read.

    Returns:
        Tensor of shape ``dims`` from the header, with dtype uint8, int8, int16, int32,
        float32 or float64 according to the type code.

    Raises:
        DataNotFound: the file does not exist (also a FileNotFoundError).
        DataError: bad magic number, corrupt gzip stream, or a data size that does not
            match the header (truncated or trailing bytes).
    """
    path = Path(path)
    data = _read_bytes(path)
    code, dims, offset = _parse_header(data, path)
    type_name, dtype = IDX_TYPES[code]
    itemsize = np.dtype(dtype).itemsize
    count = int(np.prod(dims, dtype=np.int64)) if dims else 1
    expected = offset + count * itemsize
    if len(data) != expected:
        shape = "x".join(map(str, dims)) or "scalar"
        problem = "truncated" if len(data) < expected else "trailing bytes"
        raise DataError(
            f"{path}: expected {expected} bytes ({offset}-byte header + {shape} {type_name} "
            f"values of {itemsize} bytes), found {len(data)} bytes ({problem})"
        )
    array = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    # astype to native byte order also copies, so the tensor owns writable memory
    native = array.astype(array.dtype.newbyteorder("="))
    return torch.from_numpy(native.reshape(dims))
