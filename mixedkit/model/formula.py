"""lme4-style formulas: parsing, column names, and random-effect terms.

mixedkit accepts R's lme4 syntax, ``y ~ x + (1 + x | g) + (1 | a/b)``, and splits it
into a fixed-effects formula for patsy and a list of :class:`RandomTerm`.  Column
names that patsy cannot read (Python keywords such as ``yield``, names with spaces
or dots) are written in backticks or ``Q("...")`` or, when unambiguous, bare; they
are replaced by safe placeholders before patsy sees them and restored in every
name mixedkit shows.
"""

from __future__ import annotations

import builtins
import itertools
import keyword
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import ColumnNotFoundError, FormulaError, InputTypeError, did_you_mean

__all__ = ["NameMap", "ParsedFormula", "RandomTerm", "ResidualTerm", "parse_formula"]

TOKEN = re.compile(
    r"""
    (?P<backtick>`[^`]*`)
   |(?P<q>\bQ\(\s*(?P<qq>["'])(?P<qname>.*?)(?P=qq)\s*\))
   |(?P<string>"[^"]*"|'[^']*')
   |(?P<number>[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)
   |(?P<ident>(?:[^\W\d]|\.(?![0-9]))[\w.]*)
   |(?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)

# Bare words that may appear in a patsy formula without being columns.
_FORMULA_WORDS = {
    "True", "False", "None", "Treatment", "Sum", "Diff", "Helmert", "Poly",
    "np", "center", "standardize", "scale", "bs", "cr", "cc", "te",
}

_SAFE = re.compile(r"_mk\d+_")
# Names patsy evaluates formula terms with: a column with one of these names gets a
# placeholder, so that C(C) or np.log(np) still find the function.
_RESERVED = _FORMULA_WORDS | {"C", "I", "Q", "Intercept"} | set(dir(builtins))

# R functions people write out of habit: what to write instead (``{arg}`` is the argument).
_R_CALLS = {
    "factor": "C({arg})",
    "as.factor": "C({arg})",
    "as.ordered": "C({arg})",
    "as.numeric": "{arg}",
    "as.integer": "{arg}",
    "as.double": "{arg}",
    "as.character": "C({arg})",
}
_R_CALL_WHY = {
    "C({arg})": "patsy writes a categorical predictor as C(); a string or Categorical column "
                "is a factor already",
    "{arg}": "a numeric column is used as a number already; if it holds text, convert it "
             "first: data[col] = pd.to_numeric(data[col], errors='coerce')",
}


@dataclass
class NameMap:
    """Two-way map between data column names and names patsy can parse."""

    safe: dict[str, str] = field(default_factory=dict)

    @classmethod
    def for_columns(cls, columns) -> NameMap:
        safe = {}
        for i, col in enumerate(columns):
            name = str(col)
            # non-ASCII identifiers too get a placeholder: Python normalises them (NFKC)
            # and so do names that would hide a function a formula calls (C, I, np, abs, ...)
            ok = (name.isidentifier() and name.isascii() and not keyword.iskeyword(name)
                  and not _SAFE.fullmatch(name) and name not in _RESERVED)
            safe[name] = name if ok else f"_mk{i}_"
        return cls(safe)

    @property
    def original(self) -> dict[str, str]:
        return {v: k for k, v in self.safe.items()}

    def restore(self, text: str) -> str:
        """Replace placeholders in ``text`` by the user's column names."""
        orig = self.original
        return _SAFE.sub(lambda m: orig.get(m.group(0), m.group(0)), text)


@dataclass(frozen=True)
class RandomTerm:
    """One random-effects term such as ``(1 + Days | Subject)``.

    Attributes
    ----------
    exprs : tuple of str
        Slope expressions (safe names), without the intercept.
    intercept : bool
        Whether the term has a random intercept.
    factor : tuple of str
        Safe names of the columns whose combination is the grouping factor.
    correlated : bool
        False for terms that came from ``||``.
    source : str
        The term as the user wrote it (for messages).
    """

    exprs: tuple[str, ...]
    intercept: bool
    factor: tuple[str, ...]
    correlated: bool
    source: str

    @property
    def factor_key(self) -> str:
        return ":".join(self.factor)

    @property
    def re_formula(self) -> str:
        """The term's left-hand side as a patsy formula (explicit intercept)."""
        parts = ["1" if self.intercept else "0", *self.exprs]
        return " + ".join(parts)

    def lme4(self, names: NameMap) -> str:
        """The term in lme4's syntax with the user's column names: ``(Days | Subject)``,
        ``(0 + x | g)``, ``(1 | a:b)``."""
        exprs = [names.restore(e) for e in self.exprs]
        lhs = (" + ".join(exprs) if exprs else "1") if self.intercept else " + ".join(["0", *exprs])
        return f"({lhs} | {':'.join(names.restore(f) for f in self.factor)})"


@dataclass(frozen=True)
class ResidualTerm:
    """A residual covariance structure within subjects, in mmrm's syntax:
    ``us(visit | subject)``, ``ar1(visit | arm / subject)``, ``sp_exp(time | subject)``.

    Attributes
    ----------
    kind : str
        One of :data:`~mixedkit.model.residual.STRUCTURES`.
    within : str
        Safe name of the visit factor (its level order is the time order) or, for
        ``sp_exp``, of the numeric time.
    subject : str
        Safe name of the subject column: rows of one subject are correlated.
    by : str or None
        Safe name of the column whose levels get a structure each (``arm`` in
        ``us(visit | arm / subject)``); constant within a subject.
    source : str
        The term as the user wrote it.
    """

    kind: str
    within: str
    subject: str
    by: str | None
    source: str


@dataclass(frozen=True)
class ParsedFormula:
    """A formula split into response, fixed part and random terms (safe names)."""

    text: str
    response: str
    fixed_rhs: str
    random: tuple[RandomTerm, ...]
    columns: tuple[str, ...]  # user column names the formula uses, in order of use
    residual: ResidualTerm | None = None  # a residual structure term, if any

    @property
    def fixed_formula(self) -> str:
        return f"{self.response} ~ {self.fixed_rhs}"


def _call_argument(text: str, start: int) -> str:
    """The text between the parenthesis at or after ``start`` and its partner."""
    open_at = text.index("(", start)
    depth = 0
    for i in range(open_at, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return text[open_at + 1:i].strip()
    return text[open_at + 1:].strip()


def _refuse_r_call(name: str, text: str, end: int) -> None:
    """Raise the hint for an R function written in a formula (``factor(x)``)."""
    arg = _call_argument(text, end)
    fix = _R_CALLS[name].format(arg=arg)
    why = _R_CALL_WHY[_R_CALLS[name]].format(arg=arg)
    raise FormulaError(
        f"formula: {name}({arg}) is R syntax, which patsy (and so mixedkit) does not know; "
        f"write {fix} instead ({why})"
    )


def _rewrite_names(text: str, names: NameMap, columns) -> tuple[str, list[str]]:
    """Replace column references in ``text`` by safe names; return the columns used."""
    colset = set(names.safe)
    out: list[str] = []
    used: list[str] = []
    unknown: list[str] = []

    def use(col: str) -> str:
        if col not in colset:
            unknown.append(col)
            return col
        if col not in used:
            used.append(col)
        return names.safe[col]

    for m in TOKEN.finditer(text):
        tok = m.group(0)
        if m.group("backtick") is not None:
            out.append(use(tok[1:-1]))
        elif m.group("q") is not None:
            out.append(use(m.group("qname")))
        elif m.group("ident") is not None:
            rest = text[m.end():].lstrip()
            is_call = rest.startswith("(")
            is_kwarg = rest.startswith("=") and not rest.startswith("==")
            if tok in colset and not is_call:
                out.append(use(tok))
            elif is_call and tok in _R_CALLS:
                _refuse_r_call(tok, text, m.end())
            elif is_call or is_kwarg or tok in _FORMULA_WORDS or tok.split(".")[0] == "np":
                out.append(tok)
            else:
                out.append(use(tok))
        else:
            out.append(tok)
    if unknown:
        name = unknown[0]
        raise ColumnNotFoundError(
            f"formula: column {name!r} is not in data; {did_you_mean(name, list(columns))} "
            "Check the spelling, or write names with spaces or symbols in backticks: `my column`."
        )
    return "".join(out), used


def _split_top(text: str, sep: str) -> list[str]:
    """Split ``text`` on ``sep`` where it is not inside parentheses."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        ch = text[i]
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
            if depth < 0:
                raise FormulaError(f"formula: unbalanced ')' at position {i} in {text!r}")
        elif depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            i += len(sep)
            start = i
            continue
        i += 1
    if depth != 0:
        raise FormulaError(f"formula: unbalanced '(' in {text!r}; close every parenthesis")
    parts.append(text[start:])
    return parts


def _split_terms(rhs: str) -> list[str]:
    """Split a right-hand side into additive terms, keeping a leading '-' on its term."""
    terms = []
    for chunk in _split_top(rhs, "+"):
        pieces = _split_top(chunk, "-")
        first, rest = pieces[0], pieces[1:]
        if first.strip():
            terms.append(first.strip())
        terms.extend("-" + p.strip() for p in rest if p.strip())
    return terms


def _join_terms(terms: list[str]) -> str:
    text = terms[0]
    for t in terms[1:]:
        text += f" - {t[1:].strip()}" if t.startswith("-") else f" + {t}"
    return text


def _is_random(term: str) -> bool:
    t = term.strip()
    if not (t.startswith("(") and t.endswith(")")):
        return False
    inner = t[1:-1]
    try:
        return len(_split_top(inner, "|")) > 1
    except FormulaError:
        return False


def _parse_random(term: str, names: NameMap) -> list[RandomTerm]:
    source = names.restore(term.strip())
    inner = term.strip()[1:-1]
    double = len(_split_top(inner, "||")) == 2
    pieces = _split_top(inner, "||") if double else _split_top(inner, "|")
    if len(pieces) != 2 or not pieces[0].strip() or not pieces[1].strip():
        raise FormulaError(
            f"formula: random term {source} must look like (terms | group), e.g. (1 | Subject) "
            "or (1 + Days | Subject)"
        )
    lhs, rhs = pieces
    intercept = True
    exprs: list[str] = []
    for item in _split_terms(lhs):
        item = item.strip()
        if item in ("1", "+1"):
            intercept = True
        elif item in ("0", "-1", "- 1"):
            intercept = False
        elif item.startswith("-"):
            raise FormulaError(f"formula: cannot remove {item[1:]!r} inside random term {source}")
        else:
            exprs.append(item)
    if not intercept and not exprs:
        raise FormulaError(f"formula: random term {source} has no terms left of '|'")

    chain = [p.strip() for p in _split_top(rhs, "/")]
    factors: list[tuple[str, ...]] = []
    prefix: tuple[str, ...] = ()
    for link in chain:
        cols = tuple(c.strip() for c in link.split(":"))
        for c in cols:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", c):
                raise FormulaError(
                    f"formula: grouping factor {names.restore(c)!r} in {source} must be a column "
                    "name (use a/b for nesting and a:b for an interaction)"
                )
        prefix = cols + prefix  # lme4 names b within a "b:a", and so do its levels
        factors.append(prefix)
    factors.reverse()  # lme4's findbars lists the innermost factor first: (1 | b:a) + (1 | a)

    if double:  # lme4's expandDoubleVerts: one term per column of the expanded products
        exprs = list(dict.fromkeys(t for e in exprs for t in _expand_product(e)))
    terms = []
    for fac in factors:
        if double:
            if intercept:
                terms.append(RandomTerm((), True, fac, False, source))
            terms.extend(RandomTerm((e,), False, fac, False, source) for e in exprs)
        else:
            terms.append(RandomTerm(tuple(exprs), intercept, fac, True, source))
    return terms


def _expand_product(expr: str) -> list[str]:
    """``a*b*c`` as R's ``terms()`` expands it: main effects, then two-way interactions, ...
    in order of appearance (``a``, ``b``, ``c``, ``a:b``, ``a:c``, ``b:c``, ``a:b:c``); other
    expressions (``x``, ``a:b``, ``I(x**2)``) unchanged."""
    if "**" in expr:
        return [expr]
    pieces = [p.strip() for p in _split_top(expr, "*")]
    if len(pieces) == 1:
        return [expr]
    return [":".join(combo) for r in range(1, len(pieces) + 1)
            for combo in itertools.combinations(pieces, r)]


def _check_response_not_on_rhs(lhs: str, rhs: str, names: NameMap) -> None:
    """A response column that also appears right of '~' (``y ~ x + (y | g)``) is a mistake."""
    if lhs not in names.original:  # a transformed response, e.g. np.log(y)
        return
    if re.search(rf"(?<![\w.]){re.escape(lhs)}(?![\w.])", rhs):
        user = names.original[lhs]
        where = next((names.restore(t) for t in _split_terms(rhs)
                      if re.search(rf"(?<![\w.]){re.escape(lhs)}(?![\w.])", t)), rhs)
        raise FormulaError(
            f"formula: the response {user!r} also appears right of '~' (in {where}); a column "
            "cannot predict itself. Remove it from the right-hand side, or put the intended "
            "predictor there"
        )


# mmrm's residual covariance structures: us(visit | subject), ar1(visit | arm/subject), ...
_RESIDUAL_TERM = re.compile(r"^(us|cs|csh|ar1|ar1h|toep|toeph|ad|adh|sp_exp)\s*\((.*\|.*)\)$",
                            re.DOTALL)


def _parse_residual(term: str, names: NameMap) -> ResidualTerm:
    """``kind(within | subject)`` or ``kind(within | by / subject)``, checked."""
    source = names.restore(term)
    kind, inner = _RESIDUAL_TERM.match(term).groups()
    what = "time" if kind == "sp_exp" else "visit"
    pieces = _split_top(inner, "|")
    chain = [p.strip() for p in _split_top(pieces[1], "/")] if len(pieces) == 2 else []
    within = pieces[0].strip() if len(pieces) == 2 else ""
    name = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
    if (len(pieces) != 2 or not name.fullmatch(within) or len(chain) not in (1, 2)
            or not all(name.fullmatch(c) for c in chain)):
        raise FormulaError(
            f"formula: residual structure {source} must look like {kind}({what} | subject) "
            f"or {kind}({what} | group / subject): one {what} column left of '|', the "
            "subject column (and a grouping column such as the arm, for a structure per "
            "group) right of it"
        )
    return ResidualTerm(kind, within, chain[-1], chain[0] if len(chain) == 2 else None,
                        source)


def parse_formula(formula, columns) -> tuple[ParsedFormula, NameMap]:
    """Parse an lme4-style formula against the columns of the data.

    Parameters
    ----------
    formula : str
        For example ``"Reaction ~ Days + (Days | Subject)"``.
    columns : sequence of str
        Column names of the data.

    Returns
    -------
    ParsedFormula, NameMap

    Raises
    ------
    InputTypeError, FormulaError, ColumnNotFoundError
    """
    if not isinstance(formula, str):
        raise InputTypeError(
            f"formula must be a string such as 'y ~ x + (1 | group)'; got {type(formula).__name__}"
        )
    names = NameMap.for_columns(columns)
    sides = _split_top(formula, "~")
    if len(sides) != 2 or not sides[0].strip() or not sides[1].strip():
        raise FormulaError(
            f"formula {formula!r} must have one '~' with the response on its left and terms on "
            "its right, e.g. 'Reaction ~ Days + (Days | Subject)'"
        )
    text, used = _rewrite_names(formula, names, columns)
    if "Intercept" in used:
        raise FormulaError(
            "formula: column 'Intercept' has the name every table gives the intercept, so "
            "its coefficient could not be told apart; rename it, e.g. "
            "data = data.rename(columns={'Intercept': 'intercept_x'})"
        )
    lhs, rhs = _split_top(text, "~")
    _check_response_not_on_rhs(lhs.strip(), rhs, names)
    fixed, random, residual = [], [], []
    for term in _split_terms(rhs):
        if _is_random(term):
            random.extend(_parse_random(term, names))
        elif _RESIDUAL_TERM.match(term.strip()):
            residual.append(_parse_residual(term.strip(), names))
        elif "|" in term:
            raise FormulaError(
                f"formula: {names.restore(term)!r} uses '|' outside parentheses; write random "
                "terms in parentheses, e.g. (1 | Subject)"
            )
        else:
            fixed.append(term)
    if len(residual) > 1:
        raise FormulaError(
            f"formula: {residual[0].source} and {residual[1].source} are two residual "
            "structures; a model has one residual covariance (for a structure per group, "
            f"write {residual[0].kind}({names.restore(residual[0].within)} | group / "
            f"{names.restore(residual[0].subject)}))"
        )
    fixed_rhs = _join_terms(fixed) if fixed else "1"
    parsed = ParsedFormula(
        text=formula,
        response=lhs.strip(),
        fixed_rhs=fixed_rhs,
        random=tuple(random),
        columns=tuple(used),
        residual=residual[0] if residual else None,
    )
    return parsed, names


_VC_INTERCEPT = re.compile(r"^\s*0\s*\+\s*C\(\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\)\s*$")
_VC_SLOPE = re.compile(r"^\s*0\s*\+\s*([A-Za-z_][A-Za-z0-9_.]*)\s*$")


def terms_from_keywords(
    groups: str, re_formula, vc_formula, names: NameMap, columns, categorical
) -> tuple[list[RandomTerm], list[str]]:
    """Random terms for statsmodels-style ``groups=``, ``re_formula=``, ``vc_formula=``.

    ``categorical`` is a callable telling whether a column is categorical (so that
    ``vc_formula={"cask": "0 + cask"}`` on a string column means a nested intercept).
    Returns the terms and the user columns they use.
    """
    used: list[str] = [groups]
    g = names.safe[groups]
    terms: list[RandomTerm] = []
    if re_formula is None:
        if not vc_formula:
            terms.append(RandomTerm((), True, (g,), True, f"(1 | {groups})"))
    else:
        if not isinstance(re_formula, str):
            raise FormulaError(
                f"re_formula must be a string such as '~Days' or '1'; got {re_formula!r}"
            )
        text, cols = _rewrite_names(re_formula.strip().lstrip("~"), names, columns)
        used += cols
        items = [t.strip() for t in _split_terms(text)]
        intercept = not any(t in ("0", "-1") for t in items)
        exprs = tuple(t for t in items if t not in ("0", "-1", "1", "+1"))
        if intercept or exprs:
            src = f"re_formula={re_formula!r}, groups={groups!r}"
            terms.append(RandomTerm(exprs, intercept, (g,), True, src))
    if vc_formula is not None and not isinstance(vc_formula, Mapping):
        raise InputTypeError(
            "vc_formula must be a dict of variance-component formulas such as "
            f"{{'cask': '0 + C(cask)'}}; got {type(vc_formula).__name__} {vc_formula!r}"
        )
    for name, vcf in dict(vc_formula or {}).items():
        src = f"vc_formula={{{name!r}: {vcf!r}}}"
        if not isinstance(vcf, str):
            raise FormulaError(f"{src}: each variance-component formula must be a string")
        text, cols = _rewrite_names(vcf, names, columns)
        used += cols
        m_int, m_slope = _VC_INTERCEPT.match(text), _VC_SLOPE.match(text)
        if m_int or (m_slope and categorical(names.original[m_slope.group(1)])):
            col = (m_int or m_slope).group(1)
            terms.append(RandomTerm((), True, (g, col), True, src))
        elif m_slope:
            terms.append(RandomTerm((m_slope.group(1),), False, (g,), False, src))
        else:
            raise FormulaError(
                f"{src}: mixedkit understands variance components of the form '0 + C(f)' "
                "(a random intercept for each level of f within each group) or '0 + x' "
                "(an uncorrelated random slope); write other structures in lme4 syntax, "
                "e.g. 'y ~ x + (1 | g/f)'"
            )
    return terms, list(dict.fromkeys(used))
