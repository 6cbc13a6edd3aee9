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
# is the wrong one here, and fix the model: first its mean (a curve in time), then its
# residuals (weighings of the same pig a week apart are correlated).
#
# **You will learn** to read each panel of `mk.plot_diagnostics`, to use
# `fit.check_assumptions()` (and its limits), to follow up outlying observations, to write a
# quadratic term whose coefficients mean something (centring), to look for residual
# correlation over time within a subject and deal with it (an AR(1) residual structure, the
# sandwich covariance), and to read a caterpillar plot (`mk.plot_ranef`).

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import numpy as np
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
# 2. the **residuals** are independent (also within a pig, once its own line is taken into
#    account), normal, with constant variance;
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
#    residuals are positive for the lightest and the heaviest weighings (early and late in
#    the study) and negative in between. A straight line in Time misses the curvature of
#    growth: the **mean structure** is wrong.
# 2. **Normal QQ plot of the standardised residuals.** Points should follow the line,
#    within the grey 95% band. Here the lower tail falls far below: a few weighings are much
#    lower than the model predicts (heavy tails, outliers).
# 3. **Scale-location** ($\sqrt{|\text{standardised residual}|}$ against fitted). A flat
#    trend means constant variance; here it is roughly flat.
# 4. **QQ plots of the conditional modes**, one per random term (intercept and slope by
#    pig). They check the normality of the random effects. Conditional modes are shrunk, so
#    their spread is smaller than the true random effects', but the plot standardises them
#    and judges the shape. The intercepts look normal; the slopes have a somewhat long
#    lower tail (a few slow-growing pigs), which the check table below marks as a `note`.
#
# ## The checks in words

# %%
checks = fit.check_assumptions()
checks

# %% [markdown]
# One row per check with the test statistic, its value, a p-value where there is one, a
# severity (`ok`; `note`: look at the plots, or the check could not run; `warning`) and a
# fix. A check is flagged only when p < 0.01 **and** the departure is large enough to
# matter, so that large data sets do not turn every small departure into a problem. Here:
# residuals are not normal (heavy tails), the mean structure misses a curve, the residual SD
# differs a lot between pigs, and there are outlying observations. No row checks whether
# residuals of the same pig are independent of each other; we come back to that at the end.
#
# An observation is outlying when its Pearson residual (residual / residual SD) is beyond
# ±{{checks.attrs["cutoff"]:.2f}}: with {{len(dietox)}} rows, normal residuals cross that
# line in at most 5% of data sets (a Bonferroni cut-off, which grows with the number of
# rows). The outlying rows are listed in `checks.attrs`. Look at them before anything else:

# %%
rows = checks.attrs["outlier_rows"]
dietox.loc[rows]

# %%
pig, week = dietox.loc[rows[0], ["Pig", "Time"]]
weights = dietox.loc[dietox["Pig"] == pig].set_index("Time")["Weight"]
weights.to_frame().T

# %% [markdown]
# Pig {{pig}} weighs {{weights[week - 1]:.1f}} kg in week {{week - 1}}, then
# {{weights[week]:.1f}} kg in week {{week}} and {{weights[week + 1]:.1f}} kg in week
# {{week + 1}}: a loss of {{weights[week - 1] - weights[week]:.0f}} kg and a regain of
# {{weights[week + 1] - weights[week]:.0f}} kg within two weeks. That is implausible: probably a
# recording error, possibly a sick animal. An outlier is a question for whoever collected
# the data, not a row to delete silently. (We come back to it below.)
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
# The distribution checks in the table now look almost clean (the QQ panel is less
# reassuring), but one row stands out: the **mean structure (curvature)** check, and
# panel 1 shows why, a pronounced arch. The raw means explain it:

# %%
mean_kg = dietox.groupby("Time")["Weight"].mean()   # the average pig, week by week
gain = mean_kg.diff()                               # kg gained since the week before
share = gain / mean_kg.shift()                      # as a share of last week's weight
halves = pd.DataFrame({"kg per week": [gain.loc[2:6].mean(), gain.loc[7:].mean()],
                       "share of weight": [share.loc[2:6].mean(), share.loc[7:].mean()]},
                      index=["weeks 1 to 6", "weeks 6 to 12"])
