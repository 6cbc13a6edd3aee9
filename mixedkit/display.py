"""Text and HTML rendering of a fit. Rounding happens here and only here."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from ._version import __version__

__all__ = ["summary_html", "summary_text"]


def _fmt(x, digits: int = 5) -> str:
    """Five significant digits, trailing zeros kept so columns line up."""
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return ""
    if isinstance(x, (int, np.integer)):
        return str(x)
    if x == 0:
        return "0"
    return f"{x:#.{digits}g}".rstrip(".")


def _pval(p: float) -> str:
    return "<1e-16" if p < 1e-16 else f"{p:.3g}"


def _criteria(fit) -> list[tuple[str, str]]:
    label = " (REML)" if fit.reml else ""
    return [
        ("logLik" + label, f"{fit.loglik:.3f}"),
        ("AIC" + label, f"{fit.aic:.2f}"),
        ("BIC" + label, f"{fit.bic:.2f}"),
    ]


def _variance_line(fit) -> str:
    from .variance import icc_values, r2_values, variance_parts

    parts = variance_parts(fit)
    icc = icc_values(parts, 1.0)
    adjusted = next(v for (g, k), v in icc.items() if k == "adjusted")
    r2 = r2_values(parts)
    return (f"ICC (adjusted) {adjusted:.3f}   R² marginal {r2['marginal']:.3f}, "
            f"conditional {r2['conditional']:.3f}")


def _data_line(fit) -> str:
    groups = ", ".join(f"{g} {n}" for g, n in fit.ngroups.items())
    dropped = f" ({fit.n_dropped} dropped for missing values)" if fit.n_dropped else ""
    return f"{fit.nobs} rows{dropped}; groups: {groups}"


def _fixed_display(fit) -> pd.DataFrame:
    fe = fit.fixed_effects
    pct = f"{fit.conf_level:.0%}"
    return pd.DataFrame({
        "term": fe["term"], "estimate": fe["estimate"].map(_fmt),
        "std_error": fe["std_error"].map(_fmt), "statistic": fe["statistic"].map(_fmt),
        "df": fe["df"].map(lambda d: "" if not np.isfinite(d) else f"{d:.1f}"),
        "p_value": fe["p_value"].map(_pval),
        f"{pct} CI": [f"[{_fmt(lo)}, {_fmt(hi)}]" for lo, hi in zip(fe["conf_low"], fe["conf_high"])],
    })


def _random_display(fit) -> pd.DataFrame:
    vc = fit.variance_components
    return pd.DataFrame({
        "group": vc["group"], "term": vc["term"], "variance": vc["variance"].map(_fmt),
        "std_dev": vc["std_dev"].map(_fmt), "corr": vc["corr"].map(lambda c: _fmt(c, 3)),
    })


def summary_text(fit) -> str:
    """The text summary shown by ``fit.summary()`` and ``repr(fit)``."""
    lines = [
        f"Linear mixed model fit by {fit.method} (mixedkit {__version__}, statsmodels MixedLM)",
        f"Formula: {fit.formula}",
        f"Data:    {_data_line(fit)}",
        "  ".join(f"{k}: {v}" for k, v in _criteria(fit)),
        _variance_line(fit),
        "",
        "Random effects:",
        _random_display(fit).to_string(index=False),
        "",
        f"Fixed effects ({fit.fixed_effects.attrs['df_method']} inference):",
        _fixed_display(fit).to_string(index=False),
        "",
        f"Health: {fit.health.verdict}",
    ]
    lines += ["  " + f.line() for f in fit.health if f.severity in ("error", "warning") or
              f.check in ("convergence", "singular")]
    quiet = [f for f in fit.health if f.severity in ("note", "ok") and
             f.check not in ("convergence", "singular")]
    if quiet:
        lines.append(f"  ({len(quiet)} more checks passed or are notes: fit.health)")
    lines += ["", "statsmodels equivalent:", f"  {fit.statsmodels_call}"]
    return "\n".join(lines)


_CSS = (
    "<style>.mk-card{font-family:sans-serif;font-size:13px;border:1px solid #ccc;"
    "border-radius:6px;padding:10px 14px;max-width:900px}.mk-card table{border-collapse:collapse;"
    "margin:4px 0 10px 0}.mk-card td,.mk-card th{padding:2px 8px;text-align:right}"
    ".mk-card th{border-bottom:1px solid #999}.mk-badge{display:inline-block;border-radius:10px;"
    "padding:1px 8px;margin:2px;font-size:12px}.mk-ok{background:#d9f2d9}.mk-note{background:#e6eefc}"
    ".mk-warning{background:#fff0c2}.mk-error{background:#f8d0d0}.mk-card code{font-size:12px}</style>"
)


def summary_html(fit) -> str:
    """The one-card notebook view returned by ``fit._repr_html_()``."""
    esc = html.escape
    badges = "".join(
        f'<span class="mk-badge mk-{f.severity}" title="{esc(f.why + " " + f.fix)}">'
        f"{esc(f.check)}: {esc(f.what)}</span>"
        for f in fit.health
    )
    crit = " &nbsp; ".join(f"<b>{esc(k)}</b> {esc(v)}" for k, v in _criteria(fit))
    return (
        f'{_CSS}<div class="mk-card"><div><b>Linear mixed model</b> fit by {fit.method}</div>'
        f"<div><code>{esc(fit.formula)}</code></div><div>{esc(_data_line(fit))}</div>"
        f"<div>{crit}</div><div>{esc(_variance_line(fit))}</div><div><b>Random effects</b></div>"
        f"{_random_display(fit).to_html(index=False, border=0)}"
        f"<div><b>Fixed effects</b> ({esc(fit.fixed_effects.attrs['df_method'])})</div>"
        f"{_fixed_display(fit).to_html(index=False, border=0)}"
        f"<div><b>Health: {esc(fit.health.verdict)}</b></div><div>{badges}</div>"
        f"<div><small>statsmodels: <code>{esc(fit.statsmodels_call)}</code></small></div></div>"
    )


def _comparison_display(table: pd.DataFrame) -> pd.DataFrame:
    out = table.copy()
    for col in ("loglik", "aic", "bic", "chisq"):
        out[col] = out[col].map(lambda v: "" if pd.isna(v) else f"{v:.3f}")
    for col in ("p_value", "p_value_naive", "p_value_boot"):
        out[col] = out[col].map(lambda v: "" if pd.isna(v) else _pval(v))
    out["df_diff"] = out["df_diff"].map(lambda v: "" if pd.isna(v) else str(v))
    if table["p_value_boot"].isna().all():
        out = out.drop(columns="p_value_boot")
    return out


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
        t[col] = t[col].map(_fmt)
    t["relative_difference"] = comp.table["relative_difference"].map(
        lambda v: "" if pd.isna(v) else f"{v:+.1%}")
    lines = ["REML and ML fits of " + comp.reml_fit.formula, t.to_string(index=False), ""]
    lines += [f"- {note}" for note in comp.notes]
    return "\n".join(lines)
