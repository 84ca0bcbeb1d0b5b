"""Write the small CLL, AML and ALL example studies (synthetic; no real patient).

Each study has 30 patients whose MRD histories follow, in turn, the patterns the disease's
guideline names (``docs/methods/mrd.md``), with seeded jitter on days and levels, and PFS
outcomes that are worse after MRD relapse / failure. Run ``python
examples/make_disease_examples.py`` to rebuild ``examples/{cll,aml,all}_study``.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
N_PATIENTS = 30
CUTOFF = 1460

MRD_COLS = [
    "patient_id",
    "day",
    "visit",
    "method",
    "specimen",
    "sensitivity",
    "result",
    "clonal_fraction",
    "adequate",
]


def _write(path: Path, cols: list[str], rows: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({c: ("" if r.get(c) is None else r[c]) for c in cols})


def _mrd(pid, day, visit, method, specimen, sens, result, level=None):
    return {
        "patient_id": pid,
        "day": day,
        "visit": visit,
        "method": method,
        "specimen": specimen,
        "sensitivity": f"{sens:g}",
        "result": result,
        "clonal_fraction": None if level is None else f"{level:.3g}",
        "adequate": "true",
    }


def _study(name: str, toml: str, histories, rng: random.Random, arm: str) -> None:
    out = HERE / f"{name}_study"
    out.mkdir(exist_ok=True)
    patients, outcomes, mrd, aes = [], [], [], []
    for i in range(N_PATIENTS):
        pid = f"{i + 1:03d}"
        rows, prog = histories[i % len(histories)](pid, rng)
        mrd += rows
        last_contact = min(CUTOFF - rng.randint(0, 60), (prog or CUTOFF) + 60)
        patients.append(
            {
                "patient_id": pid,
                "arm": arm,
                "site": f"S0{1 + i % 3}",
                "cutoff_day": CUTOFF,
                "age": f"{rng.uniform(35, 78):.1f}",
                "sex": rng.choice(["F", "M"]),
            }
        )
        outcomes.append(
            {
                "patient_id": pid,
                "progression_day": prog,
                "progression_method": "clinical" if prog else None,
                "death_day": None,
                "last_contact_day": last_contact,
                "treatment_end_day": None,
            }
        )
        if i % 4 == 0:
            aes.append(
                {
                    "patient_id": pid,
                    "term": "Neutropenia",
                    "decod": "Neutropenia",
                    "body_system": "Blood and lymphatic system disorders",
                    "grade": 3,
                    "serious": "false",
                    "onset_day": 20 + i,
                    "related": "true",
                }
            )
    _write(out / "mrd.csv", MRD_COLS, mrd)
    _write(out / "patients.csv", list(patients[0]), patients)
    _write(out / "outcomes.csv", list(outcomes[0]), outcomes)
    _write(out / "adverse_events.csv", list(aes[0]), aes)
    (out / "study.toml").write_text(toml, encoding="utf-8")


def _j(rng: random.Random, day: int, width: int = 10) -> int:
    return day + rng.randint(-width, width) if day > 0 else day


# ---------------------------------------------------------------- CLL (iwCLL 2018)
# day 0 = end of fixed-duration treatment; PB every 6 months, BM at day 0 and month 12.
CLL_DAYS = (0, 182, 365, 547, 730, 912)


def _cll(pattern: str):
    def make(pid: str, rng: random.Random):
        rows, prog = [], None
        for k, d in enumerate(CLL_DAYS):
            day = _j(rng, d)
            v = f"M{round(d / 30.4375)}"
            if pattern == "sustained":
                res, lvl = "negative", None
            elif pattern == "loss":
                res, lvl = (
                    ("negative", None) if k < 3 else ("positive", 10 ** rng.uniform(-3.5, -2))
                )
            elif pattern == "achieved":
                res, lvl = ("positive", 10 ** rng.uniform(-3, -2)) if k < 2 else ("negative", None)
            elif pattern == "persistent":
                res, lvl = "positive", 10 ** rng.uniform(-3, -1.5)
            else:  # "low": detected below 10^-4 by NGS -> uMRD4 (not uMRD6)
                res, lvl = "positive", 10 ** rng.uniform(-5.5, -4.3)
            method, sens = ("NGS", 1e-6) if pattern == "low" else ("NGF", 1e-5)
            rows.append(_mrd(pid, day, v, method, "peripheral_blood", sens, res, lvl))
            if d in (0, 365):
                # marrow at end of treatment and month 12; the "loss" pattern keeps marrow MRD+
                # at month 12 while blood is still uMRD (compartments reported separately)
                bm_res, bm_lvl = res, lvl
                if pattern == "loss" and d == 365:
                    bm_res, bm_lvl = "positive", 2e-4
                rows.append(_mrd(pid, day, v, method, "bone_marrow", sens, bm_res, bm_lvl))
        if pattern in ("loss", "persistent"):
            prog = 800 + rng.randint(0, 400)
        elif pattern == "achieved" and rng.random() < 0.3:
            prog = 1100 + rng.randint(0, 200)
        return rows, prog

    return make


CLL_TOML = """# CLL example study (synthetic): iwCLL 2018 MRD rules (docs/methods/mrd.md)
[study]
name = "MRDTRACK-EX-CLL"
disease = "cll"
"""

# ---------------------------------------------------------------- AML (ELN 2021)
# day 0 = CR after induction; flow (NGF code = MFC) in marrow at day 0, NPM1 qPCR (ASO-PCR
# code) in blood every 3 months.
AML_DAYS = (0, 91, 182, 274, 365, 456, 547, 639, 730)


def _aml(pattern: str):
    def make(pid: str, rng: random.Random):
        rows, prog = [], None
        flow_lvl = 10 ** rng.uniform(-3.7, -3.1) if pattern != "flow_pos" else 3e-3
        rows.append(
            _mrd(pid, 0, "EOI", "NGF", "bone_marrow", 1e-4, "positive", flow_lvl)
            if flow_lvl
            else None
        )
        for k, d in enumerate(AML_DAYS):
            day = _j(rng, d, 7)
            if pattern == "negative":
                res, lvl = "negative", None
            elif pattern == "conversion":
                res, lvl = ("negative", None) if k < 4 else ("positive", 10 ** (-3 + 0.5 * (k - 4)))
            elif pattern == "blip":  # one positive, not confirmed, then negative again
                res, lvl = ("positive", 2e-4) if k == 3 else ("negative", None)
            elif pattern == "low_level":
                res, lvl = "positive", 10 ** rng.uniform(-3, -2.2)
            elif pattern == "log_rise":
                res, lvl = "positive", (2e-3 if k < 3 else 2e-3 * 10 ** (0.6 * (k - 2)))
            else:  # flow_pos: MFC >= 0.1% at day 0, molecular high
                res, lvl = "positive", 10 ** rng.uniform(-1.7, -1.3)
            if res == "positive" and lvl is not None:
                lvl = min(lvl, 0.9)
            rows.append(
                _mrd(
                    pid,
                    day,
                    f"M{round(d / 30.4375)}",
                    "ASO-PCR",
                    "peripheral_blood",
                    1e-5,
                    res,
                    lvl,
                )
            )
            if pattern in ("conversion", "log_rise") and res == "positive" and lvl and lvl > 0.05:
                prog = day + 30
                break
        if pattern == "flow_pos":
            prog = 300 + rng.randint(0, 200)
        return [r for r in rows if r], prog

    return make


AML_TOML = """# AML example study (synthetic): ELN 2021 MRD rules (docs/methods/mrd.md).
# Method codes: NGF = multiparameter flow (MFC), ASO-PCR = NPM1 mutation-specific qPCR.
[study]
name = "MRDTRACK-EX-AML"
disease = "aml"

