"""The demo's report: renders the results :func:`wsol.demo.run_demo` gives it (tables, figures, Markdown).

It runs no model; numbers are whatever the run measured.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from wsol.fileio import atomic_write_bytes, atomic_write_text
from wsol.report.figures import box_acc_curves_png, cam_grid_png, pr_curves_figure, render
from wsol.report.tables import format_number, markdown_table

def _robustness_sections(rob: Mapping[str, Any]) -> list[str]:
    eps = rob["fgsm_eps_255"]
    rows = [[name, r["clean"]["top1_pct"], *[a["top1_pct"] for a in r["adversarial"]]] for name, r in
            rob["fgsm"].items()]
    fgsm = markdown_table(["model", "clean", *[f"ε = {e}/255" for e in eps]], rows, digits=1)
    sets = list(rob["ood_sets"])
    cols = ["model", "OOD set", "TNR at TPR 95%", "AUROC", "AUROC 95% interval (images)", "detection acc.",
            "AUPR-In", "AUPR-Out"]
    intervals = rob.get("ood_auroc_interval", {})
    ood_rows = []
    for name, table in rob["ood"].items():
        for key in [*sets, "mean"]:
            m = table[key]
            ci = intervals.get(name, {}).get(key)
            ood_rows.append([name, key, m["tnr_at_tpr95"], m["auroc"], f"{ci[0]:.1f} – {ci[1]:.1f}" if ci else None,
                             m["detection_accuracy"], m["aupr_in"], m["aupr_out"]])
    return [
        "## FGSM robustness",
        "",
        f"Top-1 accuracy (%) on a seeded subset of {rob['fgsm_images']} test images under an untargeted FGSM "
        "white-box attack in pixel space, x_adv = clip(x + ε sign(∇ₓ CE), 0, 1) (`wsol attack`).",
        "",
        fgsm,
        "## Out-of-distribution detection",
        "",
        "Max-softmax detector (the CutMix paper's baseline); in-distribution: the test split; OOD: "
        + ", ".join(f"{k} ({n} images)" for k, n in rob["ood_sets"].items())
        + ". In %; TNR at the largest threshold that keeps ≥ 95 % of the in-distribution images (`wsol ood`). "
        "The noise images are the same in every run (image i of a set is drawn from its own seeded stream). The "
        "intervals are percentile bootstraps over the test and OOD images of this one model; they do not cover "
        "the training seed, which moves noise-set AUROCs far more (over three seeds of the `digits-cutmix` preset "
        "the Gaussian-noise AUROC ranged from 41.1 to 97.5; `benchmarks/results/digits_presets_30ep.json`): with one "
        "model per method, a vanilla-vs-CutMix difference on a noise set is not resolved here unless it holds over "
        "several seeds.",
        "",
        markdown_table(cols, ood_rows, digits=1),
    ]


def summary_table(results: Mapping[str, Mapping[str, Any]], robustness: Mapping[str, Any] | None = None) -> str:
    """The demo's headline numbers as a plain-text table for the terminal: classification, MaxBoxAcc, MaxBoxAccV2,
    Top-1 Loc at the fixed and the calibrated threshold, PxAP, FGSM accuracy at the largest budget and the mean
    max-softmax OOD AUROC (columns without data are left out)."""
    any_res = next(iter(results.values()))
    tau = any_res["fixed_threshold"]
    columns = ["model", "cls top-1", "MaxBoxAcc", "MaxBoxAccV2", f"Top-1 Loc τ={tau:g}", "Top-1 Loc τ*", "PxAP"]
    rows = [[name, res.get("top1_cls"), res["maxboxacc"], res["maxboxacc_v2"], res.get("top1_loc"),
             res["calibrated"].get("top1_loc"), res.get("pxap")] for name, res in results.items()]
    if robustness:
        eps = robustness["fgsm_eps_255"][-1]
        columns += [f"FGSM {eps:g}/255", "OOD AUROC"]
        for row, name in zip(rows, results):
            row += [robustness["fgsm"][name]["adversarial"][-1]["top1_pct"], robustness["ood"][name]["mean"]["auroc"]]
    cells = [columns] + [[str(r[0])] + [format_number(v, digits=1) for v in r[1:]] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in cells]
    return "\n".join(lines[:1] + ["-" * len(lines[0])] + lines[1:])


def write_report(out_dir: Path, results: Mapping[str, Mapping[str, Any]], *, grid: Mapping[str, Any],
                 trained: Mapping[str, Mapping[str, Any]], timings: Mapping[str, float], tiny: bool, data: Path,
                 robustness: Mapping[str, Any] | None = None, environment: Mapping[str, Any] | None = None) -> Path:
    """Write ``cams.png``, ``box_acc_curves.png``, ``pr_curves.png`` (when the results carry a mask evaluation's
    ``pr_curve``) and ``report.md`` into ``out_dir`` (atomically).

    Args:
        out_dir: the demo folder.
        results: model name -> localization results (:func:`wsol.engine.evaluate.evaluate_checkpoint` with
            ``calibrated``, and ``pxap`` / ``pr_curve`` from the mask split).
        grid: ``images``, ``gt_boxes``, ``titles`` and per model ``maps`` / ``pred_boxes``
            (:func:`wsol.engine.evaluate.cam_examples`).
        trained: model name -> training metrics.
        timings: step -> seconds.
        tiny: the smoke run (the report says its numbers mean nothing).
        data: the dataset folder (named in the report).
        robustness: FGSM and OOD results (``fgsm``, ``ood``, ``fgsm_eps_255``, ``fgsm_images``, ``ood_sets``).
        environment: versions, threads and CPU capability of the run (a "Reproducibility" section).

    Returns:
        the path of ``report.md``.
    """
    atomic_write_bytes(out_dir / "cams.png", cam_grid_png(grid["images"], grid["maps"], gt_boxes=grid["gt_boxes"],
                                                          pred_boxes=grid["pred_boxes"], titles=grid["titles"]))
    taus = np.asarray(next(iter(results.values()))["thresholds"])
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, res in results.items():
        curves[f"{name}, largest region (IoU 50)"] = (taus, np.asarray(res["box_acc_curve_v1"]["50"]))
        curves[f"{name}, all regions (IoU 50)"] = (taus, np.asarray(res["box_acc_curve"]["50"]))
    atomic_write_bytes(out_dir / "box_acc_curves.png",
                       box_acc_curves_png(curves, title="BoxAcc on digits test vs CAM threshold"))
    pr = {name: [res["pr_curve"]] for name, res in results.items() if res.get("pr_curve")}
    if pr:  # the mask split's counterpart of the BoxAcc curves: the curve whose area is PxAP
        atomic_write_bytes(out_dir / "pr_curves.png", render(pr_curves_figure(
            pr, title="test_masks: pixel precision-recall (area = PxAP)"), dpi=100)["png"])
    any_res = next(iter(results.values()))
    tau = any_res["fixed_threshold"]
    rows = []
    for name, res in results.items():
        cal = res["calibrated"]
        rows.append([name, res.get("top1_cls"), res["maxboxacc"], res["maxboxacc_v2"], res.get("top1_loc"),
                     cal.get("top1_loc"), res["gt_known_loc"], cal["box_acc_v1"], res.get("pxap"),
                     trained[name].get("train_seconds")])
    table = markdown_table(["model", "top-1 cls", "MaxBoxAcc", "MaxBoxAccV2", f"Top-1 Loc (τ = {tau:g})",
                            "Top-1 Loc (τ*)", f"GT-known Loc (τ = {tau:g})", "GT-known Loc (τ*)", "PxAP",
                            "train s"], rows)
    lines = [
        "# wsol demo: vanilla CAM vs CutMix on the embedded digits set",
        "",
        ("**Tiny smoke run: the models are barely trained and the numbers mean nothing.**\n" if tiny else ""),
        f"Dataset: `{data}` ({any_res['num_images']} test images). Presets `digits-vanilla` and `digits-cutmix` "
        "(`wsol list presets`). Protocol `wsolevaluation`: MaxBoxAcc (largest region, IoU ≥ 50 %) and MaxBoxAccV2 "
        "(all regions, mean over IoU 30/50/70) take the best threshold on the test split itself. Top-1 Loc and "
        f"GT-known Loc are given twice: at the protocol's fixed threshold τ = {tau:g} (wsolevaluation's; the "
        "CutMix paper's `--protocol cutmix` uses 0.15), and at τ*, the threshold chosen on the held-out "
        "`train_fullsup` split (the protocol of Choe et al.; GT-known Loc at τ* is BoxAcc of the largest region "
        "at IoU 50). PxAP is on `test_masks`. All numbers in %.",
        "",
        table,
        "",
        "One model per method (one seed). Over three seeds of these presets the MaxBoxAcc of one recipe spreads by "
        "3-5 points (std; README, \"The embedded benchmark\", and `benchmarks/digits_benchmark.py` to run the seeds), "
        "so a vanilla-vs-CutMix difference of a few points here is within seed noise, not a finding.",
        "",
        "## CAMs",
        "",
        "Ground-truth box green; predicted box red: the largest region at each model's own τ* (chosen on "
        "`train_fullsup`: " + ", ".join(f"{n} {r['calibrated']['threshold_v1']:.3f}" for n, r in results.items())
        + "). Rows: the image, then each model's CAM of the ground-truth class.",
        "",
        "![CAM overlays](cams.png)",
        "",
        "## BoxAcc against the threshold",
        "",
        "![BoxAcc curves](box_acc_curves.png)",
        "",
        *(["## Pixel precision against recall (PxAP)", "",
           "The mask evaluation of `test_masks`: every pixel's CAM score against the digit's mask, precision and "
           "recall over the threshold grid; PxAP is the area under the curve. "
           + ", ".join(f"{n} {r['pxap']:.1f}" for n, r in results.items() if r.get("pr_curve")) + ".", "",
           "![PR curves](pr_curves.png)", ""] if pr else []),
        *(_robustness_sections(robustness) if robustness else []),
        *(["## Reproducibility", "",
            "The same seed gives bit-identical numbers for the same library versions, training thread count and "
            "SIMD level of torch's kernels. Another thread count, or a CPU whose kernels dispatch to another SIMD "
            "level (AVX2 vs AVX-512, in ATen and in oneDNN separately), changes the last bits of the weights, and "
            "after training these numbers can move by more than their seed spread. To compare across machines, "
            "pin both with `ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2` and the threads with `--threads` "
            "(README, Determinism). This run:",
            "", markdown_table(["setting", "value"], [[k, json.dumps(v) if isinstance(v, dict) else v]
                                                       for k, v in environment.items()]), ""]
          if environment else []),
        "## Timings",
        "",
        markdown_table(["step", "seconds"], [[k, float(v)] for k, v in timings.items()], digits=1),
        "Reproduce: `wsol demo` (add `--fresh` to retrain). Per-model results: `<model>/evaluation.json`; training "
        "logs: `<model>/log.jsonl`.",
        "",
    ]
    report = out_dir / "report.md"
    atomic_write_text(report, "\n".join(lines))
    return report
