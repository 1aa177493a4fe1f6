"""The one place that reads model files: every checkpoint kind, safely, into a ready model.

:func:`read_torch_file` is the package's only ``torch.load`` call (``weights_only=True``); training checkpoints
(:func:`wsol.engine.checkpoint.load_checkpoint`), state dicts (:func:`wsol.models.weights.read_state_dict`) and
:func:`load_model` all go through it, so every reader gives the same distinct one-line errors:

- ``checkpoint not found`` — no such file;
- ``not a readable PyTorch ... file`` — empty, text, random bytes, a zip that is not a torch archive;
- ``refused to load ... a pickle that may run code`` — a pickle whose opcodes parse but that holds objects other
  than tensors and plain containers (detected by reading the opcodes with :mod:`pickletools`; nothing is executed);
- ``weights do not fit`` — raised by :func:`wsol.models.weights.load_state_dict_checked`, naming keys and shapes.

Architecture inference is a per-model hook: each :class:`~wsol.models.base.WSOLModel` subclass answers
:meth:`~wsol.models.base.WSOLModel.recognize_state_dict` next to its
:meth:`~wsol.models.base.WSOLModel.adapt_state_dict`; a plugin model that overrides it is recognised too.
"""
from __future__ import annotations

import hashlib
import io
import logging
import os
import pickle
import pickletools
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch

from wsol.errors import InputError
from wsol.models.base import MODELS, WSOLModel, model_classes

logger = logging.getLogger(__name__)

#: ``format`` of the files ``wsol train`` writes (``checkpoint.pt`` and ``model.pt``).
TRAIN_CHECKPOINT_FORMAT = "wsol-train-checkpoint"


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _pickle_bytes(path: Path) -> bytes:
    """The pickle stream of a torch file: ``*/data.pkl`` of a zip archive, else the file itself."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith("data.pkl")]
            return archive.read(names[0]) if names else b""
    return path.read_bytes()


def _parses_as_pickle(data: bytes) -> bool:
    """Whether ``data`` starts with a well-formed pickle (opcodes are read, never executed)."""
    if not data:
        return False
    try:
        for _ in pickletools.genops(io.BytesIO(data)):
            pass
    except Exception:  # unknown opcode, truncated stream, ...
        return False
    return True


def read_torch_file(path: str | os.PathLike, *, what: str = "checkpoint",
                    map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(path, weights_only=True)`` with distinct one-line errors (see the module docstring).

    Args:
        path: the file.
        what: the noun used in the "not found" error (``"checkpoint"``, ``"weights file"``).
        map_location: where tensors are loaded.

    Raises:
        InputError: not found, not a PyTorch file, or a pickle that may run code.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} not found", path=path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for damaged or foreign files
        failure = exc
    try:
        code = isinstance(failure, pickle.UnpicklingError) and _parses_as_pickle(_pickle_bytes(path))
    except (OSError, zipfile.BadZipFile, KeyError):
        code = False
    if code:
        raise InputError("refused to load: the file holds objects other than tensors and plain containers "
                         "(a pickle that may run code); only weights_only files are accepted", path=path) from None
    reason = " ".join(str(failure).split())[:160] or "empty file"
    if isinstance(failure, pickle.UnpicklingError):
        reason = "neither a torch archive nor a pickle"
    raise InputError(f"not a readable PyTorch {what.removesuffix(' file')} file ({type(failure).__name__}: {reason})",
                     path=path) from None


def infer_arch(state: dict[str, torch.Tensor]) -> Optional[str]:
    """The registered architecture whose model recognises these state-dict keys (``None`` when none or several)."""
    keys = frozenset(state)
    names = {n for n in (cls.recognize_state_dict(keys) for cls in model_classes()) if n is not None}
    if len(names) > 1:
        logger.warning("state-dict keys fit several architectures (%s); pass the architecture", ", ".join(sorted(names)))
    return names.pop() if len(names) == 1 else None


def _options_from_weights(arch: str, state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Builder options the weights fix (e.g. widths), from the model classes that recognise them as ``arch``."""
    keys = frozenset(state)
    options: dict[str, Any] = {}
    for cls in model_classes():
        if cls.recognize_state_dict(keys) == arch:
            options.update(cls.options_from_state_dict(state))
    return options


