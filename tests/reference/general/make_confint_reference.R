# Profile and Wald intervals (lme4::confint, REML, bobyqa) for three models beyond statsmodels;
# run from the repository root: Rscript tests/reference/general/make_confint_reference.R
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
d <- read.csv("tests/reference/general/crossed_2x2.csv", colClasses = c(subject="character", item="character", a="character", b="character"))
out <- list()
for (spec in list(c("crossed_factor", "rt ~ a + (a | subject) + (a | item)"), c("nested_slopes", "y ~ time + (time | school/child)"), c("crossed_weights", "rt ~ ac*bc + (ac | subject) + (1 | item)"))) {
  dat <- if (spec[1] == "nested_slopes") read.csv("tests/reference/general/nested_slopes.csv", colClasses=c(school="character", child="character")) else d
  m <- if (spec[1] == "crossed_weights") lmer(spec[2], dat, weights = w, control = lmerControl(optimizer = "bobyqa")) else lmer(spec[2], dat, control = lmerControl(optimizer = "bobyqa"))
  t0 <- Sys.time()
  ci <- confint(m, method = "profile", oldNames = FALSE)
  wald <- confint(m, method = "Wald", oldNames = FALSE)
  out[[spec[1]]] <- list(formula = spec[2], weights = if (spec[1] == "crossed_weights") "w" else NULL, profile = list(names = rownames(ci), lower = ci[, 1], upper = ci[, 2]), wald = list(names = rownames(wald), lower = wald[, 1], upper = wald[, 2]), seconds = as.numeric(Sys.time() - t0, units = "secs"))
}
out$software <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, null = "null", pretty = TRUE), "tests/reference/general/confint.json")
