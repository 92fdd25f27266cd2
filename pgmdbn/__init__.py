"""pgmdbn: deep-belief-network family models as graphs, with pluggable engines and estimators."""
from . import units
from .builders import dbm, dbn, rbm, sbn
from .errors import (DataError, DataNotFound, ModelError, ModelFileError, PgmdbnError, PluginError,
                     TrainingDiverged, UnsupportedModel)
from .graph import Model
from .hooks import hookimpl, register_plugin, registry, unregister_plugin

__version__ = "0.1.0"
from .api import log_likelihood, log_partition
from .estimators import LogLikelihood
from .training import FitResult, fit
from .io import load, save
