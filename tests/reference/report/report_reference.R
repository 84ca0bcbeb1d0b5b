# R reference for the report's composed analyses on the synthetic study (tests/report).
# Derives PFS, evaluability, baseline MRD status, follow-up, KM, log-rank, Cox, the landmark
# risk set and the time-dependent (tmerge) data independently from the CSV files; only the
# landmark trajectory classes are taken from mrdtrack (no R function computes them).
# Output: reference.csv with key,value at full precision.
suppressPackageStartupMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
here <- if (length(args)) args[1] else "."
rd <- function(f) read.csv(file.path(here, f), colClasses = c(patient_id = "character"),
                           na.strings = c("", "NA"))
pat <- rd("study/patients.csv"); out <- rd("study/outcomes.csv"); mrd <- rd("study/mrd.csv")
cls <- rd("landmark_classes.csv")
res <- list()
put <- function(k, v) res[[k]] <<- v
M <- 30.4375

d <- merge(pat[, c("patient_id", "cutoff_day", "cycles_completed")], out, by = "patient_id")
first <- pmin(d$progression_day, d$death_day, na.rm = TRUE)
d$event <- as.integer(!is.na(first))
d$day <- ifelse(is.na(first), pmin(d$last_contact_day, d$cutoff_day), first)
d$time <- d$day / M
ev <- d[d$cycles_completed >= 4, ]
put("evaluable", nrow(ev)); put("events", sum(ev$event))

# follow-up: reverse Kaplan-Meier
q <- quantile(survfit(Surv(time, 1 - event) ~ 1, data = ev), probs = c(0.25, 0.5, 0.75))
put("fu_median", q$quantile[2]); put("fu_lower", q$lower[2]); put("fu_upper", q$upper[2])
put("fu_q1", q$quantile[1]); put("fu_q3", q$quantile[3])

# PFS KM at fixed times (log CI), median
fit <- survfit(Surv(time, event) ~ 1, data = ev, conf.type = "log")
s <- summary(fit, times = c(12, 24, 36, 48))
for (i in seq_along(s$time)) {
  t <- s$time[i]
  put(sprintf("pfs_%g_surv", t), s$surv[i]); put(sprintf("pfs_%g_lower", t), s$lower[i])
  put(sprintf("pfs_%g_upper", t), s$upper[i]); put(sprintf("pfs_%g_nrisk", t), s$n.risk[i])
}
mq <- quantile(fit, probs = 0.5)
put("pfs_median", mq$quantile); put("pfs_median_lower", mq$lower)

# baseline MRD: first sample in days -90..90; negative needs sensitivity <= 1e-5
b <- mrd[mrd$day >= -90 & mrd$day <= 90, ]
b <- b[order(b$patient_id, b$day), ]
b <- b[!duplicated(b$patient_id), ]
b$status <- ifelse(b$result == "positive", "positive",
                   ifelse(b$result == "negative" & b$sensitivity <= 1e-5, "negative", "ne"))
eb <- merge(ev, b[, c("patient_id", "status")], by = "patient_id")
eb <- eb[eb$status %in% c("negative", "positive"), ]
put("bl_n_negative", sum(eb$status == "negative")); put("bl_n_positive", sum(eb$status == "positive"))
sd <- survdiff(Surv(time, event) ~ status, data = eb)
put("bl_logrank_chisq", sd$chisq); put("bl_logrank_p", pchisq(sd$chisq, 1, lower.tail = FALSE))
cx <- coxph(Surv(time, event) ~ I(status == "positive"), data = eb, ties = "efron")
sc <- summary(cx)
put("bl_hr", sc$conf.int[1, 1]); put("bl_hr_lower", sc$conf.int[1, 3])
put("bl_hr_upper", sc$conf.int[1, 4]); put("bl_lrt_p", sc$logtest["pvalue"])

