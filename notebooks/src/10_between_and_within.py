# ruff: noqa: B018
# Source of notebooks/10_between_and_within.ipynb (percent format: `# %%` starts a code cell,
# `# %% [markdown]` a markdown cell). Edit here, then run
# `python notebooks/make_notebooks.py`; see notebooks/README.md.

# %% [markdown]
# # 10 · Between and within: diets and growth in one model
#
# **The story.** The 72 pigs of `dietox` (notebook 04) were not only weighed every week:
# each pig was fed one of three doses of vitamin E and one of three doses of copper, a 3 × 3
# factorial experiment (Lauridsen et al., 1999). Do the supplements make pigs heavier, or
# make them grow faster? The diet is a property of the *pig*; time changes *within* each
# pig. One mixed model holds both, and it has to be read with that in mind.
#
# **You will learn** to tell between-subject from within-subject predictors (and to check
# it in code), why the test of a between-subject effect has its degrees of freedom at the
# pig level and not at the level of the 861 rows, what a cross-level interaction
# (`Time:Evit`: does the growth rate depend on the diet?) tests and what its coefficient
# means, to estimate the growth rate per diet group (`fit.marginal_trends`) and the weights
# at a chosen week (`fit.marginal_means(..., at=...)`), why Time should be centred at a
# meaningful week, and to finish with `fit.health` and a paste-ready `fit.report()`.
#
# *Assumed background:* notebooks 02 (random slopes) and 06 (factors, `anova`,
# `marginal_means`); notebook 04 introduced `dietox` and its diagnostics.

# %%
# %matplotlib inline
import pandas as pd

import mixedkit as mk

pd.set_option("display.precision", 4)
pd.set_option("display.width", 120)
pd.set_option("display.max_colwidth", 90)

# %% [markdown]
# ## The data: what varies where
#
# `Evit` and `Cu` are stored as the codes 1, 2, 3. In the original study (the same data in
# R's geepack package have level names) they are 0, 100 or 200 mg of vitamin E and 0, 35 or
# 175 mg of copper per kg of feed. Codes read as numbers would make each a straight-line
# dose effect; we want one mean per dose, so we turn them into categorical columns with
# names that say what they are (the first level, no supplement, is the reference):

# %%
dietox = mk.load_dataset("dietox")
dietox["Evit"] = pd.Categorical(dietox["Evit"].map({1: "E0", 2: "E100", 3: "E200"}),
                                categories=["E0", "E100", "E200"])
dietox["Cu"] = pd.Categorical(dietox["Cu"].map({1: "Cu0", 2: "Cu35", 3: "Cu175"}),
                              categories=["Cu0", "Cu35", "Cu175"])
n_pigs = dietox["Pig"].nunique()
print(f"{len(dietox)} rows, {n_pigs} pigs, weeks {dietox['Time'].min()} to "
      f"{dietox['Time'].max()}")
dietox.head()

# %% [markdown]
# Which predictors are **between-subject** (one value per pig) and which are
# **within-subject** (changing within a pig)? Count the distinct values of each within
# each pig:

# %%
per_pig = dietox.groupby("Pig")[["Evit", "Cu", "Time"]].nunique()
per_pig.max()

# %% [markdown]
# `Evit` and `Cu` take at most {{per_pig[["Evit", "Cu"]].max().max():words}} value per pig:
# the diet is assigned to the pig, so both are between-subject. `Time` takes up to
# {{per_pig["Time"].max()}} values within a pig: within-subject. How many pigs got each
# diet?

# %%
pigs = dietox.drop_duplicates("Pig")
cells = pd.crosstab(pigs["Evit"], pigs["Cu"])
cells

