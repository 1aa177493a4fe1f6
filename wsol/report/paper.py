"""Rendering of ``wsol paper report``: tables as Markdown, CSV and LaTeX (booktabs), figures as PNG and PDF, and
``report.md``. Renders the dicts :mod:`wsol.paper.report` computes; runs no model and computes no statistic.

A table dict has ``title``, ``note``, ``baseline``, ``columns`` (``key``, ``label``), ``rows`` (``method``,
``seeds``, ``cells``: ``mean`` / ``std`` / ``n`` / ``values``; ``diffs``: None for the baseline, else
``difference`` / ``ci_low`` / ``ci_high`` / ``resolved``) and ``published`` (None, or ``label``, ``columns`` and
``rows`` of ``[method, values...]``).
"""
from __future__ import annotations

import csv
import io
import math
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from wsol.report.figures import add_cam_colorbar, cam_grid_figure, curve_band, draw_box, pr_curves_figure, render
from wsol.report.tables import format_number

FORMATS = ("png", "pdf")


# ------------------------------------------------------------------------------------------------------ numbers
def _signed(x: float, digits: int = 1) -> str:
    return f"{x:+.{digits}f}".replace("-", "−")


def mean_cell(cell: Mapping[str, Any], digits: int = 1) -> str:
    """``mean ± std (n)``; one seed: ``mean (n=1)``."""
    if cell["n"] < 2:
        return f"{format_number(cell['mean'], digits)} (n=1)"
    return f"{format_number(cell['mean'], digits)} ± {format_number(cell['std'], digits)} ({cell['n']})"


def diff_cell(diff: Mapping[str, Any] | None, digits: int = 1) -> str:
    """``+Δ [low, high]``, with ✓ when resolved; an en dash for the baseline."""
    if diff is None:
        return "–"
    text = f"{_signed(diff['difference'], digits)} [{_signed(diff['ci_low'], digits)}, " \
           f"{_signed(diff['ci_high'], digits)}]"
    return text + (" ✓" if diff["resolved"] else "")


