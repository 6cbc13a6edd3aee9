"""From checked data to the model's matrices, and its translation to statsmodels.

The model is lme4's: each random term is a block of q correlated random effects per
level of its grouping factor (``CovBlock``), any number of them, crossed, nested
or partially crossed.  mixedkit's engine fits all of them.

statsmodels' ``MixedLM`` expresses a subset: one grouping factor per model, random
effects on it possibly correlated (``exog_re``), everything else an independent
variance component nested within it (``exog_vc``).  :func:`build_design` picks the
grouping factor within which every other factor is nested; when none exists (crossed
factors such as Penicillin's plate and sample) it uses one group holding all rows,
with every random term a variance component.  Where that translation exists the
blocks are ordered as statsmodels packs them (the correlated block first) and the
statsmodels call that fits the same model is kept as a string
(``Design.statsmodels_call``) so a user can paste it; where it does not,
``Design.statsmodels_reason`` says why in one sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import pandas as pd
import patsy
from scipy import linalg, sparse

from ..errors import DataError, DesignTooLargeError, FormulaError, StatsmodelsLimitError
from ..findings import Finding
from .engine import Engine, EngineTooLargeError, RandomFactor, physical_memory
from .formula import RandomTerm
from .validation import PreparedData

__all__ = ["CovBlock", "Design", "build_design", "coded_like", "factor_column", "formula_env",
           "patsy_frame"]

# Rough cost model of statsmodels' dense Woodbury solver, calibrated on InstEval
# (73,421 rows, 4,100 random columns in one group: about 16 GB, a minute per evaluation).
_BYTES_PER_CELL = 8 * 6
_FLOPS_PER_SECOND = 2e10
_SPARSE_MIN_CELLS = 20_000  # crossed designs with more rows x columns use sparse matrices
# (measured: 144 x 30 Penicillin dense 0.11 s vs sparse 0.85 s; 600 x 60 dense 1.3 s vs
# sparse 0.87 s; 10,000 x 400 dense 69 s vs sparse 19 s)


@dataclass
class CovBlock:
    """One random term: q correlated random effects per level of its grouping factor.

    ``kind`` is statsmodels' role where statsmodels can express the model: ``"re"`` for
    the (possibly correlated) block on its grouping factor, ``"vc"`` for an independent
    variance component; ``"term"`` where it cannot.  ``group`` and ``terms`` are the
    user-facing labels used in the tables; ``codes`` each row's level (0 ..
    n_levels - 1) and ``levels`` their labels; ``z`` the term's columns in the data's
    units and ``scale`` their root mean squares (the engine fits ``z / scale``).  The
    block's relative Cholesky factor is ``theta[theta_start:theta_start + n_theta]``,
    its lower triangle packed row by row (statsmodels' packing).
    """

    kind: str
    group: str
    terms: list[str]
    term: RandomTerm
    codes: np.ndarray = field(repr=False, default=None)
    levels: np.ndarray = field(repr=False, default=None)
    z: np.ndarray = field(repr=False, default=None)
    scale: np.ndarray = field(repr=False, default=None)
    theta_start: int = 0

    @property
    def source(self) -> str:
        """The random term as the user wrote it."""
        return self.term.source

    @property
    def q(self) -> int:
        return len(self.terms)

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    @property
    def n_theta(self) -> int:
        return self.q * (self.q + 1) // 2

    @property
    def theta_slice(self) -> slice:
        return slice(self.theta_start, self.theta_start + self.n_theta)

    @property
    def theta_diagonal(self) -> np.ndarray:
        """Positions of the Cholesky diagonal in theta."""
        rows, cols = np.tril_indices(self.q)
        return self.theta_start + np.flatnonzero(rows == cols)

    @property
    def slope(self) -> np.ndarray | None:
        """A one-column term's column in data units (None for an intercept)."""
        return None if self.terms == ["Intercept"] else self.z[:, 0]


def _rms(values: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(np.square(values))))
    return rms if np.isfinite(rms) and rms > 0 else 1.0


