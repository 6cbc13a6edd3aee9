"""``fit_many``: one model per response column, or per subset of rows, in parallel.

The same model for thousands of responses (per gene, per brain region, per metric)
is thousands of independent :func:`~mixedkit.fit_lmm` calls: each runs in a worker
(:mod:`mixedkit.parallel`; the data is sent to each worker once), its tables are
stacked with a key column, and a response that cannot be fitted is listed in
``failures`` instead of stopping the run. Every number is what ``fit_lmm`` gives for
that response alone (``tests/test_many.py`` checks it).
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from ..errors import (
    ColumnNotFoundError,
    FitError,
    FitWarning,
    InputTypeError,
    InputValueError,
    MixedkitError,
)
from ..fitting import FIT_OPTIONS, check_unknown_arguments, fit_lmm, fit_without_warnings
from ..model.frames import as_pandas
from ..model.safe_formula import check_model_formulas
from ..model.validation import check_model
from ..parallel import run_tasks

__all__ = ["P_ADJUST_METHODS", "ManyFits", "fit_many"]

# statsmodels.stats.multitest.multipletests' methods
P_ADJUST_METHODS = ("bonferroni", "sidak", "holm-sidak", "holm", "simes-hochberg", "hommel",
                    "fdr_bh", "fdr_by", "fdr_tsbh", "fdr_tsbky")


@dataclass(frozen=True)
class _Job:
    """What every task needs: the data and how to fit it."""
    data: pd.DataFrame
    rhs: str
    lhs: str | None
    by: tuple[str, ...]
    rows: dict  # by-key -> row positions
    options: dict

    def model(self, response: str, key: tuple | None) -> tuple[str, pd.DataFrame]:
        """The formula and the rows of one fit."""
        return f"{response} {self.rhs}", self.data if key is None else self.data.iloc[
            self.rows[key]]


_TABLES = {
    "fixed_effects": ["term", "estimate", "std_error", "statistic", "df", "p_value", "conf_low",
                      "conf_high"],
    "variance_components": ["group", "term", "variance", "std_dev", "covariance", "corr"],
    "icc": ["group", "kind", "estimate", "conf_low", "conf_high"],
}


def _fit_chunk(job: _Job, items):
    """Fit each (response, by-key) item: its tables as rows (stacked once, in the parent)."""
    out = []
    for response, key in items:
        formula, data = job.model(response, key)
        with warnings.catch_warnings():
            # what fit_lmm warns about is in the tables (n_dropped, verdict, problems);
            # warnings themselves cannot be attributed to a fit under a thread pool
            warnings.simplefilter("ignore")
            try:
                fit = fit_without_warnings(formula, data, crosscheck=False, **job.options)
                health = fit.health
                row = {"n_obs": fit.n_obs, "n_dropped": fit.n_dropped,
                       "n_groups": _groups_text(fit.n_groups),
                       "loglik": fit.loglik, "aic": fit.aic, "bic": fit.bic,
                       "converged": fit.converged, "singular": fit.singular,
                       "verdict": health.verdict,
                       "problems": "; ".join(f"{f.check}: {f.what}" for f in health.problems)}
                tables = {"fixed_effects": fit.fixed_effects,
                          "variance_components": fit.variance_components, "icc": fit.icc()}
                result = {"model": row, **{name: _records(table, _TABLES[name])
                                           for name, table in tables.items()}}
            except MixedkitError as err:
                result = {"error": (type(err).__name__, str(err))}
            except Exception as err:  # noqa: BLE001 - one bad response must not stop the run
                result = {"error": (type(err).__name__, f"unexpected error: {err}")}
        out.append(result)
    return out


def _records(table: pd.DataFrame, columns: list[str]) -> list[tuple]:
    """A table's rows as tuples (cheaper to send and to stack than 3,000 small frames)."""
    return list(zip(*(table[c].tolist() for c in columns)))


def _groups_text(n_groups: dict) -> str:
    return ", ".join(f"{k}: {v}" for k, v in n_groups.items())


