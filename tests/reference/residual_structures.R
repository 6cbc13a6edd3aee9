#!/usr/bin/env Rscript
# residual_structures.R -- R reference values for residual (within-subject) covariance
# structures: us, cs/csh, ar1/ar1h, toep/toeph, ad/adh, sp_exp, and structures by arm.
#
# Usage (from the repository root):
#   MMRM_GIT_DIR=/path/to/mmrm/.git Rscript tests/reference/residual_structures.R [OUTDIR]
#
#   OUTDIR        where the CSVs and JSON files go. Default: a fresh temporary directory
#                 (printed), so the stored copies are never replaced by accident. Writing into
#                 tests/data/residual itself needs MIXEDKIT_OVERWRITE_REFERENCE=1.
#   MMRM_GIT_DIR  optional: a git directory of github.com/openpharma/mmrm (a bare clone is
#                 enough; read with `git --git-dir`). With it, fev_data is exported from
#                 data/fev_data.rda and mmrm_published.json (SAS PROC MIXED listings and
#                 mmrm test expectations, with file and line) is rebuilt. Without it,
#                 fev_data is read from the stored tests/data/residual/fev_data.csv and
#                 mmrm_published.json is not written.
#   RESIDUAL_SKIP_SLOW=1  skip the Satterthwaite Hessians (quick smoke run).
#
# Writes into OUTDIR:
#   trial.csv, fev_data.csv, levels.json      data (see tests/reference/README.md)
#   nlme_results.json                          fits on trial.csv (nlme gls/lme + a direct
#                                               likelihood maximiser for ad/adh and
#                                               structures by arm), emmeans, timings
#   fev_results.json                           the same kinds of fits on mmrm's fev_data,
#                                               side by side with SAS PROC MIXED numbers
#   mmrm_published.json                        (only with MMRM_GIT_DIR) see above
# It also copies residual_bench.json (from residual_bench.R) into nlme_results.json
# when that file exists in OUTDIR.
#
# Made with R 4.2.2 Patched (2022-11-10 r83330), nlme 3.1-162, emmeans 1.8.4-1,
# jsonlite 1.8.4, numDeriv 2016.8-1.1 (R reference BLAS, Debian 12). mmrm itself is not
# installed (not packaged for Debian 12 and CRAN is not reachable); its repository was
# read at commit ec290b2695b25057b31bc98e27c39d3f498cd0d6 (mmrm 0.3.18).
#
# Run time: about 2-4 minutes (the Satterthwaite Hessians dominate).
#
# If RESIDUAL_DEFINE_ONLY exists (TRUE) before source()-ing this file, only the functions
# are defined (residual_bench.R uses simulate_trial() that way).

suppressPackageStartupMessages({
  library(nlme)
  library(emmeans)
  library(jsonlite)
  library(numDeriv)
})

## ======================================================================= helpers
`%||%` <- function(a, b) if (is.null(a)) b else a

num <- function(x) unname(as.numeric(x))
mat_rows <- function(m) lapply(seq_len(nrow(m)), function(i) num(m[i, ]))
named_list <- function(x) { v <- as.list(num(x)); names(v) <- names(x); v }

timed <- function(expr) {
  # evaluate expr, return list(value, elapsed, warnings, error)
  warns <- character(0)
  t0 <- proc.time()[["elapsed"]]
  val <- tryCatch(
    withCallingHandlers(expr, warning = function(w) {
      warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning")
    }),
    error = function(e) structure(conditionMessage(e), class = "fit_error"))
  list(value = val, elapsed = proc.time()[["elapsed"]] - t0, warnings = warns,
       error = if (inherits(val, "fit_error")) as.character(val) else NULL)
}

## ======================================================================= simulation
# Two-arm trial, 6 visits, MAR dropout, 20 sites (subjects nested in sites).
TRUE_SD <- c(4.0, 4.4, 4.8, 5.3, 5.8, 6.3)
true_cor <- function(nv = 6) {
  lag <- abs(outer(seq_len(nv), seq_len(nv), "-"))
  # 0.25*J + 0.6*AR1(0.65) + 0.15*I: decays with lag, but not AR(1) (not even stationary AR)
  r <- 0.25 + 0.6 * 0.65^lag
  diag(r) <- 1
  r
}
TRUE_VISIT <- c(0, 0.8, 1.5, 2.1, 2.6, 3.0)      # PBO change from visit 1
TRUE_TRT <- c(0.5, 1.0, 1.6, 2.2, 2.8, 3.4)      # TRT - PBO at each visit
TRUE_BASE_SLOPE <- 0.6
TRUE_SITE_SD <- 1.5

simulate_trial <- function(n_subj = 200, n_vis = 6, n_site = 20, seed = 20240611,
                           dropout = TRUE) {
  set.seed(seed)
  stopifnot(n_subj %% n_site == 0, n_vis <= length(TRUE_SD))
  per_site <- n_subj / n_site
  id_fmt <- if (n_subj < 1000) "s%03d" else paste0("s%0", nchar(n_subj), "d")
  ids <- sprintf(id_fmt, seq_len(n_subj))
  site <- sprintf("site%02d", rep(seq_len(n_site), each = per_site))
  arm <- unlist(lapply(seq_len(n_site), function(s)
    sample(rep(c("PBO", "TRT"), length.out = per_site))))
  base <- round(rnorm(n_subj, 40, 6), 2)
  site_eff <- rnorm(n_site, 0, TRUE_SITE_SD)[rep(seq_len(n_site), each = per_site)]
  S <- diag(TRUE_SD[seq_len(n_vis)]) %*% true_cor(n_vis) %*% diag(TRUE_SD[seq_len(n_vis)])
  E <- matrix(rnorm(n_subj * n_vis), n_subj) %*% chol(S)
  mu <- 20 + TRUE_BASE_SLOPE * base + site_eff +
    outer(rep(1, n_subj), TRUE_VISIT[seq_len(n_vis)]) +
    outer(arm == "TRT", TRUE_TRT[seq_len(n_vis)])
  Y <- round(mu + E, 4)
  jitter <- matrix(round(runif(n_subj * n_vis, -0.2, 0.2), 3), n_subj)
  # MAR dropout: after visit j-1 the subject leaves with probability depending on the
  # previous (observed) value: low values -> more dropout. Rows after dropout are absent.
  last <- rep(n_vis, n_subj)
  if (dropout) {
    for (j in 2:n_vis) {
      still <- last >= j
      p <- plogis(-2.9 - 0.22 * (Y[, j - 1] - mean(Y[, j - 1])))
      drop <- still & (runif(n_subj) < p)
      last[drop] <- j - 1
    }
  }
  rows <- lapply(seq_len(n_subj), function(i) {
    v <- seq_len(last[i])
    data.frame(id = ids[i], site = site[i], arm = arm[i], visit = sprintf("V%d", v),
               visitn = v, time = v + jitter[i, v], base = base[i], y = Y[i, v],
               stringsAsFactors = FALSE)
  })
  do.call(rbind, rows)
}

## ======================================================================= direct likelihood engine
# A small, independent ML/REML maximiser for structured residual covariances (used for
# ad/adh, structures by arm, and as a cross-check of nlme). Parameters are unconstrained
# (theta); natural parameters are reported. Subjects are grouped by visit pattern.
pacf_to_acf <- function(pacf) {
  # Durbin-Levinson: partial autocorrelations -> autocorrelations (lags 1..p)
  p <- length(pacf); r <- numeric(p); phi <- numeric(0)
  for (k in seq_len(p)) {
    a <- pacf[k]
    phi <- if (k == 1) a else c(phi - a * rev(phi), a)
    r[k] <- sum(phi * rev(c(1, r[seq_len(k - 1)])))
  }
  r
}
to_cor <- function(t) t / sqrt(1 + t^2)
from_cor <- function(r) r / sqrt(1 - r^2)

# each structure: npar(nv), build(theta, nv) -> nv x nv covariance, natural(theta, nv),
# start(sds, nv)
STRUCTS <- list(
  us = list(
    npar = function(nv) nv * (nv + 1) / 2,
    build = function(th, nv) {
      L <- diag(exp(th[seq_len(nv)]), nv)
      L[lower.tri(L)] <- th[-seq_len(nv)]
      tcrossprod(L)
    },
    start = function(sds, nv) c(log(sds), rep(0, nv * (nv - 1) / 2))),
  cs = list(
    npar = function(nv) 2,
    build = function(th, nv) {
      rho <- plogis(th[2]) * (1 + 1 / (nv - 1)) - 1 / (nv - 1)
      R <- matrix(rho, nv, nv); diag(R) <- 1; exp(2 * th[1]) * R
    },
    start = function(sds, nv) c(log(mean(sds)), 0.5)),
  csh = list(
    npar = function(nv) nv + 1,
    build = function(th, nv) {
      rho <- plogis(th[nv + 1]) * (1 + 1 / (nv - 1)) - 1 / (nv - 1)
      R <- matrix(rho, nv, nv); diag(R) <- 1
      d <- exp(th[seq_len(nv)]); R * outer(d, d)
    },
    start = function(sds, nv) c(log(sds), 0.5)),
  ar1 = list(
    npar = function(nv) 2,
    build = function(th, nv) exp(2 * th[1]) * to_cor(th[2])^abs(outer(1:nv, 1:nv, "-")),
    start = function(sds, nv) c(log(mean(sds)), 0.5)),
  ar1h = list(
    npar = function(nv) nv + 1,
    build = function(th, nv) {
      d <- exp(th[seq_len(nv)])
      to_cor(th[nv + 1])^abs(outer(1:nv, 1:nv, "-")) * outer(d, d)
    },
    start = function(sds, nv) c(log(sds), 0.5)),
  toep = list(
    npar = function(nv) nv,
    build = function(th, nv) {
      r <- c(1, pacf_to_acf(to_cor(th[-1])))
      exp(2 * th[1]) * matrix(r[abs(outer(1:nv, 1:nv, "-")) + 1], nv)
    },
    start = function(sds, nv) c(log(mean(sds)), 0.5, rep(0, nv - 2))),
  toeph = list(
    npar = function(nv) 2 * nv - 1,
    build = function(th, nv) {
      r <- c(1, pacf_to_acf(to_cor(th[-seq_len(nv)])))
      d <- exp(th[seq_len(nv)])
      matrix(r[abs(outer(1:nv, 1:nv, "-")) + 1], nv) * outer(d, d)
    },
    start = function(sds, nv) c(log(sds), 0.5, rep(0, nv - 2))),
  ad = list(
    npar = function(nv) nv,
    build = function(th, nv) {
      rho <- to_cor(th[-1]); R <- diag(nv)
      for (i in 1:(nv - 1)) for (j in (i + 1):nv) R[i, j] <- R[j, i] <- prod(rho[i:(j - 1)])
      exp(2 * th[1]) * R
    },
    start = function(sds, nv) c(log(mean(sds)), rep(0.5, nv - 1))),
  adh = list(
    npar = function(nv) 2 * nv - 1,
    build = function(th, nv) {
      rho <- to_cor(th[-seq_len(nv)]); R <- diag(nv)
      for (i in 1:(nv - 1)) for (j in (i + 1):nv) R[i, j] <- R[j, i] <- prod(rho[i:(j - 1)])
      d <- exp(th[seq_len(nv)]); R * outer(d, d)
    },
    start = function(sds, nv) c(log(sds), rep(0.5, nv - 1))),
  # spatial exponential: cov(d) = sigma^2 * exp(-d / range); theta = (log sigma, log range)
  sp_exp = list(
    npar = function(nv) 2, spatial = TRUE,
    build_t = function(th, tt) exp(2 * th[1]) * exp(-abs(outer(tt, tt, "-")) / exp(th[2])),
    build = function(th, nv) exp(2 * th[1]) * exp(-abs(outer(1:nv, 1:nv, "-")) / exp(th[2])),
    start = function(sds, nv) c(log(mean(sds)), 0))
)

