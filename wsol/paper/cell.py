"""One cell of ``wsol paper run``: train (or take a checkpoint) -> every evaluation -> files in the cell folder.

Each step calls the job a user would call (:mod:`wsol.api`) and writes its output atomically; a step whose output
exists is skipped, and training resumes from its last epoch checkpoint, so an interrupted cell continues where it
stopped and gives the numbers of an uninterrupted one (and a cell made before a step was added gains only that step).
The cell folder ``RUNS/<method>-s<seed>-<hash>/`` holds:

======================== ==================================================================================
``cell.json``            the plan (method, seed, schedule, resolved training config, evaluation settings),
                         wsol version, stage wall times, checkpoint SHA-256; ``complete`` once every step ran
``train/``               the ``wsol train`` run folder (``log.jsonl``: per-epoch test accuracy; ``model.pt``)
``localization.json``    ``wsol evaluate`` of the test split, calibrated on the full-supervision split
``per_image_boxes.npz``  its per-image outcomes (:mod:`wsol.localization.per_image`)
``localization_cutmix``  the same under the ``cutmix`` protocol (fixed 15 % threshold: the CutMix paper's
``.json``, ``.npz``      Top-1 / GT-known Loc), with ``per_image_boxes_cutmix.npz``
``pxap.json``,           the same for the mask split (``test_masks``), when the dataset has one
``per_image_masks.npz``
``fgsm.json``            ``wsol attack`` (FGSM) with per-image top-1 hits
``robustness.json``      ``wsol robustness``: centre / boundary occlusion, in-between-class curves
``ood.json``,            ``wsol ood`` (max-softmax) and every image's score per set
``ood_scores.npz``
``examples.npz``         the figures' material: CAMs and boxes of the first test images, and the Figure-1
                         images (Mixup / Cutout / CutMix of two test images) with CAMs of both classes
======================== ==================================================================================
"""
from __future__ import annotations

import io
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np

from wsol.errors import InputError
from wsol.paper.spec import CellPlan

logger = logging.getLogger(__name__)

CELL_FILE = "cell.json"
#: Evaluation batch sizes (throughput only; the numbers do not depend on them).
EVAL_BATCH, OOD_BATCH = 128, 256


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in str(text).split("+")[0].split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def read_json(path: Path) -> Optional[dict[str, Any]]:
    """A JSON file of a run folder (None when it does not exist).

    Raises:
        InputError: invalid JSON (file and line).
    """
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON: {e.msg}", path=path, line=e.lineno) from None


def read_cell(folder: str | os.PathLike) -> Optional[dict[str, Any]]:
    """A cell's ``cell.json`` (None when the folder has none)."""
    return read_json(Path(folder) / CELL_FILE)


def check_cell_folder(folder: Path, plan: CellPlan) -> Optional[dict[str, Any]]:
    """The existing record of a cell folder, after checking it belongs to this plan and to this wsol version.

    Raises:
        InputError: a folder made by another spec or with other settings, or by a newer wsol (one line; nothing is
            changed on disk).
    """
    import wsol

    record = read_cell(folder)
    if record is None:
        return None
    made = record.get("plan", {})
    if made.get("hash") != plan.hash or made.get("method") != plan.method or made.get("seed") != plan.seed:
        raise InputError("cell folder holds another cell (its cell.json differs in hash, method or seed)",
                         path=folder / CELL_FILE, value=made.get("hash"))
    if made.get("spec") != plan.spec:
        raise InputError(f"cell folder was made by spec {made.get('spec')!r}, not {plan.spec!r}",
                         path=folder / CELL_FILE, value=made.get("spec"))
    if _version_tuple(record.get("wsol_version", "0")) > _version_tuple(wsol.__version__):
        raise InputError(f"cell folder was written by a newer wsol ({record.get('wsol_version')}; this is "
                         f"{wsol.__version__})", path=folder / CELL_FILE, value=record.get("wsol_version"))
    return record


