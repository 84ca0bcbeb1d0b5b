# Reference outputs for mrdtrack.survival Kaplan-Meier, log-rank and reverse-KM follow-up.
# Run from this folder:  Rscript make_reference.R   (needs R + package survival)
# Writes data/*.csv (the exported data sets) and out/*.csv (R's results, 17 significant digits).
suppressPackageStartupMessages(library(survival))

fmt <- function(x) {
  if (is.numeric(x)) ifelse(is.na(x), "NA", sprintf("%.17g", x)) else as.character(x)
}
wcsv <- function(df, file) {
  df[] <- lapply(df, fmt)
  write.csv(df, file, row.names = FALSE, quote = TRUE, na = "NA")
}

# ---- data sets: standard columns time, event (0/1), plus grouping / entry / weight columns ----
set.seed(20261125)
lg <- with(lung, data.frame(time = time, event = as.integer(status == 2),
                            sex = ifelse(sex == 1, "male", "female"), ph_ecog = ph.ecog))
# left-truncated version of lung: entry uniform on (0, time) rounded down to whole days
lg$entry <- floor(runif(nrow(lg)) * lg$time * 0.6)
lg$w <- 1 + (seq_len(nrow(lg)) %% 3)
lg_ecog <- lg[!is.na(lg$ph_ecog) & lg$ph_ecog < 3, ]
vet <- with(veteran, data.frame(time = time, event = status, trt = as.character(trt),
                                celltype = as.character(celltype), prior = as.character(prior)))
ova <- with(ovarian, data.frame(time = futime, event = fustat, rx = as.character(rx),
                                resid = as.character(resid.ds)))
col <- with(colon[colon$etype == 2, ], data.frame(time = time, event = status,
                                                  rx = as.character(rx), sex = as.character(sex)))
am <- with(aml, data.frame(time = time, event = status, x = as.character(x)))
hrt <- with(heart, data.frame(entry = start, time = stop, event = event,
                              transplant = as.character(transplant)))
# small constructed data: a flat segment at exactly 0.5 (midpoint rule) and a curve ending at 0.5
flat <- data.frame(time = c(1, 2, 3, 4, 5, 6, 1, 2, 3, 4),
                   event = c(1, 1, 1, 1, 1, 1, 1, 1, 0, 0),
                   g = c(rep("a", 6), rep("b", 4)))
datasets <- list(lung = lg, lung_ecog = lg_ecog, veteran = vet, ovarian = ova, colon = col,
                 aml = am, heart = hrt, flat = flat)
for (nm in names(datasets)) wcsv(datasets[[nm]], file.path("data", paste0(nm, ".csv")))

# ---- Kaplan-Meier cases ----
km_cases <- data.frame(
  case = c("lung_all", "lung_sex", "lung_sex_loglog", "lung_sex_plain", "veteran_cell",
           "veteran_trt_loglog", "ovarian_rx", "colon_rx", "colon_all_plain", "aml_x",
           "aml_x_loglog", "aml_x_plain", "heart_tx", "lung_trunc", "lung_trunc_loglog",
           "lung_w", "flat_g", "flat_g_loglog"),
  data = c("lung", "lung", "lung", "lung", "veteran", "veteran", "ovarian", "colon", "colon",
           "aml", "aml", "aml", "heart", "lung", "lung", "lung", "flat", "flat"),
  by = c("", "sex", "sex", "sex", "celltype", "trt", "rx", "rx", "", "x", "x", "x",
         "transplant", "sex", "", "sex", "g", "g"),
  entry = c(rep("", 12), "entry", "entry", "entry", "", "", ""),
  weights = c(rep("", 15), "w", "", ""),
  conf_type = c("log", "log", "log-log", "plain", "log", "log-log", "log", "log", "plain",
                "log", "log-log", "plain", "log", "log", "log-log", "log", "log", "log-log"),
  times = c("0;30;100;180.5;365;730;1022", "0;30;100;180.5;365;730;1022",
            "0;30;100;180.5;365;730", "0;30;100;180.5;365;730", "0;10;50;100;250;999",
            "0;10;50;100;250;999", "0;100;365;500;1000;1200", "0;365;730;1095;1826;3000",
            "0;365;730;1095;1826;3000", "0;5;9;13;18;30;48;161", "0;5;9;13;18;30;48;161",
            "0;5;9;13;18;30;48;161", "0;1;10;50;100;365;1000;1800",
            "0;30;100;180.5;365;730", "0;30;100;180.5;365;730", "0;30;100;180.5;365;730",
            "0;1;2.5;3;4;6", "0;1;2.5;3;4;6"),
  stringsAsFactors = FALSE)
