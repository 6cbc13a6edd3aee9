"""Text and HTML rendering of a fit. Rounding happens here and only here."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from ._version import __version__
from .arguments import df_heading
from .errors import MixedkitError
from .inference.hypotheses import fixed_terms
from .inference.variance import icc_values, r2_values, variance_parts
from .model.repeated import STRUCTURE_NAMES

__all__ = ["AnovaTable", "format_number", "format_p", "repeated_summary_html",
           "repeated_summary_text", "summary_html", "summary_text"]


class AnovaTable(pd.DataFrame):
    """A DataFrame whose text display starts with the test's heading (``attrs["heading"]``)
    and rounds to four significant digits (the stored numbers keep full precision)."""

    @property
    def _constructor(self):
        return AnovaTable

    def _show_index(self) -> bool:
        # the default 0..n-1 says nothing; an index the user set (set_index("term"),
        # concat keys) is the table's labels
        return not (isinstance(self.index, pd.RangeIndex) and self.index.start == 0
                    and self.index.step == 1)

    def __repr__(self) -> str:
        heading = self.attrs.get("heading", "")
        body = pd.DataFrame(self).to_string(index=self._show_index(),
                                            float_format=lambda v: f"{v:.4g}")
        return f"{heading}\n{body}" if heading else body

    def _repr_html_(self) -> str:
        heading = self.attrs.get("heading", "")
        body = pd.DataFrame(self).to_html(index=self._show_index(),
                                          float_format=lambda v: f"{v:.4g}")
        return f"<p><b>{html.escape(heading)}</b></p>{body}" if heading else body


def format_number(x, digits: int = 5) -> str:
    """Five significant digits, trailing zeros kept so columns line up."""
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return ""
    if isinstance(x, (int, np.integer)):
        return str(x)
    if x == 0:
        return "0"
    return f"{x:#.{digits}g}".rstrip(".")


def format_p(p: float) -> str:
    """A p-value as tables show it: three significant digits, ``<1e-16`` below that."""
    return "<1e-16" if p < 1e-16 else f"{p:.3g}"


def _criteria(fit) -> list[tuple[str, str]]:
    label = " (REML)" if fit.reml else ""
    return [
        ("logLik" + label, f"{fit.loglik:.3f}"),
        ("AIC" + label, f"{fit.aic:.2f}"),
        ("BIC" + label, f"{fit.bic:.2f}"),
    ]


def _variance_line(fit) -> str:
    parts = variance_parts(fit.state)
    icc = icc_values(parts, 1.0)
    adjusted = next(v for (g, k), v in icc.items() if k == "adjusted")
    r2 = r2_values(parts)
    return (f"ICC (adjusted) {adjusted:.3f}   R² marginal {r2['marginal']:.3f}, "
            f"conditional {r2['conditional']:.3f}")


def _data_line(fit) -> str:
    groups = ", ".join(f"{g} {n}" for g, n in fit.n_groups.items())
    dropped = f" ({fit.n_dropped} dropped for missing values)" if fit.n_dropped else ""
    return f"{fit.n_obs} rows{dropped}; groups: {groups}"


def _fixed_display(fit) -> pd.DataFrame:
    fe = fit.fixed_effects
    pct = f"{fit.conf_level:.0%}"
    return pd.DataFrame({
        "term": fe["term"], "estimate": fe["estimate"].map(format_number),
        "std_error": fe["std_error"].map(format_number), "statistic": fe["statistic"].map(format_number),
        "df": fe["df"].map(lambda d: "" if not np.isfinite(d) else f"{d:.1f}"),
        "p_value": fe["p_value"].map(format_p),
        f"{pct} CI": [f"[{format_number(lo)}, {format_number(hi)}]" for lo, hi in zip(fe["conf_low"], fe["conf_high"])],
    })


def _anova_display(fit) -> pd.DataFrame | None:
    """The Type III table, shown when a term has more than one degree of freedom (a
    factor's single coefficients do not test the factor)."""
    if not any(len(t.columns) > 1 for t in fixed_terms(fit.state)):
        return None
    try:
        table = fit.anova()
    except (MixedkitError, np.linalg.LinAlgError, ValueError):
        return None
    shown = pd.DataFrame({
        "term": table["term"], "F": table["statistic"].map(format_number),
        "num_df": table["num_df"].astype(str),
        "den_df": table["den_df"].map(lambda d: "" if not np.isfinite(d) else f"{d:.1f}"),
        "p_value": table["p_value"].map(format_p),
    })
    shown.attrs["heading"] = table.attrs["heading"]
    return shown


def _random_display(fit) -> pd.DataFrame:
    vc = fit.variance_components
    return pd.DataFrame({
        "group": vc["group"], "term": vc["term"], "variance": vc["variance"].map(format_number),
        "std_dev": vc["std_dev"].map(format_number), "corr": vc["corr"].map(lambda c: format_number(c, 3)),
    })


def summary_text(fit) -> str:
    """The text summary shown by ``fit.summary()`` and ``repr(fit)``."""
    lines = [
        (f"Linear mixed model fit by {fit.method} (mixedkit {__version__}: "
         f"{_likelihood_source(fit)}, {fit.engine} engine)"),
        f"Formula: {fit.formula}" + (f"; {fit.state.prep.keywords}" if fit.state.prep.keywords
                                      else ""),
        # statsmodels-style arguments: the same model as lme4 writes it
        *([f"lme4:    {fit.lme4_formula}"] if fit.state.prep.keywords else []),
        *([f"Weights: {fit.state.prep.weights_name}"] if fit.state.design.weights is not None
          else []),
        f"Data:    {_data_line(fit)}",
        "  ".join(f"{k}: {v}" for k, v in _criteria(fit)),
        _variance_line(fit),
        "",
        "Random effects:",
        _random_display(fit).to_string(index=False),
        "",
        f"Fixed effects ({df_heading(fit.df_method)} inference):",
        _fixed_display(fit).to_string(index=False),
        "",
    ]
    lines += _anova_and_health_lines(fit, ("convergence", "singular"))
    lines += ["", "statsmodels equivalent:", f"  {_statsmodels_line(fit)}"]
    return "\n".join(lines)


def _anova_and_health_lines(fit, headline: tuple[str, ...]) -> list[str]:
    """The summary's F tests (when a term has several df), then its health: problems and
    the ``headline`` checks one line each, the rest counted."""
    lines = []
    anova = _anova_display(fit)
    if anova is not None:
        lines += [anova.attrs["heading"] + ":", anova.to_string(index=False), ""]
    lines.append(f"Health: {fit.health.verdict}")
    lines += ["  " + f.line() for f in fit.health if f.severity in ("error", "warning") or
              f.check in headline]
    quiet = [f for f in fit.health if f.severity in ("note", "ok") and f.check not in headline]
    if quiet:
        lines.append(f"  ({len(quiet)} more checks passed or are notes: fit.health)")
    return lines


STATSMODELS_LINE_COLUMNS = ["statsmodels", "estimate", "table", "group", "term", "column",
                            "note"]


def statsmodels_lines(fit) -> pd.DataFrame:
    """Each line of statsmodels' ``summary()`` for ``fit.statsmodels_call``, and the cell of
    mixedkit's tables that holds the same number (see :meth:`LmmFit.statsmodels_lines`)."""
    design = fit.state.design
    design.require_statsmodels("fit.statsmodels_lines()")
    vc = fit.variance_components.set_index(["group", "term"])
    se = "Std.Err. can differ slightly (statsmodels: the joint observed information of " \
        "every parameter; mixedkit: (X'V^-1 X)^-1, as lme4's vcov)"
    test = "z and P>|z| are normal tests without df" if fit.df_method != "normal" else \
        "z and P>|z| are the same normal tests"
    rows = [[term, est, "fixed_effects", "", term, "estimate", f"Coef.; {se}; {test}."]
            for term, est in zip(fit.fixed_effects["term"], fit.fixed_effects["estimate"])]
    not_for_inference = ("its Std.Err. is not for tests or intervals (a variance is bounded "
                         "at 0 and skewed): use fit.confint()")

    def variance(label, group, term):
        rows.append([f"{label} Var", vc.loc[(group, term), "variance"], "variance_components",
                     group, term, "variance",
                     (f"variance of the random {term!r} across {group!r}; std_dev is its "
                      f"square root; {not_for_inference}.")])

    block = design.re_block
    if block is not None:
        # statsmodels names the random intercept after the groups column ("Group" when
        # groups is not one column)
        label = block.group if len(block.term.factor) == 1 else "Group"
        names = [label if t == "Intercept" else t for t in block.terms]
        for i, ti in enumerate(block.terms):
            for j, tj in enumerate(block.terms[:i]):
                term = f"corr({tj}, {ti})"
                rows.append([f"{names[j]} x {names[i]} Cov", vc.loc[(block.group, term),
                                                                    "covariance"],
                             "variance_components", block.group, term, "covariance",
                             ("covariance of the two random effects; corr, in the same row, "
                              "is it divided by both std_devs.")])
            variance(names[i], block.group, ti)
    for key, b in zip(design.vc_names, design.vc_blocks):
        variance(key, b.group, b.terms[0])
    rows.append(["Scale", fit.scale, "variance_components", "Residual", "", "variance",
                 "the residual variance (sigma^2); std_dev is the residual SD."])
    rows.append(["Log-Likelihood", fit.loglik, "fit", "", "", "loglik",
                 f"the same {fit.method} log-likelihood at the same optimum."])
    return pd.DataFrame(rows, columns=STATSMODELS_LINE_COLUMNS)


def _likelihood_source(fit) -> str:
    """Whose likelihood the fit maximised: statsmodels' where it can express the model,
    lme4's beyond it (the same function where both exist)."""
    return "statsmodels MixedLM's likelihood" if fit.state.design.expressible \
        else "lme4's likelihood (beyond statsmodels)"


def _statsmodels_line(fit) -> str:
    reason = fit.state.design.statsmodels_reason
    return fit.statsmodels_call if reason is None else f"none: {reason}"


_CSS = (
    "<style>"
    ".mk-card{font-family:-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif;"
    "font-size:13px;line-height:1.45;color:#1f2328;background:#fff;border:1px solid #d0d7de;"
    "border-radius:8px;padding:12px 16px 10px;max-width:880px;box-sizing:border-box;"
    "text-align:left}"
    ".mk-card .mk-head{display:flex;flex-wrap:wrap;align-items:baseline;gap:4px 10px;"
    "margin-bottom:6px}"
    ".mk-card .mk-title{font-size:15px;font-weight:600}.mk-card .mk-muted{color:#656d76}"
    "div.mk-card code{font-family:SFMono-Regular,Menlo,Consolas,'DejaVu Sans Mono',monospace;"
    "font-size:12px;background:#f6f8fa;border-radius:4px;padding:1px 5px;color:#1f2328}"
    ".mk-card .mk-formula{display:block;overflow-wrap:anywhere;margin:0 0 8px;padding:4px 8px;white-space:pre-wrap}"
    ".mk-card .mk-stats{display:flex;flex-wrap:wrap;gap:4px 22px;margin:0 0 4px}"
    ".mk-card .mk-stat{white-space:nowrap}.mk-card .mk-stat b{font-weight:600;color:#656d76;"
    "margin-right:5px}.mk-card .mk-num{font-variant-numeric:tabular-nums}"
    ".mk-card .mk-sec{font-weight:600;margin:12px 0 3px;padding-top:8px;"
    "border-top:1px solid #eaeef2}.mk-card .mk-sec span{font-weight:400;color:#656d76}"
    ".mk-card .mk-scroll{overflow-x:auto;max-width:100%}"
    ".mk-card table{border-collapse:collapse;border:none;margin:2px 0 4px;table-layout:auto;"
    "width:auto;font-size:13px;color:inherit}"
    ".mk-card table td,.mk-card table th{padding:2px 10px;text-align:right;border:none;"
    "font-variant-numeric:tabular-nums;vertical-align:baseline;background:transparent}"
    ".mk-card table.mk-tab td,.mk-card table.mk-tab th{white-space:nowrap}"
    ".mk-card table.dataframe{display:block;max-width:100%;overflow-x:auto}"
    ".mk-card table.dataframe td+td,.mk-card table.dataframe th+th{white-space:nowrap}"
    ".mk-card table th{font-weight:600;border-bottom:1px solid #8c959f;color:#424a53}"
    ".mk-card table td.mk-t,.mk-card table th.mk-t{text-align:left}"
    ".mk-card table td:first-child,.mk-card table th:first-child{padding-left:0}"
    ".mk-card table tbody tr:nth-child(odd),.mk-card table tbody tr:hover{background:transparent}"
    ".mk-card table tbody tr.mk-sep td{border-top:1px solid #eaeef2}"
    ".mk-card .mk-badges{display:flex;flex-wrap:wrap;gap:4px 6px;margin:4px 0}"
    ".mk-badge{display:inline-block;border-radius:10px;padding:1px 9px;font-size:12px;"
    "line-height:18px;white-space:nowrap;border:1px solid transparent;cursor:help}"
    ".mk-ok{background:#dafbe1;border-color:#aceebb;color:#116329}"
    ".mk-note{background:#ddf4ff;border-color:#b6e3ff;color:#0a3069}"
    ".mk-warning{background:#fff8c5;border-color:#eac54f;color:#633c01}"
    ".mk-error{background:#ffebe9;border-color:#ff8182;color:#82071e}"
    ".mk-card .mk-badge b{font-weight:700;margin-right:4px}"
    ".mk-card .mk-problem{display:flex;align-items:baseline;gap:8px;margin:3px 0}"
    ".mk-card .mk-problem .mk-badge{flex:none}"
    ".mk-card details.mk-report summary{cursor:pointer}.mk-card p.mk-report{margin:4px 0;"
    "line-height:1.45;max-width:60em}"
    ".mk-card .mk-foot{overflow-wrap:anywhere;margin-top:8px;font-size:12px;color:#656d76}"
    "</style>"
)

_ICON = {"error": "✗", "warning": "!", "note": "i", "ok": "✓"}


def _html_table(df: pd.DataFrame, text_cols: tuple[str, ...], labels: dict[str, str],
                sep_col: str | None = None) -> str:
    """A table with text columns left-aligned and number columns right-aligned.

    Repeated values in ``sep_col`` are blanked and a thin rule marks a new value.
    """
    esc = html.escape
    cls = {c: ' class="mk-t"' if c in text_cols else "" for c in df.columns}
    head = "".join(f"<th{cls[c]}>{esc(labels.get(c, c))}</th>" for c in df.columns)
    rows, prev = [], None
    for rec in df.to_dict("records"):
        cells, rule = [], ""
        for c in df.columns:
            val = "" if rec[c] is None else str(rec[c])
            if c == sep_col:
                rule = ' class="mk-sep"' if prev is not None and val != prev else ""
                val, prev = ("" if val == prev else val), val
            cells.append(f"<td{cls[c]}>{esc(val)}</td>")
        rows.append(f"<tr{rule}>{''.join(cells)}</tr>")
    return (f'<div class="mk-scroll"><table class="mk-tab"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def _stat(label: str, value: str, title: str = "") -> str:
    tip = f' title="{html.escape(title)}"' if title else ""
    return (f'<span class="mk-stat"{tip}><b>{html.escape(label)}</b>'
            f'<span class="mk-num">{html.escape(value)}</span></span>')


def _variance_stats(fit) -> list[str]:
    """ICC and R² as label/value pieces (the same numbers as the text summary)."""
    parts = variance_parts(fit.state)
    icc = icc_values(parts, 1.0)
    adjusted = next(v for (g, k), v in icc.items() if k == "adjusted")
    per_group = "; ".join(f"{g}: {v:.3f}" for (g, k), v in icc.items() if k == "adjusted")
    r2 = r2_values(parts)
    return [_stat("ICC (adjusted)", f"{adjusted:.3f}", f"adjusted ICC by group: {per_group}"),
            _stat("R² marginal", f"{r2['marginal']:.3f}", "variance explained by fixed effects"),
            _stat("R² conditional", f"{r2['conditional']:.3f}",
                  "variance explained by fixed and random effects")]


def _finding_title(f) -> str:
    return f"{f.check} ({f.severity}): {f.details(chr(10))}"


def _badge(f) -> str:
    return (f'<span class="mk-badge mk-{f.severity}" title="{html.escape(_finding_title(f))}">'
            f"<b>{_ICON[f.severity]}</b>{html.escape(f.check)}</span>")


def _health_html(fit) -> str:
    """Problems first, one line each with their numbers; then the rest as badges."""
    esc = html.escape
    ranked = list(fit.health.ranked)
    counts = {s: sum(f.severity == s for f in ranked) for s in _ICON}
    tally = " · ".join(f"{n} {s}{'s' if n > 1 and s != 'ok' else ''}"
                       for s, n in counts.items() if n)
    problems = "".join(
        f'<div class="mk-problem">{_badge(f)}<span>{esc(f.what)}</span></div>'
        for f in ranked if f.severity in ("error", "warning")
    )
    rest = "".join(_badge(f) for f in ranked if f.severity not in ("error", "warning"))
    return (
        f'<div class="mk-sec">Health: {esc(fit.health.verdict)} '
        f"<span>({esc(tally)}; hover a badge for why and what to do)</span></div>"
        + problems + (f'<div class="mk-badges">{rest}</div>' if rest else "")
    )


def summary_html(fit) -> str:
    """The one-card notebook view returned by ``fit._repr_html_()``."""
    esc = html.escape
    groups = ", ".join(f"{g} {n}" for g, n in fit.n_groups.items())
    dropped = f" ({fit.n_dropped} dropped for missing values)" if fit.n_dropped else ""
    fe_labels = {"std_error": "std. error", "p_value": "p-value",
                 "statistic": "z" if fit.df_method == "normal" else "t"}
    re_labels = {"std_dev": "std. dev.", "corr": "corr."}
    foot = f"<code>{esc(fit.statsmodels_call)}</code>" if fit.state.design.expressible \
        else esc(_statsmodels_line(fit))
    return (
        f'{_CSS}<div class="mk-card">'
        f'<div class="mk-head"><span class="mk-title">Linear mixed model</span>'
        f'<span class="mk-muted">fit by {esc(fit.method)} · mixedkit {esc(__version__)}'
        f"</span></div>"
        f'<code class="mk-formula">{esc(fit.formula)}</code>'
        f'<div class="mk-stats">{_stat("Rows", f"{fit.n_obs}{dropped}")}'
        f'{_stat("Groups", groups)}</div>'
        f'<div class="mk-stats">{"".join(_stat(k, v) for k, v in _criteria(fit))}</div>'
        f'<div class="mk-stats">{"".join(_variance_stats(fit))}</div>'
        f'<div class="mk-sec">Random effects</div>'
        f'{_html_table(_random_display(fit), ("group", "term"), re_labels, "group")}'
        f'<div class="mk-sec">Fixed effects '
        f"<span>({esc(df_heading(fit.df_method))} inference)</span></div>"
        f'{_html_table(_fixed_display(fit), ("term",), fe_labels)}'
        f"{_anova_html(fit)}"
        f"{_health_html(fit)}"
        f"{_report_html(fit)}"
        f'<div class="mk-foot">statsmodels: {foot}</div>'
        f"</div>"
    )


def _report_html(fit) -> str:
    """The paste-ready paragraph of ``fit.report()``, folded away under the health line
    (left out when its tests cannot be computed, as the F tests above are)."""
    try:
        paragraph = fit.report().html
    except (MixedkitError, np.linalg.LinAlgError, ValueError):
        return ""
    return ('<details class="mk-report"><summary class="mk-sec">Report <span>(paste-ready '
            "paragraph; <code>print(fit.report())</code> for text)</span></summary>"
            f"{paragraph}</details>")


def _anova_html(fit) -> str:
    table = _anova_display(fit)
    if table is None:
        return ""
    heading = html.escape(table.attrs["heading"].replace(" Analysis of Variance Table", ""))
    return (f'<div class="mk-sec">F tests <span>({heading})</span></div>'
            f'{_html_table(table, ("term",), {"p_value": "p-value", "num_df": "num df", "den_df": "den df"})}')


_COMPARISON_LABELS = {"n_params": "params", "loglik": "logLik", "aic": "AIC", "bic": "BIC",
                      "df_diff": "df", "p_value": "p", "p_value_naive": "p (naive)",
                      "p_value_boot": "p (bootstrap)"}


def _comparison_display(table: pd.DataFrame) -> pd.DataFrame:
    out = table.copy()
    for col in ("loglik", "aic", "bic", "chisq"):
        out[col] = out[col].map(lambda v: "" if pd.isna(v) else f"{v:.3f}")
    for col in ("p_value", "p_value_naive", "p_value_boot"):
        out[col] = out[col].map(lambda v: "" if pd.isna(v) else format_p(v))
    out["df_diff"] = out["df_diff"].map(lambda v: "" if pd.isna(v) else str(v))
    if table["p_value_boot"].isna().all():
        out = out.drop(columns="p_value_boot")
    return out.rename(columns=_COMPARISON_LABELS)


def comparison_text(comp) -> str:
    """Text of a ModelComparison: the table, then the notes."""
    lines = ["Model comparison", _comparison_display(comp.table).to_string(index=False), ""]
    lines += [f"- {note}" for note in comp.notes]
    return "\n".join(lines)


def comparison_html(comp) -> str:
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in comp.notes)
    return (f'{_CSS}<div class="mk-card"><b>Model comparison</b>'
            f"{_comparison_display(comp.table).to_html(index=False, border=0)}<ul>{notes}</ul></div>")


def reml_ml_text(comp) -> str:
    """Text of a RemlMlComparison."""
    t = comp.table.copy()
    for col in ("reml", "ml", "difference"):
        t[col] = t[col].map(format_number)
    t["relative_difference"] = comp.table["relative_difference"].map(
        lambda v: "" if pd.isna(v) else f"{v:+.1%}")
    lines = ["REML and ML fits of " + comp.reml_fit.formula, t.to_string(index=False), ""]
    lines += [f"- {note}" for note in comp.notes]
    return "\n".join(lines)


# ------------------------------------------------- models with a residual structure
def _structure_title(fit) -> str:
    name = STRUCTURE_NAMES[fit.structure]
    article = "an" if name[0].lower() in "aeiou" else "a"
    term = fit.state.design.term
    grouped = "" if term.by is None else f", one per level of {fit.state.prep.user(term.by)!r}"
    random = fit.state.prep.random
    model = "Linear model" if not random else \
        f"Linear mixed model with {' + '.join(dict.fromkeys(t.source for t in random))} and"
    return (f"{model} {'with ' if not random else ''}{article} {name} residual structure{grouped} "
            f"({fit.structure}), fit by {fit.method}")


def _covariance_display(fit) -> pd.DataFrame:
    """Each structure group's covariance (lower triangle and diagonal) and correlations
    (upper triangle), visits in time order."""
    table = fit.residual_covariance
    labels = table.attrs["visits"]
    out = []
    for group, part in table.groupby("group", sort=False):
        cov = part.pivot(index="visit", columns="with_visit", values="covariance") \
            .reindex(index=labels, columns=labels).to_numpy()
        corr = part.pivot(index="visit", columns="with_visit", values="corr") \
            .reindex(index=labels, columns=labels).to_numpy()
        for i, v in enumerate(labels):
            cells = [format_number(cov[j, i], 4) if j <= i else f"{corr[i, j]:.3f}"
                     for j in range(len(labels))]
            out.append([group if i == 0 else "", v, *cells])
    return pd.DataFrame(out, columns=["group", "visit", *labels])


def _random_lines(fit) -> list[str]:
    """The random effects beside a residual structure (none without random terms)."""
    if not fit.state.design.blocks:
        return []
    shown = _random_display(fit)
    shown = shown[~shown["group"].str.startswith("Residual")]
    return ["Random effects:", shown.to_string(index=False), ""]


def repeated_summary_text(fit) -> str:
    """The text summary of a :class:`~mixedkit.repeated.RepeatedMeasuresFit`."""
    vc = "sandwich (empirical) " if fit.vcov_type == "empirical" else ""
    lines = [
        f"{_structure_title(fit)} (mixedkit {__version__})",
        f"Formula: {fit.formula}",
        f"Data:    {_data_line(fit)}",
        "  ".join(f"{k}: {v}" for k, v in _criteria(fit)),
        "",
        *_random_lines(fit),
        "Residual covariance within a subject (lower: covariance, upper: correlation):",
        _covariance_display(fit).to_string(index=False),
        "",
        f"Fixed effects ({vc}{df_heading(fit.df_method)} inference):",
        _fixed_display(fit).to_string(index=False),
        "",
    ]
    lines += _anova_and_health_lines(fit, ("convergence", "structure boundary"))
    lines += ["", "statsmodels equivalent:", f"  none: {fit.state.design.statsmodels_reason}"]
    return "\n".join(lines)


def _random_html(fit) -> str:
    if not fit.state.design.blocks:
        return ""
    shown = _random_display(fit)
    shown = shown[~shown["group"].str.startswith("Residual")]
    return (f'<div class="mk-sec">Random effects</div>'
            f'{_html_table(shown, ("group", "term"), {"std_dev": "std. dev.", "corr": "corr."}, "group")}')


def repeated_summary_html(fit) -> str:
    """The notebook card of a :class:`~mixedkit.repeated.RepeatedMeasuresFit`."""
    esc = html.escape
    matrix = _covariance_display(fit)
    fe_labels = {"std_error": "std. error", "p_value": "p-value",
                 "statistic": "z" if fit.df_method == "normal" else "t"}
    vc = "sandwich, " if fit.vcov_type == "empirical" else ""
    subjects = ", ".join(f"{g} {n}" for g, n in fit.n_groups.items())
    dropped = f" ({fit.n_dropped} dropped for missing values)" if fit.n_dropped else ""
    return (
        f'{_CSS}<div class="mk-card">'
        f'<div class="mk-head"><span class="mk-title">{esc(_structure_title(fit))}</span>'
        f'<span class="mk-muted">mixedkit {esc(__version__)}</span></div>'
        f'<code class="mk-formula">{esc(fit.formula)}</code>'
        f'<div class="mk-stats">{_stat("Rows", f"{fit.n_obs}{dropped}")}'
        f'{_stat("Subjects", subjects)}</div>'
        f'<div class="mk-stats">{"".join(_stat(k, v) for k, v in _criteria(fit))}</div>'
        f"{_random_html(fit)}"
        f'<div class="mk-sec">Residual covariance <span>(lower: covariance, upper: '
        f"correlation)</span></div>"
        f'{_html_table(matrix, ("group", "visit"), {}, "group")}'
        f'<div class="mk-sec">Fixed effects '
        f"<span>({esc(vc + df_heading(fit.df_method))} inference)</span></div>"
        f'{_html_table(_fixed_display(fit), ("term",), fe_labels)}'
        f"{_anova_html(fit)}"
        f"{_health_html(fit)}"
        f"{_report_html(fit)}"
        f'<div class="mk-foot">statsmodels: none: '
        f"{esc(fit.state.design.statsmodels_reason)}</div></div>"
    )