@dataclass
class Design:
    """Everything needed to fit, refit and describe one model.

    The model mixedkit optimises has every random-effect column divided by its root
    mean square (``re_scale``, ``vc_scale``): its theta is then free of the
    predictors' units, so the singularity rule means the same thing for a slope per
    day and per second.  ``engine`` evaluates that model's likelihood; ``model`` is
    the same model as a statsmodels ``MixedLM`` (built on first use), and
    ``user_model()`` the statsmodels model in the data's units, the one
    ``statsmodels_call`` builds.
    """

    endog: np.ndarray
    exog: pd.DataFrame
    design_info: object
    groups: np.ndarray  # integer codes 0..G-1 of the factor every other is nested in
    group_labels: np.ndarray  # the label of each code ("all rows" when there is none)
    group_factor: tuple[str, ...] | None
    blocks: list[CovBlock]
    response: str
    n_groups: dict[str, int]
    statsmodels_call: str
    statsmodels_reason: str | None = None  # why statsmodels cannot express the model
    use_sparse: bool = False
    weights: np.ndarray | None = None  # prior weights (None: all 1)
    findings: list[Finding] = field(default_factory=list)
    _model: object = field(default=None, repr=False)
    _engine: object = field(default=None, repr=False)

    def __getstate__(self):
        # patsy's DesignInfo cannot be pickled (it is rebuilt from the data when needed);
        # the statsmodels model is rebuilt on demand.
        state = self.__dict__.copy()
        state["design_info"] = None
        state["_model"] = None
        return state

    def with_response(self, endog: np.ndarray) -> Design:
        """The same design for another response (shares the random-effects structure)."""
        new = replace(self, endog=np.asarray(endog, float), _model=None, _engine=None)
        new._engine = self.engine.with_response(new.endog)
        return new

    # ------------------------------------------------------------ random part
    def factors(self) -> list[RandomFactor]:
        """The random terms as the engine takes them (unit-free columns); built anew on
        each call: use ``design.engine.factors`` to read them."""
        out = []
        for block in self.blocks:
            rows, cols = np.tril_indices(block.q)  # packed row by row, as statsmodels
            out.append(RandomFactor(block.group, block.codes, block.n_levels,
                                    block.z / block.scale,
                                    tuple((block.theta_start + i, int(r), int(c))
                                          for i, (r, c) in enumerate(zip(rows, cols)))))
        return out

    # -------------------------------------------- statsmodels' view of the blocks
    @property
    def expressible(self) -> bool:
        """Whether statsmodels' ``MixedLM`` can express this model."""
        return self.statsmodels_reason is None

    def require_statsmodels(self, what: str) -> None:
        """Raise :class:`~mixedkit.errors.StatsmodelsLimitError` when statsmodels cannot
        express this model; ``what`` names the feature asked for."""
        if self.statsmodels_reason is not None:
            raise StatsmodelsLimitError(
                f"{what} is not available for this model: {self.statsmodels_reason}. "
                "mixedkit's own engine fits it (engine='mixedkit', the default), with lme4 as "
                "its reference")

    @property
    def re_block(self) -> CovBlock | None:
        return self.blocks[0] if self.blocks and self.blocks[0].kind == "re" else None

    @property
    def vc_blocks(self) -> list[CovBlock]:
        return [b for b in self.blocks if b.kind == "vc"]

    @property
    def exog_re(self) -> pd.DataFrame | None:
        block = self.re_block
        if block is None:
            return None
        return pd.DataFrame(block.z, index=self.exog.index, columns=block.terms)

    @property
    def re_scale(self) -> np.ndarray:
        block = self.re_block
        return np.zeros(0) if block is None else block.scale

    @property
    def vc_names(self) -> list[str]:
        return [b.group if b.slope is None else f"{b.group}:{b.terms[0]}"
                for b in self.vc_blocks]

    @property
    def vc_scale(self) -> np.ndarray:
        return np.array([b.scale[0] for b in self.vc_blocks])

    @property
    def engine(self) -> Engine:
        """The likelihood evaluator of this model (see :mod:`mixedkit.model.engine`)."""
        if self._engine is None:
            self._engine = Engine(self.exog.to_numpy(float), self.endog, self.factors(),
                                  self.n_theta, memory_limit=0.4 * physical_memory(),
                                  weights=self.weights)
        return self._engine

    # ------------------------------------------------------ statsmodels' model
    def _vc_mats(self, scaled: bool):
        order = np.argsort(self.groups, kind="stable")
        group_rows = np.split(order, np.flatnonzero(np.diff(self.groups[order])) + 1)
        mats, names = [], []
        for block in self.vc_blocks:
            slope = block.slope
            if slope is not None and scaled:
                slope = slope / block.scale[0]
            m, cols = _vc_mats(block.codes, slope, group_rows, block.levels, self.use_sparse)
            mats.append(m)
            names.append(cols)
        return mats, names

    def _build(self, exog_re, scaled, groups, endog=None, memoised=False):
        # statsmodels' mixed-model module is imported here only: see statsmodels_model
        from .statsmodels_model import MemoisedMixedLM, MixedLM, VCSpec

        self.require_statsmodels("statsmodels' MixedLM")
        _check_statsmodels_cost(self)
        vc = None
        if self.vc_names:
            mats, colnames = self._vc_mats(scaled)
            vc = VCSpec(self.vc_names, colnames, mats)
        endog = self.endog if endog is None else endog
        model_class = MemoisedMixedLM if memoised else MixedLM
        return model_class(endog, self.exog, groups, exog_re=exog_re, exog_vc=vc)

    @property
    def model(self):
        """The statsmodels ``MixedLM`` of the unit-free model (built on first use)."""
        if self._model is None:
            exog_re = None if self.exog_re is None else self.exog_re / self.re_scale
            self._model = self._build(exog_re, True, self.groups, memoised=True)
        return self._model

    def user_model(self):
        """A new statsmodels ``MixedLM`` in the data's units (as ``statsmodels_call``)."""
        labels = self.group_labels
        try:  # the data's labels when sorting them keeps our order, else the codes
            readable = list(labels) == sorted(labels) and len(set(map(type, labels))) == 1
        except TypeError:
            readable = False
        groups = labels[self.groups] if readable else self.groups
        endog = pd.Series(self.endog, index=self.exog.index, name=self.response)
        exog_re = self.exog_re
        if isinstance(exog_re, pd.DataFrame) and "Intercept" in exog_re.columns:
            # from_formula names the random intercept after the groups column ("Subject
            # Var"), or "Group" when groups is not one column, as statsmodels_call does
            gf = self.group_factor
            name = next((b.group for b in self.blocks if b.kind == "re"), "Group") \
                if gf is not None and len(gf) == 1 else "Group"
            exog_re = exog_re.rename(columns={"Intercept": name})
        return self._build(exog_re, False, groups, endog)

    @property
    def k_re(self) -> int:
        """Columns of statsmodels' correlated block (0 when there is none)."""
        block = self.re_block
        return 0 if block is None else block.q

    @cached_property
    def theta_diagonal(self) -> np.ndarray:
        """Positions in the packed parameter vector that are Cholesky diagonals or SDs
        (read at every step of the optimisation: computed once)."""
        return np.concatenate([b.theta_diagonal for b in self.blocks] or [np.zeros(0)]
                              ).astype(int)

    @property
    def n_theta(self) -> int:
        return sum(b.n_theta for b in self.blocks)


