"""Figures as PNG bytes, drawn with matplotlib's object API (no pyplot state, any backend).

Boxes are ``xyxy`` with inclusive pixel coordinates in the image shown (the score-map frame); a box is drawn around
its pixels, from ``x0 - 0.5`` to ``x1 + 0.5``.
"""
from __future__ import annotations

import io
from typing import Mapping, Optional, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

GT_COLOUR = "#00c000"
PRED_COLOUR = "#ff2020"


def _png(fig: Figure, dpi: int) -> bytes:
    return render(fig, dpi=dpi)["png"]


def render(fig: Figure, *, dpi: int = 100, formats: Sequence[str] = ("png",)) -> dict[str, bytes]:
    """The figure's bytes in each format (``"png"``, ``"pdf"``, ``"svg"``)."""
    FigureCanvasAgg(fig)
    out = {}
    for fmt in formats:
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, dpi=dpi, **({"metadata": {"CreationDate": None}} if fmt == "pdf" else {}))
        out[fmt] = buffer.getvalue()
    return out


def _finish(fig: Figure, ax, *, title: str, dpi: int, legend_size: int = 8, legend_loc: str = "best") -> bytes:
    """Title, legend, tight layout, PNG bytes: the common end of the plots below."""
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=legend_size, loc=legend_loc)
    fig.tight_layout()
    return _png(fig, dpi)


