# ruff: noqa: B018
# Source of notebooks/11_singular_fits.ipynb (percent format: `# %%` starts a code cell,
# `# %% [markdown]` a markdown cell). Edit here, then run
# `python notebooks/make_notebooks.py`; see notebooks/README.md.

# %% [markdown]
# # 11 · A singular fit on real data, and the way out of it
#
# **The story.** In Yates' oats experiment (1935) each of 6 blocks of land was split into
# 3 whole plots, one per oat variety, and each whole plot into 4 sub-plots that received
# one of four doses of nitrogen (`nitro`: `0`, `0.2`, `0.4` or `0.6` hundredweight per
# acre). The textbook analysis is a split-plot model,
# `yield ~ Variety * nitro + (1 | Block/Variety)`. A student who has read notebook 02
# asks a fair question: the blocks are different pieces of land, so shouldn't the
# response to nitrogen be allowed to differ between blocks? They add a random slope,
# `(nitro | Block)`, and get a **singular fit**. We see what that means, what it does and
# does not say, how mixedkit reports it, and the usual way out of it, ending with what to
# write in the paper.
#
# **You will learn** what a singular fit is (a variance estimated as 0 or a correlation
# as ±1: the fit is on the boundary of the parameter space; lme4's `isSingular`); how
# mixedkit reports it (`fit.singular`, `fit.health`, `fit.theta`); the workflow out of it:
# drop the correlation with `||`, then the term whose variance is 0, checking
# `fit.health` and `fit.variance_components` at each step, and compare the steps with
# `mk.compare_models` (REML fits, boundary-corrected likelihood-ratio test); and what to
# report, with `fit.report()`.
#
# *Assumed background:* notebooks 02 (random slopes, `||`), 03 (REML, the boundary-
# corrected test of a variance), 05 (nested factors, `(1 | Block/Variety)`) and 06
# (`anova`). Notebook 08 (section 6) runs the same workflow on simulated data with two
# crossed factors.

# %%
# %matplotlib inline
import numpy as np
import pandas as pd

import mixedkit as mk

pd.set_option("display.precision", 4)
pd.set_option("display.width", 120)
pd.set_option("display.max_colwidth", 90)

# %% [markdown]
# ## 1. The oats experiment
#
# `yield` is in quarter-pounds per sub-plot, `nitro` in hundredweight (cwt) per acre, a
# number. Every block has every variety, and every whole plot every nitrogen level:

# %%
oats = mk.load_dataset("oats")
print(f"{len(oats)} rows, {oats['Block'].nunique()} blocks, "
      f"{oats['Variety'].nunique()} varieties, "
      f"nitrogen levels {sorted(oats['nitro'].unique().tolist())}")
pd.crosstab(oats["Block"], oats["Variety"])

# %% [markdown]
# Each block's mean yield at each nitrogen level (averaged over the three varieties), one
# line per block:

# %%
block_means = oats.groupby(["Block", "nitro"])["yield"].mean().unstack("Block")
ax = block_means.plot(marker="o", figsize=(6, 4))
ax.set(xlabel="nitrogen (cwt per acre)", ylabel="mean yield (1/4 lb per sub-plot)",
       title="one line per block")
legend = ax.legend(title="Block", ncols=2)

# %% [markdown]
# Yield rises with nitrogen in every block (if not at every step: block III dips at the
# highest dose), and some blocks yield more than others. Do the
# blocks differ in *how steeply* yield rises? Each block's least-squares slope, from its 12
# sub-plots:

# %%
block_slopes = pd.Series({block: np.polyfit(rows["nitro"], rows["yield"], 1)[0]
                          for block, rows in oats.groupby("Block")}, name="slope")
print(f"block slopes: mean {block_slopes.mean():.1f}, SD {block_slopes.std():.1f} "
      "(yield per cwt of nitrogen per acre)")
block_slopes.round(1).to_frame().T

