"""Small datasets written by the tests in the exact on-disk formats (shared by several test files)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_image(path: Path, width: int, height: int, *, seed: int = 0) -> Path:
    """A small real JPEG (PNG when the suffix says so) with deterministic content."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    fmt = "PNG" if path.suffix.lower() == ".png" else "JPEG"
    Image.fromarray(pixels).save(path, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return path


#: (relative path, class id 1-based, is_train, (x, y, w, h) floats as in bounding_boxes.txt, (width, height))
CUB_IMAGES = [
    ("001.Alpha/Alpha_0001.jpg", 1, 1, ("10.0", "5.0", "20.5", "30.0"), (60, 48)),
    ("001.Alpha/Alpha_0002.jpg", 1, 0, ("0.0", "0.0", "59.0", "47.0"), (60, 48)),
    ("001.Alpha/Alpha_0003.jpg", 1, 1, ("3.7", "4.2", "10.9", "11.1"), (40, 50)),
    ("002.Beta/Beta_0001.jpg", 2, 0, ("12.0", "2.0", "8.0", "9.5"), (50, 40)),
    ("002.Beta/Beta_0002.jpg", 2, 1, ("1.0", "1.0", "1.0", "1.0"), (32, 32)),
    ("002.Beta/Beta_0003.jpg", 2, 1, ("30.2", "10.0", "19.8", "20.0"), (50, 40)),
]


def write_cub(root: Path, images=CUB_IMAGES, *, segmentations: bool = False) -> Path:
    """Write a tiny CUB_200_2011 tree (official text formats, 1-based ids)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "classes.txt").write_text("1 001.Alpha\n2 002.Beta\n")
    lines = {"images.txt": [], "image_class_labels.txt": [], "train_test_split.txt": [], "bounding_boxes.txt": []}
    for k, (rel, cls, is_train, box, (w, h)) in enumerate(images, start=1):
        lines["images.txt"].append(f"{k} {rel}")
        lines["image_class_labels.txt"].append(f"{k} {cls}")
        lines["train_test_split.txt"].append(f"{k} {is_train}")
        lines["bounding_boxes.txt"].append(f"{k} {' '.join(box)}")
        write_image(root / "images" / rel, w, h, seed=k)
        if segmentations:
            seg = root / "segmentations" / (rel.rsplit(".", 1)[0] + ".png")
            seg.parent.mkdir(parents=True, exist_ok=True)
            mask = np.zeros((h, w), dtype=np.uint8)
            mask[h // 4: h // 2, w // 4: w // 2] = 255
            Image.fromarray(mask).save(seg)
    for name, content in lines.items():
        (root / name).write_text("\n".join(content) + "\n")
    return root



def write_split(meta_dir: Path, files: dict[str, str]) -> Path:
    """Write raw metadata files into ``meta_dir``."""
    meta_dir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (meta_dir / name).write_text(text)
    return meta_dir


VALID_SPLIT = {
    "image_ids.txt": "a/1.jpg\na/2.jpg\nb/3.jpg\n",
    "class_labels.txt": "a/1.jpg,0\na/2.jpg,0\nb/3.jpg,1\n",
    "image_sizes.txt": "a/1.jpg,500,300\na/2.jpg,40,60\nb/3.jpg,10,10\n",
    "localization.txt": "a/1.jpg,156,163,318,230\na/1.jpg,23,12,101,259\na/2.jpg,0,0,40,60\nb/3.jpg,1,2,3,4\n",
}
