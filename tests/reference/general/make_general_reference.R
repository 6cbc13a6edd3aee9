#!/usr/bin/env Rscript
# make_general_reference.R -- lme4 reference values for random-effects structures that
# statsmodels' MixedLM cannot express: crossed factors with correlated random slopes,
# zero-correlation (||) terms, slopes at a nested level, partially crossed factors and
# prior weights.
#
# Usage:
#   cd tests/reference/general && Rscript make_general_reference.R [OUTDIR]
#
#   OUTDIR  where to write <model>.json (default: this directory, i.e. the stored files
#           are replaced). The data are read from the CSVs in this directory; if one is
#           missing, make_general_data.R is run first to simulate it.
#
# Each <model>.json holds the fit by REML and by ML (lme4, bobyqa), an nloptwrap refit of
# each (optimizer_check), lmerTest Satterthwaite / Kenward-Roger t tests and type 1 / 3
# F tables (both fits; Kenward-Roger for REML fits only), emmeans marginal means and
# pairwise contrasts (models with the factor `a`), performance::icc / r2_nakagawa and the
# conditional modes with conditional SDs. See README.md for the layout.
#
# Needs lme4, lmerTest, pbkrtest, emmeans, performance, jsonlite. Stored files: R 4.2.2,
# lme4 1.1-31, lmerTest 3.1-3, pbkrtest 0.5.2, emmeans 1.8.4-1, performance 0.10.2,
# R reference BLAS (see `software` in each file).

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)   # Satterthwaite / Kenward-Roger (via pbkrtest)
  library(pbkrtest)
  library(jsonlite)
})
HAVE_EMMEANS <- requireNamespace("emmeans", quietly = TRUE)
HAVE_PERFORMANCE <- requireNamespace("performance", quietly = TRUE)
options(contrasts = c("contr.treatment", "contr.poly"))
t_start <- Sys.time()

## ================================================================ arguments
args <- commandArgs(trailingOnly = TRUE)
script_path <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
general_dir <- if (length(script_path)) dirname(normalizePath(script_path[1])) else getwd()
outdir <- if (length(args) >= 1 && nzchar(args[1])) args[1] else general_dir
dir.create(outdir, recursive = TRUE, showWarnings = FALSE)
outdir <- normalizePath(outdir)
cat("data from :", general_dir, "\n")
cat("output to :", outdir, "\n")

PRIMARY_OPTIMIZER <- "bobyqa"
ALT_OPTIMIZER <- "nloptwrap"

## ================================================================ data
DATASETS <- list(
  crossed_2x2     = list(csv = "crossed_2x2.csv", factors = c("subject", "item", "a", "b")),
  nested_slopes   = list(csv = "nested_slopes.csv", factors = c("school", "child")),
  partial_crossed = list(csv = "partial_crossed.csv", factors = c("a", "b"))
)
if (!all(file.exists(file.path(general_dir, vapply(DATASETS, `[[`, "", "csv"))))) {
  cat("simulating the data (make_general_data.R)\n")
  system2(file.path(R.home("bin"), "Rscript"), file.path(general_dir, "make_general_data.R"))
}

# factor levels: sorted in C-locale (radix) order = pandas' sorted order
read_dataset <- function(spec) {
  d <- read.csv(file.path(general_dir, spec$csv), colClasses = "character")
  for (v in names(d)) {
    if (v %in% spec$factors) d[[v]] <- factor(d[[v]], levels = sort(unique(d[[v]]), method = "radix"))
    else d[[v]] <- as.numeric(d[[v]])
  }
  d
}
data <- lapply(DATASETS, read_dataset)

