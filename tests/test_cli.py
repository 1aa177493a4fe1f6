"""The ``wsol`` command itself: entry points, help, usage errors."""
from __future__ import annotations

import argparse

import subprocess
import sys

import pytest

import wsol
from wsol.cli.main import COMMANDS, build_parser, main


def test_python_m_wsol_version():
    out = subprocess.run([sys.executable, "-m", "wsol", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"wsol {wsol.__version__}"


def test_help_lists_exactly_the_real_subcommands(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for name in COMMANDS:
        assert name in text
    parser = build_parser()
    choices = parser._subparsers._group_actions[0].choices  # the registered subcommands
    assert sorted(choices) == sorted(COMMANDS)
    for name in COMMANDS:  # each one is implemented: it (or each of its steps, for `wsol paper`) has a run function
        sub = choices[name]
        steps = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
        if steps and sub.get_default("run") is None:
            for step_name, step in steps[0].choices.items():
                assert callable(step.get_default("run")), f"{name} {step_name}"
        else:
            assert callable(sub.get_default("run")), name


def test_prepare_without_dataset_or_check(capsys):
    assert main(["prepare"]) == 2
    assert "name a dataset" in capsys.readouterr().err


def test_check_on_folder_without_metadata(tmp_path, capsys):
    assert main(["prepare", "--check", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no metadata split folder" in err


def test_unknown_option_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["prepare", "cub", "x", "--out", "y", "--no-such-flag"])
    assert info.value.code == 2
