# Reference outputs for mrdtrack.survival.competing (run: Rscript make_reference.R).
# Writes the exported data sets and R's results as CSV with 17 significant digits.
# R packages: survival (survfit multi-state Aalen-Johansen), cmprsk (cuminc, crr).
suppressPackageStartupMessages({
  library(survival)
  library(cmprsk)
})
fmt <- function(df) {
  for (nm in names(df)) if (is.double(df[[nm]])) df[[nm]] <- sprintf("%.17g", df[[nm]])
  df
}
wcsv <- function(df, file) write.csv(fmt(df), file, row.names = FALSE, quote = TRUE)

# ---- data sets shipped with R ------------------------------------------------------------
# mgus2: progression to plasma-cell malignancy (1) competing with death (2), months.
m <- survival::mgus2
mg <- data.frame(
  etime = ifelse(m$pstat == 0, m$futime, m$ptime),
  event = ifelse(m$pstat == 0, 2 * m$death, 1),
  sex = as.character(m$sex),
  male = as.integer(m$sex == "M"),
  age = m$age
)
wcsv(mg, "mgus2_cr.csv")
# pbc: liver transplant (1) competing with death (2), days.
p <- survival::pbc
pb <- data.frame(
  time = p$time, status = p$status, sex = as.character(p$sex),
  edema = sprintf("%.1f", p$edema), age = p$age, logbili = log(p$bili),
  albumin = p$albumin, stage = ifelse(is.na(p$stage), "NA", as.character(p$stage))
)
wcsv(pb, "pbc_cr.csv")

# ---- Aalen-Johansen: survfit(Surv(t, factor(status)) ~ by) --------------------------------
aj <- function(fit, file, conf.type) {
  ns <- ncol(fit$pstate)
  st <- if (is.null(fit$strata)) rep("all", length(fit$time)) else
    rep(sub("^[^=]*=", "", names(fit$strata)), fit$strata)
  out <- data.frame(group = st, time = fit$time, n_risk = fit$n.risk[, 1])
  states <- fit$states
  for (k in seq_len(ns)) {
    lab <- if (k == 1) "s0" else states[k]
    out[[paste0("p_", lab)]] <- fit$pstate[, k]
    out[[paste0("se_", lab)]] <- fit$std.err[, k]
    out[[paste0("lo_", lab)]] <- fit$lower[, k]
    out[[paste0("hi_", lab)]] <- fit$upper[, k]
    out[[paste0("nevent_", lab)]] <- fit$n.event[, k]
  }
  wcsv(out, file)
}
ev <- factor(mg$event, 0:2, labels = c("censor", "1", "2"))
aj(survfit(Surv(etime, ev) ~ sex, data = mg), "aj_mgus2_by_sex_log.csv")
aj(survfit(Surv(etime, ev) ~ 1, data = mg), "aj_mgus2_all_log.csv")
aj(survfit(Surv(etime, ev) ~ sex, data = mg, conf.type = "log-log"), "aj_mgus2_by_sex_loglog.csv")
aj(survfit(Surv(etime, ev) ~ sex, data = mg, conf.type = "plain"), "aj_mgus2_by_sex_plain.csv")
evp <- factor(pb$status, 0:2, labels = c("censor", "1", "2"))
aj(survfit(Surv(time, evp) ~ edema, data = pb), "aj_pbc_by_edema_log.csv")

# ---- cmprsk::cuminc: Gray's variance and Gray's test --------------------------------------
cum <- function(ci, file) {
  tst <- ci$Tests
  rows <- list()
  for (nm in setdiff(names(ci), "Tests")) {
    x <- ci[[nm]]
    parts <- strsplit(nm, " ")[[1]]
    rows[[nm]] <- data.frame(group = parts[1], cause = parts[2], time = x$time,
                             est = x$est, var = x$var)
  }
  wcsv(do.call(rbind, rows), paste0(file, "_curves.csv"))
  if (!is.null(tst)) {
    wcsv(data.frame(cause = rownames(tst), stat = tst[, "stat"], p = tst[, "pv"],
                    df = tst[, "df"]), paste0(file, "_test.csv"))
  }
}
cum(cuminc(mg$etime, mg$event, group = mg$sex, cencode = 0), "cuminc_mgus2_by_sex")
cum(cuminc(pb$time, pb$status, group = pb$edema, cencode = 0), "cuminc_pbc_by_edema")
cum(cuminc(pb$time, pb$status, group = pb$edema, strata = pb$sex, cencode = 0),
    "cuminc_pbc_by_edema_strata_sex")
cum(cuminc(pb$time, pb$status, group = pb$sex, rho = 1, cencode = 0), "cuminc_pbc_by_sex_rho1")

# ---- cmprsk::crr: Fine-Gray ---------------------------------------------------------------
fg <- function(fit, file) {
  s <- summary(fit)
  co <- s$coef
  out <- data.frame(term = rownames(co), coef = co[, 1], hr = co[, 2], se = co[, 3],
                    z = co[, 4], p = 2 * pnorm(-abs(co[, 4])), lower = s$conf.int[, 3], upper = s$conf.int[, 4],
                    loglik = fit$loglik, loglik_null = fit$loglik.null, n = fit$n,
                    converged = fit$converged)
  wcsv(out, paste0(file, ".csv"))
  v <- as.data.frame(fit$var)
  names(v) <- rownames(co)
  wcsv(v, paste0(file, "_var.csv"))
}
fg(crr(mg$etime, mg$event, cov1 = cbind(age = mg$age, male = mg$male), failcode = 1,
       cencode = 0, gtol = 1e-10), "crr_mgus2_cause1")
fg(crr(mg$etime, mg$event, cov1 = cbind(age = mg$age, male = mg$male), failcode = 2,
       cencode = 0, gtol = 1e-10), "crr_mgus2_cause2")
X <- cbind(age = pb$age, logbili = pb$logbili, albumin = pb$albumin)
fg(crr(pb$time, pb$status, cov1 = X, failcode = 2, cencode = 0, gtol = 1e-10), "crr_pbc_cause2")
fg(crr(pb$time, pb$status, cov1 = X, failcode = 1, cencode = 0, gtol = 1e-10), "crr_pbc_cause1")
fg(crr(pb$time, pb$status, cov1 = X, failcode = 2, cencode = 0), "crr_pbc_cause2_defaultgtol")
cat("done\n")
