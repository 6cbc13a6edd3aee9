# ruff: noqa: B018
# Source of notebooks/09_repeated_measures.ipynb (percent format: `# %%` starts a code cell,
# `# %% [markdown]` a markdown cell). Edit here, then run
# `python notebooks/make_notebooks.py`; see notebooks/README.md.

# %% [markdown]
# # 09 · Repeated measures: a clinical trial with dropout, analysed by MMRM
#
# **The story.** A two-arm randomised trial compares a new treatment (TRT) with placebo
# (PBO). Each patient's score is measured at baseline and at several visits afterwards;
# the outcome is the change from baseline, `chg`. Some patients leave the trial early,
# and those who are doing badly leave more often, more of them on placebo. What is the
# treatment effect at the last visit?
#
# The standard answer in a statistical analysis plan is the **MMRM**, the *mixed model
# for repeated measures*: a linear model of `chg` on treatment, visit, their interaction
# and the baseline, with an unstructured covariance between a patient's visits, fitted by
# REML, with Kenward–Roger degrees of freedom. It uses every observed visit of every
# patient, and it is valid when dropout depends on what was observed before it
# (*missing at random*, MAR).
#
# **You will learn** to fit an MMRM with `mk.fit_lmm("chg ~ base + arm * visit +
# us(visit | subject)", ...)`; why complete cases and last observation carried forward
# (LOCF) are biased under MAR dropout; to read the estimated covariance between visits
# (`fit.residual_covariance`); to compare covariance structures (`ar1`, `cs`, `toep`,
# `csh`, `us`) with `mk.compare_models`, and why the primary analysis is pre-specified
# anyway; arm-by-visit means and the treatment effect at each visit (`marginal_means`,
# `contrasts`, `mk.plot_means`); Satterthwaite, Kenward–Roger and sandwich standard
# errors; and residual diagnostics with normalised residuals. If you know SAS PROC MIXED
# or R's **mmrm**, the summary names their counterparts.
#
# *Assumed background:* notebook 06 (factors, `anova`, `marginal_means`, `contrasts`);
# notebook 03 for REML, AIC and likelihood-ratio tests. No random effects are needed here.

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from scipy import stats
from scipy.special import expit

import mixedkit as mk

pd.set_option("display.precision", 3)
pd.set_option("display.width", 120)
pd.set_option("display.max_colwidth", 60)

# %% [markdown]
# ## 1. The trial (simulated)
#
# The data are simulated, so that every estimate can be compared with the truth. The
# model that generates them:
#
# * patients are randomised 1:1 to PBO and TRT; each has a baseline score `base`;
# * `chg` at each visit = a placebo mean that rises over the visits + the treatment effect
#   at that visit (none at the first visit, growing to its largest at the last) + a
#   baseline effect (patients with a high baseline improve less) + an error;
# * the errors of one patient are correlated: their SD grows over the visits, and their
#   correlation falls with the *weeks* between two visits towards a floor. The visits are
#   not equally spaced, so this is neither AR(1) nor Toeplitz (both assume that the
#   correlation depends on the number of visits in between): exactly the situation for
#   which the unstructured covariance is the safe choice;
# * **dropout**: after each visit, a patient still in the trial leaves before the next
#   visit with a probability that rises as their `chg` at that visit falls (a logistic
#   model). Dropout depends only on what was observed, so it is *missing at random*; TRT
#   patients improve more, so fewer of them leave. A patient who leaves does not return
#   (monotone dropout).

# %%
WEEKS = np.array([2, 4, 8, 12, 16])
VISITS = [f"W{w}" for w in WEEKS]
N_PER_ARM = 150

PBO_MEAN = np.array([1.0, 2.0, 3.0, 3.5, 4.0])   # mean chg on placebo at each visit
EFFECT = np.array([0.0, 0.75, 1.5, 2.25, 3.0])   # true treatment effect (TRT - PBO)
BASE_MEAN, BASE_SD, BASE_COEF = 50.0, 8.0, -0.2  # baseline and its effect on chg
SD = np.array([3.0, 3.5, 4.0, 4.5, 5.0])         # error SD at each visit
GAP = np.abs(WEEKS[:, None] - WEEKS[None, :])    # weeks between two visits
CORR = 0.3 + 0.7 * np.exp(-GAP / 8)              # error correlation
COV = np.outer(SD, SD) * CORR
DROP_A, DROP_B = -2.6, -0.35                     # logit P(leave) = a + b (chg - PBO mean)


