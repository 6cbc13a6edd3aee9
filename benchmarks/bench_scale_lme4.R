# lme4 side of benchmarks/bench_scale.py (see that file's docstring).
#
#   Rscript benchmarks/bench_scale_lme4.R probe
#       R, lme4 and lmerTest versions (lmerTest null when it is not installed); exits
#       with status 1 when lme4 is missing.
#   Rscript benchmarks/bench_scale_lme4.R many DATA.csv FORMULA_RHS GROUP REPEATS
#       Reads DATA.csv (the response columns are the columns named y*), makes GROUP a
#       factor, fits one untimed warmup model, then times REPEATS times (system.time,
#       elapsed, and CPU: user + system) a loop of lmer(y ~ FORMULA_RHS, REML = TRUE) +
#       fixef() over every response. Prints the times and each response's estimate of `x`.
#   Rscript benchmarks/bench_scale_lme4.R power DATA.csv N_SIMS EFFECT REPEATS TEST
#       DATA.csv is sleepstudy. Fits the pilot Reaction ~ Days + (Days | Subject) by
#       REML, sets the Days coefficient to EFFECT, then times REPEATS times a loop of
#       N_SIMS x (simulate() one response at the pilot's theta and sigma, fit, test
#       Days). TEST "satterthwaite": lmerTest::lmer on the data with the simulated
#       response, and its Satterthwaite t test (summary); falls back to "z", with a note,
#       when lmerTest is not installed. TEST "z": lme4's refit() of the pilot to the
#       simulated response and the Wald z test on its t value.
#
#       Why not refit() + lmerTest::as_lmerModLmerTest() for Satterthwaite: lmerTest
#       rebuilds the deviance function from the model's call, i.e. from the pilot's
#       data, so the df (and p-values) of a refitted model are wrong (measured: df from
#       1.3 to 46 where a fresh fit gives 17).
#
# Every mode prints exactly one line of JSON on stdout. Only base R, lme4 and (when
# present) lmerTest are used: `apt-get install -y r-base-core r-cran-lme4 r-cran-lmertest`.

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

has_lmertest <- function() requireNamespace("lmerTest", quietly = TRUE)

versions <- function() {
  list(r_version = json_string(R.version.string),
       lme4_version = json_string(as.character(packageVersion("lme4"))),
       lmertest_version = if (has_lmertest())
         json_string(as.character(packageVersion("lmerTest"))) else "null",
       r_blas = json_string(basename(extSoftVersion()[["BLAS"]])))
}

probe <- function() {
  if (!requireNamespace("lme4", quietly = TRUE)) {
    cat(json_object(error = json_string("R package lme4 is not installed")), "\n")
    quit(status = 1)
  }
  cat(do.call(json_object, versions()), "\n")
}

# Evaluates expr, collecting warnings and messages (singular fit, convergence) in
# notes instead of printing them.
quietly <- function(expr, notes) {
  withCallingHandlers(
    expr,
    warning = function(w) {
      notes$text <- c(notes$text, conditionMessage(w))
      invokeRestart("muffleWarning")
    },
    message = function(m) {
      notes$text <- c(notes$text, conditionMessage(m))
      invokeRestart("muffleMessage")
    })
}

new_notes <- function() {
  notes <- new.env()
  notes$text <- character()
  notes
}

# Distinct notes with their counts, numbers replaced by "#", e.g.
# "Model failed to converge with max|grad| = # (tol = #, component #) (x12)".
note_counts <- function(notes) {
  text <- gsub("-?[0-9][0-9.]*(e[-+]?[0-9]+)?", "#", trimws(notes$text))
  if (!length(text)) return(character())
  counts <- table(text)
  paste0(names(counts), " (x", as.integer(counts), ")")
}

warm_up <- function() {
  invisible(lme4::lmer(Reaction ~ Days + (Days | Subject), lme4::sleepstudy))
}

