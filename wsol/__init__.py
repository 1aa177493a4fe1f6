"""wsol: weakly-supervised object localization research suite.

The public API is re-exported here; everything else is importable from its submodule.
"""
from __future__ import annotations

__version__ = "0.1.0"

from wsol.data.metadata import Metadata, MaskAnnotation, check_metadata, read_metadata, write_metadata  # noqa: E402
from wsol.errors import InputError, WsolError  # noqa: E402

__all__ = ["__version__", "Metadata", "MaskAnnotation", "read_metadata", "write_metadata", "check_metadata",
           "InputError", "WsolError"]
