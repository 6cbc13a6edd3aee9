# ruff: noqa: B018
# Source of notebooks/01_quick_start.ipynb (percent format: `# %%` starts a code cell,
# `# %% [markdown]` a markdown cell). Edit here, then run
# `python notebooks/make_notebooks.py`; see notebooks/README.md.

# %% [markdown]
# # 01 · Quick start: one model, read piece by piece
#
# **The story.** Sleep deprivation slows people down. By how much per day, and how much do
# people differ? We fit one linear mixed model with one call and read everything it reports.
#
# **You will learn** to fit a model with `mk.fit_lmm` and to read, one piece at a time, the
# fixed effects (with Satterthwaite degrees of freedom), the variance components, the
# intraclass correlation (ICC), R², the health verdict, statsmodels' own summary of the
# same fit line by line, and the paste-ready report.
#
# *Assumed background:* linear regression (coefficients, standard errors, t tests, R²).

# %%
# %matplotlib inline
import pandas as pd

import mixedkit as mk

pd.set_option("display.precision", 4)
pd.set_option("display.width", 120)
pd.set_option("display.max_colwidth", 90)

# %% [markdown]
# ## The data
#
# `sleepstudy` (Belenky et al., 2003; the example data of R's lme4): 18 drivers were allowed
# only 3 hours in bed per night, and their average reaction time (ms) on a vigilance test
# was measured on days 0 to 9. (lme4's `?sleepstudy` adds that days 0 and 1 were training
# and day 2 the baseline, the restriction starting after day 2; notebook 02 comes back to
# this. Here, like lme4's own examples, we use all ten days as they are.)
#
# Each subject contributes 10 rows, and rows from the same subject are **not independent**:
# a slow subject is slow every day. Ordinary least squares would count 180 rows as 180
# independent pieces of information, and its standard errors would be wrong.

# %%
sleep = mk.load_dataset("sleepstudy")
print(f"{len(sleep)} rows, {sleep['Subject'].nunique()} subjects")
sleep.head()

# %%
# Subjects differ a lot in their average reaction time
sleep.groupby("Subject")["Reaction"].agg(["size", "mean", "std"]).sort_values("mean").head(8)

# %% [markdown]
# ## The model
#
# $$\text{Reaction}_{ij} = \beta_0 + \beta_1\,\text{Days}_{ij} + u_j + \varepsilon_{ij},
# \qquad u_j \sim N(0, \sigma^2_{\text{Subject}}),\quad
# \varepsilon_{ij} \sim N(0, \sigma^2)$$
#
# * $\beta_0, \beta_1$ are the **fixed effects**: the line of the average subject.
# * $u_j$ is subject $j$'s deviation from the average baseline, a **random intercept**.
#   We do not estimate 18 free intercepts; we estimate how much intercepts vary,
#   $\sigma^2_{\text{Subject}}$.
# * In lme4 formula syntax this is `Reaction ~ Days + (1 | Subject)`: read `(1 | Subject)`
#   as "an intercept that varies by Subject".
#
# `fit_lmm` estimates by REML (restricted maximum likelihood) unless you pass `reml=False`,
# like lme4. Maximum likelihood (ML) underestimates variances in small samples; REML
# reduces that bias (it does not remove it). Notebook 03 explains the difference.

# %%
fit = mk.fit_lmm("Reaction ~ Days + (1 | Subject)", sleep)
fit

# %% [markdown]
# In a notebook the fit shows as a card. `fit.summary()` is the same as plain text (what
# `print(fit)` shows in a terminal):

# %%
print(fit.summary())

# %% [markdown]
# The header says how the model was fitted (REML), on how many rows and groups, and gives
# the log-likelihood, AIC and BIC. For a REML fit these are REML values: use them only to
# compare models with the **same fixed effects** (notebook 03).
#
# Now the pieces, each of which is also available as a DataFrame at full precision.
#
# ## 1. Fixed effects

# %%
fe = fit.fixed_effects.set_index("term")
fe