## ================================================================ models
MODELS <- list(
  list(id = "crossed_max", dataset = "crossed_2x2",
       formula = "rt ~ ac * bc + (ac * bc | subject) + (ac * bc | item)", weights = NULL,
       note = "maximal crossed model: 4 x 4 correlated blocks for subject and item (10 + 10 covariance parameters)"),
  list(id = "crossed_factor", dataset = "crossed_2x2",
       formula = "rt ~ a + (a | subject) + (a | item)", weights = NULL,
       note = "a is a factor (a1, a2; treatment contrast, reference a1): random-effect columns (Intercept), aa2",
       emm_specs = "~ a"),
  list(id = "crossed_ab", dataset = "crossed_2x2",
       formula = "rt ~ a * b + (a * b | subject) + (1 | item)", weights = NULL,
       note = "factors a, b (treatment contrasts, references a1, b1): 4 x 4 block (Intercept), aa2, bb2, aa2:bb2 on subject",
       emm_specs = c("~ a", "~ b", "~ a * b")),
  list(id = "crossed_zcp", dataset = "crossed_2x2",
       formula = "rt ~ ac * bc + (ac * bc || subject) + (ac * bc || item)", weights = NULL,
       note = paste("zero-correlation parameterisation: each || expands into 4 scalar terms;",
                    "lme4 names them subject, subject.1, subject.2, subject.3 (and item, item.1, ...)")),
  list(id = "crossed_weights", dataset = "crossed_2x2",
       formula = "rt ~ ac * bc + (ac | subject) + (1 | item)", weights = "w",
       note = "prior weights w: residual variance of row i is sigma^2 / w_i"),
  list(id = "nested_slopes", dataset = "nested_slopes",
       formula = "y ~ time + (time | school/child)", weights = NULL,
       note = paste("= (time | school) + (time | school:child); lme4 names the groups 'child:school' and",
                    "'school'; child ids c1..c8 are re-used across schools")),
  list(id = "nested_mixed", dataset = "nested_slopes",
       formula = "y ~ time + (time | school) + (1 | school:child)", weights = NULL,
       note = "random slope at the school level only; lme4 names the groups 'school:child' (as written) and 'school'"),
  list(id = "partial", dataset = "partial_crossed",
       formula = "y ~ x + (x | a) + (1 | b)", weights = NULL,
       note = "a (30 levels) and b (12 levels) partially crossed"),
  list(id = "partial_weights", dataset = "partial_crossed",
       formula = "y ~ x + (x | a) + (1 | b)", weights = "w",
       note = "as `partial`, with prior weights w")
)

## ================================================================ helpers
# Evaluate expr; collect (and muffle) warnings and messages, the printed output and the
# error text, if any (performance/insight print some notes instead of signalling them).
capture <- function(expr) {
  warns <- character(0); msgs <- character(0); err <- NULL; val <- NULL
  out <- utils::capture.output(
    val <- withCallingHandlers(
      tryCatch(expr, error = function(e) { err <<- conditionMessage(e); NULL }),
      warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") },
      message = function(m) { msgs <<- c(msgs, sub("\n+$", "", conditionMessage(m))); invokeRestart("muffleMessage") }))
  out <- trimws(out[nzchar(trimws(out))])
  list(value = val, warnings = warns, messages = msgs, output = out, error = err)
}
notes_of <- function(cp) strs(c(cp$warnings, cp$messages, cp$output))

num <- function(x) { x <- unname(as.numeric(x)); if (length(x) == 1 && is.na(x)) NA_real_ else x }
num_or_null <- function(x) { if (is.null(x) || length(x) == 0) return(NULL); num(x) }
arr <- function(x) I(if (is.null(x)) character(0) else unname(x))   # always a JSON array
strs <- function(x) as.list(unname(as.character(x)))               # JSON array of strings
mat <- function(x) { x <- as.matrix(x); unname(matrix(as.numeric(x), nrow(x), ncol(x))) }

write_json_file <- function(x, path) {
  writeLines(toJSON(x, auto_unbox = TRUE, pretty = TRUE, digits = NA, na = "null", null = "null"),
             path, useBytes = TRUE)
}

software <- function() {
  v <- function(p) if (requireNamespace(p, quietly = TRUE)) as.character(packageVersion(p)) else NA
  blas <- basename(extSoftVersion()[["BLAS"]])
  c(list(R = R.version.string),
    sapply(c("lme4", "lmerTest", "pbkrtest", "emmeans", "performance", "insight", "Matrix",
             "nlme", "minqa", "nloptr", "numDeriv", "jsonlite"), v, simplify = FALSE),
    list(BLAS = blas))
}

# The data frame is put into the call as a value so that lmerTest / pbkrtest / emmeans
# can re-evaluate the call; prior weights are the column named by `weights`.
fit_lmer <- function(formula, data, REML, optimizer, weights = NULL) {
  ctrl <- lmerControl(optimizer = optimizer)
  cl <- bquote(lme4::lmer(.(as.formula(formula)), data = .(data), REML = .(REML), control = .(ctrl)))
  if (!is.null(weights)) cl$weights <- as.name(weights)
  eval(cl)
}