def draw(n_per_arm=N_PER_ARM, seed=2024):
    """One trial as arrays: arm (0 PBO, 1 TRT), baseline, chg at every visit (had
    nobody left) and which visits were observed (monotone MAR dropout)."""
    rng = np.random.default_rng(seed)
    trt = np.repeat([0, 1], n_per_arm)
    base = rng.normal(BASE_MEAN, BASE_SD, len(trt))
    mean = PBO_MEAN + trt[:, None] * EFFECT + BASE_COEF * (base[:, None] - BASE_MEAN)
    chg = mean + rng.multivariate_normal(np.zeros(len(WEEKS)), COV, size=len(trt))
    observed = np.ones(chg.shape, bool)
    for k in range(1, len(WEEKS)):
        leave = rng.random(len(trt)) < expit(DROP_A + DROP_B * (chg[:, k - 1] - PBO_MEAN[k - 1]))
        observed[:, k] = observed[:, k - 1] & ~leave
    return trt, base, chg, observed


def as_frame(trt, base, chg, observed):
    """Long format, one row per subject and visit, as a CSV would hold it (ids and arms
    as text); ``observed`` marks the rows that the trial actually has."""
    n, t = chg.shape
    return pd.DataFrame({
        "subject": np.repeat([f"S{i + 1:03d}" for i in range(n)], t),
        "arm": np.repeat(np.where(trt == 1, "TRT", "PBO"), t),
        "base": np.repeat(base.round(1), t),
        "visit": np.tile(VISITS, n),
        "chg": chg.ravel().round(2),
        "observed": observed.ravel(),
    })


arrays = draw()
full = as_frame(*arrays)                     # every visit, had nobody left: the truth's data
trial = full[full["observed"]].drop(columns="observed").reset_index(drop=True)
print(f"{trial['subject'].nunique()} subjects, visits {', '.join(VISITS)}: "
      f"{len(trial)} rows observed of {len(full)} planned")
trial.head(7)

# %% [markdown]
# A patient who left has no rows after their last visit: missing visits are simply
# absent rows, as in a real data set. The dropout pattern, as patients still in the
# trial at each visit:

# %%
in_trial = pd.crosstab(trial["arm"], trial["visit"])[VISITS]
pattern = pd.concat({"patients": in_trial,
                     "% of randomised": 100 * in_trial.div(in_trial["W2"], axis=0)}, axis=1)
pattern.round(1)

# %%
gone = 1 - in_trial[VISITS[-1]] / in_trial[VISITS[0]]
print(f"left before {VISITS[-1]}: {gone['PBO']:.0%} on placebo, {gone['TRT']:.0%} on treatment, "
      f"{1 - in_trial[VISITS[-1]].sum() / in_trial[VISITS[0]].sum():.0%} overall")
# chg at a visit, split by whether the patient left right after it or stayed
trt, base, chg, observed = arrays
at_visit = observed[:, :-1]                  # in the trial at visits 1 .. T-1
left_next = at_visit & ~observed[:, 1:]
print(f"mean chg at a visit: {chg[:, :-1][left_next].mean():.2f} when the patient left right "
      f"after it, {chg[:, :-1][at_visit & ~left_next].mean():.2f} when they stayed")

# %% [markdown]
# More patients leave on placebo, and those who leave were doing worse at their last visit
# than those who stayed: the completers at the last visit are a selected, better-off
# group, more so on placebo.
#
# **Visit as a factor in time order.** As text, "W12" sorts before "W2":

# %%
print("text order:", sorted(trial["visit"].unique()))
trial["visit"] = pd.Categorical(trial["visit"], categories=VISITS)
full["visit"] = pd.Categorical(full["visit"], categories=VISITS)
print("time order:", list(trial["visit"].cat.categories))

# %% [markdown]
# The covariance structure needs the visits in time order. mixedkit reads text visit
# labels in natural order (W2 before W12) for the structure, but the fixed effects follow
# the factor's level order: with text, the reference visit would be the first label in
# text order and every table would list the visits in that order. A pandas Categorical
# with the visits in time order (above) fixes both: the first visit is the reference level
# and every table is in time order.
#
# ## 2. Why MMRM? Complete cases and LOCF under MAR dropout
#
# Two simple analyses of the last visit are still common:
#
# * **complete cases**: analyse the patients observed at the last visit and ignore the
#   others;
# * **LOCF**: give every patient who left the value of their last observed visit, then
#   analyse everyone.
#
# Both are compared here with the MMRM (the primary analysis, fitted in section 3) on
# the effect at the last visit. To compare like with like, the single-visit analyses are
# ANCOVAs, `chg ~ base + arm` at the last visit (a *t* test adjusted for baseline). As a
# benchmark there is also the analysis that no real trial has: the same ANCOVA on every
# patient's last visit as simulated, had nobody left. It differs from the truth by
# sampling error alone.

