# ruff: noqa: B018
# Source of notebooks/07_planning_a_study.ipynb (percent format: `# %%` starts a code cell,
# `# %% [markdown]` a markdown cell). Edit here, then run
# `python notebooks/make_notebooks.py`; see notebooks/README.md.

# %% [markdown]
# # 07 · Planning a study: power by simulation
#
# **The story.** A lab wants to repeat the sleep-deprivation study of notebooks 01 to 03
# with a milder sleep restriction, under which reaction times might rise by only 5 ms per
# day instead of 10. How many subjects do they need? And a school district wants to test
# a reading programme by randomising whole classes, with no pilot data at all: how many
# classes?
#
# **You will learn** to compute the power of a test in a mixed model by simulation with
# `mk.power_lmm`, for one design and as a curve over designs (`n_groups`,
# `n_per_group`, `mk.plot_power`); to read the Monte Carlo interval and the count of
# singular refits; how far the answer moves when a variance component of the pilot is at
# either end of its confidence interval; to compute power without pilot data from
# `mk.simulate_lmm`, and to check it against an exact answer; and why the choice of test
# matters. If you know R's **simr**: `powerSim`, `powerCurve`, `extend` and `makeLmer`
# all have a counterpart here, named as we go and listed in the summary.
#
# *Assumed background:* notebooks 01 and 02; what power and type I error are.
#
# **Power by simulation** in four steps:
#
# 1. fix every parameter of a model: the fixed effects (with the effect you want to
#    detect), the variance components and the residual variance;
# 2. simulate a data set of the planned design from that model;
# 3. fit the model to it and test the effect;
# 4. repeat many times. The power is the share of data sets in which the test rejects.
#
# No formula is needed, so it works for any design the model can describe. The price is
# computing time, and an answer with Monte Carlo error.

# %%
# %matplotlib inline
import numpy as np
import pandas as pd
from scipy import stats

import mixedkit as mk

pd.set_option("display.precision", 3)
pd.set_option("display.width", 120)

# %% [markdown]
# ## 1. The pilot
#
# The 18 subjects of `sleepstudy` serve as the pilot study. The model is the one
# notebook 02 arrived at: each subject has their own baseline and their own slope.

# %%
sleep = mk.load_dataset("sleepstudy")
pilot = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", sleep)
fe = pilot.fixed_effects.set_index("term")
pilot.fixed_effects

# %% [markdown]
# Reaction time rises by {{fe.loc["Days", "estimate"]:.1f}} ms per day (standard error
# {{fe.loc["Days", "std_error"]:.2f}}). The test of Days has
# {{fe.loc["Days", "df"]:.0f}} degrees of freedom, the number of subjects minus 1: in
# this balanced design (every subject measured on the same 10 days) the test of Days is,
# in effect, a one-sample *t* test on the 18 subjects' own slopes. Information about the
# slope comes from subjects, which will matter below. (The *p*-values are in e-notation:
# `3.264e-06` is $3.264 \times 10^{-6}$, about three in a million; report such values as
# "*p* < .001".)

# %%
pilot.variance_components

# %% [markdown]
# The simulations start from these estimates. They come from 18 subjects and are not
# known values: `pilot.confint()` gives their 95% profile-likelihood intervals, as lme4's
# `confint` does (and those of the fixed effects):

# %%
ci = pilot.confint().set_index("term")
est = ci["estimate"]
ci

# %% [markdown]
# Baselines vary between subjects with an SD of {{est["sd(Intercept)"]:.1f}} ms, slopes
# with an SD of {{est["sd(Days)"]:.1f}} ms/day, the two are nearly uncorrelated
# ({{est["corr(Intercept, Days)"]:.2f}}), and the residual SD is {{est["sd"]:.1f}} ms.
# The intervals are wide: the slope SD, for one, could be anything from
# {{ci.loc["sd(Days)", "conf_low"]:.1f}} to {{ci.loc["sd(Days)", "conf_high"]:.1f}}
# ms/day. A power analysis is only as good as the parameters it starts from; section 5
# shows how much this one matters.
#
# **Which effect?** Not the pilot's estimate. The estimate of a small study is noisy (the
# 95% interval for Days in `pilot.fixed_effects` runs from
# {{fe.loc["Days", "conf_low"]:.1f}} to {{fe.loc["Days", "conf_high"]:.1f}} ms/day), and
# the power at a study's own estimate ("observed power") only restates its p-value. Plan
# for the smallest effect that would matter. Here: 5 ms/day, about half the pilot's.
#
# ## 2. Power for one design (simr: `powerSim`)