def _save_npz(path: Path, arrays: Mapping[str, Any]) -> None:
    from wsol.fileio import atomic_write_bytes

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def _padded_boxes(boxes: list) -> np.ndarray:
    """Per-image ``(G_i, 4)`` boxes as one int64 ``(N, max G, 4)`` array, padded with -1 rows."""
    most = max(len(b) for b in boxes)
    out = np.full((len(boxes), most, 4), -1, dtype=np.int64)
    for i, b in enumerate(boxes):
        out[i, :len(b)] = np.asarray(b, dtype=np.int64).reshape(-1, 4)
    return out


def dataset_paths(dataset: Mapping[str, Any], *, progress: bool = False) -> dict[str, Any]:
    """The metadata splits, image root and OOD folder of a spec's dataset.

    A digits dataset is built when its folder holds none, or checked against ``digits_config`` when the spec gives
    one; an existing digits folder is otherwise used as it is (its metadata digest is part of every cell's hash).

    Returns:
        ``meta`` (the metadata folder), ``test``, ``calibration`` (or None), ``masks`` (the mask split or None),
        ``images`` (image root override or None), ``backgrounds`` (digits' OOD folder or None).
    """
    if dataset["name"] == "digits":
        from wsol.data.digits import DigitsConfig, prepare_digits

        root = Path(dataset["data"])
        if "digits_config" in dataset or not (root / "metadata" / "test").is_dir():  # else: the set there, as it is
            try:
                config = DigitsConfig(**dataset.get("digits_config", {}))
            except TypeError as e:
                raise InputError(f"bad digits_config: {e}", value=dataset.get("digits_config")) from None
            prepare_digits(root, config=config, progress=progress)
        meta = root / "metadata"
        return {"meta": meta, "test": meta / "test", "calibration": meta / "train_fullsup",
                "masks": meta / "test_masks" if (meta / "test_masks").is_dir() else None, "images": None,
                "backgrounds": root / "ood" if (root / "ood").is_dir() else None}
    meta = Path(dataset["metadata"])
    test = meta / dataset.get("test_split", "test")
    if not test.is_dir():
        raise InputError("metadata folder has no test split", path=test)
    cal_name = dataset.get("calibration_split")
    candidates = [cal_name] if cal_name else ["train_fullsup", "val"]
    calibration = next((meta / c for c in candidates if (meta / c / "localization.txt").is_file()), None)
    return {"meta": meta, "test": test, "calibration": calibration,
            "masks": meta / "test_masks" if (meta / "test_masks").is_dir() else None,
            "images": dataset.get("images"), "backgrounds": None}


def cell_outputs(plan: CellPlan, *, has_masks: bool) -> list[str]:
    """The files (relative to the cell folder) a finished cell has, given its evaluations."""
    evaluations = plan.evaluation["evaluations"]
    out = ["train/model.pt"] if plan.train is not None else []
    if "localization" in evaluations:
        out += ["localization.json", "localization_cutmix.json", "examples.npz"] + (["pxap.json"] if has_masks else [])
    if "fgsm" in evaluations:
        out.append("fgsm.json")
    if "occlusion" in evaluations or "in_between" in evaluations:
        out.append("robustness.json")
    if "ood" in evaluations:
        out.append("ood.json")
    return out


def cell_finished(folder: Path, plan: CellPlan, *, has_masks: bool) -> bool:
    """Whether every output of the cell exists (then :func:`run_cell` has nothing left to do)."""
    outputs = cell_outputs(plan, has_masks=has_masks)
    return (folder / CELL_FILE).is_file() and all((folder / f).is_file() for f in outputs)