# %%
LAST = VISITS[-1]
PRIMARY = "chg ~ base + arm * visit + us(visit | subject)"
fit = mk.fit_lmm(PRIMARY, trial, df_method="kenward-roger")
trt_vs_pbo = {"TRT - PBO": [-1, 1]}          # arm levels: PBO, TRT
effects = fit.contrasts("arm", by="visit", method=trt_vs_pbo, adjust="none")


def ancova(frame):
    """The TRT - PBO effect of chg ~ base + arm (one row per patient) and its SE."""
    ols = smf.ols("chg ~ base + arm", frame).fit()
    return ols.params["arm[T.TRT]"], ols.bse["arm[T.TRT]"]


wide = full.assign(chg=full["chg"].where(full["observed"])).pivot(
    index="subject", columns="visit", values="chg")
patients = full.drop_duplicates("subject").set_index("subject")[["arm", "base"]]
locf = patients.assign(chg=wide.ffill(axis=1)[LAST])
mmrm_last = effects.set_index("visit").loc[LAST]
analyses = {
    "no dropout (not available)": ancova(full[full["visit"] == LAST]),
    "complete cases": ancova(trial[trial["visit"] == LAST]),
    "LOCF": ancova(locf),
    "MMRM (us, Kenward-Roger)": (mmrm_last["estimate"], mmrm_last["std_error"]),
}
last_visit = pd.DataFrame(analyses, index=["estimate", "std_error"]).T
last_visit["minus truth"] = last_visit["estimate"] - EFFECT[-1]
last_visit["minus no-dropout"] = (last_visit["estimate"]
                                  - last_visit.loc["no dropout (not available)", "estimate"])
print(f"true effect at {LAST}: {EFFECT[-1]}")
last_visit

# %% [markdown]
# `minus truth` is each analysis's error in this one trial. The error of the no-dropout
# analysis is sampling error alone, and the other analyses share much of it, since they
# use the same patients. `minus no-dropout` removes that shared part and shows what
# the handling of dropout did: a small shift for the MMRM
# ({{last_visit.loc["MMRM (us, Kenward-Roger)", "minus no-dropout"]:+.2f}}), larger ones
# for complete cases ({{last_visit.loc["complete cases", "minus no-dropout"]:+.2f}}) and
# LOCF ({{last_visit.loc["LOCF", "minus no-dropout"]:+.2f}}).
#
# One trial can mislead, though: its sampling error is as large as the biases we are
# looking for. The single-visit analyses are cheap, so here they are on many simulated
# trials (the MMRM would need an unstructured fit per trial, far slower; likelihood theory
# says that under MAR, when its model is right, it is consistent: unbiased as the trial
# grows, and close to unbiased at this size):

# %%
def last_visit_estimates(seed):
    trt, base, chg, observed = draw(seed=seed)
    x = np.column_stack([np.ones(len(trt)), base, trt])
    done = observed[:, -1]
    last_seen = chg[np.arange(len(trt)), observed.sum(axis=1) - 1]   # LOCF (monotone dropout)
    effect = {}
    for name, rows, y in (("no dropout", slice(None), chg[:, -1]),
                          ("complete cases", done, chg[done, -1]),
                          ("LOCF", slice(None), last_seen)):
        effect[name] = np.linalg.lstsq(x[rows], y, rcond=None)[0][2]
    return effect


N_TRIALS = 1000
many = pd.DataFrame([last_visit_estimates(seed) for seed in range(1, N_TRIALS + 1)])
bias = (many.mean() - EFFECT[-1]).round(2) + 0.0      # + 0.0: no "-0.00"
monte_carlo_se = many.std() / np.sqrt(N_TRIALS)
print(f"average error over {N_TRIALS} simulated trials (bias), true effect {EFFECT[-1]}:")
for name in many:
    print(f"  {name:>14}: {bias[name]:+.2f} (Monte Carlo SE {monte_carlo_se[name]:.2f}; "
          f"{bias[name] / EFFECT[-1]:+.0%} of the effect)")

