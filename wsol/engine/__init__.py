"""Training and evaluation: the loops and their jobs.

:func:`wsol.engine.jobs.train` (``wsol train``) resolves a preset and runs :func:`wsol.engine.train.fit`, which trains
a :class:`wsol.config.TrainConfig` into a run folder; :mod:`wsol.engine.checkpoint` builds, writes and reads its
files atomically and safely. :func:`wsol.engine.evaluate.evaluate_checkpoint` (``wsol evaluate``) streams a split
through a checkpoint's CAMs into the scoring engine; :func:`wsol.engine.evaluate.merge_shards` (``wsol merge``)
combines shards.
"""
from wsol.engine.checkpoint import load_checkpoint, save_checkpoint
from wsol.engine.train import RunFiles, fit

__all__ = ["fit", "RunFiles", "load_checkpoint", "save_checkpoint"]