wcsv(km_cases, "km_cases.csv")

fit_km <- function(cs) {
  d <- datasets[[cs$data]]
  lhs <- if (cs$entry == "") "Surv(time, event)" else "Surv(entry, time, event)"
  rhs <- if (cs$by == "") "1" else paste0("factor(", cs$by, ")")
  f <- as.formula(paste(lhs, "~", rhs))
  if (cs$weights == "") {
    survfit(f, data = d, conf.type = cs$conf_type)
  } else {
    d$.w <- d[[cs$weights]]
    survfit(f, data = d, weights = .w, conf.type = cs$conf_type, robust = FALSE)
  }
}
strata_labels <- function(fit, n) {
  if (is.null(fit$strata)) rep("", n) else sub("^[^=]*=", "", rep(names(fit$strata), fit$strata))
}

for (i in seq_len(nrow(km_cases))) {
  cs <- km_cases[i, ]
  fit <- fit_km(cs)
  tab <- data.frame(group = strata_labels(fit, length(fit$time)), time = fit$time,
                    n_risk = fit$n.risk, n_event = fit$n.event, n_censor = fit$n.censor,
                    surv = fit$surv, std_err = fit$std.err, lower = fit$lower, upper = fit$upper)
  wcsv(tab, file.path("out", paste0("km_", cs$case, ".csv")))
  q <- quantile(fit, probs = c(0.25, 0.5, 0.75))
  qq <- q$quantile; ql <- q$lower; qu <- q$upper
  if (is.null(dim(qq))) {
    qq <- matrix(qq, nrow = 1); ql <- matrix(ql, nrow = 1); qu <- matrix(qu, nrow = 1)
    grp <- ""
  } else grp <- sub("^[^=]*=", "", rownames(q$quantile))
  qt <- data.frame(group = rep(grp, 3), p = rep(c(0.25, 0.5, 0.75), each = length(grp)),
                   estimate = c(qq), lower = c(ql), upper = c(qu))
  wcsv(qt, file.path("out", paste0("quantile_", cs$case, ".csv")))
  times <- as.numeric(strsplit(cs$times, ";")[[1]])
  s <- summary(fit, times = times)
  st <- data.frame(group = if (is.null(s$strata)) rep("", length(s$time))
                           else sub("^[^=]*=", "", as.character(s$strata)),
                   time = s$time, n_risk = s$n.risk, n_event = s$n.event, n_censor = s$n.censor,
                   surv = s$surv, std_err = s$std.err, lower = s$lower, upper = s$upper)
  wcsv(st, file.path("out", paste0("summary_", cs$case, ".csv")))
}

# ---- log-rank (survdiff) cases ----
lr_cases <- data.frame(
  case = c("lung_sex_r0", "lung_sex_r1", "lung_sex_r05", "veteran_cell_r0", "veteran_cell_r1",
           "veteran_trt_strat_cell", "ovarian_rx", "colon_rx_r0", "colon_rx_r1",
           "colon_rx_strat_sex", "aml_x", "lung_ecog_r0", "lung_sex_strat_ecog",
           "lung_sex_strat_ecog_r1", "flat_g"),
  data = c("lung", "lung", "lung", "veteran", "veteran", "veteran", "ovarian", "colon", "colon",
           "colon", "aml", "lung_ecog", "lung_ecog", "lung_ecog", "flat"),
  group = c("sex", "sex", "sex", "celltype", "celltype", "trt", "rx", "rx", "rx", "rx", "x",
            "ph_ecog", "sex", "sex", "g"),
  strata = c("", "", "", "", "", "celltype", "", "", "", "sex", "", "", "ph_ecog", "ph_ecog", ""),
  rho = c(0, 1, 0.5, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0),
  stringsAsFactors = FALSE)
wcsv(lr_cases, "logrank_cases.csv")
lr_groups <- list(); lr_tests <- list()
for (i in seq_len(nrow(lr_cases))) {
  cs <- lr_cases[i, ]
  d <- datasets[[cs$data]]
  d$.g <- factor(as.character(d[[cs$group]]))
  if (cs$strata == "") {
    sd <- survdiff(Surv(time, event) ~ .g, data = d, rho = cs$rho)
  } else {
    d$.s <- d[[cs$strata]]
    sd <- survdiff(Surv(time, event) ~ .g + strata(.s), data = d, rho = cs$rho)
  }
  obs <- if (is.matrix(sd$obs)) rowSums(sd$obs) else sd$obs
  ex <- if (is.matrix(sd$exp)) rowSums(sd$exp) else sd$exp
  df <- sum(ex > 0) - 1
  lr_groups[[i]] <- data.frame(case = cs$case, group = levels(d$.g), n = as.vector(sd$n),
                               observed = obs, expected = ex, var_diag = diag(sd$var))
  lr_tests[[i]] <- data.frame(case = cs$case, chisq = sd$chisq, df = df,
                              p = pchisq(sd$chisq, df, lower.tail = FALSE), pvalue = sd$pvalue)
}
wcsv(do.call(rbind, lr_groups), file.path("out", "logrank_groups.csv"))
wcsv(do.call(rbind, lr_tests), file.path("out", "logrank_tests.csv"))

