"""Command line: ``mixedkit fit | check | compare | anova | means | power | demo`` (also
``python -m mixedkit``).

Exit codes: 0 success, 2 usage or data errors (one-line message on stderr),
1 unexpected errors.
"""

from __future__ import annotations

import argparse
import json
import math
import secrets
import sys
import warnings
from pathlib import Path

# The commands' modules are imported inside them (below): ``mixedkit --help`` and usage
# errors answer without loading numpy, pandas, scipy or statsmodels (about 0.5 s).
from .arguments import ADJUSTMENTS, ANOVA_TYPES, DF_METHODS, check_df_method, df_caption
from .errors import InputValueError, MixedkitError, MixedkitWarning

__all__ = ["main"]

_FIT_EXAMPLE = ('example:\n  mixedkit fit sleepstudy "Reaction ~ Days + (Days | Subject)" '
                '--plot diag.png')
_CHECK_EXAMPLE = 'example:\n  mixedkit check sleepstudy "Reaction ~ Days + (1 | Subject)"'
_COMPARE_EXAMPLE = ('example:\n  mixedkit compare sleepstudy "Reaction ~ Days + (1 | Subject)" '
                    '"Reaction ~ Days + (Days | Subject)"')
_ANOVA_EXAMPLE = ('example:\n  mixedkit anova ergostool "effort ~ Type + (1 | Subject)" '
                  '--df-method kenward-roger')
_MEANS_EXAMPLE = ('example:\n  mixedkit means ergostool "effort ~ Type + (1 | Subject)" Type '
                  '--contrasts')
_POWER_EXAMPLE = ('example:\n  mixedkit power sleepstudy "Reaction ~ Days + (Days | Subject)" Days '
                  '--effect 5 --n-groups 10,20,40 --sims 500 --plot power.png\n'
                  '  mixedkit power sleepstudy "Reaction ~ Days + (Days | Subject)" Days '
                  '--effect 5 --target 0.8 --sims 200\n\n'
                  'Without --seed a fresh seed is drawn and printed in the header: pass it as\n'
                  '--seed to repeat the run exactly (any --jobs gives the same table).')
_DEMO_EXAMPLE = "example:\n  mixedkit demo --plot demo.png"
_POWER_TESTS = (*DF_METHODS, "lrt")
# kept here (not imported) so that --help does not load numpy and pandas


class _UsageError(MixedkitError):
    """A problem with the command line itself."""


def _read(path: str):
    import pandas as pd

    p = Path(path)
    if not p.exists():
        from .datasets import DATASETS, load_dataset

        if path.lower() in DATASETS:  # a bundled data set by name: "sleepstudy"
            return load_dataset(path)
        raise _UsageError(f"data file {path!r} does not exist (nor is it one of the bundled "
                          f"data sets: {', '.join(DATASETS)})")
    if p.suffix.lower() in (".parquet", ".pq"):
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise _UsageError(f"reading {path!r} needs pyarrow: pip install pyarrow "
                              "(or save the data as CSV)") from None
        return pd.read_parquet(p)
    try:
        data = pd.read_csv(p)
        if data.shape[1] == 1 and ";" in str(data.columns[0]):
            # a semicolon-separated file (as spreadsheets write CSV where the decimal mark is
            # a comma) reads as one column: read it as it was written
            data, decimal = pd.read_csv(p, sep=";"), "."
            if any(data[c].astype(str).str.fullmatch(r"-?\d+,\d+").all()
                   for c in data.columns if not pd.api.types.is_numeric_dtype(data[c])):
                data, decimal = pd.read_csv(p, sep=";", decimal=","), ","
            print(f"mixedkit: note: {path!r} is separated by ';' (decimal mark {decimal!r}); "
                  "read as such", file=sys.stderr)
        return data
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise _UsageError(f"data file {path!r} could not be read as CSV: {err}") from None


