"""The Olivetti faces (AT&T): a small MAT-file (level 5) reader, loading, augmentation and a
split by person.

The file is ``olivetti/olivettifaces.mat`` under the data root (see
:func:`pgmdbn.data.mnist.data_dir`): variable ``faces`` of shape (4096, 400), one 64×64 image
per column, stored column-major; 40 people × 10 images, in person order.

The reader follows the MAT-file level 5 format (MathWorks, "MAT-File Format", 1999-2023):
a 128-byte header (text, subsystem offset, version 0x0100, endian indicator "IM"/"MI"), then
data elements, each an 8-byte tag (type, byte count; or a 4-byte "small element" tag with the
data in the next 4 bytes) padded to 8 bytes. ``miCOMPRESSED`` elements hold one zlib-deflated
element. Only what numeric arrays need is read: ``miMATRIX`` with the array-flags, dimensions
and name sub-elements and a real part of any numeric type; other classes are skipped.
"""
from __future__ import annotations

import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from pgmdbn.data.mnist import ENV_VAR, data_dir
from pgmdbn.errors import DataError, DataNotFound

__all__ = ["read_mat", "load_olivetti", "resize", "augment", "person_split", "SIDE"]

SIDE = 64  # the images' side in the file
_FILE = Path("olivetti") / "olivettifaces.mat"

# MAT data types (miINT8 = 1, …) as numpy dtypes (byte order applied when read)
_TYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 9: "f8", 12: "i8", 13: "u8",
          16: "u1", 17: "u2", 18: "u4"}
_MATRIX, _COMPRESSED = 14, 15
# numeric array classes (mxDOUBLE_CLASS = 6, … mxUINT64_CLASS = 15) as the dtype they are returned in
_CLASSES = {6: "f8", 7: "f4", 8: "i1", 9: "u1", 10: "i2", 11: "u2", 12: "i4", 13: "u4", 14: "i8", 15: "u8"}
_COMPLEX, _LOGICAL = 0x0800, 0x0200


def _elements(buf: bytes, order: str, where: str):
    """Yield (type, payload) for each data element of ``buf``; ``where`` names the source in errors."""
    pos = 0
    while pos < len(buf):
        if len(buf) - pos < 8:
            raise DataError(f"{where}: truncated data element tag at byte {pos} ({len(buf) - pos} bytes left)")
        kind, size = struct.unpack_from(order + "II", buf, pos)
        if kind >> 16:  # small data element: size in the upper half, data in the tag's second word
            kind, size = kind & 0xFFFF, kind >> 16
            if size > 4:
                raise DataError(f"{where}: small data element at byte {pos} claims {size} bytes (at most 4)")
            yield kind, buf[pos + 4: pos + 4 + size]
            pos += 8
            continue
        start, end = pos + 8, pos + 8 + size
        if end > len(buf):
            raise DataError(f"{where}: data element at byte {pos} (type {kind}) needs {size} bytes, only "
                            f"{len(buf) - start} remain: the file is truncated or corrupt")
        yield kind, buf[start:end]
        # compressed elements are not padded; every other one is padded to 8 bytes
        pos = end if kind == _COMPRESSED else start + (size + 7) // 8 * 8


def _numbers(kind: int, payload: bytes, order: str, where: str) -> np.ndarray:
    if kind not in _TYPES:
        raise DataError(f"{where}: unsupported data type {kind} inside an array")
    dtype = np.dtype(_TYPES[kind]).newbyteorder(order)
    if len(payload) % dtype.itemsize:
        raise DataError(f"{where}: {len(payload)} bytes is not a whole number of {dtype.name} values")
    return np.frombuffer(payload, dtype=dtype)


