"""``wsol prepare``: convert CUB-200-2011 / ImageNet / OpenImages30k trees to metadata, build the digits set, or check
metadata."""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from wsol.cli.main import add_common_flags, show_progress

logger = logging.getLogger("wsol.prepare")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "prepare", help="convert a dataset to wsolevaluation metadata, build the digits set, or --check metadata",
        description="Convert a dataset tree to wsolevaluation-format metadata (one folder per split), build the "
                    "embedded digits dataset, or validate existing metadata with --check.")
    p.add_argument("--check", metavar="META_DIR", type=Path,
                   help="only validate a metadata split folder (or a folder of splits); exit 1 on any problem")
    p.add_argument("--num-classes", type=int, default=None, help="with --check: labels must be below this")
    p.add_argument("--mask-root", type=Path, metavar="DIR",
                   help="with --check: also check mask splits' files under DIR (default: the mask root recorded in "
                        "dataset.json, if any): missing or unreadable files, sizes that disagree")
    add_common_flags(p)
    p.set_defaults(run=_run_check)
    sub = p.add_subparsers(dest="dataset", metavar="DATASET")

    c = sub.add_parser("cub", help="CUB-200-2011 (official layout)",
                       description="Convert the official CUB_200_2011 layout (images.txt, image_class_labels.txt, "
                                   "train_test_split.txt, bounding_boxes.txt, classes.txt, images/, optional "
                                   "segmentations/).")
    c.add_argument("root", type=Path, help="the CUB_200_2011 folder")
    c.add_argument("--out", type=Path, required=True, metavar="META_DIR")
    g = c.add_mutually_exclusive_group()
    g.add_argument("--fullsup", type=Path, metavar="ROOT2",
                   help="held-out split with boxes (train_fullsup): a folder in CUB layout without "
                        "train_test_split.txt (images.txt, image_class_labels.txt, bounding_boxes.txt, images/)")
    g.add_argument("--fullsup-per-class", type=int, default=0, metavar="N",
                   help="carve N images per class out of train as train_fullsup (deviates from the published "
                        "split; noted in the metadata README)")
    c.add_argument("--seed", type=int, default=0, help="seed for --fullsup-per-class")
    c.add_argument("--skip-bad-images", action="store_true",
                   help="skip unreadable or truncated images (counted in dataset.json) instead of failing")
    add_common_flags(c)
    c.set_defaults(run=_run_cub)

    i = sub.add_parser("imagenet", help="ImageNet (ILSVRC2012) train/val with boxes",
                       description="Convert an ImageNet tree: train/<synset>/*.JPEG and "
                                   "val/ILSVRC2012_val_*.JPEG with boxes from per-image Pascal-VOC XML or "
                                   "LOC_val_solution.csv.")
    i.add_argument("root", type=Path, help="folder holding train/ and val/")
    i.add_argument("--out", type=Path, required=True, metavar="META_DIR")
    i.add_argument("--val-annotations", type=Path, metavar="PATH",
                   help="folder of per-image XML files or a LOC_val_solution.csv (found automatically when the "
                        "XML files sit in val/ or the CSV at ROOT/LOC_val_solution.csv)")
    i.add_argument("--train-proxy", type=int, default=0, metavar="K",
                   help="keep K training images per class (0 = all)")
    i.add_argument("--fullsup", type=Path, metavar="ROOT2",
                   help="ImageNetV2-style held-out folder (<class index>/<name>.jpeg) used as train_fullsup")
    i.add_argument("--fullsup-boxes", type=Path, metavar="FILE",
                   help="box file of --fullsup (default: ROOT2/boxes.txt)")
    i.add_argument("--seed", type=int, default=0, help="seed for --train-proxy")
    i.add_argument("--skip-bad-images", action="store_true",
                   help="skip unreadable or truncated images (counted in dataset.json) instead of failing")
    add_common_flags(i)
    i.set_defaults(run=_run_imagenet)

    o = sub.add_parser("openimages", help="OpenImages30k with masks (wsolevaluation's release)",
                       description="Convert wsolevaluation's OpenImages folder: train/<class>/<id>.jpg (optional), "
                                   "val/ and test/ <class>/<id>.jpg with <id>_m*.png instance masks and optional "
                                   "<id>_ignore.png. val/ becomes train_fullsup and test/ test; labels follow the "
                                   "sorted class folders, ids keep the train/, val/, test/ prefix (as the released "
                                   "metadata).")
    o.add_argument("root", type=Path, help="the OpenImages folder (holding test/ and optionally train/, val/)")
    o.add_argument("--out", type=Path, required=True, metavar="META_DIR")
    o.add_argument("--class-names", type=Path, metavar="FILE",
                   help="CSV of '<MID>,<name>' lines (such as class-descriptions-boxable.csv) naming every class "
                        "folder (default: the names are the folder names)")
    o.add_argument("--fullsup-per-class", type=int, default=0, metavar="N",
                   help="keep N images per class of val/ as train_fullsup (default 0 = all 25), chosen with --seed")
    o.add_argument("--seed", type=int, default=0, help="seed for --fullsup-per-class")
    o.add_argument("--skip-bad-images", action="store_true",
                   help="skip unreadable or truncated images, images without masks and images whose masks are "
                        "unreadable or of another size (counted in dataset.json) instead of failing")
    add_common_flags(o)
    o.set_defaults(run=_run_openimages)

    d = sub.add_parser("digits", help="build the embedded digits localization dataset (no download)",
                       description="Generate the embedded digits dataset from scikit-learn's handwritten digits "
                                   "pasted on crops of its sample photographs, written as a CUB_200_2011-layout "
                                   "tree and converted like CUB. Same seed, same bytes.")
    d.add_argument("--out", type=Path, required=True, metavar="ROOT")
    d.add_argument("--image-size", type=int, default=64)
    d.add_argument("--num-classes", type=int, default=10, choices=range(2, 11), metavar="{2..10}")
    d.add_argument("--num-train", type=int, default=5000)
    d.add_argument("--num-fullsup", type=int, default=500)
    d.add_argument("--num-test", type=int, default=1000)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--ood", type=int, nargs="?", const=-1, default=None, metavar="N",
                   help="background-only crops (no digit) written to ROOT/ood for OOD evaluation (default 1000, "
                        "as `wsol demo` builds; --ood without N: the test size; --ood 0: none)")
    add_common_flags(d)
    d.set_defaults(run=_run_digits)


