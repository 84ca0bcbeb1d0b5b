"""A small valid study as CSV bytes, and helpers to mutate and read it."""

from __future__ import annotations

BASE = {
    "patients.csv": (
        "patient_id,cutoff_day,age,sex,prior_transplant,cycles_completed\n"
        "001,1000,63,M,yes,20\n"
        "002,1000,70,F,no,12\n"
        "003,900,55,M,no,30\n"
    ),
    "mrd.csv": (
        "patient_id,day,method,specimen,sensitivity,result,clonal_fraction,adequate\n"
        "001,14,NGF,bone_marrow,1e-5,negative,,true\n"
        "001,380,NGF,bone_marrow,1e-5,positive,0.0001,true\n"
        "002,10,NGS,bone_marrow,1e-6,negative,,true\n"
        "003,-5,NGF,bone_marrow,1e-5,positive,0.001,true\n"
    ),
    "outcomes.csv": (
        "patient_id,progression_day,progression_method,death_day,death_cause,last_contact_day,"
        "treatment_end_day,treatment_end_reason\n"
        "001,500,IMWG_laboratory,,,600,500,progressive disease\n"
        "002,,,,,950,,\n"
        "003,700,IMWG_imaging,800,myeloma,800,700,progressive disease\n"
    ),
    "adverse_events.csv": (
        "patient_id,term,grade,serious,onset_day,related\n"
        "001,Fatigue,2,no,30,yes\n"
        "002,Neutrophil count decreased,3,no,60,yes\n"
    ),
}


def base_files() -> dict[str, bytes]:
    return {k: v.encode("utf-8") for k, v in BASE.items()}


def set_line(files: dict[str, bytes], name: str, row: int, text: str) -> dict[str, bytes]:
    """Replace data row ``row`` (1-based; 0 = header) of ``name``."""
    lines = files[name].decode("utf-8").splitlines()
    lines[row] = text
    out = dict(files)
    out[name] = ("\n".join(lines) + "\n").encode("utf-8")
    return out


def add_line(files: dict[str, bytes], name: str, text: str) -> dict[str, bytes]:
    out = dict(files)
    out[name] = files[name] + (text + "\n").encode("utf-8")
    return out