def _matrix(payload: bytes, order: str, where: str) -> tuple[str, np.ndarray | None]:
    """(name, array) of one miMATRIX element; array None for the classes this reader skips."""
    parts = list(_elements(payload, order, where))
    if not parts:  # an empty element (e.g. an empty cell's placeholder)
        return "", None
    if len(parts) < 3:
        raise DataError(f"{where}: an array element needs flags, dimensions and a name; found {len(parts)} parts")
    flags = _numbers(parts[0][0], parts[0][1], order, where)
    dims = _numbers(parts[1][0], parts[1][1], order, where).astype(np.int64)
    name = parts[2][1].decode("ascii", "replace")
    if len(flags) < 2 or len(dims) < 2:
        raise DataError(f"{where}: array {name!r} has malformed flags or dimensions")
    cls, bits = int(flags[0]) & 0xFF, int(flags[0])
    if cls not in _CLASSES or bits & _COMPLEX:
        return name, None  # cell, struct, char, sparse, object, complex: not needed here
    if len(parts) < 4:
        raise DataError(f"{where}: numeric array {name!r} has no data")
    values = _numbers(parts[3][0], parts[3][1], order, where)
    count = int(np.prod(dims))
    if values.size != count:
        raise DataError(f"{where}: array {name!r} of shape {tuple(dims)} needs {count} values, found {values.size}")
    out_dtype = np.bool_ if bits & _LOGICAL else np.dtype(_CLASSES[cls])
    # MATLAB stores column-major: reverse the dimensions, then transpose back
    return name, values.astype(out_dtype).reshape(tuple(dims[::-1])).transpose()


