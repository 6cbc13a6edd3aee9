"""Generate the teaching notebooks in this folder (stored without outputs).

Run from anywhere::

    python notebooks/make_notebooks.py          # (re)write every notebook
    python notebooks/make_notebooks.py --check  # exit 1 if a stored notebook differs

Each notebook is a list of ("md", text) and ("code", source) cells below; edit them
here, not in the .ipynb files. Cell ids are derived from the file name, so
regenerating an unchanged notebook gives an identical file.
"""

from __future__ import annotations

import sys
from pathlib import Path
from textwrap import dedent

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = """\
%matplotlib inline
import numpy as np
import pandas as pd
import mixedkit as mk

pd.set_option("display.precision", 4)
pd.set_option("display.width", 120)
pd.set_option("display.max_colwidth", 90)"""


def md(text: str) -> tuple[str, str]:
    return ("md", dedent(text).strip("\n"))


def code(text: str) -> tuple[str, str]:
    return ("code", dedent(text).strip("\n"))


# --------------------------------------------------------------------------- 01
QUICK_START = [
    md("""
    # 01 · Quick start: one model, read piece by piece

    **The story.** Sleep deprivation slows people down. By how much per day, and how much do
    people differ? We fit one linear mixed model with one call and read everything it reports.

    **You will learn** to fit a model with `mk.fit_lmm` and to read, one piece at a time, the
    fixed effects (with Satterthwaite degrees of freedom), the variance components, the
    intraclass correlation (ICC), R², the health verdict, and the statsmodels call that did the
    estimation.

    *Assumed background:* linear regression (coefficients, standard errors, t tests, R²).
    """),
    code(SETUP),
    md("""
    ## The data

    `sleepstudy` (Belenky et al., 2003; the example data of R's lme4): 18 drivers were allowed
    only 3 hours of sleep per night, and their average reaction time (ms) on a vigilance test
    was measured on days 0 to 9.

    Each subject contributes 10 rows, and rows from the same subject are **not independent**:
    a slow subject is slow every day. Ordinary least squares would count 180 rows as 180
    independent pieces of information, and its standard errors would be wrong.
    """),
    code("""
    sleep = mk.load_dataset("sleepstudy")
    print(f"{len(sleep)} rows, {sleep['Subject'].nunique()} subjects")
    sleep.head()
    """),
    code("""
    # Subjects differ a lot in their average reaction time
    sleep.groupby("Subject")["Reaction"].agg(["size", "mean", "std"]).sort_values("mean").head(8)
    """),
    md("""
    ## The model

    $$\\text{Reaction}_{ij} = \\beta_0 + \\beta_1\\,\\text{Days}_{ij} + u_j + \\varepsilon_{ij},
    \\qquad u_j \\sim N(0, \\sigma^2_{\\text{Subject}}),\\quad
    \\varepsilon_{ij} \\sim N(0, \\sigma^2)$$

    * $\\beta_0, \\beta_1$ are the **fixed effects**: the line of the average subject.
    * $u_j$ is subject $j$'s deviation from the average baseline, a **random intercept**.
      We do not estimate 18 free intercepts; we estimate how much intercepts vary,
      $\\sigma^2_{\\text{Subject}}$.
    * In lme4 formula syntax this is `Reaction ~ Days + (1 | Subject)`: read `(1 | Subject)`
      as "an intercept that varies by Subject".

    `fit_lmm` estimates by REML (restricted maximum likelihood) unless you pass `reml=False`,
    like lme4; notebook 03 explains the difference.
    """),
    code("""
    fit = mk.fit_lmm("Reaction ~ Days + (1 | Subject)", sleep)
    fit
    """),
    md("""
    In a notebook the fit shows as a card. `fit.summary()` is the same as plain text (what
    `print(fit)` shows in a terminal):
    """),
    code("print(fit.summary())"),
    md("""
    The header says how the model was fitted (REML), on how many rows and groups, and gives
    the log-likelihood, AIC and BIC. For a REML fit these are REML values: use them only to
    compare models with the **same fixed effects** (notebook 03).

    Now the pieces, each of which is also available as a DataFrame at full precision.

    ## 1. Fixed effects
    """),
    code("fit.fixed_effects"),
    md("""
    * **estimate**: reaction time rises by about 10.5 ms per day of sleep restriction, from
      about 251 ms on day 0 (the intercept).
    * **std_error**: from $(X'V^{-1}X)^{-1}$, where $V$ is the covariance of the observations
      implied by the model, so the correlation within subjects is taken into account (this is
      lme4's `vcov()`).
    * **statistic** is estimate / std_error, compared with a *t* distribution whose degrees
      of freedom (**df**) come from the **Satterthwaite** approximation (as R's lmerTest).
      The df say how much independent information the standard error rests on:
      * `Days` varies *within* every subject, so it is estimated from within-subject
        comparisons and has about 161 df (close to 180 rows − 18 subjects − 1);
      * the intercept (the average day-0 reaction time) is a *between-subject* quantity:
        about 23 df, much nearer the number of subjects than the number of rows.
    * **conf_low / conf_high**: a 95% interval from the same *t* distribution.

    With few groups, the normal (*z*) reference that some software uses is too optimistic.
    Compare the interval widths (`df_method="normal"` gives *z*):
    """),
    code("""
    fit_z = mk.fit_lmm("Reaction ~ Days + (1 | Subject)", sleep, df_method="normal")
    t_tab, z_tab = fit.fixed_effects.set_index("term"), fit_z.fixed_effects.set_index("term")
    pd.DataFrame({
        "Satterthwaite df": t_tab["df"],
        "95% CI width (t)": t_tab["conf_high"] - t_tab["conf_low"],
        "95% CI width (z)": z_tab["conf_high"] - z_tab["conf_low"],
    })
    """),
    md("""
    With 161 df, *t* and *z* agree; for the intercept (about 23 df) the *t* interval is
    noticeably wider. The fewer the groups, the more this matters.

    ## 2. Variance components
    """),
    code("fit.variance_components"),
    md("""
    * **Subject**: the SD of the random intercepts, about 37 ms. Subjects' day-0 reaction
      times scatter around 251 ms with that SD.
    * **Residual**: the SD of a subject's day-to-day scatter around their own line, about 31 ms.
    * `variance` is the square of `std_dev`; the `corr` column is used when a grouping factor
      has correlated random effects (notebook 02).

    The SD is on the scale of the data, so it can be read directly, for example as the range
    that covers about 95% of subjects:
    """),
    code("""
    b = fit.fixed_effects.set_index("term")["estimate"]
    sd = fit.variance_components.set_index("group")["std_dev"]
    low, high = b["Intercept"] - 1.96 * sd["Subject"], b["Intercept"] + 1.96 * sd["Subject"]
    print(f"About 95% of subjects have a day-0 mean reaction time between {low:.0f} and {high:.0f} ms")
    """),
    md("""
    ## 3. Intraclass correlation (ICC)
    """),
    code("fit.icc()"),
    md("""
    * **adjusted ICC** $= \\sigma^2_{\\text{Subject}} / (\\sigma^2_{\\text{Subject}} + \\sigma^2)
      \\approx 0.59$. In a random-intercept model it has two equivalent readings: the share of
      the variance not explained by the fixed effects that lies *between* subjects, and the
      correlation between two measurements of the same subject (on the same or different days,
      after adjusting for Days).
    * **unadjusted ICC** also puts the variance explained by the fixed effects in the
      denominator; it is smaller (0.42) because Days explains a lot.
    * **design effect** $= 1 + (m - 1)\\,\\text{ICC}$ with $m = 10$ rows per subject, about 6.3.
      For a between-subject quantity such as the overall mean, 180 correlated rows carry about
      as much information as 180 / 6.3 ≈ 29 independent ones. (For a predictor that varies
      within subjects, like Days, the opposite happens: the random intercept removes the
      between-subject noise, hence its 161 df.)

    The same numbers by hand from the variance components:
    """),
    code("""
    var = fit.variance_components.set_index("group")["variance"]
    icc = var["Subject"] / (var["Subject"] + var["Residual"])
    m = len(sleep) / sleep["Subject"].nunique()
    deff = 1 + (m - 1) * icc
    print(f"ICC = {icc:.3f}, design effect = {deff:.2f}, "
          f"effective sample size for the mean = {len(sleep) / deff:.0f}")
    """),
    md("""
    ## 4. R²
    """),
    code("fit.r2()"),
    md("""
    Nakagawa and Schielzeth's R² for mixed models (as R's `performance::r2_nakagawa`). With
    $\\sigma^2_f$ the variance of the fixed-effect predictions $X\\hat\\beta$:

    * **marginal** $= \\sigma^2_f / (\\sigma^2_f + \\sigma^2_{\\text{Subject}} + \\sigma^2)
      \\approx 0.28$: Days alone explains 28% of the variance;
    * **conditional** $= (\\sigma^2_f + \\sigma^2_{\\text{Subject}}) / (\\text{same total})
      \\approx 0.70$: Days plus knowing who the subject is.

    The gap between the two is what the subjects add. By hand:
    """),
    code("""
    var_fixed = fit.fitted("marginal").var()          # variance of X beta over the rows
    total = var_fixed + var["Subject"] + var["Residual"]
    print(f"marginal R² = {var_fixed / total:.3f}, "
          f"conditional R² = {(var_fixed + var['Subject']) / total:.3f}")
    """),
    md("""
    ## 5. Health

    `fit.health` is one ranked list, worst first: did the optimiser converge, is the fit
    singular (a variance estimated as 0, meaning the random part is richer than the data
    support), what the data checks found, and the assumption checks of
    `fit.check_assumptions()` (notebook 04).
    """),
    code("print(fit.health)"),
    code("""
    fit.health.to_frame()[["check", "severity", "what"]]
    """),
    md("""
    Estimation is fine: converged, not singular. Two assumption checks raise a flag: the
    residual spread differs between subjects, and one observation is far from its fitted
    value. A flag is a prompt to look, not a verdict that the model is useless. A likely
    reason for the first one: subjects differ not only in their baseline but also in how fast
    they deteriorate, which a random-intercept model forces into the residuals. That is the
    subject of notebook 02 (random slopes).

    ## 6. The statsmodels call

    mixedkit has no estimator of its own: it translates the lme4 formula into a statsmodels
    `MixedLM` model, optimises statsmodels' likelihood (with lme4's parametrisation, start
    values and fallbacks), and reports lme4-comparable numbers. `fit.statsmodels_call` is the
    same model in raw statsmodels, ready to paste:
    """),
    code("print(fit.statsmodels_call)"),
    md("""
    `(1 | Subject)` became `groups="Subject"`: the subjects are independent blocks, each with
    a random intercept (statsmodels' default random part). Running it ourselves:
    """),
    code("""
    import statsmodels.formula.api as smf

    data = sleep
    raw = smf.mixedlm("Reaction ~ Days", data, groups="Subject").fit(reml=True)
    pd.DataFrame(
        {"mixedkit": [fit.loglik, *fit.fixed_effects["estimate"], *var],
         "statsmodels": [raw.llf, *raw.fe_params, raw.cov_re.iloc[0, 0], raw.scale]},
        index=["logLik (REML)", "Intercept", "Days", "Subject variance", "Residual variance"],
    )
    """),
    md("""
    For this simple model statsmodels' default fit reaches the same optimum. For richer models
    it does not always: on `dietox` with random slopes (notebook 04) the default
    `MixedLM.fit()` stops early with warnings, while mixedkit reaches lme4's answer. The raw
    statsmodels results object at mixedkit's optimum is `fit.statsmodels_result`.

    ## Summary

    * `mk.fit_lmm("y ~ x + (1 | g)", data)` fits the model; the fit displays as a card.
    * `fit.fixed_effects`: estimates with lme4's standard errors and Satterthwaite *t* tests;
      df near the number of groups for between-group quantities.
    * `fit.variance_components`: SDs on the data scale; `fit.icc()`: how much of the variance
      is between groups (and the design effect); `fit.r2()`: marginal and conditional R².
    * `fit.health`: read it before the numbers.
    * `fit.statsmodels_call`: what was fitted, in statsmodels terms.

    **Next:** 02 asks whether subjects also differ in their *slopes*.
    """),
]

