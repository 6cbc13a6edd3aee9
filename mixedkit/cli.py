"""Command line: ``mixedkit fit | check | compare | demo`` (also ``python -m mixedkit``).

Exit codes: 0 success, 2 usage or data errors (one-line message on stderr),
1 unexpected errors.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from pathlib import Path

from .errors import MixedkitError

__all__ = ["main"]

_FIT_EXAMPLE = 'example:\n  mixedkit fit sleep.csv "Reaction ~ Days + (Days | Subject)" --plot diag.png'
_CHECK_EXAMPLE = 'example:\n  mixedkit check sleep.csv "Reaction ~ Days + (1 | Subject)"'
_COMPARE_EXAMPLE = ('example:\n  mixedkit compare sleep.csv "Reaction ~ Days + (1 | Subject)" '
                    '"Reaction ~ Days + (Days | Subject)"')
_DEMO_EXAMPLE = "example:\n  mixedkit demo --plot demo.png"


class _UsageError(MixedkitError):
    """A problem with the command line itself."""


def _read(path: str):
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise _UsageError(f"data file {path!r} does not exist")
    if p.suffix.lower() in (".parquet", ".pq"):
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise _UsageError(f"reading {path!r} needs pyarrow: pip install pyarrow "
                              "(or save the data as CSV)") from None
        return pd.read_parquet(p)
    try:
        return pd.read_csv(p)
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise _UsageError(f"data file {path!r} could not be read as CSV: {err}") from None


def _clean(value):
    """JSON-safe values: NaN/inf become null, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _records(frame):
    return _clean(frame.to_dict(orient="records"))


def fit_json(fit) -> dict:
    """Everything the text summary shows, as JSON-ready data."""
    return _clean({
        "formula": fit.formula, "method": fit.method, "nobs": fit.nobs,
        "n_dropped": fit.n_dropped, "ngroups": fit.ngroups, "loglik": fit.loglik,
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
    f.add_argument("data", help="data file in long format (CSV, or Parquet with pyarrow)")
    f.add_argument("formula", help='lme4-style formula, e.g. "y ~ x + (1 | group)"')
    f.add_argument("--ml", action="store_true", help="maximum likelihood instead of REML")
    f.add_argument("--plot", metavar="PNG", help="also write the diagnostics figure here")
    f.add_argument("--json", action="store_true", help="print JSON instead of the summary")
    c = sub.add_parser("check", help="run the data checks only", epilog=_CHECK_EXAMPLE,
                       formatter_class=fmt)
    c.add_argument("data", help="data file (CSV or Parquet)")
    c.add_argument("formula", help="lme4-style formula")
    c.add_argument("--json", action="store_true", help="print JSON instead of text")
    m = sub.add_parser("compare", help="compare two or more models on one data set",
                       epilog=_COMPARE_EXAMPLE, formatter_class=fmt)
    m.add_argument("data", help="data file (CSV or Parquet)")
    m.add_argument("formulas", nargs="+", metavar="FORMULA", help="two or more formulas")
    m.add_argument("--json", action="store_true", help="print JSON instead of text")
    d = sub.add_parser("demo", help="fit a bundled example and write its diagnostics figure",
                       epilog=_DEMO_EXAMPLE, formatter_class=fmt)
    d.add_argument("--plot", metavar="PNG", default="mixedkit-demo.png",
                   help="where to write the diagnostics figure (default: %(default)s)")
    return p


def _save_plot(fit, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from .plotting import plot_diagnostics

    fig = plot_diagnostics(fit)
    try:
        fig.savefig(path, dpi=100)
    except (OSError, ValueError) as err:
        raise _UsageError(f"cannot write the figure to {path!r}: {err}") from None
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def _run(args) -> int:
    from . import check_data, compare_models, fit_lmm, load_dataset

    if args.command == "demo":
        formula = "Reaction ~ Days + (Days | Subject)"
        print(f"mixedkit demo: fit_lmm({formula!r}, load_dataset('sleepstudy'))\n")
        fit = fit_lmm(formula, load_dataset("sleepstudy"))
        print(fit.summary())
        _save_plot(fit, args.plot)
        print(f"\ndiagnostics figure written to {args.plot}")
    elif args.command == "fit":
        fit = fit_lmm(args.formula, _read(args.data), reml=not args.ml)
        print(json.dumps(fit_json(fit), indent=1) if args.json else fit.summary())
        if args.plot:
            _save_plot(fit, args.plot)
            print(f"diagnostics figure written to {args.plot}", file=sys.stderr)
    elif args.command == "check":
        report = check_data(args.formula, _read(args.data))
        if args.json:
            print(json.dumps({"verdict": report.verdict,
                              "findings": _records(report.to_frame())}, indent=1))
        else:
            print(report)
        if report.verdict == "error":
            print(f"mixedkit: error: {report.problems[0].what}", file=sys.stderr)
            return 2
    else:
        if len(args.formulas) < 2:
            raise _UsageError("compare needs at least two formulas")
        data = _read(args.data)
        comp = compare_models(*[fit_lmm(f, data) for f in args.formulas])
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
