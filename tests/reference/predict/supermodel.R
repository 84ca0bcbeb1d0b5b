# Reference for the landmark supermodel: Cox on the stacked data with Breslow ties, robust SEs
# clustered on patient, Breslow baseline at x = 0, and window risks for new rows.
# Run from the repo root after make_reference.py:  Rscript tests/reference/predict/supermodel.R
library(survival)
here <- "tests/reference/predict"
d <- read.csv(file.path(here, "stacked.csv"), stringsAsFactors = FALSE)
d$patient_id <- as.character(d$patient_id)
terms <- setdiff(names(d), c("patient_id", "landmark", "start", "stop", "event"))
f <- as.formula(paste("Surv(start, stop, event) ~", paste(terms, collapse = " + ")))
fit <- coxph(f, data = d, ties = "breslow", cluster = patient_id)
res <- data.frame(term = sub("_x_", ":", names(coef(fit))), coef = unname(coef(fit)),
                  robust_se = sqrt(diag(fit$var)), naive_se = sqrt(diag(fit$naive.var)))
num17 <- function(df) { for (k in names(df)) if (is.numeric(df[[k]])) df[[k]] <- sprintf("%.17g", df[[k]]); df }
write.csv(num17(res), file.path(here, "coef_R.csv"), row.names = FALSE, quote = FALSE)
# Window risk 1 - exp(-(H0(s + w) - H0(s)) exp(lp)) for the first row of each landmark.
bh <- basehaz(fit, centered = FALSE)
H0 <- function(t) { i <- findInterval(t, bh$time); ifelse(i == 0, 0, bh$hazard[pmax(i, 1)]) }
nd <- d[!duplicated(d$landmark), ]
lp <- as.vector(as.matrix(nd[, terms]) %*% coef(fit))
risk <- 1 - exp(-(H0(nd$landmark + 730) - H0(nd$landmark)) * exp(lp))
pred <- data.frame(patient_id = nd$patient_id, landmark = nd$landmark, risk = risk)
write.csv(num17(pred), file.path(here, "risk_R.csv"), row.names = FALSE, quote = FALSE)
writeLines(paste("R", R.version$major, R.version$minor, "survival", packageVersion("survival")),
           file.path(here, "versions.txt"))
