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
# Kenward–Roger and Satterthwaite differ, what a random intercept assumes about repeated
# measures (compound symmetry, and the sphericity of repeated-measures ANOVA with its
# Greenhouse–Geisser correction) and how a mixed model relaxes it, and to report estimated
# marginal means (`fit.marginal_means`), pairwise comparisons with Tukey's adjustment
# (`fit.contrasts`), confidence intervals (`fit.fixed_effects`, `fit.confint`),
# `mk.plot_means` and a paste-ready paragraph (`fit.report()`).
#
# *Assumed background:* notebook 01. Having met one-way ANOVA helps but is not needed.

# %%
# %matplotlib inline
import itertools

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
# stool types (T1 to T4) once on the Borg scale of perceived exertion: 36 ratings.
# `mk.load_dataset("ergostool")` has it in long format; here we type it in as a table
# with one row per subject and one column per stool, the way such data often arrive, and
# turn it into the long format that models need (one row per rating).

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
# (Very small *p*-values are printed in e-notation: `9.7535e-08` is $9.7535 \times 10^{-8}$,
# below one in ten million. In a paper they are written "*p* < .001", as below.)
#
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
# The same F and the same df. In a paper the test reads
# *F*(3, {{table["den_df"].iloc[0]:.0f}}) = {{table["statistic"].iloc[0]:.2f}}, with the
# p-value in APA style: three decimals without the leading zero, and `p < .001` below that,
# never in a table's scientific notation. `fit.report()`, in the last section, writes the
# paragraph.

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
# Both p-values are far below 0.05, so the conclusion is the same here. But the
# likelihood-ratio p-value is the smaller one, and that is systematic. The chi-square
# distribution is the large-sample limit: it treats the residual variance as if it were
# known (like a *z* test instead of a *t* test), while with 9 subjects it is estimated from
# only 24 df, and maximum-likelihood variance estimates are biased downwards on top of that.
# With few subjects, the likelihood-ratio test rejects a true null hypothesis too often: it
# is **liberal** (anti-conservative).
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
alpha_lr = stats.f.sf(f_cut, num, den)
print(f"real type I error rate of the nominal 5% LR test: {alpha_lr:.3f}")

# %% [markdown]
# The "5%" test rejects a true null hypothesis {{alpha_lr:.1%}} of the time, and the fewer
# the subjects, the worse it gets. Hence the rule this course uses throughout:
#
# * **fixed effects** are tested with *t* and F tests with Satterthwaite (the default) or
#   Kenward–Roger degrees of freedom: `fit.fixed_effects`, `fit.contrasts()`, and
#   `fit.anova()` for several coefficients at once (a multi-df F test, as for Type here).
#   The chi-square likelihood-ratio test of fixed effects (on ML fits) is liberal with few
#   groups and is for large samples only;
# * **random effects** (variance components) are tested by a likelihood-ratio test on REML
#   fits with the boundary (50:50 mixture) correction, `mk.compare_models` (notebook 03),
#   or by a parametric bootstrap.
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
# ## What `(1 | Subject)` assumes: compound symmetry
#
# The random intercept does more than shift each subject up or down: it fixes how a
# subject's four ratings vary together. Each rating is its stool's mean plus
# $s_i + \varepsilon_{ij}$, so
#
# * every stool has the same variance, $\sigma^2_{\text{Subject}} + \sigma^2$;
# * any two stools rated by the same subject have the same covariance,
#   $\sigma^2_{\text{Subject}}$, hence the same correlation: the intraclass correlation
#   $\text{ICC} = \sigma^2_{\text{Subject}} / (\sigma^2_{\text{Subject}} + \sigma^2)$.
#
# This pattern is **compound symmetry**. It can also be written as a residual covariance
# structure, `cs(Type | Subject)`, with no random effect (nlme's `gls` with `corCompSymm`;
# notebook 09 has more structures). It is the same model:

# %%
fit_cs = mk.fit_lmm("effort ~ Type + cs(Type | Subject)", ergo)
icc = fit.icc().set_index("kind").loc["adjusted", "estimate"]
cs_corr = fit_cs.residual_covariance.query("visit != with_visit")["corr"]
pd.DataFrame({"logLik (REML)": [fit.loglik, fit_cs.loglik],
              "F (Type)": [fit.anova()["statistic"].iloc[0], fit_cs.anova()["statistic"].iloc[0]],
              "den_df": [fit.anova()["den_df"].iloc[0], fit_cs.anova()["den_df"].iloc[0]],
              "correlation of two stools": [icc, cs_corr.iloc[0]]},
             index=["(1 | Subject)", "cs(Type | Subject)"])

# %% [markdown]
# Same log-likelihood, same F test, and the correlation of any two stools in the `cs` fit
# is the ICC of the random-intercept fit ({{icc:.2f}}). (One difference: `cs` also allows a
# negative correlation, which a variance $\sigma^2_{\text{Subject}}$ cannot give; with a
# positive correlation, as here, the two coincide.)
#
# ### Sphericity and the Greenhouse–Geisser correction
#
# Repeated-measures ANOVA (SPSS, `AnovaRM`, R's afex) states its assumption as
# **sphericity**: the within-subject differences between any two stools all have the same
# variance. Compound symmetry implies sphericity (every difference then has variance
# $2\sigma^2$, the subject offset cancels); with only two levels there is one difference and
# sphericity always holds. When it fails, the F test is liberal. Here are the six variances:

# %%
diff_var = pd.Series({f"{a} - {b}": (wide[a] - wide[b]).var()
                      for a, b in itertools.combinations(wide.columns, 2)},
                     name="variance of the within-subject difference")
diff_var.to_frame()

# %% [markdown]
# They run from {{diff_var.min():.2f}} to {{diff_var.max():.2f}}, far from equal (with 9
# subjects each is itself a rough estimate). The **Greenhouse–Geisser** correction measures
# the departure by $\varepsilon$, from $1/(\text{levels} - 1)$ (the worst case) to 1
# (sphericity), computed from the 4 × 4 covariance matrix of the stools, and multiplies both
# df of the F test by it:

# %%
cov = np.cov(wide.to_numpy(float), rowvar=False)   # covariance of the 4 stools
centre = np.eye(n_types) - 1 / n_types
dc = centre @ cov @ centre                          # double-centred: rows and columns sum to 0
eps_gg = np.trace(dc) ** 2 / ((n_types - 1) * np.trace(dc @ dc))
print(f"Greenhouse-Geisser epsilon = {eps_gg:.4f} "
      f"(between {1 / (n_types - 1):.4f} and 1)")

# %% [markdown]
# $\varepsilon$ = {{eps_gg:.2f}}: about halfway between the worst case and sphericity (R's
# `car::Anova` on the same table gives the same value). SPSS also prints Mauchly's test of
# sphericity; with few subjects it has little power, so apply the correction (or the model
# below) whatever that test says.
#
# ### Relaxing the assumption instead of correcting for it
#
# A mixed model need not assume compound symmetry: it can estimate the covariance of the
# stools freely, each stool its own variance and each pair its own correlation. That is the
# **unstructured** residual covariance `us(Type | Subject)` (the MMRM of notebook 09). A
# random part cannot do this here: with one rating per subject and stool,
# `(0 + Type | Subject)` has as many random effects as ratings, and `fit_lmm` refuses it, as
# lme4 does. The `us` structure has 4 variances and 6 covariances, 10 parameters for 9
# subjects, and `fit.health` says so:

# %%
fit_us = mk.fit_lmm("effort ~ Type + us(Type | Subject)", ergo, df_method="kenward-roger")
fit_us.health

# %% [markdown]
# With Kenward–Roger df, its F test in a complete design like this one is the exact
# multivariate test of repeated-measures ANOVA (Hotelling's $T^2$, SPSS's "Multivariate
# Tests"). The three tests of Type side by side:

# %%
row_us = fit_us.anova().iloc[0]
pd.DataFrame({"num_df": [num, eps_gg * num, row_us["num_df"]],
              "den_df": [den, eps_gg * den, row_us["den_df"]],
              "F": [F, F, row_us["statistic"]],
              "p_value": [table["p_value"].iloc[0], stats.f.sf(F, eps_gg * num, eps_gg * den),
                          row_us["p_value"]]},
             index=["(1 | Subject): compound symmetry", "Greenhouse-Geisser corrected",
                    "us(Type | Subject), Kenward-Roger"])

# %% [markdown]
# All three p-values are below 0.001: the stools differ, whatever we assume about the
# covariance. The price of assuming less is degrees of freedom: the correction shrinks them,
# and the `us` fit keeps {{row_us["den_df"]:.0f}} denominator df instead of {{den:.0f}}.
#
# Do the data reject compound symmetry? The two structures have the same fixed effects, so
# `compare_models` compares their REML fits (`cs` is a special case of `us`):

# %%
structures = mk.compare_models(fit_cs, fit_us)
p_structure = structures.table["p_value"].iloc[1]
structures

# %% [markdown]
# The likelihood-ratio test gives
# *p* = {{format(p_structure, ".3f").lstrip("0")}} on {{structures.table["df_diff"].iloc[1]:.0f}}
# df, but like the likelihood-ratio test of Type above it relies on a large-sample
# chi-square, here for 10 covariance parameters from 9 subjects, and rejects too often. AIC
# differs by {{abs(structures.table["aic"].diff().iloc[1]):.1f}} and BIC prefers `cs`. Nine
# subjects cannot settle the question; what a course needs is the rule: the covariance model
# is chosen before seeing the data. `us` assumes nothing about the covariance and is the
# usual choice when there are many more subjects than covariance parameters; with few
# subjects, report the compound-symmetry model with the Greenhouse–Geisser-corrected test
# beside it, as here.
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
# milder adjustment: Tukey's method is for all pairs, so mixedkit then uses Šidák's and says
# so in the table's notes, where emmeans' `trt.vs.ctrl` uses Dunnett's); with `by="B"` the
# comparisons, and the adjustment, are made within each level of another factor B.
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
# The rows `fixed` are profile intervals too, and they are narrower than the Satterthwaite
# intervals of `fit.fixed_effects`:

# %%
fe = fit.fixed_effects.set_index("term")
profile = ci[ci["effect"] == "fixed"].set_index("term")
widths = pd.DataFrame({"Satterthwaite t": fe["conf_high"] - fe["conf_low"],
                       "profile": profile["conf_high"] - profile["conf_low"]})
widths["profile / t"] = widths["profile"] / widths["Satterthwaite t"]
widths

# %% [markdown]
# The profile intervals are {{1 - widths["profile / t"].max():.0%}} to
# {{1 - widths["profile / t"].min():.0%}} narrower, for the same reasons that the
# likelihood-ratio test of Type is liberal: a profile limit is where the deviance crosses a
# chi-square quantile, a normal (*z*) reference with no small-sample df correction, on the ML
# likelihood whose variance estimates are too small. With 9 subjects they are too narrow.
# So report:
#
# * for the **fixed effects**, the Satterthwaite (or Kenward–Roger) *t* intervals,
#   `conf_low` and `conf_high` of `fit.fixed_effects` (and of `fit.marginal_means` and
#   `fit.contrasts`);
# * for the **SDs** (variance components), the profile intervals of `fit.confint()`: no df
#   method exists for them, and the profile respects their skewed, bounded distribution.

# %% [markdown]
# ## A picture

# %%
ax = mk.plot_means(fit, "Type", show_data=False)
shift = np.linspace(-0.2, 0.2, n_subjects)[:, None]   # one sideways shift per subject
x = np.arange(n_types) + shift                        # 9 x 4 positions, like `wide`
for xs, ratings in zip(x, wide.to_numpy()):   # each subject's four ratings, joined
    ax.plot(xs, ratings, color="grey", lw=0.6, alpha=0.5, marker="o", ms=3, zorder=1)