@dataclass
class LoadedModel:
    """A model ready for evaluation and where it came from.

    Attributes:
        model: the network (on the CPU, eval mode).
        arch: registered model name.
        num_classes: size of the classifier.
        large_feature_map: the variant built.
        kind: ``"wsol-checkpoint"`` (from ``wsol train``) or ``"state-dict"`` (torchvision / wsolevaluation layout).
        sha256: hex digest of the file.
        image_size: the training input size recorded in a ``wsol train`` checkpoint, else ``None``.
    """

    model: WSOLModel
    arch: str
    num_classes: int
    large_feature_map: bool
    kind: str
    sha256: str
    image_size: Optional[int] = None

    def provenance(self) -> dict[str, Any]:
        """The checkpoint fields every job records: sha256, kind, arch, classes, variant."""
        return {"checkpoint_sha256": self.sha256, "checkpoint_kind": self.kind, "arch": self.arch,
                "num_classes": self.num_classes, "large_feature_map": self.large_feature_map}


def load_model(path: str | os.PathLike, *, arch: Optional[str] = None,
               large_feature_map: Optional[bool] = None) -> LoadedModel:
    """Build and fill a model from a ``wsol train`` checkpoint or a plain state dict (``weights_only=True``).

    Args:
        path: ``model.pt`` / ``checkpoint.pt`` of ``wsol train``, or a state dict (torchvision layout, wsolevaluation
            CAM checkpoint ``{"state_dict": ...}``, ``module.`` prefixes tolerated).
        arch: the registered architecture; default: the checkpoint's, else inferred from the keys.
        large_feature_map: the stride-8 variant; default: the checkpoint's, else ``False``.

    The class count comes from the classifier's weight; model options (e.g. widths) from a ``wsol train`` config,
    else from the weights' shapes where the model class can read them (``options_from_state_dict``).

    Raises:
        InputError: not found, not a PyTorch file, refused pickle, unknown architecture, no classifier, weights that
            do not fit the architecture (naming keys and shapes).
    """
    from wsol.models.builder import build_model
    from wsol.models.weights import load_state_dict_checked, state_dict_from

    path = Path(path)
    raw = read_torch_file(path)
    digest = sha256_file(path)
    options: dict[str, Any] = {}
    kind, image_size = "state-dict", None
    if isinstance(raw, dict) and raw.get("format") == TRAIN_CHECKPOINT_FORMAT:
        kind = "wsol-checkpoint"
        config = raw.get("config", {})
        arch = arch or raw.get("arch")
        options = dict(config.get("model", {}))
        image_size = int(config["image_size"]) if "image_size" in config else None
        if large_feature_map is None:
            large_feature_map = bool(config.get("large_feature_map", False))
        state = dict(raw["model"])
    else:
        state = state_dict_from(raw, path=path)
    arch = arch or infer_arch(state)
    if arch is None:
        raise InputError("cannot tell the architecture from the weights; pass --arch", path=path,
                         value=f"one of {', '.join(MODELS.names())}")
    if arch not in MODELS:
        raise InputError("unknown architecture", path=path, value=f"{arch} (valid: {', '.join(MODELS.names())})")
    options = {**_options_from_weights(arch, state), **options}
    weight = state.get("fc.weight", state.get("module.fc.weight"))
    if weight is None or weight.ndim != 2:
        raise InputError("the weights have no classifier (fc.weight); CAMs need one", path=path)
    num_classes = int(weight.shape[0])
    try:
        model = build_model(arch, num_classes=num_classes, large_feature_map=bool(large_feature_map), **options)
    except ValueError as e:
        raise InputError(f"cannot build {arch} from the checkpoint's settings: {e}", path=path) from None
    load_state_dict_checked(model, state, source=str(path))
    model.eval()
    return LoadedModel(model=model, arch=arch, num_classes=num_classes, large_feature_map=bool(large_feature_map),
                       kind=kind, sha256=digest, image_size=image_size)
