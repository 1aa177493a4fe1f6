"""Experiment specs of ``wsol paper``: what to train and evaluate, checked, and the grid of cells it makes.

A spec is a JSON object (built-in ones in ``specs.json``; ``--spec FILE`` for others). Keys (only ``methods`` is
required in a file; everything else has the default shown):

``description``
    one sentence for the report.
``dataset``
    ``{"name": "digits", "data": "datasets/digits"}`` (built when absent; ``"digits_config"`` sets
    :class:`wsol.data.digits.DigitsConfig` fields) or ``{"name": "prepared", "metadata": "META"}`` (a ``wsol prepare``
    folder with a ``test`` split; optional ``"images"``, ``"test_split"``, ``"calibration_split"``).
``methods``
    registered training methods (``wsol list methods``); the first is the baseline every difference is taken
    against (``vanilla`` in the built-ins).
``seeds``
    training seeds (default ``[0, 1, 2]``), at least one.
``preset``
    the training preset of a method, ``{method}`` replaced by its name (default ``"digits-{method}"``).
``overrides``
    ``key=value`` training settings for every cell (as ``wsol train --set``).
``schedules``
    label -> extra overrides; one grid per schedule (default: one unnamed schedule).
``evaluations``
    any of ``localization``, ``fgsm``, ``occlusion``, ``in_between``, ``ood`` (default: all).
``fgsm``
    ``{"eps_255": [1, 2, 4, 8], "max_images": 0}`` (0: the whole test split).
``robustness``
    ``{"max_images": 0}`` for occlusion and in-between curves.
``ood``
    ``{"sets": ["backgrounds", "gaussian", "uniform"], "folders": {}, "num_noise": null}``: ``backgrounds`` is the
    digits set's digit-free crops (skipped on other datasets), ``folders`` names more image folders, ``num_noise``
    null means as many noise images as test images.
``cam``, ``interval``
    CAM method and threshold-grid interval of the localization (default ``"cam"`` and the protocol's, 0.001; the
    resolved interval is part of every cell's hash).
``examples``
    ``{"num_images": 8}`` test images kept with CAMs and boxes for the figures.

A cell is one (schedule, method, seed); its folder is ``<method>-s<seed>-<hash>`` where the hash covers every setting
that changes its numbers (the resolved training config, the evaluations, the dataset), so a changed setting makes a
new cell instead of reusing an old one.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from wsol.errors import InputError

#: Evaluations a spec may name, in the order a cell runs them.
EVALUATIONS = ("localization", "fgsm", "occlusion", "in_between", "ood")
#: OOD sets a spec may name besides ``folders``.
OOD_SETS = ("backgrounds", "gaussian", "uniform")
#: Defaults of every spec key.
DEFAULTS: dict[str, Any] = {
    "description": "",
    "dataset": {"name": "digits", "data": "datasets/digits"},
    "seeds": [0, 1, 2],
    "preset": "digits-{method}",
    "overrides": [],
    "schedules": {"": []},
    "evaluations": list(EVALUATIONS),
    "fgsm": {"eps_255": [1, 2, 4, 8], "max_images": 0},
    "robustness": {"max_images": 0},
    "ood": {"sets": list(OOD_SETS), "folders": {}, "num_noise": None},
    "cam": "cam",
    "interval": None,
    "examples": {"num_images": 8},
}
_SUBKEYS = {"fgsm": {"eps_255", "max_images"}, "robustness": {"max_images"},
            "ood": {"sets", "folders", "num_noise"}, "examples": {"num_images"}}
_DATASET_KEYS = {"digits": {"name", "data", "digits_config"},
                 "prepared": {"name", "metadata", "images", "test_split", "calibration_split"}}
#: What ``--quick`` changes: a tiny digits set, one short epoch, two seeds, small evaluation subsets.
QUICK_DIGITS = {"num_train": 96, "num_fullsup": 20, "num_test": 32, "num_ood": 32}
QUICK_OVERRIDES = ["epochs=1", "max_steps_per_epoch=3", "batch_size=16", "log_every=1"]


@dataclass(frozen=True)
class Spec:
    """A checked experiment spec (see the module docstring); ``values`` holds every key, defaults filled in."""

    name: str
    values: Mapping[str, Any]
    source: str = "built-in"
    checkpoints: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    @property
    def methods(self) -> list[str]:
        return list(self.values["methods"])

    @property
    def baseline(self) -> str:
        """The method every difference is taken against (the first)."""
        return self.values["methods"][0]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, **copy.deepcopy(dict(self.values)),
                "checkpoints": {k: list(v) for k, v in self.checkpoints.items()}}


def builtin_specs() -> dict[str, dict[str, Any]]:
    """The built-in specs by name (raw, before defaults)."""
    return json.loads(resources.files("wsol.paper").joinpath("specs.json").read_text(encoding="utf-8"))


def _fail(what: str, where: str, value: Any) -> InputError:
    return InputError(what, path=where, value=value)


def check_spec(name: str, raw: Mapping[str, Any], *, where: str) -> Spec:
    """Fill in defaults and check every key and value.

    Raises:
        InputError: an unknown key, method, evaluation, OOD set or dataset; an empty seed list; a bad value (one
            line naming ``where`` and the value).
    """
    from wsol.config import PRESETS
    from wsol.methods import METHODS

    if not isinstance(raw, Mapping):
        raise _fail("a spec must be a JSON object", where, type(raw).__name__)
    unknown = sorted(set(raw) - set(DEFAULTS) - {"methods", "name"})
    if unknown:
        raise _fail(f"unknown spec key (valid: methods, {', '.join(DEFAULTS)})", where, unknown[0])
    values = copy.deepcopy(DEFAULTS)
    for key, value in raw.items():
        if key in _SUBKEYS:
            if not isinstance(value, Mapping):
                raise _fail(f"spec key {key} must be an object", where, value)
            bad = sorted(set(value) - _SUBKEYS[key])
            if bad:
                raise _fail(f"unknown key in {key} (valid: {', '.join(sorted(_SUBKEYS[key]))})", where, bad[0])
            values[key] = {**values[key], **value}
        elif key != "name":
            values[key] = copy.deepcopy(value)
    methods = values.get("methods")
    if not isinstance(methods, list) or not methods or not all(isinstance(m, str) for m in methods):
        raise _fail("spec needs a non-empty list of methods", where, methods)
    for m in methods:
        if m not in METHODS:
            raise _fail(f"unknown method (registered: {', '.join(METHODS.names())})", where, m)
    if len(set(methods)) != len(methods):
        raise _fail("a method is listed twice", where, methods)
    seeds = values["seeds"]
    if not isinstance(seeds, list) or not seeds:
        raise _fail("seeds must be a non-empty list of integers", where, seeds)
    integers = all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
    if not integers or len(set(seeds)) != len(seeds):
        raise _fail("seeds must be distinct integers >= 0", where, seeds)
    evaluations = values["evaluations"]
    if not isinstance(evaluations, list) or not evaluations:
        raise _fail(f"evaluations must be a non-empty list of {', '.join(EVALUATIONS)}", where, evaluations)
    for e in evaluations:
        if e not in EVALUATIONS:
            raise _fail(f"unknown evaluation (valid: {', '.join(EVALUATIONS)})", where, e)
    dataset = values["dataset"]
    if not isinstance(dataset, Mapping) or dataset.get("name") not in _DATASET_KEYS:
        raise _fail(f"dataset must be an object with name one of {', '.join(_DATASET_KEYS)}", where,
                    dataset.get("name") if isinstance(dataset, Mapping) else dataset)
    bad = sorted(set(dataset) - _DATASET_KEYS[dataset["name"]])
    if bad:
        raise _fail(f"unknown dataset key for {dataset['name']}", where, bad[0])
    if dataset["name"] == "prepared" and not dataset.get("metadata"):
        raise _fail("a prepared dataset needs metadata (a wsol prepare folder)", where, dict(dataset))
    for s in values["ood"]["sets"]:
        if s not in OOD_SETS:
            raise _fail(f"unknown OOD set (valid: {', '.join(OOD_SETS)}; other folders go under ood.folders)",
                        where, s)
    if not isinstance(values["ood"]["folders"], Mapping):
        raise _fail("ood.folders must map a name to an image folder", where, values["ood"]["folders"])
    eps = values["fgsm"]["eps_255"]
    if not isinstance(eps, list) or not eps or not all(isinstance(e, (int, float)) and 0 <= e <= 255 for e in eps):
        raise _fail("fgsm.eps_255 must be a non-empty list of budgets in [0, 255]", where, eps)
    schedules = values["schedules"]
    if not isinstance(schedules, Mapping) or not schedules or not all(
            isinstance(v, list) and all(isinstance(x, str) for x in v) for v in schedules.values()):
        raise _fail("schedules must map a label to a list of key=value overrides", where, schedules)
    if not isinstance(values["overrides"], list) or not all(isinstance(x, str) for x in values["overrides"]):
        raise _fail("overrides must be a list of key=value strings", where, values["overrides"])
    if "{method}" not in values["preset"]:
        raise _fail("preset must contain {method}", where, values["preset"])
    for m in methods:
        if values["preset"].format(method=m) not in PRESETS:
            raise _fail(f"no preset {values['preset'].format(method=m)!r} for method {m} (wsol list presets)",
                        where, values["preset"])
    return Spec(name=name, values=values, source=where)


def load_spec(name_or_path: str | os.PathLike) -> Spec:
    """A built-in spec by name, or a spec file (JSON; its ``name`` key or the file's stem names it).

    Raises:
        InputError: unknown name, unreadable file, invalid JSON or an invalid spec (one line).
    """
    text = os.fspath(name_or_path)
    builtins = builtin_specs()
    if text in builtins:
        return check_spec(text, builtins[text], where=f"built-in spec {text}")
    path = Path(text)
    if not path.is_file():
        raise InputError(f"no such spec (built-in: {', '.join(builtins)}; or a JSON file)", value=text)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON: {e.msg}", path=path, line=e.lineno) from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read the spec: {e}", path=path) from None
    name = raw.get("name", path.stem) if isinstance(raw, Mapping) else path.stem
    return check_spec(str(name), raw, where=os.fspath(path))


def quick_spec(spec: Spec) -> Spec:
    """The spec shrunk to a smoke run (``--quick``): tiny digits data, one short epoch, two seeds, small subsets."""
    values = copy.deepcopy(dict(spec.values))
    if values["dataset"]["name"] == "digits":
        values["dataset"] = {"name": "digits", "data": os.fspath(values["dataset"]["data"]) + "-quick",
                             "digits_config": dict(QUICK_DIGITS)}
    values["overrides"] = list(values["overrides"]) + QUICK_OVERRIDES
    values["seeds"] = values["seeds"][:2]
    values["fgsm"]["max_images"] = 32
    values["robustness"]["max_images"] = 32
    values["examples"]["num_images"] = 4
    values["description"] = (f"Smoke run of {spec.name} (--quick: tiny data, one short epoch, "
                             f"{len(values['seeds'])} seeds); the numbers mean nothing.")
    return Spec(name=f"{spec.name}-quick", values=values, source=spec.source, checkpoints=spec.checkpoints)


def checkpoint_spec(checkpoints: Sequence[str], metadata: str | os.PathLike, *, images: Optional[str] = None,
                    base: Optional[Spec] = None) -> Spec:
    """An evaluation-only spec from ``METHOD=PATH`` items (a method given several times: one seed per path, in
    order) and a prepared metadata folder; evaluation settings come from ``base`` (default: ``cutmix-digits``).

    Raises:
        InputError: an item without ``=``, a missing file, or no item.
    """
    by_method: dict[str, list[str]] = {}
    for item in checkpoints:
        method, sep, path = item.partition("=")
        if not sep or not method or not path:
            raise InputError("--checkpoint takes METHOD=PATH", value=item)
        if not Path(path).is_file():
            raise InputError("checkpoint not found", path=path, value=item)
        by_method.setdefault(method, []).append(path)
    if not by_method:
        raise InputError("no --checkpoint given")
    base = base or load_spec("cutmix-digits")
    values = copy.deepcopy(dict(base.values))
    values["methods"] = list(by_method)
    values["seeds"] = list(range(max(len(v) for v in by_method.values())))
    values["dataset"] = {"name": "prepared", "metadata": os.fspath(metadata),
                         **({"images": os.fspath(images)} if images else {})}
    values["schedules"] = {"": []}
    values["description"] = "Evaluation of existing checkpoints."
    return Spec(name=f"{base.name}-checkpoints", values=values, source=base.source, checkpoints=by_method)


# ------------------------------------------------------------------------------------------------------ cells
@dataclass(frozen=True)
class CellPlan:
    """One (schedule, method, seed) cell: everything needed to run it in any process (JSON-ready)."""

    spec: str
    schedule: str
    method: str
    seed: int
    train: Optional[dict[str, Any]]
    checkpoint: Optional[str]
    evaluation: dict[str, Any]
    dataset: dict[str, Any]
    hash: str
    device: str = "auto"

    @property
    def name(self) -> str:
        return f"{self.method}-s{self.seed}-{self.hash}"

    def to_dict(self) -> dict[str, Any]:
        return {"spec": self.spec, "schedule": self.schedule, "method": self.method, "seed": self.seed,
                "train": self.train, "checkpoint": self.checkpoint, "evaluation": self.evaluation,
                "dataset": self.dataset, "hash": self.hash, "device": self.device}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "CellPlan":
        return cls(**{k: values[k] for k in ("spec", "schedule", "method", "seed", "train", "checkpoint",
                                             "evaluation", "dataset", "hash")}, device=values.get("device", "auto"))


#: Training settings that do not change a run's numbers (left out of the cell hash).
UNHASHED_TRAIN_KEYS = ("workers", "log_every")


def config_hash(payload: Mapping[str, Any]) -> str:
    """First 10 hex digits of the SHA-256 of the canonical JSON of ``payload``."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]


def plan_cells(spec: Spec, *, device: str = "auto", checkpoint_sha256: Optional[Mapping[str, str]] = None,
               data_digest: Optional[str] = None) -> list[CellPlan]:
    """Every cell of the spec, schedule by schedule, method by method, seed by seed.

    Args:
        spec: a checked spec.
        device: the device of every cell's training and evaluation (part of the hash: GPU and CPU runs differ in
            their bits).
        checkpoint_sha256: path -> SHA-256 of each ``--checkpoint`` file (evaluation-only specs).
        data_digest: digest of the evaluated metadata (part of the hash: other data, other cells).

    Raises:
        InputError: a preset / override that does not resolve (one line naming the value).
    """
    from wsol.config import preset_config

    from wsol.localization.protocol import DEFAULT_INTERVAL

    evaluation = {k: spec[k] for k in ("evaluations", "fgsm", "robustness", "ood", "cam", "interval", "examples")}
    # the resolved grid enters the hash: a cell scored under another default is another cell, never reused silently
    evaluation["interval"] = DEFAULT_INTERVAL if spec["interval"] is None else spec["interval"]
    dataset = dict(spec["dataset"])
    cells = []
    for schedule, extra in spec["schedules"].items():
        for method in spec.methods:
            paths = spec.checkpoints.get(method)
            for k, seed in enumerate(spec["seeds"]):
                if spec.checkpoints:
                    if k >= len(paths):
                        continue
                    train = None
                    checkpoint = paths[k]
                    payload = {"checkpoint_sha256": (checkpoint_sha256 or {}).get(checkpoint, checkpoint),
                               "device": device}
                else:
                    overrides = list(spec["overrides"]) + list(extra) + [f"seed={seed}", f"device={device}"]
                    if dataset["name"] == "digits":
                        overrides.append(f"data={dataset['data']}")
                    try:
                        config = preset_config(spec["preset"].format(method=method), overrides=overrides)
                    except ValueError as e:
                        raise InputError(f"spec {spec.name}, method {method}: {e}") from None
                    train = config.to_dict()
                    checkpoint = None
                    payload = {"train": {k: v for k, v in train.items() if k not in UNHASHED_TRAIN_KEYS}}
                payload.update(evaluation=evaluation, dataset=dataset)
                if data_digest is not None:
                    payload["data_digest"] = data_digest
                cells.append(CellPlan(spec=spec.name, schedule=schedule, method=method, seed=seed, train=train,
                                      checkpoint=checkpoint, evaluation=evaluation, dataset=dataset,
                                      hash=config_hash(payload), device=device))
    return cells


__all__ = ["EVALUATIONS", "OOD_SETS", "Spec", "CellPlan", "builtin_specs", "check_spec", "load_spec", "quick_spec",
           "checkpoint_spec", "plan_cells", "config_hash"]