# %%
one = mk.power_lmm(pilot, "Days", effect=5, n_sims=200, seed=1, n_jobs=2, progress=False)
row = one.iloc[0]
one

# %% [markdown]
# The test rejected in {{row["power"] * row["n_sims"]:.0f}} of
# {{row["n_sims"]:.0f}} simulated data sets: the power is {{row["power"]:.3f}}, with a
# 95% interval from {{row["conf_low"]:.2f}} to {{row["conf_high"]:.2f}}. What the call
# did:
#
# * `"Days"` is the term to test, as `fit.anova()` names it.
# * `effect=5` replaces the coefficient of Days in the simulations (simr:
#   `fixef(fit)["Days"] <- 5`). Everything else stays at the pilot's estimates.
# * No design was given, so the design is the pilot's: 18 subjects, 10 days each.
# * The test is the pilot fit's: Satterthwaite's *t* test (`one.attrs["test"]`). In simr
#   this is `powerSim(fit, fixed("Days", "sa"), nsim = 200)`.
# * `n_sims=200` data sets keep this notebook quick (the default is 1000); `seed=1`
#   makes the result reproducible; `n_jobs=2` runs the refits in two processes;
#   `progress=False` turns off the progress bar. More cores, other executors and a dask
#   cluster (with the same table on each) are described in the user guide, page *Power
#   and many-model fitting* (`docs/guide/power_many.md`).
#
# The columns:
#
# * **power**: the share of the 200 data sets in which the test rejected (p < 0.05).
# * **conf_low, conf_high**: an exact binomial (Clopper–Pearson) 95% interval, as simr
#   prints. 200 data sets pin the power down only to about
#   ±{{(row["conf_high"] - row["conf_low"]) / 2:.2f}}.
# * **n_failed**: refits that failed; they are left out of the power.
# * **n_singular**: refits in which a variance was estimated as 0 (or a correlation as
#   ±1), lme4's "singular fit". They are counted in the power, since they were tested.
#
# With 18 subjects the study would probably detect 5 ms/day. Would fewer do?
#
# ## 3. A power curve over the number of subjects (simr: `extend` and `powerCurve`)

# %%
curve = mk.power_lmm(pilot, "Days", effect=5, n_groups=[6, 10, 14, 18, 22, 26],
                     n_sims=200, seed=1, n_jobs=2, progress=False)
same = curve[curve["n_groups"] == 18].reset_index(drop=True).equals(one)
print("the row for 18 subjects is the single run above:", same)
curve

# %% [markdown]
# `n_groups` sets the number of subjects. Extra subjects are copies of the pilot's subjects'
# designs (their 10 days) under new labels, like simr's `extend(fit, along = "Subject",
# n = 26)`; their reaction times are simulated afresh, like everyone else's. Fewer than
# 18 means the first subjects only.
#
# The row for 18 subjects repeats the single run above exactly. The same seed gives the
# same random numbers, and every point of a curve uses the same ones (common random
# numbers): the 6-subject data sets are the first 6 subjects of the 26-subject data sets.
# Neighbouring points then differ by the design, not by the luck of the draw, and the
# curve is smooth even with few simulations. (simr's `powerCurve` does the same by
# simulating once and taking subsets.)

# %%
by_size = curve.set_index("n_groups")
halfwidth = (by_size["conf_high"] - by_size["conf_low"]) / 2
below = curve.loc[curve["power"] < 0.8, "n_groups"].max()
above = curve.loc[curve["power"] >= 0.8, "n_groups"].min()
ax = mk.plot_power(curve)

# %% [markdown]
# The dashed line is the usual target, 80%. The simulated power is below it with
# {{below}} subjects and above it with {{above}}. Where in between the curve crosses,
# 200 simulations per point cannot say: those two points are known only to about
# ±{{halfwidth[below]:.2f}} and ±{{halfwidth[above]:.2f}} (the error bars). Section 5
# computes the answer exactly.
#
# ## 4. Monte Carlo error
#
# A simulated power is an estimate from `n_sims` data sets. Its standard error is
# $\sqrt{p(1-p)/n_\text{sims}}$; at the usual target, $p = 0.8$:

