"""Bars-and-stripes: a small binary data set whose exact optimum log-likelihood is known.

For a ``side`` x ``side`` image, a "stripes" pattern switches on any subset of rows and a
"bars" pattern any subset of columns. The all-off and all-on images belong to both
families and are counted once, giving ``2 * 2**side - 2`` distinct patterns.
"""

from __future__ import annotations

import math

import torch

__all__ = ["bars_and_stripes", "sample_bars_and_stripes", "bars_and_stripes_optimum"]


def _check_side(side: int) -> int:
    """Validate ``side`` and return it as an int."""
    if int(side) != side or side < 1:
        raise ValueError(f"side must be a positive integer, got {side!r}")
    return int(side)


def _subset_masks(side: int) -> torch.Tensor:
    """All 2**side binary vectors of length ``side``; row k is the bits of k.

    Returns:
        float32 tensor (2**side, side).
    """
    k = torch.arange(2**side).unsqueeze(1)
    bits = 2 ** torch.arange(side)
    return ((k & bits) > 0).to(torch.float32)


def bars_and_stripes(side: int = 4) -> torch.Tensor:
    """All distinct bars-and-stripes patterns.

    Returns:
        float32 tensor (2 * 2**side - 2, side * side) of flattened binary images: first
        the 2**side stripe patterns (rows on), then the bar patterns (columns on) except
        the all-off and all-on ones, which are already among the stripes.
    """
    side = _check_side(side)
    masks = _subset_masks(side)  # (2**side, side)
    stripes = masks.unsqueeze(2).expand(-1, side, side)  # row i constant = mask[i]
    bars = masks[1:-1].unsqueeze(1).expand(-1, side, side)  # column j constant = mask[j]
    return torch.cat([stripes, bars]).reshape(-1, side * side).contiguous()


def sample_bars_and_stripes(n: int, side: int = 4, seed: int = 0) -> torch.Tensor:
    """Draw ``n`` i.i.d. patterns uniformly from the distinct bars-and-stripes patterns.

    Returns:
        float32 tensor (n, side * side); the same ``seed`` gives the same draw.
    """
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    patterns = bars_and_stripes(side)
    gen = torch.Generator().manual_seed(int(seed))
    idx = torch.randint(patterns.shape[0], (int(n),), generator=gen)
    return patterns[idx]


def bars_and_stripes_optimum(side: int) -> float:
    """Best achievable mean log-likelihood (nats) on uniform bars-and-stripes data:
    ``-log(2 * 2**side - 2)``."""
    side = _check_side(side)
    return -math.log(2 * 2**side - 2)
