# ruff: noqa: B018
# Source of notebooks/06_factors.ipynb (percent format: `# %%` starts a code cell,
# `# %% [markdown]` a markdown cell). Edit here, then run
# `python notebooks/make_notebooks.py`; see notebooks/README.md.

# %% [markdown]
# # 06 · Factors: F tests, means and contrasts
#
# **The story.** Nine people each tried four ergonomic stools and rated how much effort it
# took to get up from each one. Do the stools differ? If they do, which ones, and by how
# much? And how much do the people differ?
#
# **You will learn** to put a categorical predictor (a *factor*) in the fixed part of a
# model, to test it as a whole with an F test (`fit.anova()`) and to read its degrees of
# freedom, why a likelihood-ratio test is too optimistic with few subjects, when
# Kenward–Roger and Satterthwaite differ, and to report estimated marginal means
# (`fit.marginal_means`), pairwise comparisons with Tukey's adjustment (`fit.contrasts`),
# profile intervals for the variance components (`fit.confint`) and `mk.plot_means`.
#
# *Assumed background:* notebook 01. Having met one-way ANOVA helps but is not needed.

# %%
# %matplotlib inline
import numpy as np
import pandas as pd
from scipy import stats

import mixedkit as mk

pd.set_option("display.precision", 4)
pd.set_option("display.width", 120)
pd.set_option("display.max_colwidth", 90)

# %% [markdown]
# ## The data
#
# `ergoStool` (Pinheiro and Bates, 2000; R's nlme package): 9 subjects each rated all 4
# stool types (T1 to T4) once on the Borg scale of perceived exertion: 36 ratings. It is
# not bundled with mixedkit, so we type it in, one row per subject and one column per
# stool, and then turn it into the long format that models need (one row per rating).

# %%
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

# %%
overview = wide.astype(float).assign(**{"subject mean": wide.mean(axis=1)})
overview.loc["stool mean"] = overview.mean()
overview.round(2)

# %% [markdown]
# Two things to see:
#
# * the stool means (last row) differ;
# * the subjects differ a lot in their overall level (last column): some people rate every
#   stool as hard work.
#
# Every subject tried every stool, so **Type is a within-subject factor**: each subject is
# their own control, and a subject's overall level cancels out of every comparison between
# two stools. A random intercept per subject says exactly this. (The classical names of
# this design: randomized complete block, or one-way repeated-measures ANOVA.)
#
# ## The model
#
# $$\text{effort}_{ij} = \mu_j + s_i + \varepsilon_{ij},\qquad
# s_i \sim N(0, \sigma^2_{\text{Subject}}),\quad \varepsilon_{ij} \sim N(0, \sigma^2)$$
#
# * $\mu_j$ is the mean effort for stool type $j$: **fixed**, because we care about these
#   four particular stools;
# * $s_i$ is subject $i$'s personal offset: **random**, because the subjects are a sample of
#   people and we care about people in general.
#
# In lme4 syntax: `effort ~ Type + (1 | Subject)`. `Type` holds text, so it is a factor: its
# 4 levels become an intercept (the mean of the first level, T1) and 3 coefficients, each the
# difference between one stool and T1 (treatment coding, R's default).

# %%
fit = mk.fit_lmm("effort ~ Type + (1 | Subject)", ergo)
fit.fixed_effects

# %% [markdown]
# Each coefficient tests one stool against T1. None of these tests answers the question we
# asked, "does the stool type matter at all?", and they would change if another stool had
# been the first level. The question is about all three coefficients at once: all zero
# means all four stool means are equal.
#
# ## Is there an effect of Type? The F test

# %%
table = fit.anova()
print(table)