def _md(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "| " + " | ".join(columns) + " |"
    rule = "| " + " | ".join(["---"] + ["---:"] * (len(columns) - 1)) + " |"
    return "\n".join([head, rule] + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


def table_markdown(table: Mapping[str, Any]) -> str:
    """Means ± std, then the differences from the baseline, then the published numbers (separately labelled)."""
    labels = [c["label"] for c in table["columns"]]
    out = [_md(["method"] + labels, [[r["method"]] + [mean_cell(c) for c in r["cells"]] for r in table["rows"]])]
    diffs = [r for r in table["rows"] if r["method"] != table["baseline"] and any(d is not None for d in r["diffs"])]
    if diffs:
        out.append(f"\nΔ from {table['baseline']} [95 % CI]:\n\n")
        out.append(_md(["method"] + labels, [[r["method"]] + [diff_cell(d) for d in r["diffs"]] for r in diffs]))
    if table.get("published") and table["published"]["rows"]:
        pub = table["published"]
        out.append(f"\nPublished, for orientation only (not comparable: {pub['label']}):\n\n")
        out.append(_md(["method"] + list(pub["columns"]),
                       [[str(r[0])] + [format_number(v, 2) for v in r[1:]] for r in pub["rows"]]))
    return "".join(out)


def table_csv(table: Mapping[str, Any]) -> str:
    """Long format: one line per (method, column) with mean, std, n, the seeds' values and the difference's CI."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["table", "schedule", "method", "column", "label", "mean", "std", "n", "values", "baseline",
                     "difference", "ci_low", "ci_high", "resolved"])
    for row in table["rows"]:
        for col, cell, diff in zip(table["columns"], row["cells"], row["diffs"]):
            d = diff or {}
            writer.writerow([table["key"], table.get("schedule", ""), row["method"], col["key"], col["label"],
                             repr(cell["mean"]), repr(cell["std"]), cell["n"],
                             ";".join(repr(v) for v in cell["values"]),
                             table["baseline"], repr(d["difference"]) if d else "", repr(d["ci_low"]) if d else "",
                             repr(d["ci_high"]) if d else "", d.get("resolved", "")])
    return buffer.getvalue()


_LATEX = {"τ": r"$\tau$", "ε": r"$\varepsilon$", "%": r"\%", "±": r"$\pm$", "−": "-", "Δ": r"$\Delta$",
          "_": r"\_", "&": r"\&", "#": r"\#", "✓": r"$^{\checkmark}$", "*": r"$^{*}$"}


def latex_escape(text: str) -> str:
    """Plain text with the characters our labels use made safe for LaTeX (τ, ε, %, ±, −, Δ, _, &, #, ✓)."""
    return "".join(_LATEX.get(ch, ch) for ch in str(text))


def table_latex(table: Mapping[str, Any]) -> str:
    """A booktabs ``tabular``: means ± std, a rule, differences from the baseline with their 95 % intervals (a
    resolved one marked with a check), and the published numbers as a separate ``tabular`` below."""
    labels = [latex_escape(c["label"]) for c in table["columns"]]
    lines = [f"% {latex_escape(table['title'])}; needs \\usepackage{{booktabs}} (and amssymb for the check mark)",
             r"\begin{tabular}{l" + "r" * len(labels) + "}", r"\toprule", "Method & " + " & ".join(labels) + r" \\",
             r"\midrule"]
    for row in table["rows"]:
        cells = [f"${format_number(c['mean'], 1)} \\pm {format_number(c['std'], 1)}$" if c["n"] > 1
                 else f"${format_number(c['mean'], 1)}$"
                 for c in row["cells"]]
        lines.append(latex_escape(row["method"]) + " & " + " & ".join(cells) + r" \\")
    diffs = [r for r in table["rows"] if r["method"] != table["baseline"] and any(d is not None for d in r["diffs"])]
    if diffs:
        lines.append(r"\midrule")
        for row in diffs:
            cells = []
            for d in row["diffs"]:
                mark = r"^{\checkmark}" if d["resolved"] else ""
                interval = f"[{d['ci_low']:+.1f}, {d['ci_high']:+.1f}]"
                cells.append(f"${d['difference']:+.1f}{mark}$ {{\\scriptsize {interval}}}")
            lines.append(f"$\\Delta$ {latex_escape(row['method'])} & " + " & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    pub = table.get("published")
    if pub and pub["rows"]:
        lines += ["", f"% Published, for orientation only: {latex_escape(pub['label'])}",
                  r"\begin{tabular}{l" + "r" * len(pub["columns"]) + "}", r"\toprule",
                  "Method & " + " & ".join(latex_escape(c) for c in pub["columns"]) + r" \\", r"\midrule"]
        lines += [latex_escape(r[0]) + " & " + " & ".join(format_number(v, 2) for v in r[1:]) + r" \\"
                  for r in pub["rows"]]
        lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def findings(table: Mapping[str, Any]) -> list[str]:
    """One sentence per method: which differences from the baseline are resolved (better, worse) and which are
    within noise."""
    out = []
    labels = [c["label"] for c in table["columns"]]
    for row in table["rows"]:
        if row["method"] == table["baseline"] or all(d is None for d in row["diffs"]):
            continue
        up, down, noise = [], [], []
        for label, d in zip(labels, row["diffs"]):
            text = f"{label} {diff_cell(d).replace(' ✓', '')}"
            (noise if not d["resolved"] else up if d["difference"] > 0 else down).append(text)
        parts = []
        if up:
            parts.append("resolved increases: " + "; ".join(up))
        if down:
            parts.append("resolved decreases: " + "; ".join(down))
        if noise:
            parts.append("within noise (interval contains 0): " + "; ".join(noise))
        head = f"**{row['method']} − {table['baseline']}** ({len(row['seeds'])} seeds): "
        out.append(head + ". ".join(parts) + ".")
    return out


#: The columns of the summary: (table, column key); the FGSM budget is the table's last one.
HEADLINE = (("localization", "maxboxacc"), ("localization", "maxboxacc_v2"), ("localization", "top1_loc"),
            ("localization", "gt_known_loc"), ("localization", "pxap"), ("fgsm", None), ("ood", "mean/auroc"),
            ("ood", "mean/tnr_at_tpr95"))


def summary_markdown(tables: Mapping[str, Mapping[str, Any]]) -> str:
    """One table of every method's headline differences from the baseline (Δ [95 % CI], ✓ when resolved)."""
    picked = []
    for key, column in HEADLINE:
        table = tables.get(key)
        if table is None:
            continue
        keys = [c["key"] for c in table["columns"]]
        k = len(keys) - 1 if column is None else keys.index(column) if column in keys else None
        if k is not None:
            picked.append((table, k))
    if not picked:
        return ""
    baseline = picked[0][0]["baseline"]
    methods = [r["method"] for r in picked[0][0]["rows"] if r["method"] != baseline]
    header = ["method"] + [t["columns"][k]["label"] for t, k in picked]
    rows = []
    for m in methods:
        row = [m]
        for table, k in picked:
            found = next((r for r in table["rows"] if r["method"] == m), None)
            row.append(diff_cell(found["diffs"][k]) if found else "–")
        rows.append(row)
    return f"Δ from {baseline} [95 % CI] (✓: resolved):\n\n" + _md(header, rows)


# ----------------------------------------------------------------------------------------------------- figures
def band_panels_figure(panels: Sequence[Mapping[str, Any]], *, columns: int = 2) -> Figure:
    """Panels of lines with min–max bands: each panel a dict with ``title``, ``xlabel``, ``ylabel``, ``series``
    (name -> ``(x, curves)``: one curve per seed over ``x``) and optional ``ylim``; the line is the mean over seeds.
    Methods keep one colour across panels."""
    n = len(panels)
    cols = min(columns, n)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(4.6 * cols, 3.4 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    colours: dict[str, str] = {}
    palette = [f"C{i}" for i in range(10)]
    for ax, panel in zip(axes, panels):
        for name, (x, curves) in panel["series"].items():
            colour = colours.setdefault(name, palette[len(colours) % len(palette)])
            mean, low, high = curve_band(curves)
            ax.plot(x, mean, color=colour, linewidth=1.5, marker="o" if len(x) <= 12 else None, markersize=3,
                    label=f"{name} (n={len(curves)})")
            ax.fill_between(x, low, high, color=colour, alpha=0.18, linewidth=0)
        ax.set_title(panel["title"], fontsize=10)
        ax.set_xlabel(panel["xlabel"])
        ax.set_ylabel(panel["ylabel"])
        if panel.get("ylim"):
            ax.set_ylim(*panel["ylim"])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def mixing_figure(data: Mapping[str, Any]) -> Figure:
    """The CutMix paper's Figure 1 analog: for each variant (original, Mixup, Cutout, CutMix) the input and the
    model's CAMs for class A and class B, with the softmax probability of each class."""
    variants = [str(v) for v in data["variants"]]
    a, b = (int(v) for v in data["labels"])
    fig = Figure(figsize=(2.1 * len(variants), 6.6))
    axes = fig.subplots(3, len(variants), squeeze=False)
    for j, name in enumerate(variants):
        image = data["images"][j]
        axes[0, j].imshow(image)
        axes[0, j].set_title(name, fontsize=10)
        if name in ("cutout", "cutmix"):
            x0, y0, x1, y1 = (int(v) for v in data["box"])
            draw_box(axes[0, j], [x0, y0, x1 - 1, y1 - 1], "white")
        for i, (key, label) in enumerate((("a", a), ("b", b)), start=1):
            ax = axes[i, j]
            ax.imshow(image)
            ax.imshow(data[f"cams_{key}"][j], cmap="jet", alpha=0.5, vmin=0, vmax=1)
            ax.set_title(f"CAM class {label}: p={float(data[f'probs_{key}'][j]):.2f}", fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel("input", fontsize=9)
    axes[1, 0].set_ylabel(f"CAM of A's class ({a})", fontsize=9)
    axes[2, 0].set_ylabel(f"CAM of B's class ({b})", fontsize=9)
    fig.suptitle(f"{data.get('model', '')} model's CAMs on mixed inputs (A: class {a}, B: class {b})", fontsize=10)
    add_cam_colorbar(fig)
    return fig


def roc_panels_figure(sets: Mapping[str, Mapping[str, Sequence[tuple[np.ndarray, np.ndarray]]]]) -> Figure:
    """One ROC panel per OOD set (in-distribution positive); every seed's curve, one colour per method."""
    n = len(sets)
    fig = Figure(figsize=(4.0 * n, 3.9))
    axes = np.atleast_1d(fig.subplots(1, n, squeeze=False)).ravel()
    for ax, (name, methods) in zip(axes, sets.items()):
        for k, (method, curves) in enumerate(methods.items()):
            for s, (fpr, tpr) in enumerate(curves):
                ax.plot(100 * np.asarray(fpr), 100 * np.asarray(tpr), color=f"C{k}", linewidth=1.0, alpha=0.8,
                        label=f"{method} ({len(curves)} seeds)" if s == 0 else None)
        ax.plot([0, 100], [0, 100], color="grey", linewidth=0.8, linestyle=":")
        ax.axhline(95, color="grey", linewidth=0.8, linestyle="--")
        ax.set_xlim(0, 100)
        ax.set_ylim(0, 100)
        ax.set_title(f"OOD set: {name}", fontsize=10)
        ax.set_xlabel("FPR: OOD accepted (%)")
        ax.set_ylabel("TPR: in-distribution accepted (%)")
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def render_figures(data: Mapping[str, Any], *, dpi: int = 110) -> dict[str, dict[str, bytes]]:
    """Every figure the data allows (see :func:`wsol.paper.report.figure_data`): name -> format -> bytes."""
    figs: dict[str, Figure] = {}
    if "mixing" in data:
        figs["figure1_mixing"] = mixing_figure(data["mixing"])
    if "training" in data:
        epochs = len(next(iter(data["training"].values()))[0])
        half = epochs // 2
        figs["training_curves"] = band_panels_figure([
            {"title": "Test error during training (mean, min–max over seeds)", "xlabel": "epoch",
             "ylabel": "test top-1 error (%)",
             "series": {m: (np.arange(1, epochs + 1), c) for m, c in data["training"].items()}},
            {"title": f"The same from epoch {half + 1}, zoomed: has it plateaued?", "xlabel": "epoch",
             "ylabel": "test top-1 error (%)",
             "series": {m: (np.arange(half + 1, epochs + 1), [v[half:] for v in c])
                        for m, c in data["training"].items()}}])
    if "boxes" in data:
        b = data["boxes"]
        n = len(b["images"])
        gt = [np.asarray(b["gt_boxes"][j]).reshape(-1, 4) for j in range(n)]
        gt = [g[g[:, 0] >= 0] for g in gt]  # -1 rows pad images with fewer boxes
        figs["figure4_boxes"] = cam_grid_figure(
            b["images"], b["maps"], gt_boxes=gt,
            pred_boxes={m: [list(p) for p in v] for m, v in b["pred_boxes"].items()},
            titles=[f"class {int(v)}" for v in b["labels"]],
            row_titles={m: [f"pred {int(p)}" for p in v] for m, v in b["predicted"].items()})
    panels = []
    size = data.get("image_size")
    for mode in ("center", "boundary"):
        if f"occlusion_{mode}" in data:
            panels.append({"title": f"{mode.capitalize()} occlusion", "xlabel": f"hole size (pixels of {size})",
                           "ylabel": "top-1 error (%)", "series": data[f"occlusion_{mode}"], "ylim": (0, 100)})
    for kind, label in (("mixup", "Mixup"), ("cutmix", "CutMix")):
        if f"in_between_{kind}" in data:
            panels.append({"title": f"{label} in-between-class samples", "xlabel": "combination ratio λ (share of A)",
                           "ylabel": "predicted as neither class (%)", "series": data[f"in_between_{kind}"],
                           "ylim": (0, 100)})
    if panels:
        figs["figure5_robustness"] = band_panels_figure(panels)
    if "box_acc" in data:
        figs["box_acc_vs_threshold"] = band_panels_figure([{
            "title": "BoxAcc (largest region, IoU ≥ 0.5) against the CAM threshold", "xlabel": "CAM threshold τ",
            "ylabel": "BoxAcc (%)", "series": data["box_acc"], "ylim": (0, 100)}], columns=1)
    if "pr" in data:
        figs["pxap_pr_curves"] = pr_curves_figure(
            data["pr"], title="Pixel precision-recall (area = PxAP), every seed")
    if "fgsm" in data:
        figs["fgsm_vs_eps"] = band_panels_figure([{
            "title": "Top-1 accuracy under FGSM", "xlabel": "ε (/255)", "ylabel": "top-1 accuracy (%)",
            "series": data["fgsm"], "ylim": (0, 100)}], columns=1)
    if "roc" in data:
        figs["ood_roc"] = roc_panels_figure(data["roc"])
    return {name: render(fig, dpi=dpi, formats=FORMATS) for name, fig in figs.items()}


# ------------------------------------------------------------------------------------------------------ report
_FIGURE_CAPTIONS = {
    "figure1_mixing": "Figure 1 analog: one test image, its Mixup / Cutout / CutMix versions with a second image, "
                      "and the baseline model's CAMs for both classes.",
    "training_curves": "Test error against epoch: mean line, min–max band over seeds. A flat end says the schedule "
                       "was long enough (with a cosine schedule a flat end is partly by construction).",
    "figure4_boxes": "Figure 4 analog: the same test images, CAM, ground-truth (green) and predicted (red) boxes "
                     "of each method's first seed, at the threshold calibrated on the full-supervision split.",
    "figure5_robustness": "Figure 5 analog: (a) top-1 error against centre and boundary occlusion; (b) share of "
                          "Mixup and CutMix in-between-class samples predicted as neither class (lower is better).",
    "box_acc_vs_threshold": "BoxAcc against the CAM threshold (the curve whose maximum is MaxBoxAcc).",
    "pxap_pr_curves": "Pixel precision against recall on the mask split, every seed (the curve whose area is PxAP; "
                      "the mask split's counterpart of BoxAcc against the threshold).",
    "fgsm_vs_eps": "Top-1 accuracy against the FGSM budget (0: clean).",
    "ood_roc": "ROC curves of the max-softmax detector per OOD set, every seed.",
}


def render_report(*, spec: Mapping[str, Any], tables: Mapping[str, Mapping[str, Any]], figures: Sequence[str],
                  manifest: Mapping[str, Any], missing: Sequence[str]) -> str:
    """``report.md``: what was run, every table with its differences and findings in words, the figures, and the
    provenance (versions, command, wall times)."""
    lines = [f"# Paper report: {spec['name']}", ""]
    if spec.get("description"):
        lines += [spec["description"], ""]
    dataset = spec.get("dataset", {})
    lines += [f"- Dataset: {dataset.get('name')} ({dataset.get('data') or dataset.get('metadata')})",
              f"- Methods: {', '.join(spec['methods'])}; baseline {spec['methods'][0]}",
              f"- Seeds: {', '.join(str(s) for s in spec['seeds'])}",
              "- Every number: mean ± sample std over seeds (n). Δ: difference from the baseline with a 95 % "
              "interval from a paired bootstrap over seeds and test images; ✓ marks a resolved difference (the "
              "interval excludes 0). A difference without ✓ is within the noise of this experiment, whatever its "
              "sign.",
              "- Published numbers stand in separate tables for orientation only: other architectures and datasets.",
              ""]
    if missing:
        lines += [f"**Incomplete run**: {len(missing)} cell(s) of the spec are not finished and are left out: "
                  f"{', '.join(missing)}.", ""]
    for schedule, group in tables.items():
        lines += [f"## Summary{f' ({schedule})' if schedule else ''}", "", summary_markdown(group)]
    for schedule, group in tables.items():
        if schedule:
            lines += [f"## Schedule: {schedule}", ""]
        for key, table in group.items():
            lines += [f"### {table['title']}", "", table_markdown(table)]
            if table.get("note"):
                lines += [table["note"], ""]
            lines += [f"- {s}" for s in findings(table)] + [""]
        suffix = f"_{schedule.replace(' ', '_')}" if schedule else ""
        shown = [f for f in figures if f.endswith(".png") and (f[:-4].endswith(suffix) if suffix else True)]
        if shown:
            lines += ["### Figures", ""]
            for f in shown:
                stem = f.rsplit("/", 1)[-1][:-4]
                base = stem[:-len(suffix)] if suffix and stem.endswith(suffix) else stem
                lines += [f"![{base}]({f})", "", _FIGURE_CAPTIONS.get(base, ""), ""]
    lines += ["## Provenance", ""]
    versions = manifest.get("versions", {})
    if versions:
        lines.append("- Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    if manifest.get("metadata_digest"):
        lines.append(f"- Metadata SHA-256: `{manifest['metadata_digest']}`")
    cells = manifest.get("cells", {})
    if cells:
        stages: dict[str, list[float]] = {}
        for cell in cells.values():
            for k, v in cell.get("timings_s", {}).items():
                stages.setdefault(k, []).append(float(v))
        total = sum(sum(v) for v in stages.values())
        lines.append(f"- Cells: {len(cells)}; summed stage wall time {total / 60:.1f} min; per stage (mean per "
                     "cell): " + ", ".join(f"{k[:-2]} {np.mean(v):.1f} s" for k, v in stages.items()))
    for call in manifest.get("calls", []):
        lines.append(f"- `{call.get('command') or 'run_paper()'}` at {call.get('started')}: "
                     f"{len(call.get('ran', []))} cells run in {call.get('wall_s', 0) / 60:.1f} min of wall time "
                     f"({call.get('launcher')}, jobs {call.get('jobs')})")
    lines.append("- `manifest.json` beside this report lists every cell's config hash and checkpoint SHA-256.")
    return "\n".join(lines) + "\n"


__all__ = ["FORMATS", "mean_cell", "diff_cell", "table_markdown", "table_csv", "table_latex", "latex_escape",
           "findings", "summary_markdown", "band_panels_figure", "mixing_figure", "roc_panels_figure",
           "render_figures", "render_report"]
