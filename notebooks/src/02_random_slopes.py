# ruff: noqa: B018
# Source of notebooks/02_random_slopes.ipynb (percent format: `# %%` starts a code cell,
# `# %% [markdown]` a markdown cell). Edit here, then run
# `python notebooks/make_notebooks.py`; see notebooks/README.md.

# %% [markdown]
# # 02 · Random slopes: subjects differ in how fast they decline
#
# **The story.** In notebook 01 every subject had their own baseline but the *same* increase
# in reaction time per day. Is that plausible? We look at the data, let the slope vary by
# subject, see what that does to the estimates and their uncertainty, meet *partial
# pooling*, and see what centring and rescaling Days change.
#
# **You will learn** the difference between `(1 | Subject)`, `(Days | Subject)` and
# `(Days || Subject)`, how to read `mk.plot_fitted` and `mk.plot_shrinkage`, why omitting a
# needed random slope makes tests too optimistic, how to test a slope variance and how to
# test the average slope, when a random slope is warranted, and what centring and scaling a
# predictor do to the estimates.

# %%
# %matplotlib inline
import warnings

import pandas as pd
import statsmodels.formula.api as smf

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
# The model's health check sees the same thing in the residuals:

# %%
print(m_int.health["mean structure (curvature)"].line())

# %% [markdown]
# The curvature check gives a {{m_int.health["mean structure (curvature)"].severity}}: the
# residuals bend against the fitted values. A bend usually means that the fixed part misses
# a curve, but before it advises one the check looks for another cause. Fitted within each
# subject, the residuals have slopes on Days that differ between subjects, and around each
# subject's own line no bend remains; so what is missing is not a curve such as
# `I(Days**2)` but a slope that differs by subject, a **random slope** `(Days | Subject)`.
# The parallel lines above and this check tell the same story; the rest of the notebook
# fits the random slope.
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

# %%
# the numbers the text below quotes
var_int, var_slope, var_indep = (m.variance_components.set_index(["group", "term"])["variance"]
                                 for m in (m_int, m_slope, m_indep))
slope = m_slope.fixed_effects.set_index("term").loc["Days", "estimate"]
slope_sd = var_slope["Subject", "Days"] ** 0.5
corr = m_slope.variance_components.set_index("term").loc["corr(Intercept, Days)", "corr"]
print(f"middle 95% of subjects' slopes: {slope - 1.96 * slope_sd:.1f} to "
      f"{slope + 1.96 * slope_sd:.1f} ms per day")
print(m_slope.health["mean structure (curvature)"].line())

# %% [markdown]
# * The slope SD is {{slope_sd:.1f}} ms/day around an average slope of {{slope:.1f}}
#   ms/day: if subjects' slopes are normally distributed, 95% of them lie between about
#   {{slope - 1.96 * slope_sd:.0f}} and {{slope + 1.96 * slope_sd:.0f}} ms per day.
#   Most subjects get slower; a few hardly change.
# * The residual variance drops from {{var_int["Residual", ""]:.0f}} to
#   {{var_slope["Residual", ""]:.0f}}: the differences in slope, which the random-intercept
#   model left in the residuals, are now part of the model. The intercept variance drops
#   too, from {{var_int["Subject", "Intercept"]:.0f}} to
#   {{var_slope["Subject", "Intercept"]:.0f}}, but it now means something else: with a
#   random slope it is how much subjects differ *at day 0*, where their lines are closest
#   together (the section on centring below shows that in the middle of the study they
#   differ as much as before).
# * The estimated intercept-slope correlation is small ({{corr:.2f}}), and the `||` model,
#   which fixes it at 0, gives almost the same variances: intercept
#   {{var_indep["Subject", "Intercept"]:.0f}} against {{var_slope["Subject", "Intercept"]:.0f}},
#   slope {{var_indep["Subject", "Days"]:.1f}} against {{var_slope["Subject", "Days"]:.1f}},
#   residual {{var_indep["Residual", ""]:.0f}} against {{var_slope["Residual", ""]:.0f}}.
# * With the random slope the curvature check reads
#   {{m_slope.health["mean structure (curvature)"].severity}} (last line above): the
#   residuals show no bend any more.
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
slope_tests = pd.DataFrame({name: m.fixed_effects.set_index("term").loc["Days"]
                     for name, m in models.items()}).T[
    ["estimate", "std_error", "df", "conf_low", "conf_high", "p_value"]]