# %% [markdown]
# * The heading says which test this is: **Type III** (each term adjusted for all the
#   others, lmerTest's and SAS's default) with **Satterthwaite's** degrees of freedom. With
#   a single factor, Types I, II and III are the same test; they differ when a model has
#   several terms and the data are unbalanced.
# * **statistic** is F: the three coefficients tested together (a Wald test divided by
#   their number). Its numerator df, **num_df**, is the number of coefficients tested:
#   levels − 1 = 4 − 1 = 3.
# * **den_df** says how much information the estimate of the noise rests on. Comparisons
#   between stools are made *within* subjects, so their precision depends on the
#   within-subject residuals: 36 ratings, minus 9 subject means, minus 3 stool effects, leave
#   (9 − 1) × (4 − 1) = 24 degrees of freedom. Satterthwaite's approximation finds this
#   without being told the design:

# %%
n_subjects, n_types = ergo["Subject"].nunique(), ergo["Type"].nunique()
print(f"(subjects - 1) x (types - 1) = {(n_subjects - 1) * (n_types - 1)}; "
      f"Satterthwaite's den_df = {table['den_df'].iloc[0]:.4f}")

# %% [markdown]
# In a balanced design like this one, the mixed-model F test *is* the classical
# repeated-measures ANOVA; statsmodels has that as `AnovaRM`. (The mixed model keeps working
# when ratings are missing, where `AnovaRM` refuses, and it gives the means and contrasts
# below.)

# %%
from statsmodels.stats.anova import AnovaRM

print(AnovaRM(ergo, "effort", "Subject", within=["Type"]).fit())

# %% [markdown]
# A report of this test would read:

# %%
row = table.iloc[0]
print(f"Stool type affected the effort ratings, F({row['num_df']}, {row['den_df']:.0f}) = "
      f"{row['statistic']:.2f}, p = {row['p_value']:.1g} (Type III test, Satterthwaite df).")

# %% [markdown]
# ### Why not a likelihood-ratio test?
#
# Another way to test Type: fit the model with and without it by maximum likelihood and
# compare the log-likelihoods with a chi-square test on 3 df (notebook 03;
# `compare_models` refits both models by ML because their fixed effects differ).

# %%
fit0 = mk.fit_lmm("effort ~ 1 + (1 | Subject)", ergo)
lrt = mk.compare_models(fit0, fit)
lrt

# %%
pd.DataFrame({"p_value": [table["p_value"].iloc[0], lrt.table["p_value"].iloc[1]]},
             index=["F test, Satterthwaite df", "likelihood ratio, chi-square"])

# %% [markdown]
# Both p-values are tiny, so the conclusion is the same here. But the likelihood-ratio
# p-value is the smaller one, and that is systematic. The chi-square distribution is the
# large-sample limit: it treats the residual variance as if it were known (like a *z* test
# instead of a *t* test), while with 9 subjects it is estimated from only 24 df, and
# maximum-likelihood variance estimates are biased downwards on top of that. With few
# subjects, the likelihood-ratio test rejects a true null hypothesis too often: it is
# **liberal** (anti-conservative).
#
# How often? In this balanced design the likelihood-ratio statistic is a function of F,
# $LR = (N - S)\log(1 + \text{num\_df}\cdot F / \text{den\_df})$ with $N$ ratings and
# $S$ subjects (as long as the subject variance is not estimated as 0). Since F has an exact
# F(3, 24) distribution when the stools do not differ, the real error rate of the "5%"
# likelihood-ratio test can be computed exactly:

# %%
N, S = len(ergo), ergo["Subject"].nunique()
F, num, den = table["statistic"].iloc[0], table["num_df"].iloc[0], table["den_df"].iloc[0]
print(f"LR statistic from the two ML fits:  {lrt.table['chisq'].iloc[1]:.4f}")
print(f"(N - S) log(1 + num_df F / den_df): {(N - S) * np.log1p(num * F / den):.4f}")

lr_cut = stats.chi2.ppf(0.95, num)             # the LR test rejects above this
f_cut = np.expm1(lr_cut / (N - S)) * den / num  # the same cut-off on the F scale
print(f"real type I error rate of the nominal 5% LR test: {stats.f.sf(f_cut, num, den):.3f}")

