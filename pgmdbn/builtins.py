"""The built-in plugin: pgmdbn's own unit types, factor types, engines and estimators, registered
through the same hooks as any third-party plugin (the package registers it on import)."""
from .engines.ancestral import Ancestral
from .engines.contrastive import CD, PCD
from .engines.dbm import DBMTrainer
from .engines.gibbs import BlockGibbs
from .engines.meanfield import MeanField
from .engines.updown import UpDown
from .engines.wakesleep import ReweightedWakeSleep, WakeSleep
from .estimators.ais import ais, raise_
from .estimators.directed import bound, iwae
from .estimators.exact import exact
from .estimators.pseudolikelihood import pseudo_likelihood
from .factors import Centered, Conv2d, Dense
from .hooks import hookimpl
from .units import Bernoulli, Gaussian, PooledBernoulli, ReplicatedSoftmax, Softmax


@hookimpl
def pgmdbn_register_units():
    return {cls.name: cls for cls in (Bernoulli, Gaussian, Softmax, ReplicatedSoftmax, PooledBernoulli)}


@hookimpl
def pgmdbn_register_factors():
    return {Dense.name: Dense, Centered.name: Centered, Conv2d.name: Conv2d}


@hookimpl
def pgmdbn_register_engines():
    return {"cd": CD, "pcd": PCD, "gibbs": BlockGibbs, "meanfield": MeanField, "ancestral": Ancestral,
            "updown": UpDown, "wakesleep": WakeSleep, "rws": ReweightedWakeSleep, "dbm": DBMTrainer}


@hookimpl
def pgmdbn_register_estimators():
    return {"exact": exact, "ais": ais, "raise": raise_, "bound": bound, "iwae": iwae, "pl": pseudo_likelihood}
