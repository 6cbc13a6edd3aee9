#!/usr/bin/env Rscript
# make_kr_reference.R -- Kenward-Roger reference values for tests/test_kenward_roger.py.
#
# Usage (from the repository root):
#   Rscript tests/reference/kr/make_kr_reference.R [OUTDIR]
#
# OUTDIR defaults to the directory of this script. Writes
#   dietox_evit_cu_bobyqa.json   KR summary of Weight ~ Time + Evit + Cu + (Time | Pig) at
#                                the bobyqa optimum (the default nloptwrap fit stops short)
#   sleepstudy_unbal.json        Reaction ~ factor(Days) + (Days | Subject) on sleepstudy
#                                without every 7th row (unbalanced; 9-df KR F test)
#   crossed_sim.csv / .json      simulated crossed design with fixed effects:
#                                y ~ x + trt + (1 | a) + (1 | b)
#   nested_sim.csv / .json       simulated unbalanced nested design with a random slope:
#                                y ~ x + (x | g) + (1 | g:h)
#   three_slopes.json            a 3 x 3 correlated block on ../engine/three_slopes.csv:
#                                y ~ x1 + x2 + (x1 + x2 | g) (bobyqa, as the engine reference)
# Every JSON holds: formula, data_csv (relative to tests/reference), REML theta (lme4
# names and order), sigma, logLik, fixef (estimate, se, KR df / p / se from
# summary(as_lmerModLmerTest(m), ddf = "Kenward-Roger")), vcov, vcov_adj
# (pbkrtest::vcovAdj), and, where there is a factor, anova(m, type = 3, ddf =
# "Kenward-Roger") and a KRmodcomp F test with a rank-deficient L.
# Made with R 4.2.2, lme4 1.1-31, lmerTest 3.1-3, pbkrtest 0.5.2 (reference BLAS).

suppressPackageStartupMessages({
  library(lme4); library(lmerTest); library(pbkrtest); library(jsonlite)
})
args <- commandArgs(trailingOnly = TRUE)
script_path <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
script_dir <- dirname(normalizePath(script_path[1]))
outdir <- if (length(args) >= 1) args[1] else script_dir
refdir <- normalizePath(file.path(script_dir, ".."))
dir.create(outdir, showWarnings = FALSE, recursive = TRUE)

fixef_rows <- function(m) {
  mt <- as_lmerModLmerTest(m)
  kr <- summary(mt, ddf = "Kenward-Roger")$coefficients
  lapply(seq_len(nrow(kr)), function(i) list(
    term = rownames(kr)[i], estimate = unname(kr[i, "Estimate"]),
    se = unname(sqrt(diag(as.matrix(vcov(m))))[i]),
    se_kenward_roger = unname(kr[i, "Std. Error"]), df_kenward_roger = unname(kr[i, "df"]),
    p_kenward_roger = unname(kr[i, "Pr(>|t|)"])))
}

anova_rows <- function(m) {
  a <- anova(as_lmerModLmerTest(m), type = 3, ddf = "Kenward-Roger")
  lapply(seq_len(nrow(a)), function(i) list(
    term = rownames(a)[i], MeanSq = a[i, "Mean Sq"], NumDF = a[i, "NumDF"],
    DenDF = a[i, "DenDF"], F = a[i, "F value"], p = a[i, "Pr(>F)"]))
}

kr_test <- function(m, L) {
  s <- pbkrtest::KRmodcomp(m, L)$stats
  list(L = L, F = s$Fstat, NumDF = s$ndf, DenDF = s$ddf, p = s$p.value,
       F_scaling = s$F.scaling, F_unscaled = s$FstatU)
}

describe <- function(m, formula, data_csv, extra = list()) {
  c(list(formula = formula, data_csv = data_csv, REML = isREML(m),
         theta = list(names = names(getME(m, "theta")), values = unname(getME(m, "theta"))),
         sigma = sigma(m), logLik = as.numeric(logLik(m)),
         optimizer = m@optinfo$optimizer, conv_messages = m@optinfo$conv$lme4$messages,
         colnames_X = colnames(getME(m, "X")),
         fixef = fixef_rows(m), vcov = unname(as.matrix(vcov(m))),
         vcov_adj = unname(as.matrix(vcovAdj(m)))), extra,
    list(software = list(R = R.version.string,
                         lme4 = as.character(packageVersion("lme4")),
                         lmerTest = as.character(packageVersion("lmerTest")),
                         pbkrtest = as.character(packageVersion("pbkrtest"))),
         generated = format(Sys.time(), "%Y-%m-%d %H:%M:%S %Z")))
}

