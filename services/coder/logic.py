"""Coder domain logic (pure: imports neither Faust nor Kafka).

``Coder.code(enc, now)`` turns an EncounterEvent into exactly one of a CodedEncounter or a
CodingReviewItem. Every code carries its provenance (documented / mapped / inferred /
reviewed), a confidence, the rule id that produced it and the code-set version. Anything
the rules cannot decide safely (header codes, unmapped SNOMED concepts, free text, E/M
levels the documentation does not support, unknown procedure codes, a DOS whose fiscal
year's code set is not loaded) becomes a machine-readable ReviewReason; nothing is guessed.

Rule ids: DX-DOC-001 documented ICD-10-CM, DX-MAP-001 SNOMED map, DX-TXT-001 free text,
DX-INF-001 preventive Z00 inferred, DX-INF-002 Z23 inferred for immunizations, DX-INT-001
symptoms integral to a coded diagnosis left out,
EM-DOC-001 documented E/M supported, EM-TIME-001 / EM-MDM-001 level selected,
EM-PREV-001 preventive code by age band, EM-PROLONGED-001 99417/G2212 prolonged time, EM-STAFF-001 99211, PX-DOC-001 documented
CPT/HCPCS, PX-REV-001 code outside the starter list on a human-corrected version,
PX-MAP-001 SNOMED procedure map, MOD-LAT-001 laterality modifier, MOD-25-001 modifier 25,
MOD-95-001 telehealth modifier, IMM-ADM-001 vaccine administration, IMM-ADM-002 COVID-19
dose-specific administration (dose from the note), EM-ED-001 emergency department E/M by MDM,
EM-GLOBAL-001 no E/M inferred beside a minor procedure without a separate problem,
CLM-TYPE-001 institutional (facility) billing provider."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from claimflow.codes import CPT_RE, HCPCS_RE, ICD10_RE, MODIFIER_RE
from claimflow.models import (
    ChargeSource,
    CodedDiagnosis,
    CodedEncounter,
    CodedServiceLine,
    CodingReviewItem,
    DocumentedDiagnosis,
    DocumentedProcedure,
    EncounterEvent,
    Laterality,
    PatientStatus,
    PlanType,
    ProcedureCodeType,
    Provenance,
    ReviewReason,
    VisitType,
)
from services.coder import em, notes
from services.coder.icd10 import ICD10CMCodeSet, add_dot, strip_dot
from services.coder.reference import CodeSetChoice, CodingReference, ProcedureRow

CODER_VERSION = "coder-0.2.0"
ICD10CM_SYSTEM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED_SYSTEM = "http://snomed.info/sct"
CPT_SYSTEM = "http://www.ama-assn.org/go/cpt"
HCPCS_SYSTEM = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
ICD10_SYSTEMS = {ICD10CM_SYSTEM, "icd-10-cm", "ICD-10-CM", "urn:oid:2.16.840.1.113883.6.90"}
SNOMED_SYSTEMS = {SNOMED_SYSTEM, "snomed", "SNOMED-CT", "urn:oid:2.16.840.1.113883.6.96"}
CPT_SYSTEMS = {CPT_SYSTEM, "cpt", "CPT", "urn:oid:2.16.840.1.113883.6.12"}
HCPCS_SYSTEMS = {HCPCS_SYSTEM, "hcpcs", "HCPCS", "urn:oid:2.16.840.1.113883.6.285"}
CVX_SYSTEM = "http://hl7.org/fhir/sid/cvx"
CVX_SYSTEMS = {CVX_SYSTEM, "cvx", "CVX", "urn:oid:2.16.840.1.113883.12.292"}
CVX_RE = re.compile(r"^[0-9]{1,3}$")
_VOLUME_RE = re.compile(r"\b(0?\.25|0?\.5)\s*m[lL]\b")
AGE_BASED_INFLUENZA_UNTIL = date(2017, 1, 1)  # CPT 2017 revised the influenza codes from ages to dosages
# vaccine products whose administration has a code of its own (no 90460-90474 with them)
PRODUCT_ADMIN = {"91318": "90480", "91319": "90480", "91320": "90480", "91321": "90480", "91322": "90480"}
# CPT influenza and pneumococcal vaccine product codes (Medicare G0008 / G0009 administration)
INFLUENZA_PRODUCTS = {"90630", "90653", "90654", "90655", "90656", "90657", "90658", "90660", "90661", "90662", "90664",
                      "90666", "90667", "90668", "90672", "90673", "90674", "90682", "90685", "90686", "90687", "90688",
                      "90689", "90694", "90756"}
PNEUMOCOCCAL_PRODUCTS = {"90670", "90671", "90677", "90684", "90732"}
MAX_DX = 12
MAX_POINTERS = 4
LATERALITY_MODIFIER = {Laterality.LEFT: "LT", Laterality.RIGHT: "RT", Laterality.BILATERAL: "50"}
PROC_REF_VERSION = "CPT/HCPCS claimflow starter list"
MINOR_CATEGORIES = {"minor_procedure"}
IMMUNIZATION_CATEGORIES = {"immunization_admin", "vaccine"}
PREVENTIVE_CATEGORIES = {"preventive_new", "preventive_est", "preventive_medicare"}
# NUCC taxonomy groupings of facilities that bill on the institutional claim (837I / UB-04):
# hospitals and hospital units (27x, 28x), nursing and custodial care facilities (311Z custodial
# care, 313M nursing facility/ICF, 314 skilled nursing, 315x hospice inpatient / ICF-IID), home
# health and hospice agencies (251E, 251G). A physician group billing a hospital or ED visit has
# its own (20x/21x/...) taxonomy: professional.
FACILITY_TAXONOMY_PREFIXES = ("27", "28", "311Z", "313M", "314", "315", "251E", "251G")
INSTITUTIONAL_REASON = "institutional claim (837I) is not supported yet"
# ICD-10-CM tabular B95-B97 ("bacterial and viral infectious agents"): provided for use as
# supplementary or additional codes to identify the agent of a disease classified elsewhere
ADDITIONAL_ONLY_PREFIXES = ("B95", "B96", "B97")
# status, history, lifestyle and social-circumstance codes: not findings of an examination
STATUS_CODE_PREFIXES = tuple(f"Z{n}" for n in [*range(55, 66), 68, 72, 73, *range(77, 100)])


# Guideline I.B.5: signs and symptoms routinely associated with a disease are not coded in
# addition to it (rule DX-INT-001). For confirmed COVID-19 (U07.1) only its hallmark signs are
# treated as integral: fever, cough and shortness of breath. Other symptoms (loss of taste or
# smell, fatigue, headache, myalgia, ...) are not routinely associated with every case and stay.
INTEGRAL_SYMPTOMS = {
    "U071": ("R509", "R05", "R0600", "R0602"),
}


def drop_integral_symptoms(dx_items: list) -> list:
    """Mapped symptom codes integral to a coded definitive diagnosis are left out (documented
    ICD-10-CM codes are the provider's choice and stay)."""
    codes = {strip_dot(d.code) for d in dx_items}
    integral = tuple(p for dx, prefixes in INTEGRAL_SYMPTOMS.items() if dx in codes for p in prefixes)
    if not integral:
        return dx_items
    return [d for d in dx_items if not (d.provenance == Provenance.MAPPED and strip_dot(d.code).startswith(integral))]


def is_status_code(code: str) -> bool:
    return strip_dot(code).startswith(STATUS_CODE_PREFIXES)


@dataclass(frozen=True)
class CodingResult:
    coded: CodedEncounter | None
    review: CodingReviewItem | None


@dataclass
class _Dx:
    code: str  # dotted
    provenance: Provenance
    confidence: float
    rule_id: str
    version: str
    source_system: str | None
    source_code: str | None
    primary: bool = False
    flagged: bool = False  # a review reason was already raised for it


@dataclass
class _Line:
    code: str
    code_type: ProcedureCodeType
    category: str
    modifiers: list[str]
    units: int
    unit_charge: Decimal | None  # documented charge per unit
    provenance: Provenance
    confidence: float
    rule_id: str
    row: ProcedureRow | None
    subject: str
    pointers: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class _OneComponent:
    route: str = "injection"
    components: int = 1


_ONE = _OneComponent()


@dataclass(frozen=True)
class _NoAdmin:
    admin: tuple[str, ...] = ()


_NO_ADMIN = _NoAdmin()
def _unavailable_code(choice: CodeSetChoice) -> str:
    """DOS_BEFORE_ICD10 for an ICD-9-CM-era date (its own outcome, not a coding failure),
    else DX_CODE_SET_UNAVAILABLE (an ICD-10-CM year that is not loaded)."""
    return "DOS_BEFORE_ICD10" if choice.pre_icd10 else "DX_CODE_SET_UNAVAILABLE"


def _reason(code: str, message: str, subject: str | None = None, candidates: list[str] | None = None) -> ReviewReason:
    return ReviewReason(code=code, message=message, subject=subject, candidates=list(candidates or [])[:25])


class Coder:
    def __init__(self, ref: CodingReference, confidence_threshold: float = 0.9):
        self.ref = ref
        self.threshold = confidence_threshold

    # --- diagnoses ----------------------------------------------------------------------

    def _candidates(self, text: str, cs: ICD10CMCodeSet, limit: int = 5) -> list[str]:
        if not text.strip():
            return []
        return [h.code for h in self.ref.index.search(text, limit=limit, allowed=cs.is_billable)]

    def _validate_icd(self, code: str, choice: CodeSetChoice, subject: str, display: str,
                      reasons: list[ReviewReason]) -> bool:
        cs = choice.code_set
        assert cs is not None
        if not cs.exists(code):
            other = [fy for fy, s in sorted(self.ref.code_sets.items()) if s.exists(code)]
            if other:
                reasons.append(_reason("DX_INVALID_FOR_DOS_YEAR",
                                       f"{add_dot(code)} is not in ICD-10-CM FY{choice.fiscal_year} (exists in FY{', FY'.join(map(str, other))})",
                                       subject, self._candidates(display or cs.description(code) or "", cs)
                                       or self._candidates(self.ref.code_sets[other[-1]].description(code) or "", cs)))
            else:
                reasons.append(_reason("DX_UNKNOWN_CODE", f"{add_dot(code)} is not an ICD-10-CM code", subject,
                                       self._candidates(display, cs)))
            return False
        if not cs.is_billable(code):
            kids = cs.billable_descendants(code, limit=25)
            reasons.append(_reason("DX_HEADER_CODE",
                                   f"{add_dot(code)} is a header (non-billable) code in FY{choice.fiscal_year}: pick a billable child",
                                   subject, kids))
            return False
        return True

    def _diagnosis(self, i: int, dx: DocumentedDiagnosis, choice: CodeSetChoice, version: int,
                   reasons: list[ReviewReason]) -> _Dx | None:
        subject = f"diagnosis[{i}]"
        cs = choice.code_set
        system = (dx.system or "").strip()
        code = (dx.code or "").strip()
        if cs is None:
            reasons.append(_reason(_unavailable_code(choice), choice.problem or "code set unavailable", subject))
            return None
        is_icd = system in ICD10_SYSTEMS or (not system and code and ICD10_RE.match(code.upper()))
        if code and is_icd:
            if not ICD10_RE.match(code.upper()):
                reasons.append(_reason("DX_INVALID_FORMAT", "not an ICD-10-CM code format", subject,
                                       self._candidates(dx.display, cs)))
                return None
            if not self._validate_icd(code, choice, subject, dx.display, reasons):
                return None
            prov = Provenance.REVIEWED if version > 1 else Provenance.DOCUMENTED
            conf = 1.0 if system else 0.95
            return _Dx(add_dot(code), prov, conf, "DX-DOC-001", choice.version, dx.system, dx.code, dx.is_primary)
        if code and system in SNOMED_SYSTEMS:
            if not code.isdigit() or not 6 <= len(code) <= 18:
                reasons.append(_reason("DX_INVALID_FORMAT", f"SNOMED CT code {code[:20]!r} is malformed (6-18 digits expected)",
                                       subject, self._candidates(dx.display, cs)))
                return None
            row = self.ref.snomed_dx.get(code)
            if row is None:
                reasons.append(_reason("DX_UNMAPPED_SNOMED", f"SNOMED CT {code} is not in the curated map",
                                       subject, self._candidates(dx.display, cs)))
                return None
            if row.status == "ignore":
                return None
            if row.status != "map" or not row.targets:
                listed = [add_dot(t) for t in row.targets if cs.is_billable(t)]
                reasons.append(_reason("DX_SNOMED_NEEDS_SPECIFICITY", f"SNOMED CT {code}: {row.note}", subject,
                                       listed or self._candidates(dx.display or row.description, cs)))
                return None
            target = row.target_for(cs) or row.targets[0]
            if not self._validate_icd(target, choice, subject, row.description, reasons):
                return None
            return _Dx(add_dot(target), Provenance.MAPPED, row.confidence, "DX-MAP-001",
                       f"{choice.version}; map {self.ref.versions.get('snomed_icd10cm', '')}", dx.system, dx.code, dx.is_primary)
        if code:
            named = system[:80] if system else "none given"
            reasons.append(_reason("DX_UNSUPPORTED_SYSTEM", f"diagnosis code system {named!r} is neither ICD-10-CM nor SNOMED CT",
                                   subject, self._candidates(dx.display, cs)))
            return None
        # free text
        hits = self.ref.index.search(dx.display, limit=5, allowed=cs.is_billable)
        if not hits:
            reasons.append(_reason("DX_FREE_TEXT_NO_MATCH", "free-text diagnosis matched no ICD-10-CM description", subject))
            return None
        top = hits[0]
        item = _Dx(top.code, Provenance.INFERRED, top.confidence, "DX-TXT-001", choice.version, None, None, dx.is_primary)
        if top.confidence < self.threshold:
            reasons.append(_reason("DX_LOW_CONFIDENCE", f"free-text diagnosis: best lexical match {top.code} has confidence {top.confidence:.2f}",
                                   subject, [h.code for h in hits]))
            item.flagged = True
        return item

    # --- procedures ---------------------------------------------------------------------

    def _procedure(self, i: int, px: DocumentedProcedure, version: int, reasons: list[ReviewReason]) -> _Line | None:
        subject = f"procedure[{i}]"
        system = (px.system or "").strip()
        code = (px.code or "").strip().upper()
        bad_mods = [m for m in px.modifiers if not MODIFIER_RE.match(m)]
        if bad_mods:
            reasons.append(_reason("PROC_INVALID_MODIFIER", "modifier is not two letters/digits", subject))
        if code and system in SNOMED_SYSTEMS:
            row = self.ref.snomed_px.get(code)
            if row is None:
                reasons.append(_reason("PROC_UNMAPPED_SNOMED", f"SNOMED CT procedure {code} is not in the curated map", subject))
                return None
            if row.status in ("ignore", "visit", "admin", "counsel"):
                # visit: the visit-type concept confirms the E/M the coder selects; admin /
                # counsel: evidence the immunization rules read (see _immunizations)
                return None
            if row.status != "map" or row.code not in self.ref.procedures:
                reasons.append(_reason("PROC_SNOMED_NEEDS_SPECIFICITY", f"SNOMED CT {code}: {row.note}", subject))
                return None
            ref_row = self.ref.procedures[row.code]
            return _Line(row.code, ProcedureCodeType(ref_row.code_type), ref_row.category, list(px.modifiers), px.units,
                         px.charge, Provenance.MAPPED, row.confidence, "PX-MAP-001", ref_row, subject)
        if not code:
            reasons.append(_reason("PROC_NOT_CODED", "procedure documented as text only", subject))
            return None
        is_cpt = system in CPT_SYSTEMS or (not system and CPT_RE.match(code))
        is_hcpcs = system in HCPCS_SYSTEMS or (not system and HCPCS_RE.match(code))
        if not (is_cpt or is_hcpcs):
            named = system[:80] if system else "none given"
            reasons.append(_reason("PROC_UNSUPPORTED_SYSTEM", f"procedure code system {named!r} is not CPT, HCPCS, SNOMED CT or CVX", subject))
            return None
        if is_cpt and not CPT_RE.match(code) and not HCPCS_RE.match(code):
            reasons.append(_reason("PROC_INVALID_FORMAT", "not a CPT code format (4 digits + digit/F/T/U)", subject))
            return None
        if is_hcpcs and not HCPCS_RE.match(code) and not CPT_RE.match(code):
            reasons.append(_reason("PROC_INVALID_FORMAT", "not a HCPCS Level II format (letter + 4 digits)", subject))
            return None
        code_type = ProcedureCodeType.HCPCS if HCPCS_RE.match(code) else ProcedureCodeType.CPT
        ref_row = self.ref.procedures.get(code)
        if ref_row is not None:
            conf = 1.0 if system else 0.95
            prov = Provenance.REVIEWED if version > 1 else Provenance.DOCUMENTED
            return _Line(code, code_type, ref_row.category, list(px.modifiers), px.units, px.charge, prov, conf,
                         "PX-DOC-001", ref_row, subject)
        if code_type == ProcedureCodeType.CPT and version > 1 and system:
            # a human coder re-sent this encounter with an explicit CPT outside the starter list
            return _Line(code, code_type, "other", list(px.modifiers), px.units, px.charge, Provenance.REVIEWED, 0.95,
                         "PX-REV-001", None, subject)
        reasons.append(_reason("PROC_UNKNOWN_CODE", f"{code_type.value.upper()} {code} is not in the reference list", subject))
        return None

    # --- immunizations -----------------------------------------------------------------

    def _vaccine(self, i: int, px: DocumentedProcedure, enc: EncounterEvent, reasons: list[ReviewReason]) -> _Line | None:
        """A CVX-coded vaccine -> the product CPT (CDC CPT-CVX facts in data/cvx_cpt.csv).
        The CDC table maps CPT to CVX; where several CPT codes share one CVX the product is
        chosen only by a stated rule (age), otherwise the candidates go to review."""
        subject = f"procedure[{i}]"
        code = (px.code or "").strip()
        if not CVX_RE.match(code):
            reasons.append(_reason("PROC_INVALID_FORMAT", f"CVX code {code[:20]!r} is malformed (1-3 digits expected)", subject))
            return None
        row = self.ref.cvx.get(code.lstrip("0") or "0")
        if row is None:
            words = {w for w in (px.display or "").lower().replace(",", " ").split() if len(w) > 2}
            cands = [r.product_cpt or c for r in self.ref.cvx.values() for c in ([r.product_cpt] if r.product_cpt else r.candidates)
                     if words & set(r.description.lower().split())]
            reasons.append(_reason("IMM_NO_PRODUCT_MATCH", f"CVX {code} has no vaccine product mapping", subject,
                                   list(dict.fromkeys(cands))))
            return None
        picked = self._product_for(row, px, enc)
        if picked is None:
            reasons.append(_reason("IMM_PRODUCT_AMBIGUOUS", f"CVX {code} ({row.description}) matches several products: {row.rationale}",
                                   subject, list(row.candidates)))
            return None
        product, conf, rule = picked
        ref_row = self.ref.procedures.get(product)
        if ref_row is None:
            reasons.append(_reason("PROC_UNKNOWN_CODE", f"vaccine product {product} for CVX {code} is not in the reference list", subject))
            return None
        return _Line(product, ProcedureCodeType.CPT, ref_row.category, [], px.units, px.charge, Provenance.MAPPED, conf, rule,
                     ref_row, subject)

    def _product_for(self, row, px: DocumentedProcedure, enc: EncounterEvent) -> tuple[str, float, str] | None:
        """(product CPT, confidence, rule) for a CVX row, or None when the facts do not decide.

        IMM-CVX-001 the CDC table names one product; IMM-CVX-002 the row's age rule (e.g. from
        age 3 only the 0.5 mL influenza dose); IMM-CVX-003 the dose volume stated on the
        vaccine or in the note ("0.25 mL" / "0.5 mL") picks the candidate of that dosage;
        IMM-CVX-004 before 2017-01-01 the influenza candidates were told apart by age (CPT's
        descriptors named 6-35 months and 3 years and older until they were revised to
        dosages for 2017), so under 3 years the other candidate of an age rule applies."""
        if row.product_cpt:
            return row.product_cpt, 0.95, "IMM-CVX-001"
        age = em.age_on(enc.patient.date_of_birth, enc.date_of_service)
        if row.age_rule is not None and age >= row.age_rule[1]:
            return row.age_rule[0], 0.93, "IMM-CVX-002"
        text = f"{px.display or ''} {enc.note_text or ''}"
        volumes = set(_VOLUME_RE.findall(text))
        if len(volumes) == 1:
            vol = volumes.pop().replace(" ", "").lower()
            match = [c for c in row.candidates if c in self.ref.procedures
                     and vol in self.ref.procedures[c].description.replace(" ", "").lower()]
            if len(match) == 1:
                return match[0], 0.93, "IMM-CVX-003"
        if (row.age_rule is not None and len(row.candidates) == 2 and enc.date_of_service < AGE_BASED_INFLUENZA_UNTIL
                and age < row.age_rule[1]):
            other = [c for c in row.candidates if c != row.age_rule[0]]
            if len(other) == 1:
                return other[0], 0.93, "IMM-CVX-004"
        return None

    def _immunizations(self, enc: EncounterEvent, lines: list[_Line], reasons: list[ReviewReason]) -> None:
        """Administration codes for the vaccines on the encounter (rule IMM-ADM-001):
        through age 18 with documented face-to-face counselling 90460 per vaccine and 90461
        per further component; otherwise 90471 (+90472 each) for injections, 90473 (+90474)
        by mouth or nose (90474 when an injection took 90471). COVID-19 products with their
        own administration codes take those instead; Medicare takes G0008 / G0009 for
        influenza / pneumococcal vaccines. Documented administration codes are kept."""
        vaccines = [ln for ln in lines if ln.category == "vaccine"]
        # a vaccine whose product is under review was still given: it counts for administration
        pending = []
        for px in enc.procedures:
            if (px.system or "").strip() in CVX_SYSTEMS and CVX_RE.match((px.code or "").strip()):
                row = self.ref.cvx.get((px.code or "").strip().lstrip("0") or "0")
                if row is not None and not row.admin and self._product_for(row, px, enc) is None:
                    pending.append(row)
        documented_admin = [ln for ln in lines if ln.category == "immunization_admin"]
        admin_concepts = [i for i, px in enumerate(enc.procedures) if self._px_status(px) == "admin"]
        if not vaccines and not pending:
            for i in admin_concepts:
                if not documented_admin:
                    reasons.append(_reason("IMM_NO_PRODUCT_MATCH", "vaccine administration documented without the vaccine given",
                                           f"procedure[{i}]"))
            return
        if documented_admin:
            return
        # counselling by the physician/QHP: a SNOMED counselling concept, or the note says so
        counsel = (any(self._px_status(px) == "counsel" for px in enc.procedures)
                   or notes.counselling_documented(enc.note_text))
        age = em.age_on(enc.patient.date_of_birth, enc.date_of_service)
        medicare = enc.coverage is not None and enc.coverage.plan_type == PlanType.MEDICARE
        generic: list[_Line] = []
        added: list[_Line] = []

        def add(code: str, units: int, conf: float = 0.95) -> None:
            row = self.ref.procedures[code]
            added.append(_Line(code, ProcedureCodeType(row.code_type), row.category, [], units, None, Provenance.INFERRED,
                               conf, "IMM-ADM-001", row, "immunization"))

        dose_specific = [v for v in vaccines if (self._cvx_of_line(enc, v) or _NO_ADMIN).admin]
        dose = notes.vaccine_dose(enc.note_text) if len(dose_specific) == 1 else None
        for v in vaccines:
            cvx_row = self._cvx_of_line(enc, v)
            if v.code in PRODUCT_ADMIN:
                add(PRODUCT_ADMIN[v.code], v.units)
            elif cvx_row is not None and cvx_row.admin:
                # IMM-ADM-002: a product- and dose-specific administration code, only from a
                # documented dose number of the one such vaccine given
                code = cvx_row.admin_for(dose)
                if code is not None and code in self.ref.procedures:
                    add(code, 1, 0.93)
                    added[-1].rule_id = "IMM-ADM-002"
                else:
                    why = ("the dose number is not documented" if dose is None and len(dose_specific) == 1
                           else "several dose-specific vaccines on one visit" if len(dose_specific) > 1
                           else f"no administration code for dose {dose}")
                    reasons.append(_reason("IMM_ADMIN_AMBIGUOUS", f"{v.code}: the COVID-19 administration code depends on the dose: {why}",
                                           v.subject, list(cvx_row.admin)))
            elif medicare and v.code in INFLUENZA_PRODUCTS:
                add("G0008", 1)
            elif medicare and v.code in PNEUMOCOCCAL_PRODUCTS:
                add("G0009", 1)
            else:
                generic.append(v)
        given = [self._cvx_for_product(v.code) or _ONE for v in generic] + pending  # (route, components) per vaccine
        if given:
            if age <= 18 and counsel:
                comps = sum(max(g.components, 1) for g in given)
                add("90460", len(given), 0.93)
                if comps > len(given):
                    add("90461", comps - len(given), 0.93)
            else:
                inj = [g for g in given if g.route == "injection"]
                other = [g for g in given if g.route != "injection"]
                if inj:
                    add("90471", 1)
                    if len(inj) > 1:
                        add("90472", len(inj) - 1)
                    if other:
                        add("90474", len(other))
                else:
                    add("90473", 1)
                    if len(other) > 1:
                        add("90474", len(other) - 1)
        lines.extend(added)

    def _px_status(self, px: DocumentedProcedure) -> str | None:
        if (px.system or "").strip() in SNOMED_SYSTEMS:
            row = self.ref.snomed_px.get((px.code or "").strip())
            return row.status if row else None
        return None

    def _cvx_of_line(self, enc: EncounterEvent, ln: _Line):
        """The CVX row of a vaccine line mapped from CVX, else the row naming its product CPT."""
        if ln.subject.startswith("procedure["):
            px = enc.procedures[int(ln.subject[10:-1])]
            if (px.system or "").strip() in CVX_SYSTEMS:
                row = self.ref.cvx.get((px.code or "").strip().lstrip("0") or "0")
                if row is not None:
                    return row
        return self._cvx_for_product(ln.code)

    def _cvx_for_product(self, cpt: str):
        for r in self.ref.cvx.values():
            if r.product_cpt == cpt or cpt in r.candidates:
                return r
        return None

    # --- the whole encounter ------------------------------------------------------------

    @staticmethod
    def institutional(enc: EncounterEvent) -> bool:
        """CLM-TYPE-001: the billing provider is a facility (NUCC taxonomy grouping, see
        FACILITY_TAXONOMY_PREFIXES): its claim is institutional (837I), not coded here."""
        taxonomy = ((enc.billing_provider.taxonomy if enc.billing_provider else None) or "").strip().upper()
        return bool(taxonomy) and taxonomy.startswith(FACILITY_TAXONOMY_PREFIXES)

    def code(self, enc: EncounterEvent, now: datetime) -> CodingResult:
        reasons: list[ReviewReason] = []
        if self.institutional(enc):
            reasons.append(_reason("INSTITUTIONAL_CLAIM", f"{INSTITUTIONAL_REASON}: the billing provider's taxonomy is a facility's",
                                   "billing_provider"))
            return CodingResult(None, CodingReviewItem(
                encounter_id=enc.encounter_id, encounter_version=enc.version, routed_at=now, reasons=reasons,
                confidence=0.0, proposed_diagnoses=[], proposed_service_lines=[], coder_version=CODER_VERSION))
        choice = self.ref.code_set_for(enc.date_of_service)
        dx_items: list[_Dx] = []
        for i, dx in enumerate(enc.diagnoses):
            item = self._diagnosis(i, dx, choice, enc.version, reasons)
            if item is not None:
                dx_items.append(item)
        lines: list[_Line] = []
        for i, px in enumerate(enc.procedures):
            if (px.system or "").strip() in CVX_SYSTEMS:
                line = self._vaccine(i, px, enc, reasons)
            else:
                line = self._procedure(i, px, enc.version, reasons)
            if line is not None:
                lines.append(line)

        self._immunizations(enc, lines, reasons)
        self._em(enc, lines, reasons)
        self._infer_dx(enc, choice, dx_items, lines, reasons)
        dx_items = drop_integral_symptoms(dx_items)
        dx_items = self._sequence(enc, dx_items, lines)
        self._modifiers(enc, lines, dx_items, reasons)
        self._pointers(dx_items, lines, reasons)

        if choice.code_set is None:
            if not any(r.code == _unavailable_code(choice) for r in reasons):
                # never "no reportable diagnosis": the year's code set is what is missing
                reasons.append(_reason(_unavailable_code(choice), choice.problem or "code set unavailable", "date_of_service"))
        elif not dx_items and not any(r.subject and r.subject.startswith("diagnosis") for r in reasons):
            reasons.append(_reason("MISSING_DOCUMENTATION", "no reportable diagnosis documented"))
        elif dx_items and all(strip_dot(d.code).startswith(ADDITIONAL_ONLY_PREFIXES) for d in dx_items):
            reasons.append(_reason("DX_SEQUENCING", f"{dx_items[0].code} is an additional code only (ICD-10-CM B95-B97): "
                                   "the condition or symptom it causes must be documented and listed first", "diagnosis",
                                   [d.code for d in dx_items]))
        if not lines and not any(r.code.startswith(("EM_", "PROC_", "IMM_")) or r.subject == "visit" for r in reasons):
            reasons.append(_reason("MISSING_DOCUMENTATION", "no billable service documented"))

        coded_dx = [
            CodedDiagnosis(sequence=n, code=d.code, provenance=d.provenance, confidence=d.confidence, rule_id=d.rule_id,
                           code_set_version=d.version, source_system=d.source_system, source_code=d.source_code)
            for n, d in enumerate(dx_items, start=1)
        ]
        coded_lines: list[CodedServiceLine] = []
        for n, ln in enumerate(lines, start=1):
            if ln.unit_charge is not None:
                charge, source = ln.unit_charge * ln.units, ChargeSource.DOCUMENTED
            else:
                fee = self.ref.fee(ln.code, ln.modifiers)
                if fee is None:
                    reasons.append(_reason("CHARGE_MISSING", f"no documented charge and no fee schedule row for {ln.code}", ln.subject))
                    fee = Decimal("0.00")
                charge, source = fee * ln.units, ChargeSource.FEE_SCHEDULE
            coded_lines.append(CodedServiceLine(
                line_number=n, code=ln.code, code_type=ln.code_type, modifiers=ln.modifiers[:4], units=ln.units,
                charge=charge.quantize(Decimal("0.01")), charge_source=source,
                diagnosis_pointers=ln.pointers[:MAX_POINTERS], provenance=ln.provenance, confidence=ln.confidence,
                rule_id=ln.rule_id,
                code_set_version=f"{PROC_REF_VERSION} {self.ref.versions.get('procedures', '')}".strip(),
            ))
        confidences = [d.confidence for d in coded_dx] + [ln.confidence for ln in coded_lines]
        confidence = min(confidences) if confidences else 0.0
        for d, src in zip(coded_dx, dx_items):
            if d.confidence < self.threshold and not src.flagged:
                code = "DX_LOW_CONFIDENCE"
                reasons.append(_reason(code, f"{d.code} by {d.rule_id} has confidence {d.confidence:.2f} < {self.threshold:.2f}",
                                       f"diagnosis_code[{d.sequence}]", [d.code]))
        for ln in coded_lines:
            if ln.confidence < self.threshold:
                code = "EM_LOW_CONFIDENCE" if ln.code in em.PROBLEM_EM else "PROC_LOW_CONFIDENCE"
                reasons.append(_reason(code, f"{ln.code} by {ln.rule_id} has confidence {ln.confidence:.2f} < {self.threshold:.2f}",
                                       f"line[{ln.line_number}]", [ln.code]))
        if reasons:
            return CodingResult(None, CodingReviewItem(
                encounter_id=enc.encounter_id, encounter_version=enc.version, routed_at=now, reasons=reasons,
                confidence=round(confidence, 4), proposed_diagnoses=coded_dx, proposed_service_lines=coded_lines,
                coder_version=CODER_VERSION,
            ))
        return CodingResult(CodedEncounter(
            encounter_id=enc.encounter_id, encounter_version=enc.version, coded_at=now, patient=enc.patient,
            coverage=enc.coverage, rendering_provider=enc.rendering_provider, billing_provider=enc.billing_provider,
            date_of_service=enc.date_of_service, place_of_service=enc.place_of_service, visit_type=enc.visit_type,
            patient_status=enc.patient_status, total_time_minutes=enc.total_time_minutes, mdm_level=enc.mdm_level,
            diagnoses=coded_dx, service_lines=coded_lines, confidence=round(confidence, 4), coder_version=CODER_VERSION,
        ), None)

    # --- E/M ----------------------------------------------------------------------------

    def _em(self, enc: EncounterEvent, lines: list[_Line], reasons: list[ReviewReason]) -> None:
        office = [ln for ln in lines if ln.code in em.OFFICE_EM]
        preventive = [ln for ln in lines if ln.category in PREVENTIVE_CATEGORIES]
        status = enc.patient_status
        if len(office) > 1:
            reasons.append(_reason("EM_UNSUPPORTED", "more than one office E/M code on the same date", office[1].subject,
                                   [ln.code for ln in office]))
        for ln in preventive:
            if ln.code in em.PREVENTIVE:
                expected = em.preventive_code(status, enc.patient.date_of_birth, enc.date_of_service)
                if expected.code is None:
                    reasons.append(_reason("EM_UNSUPPORTED", f"preventive code {ln.code}: {expected.reason}", ln.subject))
                elif expected.code != ln.code:
                    reasons.append(_reason("EM_UNSUPPORTED", f"preventive code {ln.code} does not match the age band / patient status",
                                           ln.subject, [expected.code]))
        for ln in office:
            if ln.code == "99211":
                if status != PatientStatus.ESTABLISHED:
                    reasons.append(_reason("EM_UNSUPPORTED", "99211 requires an established patient", ln.subject))
                continue
            want_new = ln.code in em.OFFICE_NEW
            if status == PatientStatus.UNKNOWN:
                reasons.append(_reason("MISSING_DOCUMENTATION", "patient status (new/established) not documented for the E/M", ln.subject))
                continue
            if want_new != (status == PatientStatus.NEW):
                reasons.append(_reason("EM_UNSUPPORTED", f"{ln.code} does not match patient status {status.value}", ln.subject))
                continue
            decision = em.select_office_level(status, enc.total_time_minutes, enc.mdm_level)
            if decision.code is None:
                reasons.append(_reason("EM_UNSUPPORTED", f"{ln.code} documented but {decision.reason}", ln.subject))
            elif em.level_of(ln.code) > em.level_of(decision.code):
                reasons.append(_reason("EM_UNSUPPORTED", f"{ln.code} is above the supported level ({decision.reason})",
                                       ln.subject, [decision.code]))
            else:
                ln.rule_id = "EM-DOC-001"
        if enc.visit_type == VisitType.PREVENTIVE and not preventive:
            # a preventive visit: the preventive E/M by age band; a problem-oriented E/M
            # documented the same day stays (modifier 25 in _modifiers)
            d = em.preventive_code(status, enc.patient.date_of_birth, enc.date_of_service)
            if d.code is None:
                reasons.append(_reason("MISSING_DOCUMENTATION", f"preventive visit: {d.reason}", "visit"))
                return
            row = self.ref.procedures[d.code]
            lines.insert(0, _Line(d.code, ProcedureCodeType.CPT, row.category, [], 1, None, Provenance.INFERRED,
                                  d.confidence, d.rule_id, row, "visit"))
            return
        if office or preventive or any(ln.code in em.ED_EM for ln in lines):
            return
        if enc.visit_type == VisitType.PREVENTIVE:
            d = em.preventive_code(status, enc.patient.date_of_birth, enc.date_of_service)
            if d.code is None:
                reasons.append(_reason("MISSING_DOCUMENTATION", f"preventive visit: {d.reason}"))
                return
            row = self.ref.procedures[d.code]
            lines.insert(0, _Line(d.code, ProcedureCodeType.CPT, row.category, [], 1, None, Provenance.INFERRED,
                                  d.confidence, d.rule_id, row, "visit"))
            return
        if enc.visit_type not in (VisitType.OFFICE, VisitType.TELEHEALTH):
            return
        if enc.total_time_minutes is None and enc.mdm_level is None and lines:
            return  # e.g. a nurse-only injection or vaccine visit: no E/M to infer
        if enc.place_of_service in em.ED_PLACES:
            # EM-ED-001: a physician's visit in the emergency department is an ED E/M
            # (99281-99285, no new/established distinction), levelled by MDM only
            d = em.select_ed_level(enc.mdm_level, enc.total_time_minutes)
            if d.code is None:
                reasons.append(_reason("MISSING_DOCUMENTATION" if enc.mdm_level is None else "EM_UNSUPPORTED",
                                       f"emergency department E/M: {d.reason}", "visit"))
                return
            row = self.ref.procedures[d.code]
            lines.insert(0, _Line(d.code, ProcedureCodeType.CPT, row.category, [], 1, None, Provenance.INFERRED,
                                  d.confidence, d.rule_id, row, "visit"))
            return
        d = em.select_office_level(status, enc.total_time_minutes, enc.mdm_level)
        if d.code is None:
            code = "MISSING_DOCUMENTATION" if d.rule_id == "EM-STATUS-001" or (enc.total_time_minutes is None and enc.mdm_level is None) else "EM_UNSUPPORTED"
            reasons.append(_reason(code, f"office visit E/M: {d.reason}", "visit"))
            return
        row = self.ref.procedures[d.code]
        mods = ["95"] if enc.visit_type == VisitType.TELEHEALTH else []
        lines.insert(0, _Line(d.code, ProcedureCodeType.CPT, row.category, mods, 1, None, Provenance.INFERRED,
                              d.confidence, d.rule_id, row, "visit"))
        if d.rule_id == "EM-TIME-001" and em.level_of(d.code) == 5:
            medicare = enc.coverage is not None and enc.coverage.plan_type == PlanType.MEDICARE
            extra = em.prolonged_units(status, enc.total_time_minutes, medicare)
            if extra is not None:
                pcode, units = extra
                prow = self.ref.procedures[pcode]
                lines.insert(1, _Line(pcode, ProcedureCodeType(prow.code_type), prow.category, list(mods), units, None,
                                      Provenance.INFERRED, 0.92, "EM-PROLONGED-001", prow, "visit"))

    # --- inferred diagnoses, sequencing -------------------------------------------------

    def _infer_dx(self, enc: EncounterEvent, choice: CodeSetChoice, dx_items: list[_Dx], lines: list[_Line],
                  reasons: list[ReviewReason] | None = None) -> None:
        """Z00.x for a preventive service (rule DX-INF-001) and Z23 for vaccines (DX-INF-002).

        Guideline I.C.21.c.13: a routine examination is coded "without abnormal findings"
        unless a finding is documented; pre-existing conditions, history and status codes are
        additional codes. Only status, history, lifestyle and social-circumstance codes
        (Z55-Z65, Z68, Z72-Z73, Z77-Z99: not findings of the exam) leave "without abnormal
        findings" certain; any other documented problem may or may not be an abnormal finding
        of this exam, so it goes to review naming both candidates."""
        cs = choice.code_set
        if cs is None:
            return
        codes = {strip_dot(d.code) for d in dx_items}
        if any(ln.category in PREVENTIVE_CATEGORIES for ln in lines) and not any(c.startswith("Z00") for c in codes):
            age = em.age_on(enc.patient.date_of_birth, enc.date_of_service)
            days = (enc.date_of_service - enc.patient.date_of_birth).days
            if age >= 18:
                code, abnormal = "Z00.00", "Z00.01"
            elif days < 8:
                code, abnormal = "Z00.110", None
            elif days <= 28:
                code, abnormal = "Z00.111", None
            else:
                code, abnormal = "Z00.129", "Z00.121"
            problems = [d for d in dx_items if not is_status_code(d.code)]
            conf = 0.93 if not problems else 0.7
            if cs.is_billable(code):
                item = _Dx(code, Provenance.INFERRED, conf, "DX-INF-001", choice.version, None, None, True)
                if problems and abnormal and reasons is not None:
                    reasons.append(_reason(
                        "DX_PREVENTIVE_FINDINGS",
                        f"preventive visit with documented problem(s) {', '.join(d.code for d in problems[:4])}: "
                        f"{abnormal} if found abnormal at this examination, {code} if known and not an exam finding "
                        "(guideline I.C.21.c.13; the problems stay as additional codes)", "diagnosis", [code, abnormal]))
                    item.flagged = True
                dx_items.insert(0, item)
        if any(ln.category in IMMUNIZATION_CATEGORIES for ln in lines) and "Z23" not in codes and cs.is_billable("Z23"):
            dx_items.append(_Dx("Z23", Provenance.INFERRED, 0.95, "DX-INF-002", choice.version, None, None, False))

    def _sequence(self, enc: EncounterEvent, dx_items: list[_Dx], lines: list[_Line]) -> list[_Dx]:
        seen: dict[str, _Dx] = {}
        for d in dx_items:
            if d.code in seen:
                seen[d.code].primary = seen[d.code].primary or d.primary
                seen[d.code].confidence = max(seen[d.code].confidence, d.confidence)
            else:
                seen[d.code] = d
        items = list(seen.values())
        preventive = any(ln.category in PREVENTIVE_CATEGORIES for ln in lines)

        def rank(ix: tuple[int, _Dx]) -> tuple[int, int]:
            i, d = ix
            if preventive and strip_dot(d.code).startswith("Z00"):
                return (0, i)
            if strip_dot(d.code).startswith(ADDITIONAL_ONLY_PREFIXES):
                return (3, i)  # tabular B95-B97: supplementary codes, never first-listed
            return (1 if d.primary else 2, i)

        ordered = [d for _, d in sorted(enumerate(items), key=rank)]
        return ordered[:MAX_DX]

    # --- modifiers and pointers ---------------------------------------------------------

    def _modifiers(self, enc: EncounterEvent, lines: list[_Line], dx_items: list[_Dx], reasons: list[ReviewReason]) -> None:
        for ln, px in self._documented_pairs(enc, lines):
            if px is None or px.laterality is None or ln.row is None or not ln.row.laterality:
                continue
            mod = LATERALITY_MODIFIER[px.laterality]
            if mod not in ln.modifiers:
                ln.modifiers.append(mod)
                if px.laterality == Laterality.BILATERAL:
                    ln.units = 1
        minor = [ln for ln in lines if ln.category in MINOR_CATEGORIES]
        preventive = [ln for ln in lines if ln.category in PREVENTIVE_CATEGORIES]
        # NCCI: an E/M on the day of a vaccine administration code is paid only as a
        # significant, separately identifiable service, with modifier 25 (99211 is never
        # separately reported with an administration)
        vaccine_admin = [ln for ln in lines if ln.category == "immunization_admin"]
        for ln in list(lines):
            if ln.code not in em.PROBLEM_EM or "25" in ln.modifiers:
                continue
            if not (minor or preventive or (vaccine_admin and ln.code != "99211")):
                continue
            if ln.provenance == Provenance.INFERRED and minor and not preventive:
                # only add 25 when some documented problem is not explained by the procedure
                proc_prefixes = tuple(p for m in minor for p in (m.row.dx_prefixes if m.row else ()))
                separate = [d for d in dx_items if not strip_dot(d.code).startswith(proc_prefixes)] if proc_prefixes else dx_items
                if not separate:
                    # EM-GLOBAL-001: the evaluation that leads to a minor procedure is part of
                    # the procedure's global package (NCCI policy manual ch. I; CMS global
                    # surgery): no E/M is inferred beside it
                    lines.remove(ln)
                    continue
            ln.modifiers.insert(0, "25")
            ln.confidence = min(ln.confidence, 0.95)
        for ln in lines:
            if "25" in ln.modifiers and ln.code not in em.PROBLEM_EM and ln.category not in PREVENTIVE_CATEGORIES:
                reasons.append(_reason("PROC_INVALID_MODIFIER", "modifier 25 is only valid on an E/M service", ln.subject))

    @staticmethod
    def _documented_pairs(enc: EncounterEvent, lines: list[_Line]):
        for ln in lines:
            px = None
            if ln.subject.startswith("procedure["):
                px = enc.procedures[int(ln.subject[10:-1])]
            yield ln, px

    def _pointers(self, dx_items: list[_Dx], lines: list[_Line], reasons: list[ReviewReason]) -> None:
        n = len(dx_items)
        if n == 0:
            return
        for ln in lines:
            if ln.code in em.PROBLEM_EM or ln.category in PREVENTIVE_CATEGORIES or ln.row is None or not ln.row.dx_prefixes:
                ln.pointers = list(range(1, min(n, MAX_POINTERS) + 1))
                continue
            match = [i for i, d in enumerate(dx_items, start=1) if strip_dot(d.code).startswith(ln.row.dx_prefixes)]
            if match:
                ln.pointers = match[:MAX_POINTERS]
            else:
                ln.pointers = [1]
                reasons.append(_reason("PROC_DX_MISMATCH", f"no documented diagnosis supports {ln.code}", ln.subject,
                                       [d.code for d in dx_items[:MAX_POINTERS]]))


# --- module-level convenience (used by app.py) ----------------------------------------------

_default: Coder | None = None
_lock = threading.Lock()


def default_coder() -> Coder:
    global _default
    if _default is None:
        with _lock:
            if _default is None:
                _default = Coder(CodingReference.load())
    return _default


def code_encounter(enc: EncounterEvent, now: datetime) -> CodingResult:
    return default_coder().code(enc, now)


__all__ = ["CodingReference", "Coder", "CodingResult", "code_encounter", "default_coder", "CODER_VERSION"]
