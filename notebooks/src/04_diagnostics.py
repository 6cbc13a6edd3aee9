# ruff: noqa: B018
# Source of notebooks/04_diagnostics.ipynb (percent format: `# %%` starts a code cell,
# `# %% [markdown]` a markdown cell). Edit here, then run
# `python notebooks/make_notebooks.py`; see notebooks/README.md.

# %% [markdown]
# # 04 · Diagnostics: is the model adequate?
#
# **The story.** `dietox` (Lauridsen et al., 1999; shipped with statsmodels): 72 pigs weighed
# weekly for 12 weeks. We fit a straight growth line with random intercepts and slopes per
# pig, check it with plots and tests, try the usual remedy (a log transform), find out why it
# is the wrong one here, and fix the model.
#
# **You will learn** to read each panel of `mk.plot_diagnostics`, to use
# `fit.check_assumptions()` (and its limits), to follow up outlying observations, and to
# read a caterpillar plot (`mk.plot_ranef`).

# %%
# %matplotlib inline
import pandas as pd

import mixedkit as mk

pd.set_option("display.precision", 4)
pd.set_option("display.width", 120)
pd.set_option("display.max_colwidth", 90)

# %%
dietox = mk.load_dataset("dietox")
print(f"{len(dietox)} rows, {dietox['Pig'].nunique()} pigs, weeks {dietox['Time'].min()}"
      f" to {dietox['Time'].max()}")
dietox.head()

# %%
fit = mk.fit_lmm("Weight ~ Time + (Time | Pig)", dietox)
fit

# %% [markdown]
# The model assumes that
#
# 1. the **mean structure** is right (weight grows linearly in Time, on average and for each
#    pig);
# 2. the **residuals** are independent, normal, with constant variance;
# 3. the **random effects** (each pig's deviation in intercept and slope) are normal;
# 4. no single observation or pig dominates the results.
#
# The health verdict already flags something. The plots show what.
#
# ## The diagnostic plots

# %%
fig = mk.plot_diagnostics(fit)

# %% [markdown]
# Reading the panels:
#
# 1. **Residuals vs fitted** (conditional residuals $y - X\hat\beta - Z\hat b$). Should be
#    a structureless band around 0 with a flat trend line. Here the trend is U-shaped:
#    residuals are positive for light and heavy pigs and negative in between. A straight
#    line in Time misses the curvature of growth: the **mean structure** is wrong.
# 2. **Normal QQ plot of the standardised residuals.** Points should follow the line,
#    within the grey 95% band. Here the lower tail falls far below: a few weighings are much
#    lower than the model predicts (heavy tails, outliers).
# 3. **Scale-location** ($\sqrt{|\text{standardised residual}|}$ against fitted). A flat
#    trend means constant variance; here it is roughly flat.
# 4. **QQ plots of the conditional modes**, one per random term (intercept and slope by
#    pig). They check the normality of the random effects. Conditional modes are shrunk, so
#    their spread is smaller than the true random effects', but the plot standardises them
#    and judges the shape. The intercepts look normal; the slopes have a somewhat long
#    lower tail (a few slow-growing pigs), which the check table below marks `check`.
#
# ## The checks in words

# %%
checks = fit.check_assumptions()
checks

# %% [markdown]
# One row per check with the test statistic, its value, a p-value where there is one, a
# severity (`ok`, `note`: look at the plots or the check could not run, `warning`) and a fix. A check is flagged only when
# p < 0.01 **and** the departure is large enough to matter, so that large data sets do not
# turn every small departure into a problem. Here: residuals are not normal (heavy tails),
# the residual SD differs a lot between pigs, and there are outlying observations.
#
# Outlying rows are listed in `checks.attrs`. Look at them before anything else:

# %%
rows = checks.attrs["outlier_rows"]
dietox.loc[rows]

# %%
pig = dietox.loc[rows[0], "Pig"]
dietox.loc[dietox["Pig"] == pig, ["Time", "Weight", "Feed"]].set_index("Time").T

# %% [markdown]
# Pig 4858 weighs 83.8 kg in week 9, 71.6 kg in week 10 and 97.4 kg in week 11. A 12 kg loss
# and regain within two weeks is implausible: probably a recording error, possibly a sick
# animal. An outlier is a question for whoever collected the data, not a row to delete
# silently. (We come back to it below.)
#
# ## A first remedy: log transform
#
# The usual advice for skewed residuals, or a spread that grows with the mean, is to
# transform the response. A transformation can be written directly in the formula:
# `np.log(Weight)`.

# %%
fit_log = mk.fit_lmm("np.log(Weight) ~ Time + (Time | Pig)", dietox)
fig = mk.plot_diagnostics(fit_log)

