"""Seeded generator of realistic synthetic encounters and adjudications (no real PHI).

Encounters look like a primary-care practice's day: office and telehealth E/M visits,
preventive visits, minor procedures, common chronic and acute conditions, Medicare,
Medicaid and commercial coverage. ``defect_rate`` seeds known claim defects (missing
coverage, bad NPI check digit, missing billing tax id) so tests can predict outcomes."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from claimflow.ids import adjudication_id, claim_id
from claimflow.models import (
    Address,
    Adjudication,
    AdjustmentGroup,
    Adjustment,
    AdministrativeSex,
    Coverage,
    DocumentedDiagnosis,
    DocumentedProcedure,
    EncounterEvent,
    MdmLevel,
    PatientStatus,
    Patient,
    PlanType,
    Provider,
    SubscriberRelationship,
    VisitType,
    utcnow,
)

ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"

FIRST = ["Ava", "Liam", "Maya", "Noah", "Zoe", "Ethan", "Iris", "Omar", "Lena", "Hugo", "Nina", "Raj", "Sofia", "Tariq", "Yuki", "Elena"]
LAST = ["Okafor", "Lindqvist", "Moreau", "Tanaka", "Silva", "Novak", "Haddad", "Brennan", "Kowalski", "Osei", "Ferreira", "Park"]
CITIES = [("Springfield", "IL", "62701"), ("Madison", "WI", "53703"), ("Dayton", "OH", "45402"), ("Boise", "ID", "83702")]
PAYERS = [
    ("MCR01", "Medicare Part B (synthetic)", PlanType.MEDICARE),
    ("MCD17", "State Medicaid (synthetic)", PlanType.MEDICAID),
    ("BCX22", "Blue Example Health", PlanType.COMMERCIAL),
    ("AET45", "Example Mutual Insurance", PlanType.COMMERCIAL),
]
# (ICD-10-CM code, plain-language display)
CONDITIONS = [
    ("I10", "high blood pressure"), ("E11.9", "type 2 diabetes, no complications"), ("E78.5", "high cholesterol"),
    ("J06.9", "upper respiratory infection"), ("M54.50", "low back pain"), ("F41.1", "generalized anxiety"),
    ("J45.909", "asthma, uncomplicated"), ("N39.0", "urinary tract infection"), ("K21.9", "acid reflux"),
    ("E66.9", "obesity"), ("R51.9", "headache"), ("J02.9", "sore throat"), ("L03.115", "cellulitis of right leg"),
    ("Z23", "encounter for immunization"), ("E03.9", "hypothyroidism"), ("G47.00", "insomnia"),
]
EM_NEW = [("99202", 15), ("99203", 30), ("99204", 45), ("99205", 60)]
EM_EST = [("99212", 10), ("99213", 20), ("99214", 30), ("99215", 40)]
FEES = {"99202": "95.00", "99203": "140.00", "99204": "210.00", "99205": "275.00", "99211": "35.00", "99212": "70.00",
        "99213": "110.00", "99214": "160.00", "99215": "220.00", "99396": "230.00", "99397": "250.00", "36415": "12.00",
        "81002": "9.00", "90471": "25.00", "90686": "30.00", "11102": "120.00", "17110": "140.00", "G0439": "180.00",
        "93000": "45.00", "87880": "22.00", "96127": "8.00", "J1885": "6.00",
        "99381": "160.00", "99382": "165.00", "99383": "170.00", "99384": "185.00", "99385": "190.00", "99386": "220.00", "99387": "240.00",
        "99391": "140.00", "99392": "150.00", "99393": "150.00", "99394": "165.00", "99395": "175.00"}
# preventive visit codes by age band (new, established): <1, 1-4, 5-11, 12-17, 18-39, 40-64, 65+
PREVENTIVE_BANDS = [(1, "99381", "99391"), (5, "99382", "99392"), (12, "99383", "99393"), (18, "99384", "99394"),
                    (40, "99385", "99395"), (65, "99386", "99396"), (200, "99387", "99397")]
# a minor procedure and a diagnosis that supports it
PROCEDURE_REASONS = {"11102": ("L98.9", "skin lesion"), "17110": ("B07.9", "viral wart"), "93000": ("R07.9", "chest pain")}
MDM_FOR_EM = {"2": MdmLevel.STRAIGHTFORWARD, "3": MdmLevel.LOW, "4": MdmLevel.MODERATE, "5": MdmLevel.HIGH}
BILLING_NPI = "1234567893"  # valid check digit (CMS example)


def luhn_npi(rng: random.Random) -> str:
    """A random NPI with a valid check digit (Luhn over 80840 + 9 digits)."""
    body = str(rng.randint(1, 2)) + "".join(str(rng.randint(0, 9)) for _ in range(8))
    digits = "80840" + body
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return body + str((10 - total % 10) % 10)


class EncounterGenerator:
    def __init__(self, seed: int = 7, defect_rate: float = 0.0, today: date | None = None):
        self.rng = random.Random(seed)
        self.defect_rate = defect_rate
        self.today = today or date.today()
        self.clinicians = [Provider(npi=luhn_npi(self.rng), name=f"Dr. {self.rng.choice(LAST)}", taxonomy="207Q00000X") for _ in range(6)]
        self.billing = Provider(npi=BILLING_NPI, name="Maple Street Family Practice", taxonomy="261QP2300X", tax_id="123456789")

    def patient(self, i: int) -> Patient:
        r = self.rng
        city, state, zip_ = r.choice(CITIES)
        dob = date(r.randint(1935, 2020), r.randint(1, 12), r.randint(1, 28))
        return Patient(
            patient_id=f"MRN{100000 + i}", first_name=r.choice(FIRST), last_name=r.choice(LAST), date_of_birth=dob,
            sex=r.choice([AdministrativeSex.FEMALE, AdministrativeSex.MALE]),
            address=Address(line1=f"{r.randint(1, 999)} Oak Ave", city=city, state=state, postal_code=zip_),
        )

    def encounter(self, i: int) -> tuple[EncounterEvent, str | None]:
        """Return (encounter, defect) where defect names the seeded problem or None."""
        r = self.rng
        patient = self.patient(i)
        payer_id, payer_name, plan = r.choice(PAYERS)
        dos = self.today - timedelta(days=r.randint(1, 60))
        dob = patient.date_of_birth
        age = dos.year - dob.year - ((dos.month, dos.day) < (dob.month, dob.day))
        if age >= 65:
            payer_id, payer_name, plan = PAYERS[0]
        coverage = Coverage(payer_id=payer_id, payer_name=payer_name, plan_type=plan, member_id=f"M{r.randint(10**8, 10**9 - 1)}",
                            group_number=None if plan != PlanType.COMMERCIAL else f"G{r.randint(1000, 9999)}",
                            relationship=SubscriberRelationship.SELF)
        kind = r.choices(["office", "telehealth", "preventive", "procedure"], weights=[60, 15, 15, 10])[0]
        status = r.choice([PatientStatus.NEW, PatientStatus.ESTABLISHED, PatientStatus.ESTABLISHED, PatientStatus.ESTABLISHED])
        conds = r.sample(CONDITIONS, k=r.randint(1, 4))
        diagnoses = [DocumentedDiagnosis(system=ICD10, code=c, display=d, is_primary=(j == 0)) for j, (c, d) in enumerate(conds)]
        procedures: list[DocumentedProcedure] = []
        total_time = None
        mdm = None
        pos = "11"
        visit = VisitType.OFFICE
        if kind == "preventive":
            visit = VisitType.PREVENTIVE
            band = next(b for b in PREVENTIVE_BANDS if age < b[0])
            code = band[1] if status == PatientStatus.NEW else band[2]
            procedures.append(self._proc(code))
            exam = ("Z00.129", "routine child health exam") if age < 18 else ("Z00.00", "routine adult exam")
            diagnoses.insert(0, DocumentedDiagnosis(system=ICD10, code=exam[0], display=exam[1], is_primary=True))
            diagnoses[1] = diagnoses[1].model_copy(update={"is_primary": False})
        else:
            table = EM_NEW if status == PatientStatus.NEW else EM_EST
            code, minutes = r.choice(table)
            total_time = minutes + r.randint(0, 9)
            mdm = MDM_FOR_EM[code[-1]]
            procedures.append(self._proc(code))
            if kind == "telehealth":
                visit, pos = VisitType.TELEHEALTH, "10"
                procedures[0] = procedures[0].model_copy(update={"modifiers": ["95"]})
            if kind == "procedure":
                minor = r.choice(sorted(PROCEDURE_REASONS))
                procedures.append(self._proc(minor))
                procedures[0] = procedures[0].model_copy(update={"modifiers": ["25"]})
                _add_dx(diagnoses, *PROCEDURE_REASONS[minor])
            if kind == "office" and r.random() < 0.25:  # labs need the patient in the office
                procedures.append(self._proc("36415"))
            if kind == "office" and r.random() < 0.15:
                procedures.append(self._proc("87880"))
                _add_dx(diagnoses, "J02.9", "sore throat")
        diagnoses = diagnoses[:12]
        enc = EncounterEvent(
            encounter_id=f"ENC-{i:07d}", version=1, source_system="synthetic-ehr",
            occurred_at=datetime.combine(dos, datetime.min.time(), tzinfo=timezone.utc) + timedelta(hours=17),
            patient=patient, coverage=coverage, rendering_provider=r.choice(self.clinicians), billing_provider=self.billing,
            date_of_service=dos, place_of_service=pos, visit_type=visit, patient_status=status,
            total_time_minutes=total_time, mdm_level=mdm, diagnoses=diagnoses, procedures=procedures,
            note_text=f"Visit note for {patient.first_name} {patient.last_name}: follow-up as discussed.",
        )
        defect = None
        if r.random() < self.defect_rate:
            defect = r.choice(["missing_coverage", "bad_rendering_npi", "missing_tax_id"])
            if defect == "missing_coverage":
                enc = enc.model_copy(update={"coverage": None})
            elif defect == "bad_rendering_npi":
                npi = enc.rendering_provider.npi
                bad = npi[:9] + str((int(npi[9]) + 1) % 10)
                enc = enc.model_copy(update={"rendering_provider": enc.rendering_provider.model_copy(update={"npi": bad})})
            else:
                enc = enc.model_copy(update={"billing_provider": enc.billing_provider.model_copy(update={"tax_id": None})})
        return enc, defect

    def _proc(self, code: str) -> DocumentedProcedure:
        system = HCPCS if code[0].isalpha() else CPT
        return DocumentedProcedure(system=system, code=code, display=f"service {code}", units=1, charge=Decimal(FEES[code]))


def _add_dx(diagnoses: list[DocumentedDiagnosis], code: str, display: str) -> None:
    if all(d.code != code for d in diagnoses):
        diagnoses.append(DocumentedDiagnosis(system=ICD10, code=code, display=display))


def encounter_charge(enc: EncounterEvent) -> Decimal:
    return sum((p.charge or Decimal("0.00")) * p.units for p in enc.procedures) if enc.procedures else Decimal("0.00")


def adjudication_for(enc: EncounterEvent, rng: random.Random, deny: bool, remit_date: date | None = None, denial_carc: str = "50") -> Adjudication:
    """A plausible primary-payer adjudication for the claim this encounter becomes."""
    cid = claim_id(enc.encounter_id, enc.version)
    charge = sum((p.charge or Decimal("0.00")) for p in enc.procedures)
    payer = enc.coverage.payer_id if enc.coverage else "UNKNOWN"
    pccn = f"PCN{rng.randint(10**9, 10**10 - 1)}"
    remit_date = remit_date or (enc.date_of_service + timedelta(days=21))
    if deny:
        status, paid, pr = "4", Decimal("0.00"), Decimal("0.00")
        adjustments = [Adjustment(group_code=AdjustmentGroup.CONTRACTUAL_OBLIGATION, reason_code=denial_carc, amount=charge)]
        remarks = ["N115"] if denial_carc == "50" else []
    else:
        allowed = (charge * Decimal("0.72")).quantize(Decimal("0.01"))
        copay = Decimal("20.00") if allowed > Decimal("20.00") else Decimal("0.00")
        status, paid, pr = "1", allowed - copay, copay
        adjustments = [Adjustment(group_code=AdjustmentGroup.CONTRACTUAL_OBLIGATION, reason_code="45", amount=charge - allowed)]
        if copay:
            adjustments.append(Adjustment(group_code=AdjustmentGroup.PATIENT_RESPONSIBILITY, reason_code="3", amount=copay))
        remarks = []
    return Adjudication(
        adjudication_id=adjudication_id(payer, cid, pccn, status, remit_date), claim_id=cid, payer_id=payer,
        payer_claim_control_number=pccn, claim_status_code=status, total_charge=charge, paid_amount=paid,
        patient_responsibility=pr, remittance_date=remit_date, trace_number=f"EFT{rng.randint(10**6, 10**7 - 1)}",
        claim_adjustments=adjustments, remark_codes=remarks, service_lines=[],
        received_at=utcnow(), source="synthetic",
    )
