"""Errors that reach the user as one line.

Every problem with user input (a metadata file, an image, a dataset tree, a command-line value) is raised as
:class:`InputError`, whose ``str()`` is a single line ``FILE:LINE: what is wrong (value)``. The CLI prints that line
and exits with status 2; it never prints a traceback for these.
"""
from __future__ import annotations

import os
from typing import Any

_UNSET = object()


class WsolError(Exception):
    """Base class of the errors wsol reports to the user as one line (no traceback)."""


class InputError(WsolError, ValueError):
    """Bad user input, located as precisely as we can.

    Args:
        what: what is wrong, in a few words ("box outside the image").
        path: the file (or folder) the problem is in.
        line: 1-based line number inside ``path``.
        value: the offending value; shown with ``repr`` so that empty strings and whitespace are visible.
    """

    def __init__(self, what: str, *, path: str | os.PathLike | None = None, line: int | None = None,
                 value: Any = _UNSET) -> None:
        self.what = what
        self.path = None if path is None else os.fspath(path)
        self.line = line
        self.value = value
        super().__init__(self._format())

    def _format(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path if self.line is None else f"{self.path}:{self.line}"
            where += ": "
        text = f"{where}{self.what}"
        if self.value is not _UNSET:
            text += f" ({self.value!r})"
        return " ".join(text.splitlines())

    @property
    def has_value(self) -> bool:
        return self.value is not _UNSET
