"""The built-in plugin: registers pgmdbn's own unit types, engines and estimators."""
from .hooks import hookimpl


@hookimpl
def pgmdbn_register_units():
    from .units import Bernoulli, Gaussian, ReplicatedSoftmax, Softmax

    return {cls.name: cls for cls in (Bernoulli, Gaussian, Softmax, ReplicatedSoftmax)}


@hookimpl
def pgmdbn_register_engines():
    from .engines.ancestral import Ancestral
    from .engines.contrastive import CD, PCD
    from .engines.gibbs import BlockGibbs
    from .engines.dbm import DBMTrainer
    from .engines.meanfield import MeanField
    from .engines.updown import UpDown
    from .engines.wakesleep import ReweightedWakeSleep, WakeSleep

    return {"cd": CD, "pcd": PCD, "gibbs": BlockGibbs, "meanfield": MeanField, "ancestral": Ancestral,
            "updown": UpDown, "wakesleep": WakeSleep, "rws": ReweightedWakeSleep, "dbm": DBMTrainer}


@hookimpl
def pgmdbn_register_estimators():
    from .estimators.ais import ais, raise_
    from .estimators.directed import bound, iwae
    from .estimators.exact import exact
    from .estimators.pseudolikelihood import pseudo_likelihood

    return {"exact": exact, "ais": ais, "raise": raise_, "bound": bound, "iwae": iwae, "pl": pseudo_likelihood}