natural_params <- function(type, th, nv) {
  S <- STRUCTS[[type]]$build(th, nv)
  sds <- sqrt(diag(S)); R <- cov2cor(S)
  out <- switch(type,
    us = list(sd = sds, cor = mat_rows(R)),
    cs = list(sigma = sds[1], rho = R[1, 2]),
    csh = list(sd = sds, rho = R[1, 2]),
    ar1 = list(sigma = sds[1], rho = R[1, 2]),
    ar1h = list(sd = sds, rho = R[1, 2]),
    toep = list(sigma = sds[1], acf = R[1, -1], pacf = to_cor(th[-1])),
    toeph = list(sd = sds, acf = R[1, -1], pacf = to_cor(th[-seq_len(nv)])),
    ad = list(sigma = sds[1], rho = R[cbind(1:(nv - 1), 2:nv)]),
    adh = list(sd = sds, rho = R[cbind(1:(nv - 1), 2:nv)]),
    sp_exp = list(sigma = exp(th[1]), range = exp(th[2]), rho_unit_distance = exp(-1 / exp(th[2]))))
  lapply(out, function(v) if (is.list(v)) v else num(v))
}

# setup: y, X, subject, visit index (1..nv), optional times, optional group factor
engine_setup <- function(y, X, subj, vis, nv, times = NULL, group = NULL) {
  group <- if (is.null(group)) factor(rep("all", length(y))) else factor(group)
  o <- order(subj, vis)
  y <- y[o]; X <- X[o, , drop = FALSE]; subj <- as.character(subj[o]); vis <- vis[o]
  group <- group[o]; if (!is.null(times)) times <- times[o]
  sp <- split(seq_along(y), factor(subj, levels = unique(subj)))
  key <- vapply(sp, function(ix) paste(group[ix[1]], paste(vis[ix], collapse = ","), sep = "|"), "")
  if (!is.null(times)) key <- names(sp)          # spatial: one block per subject
  pats <- lapply(split(sp, factor(key, levels = unique(key))), function(l) {
    ix <- unlist(l); first <- l[[1]]
    list(rows = ix, k = length(first), m = length(l), vis = vis[first],
         group = as.integer(group[first[1]]), times = if (!is.null(times)) times[first])
  })
  list(y = y, X = X, n = length(y), p = ncol(X), nv = nv, pats = unname(pats),
       groups = levels(group), ng = nlevels(group), subj = subj)
}

engine_parts <- function(th, st, type) {
  S <- STRUCTS[[type]]; np1 <- S$npar(st$nv)
  XtX <- matrix(0, st$p, st$p); Xty <- numeric(st$p); yty <- 0; logdet <- 0
  covs <- lapply(seq_len(st$ng), function(g) S$build(th[(g - 1) * np1 + seq_len(np1)], st$nv))
  for (pt in st$pats) {
    Sg <- if (isTRUE(S$spatial)) S$build_t(th[(pt$group - 1) * np1 + seq_len(np1)], pt$times)
          else covs[[pt$group]][pt$vis, pt$vis, drop = FALSE]
    R <- chol(Sg)
    Ri <- backsolve(R, diag(pt$k), transpose = TRUE)        # R^-T
    Xw <- matrix(Ri %*% matrix(st$X[pt$rows, , drop = FALSE], pt$k), ncol = st$p)
    yw <- as.vector(Ri %*% matrix(st$y[pt$rows], pt$k))
    XtX <- XtX + crossprod(Xw); Xty <- Xty + as.vector(crossprod(Xw, yw)); yty <- yty + sum(yw^2)
    logdet <- logdet + pt$m * 2 * sum(log(diag(R)))
  }
  list(XtX = XtX, Xty = Xty, yty = yty, logdet = logdet, covs = covs)
}

engine_m2ll <- function(th, st, type, reml) {
  pr <- tryCatch(engine_parts(th, st, type), error = function(e) NULL)
  if (is.null(pr)) return(1e10)
  cX <- tryCatch(chol(pr$XtX), error = function(e) NULL)
  if (is.null(cX)) return(1e10)
  beta <- backsolve(cX, forwardsolve(t(cX), pr$Xty))
  quad <- pr$yty - sum(pr$Xty * beta)
  if (reml) (st$n - st$p) * log(2 * pi) + pr$logdet + 2 * sum(log(diag(cX))) + quad
  else st$n * log(2 * pi) + pr$logdet + quad
}

engine_fit <- function(st, type, reml, start = NULL) {
  S <- STRUCTS[[type]]; nv <- st$nv
  if (is.null(start)) {
    r <- st$y - st$X %*% qr.coef(qr(st$X), st$y)
    # rows of st are in pattern order inside pats; rebuild per-visit SDs
    vv <- integer(st$n); for (pt in st$pats) vv[pt$rows] <- rep(pt$vis, pt$m)
    sds <- vapply(seq_len(nv), function(v) sd(r[vv == v]), 0)
    if (isTRUE(S$spatial)) sds <- rep(sd(r), nv)
    start <- rep(S$start(sds, nv), st$ng)
  }
  f <- function(th) engine_m2ll(th, st, type, reml)
  invisible(engine_parts(start, st, type))   # surfaces coding errors (engine_m2ll hides them)
  o1 <- nlminb(start, f, control = list(eval.max = 5000, iter.max = 3000, rel.tol = 1e-14))
  o2 <- optim(o1$par, f, method = "BFGS", control = list(maxit = 5000, reltol = 1e-15))
  th <- if (o2$value <= o1$objective) o2$par else o1$par
  # polish with an accurate (Richardson) gradient
  o3 <- nlminb(th, f, gradient = function(t) numDeriv::grad(f, t),
               control = list(eval.max = 500, iter.max = 300, rel.tol = 1e-15))
  if (o3$objective <= f(th)) th <- o3$par
  g <- numDeriv::grad(f, th)
  list(theta = th, m2ll = f(th), grad_maxabs = max(abs(g)),
       converged = max(abs(g)) < 1e-3,
       nlminb_message = o1$message, optim_convergence = o2$convergence,
       type = type, reml = reml)
}

engine_result <- function(fit, st, type, label, formula_txt, data_name, visit_levels,
                          elapsed, notes = NULL) {
  pr <- engine_parts(fit$theta, st, type)
  V <- solve(pr$XtX); beta <- as.vector(V %*% pr$Xty); se <- sqrt(diag(V))
  names(beta) <- names(se) <- colnames(st$X)
  np <- length(fit$theta); k <- np + st$p
  ll <- -fit$m2ll / 2
  n_eff <- if (fit$reml) st$n - st$p else st$n
  np1 <- STRUCTS[[type]]$npar(st$nv)
  per_group <- lapply(seq_len(st$ng), function(g) {
    th <- fit$theta[(g - 1) * np1 + seq_len(np1)]
    Sg <- pr$covs[[g]]; dimnames(Sg) <- NULL
    list(group = st$groups[g], params = natural_params(type, th, st$nv),
         residual_cov = mat_rows(Sg))
  })
  out <- list(
    model = label, engine = "direct ML/REML maximiser in this script (nlminb + BFGS)",
    data = data_name, structure = type, method = if (fit$reml) "REML" else "ML",
    formula = formula_txt, n_obs = st$n, n_subjects = length(unique(st$subj)),
    loglik = ll, minus2loglik = fit$m2ll,
    # nlme's convention: AIC/BIC with k = #covariance params + #fixed effects; for REML,
    # BIC uses log(N - p).
    aic = -2 * ll + 2 * k, bic = -2 * ll + k * log(n_eff),
    n_cov_params = np,
    aic_sas = fit$m2ll + 2 * (np + if (fit$reml) 0 else st$p),
    bic_mmrm = fit$m2ll + (np + if (fit$reml) 0 else st$p) * log(length(unique(st$subj))),
    fixed = setNames(lapply(seq_along(beta), function(i) list(estimate = num(beta[i]), se = num(se[i]))), names(beta)),
    visits = visit_levels,
    theta_unconstrained = num(fit$theta),
    converged = fit$converged, grad_maxabs = fit$grad_maxabs,
    convergence_rule = "max |d(-2 loglik)/d theta| < 1e-3 (numDeriv gradient) after nlminb, BFGS and a gradient-polished nlminb",
    elapsed_sec = elapsed)
  if (st$ng == 1) {
    out$params <- per_group[[1]]$params
    out$residual_cov <- per_group[[1]]$residual_cov
  } else {
    out$by_group <- setNames(per_group, st$groups)
  }
  if (!is.null(notes)) out$notes <- notes
  out
}

# Satterthwaite df for contrasts L (rows) from the engine: W = 2 H^-1 (H: Hessian of the
# REML -2 log-likelihood in theta), g = d(l' Phi l)/d theta with Phi = (X'V^-1X)^-1.
# This is the SAS/mmrm construction (invariant to the parameterisation of theta).
engine_satterthwaite <- function(fit, st, type, L) {
  f <- function(th) engine_m2ll(th, st, type, reml = TRUE)
  H <- numDeriv::hessian(f, fit$theta)
  W <- 2 * solve(H)
  phi <- function(th) solve(engine_parts(th, st, type)$XtX)
  Phi <- phi(fit$theta)
  beta <- as.vector(Phi %*% engine_parts(fit$theta, st, type)$Xty)
  t(apply(L, 1, function(l) {
    v <- function(th) as.numeric(t(l) %*% phi(th) %*% l)
    g <- numDeriv::grad(v, fit$theta)
    vv <- v(fit$theta)
    c(estimate = sum(l * beta), se = sqrt(vv), df = 2 * vv^2 / as.numeric(t(g) %*% W %*% g))
  }))
}

# Direct REML/ML for y = X b + site intercept + AR(1) within subject (the lme model):
# theta = (log site SD, log sigma, rho / sqrt(1 - rho^2)). Marginal V per site.
site_ar1_parts <- function(th, y, X, blocks) {
  s2 <- exp(2 * th[1]); sig2 <- exp(2 * th[2]); rho <- to_cor(th[3]); p <- ncol(X)
  XtX <- matrix(0, p, p); Xty <- numeric(p); yty <- 0; logdet <- 0
  for (b in blocks) {
    V <- s2 + sig2 * (outer(b$id, b$id, "==") * rho^abs(outer(b$v, b$v, "-")))
    R <- chol(V); Ri <- backsolve(R, diag(length(b$ix)), transpose = TRUE)
    Xw <- Ri %*% X[b$ix, , drop = FALSE]; yw <- as.vector(Ri %*% y[b$ix])
    XtX <- XtX + crossprod(Xw); Xty <- Xty + as.vector(crossprod(Xw, yw)); yty <- yty + sum(yw^2)
    logdet <- logdet + 2 * sum(log(diag(R)))
  }
  list(XtX = XtX, Xty = Xty, yty = yty, logdet = logdet)
}
site_ar1_m2ll <- function(th, y, X, blocks, reml) {
  pr <- tryCatch(site_ar1_parts(th, y, X, blocks), error = function(e) NULL)
  if (is.null(pr)) return(1e10)
  cX <- chol(pr$XtX); beta <- backsolve(cX, forwardsolve(t(cX), pr$Xty))
  quad <- pr$yty - sum(pr$Xty * beta); n <- length(y); p <- ncol(X)
  if (reml) (n - p) * log(2 * pi) + pr$logdet + 2 * sum(log(diag(cX))) + quad
  else n * log(2 * pi) + pr$logdet + quad
}
site_ar1_blocks <- function(d) lapply(split(seq_len(nrow(d)), as.character(d$site)), function(ix)
  list(ix = ix, id = as.character(d$id[ix]), v = d$visitn[ix]))
site_ar1_satterthwaite <- function(th, y, X, blocks, L) {
  H <- numDeriv::hessian(function(t) site_ar1_m2ll(t, y, X, blocks, TRUE), th)
  W <- 2 * solve(H)
  phi <- function(t) solve(site_ar1_parts(t, y, X, blocks)$XtX)
  pr <- site_ar1_parts(th, y, X, blocks); Phi <- solve(pr$XtX); beta <- as.vector(Phi %*% pr$Xty)
  t(apply(L, 1, function(l) {
    v <- function(t) as.numeric(t(l) %*% phi(t) %*% l)
    g <- numDeriv::grad(v, th); vv <- v(th)
    c(estimate = sum(l * beta), se = sqrt(vv), df = 2 * vv^2 / as.numeric(t(g) %*% W %*% g))
  }))
}

