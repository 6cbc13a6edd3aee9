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
# singular refits; to compute power without pilot data from `mk.simulate_lmm`, and to
# check it against an exact answer; why the choice of test matters; and how to run the
# simulations on more cores. If you know R's **simr**: `powerSim`, `powerCurve`,
# `extend` and `makeLmer` all have a counterpart here, named as we go and listed in the
# summary.
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
pilot.fixed_effects

# %% [markdown]
# Reaction time rises by 10.5 ms per day (standard error 1.55). The test of Days has 17
# degrees of freedom, the number of subjects minus 1: in this balanced design (every
# subject measured on the same 10 days) the test of Days is, in effect, a one-sample
# *t* test on the 18 subjects' own slopes. Information about the slope comes from
# subjects, which will matter below.

# %%
pilot.variance_components

# %% [markdown]
# The simulations start from these estimates: baselines vary between subjects with an SD
# of 24.7 ms, slopes with an SD of 5.9 ms/day, the two are nearly uncorrelated (0.07), and
# the residual SD is 25.6 ms. They are estimates from 18 subjects, not known values: a
# power analysis is only as good as the parameters it starts from.
#
# **Which effect?** Not the pilot's estimate. The estimate of a small study is noisy (the
# 95% interval for Days runs from 7.2 to 13.7 ms/day), and the power at a study's own
# estimate ("observed power") only restates its p-value. Plan for the smallest effect that
# would matter. Here: 5 ms/day, about half the pilot's.
#
# ## 2. Power for one design (simr: `powerSim`)

# %%
one = mk.power_lmm(pilot, "Days", effect=5, n_sims=200, seed=1, n_jobs=2, progress=False)
power, n_sims = one.loc[0, "power"], one.loc[0, "n_sims"]
print(f"The test rejected in {round(power * n_sims)} of {n_sims} data sets: power {power:.3f}, "
      f"95% interval {one.loc[0, 'conf_low']:.2f} to {one.loc[0, 'conf_high']:.2f}.")
one

# %% [markdown]
# What the call did:
#
# * `"Days"` is the term to test, as `fit.anova()` names it.
# * `effect=5` replaces the coefficient of Days in the simulations (simr:
#   `fixef(fit)["Days"] <- 5`). Everything else stays at the pilot's estimates.
# * No design was given, so the design is the pilot's: 18 subjects, 10 days each.
# * The test is the pilot fit's: Satterthwaite's *t* test (`one.attrs["test"]`). In simr
#   this is `powerSim(fit, fixed("Days", "sa"), nsim = 200)`.
# * `n_sims=200` data sets keep this notebook quick (the default is 1000); `seed=1`
#   makes the result reproducible; `n_jobs=2` runs the refits in two processes;
#   `progress=False` turns off the progress bar.
#
# The columns:
#
# * **power**: the share of the 200 data sets in which the test rejected (p < 0.05); the
#   line above the table counts them.
# * **conf_low, conf_high**: an exact binomial (Clopper–Pearson) 95% interval, as simr
#   prints. 200 data sets pin the power down only to about ±0.05.
# * **n_failed**: refits that failed; they are left out of the power.
# * **n_singular**: refits in which a variance was estimated as 0 (or a correlation as
#   ±1), lme4's "singular fit". They are counted in the power, since they were tested.
#
# With 18 subjects the study has a good chance of detecting 5 ms/day. Would fewer do?
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
below = curve.loc[curve["power"] < 0.8, "n_groups"].max()
above = curve.loc[curve["power"] >= 0.8, "n_groups"].min()
print(f"simulated power: below 80% with {below} subjects, at or above it with {above}")
ax = mk.plot_power(curve)

# %% [markdown]
# The dashed line is the usual target, 80%. The curve crosses it between two of the sizes
# simulated; where in between, 200 simulations per point cannot say, since each point is
# known only to about ±0.05 to 0.07 (the error bars). Section 5 computes the answer exactly.
#
# ## 4. Monte Carlo error
#
# A simulated power is an estimate from `n_sims` data sets. Its standard error is
# $\sqrt{p(1-p)/n_\text{sims}}$; at a power of 0.8:

# %%
for n_sims in (200, 1000, 5000):
    se = np.sqrt(0.8 * 0.2 / n_sims)
    print(f"n_sims = {n_sims:4d}: Monte Carlo SE {se:.3f}, 95% interval about ±{1.96 * se:.3f}")

# %% [markdown]
# To halve the interval, quadruple `n_sims`. A practical recipe: a coarse curve with a few
# hundred simulations to find where the power crosses the target, then a few sizes near
# the crossing (here `n_groups=[14, 16, 18]`) with a few thousand.
#
# **Singular refits.** The column `n_singular` of the curve counts them:

# %%
for size in (6, 18):
    n_sing = curve.loc[curve["n_groups"] == size, "n_singular"].item()
    print(f"{size:2d} subjects: {n_sing:3d} of 200 refits singular ({n_sing / 200:.0%})")

# %% [markdown]
# With 6 subjects a sizeable share of the refits are singular, with 18 only a few. From 6
# subjects the model often cannot tell a small slope SD from none, or the correlation of
# baseline and slope from ±1. In the real study such a fit comes with a singular-fit
# warning and variance estimates nobody trusts. A design with many singular refits is
# fragile even where its power looks acceptable. (`n_singular` is itself a Monte Carlo
# count: section 7 checks one against its exact expectation.)
#
# ## 5. More subjects or more days? (`n_per_group`)
#
# Measuring each subject more often is often cheaper than recruiting more subjects. Does
# it buy as much? `n_per_group` sets the rows per subject; a grid of both sizes:

# %%
grid = mk.power_lmm(pilot, "Days", effect=5, n_groups=[10, 20], n_per_group=[5, 10, 20],
                    n_sims=200, seed=3, n_jobs=2, progress=False)
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
# * 20 subjects × 10 days has by far the highest power;
# * 10 subjects × 20 rows (each day twice) gains little over 10 × 10;
# * 20 subjects × 5 days (a study half as long) lies far below 20 × 10, and about level
#   with 10 × 10: which of the two is better, points known to ±0.07 cannot say.
#
# Why? A subject's estimated slope differs from the average slope for two reasons: their
# true slope differs (variance $\sigma^2_\text{slope}$ = 5.9² = 35.1) and their estimate is
# noisy (variance $\sigma^2 / S_{xx}$, where $S_{xx}$ is the sum of squared deviations of
# the subject's days from their mean). More rows per subject shrink only the second part:

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
slopes

# %% [markdown]
# With 10 days, 82% of the variance of a subject's slope is real difference between
# subjects, which no amount of measuring removes. Averaging over $G$ subjects divides the
# total by $G$: with $G$ = 18, $\sqrt{43.0/18}$ = 1.55, the standard error of Days in the
# pilot fit. So doubling the subjects halves the variance of the mean slope; measuring
# each day twice lowers it by 9%; halving the span of days multiplies it by 2.3.
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
# The exact values settle what the grid left open: 20 subjects × 5 days (0.56) is no
# better than 10 subjects × 10 days (0.58). Side by side with the simulated grid, with the
# difference in Monte Carlo standard errors ($z$):

# %%
rows_per_subject = {5: "days 0-4", 10: "days 0-9", 20: "days 0-9 twice"}
grid_check = grid[["n_groups", "n_per_group", "power", "n_singular"]].rename(
    columns={"power": "simulated"})
grid_check["exact"] = [
    t_test_power(5 / np.sqrt(slopes.loc[rows_per_subject[r], "total"] / g), g - 1)
    for g, r in zip(grid["n_groups"], grid["n_per_group"])]
grid_check["z"] = (grid_check["simulated"] - grid_check["exact"]) / np.sqrt(
    grid_check["exact"] * (1 - grid_check["exact"]) / grid["n_sims"])
print(f"largest |z|: {grid_check['z'].abs().max():.1f}")
grid_check

# %% [markdown]
# The simulated powers differ from the exact ones by amounts of the size Monte Carlo error
# produces (the largest $|z|$ is printed above the table). That holds even with 5 days,
# where many refits are singular and the mixed model's test is then not quite the *t* test
# on the slopes.
#
# The same formula answers the lab's question: with 10 days per subject, 14 subjects give
# a power of 0.75, 16 give 0.81 and 18 give 0.86. **16 subjects** reach 80% for an effect
# of 5 ms/day, if the pilot's variance components are right.
#
# The rule holds beyond this example: **replicate at the level where the effect varies.**
# The effect of Days varies between subjects, so subjects are what count.
#
# ## 6. No pilot data: a cluster-randomised trial (`simulate_lmm`)
#
# The school district has no pilot. The plan: randomise classes of 20 pupils, half to
# the reading programme and half to the usual lessons, and compare a standardised reading
# score. Suppose published studies of similar scores suggest an intraclass correlation
# (ICC) of about 0.1, and the smallest effect worth detecting is 0.4 SD.
#
# `mk.simulate_lmm` builds this model from those numbers. With `effects={}` and
# `treatment_effect=` it makes a two-arm cluster-randomised trial: a 0/1 column
# `treatment`, constant within a class and alternating between classes. Setting the
# residual SD to $\sqrt{1 - \text{ICC}}$ makes the total variance
# $\sigma^2_\text{class} + \sigma^2$ equal 1, so the effect of 0.4 is in SDs of the score.

# %%
icc, m, d = 0.1, 20, 0.4
trial = mk.simulate_lmm(n_groups=20, n_per_group=m, icc=icc, sigma=(1 - icc) ** 0.5,
                        effects={}, treatment_effect=d, seed=4)