time_many <- function(path, rhs, group, repeats) {
  suppressPackageStartupMessages(library(lme4))
  data <- read.csv(path, stringsAsFactors = FALSE)
  data[[group]] <- factor(data[[group]])
  responses <- grep("^y", names(data), value = TRUE)
  forms <- lapply(responses, function(r) as.formula(paste(r, rhs)))
  notes <- new_notes()
  warm_up()
  estimates <- numeric(length(responses))
  seconds <- cpu <- numeric(repeats)
  for (rep in seq_len(repeats)) {
    used <- system.time(
      for (i in seq_along(forms)) {
        fit <- quietly(lmer(forms[[i]], data, REML = TRUE), notes)
        estimates[i] <- fixef(fit)[["x"]]
      })
    seconds[rep] <- used[["elapsed"]]
    cpu[rep] <- used[["user.self"]] + used[["sys.self"]]
  }
  cat(do.call(json_object, c(list(
    seconds = json_numbers(seconds),
    cpu = json_numbers(cpu),
    median = json_number(median(seconds)),
    n_tasks = json_number(length(responses)),
    estimates = json_numbers(estimates),
    notes = json_strings(note_counts(notes))), versions())), "\n")
}

time_power <- function(path, n_sims, effect, repeats, test) {
  suppressPackageStartupMessages(library(lme4))
  if (!test %in% c("satterthwaite", "z")) stop("TEST must be satterthwaite or z")
  satterthwaite <- test == "satterthwaite" && has_lmertest()
  data <- read.csv(path, stringsAsFactors = FALSE)
  data$Subject <- factor(data$Subject)
  warm_up()
  pilot <- lmer(Reaction ~ Days + (Days | Subject), data, REML = TRUE)
  beta <- fixef(pilot)
  beta[["Days"]] <- effect
  params <- list(beta = beta, theta = getME(pilot, "theta"), sigma = sigma(pilot))
  notes <- new_notes()
  if (test == "satterthwaite" && !satterthwaite) {
    notes$text <- "lmerTest is not installed: Wald z test instead of Satterthwaite"
  }
  form <- Reaction ~ Days + (Days | Subject)
  simulated <- data
  p_values <- numeric(n_sims)
  seconds <- cpu <- numeric(repeats)
  for (rep in seq_len(repeats)) {
    set.seed(rep)
    used <- system.time(
      for (i in seq_len(n_sims)) {
        y <- simulate(pilot, nsim = 1, newparams = params)[[1]]
        p_values[i] <- tryCatch({
          if (satterthwaite) {
            simulated$Reaction <- y
            fit <- quietly(lmerTest::lmer(form, simulated, REML = TRUE), notes)
            summary(fit)$coefficients["Days", "Pr(>|t|)"]
          } else {
            fit <- quietly(refit(pilot, y), notes)
            2 * pnorm(-abs(summary(fit)$coefficients["Days", "t value"]))
          }
        }, error = function(e) {
          notes$text <- c(notes$text, paste("error:", conditionMessage(e)))
          NA_real_
        })
      })
    seconds[rep] <- used[["elapsed"]]
    cpu[rep] <- used[["user.self"]] + used[["sys.self"]]
  }
  ok <- is.finite(p_values)
  cat(do.call(json_object, c(list(
    seconds = json_numbers(seconds),
    cpu = json_numbers(cpu),
    median = json_number(median(seconds)),
    n_tasks = json_number(n_sims),
    power = json_number(mean(p_values[ok] < 0.05)),
    n_failed = json_number(sum(!ok)),
    test = json_string(if (satterthwaite) "lmerTest Satterthwaite t" else "Wald z"),
    notes = json_strings(note_counts(notes))), versions())), "\n")
}

main <- function(args) {
  mode <- if (length(args)) args[[1]] else ""
  if (mode == "probe" && length(args) == 1) {
    probe()
  } else if (mode == "many" && length(args) == 5) {
    time_many(args[[2]], args[[3]], args[[4]], as.integer(args[[5]]))
  } else if (mode == "power" && length(args) == 6) {
    time_power(args[[2]], as.integer(args[[3]]), as.numeric(args[[4]]), as.integer(args[[5]]),
               args[[6]])
  } else {
    stop("usage: bench_scale_lme4.R probe | many DATA.csv FORMULA_RHS GROUP REPEATS | ",
         "power DATA.csv N_SIMS EFFECT REPEATS TEST")
  }
}

main(commandArgs(trailingOnly = TRUE))