## ======================================================================= nlme helpers
full_subject <- function(d, idcol, nv) {
  cnt <- table(d[[idcol]])
  names(cnt)[cnt == nv][1]
}

# model-based covariance of beta, (sum_i X_i' V_i^-1 X_i)^-1 with V_i = getVarCov(fit, i):
# equals vcov(fit) for REML; for ML nlme's vcov() is larger by N/(N-p) (see README).
gls_model_based_vcov <- function(fit, d, idcol) {
  X <- model.matrix(formula(fit), d)
  A <- matrix(0, ncol(X), ncol(X))
  for (i in unique(as.character(d[[idcol]]))) {
    ix <- which(as.character(d[[idcol]]) == i)
    # getVarCov.gls fails for a 1-observation subject of a spatial corStruct without varStruct
    V <- if (length(ix) == 1 && is.null(fit$modelStruct$varStruct)) matrix(fit$sigma^2)
         else as.matrix(unclass(getVarCov(fit, individual = i)))
    A <- A + crossprod(X[ix, , drop = FALSE], solve(V, X[ix, , drop = FALSE]))
  }
  solve(A)
}

gls_entry <- function(label, structure, fit_t, d, idcol, visit_levels, form_txt, control_txt,
                      corr_txt, weights_txt, data_name, full_id, notes = NULL, times_col = NULL) {
  fit <- fit_t$value
  if (!is.null(fit_t$error)) {
    return(list(model = label, structure = structure, data = data_name, formula = form_txt,
                error = fit_t$error, warnings = fit_t$warnings, elapsed_sec = fit_t$elapsed))
  }
  tt <- summary(fit)$tTable
  Vmb <- gls_model_based_vcov(fit, d, idcol)
  se_mb <- sqrt(diag(Vmb))
  fixed <- setNames(lapply(seq_len(nrow(tt)), function(i)
    list(estimate = num(tt[i, "Value"]), se = num(tt[i, "Std.Error"]),
         se_model_based = num(se_mb[i]))), rownames(tt))
  cs <- fit$modelStruct$corStruct; vs <- fit$modelStruct$varStruct
  params <- list(sigma = num(fit$sigma))
  if (!is.null(cs)) {
    params$corStruct_class <- class(cs)[1]
    params$corStruct_coef <- named_list(coef(cs, unconstrained = FALSE))
    params$corStruct_coef_unconstrained <- named_list(coef(cs, unconstrained = TRUE))
    cm <- corMatrix(cs)[[full_id]]
    params$cor_matrix_full_subject <- mat_rows(cm)
  }
  if (!is.null(vs)) {
    vc <- coef(vs, unconstrained = FALSE, allCoef = TRUE)
    params$varIdent_ratios <- named_list(vc)
    params$varIdent_form <- deparse(formula(vs))
  }
  V <- as.matrix(unclass(getVarCov(fit, individual = full_id)))
  dimnames(V) <- NULL
  N <- nobs(fit); p <- length(coef(fit))
  ll <- as.numeric(logLik(fit))
  apv <- fit$apVar
  out <- list(
    model = label, engine = "nlme::gls", data = data_name, structure = structure,
    method = fit$method, formula = form_txt, correlation = corr_txt, weights = weights_txt,
    control = control_txt, n_obs = N, n_subjects = length(unique(d[[idcol]])),
    loglik = ll, minus2loglik = -2 * ll, aic = AIC(fit), bic = BIC(fit),
    df_logLik = attr(logLik(fit), "df"),
    n_cov_params = attr(logLik(fit), "df") - p,
    aic_sas = -2 * ll + 2 * (attr(logLik(fit), "df") - if (fit$method == "REML") p else 0),
    bic_mmrm = -2 * ll + (attr(logLik(fit), "df") - if (fit$method == "REML") p else 0) * log(length(unique(d[[idcol]]))),
    fixed = fixed, params = params,
    visits = visit_levels, residual_cov_subject = full_id,
    residual_cov = mat_rows(V),
    converged = TRUE,   # nlme stops with an error when it does not converge
    apVar_ok = is.matrix(apv), apVar_message = if (is.character(apv)) apv else NULL,
    elapsed_sec = fit_t$elapsed, warnings = fit_t$warnings)
  if (!is.null(times_col)) {
    out$residual_cov_times <- num(d[[times_col]][as.character(d[[idcol]]) == full_id])
  }
  if (!is.null(notes)) out$notes <- notes
  out
}

emm_records <- function(e, by_cols, est_col = "emmean") {
  s <- as.data.frame(summary(e, infer = c(TRUE, TRUE)))
  lapply(seq_len(nrow(s)), function(i) {
    r <- list()
    for (b in by_cols) r[[b]] <- as.character(s[[b]][i])
    r$estimate <- num(s[[est_col]][i]); r$se <- num(s$SE[i]); r$df <- num(s$df[i])
    if ("lower.CL" %in% names(s)) { r$lower_cl <- num(s$lower.CL[i]); r$upper_cl <- num(s$upper.CL[i]) }
    if ("t.ratio" %in% names(s)) r$t_ratio <- num(s$t.ratio[i])
    if ("p.value" %in% names(s)) r$p_value <- num(s$p.value[i])
    r
  })
}

EMM_SEED <- 1L
emmeans_block <- function(fit, data, spec, mode, label, contrast_by) {
  msgs <- character(0)
  # emmeans' (appx-)satterthwaite for gls/lme refits the model on y + N(0, (0.01 sigma)^2)
  # noise (gradV.kludge), so it depends on the RNG state: fix it.
  set.seed(EMM_SEED)
  e <- withCallingHandlers(
    tryCatch(emmeans(fit, spec, mode = mode, data = data), error = function(err) err),
    message = function(m) { msgs <<- c(msgs, conditionMessage(m)); invokeRestart("muffleMessage") })
  if (inherits(e, "error")) {
    cat("  !! emmeans", label, mode, ":", conditionMessage(e), "\n")
    return(list(model = label, mode_requested = mode, error = conditionMessage(e)))
  }
  s <- summary(e)
  mode_used <- sub(".*Degrees-of-freedom method: ", "", grep("Degrees-of-freedom method", attr(s, "mesg"), value = TRUE))
  ct <- contrast(e, "revpairwise")
  list(model = label, mode_requested = mode, mode_used = if (length(mode_used)) mode_used else mode,
       messages = msgs, rng_seed = EMM_SEED, spec = deparse(spec), confidence_level = 0.95,
       reference_grid_note = paste(attr(s, "mesg"), collapse = " | "),
       emmeans = emm_records(e, contrast_by),
       contrasts = emm_records(ct, c("contrast", contrast_by[-1]), est_col = "estimate"),
       linfct_emmeans = mat_rows(e@linfct), linfct_contrasts = mat_rows(ct@linfct),
       fixed_names = colnames(e@linfct))
}

## ======================================================================= SAS listing parser
# Parses PROC MIXED text listings (as stored in mmrm's design/ folders). Every value keeps
# its 1-based line number in the file.
parse_sas_listing <- function(lines) {
  n <- length(lines); trim <- function(s) gsub("^\\s+|\\s+$", "", s)
  tok <- function(s) strsplit(trim(s), "\\s{2,}")[[1]]
  numval <- function(s) { s <- trim(s); if (s %in% c(".", "") || grepl("^<", s)) NA_real_ else suppressWarnings(as.numeric(s)) }
  out <- list()
  # model information
  for (key in c("Covariance Structure", "Estimation Method", "Degrees of Freedom Method",
                "Group Effect", "Subject Effect", "Fixed Effects SE Method")) {
    i <- grep(paste0("^\\s+", key, "\\s{2,}"), lines)[1]
    if (!is.na(i)) {
      v <- trim(sub(paste0("^\\s+", key), "", lines[i]))
      # continuation line (e.g. "Heterogeneous Compound" / "Symmetry")
      if (i < n && grepl("^\\s{40,}\\S", lines[i + 1]) && !grepl("\\s{2,}\\S+\\s{2,}", trim(lines[i + 1])))
        v <- paste(v, trim(lines[i + 1]))
      out$model_info[[key]] <- list(value = v, line = i)
    }
  }
  # class levels for AVISIT (order used by SAS for UN(i,j), Var(i) and R matrices)
  i <- grep("^\\s+AVISIT\\s+\\d+\\s+", lines)[1]
  if (!is.na(i)) out$sas_avisit_order <- list(value = strsplit(trim(sub("^\\s+AVISIT\\s+\\d+\\s+", "", lines[i])), "\\s+")[[1]], line = i)
  i <- grep("Number of Observations Used", lines)[1]
  if (!is.na(i)) out$n_obs_used <- list(value = as.numeric(sub(".*Used\\s+", "", lines[i])), line = i)
  # final -2 (Res) Log Like from the iteration history (8 decimals)
  ih <- grep("Iteration History", lines)[1]
  cc <- grep("Convergence criteria met", lines)
  out$converged <- length(cc) > 0
  if (!is.na(ih)) {
    end <- if (length(cc)) cc[1] else min(n, ih + 200)
    rows <- grep("^\\s+\\d+\\s+\\d+\\s+[0-9.]+", lines[ih:end]) + ih - 1
    if (length(rows)) {
      last <- rows[length(rows)]
      tk <- strsplit(trim(lines[last]), "\\s+")[[1]]
      out$minus2loglik_iter <- list(value = as.numeric(tk[3]), line = last,
                                    label = if (grepl("Res Log Like", paste(lines[ih:(ih + 3)], collapse = " "))) "-2 Res Log Like" else "-2 Log Like")
    }
  }
  # rows of a table that starts after the header line containing `hdr_pat`; follows the
  # table over SAS page breaks (form feed / "The SAS System" + the same title again)
  read_rows <- function(title_line, hdr_pat, parse_row) {
    title <- trim(lines[title_line])
    j <- title_line + 1
    while (j <= n && !grepl(hdr_pat, lines[j])) j <- j + 1
    header_line <- j; j <- j + 1; rows <- list()
    repeat {
      while (j <= n && trim(lines[j]) == "") j <- j + 1
      while (j <= n && trim(lines[j]) != "" && !grepl("The SAS System|\f", lines[j])) {
        r <- parse_row(lines[j], j); if (!is.null(r)) rows[[length(rows) + 1]] <- r
        j <- j + 1
      }
      found <- NA
      for (q in seq(j, min(n, j + 12))) if (q > j && trim(lines[q]) == title) { found <- q; break }
      if (is.na(found) || !any(grepl("The SAS System|\f", lines[j:found]))) break
      j <- found + 1
      while (j <= n && !grepl(hdr_pat, lines[j])) j <- j + 1
      j <- j + 1
    }
    list(header_line = header_line, rows = rows)
  }
  # covariance parameter estimates
  cp <- grep("^\\s+Covariance Parameter Estimates\\s*$", lines)[1]
  if (!is.na(cp)) {
    out$cov_params <- read_rows(cp, "Estimate", function(s, j) {
      t <- tok(s)
      nums <- suppressWarnings(as.numeric(t))
      k <- which(!is.na(nums))
      if (!length(k)) return(NULL)
      first_num <- k[1]
      tail <- nums[first_num:length(t)]
      list(name = t[1],
           subject_group = if (first_num > 2) paste(t[2:(first_num - 1)], collapse = " ") else "",
           estimate = tail[1], alpha = if (length(tail) >= 2) tail[2] else NA,
           lower = if (length(tail) >= 3) tail[3] else NA, upper = if (length(tail) >= 4) tail[4] else NA,
           line = j)
    })$rows
  }
  # fit statistics (one decimal)
  for (key in c("-2 Res Log Likelihood", "-2 Log Likelihood", "AIC (Smaller is Better)",
                "AICC (Smaller is Better)", "BIC (Smaller is Better)")) {
    i <- grep(key, lines, fixed = TRUE)[1]
    if (!is.na(i)) out$fit_statistics[[key]] <- list(value = as.numeric(sub(".*\\s", "", trim(lines[i]))), line = i)
  }
  # tables: Solution for Fixed Effects, Least Squares Means, Differences of LS Means
  parse_table <- function(title) {
    h <- grep(paste0("^\\s+", title, "\\s*$"), lines)[1]
    if (is.na(h)) return(NULL)
    j <- h + 1
    while (j <= n && !grepl("Estimate", lines[j])) j <- j + 1
    header <- lines[j]; has_cl <- grepl("Alpha", header)
    ntail <- if (has_cl) 8 else 5
    rr <- read_rows(h, "Estimate", function(s, j) {
      t <- strsplit(trim(s), "\\s+")[[1]]
      if (length(t) <= ntail) return(NULL)
      tail <- t[(length(t) - ntail + 1):length(t)]
      vals <- vapply(tail, numval, 0)
      list(label = gsub("\\s+", " ", trim(sub(sprintf("(\\s+\\S+){%d}\\s*$", ntail), "", s))),
           estimate = vals[[1]], se = vals[[2]], df = vals[[3]], t = vals[[4]], p = vals[[5]], p_text = tail[5],
           lower = if (has_cl) vals[[7]] else NA, upper = if (has_cl) vals[[8]] else NA, line = j)
    })
    list(header_line = rr$header_line, header = trim(header), rows = rr$rows)
  }
  out$solution_fixed <- parse_table("Solution for Fixed Effects")
  out$lsmeans <- parse_table("Least Squares Means")
  out$lsmeans_diffs <- parse_table("Differences of Least Squares Means")
  # type 3 tests
  t3 <- grep("^\\s+Type 3 Tests of Fixed Effects\\s*$", lines)[1]
  if (!is.na(t3)) {
    out$type3 <- read_rows(t3, "Effect", function(s, j) {
      t <- strsplit(trim(s), "\\s{2,}")[[1]]
      if (length(t) < 5) return(NULL)
      list(effect = t[1], num_df = numval(t[2]), den_df = numval(t[3]), chisq = numval(t[4]), f = numval(t[5]), line = j)
    })$rows
  }
  # largest Estimated R matrices (first one of maximal dimension, per distinct content; max 2)
  rm_heads <- grep("Estimated R Matrix|^\\s+Matrix for\\s*$|^\\s+for USUBJID", lines)
  rm_rows <- grep("^\\s+Row\\s+Col1", lines)
  rmats <- list(); seen <- character(0)
  for (r0 in rm_rows) {
    # skip correlation matrices: look back for "Correlation"
    back <- lines[max(1, r0 - 4):(r0 - 1)]
    if (any(grepl("Correlation", back))) next
    k <- length(strsplit(trim(lines[r0]), "\\s+")[[1]]) - 1
    q0 <- r0 + 1; while (q0 <= n && trim(lines[q0]) == "") q0 <- q0 + 1
    vals <- do.call(rbind, lapply(seq_len(k) - 1, function(q) as.numeric(strsplit(trim(lines[q0 + q]), "\\s+")[[1]][-1])))
    subj <- regmatches(paste(back, collapse = " "), regexpr("USUBJID\\s+\\S+", paste(back, collapse = " ")))
    rmats[[length(rmats) + 1]] <- list(dim = k, subject = sub("USUBJID\\s+", "", subj), matrix = vals, line = r0)
  }
  if (length(rmats)) {
    kmax <- max(vapply(rmats, `[[`, 0, "dim"))
    keep <- list()
    for (rm in rmats) if (rm$dim == kmax) {
      key <- paste(format(rm$matrix), collapse = ",")
      if (!(key %in% seen) && length(keep) < 2) { seen <- c(seen, key); keep[[length(keep) + 1]] <- list(subject = rm$subject, line = rm$line, matrix = mat_rows(rm$matrix)) }
    }
    out$r_matrices_full <- keep
  }
  out
}

