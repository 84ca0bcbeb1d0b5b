## Reference outputs from R msm for mrdtrack.multistate (tests load these; they never call R).
## Run: Rscript make_reference.R   (from this folder; writes cav.csv, cav_cens.csv, msm_*.json)
suppressMessages(library(msm))
num <- function(x) {
  x <- as.numeric(x)
  s <- ifelse(is.na(x), "null", ifelse(is.infinite(x), ifelse(x > 0, "1e308", "-1e308"),
                                       sprintf("%.17g", x)))
  paste0("[", paste(s, collapse = ","), "]")
}
tojson <- function(x) {
  if (is.list(x)) {
    nm <- names(x)
    paste0("{", paste(sprintf("\"%s\":%s", nm, vapply(x, tojson, "")), collapse = ","), "}")
  } else if (is.matrix(x)) {
    ## matrices as row-major nested arrays
    paste0("[", paste(apply(x, 1, num), collapse = ","), "]")
  } else if (is.character(x)) {
    paste0("[", paste(sprintf("\"%s\"", x), collapse = ","), "]")
  } else num(x)
}
qout <- function(fit, covariates = "mean") {
  q <- qmatrix.msm(fit, covariates = covariates)
  list(estimate = unclass(q$estimates), lower = q$L, upper = q$U, se = q$SE)
}
summ <- function(fit, times_prev, t_p = c(1, 5), tot = 5) {
  out <- list(
    msm_version = as.character(packageVersion("msm")),
    minus2loglik = fit$minus2loglik,
    estimates = fit$estimates,
    covmat = fit$covmat,
    opt_counts = fit$opt$counts,
    default_estimates = fit$default_estimates,
    default_minus2loglik = fit$default_minus2loglik,
    qmatrix = qout(fit),
    sojourn = as.list(sojourn.msm(fit)),
    totlos_5 = totlos.msm(fit, tot = tot),
    totlos_inf = totlos.msm(fit)
  )
  for (t in t_p) out[[paste0("pmatrix_", t)]] <- unclass(pmatrix.msm(fit, t = t))
  pv <- prevalence.msm(fit, times = times_prev)
  out$prevalence_times <- times_prev
  out$prevalence_observed <- pv$Observed
  out$prevalence_expected <- pv$Expected
  if (!is.null(fit$qcmodel$covmeans)) out$covmeans <- fit$qcmodel$covmeans
  out
}
write_json <- function(x, file) writeLines(tojson(x), file)
## msm's default BFGS stopping rule (reltol 1e-8) ends ~1e-3 (relative) short of the maximum.
## tighten() refits with reltol 1e-14 so that estimates can be compared to 1e-4; the default
## fit's estimates and -2 log L are kept as default_* (our likelihood is checked at them).
tighten <- function(fit) {
  cl <- fit$call
  cl$control <- list(reltol = 1e-14, maxit = 10000)
  tight <- eval(cl)
  tight$default_estimates <- fit$estimates
  tight$default_minus2loglik <- fit$minus2loglik
  tight
}
defaults <- function(fit) list(default_estimates = fit$default_estimates,
                               default_minus2loglik = fit$default_minus2loglik)

## ---- cav, the msm vignette data ----
write.csv(cav, "cav.csv", row.names = FALSE)
Q <- rbind(c(0, 0.25, 0, 0.25), c(0.166, 0, 0.166, 0.166), c(0, 0.25, 0, 0.25), c(0, 0, 0, 0))
ci <- crudeinits.msm(state ~ years, PTNUM, data = cav, qmatrix = Q)
cav.msm <- tighten(msm(state ~ years, subject = PTNUM, data = cav, qmatrix = Q, deathexact = 4))
r <- summ(cav.msm, times_prev = c(0, 2, 4, 6, 8, 10))
r$crudeinits <- ci
set.seed(13)
pn <- pmatrix.msm(cav.msm, t = 5, ci = "normal", B = 2000)
r$pmatrix_5_normal_lower <- pn$L
r$pmatrix_5_normal_upper <- pn$U
vcav <- viterbi.msm(cav.msm)
write_json(r, "msm_cav.json")