# %% [markdown]
# The slopes range from {{block_slopes.min():.0f}} to {{block_slopes.max():.0f}}. Keep
# their SD, {{block_slopes.std():.1f}}, in mind: section 5 shows that this much spread
# is what noise alone would give.
#
# ## 2. The model with a random slope
#
# The split-plot part stays as it is: a random intercept per block and one per whole plot
# (`Block:Variety`, the variety's plot within a block; notebook 05). The random slope
# lets each block have its own effect of nitrogen, correlated with its intercept:
#
# $$\text{yield} = X\beta + u_{0,\text{block}} + u_{1,\text{block}}\,\text{nitro}
# + w_{\text{plot}} + \varepsilon,\qquad (u_0, u_1) \sim N(0, \Sigma),\;
# w \sim N(0, \sigma^2_w).$$

# %%
m_slope = mk.fit_lmm("yield ~ Variety * nitro + (nitro | Block) + (1 | Block:Variety)",
                     oats)
m_slope.variance_components

# %% [markdown]
# `fit_lmm` warned at once (the `FitWarning` above the table). The table shows why: the
# correlation between a block's intercept and its slope is estimated as
# {{m_slope.variance_components["corr"].dropna().iloc[0]:+.2f}}, exactly. (A `NaN` in the
# table is a column that does not apply to the row: a variance has no correlation.)
#
# ## 3. What a singular fit is
#
# A variance cannot be negative and a correlation cannot leave [−1, 1]: the parameters of
# the random part live in a bounded region, and a **singular** fit is one whose optimum
# lies on the edge of that region, with a variance estimated as exactly 0 or a
# correlation as exactly ±1. Both make the covariance matrix of the random effects
# singular (not invertible), hence the name. A correlation of +1 says that every block's
# deviation from the average slope is the same multiple of its deviation from the
# average intercept: the two random effects per block are really one.
#
# lme4 and mixedkit detect it the same way. Each random term's covariance matrix is
# written as σ² Λ Λᵀ with Λ lower triangular (the lower triangles of all terms, stacked,
# are `fit.theta`); the fit is singular when a diagonal entry of Λ is below 1e-4 (lme4's
# `isSingular(fit)`; lme4 also prints the message `boundary (singular) fit`). The terms
# come in lme4's order, the one with more levels first: the single entry of
# `Block:Variety`, then the three of `Block`'s 2 × 2 Λ (intercept, intercept–slope,
# slope).

# %%
print("theta:", m_slope.theta.round(4))
print("singular:", m_slope.singular)

# %% [markdown]
# {{(m_slope.theta < 1e-4).sum():Words}} entry of theta is 0: the diagonal entry for
# the slope of nitrogen *given* the block's intercept, which is what a correlation of
# exactly +1 leaves for it. lme4 fits this model to the same log-likelihood and calls it
# singular too (`isSingular` is `TRUE`).
#
# **What a singular fit does not mean.**
#
# * It is not a failure of the software or the optimiser: the fit converged, and the
#   boundary optimum was checked (the health report below says so).
# * It does not mean that the blocks truly respond to nitrogen in exact proportion to
#   their yield, nor that the true slope variance is 0. An estimate on the boundary says
#   that *these data* cannot tell the structure apart from a simpler one.
# * It does not invalidate the fixed effects: their estimates usually move little
#   (section 5 checks).
#
# **What it does mean.** The random part has more parameters than the data can estimate
# (here: 6 blocks to estimate two variances and a correlation). The estimates of the
# random part, and any interval or test built on them, should not be taken at face value,
# and a simpler model fits about as well.
#
# ## 4. How mixedkit reports it
#
# `fit.singular` is the yes/no answer; `fit.health` runs every check, says what it found,
# why it matters and what to do:

# %%
print(m_slope.health)

# %% [markdown]
# {{len(m_slope.health.problems):Words}} row warns, `singular`: it names the term and the
# fix. The others pass or are notes: convergence, the boundary check (the optimum on the
# boundary was confirmed from restarts inside it), and the assumption checks (notebook
# 04); normality of the block effects is not judged from 6 values. The advice, on its
# own:

