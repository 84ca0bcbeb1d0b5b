# R reference for mrdtrack.simulate summaries: KM at 60 months, reverse-KM median follow-up,
# 2-year landmark log-rank chi-square and Cox HR (Efron) per simulated trial.
# Run: Rscript make_reference.R  (reads sim_trials.csv, writes r_reference.csv)
suppressPackageStartupMessages(library(survival))
d <- read.csv("sim_trials.csv")
out <- NULL
f17 <- function(x) sprintf("%.17g", x)
for (r in sort(unique(d$replicate))) {
  s <- d[d$replicate == r & d$evaluable == 1, ]
  km <- survfit(Surv(time, event) ~ 1, data = s)
  pfs5 <- summary(km, times = 5 * 365.25, extend = TRUE)$surv
  rk <- survfit(Surv(time, 1 - event) ~ 1, data = s)
  fu <- unname(quantile(rk, 0.5)$quantile)
  res <- c(replicate = r, pfs5 = pfs5, fu_median_days = fu)
  for (g in c("g_per", "g_sus")) {
    l <- s[s[[g]] >= 0, ]
    l$x <- l[[g]]
    chisq <- NA; hr <- NA; se <- NA
    if (length(unique(l$x)) == 2 && sum(l$event) > 0) {
      chisq <- survdiff(Surv(lm_time, event) ~ x, data = l)$chisq
      if (sum(l$event[l$x == 0]) > 0 && sum(l$event[l$x == 1]) > 0) {
        fit <- coxph(Surv(lm_time, event) ~ x, data = l, ties = "efron")
        hr <- exp(coef(fit))
        se <- sqrt(vcov(fit)[1, 1])
      }
    }
    res <- c(res, setNames(c(chisq, hr, se), paste0(g, c("_chisq", "_hr", "_se"))))
  }
  out <- rbind(out, res)
}
o <- as.data.frame(out)
o[] <- lapply(o, function(v) ifelse(is.na(v), "NA", f17(v)))
write.csv(o, "r_reference.csv", row.names = FALSE, quote = FALSE)
