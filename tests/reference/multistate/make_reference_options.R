
## estimated initial-state probabilities in the misclassification model (est.initprobs)
sim <- read.csv("sim_mrd_hmm.csv")
Q3 <- rbind(c(0, 0.1, 0.01), c(0.1, 0, 0.1), c(0, 0, 0))
E3 <- rbind(c(0, 0.05, 0), c(0.05, 0, 0), c(0, 0, 0))
ip <- tighten(msm(state ~ years, subject = id, data = sim, qmatrix = Q3, ematrix = E3,
                  deathexact = 3, obstrue = firstobs, initprobs = c(0.5, 0.5, 0),
                  est.initprobs = TRUE))
r <- list(msm_version = as.character(packageVersion("msm")), minus2loglik = ip$minus2loglik,
          estimates = ip$estimates, opt_par = ip$opt$par, initprobs = ip$hmodel$initprobs,
          qmatrix = qout(ip), covmat = ip$covmat)
write_json(r, "msm_opt_initprobs.json")
cat("done initprobs\n")
