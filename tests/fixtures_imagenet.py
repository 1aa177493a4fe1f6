"""Tiny ImageNet-layout trees written in the exact on-disk formats (JPEGs, Pascal-VOC XML, LOC_*.csv/txt)."""
from __future__ import annotations

from pathlib import Path


from fixtures_data import write_image  # noqa: F401  (re-exported for the ImageNet tests)

#: Synsets with their LOC_synset_mapping.txt names; listed out of sorted order on purpose.
SYNSETS = {
    "n01484850": "great white shark, white shark, man-eater",
    "n01440764": "tench, Tinca tinca",
    "n01443537": "goldfish, Carassius auratus",
}
SORTED_SYNSETS = sorted(SYNSETS)  # label order: n01440764=0, n01443537=1, n01484850=2

#: train/<synset>/<file name> -> (width, height); mixed extensions and letter case.
TRAIN_IMAGES = {
    "n01440764": {"n01440764_10026.JPEG": (40, 30), "n01440764_10027.JPEG": (32, 44),
                  "n01440764_10029.jpg": (50, 36)},
    "n01443537": {"n01443537_1.JPEG": (30, 30), "n01443537_2.jpeg": (44, 28), "n01443537_3.PNG": (24, 36)},
    "n01484850": {"n01484850_7.JPEG": (36, 40), "n01484850_8.JPEG": (40, 24)},
}

#: val images: name -> (width, height, synset, boxes); non-square sizes, several boxes per image.
VAL_IMAGES = {
    "ILSVRC2012_val_00000001": (60, 40, "n01443537", [(5, 4, 30, 22), (31, 10, 59, 39)]),
    "ILSVRC2012_val_00000002": (40, 56, "n01440764", [(0, 0, 40, 56)]),
    "ILSVRC2012_val_00000003": (50, 30, "n01484850", [(1, 2, 3, 4), (10, 5, 49, 29), (0, 0, 25, 15)]),
    "ILSVRC2012_val_00000004": (36, 48, "n01440764", [(20, 30, 36, 48), (2, 3, 18, 20)]),
}

#: ImageNetV2-style fullsup images: "<class index>/<name>" -> (width, height, boxes).
FULLSUP_IMAGES = {
    "0/0.jpeg": (48, 32, [(1, 2, 47, 31), (3, 3, 10, 10)]),
    "0/1.jpeg": (32, 40, [(0, 0, 32, 40)]),
    "1/0.jpeg": (40, 40, [(5, 5, 20, 30)]),
    "2/0.jpeg": (44, 30, [(4, 1, 40, 29), (0, 0, 2, 2), (30, 10, 44, 30)]),
}


def truncate(path: Path, nbytes: int = 20) -> None:
    """Cut the last ``nbytes`` off a file (an interrupted copy)."""
    data = path.read_bytes()
    path.write_bytes(data[:-nbytes])


def voc_xml(name: str, width: int, height: int, objects: list[tuple[str, tuple]], *, filename: str | None = None
            ) -> str:
    """The text of an ILSVRC2012_bbox_val-style Pascal-VOC file."""
    lines = ["<annotation>", "\t<folder>val</folder>", f"\t<filename>{filename or name}</filename>",
             "\t<source>", "\t\t<database>ILSVRC_2012</database>", "\t</source>",
             "\t<size>", f"\t\t<width>{width}</width>", f"\t\t<height>{height}</height>", "\t\t<depth>3</depth>",
             "\t</size>", "\t<segmented>0</segmented>"]
    for synset, (x0, y0, x1, y1) in objects:
        lines += ["\t<object>", f"\t\t<name>{synset}</name>", "\t\t<pose>Unspecified</pose>",
                  "\t\t<truncated>0</truncated>", "\t\t<difficult>0</difficult>", "\t\t<bndbox>",
                  f"\t\t\t<xmin>{x0}</xmin>", f"\t\t\t<ymin>{y0}</ymin>", f"\t\t\t<xmax>{x1}</xmax>",
                  f"\t\t\t<ymax>{y1}</ymax>", "\t\t</bndbox>", "\t</object>"]
    lines.append("</annotation>")
    return "\n".join(lines) + "\n"


#: Line of the first object's <name> and of <size> in :func:`voc_xml` output (1-based).
XML_FIRST_NAME_LINE = 14
XML_SIZE_LINE = 7


def write_xmls(folder: Path, val_images=None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, (w, h, synset, boxes) in (val_images or VAL_IMAGES).items():
        (folder / f"{name}.xml").write_text(voc_xml(name, w, h, [(synset, b) for b in boxes]))


def solution_csv(val_images=None) -> str:
    """The text of a LOC_val_solution.csv (rows deliberately not sorted)."""
    rows = ["ImageId,PredictionString"]
    for name, (_, _, synset, boxes) in sorted((val_images or VAL_IMAGES).items(), reverse=True):
        rows.append(f"{name}," + " ".join(f"{synset} {x0} {y0} {x1} {y1}" for x0, y0, x1, y1 in boxes) + " ")
    return "\r\n".join(rows) + "\r\n"


def write_imagenet(root: Path, *, annotations: str = "xml", train: bool = True, mapping: bool = False) -> Path:
    """Write a tiny ImageNet tree.

    Args:
        annotations: ``"xml"`` (files beside the images in val/), ``"csv"`` (ROOT/LOC_val_solution.csv) or
            ``"none"``.
        train: write train/<synset>/ folders.
        mapping: write ROOT/LOC_synset_mapping.txt.
    """
    root.mkdir(parents=True, exist_ok=True)
    seed = 0
    if train:
        for synset, files in TRAIN_IMAGES.items():
            for name, (w, h) in files.items():
                seed += 1
                write_image(root / "train" / synset / name, w, h, seed=seed)
        (root / "train" / "n01440764" / "notes.txt").write_text("not an image\n")
        (root / "train" / "n01440764" / "._n01440764_10026.JPEG").write_bytes(b"macOS resource fork")
    for name, (w, h, _, _) in VAL_IMAGES.items():
        seed += 1
        write_image(root / "val" / f"{name}.JPEG", w, h, seed=seed)
    if annotations == "xml":
        write_xmls(root / "val")
    elif annotations == "csv":
        (root / "LOC_val_solution.csv").write_text(solution_csv(), newline="")
    if mapping:
        (root / "LOC_synset_mapping.txt").write_text("".join(f"{s} {n}\n" for s, n in SYNSETS.items()))
    return root


def fullsup_lines(images=None, *, header: bool = True, prefix: str = "") -> str:
    rows = ["image_id,x0,y0,x1,y1"] if header else []
    for image_id, (_, _, boxes) in (images or FULLSUP_IMAGES).items():
        rows += [f"{prefix}{image_id},{x0},{y0},{x1},{y1}" for x0, y0, x1, y1 in boxes]
    return "\n".join(rows) + "\n"


def write_fullsup(folder: Path, *, boxes_file: str | None = "boxes.txt", header: bool = True, prefix: str = ""
                  ) -> Path:
    """An ImageNetV2-style folder ``<class index>/<k>.jpeg`` with its box file (wsolevaluation release form)."""
    for k, (image_id, (w, h, _)) in enumerate(FULLSUP_IMAGES.items()):
        write_image(folder / image_id, w, h, seed=100 + k)
    if boxes_file is not None:
        (folder / boxes_file).write_text(fullsup_lines(header=header, prefix=prefix))
    return folder
