"""``wsol paper report`` and ``wsol paper compare``: tables, statistics and figures from finished cells.

Everything here is computed from the cells' files (no model is run): every table cell is the mean ± sample std over
seeds of the numbers in the cells' JSON files, and every difference from the baseline has a 95 % interval from the
paired bootstrap of :mod:`wsol.report.stats` over seeds and test images, computed from the per-image files. As a
self-check, each bootstrap's observed difference (per-image data, unit weights) must equal the difference of the
JSON means; a mismatch stops the report instead of printing numbers that disagree.

Published numbers of the CutMix paper stand in separate, labelled tables, never in the columns of ours: they come
from other architectures and datasets (ResNet-50 on CUB / ImageNet, PyramidNet-200 on CIFAR-100) and are there for
orientation only.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np

from wsol.errors import InputError
from wsol.paper.results import Cell, PaperRun, load_run

logger = logging.getLogger(__name__)

#: The CutMix paper's numbers (Yun et al., ICCV 2019; arXiv 1905.04899v2), per table, for orientation only.
PUBLISHED: dict[str, dict[str, Any]] = {
    "localization": {
        "label": "CutMix paper, Table 9: Loc Acc (%) of ResNet-50 + CAM, boxes at 15 % of the CAM maximum "
                 "(the Top-1 Loc column's protocol)",
        "columns": ["CUB-200-2011", "ImageNet"],
        "rows": {"vanilla": [49.41, 46.30], "mixup": [49.30, 45.84], "cutout": [52.78, 46.69],
                 "cutmix": [54.81, 47.25]},
    },
    "fgsm": {
        "label": "CutMix paper, Table 11: ImageNet top-1 (%) of ResNet-50 after FGSM at ε = 8/255 (white box)",
        "columns": ["ε = 8/255"],
        "rows": {"vanilla": [8.2], "mixup": [24.4], "cutout": [11.5], "cutmix": [31.0]},
    },
    "ood": {
        "label": "CutMix paper, Table 12: CIFAR-100 PyramidNet-200, max-softmax detector, mean over seven OOD sets "
                 "(TinyImageNet crop / resize, LSUN crop / resize, iSUN, uniform and Gaussian noise)",
        "columns": ["TNR at TPR 95 %", "AUROC", "Detection Acc."],
        "rows": {"vanilla": [26.3, 87.3, 82.0], "mixup": [11.8, 49.3, 60.9], "cutout": [18.8, 68.7, 71.3],
                 "cutmix": [69.0, 94.4, 89.1]},
    },
}
#: Bootstrap resamples of the report's intervals.
RESAMPLES = 1000


# ----------------------------------------------------------------------------------------------------- columns
@dataclass(frozen=True)
class Column:
    """A table column: its number in a cell's JSON and the same number from per-image data under weights.

    Attributes:
        key: CSV / JSON name.
        label: header.
        value: cell -> the number as the cell's JSON files give it.
        stat: (per-image data of a cell, group -> weights) -> (B,) values.
    """

    key: str
    label: str
    value: Callable[[Cell], float]
    stat: Callable[[Mapping[str, Any], Mapping[str, np.ndarray]], np.ndarray]


def _tau_index(thresholds: np.ndarray, tau: float) -> int:
    i = int(np.argmin(np.abs(np.asarray(thresholds) - tau)))
    if thresholds[i] != tau:
        raise InputError(f"threshold {tau} is not on the per-image file's grid")
    return i


def _memo(d: dict[str, Any], name: str, fn: Callable[[], Any]) -> Any:
    """``fn()`` once per statistic call (``d["_memo"]`` is reset for every weights draw)."""
    memo = d.setdefault("_memo", {})
    if name not in memo:
        memo[name] = fn()
    return memo[name]


def _boxes(d: dict[str, Any], key: str, w: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """:func:`~wsol.localization.per_image.box_metrics` of ``d[key]`` under the test weights, once per draw."""
    from wsol.localization.per_image import box_metrics

    return _memo(d, f"boxes/{key}", lambda: box_metrics(d[key], w["test"]))


def _localization_columns(run: PaperRun) -> tuple[list[Column], list[Column]]:
    from wsol.localization.metrics import V2_IOUS
    from wsol.localization.per_image import box_acc, mask_metrics

    def cal(cell: Cell) -> dict[str, Any]:
        return cell.json("localization")["calibrated"]

    def at_cal_v1(d, w):
        i = _tau_index(d["boxes"]["thresholds"], d["cal"]["threshold_v1"])
        return box_acc(d["boxes"], w["test"], iou=50, all_contours=False, tau_index=i)

    def at_cal_v2(d, w):
        return np.mean([box_acc(d["boxes"], w["test"], iou=k, all_contours=True,
                                tau_index=_tau_index(d["boxes"]["thresholds"], d["cal"]["threshold_by_iou"][str(k)]))
                        for k in V2_IOUS], axis=0)

    cutmix = run.cells[0].json("localization_cutmix") or {}
    fixed = cutmix.get("fixed_threshold", 0.15)
    main = [
        Column("top1_cls", "Cls top-1", lambda c: c.json("localization")["top1_cls"],
               lambda d, w: _boxes(d, "boxes", w)["top1_cls"]),
        Column("maxboxacc", "MaxBoxAcc (τ*)", lambda c: cal(c)["box_acc_v1"], at_cal_v1),
        Column("maxboxacc_v2", "MaxBoxAccV2 (τ*)", lambda c: cal(c)["box_acc_v2"], at_cal_v2),
        Column("top1_loc", f"Top-1 Loc (τ = {fixed:g})", lambda c: c.json("localization_cutmix")["top1_loc"],
               lambda d, w: _boxes(d, "boxes_cutmix", w)["top1_loc"]),
        Column("gt_known_loc", f"GT-known Loc (τ = {fixed:g})",
               lambda c: c.json("localization_cutmix")["gt_known_loc"],
               lambda d, w: _boxes(d, "boxes_cutmix", w)["gt_known_loc"]),
    ]
    if run.cells[0].json("pxap") is not None:
        main.append(Column("pxap", "PxAP", lambda c: c.json("pxap")["pxap"],
                           lambda d, w: mask_metrics(d["masks"], w["masks"])["pxap"]))
    other = [
        Column("maxboxacc_test_tau", "MaxBoxAcc (τ on test)", lambda c: c.json("localization")["maxboxacc"],
               lambda d, w: _boxes(d, "boxes", w)["maxboxacc"]),
        Column("maxboxacc_v2_test_tau", "MaxBoxAccV2 (τ on test)", lambda c: c.json("localization")["maxboxacc_v2"],
               lambda d, w: _boxes(d, "boxes", w)["maxboxacc_v2"]),
        Column("top1_loc_cal", "Top-1 Loc (τ*)", lambda c: cal(c)["top1_loc"],
               lambda d, w: _boxes(d, "boxes", w)["top1_loc_calibrated"]),
        Column("gt_known_loc_cal", "GT-known Loc (τ*)", lambda c: cal(c)["gt_known_loc"],
               lambda d, w: _boxes(d, "boxes", w)["gt_known_loc_calibrated"]),
    ]
    return main, other


def _localization_data(cell: Cell) -> tuple[dict[str, Any], dict[str, int]]:
    data = {"boxes": cell.arrays("per_image_boxes"), "boxes_cutmix": cell.arrays("per_image_boxes_cutmix"),
            "cal": cell.json("localization")["calibrated"], "masks": cell.arrays("per_image_masks")}
    for key in ("boxes", "boxes_cutmix"):
        if data[key] is None:
            raise InputError(f"cell has no {key} per-image file", path=cell.folder)
    if len(data["boxes"]["image_ids"]) != len(data["boxes_cutmix"]["image_ids"]) or not np.array_equal(
            data["boxes"]["image_ids"], data["boxes_cutmix"]["image_ids"]):
        raise InputError("the two per-image box files list different images", path=cell.folder)
    sizes = {"test": len(data["boxes"]["image_ids"])}
    if data["masks"] is not None:
        sizes["masks"] = len(data["masks"]["image_ids"])
    return data, sizes


def _fgsm_columns(run: PaperRun) -> list[Column]:
    first = run.cells[0].json("fgsm")
    eps = first["eps_255"]

    def pct(hits: np.ndarray, w: np.ndarray) -> np.ndarray:
        return w @ hits * 100. / w.sum(axis=1)

    cols = [Column("clean", "clean", lambda c: c.json("fgsm")["attacks"]["fgsm"]["clean"]["top1_pct"],
                   lambda d, w: pct(d["clean"], w["fgsm"]))]
    for i, e in enumerate(eps):
        cols.append(Column(f"eps_{e:g}", f"ε = {e:g}/255",
                           lambda c, i=i: c.json("fgsm")["attacks"]["fgsm"]["adversarial"][i]["top1_pct"],
                           lambda d, w, i=i: pct(d["adversarial"][i], w["fgsm"])))
    return cols


def _fgsm_data(cell: Cell) -> tuple[dict[str, Any], dict[str, int]]:
    res = cell.json("fgsm")
    hits = res["attacks"]["fgsm"]["per_image_top1"]
    data = {"clean": np.asarray(hits["clean"], dtype=np.float64),
            "adversarial": [np.asarray(h, dtype=np.float64) for h in hits["adversarial"]],
            "indices": res.get("image_indices")}
    return data, {"fgsm": len(data["clean"])}


OOD_METRICS = (("tnr_at_tpr95", "TNR at TPR 95 %"), ("auroc", "AUROC"), ("detection_accuracy", "Detection Acc."))


def _ood_columns(run: PaperRun, *, by_set: bool) -> list[Column]:
    from wsol.ood.metrics import weighted_ood_metrics

    sets = list(run.cells[0].json("ood")["ood_sets"])

    def per_set(d, w, name):
        return _memo(d, f"ood/{name}",
                     lambda: weighted_ood_metrics(d["in"], d[f"out/{name}"], w["test"], w[f"ood/{name}"]))

    cols = []
    if by_set:
        for name in sets:
            for key, label in OOD_METRICS:
                cols.append(Column(f"{name}/{key}", f"{name}: {label}",
                                   lambda c, name=name, key=key: c.json("ood")["metrics"]["msp"][name][key],
                                   lambda d, w, name=name, key=key: per_set(d, w, name)[key]))
        return cols
    for key, label in OOD_METRICS:
        cols.append(Column(f"mean/{key}", f"{label} (mean of {len(sets)})",
                           lambda c, key=key: c.json("ood")["metrics"]["msp"]["mean"][key],
                           lambda d, w, key=key: np.mean([per_set(d, w, s)[key] for s in sets], axis=0)))
    return cols


def _ood_data(cell: Cell) -> tuple[dict[str, Any], dict[str, int]]:
    scores = cell.arrays("ood_scores")
    if scores is None:
        raise InputError("cell has no ood_scores.npz", path=cell.folder)
    sizes = {"test": len(scores["in"])}
    sizes.update({f"ood/{k[4:]}": len(v) for k, v in scores.items() if k.startswith("out/")})
    return dict(scores), sizes


# ------------------------------------------------------------------------------------------------------ tables
def build_table(run: PaperRun, *, key: str, title: str, schedule: str, columns: Sequence[Column],
                data: Callable[[Cell], tuple[dict[str, Any], dict[str, int]]], resamples: int, seed: int,
                note: str = "") -> dict[str, Any]:
    """Mean ± std per method and column, and each method's paired-bootstrap difference from the baseline.

    Returns:
        the table dict :mod:`wsol.report.paper` renders: ``key``, ``title``, ``note``, ``baseline``, ``columns``
        (key, label), ``rows`` (method, seeds, cells: mean / std / n / values, diffs: difference / ci_low / ci_high /
        resolved), ``published``.
    """
    from wsol.report.stats import mean_std, paired_bootstrap

    methods = run.methods()
    baseline = run.baseline
    cells = {m: run.select(schedule=schedule, method=m) for m in methods}
    loaded = {m: [data(c) for c in cells[m]] for m in methods}
    rows = []
    for m in methods:
        if not cells[m]:
            continue
        row: dict[str, Any] = {"method": m, "seeds": [c.seed for c in cells[m]], "cells": [], "diffs": []}
        for col in columns:
            values = [float(col.value(c)) for c in cells[m]]
            mean, std, n = mean_std(values)
            row["cells"].append({"mean": mean, "std": std, "n": n, "values": values})
        rows.append(row)
    base_row = next((r for r in rows if r["method"] == baseline), None)
    for row in rows:
        m = row["method"]
        if m == baseline or base_row is None:
            row["diffs"] = [None] * len(columns)
            continue
        sizes = loaded[m][0][1]
        for other in loaded[m] + loaded[baseline]:
            if other[1] != sizes:
                raise InputError(f"{key}: cells of {m} and {baseline} were evaluated on different image sets",
                                 value=f"{other[1]} vs {sizes}")
        def stat(d, w):
            d["_memo"] = {}  # per weights: columns share the costly per-image pass (see _memo)
            return {col.key: col.stat(d, w) for col in columns}

        results = paired_bootstrap(stat, [d for d, _ in loaded[m]], [d for d, _ in loaded[baseline]],
                                   group_sizes=sizes, generator=np.random.default_rng(seed), resamples=resamples)
        for col, cell_stats, base_stats in zip(columns, row["cells"], base_row["cells"]):
            result = results[col.key]
            expected = cell_stats["mean"] - base_stats["mean"]
            if not np.isclose(result.difference, expected, rtol=0, atol=1e-9):
                raise InputError(f"{key} / {col.key}: per-image files give a difference of {result.difference!r}, "
                                 f"the cells' JSON {expected!r}; the cell files disagree", path=run.folder)
            row["diffs"].append(result.to_dict())
    published = PUBLISHED.get(key)
    if published is not None:
        published = {**published, "rows": [[m] + published["rows"][m] for m in methods if m in published["rows"]]}
    return {"key": key, "title": title, "note": note, "schedule": schedule, "baseline": baseline,
            "columns": [{"key": c.key, "label": c.label} for c in columns], "rows": rows, "published": published,
            "resamples": resamples}


def subtable(table: Mapping[str, Any], keys: Sequence[str], **changes: Any) -> dict[str, Any]:
    """The table restricted to the columns ``keys`` (in that order), with ``key`` / ``title`` / ``note`` changed.

    Tables computed together share one bootstrap pass (their columns come from the same per-image data), which is
    why the report builds some of them as one and splits them here.
    """
    index = [[c["key"] for c in table["columns"]].index(k) for k in keys]
    rows = [{**r, "cells": [r["cells"][i] for i in index], "diffs": [r["diffs"][i] for i in index]}
            for r in table["rows"]]
    out = {**table, "columns": [table["columns"][i] for i in index], "rows": rows, **changes}
    if "key" in changes and changes["key"] != table["key"]:
        out["published"] = None
    return out


def _bootstrap_note(resamples: int) -> str:
    return (f"Δ: difference from the baseline's mean, with a 95 % interval from a paired bootstrap over seeds and "
            f"test images ({resamples} resamples); ✓ marks a resolved difference (the interval excludes 0).")


# ----------------------------------------------------------------------------------------------------- figures
def _band(cells: Sequence[Cell], get: Callable[[Cell], tuple[Sequence[float], Sequence[float]]]
          ) -> tuple[np.ndarray, list[list[float]]]:
    xs, curves = None, []
    for c in cells:
        x, y = get(c)
        xs = np.asarray(x, dtype=np.float64) if xs is None else xs
        curves.append([float(v) for v in y])
    return xs, curves


def figure_data(run: PaperRun, *, schedule: str) -> dict[str, Any]:
    """What the figures of one schedule need, from the cells' files (see :func:`wsol.report.paper.render_figures`)."""
    methods = run.methods()
    by = {m: run.select(schedule=schedule, method=m) for m in methods}
    by = {m: c for m, c in by.items() if c}
    out: dict[str, Any] = {"methods": list(by), "baseline": run.baseline}
    curves = {m: [curve for curve in (c.curve() for c in cs) if curve] for m, cs in by.items()}
    lengths = {len(c) for cs in curves.values() for c in cs}
    if curves and all(curves.values()) and len(lengths) == 1:
        out["training"] = {m: [[100.0 - v for v in c] for c in cs] for m, cs in curves.items()}
    first = {m: cs[0] for m, cs in by.items()}
    if all(c.arrays("examples") is not None for c in first.values()):
        ex = {m: c.arrays("examples") for m, c in first.items()}
        base = ex.get(run.baseline, next(iter(ex.values())))
        out["mixing"] = {k[4:]: base[k] for k in base if k.startswith("mix_")}
        out["mixing"]["model"] = run.baseline if run.baseline in ex else next(iter(ex))
        out["boxes"] = {"images": base["images"], "gt_boxes": base["gt_boxes"], "labels": base["labels"],
                        "maps": {m: e["maps"] for m, e in ex.items()},
                        "pred_boxes": {m: e["pred_boxes"] for m, e in ex.items()},
                        "predicted": {m: e["predicted"] for m, e in ex.items()}}
    if all(c.json("localization") for cs in by.values() for c in cs):
        out["box_acc"] = {m: _band(cs, lambda c: (c.json("localization")["thresholds"],
                                                  c.json("localization")["box_acc_curve_v1"]["50"]))
                          for m, cs in by.items()}
    if all(c.json("pxap") for cs in by.values() for c in cs):  # the mask counterpart of the BoxAcc curves
        out["pr"] = {m: [c.json("pxap")["pr_curve"] for c in cs] for m, cs in by.items()}
    if all(c.json("fgsm") for cs in by.values() for c in cs):
        def fgsm(c):
            a = c.json("fgsm")["attacks"]["fgsm"]
            return [0.0] + list(c.json("fgsm")["eps_255"]), [a["clean"]["top1_pct"]] + \
                [p["top1_pct"] for p in a["adversarial"]]
        out["fgsm"] = {m: _band(cs, fgsm) for m, cs in by.items()}
    if all(c.json("robustness") for cs in by.values() for c in cs):
        rob = run.cells[0].json("robustness")
        size = rob["image_size"]
        if "occlusion" in rob:
            for mode in ("center", "boundary"):
                out[f"occlusion_{mode}"] = {m: _band(cs, lambda c, mode=mode: (
                    [p["size"] for p in c.json("robustness")["occlusion"][mode]["results"]],
                    [100.0 - p["top1_pct"] for p in c.json("robustness")["occlusion"][mode]["results"]]))
                    for m, cs in by.items()}
        if "in_between" in rob:
            for kind in ("mixup", "cutmix"):
                out[f"in_between_{kind}"] = {m: _band(cs, lambda c, kind=kind: (
                    [p["lam"] for p in c.json("robustness")["in_between"][kind]],
                    [p["neither_pct"] for p in c.json("robustness")["in_between"][kind]]))
                    for m, cs in by.items()}
        out["image_size"] = size
    if all(c.arrays("ood_scores") is not None for cs in by.values() for c in cs):
        from wsol.ood.metrics import roc_points

        sets = list(run.cells[0].json("ood")["ood_sets"])
        out["roc"] = {s: {m: [roc_points(c.arrays("ood_scores")["in"], c.arrays("ood_scores")[f"out/{s}"])
                              for c in cs] for m, cs in by.items()} for s in sets}
    return out


