"""Reading a ``wsol paper run`` folder: the spec, its cells and their files, for the report.

Only files are read here; nothing is computed beyond parsing.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from wsol.errors import InputError
from wsol.paper.cell import CELL_FILE, read_json as _read_json


def _read_npz(path: Path) -> Optional[dict[str, np.ndarray]]:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError) as e:
        raise InputError(f"unreadable array file: {e}", path=path) from None


@dataclass
class Cell:
    """One finished cell's files, read on first use."""

    folder: Path
    record: dict[str, Any]
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def method(self) -> str:
        return self.record["plan"]["method"]

    @property
    def seed(self) -> int:
        return int(self.record["plan"]["seed"])

    @property
    def schedule(self) -> str:
        return self.record["plan"]["schedule"]

    def json(self, name: str) -> Optional[dict[str, Any]]:
        """``<name>.json`` of the cell (None when the cell has none)."""
        if name not in self._cache:
            self._cache[name] = _read_json(self.folder / f"{name}.json")
        return self._cache[name]

    def arrays(self, name: str) -> Optional[dict[str, Any]]:
        """``<name>.npz`` of the cell (per-image files decoded with :func:`read_per_image`)."""
        if name not in self._cache:
            path = self.folder / f"{name}.npz"
            if name.startswith("per_image") and path.is_file():
                from wsol.localization.per_image import read_per_image

                self._cache[name] = read_per_image(path)
            else:
                self._cache[name] = _read_npz(path)
        return self._cache[name]

    def curve(self) -> list[float]:
        """Test top-1 (%) after every epoch, from the training log (empty for checkpoint cells)."""
        path = self.folder / "train" / "log.jsonl"
        if not path.is_file():
            return []
        epochs: dict[int, float] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                entry = json.loads(line)
                if "eval_top1" in entry and "epoch" in entry:
                    epochs[int(entry["epoch"])] = float(entry["eval_top1"])  # a resumed epoch: the last record
        return [epochs[e] for e in sorted(epochs)]


@dataclass
class PaperRun:
    """A run folder: its spec, its finished cells (in spec order) and what is missing."""

    folder: Path
    spec: dict[str, Any]
    cells: list[Cell]
    missing: list[str]
    manifest: Optional[dict[str, Any]]

    @property
    def baseline(self) -> str:
        return self.spec["methods"][0]

    def schedules(self) -> list[str]:
        return list(self.spec["schedules"])

    def methods(self) -> list[str]:
        present = {c.method for c in self.cells}
        return [m for m in self.spec["methods"] if m in present]

    def select(self, *, schedule: str, method: str) -> list[Cell]:
        """The finished cells of one method and schedule, by seed."""
        return sorted((c for c in self.cells if c.schedule == schedule and c.method == method), key=lambda c: c.seed)


def load_run(folder: str | Path) -> PaperRun:
    """Read ``spec.json``, ``manifest.json`` and every finished cell the spec lists.

    Raises:
        InputError: not a ``wsol paper run`` folder, or unreadable files (one line).
    """
    folder = Path(folder)
    spec = _read_json(folder / "spec.json")
    if spec is None:
        raise InputError("not a `wsol paper run` folder (no spec.json)", path=folder)
    cells, missing = [], []
    for name in spec.get("cells", []):
        record = _read_json(folder / name / CELL_FILE)
        if record is None or not record.get("complete"):
            missing.append(name)
        else:
            cells.append(Cell(folder / name, record))
    if not cells:
        raise InputError("no finished cell yet (run `wsol paper run` first)", path=folder)
    return PaperRun(folder, spec, cells, missing, _read_json(folder / "manifest.json"))


__all__ = ["Cell", "PaperRun", "load_run"]
