"""The built-in plugin: registers pgmdbn's own unit types, engines and estimators."""
from .hooks import hookimpl


@hookimpl
def pgmdbn_register_units():
    from .units import Bernoulli, Gaussian, ReplicatedSoftmax, Softmax

    return {cls.name: cls for cls in (Bernoulli, Gaussian, Softmax, ReplicatedSoftmax)}


@hookimpl
def pgmdbn_register_engines():
    from .engines.contrastive import CD, PCD
    from .engines.gibbs import BlockGibbs

    return {"cd": CD, "pcd": PCD, "gibbs": BlockGibbs}


@hookimpl
def pgmdbn_register_estimators():
    from .estimators.ais import ais, raise_
    from .estimators.exact import exact

    return {"exact": exact, "ais": ais, "raise": raise_}
