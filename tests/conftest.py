"""Shared pytest fixtures."""
from __future__ import annotations

from pathlib import Path

import pytest

from fixtures_data import write_cub


@pytest.fixture
def cub_root(tmp_path: Path) -> Path:
    return write_cub(tmp_path / "CUB_200_2011")
