#!/usr/bin/env Rscript
# residual_bench.R -- one timing of nlme::gls with an unstructured residual covariance
# (corSymm + varIdent, REML) on a large simulated trial, for a later mixedkit benchmark.
#
# Usage (from the repository root):
#   Rscript tests/reference/residual_bench.R [OUTDIR] [N_SUBJECTS] [LIMIT_SECONDS]
#
#   OUTDIR          where residual_bench.json goes. Default: a fresh temporary directory.
#                   Writing into tests/data/residual needs MIXEDKIT_OVERWRITE_REFERENCE=1.
#   N_SUBJECTS      default 10000 (x 6 visits, with the same MAR dropout as trial.csv,
#                   so about 50,000 rows; ~70% of subjects complete).
#   LIMIT_SECONDS   default 300: the fit is stopped (setTimeLimit) after this and the JSON
#                   records that it did not finish.
#   RESIDUAL_BENCH_WRITE_DATA=1  also write the simulated data as bench_trial_<N>.csv.gz
#                   (not stored in the repository: ~1 MB for 10,000 subjects).
#
# The data come from simulate_trial() in residual_structures.R (same true covariance,
# effects and dropout as trial.csv; seed 99, 20 sites). residual_structures.R copies
# residual_bench.json into nlme_results.json ("benchmark") when it finds it.
# R 4.2.2, nlme 3.1-162, single thread (reference BLAS).

args <- commandArgs(trailingOnly = TRUE)
script_path <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
script_dir <- if (length(script_path)) dirname(normalizePath(script_path[1])) else getwd()
stored_dir <- normalizePath(file.path(script_dir, "..", "data", "residual"), mustWork = FALSE)
outdir <- if (length(args) >= 1 && nzchar(args[1])) args[1] else
  tempfile("mixedkit_residual_bench_", tmpdir = Sys.getenv("TMPDIR", "/tmp"))
outdir <- normalizePath(outdir, mustWork = FALSE)
if (identical(outdir, stored_dir) && Sys.getenv("MIXEDKIT_OVERWRITE_REFERENCE") != "1")
  stop("refusing to overwrite ", stored_dir, " without MIXEDKIT_OVERWRITE_REFERENCE=1")
n_subj <- if (length(args) >= 2) as.integer(args[2]) else 10000L
limit <- if (length(args) >= 3) as.numeric(args[3]) else 300
dir.create(outdir, recursive = TRUE, showWarnings = FALSE)

RESIDUAL_DEFINE_ONLY <- TRUE
source(file.path(script_dir, "residual_structures.R"))

t_sim <- system.time(d <- simulate_trial(n_subj = n_subj, n_site = 20, seed = 99))[["elapsed"]]
d$visit <- factor(d$visit, levels = sprintf("V%d", 1:6))
d$arm <- factor(d$arm, levels = c("PBO", "TRT"))
d$id <- factor(d$id)
cat(nrow(d), "rows,", nlevels(d$id), "subjects\n")
if (Sys.getenv("RESIDUAL_BENCH_WRITE_DATA") == "1") {   # the data for a Python-side benchmark
  gz <- gzfile(file.path(outdir, sprintf("bench_trial_%d.csv.gz", n_subj)), "w")
  write.csv(d, gz, row.names = FALSE); close(gz)
}

status <- "finished"; fit <- NULL; err <- NULL
t0 <- proc.time()[["elapsed"]]
setTimeLimit(elapsed = limit, transient = TRUE)
fit <- tryCatch(
  gls(y ~ base + arm * visit, data = d, method = "REML",
      correlation = corSymm(form = ~ visitn | id), weights = varIdent(form = ~ 1 | visit)),
  error = function(e) { err <<- conditionMessage(e); NULL })
setTimeLimit(elapsed = Inf)
elapsed <- proc.time()[["elapsed"]] - t0
if (is.null(fit)) status <- if (grepl("time limit", err %||% "")) sprintf("did not finish in %g s", limit) else "error"

res <- list(
  description = "nlme::gls(y ~ base + arm * visit, correlation = corSymm(form = ~ as.integer(visit) | id), weights = varIdent(form = ~ 1 | visit), method = 'REML') on simulate_trial(n_subj, n_site = 20, seed = 99)",
  n_subjects = n_subj, n_rows = nrow(d), n_visits = 6, status = status, error = err,
  elapsed_sec = elapsed, limit_sec = limit, simulate_sec = t_sim,
  loglik = if (!is.null(fit)) as.numeric(logLik(fit)) else NULL,
  fixed = if (!is.null(fit)) as.list(coef(fit)) else NULL,
  generated = format(Sys.time(), "%Y-%m-%d %H:%M:%S %Z"),
  software = list(R = R.version.string, nlme = as.character(packageVersion("nlme")),
                  BLAS = tryCatch(sessionInfo()$BLAS, error = function(e) NA_character_),
                  cpu = tryCatch(trimws(sub(".*:", "", grep("model name", readLines("/proc/cpuinfo"), value = TRUE)[1])),
                                 error = function(e) NA_character_)))
writeLines(jsonlite::toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"),
           file.path(outdir, "residual_bench.json"))
cat(status, sprintf("%.1f s", elapsed), "->", file.path(outdir, "residual_bench.json"), "\n")