cavsex.msm <- tighten(msm(state ~ years, subject = PTNUM, data = cav, qmatrix = Q, deathexact = 4,
                  covariates = ~ sex))
r <- summ(cavsex.msm, times_prev = c(0, 2, 4, 6, 8, 10))
h <- hazard.msm(cavsex.msm)$sex
r$hr_sex <- list(estimate = h[, 1], lower = h[, 2], upper = h[, 3], names = rownames(h))
r$qmatrix_sex0 <- qout(cavsex.msm, covariates = list(sex = 0))
r$qmatrix_sex1 <- qout(cavsex.msm, covariates = list(sex = 1))
r$pmatrix_5_sex1 <- unclass(pmatrix.msm(cavsex.msm, t = 5, covariates = list(sex = 1)))
lr <- lrtest.msm(cav.msm, cavsex.msm)
r$lrtest <- list(statistic = lr[1, 1], df = lr[1, 2], p = lr[1, 3])
write_json(r, "msm_cav_sex.json")

## piecewise-constant intensities (vignette: pci = c(5, 10))
cavpci.msm <- tighten(msm(state ~ years, subject = PTNUM, data = cav, qmatrix = Q, deathexact = 4,
                          pci = c(5, 10)))
h <- hazard.msm(cavpci.msm)
r <- list(msm_version = as.character(packageVersion("msm")),
          minus2loglik = cavpci.msm$minus2loglik, estimates = cavpci.msm$estimates,
          default_estimates = cavpci.msm$default_estimates,
          default_minus2loglik = cavpci.msm$default_minus2loglik,
          covmat = cavpci.msm$covmat, qmatrix = qout(cavpci.msm),
          covmeans = cavpci.msm$qcmodel$covmeans, hr_names = names(h),
          hr_period2 = list(estimate = h[[1]][, 1], lower = h[[1]][, 2], upper = h[[1]][, 3]),
          hr_period3 = list(estimate = h[[2]][, 1], lower = h[[2]][, 2], upper = h[[2]][, 3]))
write_json(r, "msm_cav_pci.json")

## vignette misclassification model
Qm <- rbind(c(0, 0.148, 0, 0.0171), c(0, 0, 0.202, 0.081), c(0, 0, 0, 0.126), c(0, 0, 0, 0))
ematrix <- rbind(c(0, 0.1, 0, 0), c(0.1, 0, 0.1, 0), c(0, 0.1, 0, 0), c(0, 0, 0, 0))
cavmisc.msm <- tighten(msm(state ~ years, subject = PTNUM, data = cav, qmatrix = Qm, ematrix = ematrix,
                   deathexact = 4, obstrue = firstobs))
r <- summ(cavmisc.msm, times_prev = c(0, 2, 4, 6, 8, 10))
e <- ematrix.msm(cavmisc.msm)
r$ematrix <- list(estimate = unclass(e$estimates), lower = e$L, upper = e$U)
r$viterbi <- viterbi.msm(cavmisc.msm)$fitted
## msm 1.7's ematrix.msm (p.se.msm) builds the delta-method formula for a row with two or more
## misclassification parameters with exp(x1 + x2) in place of exp(x1) + exp(x2), so its limits
## for e21 and e23 are off.  The correct delta-method limits on the logit scale, from msm's own
## deltamethod() and covariance matrix (parameters 14 = log(e21/e22), 16 = log(e23/e22)):
cv <- cavmisc.msm$covmat[c(14, 16), c(14, 16)]
x <- cavmisc.msm$estimates[c(14, 16)]
z <- qnorm(0.975)
lims <- function(form, est) {
  lse <- deltamethod(form, x, cv)
  plogis(qlogis(est) + c(-1, 1) * z * lse)
}
e21 <- exp(x[1]) / (1 + exp(x[1]) + exp(x[2]))
e23 <- exp(x[2]) / (1 + exp(x[1]) + exp(x[2]))
r$ematrix_row2_correct_delta <- list(
  e21 = lims(~ x1 - log(1 + exp(x2)), e21),
  e23 = lims(~ x2 - log(1 + exp(x1)), e23))
