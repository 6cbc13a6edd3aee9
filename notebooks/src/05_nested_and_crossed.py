# ruff: noqa: B018
# Source of notebooks/05_nested_and_crossed.ipynb (percent format: `# %%` starts a code cell,
# `# %% [markdown]` a markdown cell). Edit here, then run
# `python notebooks/make_notebooks.py`; see notebooks/README.md.

# %% [markdown]
# # 05 · Nested and crossed random effects
#
# **The story.** Two classic designs with two grouping factors: casks *nested* in batches
# (Pastes) and samples *crossed* with plates (Penicillin). We write each in lme4 syntax,
# look at the statsmodels call it becomes, split the ICC by factor, and see what happens
# when a structure cannot be expressed in statsmodels.
#
# **You will learn** `(1 | a/b)` and `(1 | a) + (1 | b)`, why unique group labels matter,
# how statsmodels' single `groups` argument plus variance components covers both designs,
# how to read the ICC of each factor (and the adjusted and unadjusted ICC), and what mixedkit
# tells you about a model that statsmodels cannot express.

# %%
# %matplotlib inline
import warnings

import pandas as pd

import mixedkit as mk

pd.set_option("display.precision", 4)
pd.set_option("display.width", 120)
pd.set_option("display.max_colwidth", 90)

# %% [markdown]
# ## Nested: Pastes
#
# Pastes (Davies and Goldsmith, 1972; in lme4): the strength of a chemical paste. 10
# delivery batches; 3 casks sampled from each batch; 2 assays per cask: 60 rows. The cask
# labels a, b, c are reused in every batch: cask "a" of batch A and cask "a" of batch B are
# different casks. **Cask is nested in batch.**

# %%
pastes = mk.load_dataset("pastes")
pastes.head(6)

# %%
pd.crosstab(pastes['batch'], pastes['cask'])

# %% [markdown]
# $$\text{strength}_{ijk} = \mu + b_i + c_{ij} + \varepsilon_{ijk},\qquad
# b_i \sim N(0, \sigma^2_{\text{batch}}),\; c_{ij} \sim N(0, \sigma^2_{\text{cask}}),\;
# \varepsilon_{ijk} \sim N(0, \sigma^2)$$
#
# In lme4 syntax: `(1 | batch/cask)`, short for `(1 | batch) + (1 | batch:cask)`. The
# second term's groups are the batch × cask combinations: the 30 distinct casks. lme4
# names that factor `cask:batch`, and so do mixedkit's tables.

# %%
fit_p = mk.fit_lmm("strength ~ 1 + (1 | batch/cask)", pastes)
fit_p

# %%
print(fit_p.statsmodels_call)

# %% [markdown]
# The card prints the intercept's *p*-value in e-notation: `e-14` means "times
# $10^{-14}$", so its first digit is in the fourteenth decimal place. It tests whether the
# mean strength is 0, which nobody asks of a paste; in a paper such a value is written
# "*p* < .001".
#
# statsmodels' `MixedLM` has a single `groups` argument: the data are split into
# independent blocks, here the batches. `re_formula="1"` gives each batch a random
# intercept. `vc_formula={"cask:batch": "0 + C(cask)"}` adds a *variance component*: within
# each batch, one random effect per cask level, all with the same variance. Because variance
# components live inside a block, cask "a" of batch A and cask "a" of batch B automatically
# get different effects: the nesting is expressed by the blocks.
#
# ### ICC per factor

# %%
icc_p = fit_p.icc()
icc_p_est = icc_p.set_index(["group", "kind"])["estimate"]
icc_p

