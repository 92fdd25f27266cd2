"""Element-wise data transforms: binarisation for binary units, standardisation for
Gaussian units."""

from __future__ import annotations

import torch

__all__ = ["binarize", "standardize"]

_METHODS = ("threshold", "stochastic")


def _as_float(x) -> torch.Tensor:
    """Return ``x`` as a floating tensor (float32 unless already floating)."""
    x = torch.as_tensor(x)
    return x if x.is_floating_point() else x.to(torch.float32)


def binarize(
    x, method: str = "threshold", threshold: float = 0.5, seed: int = 0
) -> torch.Tensor:
    """Turn intensities into {0, 1} values.

    Args:
        x: tensor (or array) of any shape, values in [0, 1] for ``"stochastic"``.
        method: ``"threshold"`` gives ``x > threshold``; ``"stochastic"`` draws each
            value from Bernoulli(x) with a generator seeded by ``seed``.
        threshold: cut-off for ``"threshold"``.
        seed: seed for ``"stochastic"``; the same seed gives the same draw.

    Returns:
        Tensor of the same shape as ``x`` with values 0.0/1.0 (float dtype of ``x``, or
        float32 for integer input).
    """
    x = _as_float(x)
    if method == "threshold":
        return (x > threshold).to(x.dtype)
    if method == "stochastic":
        if x.numel() and (x.min() < 0 or x.max() > 1):
            raise ValueError("stochastic binarize needs values in [0, 1]")
        gen = torch.Generator(device=x.device).manual_seed(int(seed))
        # uniform < p is Bernoulli(p); torch.rand fills sequentially, so a prefix of the
        # data gets the same draw as the whole.
        u = torch.rand(x.shape, generator=gen, dtype=x.dtype, device=x.device)
        return (u < x).to(x.dtype)
    raise ValueError(f"unknown binarize method {method!r}; expected one of {_METHODS}")


def standardize(
    x, mean=None, std=None, eps: float = 1e-8
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Standardise each column to zero mean and unit variance.

    Args:
        x: tensor (n, d).
        mean: optional (d,) mean to use instead of the column means of ``x`` (e.g. the
            training-set statistics applied to a test set).
        std: optional (d,) standard deviation, likewise (population std by default).
        eps: added to ``std`` so that constant columns map to 0 instead of NaN.

    Returns:
        ``(z, mean, std)`` with ``z = (x - mean) / (std + eps)`` of shape (n, d), and the
        (d,) statistics used, so ``x == z * (std + eps) + mean``.
    """
    x = _as_float(x)
    if x.dim() != 2:
        raise ValueError(f"standardize expects a (n, d) tensor, got shape {tuple(x.shape)}")
    mean = x.mean(dim=0) if mean is None else torch.as_tensor(mean, dtype=x.dtype)
    # population std: defined for n == 1 and the usual choice for data scaling
    std = x.std(dim=0, correction=0) if std is None else torch.as_tensor(std, dtype=x.dtype)
    return (x - mean) / (std + eps), mean, std
