# ruff: noqa: B018
# Source of notebooks/03_model_comparison.ipynb (percent format: `# %%` starts a code cell,
# `# %% [markdown]` a markdown cell). Edit here, then run
# `python notebooks/make_notebooks.py`; see notebooks/README.md.

# %% [markdown]
# # 03 · Comparing models: REML vs ML, fixed vs random effects, boundaries
#
# **The story.** Two questions about sleepstudy: does reaction time change with Days (a
# *fixed* effect)? Do subjects differ in their slopes (a *variance component*)? They are
# tested differently. A fixed effect is tested by a *t* or *F* test on the REML fit, with
# small-sample degrees of freedom. A variance component is tested by a likelihood-ratio test
# (LRT) whose null distribution has to allow for a variance that cannot be negative.
# `mk.compare_models` makes the likelihood choices for you and says what it did.
#
# **You will learn** what REML and ML estimate (`mk.reml_vs_ml`), how to test one or several
# fixed-effect coefficients (`fixed_effects`, `anova`), why an LRT of fixed effects needs ML
# fits and many groups, why the naive p-value for a variance is too large, how a parametric
# bootstrap checks it, and how to compare non-nested models with AIC and BIC.

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
#   effects are projected out (the *error contrasts*). This reduces that bias (it does not
#   remove it in general); REML is the default in lme4 and mixedkit.
#
# `mk.reml_vs_ml` fits the same model both ways and prints the two side by side:

# %%
rv = mk.reml_vs_ml(m1)
rv

# %% [markdown]
# The numbers are in `rv.table`. Here are the variances, with how much smaller each is
# under ML:

# %%
table = rv.table.set_index("quantity")
variances = table.loc[table.index.str.startswith("variance: "), ["reml", "ml"]]
variances.index = variances.index.str.removeprefix("variance: ")
ml_smaller = 1 - variances["ml"] / variances["reml"]
variances.assign(ml_smaller=ml_smaller.map("{:.1%}".format))

# %% [markdown]
# * The fixed-effect estimates are the same (balanced data); their standard errors are
#   smaller under ML, because the variances are.
# * The subject variances are smaller under ML, by {{ml_smaller["Subject Intercept"]:.1%}}
#   (intercepts) and {{ml_smaller["Subject Days"]:.1%}} (slopes). They are estimated from
#   only 18 subjects, so losing degrees of freedom to the 2 fixed effects matters. The
#   residual variance is practically unchanged (smaller by
#   {{ml_smaller["Residual"]:.4%}}), and not only because there are 180 rows: it is
#   estimated from each subject's scatter around their own line, which the fixed effects
#   do not touch. The intercept and the Days slope both vary by subject, so the degrees of
#   freedom their estimation uses up are subjects', not rows'.
# * Log-likelihood, AIC and BIC are on different scales for the two methods and are never
#   compared across them.
#
# **Rule:** report estimates from the REML fit, and test fixed effects on it with *t* and
# *F* tests (section 2). Models that differ in their fixed effects are compared by their
# likelihoods (an LRT, AIC, BIC) only on ML fits.
#
# ## 2. Testing fixed effects: *t* and *F* tests
#
# One coefficient: the *t* test in `fixed_effects`, on the REML fit, with Satterthwaite
# degrees of freedom (the default; `df_method="kenward-roger"` in `fit_lmm` for
# Kenward–Roger):

# %%
fe = m1.fixed_effects.set_index("term")
fe.loc[["Days"], ["estimate", "std_error", "statistic", "df", "p_value"]]

# %% [markdown]
# With 18 subjects the *t* statistic is referred to *t* with {{fe.loc["Days", "df"]:.0f}}
# df, not to a normal distribution: the small number of subjects is what limits the
# precision of the slope. (The p-value is in e-notation: `3e-06` is $3 \times 10^{-6}$;
# report it as p < .001.)
#
# **Several coefficients at once** (a factor with several levels, a set of interactions):
# the *F* test of `fit.anova()`, one row per term, with as many numerator df as the term has
# coefficients. For example, does mean reaction time differ between the 10 days at all, with
# no shape assumed? Treat Days as a factor in the fixed part (9 coefficients against day 0)
# and keep the random slopes:

# %%
m_factor = mk.fit_lmm("Reaction ~ C(Days) + (Days | Subject)", sleep)
f_tests = pd.concat([m_factor.anova(df_method=method).assign(df_method=method)
                     for method in ["satterthwaite", "kenward-roger"]])
f_tests[["df_method", "term", "num_df", "den_df", "statistic", "p_value"]]

# %%
days_f = f_tests.set_index("df_method").loc["satterthwaite"]

# %% [markdown]
# One test of all {{days_f["num_df"]:.0f}} coefficients: F({{days_f["num_df"]:.0f}},
# {{days_f["den_df"]:.1f}}) = {{days_f["statistic"]:.2f}} with Satterthwaite df. The two df
# methods approximate the same small-sample distribution and agree on the conclusion here;
# notebook 06 compares them. For a single coefficient the *F* test is the *t* test squared:
# `m1.anova()` gives F = {{m1.anova()["statistic"].iloc[0]:.2f}} for Days, which is
# {{fe.loc["Days", "statistic"]:.2f}}².
#
# ### The likelihood-ratio test of fixed effects needs ML fits and many groups
#
# Fixed effects can also be tested by an LRT: fit the model with and without the term and
# compare log-likelihoods with χ²(df). This needs **ML** fits. The REML likelihood is the
# likelihood of error contrasts that depend on the fixed-effects design matrix $X$. Two
# models with different $X$ have REML likelihoods of *different transformed data*, and
# their difference is not a likelihood ratio. `compare_models` refits REML fits by ML when
# needed and says so:

# %%
m_nodays = mk.fit_lmm("Reaction ~ 1 + (Days | Subject)", sleep)
comp = mk.compare_models(m_nodays, m1)
comp

# %%
comp.table[["model", "method", "loglik", "chisq", "df_diff", "p_value"]]

# %% [markdown]
# The `method` column says ML; `comp.notes` holds the notes printed under the table, and
# `comp.fits` the ML refits. Asking for a REML comparison of these models is refused with
# the reason:

# %%
try:
    mk.compare_models(m_nodays, m1, method="REML")
except mk.DataError as err:
    print(f"{type(err).__name__}: {err}")

# %% [markdown]
# The LRT and the *t* test of Days both reject clearly, and the LRT's p-value is the smaller
# one. That is typical: the χ² distribution is the large-sample limit, which treats the
# variances as known, and ML variances are biased downward on top of that. With few groups
# the LRT of a fixed effect rejects a true null hypothesis too often (it is *liberal*):
# notebook 06 computes how much more often than 5 % the nominal 5 % test rejects with 9
# subjects, and notebook 07 finds the same by simulation. So test fixed effects with *t*
# and *F* tests (Satterthwaite or Kenward–Roger df), also for several coefficients at once,
# and keep the LRT of fixed effects for large samples (many groups).
#
# ## 3. Testing a variance component: the boundary
#
# Do subjects differ in slopes? $H_0: \sigma^2_{\text{slope}} = 0$. There is no *t* test
# for a variance; the test is an LRT. Both models have the same fixed effects, so their REML
# fits can be compared, and `compare_models` does.
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
# casks only; cask:batch is the name (1 | batch/cask) gives its cask factor, so
# compare_models sees that the second model adds the batch variance to the first
p_cask = mk.fit_lmm("strength ~ 1 + (1 | cask:batch)", pastes)
p_both = mk.fit_lmm("strength ~ 1 + (1 | batch/cask)", pastes)   # batches and casks
comp_batch = mk.compare_models(p_cask, p_both)
comp_batch

# %%
batch_test = comp_batch.table.iloc[1]

# %% [markdown]
# The naive p-value ({{batch_test["p_value_naive"]:.2f}}) is twice the boundary-corrected
# one ({{batch_test["p_value"]:.2f}}). Neither is significant here, but the halving can
# decide the conclusion: an LRT between $2.71$ and $3.84$ (the 90th and 95th percentiles of
# $\chi^2(1)$) has a naive p-value above 0.05 and a corrected one below.
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