# %%
for n_sims in (200, 1000, 5000):
    se = np.sqrt(0.8 * 0.2 / n_sims)
    print(f"n_sims = {n_sims:4d}: Monte Carlo SE {se:.3f}, 95% interval about ±{1.96 * se:.3f}")

# %% [markdown]
# To halve the interval, quadruple `n_sims`. A practical recipe: a coarse curve with a few
# hundred simulations to find where the power crosses the target, then a few sizes near
# the crossing (here from {{below}} to {{above}} subjects) with a few thousand.
#
# **Singular refits.** The column `n_singular` of the curve counts them; as a share of
# the refits:

# %%
singular = by_size["n_singular"] / by_size["n_sims"]
singular.rename("share of refits singular")

# %% [markdown]
# With 6 subjects {{singular[6]:.1%}} of the refits are singular, with 18 only
# {{singular[18]:.1%}}. From 6 subjects the model often cannot tell a small slope SD from
# none, or the correlation of baseline and slope from ±1. In the real study such a fit
# comes with a singular-fit warning and variance estimates nobody trusts. A design with
# many singular refits is fragile even where its power looks acceptable. (`n_singular` is
# itself a Monte Carlo count: section 7 checks one against its exact expectation.)
#
# ## 5. More subjects or more days? (`n_per_group`)
#
# Measuring each subject more often is often cheaper than recruiting more subjects. Does
# it buy as much? `n_per_group` sets the rows per subject; a grid of both sizes:

# %%
grid = mk.power_lmm(pilot, "Days", effect=5, n_groups=[10, 20], n_per_group=[5, 10, 20],
                    n_sims=200, seed=3, n_jobs=2, progress=False)
grid_power = grid.set_index(["n_groups", "n_per_group"])["power"]
grid

# %% [markdown]
# `n_per_group` cycles through each subject's rows: **5** keeps the first five, days 0 to 4
# (simr's `powerCurve(fit, along = "Days")` also keeps the first days); **20** measures
# each of days 0 to 9 twice (simr: `extend(fit, within = "Subject+Days", n = 2)`). Note
# that 5 rows are not "5 measurements spread over 10 days" but a study half as long.

# %%
ax = mk.plot_power(grid, x="n_per_group")

# %% [markdown]
# Compare the three designs with 200 observations each (`n_obs` = 200 in the table):
#
# * 20 subjects × 10 days has by far the highest power ({{grid_power[20, 10]:.2f}});
# * 10 subjects × 20 rows (each day twice: {{grid_power[10, 20]:.2f}}) gains little over
#   10 × 10 ({{grid_power[10, 10]:.2f}});
# * 20 subjects × 5 days (a study half as long: {{grid_power[20, 5]:.2f}}) lies far below
#   20 × 10, and near 10 × 10: which of the two is better, points known to about
#   ±{{((grid["conf_high"] - grid["conf_low"]) / 2).max():.2f}} cannot say.
#
# Why? A subject's estimated slope differs from the average slope for two reasons: their
# true slope differs (variance $\sigma^2_\text{slope}$, the square of the slope SD) and
# their estimate is noisy (variance $\sigma^2 / S_{xx}$, where $S_{xx}$ is the sum of
# squared deviations of the subject's days from their mean). More rows per subject shrink
# only the second part:

# %%
vc = pilot.variance_components
var_slope = vc.loc[vc["term"] == "Days", "variance"].item()
var_resid = vc.loc[vc["group"] == "Residual", "variance"].item()
designs = {"days 0-4": np.arange(5), "days 0-9": np.arange(10),
           "days 0-9 twice": np.tile(np.arange(10), 2)}
slopes = pd.DataFrame(
    [{"design": name, "S_xx": ((days - days.mean()) ** 2).sum()} for name, days in designs.items()]
).set_index("design")
slopes["true slopes"] = var_slope
slopes["estimation noise"] = var_resid / slopes["S_xx"]
slopes["total"] = slopes["true slopes"] + slopes["estimation noise"]
total = slopes["total"]
slopes

