"""Renderings of each job's results: the figures the commands write beside their JSON, and one-line summaries.

Every function takes the dict a job returned (:mod:`wsol.api`) and writes or formats it; none runs a model. The
figure writers are atomic and return the paths they wrote, which the caller records in the results.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from wsol.fileio import atomic_write_bytes
from wsol.report.figures import (box_acc_curves_png, cam_gallery_figure, lines_png, pr_curves_figure, render,
                                 roc_curves_png, score_histograms_png)


def localization_summary(results: Mapping[str, Any]) -> str:
    """``N images: top-1 ... MaxBoxAcc ... MaxBoxAccV2 ... Top-1 Loc ... GT-known Loc ...`` (or ``PxAP``)."""
    if "pxap" in results:
        text = f"PxAP {results['pxap']:.2f}"
    else:
        text = (f"top-1 {results.get('top1_cls', math.nan):.2f}  MaxBoxAcc {results['maxboxacc']:.2f}  "
                f"MaxBoxAccV2 {results['maxboxacc_v2']:.2f}  Top-1 Loc {results.get('top1_loc', math.nan):.2f}  "
                f"GT-known Loc {results['gt_known_loc']:.2f}")
    shard = f" [shard {results['shard'][0]}/{results['shard'][1]}]" if "shard" in results else ""
    return f"{results['num_images']} images{shard}: {text}"


def box_acc_figure(results: Mapping[str, Any], path: str | Path) -> str:
    """BoxAcc against the CAM threshold of a box evaluation (every reported IoU with all regions, and the largest
    region at IoU 50, whose maximum is MaxBoxAcc); writes a PNG and returns its path."""
    taus = np.asarray(results["thresholds"])
    curves = {f"IoU {d}, all regions": (taus, np.asarray(v)) for d, v in results["box_acc_curve"].items()}
    curves["IoU 50, largest region"] = (taus, np.asarray(results["box_acc_curve_v1"]["50"]))
    cal = results.get("calibrated")
    title = f"MaxBoxAcc {results['maxboxacc']:.1f}, MaxBoxAccV2 {results['maxboxacc_v2']:.1f}" + (
        f"; τ* = {cal['threshold_v1']:.3f}" if cal else "")
    atomic_write_bytes(path, box_acc_curves_png(curves, title=title, dashed=["IoU 50, largest region"]))
    return str(path)


def pr_curve_figure(results: Mapping[str, Any], path: str | Path) -> str:
    """Pixel precision against recall of a mask evaluation (the curve whose area is PxAP); writes a PNG and returns
    its path: the mask split's counterpart of :func:`box_acc_figure`."""
    title = f"PxAP {results['pxap']:.1f} ({results['num_images']} images, interval {results['interval']:g})"
    atomic_write_bytes(path, render(pr_curves_figure({"CAM": [results["pr_curve"]]}, title=title), dpi=110)["png"])
    return str(path)


def gallery_figure(gallery: Mapping[str, Any], path: str | Path) -> str:
    """The best / worst / random rows of :func:`wsol.engine.evaluate.cam_gallery`'s result as a PNG; returns the
    path."""
    unit = "AP" if gallery.get("kind") == "masks" else "IoU"
    groups = {f"{name} ({unit})": gallery[name] for name in ("best", "worst", "random") if name in gallery}
    atomic_write_bytes(path, render(cam_gallery_figure(groups), dpi=110)["png"])
    return str(path)


def attack_figure(results: Mapping[str, Any], path: str | Path) -> str:
    """Top-1 and top-5 accuracy against the budget for every attack of :func:`wsol.api.attack_checkpoint`."""
    eps = results["eps_255"]
    series = {}
    for name, res in results["attacks"].items():
        series[f"{name} top-1"] = (eps, [r["top1_pct"] for r in res["adversarial"]])
        series[f"{name} top-5"] = (eps, [r["top5_pct"] for r in res["adversarial"]])
    atomic_write_bytes(path, lines_png(series, xlabel="ε (/255)", ylabel="accuracy (%)",
                                       title="accuracy under attack"))
    return str(path)


