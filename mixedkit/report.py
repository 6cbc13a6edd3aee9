"""``fit.report()``: a paste-ready methods-and-results paragraph in APA style.

The paragraph says how the model was fitted (REML or ML, the random structure, the df
method), then each fixed-effect term: a single coefficient as b, its standard error, 95 %
CI and t(df); a term of several coefficients (a factor, an interaction with one) as its
F(num df, den df) test followed by its coefficients; then the SDs of the variance
components. p-values are written as APA asks: no leading zero, three decimals, "p < .001"
below that. Every number is one that the fit's own tables hold (``fixed_effects``,
``anova()``, ``variance_components``), rounded for print.

The report is text first (``str(report)``, ``report.text``); ``report.markdown`` and
``report.html`` set the statistics' symbols in italics, and a notebook renders the HTML.
What the paragraph cannot say (a singular fit, a convergence warning) follows it as a
"check before pasting" line, outside the paragraph.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._version import __version__

__all__ = ["FitReport", "apa_p", "fit_report"]

_DF_WORDS = {"satterthwaite": "Satterthwaite's", "kenward-roger": "Kenward–Roger's"}
_STRUCTURES = {"us": "unstructured", "cs": "compound-symmetric",
               "csh": "heterogeneous compound-symmetric", "ar1": "first-order autoregressive",
               "ar1h": "heterogeneous first-order autoregressive", "toep": "Toeplitz",
               "toeph": "heterogeneous Toeplitz", "ad": "ante-dependence",
               "adh": "heterogeneous ante-dependence", "sp_exp": "spatial exponential"}
# symbols set in italics in Markdown and HTML (APA): b, SE, CI stays roman, t, F, z, p, SD
_SYMBOL = re.compile(r"\b(b|SE|t|F|z|p|SD)(?= ?[=<>(]| tests)")


def apa_p(p: float) -> str:
    """A p-value as APA style writes it: ``"p = .023"``, ``"p < .001"``, ``"p > .999"``.

    Parameters
    ----------
    p : float
        The p-value.

    Returns
    -------
    str
        ``"p"`` and the value without a leading zero, three decimals; ``"p = NaN"`` when
        the test could not be computed.

    Examples
    --------
    >>> apa_p(0.0231), apa_p(3.9e-07), apa_p(0.05)
    ('p = .023', 'p < .001', 'p = .050')
    """
    if p is None or not np.isfinite(p):
        return "p = NaN"
    if p < 0.001:
        return "p < .001"
    if p > 0.999:
        return "p > .999"
    return "p = " + f"{p:.3f}".lstrip("0")


@dataclass(frozen=True)
class FitReport:
    """A paste-ready paragraph describing a fit (returned by ``fit.report()``).

    ``print(report)`` shows the text; in a notebook the report renders as HTML. Check it
    before pasting: it states what was fitted, not whether the model suits the question.

    Attributes
    ----------
    methods : str
        How the model was fitted (one or two sentences).
    results : str
        The fixed effects and the variance components.
    caveats : tuple of str
        What ``fit.health`` flags (a singular fit, a convergence problem): to read, not to
        paste.
    """

    methods: str
    results: str
    caveats: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """The paragraph in plain text, the caveats after it."""
        body = f"{self.methods} {self.results}"
        if self.caveats:
            body += "\n\nCheck before pasting: " + " ".join(self.caveats)
        return body

    @property
    def markdown(self) -> str:
        """The paragraph in Markdown, statistics' symbols in italics."""
        body = _SYMBOL.sub(r"*\1*", f"{self.methods} {self.results}")
        if self.caveats:
            body += "\n\n**Check before pasting:** " + " ".join(self.caveats)
        return body

    @property
    def html(self) -> str:
        """The paragraph as HTML, statistics' symbols in italics."""
        marked = _SYMBOL.sub("\x01\\1\x02", f"{self.methods} {self.results}")
        body = html.escape(marked, quote=False).replace("\x01", "<i>").replace("\x02", "</i>")
        # keep "b = 3.89" and "p < .001" on one line
        body = re.sub(r"</i>(\([^)]*\))? (=|&lt;|&gt;) ", r"</i>\1&nbsp;\2&nbsp;", body)
        out = f'<p class="mk-report">{body}</p>'
        if self.caveats:
            out += ("<p><b>Check before pasting:</b> "
                    + html.escape(" ".join(self.caveats), quote=False) + "</p>")
        return out

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        return f'<div class="mk-report">{self.html}</div>'

    def _repr_markdown_(self) -> str:
        return self.markdown