varcorr_json <- function(m) {
  vc <- VarCorr(m)
  gf <- names(m@cnms)
  terms <- lapply(seq_along(vc), function(i) {
    v <- vc[[i]]; k <- nrow(v)
    list(group = names(vc)[i], grouping_factor = gf[i], terms = arr(colnames(v)),
         variance = I(unname(diag(v))), sd = I(unname(attr(v, "stddev"))),
         cov = mat(v), corr = if (k > 1) mat(attr(v, "correlation")) else NULL)
  })
  list(terms = terms, residual = list(variance = sigma(m)^2, sd = sigma(m)))
}

varcorr_df_json <- function(m) {
  d <- as.data.frame(VarCorr(m))
  lapply(seq_len(nrow(d)), function(i)
    list(grp = d$grp[i], var1 = if (is.na(d$var1[i])) NULL else d$var1[i],
         var2 = if (is.na(d$var2[i])) NULL else d$var2[i], vcov = d$vcov[i], sdcor = d$sdcor[i]))
}

# Conditional modes in FACTOR LEVEL ORDER (not sorted). One block per grouping factor
# (names(ranef(m))): levels, one array per column (the mode), "condsd:<column>" the
# conditional SD. "condcov" (per level, k x k) when the factor has one k > 1 term.
ranef_json <- function(m) {
  re <- ranef(m, condVar = TRUE)
  out <- list()
  for (g in names(re)) {
    d <- re[[g]]
    pv <- attr(d, "postVar")
    if (is.list(pv)) {                      # several terms for one factor, e.g. ||
      csd <- unlist(lapply(pv, function(a) lapply(seq_len(dim(a)[1]), function(j) sqrt(a[j, j, ]))),
                    recursive = FALSE)
      ccov <- NULL
    } else {
      csd <- lapply(seq_len(ncol(d)), function(j) sqrt(pv[j, j, ]))
      ccov <- if (ncol(d) > 1) lapply(seq_len(dim(pv)[3]), function(l) mat(pv[, , l])) else NULL
    }
    x <- list(levels = I(rownames(d)), terms = arr(colnames(d)))
    for (j in seq_len(ncol(d))) {
      x[[colnames(d)[j]]] <- I(unname(d[[j]]))
      x[[paste0("condsd:", colnames(d)[j])]] <- I(unname(csd[[j]]))
    }
    if (!is.null(ccov)) x$condcov <- ccov
    out[[g]] <- x
  }
  out
}

conv_info <- function(m) {
  msgs <- m@optinfo$conv$lme4$messages
  list(optimizer = m@optinfo$optimizer,
       feval = m@optinfo$feval,
       optimizer_message = m@optinfo$message,
       optimizer_warnings = strs(unlist(m@optinfo$warnings)),
       lme4_conv_messages = strs(msgs),
       converged_no_lme4_warnings = length(msgs) == 0,
       max_abs_grad = num_or_null(if (!is.null(m@optinfo$derivs)) max(abs(m@optinfo$derivs$gradient))),
       isSingular = isSingular(m, tol = 1e-4))
}

fixef_rows <- function(m, sat, kr) {
  b <- fixef(m); se <- sqrt(diag(as.matrix(vcov(m))))
  lapply(seq_along(b), function(i) {
    r <- list(term = names(b)[i], estimate = unname(b[i]), se = unname(se[i]), t = unname(b[i] / se[i]))
    if (!is.null(sat)) {
      r$df_satterthwaite <- unname(sat[i, "df"]); r$p_satterthwaite <- unname(sat[i, "Pr(>|t|)"])
    }
    if (!is.null(kr)) {
      r$se_kenward_roger <- unname(kr[i, "Std. Error"]); r$t_kenward_roger <- unname(kr[i, "t value"])
      r$df_kenward_roger <- unname(kr[i, "df"]); r$p_kenward_roger <- unname(kr[i, "Pr(>|t|)"])
    }
    r
  })
}

anova_json <- function(mt, type, ddf) {
  cl <- sprintf('anova(m, type = %d, ddf = "%s")', type, ddf)
  cp <- capture(anova(mt, type = type, ddf = ddf))
  a <- cp$value
  rows <- if (is.null(a)) list() else lapply(seq_len(nrow(a)), function(i) list(
    term = rownames(a)[i], SumSq = num(a[i, "Sum Sq"]), MeanSq = num(a[i, "Mean Sq"]),
    NumDF = num(a[i, "NumDF"]), DenDF = num(a[i, "DenDF"]), F = num(a[i, "F value"]),
    p = num(a[i, "Pr(>F)"])))
  list(rows = rows, call = cl, heading = if (is.null(a)) NULL else strs(trimws(attr(a, "heading"))),
       warnings_messages = notes_of(cp), error = cp$error)
}