def _split_formula(formula) -> tuple[str | None, str]:
    if not isinstance(formula, str) or "~" not in formula:
        raise InputTypeError(
            f"formula must be a model formula such as '~ x + (1 | subject)' (with responses=) "
            f"or 'y ~ x + (1 | subject)' (with by=); got {formula!r}")
    lhs, rhs = formula.split("~", 1)
    return (lhs.strip() or None), "~ " + rhs.strip()


def _columns(value, data: pd.DataFrame, name: str) -> list[str]:
    values = [value] if isinstance(value, str) else list(value)
    if not values:
        raise InputValueError(f"{name} is empty; give at least one column name")
    missing = [v for v in values if v not in data.columns]
    if missing:
        raise ColumnNotFoundError(
            f"{name}: column(s) {missing} not in data; the columns are {list(data.columns)}")
    if len(set(values)) != len(values):
        dup = sorted({v for v in values if values.count(v) > 1})
        raise InputValueError(f"{name} lists {dup} more than once")
    return values


def fit_many(formula: str, data: pd.DataFrame, *, responses=None, by=None, executor=None,
             n_jobs: int | None = None, progress: bool = True, p_adjust: str | None = None,
             **fit_options) -> ManyFits:
    """Fit one model per response column, or per subset of rows.

    Parameters
    ----------
    formula : str
        With ``responses``: the right-hand side, ``"~ time + (1 | subject)"``. With
        ``by`` alone: the whole formula, ``"y ~ time + (1 | subject)"``.
    data : DataFrame
        Long format; never modified. pandas; a polars DataFrame, a pyarrow Table or any
        frame with the dataframe interchange protocol is converted once (every result is
        pandas).
    responses : list of str, optional
        Response columns: one model each (rows missing a response are dropped for that
        response only).
    by : str or list of str, optional
        Column(s) whose values split the rows: one model per subset (with
        ``responses`` too: one per response and subset).
    executor : concurrent.futures.Executor or distributed.Client, optional
        Where the fits run (default: local processes, one BLAS thread each; the data is
        sent to each worker once).
    n_jobs : int, optional
        Workers of the default pool (default: every core; 1: this process).
    progress : bool, default True
        A progress bar (tqdm; a widget in Jupyter) on stderr for runs longer than two
        seconds; False shows none.
    p_adjust : str, optional
        Multiple-testing adjustment of the fixed effects' p-values across responses (and
        subsets), within each term: one of ``P_ADJUST_METHODS``, statsmodels'
        ``multipletests`` methods (``"fdr_bh"``, ``"holm"``, ``"bonferroni"``, ...). Adds a
        ``p_adjusted`` column.
    **fit_options
        Passed to every :func:`~mixedkit.fit_lmm` call: ``reml``, ``df_method``,
        ``conf_level``, ``missing``, ``engine``, ``groups``, ``re_formula``,
        ``vc_formula``, ``safe_formula``.

    Returns
    -------
    ManyFits
        Stacked tables keyed by ``response`` (and the ``by`` columns), and the failures.

    Examples
    --------
    >>> import mixedkit as mk
    >>> data = mk.load_dataset("sleepstudy").assign(Slow=lambda d: d.Reaction * 1.1)
    >>> many = mk.fit_many("~ Days + (1 | Subject)", data, responses=["Reaction", "Slow"],
    ...                    n_jobs=1, progress=False)
    >>> many.fixed_effects.query("term == 'Days'")[["response", "estimate"]].round(3)
       response  estimate
    1  Reaction    10.467
    3      Slow    11.514
    """

    data = as_pandas(data, "data")  # once: every fit gets the pandas frame
    lhs, rhs = _split_formula(formula)
    unknown = {k: v for k, v in fit_options.items() if k not in FIT_OPTIONS}
    check_unknown_arguments(unknown, caller="fit_many()")
    if p_adjust is not None and p_adjust not in P_ADJUST_METHODS:
        raise InputValueError(f"p_adjust must be None or one of {P_ADJUST_METHODS}; got "
                              f"{p_adjust!r}")
    if responses is None and by is None:
        raise InputValueError("give responses= (one model per response column) or by= (one "
                              "model per subset of rows)")
    if responses is not None:
        if lhs is not None:
            raise InputValueError(
                f"formula has a response ({lhs!r}) and responses= lists others; with responses= "
                f"give the right-hand side only: {rhs!r}")
        responses = _columns(responses, data, "responses")
    elif lhs is None:
        raise InputValueError(f"formula {formula!r} has no response; write 'y {rhs}' or give "
                              "responses=")
    by_cols = tuple(_columns(by, data, "by")) if by is not None else ()
    rows, keys = {}, [None]
    if by_cols:
        grouped = data.groupby(list(by_cols), sort=True, dropna=False, observed=True).indices
        rows = {(k if isinstance(k, tuple) else (k,)): v for k, v in grouped.items()}
        keys = list(rows)
    job = _Job(data, rhs, lhs, by_cols, rows, dict(fit_options))
    items = list(itertools.product(responses if responses is not None else [lhs], keys))
    _check_shared(job, items[0][0], [] if responses is None else responses[1:])
    results = run_tasks(_fit_chunk, (job,), items, executor=executor, n_jobs=n_jobs,
                        progress=progress, label="fit_many", unit="fits")
    many = ManyFits(items, results, by_cols, responses is not None, p_adjust, job)
    _check_failures(many, len(items))
    return many


