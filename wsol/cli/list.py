"""``wsol list``: the registered models, training methods and presets."""
from __future__ import annotations

import argparse

from wsol.cli.main import add_common_flags

KINDS = ("models", "methods", "presets")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("list", help="list models, methods or presets",
                              description="List the registered models, training methods or presets.")
    p.add_argument("kind", choices=KINDS)
    add_common_flags(p)
    p.set_defaults(run=_run)


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


def _run(args: argparse.Namespace) -> int:
    if args.kind == "models":
        from wsol.models.base import MODELS
        from wsol.models.builder import model_options

        for name in MODELS.names():
            opts = ", ".join(model_options(name))
            print(f"{name:14s} {_first_line(MODELS.get(name).__doc__)}  [options: {opts}]")
    elif args.kind == "methods":
        import inspect

        from wsol.methods.base import METHODS

        for name in METHODS.names():
            cls = METHODS.get(name)
            params = [p for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self"]
            opts = ", ".join(f"{p.name}={p.default!r}" for p in params)
            print(f"{name:16s} {_first_line(cls.__doc__)}  [options: {opts or 'none'}]")
    else:
        from wsol.config import PRESETS

        for name in PRESETS.names():
            preset = PRESETS.get(name)
            s = preset.settings
            print(f"{name:26s} {s.get('arch', '?')} / {s.get('method', 'vanilla')}, {s.get('epochs', '?')} epochs, "
                  f"batch {s.get('batch_size', '?')}, lr {s.get('lr', '?')}")
            print(f"{'':26s} source: {preset.source}")
    return 0
