# Source of notebooks/02_random_slopes.ipynb (percent format: `# %%` starts a code cell,
# `# %% [markdown]` a markdown cell). Edit here, then run
# `python notebooks/make_notebooks.py`; see notebooks/README.md.

# %% [markdown]
# # 02 · Random slopes: subjects differ in how fast they decline
#
# **The story.** In notebook 01 every subject had their own baseline but the *same* increase
# per day (10.5 ms). Is that plausible? We look at the data, let the slope vary by subject,
# see what that does to the estimates and their uncertainty, and meet *partial pooling*.
#
# **You will learn** the difference between `(1 | Subject)`, `(Days | Subject)` and
# `(Days || Subject)`, how to read `mk.plot_fitted` and `mk.plot_shrinkage`, why omitting a
# needed random slope makes tests too optimistic, and when a random slope is warranted.

# %%
# %matplotlib inline
import pandas as pd

import mixedkit as mk

pd.set_option("display.precision", 4)
pd.set_option("display.width", 120)
pd.set_option("display.max_colwidth", 90)

# %%
sleep = mk.load_dataset("sleepstudy")
m_int = mk.fit_lmm("Reaction ~ Days + (1 | Subject)", sleep)
fig = mk.plot_fitted(m_int, max_groups=18)

# %% [markdown]
# Points are the observed reaction times; the dashed line is the population (average
# subject) line; the solid line is the model's line for that subject. With a random
# intercept only, every subject's line is the population line shifted up or down: the lines
# are **parallel by construction**. The data disagree: some subjects (e.g. 308, 337, 350)
# get worse much faster than average, others (e.g. 309, 335) hardly change. The effect of
# Days differs between subjects.
#
# ## Three random-effects structures
#
# | lme4 formula | what varies by subject | variance parameters |
# |---|---|---|
# | `(1 \| Subject)` | baseline | $\sigma^2_0$ |
# | `(Days \| Subject)` | baseline and slope, correlated | $\sigma^2_0, \sigma^2_1, \rho$ |
# | `(Days \|\| Subject)` | baseline and slope, independent | $\sigma^2_0, \sigma^2_1$ |
#
# With a random slope the model is
#
# $$\text{Reaction}_{ij} = (\beta_0 + u_{0j}) + (\beta_1 + u_{1j})\,\text{Days}_{ij}
# + \varepsilon_{ij},\qquad (u_{0j}, u_{1j}) \sim N(0, \Sigma).$$
#
# The fixed part (the average line) is the same in all three models; only the description
# of how subjects vary around it changes.

# %%
m_slope = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", sleep)
m_indep = mk.fit_lmm("Reaction ~ Days + (Days || Subject)", sleep)
models = {"(1 | Subject)": m_int, "(Days | Subject)": m_slope, "(Days || Subject)": m_indep}

pd.concat({name: m.variance_components for name, m in models.items()},
          names=["random part", None]).droplevel(1)

# %% [markdown]
# * The slope SD is about 5.9 ms/day around an average slope of 10.5 ms/day: roughly 95% of
#   subjects deteriorate by between about −1 and 22 ms per day.
# * The intercept variance drops from about 1378 to 612, and the residual variance from
#   about 960 to 655: part of what looked like baseline differences and noise was really
#   differences in slope.
# * The estimated intercept-slope correlation is small (0.07), and the `||` model, which
#   fixes it at 0, gives almost the same variances.
#
# How each structure is expressed in statsmodels:

# %%
for name, m in models.items():
    print(f"{name:18s} {m.statsmodels_call}")

# %% [markdown]
# `(Days | Subject)` is statsmodels' `re_formula="~Days"` (a full 2×2 covariance within each
# subject). `(Days || Subject)` has no `re_formula` spelling: the slope becomes a separate
# *variance component* within each subject (`vc_formula`), which is independent of the
# intercept by construction.
#
# ## What the random slope does to the test of Days

# %%
pd.DataFrame({name: m.fixed_effects.set_index("term").loc["Days"]
              for name, m in models.items()}).T[
    ["estimate", "std_error", "df", "conf_low", "conf_high", "p_value"]]

# %% [markdown]
# The estimate is identical (the design is balanced), but the standard error roughly
# doubles (0.80 → 1.55) and the df fall from 161 to about 17.
#
# Why: if subjects genuinely differ in slope, the average slope is the mean of 18 different
# subject slopes, and its uncertainty is governed by how many *subjects* there are, not by
# how many rows (17 = 18 − 1). The random-intercept model assumes every subject has the same
# slope, so it treats all 180 rows as information about that one slope: its standard error
# is too small and its interval too narrow. Omitting a random slope for a within-subject
# predictor makes its test anti-conservative (too many false positives; Barr et al., 2013).
#
# ## Fitted lines with random slopes

# %%
fig = mk.plot_fitted(m_slope, max_groups=18)