# %% [markdown]
# With 10 days, {{var_slope / total["days 0-9"]:.0%}} of the variance of a subject's slope
# is real difference between subjects, which no amount of measuring removes. Averaging
# over $G$ subjects divides the total by $G$: with $G$ = 18, $\sqrt{\text{total}/G}$ =
# {{np.sqrt(total["days 0-9"] / 18):.2f}}, the standard error of Days in the pilot fit. So
# doubling the subjects halves the variance of the mean slope; measuring each day twice
# lowers it by {{1 - total["days 0-9 twice"] / total["days 0-9"]:.0%}}; halving the span of
# days multiplies it by {{total["days 0-4"] / total["days 0-9"]:.1f}}.
#
# This also gives the power exactly. The test of Days is, in effect, the one-sample *t*
# test on the subjects' slopes (section 1), with $G - 1$ degrees of freedom. When the true
# average slope is 5, its statistic follows a noncentral *t* distribution with
# noncentrality $5 / \text{SE}$, $\text{SE} = \sqrt{\text{total} / G}$:

# %%
def t_test_power(noncentrality, df, alpha=0.05):
    """Power of a two-sided t test whose statistic is noncentral t(df, noncentrality)."""
    crit = stats.t.ppf(1 - alpha / 2, df)
    return (stats.nct.sf(crit, df, noncentrality)
            + stats.nct.cdf(-crit, df, noncentrality))


for g in (10, 20):
    slopes[f"power, {g} subjects"] = t_test_power(5 / np.sqrt(slopes["total"] / g), g - 1)
slopes

# %% [markdown]
# The exact values settle what the grid left open: 20 subjects × 5 days
# ({{slopes.loc["days 0-4", "power, 20 subjects"]:.2f}}) is no better than 10 subjects ×
# 10 days ({{slopes.loc["days 0-9", "power, 10 subjects"]:.2f}}). Side by side with the
# simulated grid, with the difference in Monte Carlo standard errors ($z$):

# %%
rows_per_subject = {5: "days 0-4", 10: "days 0-9", 20: "days 0-9 twice"}
grid_check = grid[["n_groups", "n_per_group", "power", "n_singular"]].rename(
    columns={"power": "simulated"})
grid_check["exact"] = [
    t_test_power(5 / np.sqrt(slopes.loc[rows_per_subject[r], "total"] / g), g - 1)
    for g, r in zip(grid["n_groups"], grid["n_per_group"])]
grid_check["z"] = (grid_check["simulated"] - grid_check["exact"]) / np.sqrt(
    grid_check["exact"] * (1 - grid_check["exact"]) / grid["n_sims"])
grid_check

# %% [markdown]
# The simulated powers differ from the exact ones by amounts of the size Monte Carlo error
# produces: the largest $|z|$ is {{grid_check["z"].abs().max():.1f}}. That holds even with
# 5 days, where many refits are singular and the mixed model's test is then not quite the
# *t* test on the slopes.
#
# The same formula answers the lab's question. As a function of the number of subjects
# and the slope SD, for 10 days per subject and the pilot's residual variance:

# %%
def power_days(n_subjects, slope_sd, effect=5, n_days=10):
    """Exact power of the test of Days: the one-sample t test on the subjects' slopes."""
    days = np.arange(n_days)
    s_xx = ((days - days.mean()) ** 2).sum()
    se = np.sqrt((slope_sd**2 + var_resid / s_xx) / n_subjects)
    return t_test_power(effect / se, n_subjects - 1)


subjects = np.arange(3, 101)
lab = pd.Series(power_days(subjects, np.sqrt(var_slope)), index=subjects, name="power")
n_needed = subjects[lab >= 0.8].min()
lab.loc[n_needed - 2:n_needed + 2]

# %% [markdown]
# **{{n_needed}} subjects** are the fewest that reach 80% for an effect of 5 ms/day
# ({{n_needed - 1}} give {{lab[n_needed - 1]:.2f}}), if the pilot's variance components
# are right.
#
# **If they are not.** A grant reviewer will ask: the slope SD of
# {{est["sd(Days)"]:.1f}} ms/day is an estimate from 18 subjects, with a 95% interval
# from {{ci.loc["sd(Days)", "conf_low"]:.1f}} to {{ci.loc["sd(Days)", "conf_high"]:.1f}}
# (section 1). What are the power and the sample size at either end of it? The formula
# answers at once, with the residual variance kept at the pilot's estimate (the baseline
# SD and the correlation do not enter the test of Days in this balanced design):

