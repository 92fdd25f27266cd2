"""Built-in unit types; see base.Units for the contract every type honours."""
from .base import Units
from .bernoulli import Bernoulli
from .gaussian import Gaussian
from .pooled import PooledBernoulli
from .replicated_softmax import ReplicatedSoftmax
from .softmax import Softmax

__all__ = ["Units", "Bernoulli", "Gaussian", "Softmax", "ReplicatedSoftmax", "PooledBernoulli"]
