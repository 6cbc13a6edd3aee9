#!/usr/bin/env Rscript
# make_inference_reference.R -- inference reference values (lmerTest anova, emmeans
# marginal means and contrasts, lme4 profile/Wald CIs, population-level prediction
# bands) for mixedkit's fit.anova(), fit.marginal_means(), fit.contrasts(),
# fit.confint() and prediction intervals.
#
# Usage:
#   Rscript tests/reference/inference/make_inference_reference.R OUTDIR [MODEL_ID ...]
#
#   OUTDIR     where to write <model_id>.json, data/<dataset>.csv (the generated
#              datasets) and levels_extra.json. Default: a new temporary directory.
#              The script refuses to write into its own directory (the stored copies)
#              unless MIXEDKIT_OVERWRITE_REFERENCE=1.
#   MODEL_ID   restrict to these models (default: all). Ids: see `models` below;
#              e.g. `sleepstudy dietox_fac` re-creates two files of the shared set.
#
# Compare a regenerated directory with the stored files:
#   python tests/reference/inference/compare_inference.py OUTDIR [MODEL_ID ...]
#
# The shared reference set (sleepstudy, dietox_fac, penicillin, pastes; README.md) was
# produced by a script that is not available; this script was written afterwards to
# produce the same JSON format (field names and structure) and reproduces those
# numbers (see README_extra.md). Not produced here: confint_boot and ranova.
# Fields added to that format (all files written by this script): pairwise.specs[].holm /
# .bonferroni, pairwise_by, trt_vs_ctrl, anova_type{1,2}_kenward_roger,
# fit.fixef_columns_dropped, emmeans.specs[].*.non_estimable (only when some row is
# nonEst); for the generated datasets also data_levels and design. See README_extra.md.
#
# Needs R with lme4, lmerTest, emmeans, pbkrtest, nlme (ergoStool, Oats) and jsonlite.
# Stored files: R 4.2.2, lme4 1.1-31, lmerTest 3.1-3, emmeans 1.8.4-1, pbkrtest 0.5.2,
# Matrix 1.5-3, R reference BLAS.

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)   # Satterthwaite / Kenward-Roger anova and t tests
  library(emmeans)    # marginal means, contrasts
  library(pbkrtest)   # Kenward-Roger (used by lmerTest and emmeans)
  library(jsonlite)
})
stopifnot(requireNamespace("nlme", quietly = TRUE))   # datasets ergoStool, Oats
options(contrasts = c("contr.treatment", "contr.poly"))

## ================================================================ arguments
args <- commandArgs(trailingOnly = TRUE)
script_path <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
script_dir <- if (length(script_path)) dirname(normalizePath(script_path[1])) else getwd()
datadir <- normalizePath(file.path(script_dir, "..", "data"))   # tests/reference/data

outdir <- if (length(args) >= 1 && nzchar(args[1])) args[1] else
  tempfile("mixedkit_inference_", tmpdir = Sys.getenv("TMPDIR", "/tmp"))
only <- if (length(args) >= 2) args[-1] else character(0)
outdir <- normalizePath(outdir, mustWork = FALSE)
if (identical(outdir, script_dir) && Sys.getenv("MIXEDKIT_OVERWRITE_REFERENCE") != "1")
  stop("refusing to overwrite the stored reference files in ", script_dir,
       "; write elsewhere and compare, or set MIXEDKIT_OVERWRITE_REFERENCE=1")
dir.create(file.path(outdir, "data"), recursive = TRUE, showWarnings = FALSE)
cat("stored data :", datadir, "\n")
cat("output to   :", outdir, "\n")

MVT_SEED <- 1L        # set.seed() before every adjust = "mvt" summary (Monte Carlo)

## ================================================================ helpers
# Evaluate expr; collect warnings, messages and printed output (in the order they
# occur, muffled) and the error text, if any.
capture <- function(expr) {
  notes <- character(0); err <- NULL; val <- NULL
  out <- utils::capture.output(
    val <- withCallingHandlers(
      tryCatch(expr, error = function(e) { err <<- conditionMessage(e); NULL }),
      warning = function(w) { notes <<- c(notes, conditionMessage(w)); invokeRestart("muffleWarning") },
      message = function(m) { notes <<- c(notes, sub("\n+$", "", conditionMessage(m)))
                              invokeRestart("muffleMessage") }))
  out <- out[nzchar(trimws(out))]
  notes <- unlist(strsplit(c(notes, out), "\n"))
  notes <- trimws(notes[nzchar(trimws(notes))])
  list(value = val, notes = notes, error = err)
}

num <- function(x) { x <- unname(as.numeric(x)); if (length(x) == 1 && is.na(x)) NA_real_ else x }
strs <- function(x) as.list(unname(as.character(x)))    # JSON array of strings, even length 1
empty_obj <- function() structure(list(), names = character(0))   # JSON {}
named_list <- function(x) if (length(x)) as.list(x) else empty_obj()

