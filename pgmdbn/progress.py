"""The one progress bar of long work (training epochs, AIS temperatures, enumeration chunks)."""
from __future__ import annotations

from tqdm.auto import tqdm


def progress_bar(enabled: bool, total: int | None, unit: str = "batch", desc: str | None = None):
    """A tqdm bar over ``total`` steps (None: unknown) that vanishes when done and stays off
    when output is not a terminal, or None when not ``enabled``; callers ``update`` and ``close`` it."""
    if not enabled:
        return None
    return tqdm(total=total, unit=unit, desc=desc, leave=False, disable=None, miniters=max((total or 0) // 100, 1))