def draw_box(ax, box: Sequence[int], colour: str) -> None:
    """Outline the pixels of an inclusive ``xyxy`` box on ``ax`` (from ``x0 - 0.5`` to ``x1 + 0.5``)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0 + 1, y1 - y0 + 1, fill=False, edgecolor=colour,
                           linewidth=1.5))


def draw_mask(ax, mask: np.ndarray, ignore: Optional[np.ndarray] = None) -> None:
    """The outline of a bool ``(H, W)`` ground-truth mask in the ground-truth colour, and the ``ignore`` region
    hatched, on an image axis."""
    if mask.any():
        ax.contour(mask.astype(np.float64), levels=[0.5], colors=[GT_COLOUR], linewidths=1.2)
    if ignore is not None and ignore.any():
        ax.contourf(ignore.astype(np.float64), levels=[0.5, 1.5], colors="none", hatches=["////"])


def add_cam_colorbar(fig: Figure) -> None:
    """Tight layout leaving a strip on the right for one colour bar of the (min-max normalised) CAM scale (call it
    last, instead of ``tight_layout``)."""
    from matplotlib import cm
    from matplotlib.colors import Normalize

    fig.tight_layout(rect=(0.0, 0.0, 0.9, 1.0))
    cax = fig.add_axes((0.915, 0.2, 0.012, 0.6))
    fig.colorbar(cm.ScalarMappable(norm=Normalize(0.0, 1.0), cmap="jet"), cax=cax)
    cax.set_ylabel("CAM (min-max normalised)", fontsize=8)
    cax.tick_params(labelsize=7)


def cam_grid_png(images: np.ndarray, rows: Mapping[str, np.ndarray], *, gt_boxes: Sequence[np.ndarray],
                 pred_boxes: Mapping[str, Sequence[Sequence[int]]], titles: Optional[Sequence[str]] = None,
                 alpha: float = 0.5, dpi: int = 100) -> bytes:
    """:func:`cam_grid_figure` as PNG bytes."""
    return _png(cam_grid_figure(images, rows, gt_boxes=gt_boxes, pred_boxes=pred_boxes, titles=titles, alpha=alpha),
                dpi)


def cam_grid_figure(images: np.ndarray, rows: Mapping[str, np.ndarray], *, gt_boxes: Sequence[np.ndarray],
                    pred_boxes: Mapping[str, Sequence[Sequence[int]]], titles: Optional[Sequence[str]] = None,
                    row_titles: Optional[Mapping[str, Sequence[str]]] = None, alpha: float = 0.5) -> Figure:
    """A grid of CAM overlays: one row of images, then one row per model.

    Args:
        images: uint8 ``(N, H, W, 3)`` RGB in the score-map frame.
        rows: model name -> float ``(N, H, W)`` score maps in [0, 1].
        gt_boxes: per image, ``(G, 4)`` ground-truth boxes (drawn green in every row).
        pred_boxes: model name -> per image, the predicted box (drawn red).
        titles: per image, a caption for the first row.
        row_titles: model name -> per image, a caption for that model's row.
        alpha: opacity of the heat map.

    Returns:
        the figure (render it with :func:`render`).
    """
    n = images.shape[0]
    names = list(rows)
    fig = Figure(figsize=(1.6 * n, 1.7 * (1 + len(names))))
    axes = fig.subplots(1 + len(names), n, squeeze=False)
    for j in range(n):
        ax = axes[0, j]
        ax.imshow(images[j])
        for g in gt_boxes[j]:
            draw_box(ax, g, GT_COLOUR)
        if titles is not None:
            ax.set_title(titles[j], fontsize=8)
        for i, name in enumerate(names, start=1):
            ax = axes[i, j]
            ax.imshow(images[j])
            ax.imshow(rows[name][j], cmap="jet", alpha=alpha, vmin=0.0, vmax=1.0)
            for g in gt_boxes[j]:
                draw_box(ax, g, GT_COLOUR)
            draw_box(ax, pred_boxes[name][j], PRED_COLOUR)
            if row_titles is not None and name in row_titles:
                ax.set_title(row_titles[name][j], fontsize=7)
            if j == 0:
                ax.set_ylabel(name, fontsize=9)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel("image", fontsize=9)
    add_cam_colorbar(fig)
    return fig


def cam_gallery_figure(groups: Mapping[str, Mapping[str, object]], *, alpha: float = 0.5,
                       class_names: Optional[Sequence[str]] = None) -> Figure:
    """Rows of CAM overlays with the ground truth, one row per group (e.g. best, worst, random), each panel titled
    with the image's score and the predicted / true class. Box groups show the ground-truth (green) and predicted
    (red) boxes and the box's IoU; mask groups (``gt_masks``) the outline of the ground-truth mask (green), the
    ignore region hatched, and the image's own AP.

    Args:
        groups: row name -> ``images`` uint8 ``(N, H, W, 3)``, ``maps`` ``(N, H, W)`` in [0, 1], ``labels``,
            optionally ``predicted``, and either ``gt_boxes`` (per image ``(G, 4)``), ``pred_boxes`` (per image one
            box) and ``iou``, or ``gt_masks`` / ``ignore_masks`` (bool ``(N, H, W)``) and ``score`` (AP, percent;
            NaN without foreground).
        alpha: opacity of the heat map.
        class_names: names of the classes for the titles (default: their numbers).

    Returns:
        the figure (render it with :func:`render`).
    """
    names = list(groups)
    cols = max(len(groups[n]["images"]) for n in names)
    fig = Figure(figsize=(1.9 * cols, 2.1 * len(names)))
    axes = fig.subplots(len(names), cols, squeeze=False)

    def label(c: int) -> str:
        return class_names[c] if class_names is not None and 0 <= c < len(class_names) else str(c)

    for i, name in enumerate(names):
        g = groups[name]
        for j in range(cols):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j >= len(g["images"]):
                ax.set_visible(False)
                continue
            ax.imshow(g["images"][j])
            ax.imshow(g["maps"][j], cmap="jet", alpha=alpha, vmin=0.0, vmax=1.0)
            if "gt_masks" in g:
                draw_mask(ax, np.asarray(g["gt_masks"][j]), np.asarray(g["ignore_masks"][j]))
                score = f"AP {g['score'][j]:.1f}" if np.isfinite(g["score"][j]) else "AP – (no foreground)"
            else:
                for box in np.asarray(g["gt_boxes"][j]).reshape(-1, 4):
                    draw_box(ax, box, GT_COLOUR)
                draw_box(ax, g["pred_boxes"][j], PRED_COLOUR)
                score = f"IoU {g['iou'][j]:.2f}"
            predicted = g.get("predicted")
            cls = f"pred {label(predicted[j])} / gt {label(g['labels'][j])}" if predicted else \
                f"gt {label(g['labels'][j])}"
            ax.set_title(f"{score}\n{cls}", fontsize=7)
            if j == 0:
                ax.set_ylabel(name, fontsize=9)
    add_cam_colorbar(fig)
    return fig


def box_acc_curves_png(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], *, title: str = "",
                       ylabel: str = "BoxAcc (%)", dashed: Sequence[str] = (),
                       marks: Optional[Mapping[str, float]] = None, dpi: int = 100) -> bytes:
    """Line plot of BoxAcc against the CAM threshold, one line per entry ``name -> (taus, values)``; the entries
    named in ``dashed`` are drawn dashed (so that a curve on top of another stays visible), and each ``marks`` entry
    ``label -> tau`` is a labelled vertical line (e.g. the best and the calibrated threshold)."""
    fig = Figure(figsize=(5.0, 3.4))
    ax = fig.subplots()
    for name, (taus, values) in curves.items():
        ax.plot(np.asarray(taus), np.asarray(values), label=name, linewidth=1.5,
                linestyle="--" if name in dashed else "-")
    for k, (label, tau) in enumerate((marks or {}).items()):
        ax.axvline(float(tau), color=f"C{len(curves) + k}", linestyle=":", linewidth=1.3, label=f"{label} = {tau:.3g}")
    ax.set_xlabel("CAM threshold τ")
    ax.set_ylabel(ylabel)
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 100.0)
    ax.grid(alpha=0.3)
    return _finish(fig, ax, title=title, dpi=dpi)


def score_histograms_png(scores_in: np.ndarray, scores_out: Mapping[str, np.ndarray], *, title: str = "",
                         bins: int = 50, dpi: int = 100) -> bytes:
    """Overlaid normalised histograms of detector scores: the in-distribution set and every OOD set."""
    fig = Figure(figsize=(5.0, 3.4))
    ax = fig.subplots()
    every = np.concatenate([np.asarray(scores_in, dtype=np.float64)]
                           + [np.asarray(v, dtype=np.float64) for v in scores_out.values()])
    finite = every[np.isfinite(every)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    ax.hist(np.clip(scores_in, edges[0], edges[-1]), bins=edges, density=True, alpha=0.6,
            label="in-distribution")
    for name, values in scores_out.items():
        ax.hist(np.clip(values, edges[0], edges[-1]), bins=edges, density=True, alpha=0.45, label=name,
                histtype="stepfilled")
    ax.set_xlabel("score (higher = more in-distribution)")
    ax.set_ylabel("density")
    return _finish(fig, ax, title=title, dpi=dpi)


def roc_curves_png(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], *, title: str = "", dpi: int = 100) -> bytes:
    """ROC curves ``name -> (fpr, tpr)`` (in-distribution positive) with the TPR = 95% line."""
    fig = Figure(figsize=(4.4, 4.0))
    ax = fig.subplots()
    for name, (fpr, tpr) in curves.items():
        ax.plot(100 * np.asarray(fpr), 100 * np.asarray(tpr), label=name, linewidth=1.4)
    ax.plot([0, 100], [0, 100], color="grey", linewidth=0.8, linestyle=":")
    ax.axhline(95, color="grey", linewidth=0.8, linestyle="--")
    ax.set_xlabel("FPR: OOD accepted (%)")
    ax.set_ylabel("TPR: in-distribution accepted (%)")
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    return _finish(fig, ax, title=title, dpi=dpi, legend_size=7, legend_loc="lower right")


def pr_curve_points(pr_curve: Mapping[str, Sequence[float | None]]) -> tuple[np.ndarray, np.ndarray]:
    """``(recall, precision)`` in percent from a mask evaluation's ``pr_curve`` (highest threshold first), without
    the points where no pixel was predicted positive (precision ``None``)."""
    precision = np.array([np.nan if p is None else p for p in pr_curve["precision"]], dtype=np.float64)
    recall = np.asarray(pr_curve["recall"], dtype=np.float64)
    keep = np.isfinite(precision)
    return 100 * recall[keep], 100 * precision[keep]


def pr_curves_figure(curves: Mapping[str, Sequence[Mapping[str, Sequence[float | None]]]], *,
                     title: str = "") -> Figure:
    """Pixel precision against recall, the curve whose area is PxAP: ``name -> [pr_curve, ...]`` (one per seed or
    model, each a mask evaluation's ``pr_curve``), one colour per name; the legend carries the count."""
    fig = Figure(figsize=(4.6, 4.0))
    ax = fig.subplots()
    for k, (name, runs) in enumerate(curves.items()):
        for s, pr in enumerate(runs):
            recall, precision = pr_curve_points(pr)
            ax.plot(recall, precision, color=f"C{k}", linewidth=1.3, alpha=0.85,
                    label=(f"{name} ({len(runs)})" if len(runs) > 1 else name) if s == 0 else None)
    ax.set_xlabel("pixel recall (%)")
    ax.set_ylabel("pixel precision (%)")
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig


def lines_png(series: Mapping[str, tuple[Sequence[float], Sequence[float]]], *, xlabel: str, ylabel: str,
              title: str = "", ylim: tuple[float, float] | None = (0.0, 100.0), dpi: int = 100) -> bytes:
    """A line plot with markers, one line per entry ``name -> (x, y)``."""
    fig = Figure(figsize=(5.0, 3.4))
    ax = fig.subplots()
    for name, (x, y) in series.items():
        ax.plot(list(x), list(y), marker="o", markersize=3, linewidth=1.4, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.grid(alpha=0.3)
    return _finish(fig, ax, title=title, dpi=dpi)


def curve_band(curves: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, minimum and maximum at every step over several runs' curves (e.g. test accuracy per epoch over seeds).

    Args:
        curves: one sequence per run, all of the same length ``E``.

    Returns:
        ``(mean, low, high)``, each float64 of shape ``(E,)``.

    Raises:
        ValueError: no curves, or curves of different lengths.
    """
    lengths = {len(c) for c in curves}
    if not curves or len(lengths) != 1 or 0 in lengths:
        raise ValueError(f"curves must be non-empty and of one length, got lengths {sorted(lengths)}")
    stacked = np.asarray(curves, dtype=np.float64)
    return stacked.mean(axis=0), stacked.min(axis=0), stacked.max(axis=0)


def band_lines_png(runs: Mapping[str, Sequence[Sequence[float]]], *, xlabel: str, ylabel: str, title: str = "",
                   ylim: tuple[float, float] | None = None, dpi: int = 100) -> bytes:
    """One line per entry ``name -> curves of its runs``: the mean over runs, with the min-max band shaded.

    The x axis counts from 1 (epoch 1 is the first value); the legend gives each entry's number of runs.
    """
    fig = Figure(figsize=(5.6, 3.6))
    ax = fig.subplots()
    for name, curves in runs.items():
        mean, low, high = curve_band(curves)
        x = np.arange(1, len(mean) + 1)
        line, = ax.plot(x, mean, linewidth=1.5, label=f"{name} (n={len(curves)})")
        ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.grid(alpha=0.3)
    return _finish(fig, ax, title=title, dpi=dpi, legend_size=7)
