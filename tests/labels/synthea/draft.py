"""How the Synthea labels in this folder were drafted (provenance, not part of the product).

The labeller (acting as a certified coder) wrote the coding decisions below from the
ICD-10-CM Official Guidelines, the CPT immunization and preventive-medicine guidelines and
CMS rules, without reading the coder's tables or rules. Because the 130 well-child visits
of the shared bundles are the same few facts repeated (age, date, vaccines given, payer),
the decisions are applied by this script to the facts read from each bundle; every label
line it writes carries the rationale of each code. The nine "encounter for symptom" visits
were labelled by hand (``HAND`` below). Re-running it must reproduce the committed files:

    python tests/labels/synthea/draft.py ../shared/data/fhir/synthea-covid-r4 tests/labels/synthea

It reads the bundles only; it imports nothing from ``services``.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from datetime import date
from pathlib import Path

ICD10_START = date(2015, 10, 1)

# CVX -> (CPT product, own-words description, vaccine components for 90460/90461, route)
VACCINES = {
    "03": ("90707", "measles, mumps and rubella live vaccine, subcutaneous", 3, "inj"),
    "08": ("90744", "hepatitis B vaccine, paediatric/adolescent dose, 3-dose schedule, intramuscular", 1, "inj"),
    "10": ("90713", "inactivated poliovirus vaccine", 1, "inj"),
    "20": ("90700", "DTaP for children younger than 7 years, intramuscular", 3, "inj"),
    "21": ("90716", "varicella live vaccine, subcutaneous", 1, "inj"),
    "49": ("90647", "Hib conjugate vaccine, PRP-OMP, 3-dose schedule", 1, "inj"),
    "62": ("90649", "quadrivalent HPV vaccine, 3-dose schedule", 1, "inj"),
    "83": ("90633", "hepatitis A vaccine, paediatric/adolescent dose, 2-dose schedule", 1, "inj"),
    "114": ("90734", "quadrivalent meningococcal conjugate vaccine (MenACWY-D)", 1, "inj"),
    "115": ("90715", "Tdap for age 7 years and older, intramuscular", 3, "inj"),
    "119": ("90681", "human rotavirus vaccine, 2-dose schedule, live, oral", 1, "oral"),
    "133": ("90670", "13-valent pneumococcal conjugate vaccine", 1, "inj"),
}


def age_years(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def flu_140(born: date, dos: date) -> tuple[str, str]:
    months = (dos.year - born.year) * 12 + dos.month - born.month - (dos.day < born.day)
    if months < 36:
        return "90655", (f"CVX 140 is trivalent, preservative-free, injectable influenza vaccine (CDC CPT-CVX table: "
                         f"90655/90656); at {months} months the trivalent preservative-free product is the 0.25 mL "
                         "paediatric dose -> 90655")
    return "90656", ("CVX 140 is trivalent, preservative-free, injectable influenza vaccine (CDC CPT-CVX table: "
                     "90655/90656); from 3 years the dose is 0.5 mL -> 90656")


BANDS = [(1, "1", "under 1 year"), (5, "2", "1 through 4 years"), (12, "3", "5 through 11 years"),
         (18, "4", "12 through 17 years"), (40, "5", "18 through 39 years"), (65, "6", "40 through 64 years"),
         (200, "7", "65 years and older")]


def preventive_em(age: int, new: bool) -> tuple[str, str]:
    for limit, digit, words in BANDS:
        if age < limit:
            code = ("9938" if new else "9939") + digit
            status = ("new patient: first professional service from this practice in the export (the visit is on "
                      "the day of birth, so no earlier service exists)" if new else
                      "established patient: the same practice saw the patient within the previous 3 years (CPT "
                      "new/established definition)")
            return code, (f"CPT preventive medicine E/M by age on the date of service: age {age} is in the band "
                          f"{words}; {status}")
    raise ValueError(age)


def well_child_dx(days: int, age: int) -> tuple[str, str]:
    if days <= 7:
        return "Z00.110", ("Index: Examination, newborn, under 8 days old -> Z00.110; guideline I.C.21.c.13 "
                           "(routine health examination, first-listed)")
    if days <= 28:
        return "Z00.111", "Index: Examination, newborn, 8 to 28 days old -> Z00.111; guideline I.C.21.c.13"
    if age < 18:
        return "Z00.129", ("Index: Examination, child (over 28 days old), routine, without abnormal findings -> "
                           "Z00.129; no condition or abnormal finding is documented at the visit (I.C.21.c.13)")
    return "Z00.00", "Index: Examination, medical, adult, without abnormal findings -> Z00.00"


Z23 = ("Z23", "Index: Encounter for immunization -> Z23; guideline I.C.21.c.2: Z23 is a secondary code when the "
              "vaccine is given as part of a routine preventive visit")


def admin_lines(injections: int, orals: int) -> list[dict]:
    why_none = ("no vaccine counselling by the physician/QHP is documented, so 90460/90461 (which require "
                "face-to-face counselling, through age 18) do not apply; CPT immunization administration guidelines")
    out: list[dict] = []
    if injections:
        out.append(line("90471", 1, f"administration of the first injected vaccine; {why_none}"))
        if injections > 1:
            out.append(line("90472", injections - 1, f"each additional injected vaccine ({injections - 1}); add-on to 90471"))
        if orals:
            out.append(line("90474", orals, "oral rotavirus vaccine given with injections: 90474 (each additional "
                                            "oral/intranasal) with 90471; 90473 is not reported with 90471"))
    elif orals:
        out.append(line("90473", 1, f"single oral vaccine administration; {why_none}"))
    return out


def line(code: str, units: int, why: str, modifiers: list[str] | None = None) -> dict:
    return {"code": code, "units": units, "modifiers": modifiers or [], "why": why}


def tokens(label: dict) -> dict:
    label["icd10cm"] = [d["code"] for d in label["diagnoses"]]
    label["cpt"] = [ln["code"] + (f"x{ln['units']}" if ln["units"] > 1 else "") for ln in label["lines"]]
    label["modifiers"] = [f"{ln['code']}-{m}" for ln in label["lines"] for m in ln["modifiers"]]
    return label


COVID_CONFIRMED = {
    "outcome": "review",
    "review_reason": "needs specificity",
    "rationale": ("COVID-19 is confirmed at this visit, but the date of service is before 2020-04-01, when U07.1 "
                  "took effect; for 2020-02-20..2020-03-31 the CDC interim guidance codes the documented "
                  "respiratory manifestation first with B97.29 (other coronavirus as the cause of diseases "
                  "classified elsewhere). B97.29 may not be first-listed and no manifestation diagnosis (pneumonia, "
                  "bronchitis, lower respiratory infection, respiratory infection NOS) is documented, only "
                  "symptoms, which are integral to the confirmed disease (I.B.5): query the provider. The E/M "
                  "level cannot be assigned either: no medical decision making or practitioner time is documented "
                  "(the encounter period is not an attestation of time), and the patient is new to this organisation."),
    "candidates": {
        "icd10cm": [["J98.8", "B97.29"], ["J22", "B97.29"], ["J12.89", "B97.29"], ["J20.8", "B97.29"]],
        "em": ["99202", "99203", "99204", "99205", "99281", "99282", "99283", "99284", "99285"],
    },
    "likely_resolution": {
        "icd10cm": ["J98.8", "B97.29"], "em": "99203",
        "why": ("assumption for a simulated coder, not a documented fact: if the provider confirms a respiratory "
                "infection NOS due to COVID-19, CDC interim guidance gives J98.8 + B97.29; acute illness with "
                "systemic symptoms, two tests ordered, low risk -> low MDM -> 99203 (new, office/outpatient)"),
    },
}

HAND = {
    # Leta870: suspected COVID-19 only (resolved the same day), cough and fever active
    "a34e257f-41ca-cf9b-5bd1-85d413e67bcf": {
        "outcome": "review",
        "review_reason": "E/M level not documented",
        "rationale": ("Suspected COVID-19 is not coded as confirmed (CDC interim guidance Feb 2020; I.C.1.g.1.b is "
                      "the later equivalent); the presenting signs are coded instead (I.B.4). Diagnoses are "
                      "determinable; the office/outpatient E/M level is not: neither MDM nor practitioner time is "
                      "documented."),
        "diagnoses": [
            {"code": "R05", "why": "Index: Cough -> R05 (FY2020: R05 is a billable code; it was subdivided only in FY2022)"},
            {"code": "R50.9", "why": "Index: Fever (of unknown origin) -> R50.9"},
        ],
        "lines": [],
        "candidates": {"em": ["99202", "99203", "99204", "99205", "99281", "99282", "99283", "99284", "99285"]},
        "likely_resolution": {"icd10cm": ["R05", "R50.9"], "em": "99203",
                              "why": "assumption for a simulated coder: acute uncomplicated illness, tests ordered -> low MDM, new patient"},
    },
}


def label_bundle(path: Path) -> list[dict]:
    b = json.loads(path.read_text())
    res = [e["resource"] for e in b["entry"]]
    pat = next(r for r in res if r["resourceType"] == "Patient")
    born = date.fromisoformat(pat["birthDate"])
    ref = lambda x: (x or {}).get("reference", "").replace("urn:uuid:", "")
    imms: dict[str, list[str]] = defaultdict(list)
    conds: dict[str, list[str]] = defaultdict(list)
    for r in res:
        if r["resourceType"] == "Immunization":
            imms[ref(r["encounter"])].append(r["vaccineCode"]["coding"][0]["code"])
        if r["resourceType"] == "Condition":
            conds[ref(r["encounter"])].append(r["code"]["coding"][0]["code"])
    payer = {}
    for r in res:
        if r["resourceType"] == "Claim":
            for it in r["item"]:
                for e in it.get("encounter", []):
                    payer[ref(e)] = r["insurance"][0]["coverage"].get("display")
    seen_by_org: dict[str, date] = {}
    out = []
    for r in res:
        if r["resourceType"] != "Encounter":
            continue
        dos = date.fromisoformat(r["period"]["start"][:10])
        org = r["serviceProvider"]["display"]
        prior = seen_by_org.get(org)
        seen_by_org[org] = dos
        age, days = age_years(born, dos), (dos - born).days
        kind = r["type"][0]["coding"][0]["code"]
        self_pay = payer.get(r["id"]) == "NO_INSURANCE"
        base = {"bundle": path.name, "encounter": r["id"], "date_of_service": dos.isoformat(),
                "age_on_dos": f"{age}y ({days} days)", "payer": payer.get(r["id"]), "self_pay": self_pay,
                "visit": r["type"][0]["coding"][0]["display"]}
        lab: dict
        if r["id"] in HAND:
            lab = {**base, **HAND[r["id"]]}
            lab.setdefault("diagnoses", [])
            lab.setdefault("lines", [])
        elif kind == "185345009":
            assert "840539006" in conds[r["id"]], r["id"]
            lab = {**base, **COVID_CONFIRMED, "diagnoses": [], "lines": []}
        else:
            assert kind == "410620009" and not conds[r["id"]], r["id"]
            new = prior is None and days == 0
            if prior is None and days != 0 and dos >= ICD10_START:
                raise ValueError(f"{r['id']}: first visit not on the birth date; decide new/established by hand")
            em, em_why = preventive_em(age, new)
            if prior is None and days != 0:
                em_why += (" (status assumed: the export's history starts about 10 years before its creation, so "
                           "earlier visits to this practice may exist; informational only)")
            dx_code, dx_why = well_child_dx(days, age)
            diagnoses = [{"code": dx_code, "why": dx_why}]
            lines = [line(em, 1, em_why + "; no problem-oriented service documented, so no office E/M and no modifier 25")]
            inj = orals = 0
            for cvx in imms[r["id"]]:
                if cvx == "140":
                    code, why = flu_140(born, dos)
                else:
                    code, words, _, route = VACCINES[cvx]
                    why = f"CVX {cvx} -> {code}, {words} (CDC CPT-CVX table)"
                    orals += route == "oral"
                    inj -= route == "oral"
                inj += 1
                lines.append(line(code, 1, why + "; vaccine product reported separately from the preventive E/M "
                                              "(CPT preventive medicine guidelines)"))
            if imms[r["id"]]:
                diagnoses.append({"code": Z23[0], "why": Z23[1]})
                lines += admin_lines(inj, orals)
            lab = {**base, "diagnoses": diagnoses, "lines": lines}
            if dos < ICD10_START:
                lab.update(outcome="pre-ICD-10", review_reason="date of service before ICD-10-CM",
                           rationale=("date of service before 2015-10-01: diagnoses are reported in ICD-9-CM "
                                      "(45 CFR 162.1002); an ICD-10-CM claim cannot be produced. The CPT lines and "
                                      "the ICD-10-CM codes are informational only (what the visit would be coded "
                                      "as on or after 2015-10-01)"))
                lab["informational"] = True
            else:
                lab.update(outcome="self-pay" if self_pay else "auto-coded", review_reason=None,
                           rationale=("routine well-child visit with no documented problem: preventive E/M by age "
                                      "band and status, Z00.1x first, vaccines product + administration, Z23"
                                      + ("; no insurance in the export (self-pay)" if self_pay else "")))
            lab["em"] = em
        tokens(lab)
        if lab.get("informational"):
            lab["icd10cm"], lab["cpt"], lab["modifiers"] = [], [], []
        lab.setdefault("em", None)
        out.append(lab)
    return out


def main(argv: list[str]) -> int:
    src, dst = Path(argv[0]), Path(argv[1])
    for p in sorted(src.glob("*.json")):
        if "Information" in p.name:
            continue
        labels = label_bundle(p)
        if not labels:
            continue
        (dst / (p.stem + ".jsonl")).write_text("".join(json.dumps(x, sort_keys=True) + "\n" for x in labels))
        print(p.name, len(labels))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