# %%
print(m_slope.health["singular"].fix)

# %% [markdown]
# ## 5. The way out, step by step
#
# The usual sequence (Bates et al. 2015, "Parsimonious mixed models"; Matuschek et al.
# 2017): first drop the correlations, then the random term whose variance is still 0,
# and check `fit.health` after each step.
#
# ### Step 1: no correlation, `||`
#
# `(nitro || Block)` is lme4's shorthand for `(1 | Block) + (0 + nitro | Block)`: a block
# intercept and a block slope, each with its own variance, uncorrelated. This works as
# intended because `nitro` is a **numeric** column. With a factor, `(0 + f | Block)` is
# one random effect per *level* of `f`, and those form a correlated block that lme4 and
# mixedkit both keep: `(f || Block)` then removes no correlation at all. For a factor,
# write it as numeric codes first (notebook 08, section 6). And as notebook 02 warns,
# `||` depends on where `nitro` is 0; here 0 means no nitrogen, a meaningful origin.

# %%
m_zcp = mk.fit_lmm("yield ~ Variety * nitro + (nitro || Block) + (1 | Block:Variety)", oats)
print(m_zcp.health)
m_zcp.variance_components

# %% [markdown]
# Still singular, and now it is plain why: without the correlation, the slope variance
# is estimated as exactly
# {{m_zcp.variance_components.set_index("term").loc["nitro", "variance"]:.0f}}. This is
# what the block slopes of section 1 said. A block's least-squares slope is its true
# slope plus noise. The whole-plot effects cancel in a slope (each whole plot has all four
# doses), so the noise in it comes from the residual SD of the model and the spread of
# the block's 12 nitrogen values, $\sigma / \sqrt{\sum (x - \bar x)^2}$:

# %%
residual_sd = np.sqrt(m_zcp.scale)
block_rows = oats[oats["Block"] == "I"]             # every block has the same 12 nitro values
noise_sd = residual_sd / np.sqrt(((block_rows["nitro"] - block_rows["nitro"].mean()) ** 2).sum())
print(f"SD of a block's slope from noise alone: {noise_sd:.1f}; "
      f"observed SD of the six block slopes: {block_slopes.std():.1f}")

# %% [markdown]
# The block slopes vary *less* than noise alone would make them vary
# ({{block_slopes.std():.1f}} against {{noise_sd:.1f}}), so the best estimate of the
# extra, between-block variation of the slope is none at all. With 6 blocks and 4
# nitrogen levels, a between-block SD of the slope that is small next to
# {{noise_sd:.0f}} is invisible in these data.
#
# ### Step 2: drop the term whose variance is 0
#
# Without the slope, the random part is the split-plot model's, `(1 | Block/Variety)`,
# written out as `(1 | Block) + (1 | Block:Variety)` (notebook 05) so that it reads as
# the models above minus a term.

# %%
m_split = mk.fit_lmm("yield ~ Variety * nitro + (1 | Block) + (1 | Block:Variety)", oats)
print(m_split.health)
m_split.variance_components

# %% [markdown]
# Not singular, and the health verdict is `{{m_split.health.verdict}}`. The variances are
# those of the `||` model: a variance at 0 contributes nothing, so removing it changes
# nothing else.
#
# ### Step 3: compare
#
# The three models have the same fixed effects, so `mk.compare_models` compares their
# REML fits (as lmerTest's `ranova` does), each against the nearest smaller model nested
# in it. For a variance the likelihood-ratio test has the boundary correction (under the
# null the variance is 0, on the boundary; notebook 03):

# %%
steps = mk.compare_models(m_slope, m_zcp, m_split)
steps

# %%
table = steps.table
chisq_slope, chisq_corr = table["chisq"].iloc[1], table["chisq"].iloc[2]
p_corr = table["p_value"].iloc[2]
print(f"slope variance: chisq {chisq_slope:.4f}; correlation: chisq {chisq_corr:.3f}, "
      f"p {p_corr:.2f}")