rises = (wide["T2"] > wide["T1"]).sum()   # subjects who rate T2 harder than T1
falls = (wide["T4"] < wide["T2"]).sum()   # ... and T4 easier than T2

# %% [markdown]
# The means with their 95% intervals, over the raw ratings; the grey lines join each
# subject's four ratings, each subject shifted a little sideways so that equal ratings do
# not hide each other. {{rises:Words}} of the 9 subjects rate T2 harder than T1 and
# {{falls:words}} rate T4 easier than T2, at very different heights: people differ in
# their level, but agree on which stools are harder.
#
# This is also why **overlapping intervals of two means do not show that they do not
# differ**. The intervals of the means contain the subject-to-subject variation, which
# cancels out of within-subject differences. Judge differences from the contrasts. The
# pairs whose mean intervals overlap and yet differ significantly (Tukey):

# %%
m = means.set_index("Type")
overlapping = [f"{a} - {b}" for a, b in itertools.combinations(m.index, 2)
               if m.loc[a, "conf_low"] <= m.loc[b, "conf_high"]
               and m.loc[b, "conf_low"] <= m.loc[a, "conf_high"]]
tukey.loc[overlapping].query("p_value < 0.05")[["estimate", "p_value", "conf_low", "conf_high"]]

# %% [markdown]
# ## Reporting
#
# `fit.report()` writes the methods and results as a paragraph in APA style: how the model
# was fitted, the F test of Type and each coefficient with its 95% interval, and the SDs.

# %%
fit.report()

# %% [markdown]
# Paste it into your results section (`print(fit.report())` gives plain text), then check
# it: it says what was fitted, not whether the model suits the question, and it does not
# add the Greenhouse–Geisser check, the marginal means or the contrasts you chose to report.
#
# ## Summary
#
# * A factor in the fixed part: `effort ~ Type + (1 | Subject)`. Its coefficients are
#   differences from the first level; they do not test the factor.
# * "Does the factor matter?" is `fit.anova()`: a Type III F test with Satterthwaite (or
#   Kenward–Roger) denominator df. In a balanced repeated-measures design it is the
#   classical repeated-measures ANOVA, F(levels − 1, (subjects − 1)(levels − 1)).
# * One testing rule: fixed effects get *t* and F tests with Satterthwaite or Kenward–Roger
#   df (`fit.fixed_effects`, `fit.anova()`, `fit.contrasts()`); the chi-square
#   likelihood-ratio test of fixed effects is liberal with few subjects (large samples
#   only). Variance components get the REML likelihood-ratio test with the boundary
#   correction (`mk.compare_models`) or a parametric bootstrap.
# * Kenward–Roger and Satterthwaite agree in balanced designs; they differ with unbalanced
#   data, few groups and several variance components in one test.
# * `(1 | Subject)` assumes compound symmetry (equal variances, one correlation, the ICC),
#   which implies the sphericity of repeated-measures ANOVA. Check it with the
#   Greenhouse–Geisser $\varepsilon$ and its corrected test, or relax it with a residual
#   structure (`us(Type | Subject)`, Kenward–Roger df: the multivariate test), chosen before
#   seeing the data.
# * `fit.marginal_means("Type")`: model-based means with intervals (between-subject
#   variation included); `fit.contrasts("Type")`: pairwise differences with Tukey's
#   family-wise adjustment.
# * Intervals: Satterthwaite (or Kenward–Roger) *t* intervals for fixed effects
#   (`fit.fixed_effects`); `fit.confint()`'s profile intervals for the SDs (its fixed-effect
#   rows are too narrow with few subjects).
# * `fit.report()`: a paragraph to paste, and check.
# * From a terminal, on a CSV file:
#   `mixedkit anova ergo.csv "effort ~ Type + (1 | Subject)"` and
#   `mixedkit means ergo.csv "effort ~ Type + (1 | Subject)" Type --contrasts`.