# %% [markdown]
# * First two rows, all factors together
#   ({{icc_p_est["batch + cask:batch", "adjusted"]:.2f}}): the correlation between two assays
#   of the same cask, $(\sigma^2_{\text{batch}} + \sigma^2_{\text{cask}}) / \text{total}$.
#   The *adjusted* and *unadjusted* ICC agree here because the fixed part is only an
#   intercept; they differ when the model has predictors (dietox, below). `conf_low` and
#   `conf_high` are NaN (empty) because an interval for an ICC needs a parametric bootstrap,
#   which `fit.icc(n_boot=1000)` runs (it refits the model 1000 times, so it is not run here).
# * `batch` ({{icc_p_est["batch", "adjusted"]:.2f}}): $\sigma^2_{\text{batch}} / \text{total}$,
#   the correlation between assays of *different* casks from the same batch.
# * `cask:batch` ({{icc_p_est["cask:batch", "adjusted"]:.2f}}): the share of the variance due
#   to casks within batches.
#
# Most of the variation is between casks, less between batches, and little between repeat
# assays. To estimate the mean strength more precisely, sample more casks (from more
# batches), not more assays per cask: a repeat assay averages away only the smallest
# variance. By hand:

# %%
var = fit_p.variance_components.set_index("group")["variance"]
total = var.sum()
print(f"same cask:                       {(var['batch'] + var['cask:batch']) / total:.3f}")
print(f"same batch, different cask:      {var['batch'] / total:.3f}")
print(f"share of casks within batches:   {var['cask:batch'] / total:.3f}")

# %% [markdown]
# ### A common mistake: implicit nesting
#
# Writing `(1 | batch) + (1 | cask)` treats `cask` as a factor with only **3** levels,
# *crossed* with batch: every "cask a" of every batch is taken to be the same cask. mixedkit
# fits what was asked and warns about the 3 levels (lme4 fits it too, without a warning).
# We record the warning to print its message, and print the `fit.health` finding it
# points to:

# %%
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    wrong = mk.fit_lmm("strength ~ 1 + (1 | batch) + (1 | cask)", pastes)
for warning in caught:
    print(f"{warning.category.__name__}: {warning.message}")
for finding in wrong.health.problems:
    print(finding.line())

# %% [markdown]
# The warning states the symptom: a variance estimated from 3 values is very uncertain, and
# `fit.health` suggests treating such a factor as fixed or reading its variance with care.
# That advice is for a factor that really has 3 levels. Here the cause is the labels: the
# data have 30 casks, and the model sees 3. Its variance components describe a design that
# does not exist:

# %%
wrong.variance_components

# %% [markdown]
# The variation between the casks of a batch has nowhere to go but the residual, whose
# variance is {{wrong.variance_components.set_index("group").loc["Residual", "variance"]:.2f}}
# here against {{var["Residual"]:.2f}} in the nested model. (The `covariance` and `corr`
# columns are NaN in every row: each factor has only an intercept, so there is no
# correlation to report.)
#
# The fix is `(1 | batch/cask)`, or labels that are unique across batches. Pastes has such a
# column, `sample` (= batch:cask), and `(1 | batch) + (1 | sample)` is the same model as
# `(1 | batch/cask)`:

# %%
same = mk.fit_lmm("strength ~ 1 + (1 | batch) + (1 | sample)", pastes)
print(f"logLik (1 | batch/cask):          {fit_p.loglik:.4f}")
print(f"logLik (1 | batch) + (1 | sample): {same.loglik:.4f}")
print(f"logLik (1 | batch) + (1 | cask):   {wrong.loglik:.4f}   <- a different, wrong model")

# %% [markdown]
# ## Crossed: Penicillin
#
# Penicillin (Davies and Goldsmith, 1972; in lme4): the potency of 6 penicillin samples,
# measured as the diameter (mm) of the zone where bacterial growth is inhibited. Each of 24
# agar plates receives all 6 samples. Every sample meets every plate: the factors are
# **crossed**, neither is inside the other.

# %%
pen = mk.load_dataset("penicillin")
pd.crosstab(pen["plate"], pen["sample"]).head()

# %% [markdown]
# $$\text{diameter}_{ij} = \mu + p_i + s_j + \varepsilon_{ij},\qquad
# p_i \sim N(0, \sigma^2_{\text{plate}}),\; s_j \sim N(0, \sigma^2_{\text{sample}})$$
#
# In lme4 syntax: `(1 | plate) + (1 | sample)`.

# %%
fit_c = mk.fit_lmm("diameter ~ 1 + (1 | plate) + (1 | sample)", pen)
fit_c

