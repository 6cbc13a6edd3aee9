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
# intraclass correlation (ICC), R², the health verdict, and the statsmodels call that did the
# estimation.
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
# only 3 hours of sleep per night, and their average reaction time (ms) on a vigilance test
# was measured on days 0 to 9.
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
# like lme4; notebook 03 explains the difference.

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
fit.fixed_effects

# %% [markdown]
# * **estimate**: reaction time rises by about 10.5 ms per day of sleep restriction, from
#   about 251 ms on day 0 (the intercept).
# * **std_error**: from $(X'V^{-1}X)^{-1}$, where $V$ is the covariance of the observations
#   implied by the model, so the correlation within subjects is taken into account (this is
#   lme4's `vcov()`).
# * **statistic** is estimate / std_error, compared with a *t* distribution whose degrees
#   of freedom (**df**) come from the **Satterthwaite** approximation (as R's lmerTest).
#   The df say how much independent information the standard error rests on:
#   * `Days` varies *within* every subject, so it is estimated from within-subject
#     comparisons and has about 161 df (close to 180 rows − 18 subjects − 1);
#   * the intercept (the average day-0 reaction time) is a *between-subject* quantity:
#     about 23 df, much nearer the number of subjects than the number of rows.
# * **conf_low / conf_high**: a 95% interval from the same *t* distribution.
#
# With few groups, the normal (*z*) reference that some software uses is too optimistic.
# Compare the interval widths (`df_method="normal"` gives *z*):

# %%
fit_z = mk.fit_lmm("Reaction ~ Days + (1 | Subject)", sleep, df_method="normal")
t_tab, z_tab = fit.fixed_effects.set_index("term"), fit_z.fixed_effects.set_index("term")
pd.DataFrame({
    "Satterthwaite df": t_tab["df"],
    "95% CI width (t)": t_tab["conf_high"] - t_tab["conf_low"],
    "95% CI width (z)": z_tab["conf_high"] - z_tab["conf_low"],
})

# %% [markdown]
# With 161 df, *t* and *z* agree; for the intercept (about 23 df) the *t* interval is
# noticeably wider. The fewer the groups, the more this matters.
#
# ## 2. Variance components

# %%
fit.variance_components

# %% [markdown]
# * **Subject**: the SD of the random intercepts, about 37 ms. Subjects' day-0 reaction
#   times scatter around 251 ms with that SD.
# * **Residual**: the SD of a subject's day-to-day scatter around their own line, about 31 ms.
# * `variance` is the square of `std_dev`; the `corr` column is used when a grouping factor
#   has correlated random effects (notebook 02).
#
# The SD is on the scale of the data, so it can be read directly, for example as the range
# that covers about 95% of subjects:

# %%
b = fit.fixed_effects.set_index("term")["estimate"]
sd = fit.variance_components.set_index("group")["std_dev"]
low, high = b["Intercept"] - 1.96 * sd["Subject"], b["Intercept"] + 1.96 * sd["Subject"]
print(f"About 95% of subjects have a day-0 mean reaction time between {low:.0f} and {high:.0f} ms")

# %% [markdown]
# ## 3. Intraclass correlation (ICC)

# %%
fit.icc()

# %% [markdown]
# * **adjusted ICC** $= \sigma^2_{\text{Subject}} / (\sigma^2_{\text{Subject}} + \sigma^2)
#   \approx 0.59$. In a random-intercept model it has two equivalent readings: the share of
#   the variance not explained by the fixed effects that lies *between* subjects, and the
#   correlation between two measurements of the same subject (on the same or different days,
#   after adjusting for Days).
# * **unadjusted ICC** also puts the variance explained by the fixed effects in the
#   denominator; it is smaller (0.42) because Days explains a lot.
# * **design effect** $= 1 + (m - 1)\,\text{ICC}$ with $m = 10$ rows per subject, about 6.3.
#   For a between-subject quantity such as the overall mean, 180 correlated rows carry about
#   as much information as 180 / 6.3 ≈ 29 independent ones. (For a predictor that varies
#   within subjects, like Days, the opposite happens: the random intercept removes the
#   between-subject noise, hence its 161 df.)
#
# The same numbers by hand from the variance components:

# %%
var = fit.variance_components.set_index("group")["variance"]
icc = var["Subject"] / (var["Subject"] + var["Residual"])
m = len(sleep) / sleep["Subject"].nunique()
deff = 1 + (m - 1) * icc
print(f"ICC = {icc:.3f}, design effect = {deff:.2f}, "
      f"effective sample size for the mean = {len(sleep) / deff:.0f}")

# %% [markdown]
# ## 4. R²

# %%
fit.r2()

# %% [markdown]
# Nakagawa and Schielzeth's R² for mixed models (as R's `performance::r2_nakagawa`). With
# $\sigma^2_f$ the variance of the fixed-effect predictions $X\hat\beta$:
#
# * **marginal** $= \sigma^2_f / (\sigma^2_f + \sigma^2_{\text{Subject}} + \sigma^2)
#   \approx 0.28$: Days alone explains 28% of the variance;
# * **conditional** $= (\sigma^2_f + \sigma^2_{\text{Subject}}) / (\text{same total})
#   \approx 0.70$: Days plus knowing who the subject is.
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
# singular (a variance estimated as 0, meaning the random part is richer than the data
# support), what the data checks found, and the assumption checks of
# `fit.check_assumptions()` (notebook 04).

# %%
print(fit.health)

# %%
fit.health.to_frame()[["check", "severity", "what"]]

# %% [markdown]
# Estimation is fine: converged, not singular. Two assumption checks raise a flag: the
# residual spread differs between subjects, and one observation is far from its fitted
# value. A flag is a prompt to look, not a verdict that the model is useless. A likely
# reason for the first one: subjects differ not only in their baseline but also in how fast
# they deteriorate, which a random-intercept model forces into the residuals. That is the
# subject of notebook 02 (random slopes).
#
# ## 6. The statsmodels call
#
# mixedkit has no estimator of its own: it translates the lme4 formula into a statsmodels
# `MixedLM` model, optimises statsmodels' likelihood (with lme4's parametrisation, start
# values and fallbacks), and reports lme4-comparable numbers. `fit.statsmodels_call` is the
# same model in raw statsmodels, ready to paste:

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
    {"mixedkit": [fit.loglik, *fit.fixed_effects["estimate"], *var],
     "statsmodels": [raw.llf, *raw.fe_params, raw.cov_re.iloc[0, 0], raw.scale]},
    index=["logLik (REML)", "Intercept", "Days", "Subject variance", "Residual variance"],
)

# %% [markdown]
# For this simple model statsmodels' default fit reaches the same optimum. For richer models
# it does not always: on `dietox` with random slopes (notebook 04) the default
# `MixedLM.fit()` stops early with warnings, while mixedkit reaches lme4's answer. The raw
# statsmodels results object at mixedkit's optimum is `fit.statsmodels_result`.
#
# ## Summary
#
# * `mk.fit_lmm("y ~ x + (1 | g)", data)` fits the model; the fit displays as a card.
# * `fit.fixed_effects`: estimates with lme4's standard errors and Satterthwaite *t* tests;
#   df near the number of groups for between-group quantities.
# * `fit.variance_components`: SDs on the data scale; `fit.icc()`: how much of the variance
#   is between groups (and the design effect); `fit.r2()`: marginal and conditional R².
# * `fit.health`: read it before the numbers.
# * `fit.statsmodels_call`: what was fitted, in statsmodels terms.
#
# **Next:** 02 asks whether subjects also differ in their *slopes*.