def _categorical_c(data, contrast=None, levels=None):
    """patsy's ``C()``, except that a pandas Categorical given alone is returned as it is.

    patsy codes a Categorical from its codes, but one wrapped by ``C()`` value by value (it
    unboxes ``C()`` only after its Categorical check: 0.3 s for 375,000 rows). A bare
    Categorical is what ``C()`` of it means: its categories as the levels, treatment
    contrasts, and the term keeps its name (``C(x)[T.1]``).
    """
    if contrast is None and levels is None and \
            isinstance(getattr(data, "dtype", None), pd.CategoricalDtype):
        return data
    return patsy.builtins.C(data, contrast, levels)


def formula_env(env):
    """The environment formulas are evaluated in: the caller's, with numpy as ``np`` and
    :func:`_categorical_c` as ``C`` (unless the caller's namespace has its own ``C``)."""
    if env is None:
        env = patsy.EvalEnvironment.capture(0)
    return env.with_outer_namespace({"np": np, "C": _categorical_c})


def _patsy_error(err, prep: PreparedData, what: str) -> FormulaError:
    msg = prep.names.restore(str(err).splitlines()[0])
    return FormulaError(f"{what} could not be evaluated: {msg}")


# prepare() has dropped every row with a missing value, so patsy need not look for NaN
# (its check costs a pandas ufunc per column, and per-element Python on categorical
# columns); what a transformation makes non-finite is caught by _check_finite, by name.
_NO_NA = patsy.NAAction(NA_types=[])


def _dmatrix(formula: str, frame: pd.DataFrame, env, prep, what):
    try:
        return patsy.dmatrix(formula, frame, eval_env=env, NA_action=_NO_NA,
                             return_type="dataframe")
    except Exception as err:  # noqa: BLE001 - patsy raises PatsyError, NameError, TypeError, ...
        raise _patsy_error(err, prep, what) from None


def _plain_columns(frame: pd.DataFrame, codes) -> bool:
    """Whether every expression in ``codes`` is a numeric (not boolean) column of ``frame``:
    patsy would copy them as they are, so mixedkit does (patsy takes 2-3 ms a matrix, a
    third of a sleepstudy fit)."""
    for code in codes:
        if code not in frame.columns:
            return False
        if frame[code].dtype.kind not in "iuf":  # not bool, complex, Categorical, text
            return False
    return len(set(codes)) == len(codes)


def _plain_matrix(frame: pd.DataFrame, intercept: bool, codes) -> pd.DataFrame:
    """The model matrix patsy builds for an intercept and plain numeric columns: the
    intercept first, then the columns in the order written, as floats, named as patsy
    names them."""
    columns = {"Intercept": np.ones(len(frame))} if intercept else {}
    for code in codes:
        columns[code] = frame[code].to_numpy(dtype=float)
    return pd.DataFrame(columns, index=frame.index)


