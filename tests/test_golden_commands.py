"""Every command's JSON output on tiny digits equals the golden file (timings, versions and paths aside).

See ``tests/golden_commands.py`` for what runs and how the outputs are normalised; the golden file was written by
the code before the job API refactoring, so this test pins that moving code changed no number.
"""
from __future__ import annotations

import json
from pathlib import Path

from golden_commands import run_all

GOLDEN = Path(__file__).parent / "golden" / "commands.json"
#: Keys the output may have gained since the golden file was written, and why; nothing else may change.
ADDED = {
    # the demo's per-model evaluation.json now comes from the same job as `wsol evaluate`, with its provenance
    "demo_*_evaluation": {"metadata", "checkpoint", "checkpoint_sha256", "checkpoint_kind", "arch", "num_classes",
                          "large_feature_map", "cam", "image_size", "device", "world_size",
                          "calibrated/calibration_split"},
}


def _allowed(where: str) -> bool:
    parts = where.strip("/").split("/", 1)
    for pattern, keys in ADDED.items():
        head, _, tail = pattern.partition("*")
        if parts[0].startswith(head) and parts[0].endswith(tail) and len(parts) == 2 and parts[1] in keys:
            return True
    return False


def _diff(expected, actual, where: str = "") -> list[str]:
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = [f"{where}/{k}: missing" for k in expected if k not in actual]
        out += [f"{where}/{k}: unexpected" for k in actual if k not in expected and not _allowed(f"{where}/{k}")]
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
