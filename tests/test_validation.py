"""Every bad input of issue #2, item 3: the exception type and the message text."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedkit as mk


def base() -> pd.DataFrame:
    """Ten subjects, four visits, a numeric response."""
    rng = np.random.default_rng(1)
    n_sub, n_vis = 10, 4
    subj = np.repeat([f"s{i}" for i in range(n_sub)], n_vis)
    time = np.tile(np.arange(n_vis), n_sub)
    u = np.repeat(rng.normal(0, 2, n_sub), n_vis)
    y = 10 + 0.5 * time + u + rng.normal(0, 1, n_sub * n_vis)
    return pd.DataFrame({"y": y, "time": time, "subject": subj,
                         "sex": np.repeat(["f", "m"] * (n_sub // 2), n_vis)})


def with_col(**cols):
    def make():
        d = base()
        for k, v in cols.items():
            d[k] = v(d) if callable(v) else v
        return d
    return make


def wide():
    d = base()
    w = d.pivot(index="subject", columns="time", values="y")
    w.columns = [f"score_t{c + 1}" for c in w.columns]
    return w.reset_index()


def rank_deficient():
    d = base()
    d["time2"] = 2 * d["time"] + 1
    return d


def time_as_text(na: bool = True):
    """``time`` read from a file as text: numbers and (``na``) one "n/a"."""
    def make():
        d = base()
        d["time"] = (d["time"] + d.index / 100).astype(str)
        if na:
            d.loc[3, "time"] = "n/a"
        return d
    return make


def crossed():
    """Ten subjects crossed with eight items, a two-level condition within both."""
    rng = np.random.default_rng(2)
    d = pd.DataFrame({"subj": np.repeat([f"s{i}" for i in range(10)], 8),
                      "item": np.tile([f"i{j}" for j in range(8)], 10)})
    d["cond"] = np.where((d.index + d.index // 8) % 2 == 0, "A", "B")
    d["y"] = rng.normal(size=len(d)) + (d["cond"] == "B")
    return d


BAD = [
    # (id, data factory, formula, kwargs, exception, message fragment)
    ("not a DataFrame", lambda: base().to_dict(), "y ~ time + (1 | subject)", {},
     mk.InputTypeError, r"data must be a pandas DataFrame in long format; got dict"),
    ("polars LazyFrame", lambda: pytest.importorskip("polars").from_pandas(base()).lazy(),
     "y ~ time + (1 | subject)", {},
     mk.InputTypeError, r"data is a polars LazyFrame, .* data\.collect\(\)"),
    ("empty data", lambda: base().iloc[:0], "y ~ time + (1 | subject)", {},
     mk.DataError, r"data is empty \(shape \(0, 4\)\)"),
    ("formula not a string", base, 42, {},
     mk.InputTypeError, r"formula must be a string .* got int"),
    ("formula without ~", base, "y time + (1 | subject)", {},
     mk.FormulaError, r"must have one '~'"),
    ("unbalanced parenthesis", base, "y ~ time + (1 | subject", {},
     mk.FormulaError, r"unbalanced '\('"),
    ("bar outside parentheses", base, "y ~ time + 1 | subject", {},
     mk.FormulaError, r"uses '\|' outside parentheses"),
    ("no random term", base, "y ~ time", {},
     mk.FormulaError, r"has no random-effects term; add one such as '\+ \(1 \| group\)'"),
    ("response missing", base, "Y ~ time + (1 | subject)", {},
     mk.ColumnNotFoundError, r"column 'Y' is not in data; did you mean 'y'\?"),
    ("predictor missing", base, "y ~ tme + (1 | subject)", {},
     mk.ColumnNotFoundError, r"column 'tme' is not in data; did you mean 'time'\?"),
    ("grouping column missing", base, "y ~ time + (1 | subjects)", {},
     mk.ColumnNotFoundError, r"column 'subjects' is not in data; did you mean 'subject'\?"),
    ("groups= missing", base, "y ~ time", {"groups": "Subject"},
     mk.ColumnNotFoundError, r"groups='Subject' is not a column of data; did you mean 'subject'\?"),
    ("response not numeric", with_col(y=lambda d: d["y"].round().astype(str) + "kg"),
     "y ~ time + (1 | subject)", {},
     mk.DataError, r"response 'y' is not numeric \(dtype .*\); convert it with pd.to_numeric"),
    ("response boolean", with_col(y=lambda d: d["y"] > 10), "y ~ time + (1 | subject)", {},
     mk.DataError, r"response 'y' is boolean .* data\['y'\].astype\(int\)"),
    ("response constant", with_col(y=3.0), "y ~ time + (1 | subject)", {},
     mk.DataError, r"response 'y' is constant \(every value is 3.0\)"),
    ("response infinite", with_col(y=lambda d: d["y"].where(d.index != 5, np.inf)),
     "y ~ time + (1 | subject)", {},
     mk.DataError, r"response 'y' has 1 infinite values \(rows \[5\]\)"),
    ("grouping with one level", with_col(subject="s0"), "y ~ time + (1 | subject)", {},
     mk.DataError, r"grouping factor 'subject' has a single level \('s0'\)"),
    ("every group of size one", with_col(subject=lambda d: [f"r{i}" for i in range(len(d))]),
     "y ~ time + (1 | subject)", {},
     mk.DataError, r"grouping factor 'subject' has 40 levels with one row each"),
    ("wide data, response missing", wide, "score ~ time + (1 | subject)", {},
     mk.ColumnNotFoundError,
     (r"data look wide: columns score_t1, score_t2, score_t3, score_t4 .*\n.*"
      r"data.melt\(id_vars=\['subject'\], value_vars=\['score_t1', 'score_t2', 'score_t3', "
      r"'score_t4'\], var_name='time', value_name='score'\)")),
    ("wide data, one row per group", wide, "score_t2 ~ score_t1 + (1 | subject)", {},
     mk.DataError, r"(?s)one row per level; data look wide: .*data.melt\("),
    ("missing values with raise", with_col(time=lambda d: d["time"].where(d.index != 3)),
     "y ~ time + (1 | subject)", {"missing": "raise"},
     mk.DataError, (r"1 row has missing values in 'time' \(1\) \(first rows: \[3\]\); "
                    r"pass missing='drop'")),
    ("bad missing option", base, "y ~ time + (1 | subject)", {"missing": "omit"},
     mk.InputTypeError, r"missing must be 'drop' or 'raise'; got 'omit'"),
    ("rank deficient", rank_deficient, "y ~ time + time2 + (1 | subject)", {},
     mk.DataError, r"not of full rank.*'time2' = combination of \['Intercept', 'time'\]"),
    ("unused category", with_col(sex=lambda d: pd.Categorical(d["sex"], ["f", "m", "x"])),
     "y ~ sex + (1 | subject)", {},
     mk.DataError, r"column 'sex\[T.x\]' is all zeros.*remove_unused_categories"),
    ("lme4 terms and groups=", base, "y ~ time + (1 | subject)", {"groups": "subject"},
     mk.FormulaError, r"give the random effects one way"),
    ("re_formula without groups", base, "y ~ time", {"re_formula": "~time"},
     mk.FormulaError, r"re_formula= and vc_formula= need groups="),
    ("bad conf_level", base, "y ~ time + (1 | subject)", {"conf_level": 95},
     mk.InputValueError, r"conf_level must be a number between 0 and 1; got 95"),
    ("bad df_method", base, "y ~ time + (1 | subject)", {"df_method": "kr"},
     mk.InputValueError, (r"df_method must be one of \('satterthwaite', 'kenward-roger', "
                         r"'normal'\); got 'kr'")),
    ("KR with ML", base, "y ~ time + (1 | subject)", {"df_method": "kenward-roger",
                                                      "reml": False},
     mk.InputValueError, r"df_method='kenward-roger' needs a REML fit \(reml=True\)"),
    ("R's REML=", base, "y ~ time + (1 | subject)", {"REML": False}, mk.InputTypeError,
     r"unknown argument REML=False; mixedkit spells it reml= \(lowercase\): reml=False"),
    ("reml not a bool", base, "y ~ time + (1 | subject)", {"reml": "yes"}, mk.InputTypeError,
     r"reml must be True \(REML, lme4's default\) or False \(ML\); got 'yes'"),
    ("misspelled option", base, "y ~ time + (1 | subject)", {"grups": "subject"},
     mk.InputTypeError, r"unknown argument grups='subject'; did you mean groups=\?"),
    ("unknown function", base, "y ~ foo(time) + (1 | subject)", {},
     mk.FormulaError, r"could not be evaluated"),
    ("duplicate intercepts", base, "y ~ time + (time | subject) + (1 | subject)", {},
     mk.FormulaError, r"both give 'subject' a random intercept"),
    ("unsupported vc_formula", base, "y ~ time", {"groups": "subject",
                                                 "vc_formula": {"a": "1 + time"}},
     mk.FormulaError, r"understands variance components of the form '0 \+ C\(f\)'"),
    ("vc_formula not a dict", base, "y ~ time", {"groups": "subject",
                                                "vc_formula": "0 + C(sex)"},
     mk.InputTypeError, r"vc_formula must be a dict .* got str '0 \+ C\(sex\)'"),
    # R habits
    ("R factor()", base, "y ~ factor(time) + (1 | subject)", {},
     mk.FormulaError, r"factor\(time\) is R syntax, .* write C\(time\) instead"),
    ("R as.factor()", base, "y ~ as.factor(time) + (1 | subject)", {},
     mk.FormulaError, r"as.factor\(time\) is R syntax, .* write C\(time\) instead"),
    ("response on the right", base, "y ~ time + (y | subject)", {},
     mk.FormulaError, r"the response 'y' also appears right of '~' \(in \(y \| subject\)\)"),
    # numbers stored as text, dates, infinities, one-level factors: never a silent factor
    ("numeric predictor stored as text", time_as_text(), "y ~ time + (1 | subject)", {},
     mk.DataError, (r"column 'time' looks numeric but is stored as text: 39 of 40 values are "
                    r"numbers, these are not: \['n/a'\] \(rows \[3\]\). As text it would be a "
                    r"factor with 40 levels. Convert it: data\['time'\] = "
                    r"pd.to_numeric\(data\['time'\], errors=\"coerce\"\)")),
    ("numbers as text, many levels", time_as_text(na=False), "y ~ time + (1 | subject)", {},
     mk.DataError, (r"column 'time' holds numbers stored as text \(values like \['0.0', "
                    r"'1.01', '2.02'\]\); as text it would be a factor with 40 levels")),
    ("dates as predictor", with_col(time=lambda d: pd.Timestamp("2024-01-01")
                                    + pd.to_timedelta(d["time"], unit="D")),
     "y ~ time + (1 | subject)", {},
     mk.DataError, (r"column 'time' holds dates \(dtype datetime64\[.*\]\); .* data\['time_num'\] "
                    r"= \(data\['time'\] - data\['time'\].min\(\)\).dt.days, or write "
                    r"C\(time\)")),
    ("infinite predictor", with_col(time=lambda d: d["time"].where(d.index != 6, -np.inf)),
     "y ~ time + (1 | subject)", {},
     mk.DataError, r"column 'time' has 1 infinite values \(rows \[6\]\); replace them with NaN"),
    ("single-level factor", with_col(sex="f"), "y ~ time + sex + (1 | subject)", {},
     mk.DataError, r"factor 'sex' has a single level \('f'\) in the rows used"),
    ("column named Intercept", with_col(Intercept=lambda d: d["time"] * 2.0),
     "y ~ Intercept + (1 | subject)", {},
     mk.FormulaError, r"column 'Intercept' has the name every table gives the intercept"),
    ("groups array of the wrong length", base, "y ~ time", {"groups": np.arange(7)},
     mk.InputValueError, (r"groups has 7 values but data has 40 rows; give one group label per "
                         r"row \(or the name of the groups column\)")),
    ("groups Series on another index", base, "y ~ time",
     {"groups": pd.Series(np.repeat(np.arange(10), 4), index=np.arange(100, 140))},
     mk.InputValueError, r"groups: the Series' index does not match the data's index"),
    ("groups Series differing from its column", base, "y ~ time",
     {"groups": pd.Series(np.repeat(np.arange(10), 4), name="subject")},
     mk.InputValueError, (r"groups: the Series 'subject' differs from data's column 'subject'; "
                         r"rename the Series")),
    ("transformation outside its domain", with_col(x=lambda d: d["time"] - 1.0),
     "y ~ np.log(x) + (1 | subject)", {},
     mk.DataError, (r"fixed effects: column 'np\.log\(x\)' has 20 non-finite values \(NaN or "
                    r"infinite\) after transformation.*np\.log\(x \+ 1\)")),
    ("random slope outside its domain", with_col(x=lambda d: d["time"] - 1.0),
     "y ~ time + (np.sqrt(x) | subject)", {},
     mk.DataError, r"\(np\.sqrt\(x\) \| subject\): column 'np\.sqrt\(x\)' has 10 non-finite"),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_input_raises_with_message(case):
    _, make, formula, kwargs, exc, message = case
    data = make()
    before = data.copy() if isinstance(data, pd.DataFrame) else None
    with pytest.raises(exc, match=message):
        mk.fit_lmm(formula, data, **kwargs)
    if before is not None:
        pd.testing.assert_frame_equal(data, before)


# conf_level and df_method are fit options, not data checks
FIT_ONLY = {"conf_level", "df_method", "reml", "REML", "grups"}  # fit_lmm's own arguments
CHECKABLE = [c for c in BAD if not FIT_ONLY & set(c[3])]


@pytest.mark.parametrize("case", CHECKABLE, ids=[c[0] for c in CHECKABLE])
def test_check_data_reports_the_same_error(case):
    _, make, formula, kwargs, exc, message = case
    report = mk.check_data(formula, make(), **kwargs)
    assert report.verdict == "error"
    assert report.problems[0].what.startswith(exc.__name__)
    assert re.search(message, report.problems[0].what, flags=re.DOTALL)


def test_errors_subclass_builtins():
    assert issubclass(mk.DataError, ValueError)
    assert issubclass(mk.ColumnNotFoundError, KeyError)
    assert issubclass(mk.FormulaError, ValueError)
    assert issubclass(mk.InputTypeError, TypeError)
    assert issubclass(mk.DesignTooLargeError, MemoryError)
    assert issubclass(mk.FitWarning, UserWarning)
    # KeyError normally quotes its message; ours reads as written.
    err = mk.ColumnNotFoundError("column 'x' is not in data")
    assert str(err) == "column 'x' is not in data"


def test_fewer_than_five_groups_warns_once():
    d = base()
    d = d[d["subject"].isin(["s0", "s1", "s2"])]
    with pytest.warns(mk.FitWarning, match=r"grouping factor 'subject' has only 3 levels") as rec:
        fit = mk.fit_lmm("y ~ time + (1 | subject)", d)
    assert len([w for w in rec if issubclass(w.category, mk.MixedkitWarning)]) == 1
    assert fit.health["few groups"].severity == "warning"


def test_missing_values_dropped_and_reported():
    d = base()
    d.loc[[3, 7], "time"] = np.nan
    d.loc[9, "y"] = np.nan
    d["unused"] = np.nan  # columns the model does not use never cause drops
    before = d.copy()
    with pytest.warns(mk.DataWarning, match=r"3 of 40 rows dropped for missing values"):
        fit = mk.fit_lmm("y ~ time + (1 | subject)", d)
    pd.testing.assert_frame_equal(d, before)
    assert fit.n_obs == 37 and fit.n_dropped == 3
    assert fit.dropped == {"y": 1, "time": 2}
    note = fit.health["missing values"]
    assert "3 of 40 rows dropped for missing values in 'y' (1), 'time' (2)" in note.what
    report = mk.check_data("y ~ time + (1 | subject)", d)
    assert report["missing values"].severity == "note"


def test_check_data_accepts_either_argument_order():
    d = base()
    a = mk.check_data("y ~ time + (1 | subject)", d)
    b = mk.check_data(d, "y ~ time + (1 | subject)")
    assert a.verdict == b.verdict == "ok"
    assert list(a.to_frame().columns) == ["check", "severity", "what", "why", "fix"]


def _instEval_like(n=60_000, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"y": rng.normal(size=n), "a": rng.integers(0, 3000, n),
                         "b": rng.integers(0, 1500, n)})


def test_design_too_large_for_the_machine_is_refused(monkeypatch):
    from mixedkit.model import design

    monkeypatch.setattr(design, "physical_memory", lambda: 8e7)
    d = _instEval_like()
    with pytest.raises(mk.DesignTooLargeError,
                       match=r"too large for this machine: its factorisation needs about 0.1 GB "
                             r"\(limit 0.0 GB\): the largest dense block of crossed or nested "
                             r"random effects has 1,500 columns"):
        mk.fit_lmm("y ~ 1 + (1 | a) + (1 | b)", d)
    report = mk.check_data("y ~ 1 + (1 | a) + (1 | b)", d)
    assert report.verdict == "error" and "DesignTooLargeError" in report.problems[0].what


def test_statsmodels_engine_refuses_what_only_mixedkit_holds(monkeypatch):
    from mixedkit.model import design

    monkeypatch.setattr(design, "physical_memory", lambda: 8e9)
    with pytest.raises(mk.DesignTooLargeError,
                       match=r"statsmodels' MixedLM cannot hold this design: 60,000 rows and up to "
                             r"4,500 random-effect columns in one group need about 13.0 GB as "
                             r"statsmodels stores them \(this machine has 8.0 GB\). mixedkit's "
                             r"own engine \(engine='mixedkit', the default\) fits it"):
        mk.fit_lmm("y ~ 1 + (1 | a) + (1 | b)", _instEval_like(), engine="statsmodels")


def test_unknown_dataset():
    with pytest.raises(mk.DataError, match=r"unknown data set 'sleepstudies'; did you mean "
                                           r"'sleepstudy'\?"):
        mk.load_dataset("sleepstudies")


def test_every_bundled_data_set_loads_with_its_source_and_rs_name():
    """The data sets the docs use are bundled (R's spelling works: ergoStool, Oats), each with
    its source; ergoStool is nlme's (36 ratings, effort 12 for subject 1 on T1)."""
    from mixedkit.datasets import DATASETS, SOURCES

    assert set(SOURCES) == set(DATASETS)
    for name in DATASETS:
        assert len(mk.load_dataset(name)) > 0 and SOURCES[name]
    ergo = mk.load_dataset("ergoStool")
    assert ergo.shape == (36, 3) and ergo["Subject"].nunique() == 9
    assert ergo.iloc[0].tolist() == [12, "T1", "1"]
    oats = mk.load_dataset("Oats")
    assert oats.shape == (72, 4) and sorted(oats["Variety"].unique()) == [
        "Golden Rain", "Marvellous", "Victory"]


def test_mixed_type_grouping_column_warns():
    d = base().astype({"subject": object})
    d.loc[d.index % 2 == 0, "subject"] = d.loc[d.index % 2 == 0, "subject"].str[1:].astype(int)
    with pytest.warns(mk.FitWarning, match=r"grouping column 'subject' mixes value types "
                                          r"\(int, str\)"):
        fit = mk.fit_lmm("y ~ time + (1 | subject)", d)
    assert fit.health["mixed types"].fix == "Convert the column to one type: " \
        "data['subject'].astype(str)."


def test_check_data_reports_the_design_findings_fit_health_shows():
    rng = np.random.default_rng(0)
    d = pd.DataFrame({"g": np.repeat(np.arange(10), 5), "x": rng.normal(size=50) * 1e5,
                      "z": rng.normal(size=50)})
    d["y"] = d.z + rng.normal(size=10)[d.g] + rng.normal(size=50)
    report = mk.check_data("y ~ x + z + (1 | g)", d)
    with pytest.warns(mk.FitWarning, match=r"predictors differ in spread by a factor of 9e\+04"):
        fit = mk.fit_lmm("y ~ x + z + (1 | g)", d)
    assert "scaling" in [f.check for f in report.findings]
    assert fit.health["scaling"].severity == report["scaling"].severity == "warning"


def test_the_suggested_numeric_coding_fits():
    d = crossed()
    d["cond_c"] = np.where(d["cond"] == "B", 0.5, -0.5)
    with pytest.warns(mk.FitWarning, match="singular fit: the 'Intercept' variance for 'subj'"):
        fit = mk.fit_lmm("y ~ cond + (cond_c || subj) + (cond_c || item)", d)
    assert set(fit.variance_components["term"]) >= {"Intercept", "cond_c"}


def test_numbers_stored_as_text_with_few_levels_warn():
    d = base()
    d["dose"] = (d["time"] % 3).astype(str)  # "0", "1", "2": maybe a coded factor
    with pytest.warns(mk.FitWarning, match=r"column 'dose' holds numbers stored as text; it is "
                                           r"used as a factor with 3 levels"):
        fit = mk.fit_lmm("y ~ dose + (1 | subject)", d)
    assert "C(dose)" in fit.health["numbers stored as text"].fix
    with warnings.catch_warnings():  # C() says it is a factor: no warning
        warnings.simplefilter("error", mk.MixedkitWarning)
        mk.fit_lmm("y ~ C(dose) + (1 | subject)", d)


def test_numbers_stored_as_objects_are_numeric():
    d = base()
    objects = d.assign(time=d["time"].astype(object))
    fit = mk.fit_lmm("y ~ time + (1 | subject)", objects)
    assert list(fit.fixed_effects["term"]) == ["Intercept", "time"]
    assert fit.loglik == pytest.approx(mk.fit_lmm("y ~ time + (1 | subject)", d).loglik)
    assert objects["time"].dtype == object  # the caller's frame is not converted


def test_dropped_rows_warn_once_at_fit_time():
    d = base()
    d.loc[[3, 7], "time"] = np.nan
    d.loc[9, "y"] = None
    with pytest.warns(mk.DataWarning) as rec:
        mk.fit_lmm("y ~ time + (1 | subject)", d)
    dropped = [w for w in rec if issubclass(w.category, mk.DataWarning)]
    assert len(dropped) == 1
    assert re.match(r"3 of 40 rows dropped for missing values in 'y' \(1\), 'time' \(2\); the "
                    r"model uses the other 37", str(dropped[0].message))
    assert dropped[0].filename == __file__  # points at the caller's fit_lmm line


def test_unicode_keyword_and_reserved_column_names():
    d = base().rename(columns={"y": "λ", "time": "größe", "sex": "C", "subject": "from"})
    d["np"] = d["größe"] * 2.0 + 1
    fit = mk.fit_lmm("λ ~ größe + C(C) + (1 | from)", d)
    assert list(fit.fixed_effects["term"]) == ["Intercept", "C(C)[T.m]", "größe"]
    assert fit.n_groups == {"from": 10}
    fit = mk.fit_lmm("λ ~ np.log(np) + (1 | `from`)", d)  # the column np, numpy's log
    assert list(fit.fixed_effects["term"]) == ["Intercept", "np.log(np)"]


# predict(newdata): (id, training data, formula, newdata from the training data, predict
# keywords, exception, message)
def _float_subjects():
    d = base()
    d["subject"] = d["subject"].str[1:].astype(float) + 300.0  # 300.0 ... 309.0
    return d


BAD_NEWDATA = [
    ("numeric column as text", base, "y ~ time + (1 | subject)",
     lambda d: d.assign(time=d["time"].astype(str)), {},
     mk.DataError, (r"newdata column 'time' holds text \(values like \['0', '1', '2'\]\), but the "
                    r"model was fitted with 'time' numeric; convert it: newdata\['time'\] = "
                    r"pd.to_numeric\(newdata\['time'\], errors='coerce'\)")),
    ("object slope with a None", base, "y ~ 1 + (0 + time | subject)",
     lambda d: d.assign(time=d["time"].astype(object).where(d.index != 2, None)), {},
     mk.DataError, r"newdata has missing values in 'time' \(1\) \(first rows: \[2\]\)"),
    ("unknown float group", _float_subjects, "y ~ time + (1 | subject)",
     lambda d: d.head(2).assign(subject=[999, 308]), {},
     mk.DataError, (r"1 rows in groups the model has not seen \('subject': \['999.0'\]\); .* "
                    r"The fitted groups are \('subject': \['300.0', '301.0', '302.0', '303.0', "
                    r"'304.0'\] ...\)")),
    ("unseen factor level", base, "y ~ time + sex + (1 | subject)",
     lambda d: d.assign(sex="x"), {"include_random": False},
     mk.DataError, (r"newdata column 'sex' has values the model was not fitted with: \['x'\]; "
                    r"the fitted levels are \['f', 'm'\]")),
    ("boolean for a number", base, "y ~ time + (1 | subject)",
     lambda d: d.assign(time=d["time"] > 1), {},
     mk.DataError, r"newdata column 'time' is boolean, .* newdata\['time'\].astype\(int\)"),
]


@pytest.mark.parametrize("case", BAD_NEWDATA, ids=[c[0] for c in BAD_NEWDATA])
def test_bad_newdata_raises_with_message(case):
    _, make, formula, newdata, kwargs, exc, message = case
    data = make()
    fit = mk.fit_lmm(formula, data)
    new = newdata(data)
    before = new.copy()
    with pytest.raises(exc, match=message):
        fit.predict(new, **kwargs)
    pd.testing.assert_frame_equal(new, before)


def test_predict_with_fewer_levels_of_a_random_slope_factor():
    d = base()
    d["cond"] = np.array(["a", "b", "c", "b"])[d["time"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mk.MixedkitWarning)
        fit = mk.fit_lmm("y ~ cond + (cond | subject)", d)
    rows = d[d["cond"] != "c"]  # newdata without level c: the fit's columns still
    np.testing.assert_allclose(fit.predict(rows), fit.predict(d)[rows.index])


def test_predict_matches_numerically_equal_group_labels():
    d = _float_subjects()
    fit = mk.fit_lmm("y ~ time + (1 | subject)", d)
    new = d.head(4)
    expected = fit.predict(new)
    for labels in (new["subject"].astype(int), new["subject"].astype(str).str[:-2]):
        np.testing.assert_allclose(fit.predict(new.assign(subject=labels)), expected)
    objects = new.assign(time=new["time"].astype(object))  # numbers in an object column
    np.testing.assert_allclose(fit.predict(objects), expected)


def test_a_slope_constant_within_groups_fits_and_is_said():
    """lme4 fits (sex | subject) with sex constant within subjects; so does mixedkit, with a
    finding that says what is odd and what to write instead (it was refused)."""
    with pytest.warns(mk.FitWarning):
        fit = mk.fit_lmm("y ~ sex + (sex | subject)", base())
    found = [f for f in fit.health.findings if f.check == "slope constant within groups"]
    assert len(found) == 1 and found[0].severity == "warning"
    assert "random slope 'sex[T.m]' in (sex | subject) is constant within every level of " \
        "'subject'" in found[0].what
    assert "(1 | subject)" in found[0].fix


def test_text_columns_give_the_model_of_their_categorical_and_object_forms():
    """Text columns reach patsy as Categoricals (its fast path) with the sorted levels patsy
    gives text: the same columns, names, reference level and estimates as object text."""
    from mixedkit.model.design import patsy_frame
    from mixedkit.model.validation import prepare

    rng = np.random.default_rng(5)
    n = 120
    d = pd.DataFrame({"g": rng.choice(["g10", "g2", "g1", "G3", "g7", "G0"], n),
                      "c": rng.choice(["b", "a", "c", "B"], n), "x": rng.normal(size=n)})
    group_effect = dict(zip(["g10", "g2", "g1", "G3", "g7", "G0"], [1.0, -1.0, 0.5, 0.0, 2.0, -2.0]))
    d["y"] = d["x"] + (d["c"] == "a") + d["g"].map(group_effect) + rng.normal(size=n)
    as_text = mk.fit_lmm("y ~ c + x + (1 | g)", d)
    as_object = mk.fit_lmm("y ~ c + x + (1 | g)", d.astype({"c": object, "g": object}))
    as_cat = mk.fit_lmm("y ~ c + x + (1 | g)",
                        d.assign(c=pd.Categorical(d["c"], sorted(d["c"].unique()))))
    for other in (as_object, as_cat):
        pd.testing.assert_frame_equal(as_text.fixed_effects, other.fixed_effects)
        assert as_text.loglik == other.loglik
    assert list(as_text.fixed_effects["term"][:4]) == ["Intercept", "c[T.a]", "c[T.b]", "c[T.c]"]
    prep = as_text.state.prep
    frame = patsy_frame(prep)
    assert isinstance(frame[prep.names.safe["c"]].dtype, pd.CategoricalDtype)
    assert not isinstance(frame[prep.names.safe["g"]].dtype, pd.CategoricalDtype)  # never read
    mixed = d.assign(c=np.where(np.arange(n) % 3, d["c"], 1).astype(object))
    prep = prepare("y ~ c + x + (1 | g)", mixed)
    assert patsy_frame(prep) is prep.frame  # mixed types keep patsy's own ordering


def test_text_levels_sort_as_python_sorts_them():
    """Text factors are coded by hashing the rows and sorting the distinct values as
    fixed-width unicode; the codes and labels are pandas' sorted factorize's."""
    from mixedkit.model.levels import factor_levels

    cases = [["b", "a", "c", "a"], ["a\x00", "a", "b", "a"], ["é", "e", "z", "Z", "e"],
             ["10", "9", "1", "9"], [f"s{i}" for i in np.random.default_rng(2).permutation(500)]]
    for values in cases:
        for frame in (pd.DataFrame({"g": values}, dtype=object), pd.DataFrame({"g": values})):
            codes, labels = factor_levels(frame, ("g",))
            want_codes, want_labels = pd.factorize(frame["g"].astype(object), sort=True)
            np.testing.assert_array_equal(codes, want_codes)
            assert list(labels) == list(want_labels)


def test_groups_as_statsmodels_takes_them():
    """groups=data["subject"] (statsmodels' idiom), a renamed Series, a shuffled Series and an
    array give the model of groups="subject", named in the tables by the Series' name."""
    d = base()
    ref = mk.fit_lmm("y ~ time", d, groups="subject")
    shuffled = d["subject"].sample(frac=1, random_state=3)
    for groups, label in [(d["subject"], "subject"), (shuffled, "subject"),
                          (d["subject"].rename("person"), "person"),
                          (d["subject"].to_numpy(), "groups")]:
        before = d.copy()
        fit = mk.fit_lmm("y ~ time", d, groups=groups)
        pd.testing.assert_frame_equal(d, before)  # the caller's data is not modified
        assert fit.loglik == pytest.approx(ref.loglik, rel=1e-12)
        assert fit.variance_components["group"].iloc[0] == label
        assert fit.n_groups == {label: 10}
    report = mk.check_data("y ~ time", d, groups=d["subject"])
    assert report.verdict != "error"


def _sleep_wide(prefix: str) -> pd.DataFrame:
    d = mk.load_dataset("sleepstudy")
    wide = d.pivot(index="Subject", columns="Days", values="Reaction")
    wide.columns = [f"{prefix}{c}" for c in wide.columns]
    return wide.reset_index()


@pytest.mark.parametrize("prefix,formula,value,time", [
    ("day", "Reaction ~ Days + (1 | Subject)", "value", "day"),  # names no existing column
    ("day", "day0 ~ 1 + (1 | Subject)", "value", "day"),  # one row per subject
    ("score_t", "score ~ 1 + (1 | Subject)", "score", "time"),  # the stem as the response
])
def test_wide_data_get_a_reshaping_that_runs(prefix, formula, value, time):
    """Wide data are recognised whatever the formula names, and the suggested reshaping runs
    as printed: the measured value named as it is, the time as a number."""
    wide = _sleep_wide(prefix)
    with pytest.raises(mk.MixedkitError, match=r"data look wide") as info:
        mk.fit_lmm(formula, wide)
    code = "\n".join(line.strip() for line in str(info.value).splitlines()[1:])
    scope = {"data": wide}
    exec(code, scope)  # noqa: S102 - the two lines the message prints
    long = scope["long"]
    assert long.shape == (180, 3) and long[time].dtype.kind == "i"
    fit = mk.fit_lmm(f"{value} ~ {time} + (1 | Subject)", long)
    assert fit.loglik == pytest.approx(
        mk.fit_lmm("Reaction ~ Days + (1 | Subject)", mk.load_dataset("sleepstudy")).loglik)