# %%
print(fit_c.statsmodels_call)

# %% [markdown]
# No factor splits these data into independent blocks (every plate shares samples with
# every other plate), so statsmodels must treat the whole data set as **one** group
# (`groups=np.ones(len(data))`), with no block-level random effect (`re_formula="0"`) and
# each factor as a variance component. That is exact, but statsmodels then works with dense
# matrices of one row per observation (144 here) for the whole data set, which becomes
# slow, and eventually too large for memory, in big crossed designs. mixedkit's own engine,
# which does the fitting (the card's first line), works from cross-products of the random
# effects instead and never forms such matrices; it estimates memory and time before
# fitting, warns when a fit will be slow, and refuses (`mk.DesignTooLargeError`) a design
# too large for the machine.

# %%
icc_c = fit_c.icc()
icc_c_est = icc_c.set_index(["group", "kind"])["estimate"]
icc_c

# %% [markdown]
# * `sample` ({{icc_c_est["sample", "adjusted"]:.2f}}): most of the variance is between the
#   penicillin samples, as it should be in a potency assay.
# * `plate` ({{icc_c_est["plate", "adjusted"]:.2f}}): plate-to-plate variation is a smaller
#   nuisance.
# * Both together ({{icc_c_est["plate + sample", "adjusted"]:.2f}}): the correlation between
#   two measurements on the same plate *with* the same sample, if that could be repeated.
#
# Note the intercept's Satterthwaite df in the card,
# {{fit_c.fixed_effects.set_index("term").loc["Intercept", "df"]:.1f}}, from 144 rows:
# the overall mean diameter is essentially an average over 6 samples, so its uncertainty is
# governed by the sample variance, and more plates would hardly help. (If the interest is in
# these 6 particular samples rather than in a population of samples, `sample` belongs in the
# fixed part instead, and differences between samples are then tested with the *F* test of
# `fit.anova()` and compared with `fit.contrasts()`, as in notebook 06.)
#
# The caterpillar plot works for crossed factors too, one panel per factor:

# %%
fig = mk.plot_ranef(fit_c)

# %% [markdown]
# ## When statsmodels cannot express a structure
#
# statsmodels' `MixedLM` allows correlated random effects (a full covariance matrix) only
# for the single `groups` factor; every other factor enters as independent variance
# components. Some lme4 structures therefore have no statsmodels equivalent. mixedkit fits
# them anyway, with its own engine and lme4 as the reference, and says plainly that
# statsmodels could not have fitted them.
#
# Example: in dietox the pigs are nested in 21 litters. Growth lines with a correlated
# intercept and slope per pig, plus a litter intercept, are
# `Weight ~ Time + (Time | Pig) + (1 | Litter)`. In statsmodels Litter would have to be the
# block (the outer factor), so the pig terms would have to be variance components, which
# cannot be correlated. mixedkit fits the model as lme4 does:

# %%
dietox = mk.load_dataset("dietox")
fit_lme4 = mk.fit_lmm("Weight ~ Time + (Time | Pig) + (1 | Litter)", dietox)
fit_lme4.variance_components

# %% [markdown]
# Where the statsmodels call would be, `fit.statsmodels_call` says why there is none:

# %%
print(fit_lme4.statsmodels_call)

# %% [markdown]
# Everything computed from the fit (tables, tests, ICC, plots) works as usual. Only the
# statsmodels results object does not exist: `fit.statsmodels_result`, and
# `engine="statsmodels"` in `fit_lmm`, raise `mk.StatsmodelsLimitError` (a `FormulaError`)
# with the same reason:

# %%
try:
    _ = fit_lme4.statsmodels_result
except mk.StatsmodelsLimitError as err:
    print(f"{type(err).__name__}: {err}")

# %% [markdown]
# If you need the model in statsmodels, the uncorrelated version `(Time || Pig)` is
# expressible (keeping in mind from notebook 02 that `||` depends on where Time = 0 is):

# %%
fit_d = mk.fit_lmm("Weight ~ Time + (Time || Pig) + (1 | Litter)", dietox)
print(fit_d.statsmodels_call)
fit_d.variance_components

