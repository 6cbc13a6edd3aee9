"""statsmodels' own lme4 comparison suite, run through mixedkit as it is written.

statsmodels ships 15 data sets (``regression/tests/results/lme*.csv``) and lme4's fits of
them (``lme_r_results.py``, made by ``lme_results.R``): ``endog ~ 0 + exog_fe_* + (0 +
exog_re_0 + exog_re_1 + ... | groups)`` with correlated effects ("drf"), and with one
``(0 + exog_re_k | groups)`` term each ("irf", data sets 6-14), by ML and REML: 36 fits.
``exog_re_0`` is a column of ones (a random intercept written as a slope); mixedkit refused
all 36 ("does not vary within any level") until it read such a column as lme4 does.
Tolerances are statsmodels' own for the same comparison (``test_lme.py::do1``).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedkit as mk

lme_r = pytest.importorskip("statsmodels.regression.tests.results.lme_r_results")
DATA = Path(lme_r.__file__).parent


def _cases() -> list[tuple[str, int, bool, bool]]:
    out = []
    for path in sorted(DATA.glob("lme*.csv")):
        ds = int(path.name[3:5])
        for irf in (False, True):
            for reml in (False, True):
                name = f"_{'reml' if reml else 'ml'}_{'irf' if irf else 'drf'}_{ds}"
                if hasattr(lme_r, "coef" + name):
                    out.append((path.name, ds, irf, reml))
    return out


CASES = _cases()


def test_the_suite_has_36_fits():
    assert len(CASES) == 36


def _cov_re(fit, terms: list[str]) -> np.ndarray:
    """The random-effects covariance in ``terms`` order, from the variance table."""
    vc = fit.variance_components
    k = len(terms)
    cov = np.zeros((k, k))
    for row in vc.itertuples():
        if row.term in terms:
            i = terms.index(row.term)
            cov[i, i] = row.variance
        elif row.term.startswith("corr("):
            a, b = row.term[len("corr("):-1].split(", ")
            i, j = terms.index(a), terms.index(b)
            cov[i, j] = cov[j, i] = row.covariance
    return cov


@pytest.mark.parametrize("fname, ds, irf, reml", CASES,
                         ids=[f"{c[0][:5]}-{'irf' if c[2] else 'drf'}-{'REML' if c[3] else 'ML'}"
                              for c in CASES])
def test_lme4_suite_as_written(fname, ds, irf, reml):
    data = pd.read_csv(DATA / fname)
    fe = [c for c in data if c.startswith("exog_fe")]
    re_ = [c for c in data if c.startswith("exog_re")]
    rand = " + ".join(f"(0 + {c} | groups)" for c in re_) if irf else \
        f"(0 + {' + '.join(re_)} | groups)"
    name = f"_{'reml' if reml else 'ml'}_{'irf' if irf else 'drf'}_{ds}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mk.MixedkitWarning)
        fit = mk.fit_lmm(f"endog ~ 0 + {' + '.join(fe)} + {rand}", data, reml=reml)
    np.testing.assert_allclose(fit.fixed_effects["estimate"], getattr(lme_r, "coef" + name),
                               atol=1e-4)
    np.testing.assert_allclose(fit.vcov_fixed.to_numpy(), getattr(lme_r, "vcov" + name),
                               atol=1e-3)
    np.testing.assert_allclose(_cov_re(fit, re_), getattr(lme_r, "cov_re" + name), atol=1e-4)
    assert fit.scale == pytest.approx(getattr(lme_r, "scale" + name), abs=1e-4)
    assert fit.loglik == pytest.approx(np.atleast_1d(getattr(lme_r, "loglike" + name))[0],
                                       abs=1e-3)
    ones = [f for f in fit.health.findings if f.check == "random intercept as a column"]
    assert len(ones) == 1 and "'exog_re_0'" in ones[0].what  # said, as a note
