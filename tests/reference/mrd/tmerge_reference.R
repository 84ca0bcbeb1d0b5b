# Reference (start, stop] data for mrdtrack.mrd.time_dependent_data, built with survival::tmerge
# on the constructed study written by make_study.py. Status rule per assay (threshold 1e-5):
# inadequate / indeterminate / not_evaluable -> NA; positive -> 1; negative -> 0 only when the
# sensitivity reaches 1e-5 (imaging exempt). Same-day assays: any positive -> 1, else any
# negative -> 0, else NA; NA visits are dropped (last evaluable status carried forward).
# mrd_class: the trajectory class known at each visit (rules.R), carried forward the same way.
library(survival)
args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
rd <- function(f) read.csv(file.path(here, f), colClasses = c(patient_id = "character"))
pat <- rd("study_patients.csv")
out <- rd("study_outcomes.csv")
mrd <- rd("study_mrd.csv")

d <- merge(pat, out, by = "patient_id")
ev_day <- pmin(d$progression_day, d$death_day, na.rm = TRUE)
d$status <- as.integer(!is.na(ev_day))
d$time <- ifelse(is.na(ev_day), pmin(d$last_contact_day, d$cutoff_day), ev_day)
base <- d[d$time > 0, c("patient_id", "time", "status")]

adequate <- is.na(mrd$adequate) | mrd$adequate %in% c(TRUE, "true", "True")
imaging <- mrd$specimen == "imaging" | mrd$method == "PET-CT"
reaches <- !is.na(mrd$sensitivity) & mrd$sensitivity <= 1e-5 * (1 + 1e-9)
call <- rep(NA_integer_, nrow(mrd))
call[adequate & mrd$result == "positive"] <- 1L
call[adequate & mrd$result == "negative" & (imaging | reaches)] <- 0L
mrd$call <- call
visit <- aggregate(call ~ patient_id + day, data = mrd[!is.na(mrd$call), ], FUN = max)
# class known at each visit: the rules of rules.R applied to that visit and earlier ones
source(file.path(here, "rules.R"))
visit <- visit[order(visit$patient_id, visit$day), ]
visit$cls <- NA_character_
for (i in seq_len(nrow(visit))) {
  prev <- visit$patient_id == visit$patient_id[i] & visit$day <= visit$day[i]
  visit$cls[i] <- class_of(visit$day[prev], visit$call[prev])
}

for (lag in c(0, 30)) {
  td <- tmerge(base, base, id = patient_id, pfs = event(time, status))
  v <- visit
  v$eff <- v$day + lag
  td <- tmerge(td, v, id = patient_id, mrd_positive = tdc(eff, call), mrd_class = tdc(eff, cls))
  res <- td[, c("patient_id", "tstart", "tstop", "pfs", "mrd_positive", "mrd_class")]
  res <- res[order(res$patient_id, res$tstart), ]
  write.csv(res, file.path(here, sprintf("tmerge_lag%d.csv", lag)), row.names = FALSE,
            na = "")
}
cat(sprintf("R %s, survival %s\n", getRversion(), packageVersion("survival")))