# %% [markdown]
# * The slope variance (second row against the first) raises the log-likelihood by
#   nothing: `chisq` is {{chisq_slope:.1f}}, as it must be for a variance estimated as 0.
# * The correlation (third row against the second) raises it a little: `chisq`
#   {{chisq_corr:.2f}} on 1 df, p = {{p_corr:.2f}}.
# * AIC is lowest for the split-plot model.
#
# The question the student asked, "does the response to nitrogen vary between blocks?",
# is the slope variance and the correlation together: the model with `(nitro | Block)`
# against the split-plot model, a test of 2 parameters, one of them a variance on the
# boundary (its null distribution is a 50:50 mixture of χ² with 1 and 2 df):

# %%
slope_test = mk.compare_models(m_split, m_slope)
chisq_both, p_slope = slope_test.table[["chisq", "p_value"]].iloc[1]
slope_test

# %% [markdown]
# p = {{p_slope:.2f}}: no evidence that blocks differ in their response to nitrogen.
# A parametric bootstrap of the same comparison (notebook 03) is the alternative when in
# doubt about the χ² approximation.
#
# Does the choice matter for the question the experiment was run for, the effect of
# nitrogen? The coefficient of `nitro` (the slope for the reference variety) in each
# model:

# %%
models = {"(nitro | Block), singular": m_slope, "(nitro || Block), singular": m_zcp,
          "split plot": m_split}
nitro_by_model = pd.DataFrame({name: m.fixed_effects.set_index("term").loc["nitro"]
                               for name, m in models.items()}).T
nitro_by_model[["estimate", "std_error", "df", "conf_low", "conf_high"]].astype(float)

# %% [markdown]
# The estimate is the same in all three (the design is balanced), and the standard error
# and df change little. The fixed effects were never the problem; the random part was.
#
# ## 6. What to report
#
# Report the model the data support, `yield ~ Variety * nitro + (1 | Block/Variety)`
# (with `nitro` centred, as shown below), and say what happened to the slope, in these terms: *a random slope of nitrogen by
# block was also fitted; the fit was singular (the intercept–slope correlation was
# estimated at +1, and without the correlation the slope variance was estimated as 0),
# so the slope was dropped; a likelihood-ratio test on the REML fits (boundary-corrected)
# gave no evidence for it, χ² = {{chisq_both:.2f}} on 2 df, p = {{p_slope:.2f}}.* That
# says the data could not estimate how much the response to nitrogen varies between
# blocks. It does **not** say that the response is the same in every block: with 6
# blocks, a real but modest difference could well look like this.
#
# The fixed effects of the chosen model are tested with F tests and Satterthwaite's
# degrees of freedom (`fit.anova()`; `df_method="kenward-roger"` for Kenward–Roger's),
# also for several coefficients at once (a term with 2 df here). Not with a χ²
# likelihood-ratio test of ML fits: it is liberal with few groups (6 blocks) and is for
# large samples only. The F tests of the split-plot model:

# %%
anova_split = m_split.anova()
f_tests = anova_split.set_index("term")
anova_split

# %% [markdown]
# (`{{f_tests.loc["nitro", "p_value"]:.3e}}` is scientific notation, the number before `e`
# times 10 to the power after it: a p-value far below 0.001, reported as p < .001.
# `{{f_tests.loc["nitro", "sum_sq"]:.3e}}` is {{f_tests.loc["nitro", "sum_sq"]:,.0f}}.)
#
# Yield rises clearly with nitrogen (F = {{f_tests.loc["nitro", "statistic"]:.0f}} on 1
# and {{f_tests.loc["nitro", "den_df"]:.0f}} df), and the varieties do not differ clearly in
# their response to it (the interaction, p = {{f_tests.loc["Variety:nitro", "p_value"]:.2f}}).
#
# Read the `Variety` row with care. `nitro` is a number in an interaction with `Variety`,
# so the Type III test of `Variety` compares the varieties where `nitro` is 0, with no
# nitrogen at all (notebook 10 makes the same point for Time). That is why its df
# ({{f_tests.loc["Variety", "den_df"]:.1f}}) are not the whole-plot df of a split-plot
# analysis: at one dose, the comparison mixes whole-plot and sub-plot variation. The
# comparison a split-plot analysis means is at the average dose: centre `nitro` at its
# mean and refit. The random part has no slope now, so centring changes nothing in it,
# nor in the slopes; only the `Variety` test and the intercept move:

# %%
oats["nitro_c"] = oats["nitro"] - oats["nitro"].mean()   # 0 at the average dose
m_final = mk.fit_lmm("yield ~ Variety * nitro_c + (1 | Block) + (1 | Block:Variety)", oats)
print(f"nitro_c = 0 at {oats['nitro'].mean():.1f} cwt per acre; "
      f"same fit: logLik {m_split.loglik:.3f} and {m_final.loglik:.3f}")
f_final = m_final.anova().set_index("term")
f_final

# %% [markdown]
# At the average dose the varieties do not differ clearly either:
# F({{f_final.loc["Variety", "num_df"]}}, {{f_final.loc["Variety", "den_df"]:.0f}}) =
# {{f_final.loc["Variety", "statistic"]:.2f}},
# p = {{f_final.loc["Variety", "p_value"]:.2f}}, on the
# {{f_final.loc["Variety", "den_df"]:.0f}} df of the whole plots, (6 − 1) × (3 − 1), the
# classical split-plot test. The `nitro` rows are those of the uncentred fit.
#
# `fit.report()` writes the methods-and-results paragraph for the chosen model, ready to
# paste; check it against the tables above before you do, and add yourself the sentence
# about the dropped slope and what `nitro_c` is (nitrogen minus its average dose):

# %%
m_final.report()

# %% [markdown]
# ## Summary
#
# | step | lme4 / lmerTest | mixedkit |
# |---|---|---|
# | is it singular? | `isSingular(fit)`, the `boundary (singular) fit` message | `fit.singular`, `fit.health`, a `FitWarning` at fit time |
# | relative Cholesky factor | `getME(fit, "theta")` | `fit.theta` |
# | no correlation | `(nitro \|\| Block)` (numeric `nitro`) | the same formula; with a factor, use numeric codes |
# | drop the zero variance | `(1 \| Block) + (1 \| Block:Variety)`, the same as `(1 \| Block/Variety)` | the same formula |
# | compare random parts | `anova(m1, m2, refit = FALSE)`, `ranova` | `mk.compare_models(m1, m2, m3)` (REML, boundary-corrected) |
# | test fixed effects | `anova(fit)` | `fit.anova()` (F, Satterthwaite or Kenward–Roger) |
# | report | by hand | `fit.report()` |
#
# * A singular fit is a variance estimated as 0 or a correlation as ±1: the estimate is on
#   the boundary of what is allowed. It is not an error, and it is not evidence that the
#   true variance is 0; it says the data cannot estimate that part of the model.
# * `fit.health` says which term is at the boundary and what to do: drop the correlation
#   (`||`, with numeric columns), then the term whose variance is 0, checking
#   `fit.health` and `fit.variance_components` after each step.
# * Compare the steps with `mk.compare_models` on REML fits; a variance is tested with the
#   boundary correction (or a parametric bootstrap). Fixed effects are tested with t and
#   F tests (Satterthwaite or Kenward–Roger df), not with a χ² likelihood-ratio test of
#   ML fits, which is liberal with few groups.
# * With a numeric predictor in an interaction, a factor's F test compares the levels
#   where that predictor is 0: centre it where the comparison means something (here the
#   average dose) before reading the test.
# * Report the simpler model and that the dropped term could not be estimated, not that
#   it is zero.