# %%
slope_sd = ci.loc["sd(Days)", ["conf_low", "estimate", "conf_high"]]
sensitivity = pd.DataFrame({
    "slope SD": slope_sd,
    f"power, {n_needed} subjects": power_days(n_needed, slope_sd),
    "subjects for 80%": [subjects[power_days(subjects, sd) >= 0.8].min() for sd in slope_sd],
})
sensitivity

# %% [markdown]
# Most designs have no such formula; simulation does not need one. `power_lmm(...,
# sd={"Days": ...})` simulates with another SD than the pilot's (simr:
# `VarCorr(fit) <- ...`; the correlation and the other SDs stay the pilot's):

# %%
at_sd = [mk.power_lmm(pilot, "Days", effect=5, n_groups=int(n_needed), sd={"Days": float(sd)},
                      n_sims=500, seed=1, n_jobs=2, progress=False) for sd in slope_sd]
sensitivity["simulated"] = [t.loc[0, "power"] for t in at_sd]
sensitivity["conf_low"] = [t.loc[0, "conf_low"] for t in at_sd]
sensitivity["conf_high"] = [t.loc[0, "conf_high"] for t in at_sd]
inside = ((sensitivity["conf_low"] <= sensitivity[f"power, {n_needed} subjects"])
          & (sensitivity[f"power, {n_needed} subjects"] <= sensitivity["conf_high"]))
sensitivity

# %% [markdown]
# With 500 data sets a point the simulated power agrees with the formula: the exact value
# lies inside the Monte Carlo interval at {{inside.sum():words}} of the three SDs.
#
# The upper end drives the sample size: if slopes vary as much as the interval allows,
# {{n_needed}} subjects give a power of only
# {{power_days(n_needed, slope_sd["conf_high"]):.2f}} and
# {{sensitivity.loc["conf_high", "subjects for 80%"]}} are needed, while at the lower end
# {{sensitivity.loc["conf_low", "subjects for 80%"]}} would do.
#
# The rule holds beyond this example: **replicate at the level where the effect varies.**
# The effect of Days varies between subjects, so subjects are what count, and the
# variance between subjects decides how many.
#
# ## 6. No pilot data: a cluster-randomised trial (`simulate_lmm`)
#
# The school district has no pilot. The plan: randomise classes of 20 pupils, half to
# the reading programme and half to the usual lessons, and compare a standardised reading
# score. Suppose published studies of similar scores suggest an intraclass correlation of
# about $\text{ICC} = 0.1$, and the smallest effect worth detecting is $d = 0.4$ SD.
#
# `mk.simulate_lmm` builds this model from those numbers. With `effects={}` and
# `treatment_effect=` it makes a two-arm cluster-randomised trial: a 0/1 column
# `treatment`, constant within a class and alternating between classes. Setting the
# residual SD to $\sqrt{1 - \text{ICC}}$ makes the total variance
# $\sigma^2_\text{class} + \sigma^2$ equal 1, so the effect $d$ is in SDs of the score.

# %%
icc, m, d = 0.1, 20, 0.4
trial = mk.simulate_lmm(n_groups=20, n_per_group=m, icc=icc, sigma=(1 - icc) ** 0.5,
                        effects={}, treatment_effect=d, seed=4)
print(trial.attrs["formula"])
trial.attrs["truth"]

# %% [markdown]
# Given such a frame, `power_lmm` simulates from the parameters in `.attrs["truth"]`
# (the class SD `tau`, the residual SD `sigma` and the `treatment_effect`) on the frame's
# design; the simulated scores in the frame itself are not used. This is simr's
# `makeLmer(formula, fixef, VarCorr, sigma, data)`, with the parameters given as an ICC
# and an effect size.
#
# `n_groups` counts classes in both arms together. The copies alternate between the arms,
# so every even number of classes is balanced. This curve runs the default 1,000 data
# sets per point, since section 7 compares it with an exact answer (a model with a
# random intercept only refits quickly).

# %%
crt = mk.power_lmm(trial, "treatment", n_groups=[8, 12, 16, 24, 32, 40], n_sims=1000,
                   seed=5, n_jobs=2, progress=False)