def _report(info: dict, out: Path, seconds: float) -> int:
    counts = ", ".join(f"{name} {split['num_images']}" for name, split in info["splits"].items())
    print(f"wrote {out}: {info['dataset']}, {info['num_classes']} classes; {counts} images "
          f"({info['skipped_images']} skipped) in {seconds:.1f} s")
    return 0


def _run_check(args: argparse.Namespace) -> int:
    from wsol.data.metadata import check_metadata, find_split_dirs

    if args.check is None:
        print("wsol prepare: name a dataset (cub, imagenet, openimages, digits) or --check META_DIR; see "
              "wsol prepare --help", file=sys.stderr)
        return 2
    splits = find_split_dirs(args.check)
    if not splits:
        print(f"wsol prepare: error: {args.check}: no metadata split folder (no image_ids.txt) here or below",
              file=sys.stderr)
        return 2
    from wsol.data.datasets import recorded_roots
    from wsol.data.prepare import check_mask_files

    total = 0
    for split in splits:
        problems = check_metadata(split, num_classes=args.num_classes)
        mask_root = args.mask_root if args.mask_root is not None else recorded_roots(split)[1]
        if not problems and mask_root is not None:
            problems = check_mask_files(split, mask_root)
        for problem in problems:
            print(problem, file=sys.stderr)
        total += len(problems)
        status = "ok" if not problems else f"{len(problems)} problem(s)"
        print(f"{split}: {status}")
    return 1 if total else 0


def _run_cub(args: argparse.Namespace) -> int:
    from wsol.data.cub import prepare_cub
    from wsol.data.prepare import write_prepared

    start = time.perf_counter()
    prepared = prepare_cub(args.root, fullsup_root=args.fullsup, fullsup_per_class=args.fullsup_per_class,
                           seed=args.seed, skip_bad_images=args.skip_bad_images, progress=show_progress(args))
    info = write_prepared(prepared, args.out)
    return _report(info, args.out, time.perf_counter() - start)


def _run_imagenet(args: argparse.Namespace) -> int:
    from wsol.data.imagenet import prepare_imagenet
    from wsol.data.prepare import write_prepared

    start = time.perf_counter()
    prepared = prepare_imagenet(args.root, val_annotations=args.val_annotations, train_proxy=args.train_proxy,
                                fullsup_root=args.fullsup, fullsup_boxes=args.fullsup_boxes, seed=args.seed,
                                skip_bad_images=args.skip_bad_images, progress=show_progress(args))
    info = write_prepared(prepared, args.out)
    return _report(info, args.out, time.perf_counter() - start)


def _run_openimages(args: argparse.Namespace) -> int:
    from wsol.data.openimages import prepare_openimages
    from wsol.data.prepare import write_prepared

    start = time.perf_counter()
    prepared = prepare_openimages(args.root, class_names=args.class_names, fullsup_per_class=args.fullsup_per_class,
                                  seed=args.seed, skip_bad_images=args.skip_bad_images, progress=show_progress(args))
    info = write_prepared(prepared, args.out)
    return _report(info, args.out, time.perf_counter() - start)


def _run_digits(args: argparse.Namespace) -> int:
    from wsol.data.digits import DigitsConfig, prepare_digits

    start = time.perf_counter()
    ood = {} if args.ood is None else {"num_ood": args.num_test if args.ood == -1 else args.ood}
    config = DigitsConfig(image_size=args.image_size, num_classes=args.num_classes, num_train=args.num_train,
                          num_fullsup=args.num_fullsup, num_test=args.num_test, seed=args.seed, **ood)
    info = prepare_digits(args.out, config=config, progress=show_progress(args))
    return _report(info, args.out / "metadata", time.perf_counter() - start)


__all__ = ["add_parser"]
