#!/usr/bin/env Rscript
# make_general_data.R -- simulate the three data sets of tests/reference/general/.
#
# Usage:  cd tests/reference/general && Rscript make_general_data.R
#
# Writes crossed_2x2.csv, nested_slopes.csv and partial_crossed.csv next to this
# script. Every id / condition column is TEXT with zero-padded or single-digit
# labels, so R's factor level order (sort()) and pandas' sorted order agree.
# Numbers are rounded before writing; the reference fits (make_general_reference.R)
# read the CSVs back, so the CSV files -- not this script -- are the test input.
# The simulation uses only rnorm/runif/sample (R >= 3.6 "Rejection" sampling) and a
# 2 x 2 / 4 x 4 Cholesky factor, so re-running it with R 4.x reproduces the files.
# Correlated random effects are drawn as Z %*% chol(Sigma) (row vectors).

script_path <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
general_dir <- if (length(script_path)) dirname(normalizePath(script_path[1])) else getwd()

SEEDS <- c(crossed_2x2 = 20261206L, nested_slopes = 20261211L, partial_crossed = 20261221L)

cov_from <- function(sd, cor) diag(sd, length(sd)) %*% cor %*% diag(sd, length(sd))
exch_cor <- function(r, k) { m <- matrix(r, k, k); diag(m) <- 1; m }
draw_re <- function(n, Sigma) matrix(rnorm(n * ncol(Sigma)), n) %*% chol(Sigma)

write_data <- function(d, name) {
  path <- file.path(general_dir, paste0(name, ".csv"))
  write.csv(d, path, row.names = FALSE, quote = TRUE)
  cat("wrote", path, "(", nrow(d), "rows )\n")
}

## ------------------------------------------------------------ a. crossed_2x2
# 24 subjects x 16 items, fully crossed, one row per subject x item (384 rows).
# Conditions: Latin-square counterbalancing, cell = (subject index + item index) mod 4
# -> 0: a1 b1, 1: a2 b1, 2: a1 b2, 3: a2 b2. Each subject sees every cell 4 times,
# each item every cell 6 times.
# rt = 600 + 40 ac + 25 bc + 30 ac:bc + subject (1, ac, bc, ac:bc) + item (1, ac, bc, ac:bc)
#      + e / sqrt(w),  e ~ N(0, 25^2),  w ~ U(0.5, 2) (rounded to 1e-4)
# subject effects: SD (60, 30, 30, 40), all correlations 0.3
# item effects:    SD (40, 20, 20, 30), all correlations 0.3
# (residual SD 25: with SD 50 almost every seed gave a singular maximal fit.)
gen_crossed_2x2 <- function(seed = SEEDS[["crossed_2x2"]]) {
  set.seed(seed)
  ns <- 24; ni <- 16
  subj <- sprintf("s%02d", seq_len(ns)); item <- sprintf("i%02d", seq_len(ni))
  d <- expand.grid(item = item, subject = subj, stringsAsFactors = FALSE)[, c("subject", "item")]
  si <- match(d$subject, subj); ii <- match(d$item, item)
  cell <- (si + ii) %% 4
  d$a <- ifelse(cell %in% c(1, 3), "a2", "a1")
  d$b <- ifelse(cell %in% c(2, 3), "b2", "b1")
  d$ac <- ifelse(d$a == "a2", 0.5, -0.5)
  d$bc <- ifelse(d$b == "b2", 0.5, -0.5)
  us <- draw_re(ns, cov_from(c(60, 30, 30, 40), exch_cor(0.3, 4)))
  ui <- draw_re(ni, cov_from(c(40, 20, 20, 30), exch_cor(0.3, 4)))
  X <- cbind(1, d$ac, d$bc, d$ac * d$bc)
  d$w <- round(runif(nrow(d), 0.5, 2), 4)
  e <- rnorm(nrow(d), 0, 25)
  d$rt <- round(drop(X %*% c(600, 40, 25, 30)) + rowSums(X * us[si, ]) + rowSums(X * ui[ii, ]) +
                  e / sqrt(d$w), 2)
  d
}

