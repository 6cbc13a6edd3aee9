# ruff: noqa: B018
# Source of notebooks/08_crossed_designs.ipynb (percent format: `# %%` starts a code cell,
# `# %% [markdown]` a markdown cell). Edit here, then run
# `python notebooks/make_notebooks.py`; see notebooks/README.md.

# %% [markdown]
# # 08 · Crossed designs: subjects × items, the maximal model and singular fits
#
# **The story.** A psycholinguistics lab measures reaction times (RT, in ms) of 32 subjects
# to 24 items (words) in a 2×2 within design: two factors, `a` and `b` (say, whether the
# word is primed and whether it is frequent), each at two levels. Every subject sees every
# item once, and every item appears in all four conditions across subjects. Subjects
# differ, items differ, and both may differ in how much the conditions matter to them:
# random effects for two *crossed* factors, each with random slopes. We fit the model
# psycholinguists are told to fit, test the factors, see what a *singular* fit is and how
# lme4 users get out of one, and ask how many items the next study needs.
#
# **You will learn** to write the maximal model `rt ~ a*b + (a*b | subject) + (a*b | item)`
# and read its variance components for both factors and `fit.health`; what a singular fit
# means and the usual way out (`||` with numeric codes, then dropping the slope whose
# variance is 0, checked with `fit.health` and `mk.compare_models`); F tests with
# Satterthwaite and Kenward–Roger df, marginal means and contrasts; the ICC per factor,
# the conditional modes of both factors and their caterpillar plot; predictions for a new
# subject or item; power for more items with `mk.power_lmm(..., along="item")`; why
# statsmodels cannot fit this model; and prior weights (`weights=`).
#
# *Assumed background:* notebooks 02 (random slopes), 05 (crossed factors) and 06 (factors,
# `anova`, `marginal_means`); notebook 07 for power.

# %%
# %matplotlib inline
import numpy as np
import pandas as pd

import mixedkit as mk

pd.set_option("display.precision", 4)
pd.set_option("display.width", 120)
pd.set_option("display.max_colwidth", 90)

# %% [markdown]
# ## 1. The experiment (simulated)
#
# The data are simulated, so that we know the truth the estimates should recover. The
# design is the classic one for a 2×2 within design with items: four *lists*, a Latin
# square. Subject *i* sees item *j* in condition (*i* + *j*) mod 4, so each subject sees
# every item once and each condition equally often, and each item is seen in each
# condition by a quarter of the subjects.
#
# The model the data come from has the two factors coded −0.5 / +0.5 (`ac`, `bc`): the
# coefficient of `ac` is the main effect of `a` (the difference a2 − a1, averaged over
# `b`), that of `ac:bc` the interaction. Each subject and each item has its own
# intercept and its own effects of `ac`, `bc` and `ac:bc`, drawn from a normal
# distribution with the SDs and correlations below.

# %%
BETA = np.array([600.0, 30.0, 20.0, 25.0])     # Intercept, ac, bc, ac:bc (ms)
SD_SUBJECT = np.array([80.0, 40.0, 30.0, 50.0])  # SDs of the four effects between subjects
SD_ITEM = np.array([50.0, 35.0, 30.0, 40.0])     # ... and between items
CORR = np.array([[1.0, 0.3, 0.2, 0.0],           # correlations of the four effects
                 [0.3, 1.0, 0.1, 0.0],           # (the same for subjects and items)
                 [0.2, 0.1, 1.0, 0.0],
                 [0.0, 0.0, 0.0, 1.0]])
SIGMA = 60.0                                     # residual SD (ms)


