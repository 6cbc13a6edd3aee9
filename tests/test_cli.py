"""The console script: output, JSON, figures, exit codes and one-line errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import mixedkit as mk
from mixedkit.cli import main


def _script() -> list[str]:
    """The installed console script (next to this Python), else ``python -m mixedkit``."""
    exe = Path(sys.executable).parent / "mixedkit"
    found = exe if exe.exists() else shutil.which("mixedkit")
    return [str(found)] if found else [sys.executable, "-m", "mixedkit"]


@pytest.fixture
def csv(tmp_path) -> Path:
    path = tmp_path / "sleep.csv"
    mk.load_dataset("sleepstudy").to_csv(path, index=False)
    return path


def test_console_script_fits_a_csv(csv, tmp_path):
    png = tmp_path / "diag.png"
    out = subprocess.run([*_script(), "fit", str(csv), "Reaction ~ Days + (Days | Subject)",
                          "--plot", str(png)], capture_output=True, text=True, timeout=300,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert "Linear mixed model fit by REML" in out.stdout and "logLik (REML): -871.814" in out.stdout
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("args,message", [
    (["fit", "missing.csv", "y ~ 1 + (1 | g)"], "data file 'missing.csv' does not exist"),
    (["fit", "{csv}", "Reaction ~ Days + (1 | Subject"], "unbalanced '('"),
    (["fit", "{csv}", "Reaction ~ Dayz + (1 | Subject)"], "did you mean 'Days'?"),
])
def test_console_script_errors_are_one_line_exit_2(csv, args, message):
    args = [a.replace("{csv}", str(csv)) for a in args]
    out = subprocess.run([*_script(), *args], capture_output=True, text=True, timeout=300,
                         check=False)
    assert out.returncode == 2
    assert out.stderr.startswith("mixedkit: error: ") and message in out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


def test_usage_error_exit_2():
    out = subprocess.run([*_script(), "fit"], capture_output=True, text=True, timeout=300,
                         check=False)
    assert out.returncode == 2 and "usage:" in out.stderr


@pytest.mark.parametrize("command", [[], ["fit"], ["check"], ["compare"], ["demo"]])
def test_help_everywhere_with_an_example(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "example:" in out and "mixedkit" in out


def test_demo_prints_summary_and_writes_png(tmp_path, capsys):
    png = tmp_path / "demo.png"
    assert main(["demo", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "Linear mixed model fit by REML" in out and f"written to {png}" in out
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_fit_json_has_the_tables(csv, capsys):
    assert main(["fit", str(csv), "Reaction ~ Days + (1 | Subject)", "--ml", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["method"] == "ML" and data["loglik"] == pytest.approx(-897.0393, abs=1e-3)
    assert [r["term"] for r in data["fixed_effects"]] == ["Intercept", "Days"]
    assert {"group", "term", "variance", "std_dev", "corr"} <= set(data["variance_components"][0])
    assert data["icc"][0]["kind"] == "adjusted" and data["health"]["verdict"] in ("ok", "warning")
    assert data["statsmodels_call"].startswith("smf.mixedlm(")


def test_check_and_compare(csv, capsys):
    assert main(["check", str(csv), "Reaction ~ Days + (Days | Subject)"]) == 0
    assert "data checks: ok" in capsys.readouterr().out
    assert main(["check", str(csv), "Reaction ~ Dayz + (1 | Subject)"]) == 2
    captured = capsys.readouterr()
    assert "data checks: error" in captured.out and "did you mean 'Days'" in captured.err
    assert main(["compare", str(csv), "Reaction ~ Days + (1 | Subject)",
                 "Reaction ~ Days + (Days | Subject)", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["table"][1]["chisq"] == pytest.approx(42.837, abs=1e-2)
    assert main(["compare", str(csv), "Reaction ~ Days + (1 | Subject)"]) == 2
    assert "at least two formulas" in capsys.readouterr().err


def test_parquet_input(tmp_path, capsys):
    path = tmp_path / "sleep.parquet"
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        path.write_bytes(b"PAR1")
        assert main(["fit", str(path), "Reaction ~ Days + (1 | Subject)"]) == 2
        assert "needs pyarrow: pip install pyarrow" in capsys.readouterr().err
    else:
        mk.load_dataset("sleepstudy").to_parquet(path)
        assert main(["fit", str(path), "Reaction ~ Days + (1 | Subject)"]) == 0