# %%
corr = fit_lme4.variance_components.dropna(subset=["corr"])["corr"].item()
print(f"intercept-slope correlation of the pigs: {corr:.3f}")

# %% [markdown]
# The pig intercept-slope correlation is small ({{corr:.2f}}), so the two models give nearly
# the same variances, and nearly the same ICC per factor:

# %%
icc_lme4 = fit_lme4.icc()
icc_lme4_est = icc_lme4.set_index(["group", "kind"])["estimate"]
both = pd.concat({"(Time | Pig)": icc_lme4, "(Time || Pig)": fit_d.icc()},
                 names=["model", None]).droplevel(1)
both.query("group in ['Pig', 'Litter']").sort_values("group", kind="stable")

# %% [markdown]
# Of the variance around the growth line, pigs account for
# {{icc_lme4_est["Pig", "adjusted"]:.0%}} and litters for
# {{icc_lme4_est["Litter", "adjusted"]:.1%}}. (With a random slope, the pig share includes
# the slope variance, averaged over the weeks. R's `performance::icc(fit, by_group = TRUE)`
# counts only intercept variances in random-slope models, with a warning, and so gives a
# much smaller pig share; its overall ICCs agree with `fit.icc()`.) Is the litter variance
# zero? That is a test
# of a variance component (*t* and *F* tests are for fixed effects): compare the REML fits
# with and without `(1 | Litter)` by the likelihood-ratio test with the boundary correction,
# as in notebook 03.

# %%
fit_no_litter = mk.fit_lmm("Weight ~ Time + (Time | Pig)", dietox)
litter_test = mk.compare_models(fit_no_litter, fit_lme4)
litter_test

# %% [markdown]
# With 21 litters the data cannot tell the litter variance from 0 (boundary-corrected
# p = {{litter_test.table["p_value"].iloc[1]:.2f}}; the naive χ² p-value,
# {{litter_test.table["p_value_naive"].iloc[1]:.2f}}, is twice as large). That is no proof
# that it is 0, and litters are part of the design, so the model keeps them.
#
# ### Adjusted and unadjusted ICC
#
# The full ICC table of this model has two rows for all factors together, and they are far
# apart:

# %%
icc_lme4

# %% [markdown]
# Adjusted {{icc_lme4_est["Pig + Litter", "adjusted"]:.3f}}, unadjusted
# {{icc_lme4_est["Pig + Litter", "unadjusted"]:.3f}}. Both have the same numerator, the
# variance of the random effects (with a random slope it changes with Time, and `icc`
# averages it over the observed rows). They differ in the denominator, as in R's
# `performance::icc`: the adjusted ICC divides by the random plus the residual variance, the
# unadjusted one also adds the variance of the fixed part, $X\hat\beta$ over the rows:
#
# $$\text{ICC}_{\text{adj}} = \frac{\sigma^2_{\text{random}}}{\sigma^2_{\text{random}} +
# \sigma^2},\qquad
# \text{ICC}_{\text{unadj}} = \frac{\sigma^2_{\text{random}}}{\sigma^2_{\text{fixed}} +
# \sigma^2_{\text{random}} + \sigma^2}$$
#
# By hand:

# %%
vc = fit_lme4.variance_components.set_index(["group", "term"])
time = dietox["Time"]
v_pig = (vc.loc[("Pig", "Intercept"), "variance"]               # Var(a + b Time) of a pig,
         + 2 * vc.loc[("Pig", "corr(Intercept, Time)"), "covariance"] * time
         + vc.loc[("Pig", "Time"), "variance"] * time**2).mean()  # averaged over the rows
