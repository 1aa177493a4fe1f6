"""Every command's JSON output on tiny digits equals the golden file (timings, versions and paths aside).

See ``tests/golden_commands.py`` for what runs and how the outputs are normalised; the golden file was first written
by the code before the job API refactoring (issue 10), so this test pins that moving code changed no number. It
was rewritten once since, when issue 11 added keys and nothing else: ``threads`` in training metrics, ``v2_ious``,
the per-IoU outputs of every MaxBoxAccV2 IoU under ``--protocol cutmix``, GT-known / Top-k Loc at the calibrated
threshold, the demo's evaluation provenance and its OOD AUROC bootstrap intervals. Issue 12 added two keys to each
per-image record of `wsol score` (``fixed_box`` and ``fixed_iou``: the box and IoU at the fixed threshold) and
changed no value.
"""
from __future__ import annotations

import json
from pathlib import Path

from golden_commands import run_all

GOLDEN = Path(__file__).parent / "golden" / "commands.json"


def _diff(expected, actual, where: str = "") -> list[str]:
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = [f"{where}/{k}: missing" for k in expected if k not in actual]
        out += [f"{where}/{k}: unexpected" for k in actual if k not in expected]
        for k in expected:
            if k in actual:
                out += _diff(expected[k], actual[k], f"{where}/{k}")
        return out
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [d for i, (e, a) in enumerate(zip(expected, actual)) for d in _diff(e, a, f"{where}[{i}]")]
    return [] if expected == actual else [f"{where}: {str(expected)[:80]} != {str(actual)[:80]}"]


def test_every_command_output_equals_the_golden_file(tmp_path):
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    actual = json.loads(json.dumps(run_all(tmp_path)))  # tuples -> lists, as in the file
    differences = _diff(expected, actual)
    assert not differences, f"{len(differences)} differences:\n" + "\n".join(differences[:30])