def _check_shared(job: _Job, response: str, others: list) -> None:
    """Mistakes every fit would make (a formula that does not parse, a column that is not
    in the data, unsafe formula text) raise here, before the first fit, as fit_lmm raises
    them: not as one failure per response. The other responses are left out of the data
    checked: many response columns are not wide data (no hint to melt them)."""
    options = job.options
    formula = f"{response} {job.rhs}"
    data = job.data.drop(columns=others) if others else job.data
    if options.get("safe_formula"):
        check_model_formulas(formula, data, options.get("re_formula"),
                             options.get("vc_formula"))
    check_model(formula, data, groups=options.get("groups"),
                re_formula=options.get("re_formula"), vc_formula=options.get("vc_formula"))


def _check_failures(many: ManyFits, n_items: int) -> None:
    """A run where every fit failed is an error, not an empty result; some failures warn."""
    failures = many.failures
    if failures.empty:
        return
    counts = (failures["error"] + ": " + failures["message"]).value_counts()
    commonest = f"{counts.index[0]} ({counts.iloc[0]} of them)" if len(counts) > 1 else \
        counts.index[0]
    if len(failures) == n_items:
        raise FitError(f"fit_many: all {n_items} fits failed; the commonest error: "
                       f"{commonest}. Fit one of them with fit_lmm to see it in full")
    warnings.warn(f"fit_many: {len(failures)} of {n_items} fits failed (see .failures); the "
                  f"commonest error: {commonest}", FitWarning, stacklevel=3)