crt_below = crt.loc[crt["power"] < 0.8, "n_groups"].max()
crt_above = crt.loc[crt["power"] >= 0.8, "n_groups"].min()
crt

# %% [markdown]
# The simulated power passes 80% between {{crt_below}} and {{crt_above}} classes. Before
# narrowing that down, we check the simulation.
#
# ## 7. Checking the simulation against the exact answer
#
# This design has an exact answer. Take the mean score of each class. With $K$ classes,
# $K/2$ per arm, each class mean has variance $\sigma^2_\text{class} + \sigma^2/m$ =
# ICC + (1 − ICC)/m, and the difference between the two arms' averages has $4/K$ times
# that variance. Comparing the arms with a two-sample *t* test on the class means has
# $K - 2$ degrees of freedom ($2G - 2$ with $G$ classes per arm), and under the
# alternative its statistic follows a noncentral *t* distribution with noncentrality
# $d / \text{SE}$.
#
# In a balanced design the mixed model's Satterthwaite test of `treatment` is this same
# test (the same *t*, $K - 2$ df) whenever the class variance is estimated above 0; the
# two differ only in the singular refits. So the simulated power must agree with the
# noncentral *t* power within Monte Carlo error.

# %%
def cluster_t_power(n_classes, m, icc, d, alpha=0.05):
    """Power of the t test on class means: two equal arms, total variance 1."""
    k = np.asarray(n_classes)
    se = np.sqrt((icc + (1 - icc) / m) * 4 / k)   # SD of the difference of the arm means
    return t_test_power(d / se, k - 2, alpha)


def against_exact(table):
    exact = cluster_t_power(table["n_groups"], m, icc, d)
    mc_se = np.sqrt(exact * (1 - exact) / table["n_sims"])
    return pd.DataFrame({
        "classes": table["n_groups"], "exact": exact, "simulated": table["power"],
        "z": (table["power"] - exact) / mc_se,
        "inside 95% interval": (table["conf_low"] <= exact) & (exact <= table["conf_high"]),
    })


check = against_exact(crt)
check

# %% [markdown]
# $z$ is the difference in Monte Carlo standard errors. The exact power lies inside the
# simulated point's 95% interval at {{check["inside 95% interval"].sum():words}} of the
# {{len(check):words}} sizes; the largest $|z|$ is {{check["z"].abs().max():.1f}}. The
# same comparison as a plot, with `label=` naming the simulated curve in the legend:

# %%
ax = mk.plot_power(crt, label="simulated (1,000 data sets per point)")
k = np.arange(8, 41, 2)
ax.plot(k, cluster_t_power(k, m, icc, d), color="black", linewidth=1,
        label="exact: t test on class means")
ax.set_xlabel("classes (both arms)")
legend = ax.legend(loc="lower right")

# %% [markdown]
# Two facts help to read such a comparison. Each interval is a 95% interval for its own
# point, so a correct simulation leaves an exact value outside its interval now and then.
# And the points of one curve are not independent checks: they share their draws (common
# random numbers, section 3), so they err together, and the level of a whole curve is
# known no better than a single point. A search for a bias repeats the simulation with
# other seeds rather than adding points to one curve; mixedkit's own tests compare
# `power_lmm` with the noncentral *t* power for several designs and seeds. When a decision
# depends on a simulated power, run it again with another seed or more simulations.
#
# The singular refits can be checked too. The REML estimate of the class variance is 0
# exactly when the mean square between classes (within arms, $K - 2$ df) is no larger than
# the mean square within classes ($K(m - 1)$ df). Their ratio, divided by
# $(\sigma^2 + m\sigma^2_\text{class}) / \sigma^2 = 1 + m\,\text{ICC}/(1 - \text{ICC})$,
# follows an *F* distribution, which gives the expected number of singular refits. A count
# with expectation $\mu$ varies by about $\pm\sqrt{\mu}$:

# %%
variance_ratio = 1 + m * icc / (1 - icc)
k = crt["n_groups"]
expected = crt["n_sims"] * stats.f.cdf(1 / variance_ratio, k - 2, k * (m - 1))
singular_check = pd.DataFrame({"classes": k, "singular, simulated": crt["n_singular"],
                               "singular, expected": expected,
                               "difference / √expected": (crt["n_singular"] - expected)
                               / np.sqrt(expected)})