def read_mat(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The numeric arrays of a level-5 MAT-file as {name: array} (MATLAB's shapes, native byte order).

    Raises:
        DataNotFound: no such file.
        DataError: not a level-5 MAT-file, truncated, or corrupt (bad compression, sizes).
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFound(f"MAT-file not found: {path}")
    buf = path.read_bytes()
    if len(buf) < 128:
        raise DataError(f"{path}: {len(buf)} bytes is shorter than the 128-byte MAT-file header")
    marker = buf[126:128]
    if marker not in (b"IM", b"MI"):
        hint = " (a v7.3 file is HDF5: save it with -v7)" if buf[:8] == b"\x89HDF\r\n\x1a\n" else ""
        raise DataError(f"{path}: not a level-5 MAT-file (endian indicator {marker!r}){hint}")
    order = "<" if marker == b"IM" else ">"
    arrays = {}
    for kind, payload in _elements(buf[128:], order, str(path)):
        if kind == _COMPRESSED:
            try:
                payload = zlib.decompress(payload)
            except zlib.error as e:
                raise DataError(f"{path}: a compressed element does not inflate ({e}): the file is corrupt") from None
            inner = list(_elements(payload, order, str(path)))
            if len(inner) != 1:
                raise DataError(f"{path}: a compressed element holds {len(inner)} elements, expected 1")
            kind, payload = inner[0]
        if kind == _MATRIX:
            name, array = _matrix(payload, order, str(path))
            if array is not None:
                arrays[name] = array
    return arrays


def resize(images: torch.Tensor, side: int, size: int) -> torch.Tensor:
    """Square images (n, side*side) -> (n, size*size) by area averaging (``interpolate`` "area",
    which averages the source pixels each target pixel covers: no aliasing when shrinking)."""
    x = torch.as_tensor(images).float().reshape(-1, 1, side, side)
    return F.interpolate(x, size=(size, size), mode="area").reshape(len(x), size * size)


def load_olivetti(root: str | os.PathLike | None = None, size: int = 25) -> tuple[torch.Tensor, torch.Tensor]:
    """The 400 Olivetti faces.

    Args:
        root: data root (see :func:`pgmdbn.data.mnist.data_dir`); the file is looked up as
            ``root/olivetti/olivettifaces.mat``, then ``root/olivettifaces.mat``.
        size: side of the returned images; 64 keeps the originals, smaller sizes are
            area-averaged from them (25 as in Hinton & Salakhutdinov 2006).

    Returns:
        ``(images, person)``: float32 (400, size*size) in [0, 1], row-major upright faces, and
        int64 (400,) person ids 0..39 (the file's order: 10 images per person).
    """
    if int(size) != size or not 1 <= size <= SIDE:
        raise ValueError(f"size must be an integer in 1..{SIDE}, got {size!r}")
    base = data_dir(root)
    candidates = [base / _FILE, base / _FILE.name]
    path = next((c for c in candidates if c.is_file()), None)
    if path is None:
        raise DataNotFound(f"Olivetti faces not found; tried {', '.join(map(str, candidates))}: set the {ENV_VAR} "
                           f"environment variable or pass a path")
    arrays = read_mat(path)
    if "faces" not in arrays:
        raise DataError(f"{path}: no numeric variable 'faces' (found {', '.join(arrays) or 'none'})")
    faces = arrays["faces"]
    if faces.shape != (SIDE * SIDE, 400):
        raise DataError(f"{path}: 'faces' should have shape (4096, 400), found {faces.shape}")
    # grey levels 0..255 (stored as uint8 or as whole doubles); a file already in [0, 1] stays
    scale = 255.0 if faces.dtype == np.uint8 or faces.max() > 1 else 1.0
    # each column is a column-major 64×64 image: reshape, then transpose to row-major
    x = torch.from_numpy(np.ascontiguousarray(faces.T).astype(np.float32) / scale)
    x = x.reshape(400, SIDE, SIDE).transpose(1, 2).reshape(400, SIDE * SIDE).contiguous()
    if size != SIDE:
        x = resize(x, SIDE, size)
    return x.clamp(0, 1), torch.arange(40).repeat_interleave(10)


def augment(images: torch.Tensor, side: int, n_copies: int = 10, seed: int = 0, max_angle: float = 10.0,
            max_scale: float = 0.1, max_shift: float = 0.05, zoom: float = 1.0) -> torch.Tensor:
    """Randomly transformed copies of square images, for enlarging a training set.

    Each copy is rotated by an angle uniform in ±``max_angle`` degrees, scaled by a factor
    uniform in ``zoom`` × (1 ± ``max_scale``) (above 1 it zooms in: Hinton & Salakhutdinov 2006
    scaled faces by 1.4-2.0, i.e. zoom 1.7, max_scale 0.18, and rotated them by up to ±90°)
    and shifted by up to ±``max_shift`` of the side in x and y
    (bilinear ``grid_sample``; pixels from outside are mirrored in, so no black corners).

    Args:
        images: (n, side*side).
    Returns:
        (n * n_copies, side*side), copy c of image i in row ``i * n_copies + c`` (so labels
        follow with ``labels.repeat_interleave(n_copies)``).
    """
    x = torch.as_tensor(images).float()
    if x.ndim != 2 or x.shape[1] != side * side:
        raise DataError(f"augment expects (n, {side * side}) images of side {side}, got {tuple(x.shape)}")
    if n_copies < 1:
        raise ValueError(f"n_copies must be at least 1, got {n_copies}")
    n = len(x) * n_copies
    gen = torch.Generator().manual_seed(seed)

    def uniform(bound):
        return (torch.rand(n, generator=gen) * 2 - 1) * bound

    angle, scale = uniform(math.radians(max_angle)), zoom * (1 + uniform(max_scale))
    shift = torch.stack([uniform(2 * max_shift), uniform(2 * max_shift)], 1)  # grid coordinates span 2
    return affine_resample(x.repeat_interleave(n_copies, 0), side, angle, scale, shift, "reflection")


def affine_resample(images: torch.Tensor, side: int, radians: torch.Tensor, zoom: torch.Tensor, shift: torch.Tensor,
                    padding: str = "reflection") -> torch.Tensor:
    """Resample each image (n, side*side) turned by ``radians`` (positive: anticlockwise as
    displayed), zoomed in by ``zoom`` (both (n,)) and centred at ``shift`` ((n, 2), grid units:
    the side spans 2), bilinearly; pixels from outside come from ``padding`` ("zeros", "border",
    "reflection", as ``grid_sample``). Returns (n, side*side)."""
    # affine_grid maps output coordinates to input ones: the inverse of "zoom, then rotate"
    cos, sin = torch.cos(radians) / zoom, torch.sin(radians) / zoom
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    source = images.reshape(-1, 1, side, side)
    grid = F.affine_grid(theta.float(), list(source.shape), align_corners=False)
    out = F.grid_sample(source, grid, mode="bilinear", padding_mode=padding, align_corners=False)
    return out.reshape(len(images), side * side)


def person_split(ids: torch.Tensor, n_test_people: int = 10, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Row indices (train, test) with ``n_test_people`` people, drawn at random (seeded), held out
    entirely: no person appears on both sides."""
    ids = torch.as_tensor(ids)
    people = torch.unique(ids)
    if not 0 < n_test_people < len(people):
        raise ValueError(f"n_test_people must lie in 1..{len(people) - 1}, got {n_test_people}")
    perm = people[torch.randperm(len(people), generator=torch.Generator().manual_seed(seed))]
    held = torch.isin(ids, perm[:n_test_people])
    return (~held).nonzero().squeeze(1), held.nonzero().squeeze(1)
