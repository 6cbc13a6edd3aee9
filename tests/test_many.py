"""fit_many: equal to separate fit_lmm calls, failures listed, adjustment, executors."""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

import mixedkit as mk


def expression_data(n_subjects: int = 12, n_times: int = 5, n_genes: int = 6,
                    seed: int = 0) -> pd.DataFrame:
    """Expression over time within subjects, one column per gene; gene 0 has a gap."""
    rng = np.random.default_rng(seed)
    subject = np.repeat(np.arange(n_subjects), n_times)
    time = np.tile(np.arange(n_times), n_subjects)
    data = {"subject": [f"s{s:02d}" for s in subject], "time": time,
            "site": np.where(subject % 2 == 0, "north", "south")}
    for j in range(n_genes):
        data[f"gene{j}"] = (0.2 * j * time + rng.normal(0, 1, n_subjects)[subject]
                            + rng.normal(0, 0.7, len(time)))
    frame = pd.DataFrame(data)
    frame.loc[[3, 17, 30], "gene0"] = np.nan
    return frame


@pytest.fixture(scope="module")
def data():
    return expression_data()


GENES = [f"gene{j}" for j in range(6)]


def quiet_fit(formula, data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mk.fit_lmm(formula, data, **kw)


@pytest.fixture(scope="module")
def many(data):
    return mk.fit_many("~ time + (1 | subject)", data, responses=GENES, n_jobs=1,
                       progress=False)


def test_every_table_equals_separate_fits(data, many):
    assert many.keys == ["response"] and len(many) == 6 and many.failures.empty
    for gene in GENES:
        fit = quiet_fit(f"{gene} ~ time + (1 | subject)", data)
        mine = many.fixed_effects[many.fixed_effects.response == gene].drop(columns="response")
        pd.testing.assert_frame_equal(mine.reset_index(drop=True), fit.fixed_effects)
        vc = many.variance_components.query("response == @gene").drop(columns="response")
        pd.testing.assert_frame_equal(vc.reset_index(drop=True), fit.variance_components)
        icc = many.icc().query("response == @gene").drop(columns="response")
        pd.testing.assert_frame_equal(icc.reset_index(drop=True), fit.icc(), check_like=True)
        row = many.models.set_index("response").loc[gene]
        assert row.loglik == fit.loglik and row.n_obs == fit.n_obs
        assert row.verdict == fit.health.verdict and bool(row.singular) == fit.singular
    assert many.models.set_index("response").loc["gene0", "n_obs"] == 57  # its three gaps
    assert many.models.set_index("response")["n_dropped"].tolist() == [3, 0, 0, 0, 0, 0]


def test_a_constant_response_is_a_failure_not_an_exception(data):
    bad = data.assign(flat=1.0, words="a")
    with pytest.warns(mk.FitWarning, match=r"^fit_many: 2 of 3 fits failed \(see \.failures\); "
                      r"the commonest error: DataError: response 'flat' is constant"):
        many = mk.fit_many("~ time + (1 | subject)", bad, responses=["gene1", "flat", "words"],
                           n_jobs=1, progress=False)
    assert many.models["response"].tolist() == ["gene1"]
    failures = many.failures.set_index("response")
    assert failures.loc["flat", "error"] == "DataError"
    assert "'flat' is constant" in failures.loc["flat", "message"]
    assert failures.loc["words", "error"] in ("DataError", "InputTypeError")
    text = repr(many)
    assert "3 models" in text and "2 failed" in text and "failed flat: DataError" in text


def test_by_fits_one_model_per_subset(data):
    many = mk.fit_many("gene2 ~ time + (1 | subject)", data, by="site", n_jobs=1,
                       progress=False)
    assert many.keys == ["site"] and many.models["site"].tolist() == ["north", "south"]
    for site in ("north", "south"):
        fit = quiet_fit("gene2 ~ time + (1 | subject)", data[data.site == site])
        mine = many.fixed_effects.query("site == @site").drop(columns="site")
        pd.testing.assert_frame_equal(mine.reset_index(drop=True), fit.fixed_effects)
    refit = many.fit("south")
    assert refit.loglik == many.models.set_index("site").loc["south", "loglik"]


def test_responses_and_by_together(data):
    many = mk.fit_many("~ time + (1 | subject)", data, responses=["gene1", "gene2"],
                       by=["site"], n_jobs=1, progress=False)
    assert many.keys == ["response", "site"] and len(many.models) == 4
    fit = many.fit("gene2", "north")
    row = many.models.set_index(["response", "site"]).loc[("gene2", "north")]
    assert fit.loglik == row.loglik


def test_p_adjust_within_each_term(data):
    many = mk.fit_many("~ time + (1 | subject)", data, responses=GENES, p_adjust="fdr_bh",
                       n_jobs=1, progress=False)
    fe = many.fixed_effects
    for term in ("Intercept", "time"):
        part = fe[fe.term == term]
        np.testing.assert_allclose(part.p_adjusted,
                                   multipletests(part.p_value, method="fdr_bh")[1])
    assert "fdr_bh" in repr(many)


def test_same_results_on_every_executor(data, many, dask_client):
    kw = {"responses": GENES, "progress": False}
    pool = mk.fit_many("~ time + (1 | subject)", data, n_jobs=2, **kw)
    with ThreadPoolExecutor(2) as ex:
        threads = mk.fit_many("~ time + (1 | subject)", data, executor=ex, **kw)
    dask = mk.fit_many("~ time + (1 | subject)", data, executor=dask_client, **kw)
    for other in (pool, threads, dask):
        pd.testing.assert_frame_equal(other.fixed_effects, many.fixed_effects)
        pd.testing.assert_frame_equal(other.variance_components, many.variance_components)
        pd.testing.assert_frame_equal(other.models, many.models)


def test_data_is_not_modified(data):
    before = data.copy()
    mk.fit_many("~ time + (1 | subject)", data, responses=["gene0"], by="site", n_jobs=1,
                progress=False)
    pd.testing.assert_frame_equal(data, before)


def test_fit_options_reach_every_fit(data):
    many = mk.fit_many("~ time + (1 | subject)", data, responses=["gene3"], reml=False,
                       df_method="kenward-roger" if False else "normal", n_jobs=1,
                       progress=False)
    fit = quiet_fit("gene3 ~ time + (1 | subject)", data, reml=False, df_method="normal")
    pd.testing.assert_frame_equal(
        many.fixed_effects.drop(columns="response").reset_index(drop=True), fit.fixed_effects)


@pytest.mark.parametrize("call, error, match", [
    (lambda d: mk.fit_many("y ~ time + (1 | subject)", d, responses=["gene1"]),
     mk.InputValueError, r"formula has a response \('y'\) and responses= lists others"),
    (lambda d: mk.fit_many("~ time + (1 | subject)", d),
     mk.InputValueError, r"give responses= .* or by="),
    (lambda d: mk.fit_many("~ time + (1 | subject)", d, responses=["gene1", "nope"]),
     mk.ColumnNotFoundError, r"responses: column\(s\) \['nope'\] not in data"),
    (lambda d: mk.fit_many("~ time + (1 | subject)", d, responses=["gene1", "gene1"]),
     mk.InputValueError, r"responses lists \['gene1'\] more than once"),
    (lambda d: mk.fit_many("gene1 ~ time + (1 | subject)", d, by="nope"),
     mk.ColumnNotFoundError, r"by: column\(s\) \['nope'\]"),
    (lambda d: mk.fit_many("~ time + (1 | subject)", d, responses=["gene1"], REML=False),
     mk.InputTypeError, r"REML=False; mixedkit spells it reml="),
    (lambda d: mk.fit_many("~ time + (1 | subject)", d, responses=["gene1"], p_adjust="BH"),
     mk.InputValueError, r"p_adjust must be None or one of .*'fdr_bh'"),
    (lambda d: mk.fit_many("time + (1 | subject)", d, responses=["gene1"]),
     mk.InputTypeError, r"formula must be a model formula"),
    (lambda d: mk.fit_many("~ time + (1 | subject)", d.to_numpy(), responses=["gene1"]),
     mk.InputTypeError, r"data must be a pandas DataFrame in long format; got ndarray"),
    (lambda d: mk.fit_many("~ time + (1 | subject)", d, responses=["gene1"], n_jobs=0),
     mk.InputValueError, r"n_jobs must be a positive integer or None; got 0"),
])
def test_messages(data, call, error, match):
    with pytest.raises(error, match=match):
        call(data)


def test_fit_key_is_checked(many):
    with pytest.raises(mk.InputValueError, match=r"one value per key column \['response'\]"):
        many.fit("gene1", "north")


def test_a_mistake_every_fit_shares_raises_before_any_fit(data, monkeypatch):
    """A misspelt grouping column or a formula that does not parse is the same mistake for
    every response: it raises at once, as fit_lmm raises it, and nothing is fitted."""
    from mixedkit.scale import many as many_module

    monkeypatch.setattr(many_module, "run_tasks", lambda *a, **k: pytest.fail("fits ran"))
    genes = [c for c in data.columns if c.startswith("gene")]
    with pytest.raises(mk.ColumnNotFoundError, match=r"'subjct'.*did you mean 'subject'") as err:
        mk.fit_many("~ time + (1 | subjct)", data, responses=genes, progress=False)
    assert "wide" not in str(err.value)  # response columns gene0, gene1, ... are not wide data
    with pytest.raises(mk.FormulaError, match=r"unbalanced|parenthes"):
        mk.fit_many("~ time + (1 | subject", data, responses=genes, progress=False)
    with pytest.raises(mk.ColumnNotFoundError, match=r"'tmie'"):
        mk.fit_many("gene0 ~ tmie + (1 | subject)", data, by="site", progress=False)


def test_a_run_where_every_fit_failed_is_an_error(data):
    flat = data.assign(a=1.0, b=2.0)
    with pytest.raises(mk.FitError, match=r"^fit_many: all 2 fits failed; the commonest error: "
                       r"DataError: response '(a|b)' is constant .*\(1 of them\)\. Fit one of "
                       r"them with fit_lmm"):
        mk.fit_many("~ time + (1 | subject)", flat, responses=["a", "b"], n_jobs=1,
                    progress=False)
