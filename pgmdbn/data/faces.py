"""Rotated Olivetti faces: labelled with their angle, for orientation regression
(:func:`rotated_faces`), and the deep-autoencoder paper's transformed face set
(:func:`olivetti_paper_set`).

Salakhutdinov & Hinton (2007, "Using deep belief nets to learn covariance kernels for Gaussian
processes") built their data set by randomly rotating (by -90° to +90°), cropping and
subsampling the 400 Olivetti faces to 28×28, and asked a regressor for the angle.
:func:`rotated_faces` makes such copies: each is transformed at the file's 64×64, then
area-averaged down (``pgmdbn.data.olivetti.resize``), so the small images carry no aliasing of
the rotation. Split the faces by person first (``person_split``) and rotate each side apart:
every copy keeps its source's person id.

Hinton & Salakhutdinov (2006, "Reducing the dimensionality of data with neural networks",
supporting material) made their face set "by randomly rotating (-90° to +90°), scaling (1.4 to
2.0), cropping, and subsampling" the 400 faces to 25×25, training on images of 30 people and
testing on images of the other 10; Hinton's notes on the same data describe the images as
"large square patches" of the faces that "vary in scale, orientation and position".
:func:`paper_transform` makes such patches: a square window of 1/zoom of the 64×64 face's side,
turned by the angle and placed at random where the turned window lies inside the face image
(so no padding shows: at zoom 1.4 a window turned by 45° just fits), resampled bilinearly by
torch's ``affine_grid``/``grid_sample`` at 64×64 and area-averaged to 25×25.
:func:`olivetti_paper_set` loads the faces, splits them by person and returns such patches of
the training, validation and test people.
"""
from __future__ import annotations

import math
import os
from typing import NamedTuple

import numpy as np
import torch

from pgmdbn import validation
from pgmdbn.data.olivetti import SIDE, affine_resample, load_olivetti, person_split, resize
from pgmdbn.errors import ArgumentError, ArgumentTypeError, DataError

__all__ = ["rotated_faces", "safe_crop", "FaceSplit", "paper_transform", "olivetti_paper_set", "PAPER_SCALE"]

PAPER_SCALE = (1.4, 2.0)  # Hinton & Salakhutdinov 2006: zoom factors of the face patches

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


def _check_inputs(faces, person, n: int, side: int, what: str = "rotated_faces") -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.as_tensor(faces)
    if x.ndim != 2 or x.shape[1] != side * side:
        raise DataError(f"{what} expects faces of shape (n, {side * side}) (side {side}, as load_olivetti("
                        f"size={side}) returns them), got {tuple(x.shape)}")
    if len(x) == 0:
        raise DataError(f"{what}: no faces given")
    if x.is_floating_point() and not torch.isfinite(x).all():
        raise DataError(f"{what}: the faces hold NaN or infinite pixels; load them again")
    ids = torch.as_tensor(person)
    if ids.shape != (len(x),):
        raise DataError(f"{what}: give one person id per face ({len(x)}), got shape {tuple(ids.shape)}")
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


class FaceSplit(NamedTuple):
    """Transformed faces of one split (``n`` images of side ``size``).

    Attributes:
        images: float32 (n, size*size), row-major, grey levels in [0, 1].
        person: int64 (n,) the person each image shows (0..39).
        source: int64 (n,) the row of the face it was made from (in ``load_olivetti``'s 400 for
            :func:`olivetti_paper_set`, in the given faces for :func:`paper_transform`).
        angle: float32 (n,) the turn in degrees (positive: anticlockwise as displayed).
        zoom: float32 (n,) the zoom factor (the window's side is 1/zoom of the face image's).
    """

    images: torch.Tensor
    person: torch.Tensor
    source: torch.Tensor
    angle: torch.Tensor
    zoom: torch.Tensor


def _pair(name: str, value) -> tuple[float, float]:
    try:
        low, high = value
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"{name}={value!r} must be a pair (low, high) of zoom factors, e.g. "
                                f"{name}={PAPER_SCALE}") from None
    low, high = validation.positive_float(f"{name}[0]", low), validation.positive_float(f"{name}[1]", high)
    if low > high:
        raise ArgumentError(f"{name}={value!r}: low must not exceed high")
    return low, high