se, df = slope_tests["std_error"], slope_tests["df"]
slope_tests

# %% [markdown]
# The estimate is identical (the design is balanced), but the standard error grows
# {{se["(Days | Subject)"] / se["(1 | Subject)"]:.1f}}-fold ({{se["(1 | Subject)"]:.2f}} →
# {{se["(Days | Subject)"]:.2f}}) and the df fall from {{df["(1 | Subject)"]:.0f}} to
# {{df["(Days | Subject)"]:.0f}}. The p-value rises from
# {{slope_tests.loc["(1 | Subject)", "p_value"]:.0e}} to
# {{slope_tests.loc["(Days | Subject)", "p_value"]:.0e}} (e-notation: `3e-06` is
# $3 \times 10^{-6}$): still far below 0.001, so the conclusion stands here, but for a
# weaker effect the random-intercept model can declare significant what the data do not
# support.
#
# Why: if subjects genuinely differ in slope, the average slope is the mean of 18 different
# subject slopes, and its uncertainty is governed by how many *subjects* there are, not by
# how many rows (with 18 subjects measured on the same days, 18 − 1 = 17 df). The
# random-intercept model assumes every subject has the same slope, so it treats all 180
# rows as information about that one slope: its standard error is too small and its
# interval too narrow. Omitting a random slope for a within-subject predictor makes its test
# anti-conservative (too many false positives; Barr et al., 2013).
#
# This is a *t test of a fixed effect*, with Satterthwaite degrees of freedom
# (`fit.anova()` gives the same test as an F test, F = t², and tests several coefficients
# at once; `df_method="kenward-roger"` is the alternative). It answers "is the average
# slope different from 0?". A χ² likelihood-ratio test of the fixed slope (on ML fits) is
# liberal with 18 subjects; it is for large samples only. Whether subjects *differ* in
# slope is a different question, about a variance, tested below.
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
# the population estimate. The arrows point inward, but neither straight at the cross nor
# in proportion to how far out a subject is. A subject's least-squares intercept and slope
# have correlated errors (Days does not have mean 0: a line tilted too steeply starts too
# low), so noise mostly pushes them in opposite directions, and that is the direction in
# which the model pulls hardest: most arrows run from upper left to lower right or back.
# Subject 337, at the top right (slow on day 0 *and* getting slower fast), is far out in a
# direction that noise rarely produces, and hardly moves.
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
# With 10 rows per subject and a large between-subject variance, intercepts keep
# {{lam:.0%}} of their own deviation: little shrinkage. Shrinkage is strong when groups are
# small, noisy ($\sigma^2/n_j$ large) or similar to each other ($\sigma^2_0$ small); groups
# with fewer rows are shrunk more.
#
# ## When is a random slope warranted?
#
# 1. **The predictor varies within groups.** Days does. A slope for a predictor that is
#    constant within each group (a subject's sex, say) cannot be told apart from the
#    random intercept: only differences between groups inform it, and the fit is often
#    singular. `mk.check_data` and `fit_lmm` say so.
# 2. **Enough groups and enough distinct values within groups** to estimate a variance:
#    18 subjects × 10 days is plenty. With few observations per group the slope variance is
#    often estimated as exactly 0, a *singular* fit (`fit.singular`, `fit.health`).
# 3. **The question requires it.** If you want to generalise the Days effect to new
#    subjects and subjects differ in that effect, the slope variance belongs in the
#    uncertainty, as the larger standard error above shows. A common rule: include random
#    slopes for the within-group predictors you test, as far as the data support them, and
#    simplify (drop the correlation with `||`, then the slope) when the fit is singular or
#    does not converge (Barr et al., 2013; Matuschek et al., 2017).
# 4. **The data support it.** Whether a random slope is needed is a question about a
#    variance, so it is answered by a likelihood-ratio test on the REML fits with the
#    boundary correction, `mk.compare_models` (or a parametric bootstrap; notebook 03
#    explains both), not by the t test of the fixed slope above:

# %%
comparison = mk.compare_models(m_int, m_indep, m_slope)
comparison

# %% [markdown]
# Each row is tested against the row above. Adding the slope variance (`||` against the
# intercept-only model) is overwhelmingly supported; its p-value is the boundary-corrected
# one (half the naive χ²(1) p-value, because a variance cannot be negative). Adding the
# correlation on top (`|` against `||`) is not supported
# (p = {{comparison.table["p_value"].iloc[2]:.2f}}), and AIC is lower without it: either
# random-slope model is a sound choice here. But "the correlation is 0" depends on where
# Days = 0 is, as the next section shows.
#
# ## Centring and scaling Days
#
# The intercept is the predicted reaction time at Days = 0, and the random intercept is how
# subjects differ *there*. Moving the zero of Days (centring) or changing its unit (scaling)
# changes what these numbers mean. We centre Days at its mean, so that 0 is the middle of
# the study, and fit the correlated and the uncorrelated model again:

# %%
day_mean = sleep["Days"].mean()
sleep["days_c"] = sleep["Days"] - day_mean  # 0 = the middle of the study
sleep["weeks"] = sleep["Days"] / 7
m_slope_c = mk.fit_lmm("Reaction ~ days_c + (days_c | Subject)", sleep)
m_indep_c = mk.fit_lmm("Reaction ~ days_c + (days_c || Subject)", sleep)
m_weeks = mk.fit_lmm("Reaction ~ weeks + (weeks | Subject)", sleep)


def at_a_glance(fit):
    """Fixed intercept and slope, the t of the slope, the SDs across subjects, the
    intercept-slope correlation (0 when the model fixes it) and the REML logLik."""
    fe = fit.fixed_effects
    vc = fit.variance_components
    sd = vc.loc[vc["group"] == "Subject", "std_dev"].dropna()
    return pd.Series({"intercept": fe["estimate"][0], "slope": fe["estimate"][1],
                      "t slope": fe["statistic"][1], "SD intercept": sd.iloc[0],
                      "SD slope": sd.iloc[1], "corr": vc["corr"].fillna(0).sum(),
                      "logLik": fit.loglik})


glance = pd.DataFrame({
    "(Days | Subject)": at_a_glance(m_slope),
    "(days_c | Subject)": at_a_glance(m_slope_c),
    "(Days || Subject)": at_a_glance(m_indep),
    "(days_c || Subject)": at_a_glance(m_indep_c),
    "(weeks | Subject)": at_a_glance(m_weeks),
}).T
glance

# %% [markdown]
# Each row is one model, named by its random part (the fixed part uses the same predictor).
# **Centring** (`days_c` = Days − {{day_mean:g}}):
#
# * The **intercept** changes meaning: it is now the average reaction time in the middle of
#   the study, {{glance.loc["(days_c | Subject)", "intercept"]:.1f}} ms at day
#   {{day_mean:g}}, instead of {{glance.loc["(Days | Subject)", "intercept"]:.1f}} ms at
#   day 0. The slope, its t and the slope SD do not change.
# * The **intercept SD** is how much subjects differ where the predictor is 0:
#   {{glance.loc["(Days | Subject)", "SD intercept"]:.1f}} ms at day 0,
#   {{glance.loc["(days_c | Subject)", "SD intercept"]:.1f}} ms at day {{day_mean:g}}.
#   Subjects' lines fan out (their slopes differ), so they differ more in the middle of the
#   study than at its start.
# * The **correlation** changes from {{glance.loc["(Days | Subject)", "corr"]:.2f}} to
#   {{glance.loc["(days_c | Subject)", "corr"]:.2f}}: the subjects who are slow in the
#   middle of the study are mostly those who got slower fastest, while at day 0 speed and
#   slope are almost unrelated. Both fits describe the same subjects: `(Days | Subject)` is
#   the same model after centring, with the same logLik
#   ({{glance.loc["(Days | Subject)", "logLik"]:.3f}} and
#   {{glance.loc["(days_c | Subject)", "logLik"]:.3f}}), slope and slope SD.
# * `(Days || Subject)` is **not** invariant: it sets the correlation to 0 *where the
#   predictor is 0*. With Days that is day 0, where the correlation is close to 0 anyway,
#   so it costs little (logLik {{glance.loc["(Days || Subject)", "logLik"]:.2f}} against
#   {{glance.loc["(Days | Subject)", "logLik"]:.2f}}). With `days_c` it forces a 0 at day
#   {{day_mean:g}}, where the correlation is {{glance.loc["(days_c | Subject)", "corr"]:.2f}},
#   and the fit is worse (logLik {{glance.loc["(days_c || Subject)", "logLik"]:.2f}}). The
#   test of the correlation, repeated on the centred fits:

# %%
corr_test = mk.compare_models(m_indep_c, m_slope_c)
corr_test

# %% [markdown]
# Now the correlation is needed (p = {{corr_test.table["p_value"].iloc[1]:.4f}}, against
# {{comparison.table["p_value"].iloc[2]:.2f}} before centring). "The correlation is 0" is
# a statement about one choice of zero: use `||` where the zero of the predictor is
# meaningful and say where it is. Centring at a meaningful value works in the same way: in
# this study days 0 and 1 were adaptation and training and day 2 the baseline, before the
# sleep restriction began (lme4's `?sleepstudy`), so with `Days - 2` the intercept is the
# baseline reaction time.
#
# **Scaling.** Days in weeks (`weeks` = Days / 7, the last row of the table) multiplies the
# slope by 7 ({{glance.loc["(weeks | Subject)", "slope"]:.1f}} ms per week) and the slope SD
# by 7 ({{glance.loc["(weeks | Subject)", "SD slope"]:.1f}} ms per week against
# {{glance.loc["(Days | Subject)", "SD slope"]:.2f}} ms per day); the intercept, its SD, the
# correlation and the t of the slope do not change: the same model in other units. The
# REML logLik is higher by
# {{glance.loc["(weeks | Subject)", "logLik"] - glance.loc["(Days | Subject)", "logLik"]:.2f}},
# which is $\log 7$: the REML likelihood depends on the units of the fixed-effect columns
# (the ML likelihood does not), one more reason why REML fits are compared only when their
# fixed effects are the same, in the same units.
#
# A badly scaled predictor is a different matter. The same model with Days in days and in
# seconds, fitted by mixedkit and by statsmodels:

# %%
sleep["seconds"] = sleep["Days"] * 86400
rows = {}
for x in ["Days", "seconds"]:
    fit = mk.fit_lmm(f"Reaction ~ {x} + ({x} | Subject)", sleep)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' convergence warnings, read below
        sm = smf.mixedlm(f"Reaction ~ {x}", sleep, groups="Subject", re_formula=f"~{x}").fit()
    rows[x] = {"slope": f'{fit.fixed_effects["estimate"][1]:.4g}', "mixedkit logLik": fit.loglik,
               "mixedkit converged": fit.converged, "statsmodels logLik": sm.llf,
               "statsmodels converged": sm.converged}
units = pd.DataFrame(rows).T
units

