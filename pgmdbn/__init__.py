"""pgmdbn: deep-belief-network family models as graphs, with pluggable engines and estimators."""
from . import builtins, io, units
from .api import log_likelihood, log_partition, sample
from .builders import cdbn, dbm, dbn, rbm, sbn
from .errors import (ArgumentError, ArgumentTypeError, DataError, DataNotFound, DeviceError, ModelError,
                     ModelFileError, PgmdbnError, PluginError, ResourceLimitError, TooExpensive, TrainingDiverged,
                     UnsupportedModel)
from .graph import Model
from .hooks import hookimpl, register_plugin, registry, unregister_plugin
from .inference import classify
from .io import load, save
from .limits import limits
from .results import LogLikelihood
from .training import TrainResult, fit, pretrain

registry.add_builtins(builtins)

__version__ = "0.1.0"

__all__ = ["Model", "rbm", "dbn", "dbm", "sbn", "cdbn", "fit", "pretrain", "TrainResult", "sample", "classify",
           "log_likelihood", "log_partition", "LogLikelihood", "save", "load", "io", "units", "registry",
           "hookimpl", "register_plugin", "unregister_plugin", "PgmdbnError", "DataError", "DataNotFound",
           "ModelError", "ModelFileError", "PluginError", "TrainingDiverged", "UnsupportedModel", "limits",
           "ArgumentError", "ArgumentTypeError", "DeviceError", "ResourceLimitError", "TooExpensive"]