# %% [markdown]
# Averaged over many trials the no-dropout analysis is unbiased, as it must be, while
# complete cases and LOCF both underestimate the treatment effect:
#
# * **complete cases** keep the patients who were doing well. That flatters both arms,
#   but placebo more, because more placebo patients left; the difference shrinks.
# * **LOCF** freezes a leaving patient at an earlier visit, before their `chg` (and on
#   TRT their treatment effect) had grown: it is not "conservative" in any reliable sense,
#   only wrong in a direction that depends on who leaves when.
#
# The MMRM uses every observed visit. A patient who left after W8 still tells the model
# about their W2 to W8 values, and through the estimated correlation between visits, about
# where they were heading. That is exactly the information that MAR says is enough.
#
# ## 3. The primary analysis
#
# The model that a statistical analysis plan would pre-specify:
#
# * fixed effects `base + arm * visit`: a mean for each arm at each visit, adjusted for
#   baseline (`arm * visit` = `arm + visit + arm:visit`);
# * `us(visit | subject)`: the errors of one subject have an **unstructured** covariance
#   across visits, one variance per visit and one covariance per pair of visits, all
#   estimated; no random effects;
# * REML (the default), and `df_method="kenward-roger"` for the tests and intervals.
#
# This is the fit of the previous section:

# %%
fit

# %% [markdown]
# How to read the card:
#
# * **Residual covariance**: the estimated covariance matrix of one subject's errors,
#   covariances in the lower triangle and on the diagonal (the variances), correlations in
#   the upper triangle.
# * **Fixed effects** in treatment coding: `arm[T.TRT]` is TRT − PBO at the reference
#   visit W2, and `arm[T.TRT]:visit[T.W16]` how much that difference changes from W2 to
#   W16. Section 5 gets the effect at each visit directly, which is easier to read.
# * The **Type III F tests** (`fit.anova()`), with Kenward–Roger's denominator df: the
#   `arm:visit` test asks whether the treatment effect changes over the visits. The `arm`
#   row is not the coefficient `arm[T.TRT]`: a Type III test of a factor in an interaction
#   averages over the levels of the other factor, so it tests the treatment effect
#   averaged over the {{len(VISITS):words}} visits (an effect of
#   {{effects["estimate"].mean():.2f}}), while the coefficient is the effect at W2 alone
#   ({{effects["estimate"].iloc[0]:.2f}}). Neither is the trial's question, the effect at
#   the last visit (section 5).
# * **Small p-values** are printed in scientific notation: `2.5e-05` is
#   $2.5 \times 10^{-5} = 0.000025$, and `<1e-16` is below what the computation can
#   resolve. In a report, write any p-value below 0.001 as p < .001 (section 5 does).
# * **Health**: the optimiser converged and no correlation is at ±1 (an unstructured
#   covariance with few subjects per visit can fail on either count).
#
# The estimated covariance as a table, `fit.residual_covariance`, one row per pair of
# visits, and as a matrix of correlations. `pivot` sorts the visit labels as text, so
# reindex by the visits in time order (`.attrs["visits"]`):

# %%
cov_table = fit.residual_covariance
order = cov_table.attrs["visits"]
estimated = cov_table.pivot(index="visit", columns="with_visit", values="corr").reindex(
    index=order, columns=order)
estimated

# %% [markdown]
# Each pair of visits is one row of `fit.residual_covariance`, so the lower triangle of
# the pivoted matrix is empty (`NaN`). Below it goes the truth: the SDs per visit, and the
# correlations with the estimates above the diagonal and the true values below it.

# %%
sd_hat = np.sqrt(np.diag(cov_table.pivot(index="visit", columns="with_visit",
                                         values="covariance").reindex(index=order,
                                                                      columns=order)))
print(pd.DataFrame({"estimated SD": sd_hat, "true SD": SD}, index=order).round(2).T)
upper = np.triu(np.ones_like(CORR, bool), k=1)
side_by_side = pd.DataFrame(np.where(upper, estimated.to_numpy(), CORR.T), index=order,
                            columns=order)
print(f"\nlargest |estimated - true| correlation: "
      f"{np.abs(estimated.to_numpy() - CORR)[upper].max():.3f}")
side_by_side.round(2)

