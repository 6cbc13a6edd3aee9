"""Frames from polars, pyarrow and the interchange protocols are accepted as data (#20 item 10).

Each is converted once, where it enters (:func:`mixedkit.model.frames.as_pandas`), and
fitted exactly as the same data in pandas: the same estimates, variance components and
log-likelihood, the same reference levels; every result is pandas.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedkit as mk
from mixedkit.model.frames import as_pandas

pl = pytest.importorskip("polars")
pa = pytest.importorskip("pyarrow")

FORMULA = "Reaction ~ Days + (Days | Subject)"
PERIODS = ["early"] * 3 + ["mid"] * 4 + ["late"] * 3  # by Days 0..9


class InterchangeOnly:
    """A frame that offers nothing but the dataframe interchange protocol."""

    def __init__(self, frame):
        self._frame = frame

    def __dataframe__(self, nan_as_null=False, allow_copy=True):
        return self._frame.__dataframe__(nan_as_null=nan_as_null, allow_copy=allow_copy)


class ArrowStreamOnly:
    """A frame that offers nothing but the Arrow PyCapsule stream."""

    def __init__(self, table):
        self._table = table

    def __arrow_c_stream__(self, requested_schema=None):
        return self._table.__arrow_c_stream__(requested_schema)


class Broken:
    """A frame whose interchange protocol fails."""

    def __dataframe__(self, nan_as_null=False, allow_copy=True):
        raise RuntimeError("no columns today")


def sleepstudy() -> pd.DataFrame:
    data = mk.load_dataset("sleepstudy")
    data["Subject"] = "s" + data["Subject"].astype(str)  # text, whatever pandas reads
    data["period"] = np.array(PERIODS * (len(data) // 10), dtype=object)
    return data


def to_polars(data):
    return pl.from_pandas(data)


def to_arrow(data):
    return pa.Table.from_pandas(data, preserve_index=False)


def to_interchange(data):
    return InterchangeOnly(to_arrow(data))  # (polars 2 dropped the protocol; pyarrow has it)


def to_arrow_stream(data):
    if not hasattr(pa.Table, "__arrow_c_stream__"):  # pyarrow < 14
        pytest.skip("this pyarrow has no Arrow PyCapsule stream")
    return ArrowStreamOnly(to_arrow(data))


CONVERSIONS = {"polars": to_polars, "pyarrow": to_arrow, "interchange": to_interchange,
               "arrow stream": to_arrow_stream}


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return sleepstudy()


@pytest.fixture(scope="module")
def pandas_fit(data):
    return mk.fit_lmm(FORMULA, data)


def assert_same_fit(fit, reference):
    assert isinstance(fit.fixed_effects, pd.DataFrame)
    assert isinstance(fit.variance_components, pd.DataFrame)
    pd.testing.assert_frame_equal(fit.fixed_effects, reference.fixed_effects, rtol=1e-10)
    pd.testing.assert_frame_equal(fit.variance_components, reference.variance_components,
                                  rtol=1e-10)
    assert fit.loglik == pytest.approx(reference.loglik, rel=1e-12)
    assert fit.n_obs == reference.n_obs and fit.n_groups == reference.n_groups


@pytest.mark.parametrize("convert", CONVERSIONS.values(), ids=list(CONVERSIONS))
def test_fit_equals_the_pandas_fit(convert, data, pandas_fit):
    fit = mk.fit_lmm(FORMULA, convert(data))
    assert_same_fit(fit, pandas_fit)
    assert isinstance(fit.ranef(), pd.DataFrame)
    assert isinstance(fit.anova(), pd.DataFrame)
    assert list(fit.ranef()["level"].unique()) == list(pandas_fit.ranef()["level"].unique())


@pytest.mark.parametrize("convert", CONVERSIONS.values(), ids=list(CONVERSIONS))
def test_conversion_gives_a_new_pandas_frame_without_warnings(convert, data):
    source = convert(data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pandas' deprecation of the protocol is not the user's
        frame = as_pandas(source)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == list(data.columns)
    pd.testing.assert_frame_equal(frame.astype({"Subject": object, "period": object}),
                                  data.astype({"Subject": object, "period": object}))


def test_a_pandas_frame_passes_through_untouched(data):
    before = data.copy()
    assert as_pandas(data) is data
    mk.fit_lmm(FORMULA, data)
    pd.testing.assert_frame_equal(data, before)


def test_polars_text_columns(data):
    """polars String and Categorical are text to mixedkit: levels sorted, as pandas text."""
    reference = mk.fit_lmm("Reaction ~ period + (1 | Subject)", data)
    assert reference.fixed_effects["term"].tolist() == [
        "Intercept", "period[T.late]", "period[T.mid]"]
    text = pl.from_pandas(data)
    assert text.schema["Subject"] == pl.String and text.schema["period"] == pl.String
    assert_same_fit(mk.fit_lmm("Reaction ~ period + (1 | Subject)", text), reference)
    # a polars Categorical's category order is the order of first appearance, which is
    # not the user's: mixedkit sorts them as polars itself does
    categorical = text.with_columns(pl.col("Subject", "period").cast(pl.Categorical))
    frame = as_pandas(categorical)
    assert frame["period"].cat.categories.tolist() == ["early", "late", "mid"]
    assert_same_fit(mk.fit_lmm("Reaction ~ period + (1 | Subject)", categorical), reference)


def test_declared_level_order_is_kept(data):
    """A polars Enum and an Arrow dictionary keep their order, as a pandas Categorical
    does: the first level is the reference."""
    order = ["mid", "early", "late"]
    ordered = data.assign(period=pd.Categorical(data["period"], categories=order))
    reference = mk.fit_lmm("Reaction ~ period + (1 | Subject)", ordered)
    assert reference.fixed_effects["term"].tolist() == [
        "Intercept", "period[T.early]", "period[T.late]"]
    enum = pl.from_pandas(data).with_columns(pl.col("period").cast(pl.Enum(order)))
    assert_same_fit(mk.fit_lmm("Reaction ~ period + (1 | Subject)", enum), reference)
    dictionary = pa.Table.from_pandas(ordered, preserve_index=False)
    assert pa.types.is_dictionary(dictionary.schema.field("period").type)
    assert_same_fit(mk.fit_lmm("Reaction ~ period + (1 | Subject)", dictionary), reference)


def test_missing_values_from_polars_are_dropped_as_in_pandas(data):
    gappy = data.assign(Days=data["Days"].astype(float).where(data.index % 17 != 3))
    with pytest.warns(mk.DataWarning, match=r"11 of 180 rows dropped"):
        reference = mk.fit_lmm(FORMULA, gappy)
    source = pl.from_pandas(data).with_columns(
        pl.when(pl.int_range(pl.len()) % 17 == 3).then(None).otherwise(pl.col("Days"))
        .alias("Days"))
    assert source["Days"].null_count() == 11
    with pytest.warns(mk.DataWarning, match=r"11 of 180 rows dropped"):
        fit = mk.fit_lmm(FORMULA, source)
    assert_same_fit(fit, reference)
    assert fit.dropped == reference.dropped


def test_statsmodels_style_groups_from_polars(data):
    reference = mk.fit_lmm("Reaction ~ Days", data, groups="Subject", re_formula="~Days")
    source = pl.from_pandas(data)
    assert_same_fit(mk.fit_lmm("Reaction ~ Days", source, groups="Subject",
                               re_formula="~Days"), reference)
    # groups=data["Subject"], the statsmodels idiom, with a polars Series
    fit = mk.fit_lmm("Reaction ~ Days", source, groups=source["Subject"], re_formula="~Days")
    assert_same_fit(fit, reference)
    assert fit.variance_components["group"].iloc[0] == "Subject"


def test_predict_with_polars_newdata(data, pandas_fit):
    new = data.iloc[[0, 15, 40]].reset_index(drop=True)
    expected = pandas_fit.predict(new)
    got = pandas_fit.predict(pl.from_pandas(new))
    assert isinstance(got, pd.Series)
    pd.testing.assert_series_equal(got, expected)
    table = pandas_fit.predict(to_arrow(new), include_random=False, interval="confidence")
    assert isinstance(table, pd.DataFrame)
    pd.testing.assert_frame_equal(
        table, pandas_fit.predict(new, include_random=False, interval="confidence"))


def test_fit_many_with_polars(data):
    wide = data.assign(Slow=data["Reaction"] * 1.1)
    reference = mk.fit_many("~ Days + (1 | Subject)", wide, responses=["Reaction", "Slow"],
                            n_jobs=1, progress=False)
    many = mk.fit_many("~ Days + (1 | Subject)", pl.from_pandas(wide),
                       responses=["Reaction", "Slow"], n_jobs=1, progress=False)
    for name in ("models", "fixed_effects", "variance_components"):
        table = getattr(many, name)
        assert isinstance(table, pd.DataFrame)
        pd.testing.assert_frame_equal(table, getattr(reference, name), rtol=1e-10)
    by = mk.fit_many("Reaction ~ Days + (1 | Subject)", to_arrow(data), by="period",
                     n_jobs=1, progress=False)
    assert by.fixed_effects["period"].unique().tolist() == ["early", "late", "mid"]


def test_check_data_and_comparisons_with_polars(data, pandas_fit):
    source = pl.from_pandas(data)
    assert mk.check_data(FORMULA, source).verdict == mk.check_data(FORMULA, data).verdict
    assert mk.check_data(source, FORMULA).ok  # the arguments the other way round
    fit = mk.fit_lmm(FORMULA, source)
    comparison = mk.compare_models(mk.fit_lmm("Reaction ~ Days + (1 | Subject)", source), fit)
    expected = mk.compare_models(mk.fit_lmm("Reaction ~ Days + (1 | Subject)", data), pandas_fit)
    assert isinstance(comparison.table, pd.DataFrame)  # ML refits of converted data
    pd.testing.assert_frame_equal(comparison.table, expected.table, rtol=1e-10)


@pytest.mark.parametrize("call, match", [
    (lambda lazy: mk.fit_lmm(FORMULA, lazy),
     (r"^data is a polars LazyFrame, a query that has not run yet; call \.collect\(\) and "
      r"pass the DataFrame it gives: data\.collect\(\)$")),
    (lambda lazy: mk.fit_many("~ Days + (1 | Subject)", lazy, responses=["Reaction"]),
     r"^data is a polars LazyFrame.*data\.collect\(\)$"),
    (lambda lazy: mk.fit_lmm(FORMULA, mk.load_dataset("sleepstudy")).predict(lazy),
     r"^newdata is a polars LazyFrame.*newdata\.collect\(\)$"),
], ids=["fit_lmm", "fit_many", "predict"])
def test_a_lazy_frame_is_refused_with_collect(data, call, match):
    with pytest.raises(mk.InputTypeError, match=match):
        call(pl.from_pandas(data).lazy())


def test_check_data_reports_a_lazy_frame(data):
    report = mk.check_data(FORMULA, pl.from_pandas(data).lazy())
    assert report.verdict == "error"
    assert "data.collect()" in report.problems[0].what


@pytest.mark.parametrize("value, argument, match", [
    (np.zeros((3, 2)), "data",
     (r"^data must be a pandas DataFrame in long format; got ndarray\. Convert with "
      r"pd\.DataFrame\(\.\.\.\) or read it with pd\.read_csv\(\.\.\.\); a polars DataFrame, a "
      r"pyarrow Table or any frame with the dataframe interchange protocol is accepted too$")),
    ([1, 2], "newdata", r"^newdata must be a pandas DataFrame; got list\."),
    (Broken(), "data", (r"^data \(.*Broken\) could not be converted to a pandas DataFrame: "
                        r"RuntimeError: no columns today\. Convert it yourself")),
])
def test_what_is_not_a_frame(value, argument, match):
    with pytest.raises(mk.InputTypeError, match=match):
        as_pandas(value, argument, long_format=argument == "data")


def test_a_polars_series_is_not_a_frame(data):
    with pytest.raises(mk.InputTypeError,
                       match=r"data must be a pandas DataFrame .*; got polars Series\. "):
        mk.fit_lmm(FORMULA, pl.from_pandas(data)["Reaction"])
    with pytest.raises(mk.InputTypeError, match=r"; got pyarrow ChunkedArray\. "):
        mk.fit_lmm(FORMULA, to_arrow(data)["Reaction"])


def test_polars_without_pyarrow_reads_the_arrow_stream(data, pandas_fit, monkeypatch):
    """polars' to_pandas needs pyarrow; without it the frame's Arrow stream or interchange
    protocol is read (here the stream: pyarrow is there to read it), and when nothing can
    read it, the error says to install pyarrow."""
    def no_pyarrow(self, *args, **kwargs):
        raise ModuleNotFoundError("pyarrow is required for to_pandas")

    monkeypatch.setattr(pl.DataFrame, "to_pandas", no_pyarrow)
    if hasattr(pl.DataFrame, "__arrow_c_stream__") and hasattr(pa.Table, "__arrow_c_stream__"):
        assert_same_fit(mk.fit_lmm(FORMULA, pl.from_pandas(data)), pandas_fit)
    monkeypatch.delattr(pl.DataFrame, "__arrow_c_stream__", raising=False)
    monkeypatch.delattr(pl.DataFrame, "__dataframe__", raising=False)
    with pytest.raises(mk.InputTypeError,
                       match=r"^data \(polars\.DataFrame\) could not be converted to a pandas "
                             r"DataFrame: ModuleNotFoundError: pyarrow is required for to_pandas\. "
                             r"Install pyarrow \(pip install pyarrow\): the conversion needs it$"):
        mk.fit_lmm(FORMULA, pl.from_pandas(data))


def test_mixedkit_does_not_import_polars():
    code = ("import sys, mixedkit as mk; "
            "mk.fit_lmm('Reaction ~ Days + (Days | Subject)', mk.load_dataset('sleepstudy')); "
            "print('polars' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
