"""The ``pgmdbn`` command: demo, train, loglik, sample, graph and plugins, one module each.

Every subcommand takes ``--json`` (the machine-readable result on stdout; progress and human
text go to stderr), ``--device`` and ``--threads``. Usage errors and the errors pgmdbn raises on
purpose print one line, ``pgmdbn: error: ...``, in the command line's words (flags, not Python
argument names), and exit with status 2.
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings

from .. import distributed
from ..errors import PgmdbnError
from . import demo, graph, loglik, plugins, sample, train
from .common import CliError, bars_labels, common_options, emit, in_flags, load_data, one_line, threads

__all__ = ["main", "build_parser", "load_data", "bars_labels", "CliError"]

# Each module: add(sub, common) declares the subcommand, its run(args) returns (JSON-ready result,
# human text), and its FLAGS maps the library's argument names to the subcommand's flags.
COMMANDS = (demo, train, loglik, sample, graph, plugins)


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error on one line: ``pgmdbn: error: <what>; see pgmdbn CMD --help``."""

    def error(self, message):
        print(f"pgmdbn: error: {' '.join(message.split())}; see {self.prog} --help", file=sys.stderr)
        sys.exit(2)


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default: sys.argv[1:]); returns the exit status.

    Every failure prints one ``pgmdbn: error: ...`` line and returns 2; a broken or clashing
    installed plugin is reported (``pgmdbn: warning: ...``) and skipped, and the command goes on.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        try:
            return _main(argv)
        finally:
            for w in caught:
                if issubclass(w.category, RuntimeWarning) and "pgmdbn plugin" in str(w.message):
                    print(f"pgmdbn: warning: {' '.join(str(w.message).split())}", file=sys.stderr)


def _main(argv) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse exits on --help (0) and usage errors (2)
        return e.code if isinstance(e.code, int) else 2
    except Exception as e:  # noqa: BLE001 - e.g. a plugin that breaks listing the estimators
        print(f"pgmdbn: error: {one_line(e)}", file=sys.stderr)
        return 2
    try:
        distributed.init()  # under torchrun: one process group, data-parallel training, split estimators
        with threads(args.threads):
            result, text = args.run(args)
    except KeyboardInterrupt:
        print("pgmdbn: interrupted", file=sys.stderr)
        return 130
    except MemoryError as e:  # a limit of pgmdbn.limits, or the allocator itself
        message = in_flags(one_line(e), getattr(args, "flags", {})) if str(e) else \
            "out of memory; use a smaller model, fewer examples or chains"
        print(f"pgmdbn: error: {message}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - the promise: one line, never a traceback
        message = in_flags(one_line(e), getattr(args, "flags", {})) if isinstance(e, PgmdbnError) else one_line(e)
        if not isinstance(e, (PgmdbnError, OSError)):
            message = f"{type(e).__name__}: {message} (an unexpected failure; please report it)"
        print(f"pgmdbn: error: {message}", file=sys.stderr)
        return 2
    main_rank = distributed.is_main()
    distributed.shutdown()
    if not main_rank:  # rank 0 prints the one result
        return 0
    try:
        emit(result, text, args.json)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
    except BrokenPipeError:  # the reader stopped early (pgmdbn plugins --json | head): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of the whole command, one sub-parser per subcommand."""
    from .. import __version__

    common = common_options()
    parser = Parser(
        prog="pgmdbn", description="Deep-belief-network family models (RBM, DBN, DBM, sigmoid belief net): "
                                   "train, evaluate, sample and draw them.",
        epilog="Every command takes --json, --device and --threads; 'pgmdbn COMMAND --help' lists its options. "
               "Under torchrun (torchrun --standalone --nproc_per_node=2 -m pgmdbn train ...) train is "
               "data-parallel and loglik splits its work over the processes; docs/cli.md has the details.")
    parser.add_argument("--version", action="version", version=f"pgmdbn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.add(sub, common)
    return parser