def _clean(value):
    """JSON-safe values: NaN/inf and pandas' missing values (pd.NA, pd.NaT, which
    ``to_dict`` returns for nullable columns before pandas 2) become null, numpy scalars
    plain numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if _is_pandas_missing(value):
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _is_pandas_missing(value) -> bool:
    pd = sys.modules.get("pandas")  # loaded whenever a table is being converted
    return pd is not None and (value is pd.NA or value is pd.NaT)


def _records(frame):
    return _clean(frame.to_dict(orient="records"))


def fit_json(fit) -> dict:
    """Everything the text summary shows, as JSON-ready data."""
    return _clean({
        "formula": fit.formula, "method": fit.method, "n_obs": fit.n_obs,
        "n_dropped": fit.n_dropped, "n_groups": fit.n_groups, "loglik": fit.loglik,
        "aic": fit.aic, "bic": fit.bic, "converged": fit.converged, "singular": fit.singular,
        "fixed_effects": _records(fit.fixed_effects),
        "df_method": fit.fixed_effects.attrs["df_method"],
        "conf_level": fit.conf_level,
        "variance_components": _records(fit.variance_components),
        "icc": _records(fit.icc()), "r2": _records(fit.r2()),
        "health": {"verdict": fit.health.verdict, "findings": _records(fit.health.to_frame())},
        "statsmodels_call": fit.statsmodels_call,
    })


def _parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(
        prog="mixedkit", formatter_class=fmt,
        description="Linear mixed models with lme4's answers, on statsmodels MixedLM.",
        epilog=f"{_FIT_EXAMPLE}\n\nRun 'mixedkit COMMAND --help' for each command.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    f = sub.add_parser("fit", help="fit a model and print its summary", epilog=_FIT_EXAMPLE,
                       formatter_class=fmt)
    f.add_argument("data", help="data file in long format (CSV, or Parquet with pyarrow), or "
                   "a bundled data set (sleepstudy, dietox, dyestuff, penicillin, pastes, "
                   "ergostool, oats)")
    f.add_argument("formula", help='lme4-style formula, e.g. "y ~ x + (1 | group)"')
    f.add_argument("--ml", action="store_true", help="maximum likelihood instead of REML")
    f.add_argument("--plot", metavar="PNG", help="also write the diagnostics figure here")
    f.add_argument("--json", action="store_true", help="print JSON instead of the summary")
    c = sub.add_parser("check", help="run the data checks only", epilog=_CHECK_EXAMPLE,
                       formatter_class=fmt)
    c.add_argument("data", help="data file (CSV or Parquet) or a bundled data set")
    c.add_argument("formula", help="lme4-style formula")
    c.add_argument("--json", action="store_true", help="print JSON instead of text")
    m = sub.add_parser("compare", help="compare two or more models on one data set",
                       epilog=_COMPARE_EXAMPLE, formatter_class=fmt)
    m.add_argument("data", help="data file (CSV or Parquet) or a bundled data set")
    m.add_argument("formulas", nargs="+", metavar="FORMULA", help="two or more formulas")
    m.add_argument("--json", action="store_true", help="print JSON instead of text")
    a = sub.add_parser("anova", help="F tests of the fixed-effect terms (lmerTest's anova)",
                       epilog=_ANOVA_EXAMPLE, formatter_class=fmt)
    a.add_argument("data", help="data file (CSV or Parquet) or a bundled data set")
    a.add_argument("formula", help="lme4-style formula")
    a.add_argument("--type", choices=[str(t) for t in ANOVA_TYPES], default="3",
                   help="3: each term adjusted for all others (default); 2: for the terms "
                        "that do not contain it; 1: sequential, in formula order")
    a.add_argument("--df-method", choices=DF_METHODS, default="satterthwaite",
                   help="denominator degrees of freedom (default: %(default)s)")
    a.add_argument("--json", action="store_true", help="print JSON instead of text")
    n = sub.add_parser("means", help="estimated marginal means of a factor (emmeans), "
                                     "optionally with their pairwise contrasts",
                       epilog=_MEANS_EXAMPLE, formatter_class=fmt)
    n.add_argument("data", help="data file (CSV or Parquet) or a bundled data set")
    n.add_argument("formula", help="lme4-style formula")
    n.add_argument("term", metavar="TERM",
                   help="factor of the fixed part whose level means are wanted (A:B for the "
                        "cell means of two factors)")
    n.add_argument("--by", metavar="B",
                   help="means and contrasts within each level of this factor (B1,B2 for "
                        "several)")
    n.add_argument("--contrasts", action="store_true",
                   help="also every pairwise difference of the means")
    n.add_argument("--adjust", choices=ADJUSTMENTS,
                   help="multiplicity adjustment of the contrasts (default: tukey)")
    n.add_argument("--df-method", choices=DF_METHODS, default="satterthwaite",
                   help="degrees of freedom of the t intervals and tests (default: %(default)s)")
    n.add_argument("--json", action="store_true", help="print JSON instead of text")
    w = sub.add_parser("power", help="power of the test of a term by simulation from a pilot "
                                     "fit (simr's powerSim / powerCurve)",
                       epilog=_POWER_EXAMPLE, formatter_class=fmt)
    w.add_argument("data", help="pilot data file (CSV or Parquet) or a bundled data set")
    w.add_argument("formula", help="lme4-style formula of the pilot model")
    w.add_argument("term", metavar="TERM",
                   help="fixed-effect term to test, as anova names it (Days, C(arm) or arm), "
                        "or one coefficient as the fixed-effects table names it")
    w.add_argument("--effect", metavar="E",
                   help="the term's coefficient on the data's scale (default: the pilot's "
                        "estimate); E1,E2,... for a curve over effects, or one value per "
                        "coefficient for a factor with several (write --effect=-2,-1 for "
                        "negative lists)")
    w.add_argument("--n-groups", metavar="N1,N2,...",
                   help="numbers of groups of the --along column to simulate (default: the "
                        "pilot's)")
    w.add_argument("--n-per-group", metavar="N1,N2,...",
                   help="rows per group (default: the pilot's); with --n-groups too, every "
                        "combination")
    w.add_argument("--along", metavar="COLUMN",
                   help="grouping column that gets more or fewer groups (needed when the model "
                        "has several)")
    w.add_argument("--sims", metavar="N", default="1000",
                   help="simulated data sets per row of the table (default: %(default)s)")
    w.add_argument("--test", choices=_POWER_TESTS,
                   help="test of TERM: a t or F test with these df, or lrt (ML likelihood "
                        "ratio) (default: --df-method, else satterthwaite)")
    w.add_argument("--df-method", choices=DF_METHODS,
                   help="as in anova and means: the df of the t or F test of TERM (the same "
                        "as --test; default: satterthwaite)")
    w.add_argument("--alpha", metavar="A", default="0.05",
                   help="significance level (default: %(default)s)")
    w.add_argument("--target", metavar="P",
                   help="find the smallest number of groups (or rows per group, when only "
                        "--n-per-group lists sizes) whose power reaches P, e.g. 0.8: read "
                        "from the listed sizes, or searched for from the pilot's size")
    w.add_argument("--seed", metavar="S",
                   help="integer seed of the simulation (default: a fresh one, printed in the "
                        "header)")
    w.add_argument("--jobs", metavar="N",
                   help="worker processes (default: every core; 1: this process)")
    w.add_argument("--ml", action="store_true",
                   help="fit the pilot (and the refits) by maximum likelihood instead of REML")
    w.add_argument("--plot", metavar="PNG", help="also write the power curve figure here")
    w.add_argument("--json", action="store_true", help="print JSON instead of text")
    w.add_argument("--quiet", action="store_true",
                   help="no progress bar on stderr (shown for runs longer than two seconds)")
    for command in (f, c, m, a, n, w):
        command.add_argument(
            "--weights", metavar="COLUMN",
            help="prior weights column (lme4's weights=: row i has residual variance "
                 "sigma^2 / w_i)")
        command.add_argument(
            "--trusted-formula", action="store_true",
            help="the formula is your own: skip the check that refuses code in formulas "
                 "(by default only column names, numbers, arithmetic and C, I, np.log, "
                 "center, bs, ... are accepted, since patsy evaluates formulas as Python)")
    d = sub.add_parser("demo", help="fit a bundled example and write its diagnostics figure",
                       epilog=_DEMO_EXAMPLE, formatter_class=fmt)
    d.add_argument("--plot", metavar="PNG", default="mixedkit-demo.png",
                   help="where to write the diagnostics figure (default: %(default)s)")
    return p


def _save_plot(fit, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from .plots.diagnostics import plot_diagnostics

    _write_figure(plot_diagnostics(fit), path)


def _write_figure(fig, path: str) -> None:
    try:
        fig.savefig(path, dpi=100)
    except (OSError, ValueError) as err:
        raise _UsageError(f"cannot write the figure to {path!r}: {err}") from None
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def _fit_noting_warnings(formula: str, data, weights=None, **kwargs):
    """The fit, and mixedkit's warnings about it (singular fit, ...) as one-line texts.

    ``anova`` and ``means`` print no health section, so these go to stderr (and into
    the JSON) instead of being lost."""
    from .fitting import fit_lmm

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MixedkitWarning)
        fit = fit_lmm(formula, data, weights=weights, **kwargs)
    texts = [" ".join(str(w.message).split()) for w in caught
             if issubclass(w.category, MixedkitWarning)]
    for text in dict.fromkeys(texts):
        print(f"mixedkit: warning: {text}", file=sys.stderr)
    return fit, list(dict.fromkeys(texts))


def _df_text(df: float) -> str:
    return "inf" if not math.isfinite(df) else f"{df:.1f}"


def _display(frame, keys: list[str], conf_level: float):
    """Rounded copy of a means or contrasts table for the terminal (as the summary)."""
    import pandas as pd

    from .display import format_number, format_p

    out = pd.DataFrame({k: frame[k].astype(str) for k in keys})
    for col in ("estimate", "std_error"):
        out[col] = frame[col].map(format_number)
    out["df"] = frame["df"].map(_df_text)
    if "statistic" in frame:
        out["statistic"] = frame["statistic"].map(format_number)
        # adjusted p values below ~1e-13 are rounding noise (1 - a probability)
        out["p_value"] = frame["p_value"].map(lambda p: "<1e-12" if p < 1e-12 else format_p(p))
    out[f"{conf_level:.0%} CI"] = [f"[{format_number(lo)}, {format_number(hi)}]"
                                   for lo, hi in zip(frame["conf_low"], frame["conf_high"])]
    return out.to_string(index=False)


def _anova_command(args) -> None:
    fit, notes = _fit_noting_warnings(args.formula, _read(args.data), args.weights,
                                      df_method=args.df_method,
                                      safe_formula=not args.trusted_formula)
    table = fit.anova(type=int(args.type) if args.type.isdigit() else args.type)
    if args.json:
        print(json.dumps(_clean({
            "formula": fit.formula, "type": table.attrs["type"],
            "df_method": table.attrs["df_method"], "heading": table.attrs["heading"],
            "table": _records(table), "warnings": notes}), indent=1))
        return
    import pandas as pd

    from .display import format_number, format_p

    print(table.attrs["heading"])
    if table.empty:
        print("(no fixed-effect terms to test: the fixed part is the intercept only)")
        return
    print(pd.DataFrame({
        "term": table["term"], "sum_sq": table["sum_sq"].map(format_number),
        "mean_sq": table["mean_sq"].map(format_number), "num_df": table["num_df"].astype(str),
        "den_df": table["den_df"].map(_df_text), "F": table["statistic"].map(format_number),
        "p_value": table["p_value"].map(format_p)}).to_string(index=False))


def _names(text: str, sep: str) -> list[str]:
    return [t.strip() for t in text.split(sep) if t.strip()]


def _means_command(args) -> None:
    if args.adjust is not None and not args.contrasts:
        raise _UsageError("--adjust applies to the contrasts: add --contrasts")
    terms = _names(args.term, ":")
    if not terms:
        raise _UsageError("TERM must name a factor of the fixed part")
    by = _names(args.by, ",") if args.by else None
    fit, notes = _fit_noting_warnings(args.formula, _read(args.data), args.weights,
                                      df_method=args.df_method,
                                      safe_formula=not args.trusted_formula)
    means = fit.marginal_means(terms, by=by)
    pairs = (fit.contrasts(terms, adjust=args.adjust or "tukey", by=by)
             if args.contrasts else None)
    if args.json:
        out = {"formula": fit.formula, "term": terms, "by": by or [],
               "df_method": means.attrs["df_method"], "conf_level": means.attrs["conf_level"],
               "averaged_over": means.attrs["averaged_over"],
               "covariates": means.attrs["covariates"], "means": _records(means)}
        if pairs is not None:
            out["contrasts"] = {k: pairs.attrs[k] for k in ("method", "adjust", "family",
                                                             "notes")}
            out["contrasts"]["table"] = _records(pairs)
        out["warnings"] = notes
        print(json.dumps(_clean(out), indent=1))
        return
    level = means.attrs["conf_level"]
    within = f" by {', '.join(by)}" if by else ""
    print(f"Marginal means of {':'.join(terms)}{within} "
          f"({df_caption(means.attrs['df_method'])}, {level:.0%} confidence intervals)")
    print(_display(means, [c for c in means.columns if c in terms + (by or [])], level))
    if means.attrs["averaged_over"]:
        print(f"Averaged over: {', '.join(means.attrs['averaged_over'])} (equal weights)")
    if means.attrs["covariates"]:
        held = ", ".join(f"{k} = {v:.4g}" for k, v in means.attrs["covariates"].items())
        print(f"Covariates held at: {held}")
    if pairs is not None:
        adjust, family = pairs.attrs["adjust"], pairs.attrs["family"]
        family += f" in each {', '.join(by)} level" if by else ""
        how = {"none": "no multiplicity adjustment",
               "holm": f"Holm-adjusted p values, Bonferroni-adjusted intervals, for {family}"
               }.get(adjust, f"p values and intervals with {adjust.capitalize()} adjustment "
                             f"for {family}")
        print(f"\nPairwise contrasts of {':'.join(terms)}{within} ({how})")
        print(_display(pairs, [c for c in pairs.columns if c in (by or [])] + ["contrast"],
                       level))
        for note in pairs.attrs["notes"]:
            print(f"Note: {note}")


def _whole_numbers(text: str, option: str, *, many: bool = True) -> list[int]:
    """``--n-groups 10,20,40``: positive integers, or a one-line usage error naming the
    option and the bad item."""
    what = ("comma-separated whole numbers above 0 such as 10,20,40" if many
            else "a whole number above 0")
    items = [t.strip() for t in text.split(",")] if many else [text.strip()]
    values = []
    for item in items:
        try:
            value = int(item)
        except ValueError:
            value = None
        if value is None or value < 1:
            got = f"{item!r} in {text!r}" if len(items) > 1 else repr(text)
            raise _UsageError(f"{option} takes {what}; got {got}")
        values.append(value)
    return values


def _numbers(text: str, option: str) -> list[float]:
    """``--effect 2,5``: finite numbers, or a one-line usage error."""
    items = [t.strip() for t in text.split(",")]
    values = []
    for item in items:
        try:
            value = float(item)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            got = f"{item!r} in {text!r}" if len(items) > 1 else repr(text)
            raise _UsageError(f"{option} takes a number or comma-separated numbers such as "
                              f"2,5,10; got {got}")
        values.append(value)
    return values


def _power_settings(args) -> dict:
    """power_lmm's arguments from the command line, every option checked before the fit."""
    if args.test and args.df_method and args.test != args.df_method:
        raise _UsageError(f"--test {args.test} and --df-method {args.df_method} disagree; "
                          "give one (--test alone also offers lrt)")
    test = args.test or args.df_method or "satterthwaite"
    if test != "lrt":
        try:
            check_df_method(test, reml=not args.ml, name="test")
        except InputValueError:  # the rule's words for the command line
            raise _UsageError("the Kenward-Roger test needs a REML pilot fit: drop --ml, or "
                              "use --test satterthwaite or lrt") from None
    alpha = _open_unit(args.alpha, "--alpha takes a number between 0 and 1 such as 0.05")
    target = None if args.target is None else \
        _open_unit(args.target, "--target takes a power between 0 and 1 such as 0.8")
    if args.seed is None:
        seed = secrets.randbelow(10**6)
    else:
        try:
            seed = int(args.seed)
        except ValueError:
            raise _UsageError(f"--seed takes a whole number such as 1; got {args.seed!r}") \
                from None
        if seed < 0:
            raise _UsageError(f"--seed takes a whole number of 0 or more; got {seed}")
    return {
        "effect": _numbers(args.effect, "--effect") if args.effect is not None else None,
        "n_groups": (_whole_numbers(args.n_groups, "--n-groups")
                     if args.n_groups is not None else None),
        "n_per_group": (_whole_numbers(args.n_per_group, "--n-per-group")
                        if args.n_per_group is not None else None),
        "along": args.along,
        "n_sims": _whole_numbers(args.sims, "--sims", many=False)[0],
        "test": test, "alpha": alpha, "target": target, "seed": seed,
        "n_jobs": (_whole_numbers(args.jobs, "--jobs", many=False)[0]
                   if args.jobs is not None else None),
        "progress": not args.quiet,
    }