write <- function(x, name) {
  writeLines(toJSON(x, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"),
             file.path(outdir, name))
  cat("wrote", file.path(outdir, name), "\n")
}

## 1. dietox_evit_cu at the bobyqa optimum ---------------------------------------
dietox <- read.csv(file.path(refdir, "data", "dietox.csv"))
f1 <- "Weight ~ Time + Evit + Cu + (Time | Pig)"
m1 <- lmer(as.formula(f1), dietox, REML = TRUE, control = lmerControl(optimizer = "bobyqa"))
write(describe(m1, f1, "data/dietox.csv"), "dietox_evit_cu_bobyqa.json")

## 2. unbalanced sleepstudy, factor(Days) ----------------------------------------
sleep <- read.csv(file.path(refdir, "data", "sleepstudy.csv"), colClasses = c("numeric", "numeric", "character"))
sleep <- sleep[seq_len(nrow(sleep)) %% 7 != 3, ]
sleep$Subject <- factor(sleep$Subject)
f2 <- "Reaction ~ factor(Days) + (Days | Subject)"
m2 <- lmer(as.formula(f2), sleep, REML = TRUE)
L2 <- rbind(c(0, 1, -1, 0, 0, 0, 0, 0, 0, 0), c(0, 0, 1, -1, 0, 0, 0, 0, 0, 0),
            c(0, 1, 0, -1, 0, 0, 0, 0, 0, 0))  # rank 2: row 3 = row 1 + row 2
write(describe(m2, f2, "data/sleepstudy.csv",
               list(rows_used = "rows with (row number %% 7) != 3 (row numbers from 1)",
                    anova_type3_kenward_roger = anova_rows(m2),
                    krmodcomp_rank_deficient = kr_test(m2, L2))),
      "sleepstudy_unbal.json")

## 3. simulated crossed design ------------------------------------------------------
set.seed(20240611)
cr <- expand.grid(a = paste0("a", 1:10), b = paste0("b", 1:6), rep = 1:2)
cr <- cr[runif(nrow(cr)) > 0.15, ]
cr$x <- round(rnorm(nrow(cr), 5, 2), 3)
cr$trt <- sample(c("ctl", "low", "high"), nrow(cr), replace = TRUE)
ea <- rnorm(10, 0, 1.5); eb <- rnorm(6, 0, 2.5)
cr$y <- round(10 + 0.8 * cr$x + c(ctl = 0, low = 0.5, high = 1.5)[cr$trt] +
              ea[as.integer(cr$a)] + eb[as.integer(cr$b)] + rnorm(nrow(cr), 0, 1), 4)
cr <- cr[, c("y", "x", "trt", "a", "b")]
write.csv(cr, file.path(outdir, "crossed_sim.csv"), row.names = FALSE)
cr$trt <- factor(cr$trt, levels = c("ctl", "high", "low"))
f3 <- "y ~ x + trt + (1 | a) + (1 | b)"
m3 <- lmer(as.formula(f3), cr, REML = TRUE)
write(describe(m3, f3, "kr/crossed_sim.csv",
               list(anova_type3_kenward_roger = anova_rows(m3))), "crossed_sim.json")

## 4. simulated unbalanced nested design --------------------------------------------
set.seed(7)
ns <- do.call(rbind, lapply(1:15, function(g) {
  nh <- sample(1:4, 1)
  do.call(rbind, lapply(seq_len(nh), function(h) {
    k <- sample(2:6, 1)
    data.frame(g = sprintf("g%02d", g), h = paste0("h", h), x = round(runif(k, 0, 10), 2))
  }))
}))
ug <- rnorm(15, 0, 2); sg <- rnorm(15, 0, 0.3)
gh <- interaction(ns$g, ns$h, drop = TRUE); uh <- rnorm(nlevels(gh), 0, 1)
gi <- as.integer(factor(ns$g))
ns$y <- round(3 + 0.5 * ns$x + ug[gi] + sg[gi] * ns$x + uh[as.integer(gh)] + rnorm(nrow(ns), 0, 0.8), 4)
write.csv(ns, file.path(outdir, "nested_sim.csv"), row.names = FALSE)
f4 <- "y ~ x + (x | g) + (1 | g:h)"
m4 <- lmer(as.formula(f4), ns, REML = TRUE)
write(describe(m4, f4, "kr/nested_sim.csv"), "nested_sim.json")

## 5. a 3 x 3 correlated block ------------------------------------------------------
ts <- read.csv(file.path(refdir, "engine", "three_slopes.csv"))
ts$g <- factor(ts$g)
f5 <- "y ~ x1 + x2 + (x1 + x2 | g)"
m5 <- lmer(as.formula(f5), ts, REML = TRUE, control = lmerControl(optimizer = "bobyqa"))
write(describe(m5, f5, "engine/three_slopes.csv"), "three_slopes.json")
