# Independent R computation of the embedded demo study's headline figures (issue 19), from the
# shipped CSV files: PFS Kaplan-Meier, reverse-KM median follow-up, IMWG classes (rules stated
# in R in ../mrd/rules.R) and the 24-month landmark Cox / log-rank comparisons.
# Run from this folder: Rscript demo_reference.R   (writes demo_reference.csv)
suppressMessages(library(survival))
source("../mrd/rules.R")
dir <- "../../../src/mrdtrack/data/demo/csv"
pt <- read.csv(file.path(dir, "patients.csv"), colClasses = c(patient_id = "character"))
oc <- read.csv(file.path(dir, "outcomes.csv"), colClasses = c(patient_id = "character"))
mrd <- read.csv(file.path(dir, "mrd.csv"), colClasses = c(patient_id = "character"))
d <- merge(pt, oc, by = "patient_id")
d <- d[d$cycles_completed >= 4, ]
first <- pmin(d$progression_day, d$death_day, na.rm = TRUE)
d$event <- as.integer(!is.na(first))
d$time <- ifelse(d$event == 1, first, pmin(d$last_contact_day, d$cutoff_day))
mo <- 30.4375
out <- list()
out$evaluable <- nrow(d)
out$events <- sum(d$event)
km <- survfit(Surv(time, event) ~ 1, data = d)
sat <- function(m) summary(km, times = m * mo, extend = TRUE)$surv
out$pfs_12m <- sat(12); out$pfs_24m <- sat(24); out$pfs_36m <- sat(36)
out$pfs_5y <- summary(km, times = 5 * 365.25, extend = TRUE)$surv
out$pfs_q25_months <- quantile(km, probs = 0.25)$quantile / mo
rkm <- survfit(Surv(time, 1 - event) ~ 1, data = d)
out$median_followup_months <- unname(summary(rkm)$table["median"]) / mo
# evaluable MRD calls: adequate, and negative only at sensitivity <= 1e-5
mrd <- mrd[mrd$adequate == "true" & (mrd$result == "positive" |
             (mrd$result == "negative" & mrd$sensitivity <= 1e-5)), ]
cls <- function(until) {
  m <- mrd[mrd$day <= until, ]
  sapply(split(m, m$patient_id), function(g) class_of(g$day, as.integer(g$result == "positive")))
}
whole <- cls(Inf)
out$sustained_negative <- sum(whole == "sustained_negative")
out$conversion <- sum(whole == "conversion")
out$loss_of_negativity <- sum(whole == "loss_of_negativity")
lc <- cls(730)
lm <- d[d$time > 730, ]
lm$class <- ifelse(lm$patient_id %in% names(lc), lc[lm$patient_id], "not_classifiable")
lm$t <- lm$time - 730
out$landmark_at_risk <- nrow(lm)
for (ref in c("persistent_positive", "sustained_negative")) {
  s <- lm[lm$class %in% c("loss_of_negativity", ref), ]
  s$lost <- as.integer(s$class == "loss_of_negativity")
  key <- if (ref == "persistent_positive") "lost_vs_persistent" else "lost_vs_sustained"
  fit <- coxph(Surv(t, event) ~ lost, data = s, ties = "efron")
  ci <- exp(confint(fit))
  out[[paste0(key, "_n_lost")]] <- sum(s$lost)
  out[[paste0(key, "_n_ref")]] <- sum(1 - s$lost)
  out[[paste0(key, "_events_lost")]] <- sum(s$event[s$lost == 1])
  out[[paste0(key, "_events_ref")]] <- sum(s$event[s$lost == 0])
  out[[paste0(key, "_hr")]] <- exp(coef(fit))
  out[[paste0(key, "_lower")]] <- ci[1]
  out[[paste0(key, "_upper")]] <- ci[2]
  out[[paste0(key, "_wald_p")]] <- summary(fit)$coefficients[, "Pr(>|z|)"]
  sd <- survdiff(Surv(t, event) ~ lost, data = s)
  out[[paste0(key, "_logrank_p")]] <- pchisq(sd$chisq, 1, lower.tail = FALSE)
}
res <- data.frame(statistic = names(out), value = sprintf("%.15g", unlist(out)))
write.csv(res, "demo_reference.csv", row.names = FALSE, quote = FALSE)
writeLines(c(R.version.string, paste("survival", packageVersion("survival"))), "versions.txt")
