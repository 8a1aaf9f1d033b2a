"""Claim edit families (pure functions; no Faust, no Kafka, no logging of PHI).

Every family is ``family(ctx) -> list[EditFinding]`` over an ``EditContext`` (the claim,
the encounter facts the claim does not carry, the reference data, the cross-claim history
and the clock). Rule ids are stable; messages name codes, lines and rules, never people."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Callable, Iterable

from claimflow.codes import CPT_RE, HCPCS_RE, MODIFIER_RE
from claimflow.models import AdministrativeSex, Claim, EditFamily, EditFinding, MdmLevel, PatientStatus, Severity, VisitType

from services.scrubber.history import ClaimHistory, line_signature
from services.scrubber.refdata import RefDataSet, IcdCatalog, fiscal_year, MCE_AGE_RANGES, MCE_SEX

E, W = Severity.ERROR, Severity.WARNING

X_MODIFIERS = frozenset({"XE", "XS", "XP", "XU"})
DISTINCT_MODIFIERS = frozenset({"59"}) | X_MODIFIERS
ANATOMIC_MODIFIERS = frozenset(
    {"E1", "E2", "E3", "E4", "FA", "F1", "F2", "F3", "F4", "F5", "F6", "F7", "F8", "F9",
     "TA", "T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8", "T9", "LT", "RT", "LC", "LD", "RC", "LM", "RI"})
EM_BYPASS_MODIFIERS = frozenset({"24", "25", "57"})  # only on the E/M line of the pair
GLOBAL_SURGERY_MODIFIERS = frozenset({"58", "78", "79"})
LAB_REPEAT_MODIFIER = "91"
TELEHEALTH_MODIFIER = "95"

# 2024+ office E/M: minimum total time on the date, or the MDM level
MDM_RANK = {MdmLevel.STRAIGHTFORWARD: 1, MdmLevel.LOW: 2, MdmLevel.MODERATE: 3, MdmLevel.HIGH: 4}
EM_NEW = {"99202": (15, MdmLevel.STRAIGHTFORWARD), "99203": (30, MdmLevel.LOW), "99204": (45, MdmLevel.MODERATE), "99205": (60, MdmLevel.HIGH)}
EM_EST = {"99212": (10, MdmLevel.STRAIGHTFORWARD), "99213": (20, MdmLevel.LOW), "99214": (30, MdmLevel.MODERATE), "99215": (40, MdmLevel.HIGH)}
EM_OFFICE = {**EM_NEW, **EM_EST, "99211": (None, None)}


def is_em(code: str, ref: RefDataSet) -> bool:
    info = ref.procedures.get(code)
    if info is not None:
        return info.is_em
    # E/M range 99202-99499 (CPT) and the Medicare visit G-codes
    return (code.isdigit() and 99202 <= int(code) <= 99499) or code in ("G0402", "G0438", "G0439")


@dataclass(frozen=True)
class EditContext:
    claim: Claim
    ref: RefDataSet
    icd: IcdCatalog
    history: ClaimHistory
    day_key: str
    now: datetime
    visit_type: VisitType | None = None
    patient_status: PatientStatus | None = None
    total_time_minutes: int | None = None
    mdm_level: MdmLevel | None = None

    @property
    def dos(self) -> date:
        return self.claim.date_of_service

    @property
    def payer(self):
        cov = self.claim.coverage
        return self.ref.payers.for_payer(cov.payer_id if cov else None, cov.plan_type.value if cov else None)

    def age_on_dos(self) -> int:
        dob, d = self.claim.patient.date_of_birth, self.dos
        return d.year - dob.year - ((d.month, d.day) < (dob.month, dob.day))


def finding(rule_id: str, family: EditFamily, message: str, fix: str | None = None, *, severity: Severity = E,
            lines: Iterable[int] = (), dataset: str | None = None, version: str | None = None,
            source_row: dict[str, str] | None = None, bypass: Iterable[str] = ()) -> EditFinding:
    return EditFinding(rule_id=rule_id, family=family, severity=severity, line_numbers=sorted(set(lines)), dataset=dataset,
                       dataset_version=version, source_row={k: str(v) for k, v in (source_row or {}).items()},
                       message=message, suggested_fix=fix, bypass_modifiers=list(bypass))


# --- required 837P data and charges -----------------------------------------------------


def required_data(ctx: EditContext) -> list[EditFinding]:
    c, F = ctx.claim, EditFamily.REQUIRED_DATA
    out = []
    if c.coverage is None:
        out.append(finding("REQ-001", F, "claim has no primary coverage (2000B subscriber, 2010BB payer)", "add the patient's coverage and payer id"))
    if not c.diagnoses:
        out.append(finding("REQ-002", F, "claim has no diagnosis (HI segment)", "code at least one diagnosis"))
    if not c.lines:
        out.append(finding("REQ-003", F, "claim has no service line (2400)", "code at least one service"))
    for line in c.lines:
        if not line.diagnosis_pointers or any(p < 1 or p > len(c.diagnoses) for p in line.diagnosis_pointers):
            out.append(finding("REQ-004", F, "diagnosis pointer does not point at a claim diagnosis (SV107)", "point the line at a listed diagnosis", lines=[line.line_number]))
    if not c.billing_provider.tax_id:
        out.append(finding("REQ-005", F, "billing provider has no tax id (2010AA REF*EI)", "add the billing provider EIN"))
    line_sum = sum((l.charge for l in c.lines), Decimal("0.00"))
    if c.total_charge != line_sum:
        out.append(finding("REQ-006", F, f"claim charge (CLM02) {c.total_charge} differs from the sum of line charges {line_sum}",
                           "set the claim charge to the sum of the line charges", source_row={"claim_charge": str(c.total_charge), "line_sum": str(line_sum)}))
    for line in c.lines:
        if line.charge <= 0:
            out.append(finding("REQ-007", F, "service line charge (SV102) must be greater than zero", "enter the line charge", lines=[line.line_number]))
    if c.coverage is not None:
        if not c.coverage.payer_id.strip():
            out.append(finding("REQ-008", F, "payer id (2010BB NM109) is empty", "add the payer id"))
        rule = ctx.payer
        if "member_id" in rule.required and not c.coverage.member_id.strip():
            out.append(finding("REQ-009", F, "subscriber member id (2010BA NM109) is empty", "add the member id from the insurance card",
                               dataset="payer_rules", source_row={"payer_id": rule.payer_id, "required": "member_id"}))
        if "group_number" in rule.required and not (c.coverage.group_number or "").strip():
            out.append(finding("REQ-010", F, "payer requires the group number (SBR03)", "add the group number from the insurance card",
                               dataset="payer_rules", source_row={"payer_id": rule.payer_id, "required": "group_number"}))
    if not re.match(r"^[0-9]{2}$", c.place_of_service or ""):
        out.append(finding("REQ-011", F, "place of service (CLM05-1) is missing or malformed", "enter a two-digit place of service"))
    if c.patient.date_of_birth > c.date_of_service:
        out.append(finding("REQ-012", F, "patient birth date is after the date of service", "correct the birth date or date of service"))
    if len(c.diagnoses) > 12:
        out.append(finding("REQ-013", F, "an 837P carries at most 12 diagnoses", "keep the 12 most relevant diagnoses"))
    if len(c.lines) > 50:
        out.append(finding("REQ-014", F, "an 837P claim carries at most 50 service lines", "split the claim"))
    return out


# --- NPI --------------------------------------------------------------------------------


def npi_is_valid(npi: str) -> bool:
    """NPI check digit: Luhn over the prefix 80840 + the first 9 digits (CMS NPI standard)."""
    if len(npi) != 10 or not npi.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed("80840" + npi[:9])):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10 == int(npi[9])


def npi(ctx: EditContext) -> list[EditFinding]:
    out = []
    for role, prov in (("billing", ctx.claim.billing_provider), ("rendering", ctx.claim.rendering_provider)):
        if not npi_is_valid(prov.npi):
            out.append(finding("NPI-001", EditFamily.NPI, f"{role} provider NPI fails the check digit", f"correct the {role} provider NPI",
                               source_row={"role": role}))
    return out


# --- ICD-10-CM --------------------------------------------------------------------------


def diagnosis_validity(ctx: EditContext) -> list[EditFinding]:
    F = EditFamily.DIAGNOSIS_VALIDITY
    code_set, exact = ctx.icd.for_dos(ctx.dos)
    fy = fiscal_year(ctx.dos)
    out = []
    if code_set is None:
        why = ctx.icd.problem(ctx.dos) or f"no ICD-10-CM code set loaded for fiscal year {fy}"
        return [finding("DX-000", F, why, "load the code set for the date of service",
                        source_row={"fiscal_year": str(fy)})]
    ver = code_set.version
    if not exact:
        out.append(finding("DX-003", F, f"ICD-10-CM code set for FY{fy} is not loaded; checked against {ver}",
                           "load the code set for the date-of-service fiscal year", severity=W, dataset="icd10cm", version=ver,
                           source_row={"fiscal_year": str(fy)}))
    seen: set[str] = set()
    for i, code in enumerate(ctx.claim.diagnoses, 1):
        lines = [l.line_number for l in ctx.claim.lines if i in l.diagnosis_pointers]
        row = {"code": code, "fiscal_year": str(fy), "position": str(i)}
        norm = code.replace(".", "").upper()
        if norm in seen:
            out.append(finding("DX-004", F, f"diagnosis {code} is listed twice", "remove the repeated diagnosis", severity=W,
                               lines=lines, dataset="icd10cm", version=ver, source_row=row))
        seen.add(norm)
        if not code_set.exists(code):
            out.append(finding("DX-001", F, f"diagnosis {code} is not an ICD-10-CM code for FY{fy}", "correct the diagnosis code",
                               lines=lines, dataset="icd10cm", version=ver, source_row=row))
        elif not code_set.is_billable(code):
            out.append(finding("DX-002", F, f"diagnosis {code} is a category header, not a billable code", "code to the highest specificity (a leaf code)",
                               lines=lines, dataset="icd10cm", version=ver, source_row=row))
    return out


# --- CPT / HCPCS ------------------------------------------------------------------------


def procedure_validity(ctx: EditContext) -> list[EditFinding]:
    F, ref = EditFamily.PROCEDURE_VALIDITY, ctx.ref
    out = []
    for line in ctx.claim.lines:
        code = line.procedure_code
        if not (CPT_RE.match(code) or HCPCS_RE.match(code)):
            out.append(finding("PROC-001", F, f"procedure code {code!r} is neither a CPT nor a HCPCS Level II code", "correct the procedure code",
                               lines=[line.line_number]))
            continue
        known = ref.procedures.get(code)
        if HCPCS_RE.match(code) and ref.hcpcs is not None:
            entry = ref.hcpcs.get(code)
            if entry is None or entry.kind != "procedure":
                out.append(finding("PROC-002", F, f"HCPCS code {code} is not in the loaded HCPCS release", "correct or replace the HCPCS code",
                                   lines=[line.line_number], dataset=ref.hcpcs.info.name, version=ref.hcpcs.info.version, source_row={"code": code}))
                continue
            if entry.added and date.fromisoformat(entry.added) > ctx.dos:
                out.append(finding("PROC-004", F, f"HCPCS code {code} was added after the date of service", "use the code valid on the date of service",
                                   lines=[line.line_number], dataset=ref.hcpcs.info.name, version=ref.hcpcs.info.version,
                                   source_row={"code": code, "added": entry.added}))
            continue
        if known is None:
            out.append(finding("PROC-003", F, f"procedure code {code} is not in the loaded code sets; validity not verified",
                               "check the code against the current CPT/HCPCS release", severity=W, lines=[line.line_number],
                               dataset=ref.procedures.info.name, version=ref.procedures.info.version, source_row={"code": code}))
    return out


# --- modifiers --------------------------------------------------------------------------


def modifier(ctx: EditContext) -> list[EditFinding]:
    F, ref = EditFamily.MODIFIER, ctx.ref
    rule = ctx.payer
    out = []
    for line in ctx.claim.lines:
        mods = [m.upper() for m in line.modifiers]
        ln = [line.line_number]
        info = ref.procedures.get(line.procedure_code)
        if len(set(mods)) != len(mods):
            out.append(finding("MOD-006", F, "the same modifier appears twice on the line", "remove the repeated modifier", lines=ln))
        for m in dict.fromkeys(mods):
            if not MODIFIER_RE.match(m) or m not in ref.modifiers:
                out.append(finding("MOD-001", F, f"modifier {m!r} is not a known CPT/HCPCS modifier", "correct or remove the modifier", lines=ln,
                                   dataset=ref.modifiers.info.name, version=ref.modifiers.info.version, source_row={"modifier": m}))
            if m in rule.modifiers_not_accepted:
                alt = "59" if m in X_MODIFIERS else None
                out.append(finding("MOD-005", F, f"payer does not accept modifier {m}", f"use modifier {alt} instead" if alt else "remove the modifier",
                                   lines=ln, dataset="payer_rules", source_row={"payer_id": rule.payer_id, "modifier": m}))
        if "59" in mods and X_MODIFIERS & set(mods):
            out.append(finding("MOD-002", F, "modifier 59 and an X{EPSU} modifier are on the same line", "keep the more specific X modifier and drop 59",
                               lines=ln, source_row={"modifiers": ",".join(mods)}))
        if "25" in mods and not is_em(line.procedure_code, ref):
            out.append(finding("MOD-003", F, f"modifier 25 is only valid on an E/M service, not on {line.procedure_code}", "remove modifier 25",
                               lines=ln, source_row={"code": line.procedure_code, "modifier": "25"}))
        if info is not None:
            bad = []
            if info.is_em and ANATOMIC_MODIFIERS & set(mods):
                bad.extend(sorted(ANATOMIC_MODIFIERS & set(mods)))
            if "50" in mods and not info.bilateral:
                bad.append("50")
            if ("26" in mods or "TC" in mods) and not info.pctc:
                bad.extend(m for m in ("26", "TC") if m in mods)
            if TELEHEALTH_MODIFIER in mods and not info.telehealth:
                bad.append(TELEHEALTH_MODIFIER)
            if "57" in mods and not info.is_em:
                bad.append("57")
            for m in bad:
                out.append(finding("MOD-004", F, f"modifier {m} is not allowed with {line.procedure_code}", "remove the modifier or correct the code",
                                   lines=ln, dataset=ref.procedures.info.name, version=ref.procedures.info.version,
                                   source_row={"code": line.procedure_code, "modifier": m, "kind": info.kind}))
    return out


# --- NCCI PTP ---------------------------------------------------------------------------


def _ptp_bypass_set(c1_code: str, c2_code: str, ref: RefDataSet) -> list[str]:
    em1, em2 = is_em(c1_code, ref), is_em(c2_code, ref)
    mods = ["59", "XE", "XS", "XP", "XU"] + sorted(ANATOMIC_MODIFIERS) + ["58", "78", "79"]
    if em1 or em2:
        mods += ["24", "25", "57"]
    info2 = ref.procedures.get(c2_code)
    if info2 is None or info2.kind == "lab":
        mods.append(LAB_REPEAT_MODIFIER)
    return mods


def ptp_bypassed(l1, l2, ref: RefDataSet) -> str | None:
    """The modifier that bypasses an MI 1 edit between line l1 (column 1) and l2 (column 2),
    or None. 59/X{EPSU} do not count when they sit on the E/M line of an E/M pair (use 25)."""
    m1, m2 = {m.upper() for m in l1.modifiers}, {m.upper() for m in l2.modifiers}
    em1, em2 = is_em(l1.procedure_code, ref), is_em(l2.procedure_code, ref)
    for mods, em in ((m2, em2), (m1, em1)):
        if not em:
            hit = DISTINCT_MODIFIERS & mods
            if hit:
                return sorted(hit)[0]
        if em:
            hit = EM_BYPASS_MODIFIERS & mods
            if hit:
                return sorted(hit)[0]
        hit = GLOBAL_SURGERY_MODIFIERS & mods
        if hit:
            return sorted(hit)[0]
    a1, a2 = ANATOMIC_MODIFIERS & m1, ANATOMIC_MODIFIERS & m2
    if a1 and a2 and a1.isdisjoint(a2):
        return sorted(a2)[0]
    info2 = ref.procedures.get(l2.procedure_code)
    if LAB_REPEAT_MODIFIER in m2 and (info2 is None or info2.kind == "lab"):
        return LAB_REPEAT_MODIFIER
    return None


def ncci_ptp(ctx: EditContext) -> list[EditFinding]:
    F, ptp = EditFamily.NCCI_PTP, ctx.ref.ptp
    out = []
    lines = ctx.claim.lines
    for l1 in lines:
        if not ptp.has_column1(l1.procedure_code):
            continue
        for l2 in lines:
            if l2 is l1 or l2.procedure_code == l1.procedure_code:
                continue
            edit = ptp.active(l1.procedure_code, l2.procedure_code, ctx.dos)
            if edit is None:
                continue
            row = edit.source_row()
            if edit.modifier_indicator == 0:
                out.append(finding("PTP-001", F, f"{edit.column2} is bundled into {edit.column1} on the same day (modifier indicator 0: no modifier allowed)",
                                   f"remove {edit.column2}; it is not separately payable with {edit.column1}",
                                   lines=[l2.line_number, l1.line_number], dataset=ptp.info.name, version=ptp.info.version, source_row=row))
                continue
            used = ptp_bypassed(l1, l2, ctx.ref)
            if used is None:
                bypass = _ptp_bypass_set(edit.column1, edit.column2, ctx.ref)
                fix = (f"if {edit.column2} was a distinct service, append an NCCI-associated modifier (e.g. 25 on the E/M line, 59 or XE/XS/XP/XU otherwise) when documentation supports it; else remove {edit.column2}")
                out.append(finding("PTP-002", F, f"{edit.column2} is bundled into {edit.column1} on the same day (modifier indicator 1: a modifier may bypass)",
                                   fix, lines=[l2.line_number, l1.line_number], dataset=ptp.info.name, version=ptp.info.version,
                                   source_row=row, bypass=bypass))
    return out


# --- MUE --------------------------------------------------------------------------------


def mue(ctx: EditContext) -> list[EditFinding]:
    F, table = EditFamily.MUE, ctx.ref.mue
    out = []
    per_code: dict[str, list] = {}
    for line in ctx.claim.lines:
        per_code.setdefault(line.procedure_code, []).append(line)
    for code, lines in per_code.items():
        edit = table.get(code, ctx.dos)
        if edit is None:
            continue
        row = edit.source_row()
        if edit.mai == 1:
            for line in lines:
                if line.units > edit.value:
                    out.append(finding("MUE-001", F, f"{code}: {line.units} units on the line exceed the MUE of {edit.value} (MAI 1, per line)",
                                       f"reduce the units to {edit.value}, or report the extra units on separate lines with 76/77/91/59 or XE/XS/XP/XU when documented",
                                       lines=[line.line_number], dataset=table.info.name, version=table.info.version,
                                       source_row={**row, "units_on_line": str(line.units)}))
            continue
        claim_units = sum(l.units for l in lines)
        prior = ctx.history.units_billed(ctx.day_key, code)
        total = claim_units + prior
        if total > edit.value:
            kind = "policy, absolute" if edit.mai == 2 else "clinical"
            fix = (f"bill at most {edit.value} units of {code} for the date of service across all claims"
                   + (" (the limit is absolute; units above it are not payable even on appeal)" if edit.mai == 2
                      else " (units above it may be paid on appeal with records)"))
            out.append(finding("MUE-002" if edit.mai == 2 else "MUE-003", F,
                               f"{code}: {total} units for the date of service ({claim_units} on this claim, {prior} already billed) exceed the MUE of {edit.value} (MAI {edit.mai}, {kind})",
                               fix, lines=[l.line_number for l in lines], dataset=table.info.name, version=table.info.version,
                               source_row={**row, "units_this_claim": str(claim_units), "units_already_billed": str(prior)}))
    return out


# --- add-on codes -----------------------------------------------------------------------


def add_on(ctx: EditContext) -> list[EditFinding]:
    F, table = EditFamily.ADD_ON, ctx.ref.addon
    codes = {l.procedure_code for l in ctx.claim.lines}
    out = []
    for line in ctx.claim.lines:
        got = table.primaries(line.procedure_code, ctx.dos)
        if got is None:
            continue
        addon_type, primaries = got
        if primaries and not (primaries & codes):
            sev = E if addon_type == 1 else W
            out.append(finding("ADD-001" if addon_type == 1 else "ADD-002", F,
                               f"add-on code {line.procedure_code} is billed without one of its primary codes",
                               f"add the primary service ({', '.join(sorted(primaries)[:6])}{'...' if len(primaries) > 6 else ''}) or remove the add-on",
                               severity=sev, lines=[line.line_number], dataset=table.info.name, version=table.info.version,
                               source_row={"addon": line.procedure_code, "type": str(addon_type), "primaries": " ".join(sorted(primaries))}))
    return out


# --- age / sex (MCE style) --------------------------------------------------------------


def age_sex(ctx: EditContext) -> list[EditFinding]:
    F, ref = EditFamily.AGE_SEX, ctx.ref
    c = ctx.claim
    age = ctx.age_on_dos()
    sex = c.patient.sex
    out = []
    mce = ref.mce.for_dos(ctx.dos)
    if mce is not None:
        ds, ver = ref.mce.info.name, mce.version
        for i, code in enumerate(c.diagnoses, 1):
            types = mce.dx_edits.get(code.replace(".", "").upper(), ())
            lines = [l.line_number for l in c.lines if i in l.diagnosis_pointers]
            for etype in types:
                row = {"code": code, "edit_type": etype, "mce_version": ver}
                if etype in MCE_AGE_RANGES:
                    lo, hi = MCE_AGE_RANGES[etype]
                    if not lo <= age <= hi:
                        out.append(finding("AGE-001", F, f"diagnosis {code} is limited to ages {lo}-{hi} ({etype}); patient age is outside it",
                                           "check the diagnosis code or the patient's birth date", lines=lines, dataset=ds, version=ver,
                                           source_row={**row, "age_range": f"{lo}-{hi}"}))
                elif etype in MCE_SEX:
                    want = MCE_SEX[etype]
                    if sex != AdministrativeSex.UNKNOWN and sex.value != want:
                        out.append(finding("AGE-002", F, f"diagnosis {code} is for {want} patients only ({etype})",
                                           "check the diagnosis code or the patient's recorded sex", lines=lines, dataset=ds, version=ver, source_row=row))
                elif etype == "Principal_Manifestation" and i == 1:
                    out.append(finding("AGE-003", F, f"manifestation code {code} cannot be the first-listed diagnosis",
                                       "list the underlying condition first", lines=lines, dataset=ds, version=ver, source_row=row))
    for line in c.lines:
        info = ref.procedures.get(line.procedure_code)
        if info is None:
            continue
        if (info.min_age is not None and age < info.min_age) or (info.max_age is not None and age > info.max_age):
            rng = f"{info.min_age if info.min_age is not None else 0}-{info.max_age if info.max_age is not None else 'up'}"
            out.append(finding("AGE-004", F, f"procedure {line.procedure_code} is defined for ages {rng}; patient age is outside it",
                               "use the code for the patient's age group", lines=[line.line_number], dataset=ref.procedures.info.name,
                               version=ref.procedures.info.version, source_row={"code": line.procedure_code, "age_range": rng}))
        if info.sex and sex != AdministrativeSex.UNKNOWN and sex.value != info.sex:
            out.append(finding("AGE-005", F, f"procedure {line.procedure_code} is for {info.sex} patients only",
                               "check the procedure code or the patient's recorded sex", lines=[line.line_number],
                               dataset=ref.procedures.info.name, version=ref.procedures.info.version, source_row={"code": line.procedure_code, "sex": info.sex}))
    return out


# --- place of service / telehealth ------------------------------------------------------


def place_of_service(ctx: EditContext) -> list[EditFinding]:
    F, ref, c = EditFamily.PLACE_OF_SERVICE, ctx.ref, ctx.claim
    rule = ctx.payer
    pos = c.place_of_service
    out = []
    ds, ver = ref.pos.info.name, ref.pos.info.version
    if pos not in ref.pos:
        return [finding("POS-001", F, f"place of service {pos!r} is not a valid POS code", "enter a valid place of service", dataset=ds, version=ver,
                        source_row={"pos": pos})]
    tele_pos = pos in rule.telehealth_pos or pos in ref.pos.telehealth
    telehealth = ctx.visit_type == VisitType.TELEHEALTH
    if telehealth and not tele_pos:
        out.append(finding("POS-002", F, f"telehealth visit billed with place of service {pos}",
                           "use POS 10 when the patient was at home, POS 02 when elsewhere", dataset="payer_rules",
                           source_row={"payer_id": rule.payer_id, "pos": pos, "telehealth_pos": " ".join(sorted(rule.telehealth_pos))}))
    if tele_pos and ctx.visit_type is not None and not telehealth:
        out.append(finding("POS-007", F, f"POS {pos} means telehealth but the visit is not recorded as telehealth", "check the place of service",
                           severity=W, source_row={"pos": pos}))
    for line in c.lines:
        mods = {m.upper() for m in line.modifiers}
        info = ref.procedures.get(line.procedure_code)
        ln = [line.line_number]
        if tele_pos and info is not None and not info.telehealth:
            out.append(finding("POS-003", F, f"{line.procedure_code} is not on the telehealth services list but POS {pos} is telehealth",
                               "bill the service as in person or remove it", lines=ln, dataset=ref.procedures.info.name,
                               version=ref.procedures.info.version, source_row={"code": line.procedure_code, "pos": pos}))
            continue
        if tele_pos and rule.modifier_95 == "required" and TELEHEALTH_MODIFIER not in mods:
            out.append(finding("POS-004", F, "payer requires modifier 95 on telehealth lines", "append modifier 95", lines=ln,
                               dataset="payer_rules", source_row={"payer_id": rule.payer_id, "modifier_95": "required"}))
        if TELEHEALTH_MODIFIER in mods and rule.modifier_95 == "not_accepted":
            out.append(finding("POS-005", F, "payer does not accept modifier 95; telehealth is shown by POS 02/10", "remove modifier 95", lines=ln,
                               dataset="payer_rules", source_row={"payer_id": rule.payer_id, "modifier_95": "not_accepted"}))
        if TELEHEALTH_MODIFIER in mods and not tele_pos and not telehealth:
            out.append(finding("POS-006", F, f"modifier 95 (telehealth) on a line billed at in-person POS {pos}",
                               "remove modifier 95 or correct the place of service", severity=W, lines=ln, source_row={"pos": pos}))
    return out


# --- E/M level --------------------------------------------------------------------------


def em_level(ctx: EditContext) -> list[EditFinding]:
    F = EditFamily.EM_LEVEL
    out = []
    if ctx.patient_status is None:  # no encounter facts (re-scrub without them): nothing to judge
        return out
    for line in ctx.claim.lines:
        code = line.procedure_code
        if code not in EM_OFFICE:
            continue
        ln = [line.line_number]
        new_code = code in EM_NEW
        if ctx.patient_status == PatientStatus.NEW and not new_code:
            out.append(finding("EM-002", F, f"{code} is an established-patient code but the patient is recorded as new",
                               "use the new-patient code (99202-99205) for the supported level", lines=ln, source_row={"code": code, "patient_status": "new"}))
        elif ctx.patient_status == PatientStatus.ESTABLISHED and new_code:
            out.append(finding("EM-002", F, f"{code} is a new-patient code but the patient is recorded as established",
                               "use the established-patient code (99212-99215) for the supported level", lines=ln,
                               source_row={"code": code, "patient_status": "established"}))
        minutes, mdm_needed = EM_OFFICE[code]
        if minutes is None:
            continue
        t, mdm = ctx.total_time_minutes, ctx.mdm_level
        row = {"code": code, "time_minimum": str(minutes), "mdm_required": mdm_needed.value,
               "time_documented": "" if t is None else str(t), "mdm_documented": "" if mdm is None else mdm.value}
        if t is None and mdm is None:
            out.append(finding("EM-003", F, f"{code} has neither total time nor an MDM level documented", "document total time or the MDM level",
                               severity=W, lines=ln, dataset="em_2024_office", source_row=row))
            continue
        by_time = t is not None and t >= minutes
        by_mdm = mdm is not None and MDM_RANK[mdm] >= MDM_RANK[mdm_needed]
        if not (by_time or by_mdm):
            table = EM_NEW if new_code else EM_EST
            supported = [c for c, (mins, need) in table.items()
                         if (t is not None and t >= mins) or (mdm is not None and MDM_RANK[mdm] >= MDM_RANK[need])]
            best = max(supported) if supported else ("none" if new_code else "99211")
            out.append(finding("EM-001", F, f"{code} needs {minutes} minutes or {mdm_needed.value} MDM; documentation supports {best}",
                               f"bill {best} or document the time/MDM that supports {code}", lines=ln, dataset="em_2024_office",
                               source_row={**row, "supported_level": best}))
    return out


# --- timely filing ----------------------------------------------------------------------


def timely_filing(ctx: EditContext) -> list[EditFinding]:
    F = EditFamily.TIMELY_FILING
    if ctx.claim.coverage is None:
        return []
    rule = ctx.payer
    deadline = rule.filing_deadline(ctx.dos)
    today = ctx.now.date()
    row = {**rule.source_row(), "deadline": deadline.isoformat()}
    if today > deadline:
        return [finding("TF-001", F, f"the payer's timely filing limit ({row['timely_filing']} from the date of service) has passed",
                        "write off unless there is proof of timely filing or an exception applies", dataset="payer_rules", source_row=row)]
    if (deadline - today).days <= rule.warn_days:
        return [finding("TF-002", F, f"timely filing limit reached in {(deadline - today).days} days", "submit today", severity=W,
                        dataset="payer_rules", source_row=row)]
    return []


# --- duplicates -------------------------------------------------------------------------


def duplicate(ctx: EditContext) -> list[EditFinding]:
    F = EditFamily.DUPLICATE
    out = []
    seen: dict[str, int] = {}
    for line in ctx.claim.lines:
        sig = line_signature(line.procedure_code, line.modifiers, line.units)
        if sig in seen:
            out.append(finding("DUP-002", F, f"line repeats line {seen[sig]} ({line.procedure_code}, same modifiers and units)",
                               "combine the units on one line or add 76/77/91 when it was truly repeated",
                               lines=[line.line_number, seen[sig]], source_row={"code": line.procedure_code}))
            continue
        seen[sig] = line.line_number
        if ctx.history.has_signature(ctx.day_key, sig):
            out.append(finding("DUP-001", F, f"{line.procedure_code} with the same modifiers and units was already billed for this patient, provider and date",
                               "do not resubmit; send a corrected claim (frequency 7) if the first one was wrong",
                               lines=[line.line_number], source_row={"code": line.procedure_code, "modifiers": ",".join(line.modifiers), "units": str(line.units)}))
    return out


FAMILIES: dict[EditFamily, Callable[[EditContext], list[EditFinding]]] = {
    EditFamily.REQUIRED_DATA: required_data,
    EditFamily.NPI: npi,
    EditFamily.DIAGNOSIS_VALIDITY: diagnosis_validity,
    EditFamily.PROCEDURE_VALIDITY: procedure_validity,
    EditFamily.MODIFIER: modifier,
    EditFamily.NCCI_PTP: ncci_ptp,
    EditFamily.MUE: mue,
    EditFamily.ADD_ON: add_on,
    EditFamily.AGE_SEX: age_sex,
    EditFamily.PLACE_OF_SERVICE: place_of_service,
    EditFamily.EM_LEVEL: em_level,
    EditFamily.TIMELY_FILING: timely_filing,
    EditFamily.DUPLICATE: duplicate,
}