# %% [markdown]
# In seconds the slope is {{units.loc["seconds", "slope"]}} ms per second, its SD is as
# small, and the intercept is in the hundreds: optimisers work badly on parameters of such
# different sizes. mixedkit finds the same fit in both units: the logLik differs by
# {{units.loc["Days", "mixedkit logLik"] - units.loc["seconds", "mixedkit logLik"]:.2f}},
# which is $\log 86400$, as it differed by $\log 7$ for weeks (mixedkit fits the
# random-effect columns divided by their root mean square). statsmodels, given the same
# model with Days in seconds (the model's `statsmodels_call`), stops
# {{units.loc["seconds", "mixedkit logLik"] - units.loc["seconds", "statsmodels logLik"]:.0f}}
# log-likelihood units below the optimum, and its `converged` flag is
# {{units.loc["seconds", "statsmodels converged"]}}. lme4 warns "Some predictor variables
# are on very different scales: consider rescaling", and on this model it fails too: it
# reports a singular fit and a failure to converge. In a model
# with several predictors whose spreads differ by more than a factor of 1000, `fit.health`
# and `mk.check_data` raise a *scaling* warning too. Rescaling costs nothing: the estimates
# are the same, in other units.
#
# **When to centre (or rescale):**
#
# * **interpretation**: centre where the intercept means something (the mean, or a
#   meaningful value such as the baseline day); the intercept and its SD then describe
#   subjects there;
# * **`||` models**: the zero correlation holds only where the predictor is 0, so choose
#   that point deliberately, or keep the correlation;
# * **polynomials and interactions**: x and x² (or x and x·z) are nearly collinear when x is
#   far from 0; centred, the linear term is the slope at the centre and the columns are
#   close to uncorrelated;
# * **convergence**: a predictor whose 0 lies far outside the data makes the random
#   intercept and slope strongly correlated, and one on a huge or tiny scale makes
#   variances of very different sizes; both make the optimisation harder. Centre, and
#   rescale to units in which slopes are of order 1 (weeks, thousands of euros, SDs).
#
# ## The ICC with a random slope
#
# With random slopes the variance due to subjects depends on Days, so the ICC is no longer
# the correlation between any two rows. mixedkit averages the subject variance over the
# observed rows (as `performance::icc`):

# %%
m_slope.icc()

# %% [markdown]
# The adjusted ICC, {{m_slope.icc().set_index("kind").loc["adjusted", "estimate"]:.2f}}, is
# larger than the random-intercept model's
# {{m_int.icc().set_index("kind").loc["adjusted", "estimate"]:.2f}}: the differences in
# slope, which that model left in the residual variance, now count as differences between
# subjects.
#
# ## Reporting the model
#
# `fit.report()` writes the methods-and-results paragraph for a fit: how it was estimated,
# the random part, each fixed effect with its 95% confidence interval and test, and the SDs
# of the variance components. For the model of this notebook:

# %%
m_slope.report()

# %% [markdown]
# Paste it into the methods and results of your report (`print(m_slope.report())` gives
# plain text), after checking it against the tables above. Its last line names what
# `fit.health` flags for this model; notebook 04 shows how to read those flags.
#
# ## Summary
#
# * `(x | g)`: intercept and slope vary by group, correlated; `(x || g)`: uncorrelated;
#   `(1 | g)`: intercept only.
# * `mk.plot_fitted` shows each group's line against the population line; parallel lines
#   that miss the data call for a random slope, and `fit.health` says so.
# * Leaving out a slope variance that exists makes the fixed-effect test of that predictor
#   too optimistic (here: SE {{se["(1 | Subject)"]:.2f}} instead of
#   {{se["(Days | Subject)"]:.2f}},
#   {{df["(1 | Subject)"]:.0f}} df instead of
#   {{df["(Days | Subject)"]:.0f}}).
# * Two questions, two tests: the average slope is a fixed effect (t or F test with
#   Satterthwaite or Kenward–Roger df: `fit.fixed_effects`, `fit.anova()`); whether subjects
#   differ in slope is a variance (REML likelihood-ratio test with the boundary correction:
#   `mk.compare_models`, or a parametric bootstrap).
# * Group estimates are partially pooled toward the population (`fit.ranef()`,
#   `mk.plot_shrinkage`).
# * Centring a predictor changes the meaning of the intercept, its SD and the
#   intercept-slope correlation but not the correlated model; it does change a `||` model.
#   Rescaling multiplies the slope and its SD by the scale factor.
#
# **Next:** 03 shows how models are compared properly (REML or ML, boundary-corrected tests).
