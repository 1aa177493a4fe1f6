"""Training configuration: one frozen dataclass, presets shipped with the package, ``key=value`` overrides.

A :class:`TrainConfig` holds every setting of a training run. It is built from a preset (``wsol list presets``;
stored in ``wsol/presets.json``, each with the source it follows), then changed with ``--method`` and
``--set key=value`` (:func:`apply_overrides`); the resolved config is saved as ``config.json`` in the run folder and
inside every checkpoint. Unknown keys, methods or models raise ``ValueError`` naming the valid ones.

Batch size and learning rate are *per process*: under ``torchrun --nproc_per_node=K`` the global batch is ``K *
batch_size`` (as in torchvision's reference scripts); scale ``lr`` yourself if you want the global recipe.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field, fields
from importlib import resources
from typing import Any, Mapping

from wsol.registry import Registry

DATASET_KINDS = ("digits", "prepared")
CROPS = ("pad_crop", "resize_random_crop", "random_resized_crop")
SCHEDULES = ("step", "cosine", "constant")
LOSSES = ("two_target", "soft")
AMP_MODES = ("off", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run.

    Attributes:
        dataset: ``"digits"`` (the embedded set, built at ``data`` when missing) or ``"prepared"`` (a folder written
            by ``wsol prepare``).
        data: the digits root (its metadata lives in ``data/metadata``) or the prepared metadata folder.
        images: image root; empty means the one recorded in the prepared folder's ``dataset.json``.
        train_split, eval_split: split folder names; ``eval_split`` is scored for accuracy after every epoch
            (empty: never).
        arch: registered model name (``wsol list models``).
        model: extra builder options of ``arch`` (e.g. ``{"width": 32}``).
        pretrained: ``""`` (random init), ``"torchvision"`` or the path of a local state dict.
        large_feature_map: stride-8 variant of the backbone.
        method: registered training method (``wsol list methods``).
        method_options: keyword options of the method (e.g. ``{"beta": 1.0, "prob": 0.5}``).
        loss: ``"two_target"`` (lam CE(a) + (1 - lam) CE(b)) or ``"soft"`` (soft-target CE); equal in value.
        label_smoothing: smoothing of the (soft) targets, 0 for none.
        image_size: side of the network input.
        resize_size: ``resize_random_crop``: side the image is resized to before the crop.
        crop: ``"pad_crop"`` (zero-pad by ``pad`` pixels, random crop; small images), ``"resize_random_crop"``
            (wsolevaluation) or ``"random_resized_crop"`` (ImageNet classification recipe).
        pad: padding of ``pad_crop`` in pixels.
        hflip: random horizontal flips.
        in_memory: decode the training and evaluation images once into memory and augment whole batches on the
            device (for small datasets such as digits); otherwise a DataLoader decodes per epoch.
        epochs: number of epochs.
        batch_size: images per step and process.
        lr: learning rate of the backbone.
        classifier_lr_mult: learning-rate multiplier of the classifier (wsolevaluation: 10).
        momentum, nesterov, weight_decay: SGD settings.
        schedule: ``"step"`` (x ``gamma`` every ``step_epochs`` epochs, as wsolevaluation), ``"cosine"`` (to 0 at
            the last step) or ``"constant"``.
        step_epochs, gamma: step schedule.
        warmup_epochs: linear warm-up from 0 over this many epochs (may be fractional), then the schedule.
        seed: seed of everything random (initialisation, order, augmentation, methods).
        workers: DataLoader worker processes (``in_memory=False`` only).
        threads: intra-op CPU threads while training (``torch.set_num_threads``, restored afterwards); 0 leaves
            torch's setting (one per core). Each count gives other weights (reductions split differently), so the
            ``digits-*`` presets fix 2. Measured with ``digits_locnet`` at widths 32-64-64-96 on a 2-core machine:
            free cores, 2 threads 735 img/s and 1 thread 365; with another process keeping one core busy, 2 threads
            229 img/s and 1 thread 319 (oversubscribed threads wait on each other). Recorded in ``metrics.json``.
        amp: mixed precision on CUDA: ``"off"``, ``"bf16"`` or ``"fp16"`` (with a gradient scaler).
        channels_last: NHWC memory format for the model and inputs.
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
        log_every: steps between step records in ``log.jsonl``.
        max_steps_per_epoch: stop each epoch after this many steps (0: the whole split); for smoke runs.
    """

    dataset: str = "digits"
    data: str = "datasets/digits"
    images: str = ""
    train_split: str = "train"
    eval_split: str = "test"
    arch: str = "digits_net"
    model: Mapping[str, Any] = field(default_factory=dict)
    pretrained: str = ""
    large_feature_map: bool = False
    method: str = "vanilla"
    method_options: Mapping[str, Any] = field(default_factory=dict)
    loss: str = "two_target"
    label_smoothing: float = 0.0
    image_size: int = 64
    resize_size: int = 72
    crop: str = "pad_crop"
    pad: int = 4
    hflip: bool = False
    in_memory: bool = True
    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.05
    classifier_lr_mult: float = 1.0
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    step_epochs: int = 30
    gamma: float = 0.1
    warmup_epochs: float = 0.0
    seed: int = 0
    workers: int = 0
    threads: int = 0
    amp: str = "off"
    channels_last: bool = False
    device: str = "auto"
    log_every: int = 50
    max_steps_per_epoch: int = 0

    def __post_init__(self) -> None:
        choices = {"dataset": DATASET_KINDS, "crop": CROPS, "schedule": SCHEDULES, "loss": LOSSES, "amp": AMP_MODES,
                   "device": DEVICES}
        for name, valid in choices.items():
            if getattr(self, name) not in valid:
                raise ValueError(f"{name} must be one of {', '.join(valid)}; got {getattr(self, name)!r}")
        positive = ("image_size", "resize_size", "epochs", "batch_size", "step_epochs", "log_every")
        non_negative = ("pad", "workers", "threads", "max_steps_per_epoch", "seed")
        for f in fields(self):
            value = getattr(self, f.name)
            kind = _kind(f)
            if kind is bool and not isinstance(value, bool):
                raise ValueError(f"{f.name} must be true or false; got {value!r}")
            if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"{f.name} must be an integer; got {value!r}")
            if kind is float:
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                    raise ValueError(f"{f.name} must be a finite number; got {value!r}")
                object.__setattr__(self, f.name, float(value))
            if kind is str and not isinstance(value, str):
                raise ValueError(f"{f.name} must be a string; got {value!r}")
            if kind is dict:
                if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
                    raise ValueError(f"{f.name} must be a mapping with string keys; got {value!r}")
                object.__setattr__(self, f.name, dict(value))
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1; got {getattr(self, name)!r}")
        for name in non_negative:
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0; got {getattr(self, name)!r}")
        for name in ("lr", "classifier_lr_mult"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0; got {getattr(self, name)!r}")
        for name in ("momentum", "weight_decay", "warmup_epochs"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0; got {getattr(self, name)!r}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1); got {self.label_smoothing!r}")
        if not 0.0 < self.gamma <= 1.0:
            raise ValueError(f"gamma must be in (0, 1]; got {self.gamma!r}")
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov=true needs momentum > 0")
        if self.crop == "resize_random_crop" and self.resize_size < self.image_size:
            raise ValueError(f"resize_size ({self.resize_size}) must be >= image_size ({self.image_size})")
        if not self.train_split:
            raise ValueError("train_split must not be empty")

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible dict of every field."""
        return {f.name: (dict(getattr(self, f.name)) if _kind(f) is dict else getattr(self, f.name))
                for f in fields(self)}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "TrainConfig":
        """Build from a dict (e.g. a saved ``config.json``); unknown keys raise ``ValueError`` listing valid ones."""
        check_keys(values)
        return cls(**dict(values))

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with some fields changed (checked like the constructor)."""
        check_keys(changes)
        return dataclasses.replace(self, **changes)


_KINDS = {"bool": bool, "int": int, "float": float, "str": str, "Mapping[str, Any]": dict}


def _kind(f: dataclasses.Field) -> type:
    return _KINDS[f.type if isinstance(f.type, str) else f.type.__name__]


def field_names() -> list[str]:
    """Names of the :class:`TrainConfig` fields, in declaration order."""
    return [f.name for f in fields(TrainConfig)]


def check_keys(values: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` naming the unknown keys and listing the valid ones."""
    unknown = sorted(set(values) - set(field_names()))
    if unknown:
        raise ValueError(f"unknown config key(s) {', '.join(unknown)}; valid keys: {', '.join(field_names())}")


def parse_value(text: str) -> Any:
    """Value of a ``--set key=value``: JSON when it parses (numbers, true/false, null, lists, objects), else text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def apply_overrides(config: TrainConfig, assignments: list[str]) -> TrainConfig:
    """Apply ``key=value`` strings; ``model.NAME=V`` and ``method_options.NAME=V`` set one option of a mapping.

    Raises:
        ValueError: malformed assignment, unknown key (listing the valid ones) or invalid value.
    """
    changes: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {"model": dict(config.model), "method_options": dict(config.method_options)}
    for text in assignments:
        key, sep, raw = text.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--set expects key=value; got {text!r}")
        value = parse_value(raw)
        head, dot, option = key.partition(".")
        if dot:
            if head not in nested or not option:
                raise ValueError(f"only model.NAME and method_options.NAME take a dotted key; got {key!r}")
            nested[head][option] = value
            changes[head] = nested[head]
        else:
            check_keys({key: value})
            changes[key] = value
            if key in nested:
                if not isinstance(value, dict):
                    raise ValueError(f"{key} must be a JSON object; got {raw!r}")
                nested[key] = dict(value)
    return config.replace(**changes)


# ------------------------------------------------------------------------------------------------------- presets
@dataclass(frozen=True)
class Preset:
    """A named, documented starting point.

    Attributes:
        name: registry name.
        source: where the settings come from (paper, section, repository file), and what is our own choice.
        settings: :class:`TrainConfig` fields it sets (the rest keep their defaults).
    """

    name: str
    source: str
    settings: Mapping[str, Any]

    def config(self) -> TrainConfig:
        """The preset as a checked :class:`TrainConfig`."""
        return TrainConfig.from_dict(self.settings)


PRESETS: Registry = Registry("preset")


def _load_presets() -> None:
    text = resources.files("wsol").joinpath("presets.json").read_text(encoding="utf-8")
    for name, entry in json.loads(text).items():
        PRESETS.add(name, Preset(name=name, source=entry["source"], settings=entry["settings"]))


_load_presets()


def preset_config(name: str, *, method: str | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """Config of preset ``name``, optionally with another method and ``key=value`` overrides.

    Raises:
        ValueError: unknown preset (listing the valid ones), unknown key or invalid value.
    """
    config = PRESETS.get(name).config()
    if method is not None:
        config = config.replace(method=method, method_options={})
    return apply_overrides(config, list(overrides or []))