def fit_report(fit, df_method: str | None = None) -> FitReport:
    """The :class:`FitReport` of ``fit`` (``fit.report()``'s implementation)."""
    method = fit.df_method if df_method is None else df_method
    anova = fit.anova(df_method=df_method)
    fixed = fit._fixed_table(df_method)
    level = f"{fit.conf_level:.0%}"
    return FitReport(methods=_methods(fit, method, anova, level),
                     results=_results(fit, fixed, anova, level),
                     caveats=tuple(_caveats(fit)))


# ------------------------------------------------------------------------ methods
def _methods(fit, df_method: str, anova: pd.DataFrame, level: str) -> str:
    response = fit.formula.split("~", 1)[0].strip()
    terms = [_label(t) for t in anova["term"]]
    fixed = f"fixed effects of {_join(terms)}" if terms else "an intercept only"
    random, structure = _random_phrase(fit), _structure_phrase(fit)
    parts = [p for p in (random, structure) if p]
    estimation = ("restricted maximum likelihood (REML)" if fit.reml
                  else "maximum likelihood (ML)")
    model = "linear mixed model" if random else \
        "linear model for repeated measures (MMRM)" if structure else "linear model"
    sentence = (f"We fitted a {model} to {response} ({fit.n_obs} observations"
                f"{_groups_phrase(fit)}) with {fixed}"
                + (f" and {_join(parts)}" if parts else "")
                + f", by {estimation} in mixedkit {__version__}.")
    if anova.empty:
        tests = (f"The intercept's {level} confidence interval uses "
                 + ("the normal distribution." if df_method == "normal" else
                    f"{_DF_WORDS[df_method]} degrees of freedom."))
    elif df_method == "normal":
        tests = ("Fixed effects were tested with Wald z and chi-square tests (no small-sample "
                 f"correction); intervals are Wald {level} confidence intervals.")
    else:
        kr = " and standard errors" if df_method == "kenward-roger" else ""
        anova_type = anova.attrs.get("type", "III")
        f_tests = f" and Type {anova_type} F tests" if (anova["num_df"] > 1).any() else ""
        tests = (f"Fixed effects were tested with t tests{f_tests} using "
                 f"{_DF_WORDS[df_method]} degrees of freedom{kr}; intervals are {level} "
                 "confidence intervals on the same degrees of freedom.")
    if getattr(fit, "vcov_type", "model") == "empirical":
        tests = tests[:-1] + ", with sandwich (empirical) standard errors."
    return f"{sentence} {tests}"


def _groups_phrase(fit) -> str:
    groups = [f"{n} levels of {g}" for g, n in fit.n_groups.items()]
    return f" from {_join(groups)}" if groups else ""


def _random_phrase(fit) -> str:
    vc = fit.variance_components
    vc = vc[~vc["group"].str.startswith("Residual")]  # "Residual: A" per arm
    phrases = []
    for group, rows in vc.groupby("group", sort=False):
        terms = [t for t in rows["term"] if not t.startswith("corr(")]
        kinds = ["random intercepts" if t == "Intercept" else f"random slopes for {_label(t)}"
                 for t in terms]
        corr = rows["term"].str.startswith("corr(").any()
        how = "" if len(terms) < 2 else " (correlated)" if corr else " (uncorrelated)"
        phrases.append(f"{_join(kinds)} by {group}{how}")
    return _join(phrases)


def _structure_phrase(fit) -> str:
    structure = getattr(fit, "structure", None)
    if structure is None:
        return ""
    term = fit.state.design.term
    prep = fit.state.prep
    by = "" if term.by is None else f", one per level of {prep.user(term.by)}"
    over = "time" if structure == "sp_exp" else ""
    within = f"{over} {prep.user(term.within)}".strip()
    name = _STRUCTURES.get(structure, structure)
    article = "an" if name[0] in "aeiou" else "a"
    return (f"{article} {name} ({structure}) residual covariance over {within} within "
            f"{prep.user(term.subject)}{by}")


# ------------------------------------------------------------------------ results
def _results(fit, fixed: pd.DataFrame, anova: pd.DataFrame, level: str) -> str:
    fixed = fixed.set_index("term")
    slices = fit.state.design_info.term_name_slices
    names = list(fixed.index)
    sentences = []
    if "Intercept" in fixed.index:
        row = fixed.loc["Intercept"]
        dec = _decimals(row["std_error"])
        sentences.append(f"The intercept was b = {row['estimate']:.{dec}f}, "
                         f"{level} CI [{_ci(row, dec)}].")
    for _, test in anova.iterrows():
        coefs = names[slices[test["term"]]] if test["term"] in slices else []
        label = _label(test["term"])
        if test["num_df"] == 1 and len(coefs) == 1:
            sentences.append(f"{label}: {_coefficient(fixed.loc[coefs[0]], level)}.")
        else:
            f_test = (f"F({test['num_df']}, {_df(test['den_df'])}) = {test['statistic']:.2f}, "
                      f"{apa_p(test['p_value'])}")
            each = "; ".join(f"{_label(c)}: {_coefficient(fixed.loc[c], level)}"
                             for c in coefs)
            sentences.append(f"{label}: {f_test}" + (f" (coefficients: {each})" if each else "")
                             + ".")
    sentences.append(_variance_sentence(fit))
    return " ".join(s for s in sentences if s)