# SAS code for each listing, taken from the design/*.R scripts: the PROC MIXED ... RUN;
# block before the statement that wrote the file.
sas_code_index <- function(git) {
  files <- git_ls(git, "design")
  files <- files[grepl("\\.R$", files)]
  idx <- list()
  for (f in files) {
    L <- git_show(git, f)
    outs <- grep("(con|file)\\s*=\\s*\"[^\"]+\\.txt\"", L)
    procs <- grep("PROC MIXED", L)
    for (o in outs) {
      fn <- basename(sub(".*(con|file)\\s*=\\s*\"([^\"]+)\".*", "\\2", L[o]))
      pb <- procs[procs < o]
      if (!length(pb)) next
      p0 <- max(pb); p1 <- p0
      while (p1 < length(L) && !grepl("RUN;", L[p1])) p1 <- p1 + 1
      idx[[fn]] <- list(script = f, lines = c(p0, p1), code = gsub("^\\s+", "", L[p0:p1]))
    }
  }
  idx
}

git_show <- function(git, path, commit = "HEAD") {
  system2("git", c(paste0("--git-dir=", git), "show", paste0(commit, ":", path)), stdout = TRUE)
}
git_ls <- function(git, path) {
  system2("git", c(paste0("--git-dir=", git), "ls-tree", "-r", "--name-only", "HEAD", path), stdout = TRUE)
}

# mmrm test expectations: every test_that() block in tests/testthat/*.R that names SAS or a
# design/ file; for each, the statements with numeric literals (source text + lines) and
# their values when they evaluate from literals alone.
extract_test_expectations <- function(git) {
  files <- git_ls(git, "tests/testthat")
  files <- files[grepl("\\.R$", files)]
  safe_env <- new.env(parent = emptyenv())
  for (fn in c("c", "sqrt", "log", "exp", "/", "*", "-", "+", "(", "rep", "^")) assign(fn, get(fn, baseenv()), envir = safe_env)
  assign("plogis", stats::plogis, envir = safe_env); assign("qlogis", stats::qlogis, envir = safe_env)
  # mmrm's map_to_theta / map_to_cor (R/utils.R): theta = rho / sqrt(1 - rho^2)
  assign("map_to_theta", function(rho) rho / sqrt(1 - rho^2), envir = safe_env)
  res <- list()
  for (f in files) {
    L <- git_show(git, f)
    pe <- tryCatch(parse(text = L, keep.source = TRUE), error = function(e) NULL)
    if (is.null(pe)) next
    srcrefs <- attr(pe, "srcref")
    for (k in seq_along(pe)) {
      ex <- pe[[k]]
      if (!is.call(ex) || !identical(ex[[1]], as.name("test_that"))) next
      sr <- srcrefs[[k]]; l0 <- sr[1]; l1 <- sr[3]
      block <- L[l0:l1]
      if (!any(grepl("SAS|sas_|design/", block))) next
      body <- ex[[3]]
      stmts <- if (is.call(body) && identical(body[[1]], as.name("{"))) as.list(body)[-1] else list(body)
      bsr <- attr(body, "srcref")
      recs <- list()
      for (q in seq_along(stmts)) {
        s <- stmts[[q]]
        txt <- if (!is.null(bsr)) paste(as.character(bsr[[q + 1]]), collapse = "\n") else paste(deparse(s), collapse = "\n")
        if (!grepl("[0-9]\\.[0-9]|[0-9]{3,}", txt)) next
        lines_q <- if (!is.null(bsr)) c(bsr[[q + 1]][1], bsr[[q + 1]][3]) else c(NA, NA)
        rec <- list(code = txt, lines = lines_q)
        # value of an assignment / the expected argument of expect_equal, if literal-only
        cand <- NULL
        if (is.call(s) && (identical(s[[1]], as.name("<-")) || identical(s[[1]], as.name("=")))) cand <- s[[3]]
        if (is.call(s) && grepl("^expect_", as.character(s[[1]])[1]) && length(s) >= 3) cand <- s[[3]]
        if (!is.null(cand)) {
          v <- tryCatch(eval(cand, safe_env), error = function(e) NULL)
          if (is.numeric(v)) rec$value <- num(v)
        }
        tol <- if (is.call(s) && !is.null(names(s)) && "tolerance" %in% names(s)) tryCatch(eval(s[["tolerance"]], safe_env), error = function(e) NULL) else NULL
        if (!is.null(tol)) rec$tolerance <- tol
        recs[[length(recs) + 1]] <- rec
      }
      comments <- grep("#", block, value = TRUE)
      res[[length(res) + 1]] <- list(file = f, test = ex[[2]], lines = c(l0, l1),
                                     comments = trimws(comments), statements = recs)
    }
  }
  res
}

# mmrm snapshot of broom.helpers::tidy_plus_plus(get_mmrm()) (tests/testthat/_snaps/
# tmb-methods.md): full-precision estimates, SEs and Satterthwaite df of the REML fit
# FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID). The snapshot is a deparsed R
# value; it is evaluated only if it uses nothing but structure(), list(), c() and '-'.
extract_tidy_snapshot <- function(git) {
  f <- "tests/testthat/_snaps/tmb-methods.md"
  L <- git_show(git, f)
  h <- grep("^# model.matrix works with broom.helpers", L)
  if (!length(h)) return(NULL)
  nxt <- grep("^# ", L); nxt <- nxt[nxt > h][1]
  body <- L[(h + 1):(nxt - 1)]
  body <- sub("^    ", "", body[nzchar(trimws(body))])
  ex <- parse(text = paste(body, collapse = "\n"))[[1]]
  if (!all(all.names(ex, functions = TRUE, unique = TRUE) %in%
           c("structure", "list", "c", "-", all.names(ex, functions = FALSE, unique = TRUE))))
    return(NULL)
  fun_names <- setdiff(all.names(ex, functions = TRUE, unique = TRUE), all.names(ex, functions = FALSE, unique = TRUE))
  if (!all(fun_names %in% c("structure", "list", "c", "-"))) return(NULL)
  v <- eval(ex, baseenv())
  keep <- !is.na(v$std.error)
  list(file = f, lines = c(h, nxt - 1), test_file = "tests/testthat/test-tmb-methods.R",
       model = "mmrm(FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID), data = fev_data) (REML, Satterthwaite, asymptotic vcov): get_mmrm() in tests/testthat/helper-examples.R",
       note = "Values printed by broom.helpers::tidy_plus_plus(); rows of reference levels (NA) dropped. Test tolerance: expect_snapshot_tolerance (mmrm's default 1e-4 relative).",
       rows = lapply(which(keep), function(i) list(term = v$term[i], estimate = num(v$estimate[i]),
         std_error = num(v$std.error[i]), df = num(v$df[i]), statistic = num(v$statistic[i]),
         p_value = num(v$p.value[i]), conf_low = num(v$conf.low[i]), conf_high = num(v$conf.high[i]))))
}

## ======================================================================= nlme gls set
GLS_CONTROLS <- list(
  "glsControl()" = glsControl(),
  "glsControl(opt = \"optim\", tolerance = 1e-10, msTol = 1e-12, msMaxIter = 1000, maxIter = 1000)" =
    glsControl(opt = "optim", tolerance = 1e-10, msTol = 1e-12, msMaxIter = 1000, maxIter = 1000))
