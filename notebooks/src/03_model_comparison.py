# ruff: noqa: B018
# Source of notebooks/03_model_comparison.ipynb (percent format: `# %%` starts a code cell,
# `# %% [markdown]` a markdown cell). Edit here, then run
# `python notebooks/make_notebooks.py`; see notebooks/README.md.

# %% [markdown]
# # 03 · Comparing models: REML vs ML, fixed vs random effects, boundaries
#
# **The story.** Two questions about sleepstudy: does reaction time change with Days (a
# *fixed* effect)? Do subjects differ in their slopes (a *variance component*)? Both can be
# answered with likelihood-ratio tests (LRTs), but they need different likelihoods and
# different null distributions. `mk.compare_models` makes these choices and says what it
# did.
#
# **You will learn** what REML and ML estimate (`mk.reml_vs_ml`), why models with different
# fixed effects must be compared by ML, why the naive p-value for a variance is too large,
# how a parametric bootstrap checks it, and how to compare non-nested models.

# %%
# %matplotlib inline
import pandas as pd

import mixedkit as mk

pd.set_option("display.precision", 4)
pd.set_option("display.width", 120)
pd.set_option("display.max_colwidth", 90)

# %%
sleep = mk.load_dataset("sleepstudy")
m1 = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", sleep)

# %% [markdown]
# ## 1. REML and ML
#
# * **ML** (maximum likelihood) estimates the fixed effects and the variances together. The
#   variance estimates ignore that the fixed effects were estimated, so they are biased
#   downward, like a sample variance divided by $n$ instead of $n - 1$.
# * **REML** (restricted ML) maximises the likelihood of the residuals after the fixed
#   effects are projected out (the *error contrasts*). This removes that bias; it is the
#   default in lme4 and mixedkit.
#
# `mk.reml_vs_ml` fits the same model both ways:

# %%
rv = mk.reml_vs_ml(m1)
rv

# %%
rv.table

# %% [markdown]
# * The fixed-effect estimates are the same (balanced data); their standard errors are
#   smaller under ML, because the variances are.
# * The subject variances are 7–8% smaller under ML. They are estimated from only 18
#   subjects, so losing degrees of freedom to the 2 fixed effects matters; the residual
#   variance, estimated from 180 rows, barely changes.
# * Log-likelihood, AIC and BIC are on different scales for the two methods and are never
#   compared across them.
#
# **Rule:** report estimates from REML; compare models that differ in their fixed effects by
# ML.
#
# ## 2. Testing a fixed effect: ML refits
#
# The REML likelihood is the likelihood of error contrasts that depend on the fixed-effects
# design matrix $X$. Two models with different $X$ have REML likelihoods of *different
# transformed data*, and their difference is not a likelihood ratio. So a test of fixed
# effects uses ML fits. `compare_models` refits REML fits by ML when needed and says so:

# %%
m_nodays = mk.fit_lmm("Reaction ~ 1 + (Days | Subject)", sleep)
comp = mk.compare_models(m_nodays, m1)
comp

# %%
for note in comp.notes:
    print("-", note)
comp.table[["model", "method", "loglik", "chisq", "df_diff", "p_value"]]

# %% [markdown]
# The `method` column says ML, and `comp.fits` holds the ML refits. Asking for a REML
# comparison of these models is refused with the reason:

# %%
try:
    mk.compare_models(m_nodays, m1, method="REML")
except mk.DataError as err:
    print(f"{type(err).__name__}: {err}")

# %% [markdown]
# The same hypothesis is tested by the *t* test in `fixed_effects` (on the REML fit):

# %%
m1.fixed_effects.set_index("term").loc["Days", ["statistic", "df", "p_value"]]

# %% [markdown]
# Both reject clearly. The LRT relies on large-sample theory (χ² with many groups); the
# Satterthwaite *t* test is better calibrated with few groups (here 18). Use the *t* test for
# one coefficient, and the LRT for several coefficients at once (a factor with several
# levels, a set of interactions).
#
# ## 3. Testing a variance component: the boundary
#
# Do subjects differ in slopes? $H_0: \sigma^2_{\text{slope}} = 0$. Both models have the
# same fixed effects, so their REML fits can be compared, and `compare_models` does.
#
# A variance cannot be negative, so the null value lies on the **boundary** of the parameter
# space. The usual χ² theory for the LRT assumes an interior null. On the boundary, in about
# half of the samples generated under $H_0$ the estimate would like to be negative, is set to
# 0, and the LRT statistic is exactly 0. For adding one variance the null distribution is a
# 50:50 mixture of a point mass at 0 and χ²(1); for adding a slope *correlated* with an
# existing intercept (a variance and a covariance, df = 2) it is a 50:50 mixture of χ²(1) and
# χ²(2) (Self and Liang, 1987; Stram and Lee, 1994). The naive χ²(df) p-value is always
# **too large**: the test is conservative and loses power.

