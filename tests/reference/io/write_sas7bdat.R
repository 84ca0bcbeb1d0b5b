# The example ADaM study as .sas7bdat (haven::write_sas), with one SAS special missing value
# (.A in ADSL AGE, second subject), to test mrdtrack's .sas7bdat path and its handling of
# user-missing codes end to end (tests/io/test_adam_reference.py).
library(haven)
args <- commandArgs(trailingOnly = TRUE)
src <- args[1]
out <- args[2]
dir.create(out, showWarnings = FALSE)
for (ds in c("adsl", "adtte", "adae", "admrd")) {
  d <- read_xpt(file.path(src, paste0(ds, ".xpt")))
  if (ds == "adsl") d$AGE[2] <- tagged_na("A")
  suppressWarnings(write_sas(d, file.path(out, paste0(ds, ".sas7bdat"))))
}