# %% [markdown]
# The unstructured covariance recovers the growing SDs and the pattern of correlations:
# highest between the two visits closest in time, falling with the time between visits.
# Its estimates carry sampling error (each correlation is estimated from the patients seen
# at both visits), which is the price of estimating every variance and covariance
# separately.
#
# ## 4. Choosing a covariance structure
#
# The unstructured covariance estimates T(T + 1)/2 parameters for T visits. Simpler
# structures describe the same matrix with fewer:
#
# | structure | term | assumes |
# |---|---|---|
# | compound symmetry | `cs` | one variance, one correlation for any two visits (with a positive correlation, the same as a random intercept) |
# | heterogeneous CS | `csh` | one variance per visit, one correlation |
# | AR(1) | `ar1` | one variance; correlation ρ^k for visits k apart |
# | Toeplitz | `toep` | one variance; one correlation per lag k |
# | unstructured | `us` | nothing |
#
# (mixedkit also fits `ar1h`, `toeph`, `ad`, `adh` and `sp_exp(time | subject)`, an
# exponential decay in a continuous time.) Fit each with the same fixed effects, by REML:

# %%
structures = {s: mk.fit_lmm(f"chg ~ base + arm * visit + {s}(visit | subject)", trial)
              for s in ("ar1", "cs", "toep", "csh")}
structures["us"] = fit
print({s: f.n_params for s, f in structures.items()})
comparison = mk.compare_models(*structures.values())
comparison

# %% [markdown]
# How to read the comparison (rows ordered by the number of parameters, fixed effects
# included):
#
# * **REML**: the models have the same fixed effects, so their REML likelihoods are
#   comparable (notebook 03), and `compare_models` uses them.
# * **AIC and BIC**: −2 log-likelihood plus a penalty per parameter; lower is better. BIC
#   penalises more (log of the number of rows per parameter, as lme4; SAS and mmrm use the
#   number of subjects), so it leans to smaller structures.
# * **Likelihood-ratio tests** (`chisq`, `df`, `p`) only where one structure is a special
#   case of the other: `ar1` and `cs` are special cases of `toep`, `cs` of `csh`, and all
#   of `us`. Each row is tested against the row above it when that model is nested in it,
#   otherwise against the nearest smaller model nested in it, and then a note under the
#   table names it. So `toep` is tested against `cs` (the row above), `csh` against `cs`
#   (the note says so) and `us` against `csh`; `ar1` and `cs` are not nested in each other,
#   so only AIC and BIC compare those two. `ar1` is nested in `toep` too, with as many
#   parameters as `cs` (a note says so), and that test, asked for directly, tells another
#   story:

# %%
toep_vs_ar1 = mk.compare_models(structures["ar1"], structures["toep"]).table.iloc[1]
print(f"toep against ar1: chisq {toep_vs_ar1['chisq']:.2f} on {toep_vs_ar1['df_diff']} df, "
      f"p = {toep_vs_ar1['p_value']:.2f}")
best = comparison.table.sort_values("aic")["model"].iloc[0]
print("lowest AIC:", best)

# %% [markdown]
# Toeplitz fits far better than compound symmetry but no better than AR(1): one test per
# row answers one question, against one smaller model. Of all five, the unstructured
# covariance has the lowest AIC.

# %% [markdown]
# **Why the primary analysis is still pre-specified.** Picking the structure with the
# lowest AIC from the trial's own data, then testing the treatment as if the structure had
# been fixed in advance, is a data-driven choice that the test does not account for. And
# if the preferred structure fails to converge, the analysis becomes whatever the
# fallback happens to be. Regulators (ICH E9) expect the primary analysis to be fixed
# before unblinding. The usual plan: the unstructured covariance as primary (it assumes
# nothing, and with a few visits and enough patients it converges), with a pre-specified
# fallback order (e.g. `toeph`, then `ar1h`, then `cs`) if it does not; other structures
# are a **sensitivity analysis**. Here is that sensitivity analysis, the effect at the
# last visit under every structure (Kenward–Roger df for all):

# %%
sensitivity = pd.DataFrame({
    s: f.contrasts("arm", by="visit", method=trt_vs_pbo, adjust="none",
                   df_method="kenward-roger").set_index("visit").loc[LAST]
    for s, f in structures.items()}).T
sensitivity["AIC"] = [f.aic for f in structures.values()]
sd_last = f"SD at {LAST}"
sensitivity[sd_last] = [
    np.sqrt(f.residual_covariance.query("visit == @LAST and with_visit == @LAST")["covariance"]
            .item()) for f in structures.values()]
print(f"true SD at {LAST}: {SD[-1]}")
sensitivity[["estimate", "std_error", "df", "conf_low", "conf_high", "AIC", sd_last]].astype(float)