def _angle(max_angle) -> float:
    value = validation.nonnegative_float("max_angle", max_angle)
    if value > 180:
        raise ArgumentError(f"max_angle={max_angle!r} must lie in [0, 180] degrees (the paper's is 90)")
    return value


def _size(size, side: int) -> int:
    value = validation.positive_int("size", size)
    if value > side:
        raise ArgumentError(f"size={size!r} must lie in 1..{side} (the faces' side; the paper's is 25)")
    return value


def paper_transform(faces, person, n: int, seed: int = 0, size: int = 25, *, max_angle: float = 90.0,
                    scale: tuple[float, float] = PAPER_SCALE, position: float = 1.0, side: int = SIDE,
                    chunk: int = 4096) -> FaceSplit:
    """``n`` transformed patches of ``faces`` as Hinton & Salakhutdinov (2006) made them.

    Each image takes a source face (every face used equally often, ±1, in a seeded random order),
    an angle uniform in [-``max_angle``, ``max_angle``] degrees and a zoom uniform in ``scale``;
    its window, a square of 1/zoom of the face image's side turned by the angle, is centred at a
    point uniform in the square of centres where the turned window still lies inside the face
    image, shrunk about the image centre by ``position`` (0: always centred; 1: anywhere inside).
    For zooms below ``1 / (|cos| + |sin|)`` of the angle no window fits; it is then centred and
    its corners take the border pixels. The window is resampled bilinearly at ``side``×``side``
    (``affine_grid``/``grid_sample``) and area-averaged to ``size``×``size`` (``resize``), in
    chunks of ``chunk`` images. With ``max_angle=0`` and ``scale=(1, 1)`` an image is its source
    face area-averaged to ``size`` (as ``load_olivetti(size=size)`` gives it).

    Args:
        faces: (m, side*side) upright faces in [0, 1], e.g. ``load_olivetti(size=64)[0]`` or one
            person split's rows of it.
        person: (m,) person id of each face.
        n: how many images.
        seed: the sources, angles, zooms and positions are a function of it (and of ``n``).

    Returns:
        :class:`FaceSplit`, ``source`` indexing the rows of ``faces``.

    Raises:
        DataError: faces of the wrong shape, empty or non-finite, or ``person`` of another length.
        ArgumentError / ArgumentTypeError: an argument out of range or of the wrong type.
    """
    side, n = validation.positive_int("side", side), validation.positive_int("n", n)
    x, ids = _check_inputs(faces, person, n, side, "paper_transform")
    size = _size(size, side)
    max_angle, (low, high) = _angle(max_angle), _pair("scale", scale)
    position = validation.probability("position", position)
    chunk = validation.positive_int("chunk", chunk)
    gen = torch.Generator().manual_seed(validation.seed(seed))
    source = (torch.arange(n) % len(x))[torch.randperm(n, generator=gen)]
    angles = (torch.rand(n, generator=gen, dtype=torch.float64) * 2 - 1) * max_angle
    zoom = low + torch.rand(n, generator=gen, dtype=torch.float64) * (high - low)
    where = torch.rand(n, 2, generator=gen, dtype=torch.float64) * 2 - 1
    radians = torch.deg2rad(angles)
    # the turned window's half-extent in grid units (the image spans [-1, 1]): its centre may move by the rest
    extent = (radians.cos().abs() + radians.sin().abs()) / zoom
    shift = where * (position * (1 - extent).clamp(min=0))[:, None]
    images = torch.empty(n, size * size)
    for start in range(0, n, chunk):
        rows = slice(start, start + chunk)
        turned = affine_resample(x[source[rows]], side, radians[rows], zoom[rows], shift[rows], "border")
        images[rows] = resize(turned, side, size).clamp_(0, 1)
    return FaceSplit(images, ids[source], source, angles.float(), zoom.float())


def _seeds(seed: int, k: int) -> list[int]:
    """``k`` independent generator seeds derived from ``seed``."""
    return [int(s.generate_state(1, np.uint64)[0] >> np.uint64(1)) for s in np.random.SeedSequence(seed).spawn(k)]