def attack_summary(results: Mapping[str, Any]) -> list[str]:
    """One line per attack: clean top-1 and top-1 under each budget."""
    lines = []
    for name, res in results["attacks"].items():
        show = ", ".join(f"{e:g}/255 {r['top1_pct']:.1f}" for e, r in zip(results["eps_255"], res["adversarial"]))
        lines.append(f"{name}: clean top-1 {res['clean']['top1_pct']:.1f}; under attack: {show}")
    return lines


def robustness_figures(results: Mapping[str, Any], stem: str | Path) -> dict[str, str]:
    """``STEM_occlusion.png`` and ``STEM_in_between.png`` from :func:`wsol.api.robustness_checkpoint` results."""
    figures = {}
    if "occlusion" in results:
        png = Path(f"{stem}_occlusion.png")
        curves = {f"{m} occlusion": ([r["size"] for r in o["results"]], [r["top1_pct"] for r in o["results"]])
                  for m, o in results["occlusion"].items()}
        atomic_write_bytes(png, lines_png(curves, xlabel="square side (pixels)", ylabel="top-1 accuracy (%)",
                                          title=f"occlusion ({results['fill']} fill)"))
        figures["occlusion"] = str(png)
    if "in_between" in results:
        inb = results["in_between"]
        png = Path(f"{stem}_in_between.png")
        atomic_write_bytes(png, lines_png(
            {"Mixup (x: lam)": ([r["lam"] for r in inb["mixup"]], [r["neither_pct"] for r in inb["mixup"]]),
             "CutMix (x: kept area)": ([r["lam"] for r in inb["cutmix"]], [r["neither_pct"] for r in inb["cutmix"]])},
            xlabel="fraction of the first image", ylabel="predicted as neither class (%)",
            title="in-between-class samples"))
        figures["in_between"] = str(png)
    return figures


def robustness_summary(results: Mapping[str, Any]) -> list[str]:
    """Occlusion top-1 per size and the Mixup in-between rate per weight."""
    lines = []
    if "occlusion" in results:
        lines.append("occlusion top-1: " + "; ".join(
            f"{m} " + ", ".join(f"{r['size']}px {r['top1_pct']:.1f}" for r in o["results"])
            for m, o in results["occlusion"].items()))
    if "in_between" in results:
        lines.append("in-between, % neither: Mixup " + ", ".join(f"{r['lam']:g} {r['neither_pct']:.1f}"
                                                              for r in results["in_between"]["mixup"]))
    return lines


def ood_figures(scores_in: Mapping[str, np.ndarray], scores_out: Mapping[str, Mapping[str, np.ndarray]],
                stem: str | Path) -> dict[str, dict[str, str]]:
    """Per detector ``STEM_<det>_scores.png`` (histograms) and ``STEM_<det>_roc.png`` from
    :func:`wsol.api.detect_ood`'s scores."""
    from wsol.ood.metrics import roc_points

    figures = {}
    for det in scores_in:
        hist, roc = Path(f"{stem}_{det}_scores.png"), Path(f"{stem}_{det}_roc.png")
        atomic_write_bytes(hist, score_histograms_png(scores_in[det], {n: s[det] for n, s in scores_out.items()},
                                                      title=f"{det} scores"))
        atomic_write_bytes(roc, roc_curves_png({n: roc_points(scores_in[det], s[det]) for n, s in scores_out.items()},
                                               title=f"{det}: ROC, in-distribution positive"))
        figures[det] = {"histogram": str(hist), "roc": str(roc)}
    return figures


def ood_summary(results: Mapping[str, Any]) -> list[str]:
    """One line per detector: the mean over OOD sets of TNR at TPR 95 %, AUROC and detection accuracy."""
    n = len(results["ood_sets"])
    return [f"{det}: mean over {n} OOD set(s): TNR@TPR95 {t['mean']['tnr_at_tpr95']:.1f}  "
            f"AUROC {t['mean']['auroc']:.1f}  detection acc {t['mean']['detection_accuracy']:.1f}"
            for det, t in results["metrics"].items()]
