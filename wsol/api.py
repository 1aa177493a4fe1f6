"""The jobs, one function each, for notebooks and scripts: the CLI, the demo and the paper runner call these same
functions, so a Python caller gets exactly the numbers ``wsol <command>`` writes.

Every job takes plain arguments (paths, numbers, names; no argparse), returns a JSON-ready dict (``detect_ood``: an
object whose ``.results`` is that dict, with the raw scores beside it), raises :class:`wsol.errors.InputError` with a
one-line message on bad input, and never prints.

| job | command | returns |
| --- | --- | --- |
| :func:`prepare_digits` | ``wsol prepare digits`` | the dataset's ``dataset.json`` content |
| :func:`train` | ``wsol train`` | the final training metrics |
| :func:`evaluate_checkpoint` | ``wsol evaluate`` | MaxBoxAcc, MaxBoxAccV2, Top-k / GT-known Loc, PxAP, ... |
| :func:`merge_shards` | ``wsol merge`` | the whole-run result of ``shard=(i, n)`` parts |
| :func:`score_directory` | ``wsol score`` | the metrics of saved score maps |
| :func:`attack_checkpoint` | ``wsol attack`` | clean / FGSM / PGD accuracy per budget |
| :func:`robustness_checkpoint` | ``wsol robustness`` | occlusion and in-between-class curves |
| :func:`detect_ood` | ``wsol ood`` | OOD tables per detector and set |
| :func:`run_demo` | ``wsol demo`` | the demo's results and report path |
| :func:`run_paper` | ``wsol paper run`` | every (method, seed) cell of an experiment spec |
| :func:`paper_report` | ``wsol paper report`` | tables with seed statistics and bootstrap intervals, figures |
| :func:`compare_per_image` | ``wsol paper compare`` | paired bootstrap of two ``--per-image`` files |

Building blocks for custom loops: :func:`load_model` (any checkpoint, safely), :func:`cam_examples` (CAMs and boxes of
a few images), :func:`cam_gallery` (the best, worst and random images of an evaluation, as ``wsol evaluate --figures``
draws them), :func:`open_eval_split`.

Example (runs on a laptop CPU in about a minute)::

    from wsol.api import DigitsConfig, evaluate_checkpoint, prepare_digits, train

    prepare_digits("datasets/digits-small", config=DigitsConfig(num_train=500, num_test=200))
    train("digits-cutmix", "runs/cutmix-small", overrides=["data=datasets/digits-small", "epochs=2"])
    r = evaluate_checkpoint("runs/cutmix-small/model.pt", "datasets/digits-small/metadata/test",
                            calibrate_on="datasets/digits-small/metadata/train_fullsup")
    print(r["maxboxacc"], r["maxboxacc_v2"], r["calibrated"]["box_acc_v1"])
"""
from __future__ import annotations

from wsol.data.digits import DigitsConfig, prepare_digits
from wsol.demo import run_demo
from wsol.engine.evaluate import cam_examples, cam_gallery, evaluate_checkpoint, merge_shards, open_eval_split
from wsol.engine.jobs import train
from wsol.localization.engine import score_directory
from wsol.models.loading import LoadedModel, load_model
from wsol.ood.evaluate import OODDetection, detect_ood
from wsol.paper.report import compare_per_image, paper_report
from wsol.paper.runner import run_paper
from wsol.robustness.jobs import attack_checkpoint, robustness_checkpoint

#: The jobs in the order of the table above.
JOBS = ("prepare_digits", "train", "evaluate_checkpoint", "merge_shards", "score_directory", "attack_checkpoint",
        "robustness_checkpoint", "detect_ood", "run_demo", "run_paper", "paper_report", "compare_per_image")

__all__ = ["prepare_digits", "train", "evaluate_checkpoint", "merge_shards", "score_directory", "attack_checkpoint",
           "robustness_checkpoint", "detect_ood", "run_demo", "run_paper", "paper_report", "compare_per_image",
           "DigitsConfig", "load_model", "LoadedModel",
           "cam_examples", "cam_gallery", "open_eval_split", "OODDetection", "JOBS"]