## ------------------------------------------------------------ b. nested_slopes
# 15 schools (sch01..sch15), 4-8 children each (ids c1..c8 RE-USED across schools:
# a child is identified by school + child only), 3-6 occasions per child at distinct
# times drawn from 0..5 (sorted).
# y = 20 + 2 time + school (1, time) + child-in-school (1, time) + N(0, 1.5^2), rounded to 1e-3
# school: SD (4, 1), cor 0.4;  child within school: SD (3, 0.8), cor -0.3
gen_nested_slopes <- function(seed = SEEDS[["nested_slopes"]]) {
  set.seed(seed)
  nsch <- 15
  school <- sprintf("sch%02d", seq_len(nsch))
  nchild <- sample(4:8, nsch, replace = TRUE)
  usch <- draw_re(nsch, cov_from(c(4, 1), matrix(c(1, 0.4, 0.4, 1), 2)))
  Sc <- cov_from(c(3, 0.8), matrix(c(1, -0.3, -0.3, 1), 2))
  rows <- list()
  for (s in seq_len(nsch)) {
    uch <- draw_re(nchild[s], Sc)
    for (ch in seq_len(nchild[s])) {
      k <- sample(3:6, 1)
      time <- sort(sample(0:5, k))
      y <- 20 + 2 * time + usch[s, 1] + usch[s, 2] * time + uch[ch, 1] + uch[ch, 2] * time +
        rnorm(k, 0, 1.5)
      rows[[length(rows) + 1]] <- data.frame(school = school[s], child = paste0("c", ch),
                                             time = time, y = round(y, 3),
                                             stringsAsFactors = FALSE)
    }
  }
  do.call(rbind, rows)
}

## ------------------------------------------------------------ c. partial_crossed
# Factor a: 30 levels (a01..a30), factor b: 12 levels (b01..b12), partially crossed:
# each a level sees a random 5-8 of the b levels, 2-4 rows per (a, b) cell.
# x ~ N(0, 1) rounded to 1e-3;  w ~ U(0.5, 2) rounded to 1e-4 (prior weights)
# y = 10 + 1.5 x + a (1, x) + b + e / sqrt(w),  e ~ N(0, 1), rounded to 1e-4
# a: SD (2, 0.7), cor 0.5;  b: SD 1.5
gen_partial_crossed <- function(seed = SEEDS[["partial_crossed"]]) {
  set.seed(seed)
  na <- 30; nb <- 12
  alev <- sprintf("a%02d", seq_len(na)); blev <- sprintf("b%02d", seq_len(nb))
  rows <- list()
  for (i in seq_len(na)) {
    bs <- sort(sample(nb, sample(5:8, 1)))
    for (j in bs) {
      n <- sample(2:4, 1)
      rows[[length(rows) + 1]] <- data.frame(a = rep(alev[i], n), b = rep(blev[j], n),
                                             stringsAsFactors = FALSE)
    }
  }
  d <- do.call(rbind, rows)
  ua <- draw_re(na, cov_from(c(2, 0.7), matrix(c(1, 0.5, 0.5, 1), 2)))
  ub <- rnorm(nb, 0, 1.5)
  d$x <- round(rnorm(nrow(d)), 3)
  d$w <- round(runif(nrow(d), 0.5, 2), 4)
  ia <- match(d$a, alev); ib <- match(d$b, blev)
  d$y <- round(10 + 1.5 * d$x + ua[ia, 1] + ua[ia, 2] * d$x + ub[ib] +
                 rnorm(nrow(d)) / sqrt(d$w), 4)
  d
}

write_data(gen_crossed_2x2(), "crossed_2x2")
write_data(gen_nested_slopes(), "nested_slopes")
write_data(gen_partial_crossed(), "partial_crossed")