write_json(r, "msm_cav_misc.json")

## censored states: a subject's last observation, when not death, becomes "alive, state unknown"
cavc <- cav
last <- !duplicated(cavc$PTNUM, fromLast = TRUE)
cavc$state[last & cavc$state != 4] <- 99
write.csv(cavc, "cav_cens.csv", row.names = FALSE)
cavcens.msm <- tighten(msm(state ~ years, subject = PTNUM, data = cavc, qmatrix = Q, deathexact = 4,
                   censor = 99, censor.states = c(1, 2, 3)))
r <- list(msm_version = as.character(packageVersion("msm")),
          minus2loglik = cavcens.msm$minus2loglik, estimates = cavcens.msm$estimates,
          covmat = cavcens.msm$covmat, default_estimates = cavcens.msm$default_estimates,
          default_minus2loglik = cavcens.msm$default_minus2loglik, qmatrix = qout(cavcens.msm),
          pmatrix_5 = unclass(pmatrix.msm(cavcens.msm, t = 5)))
write_json(r, "msm_cav_cens.json")

## ---- simulated MRD-/MRD+/progression panel study (simulate_mrd.py, seed 20261125) ----
sim <- read.csv("sim_mrd_hmm.csv")
Q3 <- rbind(c(0, 0.1, 0.01), c(0.1, 0, 0.1), c(0, 0, 0))
E3 <- rbind(c(0, 0.05, 0), c(0.05, 0, 0), c(0, 0, 0))
simhmm.msm <- tighten(msm(state ~ years, subject = id, data = sim, qmatrix = Q3, ematrix = E3,
                  deathexact = 3, obstrue = firstobs, initprobs = c(0.55, 0.45, 0)))
r <- summ(simhmm.msm, times_prev = c(0, 1, 2, 3, 4, 5))
e <- ematrix.msm(simhmm.msm)
r$ematrix <- list(estimate = unclass(e$estimates), lower = e$L, upper = e$U)
r$viterbi <- viterbi.msm(simhmm.msm)$fitted
write_json(r, "msm_sim_hmm.json")

simhmmcov.msm <- tighten(msm(state ~ years, subject = id, data = sim, qmatrix = Q3, ematrix = E3,
                     deathexact = 3, obstrue = firstobs, initprobs = c(0.55, 0.45, 0),
                     covariates = ~ highrisk))
r <- list(msm_version = as.character(packageVersion("msm")),
          minus2loglik = simhmmcov.msm$minus2loglik, estimates = simhmmcov.msm$estimates,
          covmat = simhmmcov.msm$covmat, default_estimates = simhmmcov.msm$default_estimates,
          default_minus2loglik = simhmmcov.msm$default_minus2loglik, qmatrix = qout(simhmmcov.msm),
          covmeans = simhmmcov.msm$qcmodel$covmeans)
e <- ematrix.msm(simhmmcov.msm)
r$ematrix <- list(estimate = unclass(e$estimates), lower = e$L, upper = e$U)
h <- hazard.msm(simhmmcov.msm)$highrisk
r$hr_highrisk <- list(estimate = h[, 1], lower = h[, 2], upper = h[, 3])
write_json(r, "msm_sim_hmm_cov.json")

simtrue.msm <- tighten(msm(true_state ~ years, subject = id, data = sim, qmatrix = Q3, deathexact = 3,
                   covariates = ~ highrisk))
r <- summ(simtrue.msm, times_prev = c(0, 1, 2, 3, 4, 5))
h <- hazard.msm(simtrue.msm)$highrisk
r$hr_highrisk <- list(estimate = h[, 1], lower = h[, 2], upper = h[, 3])
write_json(r, "msm_sim_true_cov.json")
cat("done\n")