# %%
p_boot = comp_boot.table["p_value_boot"].iloc[1]
mc_se = (p_boot * (1 - p_boot) / 50) ** 0.5   # Monte Carlo standard error, B + 1 = 50
print(f"bootstrap p-value {p_boot:.2f}, Monte Carlo standard error {mc_se:.2f}")

# %% [markdown]
# The bootstrap p-value ({{p_boot:.2f}}, give or take {{mc_se:.2f}} with so few replicates)
# is closer to the mixture's {{batch_test["p_value"]:.2f}} than to the naive
# {{batch_test["p_value_naive"]:.2f}}.
#
# ## 5. Non-nested models: AIC and BIC
#
# An LRT needs **nested** models: the smaller one must be a special case of the larger (set
# some parameters to 0). Does reaction time rise linearly in Days, or does it level off, like
# $\log(1 + \text{Days})$? Neither model is a special case of the other, and both have
# the same number of parameters, so there is no LRT. Use information criteria,
# $\text{AIC} = -2\log L + 2k$ and $\text{BIC} = -2\log L + k\log n$ ($k$ parameters; $n$ is
# the number of rows, 180 here, as in lme4, not the number of subjects). Lower is better.
# For the difference from the best model, ΔAIC, Burnham and Anderson (2002) give a rule of
# thumb: below 2, little to choose between the models; 4 to 7, considerably less support for
# the worse one; above 10, essentially none.
#
# Two conditions, as for an LRT: the models must be fitted to the **same rows** (a model
# with a predictor that has missing values drops rows, and its AIC is then on other data),
# and REML AIC and BIC compare only models with the **same fixed effects**. These fixed
# effects differ, so the comparison is on ML fits, which `compare_models` again arranges:

# %%
m_log = mk.fit_lmm("Reaction ~ np.log1p(Days) + (Days | Subject)", sleep)
comp_shape = mk.compare_models(m1, m_log)
comp_shape

# %%
ic = comp_shape.table.set_index("model")[["aic", "bic"]]
delta = ic - ic.min()   # ΔAIC and ΔBIC: each model minus the best (lowest)
delta

# %% [markdown]
# The linear model has the lower AIC and BIC, by {{delta["aic"].max():.1f}}: over these 10
# days there is essentially no support for this levelling off. Non-nested models get no
# likelihood-ratio test, only AIC and BIC (the notes under the table say so).
#
# Non-nested random parts work the same way (on REML fits, since the fixed effects are the
# same): a random intercept against a random slope without intercept.

# %%
m_slope_only = mk.fit_lmm("Reaction ~ Days + (0 + Days | Subject)", sleep)
comp_re_shape = mk.compare_models(m0, m_slope_only)
comp_re_shape

# %%
ic_re = comp_re_shape.table.set_index("model")[["aic", "bic"]]
delta_re = ic_re - ic_re.min()
delta_re

# %% [markdown]
# The random slope without a random intercept has the lower AIC and BIC (by
# {{delta_re["aic"].max():.1f}}, above 10: essentially no support for the intercept model),
# so between these two, differences in slope matter more than differences in baseline. Both
# lose to `(Days | Subject)` (REML AIC {{m1.aic:.1f}} in section 3), which has both.

# %% [markdown]
# ## Summary
#
# | question | fits | test |
# |---|---|---|
# | one fixed-effect coefficient | REML | *t* test in `fixed_effects` (Satterthwaite or Kenward–Roger df) |
# | several coefficients at once (a factor, interactions) | REML | *F* test in `fit.anova()` (Satterthwaite or Kenward–Roger df) |
# | fixed effects by likelihood ratio | ML (refitted for you) | LRT, χ²(df): liberal with few groups, for large samples only |
# | a variance component | REML | LRT with the boundary-corrected 50:50 mixture; parametric bootstrap to check |
# | non-nested models, same rows | ML if the fixed parts differ, else REML | AIC / BIC (ΔAIC above 10: essentially no support) |
#
# `mk.compare_models(...)` chooses REML or ML for you and explains each choice in `.notes`.
#
# **Next:** 04 checks whether a model's assumptions hold and what to do when they do not.