# %% [markdown]
# Two things differ between the rows:
#
# * **the standard error.** `ar1`, `cs` and `toep` have one variance for all visits, so
#   they underestimate the variance at the last visit, where it is largest (last column),
#   and their intervals for the last-visit effect are too narrow. Their df are large
#   because they have few covariance parameters, which adds to the false precision. `csh`
#   and `us` estimate a variance per visit and agree on the standard error.
# * **the estimate.** All structures have the same mean model; they differ in how they
#   weight each patient's visits. A structure that gets the correlations wrong (compound
#   symmetry treats the first and the last visit as being as similar as two neighbouring
#   ones) weights the early visits of patients who left wrongly, and under MAR dropout a
#   misspecified covariance can bias the estimate, not only its standard error.
#
# The conclusion should not hinge on the structure; when it does, that is worth
# reporting.
#
# ## 5. Arm-by-visit means and the treatment effect at each visit
#
# `fit.marginal_means("arm", by="visit")`: the mean `chg` of each arm at each visit,
# with `base` held at its mean over the rows used (as SAS's LSMEANS and R's emmeans do):

# %%
means = fit.marginal_means("arm", by="visit")
base_held = means.attrs["covariates"]["base"]
true_mean = PBO_MEAN[:, None] + np.outer(EFFECT, [0, 1]) + BASE_COEF * (base_held - BASE_MEAN)
truth = pd.DataFrame(true_mean, index=VISITS, columns=["PBO", "TRT"])
means["truth"] = [truth.loc[v, a] for a, v in zip(means["arm"], means["visit"])]
print(f"base held at {base_held:.2f}")
means

# %% [markdown]
# `mk.plot_means` draws them with their Kenward–Roger 95% intervals, visits on the
# x axis and one series per arm; the light points are the observed `chg` values behind
# each mean. The true means are added as black bars:

# %%
ax = mk.plot_means(fit, "visit", by="arm")
for series in ax.containers:               # one errorbar series per arm, dodged
    x = series.lines[0].get_xdata()
    ax.scatter(x, truth[series.get_label()], marker="_", s=300, color="black", zorder=5)
ax.scatter([], [], marker="_", s=300, color="black", label="truth")
legend = ax.legend(title="arm", loc="upper left")

# %% [markdown]
# The observed points at the later visits are only the patients still in the trial, and
# in both arms these are mostly the ones doing well, more so on placebo. Their raw
# averages are therefore above the MMRM's estimates of the means of all randomised
# patients:

# %%
observed_mean = trial[trial["visit"] == LAST].groupby("arm")["chg"].mean()
for arm in ("PBO", "TRT"):
    mmrm_mean = means.loc[(means["arm"] == arm) & (means["visit"] == LAST), "estimate"].item()
    print(f"{arm} at {LAST}: average of the completers {observed_mean[arm]:.2f}, "
          f"MMRM mean {mmrm_mean:.2f}, truth {truth.loc[LAST, arm]:.2f}")

# %% [markdown]
# The treatment effect at every visit, TRT − PBO, with `contrasts`. `method=` gives the
# contrast as weights on the arm levels in their order (PBO, TRT); `adjust="none"` since
# the visits are not a family of comparisons to correct for: the last visit is the
# primary end point and the others describe its time course. (pandas prints the whole
# `p_value` column in scientific notation once one value in it needs it, so
# `{{effects["p_value"].iloc[0]:.3e}}` in the first row is
# {{effects["p_value"].iloc[0]:.3f}}.)

# %%
effects["truth"] = [dict(zip(VISITS, EFFECT))[str(v)] for v in effects["visit"]]
effects

# %%
row = effects.set_index("visit").loc[LAST]
p_apa = "p < .001" if row["p_value"] < 0.001 else f"p = {row['p_value']:.3f}".replace("0.", ".", 1)
print(f"At {LAST}, treatment improved chg by {row['estimate']:.2f} points more than placebo "
      f"(95% CI {row['conf_low']:.2f} to {row['conf_high']:.2f}, Kenward-Roger "
      f"df = {row['df']:.1f}, {p_apa}); the true effect is {EFFECT[-1]:.2f}, "
      f"{'inside' if row['conf_low'] <= EFFECT[-1] <= row['conf_high'] else 'outside'} "
      f"the interval.")

