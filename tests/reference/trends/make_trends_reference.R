#!/usr/bin/env Rscript
# make_trends_reference.R -- emmeans::emtrends reference values for mixedkit's
# fit.marginal_trends(): slopes of the prediction in a numeric predictor, by factor level,
# with lmerTest's Satterthwaite df (emmeans' lmer.df = "satterthwaite") and
# Kenward-Roger's.
#
# Usage: Rscript tests/reference/trends/make_trends_reference.R [OUTFILE]
#   (default OUTFILE: trends.json beside this script). Data: tests/reference/data/dietox.csv.
# Stored file: R 4.2.2, lme4 1.1-31, lmerTest 3.1-3, emmeans 1.8.4-1, pbkrtest 0.5.2.
suppressPackageStartupMessages({
  library(lmerTest); library(emmeans); library(jsonlite)
})
args <- commandArgs(trailingOnly = TRUE)
here <- dirname(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)))
out_file <- if (length(args)) args[1] else file.path(here, "trends.json")
dietox <- read.csv(file.path(here, "..", "data", "dietox.csv"))
dietox$Evit <- factor(dietox$Evit)
dietox$Cu <- factor(dietox$Cu)

table_of <- function(tr) {
  s <- as.data.frame(summary(tr, infer = c(TRUE, TRUE)))
  names(s)[names(s) == grep("\\.trend$", names(s), value = TRUE)] <- "trend"
  s
}
fit_of <- function(m) {  # lme4's optimum, in the inference references' format
  vc <- as.data.frame(VarCorr(m))
  rows <- lapply(seq_len(nrow(vc)), function(i) {
    r <- list(group = vc$grp[i], vcov = vc$vcov[i], sdcor = vc$sdcor[i])
    if (!is.na(vc$var1[i])) r$var1 <- vc$var1[i]
    if (!is.na(vc$var2[i])) r$var2 <- vc$var2[i]
    r
  })
  list(sigma = sigma(m), varcorr = rows, fixef = as.list(fixef(m)))
}
cases <- list()
m1 <- lmer(Weight ~ Time * Evit + Cu + (Time | Pig), data = dietox, REML = TRUE)
for (ddf in c("satterthwaite", "kenward-roger")) {
  emm_options(lmer.df = ddf)
  cases[[length(cases) + 1]] <- list(
    formula = "Weight ~ Time * Evit + Cu + (Time | Pig)", var = "Time", specs = "Evit",
    df_method = ddf, fit = fit_of(m1), table = table_of(emtrends(m1, ~ Evit, var = "Time")))
}
emm_options(lmer.df = "satterthwaite")
cases[[length(cases) + 1]] <- list(
  formula = "Weight ~ Time * Evit + Cu + (Time | Pig)", var = "Time", specs = NULL,
  df_method = "satterthwaite", fit = fit_of(m1),
  table = table_of(emtrends(m1, ~ 1, var = "Time")))
m2 <- lmer(Weight ~ Time + I(Time^2) + (Time | Pig), data = dietox, REML = TRUE)
for (at in c(1, 6, 12)) {
  cases[[length(cases) + 1]] <- list(
    formula = "Weight ~ Time + I(Time^2) + (Time | Pig)", var = "Time", specs = NULL,
    at = at, df_method = "satterthwaite", fit = fit_of(m2),
    # emtrends differentiates forward with delta.var = 0.001 * range (an error of
    # b2 * delta = 1e-3 on a quadratic); a small delta gives the derivative itself
    table = table_of(emtrends(m2, ~ 1, var = "Time", at = list(Time = at), delta.var = 1e-6)))
}
write_json(list(
  note = paste("emmeans::emtrends on lmerTest::lmer fits (REML) of dietox; 'trend' is the",
               "slope, SE, df, t.ratio, p.value, lower.CL, upper.CL (95%)"),
  software = list(R = R.version.string, emmeans = as.character(packageVersion("emmeans")),
                  lme4 = as.character(packageVersion("lme4")),
                  lmerTest = as.character(packageVersion("lmerTest")),
                  pbkrtest = as.character(packageVersion("pbkrtest"))),
  cases = cases), out_file, digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null")
cat("wrote", out_file, "\n")
