"""Image helpers: safe paths, header sizes, truncation checks, decoding."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fixtures_data import write_image
from wsol.data.images import (check_image_complete, load_mask, load_rgb, probe_image, read_image_size,
                              resolve_image_path)
from wsol.errors import InputError


def test_resolve_inside_root(tmp_path):
    (tmp_path / "a").mkdir()
    assert resolve_image_path(tmp_path, "a/b.jpg") == (tmp_path / "a" / "b.jpg").resolve()
    with pytest.raises(InputError, match=r"meta.txt:7: image id climbs out of the root with \.\. \('\.\./x.jpg'\)"):
        resolve_image_path(tmp_path, "../x.jpg", source="meta.txt", line=7)
    (tmp_path / "link").symlink_to(tmp_path.parent)
    with pytest.raises(InputError, match="resolves outside"):
        resolve_image_path(tmp_path, "link/x.jpg")


def test_sizes_from_header_non_square(tmp_path):
    write_image(tmp_path / "x.jpg", 37, 21)
    Image.fromarray(np.zeros((9, 13), np.uint8)).save(tmp_path / "y.png")
    assert read_image_size(tmp_path / "x.jpg") == (37, 21)
    assert probe_image(tmp_path / "y.png") == (13, 9)


@pytest.mark.parametrize("suffix", ["jpg", "png"])
def test_truncated_files(tmp_path, suffix):
    path = tmp_path / f"x.{suffix}"
    if suffix == "jpg":
        write_image(path, 64, 64)
    else:
        Image.fromarray(np.arange(64 * 64, dtype=np.uint8).reshape(64, 64)).save(path)
    check_image_complete(path)
    data = path.read_bytes()
    path.write_bytes(data[:-20])
    with pytest.raises(InputError, match="truncated"):
        check_image_complete(path)
    with pytest.raises(InputError, match="truncated"):
        load_rgb(path)


def test_empty_missing_and_garbage(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        probe_image(tmp_path / "empty.jpg")
    with pytest.raises(InputError, match="image file missing"):
        probe_image(tmp_path / "none.jpg")
    (tmp_path / "text.jpg").write_text("not an image")
    with pytest.raises(InputError, match="unreadable image"):
        read_image_size(tmp_path / "text.jpg")


def test_load_rgb_and_mask(tmp_path):
    Image.fromarray(np.full((5, 7), 200, np.uint8)).save(tmp_path / "g.png")
    im = load_rgb(tmp_path / "g.png")
    assert im.mode == "RGB" and im.size == (7, 5)
    mask = np.zeros((4, 6), np.uint8)
    mask[1, 2], mask[2, 3], mask[3, 5] = 255, 1, 0  # the protocol keeps value > 0.5: every non-zero pixel
    Image.fromarray(mask).save(tmp_path / "m.png")
    expected = np.zeros((4, 6), bool)
    expected[1, 2] = expected[2, 3] = True
    assert np.array_equal(load_mask(tmp_path / "m.png"), expected)
