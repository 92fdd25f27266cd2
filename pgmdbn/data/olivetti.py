"""The Olivetti faces (AT&T): loading (the MAT-file read by ``scipy.io.loadmat``),
augmentation and a split by person.

The file is ``olivetti/olivettifaces.mat`` under the data root (see
:func:`pgmdbn.data.mnist.data_dir`): variable ``faces`` of shape (4096, 400), one 64×64 image
per column, stored column-major; 40 people × 10 images, in person order.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from pgmdbn.data.mnist import ENV_VAR, data_dir
from pgmdbn.errors import DataError, DataNotFound

__all__ = ["read_mat", "load_olivetti", "resize", "augment", "person_split", "SIDE"]

SIDE = 64  # the images' side in the file
_FILE = Path("olivetti") / "olivettifaces.mat"


def read_mat(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The numeric arrays of a MAT-file (levels 4 and 5, through ``scipy.io.loadmat``) as
    {name: array}, in MATLAB's shapes.

    Raises:
        DataNotFound: no such file.
        DataError: not a MAT-file scipy can read (a v7.3 HDF5 file, truncated, corrupt).
    """
    from scipy.io import loadmat

    path = Path(path)
    if not path.is_file():
        raise DataNotFound(f"MAT-file not found: {path}")
    if path.read_bytes()[:8] == b"\x89HDF\r\n\x1a\n":
        raise DataError(f"{path}: a MATLAB v7.3 (HDF5) file; save it with -v7 to read it here")
    try:
        contents = loadmat(path)
    except Exception as e:  # scipy raises ValueError, TypeError, zlib.error, ... on bad files
        raise DataError(f"{path}: not a readable MAT-file ({type(e).__name__}: {e}): the file is corrupt "
                        f"or not a MAT-file") from None
    return {name: value for name, value in contents.items()
            if not name.startswith("__") and isinstance(value, np.ndarray) and value.dtype.kind in "biuf"}


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
