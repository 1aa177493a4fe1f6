"""The demo's evaluation and report: metrics of several trained models on the digits splits, figures, Markdown.

Numbers are whatever the run measures; nothing here is fixed in code.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from wsol.cam import class_activation_maps, resize_and_normalize
from wsol.data.datasets import collate_image_label, open_split
from wsol.data.transforms import denormalize, eval_transform
from wsol.engine.evaluate import EvalSettings, evaluate_split, load_model_for_eval
from wsol.devices import resolve_device
from wsol.fileio import atomic_write_bytes, atomic_write_text
from wsol.localization.metrics import calibrate
from wsol.localization.protocol import resize_boxes
from wsol.localization.threshold import score_boxes
from wsol.report.figures import box_acc_curves_png, cam_grid_png
from wsol.report.tables import markdown_table

#: Test images shown in the CAM grid (the first ones of the split, so every run shows the same).
NUM_SHOWN = 8
#: FGSM budgets of the demo, in /255 units (the CutMix paper reports ImageNet at 8/255).
FGSM_EPS_255 = (1, 2, 4, 8)
#: Test images attacked in the demo (a seeded subset keeps the demo within its time budget).
FGSM_IMAGES = 500


def robustness_for_report(models: Mapping[str, Path], meta_root: Path, ood_root: Path | None, *,
                          device: str = "auto", seed: int = 0) -> dict[str, Any]:
    """FGSM accuracy per budget and max-softmax OOD detection for every model (the demo's robustness sections).

    OOD sets: the digits set's background-only crops (``ood_root``, when given), Gaussian N(0.5, 1) and uniform
    noise, as many images as the test split; in-distribution: the test split. FGSM on a seeded subset of
    :data:`FGSM_IMAGES` test images.

    Returns:
        ``fgsm`` (model -> :func:`wsol.robustness.attack_accuracy` result), ``ood`` (model -> per-set and mean
        metrics of the ``msp`` detector), ``fgsm_images``, ``ood_sets`` (name -> size).
    """
    from torch.utils.data import DataLoader, Subset

    from wsol.constants import IMAGENET_MEAN, IMAGENET_STD
    from wsol.data.transforms import pixel_transform
    from wsol.ood.datasets import GaussianNoise, ImageFolderOOD, UniformNoise
    from wsol.ood.evaluate import collect_scores, metric_tables
    from wsol.robustness import PixelSpaceModel, attack_accuracy

    dev = resolve_device(device)
    out: dict[str, Any] = {"fgsm": {}, "ood": {}, "fgsm_eps_255": list(FGSM_EPS_255)}
    for name, path in models.items():
        loaded = load_model_for_eval(path)
        size = loaded.image_size or 64
        model = loaded.model.to(dev).eval()
        test = open_split(meta_root / "test", image_size=size, transform=pixel_transform(image_size=size))
        g = torch.Generator().manual_seed(seed)
        keep = sorted(torch.randperm(len(test), generator=g)[:FGSM_IMAGES].tolist())
        loader = DataLoader(Subset(test, keep), batch_size=128, shuffle=False,
                            collate_fn=collate_image_label)
        pixel_model = PixelSpaceModel(model, IMAGENET_MEAN, IMAGENET_STD).to(dev)
        out["fgsm"][name] = attack_accuracy(pixel_model, loader, eps_list=[e / 255 for e in FGSM_EPS_255],
                                            device=dev)
        out["fgsm_images"] = len(keep)
        in_set = open_split(meta_root / "test", image_size=size, transform=eval_transform(image_size=size))
        sets: dict[str, Any] = {}
        if ood_root is not None:
            sets["digits backgrounds"] = ImageFolderOOD(ood_root, size)
        sets["Gaussian noise"] = GaussianNoise(len(in_set), size, seed)
        sets["uniform noise"] = UniformNoise(len(in_set), size, seed)
        detectors = {"msp": {}}
        scores_in = collect_scores(model, in_set, detectors=detectors, device=dev, batch_size=256)
        scores_out = {k: collect_scores(model, v, detectors=detectors, device=dev, batch_size=256)
                      for k, v in sets.items()}
        out["ood"][name] = metric_tables(scores_in, scores_out)["msp"]
        out["ood_sets"] = {k: len(v) for k, v in sets.items()}
    return out


def evaluate_for_report(models: Mapping[str, Path], meta_root: Path, *, device: str = "auto",
                        progress: bool = False) -> dict[str, Any]:
    """Evaluate every model on ``test`` (threshold calibrated on ``train_fullsup``) and ``test_masks`` (PxAP).

    Returns:
        ``results`` (model name -> metrics dict, with ``calibrated`` and ``pxap``), ``grid`` (images, maps and
        boxes of the first test images for :func:`cam_grid_png`) and ``taus``.
    """
    dev = resolve_device(device)
    out: dict[str, Any] = {"results": {}, "grid": {"maps": {}, "pred_boxes": {}}}
    for name, path in models.items():
        loaded = load_model_for_eval(path)
        model = loaded.model.to(dev)
        size = loaded.image_size or 64
        settings = EvalSettings(image_size=size, batch_size=128, workers=0, score_threads=1)

        def split(sub: str, localization: str):
            return open_split(meta_root / sub, localization=localization, image_size=size,
                              transform=eval_transform(image_size=size))

        test = evaluate_split(model, split("test", "boxes"), settings=settings, device=dev, progress=progress)
        cal = evaluate_split(model, split("train_fullsup", "boxes"), settings=settings, device=dev,
                             progress=progress)
        res = test.accumulator.compute()
        res["calibrated"] = calibrate(cal.accumulator, test.accumulator)
        res["timing"] = test.timing
        if (meta_root / "test_masks").is_dir():
            masks = evaluate_split(model, split("test_masks", "masks"), settings=settings, device=dev,
                                   progress=progress)
            res["pxap"] = masks.accumulator.compute()["pxap"]
        out["results"][name] = res
        out["taus"] = res["thresholds"]

        ds = split("test", "boxes")
        shown = [ds[i] for i in range(min(NUM_SHOWN, len(ds)))]
        images = torch.stack([s["image"] for s in shown]).to(dev)
        labels = torch.tensor([s["label"] for s in shown], dtype=torch.int64, device=dev)
        _, cams = class_activation_maps(model, images, labels)
        maps = resize_and_normalize(cams.float().cpu().numpy(), (size, size))
        tau = np.array([res["calibrated"]["threshold_v1"]])
        gts = [resize_boxes(ds.metadata.boxes[s["image_id"]], ds.metadata.sizes[s["image_id"]], (size, size))
               for s in shown]
        out["grid"]["maps"][name] = maps
        out["grid"]["pred_boxes"][name] = [score_boxes(m, g, tau).v1_box[0].tolist() for m, g in zip(maps, gts)]
        out["grid"]["gt_boxes"] = gts
        out["grid"]["images"] = (denormalize(images.cpu()).permute(0, 2, 3, 1).numpy() * 255).round().astype(
            np.uint8)
        out["grid"]["titles"] = [f"label {int(s['label'])}" for s in shown]
    return out


def _robustness_sections(rob: Mapping[str, Any]) -> list[str]:
    eps = rob["fgsm_eps_255"]
    rows = [[name, r["clean"]["top1_pct"], *[a["top1_pct"] for a in r["adversarial"]]] for name, r in
            rob["fgsm"].items()]
    fgsm = markdown_table(["model", "clean", *[f"ε = {e}/255" for e in eps]], rows, digits=1)
    sets = list(rob["ood_sets"])
    cols = ["model", "OOD set", "TNR at TPR 95%", "AUROC", "detection acc.", "AUPR-In", "AUPR-Out"]
    ood_rows = []
    for name, table in rob["ood"].items():
        for key in [*sets, "mean"]:
            m = table[key]
            ood_rows.append([name, key, m["tnr_at_tpr95"], m["auroc"], m["detection_accuracy"], m["aupr_in"],
                             m["aupr_out"]])
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
        + ". In %; TNR at the largest threshold that keeps ≥ 95 % of the in-distribution images (`wsol ood`).",
        "",
        markdown_table(cols, ood_rows, digits=1),
    ]


def write_report(out_dir: Path, evaluation: Mapping[str, Any], *, trained: Mapping[str, Mapping[str, Any]],
                 timings: Mapping[str, float], tiny: bool, data: Path,
                 robustness: Mapping[str, Any] | None = None) -> Path:
    """Write ``cams.png``, ``box_acc_curves.png`` and ``report.md`` into ``out_dir`` (atomically).

    Returns:
        the path of ``report.md``.
    """
    results = evaluation["results"]
    grid = evaluation["grid"]
    atomic_write_bytes(out_dir / "cams.png", cam_grid_png(grid["images"], grid["maps"], gt_boxes=grid["gt_boxes"],
                                                          pred_boxes=grid["pred_boxes"], titles=grid["titles"]))
    taus = np.asarray(evaluation["taus"])
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, res in results.items():
        curves[f"{name}, largest region (IoU 50)"] = (taus, np.asarray(res["box_acc_curve_v1"]["50"]))
        curves[f"{name}, all regions (IoU 50)"] = (taus, np.asarray(res["box_acc_curve"]["50"]))
    atomic_write_bytes(out_dir / "box_acc_curves.png",
                       box_acc_curves_png(curves, title="BoxAcc on digits test vs CAM threshold"))
    rows = []
    for name, res in results.items():
        rows.append([name, res.get("top1_cls"), res["maxboxacc"], res["maxboxacc_v2"], res.get("top1_loc"),
                     res["gt_known_loc"], res["calibrated"]["box_acc_v1"], res.get("pxap"),
                     trained[name].get("train_seconds")])
    table = markdown_table(["model", "top-1 cls", "MaxBoxAcc", "MaxBoxAccV2", "Top-1 Loc", "GT-known Loc",
                            "BoxAcc @ τ* (v1)", "PxAP", "train s"], rows)
    any_res = next(iter(results.values()))
    lines = [
        "# wsol demo: vanilla CAM vs CutMix on the embedded digits set",
        "",
        ("**Tiny smoke run: the models are barely trained and the numbers mean nothing.**\n" if tiny else ""),
        f"Dataset: `{data}` ({any_res['num_images']} test images). Presets `digits-vanilla` and `digits-cutmix` "
        "(`wsol list presets`). Protocol `wsolevaluation`: MaxBoxAcc (largest region, IoU ≥ 50 %) and MaxBoxAccV2 "
        "(all regions, mean over IoU 30/50/70) take the best threshold on the test split itself; Top-1 Loc and "
        f"GT-known Loc use the fixed threshold τ = {any_res['fixed_threshold']}; BoxAcc @ τ* uses the threshold "
        "chosen on the held-out `train_fullsup` split (the protocol of Choe et al.); PxAP is on `test_masks`. "
        "All numbers in %.",
        "",
        table,
        "## CAMs",
        "",
        "Ground-truth box green; predicted box red: the largest region at each model's own τ* (chosen on "
        "`train_fullsup`: " + ", ".join(f"{n} {r['calibrated']['threshold_v1']:.2f}" for n, r in results.items())
        + "). Rows: the image, then each model's CAM of the ground-truth class.",
        "",
        "![CAM overlays](cams.png)",
        "",
        "## BoxAcc against the threshold",
        "",
        "![BoxAcc curves](box_acc_curves.png)",
        "",
        *(_robustness_sections(robustness) if robustness else []),
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