halves

# %% [markdown]
# Pigs put on *more* kg per week as they grow ({{halves.iloc[0, 0]:.1f}} kg a week in the
# first half of the study, {{halves.iloc[1, 0]:.1f}} kg in the second), but a smaller
# *share* of their weight ({{halves.iloc[0, 1]:.0%}} against {{halves.iloc[1, 1]:.0%}}). So
# on the log scale growth slows down, and a straight line in Time on the log scale (a
# constant percentage gain per week) is a poor description.
#
# The other checks improved, but not because the model improved. The outlying weighings are
# still there; they only look less extreme. Their Pearson residuals under the two models,
# and under a log model that also has the curve (`I(Time**2)`):

# %%
fit_log_curve = mk.fit_lmm("np.log(Weight) ~ Time + I(Time**2) + (Time | Pig)", dietox)
pd.DataFrame({"Weight": fit.residuals("pearson")[rows],
              "log_Weight": fit_log.residuals("pearson")[rows],
              "log_Weight with the curve": fit_log_curve.residuals("pearson")[rows]})

# %% [markdown]
# A Pearson residual is measured in residual SDs, and the straight line on the log scale
# misses the arch, so its residual SD is inflated: {{fit_log.scale ** 0.5:.3f}} on the log
# scale (about {{fit_log.scale ** 0.5:.0%}} of a pig's weight), against
# {{fit_log_curve.scale ** 0.5:.3f}} once the curve is in the model. Against that inflated
# yardstick the outlying weighings look ordinary; with the curve they stand out again.
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
severity = severities(Weight=fit, log_Weight=fit_log, Weight_quadratic=fit_quad)
severity

# %%
fe_quad = fit_quad.fixed_effects.set_index("term")
bend = fit_quad.check_assumptions().set_index("check").loc["mean structure (curvature)"]
fe_quad

# %% [markdown]
# The residuals-vs-fitted trend is now nearly flat, and the curvature row is now
# `{{severity.loc["mean structure (curvature)", "Weight_quadratic"]}}`: a slight bend is
# still detectable (p < 0.01), but its correlation, {{bend["statistic"]:.2f}}, is too small
# to flag. Is the
# quadratic term needed? It is one fixed effect, so its *t* test answers:
# *t* = {{fe_quad.loc["I(Time ** 2)", "statistic"]:.1f}} on
# {{fe_quad.loc["I(Time ** 2)", "df"]:.0f}} Satterthwaite degrees of freedom, p < .001.
#
# **How to test what.** Fixed effects are tested with *t* and *F* tests with Satterthwaite
# (the default) or Kenward–Roger degrees of freedom (`fit.fixed_effects`, `fit.anova()`,
# `fit.contrasts()`), also for several coefficients at once (a multi-df *F* test from
# `fit.anova()`). The χ² likelihood-ratio test of fixed effects (ML fits) is liberal with few
# groups and is for large samples only. Random effects (variance components) are tested by a
# likelihood-ratio test on REML fits with the boundary (50:50 mixture) correction
# (`mk.compare_models`), or a parametric bootstrap. REML, the default, *reduces* (does not
# remove) the small-sample downward bias of ML variance estimates.
#
# How fast do the pigs grow according to this model? The slope of the curve
# $\beta_0 + \beta_1 t + \beta_2 t^2$ at week $t$ is $\beta_1 + 2\beta_2 t$:

# %%
b1, b2 = fe_quad.loc["Time", "estimate"], fe_quad.loc["I(Time ** 2)", "estimate"]
weekly_gain = pd.Series({week: b1 + 2 * b2 * week for week in (0, 1, 6.5, 12)},
                        name="kg per week")
weekly_gain.rename_axis("week").to_frame().T

