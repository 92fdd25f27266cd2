"""Hot loops captured whole: ``torch.compile`` over the pure step functions of the engines and
estimators (a PCD update, a block of Gibbs sweeps, a block of AIS temperatures).

On a GPU the mode is "reduce-overhead": the step runs as a CUDA graph, one launch instead of one
per kernel, which is where the time of small matrix products goes. On the CPU, inductor fuses
the elementwise work between the matrix products. A graph cannot take a ``torch.Generator``, so
the random numbers of a step are drawn ahead of it, in bulk (``Units.noise``); the uncompiled
path runs the same function on the same numbers, which keeps it for debugging and comparison.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from .errors import ArgumentError
from .validation import flag


def compiled(fn: Callable, device, enabled) -> Callable:
    """``fn`` compiled for ``device`` when ``enabled`` (a bool, checked), else ``fn`` itself.

    Compilation happens at the first call; a toolchain that cannot compile (no C++ compiler for
    inductor on the CPU, no Triton on the GPU) is reported there as an ArgumentError naming the
    option to turn off."""
    if not flag("compile", enabled):
        return fn
    cuda = torch.device(device).type == "cuda"
    graph = torch.compile(fn, mode="reduce-overhead" if cuda else None)

    def run(*args, **kwargs):
        if cuda:  # each call is a new step: a CUDA graph's outputs fed back in (chains) are not overwritten early
            torch.compiler.cudagraph_mark_step_begin()
        try:
            return graph(*args, **kwargs)
        except torch._dynamo.exc.BackendCompilerFailed as error:
            raise ArgumentError(f"compile=True: torch.compile could not build {fn.__qualname__} on {device} "
                                f"({type(error.inner_exception).__name__}: {str(error.inner_exception)[:200]}); "
                                f"install the compiler toolchain torch.compile needs, or pass compile=False") from error
    return run