def simulate(n_subjects=32, n_items=24, seed=39, trials=False):
    """RTs of a Latin-square 2x2 within design, subjects x items crossed. With
    trials=True each row is the mean of 1 to 3 trials (column n_trials)."""
    rng = np.random.default_rng(seed)
    subj = np.repeat(np.arange(n_subjects), n_items)
    item = np.tile(np.arange(n_items), n_subjects)
    condition = (subj + item) % 4                # the Latin square
    ac = np.where(condition < 2, -0.5, 0.5)
    bc = np.where(condition % 2 == 0, -0.5, 0.5)
    x = np.column_stack([np.ones_like(ac), ac, bc, ac * bc])
    u_subj = rng.multivariate_normal(np.zeros(4), np.outer(SD_SUBJECT, SD_SUBJECT) * CORR,
                                     size=n_subjects)
    u_item = rng.multivariate_normal(np.zeros(4), np.outer(SD_ITEM, SD_ITEM) * CORR,
                                     size=n_items)
    n_trials = (np.random.default_rng(seed + 1).integers(1, 4, len(ac)) if trials
                else np.ones(len(ac), dtype=int))
    noise = rng.normal(0.0, SIGMA, len(ac)) / np.sqrt(n_trials)
    rt = x @ BETA + (x * u_subj[subj]).sum(axis=1) + (x * u_item[item]).sum(axis=1) + noise
    data = pd.DataFrame({
        "subject": [f"s{i + 1:02d}" for i in subj],
        "item": [f"i{j + 1:02d}" for j in item],
        "a": np.where(ac < 0, "a1", "a2"),
        "b": np.where(bc < 0, "b1", "b2"),
        "ac": ac, "bc": bc, "rt": rt.round(1)})
    if trials:
        data["n_trials"] = n_trials
    return data


rts = simulate()
print(f"{len(rts)} rows: {rts['subject'].nunique()} subjects × {rts['item'].nunique()} items")
rts.head()

# %% [markdown]
# `a` and `b` are text (factors, as they would be in a real data file); `ac` and `bc` are
# the same factors as numbers, −0.5 for the first level and +0.5 for the second. Both
# kinds of column will be needed. The design, counted:

# %%
cond = rts["a"] + "/" + rts["b"]
per_subject = pd.crosstab(rts["subject"], cond)
per_item = pd.crosstab(rts["item"], cond)
print("items per subject and condition:", sorted(set(per_subject.to_numpy().ravel())))
print("subjects per item and condition:", sorted(set(per_item.to_numpy().ravel())))
per_item.head(4)

# %% [markdown]
# Every subject meets every item, so subject and item are **crossed** (notebook 05), and
# both are seen in every condition, so `a`, `b` and their interaction vary *within*
# subjects and *within* items.
#
# ## 2. The maximal model
#
# Barr, Levy, Scheepers and Tily (2013), "Random effects structure for confirmatory
# hypothesis testing: keep it maximal": for a confirmatory test, give every grouping
# factor a random slope for every effect that varies within it. Here that is all of
# `a*b` for subjects *and* for items:
#
# $$\text{rt} = X\beta + Z_{\text{subject}}\,u + Z_{\text{item}}\,w + \varepsilon,\qquad
# u_s \sim N(0, \Sigma_{\text{subject}}),\; w_i \sim N(0, \Sigma_{\text{item}}),$$
#
# with a 4×4 covariance matrix for each factor (intercept, `a`, `b`, `a:b`). Leaving the
# item slopes out would make the test of `a` too optimistic whenever items differ in
# their `a` effect, for the same reason that notebook 02 found for a missing subject
# slope: the model would take every row as independent information about an effect that
# really varies between only 24 items.

# %%
fit = mk.fit_lmm("rt ~ a*b + (a*b | subject) + (a*b | item)", rts)
fit

# %% [markdown]
# The card's fixed effects use treatment coding (the formula has the text factors):
# `a[T.a2]` is a2 − a1 at b1, and `a[T.a2]:b[T.b2]` is how much that difference changes at
# b2. Section 3 tests the factors as a whole. The intercept's *p*-value, `<1e-16`, is in
# e-notation: below $10^{-16}$ (it tests whether the mean RT at a1, b1 is 0, which nobody
# asks).
#
# ### Variance components of two factors
#
# The random part has many parameters: each 4×4 covariance matrix has 4 variances and 6
# correlations.

