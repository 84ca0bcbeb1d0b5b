# Reference numbers for mrdtrack.joint (run: Rscript pbc_reference.R in this folder).
#
# Data: survival::pbcseq, the source of JM's pbc2 (312 randomised PBC patients, 1945 visits).
# pbc2 conventions reproduced here: years = futime / 365.25, year = day / 365.25,
# status2 = 1 for death or transplantation (JMbayes2 vignette: status != "alive"),
# female = 1 for sex "f". The long data go to pbc2.csv so the Python tests need no R.
#
# 1. nlme::lme by maximum likelihood (method = "ML"; REML differs):
#      log(bili) ~ year * female, random = ~ year | id  (unstructured 2x2 D)
# 2. the event part alone: piecewise-exponential Poisson GLM (survSplit at the knots,
#    offset log exposure), knots at type-7 quantiles of the observed event times
#    (6 internal knots, as JM's piecewise-PH default lng.in.kn = 6);
# 3. coxph(ties = "breslow"), which equals the piecewise-exponential fit with a knot at
#    every distinct event time (Holford 1976; Laird and Olivier 1981).
suppressMessages({library(survival); library(nlme)})
# full precision in the CSVs (write.csv keeps 15 digits; knots must be exact: an event time can
# sit one ulp from a quantile knot, and the piece it falls in depends on that ulp)
full <- function(df) {
  for (v in c("estimate", "se")) if (v %in% names(df)) df[[v]] <- sprintf("%.17g", df[[v]])
  df
}
d <- survival::pbcseq
d$year <- d$day / 365.25
d$years <- d$futime / 365.25
d$status2 <- as.integer(d$status != 0)
d$female <- as.integer(d$sex == "f")
d$y <- log(d$bili)
d <- d[order(d$id, d$day), ]
out <- d[, c("id", "year", "y", "years", "status2", "female")]
for (v in c("year", "y", "years")) out[[v]] <- sprintf("%.17g", out[[v]])
write.csv(out, "pbc2.csv", row.names = FALSE, quote = FALSE)
d <- read.csv("pbc2.csv")  # fit exactly the numbers the Python tests read

fit <- lme(y ~ year * female, random = ~ year | id, data = d, method = "ML",
           control = lmeControl(maxIter = 500, msMaxIter = 500, tolerance = 1e-10,
                                msTol = 1e-12, niterEM = 100))
D <- getVarCov(fit)
fe <- fixef(fit)
se <- sqrt(diag(vcov(fit)))
lme_out <- data.frame(
  name = c(names(fe), "sigma", "D11", "D12", "D22", "logLik"),
  estimate = c(unname(fe), fit$sigma, D[1, 1], D[1, 2], D[2, 2], as.numeric(logLik(fit))),
  se = c(unname(se), NA, NA, NA, NA, NA)
)
write.csv(full(lme_out), "lme_ml.csv", row.names = FALSE)

id1 <- d[!duplicated(d$id), c("id", "years", "status2", "female")]
ev <- id1$years[id1$status2 == 1]
knots <- unname(quantile(ev, probs = seq(0, 1, length.out = 8))[2:7])
sp <- survSplit(Surv(years, status2) ~ female, data = id1, cut = knots, episode = "piece")
sp$expo <- sp$years - sp$tstart
pe <- glm(status2 ~ factor(piece) - 1 + female + offset(log(expo)), family = poisson, data = sp)
# log-likelihood sum(d log(rate) - rate * exposure) from the linear predictor: logLik(pe) is
# spoiled here by an event one ulp past a knot (exposure ~1e-15, fitted mean clamped by glm)
log_rate <- drop(model.matrix(pe) %*% coef(pe))
pe_loglik <- sum(sp$status2 * log_rate - exp(log_rate) * sp$expo)
pe_out <- data.frame(
  name = c(paste0("log_xi", 1:7), "female", "logLik", paste0("knot", 1:6)),
  estimate = c(unname(coef(pe)), pe_loglik,
               knots),
  se = c(unname(sqrt(diag(vcov(pe)))), NA, rep(NA, 6))
)
write.csv(full(pe_out), "piecewise_exponential.csv", row.names = FALSE)

cx <- coxph(Surv(years, status2) ~ female, data = id1, ties = "breslow")
write.csv(full(data.frame(name = "female", estimate = unname(coef(cx)),
                     se = unname(sqrt(diag(vcov(cx)))))), "coxph_breslow.csv", row.names = FALSE)
cat(R.version.string, "\nsurvival", as.character(packageVersion("survival")),
    "\nnlme", as.character(packageVersion("nlme")), "\n", file = "versions.txt")