def _open_unit(text: str, what: str) -> float:
    """An option's number in (0, 1), or a usage error that says ``what`` it takes."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < 1:
        raise _UsageError(f"{what}; got {text!r}")
    return value


def _power_command(args) -> None:
    from .scale.power import power_lmm

    settings = _power_settings(args)
    effect = settings.pop("effect")
    fit, notes = _fit_noting_warnings(args.formula, _read(args.data), args.weights,
                                      reml=not args.ml,
                                      safe_formula=not args.trusted_formula)
    table = power_lmm(fit, args.term, effect=effect, **settings)
    attrs = table.attrs
    along = attrs["along"]  # the grouping column power_lmm extended (or counted)
    failed = int(table["n_failed"].sum())
    if failed:
        first = " ".join(str(attrs["first_error"]).split())
        notes.append(f"{failed} of {int(table['n_sims'].sum())} refits failed and are left "
                     f"out of the power (first: {first})")
        print(f"mixedkit: warning: {notes[-1]}", file=sys.stderr)
    if args.json:
        print(json.dumps(_clean({
            "formula": fit.formula, "term": attrs["term"], "test": attrs["test"],
            "alpha": attrs["alpha"], "conf_level": attrs["conf_level"], "along": along,
            "seed": settings["seed"], "method": fit.method, "table": _records(table),
            "target": attrs.get("target"), "warnings": notes}), indent=1))
    else:
        _print_power(table, fit, along, settings["seed"])
        if "target" in attrs:
            print(_target_sentence(attrs["target"], along))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        from .plots.power import plot_power

        _write_figure(plot_power(table).figure, args.plot)
        print(f"power figure written to {args.plot}", file=sys.stderr)


def _target_sentence(found: dict, along: str) -> str:
    """power_lmm's ``.attrs["target"]`` in words."""
    what = f"groups of {along}" if found["size"] == "n_groups" else f"rows per group of {along}"
    if found["smallest"] is None:
        return f"No size simulated reaches power {found['power']:g}."
    high = found["conf_high"] if found["conf_high"] is not None else "more"
    return (f"Smallest number of {what} with power >= {found['power']:g}: "
            f"{found['smallest']} (within the Monte Carlo error: {found['conf_low']} to {high}; "
            "more --sims narrow it).")


