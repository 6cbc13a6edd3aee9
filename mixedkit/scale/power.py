"""Power by simulation: ``power_lmm`` (R's simr: ``powerSim``, ``powerCurve``, ``extend``).

For each design in the curve (:mod:`mixedkit.model.extend`), data sets are drawn from the
pilot model — its fixed effects with the tested term's coefficients replaced by
``effect``, its variance components and residual variance — the model is refitted to
each, and the term is tested. Power is the share of refits whose p-value is below
``alpha``, with an exact (Clopper–Pearson) interval for the Monte Carlo error.

Tests: the fit's df method (Satterthwaite's or Kenward–Roger's t test for a one-column
term, the F test of ``fit.anova()`` — Type III — for a factor), or ``test="lrt"``
(maximum-likelihood refits of the model with and without the term's columns,
chi-square). Refits start from the parameters that generated the data. A refit that
fails counts in ``n_failed`` and not in the power; singular refits (a variance
estimated as zero) count in ``n_singular`` and in the power, as they are tested.
"""

from __future__ import annotations

import difflib
import itertools
import warnings
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import stats

from ..arguments import check_df_method, check_positive_int
from ..errors import DataWarning, FitWarning, InputTypeError, InputValueError
from ..fitting import fit_lmm
from ..inference.bootstrap import REFIT_ERRORS, draw_response
from ..inference.df_methods import fixed_inference
from ..inference.hypotheses import contrast_matrices, fixed_terms
from ..model.design import Design
from ..model.estimation import (
    SINGULAR_TOL,
    Estimate,
    block_covariances,
    estimate,
    std_theta,
    theta_from_covariances,
)
from ..model.extend import extend_design, grouping_columns
from ..model.state import FitState
from ..model.validation import MIN_GROUPS, PreparedData
from ..parallel import run_tasks, spawn_seeds
from ..results import LmmFit

__all__ = ["POWER_COLUMNS", "power_lmm"]

POWER_COLUMNS = ["n_groups", "n_per_group", "n_obs", "effect", "power", "conf_low", "conf_high",
                 "n_sims", "n_failed", "n_singular"]
TESTS = ("satterthwaite", "kenward-roger", "normal", "lrt")


@dataclass(frozen=True)
class _Pilot:
    """The parameters data are simulated from, on the pilot's design."""
    state: FitState
    beta: np.ndarray
    theta: np.ndarray  # unit-free, for state.design
    sigma2: float
    df_method: str
    source: str  # "fit" or "simulate_lmm"


@dataclass(frozen=True)
class _Scenario:
    """One point of the power curve: a design, its parameters and the test."""
    prep: PreparedData
    design: Design
    reduced: object | None  # the design without the term's columns (test="lrt")
    theta: np.ndarray
    beta: np.ndarray
    sigma2: float
    hypothesis: np.ndarray  # L of the test (rows: tested directions)
    reml: bool
    test: str


# --------------------------------------------------------------------- inputs
def _pilot(model) -> _Pilot:

    if isinstance(model, LmmFit):
        st = model.state
        return _Pilot(st, st.beta.copy(), st.theta.copy(), float(st.sigma2), model.df_method,
                      "fit")
    if isinstance(model, pd.DataFrame) and "truth" in model.attrs and "formula" in model.attrs:
        return _pilot_from_truth(model)
    raise InputTypeError(
        f"power_lmm needs a fitted pilot model (mk.fit_lmm(...)) or a frame made by "
        f"mk.simulate_lmm; got {type(model).__name__}")