# %% [markdown]
# * **estimate**: reaction time rises by {{fe.loc["Days", "estimate"]:.1f}} ms per day in
#   the study, from {{fe.loc["Intercept", "estimate"]:.0f}} ms on day 0 (the intercept).
# * **std_error**: from $(X'V^{-1}X)^{-1}$, where $V$ is the covariance of the observations
#   implied by the model, so the correlation within subjects is taken into account (this is
#   lme4's `vcov()`).
# * **statistic** is estimate / std_error, compared with a *t* distribution whose degrees
#   of freedom (**df**) come from the **Satterthwaite** approximation (as R's lmerTest).
#   The df say how much independent information the standard error rests on:
#   * `Days` varies *within* every subject, so it is estimated from within-subject
#     comparisons: {{fe.loc["Days", "df"]:.0f}} df, what a regression with one intercept
#     per subject leaves (180 rows − 18 intercepts − 1 slope);
#   * the intercept (the average day-0 reaction time) is a *between-subject* quantity:
#     {{fe.loc["Intercept", "df"]:.1f}} df, near the number of subjects, far from the
#     number of rows.
# * **p_value**: two-sided, from the same *t* test. pandas writes very small numbers in
#   e-notation: `4e-07` is $4 \times 10^{-7} = 0.0000004$, and `e-18` in the table means
#   $\times 10^{-18}$; the card above shows `<1e-16` for any p-value below $10^{-16}$. Both
#   p-values are far below 0.001: report them as "p < .001", never as `p = 0.000` or in
#   e-notation.
# * **conf_low / conf_high**: a 95% interval from the same *t* distribution.
#
# **How these notebooks test.** Fixed effects are tested with *t* and *F* tests with
# Satterthwaite (the default) or Kenward–Roger degrees of freedom: `fit.fixed_effects` for
# each coefficient, `fit.anova()` for a term, including several coefficients at once (a
# multi-df *F* test), `fit.contrasts()` for comparisons. The χ² likelihood-ratio test of
# fixed effects (between ML fits) is liberal with few groups: it is for large samples only.
# Random effects (variance components) are tested by a likelihood-ratio test between REML
# fits with the boundary (50:50 mixture) correction (`mk.compare_models`), or by a
# parametric bootstrap (notebook 03).
#
# With few groups, the normal (*z*) reference that some software uses, statsmodels among
# them (section 6), is too optimistic. Compare the interval widths (`df_method="normal"`
# gives *z*):

# %%
fe_z = mk.fit_lmm("Reaction ~ Days + (1 | Subject)", sleep,
                  df_method="normal").fixed_effects.set_index("term")
t_width = fe["conf_high"] - fe["conf_low"]
z_width = fe_z["conf_high"] - fe_z["conf_low"]
pd.DataFrame({"Satterthwaite df": fe["df"], "95% CI width (t)": t_width,
              "95% CI width (z)": z_width})

# %% [markdown]
# With {{fe.loc["Days", "df"]:.0f}} df, the *t* and *z* intervals for Days barely differ;
# for the intercept ({{fe.loc["Intercept", "df"]:.1f}} df) the *t* interval is
# {{t_width["Intercept"] / z_width["Intercept"] - 1:.0%}} wider. The fewer the groups, the
# more this matters.
#
# ## 2. Variance components

# %%
vc = fit.variance_components.set_index("group")
vc

# %% [markdown]
# * **Subject**: the SD of the random intercepts, {{vc.loc["Subject", "std_dev"]:.1f}} ms.
#   Subjects' own day-0 levels (what each subject would average on day 0, without the
#   day-to-day noise) scatter around {{fe.loc["Intercept", "estimate"]:.0f}} ms with that SD.
# * **Residual**: the SD of a subject's day-to-day scatter around their own line,
#   {{vc.loc["Residual", "std_dev"]:.1f}} ms.
# * `variance` is `std_dev` squared, in ms²: {{vc.loc["Subject", "std_dev"]:.3f}}² =
#   {{vc.loc["Subject", "variance"]:.1f}}. Variances add up (the ICC and R² below are
#   ratios of them); SDs are on the scale of the data. The `covariance` and `corr` columns
#   are empty (NaN) here: they are used when a grouping factor has correlated random effects
#   (notebook 02).
#
# The SD can be read directly, for example as the range that covers about 95% of subjects:

# %%
sd = vc["std_dev"]
low = fe.loc["Intercept", "estimate"] - 1.96 * sd["Subject"]
high = fe.loc["Intercept", "estimate"] + 1.96 * sd["Subject"]
print(f"The model puts about 95% of subjects' day-0 mean reaction times between "
      f"{low:.0f} and {high:.0f} ms")