# --------------------------------------------------------------------------- 02
RANDOM_SLOPES = [
    md("""
    # 02 · Random slopes: subjects differ in how fast they decline

    **The story.** In notebook 01 every subject had their own baseline but the *same* increase
    per day (10.5 ms). Is that plausible? We look at the data, let the slope vary by subject,
    see what that does to the estimates and their uncertainty, and meet *partial pooling*.

    **You will learn** the difference between `(1 | Subject)`, `(Days | Subject)` and
    `(Days || Subject)`, how to read `mk.plot_fitted` and `mk.plot_shrinkage`, why omitting a
    needed random slope makes tests too optimistic, and when a random slope is warranted.
    """),
    code(SETUP),
    code("""
    sleep = mk.load_dataset("sleepstudy")
    m_int = mk.fit_lmm("Reaction ~ Days + (1 | Subject)", sleep)
    fig = mk.plot_fitted(m_int, max_groups=18)
    """),
    md("""
    Points are the observed reaction times; the dashed line is the population (average
    subject) line; the solid line is the model's line for that subject. With a random
    intercept only, every subject's line is the population line shifted up or down: the lines
    are **parallel by construction**. The data disagree: some subjects (e.g. 308, 337, 350)
    get worse much faster than average, others (e.g. 309, 335) hardly change. The effect of
    Days differs between subjects.

    ## Three random-effects structures

    | lme4 formula | what varies by subject | variance parameters |
    |---|---|---|
    | `(1 \\| Subject)` | baseline | $\\sigma^2_0$ |
    | `(Days \\| Subject)` | baseline and slope, correlated | $\\sigma^2_0, \\sigma^2_1, \\rho$ |
    | `(Days \\|\\| Subject)` | baseline and slope, independent | $\\sigma^2_0, \\sigma^2_1$ |

    With a random slope the model is

    $$\\text{Reaction}_{ij} = (\\beta_0 + u_{0j}) + (\\beta_1 + u_{1j})\\,\\text{Days}_{ij}
    + \\varepsilon_{ij},\\qquad (u_{0j}, u_{1j}) \\sim N(0, \\Sigma).$$

    The fixed part (the average line) is the same in all three models; only the description
    of how subjects vary around it changes.
    """),
    code("""
    m_slope = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", sleep)
    m_indep = mk.fit_lmm("Reaction ~ Days + (Days || Subject)", sleep)
    models = {"(1 | Subject)": m_int, "(Days | Subject)": m_slope, "(Days || Subject)": m_indep}

    pd.concat({name: m.variance_components for name, m in models.items()},
              names=["random part", None]).droplevel(1)
    """),
    md("""
    * The slope SD is about 5.9 ms/day around an average slope of 10.5 ms/day: roughly 95% of
      subjects deteriorate by between about −1 and 22 ms per day.
    * The intercept variance drops from about 1378 to 612, and the residual variance from
      about 960 to 655: part of what looked like baseline differences and noise was really
      differences in slope.
    * The estimated intercept-slope correlation is small (0.07), and the `||` model, which
      fixes it at 0, gives almost the same variances.

    How each structure is expressed in statsmodels:
    """),
    code("""
    for name, m in models.items():
        print(f"{name:18s} {m.statsmodels_call}")
    """),
    md("""
    `(Days | Subject)` is statsmodels' `re_formula="~Days"` (a full 2×2 covariance within each
    subject). `(Days || Subject)` has no `re_formula` spelling: the slope becomes a separate
    *variance component* within each subject (`vc_formula`), which is independent of the
    intercept by construction.

    ## What the random slope does to the test of Days
    """),
    code("""
    pd.DataFrame({name: m.fixed_effects.set_index("term").loc["Days"]
                  for name, m in models.items()}).T[
        ["estimate", "std_error", "df", "conf_low", "conf_high", "p_value"]]
    """),
    md("""
    The estimate is identical (the design is balanced), but the standard error roughly
    doubles (0.80 → 1.55) and the df fall from 161 to about 17.

    Why: if subjects genuinely differ in slope, the average slope is the mean of 18 different
    subject slopes, and its uncertainty is governed by how many *subjects* there are, not by
    how many rows (17 = 18 − 1). The random-intercept model assumes every subject has the same
    slope, so it treats all 180 rows as information about that one slope: its standard error
    is too small and its interval too narrow. Omitting a random slope for a within-subject
    predictor makes its test anti-conservative (too many false positives; Barr et al., 2013).

    ## Fitted lines with random slopes
    """),
    code("fig = mk.plot_fitted(m_slope, max_groups=18)"),
    md("""
    Each subject now has their own slope. But the solid lines are *not* each subject's own
    least-squares line: they are pulled toward the population line. That is partial pooling.

    ## Partial pooling

    Three ways to estimate a line per subject:

    * **complete pooling**: one regression for everybody, ignoring subjects (too rigid);
    * **no pooling**: a separate regression per subject, each from 10 noisy points (too noisy);
    * **partial pooling** (the mixed model): each subject's estimate is a compromise between
      their own data and the population, weighted by how reliable their own data are compared
      with how much subjects really differ.

    The subject-level estimates are the **conditional modes** (BLUPs) of the random effects,
    `fit.ranef()`, with their conditional SDs (lme4's `ranef(condVar = TRUE)`):
    """),
    code("m_slope.ranef().head(6)"),
    code("ax = mk.plot_shrinkage(m_slope)"),
    md("""
    Open circles: each subject's own least-squares intercept and slope (no pooling). Filled
    circles: the mixed model's estimates (population value plus conditional mode). The cross:
    the population estimate. The arrows point inward: subjects with extreme separate
    estimates move most. They do not point exactly at the cross because a subject's
    least-squares intercept and slope have correlated errors (Days does not have mean 0), so
    the model corrects both together.

    For a random-intercept model with $n_j$ rows in group $j$ the shrinkage has a simple
    formula: the conditional mode is the group's mean residual multiplied by

    $$\\lambda_j = \\frac{\\sigma^2_0}{\\sigma^2_0 + \\sigma^2 / n_j}.$$

    Checking it on `m_int`, where every subject has $n_j = 10$:
    """),
    code("""
    var = m_int.variance_components.set_index("group")["variance"]
    lam = var["Subject"] / (var["Subject"] + var["Residual"] / 10)

    b = m_int.fixed_effects.set_index("term")["estimate"]
    no_pooling = (sleep["Reaction"] - b["Intercept"] - b["Days"] * sleep["Days"]).groupby(
        sleep["Subject"]).mean()
    modes = m_int.ranef().set_index("level")["estimate"]
    print(f"lambda = {lam:.4f}; conditional mode / subject mean residual: "
          f"{(modes / no_pooling).min():.4f} to {(modes / no_pooling).max():.4f}")
    """),
    code("ax = mk.plot_shrinkage(m_int)"),
    md("""
    With 10 rows per subject and a large between-subject variance, intercepts keep 93% of
    their own deviation: little shrinkage. Shrinkage is strong when groups are small, noisy
    ($\\sigma^2/n_j$ large) or similar to each other ($\\sigma^2_0$ small); groups with fewer
    rows are shrunk more.

    ## When is a random slope warranted?

    1. **The predictor varies within groups.** Days does. A slope for a predictor that is
       constant within each group (a subject's sex, say) cannot be estimated;
       `mk.check_data` and `fit_lmm` say so.
    2. **Enough groups and enough distinct values within groups** to estimate a variance:
       18 subjects × 10 days is plenty. With few observations per group the slope variance is
       often estimated as exactly 0, a *singular* fit (`fit.singular`, `fit.health`).
    3. **The question requires it.** If you want to generalise the Days effect to new
       subjects and subjects differ in that effect, the slope variance belongs in the
       uncertainty, as the doubled standard error above shows. A common rule: include random
       slopes for the within-group predictors you test, as far as the data support them, and
       simplify (drop the correlation with `||`, then the slope) when the fit is singular or
       does not converge (Barr et al., 2013; Matuschek et al., 2017).
    4. **The data support it**, by a likelihood-ratio test on the REML fits with the
       boundary correction (notebook 03 explains both):
    """),
    code("mk.compare_models(m_int, m_indep, m_slope)"),
    md("""
    Each row is tested against the row above. Adding the slope variance (`||` against the
    intercept-only model) is overwhelmingly supported. Adding the correlation on top
    (`|` against `||`) is not (p ≈ 0.84), and AIC is lower without it: either random-slope
    model is a sound choice here.

    A caveat on `||`: fixing the intercept-slope correlation at 0 depends on where Days = 0
    is. Shift Days (for example, centre it) and the correlation in `(Days | Subject)` changes
    while the model stays the same; `(Days || Subject)` becomes a different model. Use `||`
    when the zero of the predictor is meaningful (here: the first day of sleep restriction)
    or when the correlation cannot be estimated.

    With random slopes the variance due to subjects depends on Days, so the ICC is no longer
    the correlation between any two rows. mixedkit averages the subject variance over the
    observed rows (as `performance::icc`):
    """),
    code("m_slope.icc()"),
    md("""
    ## Summary

    * `(x | g)`: intercept and slope vary by group, correlated; `(x || g)`: uncorrelated;
      `(1 | g)`: intercept only.
    * `mk.plot_fitted` shows each group's line against the population line; parallel lines
      that miss the data call for a random slope.
    * Leaving out a slope variance that exists makes the fixed-effect test of that predictor
      too optimistic (here: SE 0.80 instead of 1.55, 161 df instead of 17).
    * Group estimates are partially pooled toward the population (`fit.ranef()`,
      `mk.plot_shrinkage`).

    **Next:** 03 shows how models are compared properly (REML or ML, boundary-corrected tests).
    """),
]

