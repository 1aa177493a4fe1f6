"""``wsol paper run``: every cell of a spec, in this process, in N local processes, or as cluster jobs.

:func:`run_paper` is the job. It checks the spec and every existing cell folder before any work (a bad spec or a cell
folder of another spec or a newer wsol stops it with one line, touching nothing), skips finished cells, resumes
interrupted ones, logs a progress line with an ETA per cell, and writes ``RUNS/spec.json`` and ``RUNS/manifest.json``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import time
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from wsol.errors import InputError
from wsol.paper.cell import dataset_paths, read_cell, run_cell
from wsol.paper.spec import CellPlan, Spec, checkpoint_spec, load_spec, plan_cells, quick_spec

logger = logging.getLogger(__name__)

#: Where cells run: this process or local worker processes (``local``), SLURM jobs, or submitit's local executor
#: (``submitit-local``: the SLURM code path without a cluster, for tests and single machines).
LAUNCHERS = ("local", "slurm", "submitit-local")
SPEC_FILE, MANIFEST_FILE = "spec.json", "manifest.json"


def metadata_digest(paths: Mapping[str, Any]) -> str:
    """SHA-256 over the metadata files of the evaluated splits (test, calibration, masks), names included."""
    digest = hashlib.sha256()
    for key in ("test", "calibration", "masks"):
        split = paths.get(key)
        if split is None:
            continue
        for f in sorted(Path(split).glob("*.txt")):
            digest.update(f"{key}/{f.name}\n".encode())
            digest.update(f.read_bytes())
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Versions of wsol, Python and the libraries that decide the numbers."""
    import cv2
    import numpy as np
    import sklearn
    import torch
    import torchvision

    import wsol

    return {"wsol": wsol.__version__, "python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "numpy": np.__version__, "opencv": cv2.__version__,
            "scikit-learn": sklearn.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def _check_run_folder(out: Path, spec: Spec) -> None:
    path = out / SPEC_FILE
    if not path.is_file():
        return
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON: {e.msg}", path=path, line=e.lineno) from None
    if saved.get("name") != spec.name:
        raise InputError(f"run folder holds spec {saved.get('name')!r}, not {spec.name!r} (use another --out)",
                         path=path, value=saved.get("name"))


def _check_checkpoints(spec: Spec, paths: Mapping[str, Any]) -> dict[str, str]:
    """SHA-256 of every ``--checkpoint``; all must be one architecture with enough classes for the test labels."""
    from wsol.data.metadata import read_metadata
    from wsol.models.loading import load_model

    classes = read_metadata(paths["test"]).num_classes_seen
    shas, arch = {}, None
    for method, files in spec.checkpoints.items():
        for path in files:
            loaded = load_model(path)
            shas[path] = loaded.sha256
            if arch is None:
                arch = (loaded.arch, path)
            elif loaded.arch != arch[0]:
                raise InputError(f"checkpoints of one report must share an architecture: {arch[1]} is "
                                 f"{arch[0]}, this one", path=path, value=loaded.arch)
            if loaded.num_classes < classes:
                raise InputError(f"checkpoint has {loaded.num_classes} classes, the test split's labels reach "
                                 f"{classes - 1}", path=path, value=loaded.num_classes)
    return shas


def _launch(pending: list[CellPlan], out: Path, *, jobs: int, launcher: str, slurm: Mapping[str, Any],
            progress: bool, workers: int) -> list[dict[str, Any]]:
    """Run the cells; log one line per finished cell with an ETA; return their records in ``pending`` order."""
    start = time.perf_counter()
    done: dict[str, dict[str, Any]] = {}

    def finished(plan: CellPlan, record: Mapping[str, Any]) -> None:
        done[plan.name] = dict(record)
        elapsed = time.perf_counter() - start
        left = len(pending) - len(done)
        eta = elapsed / len(done) * left / (1 if launcher != "local" else max(1, min(jobs, left or 1)))
        logger.info("cell %d/%d %s (%s%s) finished after %.0f s in all; ETA %.0f min", len(done), len(pending),
                    plan.name, plan.method, f", {plan.schedule}" if plan.schedule else "", elapsed,
                    eta / 60 if left else 0.0)

    if launcher == "local" and jobs <= 1:
        for plan in pending:
            finished(plan, run_cell(plan, out, progress=progress, workers=workers))
    elif launcher == "local":
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            futures = {pool.submit(run_cell, plan.to_dict(), os.fspath(out), workers=workers): plan
                       for plan in pending}
            try:
                for future in as_completed(futures):
                    finished(futures[future], future.result())
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    else:
        try:
            import submitit
        except ImportError:
            raise InputError(f"--launcher {launcher} needs submitit: pip install 'wsol[cluster]'") from None
        folder = out / ".submitit"
        if launcher == "slurm":
            executor = submitit.AutoExecutor(folder=folder)
            executor.update_parameters(**dict(slurm))
        else:
            executor = submitit.LocalExecutor(folder=folder)
            executor.update_parameters(timeout_min=int(slurm.get("timeout_min", 60)))
        submitted = [(plan, executor.submit(run_cell, plan.to_dict(), os.fspath(out), workers=workers))
                     for plan in pending]
        logger.info("submitted %d cells (%s); job ids %s", len(submitted), launcher,
                    ", ".join(str(job.job_id) for _, job in submitted[:5]) + (" ..." if len(submitted) > 5 else ""))
        for plan, job in submitted:
            try:
                finished(plan, job.result())
            except Exception as e:  # submitit wraps the cell's exception with its traceback
                raise InputError(f"cell {plan.name} failed in its job ({type(e).__name__}); see {folder}",
                                 value=str(e).strip().splitlines()[-1] if str(e).strip() else "") from None
    return [done[p.name] for p in pending]


def reuse_cells(pending: Sequence[CellPlan], out: Path, sources: Sequence[str | os.PathLike], *,
                has_masks: bool) -> list[str]:
    """Copy finished cells with the same name (so the same settings hash) from other run folders into ``out``.

    The copy's ``cell.json`` takes this spec's name and schedule label and records ``copied_from``; the files are
    hard links where the file system allows, else copies.

    Returns:
        the names of the copied cells.
    """
    import shutil

    from wsol.fileio import atomic_write_json
    from wsol.paper.cell import CELL_FILE, cell_finished

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    copied = []
    for plan in pending:
        for source in sources:
            folder = Path(source) / plan.name
            if not cell_finished(folder, plan, has_masks=has_masks) or (out / plan.name).exists():
                continue
            record = read_cell(folder)
            if record["plan"].get("hash") != plan.hash:
                continue
            shutil.copytree(folder, out / plan.name, copy_function=link)
            (out / plan.name / CELL_FILE).unlink()  # a hard link: write a new file, leave the source's alone
            record["plan"].update(spec=plan.spec, schedule=plan.schedule)
            record["copied_from"] = os.fspath(folder)
            atomic_write_json(out / plan.name / CELL_FILE, record)
            logger.info("%s: copied from %s (same settings hash)", plan.name, source)
            copied.append(plan.name)
            break
    return copied


def run_paper(spec: str | os.PathLike | Spec = "cutmix-digits", out: str | os.PathLike = "runs/paper", *,
              quick: bool = False, jobs: int = 1, launcher: str = "local", slurm: Optional[Mapping[str, Any]] = None,
              checkpoints: Sequence[str] = (), metadata: Optional[str | os.PathLike] = None,
              images: Optional[str | os.PathLike] = None, device: str = "auto", workers: int = 0,
              reuse: Sequence[str | os.PathLike] = (), command: Optional[str] = None,
              progress: bool = False) -> dict[str, Any]:
    """Run every cell of an experiment spec into ``out``: the job behind ``wsol paper run``.

    Args:
        spec: a built-in spec name (``cutmix-digits``, ``augment-digits``, ``cutmix-digits-schedule``), a spec file,
            or a :class:`~wsol.paper.spec.Spec`.
        out: the run folder (one spec per folder).
        quick: shrink the spec to a smoke run (tiny data, one short epoch, two seeds).
        jobs: local worker processes (cells in parallel; each keeps its preset's training threads).
        launcher: ``"local"``, ``"slurm"`` or ``"submitit-local"`` (:data:`LAUNCHERS`).
        slurm: submitit executor parameters (``timeout_min``, ``slurm_partition``, ``gpus_per_node``, ...).
        checkpoints: ``METHOD=PATH`` items: evaluation-only cells of existing checkpoints (with ``metadata``).
        metadata: a prepared metadata folder (``wsol prepare``) for ``checkpoints``.
        images: image root for ``checkpoints`` (default: the one in ``dataset.json``).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"`` (resolved here; part of every cell's hash).
        workers: DataLoader workers of the evaluations.
        reuse: other run folders: a finished cell there with the same settings hash is copied instead of recomputed
            (e.g. the 30-epoch cells of ``cutmix-digits`` for ``cutmix-digits-schedule``).
        command: the command line, for the manifest.
        progress: tqdm bars (in-process cells only).

    Returns:
        ``spec`` (name), ``out``, ``cells`` (name -> record), ``ran`` / ``skipped`` (cell names), ``wall_s``.

    Raises:
        InputError: a bad spec, launcher, checkpoint or run folder (one line; nothing on disk is changed).

    Example::

        from wsol.api import paper_report, run_paper
        run_paper("cutmix-digits", "runs/paper", quick=True, device="cpu")
        paper_report("runs/paper")
    """
    from wsol.devices import resolve_device
    from wsol.fileio import atomic_write_json

    start = time.perf_counter()
    if launcher not in LAUNCHERS:
        raise InputError(f"launcher must be one of {', '.join(LAUNCHERS)}", value=launcher)
    if jobs < 1:
        raise InputError("--jobs must be >= 1", value=jobs)
    if checkpoints:
        if metadata is None:
            raise InputError("--checkpoint needs --metadata META (a wsol prepare folder with a test split)")
        base = spec if isinstance(spec, Spec) else load_spec(spec)
        spec = checkpoint_spec(checkpoints, metadata, images=None if images is None else os.fspath(images),
                               base=base)
    elif not isinstance(spec, Spec):
        spec = load_spec(spec)
    if quick:
        spec = quick_spec(spec)
    try:
        dev = resolve_device(device).type
    except ValueError as e:
        raise InputError(str(e)) from None
    out = Path(out)
    _check_run_folder(out, spec)
    paths = dataset_paths(spec["dataset"], progress=progress)
    shas = _check_checkpoints(spec, paths) if spec.checkpoints else None
    digest = metadata_digest(paths)
    plans = plan_cells(spec, device=dev, checkpoint_sha256=shas, data_digest=digest)
    from wsol.paper.cell import cell_finished, check_cell_folder

    for p in plans:
        check_cell_folder(out / p.name, p)
    pending = [p for p in plans if not cell_finished(out / p.name, p, has_masks=paths["masks"] is not None)]
    skipped = [p.name for p in plans if p not in pending]
    for source in reuse:
        if not (Path(source) / SPEC_FILE).is_file():
            raise InputError("--reuse needs a `wsol paper run` folder (no spec.json)", path=source)
    out.mkdir(parents=True, exist_ok=True)
    if reuse:
        copied = reuse_cells(pending, out, reuse, has_masks=paths["masks"] is not None)
        pending = [p for p in pending if p.name not in copied]
        skipped += copied
    atomic_write_json(out / SPEC_FILE, {**spec.to_dict(), "device": dev,
                                        "cells": [p.name for p in plans]})
    logger.info("%s: %d cells (%d finished, %d to run) in %s", spec.name, len(plans), len(skipped), len(pending),
                out)
    _launch(pending, out, jobs=jobs, launcher=launcher, slurm=slurm or {}, progress=progress, workers=workers)
    cells = {p.name: read_cell(out / p.name) for p in plans}
    previous = {}
    if (out / MANIFEST_FILE).is_file():
        try:
            previous = json.loads((out / MANIFEST_FILE).read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            previous = {}
    calls = list(previous.get("calls", [])) + [{
        "command": command, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(time.time() - (
            time.perf_counter() - start))), "wall_s": time.perf_counter() - start, "ran": [p.name for p in pending],
        "jobs": jobs, "launcher": launcher}]
    manifest = {
        "spec": spec.to_dict(), "seeds": list(spec["seeds"]), "device": dev, "versions": library_versions(),
        "metadata_digest": digest,
        "cells": {name: {"method": r["plan"]["method"], "seed": r["plan"]["seed"],
                         "schedule": r["plan"]["schedule"], "hash": r["plan"]["hash"],
                         "checkpoint_sha256": r.get("checkpoint_sha256"), "timings_s": r.get("timings", {}),
                         "wsol_version": r.get("wsol_version")} for name, r in cells.items()},
        "calls": calls,
    }
    atomic_write_json(out / MANIFEST_FILE, manifest)
    return {"spec": spec.name, "out": os.fspath(out), "cells": cells, "ran": [p.name for p in pending],
            "skipped": skipped, "wall_s": time.perf_counter() - start}


__all__ = ["LAUNCHERS", "run_paper", "metadata_digest", "library_versions"]
