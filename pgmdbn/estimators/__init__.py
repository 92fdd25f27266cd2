"""Estimators of log-likelihoods and log partition functions; all return a LogLikelihood."""
from ..results import LogLikelihood
