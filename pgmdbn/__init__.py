"""pgmdbn: deep-belief-network family models as graphs, with pluggable engines and estimators."""
from . import io, units
from .api import log_likelihood, log_partition
from .builders import dbm, dbn, rbm, sbn
from .errors import (DataError, DataNotFound, ModelError, ModelFileError, PgmdbnError, PluginError,
                     TrainingDiverged, UnsupportedModel)
from .estimators import LogLikelihood
from .graph import Model
from .hooks import hookimpl, register_plugin, registry, unregister_plugin
from .io import load, save
from .engines.ancestral import sample
from .inference import classify
from .training import TrainResult, fit, pretrain

__version__ = "0.1.0"
