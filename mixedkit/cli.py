"""Command line: ``mixedkit fit DATA.csv FORMULA``, ``mixedkit check``, ``mixedkit demo``.

Exit codes: 0 success, 2 usage or data errors (message on stderr), 1 unexpected.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from .errors import MixedkitError

__all__ = ["main"]

_EXAMPLE = 'example: mixedkit fit sleep.csv "Reaction ~ Days + (Days | Subject)"'


def _read(path: str):
    import pandas as pd

    try:
        return pd.read_csv(path)
    except FileNotFoundError:
        raise MixedkitError(f"data file {path!r} does not exist") from None
    except (OSError, ValueError) as err:
        raise MixedkitError(f"data file {path!r} could not be read as CSV: {err}") from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mixedkit", description="Linear mixed models, lme4's answer "
                                "on statsmodels.", epilog=_EXAMPLE)
    sub = p.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fit", help="fit a model and print its summary", epilog=_EXAMPLE)
    f.add_argument("data", help="CSV file in long format")
    f.add_argument("formula", help="lme4-style formula")
    f.add_argument("--ml", action="store_true", help="maximum likelihood instead of REML")
    c = sub.add_parser("check", help="run the data checks only",
                       epilog='example: mixedkit check sleep.csv "Reaction ~ Days + (1 | Subject)"')
    c.add_argument("data")
    c.add_argument("formula")
    sub.add_parser("demo", help="fit the bundled sleepstudy example",
                   epilog="example: mixedkit demo")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mixedkit`` console script."""
    args = _parser().parse_args(argv)
    try:
        from . import check_data, fit_lmm, load_dataset

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the summary's health section says it all
            if args.command == "demo":
                formula = "Reaction ~ Days + (Days | Subject)"
                print(f"mixedkit demo: fit_lmm({formula!r}, load_dataset('sleepstudy'))\n")
                print(fit_lmm(formula, load_dataset("sleepstudy")).summary())
            elif args.command == "fit":
                print(fit_lmm(args.formula, _read(args.data), reml=not args.ml).summary())
            else:
                report = check_data(args.formula, _read(args.data))
                print(report)
                return 2 if report.verdict == "error" else 0
    except MixedkitError as err:
        print(f"mixedkit: error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001 - the promise is a message, not a traceback
        print(f"mixedkit: unexpected error ({type(err).__name__}): {err}", file=sys.stderr)
        return 1
    return 0
