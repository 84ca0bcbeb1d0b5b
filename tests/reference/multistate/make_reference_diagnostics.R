## Reference outputs from R msm for mrdtrack.multistate diagnostics: efpt.msm, qratio.msm,
## pearson.msm (incl. its bootstrap p-value), prevalence.msm and lrtest.msm against pci.
## Run from this folder: python simulate_inhomog.py && Rscript make_reference_diagnostics.R
## Writes msm_diag_*.json; the tests load these and never call R.
suppressMessages(library(msm))
source_lines <- readLines("make_reference.R")
## reuse the JSON writer and tighten() of make_reference.R (everything above its first data block)
eval(parse(text = source_lines[1:(grep("^## ---- cav", source_lines) - 1)]))

tab <- function(d) as.matrix(d[, !(names(d) %in% c("Time", "Interval", "Cov", "User")), drop = FALSE])
pearson_out <- function(p) {
  t <- p$test
  out <- list(stat = t$stat, df_lower = t$df.lower, p_lower = t$p.lower,
              df_upper = t$df.upper, p_upper = t$p.upper,
              observed = tab(p$Observed), expected = tab(p$Expected),
              transitions = colnames(tab(p$Observed)))
  if (!is.null(t$p)) out$p_accurate <- t$p
  if (!is.null(t$p.boot)) out$p_boot <- t$p.boot
  if (!is.null(p$boot)) out$boot_stats <- p$boot
  out
}
efpt_out <- function(fit, tostate) {
  set.seed(7)
  e <- efpt.msm(fit, tostate = tostate, ci = "normal", B = 2000)
  list(estimate = e[1, ], lower = e[2, ], upper = e[3, ])
}
qratio_out <- function(fit, pairs) {
  out <- list()
  for (p in pairs) {
    r <- qratio.msm(fit, p[1:2], p[3:4])
    out[[paste(p, collapse = "")]] <- c(r["estimate"], r["se"], r["L"], r["U"])
  }
  out
}
Q <- rbind(c(0, 0.25, 0, 0.25), c(0.166, 0, 0.166, 0.166), c(0, 0.25, 0, 0.25), c(0, 0, 0, 0))
Q3 <- rbind(c(0, 0.1, 0.01), c(0.1, 0, 0.1), c(0, 0, 0))
base <- function(fit) list(msm_version = as.character(packageVersion("msm")),
                           minus2loglik = fit$minus2loglik, estimates = fit$estimates,
                           info = fit$paramdata$info)

## ---- cav, death at exact times (the vignette model) ----
cav.msm <- tighten(msm(state ~ years, subject = PTNUM, data = cav, qmatrix = Q, deathexact = 4))
r <- base(cav.msm)
r$efpt_to4 <- efpt_out(cav.msm, 4)
r$efpt_to3 <- efpt.msm(cav.msm, tostate = 3)
r$qratio <- qratio_out(cav.msm, list(c(1, 2, 2, 1), c(1, 1, 2, 3), c(1, 2, 2, 2), c(1, 1, 2, 2)))
set.seed(11)
r$pearson <- pearson_out(pearson.msm(cav.msm, N = 2000))
write_json(r, "msm_diag_cav.json")

## ---- cav, death observed at visits (panel): pearson.msm is deterministic with its accurate p ----
cavp.msm <- tighten(msm(state ~ years, subject = PTNUM, data = cav, qmatrix = Q))
r <- base(cavp.msm)
r$pearson <- pearson_out(pearson.msm(cavp.msm))
r$pearson_t4i2 <- pearson_out(pearson.msm(cavp.msm, timegroups = 4, intervalgroups = 2))
write_json(r, "msm_diag_cav_panel.json")

cavsexp.msm <- tighten(msm(state ~ years, subject = PTNUM, data = cav, qmatrix = Q, covariates = ~ sex))
r <- base(cavsexp.msm)
r$pearson <- pearson_out(pearson.msm(cavsexp.msm))
r$qratio <- qratio_out(cavsexp.msm, list(c(1, 2, 2, 1), c(1, 1, 2, 2)))
write_json(r, "msm_diag_cav_sex_panel.json")

## ---- simulated MRD studies (simulate_inhomog.py): homogeneous truth and early-changing truth ----
for (nm in c("homog", "inhomog")) {
  sim <- read.csv(sprintf("sim_%s.csv", nm))
  fit <- tighten(msm(state ~ years, subject = id, data = sim, qmatrix = Q3))
  pci <- tighten(msm(state ~ years, subject = id, data = sim, qmatrix = Q3, pci = 1))
  r <- base(fit)
  r$efpt_to3 <- efpt_out(fit, 3)
  r$qratio <- qratio_out(fit, list(c(1, 2, 2, 1), c(2, 3, 2, 2)))
  set.seed(3)
  r$pearson <- pearson_out(pearson.msm(fit, boot = (nm == "homog"), B = 100))
  r$pci_minus2loglik <- pci$minus2loglik
  r$pci_estimates <- pci$estimates
  lr <- lrtest.msm(fit, pci)
  r$lrtest <- list(statistic = lr[1, 1], df = lr[1, 2], p = lr[1, 3])
  pv <- prevalence.msm(fit, times = c(0, 1, 2, 3, 4), ci = "normal", B = 500)
  r$prevalence_observed <- pv$Observed
  r$prevalence_expected <- pv$Expected$estimates
  r$prevalence_expected_pct_lower <- pv$`Expected percentages`$ci[, , 1]
  r$prevalence_expected_pct_upper <- pv$`Expected percentages`$ci[, , 2]
  write_json(r, sprintf("msm_diag_sim_%s.json", nm))
}

## ---- simulated MRD study with progression at exact times (sim_mrd_hmm.csv, true states) ----
sim <- read.csv("sim_mrd_hmm.csv")
simt.msm <- tighten(msm(true_state ~ years, subject = id, data = sim, qmatrix = Q3, deathexact = 3))
r <- base(simt.msm)
r$efpt_to3 <- efpt_out(simt.msm, 3)
set.seed(5)
r$pearson <- pearson_out(pearson.msm(simt.msm, N = 2000))
write_json(r, "msm_diag_sim_exact.json")
cat("done\n")