# Weighted models only: Kenward-Roger with the residual covariance sigma^2 W^-1.
# pbkrtest 0.5.2 (and so lmerTest's / emmeans' Kenward-Roger) builds the marginal
# covariance as Z Lambda Lambda' Z' sigma^2 + sigma^2 I, i.e. it IGNORES prior weights.
# This recomputes the adjustment with pbkrtest's own internals (get_SigmaG,
# vcovAdj_internal, Lb_ddf) after replacing the identity by diag(1 / w).
kr_weighted_json <- function(m) {
  w <- weights(m, type = "prior")
  n <- length(w)
  SG <- pbkrtest:::get_SigmaG(m)
  k <- length(SG$G)
  SG$Sigma <- SG$Sigma + sigma(m)^2 * (Diagonal(n, 1 / w) - SG$G[[k]])
  SG$G[[k]] <- Diagonal(n, 1 / w)
  V0 <- as.matrix(vcov(m))
  Vadj <- pbkrtest:::vcovAdj_internal(V0, SG, getME(m, "X"))
  b <- fixef(m); p <- length(b)
  rows <- lapply(seq_len(p), function(i) {
    L <- matrix(0, 1, p); L[i] <- 1
    se <- sqrt(Vadj[i, i]); df <- pbkrtest:::Lb_ddf(L, V0, Vadj)
    tt <- unname(b[i]) / se
    list(term = names(b)[i], estimate = unname(b[i]), se_kenward_roger = se, t_kenward_roger = tt,
         df_kenward_roger = df, p_kenward_roger = 2 * pt(-abs(tt), df))
  })
  list(rows = rows, vcov_adjusted = list(names = arr(names(b)), matrix = mat(Vadj)),
       how = paste("NOT an lme4/lmerTest/pbkrtest output. pbkrtest 0.5.2 ignores prior weights",
                   "(residual covariance sigma^2 I); these rows redo its Kenward-Roger computation",
                   "(get_SigmaG -> vcovAdj_internal -> Lb_ddf, pbkrtest internals) with residual",
                   "covariance sigma^2 diag(1/w). With w = 1 it reproduces summary(m, ddf = 'Kenward-Roger').",
                   "Every fixed term has 1 df here, so the type 1/3 KR F tests are F = t^2 with these df."))
}

emm_rows <- function(em) {
  s <- as.data.frame(summary(em))
  vars <- em@misc$pri.vars
  if (is.null(vars)) vars <- names(em@levels)
  lapply(seq_len(nrow(s)), function(i) {
    lv <- lapply(vars, function(v) as.character(s[[v]][i])); names(lv) <- vars
    list(levels = lv, label = paste(unlist(lv), collapse = " "), emmean = num(s$emmean[i]),
         SE = num(s$SE[i]), df = num(s$df[i]), lower.CL = num(s$lower.CL[i]), upper.CL = num(s$upper.CL[i]))
  })
}
pairs_rows <- function(pr) {
  s <- as.data.frame(summary(pr))
  lapply(seq_len(nrow(s)), function(i) list(
    contrast = as.character(s$contrast[i]), estimate = num(s$estimate[i]), SE = num(s$SE[i]),
    df = num(s$df[i]), t.ratio = num(s$t.ratio[i]), p.value = num(s$p.value[i])))
}
emmeans_json <- function(m, specs) {
  lapply(specs, function(spec) {
    res <- list(spec = spec)
    for (dfm in c("satterthwaite", "kenward-roger")) {
      key <- gsub("-", "_", dfm)
      cp <- capture(emmeans::emmeans(m, as.formula(spec), lmer.df = dfm))
      em <- cp$value
      if (is.null(em)) { res[[key]] <- list(error = cp$error, warnings_messages = notes_of(cp)); next }
      ptk <- capture(pairs(em))                    # default adjustment (tukey)
      pnone <- capture(pairs(em, adjust = "none"))
      res[[key]] <- list(
        call = sprintf('emmeans(m, %s, lmer.df = "%s")', spec, dfm),
        rows = emm_rows(em),
        emmeans_notes = strs(attr(summary(em), "mesg")),
        warnings_messages = notes_of(cp),
        pairs = list(
          call = "pairs(emm)  (default adjust)",
          rows = if (is.null(ptk$value)) list() else pairs_rows(ptk$value),
          emmeans_notes = if (is.null(ptk$value)) list() else strs(attr(summary(ptk$value), "mesg")),
          warnings_messages = notes_of(ptk), error = ptk$error),
        pairs_unadjusted = list(
          call = 'pairs(emm, adjust = "none")',
          rows = if (is.null(pnone$value)) list() else pairs_rows(pnone$value),
          warnings_messages = notes_of(pnone), error = pnone$error))
    }
    res
  })
}

