"""Per-patient MRD classes of the AML (ELN 2021) and ALL (European ALL groups) presets.

The rules read one patient's visit calls in day order (`mrdtrack.mrd.call_status` with the
preset) and return the class, its reason, evidence days and guideline-specific columns. The
class of every prefix of the visits (the class known at each visit) is computed with the same
rule, so the class over a window, the class known at a landmark and the time-dependent class
agree by construction. Rules and sources: ``docs/methods/mrd.md``; myeloma and CLL classes are
in `mrdtrack.mrd.trajectories`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import polars as pl

from mrdtrack.mrd.presets import Preset

NEG, POS = "negative", "positive"
_LOG_EPS = 1e-9  # a 10-fold rise stored as 9.999999999 still counts as one log10

Visit = dict[str, Any]
Result = tuple[str, str | None, list[int], dict[str, Any]]

EXTRA_COLUMNS: dict[str, dict[str, pl.DataType]] = {
    "aml": {"relapse_type": pl.String(), "relapse_reference_day": pl.Int64()},
    "all": {
        "eoi_response": pl.String(),
        "eoc_response": pl.String(),
        "eoi_sample_day": pl.Int64(),
        "eoc_sample_day": pl.Int64(),
    },
}


def _no_class(visits: Sequence[Visit], reason_if_evaluable: str) -> Result | None:
    if not visits:
        return "not_classifiable", "no_assessment", [], {}
    if not any(v["status"] in (NEG, POS) for v in visits):
        return "not_classifiable", "no_evaluable_assessment", [], {}
    return None


def _confirmed(ev: Sequence[Visit], i: int, opts: dict[str, Any]) -> tuple[bool, int | None]:
    """Is the trigger at ``ev[i]`` confirmed by the next evaluable sample (positive)?"""
    if opts.get("relapse_confirmation", "none") == "none":
        return True, None
    if i + 1 >= len(ev):
        return False, None
    nxt = ev[i + 1]
    within = opts.get("confirm_within_days")
    ok = nxt["status"] == POS and (within is None or nxt["day"] - ev[i]["day"] <= within)
    return ok, nxt["day"] if ok else None


def aml_class(visits: Sequence[Visit], preset: Preset) -> Result:
    """ELN 2021 class of one AML patient (visits in day order).

    1. ``mrd_relapse``: (a) conversion — a positive sample right after a negative one, any
       technique; or (b) a rise of >= 1 log10 between two positive molecular samples, the
       earlier one below the low-level cut-off (CR MRD-LL). Confirmed by the next evaluable
       sample being positive (option ``relapse_confirmation``; ``confirm_within_days``).
       Known on the confirming sample.
    2. Otherwise the last evaluable sample: negative → ``cr_mrd_negative``; positive only by
       molecular assays below ``low_level``, in a patient positive at every evaluable sample
       (persistence, not re-emergence after negativity) → ``cr_mrd_low_level``; else
       ``mrd_positive`` (reason ``relapse_not_confirmed`` when an unconfirmed trigger is the
       last sample).
    """
    opts = dict(preset.options)
    none = _no_class(visits, "")
    if none is not None:
        return none
    ev = [v for v in visits if v["status"] in (NEG, POS)]
    low = float(opts["low_level"])
    pending = False
    for i, v in enumerate(ev):
        if v["status"] != POS:
            continue
        trigger: tuple[str, int] | None = None
        if i > 0 and ev[i - 1]["status"] == NEG:
            trigger = ("conversion", ev[i - 1]["day"])
        elif v.get("molecular_positive") and v.get("molecular_level") is not None:
            lv = float(v["molecular_level"])
            for e in ev[:i]:
                le = e.get("molecular_level")
                if (
                    e["status"] == POS
                    and e.get("molecular_positive")
                    and le is not None
                    and 0 < le < low
                    and lv >= 10.0 * le * (1.0 - _LOG_EPS)
                ):
                    trigger = ("log10_rise", e["day"])
                    break
        if trigger is None:
            continue
        ok, confirm_day = _confirmed(ev, i, opts)
        if ok:
            days = [trigger[1], v["day"]] + ([confirm_day] if confirm_day is not None else [])
            return (
                "mrd_relapse",
                None,
                days,
                {"relapse_type": trigger[0], "relapse_reference_day": trigger[1]},
            )
        pending = i == len(ev) - 1
    last = ev[-1]
    reason = "relapse_not_confirmed" if pending else None
    if last["status"] == NEG:
        return "cr_mrd_negative", reason, [last["day"]], {}
    ml = last.get("molecular_level")
    run = len(ev)
    while run > 0 and ev[run - 1]["status"] == POS:
        run -= 1
    # low-level *persistence*: positive throughout, not a re-emergence after negativity
    persistent = run == 0
    if (
        persistent
        and last.get("molecular_positive")
        and not last.get("other_positive")
        and ml is not None
        and ml < low
    ):
        return "cr_mrd_low_level", reason, [last["day"]], {}
    return "mrd_positive", reason, [last["day"]], {}


def _timepoint(visits: Sequence[Visit], day: int | None, window: int) -> Visit | None:
    if day is None:
        return None
    cands = [
        v
        for v in visits
        if v.get("response") not in (None, "not_evaluable") and abs(v["day"] - day) <= window
    ]
    if not cands:
        return None
    return min(cands, key=lambda v: (abs(v["day"] - day), v["day"]))


def all_class(visits: Sequence[Visit], preset: Preset) -> Result:
    """European ALL groups' MRD class of one ALL patient (visits in day order).

    Responses per sample (Brüggemann et al. 2010; GMALL terminology): complete MRD response =
    negative at a sensitivity of at least 10^-4; MRD failure = positive at >= 10^-4; MRD
    intermediate = every other result (positive below 10^-4, positive not quantifiable,
    negative with insufficient sensitivity).

    1. ``mrd_reappearance``: a positive sample after a complete MRD response (at a level >=
       ``reappearance_min_level`` if set; confirmed by the next sample if
       ``relapse_confirmation = "next_sample"``).
    2. At the end-of-consolidation time point (``eoc_day`` +/- ``timepoint_window_days``; the
       sample closest to it), else at the end-of-induction one (``eoi_day``): failure →
       ``mrd_failure``; intermediate → ``mrd_intermediate``; complete response →
       ``early_complete_response`` when the end-of-induction sample was a complete response,
       else ``late_complete_response``.
    3. ``not_classifiable`` (``no_timepoint_assessment``) when neither time point is assessed.
    """
    opts = dict(preset.options)
    eoi = _timepoint(visits, opts["eoi_day"], int(opts["timepoint_window_days"]))
    eoc = _timepoint(visits, opts["eoc_day"], int(opts["timepoint_window_days"]))
    extra = {
        "eoi_response": eoi["response"] if eoi else None,
        "eoc_response": eoc["response"] if eoc else None,
        "eoi_sample_day": eoi["day"] if eoi else None,
        "eoc_sample_day": eoc["day"] if eoc else None,
    }
    if not visits:
        return "not_classifiable", "no_assessment", [], extra
    ev = [v for v in visits if v["status"] in (NEG, POS)]
    min_level = opts.get("reappearance_min_level")
    for i, v in enumerate(ev):
        if v["status"] != POS or not any(e["status"] == NEG for e in ev[:i]):
            continue
        if min_level is not None and (v.get("level") is None or v["level"] < min_level):
            continue
        ok, confirm_day = _confirmed(ev, i, opts)
        if ok:
            last_neg = max(e["day"] for e in ev[:i] if e["status"] == NEG)
            days = [last_neg, v["day"]] + ([confirm_day] if confirm_day is not None else [])
            return "mrd_reappearance", None, days, extra
    tp = eoc or eoi
    if tp is None:
        reason = "no_timepoint_assessment" if ev else "no_evaluable_assessment"
        return "not_classifiable", reason, [], extra
    days = [d for d in (extra["eoi_sample_day"], extra["eoc_sample_day"]) if d is not None]
    r = tp["response"]
    if r == "failure":
        return "mrd_failure", None, days, extra
    if r == "intermediate":
        return "mrd_intermediate", None, days, extra
    if eoi is not None and eoi["response"] == "complete_response":
        return "early_complete_response", None, days, extra
    return "late_complete_response", None, days, extra


RULES: dict[str, Callable[[Sequence[Visit], Preset], Result]] = {
    "aml": aml_class,
    "all": all_class,
}


def check_options(preset: Preset) -> None:
    """Options a class rule cannot do without (ALL needs at least one time point)."""
    if (
        preset.name == "all"
        and preset.options["eoi_day"] is None
        and (preset.options["eoc_day"] is None)
    ):
        raise ValueError(
            "disease 'all': set eoi_day and/or eoc_day (the protocol's end-of-induction and "
            "end-of-consolidation study days) under [study.disease_options] or disease_options"
        )


def _patient_visits(visits: pl.DataFrame) -> dict[str, list[Visit]]:
    out: dict[str, list[Visit]] = {}
    for row in visits.sort("patient_id", "day").iter_rows(named=True):
        out.setdefault(row["patient_id"], []).append(row)
    return out


def classify(visits: pl.DataFrame, ids: pl.DataFrame, preset: Preset) -> pl.DataFrame:
    """One row per patient in ``ids``: class, reason, known_day, evidence and counts.

    ``known_day`` is the first evaluable day from which the class of every longer prefix of
    the visits equals the final class (the class has held since that day).
    """
    check_options(preset)
    rule = RULES[preset.name]
    by_patient = _patient_visits(visits)
    extra_schema = EXTRA_COLUMNS[preset.name]
    rows = []
    for pid in ids["patient_id"].to_list():
        vs = by_patient.get(pid, [])
        cls, reason, evidence, extra = rule(vs, preset)
        known = None
        if cls != "not_classifiable":
            for k in range(len(vs), 0, -1):
                if vs[k - 1]["status"] not in (NEG, POS):
                    continue
                if rule(vs[:k], preset)[0] != cls:
                    break
                known = vs[k - 1]["day"]
        ev = [v for v in vs if v["status"] in (NEG, POS)]
        negs = [v["day"] for v in ev if v["status"] == NEG]
        poss = [v["day"] for v in ev if v["status"] == POS]
        first_neg = min(negs) if negs else None
        loss = [d for d in poss if first_neg is not None and d > first_neg]
        rows.append(
            {
                "patient_id": pid,
                "mrd_class": cls,
                "reason": reason,
                "known_day": known,
                "evidence_days": [int(d) for d in evidence],
                "converted": bool(poss and negs and min(poss) < min(negs)),
                "sustained": False,
                "then_sustained": False,
                "sustained_day": None,
                "first_negative_day": first_neg,
                "first_positive_day": min(poss) if poss else None,
                "loss_day": min(loss) if loss else None,
                "first_status": ev[0]["status"] if ev else None,
                "n_assessments": len(vs),
                "n_evaluable": len(ev),
                "n_negative": len(negs),
                "n_positive": len(poss),
                "n_not_evaluable": len(vs) - len(ev),
                **{k: extra.get(k) for k in extra_schema},
            }
        )
    schema = {
        "patient_id": pl.String,
        "mrd_class": pl.String,
        "reason": pl.String,
        "known_day": pl.Int64,
        "evidence_days": pl.List(pl.Int64),
        "converted": pl.Boolean,
        "sustained": pl.Boolean,
        "then_sustained": pl.Boolean,
        "sustained_day": pl.Int64,
        "first_negative_day": pl.Int64,
        "first_positive_day": pl.Int64,
        "loss_day": pl.Int64,
        "first_status": pl.String,
        "n_assessments": pl.Int64,
        "n_evaluable": pl.Int64,
        "n_negative": pl.Int64,
        "n_positive": pl.Int64,
        "n_not_evaluable": pl.Int64,
        **extra_schema,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def prefix_classes(visits: pl.DataFrame, preset: Preset) -> pl.DataFrame:
    """Evaluable visits with the class known at each (rule applied to the visits so far)."""
    check_options(preset)
    rule = RULES[preset.name]
    keep = []
    classes = []
    for vs in _patient_visits(visits).values():
        for k, v in enumerate(vs, start=1):
            if v["status"] in (NEG, POS):
                keep.append(v)
                classes.append(rule(vs[:k], preset)[0])
    if not keep:
        return visits.filter(pl.lit(False)).with_columns(pl.lit(None, pl.String).alias("mrd_class"))
    frame = pl.DataFrame(keep, schema=visits.schema, orient="row")
    return frame.with_columns(pl.Series("mrd_class", classes, dtype=pl.String))