# %%
vc = fit.variance_components
n_theta = len(fit.theta)
print(f"{n_theta} covariance parameters for subject and item, plus the residual variance")
sds = vc[vc["corr"].isna()].pivot(index="term", columns="group", values="std_dev")
sds.loc[["Intercept", "a[T.a2]", "b[T.b2]", "a[T.a2]:b[T.b2]"], ["subject", "item"]]

# %% [markdown]
# One column per factor. Subjects differ more than items in their overall speed (the
# `Intercept` row: SD {{sds.loc["Intercept", "subject"]:.0f}} ms against
# {{sds.loc["Intercept", "item"]:.0f}} ms); both differ in their effect of `a` and of `b` and in the interaction:
# the SD of the subjects' `a[T.a2]` is how much subjects differ in the a2 − a1 difference
# at b1. Each of these slopes is a separate source of uncertainty for the matching fixed
# effect. The correlations are in the rows `corr(...)` of `fit.variance_components`:

# %%
vc[vc["corr"].notna()][["group", "term", "corr"]]

# %% [markdown]
# With 32 subjects and 24 items, correlations are estimated very roughly: their sampling
# error is large, and none of them is of much interest here. The residual SD:

# %%
print(f"residual SD {np.sqrt(fit.scale):.1f} ms (simulated: {SIGMA:.0f} ms)")

# %% [markdown]
# ### Health
#
# That is a lot to estimate. Before reading any numbers, ask `fit.health` whether the
# optimiser converged and whether the fit is singular:

# %%
print(fit.health)

# %%
notes = [f.check for f in fit.health if f.severity == "note"]
print(f"verdict: {fit.health.verdict}; singular: {fit.singular}; "
      f"optimisation attempts: {len(fit.attempts)}; notes: {notes}")

# %% [markdown]
# The optimiser converged and the fit is not singular: no variance is estimated as 0 and
# no correlation as ±1, so the maximal model can be estimated from these data. (That is
# not evidence that each of its 20 parameters is needed, only that the data do not push
# any of them onto the boundary.) The assumption
# checks (notebook 04) run for every random term of both factors. The
# {{len(notes):words}} note ([i]) says that the influential-groups check (refit without
# each group in turn) is not run for crossed factors.
#
# ## 3. Testing a, b and their interaction
#
# `fit.anova()` gives one F test per term of the fixed part, with Satterthwaite's
# denominator df (lmerTest's default):

# %%
fit.anova()

# %% [markdown]
# The denominator df are far below the number of rows, of the order of the numbers of
# subjects and items: each effect varies between subjects *and* between items, and its
# test has about as much information as those two samples of 32 and 24 give.
# Kenward–Roger (pbkrtest) also adjusts the covariance of the estimates; it is the choice
# for small samples. `df_method="kenward-roger"` makes it the default for every table of
# the fit:

# %%
fit_kr = mk.fit_lmm("rt ~ a*b + (a*b | subject) + (a*b | item)", rts,
                    df_method="kenward-roger")
both = pd.concat({"Satterthwaite": fit.anova(), "Kenward-Roger": fit_kr.anova()},
                 names=["method", None]).reset_index(level=0)
both[["method", "term", "num_df", "den_df", "statistic", "p_value"]].sort_values(
    ["term", "method"])

# %% [markdown]
# The two methods agree closely here; with unbalanced data or few subjects they can
# differ more (notebook 06).
#
# These F tests, and the t tests of `fit.fixed_effects` and `fit.contrasts()`, are how
# fixed effects are tested, one coefficient or several at once. A χ² likelihood-ratio
# test of fixed effects (on ML fits) is liberal with few subjects or items and is for
# large samples only. Variance components are tested differently: by a likelihood-ratio
# test on REML fits with the boundary correction (`mk.compare_models`, section 6) or a
# parametric bootstrap.
#
# ### Marginal means and contrasts
#
# The F test of `a` compares the two levels of `a`, averaged over `b`. Its estimated
# marginal means (emmeans' `emmeans(fit, ~ a)`) and their difference:

# %%
fit.marginal_means("a")

# %%
diff_a = fit.contrasts("a")
diff_a

# %%
f_a = fit.anova().set_index("term").loc["a", "statistic"]
print(f"t² of the contrast = {diff_a.loc[0, 'statistic'] ** 2:.3f}; F of a = {f_a:.3f}")

# %% [markdown]
# For a two-level factor the F test and the contrast are the same test (F = t²). With the
# ±0.5 coding used in the simulation, a2 − a1 is the coefficient of `ac`, simulated as
# 30 ms (`BETA[1]`); the contrast estimates it with the sign of "first minus second".
#
# ## 4. Where the variance is: ICC and conditional modes

# %%
fit.icc()

# %% [markdown]
# One row per factor, as in notebook 05: `subject` is the share of the (non-fixed)
# variance due to subjects, `item` the share due to items. With random slopes the
# random-effect variance is averaged over the rows of the design (Johnson, 2014), so the
# slope variances count too. Subjects contribute more than items, as the SDs suggested.
# (R's `performance::icc(fit, by_group = TRUE)` warns for random-slope models and counts
# only the intercept variances per factor, so its per-factor values are smaller; the first
# two rows agree with its overall ICCs.)
#
# `fit.ranef()` has the conditional modes of every factor in one long table, one row per
# factor, level and term:

# %%
re = fit.ranef()
re.groupby(["group", "term"], sort=False).size().rename("levels")

# %%
slopes = re[re["term"] != "Intercept"]
covers_0 = (slopes["conf_low"] < 0) & (slopes["conf_high"] > 0)
print(f"{covers_0.mean():.0%} of the {len(slopes)} slope intervals contain 0")

# %%
re[re["group"] == "item"].head(4)

# %% [markdown]
# The caterpillar plot has one panel per factor and term, 8 here:

# %%
fig = mk.plot_ranef(fit)

# %% [markdown]
# Most intervals of the slopes contain zero, as counted above: with 6 rows per subject and
# condition (8 per item and condition), a single subject's or item's effect is estimated
# poorly, even where the variance of those effects is clearly above zero. The conditional
# modes are shrunk toward 0 (partial pooling, notebook 02).
#
# ## 5. Predictions for a new subject or a new item
#
# A prediction for a subject and an item in the data uses both conditional modes. A new
# subject or item has no conditional mode: its random effects are set to their mean, 0,
# and `allow_new_groups=True` says that this is intended (a `DataWarning` names the new
# levels).

# %%
new = pd.DataFrame({"subject": ["s01", "s99", "s01", "s99"],
                    "item": ["i01", "i01", "i99", "i99"],
                    "a": "a2", "b": "b1"})
new["predicted"] = fit.predict(new, allow_new_groups=True)
new["population"] = fit.predict(new, include_random=False)
new

# %% [markdown]
# The last row, new subject and new item, is the population prediction. The second keeps
# item i01's effects, the third subject s01's.
#
# ## 6. When the maximal model is singular: a pilot with 8 items
#
# Suppose the lab had first run a pilot: the same 32 subjects, but only the first 8 items
# (we take those rows of the data). The same maximal model is now asked to estimate a 4×4
# covariance matrix of the items, 10 parameters, from 8 items. From here on the factors
# are written with their numeric codes, `ac*bc`; with an unstructured covariance this is
# the same model as `a*b` (a reparametrisation: same likelihood, different table).

# %%
pilot = rts[rts["item"].isin([f"i{j:02d}" for j in range(1, 9)])]
pilot_max = mk.fit_lmm("rt ~ ac*bc + (ac*bc | subject) + (ac*bc | item)", pilot)
pilot_fac = mk.fit_lmm("rt ~ a*b + (a*b | subject) + (a*b | item)", pilot)
print(f"logLik with the codes: {pilot_max.loglik:.3f}; "
      f"with the factors: {pilot_fac.loglik:.3f}")