print(trial.attrs["formula"])
trial.attrs["truth"]

# %% [markdown]
# Given such a frame, `power_lmm` simulates from the parameters in `.attrs["truth"]`
# (class SD `tau` = 0.316, residual SD 0.949, effect 0.4) on the frame's design; the
# simulated scores in the frame itself are not used. This is simr's `makeLmer(formula,
# fixef, VarCorr, sigma, data)`, with the parameters given as an ICC and an effect size.
#
# `n_groups` counts classes in both arms together. The copies alternate between the arms,
# so every even number of classes is balanced.

# %%
crt = mk.power_lmm(trial, "treatment", n_groups=[8, 12, 16, 24, 32, 40], n_sims=300,
                   seed=5, n_jobs=2, progress=False)
crt

# %% [markdown]
# Somewhere between 24 and 40 classes the power passes 80%. Before narrowing that down,
# we check the simulation.
#
# ## 7. Checking the simulation against the exact answer
#
# This design has an exact answer. Take the mean score of each class. With $K$ classes,
# $K/2$ per arm, each class mean has variance $\sigma^2_\text{class} + \sigma^2/m$ =
# ICC + (1 − ICC)/m = 0.145, and the difference between the two arms' averages has
# variance $0.145 \cdot 4/K$. Comparing the arms with a two-sample *t* test on the class
# means has $K - 2$ degrees of freedom ($2G - 2$ with $G$ classes per arm), and under the
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
print(f"exact power inside the 95% interval at {check['inside 95% interval'].sum()} of "
      f"{len(check)} sizes; simulated above exact at {(check['z'] > 0).sum()}, "
      f"below at {(check['z'] < 0).sum()}")
check

# %% [markdown]
# $z$ is the difference in Monte Carlo standard errors. The same comparison as a plot,
# with `label=` naming the simulated curve in the legend:

# %%
ax = mk.plot_power(crt, label="simulated (300 data sets per point)")
k = np.arange(8, 41, 2)
ax.plot(k, cluster_t_power(k, m, icc, d), color="black", linewidth=1,
        label="exact: t test on class means")
ax.set_xlabel("classes (both arms)")
legend = ax.legend(loc="lower right")

# %% [markdown]
# Two things to keep in mind when reading such a comparison:
#
# * Each interval is a 95% interval for its own point: across six points, an exact value
#   outside its interval now and then is to be expected.
# * The six points are not six independent checks. They share their draws (common random
#   numbers, section 3): the 8-class data sets are the first 8 classes of the 40-class
#   data sets, with the same class effects and residuals. Draws in which the programme
#   happens to look weak make it look weak at every size, so the points of one run err
#   together, and a whole curve can sit one or two standard errors above or below the
#   exact one. That is the price of a smooth curve: neighbouring points are compared
#   precisely, but the level of the curve is known no better than a single point. $z$
#   values of one sign are therefore weak evidence of a bias; the way to look for one is
#   more simulations or other seeds, not more points on the same curve. (mixedkit's own
#   tests make this comparison with 1,000 simulations per point.)
#
# When a decision depends on a simulated power, run it again with another seed or more
# simulations.
#
# The singular refits can be checked too. The REML estimate of the class variance is 0
# exactly when the mean square between classes (within arms, $K - 2$ df) is no larger than
# the mean square within classes ($K(m - 1)$ df). Their ratio, divided by
# $(\sigma^2 + m\sigma^2_\text{class}) / \sigma^2 = 1 + m\,\text{ICC}/(1 - \text{ICC})$
# = 3.22, follows an *F* distribution, which gives the expected number of singular refits:

# %%
variance_ratio = 1 + m * icc / (1 - icc)
k = crt["n_groups"]
pd.DataFrame({"classes": k, "singular, simulated": crt["n_singular"],
              "singular, expected": crt["n_sims"] * stats.f.cdf(1 / variance_ratio, k - 2,
                                                                k * (m - 1))})

# %% [markdown]
# Singular refits are common only with few classes, and the simulated counts match their
# expectation within Monte Carlo error (a count with expectation $\mu$ varies by about
# $\pm\sqrt{\mu}$).
#
# ## 8. More classes or bigger classes?
#
# With the exact formula, other designs cost nothing to try. Power with 24 classes, as
# the class size grows:

# %%
class_sizes = np.array([5, 10, 20, 40, 80, np.inf])
pd.DataFrame({"pupils per class": class_sizes,
              "power with 24 classes": cluster_t_power(24, class_sizes, icc, d)})

# %% [markdown]
# Power levels off: even with infinitely large classes (the last row) each class mean
# still carries the class's own deviation, with variance ICC = 0.1, and 24 classes give
# only 0.84. As with the subjects' slopes in section 5, what counts is replication at the
# level where the treatment is assigned: here, classes.
#
# How much does randomising classes instead of pupils cost? With `icc=0` and `m=1` the
# function is the ordinary two-sample *t* test on pupils:

# %%
n_pupils = next(n for n in range(4, 1000, 2) if cluster_t_power(n, 1, 0.0, d) >= 0.8)
n_classes = next(k for k in range(4, 200, 2) if cluster_t_power(k, m, icc, d) >= 0.8)
print(f"pupils randomised one by one: {n_pupils} pupils")
print(f"classes randomised:           {n_classes} classes = {n_classes * m} pupils")
print(f"design effect 1 + (m - 1) ICC = {1 + (m - 1) * icc:.1f}")

# %% [markdown]
# The cluster trial needs about 3.2 times as many pupils. Most of that is the design
# effect of 2.9 (notebook 01): 20 pupils of one class carry the information of
# 20 / 2.9 ≈ 7 independent pupils. The rest comes from rounding to an even number of
# classes and from a *t* test with 30 rather than 198 degrees of freedom.
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
# simulated data sets (same seed). The differences that matter here are small (0.05
# against 0.08, say), so this cell runs 1,000 data sets per test (4 subjects fit fast):

# %%
null = {test: mk.power_lmm(pilot, "Days", effect=0, n_groups=4, n_sims=1000, seed=7,
                           test=test, n_jobs=2, progress=False)
        for test in ("satterthwaite", "lrt")}
for test, table in null.items():
    r = table.iloc[0]
    print(f"{test:>13}: rejects a true null in {r['power']:.1%} of the data sets "
          f"(95% interval {r['conf_low']:.3f} to {r['conf_high']:.3f})")
type_one = pd.concat(null, names=["test", None])[
    ["n_groups", "power", "conf_low", "conf_high", "n_singular"]]
type_one.rename(columns={"power": "type I error"})

# %% [markdown]
# Satterthwaite's test rejects a true null hypothesis at close to the nominal 5%. The
# likelihood-ratio test, on the same data sets, rejects clearly more often: its interval
# lies above 0.05.
#
# The likelihood-ratio test is too liberal with few groups (notebook 06 showed the same
# with 9 subjects): its χ² reference distribution is a large-sample result, which ignores
# that the variances are estimated from a handful of subjects (like a *z* test used in
# place of a *t* test), and maximum likelihood underestimates those variances (the ML fits
# the test needs are singular more often than the REML fits: `n_singular`). The excess
# shrinks as subjects are added, slowly. A liberal test's extra "power" is bought with
# false positives. Plan with the test the analysis will use, and write that test into the
# analysis plan.
#
# ## 10. Running it on more cores
#
# Every simulated data set is fitted independently, so the work spreads over processes:
#
# * `n_jobs=` sets the number of worker processes on this machine (default: every core);
# * `executor=` accepts any `concurrent.futures.Executor`, or a dask `distributed.Client`.
#
# Each simulated data set carries its own random stream, derived from `seed`, so the
# table does not depend on where or in which order the refits ran:

# %%
from concurrent.futures import ThreadPoolExecutor

settings = {"n_groups": [12, 24], "n_sims": 100, "seed": 8, "progress": False}
serial = mk.power_lmm(trial, "treatment", n_jobs=1, **settings)
two_processes = mk.power_lmm(trial, "treatment", n_jobs=2, **settings)
with ThreadPoolExecutor(max_workers=2) as pool:
    threads = mk.power_lmm(trial, "treatment", executor=pool, **settings)
print("1 process = 2 processes:", serial.equals(two_processes))
print("1 process = 2 threads:  ", serial.equals(threads))

# %% [markdown]
# The thread pool is here only because it is the simplest executor to create; on one
# machine the default process pool (`n_jobs`) is the usual choice. For thousands of
# simulations over many designs, a dask cluster (`pip install "mixedkit[dask]"`) takes the
# same call; the data and the design are sent to each worker once:
#
# ```python
# from distributed import Client
#
# client = Client("tcp://scheduler-address:8786")   # or Client() for a local cluster
# curve = mk.power_lmm(pilot, "Days", effect=5, n_groups=[10, 14, 18, 22],
#                      n_sims=5000, seed=1, executor=client)
# ```
#
# With `seed=1` this gives the same table as `n_jobs=1` on a laptop, only sooner.
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
# * a simulated power has Monte Carlo error; the points of one curve share it, so confirm
#   a decisive number with another seed or more simulations;
# * many singular refits mean a fragile design, whatever its power;
# * check the test's type I error before trusting its power: with few groups the
#   likelihood-ratio test rejects too often.
#
# **Report** with a power analysis: the effect and why it was chosen; where the variance
# components came from; the design; the test and α; `n_sims`, the Monte Carlo interval
# and the seed.