def olivetti_paper_set(n_train: int = 100_000, n_test: int = 10_000, *, n_valid: int | None = None,
                       test_people: int = 10, valid_people: int = 0, seed: int = 0, split_seed: int = 0,
                       size: int = 25, max_angle: float = 90.0, scale: tuple[float, float] = PAPER_SCALE,
                       position: float = 1.0, root: str | os.PathLike | None = None,
                       chunk: int = 4096) -> dict[str, FaceSplit]:
    """The deep-autoencoder paper's Olivetti set: transformed face patches (``paper_transform``:
    turned by up to ±``max_angle``°, zoomed by ``scale``, placed at random inside the face,
    area-averaged to ``size``×``size``) of disjoint sets of people.

    The people are split as ``person_split(person, test_people, seed=split_seed)``, and, with
    ``valid_people``, the training people again by ``person_split(..., valid_people,
    seed=split_seed + 1)`` (the split ``benchmarks/autoencoder.py`` uses for its mild set). The
    paper: 124,200 training images of 30 people, 41,400 test images of the other 10, angles
    ±90°, zooms 1.4-2.0, 25×25.

    Args:
        n_train, n_test: images of the training and test people.
        n_valid: images of the validation people (default ``n_test`` when ``valid_people``).
        test_people, valid_people: how many people to hold out for testing and validation.
        seed: the images are a function of it (each split's from its own generator, so one
            split's images do not depend on another's size); ``split_seed`` picks the people.
        root: data root of the faces (see ``load_olivetti``).
        chunk: images transformed at a time (memory: about chunk × 16 kB).

    Returns:
        {"train": FaceSplit, "test": FaceSplit} plus "valid" with ``valid_people``; each
        ``FaceSplit`` holds float32 images (n, size*size) in [0, 1] and int64 ``person`` and
        ``source`` (rows of ``load_olivetti``'s 400 faces) and float32 ``angle``/``zoom`` of shape (n,).

    Raises:
        DataNotFound: the faces are not under ``root``.
        ArgumentError / ArgumentTypeError: an argument out of range or of the wrong type.
    """
    n_train, n_test = validation.positive_int("n_train", n_train), validation.positive_int("n_test", n_test)
    test_people = validation.positive_int("test_people", test_people)
    valid_people = validation.nonnegative_int("valid_people", valid_people)
    if test_people + valid_people > 39:
        raise ArgumentError(f"test_people={test_people} and valid_people={valid_people} leave no training people "
                            f"of the 40; hold out 39 or fewer together")
    if n_valid is None:
        n_valid = n_test if valid_people else 0
    n_valid = validation.nonnegative_int("n_valid", n_valid)
    if bool(n_valid) != bool(valid_people):
        raise ArgumentError(f"n_valid={n_valid} with valid_people={valid_people}: validation images need "
                            f"validation people and the other way round")
    seed, split_seed = validation.seed(seed), validation.seed(split_seed, "split_seed")
    if split_seed + 1 > validation.MAX_SEED:
        raise ArgumentError(f"split_seed={split_seed} leaves no room for the validation split's seed (split_seed + 1)")
    options = {"size": _size(size, SIDE), "max_angle": _angle(max_angle), "scale": _pair("scale", scale),
               "position": validation.probability("position", position),
               "chunk": validation.positive_int("chunk", chunk)}
    faces, person = load_olivetti(root, size=SIDE)
    train_rows, test_rows = person_split(person, test_people, seed=split_seed)
    rows = {"train": train_rows, "test": test_rows}
    if valid_people:
        keep, held = person_split(person[train_rows], valid_people, seed=split_seed + 1)
        rows = {"train": train_rows[keep], "valid": train_rows[held], "test": test_rows}
    counts = {"train": n_train, "valid": n_valid, "test": n_test}
    seeds = dict(zip(("train", "valid", "test"), _seeds(seed, 3)))  # the test images do not depend on valid_people
    out = {}
    for name, picked in rows.items():
        made = paper_transform(faces[picked], person[picked], counts[name], seed=seeds[name], **options)
        out[name] = made._replace(source=picked[made.source])
    return out
