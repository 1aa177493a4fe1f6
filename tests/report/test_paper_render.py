"""Rendering of the paper report: numbers, words and LaTeX from a hand-made table."""
from __future__ import annotations

import csv
import io

from wsol.report.paper import diff_cell, findings, latex_escape, mean_cell, summary_markdown, table_csv, \
    table_latex, table_markdown

TABLE = {
    "key": "localization", "title": "Localization", "note": "", "schedule": "", "baseline": "vanilla",
    "columns": [{"key": "maxboxacc", "label": "MaxBoxAcc (τ*)"}, {"key": "pxap", "label": "PxAP"}],
    "rows": [
        {"method": "vanilla", "seeds": [0, 1, 2],
         "cells": [{"mean": 54.5, "std": 3.9, "n": 3, "values": [50.0, 55.0, 58.5]},
                   {"mean": 44.6, "std": 1.0, "n": 3, "values": [44.0, 44.2, 45.6]}],
         "diffs": [None, None]},
        {"method": "cutmix", "seeds": [0, 1, 2],
         "cells": [{"mean": 54.3, "std": 5.0, "n": 3, "values": [49.0, 55.0, 58.9]},
                   {"mean": 47.0, "std": 0.5, "n": 3, "values": [46.5, 47.0, 47.5]}],
         "diffs": [{"difference": -0.2, "ci_low": -4.1, "ci_high": 3.5, "resolved": False},
                   {"difference": 2.4, "ci_low": 1.1, "ci_high": 3.6, "resolved": True}]},
    ],
    "published": {"label": "paper", "columns": ["CUB"], "rows": [["vanilla", 49.41], ["cutmix", 54.81]]},
}


def test_cells_and_words():
    assert mean_cell(TABLE["rows"][0]["cells"][0]) == "54.5 ± 3.9 (3)"
    assert mean_cell({"mean": 7.0, "std": float("nan"), "n": 1}) == "7.0 (n=1)"
    assert diff_cell(TABLE["rows"][1]["diffs"][0]) == "−0.2 [−4.1, +3.5]"
    assert diff_cell(TABLE["rows"][1]["diffs"][1]) == "+2.4 [+1.1, +3.6] ✓"
    assert diff_cell(None) == "–"
    (sentence,) = findings(TABLE)
    assert "resolved increases: PxAP +2.4 [+1.1, +3.6]" in sentence
    assert "within noise (interval contains 0): MaxBoxAcc (τ*) −0.2 [−4.1, +3.5]" in sentence


def test_markdown_csv_latex_carry_the_same_numbers():
    md = table_markdown(TABLE)
    assert "| cutmix | 54.3 ± 5.0 (3) | 47.0 ± 0.5 (3) |" in md
    assert "| cutmix | −0.2 [−4.1, +3.5] | +2.4 [+1.1, +3.6] ✓ |" in md
    assert "Published, for orientation only" in md and "| vanilla | 49.41 |" in md
    rows = list(csv.DictReader(io.StringIO(table_csv(TABLE))))
    assert len(rows) == 4 and rows[3]["column"] == "pxap" and float(rows[3]["ci_low"]) == 1.1
    assert rows[3]["resolved"] == "True" and rows[0]["difference"] == ""
    assert [float(v) for v in rows[0]["values"].split(";")] == [50.0, 55.0, 58.5]
    tex = table_latex(TABLE)
    assert r"MaxBoxAcc ($\tau$$^{*}$)" in tex and r"$54.5 \pm 3.9$" in tex
    assert r"$+2.4^{\checkmark}$ {\scriptsize [+1.1, +3.6]}" in tex and tex.count(r"\toprule") == 2
    assert latex_escape("50 % & ε_1") == r"50 \% \& $\varepsilon$\_1"


def test_summary_picks_the_headline_columns():
    text = summary_markdown({"localization": TABLE})
    assert "| method | MaxBoxAcc (τ*) | PxAP |" in text
    assert "| cutmix | −0.2 [−4.1, +3.5] | +2.4 [+1.1, +3.6] ✓ |" in text