# %% [markdown]
# Each subject now has their own slope. But the solid lines are *not* each subject's own
# least-squares line: they are pulled toward the population line. That is partial pooling.
#
# ## Partial pooling
#
# Three ways to estimate a line per subject:
#
# * **complete pooling**: one regression for everybody, ignoring subjects (too rigid);
# * **no pooling**: a separate regression per subject, each from 10 noisy points (too noisy);
# * **partial pooling** (the mixed model): each subject's estimate is a compromise between
#   their own data and the population, weighted by how reliable their own data are compared
#   with how much subjects really differ.
#
# The subject-level estimates are the **conditional modes** (BLUPs) of the random effects,
# `fit.ranef()`, with their conditional SDs (lme4's `ranef(condVar = TRUE)`):

# %%
m_slope.ranef().head(6)

# %%
ax = mk.plot_shrinkage(m_slope)

# %% [markdown]
# Open circles: each subject's own least-squares intercept and slope (no pooling). Filled
# circles: the mixed model's estimates (population value plus conditional mode). The cross:
# the population estimate. The arrows point inward: subjects with extreme separate
# estimates move most. They do not point exactly at the cross because a subject's
# least-squares intercept and slope have correlated errors (Days does not have mean 0), so
# the model corrects both together.
#
# For a random-intercept model with $n_j$ rows in group $j$ the shrinkage has a simple
# formula: the conditional mode is the group's mean residual multiplied by
#
# $$\lambda_j = \frac{\sigma^2_0}{\sigma^2_0 + \sigma^2 / n_j}.$$
#
# Checking it on `m_int`, where every subject has $n_j = 10$:

# %%
var = m_int.variance_components.set_index("group")["variance"]
lam = var["Subject"] / (var["Subject"] + var["Residual"] / 10)

b = m_int.fixed_effects.set_index("term")["estimate"]
no_pooling = (sleep["Reaction"] - b["Intercept"] - b["Days"] * sleep["Days"]).groupby(
    sleep["Subject"]).mean()
modes = m_int.ranef().set_index("level")["estimate"]
print(f"lambda = {lam:.4f}; conditional mode / subject mean residual: "
      f"{(modes / no_pooling).min():.4f} to {(modes / no_pooling).max():.4f}")

# %%
ax = mk.plot_shrinkage(m_int)

# %% [markdown]
# With 10 rows per subject and a large between-subject variance, intercepts keep 93% of
# their own deviation: little shrinkage. Shrinkage is strong when groups are small, noisy
# ($\sigma^2/n_j$ large) or similar to each other ($\sigma^2_0$ small); groups with fewer
# rows are shrunk more.
#
# ## When is a random slope warranted?
#
# 1. **The predictor varies within groups.** Days does. A slope for a predictor that is
#    constant within each group (a subject's sex, say) cannot be estimated;
#    `mk.check_data` and `fit_lmm` say so.
# 2. **Enough groups and enough distinct values within groups** to estimate a variance:
#    18 subjects × 10 days is plenty. With few observations per group the slope variance is
#    often estimated as exactly 0, a *singular* fit (`fit.singular`, `fit.health`).
# 3. **The question requires it.** If you want to generalise the Days effect to new
#    subjects and subjects differ in that effect, the slope variance belongs in the
#    uncertainty, as the doubled standard error above shows. A common rule: include random
#    slopes for the within-group predictors you test, as far as the data support them, and
#    simplify (drop the correlation with `||`, then the slope) when the fit is singular or
#    does not converge (Barr et al., 2013; Matuschek et al., 2017).
# 4. **The data support it**, by a likelihood-ratio test on the REML fits with the
#    boundary correction (notebook 03 explains both):

# %%
mk.compare_models(m_int, m_indep, m_slope)

# %% [markdown]
# Each row is tested against the row above. Adding the slope variance (`||` against the
# intercept-only model) is overwhelmingly supported. Adding the correlation on top
# (`|` against `||`) is not (p ≈ 0.84), and AIC is lower without it: either random-slope
# model is a sound choice here.
#
# A caveat on `||`: fixing the intercept-slope correlation at 0 depends on where Days = 0
# is. Shift Days (for example, centre it) and the correlation in `(Days | Subject)` changes
# while the model stays the same; `(Days || Subject)` becomes a different model. Use `||`
# when the zero of the predictor is meaningful (here: the first day of sleep restriction)
# or when the correlation cannot be estimated.
#
# With random slopes the variance due to subjects depends on Days, so the ICC is no longer
# the correlation between any two rows. mixedkit averages the subject variance over the
# observed rows (as `performance::icc`):

# %%
m_slope.icc()

# %% [markdown]
# ## Summary
#
# * `(x | g)`: intercept and slope vary by group, correlated; `(x || g)`: uncorrelated;
#   `(1 | g)`: intercept only.
# * `mk.plot_fitted` shows each group's line against the population line; parallel lines
#   that miss the data call for a random slope.
# * Leaving out a slope variance that exists makes the fixed-effect test of that predictor
#   too optimistic (here: SE 0.80 instead of 1.55, 161 df instead of 17).
# * Group estimates are partially pooled toward the population (`fit.ranef()`,
#   `mk.plot_shrinkage`).
#
# **Next:** 03 shows how models are compared properly (REML or ML, boundary-corrected tests).
