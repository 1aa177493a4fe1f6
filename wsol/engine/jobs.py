"""The training job: a preset (or a config, or a run to resume) -> a trained run folder; behind ``wsol train``.

:func:`wsol.engine.train.fit` is the loop; :func:`train` is what a user, the CLI, the demo and the paper runner
call: it resolves the config, prepares the run folder, builds the embedded digits set when a digits run needs it,
starts the process group under ``torchrun``, and trains.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Optional, Sequence

from wsol.config import TrainConfig, apply_overrides, preset_config
from wsol.errors import InputError

logger = logging.getLogger(__name__)


def resolve_train_config(config: TrainConfig | str | None, out: str | os.PathLike, *, method: Optional[str] = None,
                         overrides: Sequence[str] = (), resume: bool = False) -> TrainConfig:
    """The config a training job runs: a preset name, a :class:`TrainConfig`, or (``None`` with ``resume``) the
    run's saved ``config.json``; then ``method`` and the ``key=value`` ``overrides``.

    Raises:
        InputError: unknown preset, key or value; a run folder without (valid) ``config.json`` (one line).
    """
    try:
        if config is None:
            if not resume:
                raise InputError("a preset or a config is required (or resume a run)")
            path = Path(out) / "config.json"
            if not path.is_file():
                raise InputError("no config.json: not a wsol run folder", path=path)
            try:
                saved = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as e:
                raise InputError("invalid JSON", path=path, line=e.lineno, value=e.msg) from None
            config = TrainConfig.from_dict(saved)
        elif isinstance(config, str):
            return preset_config(config, method=method, overrides=list(overrides))
        if method is not None:
            config = config.replace(method=method, method_options={})
        return apply_overrides(config, list(overrides))
    except InputError:
        raise
    except ValueError as e:  # config errors are user errors: one line
        raise InputError(str(e)) from None


def train(config: TrainConfig | str | None, out: str | os.PathLike, *, method: Optional[str] = None,
          overrides: Sequence[str] = (), resume: bool = False, progress: bool = False) -> dict[str, Any]:
    """Train a model into the run folder ``out`` (created), or continue the run there: the job behind ``wsol train``.

    Args:
        config: a preset name (``wsol list presets``), a :class:`TrainConfig`, or ``None`` to resume ``out`` with
            its saved config.
        out: the run folder (see :mod:`wsol.engine.train` for its files). A new run refuses a folder that already
            holds a checkpoint; a folder this call created is removed again when the run fails before writing.
        method: another training method (its options reset).
        overrides: ``key=value`` settings (``model.NAME=V``, ``method_options.NAME=V`` for options).
        resume: continue from ``out/checkpoint.pt`` (the config must equal the checkpoint's but for
            :data:`wsol.engine.train.RESUME_MUTABLE`).
        progress: tqdm bars.

    Returns:
        the final metrics (:func:`wsol.engine.train.fit`), also written as ``out/metrics.json``.

    Raises:
        InputError: bad settings, data or run folder (one line).

    Example::

        from wsol.api import train
        metrics = train("digits-cutmix", "runs/cutmix", overrides=["epochs=3"])
        print(metrics["eval_top1"])
    """
    import torch.distributed as dist

    from wsol.engine.distributed import init_from_env, rank_and_world
    from wsol.engine.train import RunFiles, fit

    run_dir = Path(out)
    config = resolve_train_config(config, run_dir, method=method, overrides=overrides, resume=resume)
    started = init_from_env(config.device)
    rank, _ = rank_and_world()
    created = False
    try:
        if rank == 0:
            if not resume:
                if RunFiles(run_dir).checkpoint.exists():
                    raise InputError("run folder already holds a checkpoint (use --resume, or another --out)",
                                     path=run_dir)
                created = not run_dir.exists()
                run_dir.mkdir(parents=True, exist_ok=True)
            if config.dataset == "digits":
                _ensure_digits(config, progress=progress)
        if dist.is_initialized():
            dist.barrier()
        try:
            return fit(config, run_dir, resume=resume, progress=progress)
        except InputError:
            raise
        except ValueError as e:
            raise InputError(str(e)) from None
    except BaseException:
        if created and run_dir.is_dir() and not any(run_dir.iterdir()):
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    finally:
        if started:
            dist.destroy_process_group()


def _ensure_digits(config: TrainConfig, *, progress: bool) -> None:
    from wsol.data.digits import prepare_digits

    if (Path(config.data) / "metadata" / config.train_split).is_dir():
        return
    logger.info("building the embedded digits dataset at %s", config.data)
    prepare_digits(config.data, progress=progress)
