"""Entry point of the ``wsol`` command."""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Sequence

from wsol import __version__
from wsol.errors import WsolError

#: Subcommand modules under ``wsol.cli``, in the order ``wsol --help`` lists them.
COMMANDS: tuple[str, ...] = ("demo", "prepare", "train", "evaluate", "merge", "score", "attack", "robustness", "ood", "list")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wsol", description="Weakly-supervised object localization: datasets, training, CAM evaluation.")
    parser.add_argument("--version", action="version", version=f"wsol {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMANDS:
        module = importlib.import_module(f"wsol.cli.{name}")
        module.add_parser(subparsers)
    return parser


def add_common_flags(parser: argparse.ArgumentParser) -> None:
    """Flags every subcommand takes: ``--quiet`` and ``--verbose``."""
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars, warnings only")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def show_progress(args: argparse.Namespace) -> bool:
    """Progress bars only on a terminal and without ``--quiet``."""
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def _configure_logging(args: argparse.Namespace) -> None:
    level = logging.WARNING if getattr(args, "quiet", False) else logging.INFO
    if getattr(args, "verbose", False):
        level = logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr, force=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (0 ok, 1 failed check, 2 bad input or usage)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args)
    try:
        return int(args.run(args) or 0)
    except WsolError as e:
        print(f"wsol {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("wsol: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`
        sys.stderr.close()
        return 0