# %% [markdown]
# ## 3. Intraclass correlation (ICC)

# %%
icc_tab = fit.icc().set_index("kind")
icc_tab

# %% [markdown]
# * **adjusted ICC** $= \sigma^2_{\text{Subject}} / (\sigma^2_{\text{Subject}} + \sigma^2)$,
#   here {{icc_tab.loc["adjusted", "estimate"]:.2f}}. In a random-intercept model it has two
#   equivalent readings: the share of the variance not explained by the fixed effects that
#   lies *between* subjects, and the correlation between two measurements of the same
#   subject after adjusting for Days, however many days apart they are (a random intercept
#   makes every pair of a subject's measurements equally correlated).
# * **unadjusted ICC** also puts the variance explained by the fixed effects in the
#   denominator; it is smaller ({{icc_tab.loc["unadjusted", "estimate"]:.2f}}) because Days
#   explains a lot.
# * **design effect** $= 1 + (m - 1)\,\text{ICC}$ with $m = 10$ rows per subject:
#   {{icc_tab.loc["design_effect", "estimate"]:.1f}}. For a between-subject quantity such as
#   the overall mean, 180 correlated rows carry about as much information as
#   {{len(sleep) / icc_tab.loc["design_effect", "estimate"]:.0f}} independent ones. (For a
#   predictor that varies within subjects, like Days, the opposite happens: the random
#   intercept removes the between-subject noise, hence its {{fe.loc["Days", "df"]:.0f}} df.)
#
# The `conf_low` and `conf_high` columns are empty (NaN) because an interval for an ICC
# needs a parametric bootstrap: `fit.icc(n_boot=1000)` fills them (and `fit.r2(n_boot=...)`
# those of R² below). The same numbers by hand from the variance components:

# %%
var = vc["variance"]
icc = var["Subject"] / (var["Subject"] + var["Residual"])
m = len(sleep) / sleep["Subject"].nunique()
deff = 1 + (m - 1) * icc
print(f"ICC = {icc:.3f}, design effect = {deff:.2f}, "
      f"effective sample size for the mean = {len(sleep) / deff:.0f}")

# %% [markdown]
# ## 4. R²

# %%
r2 = fit.r2().set_index("kind")
r2

# %% [markdown]
# Nakagawa and Schielzeth's R² for mixed models (as R's `performance::r2_nakagawa`). With
# $\sigma^2_f$ the variance of the fixed-effect predictions $X\hat\beta$:
#
# * **marginal** $= \sigma^2_f / (\sigma^2_f + \sigma^2_{\text{Subject}} + \sigma^2)$, here
#   {{r2.loc["marginal", "estimate"]:.2f}}: Days alone explains
#   {{r2.loc["marginal", "estimate"]:.0%}} of the variance;
# * **conditional** $= (\sigma^2_f + \sigma^2_{\text{Subject}}) / (\text{same total})$, here
#   {{r2.loc["conditional", "estimate"]:.2f}}: Days plus knowing who the subject is.
#
# The gap between the two is what the subjects add. By hand:

# %%
var_fixed = fit.fitted("marginal").var()          # variance of X beta over the rows
total = var_fixed + var["Subject"] + var["Residual"]
print(f"marginal R² = {var_fixed / total:.3f}, "
      f"conditional R² = {(var_fixed + var['Subject']) / total:.3f}")

# %% [markdown]
# ## 5. Health
#
# `fit.health` is one ranked list, worst first: did the optimiser converge, is the fit
# singular (a variance estimated as 0 or a correlation as ±1, meaning the random part is
# richer than the data support), what the data checks found, and the assumption checks of
# `fit.check_assumptions()` (notebook 04).

# %%
print(fit.health)

# %%
health = fit.health.to_frame()
flags = health[health["severity"] == "warning"]
cutoff = fit.check_assumptions().attrs["cutoff"]   # the outlier check's cut-off
flags[["check", "what"]]

