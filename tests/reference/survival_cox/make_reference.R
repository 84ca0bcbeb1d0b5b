# Reference values for mrdtrack.survival.cox, computed with R survival (>= 3).
# Run from this folder:  Rscript make_reference.R
# Writes <case>_data.csv (the exact rows fitted) and <case>_ref.csv (quantity, index, value)
# at full precision (17 significant digits). Tests read these files; they never need R.
suppressPackageStartupMessages(library(survival))
options(warn = 1)

fmt <- function(x) ifelse(is.na(x), "NA", sprintf("%.17g", x))

emit <- function(con, name, x) {
  x <- as.vector(x)
  if (length(x) == 0) return(invisible())
  writeLines(paste(name, seq_along(x) - 1L, fmt(as.numeric(x)), sep = ","), con)
}

run_case <- function(case, data, formula, ties = "efron", zph = TRUE, surv = TRUE, weights = NULL) {
  # full precision for doubles (write.csv keeps only 15 significant digits)
  out <- data
  for (nm in names(out)) if (is.double(out[[nm]])) out[[nm]] <- sprintf("%.17g", out[[nm]])
  chr <- which(vapply(data, function(v) is.character(v) || is.factor(v), TRUE))
  write.csv(out, paste0(case, "_data.csv"), row.names = FALSE,
            quote = if (length(chr)) unname(chr) else FALSE)
  warn <- character(0)
  fit <- withCallingHandlers(
    if (is.null(weights)) coxph(formula, data = data, ties = ties, model = TRUE, x = TRUE)
    else eval(substitute(coxph(formula, data = data, ties = ties, weights = W, model = TRUE,
                               x = TRUE), list(W = as.name(weights)))),
    warning = function(w) { warn <<- c(warn, conditionMessage(w)); invokeRestart("muffleWarning") })
  con <- file(paste0(case, "_ref.csv"), "w")
  writeLines("quantity,index,value", con)
  writeLines(paste0("names,", seq_along(coef(fit)) - 1L, ",", names(coef(fit))), con)
  emit(con, "coef", coef(fit))
  emit(con, "se", sqrt(diag(if (is.null(fit$naive.var)) fit$var else fit$naive.var)))
  if (!is.null(fit$naive.var)) emit(con, "robust_se", sqrt(diag(fit$var)))
  emit(con, "var", fit$var)
  emit(con, "loglik", fit$loglik)
  emit(con, "score", fit$score)
  emit(con, "wald", fit$wald.test)
  if (!is.null(fit$rscore)) emit(con, "rscore", fit$rscore)
  emit(con, "iter", fit$iter)
  emit(con, "means", fit$means)
  emit(con, "n", fit$n)
  emit(con, "nevent", fit$nevent)
  emit(con, "concordance", fit$concordance)
  emit(con, "monotone_warning", as.numeric(any(grepl("may be infinite", warn))))
  if (zph) {
    z <- cox.zph(fit, transform = "km")
    emit(con, "zph_chisq", z$table[, "chisq"])
    emit(con, "zph_df", z$table[, "df"])
    emit(con, "zph_p", z$table[, "p"])
    writeLines(paste0("zph_terms,", seq_len(nrow(z$table)) - 1L, ",", rownames(z$table)), con)
  }
  if (surv) {
    sf <- survfit(fit)
    if (is.null(sf$strata)) {
      emit(con, "bs_time", sf$time); emit(con, "bs_surv", sf$surv)
      emit(con, "bs_cumhaz", sf$cumhaz); emit(con, "bs_n_risk", sf$n.risk)
      emit(con, "bs_n_event", sf$n.event); emit(con, "bs_std_err", sf$std.err)
    } else {
      emit(con, "bs_time", sf$time); emit(con, "bs_surv", sf$surv)
      emit(con, "bs_cumhaz", sf$cumhaz); emit(con, "bs_n_risk", sf$n.risk)
      emit(con, "bs_n_event", sf$n.event); emit(con, "bs_std_err", sf$std.err)
      emit(con, "bs_strata_size", sf$strata)
    }
  }
  close(con)
  cat(case, "done", length(warn), "warning(s)\n")
}