[study.disease_options]
relapse_confirmation = "next_sample"
low_level = 0.02
"""

# ---------------------------------------------------------------- ALL (European ALL groups)
# day 0 = start of induction; end of induction day 33, end of consolidation day 78 (this
# example's protocol, as in AIEOP-BFM), then every 3 months.
ALL_DAYS = (33, 78, 170, 260, 350, 440, 530, 620, 710)


def _all(pattern: str):
    def make(pid: str, rng: random.Random):
        rows, prog = [], None
        for k, d in enumerate(ALL_DAYS):
            day = d + (rng.randint(-3, 3) if k < 2 else rng.randint(-10, 10))
            sens = 1e-5
            if pattern == "early":
                res, lvl = "negative", None
            elif pattern == "late":
                res, lvl = (
                    ("positive", 10 ** rng.uniform(-3.5, -2.5)) if k == 0 else ("negative", None)
                )
            elif pattern == "failure":
                res, lvl = "positive", 10 ** rng.uniform(-3.3, -2)
            elif pattern == "intermediate":
                res, lvl = (
                    ("positive", 10 ** rng.uniform(-3, -2.5))
                    if k == 0
                    else (
                        "positive",
                        10 ** rng.uniform(-4.8, -4.2),
                    )
                )
            elif pattern == "insufficient":  # negative, but the assay reached only 10^-3
                res, lvl = ("negative", None)
                sens = 1e-3 if k == 1 else 1e-5
            else:  # reappearance after complete MRD response
                res, lvl = ("negative", None) if k < 4 else ("positive", 10 ** (-4 + 0.5 * (k - 4)))
            rows.append(_mrd(pid, day, f"D{d}", "ASO-PCR", "bone_marrow", sens, res, lvl))
            if lvl and lvl > 1e-2:
                prog = day + 40
                break
        if pattern == "failure" and prog is None:
            prog = 400 + rng.randint(0, 300)
        return rows, prog

    return make


ALL_TOML = """# ALL example study (synthetic): European ALL groups MRD terms (docs/methods/mrd.md)
[study]
name = "MRDTRACK-EX-ALL"
disease = "all"

[study.disease_options]
eoi_day = 33                 # this protocol's end of induction (study day)
eoc_day = 78                 # this protocol's end of consolidation (study day)
timepoint_window_days = 14
"""


def main() -> None:
    _study(
        "cll",
        CLL_TOML,
        [_cll(p) for p in ("sustained", "loss", "achieved", "persistent", "low", "sustained")],
        random.Random(2018),
        "venetoclax-obinutuzumab",
    )
    _study(
        "aml",
        AML_TOML,
        [_aml(p) for p in ("negative", "conversion", "blip", "low_level", "log_rise", "flow_pos")],
        random.Random(2021),
        "intensive chemotherapy",
    )
    _study(
        "all",
        ALL_TOML,
        [
            _all(p)
            for p in ("early", "late", "failure", "intermediate", "insufficient", "reappearance")
        ],
        random.Random(2010),
        "BFM-type protocol",
    )


if __name__ == "__main__":
    main()