def _plain_fixed_part(prep: PreparedData) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """(y, X) without patsy when the response and every fixed term are plain numeric
    columns (``Reaction ~ Days``, ``y ~ x1 + x2 - 1``); None otherwise. Interactions,
    transformations and factors go to patsy."""
    try:
        desc = patsy.ModelDesc.from_formula(prep.parsed.fixed_formula)
    except Exception:  # noqa: BLE001 - patsy reports its own parse errors in build_design
        return None
    if len(desc.lhs_termlist) != 1 or len(desc.lhs_termlist[0].factors) != 1:
        return None
    response = desc.lhs_termlist[0].factors[0].code
    if any(len(t.factors) > 1 for t in desc.rhs_termlist):
        return None
    codes = [t.factors[0].code for t in desc.rhs_termlist if t.factors]
    if not _plain_columns(prep.frame, [response, *codes]):
        return None
    intercept = any(not t.factors for t in desc.rhs_termlist)
    return (_plain_matrix(prep.frame, False, [response]),
            _plain_matrix(prep.frame, intercept, codes))


def _check_finite(values: np.ndarray, columns, what: str) -> None:
    """Refuse NaN or infinite values a transformation made (``np.log(0)``, ``np.sqrt(-1)``)."""
    bad = ~np.isfinite(values)
    if not bad.any():
        return
    counts = bad.sum(axis=0)
    col = int(np.argmax(counts > 0))
    raise DataError(
        f"{what}: column {columns[col]!r} has {int(counts[col])} non-finite values (NaN or "
        "infinite) after transformation, e.g. the log of 0 or the square root of a negative "
        "number; transform only values in the function's domain (e.g. np.log(x + 1)) or drop "
        "those rows first"
    )


def _restore_cols(df: pd.DataFrame, prep: PreparedData) -> pd.DataFrame:
    df.columns = [prep.names.restore(c) for c in df.columns]
    return df


def _check_rank(exog: pd.DataFrame) -> None:

    x = exog.to_numpy()
    n, p = x.shape
    if p == 0:
        return
    if n <= p:
        raise DataError(
            f"fixed effects: {p} coefficients but only {n} rows; simplify the fixed part "
            "of the formula"
        )
    zero = [c for c, col in zip(exog.columns, x.T) if not np.any(col)]
    if zero and ":" in str(zero[0]):
        cell = ", ".join(re.sub(r"^(.*)\[T\.(.*)\]$", r"\1 = \2", part)
                         for part in str(zero[0]).split(":"))
        raise DataError(
            f"fixed effects: column {zero[0]!r} is all zeros: the cell {cell} has no rows (an "
            "empty cell of the interaction), so the interaction cannot be estimated in full. "
            "Fit the model without the interaction (e.g. A + B instead of A * B), or combine "
            "the factors into one with only the observed cells"
        )
    if zero:
        raise DataError(
            f"fixed effects: column {zero[0]!r} is all zeros, so its coefficient cannot be "
            "estimated (often an unused category of a Categorical; drop it with "
            "data[col] = data[col].cat.remove_unused_categories())"
        )
    scaled = x / np.maximum(np.sqrt((x**2).sum(axis=0)), 1e-300)
    _, r, piv = linalg.qr(scaled, mode="economic", pivoting=True)
    d = np.abs(np.diag(r))
    rank = int((d > d[0] * max(n, p) * np.finfo(float).eps * 10).sum())
    if rank == p:
        return
    names = list(exog.columns)
    kept = sorted(piv[:rank])
    msgs = []
    for j in sorted(piv[rank:]):
        coef = np.linalg.lstsq(scaled[:, kept], scaled[:, j], rcond=None)[0]
        partners = [names[k] for k, c in zip(kept, coef) if abs(c) > 1e-8]
        msgs.append(f"{names[j]!r} = combination of {partners}")
    raise DataError(
        "fixed effects: the design is not of full rank, so these coefficients cannot all be "
        f"estimated (aliased terms): {'; '.join(msgs)}. Remove one of the aliased terms from "
        "the formula (or check for a column that duplicates another)"
    )


def _check_scaling(exog: pd.DataFrame, findings: list[Finding]) -> None:
    x = exog.to_numpy()
    sd = x.std(axis=0)
    varying = sd > 0
    if varying.sum() < 2:
        return
    ratio = sd[varying].max() / sd[varying].min()
    if ratio > 1e3:
        cols = np.array(exog.columns)[varying]
        big, small = cols[np.argmax(sd[varying])], cols[np.argmin(sd[varying])]
        findings.append(
            Finding(
                "scaling",
                "warning",
                f"predictors differ in spread by a factor of {ratio:.2g} ({big!r} vs {small!r}).",
                "Very different scales slow the optimizer and make coefficients hard to compare.",
                "Rescale or centre the predictors (e.g. divide by 1000, or standardise).",
            )
        )


