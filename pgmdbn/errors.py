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
    "ArgumentError",
    "ArgumentTypeError",
    "DeviceError",
    "ResourceLimitError",
    "TooExpensive",
    "ModelFileTooLarge",
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


class ArgumentError(PgmdbnError, ValueError):
    """An argument has a value outside what the function accepts (a range, a schedule, a shape)."""


class ArgumentTypeError(PgmdbnError, TypeError):
    """An argument has the wrong type (a float where a count is needed, a complex tensor)."""


class DeviceError(ArgumentError):
    """A device that is not a torch device or not available on this machine and build."""


class ResourceLimitError(PgmdbnError, MemoryError):
    """A request exceeds a configured limit of ``pgmdbn.limits`` (units, parameters, memory, time);
    refused before anything is allocated."""


class TooExpensive(ResourceLimitError, UnsupportedModel):
    """A computation (e.g. exact enumeration) is larger than its limit allows, judged from the
    size of the request before any work.

    Exact enumeration's refusals carry their figures, so that a command line can word them as
    its flags: ``states_log2`` (log2 of the joint states of the largest enumeration),
    ``work_log2`` (log2 of the numbers the whole request computes), ``limit_log2`` and
    ``limit`` (the limit exceeded: "max_states", the argument, or "max_exact_work",
    ``pgmdbn.limits``'s), ``alternative`` (the estimators to use instead); None elsewhere."""

    def __init__(self, message: str, *, states_log2: float | None = None, work_log2: float | None = None,
                 limit_log2: float | None = None, limit: str | None = None, alternative: tuple = ()):
        super().__init__(message)
        self.states_log2, self.work_log2, self.limit_log2 = states_log2, work_log2, limit_log2
        self.limit, self.alternative = limit, tuple(alternative)


class ModelFileTooLarge(ModelFileError, ResourceLimitError):
    """A model file or spec declares sizes beyond ``pgmdbn.limits`` (both a ModelFileError and a
    ResourceLimitError); refused before anything is allocated."""
