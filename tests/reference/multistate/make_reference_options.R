## Reference outputs from R msm for the fitting options constraint, fixedpars, est.initprobs and
## pci with ematrix. Run from this folder: Rscript make_reference_options.R (writes msm_opt_*.json)
suppressMessages(library(msm))
source_lines <- readLines("make_reference.R")
eval(parse(text = source_lines[1:(grep("^## ---- cav", source_lines) - 1)]))
Q <- rbind(c(0, 0.25, 0, 0.25), c(0.166, 0, 0.166, 0.166), c(0, 0.25, 0, 0.25), c(0, 0, 0, 0))
out <- function(fit) list(msm_version = as.character(packageVersion("msm")),
                          minus2loglik = fit$minus2loglik, estimates = fit$estimates,
                          opt_par = fit$opt$par, covmat = fit$covmat,
                          qmatrix = qout(fit), fixedpars = if (is.null(fit$paramdata$fixedpars)) -1 else fit$paramdata$fixedpars)
## transitions 1-2, 1-4, 2-1, 2-3, 2-4, 3-2, 3-4: one sex effect on 1-2, 2-3 and 3-2, one on
## 1-4, 2-4 and 3-4 (death), one on 2-1
con <- tighten(msm(state ~ years, subject = PTNUM, data = cav, qmatrix = Q, deathexact = 4,
                   covariates = ~ sex, constraint = list(sex = c(1, 2, 3, 1, 2, 1, 2))))
r <- out(con)
h <- hazard.msm(con)$sex
r$hr_sex <- list(estimate = h[, 1], lower = h[, 2], upper = h[, 3])
## lrtest.msm(con, full) fails in msm 1.7 (a dimnames error), so the LR is computed here
full <- tighten(msm(state ~ years, subject = PTNUM, data = cav, qmatrix = Q, deathexact = 4,
                    covariates = ~ sex))
st <- con$minus2loglik - full$minus2loglik
dfr <- length(full$opt$par) - length(con$opt$par)
r$lrtest <- list(statistic = st, df = dfr, p = 1 - pchisq(st, dfr))
write_json(r, "msm_opt_constraint.json")
## fixed parameters: the 1->4 and 3->4 log intensities at their initial values
fx <- tighten(msm(state ~ years, subject = PTNUM, data = cav, qmatrix = Q, deathexact = 4,
                  fixedpars = c(2, 7)))
write_json(out(fx), "msm_opt_fixedpars.json")
cat("done\n")

## estimated initial-state probabilities in the misclassification model (est.initprobs)
sim <- read.csv("sim_mrd_hmm.csv")
Q3 <- rbind(c(0, 0.1, 0.01), c(0.1, 0, 0.1), c(0, 0, 0))
E3 <- rbind(c(0, 0.05, 0), c(0.05, 0, 0), c(0, 0, 0))
ip <- tighten(msm(state ~ years, subject = id, data = sim, qmatrix = Q3, ematrix = E3,
                  deathexact = 3, obstrue = firstobs, initprobs = c(0.5, 0.5, 0),
                  est.initprobs = TRUE))
r <- list(msm_version = as.character(packageVersion("msm")), minus2loglik = ip$minus2loglik,
          estimates = ip$estimates, opt_par = ip$opt$par, initprobs = ip$hmodel$initprobs,
          qmatrix = qout(ip))
write_json(r, "msm_opt_initprobs.json")
cat("done initprobs\n")

## piecewise-constant intensities together with misclassification (pci + ematrix)
pm <- msm(state ~ years, subject = id, data = sim, qmatrix = Q3, ematrix = E3,
          deathexact = 3, obstrue = firstobs, initprobs = c(0.55, 0.45, 0), pci = 2,
          control = list(reltol = 1e-12, maxit = 10000))
r <- list(msm_version = as.character(packageVersion("msm")), minus2loglik = pm$minus2loglik,
          estimates = pm$estimates, opt_par = pm$opt$par, qmatrix = qout(pm),
          covmeans = pm$qcmodel$covmeans)
write_json(r, "msm_opt_pci_misc.json")
cat("done pci misc\n")
