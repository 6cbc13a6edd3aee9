"""The console script: output, JSON, figures, exit codes and one-line errors."""

from __future__ import annotations

import json
import re
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


@pytest.mark.parametrize("command", [[], ["fit"], ["check"], ["compare"], ["anova"], ["means"],
                                     ["power"], ["demo"]])
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
    assert "Linear mixed model fit by REML" in out
    assert f"diagnostics figure written to {png.resolve()} (choose another file with --plot PATH)" in out
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_demo_says_where_its_default_figure_goes(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["demo"]) == 0
    assert f"written to {tmp_path.resolve() / 'mixedkit-demo.png'}" in capsys.readouterr().out


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
    assert "data checks: error" in captured.out and "did you mean 'Days'" in captured.out
    assert captured.err == ""  # said once, in the report
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


# ------------------------------------------------------------------ anova and means
# Reference numbers: R 4.2.2, lmerTest 3.1-3, emmeans 1.8.4-1 on lme4's Penicillin with
# sample as a fixed factor, lmer(diameter ~ sample + (1 | plate)), and on the bundled dietox
# CSV with lmer(Weight ~ Time + Evit * Cu + (1 | Pig)) (Evit, Cu as factors).
PENICILLIN = "diameter ~ sample + (1 | plate)"
DIETOX = "Weight ~ Time + C(Evit) * C(Cu) + (1 | Pig)"


@pytest.fixture
def penicillin_csv(tmp_path) -> Path:
    path = tmp_path / "penicillin.csv"
    mk.load_dataset("penicillin").to_csv(path, index=False)
    return path


def _row(text: str, start: str) -> list[str]:
    """The whitespace-split line of ``text`` whose first words are those of ``start``."""
    words = start.split()
    found = [line.split() for line in text.splitlines() if line.split()[:len(words)] == words]
    assert len(found) == 1, (start, text)
    return found[0]