# %% [markdown]
# Between {{cells.min().min()}} and {{cells.max().max()}} pigs per combination. The
# distinction matters for everything below: a diet can only be compared *between* pigs, so
# the information about it is the number of pigs, not the number of weighings; a change over
# time is seen *within* each pig.
#
# ## The model
#
# Each pig grows along its own line (random intercept and random slope for Time, as in
# notebook 04); the diet may shift the line (a between-subject main effect) and may change
# its slope (an interaction of Time with the diet):
#
# $$\text{Weight}_{ij} = \beta_0 + \beta_{\text{diet}(j)} + (\beta_1 + \gamma_{\text{diet}(j)})\,
# \text{Time}_{ij} + u_{0j} + u_{1j}\,\text{Time}_{ij} + \varepsilon_{ij}$$
#
# for week $i$ of pig $j$. The study is a 3 × 3 factorial, so start from the full model,
# in which every combination of the two supplements has its own line:

# %%
full = mk.fit_lmm("Weight ~ Time * Evit * Cu + (Time | Pig)", dietox)
table_full = full.anova()
aov_full = table_full.set_index("term")   # rows by term name, for use below
table_full

# %% [markdown]
# The terms with `Evit:Cu` ask whether the effect of one supplement depends on the dose of
# the other: on the intercept (`Evit:Cu`, F = {{aov_full.loc["Evit:Cu", "statistic"]:.2f}}
# on {{aov_full.loc["Evit:Cu", "num_df"]}} coefficients at once,
# p = {{aov_full.loc["Evit:Cu", "p_value"]:.2f}}) and on the growth rate (`Time:Evit:Cu`,
# F = {{aov_full.loc["Time:Evit:Cu", "statistic"]:.2f}},
# p = {{aov_full.loc["Time:Evit:Cu", "p_value"]:.2f}}). Neither comes near significance,
# and with at most {{cells.max().max()}} pigs per combination nine separate lines are poorly
# determined. We drop both and ask about each supplement on its own, averaged over the doses
# of the other. (Dropping terms after looking at their tests is a choice to report; a
# pre-registered analysis would keep the full model. Here the answer is the same: in the
# full model `Time:Evit` has F = {{aov_full.loc["Time:Evit", "statistic"]:.2f}},
# p = {{aov_full.loc["Time:Evit", "p_value"]:.2f}}.)
#
# The model for the rest of the notebook is `Weight ~ Time * (Evit + Cu) + (Time | Pig)`,
# which expands to Time, Evit, Cu, Time:Evit and Time:Cu.
#
# **Reading the tables.** Very small and very large numbers are printed in scientific
# notation: `2.5e-04` is $2.5 \times 10^{-4} = 0.00025$ and `4.2e+04` is $42\,000$, so the
# p-value of `Time` above is far below 0.001. pandas writes a whole column that way as
# soon as one value in it needs it (`9.93e-01` is `0.993`), and a p-value too small for a
# computer's floating-point numbers prints as `0` or `<1e-16`. In a report, any p-value
# below 0.001 is written p < .001 (notebook 01).
#
# ### How to test what: the one rule
#
# * **Fixed effects** are tested with *t* and F tests with Satterthwaite (the default) or
#   Kenward–Roger degrees of freedom: `fit.fixed_effects` for one coefficient, `fit.anova()`
#   for several coefficients at once (a multi-df F test, as for `Evit:Cu` above), and
#   `fit.contrasts()` for comparisons. The χ² likelihood-ratio test of fixed effects (on ML
#   fits) is liberal with few groups and is for large samples only.
# * **Random effects** (variance components) are tested by a likelihood-ratio test on REML
#   fits with the boundary (50:50 mixture) correction (`mk.compare_models`), or by a
#   parametric bootstrap. REML *reduces* (does not remove) the small-sample downward bias of
#   ML variance estimates.
#
# ## Degrees of freedom live at the pig level

# %%
fit = mk.fit_lmm("Weight ~ Time * (Evit + Cu) + (Time | Pig)", dietox)
table = fit.anova()
aov = table.set_index("term")
table

# %%
fe = fit.fixed_effects.set_index("term")
fe