singular_check

# %% [markdown]
# Singular refits are common only with few classes: {{crt["n_singular"].iloc[0]}} of
# {{crt["n_sims"].iloc[0]}} with {{crt["n_groups"].iloc[0]}} classes,
# {{crt["n_singular"].iloc[-1]}} with {{crt["n_groups"].iloc[-1]}}. The simulated counts lie within $\pm 2\sqrt{\mu}$ of their
# expectation at {{(singular_check["difference / √expected"].abs() <= 2).sum():words}} of
# the {{len(singular_check):words}} sizes.
#
# ## 8. More classes or bigger classes?
#
# With the exact formula, other designs cost nothing to try. Power with 24 classes, as
# the class size grows:

# %%
class_sizes = np.array([5, 10, 20, 40, 80, np.inf])
bigger = pd.DataFrame({"pupils per class": class_sizes,
                       "power with 24 classes": cluster_t_power(24, class_sizes, icc, d)})
bigger

# %% [markdown]
# Power levels off: even with infinitely large classes (the last row) each class mean
# still carries the class's own deviation, with variance ICC, and 24 classes give only
# {{bigger["power with 24 classes"].iloc[-1]:.2f}}. As with the subjects' slopes in
# section 5, what counts is replication at the level where the treatment is assigned:
# here, classes.
#
# How much does randomising classes instead of pupils cost? With `icc=0` and `m=1` the
# function is the ordinary two-sample *t* test on pupils:

# %%
n_pupils = next(n for n in range(4, 1000, 2) if cluster_t_power(n, 1, 0.0, d) >= 0.8)
n_classes = next(k for k in range(4, 200, 2) if cluster_t_power(k, m, icc, d) >= 0.8)
design_effect = 1 + (m - 1) * icc
print(f"pupils randomised one by one: {n_pupils} pupils")
print(f"classes randomised:           {n_classes} classes = {n_classes * m} pupils")
print(f"design effect 1 + (m - 1) ICC = {design_effect:.1f}")

# %% [markdown]
# The cluster trial needs about {{n_classes * m / n_pupils:.1f}} times as many pupils.
# Most of that is the design effect of {{design_effect:.1f}} (notebook 01): 20 pupils of
# one class carry the information of 20 / {{design_effect:.1f}} ≈
# {{m / design_effect:.0f}} independent pupils. The rest comes from rounding to an even
# number of classes and from a *t* test with {{n_classes - 2}} rather than
# {{n_pupils - 2}} degrees of freedom.
#
# ## 9. Which test?
#
# `power_lmm` uses the pilot fit's test unless told otherwise (`test=`):
#
# * `"satterthwaite"` (the default, lmerTest's) and `"kenward-roger"`: *t* and F tests
#   with small-sample degrees of freedom. simr's default for a numeric predictor in an
#   `lmer` model is Kenward–Roger; in balanced designs like these the two agree.
# * `"normal"`: a *z* test, as if the degrees of freedom were infinite.
# * `"lrt"`: a likelihood-ratio test of maximum-likelihood fits with and without the term,
#   against χ²; simr's `fixed("Days", "lr")`.
#
# A test that rejects too often also looks more powerful, so first check the type I
# error. With `effect=0` the "power" is the rejection rate when the null hypothesis is
# true, which should be 0.05. An extreme case, 4 subjects, for both tests on the same
# simulated data sets (same seed). The differences that matter here are a few percentage
# points, so this cell runs 1,000 data sets per test (4 subjects fit fast):

# %%
null = {test: mk.power_lmm(pilot, "Days", effect=0, n_groups=4, n_sims=1000, seed=7,
                           test=test, n_jobs=2, progress=False)
        for test in ("satterthwaite", "lrt")}
type_one = pd.concat(null, names=["test", None]).droplevel(1)[
    ["n_groups", "power", "conf_low", "conf_high", "n_singular"]]
type_one.rename(columns={"power": "type I error"})