def _print_power(table, fit, along: str, seed: int) -> None:
    import pandas as pd

    from .display import format_number

    attrs = table.attrs
    level = attrs["conf_level"]
    print(f"Power for {attrs['term']}: {attrs['test']} test, alpha = {attrs['alpha']:g}, "
          f"seed {seed} ({fit.method} pilot; groups of {along}; "
          f"{level:.0%} exact binomial intervals)")
    out = pd.DataFrame({
        "n_groups": table["n_groups"].astype(str),
        "n_per_group": table["n_per_group"].map(lambda v: f"{v:g}" if v == round(v)
                                                else f"{v:.1f}"),
        "n_obs": table["n_obs"].astype(str)})
    if table["effect"].notna().any():
        out["effect"] = table["effect"].map(format_number)
    out["power"] = table["power"].map(lambda v: "NA" if math.isnan(v) else f"{v:.3f}")
    out[f"{level:.0%} CI"] = [("NA" if math.isnan(lo) else f"[{lo:.3f}, {hi:.3f}]")
                              for lo, hi in zip(table["conf_low"], table["conf_high"])]
    for col in ("n_sims", "n_failed", "n_singular"):
        out[col] = table[col].astype(str)
    print(out.to_string(index=False))


def _run(args) -> int:
    from .checks import check_data
    from .compare import compare_models
    from .datasets import load_dataset
    from .fitting import fit_lmm
    from .model.safe_formula import check_formula

    if args.command == "demo":
        formula = "Reaction ~ Days + (Days | Subject)"
        print(f"mixedkit demo: fit_lmm({formula!r}, load_dataset('sleepstudy'))\n")
        fit = fit_lmm(formula, load_dataset("sleepstudy"))
        print(fit.summary())
        _save_plot(fit, args.plot)
        print(f"\ndiagnostics figure written to {Path(args.plot).resolve()} "
              "(choose another file with --plot PATH)")
    elif args.command == "fit":
        fit = fit_lmm(args.formula, _read(args.data), reml=not args.ml,
                      safe_formula=not args.trusted_formula, weights=args.weights)
        print(json.dumps(fit_json(fit), indent=1) if args.json else fit.summary())
        if args.plot:
            _save_plot(fit, args.plot)
            print(f"diagnostics figure written to {args.plot}", file=sys.stderr)
    elif args.command == "check":
        data = _read(args.data)
        if not args.trusted_formula:  # before check_data evaluates it
            check_formula(args.formula, columns=data.columns)
        report = check_data(args.formula, data, weights=args.weights)
        if args.json:
            print(json.dumps({"verdict": report.verdict,
                              "findings": _records(report.to_frame())}, indent=1))
        else:
            print(report)
        if report.verdict == "error":  # said once, in the report above (exit code 2)
            return 2
    elif args.command == "anova":
        _anova_command(args)
    elif args.command == "means":
        _means_command(args)
    elif args.command == "power":
        _power_command(args)
    else:
        if len(args.formulas) < 2:
            raise _UsageError("compare needs at least two formulas")
        data = _read(args.data)
        if not args.trusted_formula:  # every formula before the first fit
            for formula in args.formulas:
                check_formula(formula, columns=data.columns)
        comp = compare_models(*[fit_lmm(f, data, safe_formula=not args.trusted_formula,
                                        weights=args.weights) for f in args.formulas])
        if args.json:
            print(json.dumps({"table": _records(comp.table), "notes": comp.notes}, indent=1))
        else:
            print(comp)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mixedkit`` console script."""
    args = _parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the health section reports what they would say
            return _run(args)
    except MixedkitError as err:
        print(f"mixedkit: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. piped into head
        return 0
    except Exception as err:  # noqa: BLE001 - the promise is a message, not a traceback
        print(f"mixedkit: unexpected error ({type(err).__name__}): {err}", file=sys.stderr)
        return 1