# --------------------------------------------------------------------------- 03
MODEL_COMPARISON = [
    md("""
    # 03 · Comparing models: REML vs ML, fixed vs random effects, boundaries

    **The story.** Two questions about sleepstudy: does reaction time change with Days (a
    *fixed* effect)? Do subjects differ in their slopes (a *variance component*)? Both can be
    answered with likelihood-ratio tests (LRTs), but they need different likelihoods and
    different null distributions. `mk.compare_models` makes these choices and says what it
    did.

    **You will learn** what REML and ML estimate (`mk.reml_vs_ml`), why models with different
    fixed effects must be compared by ML, why the naive p-value for a variance is too large,
    how a parametric bootstrap checks it, and how to compare non-nested models.
    """),
    code(SETUP),
    code("""
    sleep = mk.load_dataset("sleepstudy")
    m1 = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", sleep)
    """),
    md("""
    ## 1. REML and ML

    * **ML** (maximum likelihood) estimates the fixed effects and the variances together. The
      variance estimates ignore that the fixed effects were estimated, so they are biased
      downward, like a sample variance divided by $n$ instead of $n - 1$.
    * **REML** (restricted ML) maximises the likelihood of the residuals after the fixed
      effects are projected out (the *error contrasts*). This removes that bias; it is the
      default in lme4 and mixedkit.

    `mk.reml_vs_ml` fits the same model both ways:
    """),
    code("""
    rv = mk.reml_vs_ml(m1)
    rv
    """),
    code("rv.table"),
    md("""
    * The fixed-effect estimates are the same (balanced data); their standard errors are
      smaller under ML, because the variances are.
    * The subject variances are 7–8% smaller under ML. They are estimated from only 18
      subjects, so losing degrees of freedom to the 2 fixed effects matters; the residual
      variance, estimated from 180 rows, barely changes.
    * Log-likelihood, AIC and BIC are on different scales for the two methods and are never
      compared across them.

    **Rule:** report estimates from REML; compare models that differ in their fixed effects by
    ML.

    ## 2. Testing a fixed effect: ML refits

    The REML likelihood is the likelihood of error contrasts that depend on the fixed-effects
    design matrix $X$. Two models with different $X$ have REML likelihoods of *different
    transformed data*, and their difference is not a likelihood ratio. So a test of fixed
    effects uses ML fits. `compare_models` refits REML fits by ML when needed and says so:
    """),
    code("""
    m_nodays = mk.fit_lmm("Reaction ~ 1 + (Days | Subject)", sleep)
    comp = mk.compare_models(m_nodays, m1)
    comp
    """),
    code("""
    for note in comp.notes:
        print("-", note)
    comp.table[["model", "method", "loglik", "chisq", "df_diff", "p_value"]]
    """),
    md("""
    The `method` column says ML, and `comp.fits` holds the ML refits. Asking for a REML
    comparison of these models is refused with the reason:
    """),
    code("""
    try:
        mk.compare_models(m_nodays, m1, method="REML")
    except mk.DataError as err:
        print(f"{type(err).__name__}: {err}")
    """),
    md("""
    The same hypothesis is tested by the *t* test in `fixed_effects` (on the REML fit):
    """),
    code("""m1.fixed_effects.set_index("term").loc["Days", ["statistic", "df", "p_value"]]"""),
    md("""
    Both reject clearly. The LRT relies on large-sample theory (χ² with many groups); the
    Satterthwaite *t* test is better calibrated with few groups (here 18). Use the *t* test for
    one coefficient, and the LRT for several coefficients at once (a factor with several
    levels, a set of interactions).

    ## 3. Testing a variance component: the boundary

    Do subjects differ in slopes? $H_0: \\sigma^2_{\\text{slope}} = 0$. Both models have the
    same fixed effects, so their REML fits can be compared, and `compare_models` does.

    A variance cannot be negative, so the null value lies on the **boundary** of the parameter
    space. The usual χ² theory for the LRT assumes an interior null. On the boundary, in about
    half of the samples generated under $H_0$ the estimate would like to be negative, is set to
    0, and the LRT statistic is exactly 0. For adding one variance the null distribution is a
    50:50 mixture of a point mass at 0 and χ²(1); for adding a slope *correlated* with an
    existing intercept (a variance and a covariance, df = 2) it is a 50:50 mixture of χ²(1) and
    χ²(2) (Self and Liang, 1987; Stram and Lee, 1994). The naive χ²(df) p-value is always
    **too large**: the test is conservative and loses power.
    """),
    code("""
    m0 = mk.fit_lmm("Reaction ~ Days + (1 | Subject)", sleep)
    comp_re = mk.compare_models(m0, m1)
    comp_re
    """),
    code("""
    from scipy import stats

    lrt = comp_re.table["chisq"].iloc[1]
    print(f"LRT = {lrt:.2f}")
    print(f"naive chi2(2) p-value:           {stats.chi2.sf(lrt, 2):.3g}")
    print(f"0.5 chi2(1) + 0.5 chi2(2) p-value: "
          f"{0.5 * stats.chi2.sf(lrt, 1) + 0.5 * stats.chi2.sf(lrt, 2):.3g}")
    """),
    md("""
    In sleepstudy the evidence is overwhelming either way. The correction matters when the
    evidence is moderate. **Pastes** (strength of a chemical paste; 10 batches, 3 casks from
    each batch, 2 assays per cask; notebook 05 treats it fully): beyond the variation between
    casks, is there variation between batches?
    """),
    code("""
    pastes = mk.load_dataset("pastes")
    p_cask = mk.fit_lmm("strength ~ 1 + (1 | batch:cask)", pastes)   # casks only
    p_both = mk.fit_lmm("strength ~ 1 + (1 | batch/cask)", pastes)   # batches and casks
    comp_batch = mk.compare_models(p_cask, p_both)
    comp_batch
    """),
    md("""
    The naive p-value (about 0.42) is twice the boundary-corrected one (about 0.21). Neither
    is significant here, but with a different LRT the halving can decide the conclusion.

    ## 4. Checking with a parametric bootstrap

    The mixture is itself a large-sample result, and 10 batches are not many. A **parametric
    bootstrap** needs no such theory: simulate new responses from the fitted null model, refit
    both models, compute the LRT, repeat; the p-value is the share of simulated LRTs at least
    as large as the observed one, $(1 + \\#\\{\\text{LRT}^* \\ge \\text{LRT}\\}) / (B + 1)$.

    `n_boot=` adds it. We use 49 replicates so the notebook runs quickly (the p-value then
    moves in steps of 1/50); use 1000 or more in real work, where the default runs the refits
    in parallel on all cores (`n_jobs=1` here keeps the notebook predictable).
    """),
    code("""
    comp_boot = mk.compare_models(p_cask, p_both, n_boot=49, seed=1, n_jobs=1, progress=False)
    comp_boot
    """),
    md("""
    The bootstrap p-value agrees with the mixture, not with the naive p-value.

    ## 5. Non-nested models: AIC and BIC

    An LRT needs **nested** models: the smaller one must be a special case of the larger (set
    some parameters to 0). Is the decline linear in Days, or does it level off, like
    $\\log(1 + \\text{Days})$? Neither model is a special case of the other, and both have
    the same number of parameters, so there is no LRT. Use information criteria,
    $\\text{AIC} = -2\\log L + 2k$ and $\\text{BIC} = -2\\log L + k\\log n$: lower is better,
    and differences of a few units are already meaningful. The fixed effects differ, so the
    comparison is on ML fits, which `compare_models` again arranges:
    """),
    code("""
    m_log = mk.fit_lmm("Reaction ~ np.log1p(Days) + (Days | Subject)", sleep)
    mk.compare_models(m1, m_log)
    """),
    md("""
    The linear model has the lower AIC and BIC by about 21: over these 10 days there is no
    sign of a levelling off.

    Non-nested random parts work the same way (on REML fits, since the fixed effects are the
    same): a random intercept against a random slope without intercept.
    """),
    code("""
    m_slope_only = mk.fit_lmm("Reaction ~ Days + (0 + Days | Subject)", sleep)
    mk.compare_models(m0, m_slope_only)
    """),
    md("""
    The random slope without a random intercept has the lower AIC and BIC (by about 20), so
    between these two, differences in slope matter more than differences in baseline. Both
    lose to `(Days | Subject)` (REML AIC 1755.6 in section 3), which has both.
    """),
    md("""
    ## Summary

    | question | models differ in | fits compared | test |
    |---|---|---|---|
    | one fixed effect | fixed part | REML fit | Satterthwaite *t* in `fixed_effects` |
    | several fixed effects | fixed part | ML (refitted for you) | LRT, χ²(df) |
    | a variance component | random part | REML | LRT with boundary-corrected mixture; bootstrap to check |
    | non-nested models | anything | ML if the fixed parts differ, else REML | AIC / BIC |

    `mk.compare_models(...)` follows this table and explains each choice in `.notes`.

    **Next:** 04 checks whether a model's assumptions hold and what to do when they do not.
    """),
]