# %% [markdown]
# The "5%" test is wrong noticeably more often than 5% of the time, and the fewer the
# subjects, the worse it gets. For fixed effects in small samples, use F (or *t*) tests with
# Satterthwaite or Kenward–Roger degrees of freedom; keep likelihood-ratio tests for large
# samples and for random effects.
#
# ## Kenward–Roger or Satterthwaite?
#
# Both approximate the small-sample distribution of F. Kenward–Roger (R's pbkrtest) also
# inflates the covariance matrix of the estimates to account for the variances being
# estimated; Satterthwaite (R's lmerTest) keeps the usual one and only adjusts the df.

# %%
def both_methods(f):   # the anova table of fit f with each df method, one row each
    return pd.DataFrame(pd.concat({"Satterthwaite": f.anova(),
                                   "Kenward-Roger": f.anova(df_method="kenward-roger")},
                                  names=["df_method", None]).droplevel(1))


both_methods(fit)

# %% [markdown]
# Identical: in a balanced design whose F test is a classical ANOVA F test, both methods
# recover its exact df and Kenward–Roger's inflation is zero. They differ when the data are
# unbalanced (missing observations, unequal group sizes), with few groups, and most in
# designs where a test mixes several variance components (split-plot designs, random slopes).
# Kenward–Roger is then usually the safer choice; it needs a REML fit and is slower on large
# data. Remove three ratings and they part ways, a little:

# %%
unbalanced = ergo.drop(index=[1, 6, 11])   # subjects 1, 2 and 3 each miss one rating
fit_u = mk.fit_lmm("effort ~ Type + (1 | Subject)", unbalanced)
both_methods(fit_u)

# %% [markdown]
# `mk.fit_lmm(..., df_method="kenward-roger")` makes Kenward–Roger the default of every
# table of the fit: fixed effects, `anova`, marginal means and contrasts.
#
# ## Marginal means: how hard is each stool?

# %%
means = fit.marginal_means("Type")
means

# %% [markdown]
# * The **estimate** is the model's mean effort for each stool, with a 95% interval. In a
#   balanced design it equals the raw stool mean (below). With missing data, unequal cell
#   counts or covariates it does not, and the marginal mean (emmeans' *estimated marginal
#   mean*, SAS's *least-squares mean*) is the model's answer: the average over a balanced
#   grid of the other factors, with covariates held at their means.
# * The intervals are **wide**, with df between the number of subjects and the number of
#   rows: the mean effort of a stool *for people in general* includes how much people
#   differ ($\sigma^2_{\text{Subject}}$), and 9 subjects pin that down only roughly.

# %%
pd.DataFrame({"raw mean": ergo.groupby("Type")["effort"].mean(),
              "marginal mean": means.set_index("Type")["estimate"]})

# %% [markdown]
# ## Which stools differ? Pairwise contrasts

# %%
pairs = fit.contrasts("Type")
pairs

# %% [markdown]
# All 6 differences between two stools ("T1 - T2" is T1's mean minus T2's).
#
# * The **std_error** of a difference is smaller than that of a mean (compare with the
#   table above), and its df are the within-subject 24 again: subject offsets cancel out of a
#   within-subject difference, so only the residual variance counts. This is why a
#   within-subject design is efficient.
# * **Tukey's adjustment.** Six tests at the 5% level each: if the stools did not differ at
#   all, the chance that at least one of the six comes out "significant" would be well above
#   5%. Tukey's method compares each *t* statistic with the distribution of the *largest*
#   standardized difference among all the means (the studentized range), so that the chance
#   of any false positive among all the pairs stays at 5% (the family-wise error rate). The
#   price is larger p-values and wider intervals, which are now *simultaneous*: all six
#   cover their true differences together with 95% probability.

# %%
raw = fit.contrasts("Type", adjust="none").set_index("contrast")
tukey = pairs.set_index("contrast")
pd.DataFrame({
    "p (unadjusted)": raw["p_value"], "p (Tukey)": tukey["p_value"],
    "CI width (unadjusted)": raw["conf_high"] - raw["conf_low"],
    "CI width (Tukey)": tukey["conf_high"] - tukey["conf_low"],
})

