# Independent reading of mrdtrack's ADaM transport files with R's foreign::read.xport
# (a SAS transport v5 reader not based on ReadStat). Writes each dataset as CSV with dates as
# SAS date numbers (days since 1960-01-01) and doubles at full precision, so that
# tests/io/test_adam_reference.py can compare them with what mrdtrack wrote and reads.
library(foreign)
args <- commandArgs(trailingOnly = TRUE)
src <- args[1]
out <- args[2]
for (ds in c("adsl", "adtte", "adae", "admrd")) {
  d <- read.xport(file.path(src, paste0(ds, ".xpt")))
  for (v in names(d)) {
    if (is.numeric(d[[v]])) d[[v]] <- ifelse(is.na(d[[v]]), "", sprintf("%.17g", d[[v]]))
  }
  write.csv(d, file.path(out, paste0(ds, "_R.csv")), row.names = FALSE, na = "")
}
# PFS and OS as R survival would take them: time = ADT - STARTDT, status = 1 - (CNSR > 0)
tte <- read.xport(file.path(src, "adtte.xpt"))
tte$time <- tte$ADT - tte$STARTDT
tte$status <- as.integer(tte$CNSR == 0)
write.csv(tte[, c("USUBJID", "PARAMCD", "time", "status")], file.path(out, "tte_R.csv"),
          row.names = FALSE)