print(pilot_max.health["singular"].line())

# %% [markdown]
# A **singular** fit: the optimum is on the boundary of the parameter space, with a
# variance estimated as exactly 0, a correlation as exactly ±1, or more generally a
# covariance matrix that is not of full rank (one random effect an exact linear combination
# of the others, as the warning's "with the terms before it" says). (mixedkit, like lme4,
# calls a fit singular when a diagonal element of the relative Cholesky factor, theta,
# is below 1e-4; lme4 warns `boundary (singular) fit`.) This does not mean the software
# failed; it means the data cannot tell apart all the sources of variation the model
# names, and the estimates of the random part, and tests that depend on them, should not
# be trusted as they stand. With few items (or few subjects) it is the rule for a maximal
# model, not the exception.
#
# The health message says what lme4 users do (Bates et al. 2015, "Parsimonious mixed
# models"; Matuschek et al. 2017): first drop the correlations, then drop the random
# term whose variance is still 0, and check each step.

# %%
print(pilot_max.health["singular"].fix)

# %% [markdown]
# ### Step 1: no correlations, `||`, with numeric codes
#
# `(x || g)` is lme4's shorthand for independent random effects: `(1 | g) + (0 + x | g)`.
# This works as intended only with **numeric** columns. With a factor, `(0 + a | g)` is
# one random effect per *level* of `a`, and those form a correlated block: lme4 and
# mixedkit both keep that block, so `(a || subject)` removes no correlation at all:

# %%
fit_factor = mk.fit_lmm("rt ~ a*b + (a || subject) + (1 | item)", pilot)
fit_corr = mk.fit_lmm("rt ~ a*b + (a | subject) + (1 | item)", pilot)   # for comparison
print("with the factor a:")
print(fit_factor.variance_components[["group", "term", "std_dev", "corr"]].to_string(index=False))
print("\nwith the numeric code ac:")
print(mk.fit_lmm("rt ~ a*b + (ac || subject) + (1 | item)", pilot)
      .variance_components[["group", "term", "std_dev", "corr"]].to_string(index=False))

# %% [markdown]
# With the factor, subjects have an intercept *and* a correlated pair `a[a1]`, `a[a2]`:
# more parameters than `(a | subject)`, not fewer, and no better a fit: its log-likelihood,
# {{fit_factor.loglik:.2f}}, is that of `(a | subject)`, {{fit_corr.loglik:.2f}}. Three
# effects (intercept, a1, a2) for two cells are one too many, so these SDs are not even
# unique: lme4 reports other values with the same likelihood. With the code `ac`, the slope
# is one column with its own variance, independent of the intercept. That is why the codes
# are needed, and why ±0.5 is a good choice: the intercept is the grand mean and the slope
# the a2 − a1 difference averaged over the levels of the other factor (the main effect).

# %%
pilot_zcp = mk.fit_lmm("rt ~ ac*bc + (ac*bc || subject) + (ac*bc || item)", pilot)
print(pilot_zcp.health["singular"].line())
n_zero = int((pilot_zcp.theta < 1e-4).sum())        # variances estimated as 0
pilot_zcp.variance_components

# %% [markdown]
# Still singular: without the correlations {{n_zero:words}} variance is estimated as
# exactly 0, and the health message names it.
#
# ### Step 2: drop the term whose variance is 0

# %%
vc_zcp = pilot_zcp.variance_components
smallest = vc_zcp.loc[vc_zcp["variance"].idxmin()]
print(f"smallest variance: {smallest['variance']:.3g} ({smallest['term']} | {smallest['group']})")
pilot_red = mk.fit_lmm("rt ~ ac*bc + (ac + bc || subject) + (ac*bc || item)", pilot)
print(pilot_red.health["singular"].line())
print(f"health verdict: {pilot_red.health.verdict}")

