## Reference outputs from R msm for: covariates on misclassification (misccovariates, with
## ematrix.msm at covariate values and pearson.msm on that model), pearson.msm on a
## misclassification model and on a pci model, and the bootstrap distribution of boot.msm
## (compared in distribution, not digit for digit: numpy's generator is not R's).
## Run from this folder: Rscript make_reference_boot_misc.R  (writes msm_boot_*.json, msm_misccov.json,
## msm_pearson_hidden.json)
suppressMessages(library(msm))
source_lines <- readLines("make_reference.R")
eval(parse(text = source_lines[1:(grep("^## ---- cav", source_lines) - 1)]))
tab <- function(d) as.matrix(d[, !(names(d) %in% c("Time", "Interval", "Cov", "User")), drop = FALSE])
pearson_out <- function(p) {
  t <- p$test
  list(stat = t$stat, df_lower = t$df.lower, p_lower = t$p.lower,
       df_upper = t$df.upper, p_upper = t$p.upper,
       observed = tab(p$Observed), expected = tab(p$Expected),
       transitions = colnames(tab(p$Observed)))
}
Qm <- rbind(c(0, 0.148, 0, 0.0171), c(0, 0, 0.202, 0.081), c(0, 0, 0, 0.126), c(0, 0, 0, 0))
ematrix <- rbind(c(0, 0.1, 0, 0), c(0.1, 0, 0.1, 0), c(0, 0.1, 0, 0), c(0, 0, 0, 0))

## ---- misclassification depending on covariates (the msm vignette's cavmiscsex model) ----
mc <- tighten(msm(state ~ years, subject = PTNUM, data = cav, qmatrix = Qm, ematrix = ematrix,
                  deathexact = 4, obstrue = firstobs, misccovariates = ~ dage + sex))
r <- list(msm_version = as.character(packageVersion("msm")), minus2loglik = mc$minus2loglik,
          estimates = mc$estimates, plabs = names(mc$estimates), covmat = mc$covmat,
          default_estimates = mc$default_estimates,
          default_minus2loglik = mc$default_minus2loglik,
          qmatrix = qout(mc), ecovmeans = mc$ecmodel$covmeans)
e0 <- ematrix.msm(mc)
r$ematrix_mean <- list(estimate = unclass(e0$estimates), lower = e0$L, upper = e0$U)
e1 <- ematrix.msm(mc, covariates = list(dage = 30, sex = 1))
r$ematrix_dage30_sex1 <- list(estimate = unclass(e1$estimates), lower = e1$L, upper = e1$U)
r$odds_dage <- odds <- unclass(odds.msm(mc)$dage)
r$odds_sex <- unclass(odds.msm(mc)$sex)
set.seed(11)
r$pearson <- pearson_out(pearson.msm(mc, N = 200))
## the vignette model's sex effect on 1->2 misclassification drifts to -Inf (msm SE 1745): an
## identifiable model with age at donor only, for the covariance, ematrix limits and odds ratios
mca <- tighten(msm(state ~ years, subject = PTNUM, data = cav, qmatrix = Qm, ematrix = ematrix,
                   deathexact = 4, obstrue = firstobs, misccovariates = ~ dage))
e0 <- ematrix.msm(mca)
e1 <- ematrix.msm(mca, covariates = list(dage = 30))
r$dage_only <- list(minus2loglik = mca$minus2loglik, estimates = mca$estimates,
                    plabs = names(mca$estimates), covmat = mca$covmat,
                    ecovmeans = mca$ecmodel$covmeans,
                    ematrix_mean = list(estimate = unclass(e0$estimates), lower = e0$L, upper = e0$U),
                    ematrix_dage30 = list(estimate = unclass(e1$estimates), lower = e1$L, upper = e1$U),
                    odds_dage = unclass(odds.msm(mca)$dage))
write_json(r, "msm_misccov.json")
cat("done misccov\n")