def run_cell(plan: CellPlan | Mapping[str, Any], runs: str | os.PathLike, *, progress: bool = False,
             workers: int = 0) -> dict[str, Any]:
    """Run (or finish) one cell into ``runs/<cell name>/``; returns its ``cell.json`` record.

    Args:
        plan: the cell (a :class:`~wsol.paper.spec.CellPlan` or its dict, for other processes).
        runs: the run folder of the spec.
        progress: tqdm bars.
        workers: DataLoader workers of the evaluations.

    Raises:
        InputError: a cell folder of another spec or a newer wsol, bad data or checkpoint (one line).
    """
    import torch

    import wsol
    from wsol.engine.evaluate import cam_examples, evaluate_checkpoint, mixed_cam_examples, open_checkpoint, \
        open_eval_split
    from wsol.engine.jobs import train
    from wsol.engine.train import RunFiles
    from wsol.fileio import atomic_write_json
    from wsol.models.loading import sha256_file
    from wsol.ood.evaluate import detect_ood
    from wsol.robustness.jobs import attack_checkpoint, robustness_checkpoint

    plan = plan if isinstance(plan, CellPlan) else CellPlan.from_dict(plan)
    folder = Path(runs) / plan.name
    record = check_cell_folder(folder, plan)
    folder.mkdir(parents=True, exist_ok=True)
    record = record or {"plan": plan.to_dict(), "wsol_version": wsol.__version__, "timings": {}, "complete": False}
    timings = record["timings"]
    ev = plan.evaluation

    def save_record() -> None:
        atomic_write_json(folder / CELL_FILE, record)

    if not (folder / CELL_FILE).is_file():
        save_record()
    paths = dataset_paths(plan.dataset, progress=progress)

    # -- training ------------------------------------------------------------------------------------------------
    if plan.train is not None:
        from wsol.config import TrainConfig

        files = RunFiles(folder / "train")
        if not files.model.is_file():
            t0 = time.perf_counter()
            config = TrainConfig.from_dict(plan.train)
            train(config, files.root, resume=files.checkpoint.is_file(), progress=progress)
            timings["train_s"] = timings.get("train_s", 0.0) + time.perf_counter() - t0
        checkpoint = files.model
    else:
        checkpoint = Path(plan.checkpoint)
    if record.get("checkpoint") != os.fspath(checkpoint) or "checkpoint_sha256" not in record:
        record["checkpoint"] = os.fspath(checkpoint)
        record["checkpoint_sha256"] = sha256_file(checkpoint)
        save_record()
    device = plan.device
    common = {"batch_size": EVAL_BATCH, "workers": workers, "device": device}
    evaluations = ev["evaluations"]

    def stage(name: str, output: Path, work) -> None:
        if output.is_file():
            return
        t0 = time.perf_counter()
        work()
        timings[f"{name}_s"] = time.perf_counter() - t0
        save_record()

    # -- localization --------------------------------------------------------------------------------------------
    if "localization" in evaluations:
        def localization() -> None:
            res = evaluate_checkpoint(checkpoint, paths["test"], images=paths["images"], cam=ev["cam"],
                                      interval=ev["interval"], calibrate_on=paths["calibration"],
                                      per_image=folder / "per_image_boxes.npz", score_threads=1, **common)
            atomic_write_json(folder / "localization.json", res)

        stage("localization", folder / "localization.json", localization)

        def localization_cutmix() -> None:  # the CutMix paper's fixed 15 % threshold: Top-1 / GT-known Loc
            res = evaluate_checkpoint(checkpoint, paths["test"], images=paths["images"], cam=ev["cam"],
                                      protocol="cutmix", interval=ev["interval"],
                                      per_image=folder / "per_image_boxes_cutmix.npz", score_threads=1, **common)
            atomic_write_json(folder / "localization_cutmix.json", res)

        stage("localization_cutmix", folder / "localization_cutmix.json", localization_cutmix)
        if paths["masks"] is not None:
            def pxap() -> None:
                res = evaluate_checkpoint(checkpoint, paths["masks"], images=paths["images"], cam=ev["cam"],
                                          interval=ev["interval"], per_image=folder / "per_image_masks.npz",
                                          score_threads=1, **common)
                atomic_write_json(folder / "pxap.json", res)

            stage("pxap", folder / "pxap.json", pxap)

        def examples() -> None:
            loaded, dev, size = open_checkpoint(checkpoint, device=device)
            model = loaded.model.to(dev).eval()
            test = open_eval_split(paths["test"], image_size=size, images=paths["images"])
            threshold = json.loads((folder / "localization.json").read_text(encoding="utf-8"))
            tau = threshold.get("calibrated", {}).get("threshold_v1", threshold["best_threshold"])
            shown = cam_examples(model, test, indices=list(range(min(ev["examples"]["num_images"], len(test)))),
                                 threshold=tau, device=dev, cam=ev["cam"])
            with torch.no_grad():
                logits = model(torch.stack([test[i]["image"] for i in range(len(shown["labels"]))]).to(dev))
            labels = test.metadata.labels
            index_b = next((i for i in range(1, len(test)) if labels[test.metadata.image_ids[i]] != shown["labels"][0]),
                           min(1, len(test) - 1))
            mixed = mixed_cam_examples(model, test, index_a=0, index_b=index_b, device=dev, cam=ev["cam"])
            _save_npz(folder / "examples.npz", {
                "images": shown["images"], "maps": shown["maps"].astype(np.float32),
                "labels": np.array(shown["labels"], dtype=np.int64),
                "predicted": logits.argmax(dim=1).cpu().numpy().astype(np.int64),
                "pred_boxes": np.array(shown["pred_boxes"], dtype=np.int64),
                "gt_boxes": _padded_boxes(shown["gt_boxes"]),
                "threshold": np.float64(tau),
                "mix_images": mixed["images"], "mix_cams_a": mixed["cams_a"].astype(np.float32),
                "mix_cams_b": mixed["cams_b"].astype(np.float32), "mix_labels": np.array(mixed["labels"]),
                "mix_probs_a": np.array(mixed["probs_a"]), "mix_probs_b": np.array(mixed["probs_b"]),
                "mix_variants": np.array(mixed["variants"]), "mix_box": np.array(mixed["box"])})

        stage("examples", folder / "examples.npz", examples)

    # -- robustness ----------------------------------------------------------------------------------------------
    if "fgsm" in evaluations:
        def fgsm() -> None:
            res = attack_checkpoint(checkpoint, paths["test"], images=paths["images"], eps_255=ev["fgsm"]["eps_255"],
                                    max_images=ev["fgsm"]["max_images"], seed=0, per_image=True, **common)
            atomic_write_json(folder / "fgsm.json", res)

        stage("fgsm", folder / "fgsm.json", fgsm)
    if "occlusion" in evaluations or "in_between" in evaluations:
        def robustness() -> None:
            res = robustness_checkpoint(checkpoint, paths["test"], images=paths["images"],
                                        occlusion="occlusion" in evaluations, in_between="in_between" in evaluations,
                                        max_images=ev["robustness"]["max_images"], seed=0, **common)
            atomic_write_json(folder / "robustness.json", res)

        stage("robustness", folder / "robustness.json", robustness)
    if "ood" in evaluations:
        def ood() -> None:
            sets: list[tuple[str, str]] = []
            if "backgrounds" in ev["ood"]["sets"] and paths["backgrounds"] is not None:
                sets.append(("backgrounds", f"folder:{paths['backgrounds']}"))
            sets += [(s, s) for s in ("gaussian", "uniform") if s in ev["ood"]["sets"]]
            sets += [(name, f"folder:{path}") for name, path in ev["ood"]["folders"].items()]
            if not sets:
                raise InputError("the spec's ood evaluation has no set for this dataset", value=ev["ood"])
            run = detect_ood(checkpoint, paths["test"], ood=sets, num_noise=ev["ood"]["num_noise"], seed=0,
                             images=paths["images"], batch_size=OOD_BATCH, workers=workers, device=device)
            _save_npz(folder / "ood_scores.npz", {"in": run.scores_in["msp"],
                                                  **{f"out/{name}": s["msp"] for name, s in run.scores_out.items()}})
            atomic_write_json(folder / "ood.json", run.results)

        stage("ood", folder / "ood.json", ood)
    if not record.get("complete"):
        record["complete"] = True
        record["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        save_record()
    return record


__all__ = ["CELL_FILE", "cell_outputs", "cell_finished", "run_cell", "read_cell", "check_cell_folder", "dataset_paths"]
