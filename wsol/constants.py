"""Constants defined once for the whole package."""
from __future__ import annotations

#: ImageNet channel statistics (RGB order, for images scaled to [0, 1]); used by every dataset preset.
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

#: Default evaluation / crop size of the published WSOL protocol.
DEFAULT_IMAGE_SIZE = 224
#: wsolevaluation resizes training images to this side before the random crop.
DEFAULT_RESIZE_SIZE = 256

#: Split names used in metadata folders. "train_fullsup" is the held-out split with boxes that the protocol of
#: Choe et al. (CVPR 2020) uses to choose thresholds and hyper-parameters (wsolevaluation calls it "val").
TRAIN, TRAIN_FULLSUP, TEST = "train", "train_fullsup", "test"
SPLITS: tuple[str, ...] = (TRAIN, TRAIN_FULLSUP, TEST)
#: Suffix of a split folder whose localization.txt holds masks instead of boxes ("test" -> "test_masks").
MASK_SPLIT_SUFFIX = "_masks"

#: Name of the JSON file that ``wsol prepare`` writes at the top of a metadata folder.
DATASET_INFO_FILE = "dataset.json"
#: Optional extra file in a metadata folder: ``label,name`` per line (ignored by wsolevaluation's tools).
CLASS_NAMES_FILE = "class_names.txt"