def _choose_grouping(prep: PreparedData) -> tuple[str, ...] | None:
    """The factor within which all others are nested, or None for crossed designs."""
    factors = list(dict.fromkeys(t.factor for t in prep.random))
    if len(factors) == 1:
        return factors[0]
    codes = {f: prep.codes(f) for f in factors}

    def nested(inner, outer) -> bool:
        df = pd.DataFrame({"i": codes[inner], "o": codes[outer]})
        return bool((df.groupby("i")["o"].nunique() == 1).all())

    candidates = [g for g in factors if all(f == g or nested(f, g) for f in factors)]
    if not candidates:
        return None

    def score(g):
        multi = sum(len(t.exprs) + t.intercept > 1 and t.correlated
                    for t in prep.random if t.factor == g)
        return (-multi, codes[g].max())

    return min(candidates, key=score)


def _label(prep, factor) -> str:
    return ":".join(prep.user(c) for c in factor)


def _statsmodels_reason(terms: list[RandomTerm], widths: dict, gf: tuple | None,
                        prep) -> str | None:
    """Why statsmodels' ``MixedLM`` cannot express these random terms (one sentence), or
    None when it can (one grouping factor ``gf`` with at most one correlated block on it,
    every other term a one-column variance component nested in it)."""
    correlated = [t for t in terms if t.factor == gf and widths[t] > 1]
    if len(correlated) > 1:
        return (f"statsmodels fits one correlated block, on its grouping factor "
                f"{_label(prep, gf)!r}, and {correlated[0].source} and {correlated[1].source} "
                "are two")
    for t in terms:
        if t.factor == gf or widths[t] == 1:
            continue
        block = (f"{t.source} is a block of {widths[t]} correlated random effects per level of "
                 f"{_label(prep, t.factor)!r}")
        if gf is None:
            crossed = ", ".join(repr(_label(prep, f))
                                for f in dict.fromkeys(u.factor for u in terms))
            return (f"{block}, and with crossed grouping factors ({crossed}) statsmodels fits "
                    "only independent variance components of one column each")
        return (f"{block}, and statsmodels allows correlated random effects only on its "
                f"grouping factor, the one every other factor is nested in "
                f"({_label(prep, gf)!r})")
    return None


def _check_identifiable(terms: list[RandomTerm], columns: dict, prep) -> None:
    """Refuse two terms that give one factor the same random effect (only their sum
    would be estimable)."""
    seen: dict = {}
    for t in terms:
        for col in columns[t]:
            other = seen.setdefault((t.factor, col), t)
            if other is t:
                continue
            label = _label(prep, t.factor)
            if col == "Intercept":
                raise FormulaError(
                    f"the random terms {other.source} and {t.source} both give {label!r} a "
                    "random intercept; keep one of them")
            raise FormulaError(
                f"the random term for {label + ':' + col!r} appears twice ({other.source} and "
                f"{t.source}); remove the duplicate")


def _quoted(prep: PreparedData, text: str) -> str:
    """Formula text with the user's names, quoted for statsmodels where needed."""
    orig = prep.names.original

    return re.sub(r"_mk\d+_", lambda m: f'Q("{orig[m.group(0)]}")', text)


def _vc_mats(codes_f: np.ndarray, slope: np.ndarray | None,
             group_rows: list[np.ndarray], f_levels: np.ndarray, sparse_ok: bool):
    mats, colnames = [], []
    for rows in group_rows:
        local, inv = np.unique(codes_f[rows], return_inverse=True)
        vals = np.ones(len(rows)) if slope is None else slope[rows]
        if sparse_ok:
            m = sparse.csr_array((vals, (np.arange(len(rows)), inv)), shape=(len(rows), len(local)))
        else:
            m = np.zeros((len(rows), len(local)))
            m[np.arange(len(rows)), inv] = vals
        mats.append(m)
        colnames.append([str(f_levels[c]) for c in local])
    return mats, colnames