class ManyFits:
    """Results of :func:`~mixedkit.fit_many`: stacked tables keyed by response (and ``by``).

    Attributes
    ----------
    keys : list of str
        The key columns: ``response`` and/or the ``by`` columns.
    models : DataFrame
        One row per fitted model: the keys, ``n_obs``, ``n_dropped`` (rows with a
        missing value), ``n_groups`` (per grouping factor, as text), ``loglik``, ``aic``,
        ``bic``, ``converged``, ``singular``, ``verdict`` (``fit.health``'s: ok, warning
        or error) and ``problems`` (the health findings that warn or fail, what
        ``fit_lmm`` would have warned about). The fits' warnings are not shown.
    fixed_effects : DataFrame
        The keys, then ``fit.fixed_effects``'s columns (``term, estimate, std_error,
        statistic, df, p_value, conf_low, conf_high``), and ``p_adjusted`` with
        ``p_adjust``.
    variance_components : DataFrame
        The keys, then ``group, term, variance, std_dev, covariance, corr``.
    failures : DataFrame
        One row per model that could not be fitted: the keys, ``error`` (the
        exception's type) and ``message``.
    """

    def __init__(self, items, results, by_cols, has_responses, p_adjust, job):
        self._job = job
        self.keys = (["response"] if has_responses else []) + list(by_cols)
        self.p_adjust = p_adjust
        models, failures = [], []
        rows: dict[str, list] = {name: [] for name in _TABLES}
        for (response, key), result in zip(items, results):
            labels = ([response] if has_responses else []) + list(key or ())
            if "error" in result:
                failures.append(labels + list(result["error"]))
                continue
            models.append(labels + list(result["model"].values()))
            for name in _TABLES:
                rows[name] += [tuple(labels) + r for r in result[name]]
        model_cols = ["n_obs", "n_dropped", "n_groups", "loglik", "aic", "bic", "converged",
                      "singular", "verdict", "problems"]
        self.models = pd.DataFrame(models, columns=self.keys + model_cols)
        self.failures = pd.DataFrame(failures, columns=self.keys + ["error", "message"])
        tables = {name: pd.DataFrame.from_records(rows[name], columns=self.keys + columns)
                  for name, columns in _TABLES.items()}
        self.fixed_effects = tables["fixed_effects"]
        self.variance_components = tables["variance_components"]
        self._icc = tables["icc"]
        if p_adjust is not None:
            self.fixed_effects["p_adjusted"] = _adjust(self.fixed_effects, p_adjust)

    # ------------------------------------------------------------------ views
    def icc(self) -> pd.DataFrame:
        """Stacked ``fit.icc()`` tables (point estimates): the keys, then ``group, kind,
        estimate, conf_low, conf_high``."""
        return self._icc.copy()

    @property
    def health(self) -> pd.DataFrame:
        """One row per fitted model: the keys, ``verdict`` and ``problems``."""
        return self.models[self.keys + ["verdict", "problems"]].copy()

    def fit(self, *key):
        """Refit one model and return its full :class:`~mixedkit.LmmFit`.

        Parameters
        ----------
        *key
            The response name, then the ``by`` values (as in the key columns).
        """

        job = self._job
        n_resp = 1 if "response" in self.keys else 0
        if len(key) != len(self.keys):
            raise InputValueError(f"fit() takes one value per key column {self.keys}; got "
                                  f"{key!r}")
        by_key = tuple(key[n_resp:]) if job.by else None
        if by_key is not None and by_key not in job.rows:
            raise InputValueError(f"no subset with {dict(zip(job.by, by_key))}")
        formula, data = job.model(key[0] if n_resp else job.lhs, by_key)
        return fit_lmm(formula, data, **job.options)

    def __len__(self) -> int:
        return len(self.models) + len(self.failures)

    def __repr__(self) -> str:
        n_fit, n_bad = len(self.models), len(self.failures)
        warned = int((self.models["verdict"] != "ok").sum()) if n_fit else 0
        head = (f"fit_many: {n_fit + n_bad} models ({', '.join(self.keys)}): {n_fit} fitted "
                f"({warned} with health warnings), {n_bad} failed")
        lines = [head]
        if n_bad:
            for row in self.failures.head(5).itertuples(index=False):
                key = ", ".join(str(v) for v in row[:len(self.keys)])
                lines.append(f"  failed {key}: {row.error}: {row.message[:100]}")
            if n_bad > 5:
                lines.append(f"  ... see .failures for all {n_bad}")
        if self.p_adjust:
            lines.append(f"p-values adjusted within each term across models: {self.p_adjust}")
        return "\n".join(lines)


def _adjust(fixed: pd.DataFrame, method: str) -> np.ndarray:
    """``multipletests`` within each term, over the models that have a p-value."""
    out = np.full(len(fixed), np.nan)
    for idx in fixed.groupby("term", sort=False).indices.values():
        p = fixed["p_value"].to_numpy(float)[idx]
        ok = np.isfinite(p)
        if ok.any():
            adjusted = multipletests(p[ok], method=method)[1]
            out[idx[ok]] = adjusted
    return out
