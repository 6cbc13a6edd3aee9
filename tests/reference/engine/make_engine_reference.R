# lme4 reference for a 3 x 3 correlated block (theta packed column by column).
# Usage: Rscript make_engine_reference.R   (from tests/reference/engine/)
# Data: three_slopes.csv, simulated once with numpy (tests/reference/engine/README.md).
suppressPackageStartupMessages(library(lme4))
d <- read.csv("three_slopes.csv")
d$g <- factor(d$g)
out <- list(formula = "y ~ x1 + x2 + (x1 + x2 | g)",
            software = list(R = R.version.string, lme4 = as.character(packageVersion("lme4"))),
            fits = list())
for (method in c("REML", "ML")) {
  fit <- lmer(y ~ x1 + x2 + (x1 + x2 | g), d, REML = (method == "REML"),
              control = lmerControl(optimizer = "bobyqa"))
  out$fits[[method]] <- list(theta = unname(getME(fit, "theta")),
                             logLik = as.numeric(logLik(fit)),
                             fixef = as.list(fixef(fit)),
                             se = as.list(sqrt(diag(as.matrix(vcov(fit))))),
                             sigma = sigma(fit),
                             vcov_re = unname(as.matrix(VarCorr(fit)$g)),
                             max_grad = max(abs(fit@optinfo$derivs$gradient)))
}
writeLines(jsonlite::toJSON(out, auto_unbox = TRUE, digits = 15, pretty = TRUE),
           "three_slopes.json")