# %%
different = pairs.loc[pairs["p_value"] < 0.05, "contrast"]
print("Different at the 5% level, Tukey-adjusted:", ", ".join(different))

# %% [markdown]
# Other options: `adjust="holm"`, `"bonferroni"`, `"sidak"` or `"none"`;
# `method="treatment"` compares each stool with the first only (fewer comparisons, so a
# milder adjustment); with `by="B"` the comparisons, and the adjustment, are made within
# each level of another factor B.
#
# ## How much do people differ? Variance components and profile intervals

# %%
fit.variance_components

# %%
ci = fit.confint()          # method="profile", as lme4's confint()
ci

# %% [markdown]
# * The rows `ran_pars` are the SD of the subject offsets and the residual SD. Their
#   intervals come from the **likelihood profile**: each limit is where the deviance has
#   risen by the 95% quantile of a chi-square on 1 df. They are **asymmetric**, as they
#   should be: an SD cannot be negative and its sampling distribution is skewed, so an
#   estimate ± 1.96 SE interval would make little sense for an SD from 9 subjects.
# * Compare the width of each interval with its estimate: with 9 subjects, the subject SD is
#   known only roughly; the residual SD, which rests on the 24 within-subject df, better.
# * As in lme4, the profile is computed on the ML likelihood, also for a REML fit; the
#   notes say what was done:

# %%
ci.attrs['notes']

# %% [markdown]
# ## A picture

# %%
ax = mk.plot_means(fit, "Type")
for _, ratings in wide.iterrows():   # each subject's four ratings, joined
    ax.plot(range(len(ratings)), ratings.to_numpy(), color="grey", lw=0.6, alpha=0.4)

# %% [markdown]
# The means with their 95% intervals, over the raw ratings; the grey lines join each
# subject's four ratings. Nearly every line rises from T1 to T2 and falls again towards
# T4, at very different heights: people differ in their level, but largely agree on which
# stools are harder.
#
# This is also why **overlapping intervals of two means do not show that they do not
# differ**. The intervals of the means contain the subject-to-subject variation, which
# cancels out of within-subject differences. Judge differences from the contrasts. The
# pairs whose mean intervals overlap and yet differ significantly (Tukey):

# %%
import itertools

m = means.set_index("Type")
p = pairs.set_index("contrast")["p_value"]
for a, b in itertools.combinations(m.index, 2):
    overlap = m.loc[a, "conf_low"] <= m.loc[b, "conf_high"] and \
        m.loc[b, "conf_low"] <= m.loc[a, "conf_high"]
    if overlap and p[f"{a} - {b}"] < 0.05:
        print(f"{a} and {b}: intervals overlap, Tukey p = {p[f'{a} - {b}']:.3f}")

# %% [markdown]
# ## Summary
#
# * A factor in the fixed part: `effort ~ Type + (1 | Subject)`. Its coefficients are
#   differences from the first level; they do not test the factor.
# * "Does the factor matter?" is `fit.anova()`: a Type III F test with Satterthwaite (or
#   Kenward–Roger) denominator df. In a balanced repeated-measures design it is the
#   classical repeated-measures ANOVA, F(levels − 1, (subjects − 1)(levels − 1)).
# * With few subjects, likelihood-ratio chi-square tests of fixed effects are liberal;
#   prefer the F test.
# * Kenward–Roger and Satterthwaite agree in balanced designs; they differ with unbalanced
#   data, few groups and several variance components in one test.
# * `fit.marginal_means("Type")`: model-based means with intervals (between-subject
#   variation included); `fit.contrasts("Type")`: pairwise differences with Tukey's
#   family-wise adjustment.
# * `fit.confint()`: profile intervals, the right kind for SDs.
# * From a terminal, on a CSV file:
#   `mixedkit anova ergo.csv "effort ~ Type + (1 | Subject)"` and
#   `mixedkit means ergo.csv "effort ~ Type + (1 | Subject)" Type --contrasts`.
