"""Whether MNIST can be read here: tests that need it skip with the reason, never fail."""
import pytest

import pgmdbn
from pgmdbn.data import load_mnist


def mnist_missing() -> str | None:
    """Why MNIST cannot be read here ($PGMDBN_DATA or ../shared/data), or None."""
    try:
        load_mnist("train", limit=1)
        load_mnist("test", limit=1)
    except pgmdbn.DataNotFound as e:
        return str(e)
    return None


MISSING = mnist_missing()
needs_mnist = pytest.mark.skipif(MISSING is not None, reason=f"MNIST not available: {MISSING}")
