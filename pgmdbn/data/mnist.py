"""Locate the data root and load MNIST from IDX files.

The data are never shipped with the package: they are read from a path given as an
argument, from the ``PGMDBN_DATA`` environment variable, or from a ``shared/data`` folder
beside the checkout (``../shared/data``).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from pgmdbn.data.idx import read_idx
from pgmdbn.data.transforms import binarize as _binarize
from pgmdbn.errors import DataError, DataNotFound

__all__ = ["data_dir", "load_mnist", "ENV_VAR"]

ENV_VAR = "PGMDBN_DATA"

# pgmdbn/data/mnist.py -> repository root is two levels above the package folder
_REPO_ROOT = Path(__file__).resolve().parents[2]

# file stems per split, in order of preference; ".gz" and plain files are both tried
_STEMS = {
    "train": ("train10k", "train"),
    "test": ("t10k",),
}
_BINARIZE = (None, "threshold", "stochastic")


def _default_candidates() -> list[Path]:
    """Candidate data roots when neither an argument nor the env var is given."""
    rel = Path("..") / "shared" / "data"
    return [Path.cwd() / rel, _REPO_ROOT / rel]


def data_dir(path: str | os.PathLike | None = None) -> Path:
    """Resolve the data root directory.

    Order: ``path`` if given, else ``$PGMDBN_DATA`` if set, else ``../shared/data``
    relative to the working directory, then relative to the repository root.

    Returns:
        The resolved, existing directory.

    Raises:
        DataNotFound: the chosen directory does not exist (an explicit path or env var
            is not silently replaced by a fallback).
    """
    hint = f"set the {ENV_VAR} environment variable or pass a path"
    if path is not None:
        candidates, source = [Path(path)], "the given path"
    elif os.environ.get(ENV_VAR):
        candidates, source = [Path(os.environ[ENV_VAR])], f"${ENV_VAR}"
    else:
        candidates, source = _default_candidates(), "the default locations"
    for cand in candidates:
        if cand.is_dir():
            return cand.resolve()
    tried = ", ".join(str(c) for c in candidates)
    raise DataNotFound(f"data directory not found (from {source}; tried {tried}): {hint}")


def _find_file(root: Path, split: str, kind: str) -> Path:
    """Find the IDX file of ``kind`` ("images"/"labels") for ``split`` under ``root``.

    Looks in ``root/mnist`` and then ``root`` itself, so a path straight to the MNIST
    folder also works.
    """
    ndim = 3 if kind == "images" else 1
    tried = []
    for folder in (root / "mnist", root):
        for stem in _STEMS[split]:
            for suffix in (".gz", ""):
                cand = folder / f"{stem}-{kind}-idx{ndim}-ubyte{suffix}"
                if cand.is_file():
                    return cand
                tried.append(str(cand))
    raise DataNotFound(
        f"MNIST {split} {kind} not found; tried {', '.join(tried)}: "
        f"set the {ENV_VAR} environment variable or pass a path"
    )


def load_mnist(
    split: str = "train",
    root: str | os.PathLike | None = None,
    binarize: str | None = None,
    seed: int = 0,
    limit: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load an MNIST split.

    Args:
        split: ``"train"`` (``train10k-*``, else the official ``train-*`` files) or
            ``"test"`` (``t10k-*``).
        root: data root (see :func:`data_dir`); files are looked up in ``root/mnist``.
        binarize: None keeps intensities in [0, 1]; ``"threshold"`` gives ``x > 0.5``;
            ``"stochastic"`` draws Bernoulli(x) with a generator seeded by ``seed``.
        seed: seed for stochastic binarisation.
        limit: keep only the first ``limit`` examples.

    Returns:
        ``(images, labels)``: float32 (n, 784) in [0, 1] and int64 (n,) in 0..9.

    Raises:
        DataNotFound: the data root or the files are missing.
        DataError: the files are corrupt or inconsistent.
    """
    if split not in _STEMS:
        raise ValueError(f"unknown MNIST split {split!r}; expected one of {tuple(_STEMS)}")
    if binarize not in _BINARIZE:
        raise ValueError(f"unknown binarize option {binarize!r}; expected one of {_BINARIZE}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be non-negative, got {limit}")
    base = data_dir(root)
    img_path = _find_file(base, split, "images")
    lab_path = _find_file(base, split, "labels")
    images, labels = read_idx(img_path), read_idx(lab_path)
    if images.dim() != 3 or images.dtype != torch.uint8:
        raise DataError(
            f"{img_path}: expected uint8 images of shape (n, h, w), "
            f"found {images.dtype} of shape {tuple(images.shape)}"
        )
    if labels.dim() != 1 or labels.shape[0] != images.shape[0]:
        raise DataError(
            f"{lab_path}: expected {images.shape[0]} labels to match the images, "
            f"found shape {tuple(labels.shape)}"
        )
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    x = images.reshape(images.shape[0], -1).to(torch.float32) / 255.0
    if binarize is not None:
        x = _binarize(x, method=binarize, seed=seed)
    return x, labels.to(torch.int64)
