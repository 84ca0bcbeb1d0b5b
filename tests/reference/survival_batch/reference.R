# R reference for mrdtrack.survival.analyse_trials: per trial, survfit medians (pooled and by
# arm), survdiff chi-square, coxph (Efron and Breslow) on arm. Writes out.csv at full precision.
suppressPackageStartupMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
dir <- if (length(args)) args[1] else "."
d <- read.csv(file.path(dir, "trials.csv"))
f <- function(x) sprintf("%.17g", x)
rows <- c()
for (tr in sort(unique(d$trial))) {
  x <- d[d$trial == tr, ]
  # quantile.survfit's rule (as mrdtrack's kaplan_meier().median()); print.survfit's table
  # differs only when S stays exactly at 0.5 to the end of the curve (it reports the start)
  m0 <- quantile(survfit(Surv(time, event) ~ 1, data = x), 0.5, conf.int = FALSE)
  mg <- quantile(survfit(Surv(time, event) ~ arm, data = x), 0.5, conf.int = FALSE)
  pm <- summary(survfit(Surv(time, event) ~ arm, data = x))$table[, "median"]
  sd <- survdiff(Surv(time, event) ~ arm, data = x)
  fe <- suppressWarnings(coxph(Surv(time, event) ~ arm, data = x, ties = "efron"))
  fb <- suppressWarnings(coxph(Surv(time, event) ~ arm, data = x, ties = "breslow"))
  lrt <- function(fit) 2 * diff(fit$loglik)
  rows <- c(rows, paste(tr, f(m0), f(mg[1]), f(mg[2]), f(sd$chisq),
                        f(coef(fe)), f(sqrt(fe$var[1, 1])), f(lrt(fe)), fe$iter,
                        f(coef(fb)), f(sqrt(fb$var[1, 1])), f(lrt(fb)), f(pm[1]), f(pm[2]),
                        sep = ","))
}
writeLines(c(paste("trial,median,median_0,median_1,logrank_chisq,coef_efron,se_efron,",
                   "lrt_efron,iter_efron,coef_breslow,se_breslow,lrt_breslow,",
                   "print_median_0,print_median_1", sep = ""), rows),
           file.path(dir, "out.csv"))