def _check_statsmodels_cost(design: Design) -> None:
    """Refuse to build a statsmodels model that would exhaust memory (see _BYTES_PER_CELL).

    statsmodels evaluates each group with dense matrices (rows x random columns of
    the group); crossed designs are one group holding every row.
    """
    sizes = np.bincount(design.groups).astype(float)
    ncols = np.full(len(sizes), float(design.k_re))
    for codes in (b.codes for b in design.vc_blocks):
        pairs = np.unique(design.groups.astype(np.int64) * (codes.max() + 1) + codes)
        ncols += np.bincount((pairs // (codes.max() + 1)).astype(int), minlength=len(sizes))
    mem = float((sizes * ncols).sum() * _BYTES_PER_CELL)
    avail = physical_memory()
    if mem > 0.5 * avail:
        raise DesignTooLargeError(
            f"statsmodels' MixedLM cannot hold this design: {len(design.endog):,} rows and up "
            f"to {int(ncols.max()):,} random-effect columns in one group need about "
            f"{mem / 1e9:.1f} GB as statsmodels stores them (this machine has "
            f"{avail / 1e9:.1f} GB). mixedkit's own engine (engine='mixedkit', the default) "
            "fits it; fit.statsmodels_result and engine='statsmodels' are not available here"
        )


def _build_engine(design: Design, findings: list[Finding]) -> None:
    """Build the likelihood engine; refuse what cannot fit in memory, flag slow designs."""
    try:
        design.engine  # noqa: B018 - built now, so a design too large is refused before fitting
    except EngineTooLargeError as err:
        raise DesignTooLargeError(
            f"this random-effects design is too large for this machine: {err}. Fit a subset "
            "of levels, nest the factors if the design allows, or drop the crossed factor with "
            "the most levels"
        ) from None
    secs = design._engine.seconds_per_evaluation()
    if secs > 5:
        findings.append(Finding(
            "design size", "warning",
            f"each likelihood evaluation is estimated at {secs:,.0f} s "
            f"({design._engine.largest_block:,} random effects in one dense block).",
            "A fit takes 20-100 evaluations.",
            "Expect a long fit, or reduce the number of crossed levels."))


def _patsy_reads(dtype) -> bool:
    """Whether this patsy can sniff a column of ``dtype`` (patsy 0.5 with numpy 1.23 cannot
    read pandas' string dtype: anova, predictions and means would fail on it later)."""
    try:
        patsy.util.safe_issubdtype(dtype, np.bool_)
    except TypeError:
        return False
    return True


def patsy_frame(prep: PreparedData) -> pd.DataFrame:
    """The model frame as patsy should see it: the text columns it reads as pandas
    Categoricals.

    patsy codes a text column value by value in Python (its ``sniff`` and
    ``categorical_to_int``: 3.2 s of a 4.9 s fit on 375,000 rows), a Categorical from its
    codes. The categories are the sorted distinct values, the order patsy gives text
    levels, so the columns, their names and the reference level are the same; the codes
    are the ones the checks computed (``prep.levels``). Grouping columns patsy never
    reads are left alone.
    """
    frame = prep.frame
    out = None
    for col, declared in prep.predictor_columns().items():
        s = frame[col]
        if declared and s.dtype.kind in "biuf":  # used only as C(col): its sorted values
            dtype = None
        elif (s.dtype == object or isinstance(s.dtype, pd.StringDtype)) and \
                pd.api.types.infer_dtype(s, skipna=False) == "string" and _patsy_reads(s.dtype):
            dtype = object  # text (mixed types keep patsy's own ordering; an old patsy that
            # cannot read pandas' string dtype gives its error, as elsewhere)
        else:
            continue
        if out is None:
            out = frame.copy(deep=False)
        codes, labels = prep.levels((col,))
        out[col] = pd.Categorical.from_codes(codes, categories=pd.Index(labels, dtype=dtype))
    return frame if out is None else out


def factor_column(code: str) -> str:
    """The column a factor's code reads: ``"x"`` for ``x`` and for ``C(x)`` (no contrast
    or levels given); the code itself otherwise."""
    m = re.fullmatch(r"C\(\s*([\w.]+)\s*\)", code)
    return m.group(1) if m else code


def _only_categorical_uses(info, col: str) -> bool:
    """Whether every factor of ``info`` that reads column ``col`` reads it as a factor
    (``col`` itself, categorical, or ``C(col)``): then it can be given as a Categorical."""
    pattern = re.compile(rf"(?<![\w.]){re.escape(col)}(?![\w.])")
    return all(factor_column(f.code) == col and fi.type == "categorical"
               for f, fi in info.factor_infos.items() if pattern.search(f.code))


def coded_like(info, frame: pd.DataFrame) -> pd.DataFrame:
    """New rows as patsy should code them for the fitted ``info`` (a DesignInfo): each text
    column that is one of its categorical factors as a Categorical of the fitted levels.

    patsy codes text value by value in Python (1 s for 375,000 rows of predictions), a
    Categorical with the fit's categories from its codes. Columns with a value outside the
    fitted levels, or of mixed types, are left for patsy (and its message).
    """
    out = None
    for factor, finfo in info.factor_infos.items():
        col = factor_column(factor.code)
        if finfo.type != "categorical" or col not in frame.columns or \
                not _only_categorical_uses(info, col):
            continue
        s = frame[col]
        categories = list(finfo.categories)
        if col == factor.code:  # a text column read as a factor
            if not (s.dtype == object or isinstance(s.dtype, pd.StringDtype)) or \
                    pd.api.types.infer_dtype(s, skipna=False) != "string" or \
                    not all(isinstance(c, str) for c in categories):
                continue
        elif not (s.dtype.kind in "biuf" or pd.api.types.infer_dtype(s, skipna=False) ==
                  "string"):  # C(col): numbers, booleans or text
            continue
        coded = pd.Categorical(s.to_numpy(dtype=object), categories=categories)
        if (coded.codes < 0).any():
            continue
        if out is None:
            out = frame.copy(deep=False)
        out[col] = coded
    return frame if out is None else out


def fixed_design(prep: PreparedData, env, pframe: pd.DataFrame | None = None):
    """The response and the fixed-effects matrix of checked data, checked: finite, of full
    rank, the scaling noted.

    Returns
    -------
    endog : ndarray, exog : DataFrame (the user's names), design_info : patsy DesignInfo or
    None (built later for a plain design), findings : list of Finding
    """
    pframe = patsy_frame(prep) if pframe is None else pframe
    plain = _plain_fixed_part(prep)
    if plain is not None:  # patsy's DesignInfo is then built when first asked for
        y, x = plain
    else:
        try:
            with np.errstate(all="ignore"):  # non-finite results are refused below, by column
                y, x = patsy.dmatrices(prep.parsed.fixed_formula, pframe, eval_env=env,
                                       NA_action=_NO_NA, return_type="dataframe")
        except Exception as err:  # noqa: BLE001 - as in _dmatrix
            raise _patsy_error(err, prep, f"formula {prep.parsed.text!r}") from None
    if y.shape[1] != 1:
        raise FormulaError(
            f"the response {prep.user(prep.parsed.response)!r} must be one numeric column; "
            f"it expands to {y.shape[1]} columns (is it categorical?)"
        )
    endog = y.iloc[:, 0].to_numpy(dtype=float)
    if not np.isfinite(endog).all():
        raise DataError(
            f"the response {prep.names.restore(y.columns[0])!r} has "
            f"{int((~np.isfinite(endog)).sum())} non-finite values after transformation "
            "(e.g. log of 0); transform only positive values or add a constant"
        )
    design_info = None if plain is not None else x.design_info
    # A plain DataFrame: patsy attaches its (unpicklable) DesignInfo to the one it returns.
    exog = _restore_cols(pd.DataFrame(x.to_numpy(), index=x.index, columns=x.columns), prep)
    _check_finite(exog.to_numpy(), exog.columns, "fixed effects")
    _check_rank(exog)
    findings: list[Finding] = []
    _check_scaling(exog, findings)
    return endog, exog, design_info, findings


def build_design(prep: PreparedData, eval_env=None) -> Design:
    """Build matrices and the statsmodels translation for checked data.

    Raises
    ------
    FormulaError
        A term statsmodels cannot express, or an expression patsy cannot evaluate.
    DataError
        A random slope that does not vary within any group; a rank-deficient
        fixed-effects design.
    DesignTooLargeError
        The random-effects design would not fit in memory.
    """

    env = formula_env(eval_env)
    frame = prep.frame
    pframe = patsy_frame(prep)
    endog, exog, design_info, findings = fixed_design(prep, env, pframe)

    gf = _choose_grouping(prep)
    terms = list(prep.random)
    with np.errstate(all="ignore"):
        mats = {t: _restore_cols(_plain_matrix(frame, t.intercept, t.exprs) if
                                 _plain_columns(frame, t.exprs)
                                 else _dmatrix(t.re_formula, pframe, env, prep, t.source), prep)
                for t in terms}
    for t, mat in mats.items():
        _check_finite(mat.to_numpy(), mat.columns, t.source)
    _check_identifiable(terms, {t: list(m.columns) for t, m in mats.items()}, prep)
    widths = {t: mats[t].shape[1] for t in terms}
    reason = _statsmodels_reason(terms, widths, gf, prep)
    if prep.weights is not None and reason is None:
        reason = (f"statsmodels' MixedLM has no prior weights (weights="
                  f"{prep.weights_name!r})")
    re_term = None
    if reason is None:  # statsmodels' packing: its correlated block first
        on_g = [t for t in terms if t.factor == gf]
        correlated = [t for t in on_g if widths[t] > 1]
        re_term = correlated[0] if correlated else next((t for t in on_g if t.intercept),
                                                         on_g[0] if on_g else None)
        ordered = ([re_term] if re_term is not None else []) + [t for t in terms
                                                                if t is not re_term]
    else:
        ordered = terms
    vc_terms = [t for t in ordered if t is not re_term]

    # statsmodels orders groups by sorting their labels and pairs the i-th group with
    # the i-th variance-component matrix; integer codes make that order ours.
    if gf is None:
        gcodes = np.zeros(len(frame), dtype=int)
        group_labels = np.array(["all rows"], dtype=object)
    else:
        gcodes = prep.codes(gf)
        group_labels = prep.levels(gf)[1]

    blocks: list[CovBlock] = []
    start = 0
    for t in ordered:
        mat = mats[t]
        findings += _constant_slopes(mat, t.factor, prep, t)
        if not t.correlated and mat.shape[1] > 1:
            findings.append(_factor_double_bar(t, mat, prep))
        z = mat.to_numpy(dtype=float)
        kind = "term" if reason is not None else "re" if t is re_term else "vc"
        blocks.append(CovBlock(kind, _label(prep, t.factor), list(mat.columns), t,
                               *prep.levels(t.factor), z,
                               np.array([_rms(col) for col in z.T]), start))
        start += blocks[-1].n_theta
    # statsmodels' dense per-group matrices become sparse for large crossed designs
    n_cols = sum(b.q if b.kind == "re" else b.n_levels for b in blocks)
    use_sparse = gf is None and len(frame) * n_cols > _SPARSE_MIN_CELLS

    n_groups = {}
    for t in terms:
        n_groups.setdefault(_label(prep, t.factor), int(prep.codes(t.factor).max() + 1))
    design = Design(
        endog=endog, exog=exog, design_info=design_info, groups=gcodes,
        group_labels=group_labels, group_factor=gf, blocks=blocks,
        response=prep.user(prep.parsed.response), n_groups=n_groups,
        statsmodels_call="", statsmodels_reason=reason, use_sparse=use_sparse,
        findings=findings, weights=prep.weights,
    )
    if reason is None:
        design.statsmodels_call = _statsmodels_call(prep, gf, re_term, vc_terms, use_sparse)
    else:
        design.statsmodels_call = f"# statsmodels cannot express this model: {reason}"
    _build_engine(design, findings)
    return design


def _factor_double_bar(term: RandomTerm, mat: pd.DataFrame, prep) -> Finding:
    """lme4's reading of a factor in '||': one correlated block of its level columns."""
    label = _label(prep, term.factor)
    expr = prep.names.restore(term.exprs[0])
    return Finding(
        "factor in '||'", "note",
        f"in {term.source}, {expr!r} is categorical: as in lme4, its {mat.shape[1]} columns "
        f"form one block of correlated random effects per level of {label!r} "
        f"((0 + {expr} | {label})); '||' removes only their correlation with the intercept.",
        "",
        f"For independent effects, code {expr!r} as numbers (e.g. -0.5/+0.5 for two "
        f"levels, one column per contrast) and write those columns left of '||'.")


def _constant_slopes(mat: pd.DataFrame, factor, prep, term) -> list[Finding]:
    """Findings for random-slope columns that are constant within every level of their
    grouping factor. lme4 fits them, and so does mixedkit: a column of ones is a random
    intercept written another way (statsmodels' own lme4 suite writes ``(0 + exog_re_0 +
    exog_re_1 | groups)`` with ``exog_re_0`` all ones); any other such slope is separated
    from the intercept only by differences between groups, which is worth saying."""
    if factor is None:
        return []
    codes = prep.codes(factor)
    label = _label(prep, factor)
    out = []
    for col in mat.columns:
        if col == "Intercept":
            continue
        v = mat[col].to_numpy(float)
        first = np.full(codes.max() + 1, np.nan)
        first[codes[::-1]] = v[::-1]  # each level's first value
        if not np.array_equal(v, first[codes]):  # varies within a level: an ordinary slope
            continue
        if np.all(v == 1.0):
            out.append(Finding(
                "random intercept as a column", "note",
                f"{col!r} in {term.source} is a column of ones: a random intercept for "
                f"{label!r}, fitted as one.", "",
                f"Write the intercept as lme4 does: (1 | {label})."))
        else:
            out.append(Finding(
                "slope constant within groups", "warning",
                f"random slope {col!r} in {term.source} is constant within every level of "
                f"{label!r}: its variance is separated from the random intercept's only by "
                "differences between the groups.",
                "Such variances are poorly determined and the fit is often singular.",
                f"If {col!r} describes the groups, keep it as a fixed effect and drop it from "
                f"the random part: (1 | {label})."))
    return out


def _statsmodels_call(prep, gf, re_term, vc_terms, use_sparse) -> str:
    formula = _quoted(prep, prep.parsed.fixed_formula)
    if gf is None:
        groups = "np.ones(len(data))"
    elif len(gf) == 1:
        groups = repr(prep.user(gf[0]))
    else:
        cols = " + ':' + ".join(f"data[{prep.user(c)!r}].astype(str)" for c in gf)
        groups = cols
    args = [repr(formula), "data", f"groups={groups}"]
    if re_term is None:
        args.append('re_formula="0"')
    elif re_term.intercept and not re_term.exprs:
        if vc_terms:  # with vc_formula, from_formula drops its default random intercept
            args.append('re_formula="1"')
    else:
        re_text = re_term.re_formula.removeprefix("1 + ")
        args.append(f"re_formula={_quoted(prep, '~' + re_text)!r}")
    if vc_terms:
        vc = {}
        for t in vc_terms:
            inner = tuple(c for c in t.factor if gf is None or c not in gf)
            fac = ":".join(f"C({_quoted(prep, c)})" for c in inner or t.factor)
            key = _label(prep, t.factor)
            if t.exprs:
                key += ":" + prep.names.restore(t.exprs[0])
                slope = _quoted(prep, t.exprs[0])
                vc[key] = f"0 + {fac}:{slope}" if inner else f"0 + {slope}"
            else:
                vc[key] = f"0 + {fac}"
        args.append(f"vc_formula={vc!r}")
        if use_sparse:
            args.append("use_sparse=True")
    return f"smf.mixedlm({', '.join(args)})"