def _coefficient(row: pd.Series, level: str) -> str:
    dec = _decimals(row["std_error"])
    df = row.get("df", np.inf)
    stat = "z" if not np.isfinite(df) else f"t({_df(df)})"
    return (f"b = {row['estimate']:.{dec}f}, SE = {row['std_error']:.{dec}f}, {level} CI "
            f"[{_ci(row, dec)}], {stat} = {row['statistic']:.2f}, {apa_p(row['p_value'])}")


def _variance_sentence(fit) -> str:
    vc = fit.variance_components
    parts = []
    for group, rows in vc.groupby("group", sort=False):
        sds = rows[~rows["term"].str.startswith("corr(")]
        corrs = rows[rows["term"].str.startswith("corr(")]
        if group.startswith("Residual"):
            part = _residual_phrase(sds, corrs)
            arm = group.partition(": ")[2]
            parts.append(part.replace("residual SD", f"residual SD ({arm})", 1) if arm else part)
            continue
        each = [f"{'intercepts' if t == 'Intercept' else 'slopes for ' + _label(t)} "
                f"SD = {sd:.{_decimals(sd)}f}" for t, sd in zip(sds["term"], sds["std_dev"])]
        corr = ""
        if len(corrs) == 1:
            corr = f" (correlation {corrs['corr'].iloc[0]:.2f})"
        elif len(corrs) > 1:
            corr = (f" (correlations {corrs['corr'].min():.2f} to "
                    f"{corrs['corr'].max():.2f})")
        parts.append(f"by {group}, {_join(each)}{corr}")
    if not parts:
        return ""
    random = any(not p.startswith("residual") for p in parts)
    return (("Random-effect standard deviations: " if random else "Standard deviations: ")
            + "; ".join(parts) + ".")


def _residual_phrase(sds: pd.DataFrame, corrs: pd.DataFrame) -> str:
    if len(sds) == 1:
        sd = sds["std_dev"].iloc[0]
        text = f"residual SD = {sd:.{_decimals(sd)}f}"
    else:
        low, high = sds.loc[sds["std_dev"].idxmin()], sds.loc[sds["std_dev"].idxmax()]
        dec = _decimals(low["std_dev"])
        text = (f"residual SD from {low['std_dev']:.{dec}f} ({low['term']}) to "
                f"{high['std_dev']:.{dec}f} ({high['term']})")
    if len(corrs) == 1:
        what = corrs["term"].iloc[0].removeprefix("corr(").removesuffix(")")
        text += f", residual correlation ({what}) {corrs['corr'].iloc[0]:.2f}"
    elif len(corrs) > 1:
        text += (f", residual correlations from {corrs['corr'].min():.2f} to "
                 f"{corrs['corr'].max():.2f}")
    return text


def _caveats(fit) -> list[str]:
    problems = fit.health.problems
    if not problems:
        return []
    parts = []
    for severity in ("error", "warning"):
        checks = [f.check for f in problems if f.severity == severity]
        if checks:
            parts.append(f"{len(checks)} {severity}{'s' if len(checks) > 1 else ''} "
                         f"({'; '.join(checks)})")
    return [f"fit.health flags {' and '.join(parts)}; read why and what to do there."]


# ------------------------------------------------------------------------ numbers
def _decimals(scale: float) -> int:
    """Decimals that show ``scale`` (a standard error or an SD) with two significant
    digits, at least two."""
    if not np.isfinite(scale) or scale <= 0:
        return 2
    return max(2, 1 - math.floor(math.log10(scale)))


def _ci(row: pd.Series, dec: int) -> str:
    return f"{row['conf_low']:.{dec}f}, {row['conf_high']:.{dec}f}"


def _df(df: float) -> str:
    if not np.isfinite(df):
        return "inf"
    return f"{round(df)}" if abs(df - round(df)) < 0.05 else f"{df:.1f}"


def _label(term: str) -> str:
    """A term or coefficient as prose writes it: ``Time:Evit`` -> ``Time × Evit``,
    ``Type[T.T2]`` -> ``Type T2``."""
    term = re.sub(r"\[T\.([^\]]+)\]", r" \1", term)
    term = re.sub(r"\[([^\]]+)\]", r" \1", term)
    return term.replace(":", " × ")


def _join(items: list[str]) -> str:
    items = [i for i in items if i]
    if len(items) < 3:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]
