"""Training loop and checkpoints (evaluation joins here later).

:func:`wsol.engine.train.fit` trains a :class:`wsol.config.TrainConfig` into an existing run folder;
:mod:`wsol.engine.checkpoint` writes and reads its files atomically and safely.
"""
from wsol.engine.checkpoint import load_checkpoint, save_checkpoint
from wsol.engine.train import RunFiles, fit

__all__ = ["fit", "RunFiles", "load_checkpoint", "save_checkpoint"]
