"""Checks of the arguments users pass, each rule written once.

Every public function that takes a ``df_method``, a ``conf_level``, a count or a choice
among named options checks it here, so the message (which names the argument, shows what
was given and says what to write instead) is the same everywhere. No numpy: this module
sits below every wing and costs nothing to import.

:class:`InferenceOptions` is how a fit carries its resolved inference settings: built
(and checked) once, with the rule that Kenward–Roger needs a REML fit applied where a
fit object is built, whatever built it.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

from .errors import InputTypeError, InputValueError

__all__ = [
    "ADJUSTMENTS",
    "ANOVA_TYPES",
    "DF_LABELS",
    "DF_METHODS",
    "VCOV_TYPES",
    "InferenceOptions",
    "check_anova_type",
    "check_choice",
    "check_conf_level",
    "check_df_method",
    "check_positive_int",
    "check_reml",
    "check_vcov",
    "df_caption",
    "df_heading",
]

DF_METHODS = ("satterthwaite", "kenward-roger", "normal")
ADJUSTMENTS = ("tukey", "sidak", "bonferroni", "holm", "none")  # of contrasts
ANOVA_TYPES = {1: 1, 2: 2, 3: 3, "I": 1, "II": 2, "III": 3}
# How the methods are named in headings and legends; ``attrs["df_method"]`` and JSON keep
# the DF_METHODS value itself.
DF_LABELS = {"satterthwaite": "Satterthwaite", "kenward-roger": "Kenward-Roger",
             "normal": "normal (z)"}


def check_choice(value, allowed, name: str):
    """``value`` when it is one of the strings ``allowed``, else :class:`InputValueError`
    naming ``name``."""
    if isinstance(value, str) and value in allowed:
        return value
    raise InputValueError(f"{name} must be one of {tuple(allowed)}; got {value!r}")


def check_df_method(df_method, *, reml: bool | None = None, name: str = "df_method") -> str:
    """A valid ``df_method``; with ``reml=False``, Kenward–Roger is refused: it needs a REML
    fit (pbkrtest and lmerTest define it for REML only). ``name`` is the argument's name."""
    df_method = check_choice(df_method, DF_METHODS, name)
    if df_method == "kenward-roger" and reml is False:
        raise InputValueError(f"{name}='kenward-roger' needs a REML fit (reml=True), as "
                              "pbkrtest and lmerTest; use 'satterthwaite' for ML fits")
    return df_method


def check_conf_level(conf_level) -> float:
    """A confidence level strictly between 0 and 1 (95 is answered with 0.95)."""
    if not isinstance(conf_level, numbers.Real) or isinstance(conf_level, bool):
        raise InputTypeError(f"conf_level must be a number between 0 and 1; got {conf_level!r}")
    if not 0 < conf_level < 1:
        raise InputValueError(f"conf_level must be a number between 0 and 1; got {conf_level!r}"
                              + (f" (for {conf_level}%, write {conf_level / 100:g})"
                                 if 1 < conf_level < 100 else ""))
    return float(conf_level)


def check_positive_int(value, name: str, *, allow_none: bool = False) -> int | None:
    """``value`` as an int, or :class:`InputTypeError` / :class:`InputValueError` naming
    ``name`` (``None`` passes through with ``allow_none``)."""
    if value is None and allow_none:
        return None
    what = "a positive integer or None" if allow_none else "a positive integer"
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise InputTypeError(f"{name} must be {what}; got {value!r}")
    if value < 1:
        raise InputValueError(f"{name} must be {what}; got {value!r}")
    return int(value)


def check_anova_type(kind) -> int:
    """An anova type, 1, 2 or 3 (also written "I", "II", "III"), as an int."""
    if isinstance(kind, bool) or not isinstance(kind, (int, str)) or kind not in ANOVA_TYPES:
        raise InputValueError(f"type must be 1, 2 or 3 (or 'I', 'II', 'III'); got {kind!r}")
    return ANOVA_TYPES[kind]


def check_reml(reml) -> bool:
    """``reml`` as a bool: True (REML, lme4's default) or False (ML); nothing else."""
    if isinstance(reml, bool) or (type(reml).__module__ == "numpy"
                                  and type(reml).__name__ in ("bool", "bool_")):
        return bool(reml)
    raise InputTypeError(f"reml must be True (REML, lme4's default) or False (ML); got {reml!r}")


VCOV_TYPES = ("model", "empirical")  # the covariance of beta of a residual-structure fit


def check_vcov(vcov, df_method: str) -> str:
    """``vcov`` checked: "model" or "empirical" (the sandwich), which Kenward-Roger (an
    adjustment of the model-based covariance) does not combine with."""
    check_choice(vcov, VCOV_TYPES, "vcov")
    if vcov == "empirical" and df_method == "kenward-roger":
        raise InputValueError(
            "df_method='kenward-roger' with vcov='empirical': Kenward-Roger adjusts the "
            "model-based covariance, so it has no sandwich form (mmrm and SAS do not combine "
            "them either); use df_method='satterthwaite' with the sandwich, or the "
            "model-based covariance (vcov='model') with Kenward-Roger")
    return vcov


def df_heading(df_method: str) -> str:
    """``"Satterthwaite t"`` and the like: the test a df method gives fixed effects."""
    return "normal (z)" if df_method == "normal" else f"{DF_LABELS[df_method]} t"


def df_caption(df_method: str) -> str:
    """``"Satterthwaite df"`` and the like: how intervals of a table got their df."""
    return "normal (z)" if df_method == "normal" else f"{DF_LABELS[df_method]} df"


@dataclass(frozen=True)
class InferenceOptions:
    """A fit's inference settings, checked when built.

    Attributes
    ----------
    conf_level : float
        Level of every interval the fit reports.
    df_method : {"satterthwaite", "kenward-roger", "normal"}
        Degrees of freedom (and covariance) of every fixed-effect test.
    note : str
        Why ``df_method`` is not the one asked for (a Kenward–Roger fit refitted by ML
        uses Satterthwaite), else empty.
    """

    conf_level: float = 0.95
    df_method: str = "satterthwaite"
    note: str = ""

    def __post_init__(self):
        object.__setattr__(self, "conf_level", check_conf_level(self.conf_level))
        object.__setattr__(self, "df_method", check_df_method(self.df_method))

    @classmethod
    def checked(cls, conf_level, df_method, *, reml: bool) -> InferenceOptions:
        """Options for a new fit, from the user's arguments (Kenward–Roger with ML refused)."""
        options = cls(conf_level, df_method)
        check_df_method(options.df_method, reml=reml)
        return options

    def for_fit(self, reml: bool) -> InferenceOptions:
        """These options on a fit by REML or ML: an ML fit inherits Satterthwaite in place
        of Kenward–Roger (which needs REML), with a note saying so."""
        if self.df_method == "kenward-roger" and not reml:
            return InferenceOptions(self.conf_level, "satterthwaite",
                                    "Kenward-Roger needs a REML fit; this ML fit uses "
                                    "Satterthwaite's df (refit with reml=True for Kenward-Roger)")
        return self

    def resolve(self, *, conf_level=None, df_method=None, reml: bool) -> InferenceOptions:
        """The fit's options with a call's overrides (None: the fit's own), checked."""
        options = InferenceOptions(self.conf_level if conf_level is None else conf_level,
                                   self.df_method if df_method is None else df_method)
        if df_method is not None:  # a call's own request; the fit's was settled by for_fit
            check_df_method(options.df_method, reml=reml)
        return options