## ---- pearson.msm on the vignette misclassification model without covariates, and on pci ----
cavmisc <- tighten(msm(state ~ years, subject = PTNUM, data = cav, qmatrix = Qm, ematrix = ematrix,
                       deathexact = 4, obstrue = firstobs))
Q <- rbind(c(0, 0.25, 0, 0.25), c(0.166, 0, 0.166, 0.166), c(0, 0.25, 0, 0.25), c(0, 0, 0, 0))
cavp <- msm(state ~ years, subject = PTNUM, data = cav, qmatrix = Qm, ematrix = ematrix,
            obstrue = firstobs, control = list(reltol = 1e-14, maxit = 10000))
sim <- read.csv("sim_inhomog.csv")
Q3 <- rbind(c(0, 0.1, 0.01), c(0.1, 0, 0.1), c(0, 0, 0))
pci <- tighten(msm(state ~ years, subject = id, data = sim, qmatrix = Q3, pci = 1))
set.seed(11)
r <- list(msm_version = as.character(packageVersion("msm")),
          misc_exact = c(list(minus2loglik = cavmisc$minus2loglik, estimates = cavmisc$estimates),
                         pearson_out(pearson.msm(cavmisc, N = 200))),
          misc_panel = c(list(minus2loglik = cavp$minus2loglik, estimates = cavp$estimates),
                         pearson_out(pearson.msm(cavp))),
          pci = c(list(minus2loglik = pci$minus2loglik, estimates = pci$estimates),
                  pearson_out(suppressWarnings(pearson.msm(pci)))))
write_json(r, "msm_pearson_hidden.json")
cat("done pearson\n")

## ---- boot.msm: the bootstrap distribution of intensities, efpt and a qratio ----
boot_stat <- function(x) {
  q <- qmatrix.msm(x, ci = "none")
  c(q12 = q[1, 2], q13 = q[1, 3], q21 = q[2, 1], q23 = q[2, 3],
    efpt1 = efpt.msm(x, tostate = 3, ci = "none")[1],
    efpt2 = efpt.msm(x, tostate = 3, ci = "none")[2],
    ratio = qratio.msm(x, c(1, 2), c(2, 1), ci = "none")[["estimate"]])
}
sim <- read.csv("sim_homog.csv")
Q3 <- rbind(c(0, 0.1, 0.01), c(0.1, 0, 0.1), c(0, 0, 0))
## boot.msm refits with the call of the fit: the default tolerance, as a user would
fit0 <- msm(state ~ years, subject = id, data = sim, qmatrix = Q3)
fit <- tighten(fit0)
## qratio.msm's delta and normal options (returned unnamed: estimate, se, L, U)
qd <- unname(qratio.msm(fit, c(1, 2), c(2, 1), ci = "delta"))
set.seed(3)
qnorm4000 <- unname(qratio.msm(fit, c(1, 2), c(2, 1), ci = "normal", B = 4000))
write_json(list(msm_version = as.character(packageVersion("msm")), qratio_delta = qd,
                qratio_normal = qnorm4000, estimate = boot_stat(fit)), "msm_qratio_sim_homog.json")
cat("done qratio\n")
B <- 400
set.seed(2026)
t0 <- proc.time()[["elapsed"]]
bs <- boot.msm(fit0, stat = boot_stat, B = B)
secs <- proc.time()[["elapsed"]] - t0
failed <- vapply(bs, function(b) inherits(b, "try-error") || is.null(b), TRUE)
m <- do.call(rbind, bs[!failed])
## msm's percentile limits: quantile type 7 at (1 - cl) / 2, 1 - (1 - cl) / 2; SE = sd
r <- list(msm_version = as.character(packageVersion("msm")), B = B, n_failed = sum(failed),
          seconds = secs, estimate = boot_stat(fit), stat_names = colnames(m), replicates = m,
          lower = apply(m, 2, quantile, 0.025, na.rm = TRUE),
          upper = apply(m, 2, quantile, 0.975, na.rm = TRUE),
          se = apply(m, 2, sd, na.rm = TRUE))
write_json(r, "msm_boot_sim_homog.json")
cat("done boot\n")
