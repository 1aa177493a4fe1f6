"""``wsol list``: the registered models, training methods and presets."""
from __future__ import annotations

import argparse

from wsol.cli.flags import add_common_flags

KINDS = ("models", "methods", "cams", "detectors", "presets", "specs")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("list", help="list models, methods, CAM methods, OOD detectors, presets or specs",
                              description="List the registered models, training methods, CAM methods, OOD "
                                          "detectors or presets (plugins' included), or the built-in experiment "
                                          "specs of `wsol paper run`.")
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
    elif args.kind in ("cams", "detectors"):
        from wsol.cam import CAMS
        from wsol.ood.detectors import DETECTORS

        if args.kind == "cams":
            for name in CAMS.names():
                print(f"{name:14s} {_first_line(CAMS.get(name).__doc__)}")
        for name in DETECTORS.names() if args.kind == "detectors" else ():
            det = DETECTORS.get(name)
            opts = ", ".join(det.option_names()) or "none"
            print(f"{name:14s} {_first_line(det.fn.__doc__)}  [options: {opts}]")
    elif args.kind == "specs":
        from wsol.paper.spec import builtin_specs

        for name, spec in builtin_specs().items():
            print(f"{name:24s} {', '.join(spec['methods'])} x seeds {spec.get('seeds', [0, 1, 2])}")
            print(f"{'':24s} {spec.get('description', '')}")
    else:
        from wsol.config import PRESETS

        for name in PRESETS.names():
            preset = PRESETS.get(name)
            s = preset.settings
            print(f"{name:26s} {s.get('arch', '?')} / {s.get('method', 'vanilla')}, {s.get('epochs', '?')} epochs, "
                  f"batch {s.get('batch_size', '?')}, lr {s.get('lr', '?')}")
            print(f"{'':26s} source: {preset.source}")
    return 0