run_gls_set <- function(d, yname, rhs, idcol, visitcol, vis_levels, timecol, armcol, data_name,
                        which = NULL, methods = c("REML", "ML")) {
  form <- as.formula(paste(yname, "~", rhs))
  form_txt <- paste(yname, "~", rhs)
  d$.vi <- as.integer(d[[visitcol]])
  d$.id <- d[[idcol]]; d$.visit <- d[[visitcol]]; d$.arm <- if (!is.null(armcol)) d[[armcol]] else NULL
  nv <- length(vis_levels)
  full_id <- full_subject(d, idcol, nv)
  assign(".d_gls", d, envir = globalenv())   # emmeans re-evaluates the data
  specs <- list(
    us = list(cor = quote(corSymm(form = ~ .vi | .id)), w = quote(varIdent(form = ~ 1 | .visit)),
              cor_txt = sprintf("corSymm(form = ~ as.integer(%s) | %s)", visitcol, idcol),
              w_txt = sprintf("varIdent(form = ~ 1 | %s)", visitcol)),
    cs = list(cor = quote(corCompSymm(form = ~ 1 | .id)), w = NULL,
              cor_txt = sprintf("corCompSymm(form = ~ 1 | %s)", idcol), w_txt = NULL),
    csh = list(cor = quote(corCompSymm(form = ~ 1 | .id)), w = quote(varIdent(form = ~ 1 | .visit)),
               cor_txt = sprintf("corCompSymm(form = ~ 1 | %s)", idcol), w_txt = sprintf("varIdent(form = ~ 1 | %s)", visitcol)),
    ar1 = list(cor = quote(corAR1(form = ~ .vi | .id)), w = NULL,
               cor_txt = sprintf("corAR1(form = ~ as.integer(%s) | %s)", visitcol, idcol), w_txt = NULL),
    ar1h = list(cor = quote(corAR1(form = ~ .vi | .id)), w = quote(varIdent(form = ~ 1 | .visit)),
                cor_txt = sprintf("corAR1(form = ~ as.integer(%s) | %s)", visitcol, idcol), w_txt = sprintf("varIdent(form = ~ 1 | %s)", visitcol)),
    toep = list(cor = bquote(corARMA(form = ~ .vi | .id, p = .(nv - 1L), q = 0)), w = NULL,
                cor_txt = sprintf("corARMA(form = ~ as.integer(%s) | %s, p = %d, q = 0)", visitcol, idcol, nv - 1L), w_txt = NULL),
    toeph = list(cor = bquote(corARMA(form = ~ .vi | .id, p = .(nv - 1L), q = 0)), w = quote(varIdent(form = ~ 1 | .visit)),
                 cor_txt = sprintf("corARMA(form = ~ as.integer(%s) | %s, p = %d, q = 0)", visitcol, idcol, nv - 1L), w_txt = sprintf("varIdent(form = ~ 1 | %s)", visitcol))
  )
  if (!is.null(timecol)) {
    d$.time <- d[[timecol]]; assign(".d_gls", d, envir = globalenv())
    specs$sp_exp <- list(cor = quote(corExp(form = ~ .time | .id)), w = NULL,
                         cor_txt = sprintf("corExp(form = ~ %s | %s)", timecol, idcol), w_txt = NULL)
  }
  if (!is.null(armcol)) {
    specs$us_varident_arm <- list(cor = quote(corSymm(form = ~ .vi | .id)), w = quote(varIdent(form = ~ 1 | .visit * .arm)),
      cor_txt = sprintf("corSymm(form = ~ as.integer(%s) | %s)", visitcol, idcol),
      w_txt = sprintf("varIdent(form = ~ 1 | %s * %s)", visitcol, armcol),
      notes = "Unstructured correlation shared by the arms, a separate SD for every visit x arm (12 strata). nlme cannot give each arm its own correlation matrix; see the engine fits us/cs/ar1 by arm for fully separate structures.")
    specs$ar1_varident_arm <- list(cor = quote(corAR1(form = ~ .vi | .id)), w = quote(varIdent(form = ~ 1 | .arm)),
      cor_txt = sprintf("corAR1(form = ~ as.integer(%s) | %s)", visitcol, idcol),
      w_txt = sprintf("varIdent(form = ~ 1 | %s)", armcol),
      notes = "AR(1) with a common rho, and a variance ratio between the arms (varIdent by arm): what nlme offers towards 'a structure per arm'. Not the same as separate AR(1) per arm (see engine fit ar1 by arm).")
  }
  if (!is.null(which)) specs <- specs[which]
  entries <- list(); fits <- list()
  for (nm in names(specs)) for (meth in methods) {
    sp <- specs[[nm]]
    # every fit is made with nlme's default control and with a tight optim() control; the
    # one with the larger log-likelihood is stored (nlminb's default stopping leaves the
    # covariance parameters ~1e-4 relative from the optimum on these data).
    attempts <- list(); best <- NULL; best_ci <- NA
    for (ci in seq_along(GLS_CONTROLS)) {
      cl <- call("gls", form, data = quote(.d_gls), correlation = sp$cor, method = meth,
                 control = GLS_CONTROLS[[ci]], na.action = quote(na.omit))
      if (!is.null(sp$w)) cl$weights <- sp$w
      ft_i <- timed(eval(cl))
      ll_i <- if (is.null(ft_i$error)) as.numeric(logLik(ft_i$value)) else NA
      attempts[[ci]] <- list(control = names(GLS_CONTROLS)[ci], loglik = ll_i, error = ft_i$error,
                             elapsed_sec = ft_i$elapsed)
      if (!is.na(ll_i) && (is.null(best) || ll_i > as.numeric(logLik(best$value)))) { best <- ft_i; best_ci <- ci }
    }
    ft <- if (is.null(best)) ft_i else best
    ci <- if (is.na(best_ci)) length(GLS_CONTROLS) else best_ci
    ctrl_txt <- names(GLS_CONTROLS)
    label <- paste(data_name, nm, meth, sep = "_")
    e <- gls_entry(label, nm, ft, d, idcol, vis_levels, form_txt, ctrl_txt[ci], sp$cor_txt, sp$w_txt,
                   data_name, full_id, notes = sp$notes, times_col = if (nm == "sp_exp") timecol else NULL)
    e$control_attempts <- attempts
    e$elapsed_sec_default_control <- attempts[[1]]$elapsed_sec
    if (nm == "sp_exp" && is.null(ft$error)) {
      rng <- coef(ft$value$modelStruct$corStruct, unconstrained = FALSE)[["range"]]
      e$params$cov_at_integer_visits <- mat_rows(ft$value$sigma^2 * exp(-abs(outer(1:nv, 1:nv, "-")) / rng))
      e$params$note <- "corExp: cor(d) = exp(-d / range); SAS sp(exp) reports the same 'range' as SP(EXP)."
    }
    if (!is.null(ft$error)) cat("  !! ", label, ":", ft$error, "\n") else
      cat(sprintf("  %-32s logLik %.6f  (%.1fs)\n", label, e$loglik, ft$elapsed))
    entries[[label]] <- e; fits[[label]] <- ft$value
  }
  list(entries = entries, fits = fits, data = d, full_id = full_id)
}