# --------------------------------------------------------------------------- 04
DIAGNOSTICS = [
    md("""
    # 04 · Diagnostics: is the model adequate?

    **The story.** `dietox` (Lauridsen et al., 1999; shipped with statsmodels): 72 pigs weighed
    weekly for 12 weeks. We fit a straight growth line with random intercepts and slopes per
    pig, check it with plots and tests, try the usual remedy (a log transform), find out why it
    is the wrong one here, and fix the model.

    **You will learn** to read each panel of `mk.plot_diagnostics`, to use
    `fit.check_assumptions()` (and its limits), to follow up outlying observations, and to
    read a caterpillar plot (`mk.plot_ranef`).
    """),
    code(SETUP),
    code("""
    dietox = mk.load_dataset("dietox")
    print(f"{len(dietox)} rows, {dietox['Pig'].nunique()} pigs, weeks {dietox['Time'].min()}"
          f" to {dietox['Time'].max()}")
    dietox.head()
    """),
    code("""
    fit = mk.fit_lmm("Weight ~ Time + (Time | Pig)", dietox)
    fit
    """),
    md("""
    The model assumes that

    1. the **mean structure** is right (weight grows linearly in Time, on average and for each
       pig);
    2. the **residuals** are independent, normal, with constant variance;
    3. the **random effects** (each pig's deviation in intercept and slope) are normal;
    4. no single observation or pig dominates the results.

    The health verdict already flags something. The plots show what.

    ## The diagnostic plots
    """),
    code("fig = mk.plot_diagnostics(fit)"),
    md("""
    Reading the panels:

    1. **Residuals vs fitted** (conditional residuals $y - X\\hat\\beta - Z\\hat b$). Should be
       a structureless band around 0 with a flat trend line. Here the trend is U-shaped:
       residuals are positive for light and heavy pigs and negative in between. A straight
       line in Time misses the curvature of growth: the **mean structure** is wrong.
    2. **Normal QQ plot of the standardised residuals.** Points should follow the line,
       within the grey 95% band. Here the lower tail falls far below: a few weighings are much
       lower than the model predicts (heavy tails, outliers).
    3. **Scale-location** ($\\sqrt{|\\text{standardised residual}|}$ against fitted). A flat
       trend means constant variance; here it is roughly flat.
    4. **QQ plots of the conditional modes**, one per random term (intercept and slope by
       pig). They check the normality of the random effects. Conditional modes are shrunk, so
       their spread is smaller than the true random effects', but the plot standardises them
       and judges the shape. The intercepts look normal; the slopes have a somewhat long
       lower tail (a few slow-growing pigs), which the check table below marks `check`.

    ## The checks in words
    """),
    code("""
    checks = fit.check_assumptions()
    checks
    """),
    md("""
    One row per check with the test statistic, its value, a p-value where there is one, a
    severity (`ok`, `note`: look at the plots or the check could not run, `warning`) and a fix. A check is flagged only when
    p < 0.01 **and** the departure is large enough to matter, so that large data sets do not
    turn every small departure into a problem. Here: residuals are not normal (heavy tails),
    the residual SD differs a lot between pigs, and there are outlying observations.

    Outlying rows are listed in `checks.attrs`. Look at them before anything else:
    """),
    code("""
    rows = checks.attrs["outlier_rows"]
    dietox.loc[rows]
    """),
    code("""
    pig = dietox.loc[rows[0], "Pig"]
    dietox.loc[dietox["Pig"] == pig, ["Time", "Weight", "Feed"]].set_index("Time").T
    """),
    md("""
    Pig 4858 weighs 83.8 kg in week 9, 71.6 kg in week 10 and 97.4 kg in week 11. A 12 kg loss
    and regain within two weeks is implausible: probably a recording error, possibly a sick
    animal. An outlier is a question for whoever collected the data, not a row to delete
    silently. (We come back to it below.)

    ## A first remedy: log transform

    The usual advice for skewed residuals, or a spread that grows with the mean, is to
    transform the response. A transformation can be written directly in the formula:
    `np.log(Weight)`.
    """),
    code("""
    fit_log = mk.fit_lmm("np.log(Weight) ~ Time + (Time | Pig)", dietox)
    fig = mk.plot_diagnostics(fit_log)
    """),
    code("""
    def severities(**fits):
        return pd.DataFrame({name: f.check_assumptions().set_index("check")["severity"]
                             for name, f in fits.items()})

    severities(Weight=fit, log_Weight=fit_log)
    """),
    md("""
    The distribution checks now look almost clean, but one row stands out: the **mean
    structure (curvature)** check, and panel 1 shows why, a pronounced arch. Pigs gain a
    roughly constant number of kg per week, so on the log scale growth slows down, and a
    straight line in Time on the log scale (exponential growth in kg) is a poor description.
    The other tests improved not because the model improved: the residuals are now dominated
    by this systematic misfit, which hides the few outlying weighings.

    Two lessons:

    * Read the curvature row (residuals against squared fitted values and each numeric
      predictor) and the residuals-vs-fitted panel before the distribution tests.
    * A transformation of the response also changes the model for the mean. Fix the mean
      structure first.

    ## The better fix: model the curvature

    Keep Weight in kg and add a quadratic term for Time (`I(Time**2)` in the formula):
    """),
    code("""
    fit_quad = mk.fit_lmm("Weight ~ Time + I(Time**2) + (Time | Pig)", dietox)
    fig = mk.plot_diagnostics(fit_quad)
    """),
    code("severities(Weight=fit, log_Weight=fit_log, Weight_quadratic=fit_quad)"),
    md("""
    The residuals-vs-fitted trend is now flat. The quadratic term is also strongly supported
    by a likelihood-ratio test (the models differ in fixed effects, so `compare_models` refits
    both by ML):
    """),
    code("mk.compare_models(fit, fit_quad)"),
    md("""
    Two flags remain: a few outlying weighings (the heavy lower tail) and residual SDs that
    differ between pigs. What to do:

    * **Outliers:** check them with the data owner; meanwhile refit without them and see
      whether the conclusions change (a sensitivity analysis). Report both if they differ.
    * **Unequal residual variance between pigs:** statsmodels' `MixedLM` has a single residual
      variance, so this cannot be modelled here (R's `nlme::lme(weights = varIdent(...))` can).
      The fixed-effect estimates stay unbiased if the mean structure is right; their standard
      errors may be somewhat off, so interpret borderline p-values with care.
    """),
    code("""
    out = fit_quad.check_assumptions().attrs["outlier_rows"]
    fit_clean = mk.fit_lmm("Weight ~ Time + I(Time**2) + (Time | Pig)", dietox.drop(index=out))
    pd.DataFrame({
        "all rows": fit_quad.fixed_effects.set_index("term")["estimate"],
        f"without rows {out}": fit_clean.fixed_effects.set_index("term")["estimate"],
        "std_error (all rows)": fit_quad.fixed_effects.set_index("term")["std_error"],
    })
    """),
    md("""
    The estimates move by a small fraction of a standard error: the conclusions do not depend
    on those weighings. (Refitting without outliers can reveal new, milder "outliers": the
    residual SD shrinks and the cut-off moves with it. Do not iterate deletions.)

    ## The random effects: caterpillar plot
    """),
    code("fig = mk.plot_ranef(fit_quad)"),
    md("""
    One panel per random term: each pig's conditional mode (its deviation from the population
    intercept or slope) with a 95% interval, sorted. With 72 pigs the labels are left off. The
    plot shows how large the pig-to-pig differences are relative to the uncertainty of each
    pig's estimate. Pigs whose interval excludes 0 grow faster or slower than the average pig,
    but the intervals are conditional on the estimated variances and there are 72 of them, so
    this is a description, not a set of tests. The table behind the plot is `fit.ranef()`:
    """),
    code("""
    re = fit_quad.ranef()
    re[re["term"] == "Time"].nlargest(3, "estimate")   # the three fastest-growing pigs
    """),
    md("""
    ## Summary: a diagnostic routine

    1. `mk.plot_diagnostics(fit)`: read **residuals vs fitted first**; a trend means the mean
       structure is wrong and no transformation of the errors will fix it.
    2. `fit.check_assumptions()` (also in `fit.health`): normality, constant variance,
       outliers, influential groups, random-effect normality, with advice. A clean table does
       not prove a good model.
    3. Outlying rows (`.attrs["outlier_rows"]`): check the data; refit without them as a
       sensitivity analysis.
    4. Transform the response (`np.log(y)` in the formula) when the spread grows with the mean
       or the residuals are skewed, and then check the mean structure again.
    5. `mk.plot_ranef(fit)` and `fit.ranef()` describe the groups.

    **Next:** 05 moves to models with more than one grouping factor.
    """),
]