# %% [markdown]
# Estimation is fine: converged, not singular. {{len(flags):Words}} assumption checks raise
# a flag (`[!]`):
#
# * **curvature**: the residuals bend against the fitted values. The check traces the bend
#   to Days slopes that differ between subjects, and suggests a random slope,
#   `(Days | Subject)`, rather than a curved term;
# * **constant variance across groups**: the residual spread differs between subjects;
# * **outlying observations**: rows far from their fitted values, named in the fix (check
#   them for data errors first). "Far" is a Pearson residual (residual / residual SD)
#   beyond ±{{cutoff:.2f}}: with {{len(sleep)}} rows, normal residuals cross that line in
#   at most 5% of data sets (a Bonferroni cut-off, which grows with the number of rows).
#
# An `[i]` line is a note, not a flag: here the residuals' tails are heavier than a normal
# distribution's, a departure the test detects (p < 0.01) but not large enough to flag (the
# outlying row is part of it). A flag is a prompt to look, not a verdict that the
# model is useless. The first two flags have a likely common cause: subjects differ not
# only in their baseline but also in how fast they deteriorate, and a random-intercept
# model forces those different slopes into the residuals. Notebook 02 adds the random
# slope.
#
# ## 6. statsmodels: the call, and its summary line by line
#
# mixedkit fits statsmodels' `MixedLM` model: the same model and the same likelihood
# (evaluated by mixedkit's faster engine, which the tests check against statsmodels' own),
# optimised until lme4's optimum is reached (lme4's parametrisation, start values and
# fallbacks), and reported with lme4's standard errors and lmerTest's tests.
# `fit.statsmodels_call` is the same model in raw statsmodels, ready to paste:

# %%
print(fit.statsmodels_call)

# %% [markdown]
# `(1 | Subject)` became `groups="Subject"`: the subjects are independent blocks, each with
# a random intercept (statsmodels' default random part). Running it ourselves:

# %%
import statsmodels.formula.api as smf

data = sleep
raw = smf.mixedlm("Reaction ~ Days", data, groups="Subject").fit(reml=True)
pd.DataFrame(
    {"mixedkit": [fit.loglik, *fe["estimate"], *var],
     "statsmodels": [raw.llf, *raw.fe_params, raw.cov_re.iloc[0, 0], raw.scale]},
    index=["logLik (REML)", "Intercept", "Days", "Subject variance", "Residual variance"],
)

# %% [markdown]
# For this simple model statsmodels' default fit reaches the same optimum. For richer models
# it does not always: on the `dietox` data of notebook 04 with a random slope for Time, the
# default `MixedLM.fit()` stops unconverged with warnings, while mixedkit reaches lme4's
# answer.
#
# `fit.statsmodels_result` is the escape hatch: statsmodels' own results object at
# mixedkit's optimum, so everything statsmodels offers works on it. Its `summary()` is what
# statsmodels users know:

# %%
sm = fit.statsmodels_result
summary = sm.summary()
print(summary)
coefs = summary.tables[1]          # the coefficient block, as printed
var_line = next(name for name in coefs.index if name.endswith(" Var"))

# %% [markdown]
# Line by line, with where mixedkit has each number (`fit.statsmodels_lines()` gives the
# same map as a table):
#
# | statsmodels | what it is | mixedkit |
# |---|---|---|
# | `Model`, `Dependent Variable`, `Method` | the model class, the response, REML estimation | the card's header; `fit.reml` |
# | `No. Observations`, `No. Groups`, `Min./Max./Mean group size` | 180 rows, 18 subjects, 10 rows per subject | `fit.n_obs`, `fit.n_groups` |
# | `Scale` | the **residual variance** σ² in ms², not an SD | `variance` of the `Residual` row (`fit.scale`); its `std_dev` is √{{sm.scale:.1f}} = {{sm.scale ** 0.5:.2f}} ms |
# | `Log-Likelihood` | the **REML** log-likelihood, not ML's: compare it only between models with the same fixed effects | `fit.loglik` |
# | `Converged` | whether the optimiser converged | `fit.converged`; `fit.health` says more |
# | `Coef.`, `Std.Err.` | fixed-effect estimates and standard errors | `estimate`, `std_error` (the same numbers here) |
# | `z` | estimate / standard error | `statistic` (the same number) |
# | `P>\|z\|`, `[0.025 0.975]` | p-value and 95 % interval from the **normal** distribution, with no degrees of freedom: too liberal with 18 subjects (section 1) | `p_value`, `conf_low`, `conf_high`, from *t* with Satterthwaite df |
# | `0.000` under `P>\|z\|` | a p-value rounded to three decimals, not zero | report "p < .001" |
# | `{{var_line.split()[0]}} Var` | the **variance** of the random intercepts in ms², not an SD: √{{var["Subject"]:.1f}} = {{sd["Subject"]:.2f}} ms | `variance` of the `Subject` row; its SD is `std_dev` |
# | `Std.Err.` of that variance | not for inference (below); statsmodels prints no z or p for it | `fit.confint()` for intervals, `mk.compare_models` for the test |
#
# statsmodels names the variance line after the random term or the grouping column:
# `Intercept Var`, `Subject Var` and `Group Var` (from other calls) are the same number.
# What goes wrong if the variance's Std.Err. is used like a coefficient's:

