"""Shared pytest fixtures: a tiny CUB tree, and a tiny embedded digits set (32 px, 96 train / 40 test) built once."""
from __future__ import annotations

from pathlib import Path

import pytest

from fixtures_data import write_cub
from wsol.data.digits import DigitsConfig, prepare_digits


@pytest.fixture
def cub_root(tmp_path: Path) -> Path:
    return write_cub(tmp_path / "CUB_200_2011")


@pytest.fixture(scope="session")
def tiny_digits(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("digits") / "digits"
    prepare_digits(root, config=DigitsConfig(image_size=32, num_train=96, num_fullsup=10, num_test=40, seed=3,
                                                  num_ood=8),
                   workers=1)
    return root


@pytest.fixture
def tiny_overrides(tiny_digits: Path) -> list[str]:
    """``--set`` values that make a digits preset run in about a second."""
    return [f"data={tiny_digits}", "image_size=32", "batch_size=16", "epochs=2", "max_steps_per_epoch=3",
            "log_every=1", "warmup_epochs=0.5"]
