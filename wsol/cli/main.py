"""Entry point of the ``wsol`` command."""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Sequence

from wsol import __version__
from wsol.cli.flags import add_common_flags
from wsol.errors import WsolError

#: Subcommand modules under ``wsol.cli``, in the order ``wsol --help`` lists them.
COMMANDS: tuple[str, ...] = ("demo", "prepare", "train", "evaluate", "merge", "score", "attack", "robustness", "ood",
                             "paper", "list")


def _add_plugin_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                        help="import MODULE first, so that what it registers (models, methods, CAMs, detectors, "
                             "presets) can be used (repeatable; see also $WSOL_PLUGINS and the wsol.plugins "
                             "entry points)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wsol", description="Weakly-supervised object localization: datasets, training, CAM evaluation.")
    parser.add_argument("--version", action="version", version=f"wsol {__version__}")
    _add_plugin_flag(parser)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMANDS:
        module = importlib.import_module(f"wsol.cli.{name}")
        module.add_parser(subparsers)
    return parser


def show_progress(args: argparse.Namespace) -> bool:
    """Progress bars only on a terminal and without ``--quiet``."""
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def _configure_logging(args: argparse.Namespace) -> None:
    level = logging.WARNING if getattr(args, "quiet", False) else logging.INFO
    if getattr(args, "verbose", False):
        level = logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr, force=True)


def _load_plugins(argv: Sequence[str] | None) -> None:
    """Import plugins before the parser is built: their names must be valid ``choices``."""
    from wsol.plugins import load_plugins

    pre = argparse.ArgumentParser(add_help=False)
    _add_plugin_flag(pre)
    known, _ = pre.parse_known_args(argv)
    load_plugins(known.plugin)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (0 ok, 1 failed check, 2 bad input or usage)."""
    try:
        _load_plugins(argv)
    except WsolError as e:
        print(f"wsol: error: {e}", file=sys.stderr)
        return 2
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


__all__ = ["main", "build_parser", "show_progress", "add_common_flags", "COMMANDS"]
