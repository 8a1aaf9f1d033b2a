"""Office/outpatient E/M level selection and preventive visit codes (pure).

Time rule (2024+ CPT, a minimum that must be met): new 15/30/45/60 minutes for
99202/3/4/5, established 10/20/30/40 for 99212/3/4/5; 99211 has no time threshold.
MDM: straightforward/low/moderate/high -> level 2/3/4/5. The level billed is whichever of
time and MDM supports the higher one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from claimflow.models import MdmLevel, PatientStatus

NEW_TIME = ((60, "99205"), (45, "99204"), (30, "99203"), (15, "99202"))
EST_TIME = ((40, "99215"), (30, "99214"), (20, "99213"), (10, "99212"))
MDM_LEVEL = {MdmLevel.STRAIGHTFORWARD: 2, MdmLevel.LOW: 3, MdmLevel.MODERATE: 4, MdmLevel.HIGH: 5}
OFFICE_NEW = {"99202", "99203", "99204", "99205"}
OFFICE_EST = {"99211", "99212", "99213", "99214", "99215"}
OFFICE_EM = OFFICE_NEW | OFFICE_EST
PREVENTIVE_NEW = ("99381", "99382", "99383", "99384", "99385", "99386", "99387")
PREVENTIVE_EST = ("99391", "99392", "99393", "99394", "99395", "99396", "99397")
PREVENTIVE = set(PREVENTIVE_NEW) | set(PREVENTIVE_EST)
# emergency department E/M (CPT 2023): one set for every patient (no new/established),
# levels 2-5 by MDM only (time is not a basis for ED levels); 99281 may be reported
# without the physician's presence, so it is never inferred
ED_EM = {"99281", "99282", "99283", "99284", "99285"}
ED_PLACES = {"23"}  # POS 23: emergency room - hospital
PROBLEM_EM = OFFICE_EM | ED_EM  # problem-oriented E/M codes (modifier 25, all pointers)


@dataclass(frozen=True)
class EmDecision:
    code: str | None  # None: nothing supported
    rule_id: str
    reason: str  # machine-friendly explanation, no PHI
    confidence: float


def level_of(code: str) -> int:
    return int(code[-1])


def time_code(status: PatientStatus, minutes: int | None) -> str | None:
    if minutes is None:
        return None
    table = NEW_TIME if status == PatientStatus.NEW else EST_TIME
    for threshold, code in table:
        if minutes >= threshold:
            return code
    return None


def mdm_code(status: PatientStatus, mdm: MdmLevel | None) -> str | None:
    if mdm is None:
        return None
    prefix = "9920" if status == PatientStatus.NEW else "9921"
    return f"{prefix}{MDM_LEVEL[mdm]}"


def select_office_level(status: PatientStatus, minutes: int | None, mdm: MdmLevel | None) -> EmDecision:
    """The highest office E/M level that documented time or MDM supports."""
    if status not in (PatientStatus.NEW, PatientStatus.ESTABLISHED):
        return EmDecision(None, "EM-STATUS-001", "patient status (new/established) not documented", 0.0)
    by_time = time_code(status, minutes)
    by_mdm = mdm_code(status, mdm)
    if by_time is None and by_mdm is None:
        why = "no total time or MDM documented" if minutes is None and mdm is None else "documented time below the lowest threshold and no MDM"
        return EmDecision(None, "EM-NONE-001", why, 0.0)
    if by_mdm is None or (by_time is not None and level_of(by_time) >= level_of(by_mdm)):
        return EmDecision(by_time, "EM-TIME-001", f"total time {minutes} min meets the {by_time} minimum", 0.97)
    return EmDecision(by_mdm, "EM-MDM-001", f"MDM {mdm.value} supports {by_mdm}", 0.95)


def select_ed_level(mdm: MdmLevel | None, minutes: int | None = None) -> EmDecision:
    """Emergency department E/M level (99282-99285) from documented MDM (rule EM-ED-001)."""
    if mdm is None:
        why = ("ED E/M levels are selected by MDM only; total time is not a basis" if minutes is not None
               else "no MDM documented for the ED E/M")
        return EmDecision(None, "EM-ED-001", why, 0.0)
    code = f"9928{MDM_LEVEL[mdm]}"
    return EmDecision(code, "EM-ED-001", f"ED visit, MDM {mdm.value} supports {code}", 0.95)


def age_on(dob: date, on: date) -> int:
    return on.year - dob.year - ((on.month, on.day) < (dob.month, dob.day))


def preventive_code(status: PatientStatus, dob: date, dos: date) -> EmDecision:
    """Preventive medicine code by age band at the date of service."""
    if status not in (PatientStatus.NEW, PatientStatus.ESTABLISHED):
        return EmDecision(None, "EM-STATUS-001", "patient status (new/established) not documented", 0.0)
    age = age_on(dob, dos)
    if age < 0:
        return EmDecision(None, "EM-PREV-002", "date of birth after date of service", 0.0)
    band = 0 if age < 1 else 1 if age <= 4 else 2 if age <= 11 else 3 if age <= 17 else 4 if age <= 39 else 5 if age <= 64 else 6
    table = PREVENTIVE_NEW if status == PatientStatus.NEW else PREVENTIVE_EST
    return EmDecision(table[band], "EM-PREV-001", f"preventive visit, age band {band + 1} of 7", 0.95)


def prolonged_units(status: PatientStatus, minutes: int | None, medicare: bool) -> tuple[str, int] | None:
    """Prolonged office time on top of a time-selected 99205/99215.

    CPT 99417: each full 15 minutes beyond the level-5 minimum (new 60, established 40).
    Medicare G2212: each full 15 minutes beyond the level-5 maximum of the old time range
    (new 74, established 54), i.e. first unit at 89 / 69 minutes."""
    if minutes is None:
        return None
    if medicare:
        base = 74 if status == PatientStatus.NEW else 54
        code = "G2212"
    else:
        base = 60 if status == PatientStatus.NEW else 40
        code = "99417"
    units = (minutes - base) // 15
    return (code, units) if units >= 1 else None