# %% [markdown]
# The average pig gains {{weekly_gain[1]:.1f}} kg a week at the first weighing and
# {{weekly_gain[12]:.1f}} kg a week at the last: its gain in kg rises by
# $2\hat\beta_2$ = {{2 * b2:.2f}} kg a week every week, what the raw means showed.
#
# ## Centring Time: coefficients you can read
#
# The table above also shows what the coefficient of `Time` in the quadratic model is: the
# slope at Time = 0 ({{weekly_gain[0]:.2f}} kg a week, the `Time` estimate), a week before
# the first weighing, outside the data. It is not "the effect of Time". And with raw Time the
# two columns of the design are almost collinear, so their estimates are strongly
# correlated:

# %%
def estimate_corr(fit, a, b):
    """Correlation of the estimates of coefficients a and b."""
    v = fit.vcov_fixed
    return v.loc[a, b] / np.sqrt(v.loc[a, a] * v.loc[b, b])

raw_corr = np.corrcoef(dietox["Time"], dietox["Time"] ** 2)[0, 1]
raw_est_corr = estimate_corr(fit_quad, "Time", "I(Time ** 2)")
print(f"corr(Time, Time**2) in the data:    {raw_corr:.3f}")
print(f"corr of their estimates in fit_quad: {raw_est_corr:.3f}")

# %% [markdown]
# Centre Time at the middle of the study, week `6.5`, and square the centred value. The
# model is the same (the same curves, reparameterised), but each coefficient now means
# something at a week inside the data:

# %%
dietox["Time_c"] = dietox["Time"] - 6.5   # weeks from the middle of the study
fit_c = mk.fit_lmm("Weight ~ Time_c + I(Time_c**2) + (Time_c | Pig)", dietox)
fe_c = fit_c.fixed_effects.set_index("term")
fe_c

# %%
c_corr = np.corrcoef(dietox["Time_c"], dietox["Time_c"] ** 2)[0, 1]
c_est_corr = estimate_corr(fit_c, "Time_c", "I(Time_c ** 2)")
print(f"corr(Time_c, Time_c**2) in the data: {c_corr:.3f}")
print(f"corr of their estimates in fit_c:    {c_est_corr:.3f}")
print(f"logLik (REML): raw {fit_quad.loglik:.4f}, centred {fit_c.loglik:.4f}")
print(f"largest difference in fitted values: "
      f"{np.abs(fit_quad.fitted() - fit_c.fitted()).max():.1e} kg")

# %% [markdown]
# Same log-likelihood, same fitted values: only the coefficients changed meaning.
#
# * `Intercept` ({{fe_c.loc["Intercept", "estimate"]:.1f}} kg): the average pig's weight
#   at mid-study.
# * `Time_c` ({{fe_c.loc["Time_c", "estimate"]:.2f}} kg a week): the weekly gain at
#   mid-study, the same as the slope at week `6.5` computed from the raw model
#   ({{weekly_gain[6.5]:.2f}}).
# * `I(Time_c ** 2)` ({{fe_c.loc["I(Time_c ** 2)", "estimate"]:.4f}}, unchanged): the
#   curvature; twice it is the week-to-week increase of the weekly gain.
#
# The two time terms are now almost uncorrelated, in the data ({{c_corr:.2f}} against
# {{raw_corr:.2f}}) and in their estimates ({{c_est_corr:.2f}} against
# {{raw_est_corr:.2f}}), so each can be read on its own. The random part moved too: the
# random intercept is now each pig's deviation at mid-study, so its SD and its correlation
# with the slope are different numbers for the same model (`fit_c.variance_components`).
#
# Orthogonal polynomials (R's `poly(Time, 2)`) are the other common fix. The formula
# interface has no `poly()` (patsy does not provide one), and with weekly weighings that are
# almost all present, centring already makes the two columns nearly orthogonal. patsy's
# `center(Time)` also works, but centres at the mean of the rows, here
# {{dietox["Time"].mean():.2f}} rather than `6.5` because
# {{(dietox.groupby("Pig").size() < 12).sum():words}} pigs miss the last weighing;
# a column you create says exactly where zero is.
#
# ## What remains: outliers and unequal variances

# %%
checks_c = fit_c.check_assumptions()
flagged = checks_c[checks_c["severity"] == "warning"]
flagged[["check", "statistic", "p_value", "fix"]]