# ------------------------------------------------------------------------------------------------------ the job
def paper_report(runs: str | os.PathLike, out: Optional[str | os.PathLike] = None, *, resamples: int = RESAMPLES,
                 seed: int = 0, figures: bool = True) -> dict[str, Any]:
    """Tables, statistics, figures and ``report.md`` from a ``wsol paper run`` folder: the job behind
    ``wsol paper report``.

    Args:
        runs: the run folder.
        out: where to write (default ``RUNS/report``): ``report.md``, ``tables/*.{csv,tex,md}``,
            ``figures/*.{png,pdf}``, ``tables.json`` (every number of every table), ``manifest.json``.
        resamples: bootstrap resamples per interval.
        seed: seed of the bootstrap draws.
        figures: also draw the figures.

    Returns:
        ``report`` (path), ``tables`` (schedule -> table key -> table dict), ``figures`` (paths), ``missing``
        (cells the spec lists that are not finished), ``wall_s``.

    Raises:
        InputError: not a run folder, no finished cell, or cell files that disagree (one line).

    Example::

        from wsol.api import paper_report
        r = paper_report("runs/paper")
        print(r["report"])
    """
    from wsol.fileio import atomic_write_bytes, atomic_write_json, atomic_write_text
    from wsol.report.paper import render_figures, render_report, table_csv, table_latex, table_markdown

    start = time.perf_counter()
    run = load_run(runs)
    out = Path(out) if out is not None else run.folder / "report"
    tables: dict[str, dict[str, Any]] = {}
    figure_files: list[str] = []
    note = _bootstrap_note(resamples)
    for schedule in run.schedules():
        if not any(c.schedule == schedule for c in run.cells):
            continue
        suffix = f"_{schedule.replace(' ', '_')}" if schedule else ""
        t: dict[str, Any] = {}
        first = next(c for c in run.cells if c.schedule == schedule)
        if first.json("localization") is not None:
            main, other = _localization_columns(run)
            main, other = _localization_columns(run)
            both = build_table(run, key="localization", title="Localization (the CutMix paper's Table 9 layout)",
                               schedule=schedule, columns=main + other, data=_localization_data,
                               resamples=resamples, seed=seed, note=note)
            t["localization"] = subtable(both, [c.key for c in main])
            t["localization_other"] = subtable(
                both, [c.key for c in other], key="localization_other", title="Localization at other thresholds",
                note="τ on test: the best threshold of the test split itself (what wsolevaluation's evaluator "
                     "prints); τ*: chosen on the full-supervision split. " + note)
        if first.json("fgsm") is not None:
            t["fgsm"] = build_table(run, key="fgsm", title="Top-1 accuracy under FGSM (Table 11 layout)",
                                    schedule=schedule, columns=_fgsm_columns(run), data=_fgsm_data,
                                    resamples=resamples, seed=seed, note=note)
        if first.json("ood") is not None:
            mean, by_set = _ood_columns(run, by_set=False), _ood_columns(run, by_set=True)
            both = build_table(run, key="ood", title="Max-softmax OOD detection (Table 12 layout)",
                               schedule=schedule, columns=mean + by_set, data=_ood_data, resamples=resamples,
                               seed=seed, note=note)
            t["ood"] = subtable(both, [c.key for c in mean])
            t["ood_by_set"] = subtable(both, [c.key for c in by_set], key="ood_by_set",
                                       title="OOD detection per set")
        tables[schedule] = t
        for key, table in t.items():
            atomic_write_text(out / "tables" / f"{key}{suffix}.csv", table_csv(table))
            atomic_write_text(out / "tables" / f"{key}{suffix}.tex", table_latex(table))
            atomic_write_text(out / "tables" / f"{key}{suffix}.md", table_markdown(table))
        if figures:
            for name, formats in render_figures(figure_data(run, schedule=schedule)).items():
                for fmt, data in formats.items():
                    path = out / "figures" / f"{name}{suffix}.{fmt}"
                    atomic_write_bytes(path, data)
                    figure_files.append(os.fspath(path.relative_to(out)))
    manifest = dict(run.manifest or {})
    manifest["report"] = {"resamples": resamples, "bootstrap_seed": seed, "missing_cells": run.missing,
                          "written": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    atomic_write_json(out / "manifest.json", manifest)
    atomic_write_json(out / "tables.json", tables)
    report = render_report(spec=run.spec, tables=tables, figures=figure_files, manifest=manifest,
                           missing=run.missing)
    atomic_write_text(out / "report.md", report)
    return {"report": os.fspath(out / "report.md"), "tables": tables, "figures": figure_files,
            "missing": run.missing, "wall_s": time.perf_counter() - start}


# ------------------------------------------------------------------------------------------------ compare A B
def compare_per_image(a: str | os.PathLike, b: str | os.PathLike, *, resamples: int = RESAMPLES,
                      seed: int = 0) -> dict[str, Any]:
    """Paired bootstrap of the differences ``A - B`` over images, from two ``wsol evaluate --per-image`` files of
    the same split: the job behind ``wsol paper compare``.

    Returns:
        ``kind``, ``num_images``, ``metrics``: name -> ``{"a", "b", "difference", "ci_low", "ci_high", "resolved"}``.

    Raises:
        InputError: unreadable files, or files of different splits or settings (one line).

    Example::

        from wsol.api import compare_per_image, evaluate_checkpoint
        meta = "datasets/digits/metadata"
        for name in ("vanilla", "cutmix"):
            evaluate_checkpoint(f"runs/demo/{name}/model.pt", f"{meta}/test", calibrate_on=f"{meta}/train_fullsup",
                                per_image=f"{name}.npz", device="cpu")
        print(compare_per_image("cutmix.npz", "vanilla.npz")["metrics"]["maxboxacc"])
    """
    from wsol.localization.per_image import box_metrics, mask_metrics, read_per_image
    from wsol.report.stats import paired_bootstrap

    da, db = read_per_image(a), read_per_image(b)
    if da["kind"] != db["kind"]:
        raise InputError(f"one file is a {da['kind']} split, the other a {db['kind']} split", path=b)
    if len(da["image_ids"]) != len(db["image_ids"]) or not np.array_equal(da["image_ids"], db["image_ids"]):
        raise InputError("the two files list different images (compare evaluations of one split)", path=b)
    if da["kind"] == "boxes":
        for k in ("thresholds", "ious"):
            if not np.array_equal(da[k], db[k]):
                raise InputError(f"the two files differ in {k} (evaluate both with one protocol and interval)",
                                 path=b)
        fn = box_metrics
    else:
        fn = mask_metrics
    plain_a, plain_b = fn(da), fn(db)
    out: dict[str, Any] = {"kind": da["kind"], "num_images": int(len(da["image_ids"])), "a": os.fspath(a),
                           "b": os.fspath(b), "resamples": resamples, "metrics": {}}
    for name in plain_a:
        if name not in plain_b:
            continue
        res = paired_bootstrap(lambda d, w, name=name: fn(d, w["test"])[name], [da], [db],
                               group_sizes={"test": len(da["image_ids"])}, generator=np.random.default_rng(seed),
                               resamples=resamples)
        out["metrics"][name] = {"a": float(plain_a[name][0]), "b": float(plain_b[name][0]), **res.to_dict()}
    return out


__all__ = ["PUBLISHED", "RESAMPLES", "Column", "build_table", "subtable", "figure_data", "paper_report",
           "compare_per_image"]