# %% [markdown]
# ## 6. Satterthwaite, Kenward–Roger and the sandwich
#
# Three ways to get the standard error and df of the same estimate:
#
# * **Satterthwaite** (mixedkit's default): the model-based covariance of the estimates,
#   with df from how uncertain the covariance parameters are;
# * **Kenward–Roger** (`df_method="kenward-roger"`, REML only): the same df idea, plus an
#   inflation of the covariance of the estimates, which the model-based one understates
#   because it treats the estimated covariance parameters as known;
# * **sandwich** (`vcov="empirical"`, SAS's EMPIRICAL, mmrm's `vcov = "Empirical"`): a
#   covariance of the estimates computed from the residuals, valid even when the
#   covariance structure is wrong; mixedkit gives it Satterthwaite's model-based df.
#
# `df_method=` on a method call switches between the first two on the same fit; the
# sandwich needs its own fit.

# %%
def last_effect(model, **options):
    table = model.contrasts("arm", by="visit", method=trt_vs_pbo, adjust="none", **options)
    return table.set_index("visit").loc[LAST, ["estimate", "std_error", "df",
                                                "conf_low", "conf_high"]]


def three_ways(data):
    satterthwaite = mk.fit_lmm(PRIMARY, data)
    sandwich = mk.fit_lmm(PRIMARY, data, vcov="empirical")
    return pd.DataFrame({
        "Satterthwaite": last_effect(satterthwaite),
        "Kenward-Roger": last_effect(satterthwaite, df_method="kenward-roger"),
        "sandwich": last_effect(sandwich),
    }).T.astype(float)


this_trial = three_ways(trial)
this_trial

# %% [markdown]
# With hundreds of patients the three agree closely. They part with a small trial. The
# same design with fewer patients per arm:

# %%
N_SMALL = 15
small = as_frame(*draw(n_per_arm=N_SMALL, seed=15))
small = small[small["observed"]].drop(columns="observed").reset_index(drop=True)
small["visit"] = pd.Categorical(small["visit"], categories=VISITS)
small_trial = three_ways(small)
se = small_trial["std_error"]
print(f"{N_SMALL} patients per arm: Kenward-Roger SE {se['Kenward-Roger'] / se['Satterthwaite'] - 1:+.1%}"
      f", sandwich SE {se['sandwich'] / se['Satterthwaite'] - 1:+.1%} against Satterthwaite's")
small_trial

# %% [markdown]
# **When they differ.** The model-based standard error treats the estimated covariance
# parameters as if they were known. With an unstructured covariance there are many of
# them (T(T + 1)/2 for T visits), and with few patients, or few patients left at the late
# visits, that understates the uncertainty: Kenward–Roger's correction inflates the
# standard error, by more the fewer the patients and the more parameters there are. For a
# single contrast the df here are the same for both methods; the change is in the
# standard error. The sandwich does not trust the structure at all, which protects
# against a wrong structure, but it is itself estimated from the patients' residuals and
# is biased downwards in small samples. With many patients all three converge, as in
# the full trial. Pre-specify one
# (Kenward–Roger is the usual choice for the MMRM) and report the others as sensitivity
# analyses if needed. (The sandwich is most useful with a simpler structure that might be
# wrong, e.g. `cs` or `ar1` with `vcov="empirical"`.)
#
# ## 7. Diagnostics: normalised residuals
#
# The residuals `chg − X β` of an MMRM (`fit.residuals()`, the *response* residuals) are
# not supposed to look like independent noise with one variance: the model itself says
# their variance grows over the visits and that a patient's residuals are correlated.
# The **normalised** residuals (`fit.residuals("normalized")`, nlme's name) undo the
# structure: each patient's residuals are multiplied by the inverse Cholesky factor of
# their estimated covariance matrix. If the model is right they are close to independent
# standard normal (close, because the covariance and the means are estimated), and all the
# usual checks apply to them.

# %%
res = trial.assign(response=fit.residuals(), normalized=fit.residuals("normalized"))


def lag1_corr(column):
    """Correlation of a patient's residuals at consecutive visits (both observed)."""
    w = res.pivot(index="subject", columns="visit", values=column)
    a, b = w.iloc[:, :-1].to_numpy().ravel(), w.iloc[:, 1:].to_numpy().ravel()
    both = ~np.isnan(a) & ~np.isnan(b)
    return np.corrcoef(a[both], b[both])[0, 1]


by_visit = res.groupby("visit", observed=True)[["response", "normalized"]].agg(["mean", "std"])
by_visit = by_visit.round(3) + 0.0           # + 0.0: no "-0.000"
print(f"lag-1 correlation: response residuals {lag1_corr('response'):.2f}, "
      f"normalized {round(lag1_corr('normalized'), 2) + 0.0:.2f}")
