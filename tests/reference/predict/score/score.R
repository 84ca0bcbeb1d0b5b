# Reference numbers for mrdtrack.predict.evaluate: riskRegression::Score on survival::pbc.
# Time-dependent AUC (cumulative/dynamic, IPCW), Brier score, IPA and integrated Brier score
# with the Kaplan-Meier censoring model (cens.model = "km", Score's default for no covariates).
# Run from the repo root:  Rscript tests/reference/predict/score/score.R
# Writes the scored data (predictions.csv) and Score's results (score_R.csv, ibs_R.csv).
suppressMessages({library(survival); library(riskRegression)})
here <- "tests/reference/predict/score"
num17 <- function(df) { for (k in names(df)) if (is.numeric(df[[k]])) df[[k]] <- sprintf("%.17g", df[[k]]); df }
# Randomised trial patients; event = death (transplant counted as censoring).
d <- pbc[!is.na(pbc$trt), c("id", "time", "status", "age", "bili", "albumin", "edema")]
d$event <- as.numeric(d$status == 2)
fit <- coxph(Surv(time, event) ~ age + log(bili) + albumin + edema, data = d, x = TRUE)
grid <- c(365, 730, 1095, 1461, 1826)  # horizons u after the landmark (days)
out <- list(); ibs <- list(); preds <- list()
for (s in c(0, 730)) {
  # Landmark data set: patients event-free and followed beyond s, time re-zeroed at s.
  lm <- d[d$time > s, ]
  lm$tl <- lm$time - s
  F <- function(t) as.vector(predictRisk(fit, newdata = lm, times = t))  # P(T <= t)
  base <- if (s > 0) F(s) else 0
  risk <- sapply(grid, function(u) 1 - (1 - F(s + u)) / (1 - base))  # P(T <= s+u | T > s)
  # A tied marker (edema takes 3 values) and a constant one (information-free).
  ed <- matrix(rep(lm$edema / 2, length(grid)), ncol = length(grid))
  const <- matrix(0.3, nrow(lm), length(grid))
  sc <- Score(list(cox = risk, edema = ed, constant = const), formula = Surv(tl, event) ~ 1,
              data = lm, times = grid, metrics = c("auc", "brier"), summary = c("ibs", "ipa"),
              cens.model = "km", null.model = TRUE, se.fit = FALSE)
  a <- as.data.frame(sc$AUC$score); b <- as.data.frame(sc$Brier$score)
  m <- merge(b[, c("model", "times", "Brier", "IBS", "IPA")], a[, c("model", "times", "AUC")],
             all.x = TRUE)
  m$landmark <- s
  out[[length(out) + 1]] <- m
  p <- data.frame(landmark = s, id = lm$id, time = lm$time, event = lm$event)
  for (k in seq_along(grid)) p[[paste0("cox_", grid[k])]] <- risk[, k]
  p$edema <- lm$edema / 2
  preds[[length(preds) + 1]] <- p
}
res <- do.call(rbind, out)
res$model <- as.character(res$model)
write.csv(num17(res[order(res$landmark, res$model, res$times), ]), file.path(here, "score_R.csv"),
          row.names = FALSE, quote = FALSE)
write.csv(num17(do.call(rbind, preds)), file.path(here, "predictions.csv"), row.names = FALSE,
          quote = FALSE)
writeLines(paste("R", R.version$major, R.version$minor, "survival", packageVersion("survival"),
                 "riskRegression", packageVersion("riskRegression")), file.path(here, "versions.txt"))