performance_json <- function(m) {
  if (!HAVE_PERFORMANCE) return(list(error = "package performance not installed"))
  ic <- capture(performance::icc(m))
  icg <- capture(performance::icc(m, by_group = TRUE))
  r2 <- capture(performance::r2_nakagawa(m))
  val <- function(cp, f) if (is.list(cp$value) && f %in% names(cp$value)) num_or_null(cp$value[[f]]) else NULL
  list(
    icc = list(adjusted = val(ic, "ICC_adjusted"), unadjusted = val(ic, "ICC_unadjusted"),
               warnings_messages = notes_of(ic), error = ic$error),
    icc_by_group = list(
      rows = if (!is.data.frame(icg$value)) NULL else lapply(seq_len(nrow(icg$value)), function(i)
        list(group = as.character(icg$value$Group[i]), icc = num(icg$value$ICC[i]))),
      warnings_messages = notes_of(icg), error = icg$error),
    r2_nakagawa = list(marginal = val(r2, "R2_marginal"), conditional = val(r2, "R2_conditional"),
                       warnings_messages = notes_of(r2), error = r2$error))
}

refit_json <- function(mod, d, REML, optimizer) {
  cp <- capture(fit_lmer(mod$formula, d, REML, optimizer, mod$weights))
  m <- cp$value
  if (is.null(m)) return(list(optimizer = optimizer, error = cp$error))
  c(list(optimizer = optimizer, logLik = as.numeric(logLik(m)),
         theta = list(names = arr(names(getME(m, "theta"))), values = I(unname(getME(m, "theta")))),
         sigma = sigma(m), fixef = as.list(fixef(m)),
         se = as.list(setNames(sqrt(diag(as.matrix(vcov(m)))), names(fixef(m)))),
         varcorr_df = varcorr_df_json(m), fit_warnings_messages = notes_of(cp)),
    conv_info(m)[c("feval", "lme4_conv_messages", "max_abs_grad", "isSingular")])
}