v_random = v_pig + vc.loc[("Litter", "Intercept"), "variance"]
v_resid = vc.loc[("Residual", ""), "variance"]
v_fixed = fit_lme4.fitted("marginal").var()   # variance of X beta: the average growth line
r2 = fit_lme4.r2().set_index("kind")["estimate"]
print(f"fixed part (growth over the weeks): {v_fixed:6.1f} kg²")
print(f"random effects (pigs and litters):  {v_random:6.1f} kg²")
print(f"residual:                           {v_resid:6.1f} kg²")
print(f"adjusted ICC:   {v_random / (v_random + v_resid):.3f}")
print(f"unadjusted ICC: {v_random / (v_fixed + v_random + v_resid):.3f}")
print(f"R² marginal {r2['marginal']:.3f}, conditional {r2['conditional']:.3f}")

# %% [markdown]
# The pigs grow through the trial, so the average growth line alone varies by
# {{v_fixed:.0f}} kg², {{v_fixed / v_random:.0f}} times the {{v_random:.0f}} kg² of the
# random effects. The unadjusted ICC puts that growth in its denominator and comes out small:
# not because weighings of the same pig are unalike, but because most of the variation in
# weight is growth that Time explains. It also depends on the design: a longer trial spreads
# the weights further and shrinks it. It is exactly the conditional minus the marginal R²
# ({{r2["conditional"]:.3f}} − {{r2["marginal"]:.3f}}).
#
# **Which to report.** Report the adjusted ICC as *the* ICC, here
# {{icc_lme4_est["Pig + Litter", "adjusted"]:.2f}}: the share of the variance around the
# growth line that lies between pigs (and their litters), that is, how alike weighings of
# the same pig are, on average over the weeks (with a random slope the pig variance, and so
# the correlation of two weighings, changes with Time). It is the one the fit's card
# prints ("ICC (adjusted)"). Report what the fixed part explains as the marginal R²
# ({{r2["marginal"]:.2f}}, from `fit.r2()`), not through the unadjusted ICC. In Pastes and
# Penicillin, with no predictors, the two ICCs are the same number.
#
# ### A model the data cannot identify
#
# What mixedkit does refuse is a model that the data cannot identify. In Penicillin each
# plate × sample combination is measured once, so a random effect for that combination
# cannot be told apart from the residual. lme4 refuses this too.

# %%
try:
    mk.fit_lmm("diameter ~ 1 + (1 | plate) + (1 | sample) + (1 | plate:sample)", pen)
except mk.DataError as err:
    print(f"{type(err).__name__}: {err}")

# %% [markdown]
# All mixedkit errors derive from `mk.MixedkitError` and from the built-in exception they
# refine (`DataError` and `FormulaError` are `ValueError`s), so `except mk.MixedkitError`
# catches them all.
#
# ## Summary
#
# | design | lme4 formula | statsmodels call mixedkit makes |
# |---|---|---|
# | b nested in a | `(1 \| a/b)` = `(1 \| a) + (1 \| a:b)` | `groups="a", re_formula="1", vc_formula={"b:a": "0 + C(b)"}` |
# | a and b crossed | `(1 \| a) + (1 \| b)` | `groups=np.ones(len(data)), re_formula="0", vc_formula={"a": "0 + C(a)", "b": "0 + C(b)"}` |
# | slope correlated with intercept, one factor | `(x \| g)` | `groups="g", re_formula="~x"` |
# | correlated slope on a non-block factor | `(x \| b) + (1 \| a)` | none (`statsmodels_call` says why; mixedkit fits it with its own engine); `(x \|\| b)` is expressible |
#
# * Nested labels that repeat across groups need `a/b` (or unique labels); otherwise the
#   model is a crossed one, and the only hint is a warning when the repeated labels are few.
# * `fit.icc()` gives one row per grouping factor: where the variation is. Report the
#   adjusted ICC; the unadjusted one also has the fixed part's variance in its denominator
#   (it is the conditional minus the marginal R²).
# * Whether a variance component is needed (litters) is tested by comparing REML fits with
#   the boundary-corrected likelihood-ratio test (`mk.compare_models`); fixed effects are
#   tested by *t* and *F* tests with Satterthwaite or Kenward–Roger df.
# * `fit.statsmodels_call` shows what was fitted, or why statsmodels could not fit it;
#   mixedkit fits the model either way, and `fit.statsmodels_result` raises
#   `mk.StatsmodelsLimitError` when there is no statsmodels equivalent.