# --------------------------------------------------------------------------- 05
NESTED_CROSSED = [
    md("""
    # 05 · Nested and crossed random effects

    **The story.** Two classic designs with two grouping factors: casks *nested* in batches
    (Pastes) and samples *crossed* with plates (Penicillin). We write each in lme4 syntax,
    look at the statsmodels call it becomes, split the ICC by factor, and see what happens
    when a structure cannot be expressed in statsmodels.

    **You will learn** `(1 | a/b)` and `(1 | a) + (1 | b)`, why unique group labels matter,
    how statsmodels' single `groups` argument plus variance components covers both designs,
    and how to read the ICC of each factor.
    """),
    code(SETUP),
    md("""
    ## Nested: Pastes

    Pastes (Davies and Goldsmith, 1972; in lme4): the strength of a chemical paste. 10
    delivery batches; 3 casks sampled from each batch; 2 assays per cask: 60 rows. The cask
    labels a, b, c are reused in every batch: cask "a" of batch A and cask "a" of batch B are
    different casks. **Cask is nested in batch.**
    """),
    code("""
    pastes = mk.load_dataset("pastes")
    pastes.head(6)
    """),
    code("pd.crosstab(pastes['batch'], pastes['cask'])"),
    md("""
    $$\\text{strength}_{ijk} = \\mu + b_i + c_{ij} + \\varepsilon_{ijk},\\qquad
    b_i \\sim N(0, \\sigma^2_{\\text{batch}}),\\; c_{ij} \\sim N(0, \\sigma^2_{\\text{cask}}),\\;
    \\varepsilon_{ijk} \\sim N(0, \\sigma^2)$$

    In lme4 syntax: `(1 | batch/cask)`, short for `(1 | batch) + (1 | batch:cask)`. The
    second term's groups are the batch × cask combinations: the 30 distinct casks.
    """),
    code("""
    fit_p = mk.fit_lmm("strength ~ 1 + (1 | batch/cask)", pastes)
    fit_p
    """),
    code("print(fit_p.statsmodels_call)"),
    md("""
    statsmodels' `MixedLM` has a single `groups` argument: the data are split into
    independent blocks, here the batches. `re_formula="1"` gives each batch a random
    intercept. `vc_formula={"batch:cask": "0 + C(cask)"}` adds a *variance component*: within
    each batch, one random effect per cask level, all with the same variance. Because variance
    components live inside a block, cask "a" of batch A and cask "a" of batch B automatically
    get different effects: the nesting is expressed by the blocks.

    ### ICC per factor
    """),
    code("fit_p.icc()"),
    md("""
    * First rows, all factors together (0.94): the correlation between two assays of the same
      cask, $(\\sigma^2_{\\text{batch}} + \\sigma^2_{\\text{cask}}) / \\text{total}$.
    * `batch` (0.15): $\\sigma^2_{\\text{batch}} / \\text{total}$, the correlation between assays
      of *different* casks from the same batch.
    * `batch:cask` (0.78): the share of the variance due to casks within batches.

    Most of the variation is between casks, little between batches, and little between repeat
    assays. To estimate the mean strength more precisely, sample more casks, not more assays
    per cask. By hand:
    """),
    code("""
    var = fit_p.variance_components.set_index("group")["variance"]
    total = var.sum()
    print(f"same cask:                       {(var['batch'] + var['batch:cask']) / total:.3f}")
    print(f"same batch, different cask:      {var['batch'] / total:.3f}")
    print(f"share of casks within batches:   {var['batch:cask'] / total:.3f}")
    """),
    md("""
    ### A common mistake: implicit nesting

    Writing `(1 | batch) + (1 | cask)` treats `cask` as a factor with only **3** levels,
    *crossed* with batch: every "cask a" of every batch is taken to be the same cask. mixedkit
    fits what was asked (so does lme4) and warns about the 3 levels, but the variance
    components describe a design that does not exist:
    """),
    code("""
    wrong = mk.fit_lmm("strength ~ 1 + (1 | batch) + (1 | cask)", pastes)
    wrong.variance_components
    """),
    md("""
    The fix is `(1 | batch/cask)`, or labels that are unique across batches. Pastes has such a
    column, `sample` (= batch:cask), and `(1 | batch) + (1 | sample)` is the same model as
    `(1 | batch/cask)`:
    """),
    code("""
    same = mk.fit_lmm("strength ~ 1 + (1 | batch) + (1 | sample)", pastes)
    print(f"logLik (1 | batch/cask):          {fit_p.loglik:.4f}")
    print(f"logLik (1 | batch) + (1 | sample): {same.loglik:.4f}")
    print(f"logLik (1 | batch) + (1 | cask):   {wrong.loglik:.4f}   <- a different, wrong model")
    """),
    md("""
    ## Crossed: Penicillin

    Penicillin (Davies and Goldsmith, 1972; in lme4): the potency of 6 penicillin samples,
    measured as the diameter (mm) of the zone where bacterial growth is inhibited. Each of 24
    agar plates receives all 6 samples. Every sample meets every plate: the factors are
    **crossed**, neither is inside the other.
    """),
    code("""
    pen = mk.load_dataset("penicillin")
    pd.crosstab(pen["plate"], pen["sample"]).head()
    """),
    md("""
    $$\\text{diameter}_{ij} = \\mu + p_i + s_j + \\varepsilon_{ij},\\qquad
    p_i \\sim N(0, \\sigma^2_{\\text{plate}}),\\; s_j \\sim N(0, \\sigma^2_{\\text{sample}})$$

    In lme4 syntax: `(1 | plate) + (1 | sample)`.
    """),
    code("""
    fit_c = mk.fit_lmm("diameter ~ 1 + (1 | plate) + (1 | sample)", pen)
    fit_c
    """),
    code("print(fit_c.statsmodels_call)"),
    md("""
    No factor splits these data into independent blocks (every plate shares samples with
    every other plate), so statsmodels must treat the whole data set as **one** group
    (`groups=np.ones(len(data))`), with no block-level random effect (`re_formula="0"`) and
    each factor as a variance component. That is exact, but the single block is a dense
    matrix the size of the data; for large crossed designs it becomes slow, and mixedkit
    estimates the memory and time before fitting and refuses designs that are too large.
    """),
    code("fit_c.icc()"),
    md("""
    * `sample` (0.79): most of the variance is between the penicillin samples, as it should
      be in a potency assay.
    * `plate` (0.15): plate-to-plate variation is a smaller nuisance.
    * Both together (0.94): the correlation between two measurements on the same plate *with*
      the same sample, if that could be repeated.

    Note the intercept's Satterthwaite df in the card, about 5.5: the overall mean diameter is
    essentially an average over 6 samples, so its uncertainty is governed by the sample
    variance, and more plates would hardly help. (If the interest is in these 6 particular
    samples rather than in a population of samples, `sample` belongs in the fixed part
    instead.)

    The caterpillar plot works for crossed factors too, one panel per factor:
    """),
    code("fig = mk.plot_ranef(fit_c)"),
    md("""
    ## When statsmodels cannot express a structure

    statsmodels' `MixedLM` allows correlated random effects (a full covariance matrix) only
    for the single `groups` factor; every other factor enters as independent variance
    components. Some lme4 structures therefore have no statsmodels equivalent. mixedkit then
    refuses the formula with a message that names the term and says what to write instead; it
    never silently fits a different model.

    Example: in dietox the pigs are nested in 21 litters. Growth lines with a correlated
    intercept and slope per pig, plus a litter intercept, would be
    `Weight ~ Time + (Time | Pig) + (1 | Litter)`. Litter must be the block (the outer factor),
    so the pig terms would have to be variance components, which cannot be correlated:
    """),
    code("""
    dietox = mk.load_dataset("dietox")
    try:
        mk.fit_lmm("Weight ~ Time + (Time | Pig) + (1 | Litter)", dietox)
    except mk.FormulaError as err:
        print(f"{type(err).__name__}: {err}")
    """),
    md("""
    Following the advice, the uncorrelated version `(Time || Pig)` can be fitted (keeping in
    mind from notebook 02 that `||` depends on where Time = 0 is):
    """),
    code("""
    fit_d = mk.fit_lmm("Weight ~ Time + (Time || Pig) + (1 | Litter)", dietox)
    print(fit_d.statsmodels_call)
    fit_d.variance_components
    """),
    code("fit_d.icc()"),
    md("""
    Litters explain only a small share of the variance (about 6%) once pigs are accounted for.

    A different kind of refusal concerns the data, not statsmodels: in Penicillin each plate ×
    sample combination is measured once, so a random effect for that combination cannot be
    told apart from the residual. lme4 refuses this too.
    """),
    code("""
    try:
        mk.fit_lmm("diameter ~ 1 + (1 | plate) + (1 | sample) + (1 | plate:sample)", pen)
    except mk.DataError as err:
        print(f"{type(err).__name__}: {err}")
    """),
    md("""
    All mixedkit errors derive from `mk.MixedkitError` and from the built-in exception they
    refine (`DataError` and `FormulaError` are `ValueError`s), so `except mk.MixedkitError`
    catches them all.

    ## Summary

    | design | lme4 formula | statsmodels call mixedkit makes |
    |---|---|---|
    | b nested in a | `(1 \\| a/b)` = `(1 \\| a) + (1 \\| a:b)` | `groups="a", re_formula="1", vc_formula={"a:b": "0 + C(b)"}` |
    | a and b crossed | `(1 \\| a) + (1 \\| b)` | `groups=np.ones(len(data)), re_formula="0", vc_formula={"a": "0 + C(a)", "b": "0 + C(b)"}` |
    | slope correlated with intercept, one factor | `(x \\| g)` | `groups="g", re_formula="~x"` |
    | correlated slope on a non-block factor | `(x \\| b) + (1 \\| a)` | not expressible: use `(x \\|\\| b)` |

    * Nested labels that repeat across groups need `a/b` (or unique labels); otherwise the
      model is silently a crossed one.
    * `fit.icc()` gives one row per grouping factor: where the variation is.
    * `fit.statsmodels_call` shows what was fitted.
    """),
]