# ---- reverse Kaplan-Meier follow-up: survfit(Surv(time, 1 - event) ~ by) ----
fu_cases <- data.frame(case = c("lung_all", "lung_sex", "veteran_all", "colon_rx", "aml_x",
                                "ovarian_all"),
                       data = c("lung", "lung", "veteran", "colon", "aml", "ovarian"),
                       by = c("", "sex", "", "rx", "x", ""), stringsAsFactors = FALSE)
wcsv(fu_cases, "followup_cases.csv")
fu <- list()
for (i in seq_len(nrow(fu_cases))) {
  cs <- fu_cases[i, ]
  d <- datasets[[cs$data]]
  rhs <- if (cs$by == "") "1" else paste0("factor(", cs$by, ")")
  fit <- survfit(as.formula(paste("Surv(time, 1 - event) ~", rhs)), data = d)
  q <- quantile(fit, probs = c(0.25, 0.5, 0.75))
  qq <- q$quantile; ql <- q$lower; qu <- q$upper
  if (is.null(dim(qq))) {
    qq <- matrix(qq, nrow = 1); ql <- matrix(ql, nrow = 1); qu <- matrix(qu, nrow = 1)
    grp <- ""
  } else grp <- sub("^[^=]*=", "", rownames(q$quantile))
  fu[[i]] <- data.frame(case = cs$case, group = rep(grp, 3),
                        p = rep(c(0.25, 0.5, 0.75), each = length(grp)),
                        estimate = c(qq), lower = c(ql), upper = c(qu))
}
wcsv(do.call(rbind, fu), file.path("out", "followup.csv"))

writeLines(c(R.version.string, paste("survival", as.character(packageVersion("survival")))),
           file.path("out", "versions.txt"))

# ---- the quantile rule itself on awkward curves (non-monotone, NA, flats at p) ----
set.seed(7)
fq <- list()
for (i in 1:60) {
  m <- sample(2:9, 1)
  y <- sample(c(0.1, 0.25, 0.4, 0.5, 0.5 + 1e-9, 0.6, 0.75, 0.9, 1, NA), m, replace = TRUE)
  if (i %% 3 == 0) y <- sort(y, na.last = TRUE)
  x <- c(0, cumsum(sample(1:5, m, replace = TRUE)))
  yy <- c(0, y)
  for (p in c(0.25, 0.5, 0.75)) {
    fq[[length(fq) + 1]] <- data.frame(curve = i, p = p, x = paste(x, collapse = ";"),
                                       y = paste(ifelse(is.na(yy), "NA", sprintf("%.17g", yy)),
                                                 collapse = ";"),
                                       q = survival:::findq(x, yy, p, sqrt(.Machine$double.eps)))
  }
}
wcsv(do.call(rbind, fq), file.path("out", "findq.csv"))

# ---- log-rank with (entry, time] risk sets: survdiff refuses counting-process data, but with
# untied times the Cox score test at beta = 0 (Breslow) is exactly the log-rank statistic ----
lt <- lg[!is.na(lg$ph_ecog) & lg$ph_ecog < 3, ]
lt$time <- lt$time + seq_len(nrow(lt)) / 1000  # untie: integer days + distinct fractions
stopifnot(!anyDuplicated(lt$time))
wcsv(lt, file.path("data", "lung_trunc_untied.csv"))
sc <- list()
for (g in c("sex", "ph_ecog")) {
  for (with_entry in c(TRUE, FALSE)) {
    lhs <- if (with_entry) "Surv(entry, time, event)" else "Surv(time, event)"
    f <- coxph(as.formula(paste(lhs, "~ factor(", g, ")")), data = lt, ties = "breslow")
    st <- summary(f)$sctest
    sc[[length(sc) + 1]] <- data.frame(group = g, entry = with_entry, chisq = st[["test"]],
                                       df = st[["df"]])
  }
}
wcsv(do.call(rbind, sc), file.path("out", "logrank_entry_score.csv"))