write_json_file <- function(x, path) {
  writeLines(toJSON(x, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null", null = "null"),
             path, useBytes = TRUE)
}

software <- function() {
  v <- function(p) as.character(packageVersion(p))
  blas <- basename(extSoftVersion()[["BLAS"]])
  c(list(R = R.version.string),
    sapply(c("lme4", "lmerTest", "emmeans", "pbkrtest", "Matrix", "nlme", "numDeriv",
             "estimability", "mvtnorm", "minqa", "nloptr", "jsonlite"), v, simplify = FALSE),
    list(BLAS = blas,
         note = if (grepl("^libblas", blas)) "R reference BLAS/LAPACK (Debian libblas3/liblapack3), single-threaded"
                else "not the R reference BLAS: last digits may differ"))
}

## ================================================================ data
# Datasets of the shared set are read from tests/reference/data with the levels of
# levels.json; the new datasets are generated here (nlme data or a seeded simulation),
# written to OUTDIR/data/<name>.csv and read back from that CSV, so the fits use
# exactly the numbers a test reads from the CSV.

levels_json <- fromJSON(file.path(datadir, "levels.json"), simplifyVector = TRUE)

# Read a CSV: factor columns (listed in `lev`) get their R level order, others numeric.
read_csv_levels <- function(path, lev) {
  d <- read.csv(path, colClasses = "character")
  for (v in names(d)) {
    if (v %in% names(lev)) {
      d[[v]] <- factor(d[[v]], levels = lev[[v]]$levels)
      stopifnot(!anyNA(d[[v]]))
    } else {
      d[[v]] <- as.numeric(d[[v]])
    }
  }
  d
}

read_shared <- function(name) {
  if (name == "dietox") {
    # header has 7 names but 8 fields per row -> first (unnamed) column becomes row
    # names; Pig, Evit, Cu stay numeric (factor() in the formula where wanted)
    return(read.csv(file.path(datadir, "dietox.csv")))
  }
  read_csv_levels(file.path(datadir, paste0(name, ".csv")), levels_json[[name]])
}

# ---- generators of the new datasets. Each returns list(data, seed, description);
#      factor columns are factors (R level order = stored level order).
SEEDS <- c(interaction_cov = 20240, empty_cell = 20241, random_slope_factor = 20242)

unorder <- function(f) factor(as.character(f), levels = levels(f))

gen_ergostool <- function() {
  e <- as.data.frame(nlme::ergoStool)
  d <- data.frame(effort = as.numeric(e$effort), Type = unorder(e$Type), Subject = unorder(e$Subject))
  list(data = d, seed = NULL, ordered_in_source = c(Type = is.ordered(e$Type), Subject = is.ordered(e$Subject)),
       description = paste("nlme::ergoStool: 9 subjects x 4 stool types (T1..T4), one effort rating each",
                           "(balanced randomized complete block). Subject keeps nlme's level order",
                           "(an ordered factor in nlme, ordered by response; used unordered)."))
}

gen_splitplot <- function() {
  o <- as.data.frame(nlme::Oats)
  d <- data.frame(Block = unorder(o$Block), Variety = unorder(o$Variety),
                  nitro = as.numeric(o$nitro),
                  nitro_f = factor(sprintf("%.1f", o$nitro), levels = sprintf("%.1f", sort(unique(o$nitro)))),
                  yield = as.numeric(o$yield))
  list(data = d, seed = NULL,
       ordered_in_source = c(Block = is.ordered(o$Block), Variety = is.ordered(o$Variety), nitro_f = FALSE),
       description = paste("nlme::Oats (Yates 1935): 6 blocks; each block split into 3 whole plots",
                           "(Variety, the whole-plot factor), each whole plot into 4 subplots (nitrogen",
                           "0, 0.2, 0.4, 0.6 cwt/acre, the subplot factor). nitro_f = nitro as a factor with",
                           "labels '0.0','0.2','0.4','0.6' (sprintf('%.1f')); nitro keeps the number.",
                           "Block keeps nlme's level order (VI, V, III, IV, II, I; ordered in nlme, used unordered)."))
}

gen_interaction_cov <- function(seed = SEEDS[["interaction_cov"]]) {
  set.seed(seed)
  n_subj <- 40
  subj <- sprintf("s%02d", seq_len(n_subj))
  d <- expand.grid(B = c("b1", "b2", "b3"), A = c("a1", "a2"), subject = subj,
                   stringsAsFactors = FALSE)[, c("subject", "A", "B")]
  u <- rnorm(n_subj, 0, 3)                      # random intercepts
  xs <- rnorm(n_subj, 0, 8)                     # subject part of the covariate
  d$x <- round(50 + xs[match(d$subject, subj)] + rnorm(nrow(d), 0, 5), 1)
  mu <- 20 + 2 * (d$A == "a2") + 1 * (d$B == "b2") + 3 * (d$B == "b3") -
    1.5 * (d$A == "a2" & d$B == "b2") + 1 * (d$A == "a2" & d$B == "b3") + 0.3 * d$x
  d$y <- round(mu + u[match(d$subject, subj)] + rnorm(nrow(d), 0, 2), 2)
  drop <- sample(nrow(d), round(0.1 * nrow(d)))  # ~10% missing at random
  d <- d[-drop, ]
  rownames(d) <- NULL
  d$subject <- factor(d$subject, levels = subj)
  d$A <- factor(d$A, levels = c("a1", "a2"))
  d$B <- factor(d$B, levels = c("b1", "b2", "b3"))
  list(data = d, seed = seed, ordered_in_source = c(subject = FALSE, A = FALSE, B = FALSE),
       description = paste("simulated: 40 subjects, A (a1, a2) and B (b1, b2, b3) both within subject,",
                           "one row per subject x A x B cell (240), then 24 rows (10%) dropped at random;",
                           "x = 50 + subject effect N(0, 8^2) + N(0, 5^2), rounded to 0.1;",
                           "y = 20 + 2[a2] + 1[b2] + 3[b3] - 1.5[a2:b2] + 1[a2:b3] + 0.3 x + u_subject N(0, 3^2)",
                           "+ e N(0, 2^2), rounded to 0.01"))
}

gen_empty_cell <- function(seed = SEEDS[["empty_cell"]]) {
  set.seed(seed)
  n <- 180
  grp <- sprintf("g%02d", 1:10)
  d <- data.frame(g = sample(grp, n, TRUE),
                  A = sample(c("a1", "a2", "a3"), n, TRUE, prob = c(0.45, 0.30, 0.25)),
                  B = sample(c("b1", "b2", "b3"), n, TRUE, prob = c(0.40, 0.35, 0.25)),
                  stringsAsFactors = FALSE)
  d <- d[!(d$A == "a2" & d$B == "b3"), ]          # the empty cell
  u <- rnorm(length(grp), 0, 1.5)
  mu <- 10 + c(a1 = 0, a2 = 1, a3 = 1.5)[d$A] + c(b1 = 0, b2 = 2, b3 = 4)[d$B] +
    1 * (d$A == "a3" & d$B == "b2")
  d$y <- round(unname(mu) + u[match(d$g, grp)] + rnorm(nrow(d), 0, 1), 3)
  rownames(d) <- NULL
  d$g <- factor(d$g, levels = grp)
  d$A <- factor(d$A, levels = c("a1", "a2", "a3"))
  d$B <- factor(d$B, levels = c("b1", "b2", "b3"))
  list(data = d, seed = seed, ordered_in_source = c(g = FALSE, A = FALSE, B = FALSE),
       description = paste("simulated: 180 rows, group g (10 levels, random intercept N(0, 1.5^2)) drawn at",
                           "random, A ~ (a1, a2, a3) w.p. (.45, .30, .25), B ~ (b1, b2, b3) w.p. (.40, .35, .25)",
                           "independently; then every a2:b3 row removed (EMPTY CELL a2:b3);",
                           "y = 10 + (0, 1, 1.5)[A] + (0, 2, 4)[B] + 1[a3:b2] + u_g + N(0, 1), rounded to 0.001"))
}

gen_random_slope_factor <- function(seed = SEEDS[["random_slope_factor"]]) {
  set.seed(seed)
  subj <- sprintf("s%02d", 1:30)
  group <- rep(c("g1", "g2", "g3"), times = c(12, 10, 8))     # between-subject, unbalanced
  z1 <- rnorm(30); z2 <- rnorm(30)
  b0 <- 6 * z1                                                # random intercept sd 6
  b1 <- 1.2 * (0.3 * z1 + sqrt(1 - 0.3^2) * z2)               # random slope sd 1.2, cor 0.3
  d <- expand.grid(time = 0:5, subject = subj, stringsAsFactors = FALSE)
  i <- match(d$subject, subj)
  d$group <- group[i]
  mu <- 50 + c(g1 = 0, g2 = 3, g3 = -2)[d$group] + (2 + c(g1 = 0, g2 = 1, g3 = -0.5)[d$group]) * d$time
  d$y <- round(unname(mu) + b0[i] + b1[i] * d$time + rnorm(nrow(d), 0, 2), 2)
  drop <- sample(nrow(d), round(0.1 * nrow(d)))              # ~10% missing at random
  d <- d[-drop, c("subject", "group", "time", "y")]
  rownames(d) <- NULL
  d$subject <- factor(d$subject, levels = subj)
  d$group <- factor(d$group, levels = c("g1", "g2", "g3"))
  list(data = d, seed = seed, ordered_in_source = c(subject = FALSE, group = FALSE),
       description = paste("simulated: 30 subjects in 3 between-subject groups (g1: 12, g2: 10, g3: 8),",
                           "time = 0..5 (180 rows), then 18 rows (10%) dropped at random;",
                           "y = 50 + (0, 3, -2)[group] + (2 + (0, 1, -0.5)[group]) time + b0 + b1 time + N(0, 2^2),",
                           "(b0, b1) ~ N(0, sd = (6, 1.2), cor 0.3), rounded to 0.01"))
}

generators <- list(ergostool = gen_ergostool, splitplot = gen_splitplot,
                   interaction_cov = gen_interaction_cov, empty_cell = gen_empty_cell,
                   random_slope_factor = gen_random_slope_factor)

## ================================================================ models
# Each model: id, dataset, formula, note; emm_specs (emmeans specs); pair_specs
# (pairwise, all adjustments); by_specs (pairwise within `by`); tvc_specs
# (trt.vs.ctrl); predict (population-level prediction grid) or NULL.
SHARED_MODELS <- c("sleepstudy", "dietox_fac", "penicillin", "pastes")

models <- list(
  ## ---- the shared set (re-created for verification)
  list(id = "sleepstudy", dataset = "sleepstudy", formula = "Reaction ~ Days + (Days | Subject)",
       note = "no factor in the fixed part: emmeans ~ 1 is the mean at Days = mean(Days) = 4.5",
       emm_specs = "~ 1",
       predict = list(spec = "~ Days", at = list(Days = 0:9), at_str = "list(Days = 0:9)")),
  list(id = "dietox_fac", dataset = "dietox",
       formula = "Weight ~ Time + factor(Evit) + factor(Cu) + (Time | Pig)",
       note = paste("Evit, Cu numeric codes 1..3 in the CSV, entered as treatment-coded factors (reference 1);",
                    "Pig numeric id used as grouping factor"),
       emm_specs = c("~ Evit", "~ Cu"), pair_specs = c("~ Evit", "~ Cu"), tvc_specs = c("~ Evit", "~ Cu")),
  list(id = "penicillin", dataset = "Penicillin", formula = "diameter ~ 1 + (1 | plate) + (1 | sample)",
       note = "intercept only, crossed random effects: fixed-effect anova tables are empty",
       emm_specs = "~ 1"),
  list(id = "pastes", dataset = "Pastes", formula = "strength ~ 1 + (1 | batch/cask)",
       note = paste("intercept only, nested random effects (1 | batch) + (1 | batch:cask), lme4 names the",
                    "latter 'cask:batch'; fixed-effect anova tables are empty"),
       emm_specs = "~ 1"),

  ## ---- new designs
  list(id = "ergostool", dataset = "ergostool", formula = "effort ~ Type + (1 | Subject)",
       note = "randomized complete block: balanced, so Satterthwaite and Kenward-Roger agree (type III F(3, 24))",
       emm_specs = "~ Type", pair_specs = "~ Type", tvc_specs = "~ Type"),
  list(id = "splitplot", dataset = "splitplot", formula = "yield ~ nitro_f * Variety + (1 | Block/Variety)",
       note = paste("split plot: Variety = whole-plot factor (error stratum Block:Variety, lme4 group",
                    "'Variety:Block'), nitro_f = subplot factor (nitro as a factor). Balanced: Variety is tested",
                    "on 10 df, nitro_f and nitro_f:Variety on 45 df, Satterthwaite = Kenward-Roger"),
       emm_specs = c("~ nitro_f", "~ Variety", "~ nitro_f:Variety"),
       pair_specs = c("~ nitro_f", "~ Variety", "~ nitro_f:Variety"),
       by_specs = c("~ nitro_f | Variety", "~ Variety | nitro_f"),
       tvc_specs = c("~ nitro_f", "~ Variety", "~ nitro_f | Variety", "~ Variety | nitro_f")),
  list(id = "interaction_cov", dataset = "interaction_cov", formula = "y ~ A * B + x + (1 | subject)",
       note = "two within-subject factors with interaction plus a numeric covariate; ~10% of the rows missing",
       emm_specs = c("~ A", "~ B", "~ A:B"), pair_specs = c("~ A", "~ B", "~ A:B"),
       by_specs = c("~ B | A", "~ A | B"), tvc_specs = c("~ A", "~ B", "~ B | A", "~ A | B"),
       predict = list(spec = "~ x:A:B", at = list(x = c(30, 40, 50, 60, 70)),
                      at_str = "list(x = c(30, 40, 50, 60, 70))")),
  list(id = "empty_cell", dataset = "empty_cell", formula = "y ~ A * B + (1 | g)",
       note = paste("cell a2:b3 is empty: the A:B column Aa2:Bb3 is all zero, lme4 drops it",
                    "(fit.fixef_columns_dropped); emmeans marks the a2 b3 cell and every mean or contrast",
                    "that involves it (the A = a2 and B = b3 marginal means) as non-estimable (null);",
                    "lmerTest anova tests A:B on 3 df and warns 'Missing cells for: Aa2:Bb3'"),
       emm_specs = c("~ A", "~ B", "~ A:B"), pair_specs = c("~ A", "~ B", "~ A:B"),
       by_specs = c("~ B | A", "~ A | B"), tvc_specs = c("~ A", "~ B", "~ B | A", "~ A | B")),
  list(id = "empty_cell_additive", dataset = "empty_cell", formula = "y ~ A + B + (1 | g)",
       note = paste("additive model on the empty_cell data: everything is estimable, including the",
                    "model-based mean of the empty cell a2 b3 (~ A:B)"),
       emm_specs = c("~ A", "~ B", "~ A:B"), pair_specs = c("~ A", "~ B"), tvc_specs = c("~ A", "~ B")),
  list(id = "random_slope_factor", dataset = "random_slope_factor",
       formula = "y ~ group * time + (time | subject)",
       note = paste("between-subject factor group x numeric time with a correlated random slope;",
                    "emmeans ~ group at time = mean(time); predict_ci on time = 0..5 by group"),
       emm_specs = "~ group", pair_specs = "~ group", tvc_specs = "~ group",
       predict = list(spec = "~ time:group", at = list(time = 0:5), at_str = "list(time = 0:5)"))
)
names(models) <- vapply(models, `[[`, "", "id")
if (length(only)) {
  bad <- setdiff(only, names(models))
  if (length(bad)) stop("unknown model id(s): ", paste(bad, collapse = ", "))
  models <- models[only]
}

## ================================================================ fit + sections
fit_lmer <- function(formula, data) {
  # data is passed as a value so lmerTest/pbkrtest/emmeans can re-evaluate the call
  eval(bquote(lmerTest::lmer(.(as.formula(formula)), data = .(data), REML = TRUE)))
}

fixef_json <- function(m) {
  cf <- summary(m)$coefficients
  lapply(seq_len(nrow(cf)), function(i)
    list(term = rownames(cf)[i], estimate = num(cf[i, "Estimate"]), se = num(cf[i, "Std. Error"]),
         df_satterthwaite = num(cf[i, "df"]), t = num(cf[i, "t value"]),
         p_satterthwaite = num(cf[i, "Pr(>|t|)"])))
}

fit_json <- function(m, fit_notes) {
  vc <- as.data.frame(VarCorr(m))
  # rows in theta order: within a grouping factor the lower triangle column by column
  # (sd 1, cor(2, 1), sd 2), as in the stored files; as.data.frame() lists sds first
  ord <- unlist(lapply(unique(vc$grp), function(g) {
    i <- which(vc$grp == g)
    if (g == "Residual" || length(i) == 1) return(i)
    terms <- vc$var1[i][is.na(vc$var2[i])]                  # term order of this factor
    a <- match(vc$var1[i], terms); b <- ifelse(is.na(vc$var2[i]), a, match(vc$var2[i], terms))
    i[order(pmin(a, b), pmax(a, b))]                        # column j = min, row i = max
  }))
  vc <- vc[ord, ]
  varcorr <- lapply(seq_len(nrow(vc)), function(i) {
    r <- list(group = vc$grp[i])
    if (!is.na(vc$var1[i])) r$var1 <- vc$var1[i]
    if (!is.na(vc$var2[i])) r$var2 <- vc$var2[i]
    c(r, list(vcov = vc$vcov[i], sdcor = vc$sdcor[i]))
  })
  dropped <- attr(getME(m, "X"), "col.dropped")
  list(REML = TRUE, REMLcrit = num(REMLcrit(m)), logLik = num(logLik(m)), sigma = sigma(m),
       varcorr = varcorr, isSingular = isSingular(m),
       lme4_conv_messages = strs(m@optinfo$conv$lme4$messages),
       fit_warnings_messages = strs(fit_notes),
       fixef_columns_dropped = strs(names(dropped)))
}

ANOVA_EMPTY_NOTE <- "no fixed-effect term besides the intercept: lmerTest returns an empty table"
anova_json <- function(m, type, ddf) {
  call <- sprintf('anova(m, type = %d, ddf = "%s")', type, ddf)
  r <- capture(anova(m, type = type, ddf = ddf))
  a <- r$value
  out <- list(rows = NULL, call = call, heading = NULL)
  if (!is.null(a)) {
    out$rows <- lapply(seq_len(nrow(a)), function(i)
      list(term = rownames(a)[i], SumSq = num(a[i, "Sum Sq"]), MeanSq = num(a[i, "Mean Sq"]),
           NumDF = num(a[i, "NumDF"]), DenDF = num(a[i, "DenDF"]), F = num(a[i, "F value"]),
           p = num(a[i, "Pr(>F)"])))
    out$heading <- trimws(paste(attr(a, "heading"), collapse = " "))
    if (nrow(a) == 0) out$note <- ANOVA_EMPTY_NOTE
  }
  c(out, list(warnings_messages = strs(r$notes), error = r$error))
}

# ---- emmeans
spec_vars <- function(spec) all.vars(as.formula(spec))

emm_rows <- function(s) {
  pri <- attr(s, "pri.vars"); by <- attr(s, "by.vars"); vars <- c(pri, by)
  lapply(seq_len(nrow(s)), function(i) {
    lv <- lapply(vars, function(v) as.character(s[[v]][i])); names(lv) <- vars
    list(levels = lv, label = paste(unlist(lv[pri]), collapse = " "),
         emmean = num(s$emmean[i]), SE = num(s$SE[i]), df = num(s$df[i]),
         lower.CL = num(s$lower.CL[i]), upper.CL = num(s$upper.CL[i]))
  })
}

# emmeans(m, spec) with df method `df`; optional `at` (value) / at_str (for the call text)
emm_block <- function(m, spec, df, at = NULL, at_str = NULL, notes_field = TRUE) {
  call <- sprintf('emmeans(m, %s%s, lmer.df = "%s")', spec,
                  if (is.null(at)) "" else paste0(", at = ", at_str), df)
  r <- capture({
    e <- if (is.null(at)) emmeans(m, as.formula(spec), lmer.df = df)
         else emmeans(m, as.formula(spec), at = at, lmer.df = df)
    summary(e)
  })
  s <- r$value
  out <- list(rows = if (is.null(s)) NULL else emm_rows(s), call = call)
  if (notes_field) out$emmeans_notes <- strs(if (is.null(s)) character(0) else attr(s, "mesg"))
  if (!is.null(s) && anyNA(s$emmean)) {
    lab <- vapply(out$rows, `[[`, "", "label")
    out$non_estimable <- strs(lab[is.na(s$emmean)])
  }
  c(out, list(warnings_messages = strs(r$notes), error = r$error))
}

# Rows of a contrast summary with plus/minus labels (and the `by` levels) read from
# the contrast coefficients; estimate = sum(coef * emmean) is checked.
contrast_rows <- function(emm, ctr, s) {
  cf <- coef(ctr)
  ccols <- grep("^c\\.[0-9]+$", names(cf), value = TRUE)
  pri <- emm@misc$pri.vars; by <- emm@misc$by.vars
  est_grid <- predict(emm)                       # emmeans in grid (= coef row) order
  stopifnot(length(ccols) == nrow(s))
  lab_of <- function(i) paste(vapply(pri, function(v) as.character(cf[[v]][i]), ""), collapse = " ")
  lapply(seq_len(nrow(s)), function(k) {
    w <- cf[[ccols[k]]]
    plus <- which(w == 1); minus <- which(w == -1)
    stopifnot(length(plus) == 1, length(minus) == 1, sum(w != 0) == 2)
    chk <- sum(w * est_grid)
    if (!is.na(chk) && !is.na(s$estimate[k])) stopifnot(abs(chk - s$estimate[k]) < 1e-8 * (1 + abs(chk)))
    row <- list(contrast = as.character(s$contrast[k]))
    if (length(by)) {
      bl <- lapply(by, function(v) as.character(cf[[v]][plus])); names(bl) <- by
      stopifnot(all(unlist(bl) == vapply(by, function(v) as.character(s[[v]][k]), "")))
      row$by <- bl
    }
    c(row, list(plus = lab_of(plus), minus = lab_of(minus),
                estimate = num(s$estimate[k]), SE = num(s$SE[k]), df = num(s$df[k]),
                t.ratio = num(s$t.ratio[k]), p.value = num(s$p.value[k]),
                lower.CL = num(s$lower.CL[k]), upper.CL = num(s$upper.CL[k])))
  })
}

# method: "pairwise" -> pairs(emm, adjust); "trt.vs.ctrl" -> contrast(emm, "trt.vs.ctrl"[, adjust])
contrast_block <- function(m, spec, method, adjust) {
  emm_call <- sprintf('emmeans(m, %s, lmer.df = "satterthwaite")', spec)
  call <- if (method == "pairwise") sprintf('pairs(%s, adjust = "%s")', emm_call, adjust)
          else if (is.null(adjust)) sprintf('contrast(%s, "trt.vs.ctrl")', emm_call)
          else sprintf('contrast(%s, "trt.vs.ctrl", adjust = "%s")', emm_call, adjust)
  if (identical(adjust, "mvt")) call <- paste0(call, sprintf("; set.seed(%d) before summary()", MVT_SEED))
  emm <- NULL; ctr <- NULL
  r <- capture({
    emm <- emmeans(m, as.formula(spec), lmer.df = "satterthwaite")
    ctr <- if (method == "pairwise") pairs(emm, adjust = adjust)
           else if (is.null(adjust)) contrast(emm, "trt.vs.ctrl")
           else contrast(emm, "trt.vs.ctrl", adjust = adjust)
    if (identical(adjust, "mvt")) set.seed(MVT_SEED)
    summary(ctr, infer = c(TRUE, TRUE))
  })
  s <- r$value
  rows <- if (is.null(s)) NULL else contrast_rows(emm, ctr, s)
  list(rows = rows, call = call,
       emmeans_notes = strs(if (is.null(s)) character(0) else attr(s, "mesg")),
       warnings_messages = strs(r$notes), error = r$error)
}

PAIR_HOW <- paste(
  "pairs(emmeans(m, spec, lmer.df = 'satterthwaite'), adjust = ...): all pairwise differences 'plus - minus'",
  "of the emmeans rows (labels as in emmeans[].satterthwaite.rows[].label); summary(.., infer = c(TRUE, TRUE))",
  "so CIs are adjusted the same way as the p values (tukey: studentized range with the family size in",
  "emmeans_notes; none: plain t).")
PAIR_HOW_EXTRA <- paste(
  "holm: Holm step-down p values over the family (all rows of the spec, or of one `by` group), CIs",
  "Bonferroni-adjusted (emmeans has no Holm intervals: 'Conf-level adjustment: bonferroni');",
  "bonferroni: p = min(1, family size * p_unadjusted), CI with t quantile 1 - 0.025 / family size.",
  "Non-estimable contrasts (emmeans 'nonEst') have null numbers but DO count in the family size",
  "(emmeans_notes: 'holm method for 3 tests' even when only 1 of the 3 is estimable, so that p = 3 p_unadj).",
  "Tiny p values are 1 - (a probability) for tukey / dunnettx: below ~1e-14 they are rounding noise (even 0).")

pairwise_json <- function(m, specs, by = FALSE) {
  how <- paste(PAIR_HOW, PAIR_HOW_EXTRA)
  if (by) how <- paste(how, "pairwise_by: spec '~ f | g' = pairs of the levels of f within each level of g;",
                       "each row has `by` {g: level}; the family (Tukey, Holm, Bonferroni) is one `by` group.")
  if (!length(specs))
    return(list(how = how, specs = list(), note = "no factor in the fixed part: no pairwise comparisons"))
  list(how = how,
       specs = lapply(specs, function(sp) list(
         spec = sp,
         tukey = contrast_block(m, sp, "pairwise", "tukey"),
         none = contrast_block(m, sp, "pairwise", "none"),
         holm = contrast_block(m, sp, "pairwise", "holm"),
         bonferroni = contrast_block(m, sp, "pairwise", "bonferroni"))),
       note = NULL)
}

TVC_HOW <- paste(
  "contrast(emmeans(m, spec, lmer.df = 'satterthwaite'), 'trt.vs.ctrl', adjust = ...): every level minus",
  "the FIRST level (reference, 'plus - minus' with minus = reference); with '~ f | g' within each level of g.",
  "summary(.., infer = c(TRUE, TRUE)).",
  "dunnettx = emmeans' default for trt.vs.ctrl (no adjust argument; adjust = 'dunnett' partially matches",
  "'dunnettx' and gives the same numbers): emmeans' approximation to Dunnett's distribution for k",
  "comparisons with pairwise correlation 0.5: P(|T| <= x) = w ptukey(sqrt(2) x, (1 + sqrt(1 + 8 k)) / 2, df)",
  "+ (1 - w) pf(x^2, 1, df)^k, w = (k - 1) / k, p = 1 - that at |t.ratio| (exact formula); the CI quantile",
  "is found by uniroot with tol = 5e-4, so the CI limits carry an error up to ~5e-4 * SE.",
  "mvt = exact Dunnett (multivariate t with the actual correlations) by mvtnorm's randomized",
  sprintf("Genz-Bretz algorithm, set.seed(%d) before summary(): Monte Carlo, reproducible only", MVT_SEED),
  "within ~1e-4 in p and ~4e-3 * SE in the CI limits (exact when a family has 2 contrasts); when a family",
  "contains a non-estimable contrast, mvt gives null p and CI for the whole family (warning 'diag(.) had 0",
  "or NA entries'), while dunnettx and none still give numbers for the estimable ones. none = unadjusted t.")

tvc_json <- function(m, specs) {
  if (!length(specs)) return(NULL)
  list(how = TVC_HOW,
       specs = lapply(specs, function(sp) list(
         spec = sp,
         dunnettx = contrast_block(m, sp, "trt.vs.ctrl", NULL),
         none = contrast_block(m, sp, "trt.vs.ctrl", "none"),
         mvt = contrast_block(m, sp, "trt.vs.ctrl", "mvt"))))
}

EMM_HOW <- paste(
  "emmeans(m, ~ <factor(s)>) on the default reference grid: every factor at all of its levels, each",
  "numeric covariate held at its mean over the rows used in the fit (cov.reduce = mean); the marginal mean",
  "of a factor is the EQUAL-weight average (weights = 'equal') of the reference-grid predictions over the",
  "levels of the other factors, whatever the cell counts. Cell means of an interaction (~ a:b) average",
  "over nothing. SE from vcov(m) for Satterthwaite and from the Kenward-Roger adjusted vcov",
  "(pbkrtest::vcovAdj) for kenward-roger; CI = emmean +/- qt(0.975, df) * SE.")
EMM_HOW_EXTRA <- paste(
  "Multi-factor specs: `levels` holds every factor, `label` = the levels joined by a space",
  "(emmeans' own contrast labels use the same form). Non-estimable rows (emmeans 'nonEst') have",
  "null numbers and are listed in `non_estimable`.")

emmeans_json <- function(m, specs, covariates) {
  list(how = paste(EMM_HOW, EMM_HOW_EXTRA), covariates_held_at = named_list(covariates), weights = "equal",
       specs = lapply(specs, function(sp) list(
         spec = sp,
         satterthwaite = emm_block(m, sp, "satterthwaite"),
         kenward_roger = emm_block(m, sp, "kenward-roger"))))
}

# ---- confidence intervals
# .sigNN -> meaning, in theta order: grouping factors in VarCorr order, within a factor the
# lower triangle column by column.
parameter_map <- function(m) {
  vc <- VarCorr(m); out <- list(); k <- 0
  for (g in names(vc)) {
    cn <- colnames(vc[[g]]); sd <- attr(vc[[g]], "stddev"); cr <- attr(vc[[g]], "correlation")
    for (j in seq_along(cn)) for (i in j:length(cn)) {
      k <- k + 1
      if (i == j) {
        meaning <- if (cn[i] == "(Intercept)")
          sprintf("standard deviation of the random intercept for grouping factor %s", g)
          else sprintf("standard deviation of the random slope of %s for grouping factor %s", cn[i], g)
        out[[k]] <- list(parameter = sprintf(".sig%02d", k), lme4_name_new = sprintf("sd_%s|%s", cn[i], g),
                         kind = "sd", group = g, var1 = cn[i], var2 = NA, estimate = num(sd[i]),
                         meaning = meaning)
      } else {
        out[[k]] <- list(parameter = sprintf(".sig%02d", k),
                         lme4_name_new = sprintf("cor_%s.%s|%s", cn[i], cn[j], g),
                         kind = "cor", group = g, var1 = cn[j], var2 = cn[i], estimate = num(cr[i, j]),
                         meaning = sprintf("correlation between the random %s and %s for grouping factor %s",
                                           cn[j], cn[i], g))
      }
    }
  }
  c(out, list(list(parameter = ".sigma", lme4_name_new = "sigma", kind = "sigma", group = "Residual",
                   var1 = NA, var2 = NA, estimate = sigma(m), meaning = "residual standard deviation")))
}

ci_rows <- function(m, ci, fixed_only = FALSE) {
  pm <- parameter_map(m)
  names(pm) <- vapply(pm, `[[`, "", "parameter")
  fe <- fixef(m)
  rows <- list()
  for (p in rownames(ci)) {
    if (p %in% names(pm)) {
      if (fixed_only) next
      x <- pm[[p]]
      r <- list(parameter = p, lme4_name_new = x$lme4_name_new, kind = x$kind, group = x$group)
      if (!is.na(x$var1)) r$var1 <- x$var1
      if (!is.na(x$var2)) r$var2 <- x$var2
      r <- c(r, list(meaning = x$meaning, estimate = x$estimate))
    } else {
      r <- list(parameter = p, lme4_name_new = p, kind = "fixed", estimate = num(fe[[p]]))
    }
    rows[[length(rows) + 1]] <- c(r, list(lower = num(ci[p, 1]), upper = num(ci[p, 2])))
  }
  rows
}

confint_json <- function(m, method) {
  r <- capture(confint(m, method = method, level = 0.95))
  if (method == "profile") {
    list(rows = if (is.null(r$value)) NULL else ci_rows(m, r$value),
         call = 'confint(m, method = "profile")', level = 0.95,
         note = paste("likelihood-profile CIs on the REML criterion (the fit is REML); variance parameters on the",
                      "standard-deviation / correlation scale. .sigNN follow the order of theta: grouping factors",
                      "in lme4's order (VarCorr order), within a factor the lower triangle column by column (sd of",
                      "term 1, cor(term 2, term 1), sd of term 2)."),
         warnings_messages = strs(r$notes), error = r$error)
  } else {
    list(rows = if (is.null(r$value)) NULL else ci_rows(m, r$value, fixed_only = TRUE),
         call = 'confint(m, method = "Wald")', level = 0.95,
         note = "fixed effects only (lme4 gives NA for variance parameters): estimate +/- qnorm(0.975) * SE (normal, not t)",
         warnings_messages = strs(r$notes), error = r$error)
  }
}

# ---- population-level prediction bands
predict_json <- function(m, pr, data) {
  vars <- spec_vars(pr$spec)
  es <- emm_block(m, pr$spec, "satterthwaite", pr$at, pr$at_str, notes_field = FALSE)
  ek <- emm_block(m, pr$spec, "kenward-roger", pr$at, pr$at_str, notes_field = FALSE)
  # the grid, in the emmeans row order
  nd <- as.data.frame(lapply(setNames(vars, vars), function(v) {
    vals <- vapply(es$rows, function(r) r$levels[[v]], "")
    if (is.factor(data[[v]])) factor(vals, levels = levels(data[[v]])) else as.numeric(vals)
  }))
  X <- model.matrix(delete.response(terms(m)), nd,
                    contrasts.arg = attr(getME(m, "X"), "contrasts"))
  X <- X[, colnames(getME(m, "X")), drop = FALSE]         # minus rank-deficiency drops
  fit <- drop(X %*% fixef(m))
  se <- sqrt(diag(X %*% as.matrix(vcov(m)) %*% t(X)))
  z <- qnorm(0.975)
  rows <- lapply(seq_len(nrow(nd)), function(i) {
    r <- lapply(vars, function(v) if (is.factor(nd[[v]])) as.character(nd[[v]][i]) else nd[[v]][i])
    names(r) <- vars
    c(r, list(fit = num(fit[i]), se = num(se[i]), lower_z = num(fit[i] - z * se[i]), upper_z = num(fit[i] + z * se[i])))
  })
  p_lme4 <- unname(predict(m, newdata = nd, re.form = NA))
  stopifnot(max(abs(p_lme4 - fit)) < 1e-8 * (1 + max(abs(fit))))
  list(vars = strs(vars), at = lapply(pr$at, I),
       emmeans_satterthwaite = es, emmeans_kenward_roger = ek,
       vcov_based = list(
         how = paste("fit = X %*% fixef(m); se = sqrt(diag(X vcov(m) X')); lower/upper = fit -/+ qnorm(0.975) * se",
                     "(normal band); X = fixed-effect model matrix of the grid (treatment contrasts)"),
         rows = rows, `lme4_predict_re.form_NA` = I(p_lme4)),
       note = paste("population-level (marginal, random effects = 0) mean. emmeans_* rows: t band with",
                    "Satterthwaite / Kenward-Roger df (the Satterthwaite SE equals vcov_based se); vcov_based rows:",
                    "normal band. Rows are in the same order in all three."))
}

## ================================================================ one model -> JSON
covariates_held_at <- function(m, data, formula) {
  rg <- ref_grid(m)
  fvars <- all.vars(lme4::nobars(as.formula(formula))[[3]])
  cov <- list()
  for (v in names(rg@levels)) {
    if (v %in% fvars && is.numeric(data[[v]]) && !grepl(sprintf("factor\\(%s\\)", v), formula))
      cov[[v]] <- num(rg@levels[[v]])
  }
  cov
}

run_model <- function(spec, data, dataset_info) {
  t0 <- Sys.time()
  cat(sprintf("%-22s %s\n", spec$id, spec$formula))
  fr <- capture(fit_lmer(spec$formula, data))
  if (!is.null(fr$error)) stop("fit failed for ", spec$id, ": ", fr$error)
  m <- fr$value
  fvars <- all.vars(as.formula(spec$formula))
  flev <- list()
  for (v in fvars) if (is.factor(data[[v]])) flev[[v]] <- I(levels(data[[v]]))
  factor_specs <- setdiff(spec$emm_specs, "~ 1")

  out <- list(
    model_id = spec$id, dataset = spec$dataset,
    data_csv = paste0("data/", dataset_info$csv),
    data_csv_note = "relative to the reference root (refs/ or shared/reference/); from this file: ../data/")
  if (!is.null(dataset_info$levels_file)) out$data_levels <- dataset_info$levels_file
  out <- c(out, list(
    formula = spec$formula, note = spec$note,
    fitted_with = "lmerTest::lmer(formula, data, REML = TRUE), default control (nloptwrap)",
    contrasts = sprintf(paste("treatment (contr.treatment), reference = first level in %s;",
                              "ordered source factors used as unordered"),
                        if (is.null(dataset_info$levels_file)) "data/levels.json" else dataset_info$levels_file)))
  if (!is.null(dataset_info$description))
    out$design <- list(description = dataset_info$description, seed = dataset_info$seed)
  out <- c(out, list(
    nobs = nobs(m), ngrps = as.list(ngrps(m)), factor_levels = named_list(flev),
    fixef = fixef_json(m), fit = fit_json(m, fr$notes),
    anova_type3_satterthwaite = anova_json(m, 3, "Satterthwaite"),
    anova_type1_satterthwaite = anova_json(m, 1, "Satterthwaite"),
    anova_type2_satterthwaite = anova_json(m, 2, "Satterthwaite"),
    anova_type3_kenward_roger = anova_json(m, 3, "Kenward-Roger"),
    anova_type1_kenward_roger = anova_json(m, 1, "Kenward-Roger"),
    anova_type2_kenward_roger = anova_json(m, 2, "Kenward-Roger"),
    anova_note = paste("lmerTest anova(): F tests of the fixed-effect terms. Type III hypotheses are lmerTest's",
                       "(SAS-style, independent of the contrast coding: refitting with contr.sum gives the same",
                       "table). SumSq/MeanSq are lmerTest's 'Sum Sq'/'Mean Sq' (MeanSq = F * sigma^2, SumSq =",
                       "MeanSq * NumDF)."),
    emmeans = emmeans_json(m, spec$emm_specs, covariates_held_at(m, data, spec$formula)),
    pairwise = pairwise_json(m, if (is.null(spec$pair_specs)) character(0) else spec$pair_specs)))
  if (length(spec$by_specs)) out$pairwise_by <- pairwise_json(m, spec$by_specs, by = TRUE)
  if (length(spec$tvc_specs)) out$trt_vs_ctrl <- tvc_json(m, spec$tvc_specs)
  out$confint_profile <- confint_json(m, "profile")
  out$confint_wald <- confint_json(m, "Wald")
  out$parameter_map <- parameter_map(m)
  if (!is.null(spec$predict)) out$predict_ci <- predict_json(m, spec$predict, data)
  out$software <- software()
  out$generated <- format(Sys.time(), "%Y-%m-%d %H:%M:%S UTC", tz = "UTC")
  cat(sprintf("%-22s done in %.1f s\n", "", as.numeric(difftime(Sys.time(), t0, units = "secs"))))
  out
}

## ================================================================ main
shared_csv <- c(sleepstudy = "sleepstudy.csv", dietox = "dietox.csv", Penicillin = "Penicillin.csv",
                Pastes = "Pastes.csv")
needed <- unique(vapply(models, `[[`, "", "dataset"))

datasets <- list(); info <- list(); levels_extra <- list()
for (ds in needed) {
  if (ds %in% names(shared_csv)) {
    datasets[[ds]] <- read_shared(ds)
    info[[ds]] <- list(csv = shared_csv[[ds]])
    next
  }
  g <- generators[[ds]]()
  lev <- list()
  for (v in names(g$data)) if (is.factor(g$data[[v]]))
    lev[[v]] <- list(levels = I(levels(g$data[[v]])), ordered_in_source = unname(g$ordered_in_source[[v]]))
  levels_extra[[ds]] <- lev
  csv <- file.path(outdir, "data", paste0(ds, ".csv"))
  write.csv(g$data, csv, row.names = FALSE)
  stored <- file.path(datadir, paste0(ds, ".csv"))
  if (file.exists(stored)) {
    same <- identical(readLines(stored), readLines(csv))
    cat(sprintf("data %-20s %s the stored %s\n", ds, if (same) "identical to" else "DIFFERS FROM", stored))
  }
  d <- read_csv_levels(csv, lev)                  # fit what the CSV holds
  stopifnot(isTRUE(all.equal(d, g$data, check.attributes = FALSE, tolerance = 0)))
  datasets[[ds]] <- d
  info[[ds]] <- list(csv = paste0(ds, ".csv"), levels_file = "inference/levels_extra.json",
                     description = g$description, seed = g$seed)
}
if (length(levels_extra)) {
  # merge with an existing levels_extra.json in OUTDIR (runs restricted to some models)
  lf <- file.path(outdir, "levels_extra.json")
  if (file.exists(lf)) {
    old <- fromJSON(lf, simplifyVector = FALSE)
    for (ds in setdiff(names(old), names(levels_extra))) levels_extra[[ds]] <- lapply(old[[ds]], function(x)
      list(levels = I(unlist(x$levels)), ordered_in_source = x$ordered_in_source))
    levels_extra <- levels_extra[order(match(names(levels_extra), names(generators)))]
  }
  write_json_file(levels_extra, lf)
}

for (spec in models) {
  res <- run_model(spec, datasets[[spec$dataset]], info[[spec$dataset]])
  write_json_file(res, file.path(outdir, paste0(spec$id, ".json")))
}
cat("written to", outdir, "\n")