# %% [markdown]
# (The warning is about the 4 subjects: a design this small is here only to show the
# problem.) Satterthwaite's test rejects a true null hypothesis in
# {{type_one.loc["satterthwaite", "power"]:.1%}} of the data sets, close to the nominal 5%
# (95% interval {{type_one.loc["satterthwaite", "conf_low"]:.3f}} to
# {{type_one.loc["satterthwaite", "conf_high"]:.3f}}). The likelihood-ratio test, on the
# same data sets, rejects in {{type_one.loc["lrt", "power"]:.1%}}: its interval
# ({{type_one.loc["lrt", "conf_low"]:.3f}} to {{type_one.loc["lrt", "conf_high"]:.3f}})
# lies above 0.05.
#
# The likelihood-ratio test is too liberal with few groups (notebook 06 showed the same
# with 9 subjects): its χ² reference distribution is a large-sample result, which ignores
# that the variances are estimated from a handful of subjects (like a *z* test used in
# place of a *t* test), and maximum likelihood underestimates those variances (the ML fits
# the test needs are singular more often than the REML fits:
# {{type_one.loc["lrt", "n_singular"]}} against
# {{type_one.loc["satterthwaite", "n_singular"]}} of 1,000; REML reduces that bias but does
# not remove it). The excess shrinks as subjects are added, slowly. A liberal test's extra
# "power" is bought with false positives.
#
# **Which test to plan with.** The rule of these notebooks: fixed effects are tested with
# *t* and F tests with Satterthwaite (the default) or Kenward–Roger degrees of freedom
# (`fit.fixed_effects`, `fit.anova()`, `fit.contrasts()`), also for several coefficients
# at once (a multi-df F test from `fit.anova()`); the χ² likelihood-ratio test of fixed
# effects (ML fits) is liberal with few groups and is for large samples only. Variance
# components are tested differently: by a likelihood-ratio test on REML fits with the
# boundary (50:50 mixture) correction (`mk.compare_models`, notebook 03), or by a
# parametric bootstrap. Plan with the test the analysis will use, and write that test
# into the analysis plan.
#
# ## Summary
#
# | question | simr (R) | mixedkit |
# |---|---|---|
# | power of one design | `powerSim(fit, fixed("Days", "sa"), nsim = 1000)` | `mk.power_lmm(fit, "Days")` |
# | a smaller effect | `fixef(fit)["Days"] <- 5` | `effect=5` (a list: a curve over effects) |
# | more groups | `extend(fit, along = "Subject", n = 30)`, then `powerCurve(..., along = "Subject")` | `n_groups=[10, 20, 30]` |
# | more rows per group | `extend(fit, within = "Subject+Days", n = 2)` | `n_per_group=20` |
# | fewer days (the first ones) | `powerCurve(fit, along = "Days")` | `n_per_group=5` |
# | no pilot data | `makeLmer(formula, fixef, VarCorr, sigma, data)` | `mk.simulate_lmm(..., icc=, treatment_effect=)` as the model |
# | the test | `fixed("Days", "sa" / "kr" / "z" / "lr")` | `test="satterthwaite"` / `"kenward-roger"` / `"normal"` / `"lrt"` |
# | Monte Carlo interval | `confint(ps)` (Clopper–Pearson) | `conf_low`, `conf_high` (Clopper–Pearson) |
# | the plot | `plot(pc)` | `mk.plot_power(curve)`; `label=` and `ax=` put several curves on one plot |
# | reproducible | `seed =` | `seed=` (the same table on every executor) |
#
# From a shell, `mixedkit power DATA FORMULA TERM --effect 5 --n-groups 6,10,14 --sims 1000
# --seed 1` does the same as `power_lmm`.
#
# What the examples showed:
#
# * plan for the smallest effect that matters, not the pilot's estimate;
# * power depends on replication at the level where the effect varies: subjects for a
#   slope that varies between subjects, classes for a class-randomised treatment;
# * the pilot's variance components are estimates too: compute the power at the ends of
#   their confidence intervals (`fit.confint()`), since the sample size may hinge on them;
# * a simulated power has Monte Carlo error; the points of one curve share it, so confirm
#   a decisive number with another seed or more simulations;
# * many singular refits mean a fragile design, whatever its power;
# * check the test's type I error before trusting its power: with few groups the
#   likelihood-ratio test rejects too often.
#
# **Report** with a power analysis: the effect and why it was chosen; where the variance
# components came from, and the power at the ends of their intervals; the design; the
# test and α; `n_sims`, the Monte Carlo interval and the seed.
