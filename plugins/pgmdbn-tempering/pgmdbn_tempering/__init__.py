"""Tempering trainers for pgmdbn RBMs: "pt" (PCD with parallel tempering) and "tt" (persistent
chains with tempered transitions), registered through ``pgmdbn_register_engines``."""
import pgmdbn

from .ladder import TemperedGibbs, inverse_temperatures, tempered_energy
from .pt import ParallelTempering
from .tt import TemperedTransitions

__all__ = ["ParallelTempering", "TemperedTransitions", "TemperedGibbs", "inverse_temperatures", "tempered_energy"]


@pgmdbn.hookimpl
def pgmdbn_register_engines():
    return {"pt": ParallelTempering, "tt": TemperedTransitions}
