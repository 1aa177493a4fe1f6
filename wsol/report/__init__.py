"""Figures (matplotlib, no global state) and Markdown tables of results."""
from wsol.report.figures import (band_lines_png, box_acc_curves_png, cam_gallery_figure, cam_grid_png, curve_band,
                                 render, roc_curves_png, score_histograms_png)
from wsol.report.tables import format_number, markdown_table

__all__ = ["band_lines_png", "box_acc_curves_png", "cam_gallery_figure", "render", "curve_band", "cam_grid_png",
           "roc_curves_png", "score_histograms_png", "format_number", "markdown_table"]
