"""Plugins: user modules that register models, training methods, CAM methods, OOD detectors, protocols or presets.

A plugin is an importable module whose import registers into the registries with their decorators (e.g.
``@MODELS.register("mynet")``). The ``wsol`` command imports, before it builds its parser (so that ``choices`` and
name checks know the new names):

1. every entry point of the group :data:`ENTRY_POINT_GROUP` of the installed packages (``[options.entry_points]
   wsol.plugins = mynet = mypackage.wsol_plugin`` in a plugin package's ``setup.cfg``);
2. the modules named in the environment variable :data:`ENV_VAR` (comma-separated), which also reaches
   ``torchrun`` workers and DataLoader processes;
3. the modules given with ``wsol --plugin MODULE`` (repeatable).

From Python, importing the module is all it takes.
"""
from __future__ import annotations

import importlib
import logging
import os
from importlib import metadata
from typing import Sequence

from wsol.errors import InputError

logger = logging.getLogger(__name__)

#: Entry-point group scanned for plugin modules.
ENTRY_POINT_GROUP = "wsol.plugins"
#: Environment variable with comma-separated plugin modules.
ENV_VAR = "WSOL_PLUGINS"

_loaded: list[str] = []


def load_plugins(modules: Sequence[str] = (), *, entry_points: bool = True, env: bool = True) -> list[str]:
    """Import the plugins (entry points, ``$WSOL_PLUGINS``, then ``modules``); each module once.

    Returns:
        the names of the modules imported by this call.

    Raises:
        InputError: a plugin that cannot be imported or that fails while registering (one line, with the cause).
    """
    names: list[tuple[str, str]] = []
    if entry_points:
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            names.append((ep.value.split(":", 1)[0], f"entry point {ep.name!r}"))
    if env:
        names += [(m.strip(), f"${ENV_VAR}") for m in os.environ.get(ENV_VAR, "").split(",") if m.strip()]
    names += [(m, "--plugin") for m in modules]
    done = []
    for name, source in names:
        if name in _loaded:
            continue
        try:
            importlib.import_module(name)
        except Exception as e:  # ImportError, or an error in the plugin's registrations
            reason = " ".join(str(e).split())[:200]
            raise InputError(f"cannot load plugin {name!r} ({source}): {type(e).__name__}: {reason}") from None
        _loaded.append(name)
        done.append(name)
        logger.debug("loaded plugin %s (%s)", name, source)
    return done


def loaded_plugins() -> list[str]:
    """The plugin modules imported so far, in order."""
    return list(_loaded)