# %% [markdown]
# {{len(flagged):Words}} checks still warn: the residuals' heavy lower tail, the outlying
# weighings behind it, and residual SDs that differ between pigs. What to do:
#
# * **Outliers:** check them with the data owner; meanwhile refit without them and see
#   whether the conclusions change (a sensitivity analysis). Report both if they differ.
# * **Unequal residual variance between pigs:** mixedkit (like statsmodels' `MixedLM`) has
#   one residual variance for all pigs, so this cannot be modelled here (R's
#   `nlme::lme(weights = varIdent(form = ~ 1 | Pig))` can). The fixed-effect estimates stay
#   unbiased if the mean structure is right; their standard errors may be somewhat off, so
#   interpret borderline p-values with care.

# %%
out = checks_c.attrs["outlier_rows"]
fit_clean = mk.fit_lmm("Weight ~ Time_c + I(Time_c**2) + (Time_c | Pig)",
                       dietox.drop(index=out))
sensitivity = pd.DataFrame({
    "all rows": fe_c["estimate"],
    f"without rows {out}": fit_clean.fixed_effects.set_index("term")["estimate"],
    "std_error (all rows)": fe_c["std_error"],
})
sensitivity["change in SEs"] = (sensitivity.iloc[:, 1] - sensitivity.iloc[:, 0]) \
    / sensitivity["std_error (all rows)"]
sensitivity

# %% [markdown]
# The estimates move by at most {{sensitivity["change in SEs"].abs().max():.2f}} standard
# errors: the conclusions do not depend on those weighings. (Refitting without outliers can
# reveal new, milder "outliers": the residual SD shrinks and the cut-off moves with it. Do
# not iterate deletions.)
#
# ## Residuals that remember: correlation within a pig
#
# The model says that, once a pig's own line is taken into account, its weighings scatter
# independently around it. Weighings a week apart share a lot (gut fill, a few days off
# feed, a growth spurt), so a pig that is above its line this week tends to be above it next
# week too. No row of `check_assumptions()` tests this; look for it yourself. Put each
# residual next to the same pig's residual from the week before and correlate the pairs:

# %%
def lag1_corr(resid):
    """Correlation of each residual with the same pig's residual one week earlier."""
    res = dietox.assign(resid=resid).sort_values(["Pig", "Time"])
    by_pig = res.groupby("Pig")
    week_before = by_pig["resid"].shift().where(by_pig["Time"].diff() == 1)
    return res["resid"].corr(week_before)

lag1 = lag1_corr(fit_c.residuals())
print(f"lag-1 correlation of the residuals within a pig: {lag1:.2f}")

# %%
few = dietox["Pig"].unique()[:6]
fig, axes = plt.subplots(2, 3, figsize=(10, 5), sharex=True, sharey=True)
for ax, p in zip(axes.flat, few):
    one = dietox.assign(resid=fit_c.residuals()).query("Pig == @p")
    ax.plot(one["Time"], one["resid"], marker="o")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_title(f"pig {p}", fontsize="small")
    ax.set_xticks(range(1, 13))
fig.supxlabel("week")
fig.supylabel("conditional residual (kg)")
fig.tight_layout()

# %% [markdown]
# The correlation is {{lag1:.2f}}, and several of the plots show runs: a pig's residuals
# stay on one side of zero for several weeks rather than jumping around at random. This
# number *understates* the correlation: each pig's own (shrunken) line has already absorbed
# part of it, and residuals around a line fitted to the same points are pushed towards
# negative correlation.
#
# Why it matters: a pig's weekly weighings carry less independent information than as many
# independent rows. The estimates stay unbiased, but standard errors of what is estimated
# *within* pigs (here the curvature) come out too small.
#
# ### Remedy (a): a residual structure
#
# A first-order autoregressive structure, AR(1), lets residuals of the same pig $k$ weeks
# apart correlate by $\rho^k$. mixedkit writes it as a term of the formula (R's mmrm syntax,
# see the guide *Repeated measures*), here beside the random intercept and slope per pig
# (as `nlme::lme(..., correlation = corAR1())` does). `ar1` needs the week as a factor whose
# level order is the time order:

# %%
dietox["week"] = pd.Categorical(dietox["Time"])   # categories in time order: 1, 2, ..., 12
fit_ar1 = mk.fit_lmm("Weight ~ Time_c + I(Time_c**2) + (Time_c | Pig) + ar1(week | Pig)",
                     dietox)
fit_ar1

# %%
vc_ar1 = fit_ar1.variance_components.set_index("term")
rho = vc_ar1.loc["corr(lag 1)", "corr"]
mk.compare_models(fit_c, fit_ar1)

# %% [markdown]
# The estimated correlation of two residuals of the same pig a week apart is
# {{rho:.2f}} ({{rho ** 2:.2f}} two weeks apart, {{rho ** 4:.2f}} four weeks apart). The
# two models have the same fixed effects, so `compare_models` compares their REML fits: the
# AR(1) model is far better (AIC lower by {{fit_c.aic - fit_ar1.aic:.0f}}). The null value
# ρ = 0 lies inside the range of ρ, so the χ² test needs no boundary correction (that
# correction is for a variance tested at 0).
#
# The health check calls this fit singular: the random-effect covariance is at the edge of
# what is possible, with the correlation between a pig's intercept and slope estimated at
# {{vc_ar1.loc["corr(Intercept, Time_c)", "corr"]:+.2f}}, so that one combination of a
# pig's intercept and slope has variance 0 (the two move in lockstep). The pigs' own lines and the
# autocorrelated residuals compete to describe the same slow drift of a pig around the
# average curve, and the data cannot fully tell them apart. A fit at the boundary is still
# a maximum of the likelihood, and the fixed effects and their tests are usable; but do not
# read much into the random-effect SDs and their correlation.
#
# `sp_exp(Time | Pig)`, an exponential correlation in continuous time, is the same structure
# when the weighings are equally spaced, and takes times that are not:

# %%
fit_exp = mk.fit_lmm("Weight ~ Time_c + I(Time_c**2) + (Time_c | Pig) + sp_exp(Time | Pig)",
                     dietox)
print(f"logLik: ar1 {fit_ar1.loglik:.3f}, sp_exp {fit_exp.loglik:.3f}")

# %% [markdown]
# (The warning is the same singular fit as before.) Does the AR(1) term take up the
# correlation? The normalised residuals (each pig's
# residuals whitened by its estimated AR(1) covariance, `residuals("normalized")`) should be
# independent if it does:

# %%
lag1_ar1 = lag1_corr(fit_ar1.residuals("normalized"))
print(f"lag-1 correlation of the normalised residuals: {lag1_ar1:.2f}")

# %% [markdown]
# The lag-1 correlation is now {{lag1_ar1:.2f}}, against {{lag1:.2f}} before: the structure
# has taken it up (what is left is the slight negative correlation of residuals around
# fitted lines).
#
# ### Remedy (b): the sandwich (cluster-robust) standard errors
#
# The other route leaves the correlation unmodelled and corrects the standard errors: the
# empirical ("sandwich") covariance of the fixed effects treats each pig as one independent
# cluster, whatever the correlation within it; it needs many clusters, and 72 pigs are a
# reasonable number.
# In mixedkit it is `fit_lmm(..., vcov="empirical")`, available for models with a residual
# structure and no random effects; for a model with random effects it is not implemented,
# and `fit_lmm` says so:

# %%
try:
    mk.fit_lmm("Weight ~ Time_c + I(Time_c**2) + (Time_c | Pig)", dietox, vcov="empirical")
except mk.MixedkitError as err:
    print(f"{type(err).__name__}: {err}")

# %%
gls_formula = "Weight ~ Time_c + I(Time_c**2) + ar1(week | Pig)"
fit_gls = mk.fit_lmm(gls_formula, dietox)
fit_robust = mk.fit_lmm(gls_formula, dietox, vcov="empirical")
ses = pd.DataFrame({
    "independent residuals": fe_c["std_error"],
    "(Time_c | Pig) + ar1": fit_ar1.fixed_effects.set_index("term")["std_error"],
    "ar1 only": fit_gls.fixed_effects.set_index("term")["std_error"],
    "ar1 only, sandwich": fit_robust.fixed_effects.set_index("term")["std_error"],
})
ses