lung1 <- na.omit(lung[, c("time", "status", "age", "sex", "ph.ecog", "inst")])
lung1$status <- as.integer(lung1$status == 2)
lung1$inst <- as.integer(lung1$inst)
lung1$w <- 1 + (seq_len(nrow(lung1)) %% 3)
run_case("lung_efron", lung1, Surv(time, status) ~ age + sex + ph.ecog)
run_case("lung_breslow", lung1, Surv(time, status) ~ age + sex + ph.ecog, ties = "breslow")
run_case("lung_strata_sex", lung1, Surv(time, status) ~ age + ph.ecog + strata(sex))
run_case("lung_strata_inst", lung1, Surv(time, status) ~ age + sex + strata(inst), surv = FALSE)
# times perturbed by floating-point noise: R's timefix (aeqSurv) merges them back into ties
lungfix <- lung1
lungfix$time <- lungfix$time * (1 + (seq_len(nrow(lungfix)) %% 3) * 1e-12) + 1e-13
run_case("lung_timefix", lungfix, Surv(time, status) ~ age + sex + ph.ecog)
# integer case weights: R does not switch to a robust variance
run_case("lung_weights", lung1, Surv(time, status) ~ age + sex + ph.ecog, weights = "w")
# non-integer case weights: R switches on the robust (sandwich) variance by itself
lung1$fw <- lung1$w / 3
run_case("lung_fracweights", lung1, Surv(time, status) ~ age + sex + ph.ecog, weights = "fw")

vet <- veteran[, c("time", "status", "celltype", "karno", "trt")]
vet$celltype <- as.character(vet$celltype)
run_case("veteran", transform(vet, celltype = factor(celltype,
          levels = c("squamous", "smallcell", "adeno", "large"))),
         Surv(time, status) ~ celltype + karno)

run_case("veteran_strata_breslow", transform(vet, celltype = factor(celltype,
          levels = c("squamous", "smallcell", "adeno", "large"))),
         Surv(time, status) ~ celltype + karno + strata(trt), ties = "breslow")

ov <- ovarian[, c("futime", "fustat", "age", "ecog.ps", "rx")]
run_case("ovarian", ov, Surv(futime, fustat) ~ age + ecog.ps + rx)
run_case("ovarian_breslow", ov, Surv(futime, fustat) ~ age + ecog.ps + rx, ties = "breslow")

col <- na.omit(colon[, c("id", "time", "status", "rx", "sex", "age", "nodes", "etype")])
col$rx <- as.character(col$rx)
run_case("colon_cluster", transform(col, rx = factor(rx, levels = c("Obs", "Lev", "Lev+5FU"))),
         Surv(time, status) ~ rx + sex + age + nodes + cluster(id))

hrt <- heart[, c("id", "start", "stop", "event", "age", "year", "surgery", "transplant")]
hrt$transplant <- as.integer(as.character(hrt$transplant))
run_case("heart", hrt, Surv(start, stop, event) ~ age + year + surgery + transplant)
run_case("heart_breslow", hrt, Surv(start, stop, event) ~ age + year + surgery + transplant,
         ties = "breslow")
run_case("heart_cluster", hrt,
         Surv(start, stop, event) ~ age + year + surgery + transplant + cluster(id))

run_case("heart_strata_cluster", hrt,
         Surv(start, stop, event) ~ age + year + transplant + strata(surgery) + cluster(id))

# monotone likelihood: x = 1 only among the 3 earliest deaths' group (complete separation in time)
mono <- data.frame(time = c(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), status = c(1, 1, 1, 0, 1, 1, 0, 1, 0, 1),
                   x = c(1, 1, 1, 1, 0, 0, 0, 0, 0, 0), z = c(0.5, -1, 2, 0, 1, -0.5, 1.5, 0.2, -1, 0.3))
run_case("monotone", mono, Surv(time, status) ~ x + z, zph = FALSE, surv = FALSE)
