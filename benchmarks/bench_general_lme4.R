# lme4 side of benchmarks/bench_general.py (see that file's docstring).
#
#   Rscript benchmarks/bench_general_lme4.R probe
#       R and lme4 versions and R's BLAS; exits with status 1 when lme4 is missing.
#   Rscript benchmarks/bench_general_lme4.R insteval OUT.csv
#       Writes lme4::InstEval to OUT.csv (the same file bench_engine.py caches).
#   Rscript benchmarks/bench_general_lme4.R serve DATA.csv FORMULA FACTORS [WEIGHTS]
#       Reads DATA.csv (the comma-separated FACTORS columns as text, then made
#       factors), fits one untimed warmup model (sleepstudy) and prints a "ready"
#       line. Then reads commands from stdin, one a line: "fit" times
#       lmer(FORMULA, data, REML = TRUE[, weights = WEIGHTS]) once (system.time,
#       elapsed seconds) and prints the result; "quit" (or end of input) exits.
#       The Python side sends "fit" when it is lme4's turn, so the tools take
#       turns within one design while R keeps one process (and its data) per design.
#
# Every reply is exactly one line of JSON on stdout. Only base R and lme4 are used
# (no jsonlite), so `apt-get install -y r-base-core r-cran-lme4` is enough.

json_string <- function(x) {
  x <- gsub("[[:cntrl:]]+", " ", x)
  paste0('"', gsub('(["\\\\])', "\\\\\\1", x), '"')
}

json_numbers <- function(x) {
  text <- ifelse(is.finite(x), sprintf("%.17g", x), "null")
  paste0("[", paste(text, collapse = ", "), "]")
}

json_number <- function(x) if (length(x) == 1 && is.finite(x)) sprintf("%.17g", x) else "null"

json_strings <- function(x) paste0("[", paste(vapply(x, json_string, ""), collapse = ", "), "]")

json_object <- function(...) {
  fields <- list(...)
  paste0("{", paste(json_string(names(fields)), unlist(fields), sep = ": ", collapse = ", "), "}")
}

reply <- function(...) {
  cat(json_object(...), "\n", sep = "")
  flush(stdout())
}

versions <- function() {
  list(r_version = json_string(R.version.string),
       lme4_version = json_string(as.character(packageVersion("lme4"))),
       r_blas = json_string(basename(extSoftVersion()[["BLAS"]])))
}

# Peak resident set size of this process in MB (Linux VmHWM), NA elsewhere.
peak_mb <- function() {
  status <- tryCatch(readLines("/proc/self/status"), error = function(e) character())
  line <- grep("^VmHWM:", status, value = TRUE)
  if (length(line) != 1) return(NA_real_)
  as.numeric(strsplit(trimws(sub("VmHWM:", "", line)), "[[:space:]]+")[[1]][1]) * 1024 / 1e6
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
# of printing them. With weights, the column is copied to `.bench_w`, which lmer
# finds in `data` (its weights argument is evaluated like a formula variable).
quiet_lmer <- function(form, data, weights, notes) {
  withCallingHandlers(
    if (is.null(weights)) {
      lme4::lmer(form, data, REML = TRUE)
    } else {
      lme4::lmer(form, data, REML = TRUE, weights = .bench_w)
    },
    warning = function(w) {
      notes$text <- c(notes$text, conditionMessage(w))
      invokeRestart("muffleWarning")
    },
    message = function(m) {
      notes$text <- c(notes$text, conditionMessage(m))
      invokeRestart("muffleMessage")
    })
}

fit_once <- function(form, data, weights) {
  notes <- new.env()
  notes$text <- character()
  gc()
  fit <- NULL
  error <- ""
  seconds <- system.time(
    fit <- tryCatch(quiet_lmer(form, data, weights, notes),
                    error = function(e) { error <<- conditionMessage(e); NULL }))[["elapsed"]]
  if (is.null(fit)) {
    reply(error = json_string(error), seconds = json_number(seconds), peak_mb = json_number(peak_mb()))
    return(invisible())
  }
  theta <- lme4::getME(fit, "theta")
  reply(seconds = json_number(seconds),
        loglik = json_number(as.numeric(logLik(fit))),
        theta = json_numbers(unname(theta)),
        theta_names = json_strings(names(theta)),
        singular = if (lme4::isSingular(fit)) "true" else "false",
        notes = json_strings(unique(trimws(notes$text))),
        peak_mb = json_number(peak_mb()))
}

serve <- function(path, formula, factors, weights) {
  suppressPackageStartupMessages(library(lme4))
  classes <- setNames(rep("character", length(factors)), factors)
  data <- read.csv(path, colClasses = classes)
  for (col in factors) data[[col]] <- factor(data[[col]])
  if (!is.null(weights)) data$.bench_w <- data[[weights]]
  form <- as.formula(formula)
  invisible(quiet_lmer(Reaction ~ Days + (Days | Subject), lme4::sleepstudy, NULL, new.env()))
  do.call(reply, c(list(ready = "true", n_rows = json_number(nrow(data)),
                        baseline_mb = json_number(peak_mb())), versions()))
  input <- file("stdin")
  open(input)
  repeat {
    command <- readLines(input, n = 1)
    if (length(command) == 0 || trimws(command) == "quit") break
    if (trimws(command) == "fit") {
      fit_once(form, data, weights)
    } else {
      reply(error = json_string(paste("unknown command:", command)))
    }
  }
  close(input)
}

main <- function(args) {
  mode <- if (length(args)) args[[1]] else ""
  if (mode == "probe" && length(args) == 1) {
    probe()
  } else if (mode == "insteval" && length(args) == 2) {
    export_insteval(args[[2]])
  } else if (mode == "serve" && length(args) %in% c(4, 5)) {
    factors <- strsplit(args[[4]], ",", fixed = TRUE)[[1]]
    weights <- if (length(args) == 5 && nzchar(args[[5]])) args[[5]] else NULL
    serve(args[[2]], args[[3]], factors, weights)
  } else {
    stop("usage: bench_general_lme4.R probe | insteval OUT.csv | ",
         "serve DATA.csv FORMULA FACTORS [WEIGHTS]")
  }
}

main(commandArgs(trailingOnly = TRUE))
