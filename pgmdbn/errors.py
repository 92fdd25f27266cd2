"""Exception hierarchy for pgmdbn.

Every error the package raises on purpose derives from :class:`PgmdbnError`, and also
from the matching built-in type so callers that catch ``ValueError`` etc. keep working.
"""

__all__ = [
    "PgmdbnError",
    "DataError",
    "DataNotFound",
    "ModelError",
    "ModelFileError",
    "PluginError",
    "UnsupportedModel",
    "TrainingDiverged",
]


class PgmdbnError(Exception):
    """Base class of all pgmdbn errors."""


class DataError(PgmdbnError, ValueError):
    """A data file or array is malformed, truncated or of the wrong kind."""


class DataNotFound(DataError, FileNotFoundError):
    """A data set or its root directory could not be located."""


class ModelError(PgmdbnError, ValueError):
    """A model has an invalid structure (shapes, layers, unit types)."""


class ModelFileError(PgmdbnError, ValueError):
    """A saved model file is malformed or cannot be interpreted."""


class PluginError(PgmdbnError, LookupError):
    """A requested plugin is unknown or failed to load."""


class UnsupportedModel(PgmdbnError, ValueError):
    """An engine or estimator cannot handle the given model structure."""


class TrainingDiverged(PgmdbnError, FloatingPointError):
    """Training produced non-finite parameters or statistics."""
