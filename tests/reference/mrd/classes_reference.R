# Independent R statement of the mrdtrack.mrd trajectory-class rules and the 24-month landmark
# data set, on the constructed study written by make_study.py. Outputs:
#   classes_reference.csv  patient_id, window_end ("" = whole follow-up, or 730), mrd_class,
#                          known_day, n_evaluable
#   landmark_reference.csv patient_id, time (PFS day - 730), event, mrd_class   (at risk: time > 730)
# Rules (docs/methods/mrd.md): marrow assays; positive -> 1; negative reaching 1e-5 -> 0;
# inadequate / indeterminate / not evaluable / insufficient sensitivity -> NA. Same-day assays:
# any 1 -> 1, else any 0 -> 0, else NA (skipped). Visits after progression are ignored.
args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
rd <- function(f) read.csv(file.path(here, f), colClasses = c(patient_id = "character"))
pat <- rd("study_patients.csv")
out <- rd("study_outcomes.csv")
mrd <- rd("study_mrd.csv")

adequate <- is.na(mrd$adequate) | mrd$adequate %in% c(TRUE, "true", "True")
reaches <- !is.na(mrd$sensitivity) & mrd$sensitivity <= 1e-5 * (1 + 1e-9)
call <- rep(NA_integer_, nrow(mrd))
call[adequate & mrd$result == "positive"] <- 1L
call[adequate & mrd$result == "negative" & reaches] <- 0L
mrd$call <- call
visit <- aggregate(call ~ patient_id + day, data = mrd[!is.na(mrd$call), ], FUN = max)
visit <- merge(visit, out[, c("patient_id", "progression_day")], by = "patient_id")
visit <- visit[is.na(visit$progression_day) | visit$day <= visit$progression_day, ]

source(file.path(here, "rules.R"))

classify <- function(window_end) {
  res <- NULL
  for (id in sort(pat$patient_id)) {
    v <- visit[visit$patient_id == id, ]
    if (!is.na(window_end)) v <- v[v$day <= window_end, ]
    cls <- class_of(v$day, v$call)
    known <- NA
    if (cls != "not_classifiable") {
      for (d in sort(v$day)) {
        keep <- v$day <= d
        if (class_of(v$day[keep], v$call[keep]) == cls) { known <- d; break }
      }
    }
    res <- rbind(res, data.frame(patient_id = id, window_end = window_end, mrd_class = cls,
                                 known_day = known, n_evaluable = nrow(v)))
  }
  res
}
classes <- rbind(classify(NA), classify(730))
write.csv(classes, file.path(here, "classes_reference.csv"), row.names = FALSE, na = "")

d <- merge(pat, out, by = "patient_id")
ev_day <- pmin(d$progression_day, d$death_day, na.rm = TRUE)
d$event <- as.integer(!is.na(ev_day))
d$time <- ifelse(is.na(ev_day), pmin(d$last_contact_day, d$cutoff_day), ev_day)
lm <- subset(d, time > 730)
lm$time <- lm$time - 730
at730 <- classes[!is.na(classes$window_end), c("patient_id", "mrd_class")]
lm <- merge(lm[, c("patient_id", "time", "event")], at730, by = "patient_id")
lm <- lm[order(lm$patient_id), ]
write.csv(lm, file.path(here, "landmark_reference.csv"), row.names = FALSE)
cat(sprintf("classes: %d rows; landmark: %d at risk\n", nrow(classes), nrow(lm)))