# --------------------------------------------------------------------------- 06
FACTORS = [
    md("""
    # 06 · Factors: F tests, means and contrasts

    **The story.** Nine people each tried four ergonomic stools and rated how much effort it
    took to get up from each one. Do the stools differ? If they do, which ones, and by how
    much? And how much do the people differ?

    **You will learn** to put a categorical predictor (a *factor*) in the fixed part of a
    model, to test it as a whole with an F test (`fit.anova()`) and to read its degrees of
    freedom, why a likelihood-ratio test is too optimistic with few subjects, when
    Kenward–Roger and Satterthwaite differ, and to report estimated marginal means
    (`fit.marginal_means`), pairwise comparisons with Tukey's adjustment (`fit.contrasts`),
    profile intervals for the variance components (`fit.confint`) and `mk.plot_means`.

    *Assumed background:* notebook 01. Having met one-way ANOVA helps but is not needed.
    """),
    code("""
    %matplotlib inline
    import numpy as np
    import pandas as pd
    from scipy import stats

    import mixedkit as mk

    pd.set_option("display.precision", 4)
    pd.set_option("display.width", 120)
    pd.set_option("display.max_colwidth", 90)
    """),
    md("""
    ## The data

    `ergoStool` (Pinheiro and Bates, 2000; R's nlme package): 9 subjects each rated all 4
    stool types (T1 to T4) once on the Borg scale of perceived exertion: 36 ratings. It is
    not bundled with mixedkit, so we type it in, one row per subject and one column per
    stool, and then turn it into the long format that models need (one row per rating).
    """),
    code("""
    # nlme::ergoStool: effort to arise from each stool type (Borg scale)
    wide = pd.DataFrame(
        [[12, 15, 12, 10],
         [10, 14, 13, 12],
         [7, 14, 13, 9],
         [7, 11, 10, 9],
         [8, 11, 8, 7],
         [9, 11, 11, 10],
         [8, 12, 12, 11],
         [7, 11, 8, 7],
         [9, 13, 10, 8]],
        index=pd.Index([str(s) for s in range(1, 10)], name="Subject"),
        columns=pd.Index(["T1", "T2", "T3", "T4"], name="Type"),
    )
    ergo = wide.stack().rename("effort").reset_index()   # long format: one row per rating
    print(f"{len(ergo)} rows, {ergo['Subject'].nunique()} subjects, "
          f"{ergo['Type'].nunique()} stool types")
    ergo.head()
    """),
    code("""
    overview = wide.astype(float).assign(**{"subject mean": wide.mean(axis=1)})
    overview.loc["stool mean"] = overview.mean()
    overview.round(2)
    """),
    md("""
    Two things to see:

    * the stool means (last row) differ;
    * the subjects differ a lot in their overall level (last column): some people rate every
      stool as hard work.

    Every subject tried every stool, so **Type is a within-subject factor**: each subject is
    their own control, and a subject's overall level cancels out of every comparison between
    two stools. A random intercept per subject says exactly this. (The classical names of
    this design: randomized complete block, or one-way repeated-measures ANOVA.)

    ## The model

    $$\\text{effort}_{ij} = \\mu_j + s_i + \\varepsilon_{ij},\\qquad
    s_i \\sim N(0, \\sigma^2_{\\text{Subject}}),\\quad \\varepsilon_{ij} \\sim N(0, \\sigma^2)$$

    * $\\mu_j$ is the mean effort for stool type $j$: **fixed**, because we care about these
      four particular stools;
    * $s_i$ is subject $i$'s personal offset: **random**, because the subjects are a sample of
      people and we care about people in general.

    In lme4 syntax: `effort ~ Type + (1 | Subject)`. `Type` holds text, so it is a factor: its
    4 levels become an intercept (the mean of the first level, T1) and 3 coefficients, each the
    difference between one stool and T1 (treatment coding, R's default).
    """),
    code("""
    fit = mk.fit_lmm("effort ~ Type + (1 | Subject)", ergo)
    fit.fixed_effects
    """),
    md("""
    Each coefficient tests one stool against T1. None of these tests answers the question we
    asked, "does the stool type matter at all?", and they would change if another stool had
    been the first level. The question is about all three coefficients at once: all zero
    means all four stool means are equal.

    ## Is there an effect of Type? The F test
    """),
    code("""
    table = fit.anova()
    print(table)
    """),
    md("""
    * The heading says which test this is: **Type III** (each term adjusted for all the
      others, lmerTest's and SAS's default) with **Satterthwaite's** degrees of freedom. With
      a single factor, Types I, II and III are the same test; they differ when a model has
      several terms and the data are unbalanced.
    * **statistic** is F: the three coefficients tested together (a Wald test divided by
      their number). Its numerator df, **num_df**, is the number of coefficients tested:
      levels − 1 = 4 − 1 = 3.
    * **den_df** says how much information the estimate of the noise rests on. Comparisons
      between stools are made *within* subjects, so their precision depends on the
      within-subject residuals: 36 ratings, minus 9 subject means, minus 3 stool effects, leave
      (9 − 1) × (4 − 1) = 24 degrees of freedom. Satterthwaite's approximation finds this
      without being told the design:
    """),
    code("""
    n_subjects, n_types = ergo["Subject"].nunique(), ergo["Type"].nunique()
    print(f"(subjects - 1) x (types - 1) = {(n_subjects - 1) * (n_types - 1)}; "
          f"Satterthwaite's den_df = {table['den_df'].iloc[0]:.4f}")
    """),
    md("""
    In a balanced design like this one, the mixed-model F test *is* the classical
    repeated-measures ANOVA; statsmodels has that as `AnovaRM`. (The mixed model keeps working
    when ratings are missing, where `AnovaRM` refuses, and it gives the means and contrasts
    below.)
    """),
    code("""
    from statsmodels.stats.anova import AnovaRM

    print(AnovaRM(ergo, "effort", "Subject", within=["Type"]).fit())
    """),
    md("""
    A report of this test would read:
    """),
    code("""
    row = table.iloc[0]
    print(f"Stool type affected the effort ratings, F({row['num_df']}, {row['den_df']:.0f}) = "
          f"{row['statistic']:.2f}, p = {row['p_value']:.1g} (Type III test, Satterthwaite df).")
    """),
    md("""
    ### Why not a likelihood-ratio test?

    Another way to test Type: fit the model with and without it by maximum likelihood and
    compare the log-likelihoods with a chi-square test on 3 df (notebook 03;
    `compare_models` refits both models by ML because their fixed effects differ).
    """),
    code("""
    fit0 = mk.fit_lmm("effort ~ 1 + (1 | Subject)", ergo)
    lrt = mk.compare_models(fit0, fit)
    lrt
    """),
    code("""
    pd.DataFrame({"p_value": [table["p_value"].iloc[0], lrt.table["p_value"].iloc[1]]},
                 index=["F test, Satterthwaite df", "likelihood ratio, chi-square"])
    """),
    md("""
    Both p-values are tiny, so the conclusion is the same here. But the likelihood-ratio
    p-value is the smaller one, and that is systematic. The chi-square distribution is the
    large-sample limit: it treats the residual variance as if it were known (like a *z* test
    instead of a *t* test), while with 9 subjects it is estimated from only 24 df, and
    maximum-likelihood variance estimates are biased downwards on top of that. With few
    subjects, the likelihood-ratio test rejects a true null hypothesis too often: it is
    **liberal** (anti-conservative).

    How often? In this balanced design the likelihood-ratio statistic is a function of F,
    $LR = (N - S)\\log(1 + \\text{num\\_df}\\cdot F / \\text{den\\_df})$ with $N$ ratings and
    $S$ subjects (as long as the subject variance is not estimated as 0). Since F has an exact
    F(3, 24) distribution when the stools do not differ, the real error rate of the "5%"
    likelihood-ratio test can be computed exactly:
    """),
    code("""
    N, S = len(ergo), ergo["Subject"].nunique()
    F, num, den = table["statistic"].iloc[0], table["num_df"].iloc[0], table["den_df"].iloc[0]
    print(f"LR statistic from the two ML fits:  {lrt.table['chisq'].iloc[1]:.4f}")
    print(f"(N - S) log(1 + num_df F / den_df): {(N - S) * np.log1p(num * F / den):.4f}")

    lr_cut = stats.chi2.ppf(0.95, num)             # the LR test rejects above this
    f_cut = np.expm1(lr_cut / (N - S)) * den / num  # the same cut-off on the F scale
    print(f"real type I error rate of the nominal 5% LR test: {stats.f.sf(f_cut, num, den):.3f}")
    """),
    md("""
    The "5%" test is wrong noticeably more often than 5% of the time, and the fewer the
    subjects, the worse it gets. For fixed effects in small samples, use F (or *t*) tests with
    Satterthwaite or Kenward–Roger degrees of freedom; keep likelihood-ratio tests for large
    samples and for random effects.

    ## Kenward–Roger or Satterthwaite?

    Both approximate the small-sample distribution of F. Kenward–Roger (R's pbkrtest) also
    inflates the covariance matrix of the estimates to account for the variances being
    estimated; Satterthwaite (R's lmerTest) keeps the usual one and only adjusts the df.
    """),
    code("""
    def both_methods(f):   # the anova table of fit f with each df method, one row each
        return pd.DataFrame(pd.concat({"Satterthwaite": f.anova(),
                                       "Kenward-Roger": f.anova(df_method="kenward-roger")},
                                      names=["df_method", None]).droplevel(1))


    both_methods(fit)
    """),
    md("""
    Identical: in a balanced design whose F test is a classical ANOVA F test, both methods
    recover its exact df and Kenward–Roger's inflation is zero. They differ when the data are
    unbalanced (missing observations, unequal group sizes), with few groups, and most in
    designs where a test mixes several variance components (split-plot designs, random slopes).
    Kenward–Roger is then usually the safer choice; it needs a REML fit and is slower on large
    data. Remove three ratings and they part ways, a little:
    """),
    code("""
    unbalanced = ergo.drop(index=[1, 6, 11])   # subjects 1, 2 and 3 each miss one rating
    fit_u = mk.fit_lmm("effort ~ Type + (1 | Subject)", unbalanced)
    both_methods(fit_u)
    """),
    md("""
    `mk.fit_lmm(..., df_method="kenward-roger")` makes Kenward–Roger the default of every
    table of the fit: fixed effects, `anova`, marginal means and contrasts.

    ## Marginal means: how hard is each stool?
    """),
    code("""
    means = fit.marginal_means("Type")
    means
    """),
    md("""
    * The **estimate** is the model's mean effort for each stool, with a 95% interval. In a
      balanced design it equals the raw stool mean (below). With missing data, unequal cell
      counts or covariates it does not, and the marginal mean (emmeans' *estimated marginal
      mean*, SAS's *least-squares mean*) is the model's answer: the average over a balanced
      grid of the other factors, with covariates held at their means.
    * The intervals are **wide**, with df between the number of subjects and the number of
      rows: the mean effort of a stool *for people in general* includes how much people
      differ ($\\sigma^2_{\\text{Subject}}$), and 9 subjects pin that down only roughly.
    """),
    code("""
    pd.DataFrame({"raw mean": ergo.groupby("Type")["effort"].mean(),
                  "marginal mean": means.set_index("Type")["estimate"]})
    """),
    md("""
    ## Which stools differ? Pairwise contrasts
    """),
    code("""
    pairs = fit.contrasts("Type")
    pairs
    """),
    md("""
    All 6 differences between two stools ("T1 - T2" is T1's mean minus T2's).

    * The **std_error** of a difference is smaller than that of a mean (compare with the
      table above), and its df are the within-subject 24 again: subject offsets cancel out of a
      within-subject difference, so only the residual variance counts. This is why a
      within-subject design is efficient.
    * **Tukey's adjustment.** Six tests at the 5% level each: if the stools did not differ at
      all, the chance that at least one of the six comes out "significant" would be well above
      5%. Tukey's method compares each *t* statistic with the distribution of the *largest*
      standardized difference among all the means (the studentized range), so that the chance
      of any false positive among all the pairs stays at 5% (the family-wise error rate). The
      price is larger p-values and wider intervals, which are now *simultaneous*: all six
      cover their true differences together with 95% probability.
    """),
    code("""
    raw = fit.contrasts("Type", adjust="none").set_index("contrast")
    tukey = pairs.set_index("contrast")
    pd.DataFrame({
        "p (unadjusted)": raw["p_value"], "p (Tukey)": tukey["p_value"],
        "CI width (unadjusted)": raw["conf_high"] - raw["conf_low"],
        "CI width (Tukey)": tukey["conf_high"] - tukey["conf_low"],
    })
    """),
    code("""
    different = pairs.loc[pairs["p_value"] < 0.05, "contrast"]
    print("Different at the 5% level, Tukey-adjusted:", ", ".join(different))
    """),
    md("""
    Other options: `adjust="holm"`, `"bonferroni"`, `"sidak"` or `"none"`;
    `method="treatment"` compares each stool with the first only (fewer comparisons, so a
    milder adjustment); with `by="B"` the comparisons, and the adjustment, are made within
    each level of another factor B.

    ## How much do people differ? Variance components and profile intervals
    """),
    code("fit.variance_components"),
    code("""
    ci = fit.confint()          # method="profile", as lme4's confint()
    ci
    """),
    md("""
    * The rows `ran_pars` are the SD of the subject offsets and the residual SD. Their
      intervals come from the **likelihood profile**: each limit is where the deviance has
      risen by the 95% quantile of a chi-square on 1 df. They are **asymmetric**, as they
      should be: an SD cannot be negative and its sampling distribution is skewed, so an
      estimate ± 1.96 SE interval would make little sense for an SD from 9 subjects.
    * Compare the width of each interval with its estimate: with 9 subjects, the subject SD is
      known only roughly; the residual SD, which rests on the 24 within-subject df, better.
    * As in lme4, the profile is computed on the ML likelihood, also for a REML fit; the
      notes say what was done:
    """),
    code("ci.attrs['notes']"),
    md("""
    ## A picture
    """),
    code("""
    ax = mk.plot_means(fit, "Type")
    for _, ratings in wide.iterrows():   # each subject's four ratings, joined
        ax.plot(range(len(ratings)), ratings.to_numpy(), color="grey", lw=0.6, alpha=0.4)
    """),
    md("""
    The means with their 95% intervals, over the raw ratings; the grey lines join each
    subject's four ratings. Nearly every line rises from T1 to T2 and falls again towards
    T4, at very different heights: people differ in their level, but largely agree on which
    stools are harder.

    This is also why **overlapping intervals of two means do not show that they do not
    differ**. The intervals of the means contain the subject-to-subject variation, which
    cancels out of within-subject differences. Judge differences from the contrasts. The
    pairs whose mean intervals overlap and yet differ significantly (Tukey):
    """),
    code("""
    import itertools

    m = means.set_index("Type")
    p = pairs.set_index("contrast")["p_value"]
    for a, b in itertools.combinations(m.index, 2):
        overlap = m.loc[a, "conf_low"] <= m.loc[b, "conf_high"] and \\
            m.loc[b, "conf_low"] <= m.loc[a, "conf_high"]
        if overlap and p[f"{a} - {b}"] < 0.05:
            print(f"{a} and {b}: intervals overlap, Tukey p = {p[f'{a} - {b}']:.3f}")
    """),
    md("""
    ## Summary

    * A factor in the fixed part: `effort ~ Type + (1 | Subject)`. Its coefficients are
      differences from the first level; they do not test the factor.
    * "Does the factor matter?" is `fit.anova()`: a Type III F test with Satterthwaite (or
      Kenward–Roger) denominator df. In a balanced repeated-measures design it is the
      classical repeated-measures ANOVA, F(levels − 1, (subjects − 1)(levels − 1)).
    * With few subjects, likelihood-ratio chi-square tests of fixed effects are liberal;
      prefer the F test.
    * Kenward–Roger and Satterthwaite agree in balanced designs; they differ with unbalanced
      data, few groups and several variance components in one test.
    * `fit.marginal_means("Type")`: model-based means with intervals (between-subject
      variation included); `fit.contrasts("Type")`: pairwise differences with Tukey's
      family-wise adjustment.
    * `fit.confint()`: profile intervals, the right kind for SDs.
    * From a terminal, on a CSV file:
      `mixedkit anova ergo.csv "effort ~ Type + (1 | Subject)"` and
      `mixedkit means ergo.csv "effort ~ Type + (1 | Subject)" Type --contrasts`.
    """),
]

NOTEBOOKS = {
    "01_quick_start.ipynb": QUICK_START,
    "02_random_slopes.ipynb": RANDOM_SLOPES,
    "03_model_comparison.ipynb": MODEL_COMPARISON,
    "04_diagnostics.ipynb": DIAGNOSTICS,
    "05_nested_and_crossed.ipynb": NESTED_CROSSED,
    "06_factors.ipynb": FACTORS,
}


def build(name: str, cells) -> nbformat.NotebookNode:
    """The notebook ``name`` without outputs, with deterministic cell ids."""
    nb = new_notebook()
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    stem = name.removesuffix(".ipynb").replace("_", "-")
    for i, (kind, text) in enumerate(cells):
        cell = new_markdown_cell(text) if kind == "md" else new_code_cell(text)
        cell["id"] = f"{stem}-{i:02d}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name, cells in NOTEBOOKS.items():
        path = HERE / name
        text = nbformat.writes(build(name, cells)) + "\n"
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print("out of date (run notebooks/make_notebooks.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
