"""Rotated Olivetti faces labelled with their angle, for orientation regression.

Salakhutdinov & Hinton (2007, "Using deep belief nets to learn covariance kernels for Gaussian
processes") built their data set by randomly rotating (by -90° to +90°), cropping and
subsampling the 400 Olivetti faces to 28×28, and asked a regressor for the angle.
:func:`rotated_faces` makes such copies: each is transformed at the file's 64×64, then
area-averaged down (``pgmdbn.data.olivetti.resize``), so the small images carry no aliasing of
the rotation. Split the faces by person first (``person_split``) and rotate each side apart:
every copy keeps its source's person id.
"""
from __future__ import annotations

import math

import torch

from pgmdbn.data.olivetti import SIDE, affine_resample, resize
from pgmdbn.errors import DataError

__all__ = ["rotated_faces", "safe_crop"]

_PADDINGS = ("zeros", "border", "reflection")


def safe_crop(max_angle: float, min_scale: float = 1.0, max_shift: float = 0.0, side: int = SIDE) -> float:
    """The largest ``crop`` at which a copy rotated by up to ``max_angle`` degrees, zoomed by at
    least ``min_scale`` and shifted by up to ``max_shift`` samples only pixels inside the source
    image (no padding shows): the window's corner pixels, at most
    ``crop / scale * (1 - 1/side) * (|cos| + |sin|) + 2 * max_shift`` from the centre in grid
    units (the side spans 2), must stay within 1."""
    turn = math.radians(min(abs(max_angle), 45.0))  # |cos| + |sin| peaks at 45°
    room = 1 - 2 * max_shift
    if room <= 0:
        raise ValueError(f"max_shift must be below 0.5, got {max_shift!r}")
    return min(1.0, room * min_scale / ((1 - 1 / side) * (math.cos(turn) + math.sin(turn))))


def _check_inputs(faces, person, n: int, side: int) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.as_tensor(faces)
    if x.ndim != 2 or x.shape[1] != side * side:
        raise DataError(f"rotated_faces expects faces of shape (n, {side * side}) (side {side}, as load_olivetti("
                        f"size={side}) returns them), got {tuple(x.shape)}")
    if len(x) == 0:
        raise DataError("rotated_faces: no faces given")
    if x.is_floating_point() and not torch.isfinite(x).all():
        raise DataError("rotated_faces: the faces hold NaN or infinite pixels; load them again")
    ids = torch.as_tensor(person)
    if ids.shape != (len(x),):
        raise DataError(f"rotated_faces: give one person id per face ({len(x)}), got shape {tuple(ids.shape)}")
    if int(n) != n or n < 1:
        raise ValueError(f"n (the number of copies) must be a positive integer, got {n!r}")
    return x.float(), ids.long()


def rotated_faces(faces, person, n: int, seed: int = 0, size: int = 28, max_angle: float = 90.0, *,
                  scale: tuple[float, float] = (1.0, 1.0), crop: float = 1.0, max_shift: float = 0.0,
                  side: int = SIDE, padding: str = "reflection") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n`` randomly rotated copies of ``faces`` with their angles.

    Each copy takes a source face (every face used equally often, ±1, in a seeded random
    order), turns it by an angle uniform in [-``max_angle``, ``max_angle``] degrees about the
    centre — positive angles turn the face anticlockwise as displayed (row 0 at the top) —
    zooms in by a factor uniform in ``scale`` (1 keeps the size), keeps a window of ``crop`` times
    the side whose centre is shifted from the image's by up to ±``max_shift`` of the side in x
    and y (uniform), all in one bilinear resampling at ``side``×``side``, and area-averages the
    result down to ``size``×``size``. Pixels from outside the source are filled by ``padding``
    ("zeros", "border" or "reflection", as ``grid_sample``); with
    ``crop <= safe_crop(max_angle, scale[0], max_shift)`` none are needed (the paper's "cropping").

    Args:
        faces: (m, side*side) upright faces, e.g. ``load_olivetti(size=64)[0]`` or one person
            split's rows of it.
        person: (m,) person id of each face.
        n: how many copies.
        seed: the copies, angles and zooms are a function of it.

    Returns:
        ``(images, angles, person)``: float32 (n, size*size), float32 (n,) in degrees, int64 (n,)
        the person each copy shows.
    """
    x, ids = _check_inputs(faces, person, n, side)
    if padding not in _PADDINGS:
        raise ValueError(f"padding must be one of {', '.join(_PADDINGS)}, got {padding!r}")
    low, high = (float(s) for s in scale)
    if not 0 < low <= high:
        raise ValueError(f"scale must be (low, high) with 0 < low <= high, got {scale!r}")
    if not 0 < crop <= 1:
        raise ValueError(f"crop must lie in (0, 1], got {crop!r}")
    if not 0 <= max_shift < 0.5:
        raise ValueError(f"max_shift must lie in [0, 0.5), got {max_shift!r}")
    gen = torch.Generator().manual_seed(int(seed))
    # balanced sources: n indices cycling through the faces, shuffled
    source = (torch.arange(n) % len(x))[torch.randperm(n, generator=gen)]
    angles = (torch.rand(n, generator=gen, dtype=torch.float64) * 2 - 1) * float(max_angle)
    zoom = low + torch.rand(n, generator=gen, dtype=torch.float64) * (high - low)
    shift = (torch.rand(n, 2, generator=gen, dtype=torch.float64) * 2 - 1) * (2 * max_shift)  # the side spans 2
    turned = affine_resample(x[source], side, torch.deg2rad(angles), zoom / crop, shift, padding)
    return resize(turned, side, size), angles.float(), ids[source]