fit_block <- function(mod, d, REML) {
  cp <- capture(fit_lmer(mod$formula, d, REML, PRIMARY_OPTIMIZER, mod$weights))
  m <- cp$value
  if (is.null(m)) stop("lmer failed for ", mod$id, ": ", cp$error)
  mt <- lmerTest::as_lmerModLmerTest(m)
  sat <- capture(summary(mt, ddf = "Satterthwaite")$coefficients)
  kr <- if (REML) capture(summary(mt, ddf = "Kenward-Roger")$coefficients) else NULL
  ll <- logLik(m)
  vc <- as.matrix(vcov(m))

  # the other optimizer: which one reaches the higher log-likelihood?
  alt <- refit_json(mod, d, REML, ALT_OPTIMIZER)
  cand <- c(setNames(as.numeric(ll), PRIMARY_OPTIMIZER),
            if (!is.null(alt$logLik)) setNames(alt$logLik, ALT_OPTIMIZER))
  best <- names(cand)[which.max(cand)]

  res <- c(
    list(REML = isREML(m), control = sprintf('lmerControl(optimizer = "%s")', PRIMARY_OPTIMIZER)),
    conv_info(m),
    list(fit_warnings_messages = notes_of(cp),
         logLik = as.numeric(ll), df = attr(ll, "df"), nobs = nobs(m),
         AIC = AIC(m), BIC = BIC(m),
         REMLcrit = if (REML) REMLcrit(m) else NULL,
         deviance = if (!REML) deviance(m) else NULL,
         deviance_ML = deviance(m, REML = FALSE),
         sigma = sigma(m),
         theta = list(names = arr(names(getME(m, "theta"))), values = I(unname(getME(m, "theta")))),
         fixef = fixef_rows(m, sat$value, if (is.null(kr)) NULL else kr$value),
         satterthwaite_warnings_messages = c(notes_of(sat), strs(sat$error)),
         kenward_roger_warnings_messages = if (REML) c(notes_of(kr), strs(kr$error)) else NULL,
         vcov_fixef = list(names = arr(colnames(vc)), matrix = mat(vc)),
         varcorr = varcorr_json(m),
         varcorr_df = varcorr_df_json(m),
         ranef = ranef_json(m),
         anova_type3_satterthwaite = anova_json(mt, 3, "Satterthwaite"),
         anova_type1_satterthwaite = anova_json(mt, 1, "Satterthwaite")))
  if (REML) {
    res$anova_type3_kenward_roger <- anova_json(mt, 3, "Kenward-Roger")
    res$anova_type1_kenward_roger <- anova_json(mt, 1, "Kenward-Roger")
    if (!is.null(mod$weights)) res$kenward_roger_weighted <- kr_weighted_json(m)
    if (!is.null(mod$emm_specs))
      res$emmeans <- if (HAVE_EMMEANS) emmeans_json(mt, mod$emm_specs) else list(error = "package emmeans not installed")
  }
  res$performance <- performance_json(m)
  res$optimizer_check <- list(
    refit = alt,
    logLik_by_optimizer = as.list(cand),
    best_optimizer = best,
    best_logLik = unname(max(cand)),
    logLik_best_minus_primary = unname(max(cand) - cand[[PRIMARY_OPTIMIZER]]))
  res$fitted_conditional <- I(unname(fitted(m)))
  res$fitted_marginal <- I(unname(predict(m, re.form = NA)))
  attr(res, "model") <- m
  res
}

## ================================================================ fits
summary_rows <- list()
for (mod in MODELS) {
  t0 <- Sys.time()
  d <- data[[mod$dataset]]
  blocks <- list(REML = fit_block(mod, d, TRUE), ML = fit_block(mod, d, FALSE))
  m <- attr(blocks$REML, "model")
  attr(blocks$REML, "model") <- NULL; attr(blocks$ML, "model") <- NULL
  facs <- DATASETS[[mod$dataset]]$factors
  out <- list(
    model_id = mod$id,
    dataset = mod$dataset,
    data_csv = DATASETS[[mod$dataset]]$csv,
    data_md5 = unname(tools::md5sum(file.path(general_dir, DATASETS[[mod$dataset]]$csv))),
    formula = mod$formula,
    weights = mod$weights,
    note = mod$note,
    nobs = nobs(m),
    ngrps = as.list(ngrps(m)),
    group_names = arr(names(VarCorr(m))),
    grouping_factors = arr(names(m@cnms)),
    term_columns = lapply(seq_along(m@cnms), function(i)
      list(group = names(VarCorr(m))[i], grouping_factor = names(m@cnms)[i], columns = arr(m@cnms[[i]]))),
    ranef_factors = arr(names(ranef(m))),
    factor_levels = lapply(setNames(facs, facs), function(v) I(levels(d[[v]]))),
    contrasts = "treatment (contr.treatment); reference = first level in factor_levels (sorted order)",
    software = software(),
    generated = format(Sys.time(), "%Y-%m-%d %H:%M:%S UTC", tz = "UTC"),
    fits = blocks)
  write_json_file(out, file.path(outdir, paste0(mod$id, ".json")))
  for (meth in c("REML", "ML")) {
    b <- blocks[[meth]]
    summary_rows[[length(summary_rows) + 1]] <- data.frame(
      model = mod$id, method = meth, logLik = sprintf("%.8f", b$logLik), singular = b$isSingular,
      conv_msgs = length(b$lme4_conv_messages), best = b$optimizer_check$best_optimizer,
      best_minus_primary = signif(b$optimizer_check$logLik_best_minus_primary, 3),
      alt_conv_msgs = length(b$optimizer_check$refit$lme4_conv_messages))
  }
  cat(sprintf("%-16s %5.1f s\n", mod$id, as.numeric(difftime(Sys.time(), t0, units = "secs"))))
}
print(do.call(rbind, summary_rows), row.names = FALSE)
cat(sprintf("done: %d files in %s (%.0f s)\n", length(MODELS), outdir,
            as.numeric(difftime(Sys.time(), t_start, units = "secs"))))
