"""The console script: output, exit codes, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

import mixedkit as mk
from mixedkit.cli import main


def test_demo_prints_summary(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "Linear mixed model fit by REML" in out and "Reaction ~ Days + (Days | Subject)" in out


def test_fit_csv(tmp_path, capsys):
    path = tmp_path / "sleep.csv"
    mk.load_dataset("sleepstudy").to_csv(path, index=False)
    assert main(["fit", str(path), "Reaction ~ Days + (1 | Subject)", "--ml"]) == 0
    out = capsys.readouterr().out
    assert "fit by ML" in out and "logLik: -897.039" in out  # lme4 sleepstudy_int ML


@pytest.mark.parametrize("args,message", [
    (["fit", "missing.csv", "y ~ 1 + (1 | g)"], "data file 'missing.csv' does not exist"),
    (["fit", "{csv}", "Reaction ~ Days + (1 | Subject"], "unbalanced '('"),
    (["fit", "{csv}", "Reaction ~ Dayz + (1 | Subject)"], "did you mean 'Days'?"),
    (["check", "{csv}", "Reaction ~ Dayz + (1 | Subject)"], None),
])
def test_errors_exit_2_with_one_line(tmp_path, capsys, args, message):
    path = tmp_path / "sleep.csv"
    mk.load_dataset("sleepstudy").to_csv(path, index=False)
    args = [a.replace("{csv}", str(path)) for a in args]
    assert main(args) == 2
    captured = capsys.readouterr()
    if message:
        assert captured.err.startswith("mixedkit: error: ") and message in captured.err
        assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    else:
        assert "data checks: error" in captured.out


def test_console_module_runs():
    out = subprocess.run([sys.executable, "-m", "mixedkit", "--help"], capture_output=True,
                         text=True, check=True)
    assert "example: mixedkit fit" in out.stdout