# %% [markdown]
# The data have 861 rows, yet every denominator df (`den_df`) is about
# {{aov["den_df"].median():.0f}}. Why?
#
# * **A between-subject effect.** The vitamin E doses can only be compared between pigs, so
#   the test of `Evit` has as much information as there are pigs, less what the model
#   estimates at the pig level for the intercepts:

# %%
pig_level = [t for t in fe.index if "Time" not in t]   # intercept, Evit and Cu terms
slope_level = [t for t in fe.index if "Time" in t]     # Time and its interactions
print(f"{n_pigs} pigs - {len(pig_level)} parameters {pig_level} = "
      f"{n_pigs - len(pig_level)}; Satterthwaite's den_df for Evit: "
      f"{aov.loc['Evit', 'den_df']:.2f}")

# %% [markdown]
# Satterthwaite's approximation finds this ({{aov.loc["Evit", "den_df"]:.2f}}) without being
# told the design. A test that counted the 861 weighings as 861 independent pieces of
# information about the diets would overstate the evidence many times over.
#
# * **A within-subject effect with a random slope.** Time varies within pigs, but the model
#   lets every pig have its own slope. The average slope is then the mean of
#   {{n_pigs}} different pig slopes, and the diet differences in slope are differences
#   between groups of pigs: the df are again {{n_pigs}} pigs minus the
#   {{len(slope_level):words}} slope-level parameters, about {{n_pigs - len(slope_level)}}
#   (Satterthwaite: {{aov.loc["Time:Evit", "den_df"]:.2f}} for `Time:Evit`).
#
# Leave the random slope out and see what happens:

# %%
fit_ri = mk.fit_lmm("Weight ~ Time * (Evit + Cu) + (1 | Pig)", dietox)
aov_ri = fit_ri.anova().set_index("term")
pd.DataFrame({"den_df (Time | Pig)": aov["den_df"], "den_df (1 | Pig)": aov_ri["den_df"],
              "F (Time | Pig)": aov["statistic"], "F (1 | Pig)": aov_ri["statistic"],
              "p (Time | Pig)": aov["p_value"], "p (1 | Pig)": aov_ri["p_value"]})

# %% [markdown]
# Without a random slope every pig is assumed to grow at the same rate as the others on its
# diet, so the within-pig terms are tested against the within-pig residuals:
# {{len(dietox)}} rows − {{n_pigs}} pigs − {{len(slope_level)}} slope-level parameters =
# {{len(dietox) - n_pigs - len(slope_level)}} df
# ({{aov_ri.loc["Time:Evit", "den_df"]:.0f}} in the table; the p-value of `Time` there, shown
# as `0.0000`, is too small for a float, not zero). The F of `Time:Evit` jumps from
# {{aov.loc["Time:Evit", "statistic"]:.2f}} to {{aov_ri.loc["Time:Evit", "statistic"]:.2f}}
# and its p-value falls from {{aov.loc["Time:Evit", "p_value"]:.2f}} to
# {{aov_ri.loc["Time:Evit", "p_value"]:.4f}}: a "discovery" that comes only from ignoring
# that pigs differ in growth rate (notebook 02 showed the same for the slope itself). The
# between-pig tests of `Evit` and `Cu` keep df near the number of pigs
# ({{aov_ri.loc["Evit", "den_df"]:.0f}}): the random slope matters for the terms with Time. Do
# pigs differ in growth rate? That is a question about a variance, so it is answered by the
# boundary-corrected likelihood-ratio test on the REML fits:

# %%
mk.compare_models(fit_ri, fit)

# %% [markdown]
# Overwhelmingly: the random slope stays.
#
# ## The cross-level interaction: does the growth rate depend on the diet?
#
# `Time:Evit` is an interaction of a within-subject predictor with a between-subject one, a
# **cross-level interaction**. Its F test (the `Time:Evit` row of `aov`) asks whether
# the average weekly gain is the same under the three vitamin E doses:
# F({{aov.loc["Time:Evit", "num_df"]}}, {{aov.loc["Time:Evit", "den_df"]:.0f}}) =
# {{aov.loc["Time:Evit", "statistic"]:.2f}}, p = {{aov.loc["Time:Evit", "p_value"]:.2f}}: no
# evidence that it differs. Its two coefficients say by how much:

# %%
fe.loc[["Time", "Time:Evit[T.E100]", "Time:Evit[T.E200]"],
       ["estimate", "std_error", "df", "conf_low", "conf_high", "p_value"]]

# %% [markdown]
# * `Time` ({{fe.loc["Time", "estimate"]:.2f}} kg per week) is the weekly gain of pigs on
#   the reference diet (E0 and Cu0).
# * `Time:Evit[T.E100]` ({{fe.loc["Time:Evit[T.E100]", "estimate"]:.2f}}) is how much more a
#   pig on 100 mg of vitamin E per kg of feed gains per week than a pig on none, at the same copper
#   dose (the model has no Evit × Cu terms, so "at the same copper dose" means at any).
#   Its 95% interval, {{fe.loc["Time:Evit[T.E100]", "conf_low"]:.2f}} to
#   {{fe.loc["Time:Evit[T.E100]", "conf_high"]:.2f}} kg per week, holds differences in
#   either direction; the same goes for E200.
#
# From the first weighing to the last (11 weeks), a difference of
# {{fe.loc["Time:Evit[T.E100]", "conf_high"]:.2f}} kg per week, the upper end of that
# interval, would add up to {{11 * fe.loc["Time:Evit[T.E100]", "conf_high"]:.1f}} kg: the data
# show no evidence of an effect of vitamin E on growth, but they do not rule out a modest
# one.
#
# ## Marginal trends: the growth rate per diet
#
# Rather than adding coefficients by hand, ask for the slope of Time in each vitamin E
# group, averaged over the copper doses with equal weights (emmeans' `emtrends`):

# %%
trends = fit.marginal_trends("Time", "Evit")
trends

# %% [markdown]
# Each row is a growth rate in kg per week with its 95% interval; the df are again at the
# pig level. The three rates lie between {{trends["estimate"].min():.2f}} and
# {{trends["estimate"].max():.2f}} kg per week, and their intervals overlap. The differences
# between them are the `Time:Evit` coefficients above. (The *t* test in each row asks whether
# pigs on that diet grow at all, which is not in doubt; whether the rates differ is the
# `Time:Evit` F test.)
#
# "Averaged over the copper doses" is what makes this more than a coefficient. By hand, the
# E0 rate is `Time` (the rate at Cu0) plus the mean of the copper shifts in slope (0 for Cu0
# and the two `Time:Cu` coefficients):

# %%
by_hand = fe.loc["Time", "estimate"] + (
    0 + fe.loc["Time:Cu[T.Cu35]", "estimate"] + fe.loc["Time:Cu[T.Cu175]", "estimate"]) / 3
print(f"E0 growth rate by hand: {by_hand:.4f}; marginal_trends: {trends['estimate'].iloc[0]:.4f}")

# %% [markdown]
# The weights themselves at a chosen week, here the last one (week 12):

# %%
at_end = fit.marginal_means("Evit", at={"Time": 12})
means_end = at_end.set_index("Evit")["estimate"]
half_width = ((at_end["conf_high"] - at_end["conf_low"]) / 2).mean()
at_end

# %% [markdown]
# At week 12 the E100 pigs are estimated {{means_end["E100"] - means_end["E0"]:.1f}} kg
# heavier than the E0 pigs, and the E200 pigs {{means_end["E0"] - means_end["E200"]:.1f}} kg
# lighter, but the intervals overlap and are wide (about ±{{half_width:.1f}} kg): a pig's
# weight at week 12 carries the pig-to-pig differences in both the intercept and the slope,
# and each mean rests on {{cells.sum(axis=1).min()}} to {{cells.sum(axis=1).max()}} pigs.
# The picture, with the data:

# %%
ax = mk.plot_effects(fit, "Time", by="Evit")

# %% [markdown]
# Three nearly parallel lines with overlapping bands, inside a wide cloud of pigs: the
# pig-to-pig differences are much larger than any diet effect. (Growth is not quite a
# straight line, as notebook 04 found; we come back to that below.)
#
# ## Centre Time at a meaningful week
#
# In `fit` the coefficients of `Evit` and `Cu`, and their F tests in `aov`, are differences
# at **Time = 0**, a week before the first weighing, outside the data. With an interaction
# in the model, a main effect is the effect where the other predictor is 0, so choose where
# that is. Centre Time at week 12, the end of the trial:

# %%
dietox["Time12"] = dietox["Time"] - 12       # 0 at week 12, -11 at week 1
fit12 = mk.fit_lmm("Weight ~ Time12 * (Evit + Cu) + (Time12 | Pig)", dietox)
aov12 = fit12.anova().set_index("term")
fe12 = fit12.fixed_effects.set_index("term")
pd.DataFrame({"F (Time at 0)": aov["statistic"].to_numpy(),
              "p (Time at 0)": aov["p_value"].to_numpy(),
              "F (Time at 12)": aov12["statistic"].to_numpy(),
              "p (Time at 12)": aov12["p_value"].to_numpy()}, index=aov12.index)

# %% [markdown]
# It is the same model (log-likelihoods {{fit.loglik:.2f}} and {{fit12.loglik:.2f}}); only
# what the coefficients mean changes:
#
# * the tests of `Time12`, `Time12:Evit` and `Time12:Cu` do not change: a slope is the same
#   wherever the origin is;
# * the tests of `Evit` and `Cu` do: they now compare weights at week 12, the question a
#   farmer asks. `Evit` goes from F = {{aov.loc["Evit", "statistic"]:.2f}} (differences at
#   week 0) to F = {{aov12.loc["Evit", "statistic"]:.2f}}; still no evidence of a difference.
#
# The `Evit` coefficients of `fit12` are the differences between the week-12 marginal means
# above:

# %%
pd.DataFrame({"coefficient in fit12": fe12.loc[["Evit[T.E100]", "Evit[T.E200]"], "estimate"]
              .to_numpy(),
              "difference of week-12 means": [means_end["E100"] - means_end["E0"],
                                              means_end["E200"] - means_end["E0"]]},
             index=["E100 - E0", "E200 - E0"])

# %% [markdown]
# The random part is re-expressed too: the intercept variance is now the pig-to-pig
# variance of weight at week 12, and the intercept–slope correlation changes with the
# origin (notebook 02):

# %%
vc = pd.DataFrame({origin: m.variance_components["std_dev"].fillna(m.variance_components["corr"])
                   for origin, m in (("Time at 0", fit), ("Time at 12", fit12))})
vc.index = ["Pig: intercept SD", "Pig: slope SD", "Pig: intercept-slope correlation",
            "Residual SD"]
vc

# %% [markdown]
# The SD of the pig intercepts goes from {{vc.iloc[0, 0]:.2f}} kg (weight at week 0) to
# {{vc.iloc[0, 1]:.2f}} kg (weight at week 12): differences in growth rate add up over the
# weeks. The intercept–slope correlation goes from {{vc.iloc[2, 0]:.2f}} to
# {{vc.iloc[2, 1]:.2f}}: the pigs that are heavy at week 12 are mostly those that grew fast.
# The slope SD and the residual SD do not change.

# %% [markdown]
# ## Is the model adequate? The health verdict

# %%
fit12.health

# %% [markdown]
# Notebook 04 met most of these flags with the simpler model `Weight ~ Time + (Time | Pig)`:
# heavy-tailed residuals with a few outlying weighings, residual SDs that differ between
# pigs, a long lower tail of slow-growing pigs, and a curved growth path that a straight
# line misses. New are the flags on the intercepts, which are now weights at week 12: their
# distribution has a long lower tail, and one pig stands out:

# %%
slowest = fit12.ranef().query("term == 'Intercept'").nsmallest(1, "estimate")["level"].iloc[0]
path = dietox.loc[dietox["Pig"].astype(str) == slowest, ["Time", "Weight"]].set_index("Time")
mean_12 = dietox.loc[dietox["Time"] == 12, "Weight"].mean()   # all pigs, week 12
path.T

# %% [markdown]
# Pig {{slowest}} gains weight every week, just slowly: {{path.loc[12, "Weight"]:.1f}} kg at
# week 12 against an average of {{mean_12:.1f}} kg. A slow grower, not a recording error as
# far as the numbers show: a pig to keep, and to mention.
#
# The flag that could bias the diet comparisons is the curvature: the model draws a
# straight line per diet through a curved growth path. Add a curve shared by all diets,
# `I(Time12**2)`, and see whether the diet tests move:

# %%
fit12_curve = mk.fit_lmm("Weight ~ Time12 * (Evit + Cu) + I(Time12**2) + (Time12 | Pig)",
                         dietox)
aov_curve = fit12_curve.anova().set_index("term")
diet_terms = ["Evit", "Cu", "Time12:Evit", "Time12:Cu"]
pd.DataFrame({"F (straight line)": aov12.loc[diet_terms, "statistic"],
              "F (with the curve)": aov_curve.loc[diet_terms, "statistic"],
              "p (straight line)": aov12.loc[diet_terms, "p_value"],
              "p (with the curve)": aov_curve.loc[diet_terms, "p_value"]})

# %% [markdown]
# The F tests of the diet terms barely move: the conclusions do not depend on the
# curvature. A report on the straight-line model should say that this check was made.
#
# ## Reporting

# %%
fit12.report()

# %% [markdown]
# `fit.report()` writes the methods-and-results paragraph from the fit's own tables (F
# tests with their df, each coefficient with its 95% interval, p-values in APA style, the
# SDs of the variance components); `print(fit12.report())` gives plain text. Paste it, and
# check it first: it states what was fitted, not why; add the reason for the simpler model,
# what Time12 means and the curvature check yourself, and read the flags it lists under
# "Check before pasting".
#
# ## Summary
#
# * A **between-subject** predictor takes one value per subject
#   (`df.groupby("Pig")[col].nunique().max() == 1`); a **within-subject** predictor
#   changes within a subject. Store doses coded 1, 2, 3 as a `pd.Categorical` with level
#   names.
# * The test of a between-subject effect has its **df at the subject level**: about the
#   number of subjects minus the parameters estimated at that level, not the number of
#   rows. With a random slope, the df of the within-subject slope and of its interactions
#   with the between-subject factors are at the subject level too; without it they are
#   far too large and a cross-level interaction can look significant when it is not.
# * A **cross-level interaction** (`Time:Evit`) asks whether the slope differs between
#   groups; its coefficient is the difference in slope from the reference group, its F test
#   (`fit.anova()`) tests all of them at once.
# * `fit.marginal_trends("Time", "Evit")` gives the slope per group with intervals;
#   `fit.marginal_means("Evit", at={"Time": 12})` the means at a chosen value;
#   `mk.plot_effects(fit, "Time", by="Evit")` the picture.
# * **Centre** a numeric within-subject predictor where its 0 means something: with an
#   interaction, the main effects of the between-subject factors are differences at that
#   point. The model, its fit and the tests of the slopes do not change.
# * Fixed effects: *t* and F tests with Satterthwaite or Kenward–Roger df. Variance
#   components: boundary-corrected likelihood-ratio tests on REML fits
#   (`mk.compare_models`) or a parametric bootstrap.
# * `fit.health` before `fit.report()`; check what the report says before pasting it.
