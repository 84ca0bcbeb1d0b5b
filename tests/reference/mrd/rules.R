# The mrdtrack.mrd trajectory-class rules stated independently in R (docs/methods/mrd.md):
# class of one patient's evaluable visits (days, calls: 1 positive / 0 negative).
class_of <- function(days, calls, gap = 365) {
  o <- order(days); days <- days[o]; calls <- calls[o]
  neg <- days[calls == 0]; pos <- days[calls == 1]
  if (length(neg) > 0 && any(pos > neg[1])) return("loss_of_negativity")
  if (length(days) < 2) return("not_classifiable")
  sustained <- length(neg) >= 2 && (max(neg) - neg[1]) >= gap
  if (length(pos) == 0) return(if (sustained) "sustained_negative" else "not_classifiable")
  if (length(neg) == 0) return("persistent_positive")
  if (sustained) "sustained_negative" else "conversion"
}