# %% [markdown]
# `(ac + bc || subject)` keeps the subject intercept and the slopes of `ac` and `bc`, and
# drops the subject slope of `ac:bc`. The fit is no longer singular.
#
# ### Step 3: compare
#
# The three models have the same fixed effects, so `mk.compare_models` compares their REML
# fits (as lmerTest's `ranova` does), each against the nearest smaller model nested in it:

# %%
comparison = mk.compare_models(pilot_max, pilot_zcp, pilot_red)
correlations = comparison.table.iloc[-1]           # the maximal model against ||
comparison

# %% [markdown]
# * Rows are ordered by the number of parameters. Dropping the zero variance costs
#   nothing: the first two rows have the same log-likelihood, since a variance at 0
#   contributes nothing. The p-value of this test is the boundary-corrected one (a
#   variance cannot be negative; see notebook 03).
# * The 12 correlations of the maximal model raise the log-likelihood; `chisq` is twice
#   the gain, {{correlations["chisq"]:.1f}}, tested on 12 df in the last row:
#   p = {{correlations["p_value"]:.2f}}, so the pilot's data give no clear evidence
#   for them, and the maximal model's estimates are on a boundary anyway. (This p-value is
#   only rough: its χ² reference assumes large samples, and the smaller model already has
#   a variance at 0.)
#
# The reduced model is the one to report for the pilot. Does the choice matter for the
# test of `a`?

# %%
pilot_models = {"maximal (singular)": pilot_max, "|| (singular)": pilot_zcp,
                "reduced": pilot_red}
pd.DataFrame({name: m.fixed_effects.set_index("term").loc["ac"]
              for name, m in pilot_models.items()}).T[
    ["estimate", "std_error", "df", "p_value"]]

# %% [markdown]
# The estimate of `a` is the same in all three (the design is balanced); its standard
# error and df change a little with the random part. A random slope of `ac` stays in
# every model: that is the one the test of `a` needs. What was removed is a variance the
# data estimated as 0 and correlations they could not estimate.
#
# With all 24 items, section 2 found the maximal model not singular: more items, more
# information about the item covariance. A singular fit is a statement about the data
# at hand, not about the design in general.
#
# ## 7. How many items? Power by simulation
#
# Could the lab have worked out from the pilot how many items the study needs? `power_lmm`
# (notebook 07) simulates new data sets from a fitted model, refits it and tests a term.
# `along="item"` adds items (copies of the pilot's items' designs, under new labels), with
# the 32 subjects kept. The smallest effect of `a` worth detecting is set to 30 ms, the
# value used in the simulation:

# %%
power = mk.power_lmm(pilot_red, "ac", effect=30, along="item", n_groups=[8, 16, 32],
                     n_sims=20, seed=1, n_jobs=1, progress=False)
power

# %% [markdown]
# 20 simulated data sets per size keep this notebook quick, and the intervals
# (`conf_low`, `conf_high`) show how rough the answer is; a real plan uses 1000 or more
# (notebook 07). Even so, the trend is clear: power grows with the number of items, and
# with 8 items {{power["n_singular"].iloc[0]}} of the {{power["n_sims"].iloc[0]}} refits
# are singular, although the reduced model fitted to the pilot itself is not: with 8 items
# even this random part is at the edge of what the data can estimate.
#
# More items cannot make up for everything: the test of `a` also depends on how much
# *subjects* differ in their `a` effect, which only more subjects average out. For a
# design with several grouping factors, `along=` chooses the one to extend.
#
# ## 8. Why statsmodels cannot fit this model
#
# statsmodels' `MixedLM` has one grouping factor (`groups`) whose random effects can be
# correlated; every other factor enters as *variance components*, independent random
# effects of one column each. For crossed factors the whole data set is one group
# (notebook 05), so only independent variance components remain. A correlated block per
# subject and another per item has no statsmodels spelling. mixedkit fits it with its own
# engine, with lme4 as the reference, and says so:

# %%
print(fit.statsmodels_call)

# %%
try:
    _ = fit.statsmodels_result
except mk.StatsmodelsLimitError as err:
    print(f"{type(err).__name__}: {err}")

