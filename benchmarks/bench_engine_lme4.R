# lme4 side of benchmarks/bench_engine.py (see that file's docstring).
#
#   Rscript benchmarks/bench_engine_lme4.R probe
#       R and lme4 versions and R's BLAS; exits with status 1 when lme4 is missing.
#   Rscript benchmarks/bench_engine_lme4.R insteval OUT.csv
#       Writes lme4::InstEval to OUT.csv.
#   Rscript benchmarks/bench_engine_lme4.R fit DATA.csv FORMULA FACTORS REPEATS
#       Reads DATA.csv, makes the comma-separated FACTORS columns factors, fits one
#       untimed warmup model (sleepstudy), then times lmer(FORMULA, REML = TRUE)
#       REPEATS times (system.time, elapsed seconds).
#
# Every mode prints exactly one line of JSON on stdout. Only base R and lme4 are
# used (no jsonlite), so `apt-get install -y r-base-core r-cran-lme4` is enough.

json_string <- function(x) {
  x <- gsub("[[:cntrl:]]+", " ", x)
  paste0('"', gsub('(["\\\\])', "\\\\\\1", x), '"')
}

json_numbers <- function(x) {
  text <- ifelse(is.finite(x), sprintf("%.17g", x), "null")
  paste0("[", paste(text, collapse = ", "), "]")
}

json_number <- function(x) if (is.finite(x)) sprintf("%.17g", x) else "null"

json_strings <- function(x) paste0("[", paste(vapply(x, json_string, ""), collapse = ", "), "]")

json_object <- function(...) {
  fields <- list(...)
  paste0("{", paste(json_string(names(fields)), unlist(fields), sep = ": ", collapse = ", "), "}")
}

versions <- function() {
  list(r_version = json_string(R.version.string),
       lme4_version = json_string(as.character(packageVersion("lme4"))),
       r_blas = json_string(basename(extSoftVersion()[["BLAS"]])))
}

probe <- function() {
  if (!requireNamespace("lme4", quietly = TRUE)) {
    cat(json_object(error = json_string("R package lme4 is not installed")), "\n")
    quit(status = 1)
  }
  cat(do.call(json_object, versions()), "\n")
}

export_insteval <- function(out) {
  write.csv(lme4::InstEval, out, row.names = FALSE)
  cat(json_object(rows = nrow(lme4::InstEval), path = json_string(out)), "\n")
}

# Runs lmer, collecting its warnings and messages (singular fit, convergence) instead
# of printing them.
quiet_lmer <- function(form, data, notes) {
  withCallingHandlers(
    lme4::lmer(form, data, REML = TRUE),
    warning = function(w) {
      notes$text <- c(notes$text, conditionMessage(w))
      invokeRestart("muffleWarning")
    },
    message = function(m) {
      notes$text <- c(notes$text, conditionMessage(m))
      invokeRestart("muffleMessage")
    })
}

time_fit <- function(path, formula, factors, repeats) {
  suppressPackageStartupMessages(library(lme4))
  data <- read.csv(path, stringsAsFactors = FALSE)
  for (col in factors) data[[col]] <- factor(data[[col]])
  form <- as.formula(formula)
  notes <- new.env()
  notes$text <- character()
  invisible(quiet_lmer(Reaction ~ Days + (Days | Subject), lme4::sleepstudy, new.env()))
  seconds <- numeric(repeats)
  for (i in seq_len(repeats)) {
    seconds[i] <- system.time(fit <- quiet_lmer(form, data, notes))[["elapsed"]]
  }
  theta <- getME(fit, "theta")
  cat(do.call(json_object, c(list(
    seconds = json_numbers(seconds),
    median = json_number(median(seconds)),
    loglik = json_number(as.numeric(logLik(fit))),
    theta = json_numbers(unname(theta)),
    theta_names = json_strings(names(theta)),
    n_rows = json_number(nrow(data)),
    notes = json_strings(unique(trimws(notes$text)))), versions())), "\n")
}

main <- function(args) {
  mode <- if (length(args)) args[[1]] else ""
  if (mode == "probe" && length(args) == 1) {
    probe()
  } else if (mode == "insteval" && length(args) == 2) {
    export_insteval(args[[2]])
  } else if (mode == "fit" && length(args) == 5) {
    factors <- strsplit(args[[4]], ",", fixed = TRUE)[[1]]
    time_fit(args[[2]], args[[3]], factors, as.integer(args[[5]]))
  } else {
    stop("usage: bench_engine_lme4.R probe | insteval OUT.csv | ",
         "fit DATA.csv FORMULA FACTORS REPEATS")
  }
}

main(commandArgs(trailingOnly = TRUE))
