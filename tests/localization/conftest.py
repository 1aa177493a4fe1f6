"""Shared pytest fixtures of the localization tests."""
from __future__ import annotations

import pytest

from synthetic_maps import random_boxes, smooth_map


@pytest.fixture
def make_map():
    return smooth_map


@pytest.fixture
def make_boxes():
    return random_boxes