# %%
ci = fit.confint()                 # profile-likelihood intervals, as lme4's confint()
sd_ci = ci.set_index("term").loc["sd(Intercept)", ["conf_low", "conf_high"]]
var_se = float(coefs.loc[var_line, "Std.Err."])
pd.DataFrame({
    "variance ± 1.96 Std.Err. (statsmodels)": [var["Subject"] - 1.96 * var_se,
                                               var["Subject"] + 1.96 * var_se],
    "profile interval of the SD, squared": list(sd_ci ** 2),
}, index=["low", "high"])

# %% [markdown]
# Two intervals for the same variance: the one from statsmodels' Std.Err. is a sliver inside
# the profile interval. The profile interval (`fit.confint()`:
# the SD lies between {{sd_ci["conf_low"]:.1f}} and {{sd_ci["conf_high"]:.1f}} ms) is wide
# and lopsided, {{var["Subject"] - sd_ci["conf_low"] ** 2:.0f}} ms² below the estimate and
# {{sd_ci["conf_high"] ** 2 - var["Subject"]:.0f}} above: 18 subjects say little about how
# much subjects vary, and a variance cannot go below 0. An estimate ± 1.96 standard errors
# assumes a symmetric, normal-shaped uncertainty, which a variance estimated from few groups
# does not have. statsmodels' number is moreover far too small: it is the standard error
# of Var / Scale multiplied by √Scale, not a standard error in ms² at all. For a
# variance use profile intervals (`fit.confint()`); to test whether it is 0, the
# boundary-corrected likelihood-ratio test (`mk.compare_models`, notebook 03).
#
# ## 7. Reporting
#
# `fit.report()` writes the statistics paragraph of a paper: how the model was fitted (REML,
# random intercepts by Subject, Satterthwaite's df), the estimate and 95% CI of each fixed
# effect with the *t*(df) test of Days and its p in APA style ("p < .001"), and the SDs of
# the variance components. What `fit.health` flags follows, outside the paragraph, under
# "Check before pasting". In a notebook it renders with the symbols in italics:

# %%
fit.report()

# %% [markdown]
# `print(fit.report())` gives the same as plain text (`.markdown` and `.html` hold the other
# forms). Paste it into your methods and results, then check it: add the units (ms, days),
# and deal with what the health check flags before you report (here, notebook 02's random
# slope).

# %%
print(fit.report())

# %% [markdown]
# ## Summary
#
# * `mk.fit_lmm("y ~ x + (1 | g)", data)` fits the model; the fit displays as a card.
# * `fit.fixed_effects`: estimates with lme4's standard errors and Satterthwaite *t* tests;
#   df near the number of groups for between-group quantities. Fixed effects: *t* and *F*
#   tests (Satterthwaite or Kenward–Roger df); variances: the boundary-corrected
#   likelihood-ratio test between REML fits, or a parametric bootstrap.
# * `fit.variance_components`: SDs on the data scale, variances = SD²; `fit.icc()`: how much
#   of the variance is between groups (and the design effect); `fit.r2()`: marginal and
#   conditional R².
# * `fit.health`: read it before the numbers.
# * `fit.statsmodels_call` and `fit.statsmodels_result`: the same model in statsmodels. In
#   its summary "Var" and "Scale" are variances, *z* has no df, and the Std.Err. of a
#   variance is not for inference (`fit.confint()` instead).
# * `fit.report()`: a paste-ready paragraph; check it before pasting.
#
# **Next:** 02 asks whether subjects also differ in their *slopes*.