by_visit

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
for ax, column in zip(axes[:2], ("response", "normalized")):
    ax.boxplot([res.loc[res["visit"] == v, column] for v in VISITS], tick_labels=VISITS)
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set(title=f"{column} residuals by visit", xlabel="visit")
(osm, osr), (slope, intercept, _) = stats.probplot(res["normalized"])
axes[2].scatter(osm, osr, s=6, alpha=0.5)
axes[2].plot(osm, intercept + slope * osm, color="black", linewidth=1)
axes[2].set(title="normal QQ plot, normalized residuals", xlabel="normal quantiles",
            ylabel="ordered residuals")
fig.tight_layout()

# %% [markdown]
# The response residuals (left) mislead in three ways, although the model is exactly
# the one that generated the data:
#
# * they spread out more at each visit: it looks like heteroscedasticity, but the model
#   already has a variance per visit;
# * they are strongly correlated from one visit to the next (the printed lag-1
#   correlation), so a patient's points are not independent evidence, and a cloud of
#   them looks more structured than noise;
# * their mean drifts above 0 at the later visits (the `mean` columns), as if the model
#   underestimated the late means. It does not: the residuals at a late visit belong to
#   the patients still there, a selected group doing better than average. The MMRM's
#   means are those of all randomised patients (section 5).
#
# The normalised residuals (middle) have mean close to 0 and SD close to 1 at every visit
# and almost no lag-1 correlation, so a real departure from the model would show. A
# patient's normalised residual at a visit is, in effect, their residual *given their
# own earlier visits*, which is exactly what MAR dropout leaves undistorted. The QQ plot
# (right) puts them close to the straight line that normal errors give.
#
# ## 8. What this does not do (yet)
#
# Random effects beside a residual structure (a site's random intercept, or a random slope
# per subject, *and* an AR(1) error, as nlme's `lme(..., correlation=)` fits them) are
# fitted, with Satterthwaite's df, but Kenward–Roger and the sandwich are not computed for
# them. Kenward–Roger is the first-order form without the second derivatives of the
# covariance, SAS's `ddfm=kr(linear)` and mmrm's `"Kenward-Roger-Linear"`; for the
# structures SAS parameterises linearly in their covariances (`us`, `cs`, `toep`) it is
# also SAS's `ddfm=kr`. Profile intervals for the covariance parameters (`fit.confint()`),
# ICC and R² have no meaning or no implementation here and raise an error that says so.
#
# ## Summary
#
# | step | SAS PROC MIXED | R mmrm | mixedkit |
# |---|---|---|---|
# | the MMRM | `model chg = base arm visit arm*visit / ddfm=kr(linear);` `repeated visit / subject=subject type=un;` | `mmrm(chg ~ base + arm*visit + us(visit \| subject), data, method = "Kenward-Roger", vcov = "Kenward-Roger-Linear")` | `mk.fit_lmm("chg ~ base + arm * visit + us(visit \| subject)", data, df_method="kenward-roger")` |
# | other structures | `type=cs`, `ar(1)`, `toep`, `csh` | `cs()`, `ar1()`, `toep()`, `csh()` | `cs(...)`, `ar1(...)`, `toep(...)`, `csh(...)` |
# | sandwich | `empirical` | `vcov = "Empirical"` | `vcov="empirical"` |
# | covariance between visits | `r` and `rcorr` options | `VarCorr(fit)` | `fit.residual_covariance` |
# | arm-by-visit means | `lsmeans arm*visit / cl;` | `emmeans(fit, ~ arm \| visit)` | `fit.marginal_means("arm", by="visit")` |
# | effect per visit | `lsmeans arm*visit / diff;` (or `slice=visit`) | `emmeans` contrasts by visit | `fit.contrasts("arm", by="visit", method={"TRT - PBO": [-1, 1]}, adjust="none")` |
# | comparing structures | `ic` and a table of AIC | `AIC()` of each fit | `mk.compare_models(...)` |
# | normalised residuals | `vciry` with `outpm=` (scaled residuals) | `residuals(fit, type = "normalized")` | `fit.residuals("normalized")` |
#
# What the example showed:
#
# * make `visit` a factor in time order (a Categorical) and leave missed visits out as
#   absent rows;
# * under MAR dropout, complete cases and LOCF are biased; the MMRM uses every observed
#   visit and is not (when its model is right);
# * the unstructured covariance is the pre-specified primary analysis; `compare_models`
#   on other structures is a sensitivity analysis, not a way to choose the primary one
#   after seeing the data;
# * report the effect at the last visit from `contrasts`, with its Kenward–Roger
#   interval;
# * check the model on normalised residuals, not on the raw ones.