def _pilot_from_truth(frame: pd.DataFrame) -> _Pilot:
    """simulate_lmm's frame: its design, at the parameters it was drawn from."""
    truth = frame.attrs["truth"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # only the design is used, not the estimates
        st = fit_lmm(frame.attrs["formula"], frame).state
    design = st.design
    known = {"Intercept": truth["intercept"], **truth["effects"]}
    if truth.get("treatment_effect") is not None:
        known["treatment"] = truth["treatment_effect"]
    beta = np.array([float(known[c]) for c in design.exog.columns])
    sigma = float(truth["sigma"])
    rel = [truth["tau"] / sigma]
    if design.k_re == 2:
        rel += [0.0, truth["slope_sd"] / sigma]  # independent intercept and slope
    theta = std_theta(design, np.array(rel))
    return _Pilot(st, beta, theta, sigma**2, "satterthwaite", "simulate_lmm")


def _with_sds(pilot: _Pilot, sd) -> _Pilot:
    """``pilot`` with some standard deviations replaced (simr's ``VarCorr(fit) <- ``):
    ``sd`` maps a random term (``"Days"``, or ``("Subject", "Days")`` when several groups
    have it; ``"Intercept"`` for a random intercept) or ``"Residual"`` to its SD in the
    data's units. Correlations stay as they are."""
    if sd is None:
        return pilot
    if not isinstance(sd, dict) or not sd:
        raise InputTypeError(f"sd must be a dict such as {{'Days': 8.75}} or "
                             f"{{('Subject', 'Intercept'): 30, 'Residual': 25}}; got {sd!r}")
    design = pilot.state.design
    known = [(b.group, t) for b in design.blocks for t in b.terms]
    sigma2 = pilot.sigma2
    covs = block_covariances(design, pilot.theta, sigma2)
    wanted = {}
    for key, value in sd.items():
        if not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
            raise InputValueError(f"sd[{key!r}] must be a standard deviation (a number >= 0); "
                                  f"got {value!r}")
        if key == "Residual":
            wanted["Residual"] = float(value)
            continue
        hits = [k for k in known if k == key or (isinstance(key, str) and k[1] == key)]
        if len(hits) != 1:
            names = ", ".join(repr(t) if sum(t == u for _, u in known) == 1 else repr((g, t))
                              for g, t in known)
            why = "names random terms of several groups; write (group, term)" if hits else \
                "is not a random term of the model"
            raise InputValueError(f"sd: {key!r} {why}. The model's: {names}, 'Residual'")
        wanted[hits[0]] = float(value)
    new_sigma2 = wanted.pop("Residual", np.sqrt(sigma2)) ** 2
    for i, block in enumerate(design.blocks):
        sds = np.sqrt(np.clip(np.diag(covs[i]), 0.0, None))
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = covs[i] / np.outer(sds, sds)
        corr = np.where(np.isfinite(corr), corr, 0.0)
        np.fill_diagonal(corr, 1.0)
        sds = np.array([wanted.get((block.group, t), s) for t, s in zip(block.terms, sds)])
        covs[i] = corr * np.outer(sds, sds)
    theta = theta_from_covariances(design, covs, new_sigma2)
    return replace(pilot, theta=theta, sigma2=float(new_sigma2))


def _simulated_sds(pilot: _Pilot) -> dict:
    """The SDs the data are drawn with: (group, term) -> SD, and "Residual"."""
    design = pilot.state.design
    out = {}
    for block, cov in zip(design.blocks, block_covariances(design, pilot.theta, pilot.sigma2)):
        for term, var in zip(block.terms, np.diag(cov)):
            out[(block.group, term)] = float(np.sqrt(max(var, 0.0)))
    out["Residual"] = float(np.sqrt(pilot.sigma2))
    return out


def _sizes(value, name: str) -> list:
    if value is None:
        return [None]
    values = list(value) if isinstance(value, (list, tuple, np.ndarray, range, pd.Series)) \
        else [value]
    if not values:
        raise InputValueError(f"{name} must be a positive integer or a list of them; got "
                              f"{value!r}")
    for v in values:
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
            raise InputValueError(f"{name} must be a positive integer or a list of them; "
                                  f"got {v!r} in {name}={value!r}")
    return [int(v) for v in values]


def _resolve_term(state, terms, term) -> tuple[str, np.ndarray, np.ndarray | None]:
    """(label, the term's columns of X, a fixed L or None for the Type III L)."""
    if not isinstance(term, str):
        raise InputTypeError(f"term must be a fixed-effect term's name as fit.anova() lists "
                             f"it; got {term!r}")
    for t in terms:
        if term == t.name or t.name == f"C({term})" or t.name.startswith(f"C({term},"):
            return t.name, t.columns, None
    columns = list(state.design.exog.columns)
    if term in columns:  # one coefficient, e.g. "C(arm)[T.b]"
        i = columns.index(term)
        unit = np.zeros((1, len(columns)))
        unit[0, i] = 1.0
        return term, np.array([i]), unit

    names = [t.name for t in terms]
    close = difflib.get_close_matches(term, names + columns, n=1, cutoff=0.6)
    if not close:
        close = [n for n in names + columns if n.lower() == term.lower()]
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise InputValueError(
        f"term {term!r} is not a fixed-effect term of the model; {hint}its terms are {names} "
        f"(as the anova table names them) and its coefficients {columns}")


def _effects(effect, label: str, columns: np.ndarray, names: list[str]) -> list:
    """The coefficient vectors to use for the term: a list of scenarios."""
    if effect is None:
        return [None]
    k = len(columns)
    if isinstance(effect, dict):
        unknown = sorted(set(effect) - {names[i] for i in columns})
        if unknown or len(effect) != k:
            raise InputValueError(
                f"effect: give a value for each coefficient of {label!r} "
                f"({[names[i] for i in columns]}); got {sorted(effect)}")
        return [np.array([float(effect[names[i]]) for i in columns])]
    values = np.atleast_1d(np.asarray(effect, dtype=float)) if not isinstance(effect, str) \
        else None
    if values is None or values.ndim != 1 or not np.all(np.isfinite(values)):
        raise InputValueError(f"effect must be a number (or a list of numbers for a power "
                              f"curve over effects); got {effect!r}")
    if k == 1:
        return [np.array([v]) for v in values]
    if len(values) == k:
        return [values]
    raise InputValueError(
        f"effect: {label!r} has {k} coefficients ({[names[i] for i in columns]}); give "
        f"{k} values (a list or a dict by coefficient name)")


def _check_test(test, df_method: str, reml: bool) -> str:
    test = df_method if test is None else test
    if test == "wald":
        test = "normal"
    if test not in TESTS:
        raise InputValueError(f"test must be one of {TESTS} (None: the fit's df method); "
                              f"got {test!r}")
    return test if test == "lrt" else check_df_method(test, reml=reml, name="test")


# ----------------------------------------------------------------- scenarios
def _scenario(pilot: _Pilot, ext, label, columns, fixed_l, beta, test):
    """The scenario of one point of the curve on the extended design ``ext``."""
    reml = pilot.state.reml
    if fixed_l is not None:
        hypothesis = fixed_l
    else:
        at_truth = FitState.at_optimum(ext.prep, ext.design,
                                       Estimate(ext.theta, np.nan, True, 0.0), reml)
        hypothesis = contrast_matrices(at_truth, 3)[label]
    reduced = None
    if test == "lrt":
        keep = [c for i, c in enumerate(ext.design.exog.columns) if i not in set(columns)]
        reduced = replace(ext.design, exog=ext.design.exog[keep], design_info=None,
                          _model=None, _engine=None)
        _ = reduced.engine  # built once here, shipped with the scenario
    scenario = _Scenario(ext.prep, ext.design, reduced, ext.theta, beta, pilot.sigma2,
                         np.atleast_2d(hypothesis), reml, test)
    return scenario


def _check_lrt_term(terms, label: str, fixed_l) -> None:
    if fixed_l is not None:
        return
    mine = next(t for t in terms if t.name == label)
    above = [t.name for t in terms if mine.variables < t.variables]
    if above:
        raise InputValueError(
            f"test='lrt' drops {label!r} from the model, but {above} contain it (the "
            "smaller model would not be the same model without this term); test it with "
            "the fit's F test (test=None) or drop the interaction")


# ---------------------------------------------------------------- simulation
def _power_chunk(scenarios, items):
    """Simulate, refit and test: (p_value, singular, error) per (scenario, seed)."""
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for index, seed in items:
            sc = scenarios[index]
            try:
                y = draw_response(sc.design, sc.beta, sc.theta, sc.sigma2, seed)
                out.append(_test_once(sc, y))
            except REFIT_ERRORS as err:
                out.append((np.nan, False, f"{type(err).__name__}: {err}"))
    return out


def _test_once(sc: _Scenario, y: np.ndarray) -> tuple[float, bool, str | None]:

    design = sc.design.with_response(y)
    reml = sc.reml and sc.test != "lrt"
    est = estimate(design, reml, start=sc.theta, crosscheck=False, derivative_free_check=False)
    state = FitState.at_optimum(sc.prep, design, est, reml)
    singular = bool(np.any(state.theta[design.theta_diagonal] < SINGULAR_TOL))
    if sc.test == "lrt":
        small = sc.reduced.with_response(y)
        est0 = estimate(small, False, start=sc.theta, crosscheck=False,
                        derivative_free_check=False)
        chisq = max(2 * (est.loglik - est0.loglik), 0.0)
        p = float(stats.chi2.sf(chisq, sc.hypothesis.shape[0]))
    else:
        p = fixed_inference(state, sc.test).f_test(sc.hypothesis, state.beta)[3]
    if not np.isfinite(p):
        return np.nan, singular, "the test has no p-value (no degrees of freedom)"
    return float(p), singular, None


def clopper_pearson(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial confidence interval for a proportion."""
    if trials == 0:
        return np.nan, np.nan
    a = (1 - level) / 2
    low = stats.beta.ppf(a, successes, trials - successes + 1) if successes > 0 else 0.0
    high = stats.beta.ppf(1 - a, successes + 1, trials - successes) \
        if successes < trials else 1.0
    return float(low), float(high)


# ------------------------------------------------------------------- public
def power_lmm(model, term: str, *, effect=None, n_groups=None, n_per_group=None,
              along: str | None = None, sd: dict | None = None, n_sims: int = 1000,
              test: str | None = None,
              alpha: float = 0.05, conf_level: float = 0.95, target: float | None = None,
              seed=None, executor=None, n_jobs: int | None = None,
              progress: bool = True) -> pd.DataFrame:
    """Power of the test of a fixed-effect term, by simulation from a pilot model.

    Parameters
    ----------
    model : LmmFit or DataFrame
        The pilot fit (data are drawn at its estimates), or a frame made by
        :func:`~mixedkit.simulate_lmm` (drawn at the parameters in its
        ``.attrs["truth"]``: power without pilot data, from an ICC and an effect size).
    term : str
        The term to test, as ``fit.anova()`` names it (``"Days"``, ``"C(arm)"`` or just
        ``"arm"``), or one coefficient as ``fit.fixed_effects`` names it.
    effect : float, list of float, or dict, optional
        The term's coefficient on the data's scale (replacing the pilot's estimate,
        which is the default). A list gives a power curve over effects. For a factor
        with several coefficients: one value per coefficient (a list in the model's
        order or a dict by coefficient name).
    n_groups : int or list of int, optional
        Number of groups of ``along`` in the planned design (default: the pilot's).
        New groups are copies of the pilot's (see :mod:`mixedkit.model.extend`).
    n_per_group : int or list of int, optional
        Rows per group of ``along`` (default: as in the pilot); each group's rows are
        cycled: fewer rows keep each group's first rows (sleepstudy's first 5 days, not
        5 days spread over 10), more repeat them. For another schedule, build the pilot
        data with it. With lists for both, every combination is simulated.
    along : str, optional
        The grouping column to extend; needed when the model has several.
    sd : dict, optional
        Standard deviations to simulate with instead of the pilot's (simr's
        ``VarCorr(fit) <- ...``), in the data's units: ``{"Days": 8.75}`` for the random
        slope of Days, ``{("Subject", "Intercept"): 30}`` where several grouping factors
        have the term, ``{"Residual": 25}``. Correlations stay the pilot's. A sensitivity
        analysis runs the power at the ends of an SD's confidence interval
        (``fit.confint()``), since the pilot's SDs are estimates.
    n_sims : int, default 1000
        Simulated data sets per point of the curve. The Monte Carlo SE of a power
        near 0.8 is about 0.4 / sqrt(n_sims) (0.013 at 1000).
    test : {None, "satterthwaite", "kenward-roger", "normal", "lrt"}
        None: the pilot fit's ``df_method`` (Satterthwaite for a simulate_lmm frame).
    alpha : float, default 0.05
        Significance level.
    conf_level : float, default 0.95
        Level of the exact binomial interval of each power.
    target : float, optional
        A power to reach (e.g. 0.8): find the smallest number of groups (or, when only
        ``n_per_group`` is a list, of rows per group) whose simulated power reaches it. With
        a list of sizes, the answer is read from those; with one size or none, it is
        searched for (doubling or halving from the pilot's size, then bisection; every
        size simulated is a row of the table). The answer is in ``.attrs["target"]``.
    seed : int, SeedSequence, Generator or None
        Root of the random streams: the same seed gives the same table on every
        executor and number of workers.
    executor : concurrent.futures.Executor or distributed.Client, optional
        Where the refits run; default local processes (``n_jobs``, one BLAS thread each).
    n_jobs : int, optional
        Workers of the default pool (default: every core; 1: this process).
    progress : bool, default True
        A progress bar (tqdm; a widget in Jupyter) on stderr for runs longer than two
        seconds; False shows none.

    Returns
    -------
    DataFrame
        One row per design (and effect): ``n_groups``, ``n_per_group`` (mean rows per
        group), ``n_obs``, ``effect`` (the term's coefficient; NaN for several),
        ``power``, ``conf_low``, ``conf_high``, ``n_sims``, ``n_failed``,
        ``n_singular``. ``.attrs`` holds ``term``, ``test``, ``alpha``, ``along``,
        ``conf_level``, ``seed`` (an integer seed, else None), ``coefficients`` (the
        term's), ``effects`` (per row, the coefficients simulated, by name) and ``sd`` (the
        standard deviations simulated: ``(group, term)`` and ``"Residual"``). With
        ``target=``, ``.attrs["target"]`` is a dict: ``power`` (the target), ``size``
        (``"n_groups"`` or ``"n_per_group"``), ``smallest`` (the smallest size whose power
        reaches the target; None if none of those simulated does), and ``conf_low`` /
        ``conf_high``: the smallest sizes whose interval's upper / lower limit reaches it
        (the sizes the Monte Carlo error cannot tell from the answer lie between them).

        Every point of the curve uses the same random streams (common random numbers,
        see :func:`~mixedkit.inference.bootstrap.draw_response`): neighbouring points differ by the
        design, not by the noise, so the curve is smooth; each point on its own is an
        ordinary Monte Carlo estimate.

    Raises
    ------
    InputTypeError, InputValueError
        Bad arguments, with the argument named and what would work; a design with fewer
        than 3 groups of ``along`` (one with 3 or 4 gets a :class:`~mixedkit.DataWarning`).

    Notes
    -----
    Validated against an exact answer: in a balanced two-arm cluster-randomised trial
    the Satterthwaite t test of the arm is the t test on cluster means with 2G - 2 df,
    whose power is a noncentral-t probability; the simulated power is within three
    Monte Carlo SEs of it at every size tested (``tests/test_power.py``).

    Examples
    --------
    >>> import mixedkit as mk
    >>> pilot = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", mk.load_dataset("sleepstudy"))
    >>> curve = mk.power_lmm(pilot, "Days", effect=5, n_groups=[6, 10, 14], n_sims=200,
    ...                      seed=1, progress=False)
    >>> list(curve.columns[:3])
    ['n_groups', 'n_per_group', 'n_obs']
    """

    pilot = _with_sds(_pilot(model), sd)
    state = pilot.state
    n_sims = check_positive_int(n_sims, "n_sims")
    if not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise InputValueError(f"alpha must be a number in (0, 1); got {alpha!r}")
    if not isinstance(conf_level, (int, float)) or not 0 < conf_level < 1:
        raise InputValueError(f"conf_level must be a number in (0, 1); got {conf_level!r}")
    test = _check_test(test, pilot.df_method, state.reml)
    terms = fixed_terms(state)
    label, columns, fixed_l = _resolve_term(state, terms, term)
    if test == "lrt":
        _check_lrt_term(terms, label, fixed_l)
    names = list(state.design.exog.columns)
    effects = _effects(effect, label, columns, names)
    group_sizes, row_sizes = _sizes(n_groups, "n_groups"), _sizes(n_per_group, "n_per_group")
    searched = _check_target(target, effects, group_sizes, row_sizes)
    if along is None and group_sizes == [None] and row_sizes == [None]:
        along = grouping_columns(state.prep)[0]

    curve = _Curve(pilot, label, columns, fixed_l, test, along, names, seed, n_sims,
                   {"executor": executor, "n_jobs": n_jobs, "progress": progress}, alpha,
                   conf_level)
    if searched is None:
        points = list(itertools.product(group_sizes, row_sizes, effects))
        curve.check_sizes(points)
        curve.evaluate(points)
        found = None
    else:
        found = _search_target(curve, float(target), searched, group_sizes, row_sizes,
                               effects[0])
    out = curve.table(sort_by=None if searched is None else searched)
    out.attrs["sd"] = _simulated_sds(pilot)
    if found is not None:
        out.attrs["target"] = found
    return out


def _check_target(target, effects, group_sizes, row_sizes) -> str | None:
    """The size ``target=`` searches over ("n_groups" or "n_per_group"), or None."""
    if target is None:
        return None
    if isinstance(target, bool) or not isinstance(target, (int, float)) or \
            not 0 < target < 1:
        raise InputValueError(f"target must be a power in (0, 1) such as 0.8; got {target!r}")
    if len(effects) > 1:
        raise InputValueError(
            "target= finds the smallest size for one effect; got a list of effects: call "
            "power_lmm once per effect")
    if len(group_sizes) > 1 and len(row_sizes) > 1:
        raise InputValueError(
            "target= searches over one size: give a list for n_groups or for n_per_group, "
            "not both")
    return "n_per_group" if len(row_sizes) > 1 else "n_groups"


# How far the search for a target goes: this many times the starting size.
_TARGET_LIMIT = 64


def _search_target(curve: _Curve, target: float, size: str, group_sizes, row_sizes,
                   values) -> dict:
    """The smallest size reaching ``target`` and the interval around it (see power_lmm).

    Power on common random numbers is nearly monotone in the size, so each threshold is
    found by bisection between a size below it and one above (doubling or halving from
    the start to bracket it); with a list of sizes, only those are used.
    """
    def point(n):
        return (n, row_sizes[0], values) if size == "n_groups" else (group_sizes[0], n, values)

    given = group_sizes if size == "n_groups" else row_sizes
    curve.check_sizes([point(n) for n in given])
    if len(given) > 1:
        curve.evaluate([point(n) for n in given])
        sizes = sorted(given)
        first = {k: next((n for n in sizes if curve.power(point(n))[k] >= target), None)
                 for k in range(3)}
    else:
        start = given[0] if given[0] is not None else _pilot_size(curve, size)
        lowest = 3 if size == "n_groups" else 1
        first = {k: _smallest(lambda n, k=k: curve.power(point(n))[k] >= target, start,
                              lowest, _TARGET_LIMIT * start, curve, point)
                 for k in (0, 2, 1)}
    if first[0] is not None:
        curve.check_sizes([point(first[0])])  # an answer below MIN_GROUPS groups: warned
    else:
        limit = max(given) if len(given) > 1 else _TARGET_LIMIT * _pilot_size(curve, size)
        warnings.warn(FitWarning(
            f"power stays below the target {target:g} up to {size}={limit}: the effect may be "
            "too small to detect with this design; try a larger effect, more rows per "
            "group, or a list of larger sizes"), stacklevel=3)
    return {"power": target, "size": size, "smallest": first[0], "conf_low": first[2],
            "conf_high": first[1]}


def _pilot_size(curve: _Curve, size: str) -> int:
    ext = curve.design(None, None)
    return int(ext.n_groups) if size == "n_groups" else max(1, round(ext.n_per_group))


def _smallest(reaches, start: int, lowest: int, highest: int, curve: _Curve, point):
    """The smallest size in [lowest, highest] where ``reaches`` holds (None if it does not
    at ``highest``), assuming it holds from some size on."""
    hi = lo = None
    n = start
    if reaches(n):
        hi = n
        while hi > lowest:  # halve until it fails, or the lowest size reaches it
            n = max(lowest, hi // 2)
            if not reaches(n):
                lo = n
                break
            hi = n
        if lo is None:
            return hi
    else:
        lo = n
        while hi is None:  # double until it holds
            n = min(highest, lo * 2)
            if reaches(n):
                hi = n
            elif n >= highest:
                return None
            else:
                lo = n
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if reaches(mid):
            hi = mid
        else:
            lo = mid
    return hi


class _Curve:
    """The points of a power curve simulated so far, each from the same random streams."""

    def __init__(self, pilot, label, columns, fixed_l, test, along, names, seed, n_sims, run,
                 alpha, conf_level):
        self.pilot, self.label, self.columns, self.fixed_l = pilot, label, columns, fixed_l
        self.test, self.along, self.names, self.seed = test, along, names, seed
        self.seeds = spawn_seeds(seed, n_sims)  # the same streams for every point
        self.run, self.alpha, self.conf_level = run, alpha, conf_level
        self.designs: dict = {}
        self.rows: dict = {}  # (n_groups, n_per_group, effect key) -> (row, effects used)
        self.errors: list[str] = []
        self.along_used = along

    def design(self, n_g, n_r):
        """The extended design of one size (shared by every effect)."""
        if (n_g, n_r) not in self.designs:
            self.designs[n_g, n_r] = extend_design(self.pilot.state, self.pilot.theta,
                                                   along=self.along, n_groups=n_g,
                                                   n_per_group=n_r)
        return self.designs[n_g, n_r]

    def check_sizes(self, points) -> None:
        """Refuse designs with fewer than 3 groups of ``along``; warn below MIN_GROUPS."""
        few = {}
        for n_g, n_r, _ in points:
            ext = self.design(n_g, n_r)
            if ext.n_groups < 3:
                raise InputValueError(
                    f"n_groups={ext.n_groups}: {ext.n_groups} levels of {ext.along!r} cannot "
                    f"estimate the variance between them, and an effect that varies between "
                    f"them has no degrees of freedom; simulate at least 3 groups (5 or more "
                    f"for a usable variance estimate)")
            if ext.n_groups < MIN_GROUPS:
                few[ext.n_groups] = ext.along
        if few:
            sizes = " and ".join(str(n) for n in sorted(few))
            warnings.warn(DataWarning(
                f"n_groups={sizes}: with fewer than {MIN_GROUPS} levels of "
                f"{next(iter(few.values()))!r} each simulated fit estimates their variance "
                "from that few groups (often as 0: singular) and the test has few df; read "
                f"these powers as rough and plan for {MIN_GROUPS} or more"), stacklevel=4)

    def evaluate(self, points) -> None:
        """Simulate every point not simulated yet, in one run over the executor."""
        unique: dict = {}
        for p in points:
            unique.setdefault(self._key(p), p)
        points = [p for key, p in unique.items() if key not in self.rows]
        if not points:
            return
        scenarios, meta = [], []
        for n_g, n_r, values in points:
            beta = self.pilot.beta.copy()
            if values is not None:
                beta[self.columns] = values
            ext = self.design(n_g, n_r)
            scenarios.append(_scenario(self.pilot, ext, self.label, self.columns, self.fixed_l,
                                       beta, self.test))
            self.along_used = ext.along
            meta.append(([ext.n_groups, ext.n_per_group, len(ext.design.endog),
                          float(beta[self.columns][0]) if len(self.columns) == 1 else np.nan],
                         {self.names[i]: float(beta[i]) for i in self.columns}))
        n_sims = len(self.seeds)
        items = [(i, s) for i in range(len(scenarios)) for s in self.seeds]
        results = run_tasks(_power_chunk, (scenarios,), items, label="power simulation",
                            **self.run)
        for i, (point, (row, used)) in enumerate(zip(points, meta)):
            mine = results[i * n_sims:(i + 1) * n_sims]
            p = np.array([r[0] for r in mine])
            ok = np.isfinite(p)
            hits = int(np.sum(p[ok] < self.alpha))
            low, high = clopper_pearson(hits, int(ok.sum()), self.conf_level)
            power = hits / ok.sum() if ok.any() else np.nan
            self.rows[self._key(point)] = (row + [power, low, high, n_sims, int((~ok).sum()),
                                                  int(sum(r[1] for r in mine))], used)
            errors = [r[2] for r in mine if r[2]]
            self.errors += errors[:1]
            if not ok.any():
                warnings.warn(FitWarning(
                    f"power at n_groups={row[0]}, n_per_group={row[1]:g} is NaN: every "
                    f"simulated fit or test failed (first: {errors[0] if errors else '?'})"),
                    stacklevel=4)

    def power(self, point) -> tuple[float, float, float]:
        """(power, conf_low, conf_high) of one point, simulated if needed."""
        self.evaluate([point])
        row = self.rows[self._key(point)][0]
        return row[4], row[5], row[6]

    @staticmethod
    def _key(point):
        n_g, n_r, values = point
        return n_g, n_r, None if values is None else tuple(np.atleast_1d(values).tolist())

    def table(self, sort_by: str | None) -> pd.DataFrame:
        rows = list(self.rows.values())
        out = pd.DataFrame([r for r, _ in rows], columns=POWER_COLUMNS)
        effects_used = [u for _, u in rows]
        if sort_by is not None:
            order = np.argsort(out[sort_by].to_numpy(), kind="stable")
            out = out.iloc[order].reset_index(drop=True)
            effects_used = [effects_used[i] for i in order]
        seed = self.seed
        is_int = isinstance(seed, (int, np.integer)) and not isinstance(seed, bool)
        out.attrs.update(term=self.label, test=self.test, alpha=float(self.alpha),
                         along=self.along_used, conf_level=float(self.conf_level),
                         seed=int(seed) if is_int else None,
                         coefficients=[self.names[i] for i in self.columns],
                         effects=effects_used, source=self.pilot.source,
                         first_error=self.errors[0] if self.errors else None)
        return out