# landmark at day 730 among evaluable patients: PFS day > 730, time reset, classes given
lm <- merge(ev[ev$day > 730, ], cls, by = "patient_id")
lm$tl <- (lm$day - 730) / M
put("lm_at_risk", nrow(lm))
for (ref in c("sustained_negative", "persistent_positive")) {
  sub <- lm[lm$mrd_class %in% c("loss_of_negativity", ref), ]
  sub$x <- as.numeric(sub$mrd_class == "loss_of_negativity")
  key <- if (ref == "sustained_negative") "lost_vs_sustained" else "lost_vs_persistent"
  put(paste0(key, "_n"), nrow(sub))
  if (sum(sub$event) > 0 && length(unique(sub$x)) == 2) {
    sdl <- survdiff(Surv(tl, event) ~ x, data = sub)
    put(paste0(key, "_logrank_p"), pchisq(sdl$chisq, 1, lower.tail = FALSE))
    cl <- summary(coxph(Surv(tl, event) ~ x, data = sub, ties = "efron"))
    put(paste0(key, "_hr"), cl$conf.int[1, 1]); put(paste0(key, "_lower"), cl$conf.int[1, 3])
    put(paste0(key, "_upper"), cl$conf.int[1, 4]); put(paste0(key, "_lrt_p"), cl$logtest["pvalue"])
  }
}

# time-dependent MRD status (tmerge), evaluable visits carried forward, lag 0
base <- data.frame(id = ev$patient_id, stop = ev$day, event = ev$event)
base <- base[base$stop > 0, ]
td <- tmerge(base, base, id = id, pfs = event(stop, event))
v <- mrd[mrd$result %in% c("negative", "positive"), ]
v$pos <- as.numeric(v$result == "positive")
v$tstart <- pmax(v$day, 0)
td <- tmerge(td, v[, c("patient_id", "tstart", "pos")], id = patient_id, mrd_pos = tdc(tstart, pos))
td <- td[!is.na(td$mrd_pos), ]
ct <- summary(coxph(Surv(tstart, tstop, pfs) ~ mrd_pos, data = td, ties = "efron"))
put("td_rows", nrow(td)); put("td_hr", ct$conf.int[1, 1]); put("td_hr_lower", ct$conf.int[1, 3])
put("td_hr_upper", ct$conf.int[1, 4]); put("td_lrt_p", ct$logtest["pvalue"])

# ---- quantities added with the clinical-study-report layout (issue 23) ----
putn <- function(k, v) if (length(v) && !is.na(v)) put(k, v)  # NA (not reached) left out

# PFS events by earliest contributing type (progression wins a tie with death)
typ <- ifelse(ev$event == 0, "censored",
              ifelse(!is.na(ev$progression_day) & ev$progression_day == ev$day, "progression",
                     "death"))
put("pfs_n_progression", sum(typ == "progression")); put("pfs_n_death", sum(typ == "death"))
# PFS quartiles with Brookmeyer-Crowley limits (quantile.survfit)
qq <- quantile(fit, probs = c(0.25, 0.5, 0.75))
for (i in 1:3) {
  p <- c(25, 50, 75)[i]
  putn(sprintf("pfs_q%d", p), qq$quantile[i]); putn(sprintf("pfs_q%d_lower", p), qq$lower[i])
  putn(sprintf("pfs_q%d_upper", p), qq$upper[i])
}

# overall survival, all enrolled: death from any cause, else censored at last contact/cutoff
d$os_event <- as.integer(!is.na(d$death_day))
d$os_time <- ifelse(is.na(d$death_day), pmin(d$last_contact_day, d$cutoff_day), d$death_day) / M
put("os_n", nrow(d)); put("os_deaths", sum(d$os_event))
so <- summary(survfit(Surv(os_time, os_event) ~ 1, data = d), times = c(12, 24, 36))
for (i in seq_along(so$time)) {
  put(sprintf("os_%g_surv", so$time[i]), so$surv[i]); put(sprintf("os_%g_nrisk", so$time[i]), so$n.risk[i])
  putn(sprintf("os_%g_lower", so$time[i]), so$lower[i])
}

# Clopper-Pearson: patients with a serious AE among all enrolled (binom.test)
ae <- rd("study/adverse_events.csv")
sae <- length(unique(ae$patient_id[tolower(as.character(ae$serious)) == "true"]))
ci <- binom.test(sae, nrow(pat))$conf.int
put("sae_n", sae); put("sae_ci_lower", ci[1]); put("sae_ci_upper", ci[2])

# Simon-Makuch: KM by current MRD status with delayed entry, on the tmerge rows
sm <- summary(survfit(Surv(tstart / M, tstop / M, pfs) ~ mrd_pos, data = td), times = c(12, 24, 36),
              extend = FALSE)