## ======================================================================= main
if (!exists("RESIDUAL_DEFINE_ONLY") || !isTRUE(RESIDUAL_DEFINE_ONLY)) {

args <- commandArgs(trailingOnly = TRUE)
script_path <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
script_dir <- if (length(script_path)) dirname(normalizePath(script_path[1])) else getwd()
stored_dir <- normalizePath(file.path(script_dir, "..", "data", "residual"), mustWork = FALSE)
outdir <- if (length(args) >= 1 && nzchar(args[1])) args[1] else
  tempfile("mixedkit_residual_", tmpdir = Sys.getenv("TMPDIR", "/tmp"))
outdir <- normalizePath(outdir, mustWork = FALSE)
if (identical(outdir, stored_dir) && Sys.getenv("MIXEDKIT_OVERWRITE_REFERENCE") != "1")
  stop("refusing to overwrite the stored reference files in ", stored_dir,
       "; write elsewhere and compare, or set MIXEDKIT_OVERWRITE_REFERENCE=1")
dir.create(outdir, recursive = TRUE, showWarnings = FALSE)
mmrm_git <- Sys.getenv("MMRM_GIT_DIR", "")
skip_slow <- Sys.getenv("RESIDUAL_SKIP_SLOW") == "1"
cat("output to :", outdir, "\n")
wjson <- function(x, file) {
  writeLines(toJSON(x, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null", na = "null"),
             file.path(outdir, file))
  cat("wrote", file, "\n")
}
software <- list(R = R.version.string, nlme = as.character(packageVersion("nlme")),
                 emmeans = as.character(packageVersion("emmeans")),
                 jsonlite = as.character(packageVersion("jsonlite")),
                 numDeriv = as.character(packageVersion("numDeriv")),
                 BLAS = tryCatch(sessionInfo()$BLAS, error = function(e) NA_character_),
                 platform = R.version$platform)

## ---------------------------------------------------------------- data: trial
tr0 <- simulate_trial()
write.csv(tr0, file.path(outdir, "trial.csv"), row.names = FALSE, na = "")
tr <- read.csv(file.path(outdir, "trial.csv"), colClasses = c(id = "character", site = "character",
               arm = "character", visit = "character"))
TR_VIS <- sprintf("V%d", 1:6)
tr$visit <- factor(tr$visit, levels = TR_VIS)
tr$arm <- factor(tr$arm, levels = c("PBO", "TRT"))
tr$id <- factor(tr$id); tr$site <- factor(tr$site)
cat("trial:", nrow(tr), "rows,", nlevels(tr$id), "subjects; completers:",
    sum(table(tr$id) == 6), "\n")

## ---------------------------------------------------------------- data: fev_data
mmrm_commit <- NULL
if (nzchar(mmrm_git)) {
  mmrm_commit <- system2("git", c(paste0("--git-dir=", mmrm_git), "rev-parse", "HEAD"), stdout = TRUE)
  tmp <- tempfile(fileext = ".rda")
  system2("git", c(paste0("--git-dir=", mmrm_git), "show", "HEAD:data/fev_data.rda"), stdout = tmp)
  env <- new.env(); load(tmp, envir = env); fev_src <- env$fev_data
  fev_out <- fev_src
  for (v in names(fev_out)) if (is.factor(fev_out[[v]])) fev_out[[v]] <- as.character(fev_out[[v]])
  write.csv(fev_out, file.path(outdir, "fev_data.csv"), row.names = FALSE, na = "")
  fev_levels <- lapply(Filter(is.factor, fev_src), levels)
} else {
  src <- file.path(stored_dir, "fev_data.csv")
  if (!file.exists(src)) stop("no MMRM_GIT_DIR and no stored fev_data.csv")
  if (!identical(normalizePath(src), normalizePath(file.path(outdir, "fev_data.csv"), mustWork = FALSE)))
    file.copy(src, file.path(outdir, "fev_data.csv"), overwrite = TRUE)
  fev_levels <- fromJSON(file.path(stored_dir, "levels.json"))$fev_data
}
fev <- read.csv(file.path(outdir, "fev_data.csv"), colClasses = c(USUBJID = "character", AVISIT = "character",
                ARMCD = "character", RACE = "character", SEX = "character"))
for (v in names(fev_levels)) fev[[v]] <- factor(fev[[v]], levels = fev_levels[[v]])
fevc <- fev[!is.na(fev$FEV1), ]
fevc$vi <- as.integer(fevc$AVISIT)
FEV_VIS <- levels(fev$AVISIT)

levels_out <- list(
  trial = list(id = levels(tr$id), site = levels(tr$site), arm = levels(tr$arm), visit = TR_VIS),
  fev_data = fev_levels,
  notes = "R factor level order; the first level is the treatment-contrast reference. fev_data: SEX is Male < Female, RACE is Asian < Black or African American < White, USUBJID is PT1, PT2, ... (numeric order).")
wjson(levels_out, "levels.json")

cat("gls on trial.csv\n")
trial_rhs <- "base + arm * visit"
gtr <- run_gls_set(tr, "y", trial_rhs, "id", "visit", TR_VIS, "time", "arm", "trial")

## ---------------------------------------------------------------- lme: site intercept + AR(1)
cat("lme on trial.csv\n")
LME_CONTROLS <- list(
  "lmeControl()" = lmeControl(),
  "lmeControl(opt = \"optim\", msTol = 1e-12, tolerance = 1e-10, msMaxIter = 1000, maxIter = 1000)" =
    lmeControl(opt = "optim", msTol = 1e-12, tolerance = 1e-10, msMaxIter = 1000, maxIter = 1000))
lme_entry <- function(meth) {
  attempts <- list(); ft <- NULL
  for (ci in seq_along(LME_CONTROLS)) {
    # control inlined into the call: emmeans may re-evaluate the call
    ft_i <- timed(eval(bquote(lme(y ~ base + arm * visit, random = ~ 1 | site,
                      correlation = corAR1(form = ~ visitn | site / id), data = tr, method = .(meth),
                      control = .(LME_CONTROLS[[ci]])))))
    ll_i <- if (is.null(ft_i$error)) as.numeric(logLik(ft_i$value)) else NA
    attempts[[ci]] <- list(control = names(LME_CONTROLS)[ci], loglik = ll_i, error = ft_i$error, elapsed_sec = ft_i$elapsed)
    if (!is.na(ll_i) && (is.null(ft) || ll_i > as.numeric(logLik(ft$value)))) { ft <- ft_i; ctrl_used <- names(LME_CONTROLS)[ci] }
  }
  fit <- ft$value
  tt <- summary(fit)$tTable
  full_id <- gtr$full_id
  site_of <- as.character(tr$site[tr$id == full_id][1])
  # getVarCov(type = "conditional") fails in nlme 3.1-162 for this nested corStruct grouping,
  # so build it: sigma^2 * corMatrix for the subject (names are "site/id")
  cm <- corMatrix(fit$modelStruct$corStruct)
  key <- grep(paste0("/", full_id, "$"), names(cm), value = TRUE)
  Rsub <- fit$sigma^2 * cm[[key]]; dimnames(Rsub) <- NULL
  # (VarCorr() for lme returns formatted text; use the pdMatrix at full precision)
  s2site <- as.numeric(pdMatrix(fit$modelStruct$reStruct[[1]]) * fit$sigma^2)
  ll <- as.numeric(logLik(fit))
  list(model = paste0("trial_lme_site_ar1_", meth), engine = "nlme::lme", data = "trial",
       structure = "ar1 within subject + random site intercept", method = meth,
       formula = "y ~ base + arm * visit", random = "~ 1 | site",
       correlation = "corAR1(form = ~ as.integer(visit) | site/id)",
       control = ctrl_used, control_attempts = attempts, converged = TRUE,
       n_obs = nobs(fit), n_subjects = nlevels(tr$id), n_sites = nlevels(tr$site),
       loglik = ll, minus2loglik = -2 * ll, aic = AIC(fit), bic = BIC(fit), df_logLik = attr(logLik(fit), "df"),
       fixed = setNames(lapply(seq_len(nrow(tt)), function(i)
         list(estimate = num(tt[i, "Value"]), se = num(tt[i, "Std.Error"]), df_containment = num(tt[i, "DF"]))), rownames(tt)),
       params = list(sigma = num(fit$sigma), rho = num(coef(fit$modelStruct$corStruct, unconstrained = FALSE)),
                     site_sd = sqrt(s2site), site_var = s2site),
       visits = TR_VIS, residual_cov_subject = full_id,
       residual_cov = mat_rows(Rsub),
       marginal_cov_subject_block = mat_rows(Rsub + s2site),
       residual_cov_note = "residual_cov: within-subject residual covariance (getVarCov type = 'conditional', rows of this subject); marginal_cov_subject_block adds the site intercept variance (covariance between two subjects of the same site is site_var).",
       elapsed_sec = ft$elapsed, elapsed_sec_default_control = attempts[[1]]$elapsed_sec,
       warnings = ft$warnings, apVar_ok = is.matrix(fit$apVar), fit = fit)
}
lme_entries <- list(); lme_fit <- list()
Xlme <- model.matrix(~ base + arm * visit, tr); blocks_lme <- site_ar1_blocks(tr)
for (m in c("REML", "ML")) {
  en <- lme_entry(m); lme_fit[[m]] <- en$fit; en$fit <- NULL
  # independent check: the direct marginal likelihood at nlme's estimates, then maximised
  th0 <- c(log(en$params$site_sd), log(en$params$sigma), from_cor(en$params$rho))
  m2_at_nlme <- site_ar1_m2ll(th0, tr$y, Xlme, blocks_lme, m == "REML")
  f <- function(t) site_ar1_m2ll(t, tr$y, Xlme, blocks_lme, m == "REML")
  o <- nlminb(th0, f, gradient = function(t) numDeriv::grad(f, t), control = list(rel.tol = 1e-14))
  pr <- site_ar1_parts(o$par, tr$y, Xlme, blocks_lme)
  en$direct_check <- list(
    minus2loglik_direct_at_nlme_estimates = m2_at_nlme, minus2loglik_nlme = en$minus2loglik,
    minus2loglik_direct_maximised = o$objective,
    params_direct_maximised = list(site_sd = exp(o$par[1]), sigma = exp(o$par[2]), rho = to_cor(o$par[3])),
    se_model_based_at_nlme_estimates = named_list(setNames(sqrt(diag(solve(site_ar1_parts(th0, tr$y, Xlme, blocks_lme)$XtX))), colnames(Xlme))),
    note = "lme's REML log-likelihood also excludes 0.5*log|X'X| (SAS convention), and lme's ML standard errors are model-based (no N/(N-p) factor, unlike gls).")
  en$theta_direct <- o$par
  lme_entries[[m]] <- en
  cat(sprintf("  lme %s logLik %.6f (direct at nlme: %.6f, maximised: %.6f)\n", m, en$loglik, -m2_at_nlme / 2, -o$objective / 2))
}
lme_reml <- lme_fit[["REML"]]

## ---------------------------------------------------------------- engine fits on trial
cat("engine fits on trial.csv\n")
Xtr <- model.matrix(~ base + arm * visit, tr)
st_tr <- engine_setup(tr$y, Xtr, tr$id, as.integer(tr$visit), 6)
st_tr_arm <- engine_setup(tr$y, Xtr, tr$id, as.integer(tr$visit), 6, group = tr$arm)
st_tr_sp <- engine_setup(tr$y, Xtr, tr$id, as.integer(tr$visit), 6, times = tr$time)
eng_tr <- list(); eng_fit_tr <- list()
eng_specs <- list(
  list("us", st_tr, NULL), list("cs", st_tr, NULL), list("csh", st_tr, NULL), list("ar1", st_tr, NULL),
  list("ar1h", st_tr, NULL), list("toep", st_tr, NULL), list("toeph", st_tr, NULL),
  list("ad", st_tr, NULL), list("adh", st_tr, NULL), list("sp_exp", st_tr_sp, NULL),
  list("us", st_tr_arm, "arm"), list("cs", st_tr_arm, "arm"), list("csh", st_tr_arm, "arm"),
  list("ar1", st_tr_arm, "arm"), list("ar1h", st_tr_arm, "arm"), list("toeph", st_tr_arm, "arm"),
  list("adh", st_tr_arm, "arm"))
for (es in eng_specs) for (meth in c("REML", "ML")) {
  type <- es[[1]]; st <- es[[2]]; grp <- es[[3]]
  nm <- paste0("trial_engine_", type, if (!is.null(grp)) "_by_arm", "_", meth)
  tt <- timed(engine_fit(st, type, reml = meth == "REML"))
  fit <- tt$value
  ent <- engine_result(fit, st, type, nm,
    paste0("y ~ base + arm * visit, ", type, "(visit | ", if (!is.null(grp)) "arm / ", "id)",
           if (type == "sp_exp") " on time" else ""), "trial", TR_VIS, tt$elapsed,
    notes = if (!is.null(grp)) "Separate covariance structure (all parameters) for each arm; fixed effects shared (mmrm: <struct>(visit | arm / id), SAS: REPEATED ... GROUP = arm)." else NULL)
  eng_tr[[nm]] <- ent; eng_fit_tr[[nm]] <- fit
  cat(sprintf("  %-36s logLik %.6f grad %.1e (%.1fs)\n", nm, ent$loglik, fit$grad_maxabs, tt$elapsed))
}

## cross-check nlme against the engine (same structures)
crosscheck <- list()
for (type in c("us", "cs", "csh", "ar1", "ar1h", "toep", "toeph", "sp_exp")) for (meth in c("REML", "ML")) {
  a <- gtr$entries[[paste("trial", type, meth, sep = "_")]]; b <- eng_tr[[paste0("trial_engine_", type, "_", meth)]]
  if (is.null(a$loglik)) next
  crosscheck[[paste(type, meth, sep = "_")]] <- list(
    nlme_loglik = a$loglik, engine_loglik = b$loglik, diff = b$loglik - a$loglik,
    max_abs_diff_fixed = max(abs(vapply(names(b$fixed), function(k) b$fixed[[k]]$estimate - a$fixed[[k]]$estimate, 0))),
    max_abs_diff_se_model_based = max(abs(vapply(names(b$fixed), function(k) b$fixed[[k]]$se - a$fixed[[k]]$se_model_based, 0))),
    max_abs_diff_cov = if (type != "sp_exp") max(abs(unlist(b$residual_cov) - unlist(a$residual_cov))) else NA)
}

## ---------------------------------------------------------------- emmeans on trial (us, lme)
cat("emmeans\n")
assign(".d_gls", gtr$data, envir = globalenv())
emm <- list()
fit_us <- gtr$fits[["trial_us_REML"]]
emm$trial_us_REML_satterthwaite <- emmeans_block(fit_us, gtr$data, ~ arm | visit, "satterthwaite", "trial_us_REML", c("arm", "visit"))
emm$trial_us_REML_df.error <- emmeans_block(fit_us, gtr$data, ~ arm | visit, "df.error", "trial_us_REML", c("arm", "visit"))
emm$trial_lme_site_ar1_REML_satterthwaite <- emmeans_block(lme_reml, tr, ~ arm | visit, "satterthwaite", "trial_lme_site_ar1_REML", c("arm", "visit"))
emm$trial_lme_site_ar1_REML_containment <- emmeans_block(lme_reml, tr, ~ arm | visit, "containment", "trial_lme_site_ar1_REML", c("arm", "visit"))
if (!skip_slow) {
  cat("  direct Satterthwaite (numerical Hessian), trial lme REML\n")
  Lm <- emm$trial_lme_site_ar1_REML_containment
  thl <- lme_entries[["REML"]]$theta_direct
  s1 <- site_ar1_satterthwaite(thl, tr$y, Xlme, blocks_lme, do.call(rbind, Lm$linfct_emmeans))
  s2 <- site_ar1_satterthwaite(thl, tr$y, Xlme, blocks_lme, do.call(rbind, Lm$linfct_contrasts))
  s3 <- site_ar1_satterthwaite(thl, tr$y, Xlme, blocks_lme, diag(ncol(Xlme)))
  mk2 <- function(s, labs) lapply(seq_len(nrow(s)), function(i) {
    r <- labs[[i]]; r$estimate <- num(s[i, "estimate"]); r$se <- num(s[i, "se"]); r$df <- num(s[i, "df"])
    q <- qt(0.975, r$df); r$lower_cl <- r$estimate - q * r$se; r$upper_cl <- r$estimate + q * r$se
    r$t_ratio <- r$estimate / r$se; r$p_value <- 2 * pt(-abs(r$t_ratio), r$df); r })
  emm$trial_lme_site_ar1_REML_satterthwaite_hessian <- list(
    model = "trial_lme_site_ar1_REML (direct marginal likelihood, maximised)",
    mode_used = "satterthwaite (REML Hessian in (log site SD, log sigma, rho) by numDeriv; SAS/lmerTest construction)",
    notes = "lmerTest does not handle lme fits; this is the same construction lmerTest uses for lmer, applied to the lme model (random site intercept + AR(1) within subject).",
    emmeans = mk2(s1, lapply(Lm$emmeans, function(r) r[c("arm", "visit")])),
    contrasts = mk2(s2, lapply(Lm$contrasts, function(r) r[c("contrast", "visit")])),
    fixed = mk2(s3, lapply(colnames(Xlme), function(n) list(term = n))))
}
# Satterthwaite with an exact-Hessian construction (SAS PROC MIXED ddfm=satterthwaite / mmrm),
# from the engine's us REML fit, for the same linear functions as emmeans.
if (!skip_slow) {
  cat("  engine Satterthwaite (numerical Hessian), trial us REML\n")
  ef <- eng_fit_tr[["trial_engine_us_REML"]]
  Lm <- emm$trial_us_REML_df.error
  L1 <- do.call(rbind, Lm$linfct_emmeans); L2 <- do.call(rbind, Lm$linfct_contrasts)
  s1 <- engine_satterthwaite(ef, st_tr, "us", L1); s2 <- engine_satterthwaite(ef, st_tr, "us", L2)
  s3 <- engine_satterthwaite(ef, st_tr, "us", diag(ncol(Xtr)))
  mk <- function(s, labs) lapply(seq_len(nrow(s)), function(i) {
    r <- labs[[i]]; r$estimate <- num(s[i, "estimate"]); r$se <- num(s[i, "se"]); r$df <- num(s[i, "df"])
    q <- qt(0.975, r$df); r$lower_cl <- r$estimate - q * r$se; r$upper_cl <- r$estimate + q * r$se
    r$t_ratio <- r$estimate / r$se; r$p_value <- 2 * pt(-abs(r$t_ratio), r$df); r })
  emm$trial_us_REML_satterthwaite_hessian <- list(
    model = "trial_engine_us_REML", mode_used = "satterthwaite (REML Hessian by numDeriv, SAS/mmrm construction)",
    notes = "Same linear functions as the emmeans entries (emmeans rows and TRT - PBO at each visit). emmeans' gls 'satterthwaite' falls back to 'appx-satterthwaite', which estimates the derivative of vcov(beta) by refitting on y + small random noise (emmeans:::gradV.kludge) and uses nlme's numerical apVar; on fev_data it is up to ~1 df from SAS, while this construction matches mmrm's Satterthwaite df to ~0.01 and SAS's rounded df (see fev_results.json). Prefer this entry as the Satterthwaite target.",
    emmeans = mk(s1, lapply(Lm$emmeans, function(r) r[c("arm", "visit")])),
    contrasts = mk(s2, lapply(Lm$contrasts, function(r) r[c("contrast", "visit")])),
    fixed = mk(s3, lapply(colnames(Xtr), function(n) list(term = n))))
}

## ---------------------------------------------------------------- fev_data fits vs SAS
cat("fev_data fits\n")
fev_out_list <- list()
# (1) the full model of mmrm's SAS listings design/SAS/sas_log.txt (ML), sas_log_reml.txt (REML)
fev_rhs_full <- "RACE + SEX + ARMCD * AVISIT"
gfev_full <- run_gls_set(fevc, "FEV1", fev_rhs_full, "USUBJID", "AVISIT", FEV_VIS, NULL, NULL, "fev_full", which = "us")
fev_out_list <- c(fev_out_list, gfev_full$entries)
assign(".d_gls", gfev_full$data, envir = globalenv())
fev_emm <- list()
fev_emm$fev_full_us_REML_satterthwaite <- emmeans_block(gfev_full$fits[["fev_full_us_REML"]], gfev_full$data,
  ~ ARMCD | AVISIT, "satterthwaite", "fev_full_us_REML", c("ARMCD", "AVISIT"))
fev_emm$fev_full_us_REML_df.error <- emmeans_block(gfev_full$fits[["fev_full_us_REML"]], gfev_full$data,
  ~ ARMCD | AVISIT, "df.error", "fev_full_us_REML", c("ARMCD", "AVISIT"))
Xfev <- model.matrix(as.formula(paste("~", fev_rhs_full)), fevc)
st_fev_full <- engine_setup(fevc$FEV1, Xfev, fevc$USUBJID, fevc$vi, 4)
for (meth in c("REML", "ML")) {
  tt <- timed(engine_fit(st_fev_full, "us", meth == "REML"))
  nm <- paste0("fev_full_engine_us_", meth)
  fev_out_list[[nm]] <- engine_result(tt$value, st_fev_full, "us", nm, paste("FEV1 ~", fev_rhs_full, "+ us(AVISIT | USUBJID)"),
                                      "fev_data", FEV_VIS, tt$elapsed)
  if (meth == "REML" && !skip_slow) {
    Lm <- fev_emm$fev_full_us_REML_df.error
    L1 <- do.call(rbind, Lm$linfct_emmeans); L2 <- do.call(rbind, Lm$linfct_contrasts)
    s1 <- engine_satterthwaite(tt$value, st_fev_full, "us", L1)
    s2 <- engine_satterthwaite(tt$value, st_fev_full, "us", L2)
    s3 <- engine_satterthwaite(tt$value, st_fev_full, "us", diag(ncol(Xfev)))
    fev_emm$fev_full_us_REML_satterthwaite_hessian <- list(
      model = nm, mode_used = "satterthwaite (REML Hessian by numDeriv, SAS/mmrm construction)",
      emmeans = lapply(seq_len(nrow(s1)), function(i) c(Lm$emmeans[[i]][c("ARMCD", "AVISIT")], as.list(s1[i, ]))),
      contrasts = lapply(seq_len(nrow(s2)), function(i) c(Lm$contrasts[[i]][c("contrast", "AVISIT")], as.list(s2[i, ]))),
      fixed = setNames(lapply(seq_len(nrow(s3)), function(i) as.list(s3[i, ])), colnames(Xfev)),
      sas_reference = "design/SAS/sas_log_reml.txt (LSMEANS AVISIT*ARMCD, Differences, Solution for Fixed Effects; df rounded to integers there)")
  }
}
# (2) intercept-only models of mmrm's per-structure SAS listings (FEV1 ~ 1 + struct)
gfev1 <- run_gls_set(fevc, "FEV1", "1", "USUBJID", "AVISIT", FEV_VIS, "VISITN", NULL, "fev_int")
fev_out_list <- c(fev_out_list, gfev1$entries)
X1 <- model.matrix(~ 1, fevc)
st_fev1 <- engine_setup(fevc$FEV1, X1, fevc$USUBJID, fevc$vi, 4)
st_fev1_arm <- engine_setup(fevc$FEV1, X1, fevc$USUBJID, fevc$vi, 4, group = fevc$ARMCD)
st_fev1_sp <- engine_setup(fevc$FEV1, X1, fevc$USUBJID, fevc$vi, 4, times = fevc$VISITN)
for (es in list(list("ad", st_fev1, ""), list("adh", st_fev1, ""), list("toep", st_fev1, ""), list("us", st_fev1, ""),
                list("sp_exp", st_fev1_sp, ""),
                list("cs", st_fev1_arm, "_by_arm"), list("csh", st_fev1_arm, "_by_arm"), list("ar1", st_fev1_arm, "_by_arm"),
                list("ar1h", st_fev1_arm, "_by_arm"), list("toeph", st_fev1_arm, "_by_arm"), list("adh", st_fev1_arm, "_by_arm")))
  for (meth in c("REML", "ML")) {
    tt <- timed(engine_fit(es[[2]], es[[1]], meth == "REML"))
    nm <- paste0("fev_int_engine_", es[[1]], es[[3]], "_", meth)
    fev_out_list[[nm]] <- engine_result(tt$value, es[[2]], es[[1]], nm,
      paste0("FEV1 ~ 1 + ", es[[1]], "(AVISIT | ", if (nzchar(es[[3]])) "ARMCD / ", "USUBJID)"), "fev_data", FEV_VIS, tt$elapsed)
    cat(sprintf("  %-36s -2LL %.8f\n", nm, tt$value$m2ll))
  }
# (3) FEV1 ~ ARMCD + struct: SAS ddfm=kr listings (design/ddfm_covtype); nlme logLik + SE here
g <- run_gls_set(fevc, "FEV1", "ARMCD", "USUBJID", "AVISIT", FEV_VIS, NULL, NULL, "fev_armcd", methods = "REML")
fev_out_list <- c(fev_out_list, g$entries)
st_fev_arm <- engine_setup(fevc$FEV1, model.matrix(~ ARMCD, fevc), fevc$USUBJID, fevc$vi, 4)
tt <- timed(engine_fit(st_fev_arm, "adh", TRUE))
fev_out_list[["fev_armcd_engine_adh_REML"]] <- engine_result(tt$value, st_fev_arm, "adh", "fev_armcd_engine_adh_REML",
  "FEV1 ~ ARMCD + adh(AVISIT | USUBJID)", "fev_data", FEV_VIS, tt$elapsed)

## SAS side-by-side: -2LL from the SAS iteration history (8 decimals)
sas_m2ll <- list(
  # label = c(listing, value from the listing's iteration history)
  fev_full_us_ML = c("design/SAS/sas_log.txt", 3397.57220025),
  fev_full_us_REML = c("design/SAS/sas_log_reml.txt", 3386.44987722),
  fev_int_us_ML = c("design/SAS/sas_log_simple.txt", 3700.68707570),
  fev_int_us_REML = c("design/SAS/sas_log_simple_reml.txt", 3700.94648570),
  fev_int_cs_ML = c("design/SAS/sas_cs_ml.txt", 3918.12214544),
  fev_int_cs_REML = c("design/SAS/sas_cs_reml.txt", 3917.98183508),
  fev_int_csh_ML = c("design/SAS/sas_csh_ml.txt", 3784.63158043),
  fev_int_csh_REML = c("design/SAS/sas_csh_reml.txt", 3784.85341599),
  fev_int_ar1_ML = c("design/SAS/sas_ar1_ml.txt", 3875.95352406),
  fev_int_ar1_REML = c("design/SAS/sas_ar1_reml.txt", 3875.49945459),
  fev_int_ar1h_ML = c("design/SAS/sas_ar1h_ml.txt", 3739.94416707),
  fev_int_ar1h_REML = c("design/SAS/sas_ar1h_reml.txt", 3739.96835012),
  fev_int_toep_ML = c("design/SAS/sas_toep_ml.rtf (via tests/testthat/test-tmb.R)", 3857.00777313),
  fev_int_toep_REML = c("design/SAS/sas_toep_reml.rtf (via tests/testthat/test-tmb.R)", 3856.68995273),
  fev_int_toeph_ML = c("design/SAS/sas_toeph_ml.txt", 3722.29178558),
  fev_int_toeph_REML = c("design/SAS/sas_toeph_reml.txt", 3722.38018329),
  fev_int_sp_exp_ML = c("design/SAS/sas_sp_exp_ml.txt", 3875.95353357),
  fev_int_sp_exp_REML = c("design/SAS/sas_sp_exp_reml.txt", 3875.49946734),
  fev_int_engine_adh_ML = c("design/SAS/sas_adh_ml.txt", 3713.24501787),
  fev_int_engine_adh_REML = c("design/SAS/sas_adh_reml.txt", 3713.49317786),
  fev_int_engine_ad_ML = c("design/R/mmrm_ad_ml.txt (mmrm, not SAS: SAS has no homogeneous ANTE)", 3855.8794),
  fev_int_engine_ad_REML = c("design/R/mmrm_ad_reml.txt (mmrm, not SAS)", 3855.3383),
  fev_int_engine_toep_ML = c("design/SAS/sas_toep_ml.rtf (via tests/testthat/test-tmb.R)", 3857.00777313),
  fev_int_engine_toep_REML = c("design/SAS/sas_toep_reml.rtf (via tests/testthat/test-tmb.R)", 3856.68995273),
  fev_int_engine_us_ML = c("design/SAS/sas_log_simple.txt", 3700.68707570),
  fev_int_engine_us_REML = c("design/SAS/sas_log_simple_reml.txt", 3700.94648570),
  fev_int_engine_sp_exp_ML = c("design/SAS/sas_sp_exp_ml.txt", 3875.95353357),
  fev_int_engine_sp_exp_REML = c("design/SAS/sas_sp_exp_reml.txt", 3875.49946734),
  fev_int_engine_cs_by_arm_ML = c("design/SAS/sas_group_cs_ml.txt", 3915.54243738),
  fev_int_engine_cs_by_arm_REML = c("design/SAS/sas_group_cs_reml.txt", 3915.41985780),
  fev_int_engine_csh_by_arm_ML = c("design/SAS/sas_group_csh_ml.txt", 3764.21336404),
  fev_int_engine_csh_by_arm_REML = c("design/SAS/sas_group_csh_reml.txt", 3764.55218946),
  fev_int_engine_ar1_by_arm_ML = c("design/SAS/sas_group_ar1_ml.txt", 3873.08507919),
  fev_int_engine_ar1_by_arm_REML = c("design/SAS/sas_group_ar1_reml.txt", 3872.65212395),
  fev_int_engine_ar1h_by_arm_ML = c("design/SAS/sas_group_ar1h_ml.txt", 3724.22021102),
  fev_int_engine_ar1h_by_arm_REML = c("design/SAS/sas_group_ar1h_reml.txt", 3724.36099760),
  fev_int_engine_toeph_by_arm_ML = c("design/SAS/sas_group_toeph_ml.txt", 3704.27043196),
  fev_int_engine_toeph_by_arm_REML = c("design/SAS/sas_group_toeph_reml.txt", 3704.49921127),
  fev_int_engine_adh_by_arm_ML = c("design/SAS/sas_group_adh_ml.txt", 3688.48731427),
  fev_int_engine_adh_by_arm_REML = c("design/SAS/sas_group_adh_reml.txt", 3688.84024388),
  fev_armcd_us_REML = c("design/ddfm_covtype/kr_us.txt", NA), fev_armcd_cs_REML = c("design/ddfm_covtype/kr_cs.txt", NA),
  fev_armcd_csh_REML = c("design/ddfm_covtype/kr_csh.txt", NA), fev_armcd_ar1_REML = c("design/ddfm_covtype/kr_ar1.txt", NA),
  fev_armcd_ar1h_REML = c("design/ddfm_covtype/kr_arh1.txt", NA), fev_armcd_toep_REML = c("design/ddfm_covtype/kr_toep.txt", NA),
  fev_armcd_toeph_REML = c("design/ddfm_covtype/kr_toeph.txt", NA), fev_armcd_engine_adh_REML = c("design/ddfm_covtype/kr_adh.txt", NA))
sas_cmp <- list()
for (k in names(sas_m2ll)) {
  e <- fev_out_list[[k]]
  if (is.null(e) || is.null(e$minus2loglik)) next
  ref <- suppressWarnings(as.numeric(sas_m2ll[[k]][2]))
  if (is.na(ref) && nzchar(mmrm_git)) {   # take it from the listing
    ps <- parse_sas_listing(git_show(mmrm_git, sas_m2ll[[k]][1]))
    ref <- ps$minus2loglik_iter$value
  }
  sas_cmp[[k]] <- list(source = sas_m2ll[[k]][1], sas_minus2loglik = ref, this_minus2loglik = e$minus2loglik,
                       diff = e$minus2loglik - ref)
  fev_out_list[[k]]$sas_minus2loglik <- ref
  fev_out_list[[k]]$sas_source <- sas_m2ll[[k]][1]
}

## ---------------------------------------------------------------- write results
bench <- NULL
bf <- file.path(outdir, "residual_bench.json")
if (!file.exists(bf)) bf <- file.path(stored_dir, "residual_bench.json")
if (file.exists(bf)) bench <- fromJSON(bf, simplifyVector = FALSE)

wjson(list(
  description = "Reference values for residual covariance structures on tests/data/residual/trial.csv. See tests/reference/README.md (section 'Residual covariance structures').",
  generated = format(Sys.time(), "%Y-%m-%d %H:%M:%S %Z"), software = software,
  data = list(file = "trial.csv", n_rows = nrow(tr), n_subjects = nlevels(tr$id),
              n_completers = sum(table(tr$id) == 6), rows_per_visit = as.list(table(tr$visit)),
              simulation = list(seed = 20240611, sd = TRUE_SD, cor = mat_rows(true_cor(6)),
                                visit_effect = TRUE_VISIT, trt_effect = TRUE_TRT, base_slope = TRUE_BASE_SLOPE,
                                intercept = 20, site_sd = TRUE_SITE_SD,
                                dropout = "after visit j-1 (j = 2..6): P(drop) = plogis(-2.9 - 0.22 * (y[j-1] - mean over subjects of y[j-1])), computed on the full simulated data")),
  conventions = list(
    loglik = "as nlme reports: for REML the restricted log-likelihood WITHOUT the +0.5*log|X'X| term, so -2*loglik equals SAS PROC MIXED '-2 Res Log Likelihood' and mmrm's deviance (checked on fev_data: fev_results.json).",
    aic_bic = "aic/bic as nlme: AIC = -2 loglik + 2k, BIC = -2 loglik + k log(n), k = #fixed + #covariance parameters (sigma included); n = N for ML, N - p for REML (engine entries use the same rule). aic_sas = -2 loglik + 2q and bic_mmrm = -2 loglik + q log(#subjects with data), q = #covariance parameters (REML) or #covariance + #fixed (ML): the SAS PROC MIXED / mmrm rule (SAS's BIC counts all subjects in the data set, including those without a response; mmrm counts subjects with data).",
    se = "fixed.se is nlme's Std.Error. For REML it equals the model-based sqrt(diag((X'V^-1X)^-1)). For gls ML nlme multiplies the variance by N/(N-p); se_model_based is the unscaled (X'V^-1X)^-1 at the ML estimates, which is what SAS and mmrm report. lme's ML SEs are not scaled (se is model-based there). Engine entries: model-based.",
    residual_cov = "visits x visits covariance (visit order V1..V6) for residual_cov_subject, a subject with all 6 visits (getVarCov for gls). For sp_exp it depends on that subject's jittered times (residual_cov_times); params.cov_at_integer_visits gives it at times 1..6.",
    varIdent = "params.varIdent_ratios: SD ratios relative to the first stratum (1), in nlme's stratum order, names are the strata.",
    corARMA = "toep/toeph with nlme: corARMA(p = nv - 1, q = 0) on the integer visit is a general stationary (Toeplitz) correlation; corStruct_coef are the AR coefficients, cor_matrix_full_subject the Toeplitz correlation.",
    engine = "entries with engine 'direct ML/REML maximiser' come from engine_fit() in residual_structures.R (checked against nlme here and against SAS on fev_data)."),
  fits = c(gtr$entries, setNames(lme_entries, vapply(lme_entries, `[[`, "", "model")), eng_tr),
  nlme_vs_engine = crosscheck,
  emmeans = emm,
  benchmark = bench %||% list(note = "run tests/reference/residual_bench.R (writes residual_bench.json) and re-run this script")),
  "nlme_results.json")

tidy_snap <- if (nzchar(mmrm_git)) tryCatch(extract_tidy_snapshot(mmrm_git), error = function(e) NULL) else NULL
if (!is.null(tidy_snap) && !is.null(fev_emm$fev_full_us_REML_satterthwaite_hessian)) {
  hf <- fev_emm$fev_full_us_REML_satterthwaite_hessian$fixed
  fev_emm$fev_full_us_REML_satterthwaite_hessian$vs_mmrm_snapshot <- lapply(tidy_snap$rows, function(r)
    list(term = r$term, mmrm_df = r$df, this_df = hf[[r$term]]$df, mmrm_se = r$std_error, this_se = hf[[r$term]]$se,
         mmrm_estimate = r$estimate, this_estimate = hf[[r$term]]$estimate))
}

wjson(list(
  description = "nlme and the direct maximiser on mmrm's fev_data, next to SAS PROC MIXED -2LL from mmrm's design/ listings. fev_full = FEV1 ~ RACE + SEX + ARMCD * AVISIT, fev_int = FEV1 ~ 1, fev_armcd = FEV1 ~ ARMCD; structure on AVISIT within USUBJID (sp_exp on VISITN). Rows with missing FEV1 dropped (537 of 800 rows, 197 subjects).",
  generated = format(Sys.time(), "%Y-%m-%d %H:%M:%S %Z"), software = software, mmrm_commit = mmrm_commit,
  sas_comparison = sas_cmp, fits = fev_out_list, emmeans = fev_emm),
  "fev_results.json")

## ---------------------------------------------------------------- mmrm published numbers
if (nzchar(mmrm_git)) {
  cat("parsing SAS listings and mmrm tests\n")
  code_idx <- sas_code_index(mmrm_git)
  listing_files <- c(git_ls(mmrm_git, "design/SAS"), git_ls(mmrm_git, "design/ddfm_covtype"), git_ls(mmrm_git, "design/R"))
  listing_files <- listing_files[grepl("\\.txt$", listing_files)]
  listings <- list()
  for (f in listing_files) {
    L <- git_show(mmrm_git, f)
    if (!any(grepl("The Mixed Procedure", L))) next
    p <- parse_sas_listing(L)
    p$file <- f; p$sas_code <- code_idx[[basename(f)]]
    # UN(i,j) -> full matrix, in SAS's AVISIT order and in VIS1..VIS4 order
    un <- Filter(function(r) grepl("^UN\\(\\d+,\\d+\\)$", r$name), p$cov_params %||% list())
    if (length(un) && !any(nzchar(vapply(un, function(r) sub("^USUBJID\\s*", "", r$subject_group), "")))) {
      ij <- t(vapply(un, function(r) as.integer(strsplit(gsub("[^0-9,]", "", r$name), ",")[[1]]), integer(2)))
      k <- max(ij); M <- matrix(NA_real_, k, k)
      for (q in seq_along(un)) M[ij[q, 1], ij[q, 2]] <- M[ij[q, 2], ij[q, 1]] <- un[[q]]$estimate
      p$un_matrix_sas_order <- mat_rows(M)
      ord <- p$sas_avisit_order$value
      if (!is.null(ord) && length(ord) == k) {
        o <- match(sort(ord), ord)
        p$un_matrix_visit_order <- list(visits = sort(ord), matrix = mat_rows(M[o, o]))
      }
    }
    listings[[f]] <- p
  }
  csvs <- git_ls(mmrm_git, "design/ddfm_covtype"); csvs <- csvs[grepl("\\.csv$", csvs)]
  kr_csv <- lapply(setNames(csvs, csvs), function(f) {
    d <- read.csv(text = git_show(mmrm_git, f), check.names = FALSE)
    list(file = f, rows = lapply(seq_len(nrow(d)), function(i) as.list(d[i, -1, drop = FALSE])))
  })
  anova_csv <- git_ls(mmrm_git, "design/anova"); anova_csv <- anova_csv[grepl("\\.csv$", anova_csv)]
  anova_tab <- lapply(setNames(anova_csv, anova_csv), function(f) {
    d <- read.csv(text = git_show(mmrm_git, f), check.names = FALSE)
    list(file = f, rows = lapply(seq_len(nrow(d)), function(i) as.list(d[i, -1, drop = FALSE])))
  })
  wjson(list(
    description = "Published reference numbers from the mmrm repository (github.com/openpharma/mmrm): SAS PROC MIXED listings (design/SAS, design/ddfm_covtype: parsed, every value with its 1-based line in the file), SAS ODS tables saved as CSV (ddfm_covtype/*.csv: full precision), and mmrm's test expectations that cite SAS or design/ files (tests/testthat/*.R: statement text, lines, evaluated literal values, tolerance).",
    mmrm_commit = mmrm_commit, mmrm_version = sub("^Version: ", "", grep("^Version:", git_show(mmrm_git, "DESCRIPTION"), value = TRUE)),
    data = "fev_data (tests/data/residual/fev_data.csv); rows with missing FEV1 are not used (537 used of 800).",
    caveats = c(
      "SAS orders AVISIT by its class levels: with CLASS AVISIT(ref = 'VIS1') (sas_log*.txt) the order is VIS2 VIS3 VIS4 VIS1, so UN(i,j), Var(i) and the R matrices there are in that order (sas_avisit_order gives it); with ref = 'VIS4' it is VIS1..VIS4.",
      "Per-structure listings (sas_<struct>_{ml,reml}.txt, sas_group_*) fit FEV1 = (intercept only).",
      "design/R/mmrm_ad_{ml,reml}.txt are mmrm outputs, not SAS (SAS has no homogeneous ante-dependence); the tests cite them as design/SAS/mmrm_ad_*.txt.",
      "design/ddfm_covtype/ddfm_covtype.R writes ddfm=kr results for sp(exp) to kr1_spexp.* and ddfm=kr(linear) to kr_spexp.* (names swapped relative to the other structures).",
      "sas_toep_{ml,reml}.rtf and sas_weighted_mmrm_{ml,reml}.rtf are RTF and are not parsed; their numbers are in the test expectations (test-tmb.R).",
      "Fixed-effect DF in the listings are rounded to integers; the ddfm_covtype CSVs hold full precision.",
      "SAS fit statistics are printed with one decimal; minus2loglik_iter is the last line of the iteration history (8 decimals)."),
    sas_listings = listings, sas_ods_csv = kr_csv, sas_anova_csv = anova_tab,
    mmrm_tidy_snapshot = tidy_snap,
    test_expectations = extract_test_expectations(mmrm_git)), "mmrm_published.json")
}

cat("done\n")
}