def test_anova_text(penicillin_csv, capsys):
    assert main(["anova", str(penicillin_csv), PENICILLIN]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Type III Analysis of Variance Table with Satterthwaite's method"
    assert lines[1].split() == ["term", "sum_sq", "mean_sq", "num_df", "den_df", "F", "p_value"]
    assert lines[2].split() == ["sample", "449.22", "89.844", "5", "115.0", "297.09", "<1e-16"]
    assert len(lines) == 3


def test_anova_json_full_precision(penicillin_csv, capsys):
    assert main(["anova", str(penicillin_csv), PENICILLIN, "--type", "II",
                 "--df-method", "kenward-roger", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["type"] == "II" and data["df_method"] == "kenward-roger"
    assert data["heading"] == "Type II Analysis of Variance Table with Kenward-Roger's method"
    assert data["formula"] == PENICILLIN and data["warnings"] == []
    (row,) = data["table"]
    assert row["term"] == "sample" and row["num_df"] == 5
    assert row["statistic"] == pytest.approx(297.08949006, rel=1e-6)
    assert row["sum_sq"] == pytest.approx(449.2222222, rel=1e-6)
    assert row["mean_sq"] == pytest.approx(89.84444444, rel=1e-6)
    assert row["den_df"] == pytest.approx(115, rel=1e-5)
    assert row["p_value"] == pytest.approx(5.3504847e-64, rel=1e-3)


def test_anova_intercept_only_model(tmp_path, capsys):
    path = tmp_path / "dyestuff.csv"
    mk.load_dataset("dyestuff").to_csv(path, index=False)
    assert main(["anova", str(path), "Yield ~ 1 + (1 | Batch)"]) == 0
    assert "no fixed-effect terms to test" in capsys.readouterr().out
    assert main(["anova", str(path), "Yield ~ 1 + (1 | Batch)", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["table"] == []


def test_means_and_pairwise_contrasts_text(penicillin_csv, capsys):
    assert main(["means", str(penicillin_csv), PENICILLIN, "sample", "--contrasts"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Marginal means of sample (Satterthwaite df, 95% confidence intervals)")
    means, _, pairs = out.partition("\n\n")
    assert _row(means, "sample") == ["sample", "estimate", "std_error", "df", "95%", "CI"]
    assert _row(means, "A") == ["A", "25.167", "0.20609", "39.7", "[24.750,", "25.583]"]
    assert ("Pairwise contrasts of sample (p values and intervals with Tukey adjustment for a "
            "family of 6 estimates)") in out
    assert _row(pairs, "A - C") == ["A", "-", "C", "0.25000", "0.15875", "115.0", "1.5748", "0.617",
                                  "[-0.21011,", "0.71011]"]
    assert _row(pairs, "A - B")[7] == "<1e-12"  # Tukey p values this small are rounding noise
    assert sum(" - " in line for line in pairs.splitlines()) == 15


def test_means_json_full_precision(penicillin_csv, capsys):
    assert main(["means", str(penicillin_csv), PENICILLIN, "sample", "--contrasts",
                 "--adjust", "none", "--df-method", "kenward-roger", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["term"] == ["sample"] and data["by"] == [] and data["warnings"] == []
    assert data["df_method"] == "kenward-roger" and data["conf_level"] == 0.95
    means = {r["sample"]: r for r in data["means"]}
    assert list(means) == ["A", "B", "C", "D", "E", "F"]
    assert means["A"]["estimate"] == pytest.approx(25.16666667, rel=1e-7)
    assert means["A"]["std_error"] == pytest.approx(0.206086963, rel=1e-5)
    assert means["A"]["df"] == pytest.approx(39.731879, rel=1e-4)
    assert means["A"]["conf_low"] == pytest.approx(24.7500618, abs=1e-4)
    contrasts = data["contrasts"]
    assert contrasts["method"] == "pairwise" and contrasts["adjust"] == "none"
    assert len(contrasts["table"]) == 15
    row = contrasts["table"][1]
    assert row["contrast"] == "A - C" and row["estimate"] == pytest.approx(0.25, rel=1e-7)
    assert row["p_value"] == pytest.approx(0.1180470159, rel=1e-4)
    assert row["conf_low"] == pytest.approx(-0.0644514684, abs=1e-4)


def test_means_by_with_holm_contrasts(tmp_path, capsys):
    path = tmp_path / "dietox.csv"
    mk.load_dataset("dietox").to_csv(path, index=False)
    assert main(["means", str(path), DIETOX, "Evit", "--by", "Cu", "--contrasts",
                 "--adjust", "holm"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Marginal means of Evit by Cu (Satterthwaite df")
    assert "Covariates held at: Time = 6.481" in out
    assert ("Holm-adjusted p values, Bonferroni-adjusted intervals, for a family of 3 estimates "
            "in each Cu level") in out
    assert main(["means", str(path), DIETOX, "Evit", "--by", "Cu", "--contrasts",
                 "--adjust", "holm", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["by"] == ["Cu"] and data["covariates"]["Time"] == pytest.approx(6.480836, 1e-6)
    cell = next(r for r in data["means"] if r["Evit"] == 2 and r["Cu"] == 1)
    assert cell["estimate"] == pytest.approx(61.62957216, rel=1e-6)
    assert cell["std_error"] == pytest.approx(2.316411730, rel=1e-4)
    assert cell["df"] == pytest.approx(63.024319, rel=1e-3)
    table = data["contrasts"]["table"]
    assert [r["Cu"] for r in table] == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    last = table[-1]
    assert last["contrast"] == "Evit2 - Evit3"
    assert last["p_value"] == pytest.approx(0.7579018390, rel=1e-3)
    assert last["conf_low"] == pytest.approx(-4.274857331, abs=1e-2)


@pytest.mark.parametrize("args,message", [
    (["means", "{csv}", PENICILLIN, "sampel"], "'sampel'"),
    (["means", "{csv}", PENICILLIN, "sample", "--by", "plat"], "'plat'"),
    (["means", "{csv}", PENICILLIN, "plate"], "'plate'"),
    (["means", "{csv}", PENICILLIN, "sample", "--adjust", "holm"], "add --contrasts"),
    (["anova", "{csv}", "diameter ~ sampel + (1 | plate)"], "did you mean 'sample'?"),
])
def test_anova_and_means_errors_are_one_line_exit_2(penicillin_csv, capsys, args, message):
    args = [a.replace("{csv}", str(penicillin_csv)) for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("mixedkit: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_means_bad_term_from_console_script(penicillin_csv):
    out = subprocess.run([*_script(), "means", str(penicillin_csv), PENICILLIN, "Sample",
                          "--contrasts"], capture_output=True, text=True, timeout=300,
                         check=False)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith("mixedkit: error: ") and "'Sample'" in out.stderr
    assert "did you mean 'sample'?" in out.stderr and out.stderr.count("\n") == 1


def test_fit_warnings_go_to_stderr_and_json(tmp_path, capsys):
    """anova and means print no health section: a singular fit is reported on stderr."""
    data = mk.load_dataset("penicillin")
    # remove every plate-to-plate difference: the plate variance is estimated as 0
    data["diameter"] += data["diameter"].mean() - data.groupby("plate")["diameter"].transform(
        "mean")
    path = tmp_path / "flat.csv"
    data.to_csv(path, index=False)
    assert main(["anova", str(path), PENICILLIN]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("Type III Analysis of Variance Table")
    assert captured.err.startswith("mixedkit: warning: ") and "singular" in captured.err
    assert main(["means", str(path), PENICILLIN, "sample", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert any("singular" in w for w in data["warnings"])


# ------------------------------------------------------------------------------ power
SLEEP = "Reaction ~ Days + (Days | Subject)"


def _power(csv, *extra: str) -> list[str]:
    """``mixedkit power`` on sleepstudy: few simulations, in this process, no progress."""
    return ["power", str(csv), SLEEP, "Days", "--sims", "20", "--jobs", "1", "--quiet", *extra]


def test_power_table_has_the_requested_sizes(csv, capsys):
    assert main(_power(csv, "--effect", "5", "--n-groups", "6,10,14", "--seed", "1")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Power for Days: satterthwaite test, alpha = 0.05, seed 1 ")
    assert "groups of Subject" in lines[0]
    assert lines[1].split() == ["n_groups", "n_per_group", "n_obs", "effect", "power", "95%",
                                "CI", "n_sims", "n_failed", "n_singular"]
    rows = [line.split() for line in lines[2:]]
    assert [r[:4] for r in rows] == [["6", "10", "60", "5.0000"], ["10", "10", "100", "5.0000"],
                                     ["14", "10", "140", "5.0000"]]
    for r in rows:
        power, low, high = float(r[4]), float(r[5].strip("[,")), float(r[6].strip("]"))
        assert 0 <= low <= power <= high <= 1
        assert r[7:9] == ["20", "0"]


def test_power_target_prints_the_smallest_size(csv, capsys):
    assert main(_power(csv, "--effect", "5", "--n-groups", "6,10,14,18", "--target", "0.5",
                       "--seed", "1")) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert re.fullmatch(r"Smallest number of groups of Subject with power >= 0.5: \d+ \(within "
                        r"the Monte Carlo error: \d+ to (\d+|more); more --sims narrow it\)\.",
                        last), last
    assert main(_power(csv, "--effect", "5", "--n-groups", "6,10", "--target", "0.5",
                       "--seed", "1", "--json")) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data["target"]) == {"power", "size", "smallest", "conf_low", "conf_high"}


def test_power_curve_over_effects_and_rows_per_group_as_json(csv, capsys):
    assert main(_power(csv, "--effect=-2,8", "--n-per-group", "5,20", "--test", "lrt",
                       "--alpha", "0.1", "--seed", "4", "--json")) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["term"] == "Days" and data["test"] == "lrt" and data["alpha"] == 0.1
    assert data["seed"] == 4 and data["along"] == "Subject" and data["method"] == "REML"
    assert data["warnings"] == []
    assert [(r["n_per_group"], r["n_obs"], r["effect"]) for r in data["table"]] == [
        (5, 90, -2), (5, 90, 8), (20, 360, -2), (20, 360, 8)]
    assert list(data["table"][0]) == ["n_groups", "n_per_group", "n_obs", "effect", "power",
                                      "conf_low", "conf_high", "n_sims", "n_failed",
                                      "n_singular"]
    assert data["table"][3]["power"] > data["table"][2]["power"]  # effect 8 vs -2 (seeded)


def test_power_plot_writes_a_png(csv, tmp_path, capsys):
    png = tmp_path / "power.png"
    assert main(_power(csv, "--effect", "5", "--n-groups", "6,10", "--seed", "2",
                       "--plot", str(png))) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("Power for Days") and f"written to {png}" in captured.err
    assert png.stat().st_size > 5_000 and png.read_bytes()[:4] == b"\x89PNG"


def test_power_same_seed_same_output(csv, capsys):
    args = _power(csv, "--effect", "4", "--n-groups", "6,10", "--seed", "11")
    assert main(args) == 0
    first = capsys.readouterr().out
    assert main([*args[:-1], "12"]) == 0  # another seed: other draws
    other = capsys.readouterr().out
    assert main([*args, "--jobs", "2"]) == 0  # two worker processes: the same table
    assert capsys.readouterr().out == first != other


def test_power_without_seed_prints_one_that_repeats_the_run(csv, capsys):
    args = _power(csv, "--effect", "4", "--n-groups", "6")
    assert main(args) == 0
    out = capsys.readouterr().out
    seed = out.split("seed ")[1].split()[0]
    assert main([*args, "--seed", seed]) == 0
    assert capsys.readouterr().out == out


@pytest.mark.parametrize("extra,message", [
    (["--n-groups", "10,x"], ("--n-groups takes comma-separated whole numbers above 0 such as "
                              "10,20,40; got 'x' in '10,x'")),
    (["--n-per-group", "0"], "--n-per-group takes comma-separated whole numbers above 0"),
    (["--effect", "5,big"], ("--effect takes a number or comma-separated numbers such as "
                             "2,5,10; got 'big' in '5,big'")),
    (["--sims", "1e3"], "--sims takes a whole number above 0; got '1e3'"),
    (["--alpha", "5"], "--alpha takes a number between 0 and 1"),
    (["--target", "80"], "--target takes a power between 0 and 1 such as 0.8; got '80'"),
    (["--n-groups", "2,6"], "n_groups=2: 2 levels of 'Subject' cannot estimate the variance"),
    (["--seed", "x"], "--seed takes a whole number"),
    (["--test", "lrt", "--df-method", "normal"], "--test lrt and --df-method normal disagree"),
    (["--test", "kenward-roger", "--ml"], "needs a REML pilot fit: drop --ml"),
    (["--along", "Days"], "along='Days' is not a grouping column"),
])
def test_power_bad_options_are_one_line_exit_2(csv, capsys, extra, message):
    assert main(_power(csv, *extra)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("mixedkit: error: ") and message in captured.err
    assert captured.err.count("\n") == 1


def test_power_unknown_term_lists_the_terms(csv):
    out = subprocess.run([*_script(), "power", str(csv), SLEEP, "Dayz", "--sims", "20"],
                         capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith("mixedkit: error: term 'Dayz' is not a fixed-effect term")
    assert "its terms are ['Days']" in out.stderr and out.stderr.count("\n") == 1


def test_power_refuses_code_in_the_formula_by_default(csv, capsys):
    assert main(["power", str(csv), "Reaction ~ I(__import__('os').getcwd()) + (1 | Subject)",
                 "Days", "--sims", "20"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mixedkit: error: ") and "is not allowed in a checked formula" in err


def test_power_help_shows_the_example(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["power", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "mixedkit power sleepstudy" in out and "--n-groups 10,20,40 --sims 500" in out
    assert "--seed to repeat the run exactly" in out
    main_help = subprocess.run([*_script(), "--help"], capture_output=True, text=True,
                               timeout=300, check=False).stdout
    assert "power" in main_help


def test_check_says_its_error_once(csv):
    """The report on stdout has the error; stderr does not repeat it (exit code 2)."""
    out = subprocess.run([*_script(), "check", str(csv), "Reaction ~ Days + (1 | Subjct)"],
                         capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 2 and out.stderr == ""
    assert out.stdout.count("did you mean 'Subject'?") == 1


def test_a_semicolon_separated_file_is_read_as_written(tmp_path):
    """Spreadsheets write 'CSV' with ';' where the decimal mark is ','; it read as one column."""
    rows = ["Subject;Days;Reaction"] + [f"{s};{d};{200 + 10 * s + 3 * d + (s * d) % 5},{d}"
                                        for s in range(1, 7) for d in range(4)]
    path = tmp_path / "semi.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = subprocess.run([*_script(), "fit", str(path), "Reaction ~ Days + (1 | Subject)"],
                         capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    assert "is separated by ';' (decimal mark ',')" in out.stderr
    assert "Linear mixed model fit by REML" in out.stdout


def test_the_list_of_columns_ends_its_sentence(csv):
    """'available columns: ...' is a sentence of its own (it ran into 'Check the spelling')."""
    out = subprocess.run([*_script(), "fit", str(csv), "Reaction ~ Days + (1 | zzz)"],
                         capture_output=True, text=True, timeout=300, check=False)
    assert "column 'zzz' is not in data; available columns: 'Reaction', 'Days', 'Subject'. " \
        "Check the spelling" in out.stderr
