"""Reading the text and JSON files of datasets and metadata, with errors that name the file and the line.

Every line-oriented reader of the data layer (metadata splits, the CUB text files, the ImageNet annotation files,
``class_names.txt``) goes through :func:`text_lines`, so that they share one rule for line endings, blank lines and
undecodable bytes: a file that is not text in its encoding raises :class:`~wsol.errors.InputError` naming the file,
the first bad line and the offending bytes, never a ``UnicodeDecodeError`` traceback.
"""
from __future__ import annotations

import codecs
import json
import os
from pathlib import Path
from typing import Any, Iterator

from wsol.errors import InputError

#: Bytes shown on each side of an undecodable sequence in the error message.
_CONTEXT_BYTES = 20


def text_lines(path: str | os.PathLike, *, encoding: str = "utf-8", strip: bool = False) -> Iterator[tuple[int, str]]:
    """The non-blank lines of a text file with their 1-based line numbers.

    Lines end at ``\\n``, ``\\r\\n`` or ``\\r`` (Python's universal newlines); a line holding only whitespace is
    skipped but still counted.

    Args:
        path: the file.
        encoding: its encoding; ``"utf-8-sig"`` also accepts (and drops) a byte-order mark.
        strip: remove surrounding whitespace; otherwise only the line ending is removed.

    Yields:
        ``(line number, line)``.

    Raises:
        InputError: the file is missing, or is not text in ``encoding`` (file, first bad line, offending bytes).
    """
    path = Path(path)
    try:
        with open(path, encoding=encoding, newline="") as f:
            for number, raw in enumerate(f, start=1):
                line = raw.strip() if strip else raw.rstrip("\r\n")
                if line and not line.isspace():
                    yield number, line
    except FileNotFoundError:
        raise InputError("file not found", path=path) from None
    except UnicodeDecodeError as e:
        raise _decode_error(path, encoding, e) from None


def _decode_error(path: Path, encoding: str, error: UnicodeDecodeError) -> InputError:
    """Locate the first undecodable line of ``path`` (a second, binary pass: only on failure)."""
    label = "UTF-8" if codecs.lookup(encoding).name.startswith("utf-8") else encoding
    decoder = codecs.getincrementaldecoder(encoding)()
    number, raw, offset = 0, b"", 0
    try:
        with open(path, "rb") as f:
            for number, raw in enumerate(f, start=1):
                decoder.decode(raw)
            offset = len(raw) - len(decoder.getstate()[0])  # an incomplete sequence at the very end of the file
            decoder.decode(b"", final=True)
    except UnicodeDecodeError as e:
        start = max(0, min(offset + e.start, len(raw)))
        excerpt = raw[max(0, start - _CONTEXT_BYTES):start + _CONTEXT_BYTES].rstrip(b"\r\n")
        return InputError(f"file is not {label} text: {e.reason} at byte {start + 1} of the line", path=path,
                          line=number or None, value=excerpt)
    return InputError(f"file is not {label} text", path=path, value=str(error))


def read_json(path: str | os.PathLike) -> Any:
    """Parse a UTF-8 JSON file.

    Raises:
        InputError: the file is missing, not UTF-8 or not valid JSON (file, line, parser message).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("file not found", path=path) from None
    except UnicodeDecodeError as e:
        raise _decode_error(path, "utf-8", e) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError("invalid JSON", path=path, line=e.lineno, value=e.msg) from None


__all__ = ["text_lines", "read_json"]
