"""Hand-written visits of the labelled set and their labels (written by the labeller).

Each visit is a realistic office/urgent-care/specialty/preventive encounter written as an
``EncounterEvent``; its label is written next to it, with a rationale per code. Running
this file writes ``<topic>.jsonl`` (EncounterEvent lines, input for ``claimflow code``) and
``<topic>.labels.jsonl`` (labels keyed by ``encounter_id``):

    python tests/labels/visits/build.py tests/labels/visits

Names, identifiers and numbers are invented. It imports nothing from ``services``.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

ICD = "http://hl7.org/fhir/sid/icd-10-cm"
SCT = "http://snomed.info/sct"
CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
CVX = "http://hl7.org/fhir/sid/cvx"


def npi(base9: str) -> str:
    digits = "80840" + base9
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return base9 + str((10 - total % 10) % 10)


GROUP = {"npi": npi("145678901"), "name": "Maple Street Family Medicine", "taxonomy": "207Q00000X", "tax_id": "471234567"}
ED_GROUP = {"npi": npi("156789012"), "name": "Riverside Emergency Physicians", "taxonomy": "207P00000X", "tax_id": "472345678"}
HOSPITAL = {"npi": npi("167890123"), "name": "Riverside General Hospital", "taxonomy": "282N00000X", "tax_id": "473456789"}
SNF = {"npi": npi("178901234"), "name": "Oak Hill Skilled Nursing", "taxonomy": "314000000X", "tax_id": "474567890"}
DOCS = {
    "fm": {"npi": npi("112233445"), "name": "Dana Whitfield MD", "taxonomy": "207Q00000X"},
    "peds": {"npi": npi("122334455"), "name": "Omar Reyes MD", "taxonomy": "208000000X"},
    "ortho": {"npi": npi("133445566"), "name": "Priya Natarajan MD", "taxonomy": "207X00000X"},
    "derm": {"npi": npi("144556677"), "name": "Lena Kowalski MD", "taxonomy": "207N00000X"},
    "ed": {"npi": npi("155667788"), "name": "Marcus Boyd MD", "taxonomy": "207P00000X"},
    "hosp": {"npi": npi("166778899"), "name": "Ruth Adeyemi MD", "taxonomy": "208M00000X"},
}
PAYERS = {
    "BCX22": ("BCX22", "Blue Cross Example", "commercial"),
    "AET45": ("AET45", "Aetna Example", "commercial"),
    "MCR01": ("MCR01", "Medicare Part B", "medicare"),
    "MCD17": ("MCD17", "State Medicaid", "medicaid"),
}

VISITS: dict[str, list[tuple[dict, dict]]] = defaultdict(list)
_n = [0]


def visit(topic, *, dos, dob, sex="female", payer="BCX22", pos="11", vtype="office", status="established",
          time=None, mdm=None, dx=(), px=(), note=None, doc="fm", billing=None, label):
    _n[0] += 1
    eid = f"LV-{topic[:4].upper()}-{_n[0]:03d}"
    cov = None
    if payer:
        pid, pname, ptype = PAYERS[payer]
        cov = {"payer_id": pid, "payer_name": pname, "plan_type": ptype, "member_id": f"M{_n[0]:07d}",
               "group_number": "G100", "relationship": "self"}
    enc = {
        "encounter_id": eid, "version": 1, "source_system": "labelled-visits", "occurred_at": f"{dos}T17:00:00Z",
        "patient": {"patient_id": f"P{_n[0]:05d}", "first_name": "Test", "last_name": f"Patient{_n[0]}",
                    "date_of_birth": dob, "sex": sex,
                    "address": {"line1": "12 Elm Road", "city": "Springfield", "state": "MA", "postal_code": "01101"}},
        "coverage": cov, "rendering_provider": DOCS[doc], "billing_provider": billing or GROUP,
        "date_of_service": dos, "place_of_service": pos, "visit_type": vtype, "patient_status": status,
        "total_time_minutes": time, "mdm_level": mdm,
        "diagnoses": [{"system": s, "code": c, "display": d, "is_primary": i == 0} for i, (s, c, d) in enumerate(dx)],
        "procedures": [_px(p) for p in px], "note_text": note,
    }
    lab = dict(label)
    lab["encounter_id"] = eid
    lab["date_of_service"] = dos
    lab["diagnoses"] = [{"code": c, "why": w} for c, w in lab.pop("dx", [])]
    lab["lines"] = [{"code": c, "units": u, "modifiers": list(m), "why": w} for c, u, m, w in lab.pop("lines", [])]
    lab["icd10cm"] = [d["code"] for d in lab["diagnoses"]]
    lab["cpt"] = [ln["code"] + (f"x{ln['units']}" if ln["units"] > 1 else "") for ln in lab["lines"]]
    lab["modifiers"] = [f"{ln['code']}-{m}" for ln in lab["lines"] for m in ln["modifiers"]]
    lab.setdefault("em", None)
    lab.setdefault("review_reason", None)
    lab["self_pay"] = payer is None
    if lab["outcome"] in ("institutional", "pre-ICD-10") or lab["outcome"] == "review" and lab.get("informational"):
        pass
    VISITS[topic].append((enc, lab))
    return eid


def _px(p):
    system, code, display, *rest = p
    units = rest[0] if len(rest) > 0 else 1
    mods = list(rest[1]) if len(rest) > 1 else []
    lat = rest[2] if len(rest) > 2 else None
    return {"system": system, "code": code, "display": display, "units": units, "modifiers": mods, "laterality": lat,
            "charge": None}


def L(outcome, why, **kw):
    return {"outcome": outcome, "rationale": why, **kw}


Z129 = ("Z00.129", "Index: Examination, child, routine, without abnormal findings -> Z00.129 (over 28 days, under 18)")
Z000 = ("Z00.00", "Index: Examination, medical, adult, without abnormal findings -> Z00.00 (age 18 and over)")
Z23 = ("Z23", "Index: Immunization, encounter for -> Z23; I.C.21.c.2: secondary at a preventive visit, first-listed when the visit is for the vaccine only")
ESTAB = "established patient (seen by the practice within 3 years)"


def prev_em(code, age_words, status):
    return (code, 1, [], f"CPT preventive medicine E/M: {age_words}, {status}; no problem-oriented service documented")


# VISITS-BEGIN
# --- preventive: every age band edge (the day before and on the birthday), newborn day edges
T = "preventive"
for dob, before, on, lo, hi, lo_words, hi_words, lo_dx, hi_dx in [
    ("2023-06-15", "2024-06-14", "2024-06-15", "99391", "99392", "age 0 (under 1 year)", "age 1 (1 through 4)", Z129, Z129),
    ("2019-03-10", "2024-03-09", "2024-03-10", "99392", "99393", "age 4 (1 through 4)", "age 5 (5 through 11)", Z129, Z129),
    ("2012-09-01", "2024-08-31", "2024-09-01", "99393", "99394", "age 11 (5 through 11)", "age 12 (12 through 17)", Z129, Z129),
    ("2006-11-20", "2024-11-19", "2024-11-20", "99394", "99395", "age 17 (12 through 17)", "age 18 (18 through 39)", Z129, Z000),
    ("1984-02-05", "2024-02-04", "2024-02-05", "99395", "99396", "age 39 (18 through 39)", "age 40 (40 through 64)", Z000, Z000),
    ("1959-07-30", "2024-07-29", "2024-07-30", "99396", "99397", "age 64 (40 through 64)", "age 65 (65 and older)", Z000, Z000),
]:
    for dos, em, words, dxl in ((before, lo, lo_words, lo_dx), (on, hi, hi_words, hi_dx)):
        visit(T, dos=dos, dob=dob, vtype="preventive", doc="peds" if int(dos[:4]) - int(dob[:4]) < 18 else "fm",
              note="Routine annual preventive examination. Age-appropriate history, exam, anticipatory guidance. No new problems; exam normal.",
              label=L("auto-coded", "routine preventive visit, no problem addressed: age-band preventive E/M and the Z00 code for the age",
                      dx=[dxl], lines=[prev_em(em, words, ESTAB)], em=em))

for dob, dos, em, words, dxl in [
    ("2020-01-10", "2025-01-09", "99382", "age 4 (1 through 4)", Z129),
    ("2020-01-10", "2025-01-10", "99383", "age 5 (5 through 11)", Z129),
    ("1985-04-01", "2025-03-31", "99385", "age 39 (18 through 39)", Z000),
    ("1985-04-01", "2025-04-01", "99386", "age 40 (40 through 64)", Z000),
    ("1958-05-05", "2025-05-05", "99387", "age 67 (65 and older)", Z000),
]:
    visit(T, dos=dos, dob=dob, vtype="preventive", status="new", payer="AET45",
          note="New patient establishing care: comprehensive preventive history and exam, counselling on diet and exercise. Exam normal.",
          label=L("auto-coded", "new patient preventive visit, no problem addressed",
                  dx=[dxl], lines=[prev_em(em, words, "new patient (no professional service from the practice in 3 years)")], em=em))

NB = [("2025-03-01", "2025-03-08", "Z00.110", "7 days old: Index: Examination, newborn, under 8 days old -> Z00.110"),
      ("2025-03-01", "2025-03-09", "Z00.111", "8 days old: Index: Examination, newborn, 8 to 28 days old -> Z00.111"),
      ("2025-02-01", "2025-03-01", "Z00.111", "28 days old: Index: Examination, newborn, 8 to 28 days old -> Z00.111"),
      ("2025-02-01", "2025-03-02", "Z00.129", "29 days old: over 28 days -> Z00.129 (child routine examination)")]
for i, (dob, dos, code, why) in enumerate(NB):
    new = i == 0
    visit(T, dos=dos, dob=dob, sex="male", payer="MCD17", vtype="preventive", status="new" if new else "established", doc="peds",
          note="Newborn weight check and routine newborn examination in the office. Feeding well. Normal exam.",
          label=L("auto-coded", "newborn routine examination in the office (not the hospital newborn codes 99460-99463, which need a hospital or birthing-centre setting)",
                  dx=[(code, why + "; guideline I.C.21.c.13")],
                  lines=[prev_em("99381" if new else "99391", "age under 1 year", "new patient (first visit to the practice)" if new else ESTAB)],
                  em="99381" if new else "99391"))

# preventive plus a significant, separately identifiable problem: modifier 25 on the problem E/M
visit(T, dos="2024-05-14", dob="1979-08-02", sex="male", vtype="preventive", mdm="moderate",
      dx=[(ICD, "I10", "Essential hypertension, newly diagnosed")],
      note="Annual physical. BP 152/96 and 150/94 on repeat; new diagnosis of essential hypertension discussed, lisinopril started, labs ordered. Rest of exam normal.",
      label=L("auto-coded", "preventive visit with an abnormal finding and a separately identifiable problem managed (new hypertension, prescription)",
              dx=[("Z00.01", "Index: Examination, medical, adult, with abnormal findings -> Z00.01; use additional code for the abnormal finding (tabular note)"),
                  ("I10", "documented essential hypertension; Index: Hypertension -> I10")],
              lines=[prev_em("99396", "age 44 (40 through 64)", ESTAB),
                     ("99214", 1, ["25"], "problem-oriented E/M for the new hypertension, moderate MDM (new problem, prescription drug management); modifier 25: significant, separately identifiable E/M on the day of a preventive service (CPT preventive medicine guidelines)")],
              em="99396"))
visit(T, dos="2024-10-08", dob="2016-04-11", sex="female", vtype="preventive", mdm="low", doc="peds",
      dx=[(ICD, "H66.91", "Otitis media, right ear")],
      note="Well child check age 8. Parent reports ear pain 2 days; right TM bulging and erythematous. Acute otitis media right ear, amoxicillin prescribed. Otherwise normal exam.",
      label=L("auto-coded", "well-child visit plus acute otitis media evaluated and treated: separate problem E/M with 25",
              dx=[("Z00.121", "Index: Examination, child, with abnormal findings -> Z00.121; additional code for the finding"),
                  ("H66.91", "documented: otitis media, unspecified, right ear -> H66.91")],
              lines=[prev_em("99393", "age 8 (5 through 11)", ESTAB),
                     ("99213", 1, ["25"], "problem E/M, low MDM (acute uncomplicated illness; 2 of 3 elements); modifier 25 with the preventive service")],
              em="99393"))
visit(T, dos="2024-03-12", dob="1994-02-17", sex="female", payer=None, vtype="preventive", status="new",
      note="Self-pay new patient annual exam; no insurance. Normal exam.",
      label=L("self-pay", "preventive visit, no coverage in the encounter: coded; the claim is self-pay",
              dx=[Z000], lines=[prev_em("99385", "age 30 (18 through 39)", "new patient")], em="99385"))

# --- immunizations: product by CVX, administration by age/counselling/route, COVID-19 product-specific codes
T = "immunizations"
COUNSEL = "Physician counselled the parent/patient face to face on each vaccine's benefits and risks; VIS given."
visit(T, dos="2024-04-02", dob="2020-03-20", sex="male", vtype="preventive", doc="peds",
      px=[(CVX, "20", "DTaP"), (CVX, "10", "IPV"), (CVX, "03", "MMR"), (CVX, "21", "varicella")],
      note="4-year well child check, normal. " + COUNSEL,
      label=L("auto-coded", "well-child visit with four vaccines and documented physician counselling, age 4: 90460/90461 by component",
              dx=[Z129, Z23],
              lines=[prev_em("99392", "age 4 (1 through 4)", ESTAB),
                     ("90700", 1, [], "CVX 20 DTaP, under 7 years -> 90700"), ("90713", 1, [], "CVX 10 IPV -> 90713"),
                     ("90707", 1, [], "CVX 03 MMR -> 90707"), ("90716", 1, [], "CVX 21 varicella -> 90716"),
                     ("90460", 4, [], "first component of each of 4 vaccines, age through 18 with physician counselling (CPT 90460)"),
                     ("90461", 4, [], "additional components: DTaP 2 (diphtheria, tetanus, pertussis) + MMR 2 (measles, mumps, rubella)")],
              em="99392"))
visit(T, dos="2024-10-01", dob="2006-05-01", sex="male", vtype="preventive", doc="fm",
      px=[(CVX, "115", "Tdap"), (CVX, "140", "Influenza, seasonal, injectable, preservative free")],
      note="Annual exam age 18, normal. " + COUNSEL,
      label=L("auto-coded", "age 18 (through 18 years) with counselling: 90460/90461",
              dx=[Z000, Z23],
              lines=[prev_em("99395", "age 18 (18 through 39)", ESTAB),
                     ("90715", 1, [], "CVX 115 Tdap, 7 years and older -> 90715"),
                     ("90656", 1, [], "CVX 140 trivalent preservative-free influenza, 0.5 mL adult dose -> 90656"),
                     ("90460", 2, [], "first component of each vaccine, patient aged 18 (CPT: through 18 years of age), counselling documented"),
                     ("90461", 2, [], "Tdap has 3 components: 2 additional")],
              em="99395"))
visit(T, dos="2024-10-01", dob="2005-05-01", sex="male", vtype="preventive", doc="fm",
      px=[(CVX, "115", "Tdap"), (CVX, "140", "Influenza, seasonal, injectable, preservative free")],
      note="Annual exam age 19, normal. " + COUNSEL,
      label=L("auto-coded", "age 19: counselling codes no longer apply, 90471/90472",
              dx=[Z000, Z23],
              lines=[prev_em("99395", "age 19 (18 through 39)", ESTAB),
                     ("90715", 1, [], "CVX 115 Tdap -> 90715"), ("90656", 1, [], "CVX 140, 0.5 mL -> 90656"),
                     ("90471", 1, [], "first injected vaccine, age over 18 (90460 is through 18 years)"),
                     ("90472", 1, [], "second injected vaccine")],
              em="99395"))
visit(T, dos="2024-06-03", dob="2024-04-02", sex="female", vtype="preventive", doc="peds", payer="MCD17",
      px=[(CVX, "119", "rotavirus, monovalent"), (CVX, "20", "DTaP"), (CVX, "49", "Hib (PRP-OMP)"), (CVX, "10", "IPV"), (CVX, "133", "Pneumococcal conjugate PCV 13")],
      note="2-month well baby visit, normal. " + COUNSEL,
      label=L("auto-coded", "2-month visit, five vaccines with counselling",
              dx=[Z129, Z23],
              lines=[prev_em("99391", "age 2 months (under 1 year)", ESTAB),
                     ("90681", 1, [], "CVX 119 human rotavirus, 2-dose, oral -> 90681"), ("90700", 1, [], "CVX 20 -> 90700"),
                     ("90647", 1, [], "CVX 49 Hib PRP-OMP -> 90647"), ("90713", 1, [], "CVX 10 -> 90713"), ("90670", 1, [], "CVX 133 PCV13 -> 90670"),
                     ("90460", 5, [], "first component of each of 5 vaccines with counselling, any route (90460 is not route-specific)"),
                     ("90461", 2, [], "DTaP: 2 additional components")],
              em="99391"))
visit(T, dos="2023-10-16", dob="2014-01-05", sex="female", vtype="preventive", doc="peds",
      px=[(CVX, "149", "influenza, live, intranasal, quadrivalent")],
      note="9-year well child visit, normal. " + COUNSEL,
      label=L("auto-coded", "intranasal vaccine at age 9 with counselling: 90460 (route does not matter for 90460)",
              dx=[Z129, Z23],
              lines=[prev_em("99393", "age 9 (5 through 11)", ESTAB),
                     ("90672", 1, [], "CVX 149 live attenuated intranasal influenza vaccine (quadrivalent) -> 90672"),
                     ("90460", 1, [], "single-component vaccine with counselling, age through 18")],
              em="99393"))
visit(T, dos="2023-10-10", dob="1998-07-07", vtype="procedure_only",
      px=[(CVX, "149", "influenza, live, intranasal, quadrivalent")], note="Nurse visit for intranasal flu vaccine.",
      label=L("auto-coded", "vaccine-only visit, adult, intranasal: product + 90473, Z23 first-listed; no E/M",
              dx=[Z23], lines=[("90672", 1, [], "CVX 149 -> 90672"), ("90473", 1, [], "one intranasal/oral administration, no injection given")]))
visit(T, dos="2024-09-20", dob="1994-03-03", vtype="procedure_only",
      px=[(CVX, "140", "Influenza, seasonal, injectable, preservative free")], note="Flu shot only.",
      label=L("auto-coded", "vaccine-only visit, adult injection", dx=[Z23],
              lines=[("90656", 1, [], "CVX 140, adult 0.5 mL -> 90656"), ("90471", 1, [], "one injected vaccine, age over 18")]))
visit(T, dos="2024-10-15", dob="1952-02-12", sex="male", payer="MCR01", vtype="procedure_only",
      px=[(CVX, "135", "Influenza, high dose seasonal"), (CVX, "33", "pneumococcal polysaccharide PPV23")],
      note="Medicare patient, vaccines only: high-dose flu and PPSV23.",
      label=L("auto-coded", "Medicare Part B influenza and pneumococcal vaccines: CMS HCPCS administration codes G0008/G0009 replace 90471/90472",
              dx=[Z23],
              lines=[("90662", 1, [], "CVX 135 high-dose influenza vaccine -> 90662"), ("90732", 1, [], "CVX 33 23-valent pneumococcal polysaccharide -> 90732"),
                     ("G0008", 1, [], "CMS: administration of influenza vaccine for Medicare Part B"),
                     ("G0009", 1, [], "CMS: administration of pneumococcal vaccine for Medicare Part B")]))
visit(T, dos="2024-02-14", dob="1968-11-30", vtype="procedure_only", px=[(CVX, "187", "zoster vaccine recombinant")],
      note="Shingrix dose 1.",
      label=L("auto-coded", "adult recombinant zoster vaccine", dx=[Z23],
              lines=[("90750", 1, [], "CVX 187 recombinant zoster vaccine (adjuvanted) -> 90750"), ("90471", 1, [], "one injected vaccine")]))
visit(T, dos="2024-05-20", dob="1990-01-22", sex="male", vtype="procedure_only", px=[(CVX, "43", "Hep B, adult")],
      note="Hepatitis B series dose 2.",
      label=L("auto-coded", "adult hepatitis B vaccine, commercial payer", dx=[Z23],
              lines=[("90746", 1, [], "CVX 43 adult-dose hepatitis B vaccine (3-dose) -> 90746"), ("90471", 1, [], "one injected vaccine")]))
for dos, cvx, disp, prod, adm, why in [
    ("2021-04-15", "208", "SARS-COV-2 (COVID-19) vaccine, mRNA, spike protein, LNP, preservative free, 30 mcg/0.3mL dose", "91300", "0001A", "Pfizer-BioNTech 30 mcg, first dose"),
    ("2021-05-06", "208", "SARS-COV-2 (COVID-19) vaccine, mRNA, spike protein, LNP, preservative free, 30 mcg/0.3mL dose", "91300", "0002A", "Pfizer-BioNTech 30 mcg, second dose"),
    ("2021-03-01", "207", "SARS-COV-2 (COVID-19) vaccine, mRNA, spike protein, LNP, preservative free, 100 mcg/0.5mL dose", "91301", "0011A", "Moderna 100 mcg, first dose"),
    ("2021-04-01", "212", "SARS-COV-2 (COVID-19) vaccine, vector non-replicating, recombinant spike protein-Ad26, preservative free, 0.5 mL", "91303", "0031A", "Janssen, single dose"),
]:
    visit(T, dos=dos, dob="1976-06-06", vtype="procedure_only", px=[(CVX, cvx, disp)], note=f"COVID-19 vaccine clinic: {why}.",
          label=L("auto-coded", "COVID-19 vaccine: product code + product- and dose-specific administration code (no 90471)", dx=[Z23],
                  lines=[(prod, 1, [], f"CVX {cvx} ({why}) -> {prod} (CDC CPT-CVX table)"),
                         (adm, 1, [], f"{why}: product-specific administration code {adm} (CPT, AMA COVID-19 vaccine codes)")]))
visit(T, dos="2021-04-01", dob="1961-09-09", sex="male", mdm="low",
      dx=[(ICD, "I10", "Essential hypertension")], px=[(CVX, "207", "SARS-COV-2 (COVID-19) vaccine, mRNA, 100 mcg/0.5mL dose")],
      note="Hypertension follow-up, stable on amlodipine, refilled. Moderna dose 2 given today.",
      label=L("auto-coded", "problem visit plus COVID-19 vaccine: E/M with 25 (NCCI PTP edit with the vaccine administration code, modifier indicator 1)",
              dx=[("I10", "documented essential hypertension, the reason for the visit, first-listed"), Z23],
              lines=[("99213", 1, ["25"], "low MDM (one stable chronic illness, prescription refill); 25: separately identifiable from the vaccine administration"),
                     ("91301", 1, [], "CVX 207 Moderna 100 mcg -> 91301"), ("0012A", 1, [], "Moderna second dose administration")],
              em="99213"))
visit(T, dos="2024-11-05", dob="1980-12-12", vtype="procedure_only", px=[(CVX, "88", "influenza, unspecified formulation")],
      note="Flu vaccine given; product not recorded.",
      label=L("review", "CVX 88 is 'unspecified formulation': no single product code can be chosen (CDC notes CVX 88 is for historical records only)",
              review_reason="vaccine product ambiguous", dx=[Z23], lines=[("90471", 1, [], "one injected vaccine (if injectable)")],
              candidates={"cpt": ["90656", "90686", "90662", "90653", "90673", "90674", "90756"]}))
visit(T, dos="2024-11-05", dob="1981-12-12", vtype="procedure_only", px=[(CVX, "999", "unknown vaccine")],
      note="Vaccine documented as unknown.",
      label=L("review", "CVX 999 means the vaccine is unknown: nothing to bill until the product is documented",
              review_reason="vaccine product ambiguous", dx=[Z23], candidates={"cpt": []}))

# --- office E/M, 2021 guidelines: level by MDM or by total time on the date, whichever is higher
T = "office"
MDM = {"straightforward": ("99202", "99212"), "low": ("99203", "99213"), "moderate": ("99204", "99214"), "high": ("99205", "99215")}
for status, mdm, dos, dx, note in [
    ("established", "straightforward", "2023-01-10", (ICD, "J06.9", "Acute upper respiratory infection"), "Cold symptoms 3 days, supportive care."),
    ("established", "moderate", "2023-02-14", (ICD, "E11.65", "Type 2 diabetes mellitus with hyperglycemia"), "A1c 9.1, metformin increased, glipizide added."),
    ("established", "high", "2023-03-01", (ICD, "J44.1", "COPD with acute exacerbation"), "Severe exacerbation, hypoxic; decision about hospital admission discussed, patient declined; steroids and antibiotics."),
    ("new", "straightforward", "2023-04-04", (ICD, "B35.3", "Tinea pedis"), "Athlete's foot, over-the-counter antifungal advised."),
    ("new", "moderate", "2023-05-09", (ICD, "E03.9", "Hypothyroidism, unspecified"), "New patient, TSH elevated, levothyroxine started."),
    ("new", "high", "2023-06-13", (ICD, "I20.0", "Unstable angina"), "Crescendo chest pain; sent to ED for admission evaluation."),
]:
    code = MDM[mdm][0 if status == "new" else 1]
    visit(T, dos=dos, dob="1970-03-03", status=status, mdm=mdm, dx=[dx], note=note,
          label=L("auto-coded", f"office visit leveled by documented MDM ({mdm}), {status} patient",
                  dx=[(dx[1], f"documented ICD-10-CM code, valid on the date; {dx[2].lower()}")],
                  lines=[(code, 1, [], f"2021 office E/M guidelines: {mdm} MDM, {status} patient -> {code}")], em=code))
for status, minutes, dos, code, band, dx, why in [
    ("established", 25, "2022-06-01", "99213", "20-29", (SCT, "55822004", "Hyperlipidemia"), ("E78.5", "Index: Hyperlipidemia -> E78.5")),
    ("established", 35, "2022-06-02", "99214", "30-39", (ICD, "F41.1", "Generalized anxiety disorder"), ("F41.1", "documented")),
    ("established", 45, "2023-07-11", "99215", "40-54", (SCT, "35489007", "Depressive disorder"), ("F32.A", "Index: Depression (unspecified) -> F32.A (new in FY2022; before it, F32.9)")),
    ("new", 50, "2023-08-01", "99204", "45-59", (SCT, "59621000", "Essential hypertension"), ("I10", "Index: Hypertension, essential -> I10")),
    ("new", 65, "2023-08-02", "99205", "60-74", (SCT, "44054006", "Diabetes mellitus type 2"), ("E11.9", "Index: Diabetes, type 2 -> E11.9 (no complication documented)")),
    ("new", 20, "2022-09-06", "99202", "15-29", (ICD, "L03.115", "Cellulitis of right lower limb"), ("L03.115", "documented")),
]:
    visit(T, dos=dos, dob="1966-10-10", status=status, time=minutes, dx=[dx],
          note=f"Total practitioner time on the date of the encounter {minutes} minutes, including review of records and documentation.",
          label=L("auto-coded", f"office visit leveled by total time ({minutes} min; no MDM level documented)",
                  dx=[why], lines=[(code, 1, [], f"2021 office E/M guidelines, time on the date: {minutes} min is in the {band} min range -> {code}")], em=code))
visit(T, dos="2022-11-15", dob="1975-05-05", mdm="low", time=42, dx=[(ICD, "M54.50", "Low back pain, unspecified")],
      note="Low back pain follow-up; total time 42 minutes incl. counselling on exercises and care coordination with PT.",
      label=L("auto-coded", "both MDM (low) and time (42 min) documented: the guidelines let the level be chosen by whichever supports more",
              dx=[("M54.50", "documented; valid from FY2022")],
              lines=[("99215", 1, [], "time 42 min is in the 40-54 range for an established patient -> 99215, higher than MDM-based 99213")], em="99215"))
visit(T, dos="2023-05-16", dob="1988-08-08", time=72, dx=[(ICD, "G43.909", "Migraine, unspecified, not intractable, without status migrainosus")],
      note="Complex migraine management; total practitioner time on the date 72 minutes.",
      label=L("auto-coded", "prolonged service: 99215 plus 99417 for each full 15 minutes beyond 54 min (CPT 2021-2023)",
              dx=[("G43.909", "documented")],
              lines=[("99215", 1, [], "established, time 40 min or more"),
                     ("99417", 2, [], "72 min: 15-minute units beyond the 99215 range start at 55 and 70 min -> 2 units (commercial payer; Medicare would use G2212)")],
              em="99215"))
visit(T, dos="2024-01-09", dob="1992-02-02", payer=None, mdm="low", dx=[(ICD, "J01.90", "Acute sinusitis, unspecified")],
      note="Self-pay. Sinus pressure 10 days, amoxicillin-clavulanate prescribed.",
      label=L("self-pay", "coded normally; no coverage: self-pay",
              dx=[("J01.90", "documented")], lines=[("99213", 1, [], "low MDM, established -> 99213")], em="99213"))
visit(T, dos="2024-02-20", dob="1999-09-19", pos="20", status="new", mdm="low", dx=[(ICD, "J02.9", "Acute pharyngitis, unspecified")],
      note="Urgent care: sore throat, rapid strep negative, supportive care.", doc="ed",
      px=[(CPT, "87880", "Rapid strep antigen test")],
      label=L("auto-coded", "urgent care (POS 20) physician service is professional: office/outpatient E/M",
              dx=[("J02.9", "documented")],
              lines=[("99203", 1, [], "new patient, low MDM (acute uncomplicated illness, test ordered)"), ("87880", 1, [], "documented in-office rapid strep test")],
              em="99203"))
visit(T, dos="2023-09-12", dob="1985-01-01", pos="23", status="new", mdm="moderate", doc="ed", billing=ED_GROUP,
      dx=[(ICD, "N23", "Unspecified renal colic")], note="ED visit: flank pain, CT ordered, IV analgesia, discharged with prescription.",
      label=L("auto-coded", "emergency department physician service (POS 23) is professional; ED E/M leveled by MDM (2023 guidelines)",
              dx=[("N23", "documented")], lines=[("99284", 1, [], "ED E/M, moderate MDM -> 99284 (no new/established distinction in ED codes)")], em="99284"))

# --- procedures with modifiers
T = "procedures"
visit(T, dos="2024-04-16", dob="1958-03-03", mdm="low", doc="ortho",
      dx=[(ICD, "M17.11", "Unilateral primary osteoarthritis, right knee"), (ICD, "I10", "Essential hypertension")],
      px=[(CPT, "20610", "Arthrocentesis/injection, major joint, without ultrasound", 1, [], "right"),
          (HCPCS, "J3301", "Triamcinolone acetonide 10 mg", 4)],
      note="Right knee OA injected with triamcinolone 40 mg. Also reviewed BP, adjusted amlodipine (separate problem).",
      label=L("auto-coded", "knee injection plus a separately identifiable problem (hypertension management): E/M with 25; RT for the right knee",
              dx=[("M17.11", "documented, the procedure's diagnosis"), ("I10", "documented, the E/M's diagnosis")],
              lines=[("20610", 1, ["RT"], "documented; RT: right side (paired joint), from the documented laterality"),
                     ("J3301", 4, [], "triamcinolone 40 mg = 4 units of 10 mg"),
                     ("99213", 1, ["25"], "low MDM for the hypertension; 25: significant, separately identifiable E/M on the day of a minor procedure (NCCI policy manual ch. 1)")],
              em="99213"))
visit(T, dos="2024-05-21", dob="1950-06-06", payer="MCR01", vtype="procedure_only", doc="ortho",
      dx=[(ICD, "M17.0", "Bilateral primary osteoarthritis of knee")],
      px=[(CPT, "20610", "Arthrocentesis/injection, major joint", 1, [], "bilateral"), (HCPCS, "J3301", "Triamcinolone acetonide 10 mg", 8)],
      note="Both knees injected, 40 mg each.",
      label=L("auto-coded", "bilateral injection for Medicare: one line with modifier 50 (bilateral surgery indicator 1)",
              dx=[("M17.0", "documented")],
              lines=[("20610", 1, ["50"], "Medicare bills bilateral procedures on one line with 50 and 1 unit"), ("J3301", 8, [], "80 mg total")]))
visit(T, dos="2024-06-11", dob="1972-07-07", vtype="procedure_only", doc="ortho",
      dx=[(ICD, "M65.4", "Radial styloid tenosynovitis [de Quervain]")],
      px=[(CPT, "20550", "Injection, single tendon sheath", 1, [], "left")], note="Left de Quervain tendon sheath injection.",
      label=L("auto-coded", "tendon sheath injection, left side",
              dx=[("M65.4", "documented")], lines=[("20550", 1, ["LT"], "documented; LT from the documented left laterality")]))
visit(T, dos="2024-07-09", dob="1960-01-15", vtype="procedure_only", doc="derm",
      dx=[(ICD, "L57.0", "Actinic keratosis"), (ICD, "D48.5", "Neoplasm of uncertain behavior of skin")],
      px=[(CPT, "17000", "Destruction premalignant lesion, first"), (CPT, "11102", "Tangential biopsy of skin, single lesion", 1, ["XS"])],
      note="Cryotherapy of one actinic keratosis on the forehead; shave biopsy of a separate lesion on the back.",
      label=L("auto-coded", "destruction and biopsy of different lesions at different sites: the documented XS is kept (CMS X{EPSU} modifiers)",
              dx=[("L57.0", "documented"), ("D48.5", "documented")],
              lines=[("17000", 1, [], "documented"), ("11102", 1, ["XS"], "documented with XS: separate structure/site")]))
visit(T, dos="2024-08-13", dob="1995-04-04", pos="20", status="new", mdm="low", doc="ed",
      dx=[(ICD, "S61.412A", "Laceration without foreign body of left hand, initial encounter")],
      px=[(CPT, "12002", "Simple repair superficial wound, 2.6-7.5 cm")], note="Urgent care: 3 cm simple laceration left hand repaired.",
      label=L("auto-coded", "minor procedure with no separately identifiable problem: the decision to repair is part of the procedure, so no E/M (NCCI policy manual ch. 1, global surgery)",
              dx=[("S61.412A", "documented; 7th character A: active treatment")], lines=[("12002", 1, [], "documented simple repair 3 cm")]))
visit(T, dos="2024-09-10", dob="1966-06-16", mdm="low", dx=[(ICD, "H61.21", "Impacted cerumen, right ear"), (ICD, "E78.5", "Hyperlipidemia, unspecified")],
      px=[(CPT, "69210", "Removal impacted cerumen with instrumentation, unilateral", 1, [], "right")],
      note="Right impacted cerumen removed with curette. Lipids reviewed and statin dose changed.",
      label=L("auto-coded", "cerumen removal plus separately identifiable lipid management: 25 on the E/M",
              dx=[("H61.21", "documented"), ("E78.5", "documented")],
              lines=[("69210", 1, ["RT"], "documented, right ear"), ("99213", 1, ["25"], "low MDM for the lipid problem; 25 with the procedure")], em="99213"))

# --- claim types and bad input
T = "claims"
visit(T, dos="2024-03-05", dob="1948-04-04", payer="MCR01", pos="21", doc="hosp", billing=HOSPITAL, vtype="other",
      dx=[(ICD, "J18.9", "Pneumonia, unspecified organism")], note="Inpatient admission for pneumonia; facility charges.",
      label=L("institutional", "inpatient stay billed by a hospital (POS 21, billing provider taxonomy 282N00000X): an 837I institutional claim, which is not supported"))
visit(T, dos="2024-03-20", dob="1940-02-02", payer="MCR01", pos="31", doc="hosp", billing=SNF, vtype="other",
      dx=[(ICD, "Z47.1", "Aftercare following joint replacement surgery")], note="Skilled nursing facility stay; facility billing.",
      label=L("institutional", "skilled nursing facility billing (POS 31, taxonomy 314000000X): institutional claim"))
visit(T, dos="2024-04-09", dob="1977-07-17", mdm="low", dx=[("http://example.org/local-problem-list", "HTN-01", "High blood pressure")],
      note="BP recheck, stable on medication.",
      label=L("review", "the diagnosis comes in a local code system the coder cannot read; a person maps it (likely I10)",
              review_reason="unknown code system", lines=[("99213", 1, [], "low MDM, established")], em="99213",
              candidates={"icd10cm": ["I10"]}))
visit(T, dos="2024-04-10", dob="1971-01-31", mdm="moderate", dx=[(ICD, "250.00", "Diabetes mellitus without complication")],
      note="Diabetes follow-up, insulin adjusted.",
      label=L("review", "'250.00' is an ICD-9-CM code sent as ICD-10-CM: malformed for ICD-10-CM; the ICD-10-CM code must be chosen (type 1 vs 2 unknown)",
              review_reason="malformed code", lines=[("99214", 1, [], "moderate MDM (prescription drug management)")], em="99214",
              candidates={"icd10cm": ["E11.9", "E10.9", "E11.65"]}))
visit(T, dos="2024-04-11", dob="1969-12-01", mdm="low", dx=[(ICD, "E11", "Type 2 diabetes mellitus")],
      note="Diabetes follow-up.",
      label=L("review", "E11 is a category, not a billable code (a code must be reported to its highest number of characters, I.B.2)",
              review_reason="needs specificity", lines=[("99213", 1, [], "low MDM")], em="99213",
              candidates={"icd10cm": ["E11.9", "E11.65", "E11.8"]}))
visit(T, dos="2024-05-02", dob="1983-03-08", vtype="office", status="established",
      dx=[(ICD, "J06.9", "Acute upper respiratory infection, unspecified")], note="Cold symptoms.",
      label=L("review", "office visit with neither MDM level nor total time documented: the E/M level cannot be assigned",
              review_reason="E/M level not documented", dx=[("J06.9", "documented")],
              candidates={"em": ["99212", "99213", "99214", "99215"]}))

# --- code sets by date of service
T = "codesets"
for dos, label in [
    ("2015-09-30", L("pre-ICD-10", "date of service before 2015-10-01: ICD-9-CM applies (45 CFR 162.1002); no ICD-10-CM claim", review_reason="date of service before ICD-10-CM")),
    ("2015-10-01", L("auto-coded", "first day of ICD-10-CM: codable (FY2016)", dx=[("J06.9", "documented; valid in FY2016")],
                     lines=[("99213", 1, [], "low MDM, established")], em="99213")),
]:
    visit(T, dos=dos, dob="1980-10-10", mdm="low", dx=[(ICD, "J06.9", "Acute upper respiratory infection, unspecified")], note="URI.", label=label)
visit(T, dos="2021-09-30", dob="1977-02-02", mdm="low", dx=[(ICD, "M54.5", "Low back pain")], note="Low back pain.",
      label=L("auto-coded", "M54.5 is billable through FY2021 (expanded to M54.50-M54.59 on 2021-10-01)", dx=[("M54.5", "documented, valid in FY2021")],
              lines=[("99213", 1, [], "low MDM")], em="99213"))
visit(T, dos="2021-10-01", dob="1977-02-02", mdm="low", dx=[(ICD, "M54.5", "Low back pain")], note="Low back pain.",
      label=L("review", "M54.5 became a subcategory in FY2022: a 5-character code is required; 'low back pain' NOS -> M54.50 per the index, but the documented code must be corrected by a person",
              review_reason="needs specificity", lines=[("99213", 1, [], "low MDM")], em="99213",
              candidates={"icd10cm": ["M54.50", "M54.59", "M54.51"]}, likely_resolution={"icd10cm": ["M54.50"], "em": "99213", "why": "Index: Pain, low back -> M54.50"}))
visit(T, dos="2020-03-31", dob="1982-08-08", mdm="low", dx=[(ICD, "U07.1", "COVID-19")], note="Confirmed COVID-19, mild, home care.",
      label=L("review", "U07.1 takes effect 2020-04-01; on 2020-03-31 the CDC interim guidance applies (manifestation + B97.29), and no manifestation is documented",
              review_reason="needs specificity", lines=[("99213", 1, [], "low MDM")], em="99213",
              candidates={"icd10cm": [["J98.8", "B97.29"], ["J22", "B97.29"], ["J12.89", "B97.29"], ["J20.8", "B97.29"]]}))
visit(T, dos="2020-04-01", dob="1982-08-08", mdm="low", dx=[(ICD, "U07.1", "COVID-19")], note="Confirmed COVID-19, mild, home care.",
      label=L("auto-coded", "U07.1 is valid from 2020-04-01 (FY2020 April addendum; I.C.1.g.1)", dx=[("U07.1", "documented, effective 2020-04-01")],
              lines=[("99213", 1, [], "low MDM")], em="99213", catalogue_gap="U07.1 is in the April 2020 addendum, which the loaded FY2020 set (October 2019 release) lacks"))
visit(T, dos="2021-09-15", dob="1990-05-05", mdm="low", dx=[(ICD, "F32.A", "Depression, unspecified")], note="Depression follow-up.",
      label=L("review", "F32.A is new in FY2022 (2021-10-01); on 2021-09-15 it does not exist; FY2021 index: Depression -> F32.9",
              review_reason="needs specificity", lines=[("99213", 1, [], "low MDM")], em="99213", candidates={"icd10cm": ["F32.9"]}))
visit(T, dos="2022-03-01", dob="1990-05-05", mdm="straightforward", dx=[(ICD, "R05", "Acute cough")], note="Acute cough 5 days.",
      label=L("review", "R05 is a subcategory from FY2022; the documented acute cough is R05.1, but the documented code must be corrected by a person",
              review_reason="needs specificity", lines=[("99212", 1, [], "straightforward MDM")], em="99212",
              candidates={"icd10cm": ["R05.1", "R05.9"]}, likely_resolution={"icd10cm": ["R05.1"], "em": "99212", "why": "Index: Cough, acute -> R05.1"}))

# --- SNOMED-coded problems the coder must map (inferred diagnoses)
T = "snomed"
for sct, disp, code, why, mdm in [
    ("44054006", "Diabetes mellitus type 2", "E11.9", "Index: Diabetes, type 2 -> E11.9 (no complication documented)", "moderate"),
    ("59621000", "Essential hypertension", "I10", "Index: Hypertension, essential -> I10", "low"),
    ("10509002", "Acute bronchitis", "J20.9", "Index: Bronchitis, acute -> J20.9 (organism not documented)", "low"),
    ("68566005", "Urinary tract infectious disease", "N39.0", "Index: Infection, urinary (tract) -> N39.0", "low"),
    ("195967001", "Asthma", "J45.909", "Index: Asthma -> J45.909 (severity and complication not documented)", "low"),
    ("13645005", "Chronic obstructive lung disease", "J44.9", "Index: Disease, lung, obstructive (chronic) -> J44.9", "moderate"),
    ("49436004", "Atrial fibrillation", "I48.91", "Index: Fibrillation, atrial -> I48.91 (type not documented)", "moderate"),
    ("197480006", "Anxiety disorder", "F41.9", "Index: Disorder, anxiety -> F41.9", "low"),
    ("15777000", "Prediabetes", "R73.03", "Index: Prediabetes -> R73.03", "low"),
    ("370143000", "Major depressive disorder", "F32.9", "Index: Disorder, depressive, major -> F32.9 (single episode, unspecified)", "moderate"),
    ("43878008", "Streptococcal sore throat", "J02.0", "Index: Pharyngitis, streptococcal -> J02.0", "low"),
    ("233604007", "Pneumonia", "J18.9", "Index: Pneumonia -> J18.9 (organism not documented)", "moderate"),
    ("271737000", "Anemia", "D64.9", "Index: Anemia -> D64.9", "low"),
    ("40055000", "Chronic sinusitis", "J32.9", "Index: Sinusitis, chronic -> J32.9", "low"),
]:
    em = MDM[mdm][1]
    visit(T, dos="2024-06-18", dob="1963-03-13", mdm=mdm, dx=[(SCT, sct, disp)], note=f"Follow-up for {disp.lower()}.",
          label=L("auto-coded", "SNOMED problem mapped to ICD-10-CM; office E/M by documented MDM",
                  dx=[(code, f"SNOMED {sct} {disp}; {why}")], lines=[(em, 1, [], f"{mdm} MDM, established -> {em}")], em=em))
for sct, disp, cands, why in [
    ("65363002", "Otitis media", ["H66.91", "H66.92", "H66.93", "H66.90"], "laterality (and acuity/type) not documented: query; H66.90 only if the provider cannot specify"),
    ("444814009", "Viral sinusitis", ["J01.90", "J32.9"], "acute vs chronic not documented: index default for sinusitis NOS is chronic (J32.9), clinically likely acute (J01.90): query"),
    ("44465007", "Sprain of ankle", ["S93.401A", "S93.402A", "S93.409A"], "laterality and ligament not documented; 7th character A for active treatment"),
]:
    visit(T, dos="2024-06-19", dob="1991-09-01", mdm="low", dx=[(SCT, sct, disp)], note=f"{disp}.",
          label=L("review", why, review_reason="needs specificity", lines=[("99213", 1, [], "low MDM, established")], em="99213",
                  candidates={"icd10cm": cands}))

# VISITS-END


def main(argv: list[str]) -> int:
    out = Path(argv[0])
    total = 0
    for topic, rows in VISITS.items():
        (out / f"{topic}.jsonl").write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e, _ in rows))
        (out / f"{topic}.labels.jsonl").write_text("".join(json.dumps(lab, sort_keys=True) + "\n" for _, lab in rows))
        total += len(rows)
        print(topic, len(rows))
    print("total", total)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