# %% [markdown]
# `mk.StatsmodelsLimitError` is a `FormulaError`; `engine="statsmodels"` raises it too.
# The zero-correlation model is all independent variance components, which statsmodels
# can express:

# %%
print(pilot_zcp.statsmodels_call)

# %% [markdown]
# ## 9. Prior weights
#
# Sometimes a row is itself a mean: here, suppose each subject saw each item in 1 to 3
# repetitions and the file stores the mean RT and the count `n_trials`. A mean of *n*
# trials has residual variance σ²/*n*. lme4's prior weights, `weights=`, say exactly that:
# row *i* has residual variance σ²/*w*ᵢ. `weights` is a column name (or an array, one value
# per row) of finite, positive numbers. statsmodels has no prior weights, so such a fit
# is mixedkit's engine only:

# %%
rts_means = simulate(trials=True)
formula = "rt ~ ac*bc + (ac*bc || subject) + (ac*bc || item)"
weighted = mk.fit_lmm(formula, rts_means, weights="n_trials")
unweighted = mk.fit_lmm(formula, rts_means)
print(f"residual SD of one trial, weighted fit: {np.sqrt(weighted.scale):.1f} ms "
      f"(simulated: {SIGMA:.0f} ms)")
print(f"residual SD, unweighted fit:            {np.sqrt(unweighted.scale):.1f} ms "
      "(an average over rows of 1 to 3 trials)")
print(weighted.statsmodels_call)

# %% [markdown]
# The weighted fit estimates the SD of a single trial and gives rows that average more
# trials more weight; the unweighted fit treats every row alike.
#
# ## Summary
#
# | step | lme4 / lmerTest | mixedkit |
# |---|---|---|
# | maximal model | `lmer(rt ~ a*b + (a*b \| subject) + (a*b \| item))` | `mk.fit_lmm("rt ~ a*b + (a*b \| subject) + (a*b \| item)", data)` |
# | is it singular? | `isSingular(fit)`, the warning | `fit.singular`, `fit.health` (with what to do) |
# | no correlations | `(ac*bc \|\| subject)` with numeric codes | the same formula; `(a \|\| g)` with a factor keeps a correlated block, as in lme4 |
# | drop a zero variance | `(ac + bc \|\| subject)` | the same |
# | compare random parts | `anova(m1, m2, refit = FALSE)`, `ranova` | `mk.compare_models(m1, m2, m3)` (REML, boundary-corrected) |
# | F tests | `anova(fit)`, `anova(fit, ddf = "Kenward-Roger")` | `fit.anova()`, `df_method="kenward-roger"` |
# | means, contrasts | `emmeans(fit, ~ a)`, `pairs(...)` | `fit.marginal_means("a")`, `fit.contrasts("a")` |
# | ICC per factor | `performance::icc(fit, by_group = TRUE)` (intercepts only with random slopes) | `fit.icc()` (slope variances included) |
# | conditional modes | `ranef(fit)`, `dotplot(ranef(fit))` | `fit.ranef()`, `mk.plot_ranef(fit)` |
# | new subject or item | `predict(fit, newdata, allow.new.levels = TRUE)` | `fit.predict(newdata, allow_new_groups=True)` |
# | power for more items | simr: `powerCurve(extend(fit, along = "item", n = 32), along = "item")` | `mk.power_lmm(fit, "ac", along="item", n_groups=[...])` |
# | prior weights | `lmer(..., weights = n_trials)` | `weights="n_trials"` |
#
# * Keep it maximal when the data support it, and let `fit.health` tell you when they do
#   not.
# * A singular fit is a property of the data at hand: more items or subjects, or a simpler
#   random part.
# * Simplify in steps, keeping the random slope of the effect you test: correlations
#   first (`||` with numeric codes), then the variance estimated as 0; compare with
#   `mk.compare_models` on REML fits.
# * `fit.statsmodels_call` says whether statsmodels can express the model; mixedkit fits
#   it either way.