# %% [markdown]
# (The AR(1) model without random effects fits worse than the one with them: AIC
# {{fit_gls.aic - fit_ar1.aic:.0f}} higher. Here it serves as the model the sandwich
# corrects.)
#
# The standard error of the curvature is {{ses.iloc[2, 1] / ses.iloc[2, 0]:.1f}} times larger
# once the residual correlation is modelled, and the sandwich, which assumes nothing about
# the correlation within a pig, agrees ({{ses.iloc[2, 3]:.4f}}, against
# {{ses.iloc[2, 1]:.4f}} with random effects and AR(1) and {{ses.iloc[2, 2]:.4f}} from the
# AR(1)-only model it corrects): the model with independent residuals was overconfident
# about the curve. The slope at mid-study hardly changes ({{ses.iloc[1, 0]:.3f}} against
# {{ses.iloc[1, 1]:.3f}}): its uncertainty comes from how much pigs differ in growth rate,
# which the random slope already carried. Here the curvature stays clearly non-zero either
# way; in a smaller study the difference can decide a test.
#
# ## The random effects: caterpillar plot
#
# `fit.ranef()` and `plot_ranef` are available for models with random effects only (not yet
# beside a residual structure), so the plot is drawn for `fit_c`:

# %%
fig = mk.plot_ranef(fit_c)
n_named = len(fig.axes[0].get_yticklabels())

# %% [markdown]
# One panel per random term: each pig's conditional mode (its deviation from the population
# intercept, here the weight at mid-study, or from the population slope) with a 95% interval,
# sorted. With 72 pigs only {{n_named}} of them are named on the axis. The plot shows how
# large the pig-to-pig differences are relative to the uncertainty of each pig's estimate.
# Pigs whose interval excludes 0 are heavier or lighter at mid-study (left panel), or grow
# faster or slower (right panel), than the average pig; but the intervals are conditional
# on the estimated variances and there are 72 of them, so this is a description, not a set
# of tests. The table behind the plot is `fit.ranef()`:

# %%
re = fit_c.ranef()
re[re["term"] == "Time_c"].nlargest(3, "estimate")   # the three fastest-growing pigs

# %% [markdown]
# ## Summary: a diagnostic routine
#
# 1. `mk.plot_diagnostics(fit)`: read **residuals vs fitted first**; a trend means the mean
#    structure is wrong: fix the mean (a curve, a missing predictor), not the residuals'
#    distribution.
# 2. `fit.check_assumptions()` (also in `fit.health`): normality, constant variance,
#    curvature, outliers, influential groups, random-effect normality, with advice. A clean
#    table does not prove a good model.
# 3. Outlying rows (`.attrs["outlier_rows"]`): check the data; refit without them as a
#    sensitivity analysis.
# 4. Transform the response (`np.log(y)` in the formula) when the spread grows with the mean
#    or the residuals are skewed, and then check the mean structure again.
# 5. Write a polynomial in a centred variable (`Time - 6.5`, a column you create): the same
#    fit, with coefficients that mean something inside the data.
# 6. With repeated measures over time, correlate each residual with the subject's previous
#    one. If they are correlated, model it (`ar1(visit | subject)` or
#    `sp_exp(time | subject)` beside the random effects, compared with `compare_models`), or
#    use sandwich standard errors (`vcov="empirical"`, for a model with a residual structure
#    and no random effects).
# 7. Test fixed effects with Satterthwaite or Kenward–Roger *t* and *F* tests, random
#    effects with the boundary-corrected likelihood-ratio test on REML fits
#    (`compare_models`) or a parametric bootstrap.
# 8. `mk.plot_ranef(fit)` and `fit.ranef()` describe the groups.
#
# The model this notebook ends with, for this data: a quadratic in centred Time, random
# intercepts and slopes per pig and AR(1) residuals within a pig
# (`Weight ~ Time_c + I(Time_c**2) + (Time_c | Pig) + ar1(week | Pig)`), keeping in mind
# that its random-effect covariance sits at the boundary and the flags that remain (the
# outlying weighings, residual SDs that differ between pigs).
#
# **Next:** 05 moves to models with more than one grouping factor; 09 compares residual
# structures in a clinical trial.