grp <- ifelse(grepl("=1", as.character(sm$strata)), "positive", "negative")
for (i in seq_along(sm$time)) {
  k <- sprintf("sm_%s_%g", grp[i], sm$time[i])
  put(paste0(k, "_surv"), sm$surv[i]); put(paste0(k, "_nrisk"), sm$n.risk[i])
}
# patient-years and crude rates per 100 patient-years by current status
for (s in 0:1) {
  k <- if (s == 1) "positive" else "negative"
  r <- td[td$mrd_pos == s, ]
  py <- sum(r$tstop - r$tstart) / 365.25
  put(paste0("py_", k), py); put(paste0("rate100_", k), 100 * sum(r$pfs) / py)
}

# landmark at 36 months (day 1095): classes from mrdtrack (landmark_classes_1095.csv)
cls36 <- rd("landmark_classes_1095.csv")
lm36 <- merge(ev[ev$day > 1095, ], cls36, by = "patient_id")
lm36$tl <- (lm36$day - 1095) / M
put("lm36_at_risk", nrow(lm36))
for (ref in c("sustained_negative", "persistent_positive")) {
  sub <- lm36[lm36$mrd_class %in% c("loss_of_negativity", ref), ]
  sub$x <- as.numeric(sub$mrd_class == "loss_of_negativity")
  key <- if (ref == "sustained_negative") "lm36_lost_vs_sustained" else "lm36_lost_vs_persistent"
  if (sum(sub$event) > 0 && length(unique(sub$x)) == 2) {
    sdl <- survdiff(Surv(tl, event) ~ x, data = sub)
    put(paste0(key, "_logrank_p"), pchisq(sdl$chisq, 1, lower.tail = FALSE))
    cl <- summary(coxph(Surv(tl, event) ~ x, data = sub, ties = "efron"))
    put(paste0(key, "_hr"), cl$conf.int[1, 1]); put(paste0(key, "_lower"), cl$conf.int[1, 3])
    put(paste0(key, "_upper"), cl$conf.int[1, 4])
  }
}

# multivariable Cox on baseline factors (complete cases) and cox.zph (KM transform)
mv <- merge(ev[, c("patient_id", "time", "event")],
            pat[, c("patient_id", "age", "sex", "iss", "cytogenetic_risk", "prior_transplant")],
            by = "patient_id")
mv <- merge(mv, b[, c("patient_id", "status")], by = "patient_id", all.x = TRUE)
mv$status[!(mv$status %in% c("negative", "positive"))] <- NA
mv$age10 <- mv$age / 10
mv$sex <- relevel(factor(mv$sex), ref = "F")
mv$iss <- relevel(factor(mv$iss), ref = "I")
mv$cytogenetic_risk <- relevel(factor(mv$cytogenetic_risk), ref = "standard")
mv$prior_transplant <- as.numeric(tolower(as.character(mv$prior_transplant)) == "true")
mv$baseline_status <- relevel(factor(mv$status), ref = "negative")
mv <- mv[complete.cases(mv[, c("age10", "sex", "iss", "cytogenetic_risk", "prior_transplant",
                                "baseline_status")]), ]
mfit <- coxph(Surv(time, event) ~ age10 + sex + iss + cytogenetic_risk + prior_transplant +
                baseline_status, data = mv, ties = "efron")
put("mv_n", mfit$n); put("mv_events", mfit$nevent)
hr <- exp(coef(mfit))
for (k in names(hr)) put(paste0("mv_hr_", k), hr[[k]])
z <- cox.zph(mfit, transform = "km")$table
for (k in rownames(z)) {
  put(paste0("zph_", k, "_chisq"), z[k, "chisq"]); put(paste0("zph_", k, "_p"), z[k, "p"])
}

# AET04: patients once per preferred term at their highest grade, by grade group (base R)
ae$pt <- ifelse(is.na(ae$decod), ae$term, ae$decod)
worst <- aggregate(grade ~ pt + patient_id, data = ae, FUN = max)  # rows with a grade
for (p in unique(ae$pt)) {
  w <- worst[worst$pt == p, "grade"]
  k <- gsub("[^A-Za-z0-9]+", "_", p)
  put(paste0("aet04_", k, "_any"), length(unique(ae$patient_id[ae$pt == p])))
  put(paste0("aet04_", k, "_g12"), sum(w %in% 1:2)); put(paste0("aet04_", k, "_g34"), sum(w %in% 3:4))
  put(paste0("aet04_", k, "_g5"), sum(w == 5))
}

vals <- vapply(res, function(x) sprintf("%.17g", as.numeric(x)), "")
write.csv(data.frame(key = names(res), value = vals), file.path(here, "reference.csv"),
          row.names = FALSE, quote = FALSE)
