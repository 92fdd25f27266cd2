"""Factor types: the edges of a model graph; see base.Factor for the contract every type honours."""
from .base import Factor
from .centered import Centered
from .conv2d import Conv2d
from .dense import Dense

__all__ = ["Factor", "Dense", "Centered", "Conv2d"]