# %%
m0 = mk.fit_lmm("Reaction ~ Days + (1 | Subject)", sleep)
comp_re = mk.compare_models(m0, m1)
comp_re

# %%
from scipy import stats

lrt = comp_re.table["chisq"].iloc[1]
print(f"LRT = {lrt:.2f}")
print(f"naive chi2(2) p-value:           {stats.chi2.sf(lrt, 2):.3g}")
print(f"0.5 chi2(1) + 0.5 chi2(2) p-value: "
      f"{0.5 * stats.chi2.sf(lrt, 1) + 0.5 * stats.chi2.sf(lrt, 2):.3g}")

# %% [markdown]
# In sleepstudy the evidence is overwhelming either way. The correction matters when the
# evidence is moderate. **Pastes** (strength of a chemical paste; 10 batches, 3 casks from
# each batch, 2 assays per cask; notebook 05 treats it fully): beyond the variation between
# casks, is there variation between batches?

# %%
pastes = mk.load_dataset("pastes")
p_cask = mk.fit_lmm("strength ~ 1 + (1 | batch:cask)", pastes)   # casks only
p_both = mk.fit_lmm("strength ~ 1 + (1 | batch/cask)", pastes)   # batches and casks
comp_batch = mk.compare_models(p_cask, p_both)
comp_batch

# %% [markdown]
# The naive p-value (about 0.42) is twice the boundary-corrected one (about 0.21). Neither
# is significant here, but with a different LRT the halving can decide the conclusion.
#
# ## 4. Checking with a parametric bootstrap
#
# The mixture is itself a large-sample result, and 10 batches are not many. A **parametric
# bootstrap** needs no such theory: simulate new responses from the fitted null model, refit
# both models, compute the LRT, repeat; the p-value is the share of simulated LRTs at least
# as large as the observed one, $(1 + \#\{\text{LRT}^* \ge \text{LRT}\}) / (B + 1)$.
#
# `n_boot=` adds it. We use 49 replicates so the notebook runs quickly (the p-value then
# moves in steps of 1/50); use 1000 or more in real work, where the default runs the refits
# in parallel on all cores (`n_jobs=1` here keeps the notebook predictable).

# %%
comp_boot = mk.compare_models(p_cask, p_both, n_boot=49, seed=1, n_jobs=1, progress=False)
comp_boot

# %% [markdown]
# The bootstrap p-value agrees with the mixture, not with the naive p-value.
#
# ## 5. Non-nested models: AIC and BIC
#
# An LRT needs **nested** models: the smaller one must be a special case of the larger (set
# some parameters to 0). Is the decline linear in Days, or does it level off, like
# $\log(1 + \text{Days})$? Neither model is a special case of the other, and both have
# the same number of parameters, so there is no LRT. Use information criteria,
# $\text{AIC} = -2\log L + 2k$ and $\text{BIC} = -2\log L + k\log n$: lower is better,
# and differences of a few units are already meaningful. The fixed effects differ, so the
# comparison is on ML fits, which `compare_models` again arranges:

# %%
m_log = mk.fit_lmm("Reaction ~ np.log1p(Days) + (Days | Subject)", sleep)
mk.compare_models(m1, m_log)

# %% [markdown]
# The linear model has the lower AIC and BIC by about 21: over these 10 days there is no
# sign of a levelling off.
#
# Non-nested random parts work the same way (on REML fits, since the fixed effects are the
# same): a random intercept against a random slope without intercept.

# %%
m_slope_only = mk.fit_lmm("Reaction ~ Days + (0 + Days | Subject)", sleep)
mk.compare_models(m0, m_slope_only)

# %% [markdown]
# The random slope without a random intercept has the lower AIC and BIC (by about 20), so
# between these two, differences in slope matter more than differences in baseline. Both
# lose to `(Days | Subject)` (REML AIC 1755.6 in section 3), which has both.

# %% [markdown]
# ## Summary
#
# | question | models differ in | fits compared | test |
# |---|---|---|---|
# | one fixed effect | fixed part | REML fit | Satterthwaite *t* in `fixed_effects` |
# | several fixed effects | fixed part | ML (refitted for you) | LRT, χ²(df) |
# | a variance component | random part | REML | LRT with boundary-corrected mixture; bootstrap to check |
# | non-nested models | anything | ML if the fixed parts differ, else REML | AIC / BIC |
#
# `mk.compare_models(...)` follows this table and explains each choice in `.notes`.
#
# **Next:** 04 checks whether a model's assumptions hold and what to do when they do not.
