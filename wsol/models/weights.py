"""Loading weights into a :class:`~wsol.models.base.WSOLModel`: torchvision downloads and local state dicts.

Local files are read with ``torch.load(path, map_location="cpu", weights_only=True)``: a pickle that carries code
is refused. Tolerated, and converted: a ``module.`` (DataParallel/DDP) or ``_orig_mod.`` (``torch.compile``) key
prefix; a dict wrapped as ``{"state_dict": ...}`` or ``{"model": ...}`` (wsolevaluation checkpoints carry
``architecture``, ``epoch``, ``state_dict``, ``optimizer``); the foreign layouts each model knows
(:meth:`~wsol.models.base.WSOLModel.adapt_state_dict`: torchvision VGG/Inception, wsolevaluation Inception); a
classifier (``fc``) whose class count differs or that is absent, which is (re-)initialised and logged.
Everything else is strict: unexpected keys, missing keys and shape mismatches raise
:class:`~wsol.errors.InputError` naming the file and a few keys.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import torch

from wsol.errors import InputError
from wsol.models.base import WSOLModel

logger = logging.getLogger(__name__)

#: ``pretrained=`` value that selects torchvision's ImageNet weights.
TORCHVISION = "torchvision"

_WRAPPER_KEYS = ("state_dict", "model")
_PREFIXES = ("module.", "_orig_mod.")
_CLASSIFIER_KEYS = ("fc.weight", "fc.bias")
_SHOWN_KEYS = 5


def load_weights(model: WSOLModel, source: str | os.PathLike) -> WSOLModel:
    """Load ``source`` into ``model`` in place.

    Args:
        model: the model to fill.
        source: ``"torchvision"`` for the model's torchvision ImageNet weights (needs network access or a
            populated torch hub cache), or the path of a local state dict / checkpoint.

    Returns:
        ``model``.

    Raises:
        InputError: the file is missing, unreadable, carries code, or does not fit the model; the torchvision
            download failed.
        ValueError: the model has no torchvision weights.
    """
    if isinstance(source, str) and source == TORCHVISION:
        weights = model.torchvision_weights()
        if weights is None:
            raise ValueError(f"model {type(model).__name__} has no torchvision weights")
        state_dict = download_torchvision_state_dict(weights)
        load_state_dict_checked(model, state_dict, source=f"torchvision:{weights}")
        return model
    if not isinstance(source, (str, os.PathLike)):
        raise ValueError(f"pretrained must be None, {TORCHVISION!r} or a file path, got {source!r}")
    state_dict = read_state_dict(source)
    load_state_dict_checked(model, state_dict, source=os.fspath(source))
    return model


def download_torchvision_state_dict(weights: Any) -> dict[str, torch.Tensor]:
    """Fetch a torchvision weights enum member's state dict (through the torch hub cache).

    Raises:
        InputError: one line, when the download (or the cache) fails.
    """
    try:
        return weights.get_state_dict(progress=False, check_hash=True)
    except Exception as exc:  # URLError, HTTPError, OSError, hash mismatch (RuntimeError), ...
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise InputError(f"could not download torchvision weights {weights} ({type(exc).__name__}: {reason}); "
                         "without network access pass a local state dict as pretrained=PATH",
                         value=weights.url) from None


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state dict from ``path`` safely, unwrapping checkpoints and stripping ``module.`` prefixes.

    Returns:
        ``{name: tensor}`` on the CPU.

    Raises:
        InputError: missing file, not a PyTorch file, a pickle with code, not a state dict
            (see :func:`wsol.models.loading.read_torch_file`).
    """
    from wsol.models.loading import read_torch_file

    return state_dict_from(read_torch_file(path, what="weights file"), path=path)


def state_dict_from(obj: Any, *, path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The state dict inside a loaded object: unwraps ``{"state_dict": ...}`` / ``{"model": ...}``, strips prefixes.

    Raises:
        InputError: not a non-empty dict of tensors (``path`` is named in the message).
    """
    for _ in range(3):
        if isinstance(obj, Mapping):
            inner = next((obj[k] for k in _WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), None)
            if inner is not None and not all(isinstance(v, torch.Tensor) for v in obj.values()):
                obj = inner
                continue
        break
    if not isinstance(obj, Mapping) or not obj:
        raise InputError("not a state dict (expected a non-empty dict of tensors)", path=path,
                         value=type(obj).__name__)
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise InputError(f"not a state dict: non-tensor entries {_show(bad)}", path=path)
    return {_strip_prefixes(k): v for k, v in obj.items()}


def load_state_dict_checked(model: WSOLModel, state_dict: Mapping[str, torch.Tensor], *, source: str) -> None:
    """Load ``state_dict`` into ``model`` strictly, except for the classifier (see the module docstring).

    Args:
        model: the model to fill, in place.
        state_dict: keys may carry a ``module.`` prefix; not modified.
        source: the file (or ``torchvision:...``) named in errors and log lines.

    Raises:
        InputError: unexpected keys, missing keys or shape mismatches, naming ``source`` and a few keys.
    """
    state_dict, allowed_missing = model.adapt_state_dict({_strip_prefixes(k): v for k, v in state_dict.items()})
    expected = model.state_dict()
    reinit_classifier = False
    classifier = {k: state_dict.get(k) for k in _CLASSIFIER_KEYS}
    if any(v is None for v in classifier.values()):
        if not all(k in allowed_missing for k in _CLASSIFIER_KEYS):
            logger.info("%s: no classifier (fc) in the weights; it is initialised afresh", source)
        state_dict = {k: v for k, v in state_dict.items() if k not in _CLASSIFIER_KEYS}
        reinit_classifier = True
    else:
        weight = classifier["fc.weight"]
        if weight.ndim == 2 and weight.shape[1] == model.feature_dim and weight.shape[0] != model.num_classes:
            logger.warning("%s: classifier has %d classes, the model %d; the classifier is re-initialised",
                           source, weight.shape[0], model.num_classes)
            state_dict = {k: v for k, v in state_dict.items() if k not in _CLASSIFIER_KEYS}
            reinit_classifier = True

    unexpected = [k for k in state_dict if k not in expected]
    missing = [k for k in expected if k not in state_dict and k not in allowed_missing
               and k not in _CLASSIFIER_KEYS and not k.endswith(".num_batches_tracked")]
    mismatched = [f"{k} {tuple(v.shape)} vs {tuple(expected[k].shape)}" for k, v in state_dict.items()
                  if k in expected and v.shape != expected[k].shape]
    problems = []
    if unexpected:
        problems.append(f"unexpected keys {_show(unexpected)}")
    if missing:
        problems.append(f"missing keys {_show(missing)}")
    if mismatched:
        problems.append(f"shape mismatches {_show(mismatched)}")
    if problems:
        raise InputError(f"weights do not fit {type(model).__name__}: {'; '.join(problems)}", path=source)

    model.load_state_dict(state_dict, strict=False)
    if reinit_classifier:
        model.reset_classifier()
    fresh = sorted(k for k in expected if k not in state_dict and not k.endswith(".num_batches_tracked"))
    logger.info("%s: loaded %d tensors into %s%s", source, len(state_dict), type(model).__name__,
                f"; initialised afresh: {_show(fresh)}" if fresh else "")


def _strip_prefixes(key: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix):]
                changed = True
    return key


def _show(items: list[str]) -> str:
    shown = ", ".join(str(i) for i in items[:_SHOWN_KEYS])
    return shown + (f" (+{len(items) - _SHOWN_KEYS} more)" if len(items) > _SHOWN_KEYS else "")