# %%
def severities(**fits):
    return pd.DataFrame({name: f.check_assumptions().set_index("check")["severity"]
                         for name, f in fits.items()})

severities(Weight=fit, log_Weight=fit_log)

# %% [markdown]
# The distribution checks now look almost clean, but one row stands out: the **mean
# structure (curvature)** check, and panel 1 shows why, a pronounced arch. Pigs gain a
# roughly constant number of kg per week, so on the log scale growth slows down, and a
# straight line in Time on the log scale (exponential growth in kg) is a poor description.
# The other tests improved not because the model improved: the residuals are now dominated
# by this systematic misfit, which hides the few outlying weighings.
#
# Two lessons:
#
# * Read the curvature row (residuals against squared fitted values and each numeric
#   predictor) and the residuals-vs-fitted panel before the distribution tests.
# * A transformation of the response also changes the model for the mean. Fix the mean
#   structure first.
#
# ## The better fix: model the curvature
#
# Keep Weight in kg and add a quadratic term for Time (`I(Time**2)` in the formula):

# %%
fit_quad = mk.fit_lmm("Weight ~ Time + I(Time**2) + (Time | Pig)", dietox)
fig = mk.plot_diagnostics(fit_quad)

# %%
severities(Weight=fit, log_Weight=fit_log, Weight_quadratic=fit_quad)

# %% [markdown]
# The residuals-vs-fitted trend is now flat. The quadratic term is also strongly supported
# by a likelihood-ratio test (the models differ in fixed effects, so `compare_models` refits
# both by ML):

# %%
mk.compare_models(fit, fit_quad)

# %% [markdown]
# Two flags remain: a few outlying weighings (the heavy lower tail) and residual SDs that
# differ between pigs. What to do:
#
# * **Outliers:** check them with the data owner; meanwhile refit without them and see
#   whether the conclusions change (a sensitivity analysis). Report both if they differ.
# * **Unequal residual variance between pigs:** statsmodels' `MixedLM` has a single residual
#   variance, so this cannot be modelled here (R's `nlme::lme(weights = varIdent(...))` can).
#   The fixed-effect estimates stay unbiased if the mean structure is right; their standard
#   errors may be somewhat off, so interpret borderline p-values with care.

# %%
out = fit_quad.check_assumptions().attrs["outlier_rows"]
fit_clean = mk.fit_lmm("Weight ~ Time + I(Time**2) + (Time | Pig)", dietox.drop(index=out))
pd.DataFrame({
    "all rows": fit_quad.fixed_effects.set_index("term")["estimate"],
    f"without rows {out}": fit_clean.fixed_effects.set_index("term")["estimate"],
    "std_error (all rows)": fit_quad.fixed_effects.set_index("term")["std_error"],
})

# %% [markdown]
# The estimates move by a small fraction of a standard error: the conclusions do not depend
# on those weighings. (Refitting without outliers can reveal new, milder "outliers": the
# residual SD shrinks and the cut-off moves with it. Do not iterate deletions.)
#
# ## The random effects: caterpillar plot

# %%
fig = mk.plot_ranef(fit_quad)

# %% [markdown]
# One panel per random term: each pig's conditional mode (its deviation from the population
# intercept or slope) with a 95% interval, sorted. With 72 pigs the labels are left off. The
# plot shows how large the pig-to-pig differences are relative to the uncertainty of each
# pig's estimate. Pigs whose interval excludes 0 grow faster or slower than the average pig,
# but the intervals are conditional on the estimated variances and there are 72 of them, so
# this is a description, not a set of tests. The table behind the plot is `fit.ranef()`:

# %%
re = fit_quad.ranef()
re[re["term"] == "Time"].nlargest(3, "estimate")   # the three fastest-growing pigs

# %% [markdown]
# ## Summary: a diagnostic routine
#
# 1. `mk.plot_diagnostics(fit)`: read **residuals vs fitted first**; a trend means the mean
#    structure is wrong and no transformation of the errors will fix it.
# 2. `fit.check_assumptions()` (also in `fit.health`): normality, constant variance,
#    outliers, influential groups, random-effect normality, with advice. A clean table does
#    not prove a good model.
# 3. Outlying rows (`.attrs["outlier_rows"]`): check the data; refit without them as a
#    sensitivity analysis.
# 4. Transform the response (`np.log(y)` in the formula) when the spread grows with the mean
#    or the residuals are skewed, and then check the mean structure again.
# 5. `mk.plot_ranef(fit)` and `fit.ranef()` describe the groups.
#
# **Next:** 05 moves to models with more than one grouping factor.
