"""FHIR R4 Bundle -> EncounterEvent mapping (pure: imports neither Faust nor Kafka).

One EncounterEvent per *billable* Encounter (status ``finished``; every other status is
ignored with its reason). What each field comes from, and the heuristics used where FHIR
has no direct element:

encounter_id
    ``"FE"`` + 30 hex digits of SHA-256 over the Encounter's stable key, so re-sending the
    same bundle gives the same id (and the topic key carries no PHI). The key is, in order:
    the first ``official``/``usual`` (else first) ``Encounter.identifier`` (system|value;
    an identifier without system is scoped by ``source_system``), else the logical id
    scoped by ``source_system``, else a ``urn:uuid`` fullUrl. ``version`` is always 1: the
    publishing shell compares :func:`fingerprint` (SHA-256 of the event without
    ``version``/``occurred_at``) with what it already published to decide whether to emit
    nothing (same) or a higher version (changed).
occurred_at
    ``Encounter.meta.lastUpdated``, else the period end, else the period start (never the
    wall clock, so mapping is deterministic).
patient
    ``Encounter.subject`` -> Patient (missing/unresolvable -> the encounter is an error).
    ``patient_id`` = the MR-typed identifier, else the first identifier, else the id.
    Name = ``official``/``usual`` name (first given, family). Sex from ``gender``
    (``other``/``unknown`` -> unknown). Address = ``home`` address if complete; US state
    names become two-letter codes.
coverage
    The Claim's focal ``insurance.coverage`` when it resolves to a Coverage resource, else
    the patient's active Coverage resources valid on the date of service (lowest
    ``order``). ``payer_id`` = the payer Organization's identifier (a payer without any
    identifier leaves coverage empty, with a warning: the scrubber then holds the claim
    rather than sending a made-up payer id). ``member_id`` = ``subscriberId``, else the
    MB-typed identifier, else the first identifier. ``plan_type`` from Source of Payment
    Typology codes (1 Medicare, 2 Medicaid, 311 TRICARE, 5/6 commercial, 81/8 self-pay),
    else payer-name keywords, else ``other``.
    **Synthea**: patient bundles carry no Coverage resource; Claim/EOB name the payer by
    display only ("Humana", "Medicaid", "NO_INSURANCE") with no payer id and no member id,
    so coverage is None and the entry gets a warning saying a payer was named by display
    only. The scrubber holds such claims (REQ-001) for a human to complete.
rendering_provider
    ``Encounter.participant`` with type PPRF/ATND/PART/SPRF (in that order, else the first
    participant) -> Practitioner or PractitionerRole (-> Practitioner; role NPI and NUCC
    specialty taxonomy). No practitioner -> the billing provider renders (as on an 837P
    that omits 2310B).
billing_provider
    The Claim's ``provider``, else ``Encounter.serviceProvider``, else the managing
    Organization of the encounter Location, else the rendering practitioner (solo). NPI
    from ``http://hl7.org/fhir/sid/us-npi``, EIN from ``urn:oid:2.16.840.1.113883.4.4``
    (or a TAX-typed identifier); absent values stay empty (warning) for the scrubber.
date_of_service
    The calendar date written in ``Encounter.period.start`` (local date as sent, not
    shifted to UTC), else ``period.end``.
place_of_service
    An explicit CMS POS code (Location.type, Claim.item.locationCodeableConcept, Claim
    facility) wins; else telehealth visits -> 10; else ``Encounter.class``: AMB 11,
    VR 10, EMER 23, IMP/ACUTE/NONAC 21, OBSENC/SS 22, HH 12; else 99 with a warning.
visit_type
    CPT in Encounter.type (99381-99397 preventive, 99441-99443 / 98966-98968 telehealth,
    99202-99215 office), else SNOMED/keyword lists below, else class VR -> telehealth,
    AMB -> office, anything else -> other.
patient_status
    CPT in Encounter.type (99202-99205/99381-99387 new, 99211-99215/99391-99397
    established). Otherwise *established* when the submitted bundles show an earlier
    finished encounter of the same patient with the same billing organisation or
    rendering NPI within 3 years (the CMS new/established rule); otherwise unknown (an
    absent history in one bundle does not prove the patient is new).
total_time_minutes
    ``Encounter.length`` only (``period`` includes waiting time and is not documented
    practitioner time). ``mdm_level`` is not mapped.
note_text
    only what the coder's immunization rules read: the ``note`` texts of the encounter's
    completed Immunizations (e.g. "physician counselled on the vaccine's risks and
    benefits") and, for each, ``protocolApplied.doseNumberPositiveInt`` (or a numeric
    ``doseNumberString``) as "dose N"; None when there is none.
diagnoses
    Encounter.diagnosis (by rank), then the Claim's diagnoses (by sequence), then
    Conditions whose ``encounter`` is this encounter, then ``Encounter.reasonCode``; each
    Condition once. Entered-in-error/refuted Conditions are skipped. Coding preference:
    ICD-10-CM, SNOMED CT, any other coding, else free text (system/code null). is_primary
    only when documented: Encounter.diagnosis rank 1 / use billing, or Claim sequence 1.
procedures
    Claim items (in sequence order) linked to this encounter: an item pointing at a
    Procedure (procedureSequence) or at supporting information (e.g. an Immunization)
    documents that resource with the item's charge; Synthea's items that only repeat a
    diagnosis code are not services; any other item (e.g. the visit itself) is a service.
    Then Procedures and completed Immunizations of this encounter not already billed.
    Charge = ``net`` (else ``unitPrice`` x quantity), USD only, two decimals. Units from
    ``quantity``, modifiers from ``item.modifier``. Coding preference: CPT, HCPCS, SNOMED
    CT, CVX, other, free text.

Coding systems pass through unchanged except that the registered OID aliases of
ICD-10-CM, CPT and HCPCS are written as their canonical URIs (same code system).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from claimflow.models import (
    Address,
    AdministrativeSex,
    Coverage,
    DocumentedDiagnosis,
    DocumentedProcedure,
    EncounterEvent,
    Laterality,
    Patient,
    PatientStatus,
    PlanType,
    Provider,
    SubscriberRelationship,
    VisitType,
    safe_errors,
)
from services.fhir_gateway.outcomes import ERROR, IGNORED, USED, EntryOutcome, Issue, summarize
from services.fhir_gateway.resources import BundleError, Entry, ResourceIndex, check_bundle

DEFAULT_SOURCE_SYSTEM = "fhir-gateway"

SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
CVX = "http://hl7.org/fhir/sid/cvx"
NPI_SYSTEMS = ("http://hl7.org/fhir/sid/us-npi", "urn:oid:2.16.840.1.113883.4.6")
EIN_SYSTEMS = ("urn:oid:2.16.840.1.113883.4.4", "http://hl7.org/fhir/sid/us-ein")
NUCC = ("http://nucc.org/provider-taxonomy", "urn:oid:2.16.840.1.113883.6.101")
SOPT = ("urn:oid:2.16.840.1.113883.3.221.5", "https://nahdo.org/sopt")
POS_SYSTEMS = (
    "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set",
    "http://terminology.hl7.org/CodeSystem/ex-serviceplace",
    "urn:oid:2.16.840.1.113883.6.50",
)
SYSTEM_ALIASES = {
    "urn:oid:2.16.840.1.113883.6.90": ICD10CM,
    "urn:oid:2.16.840.1.113883.6.12": CPT,
    "urn:oid:2.16.840.1.113883.6.285": HCPCS,
    "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets": HCPCS,
    "urn:oid:2.16.840.1.113883.6.96": SNOMED,
    "urn:oid:2.16.840.1.113883.12.292": CVX,
}
DX_PREFERENCE = (ICD10CM, SNOMED)
PX_PREFERENCE = (CPT, HCPCS, SNOMED, CVX)

CLASS_POS = {"AMB": "11", "VR": "10", "EMER": "23", "IMP": "21", "ACUTE": "21", "NONAC": "21",
             "OBSENC": "22", "SS": "22", "HH": "12"}
PREVENTIVE_SNOMED = {"410620009", "185349003", "162673000", "86013001"}
TELEHEALTH_SNOMED = {"448337001", "185317003"}
OFFICE_SNOMED = {"185345009", "185347001", "390906007", "185389009", "270427003", "698314001", "439740005"}
PROCEDURE_ONLY_SNOMED = {"371883000"}
PREVENTIVE_WORDS = ("well child", "well-child", "check up", "checkup", "check-up", "preventive", "wellness", "annual physical")
TELEHEALTH_WORDS = ("telehealth", "telemedicine", "virtual", "video visit", "telephone")
PRIMARY_PERFORMER_TYPES = ("PPRF", "ATND", "PART", "SPRF")
US_STATES = {
    "alabama": "AL", "alaska": "AK", "arizona": "AZ", "arkansas": "AR", "california": "CA", "colorado": "CO",
    "connecticut": "CT", "delaware": "DE", "district of columbia": "DC", "florida": "FL", "georgia": "GA",
    "hawaii": "HI", "idaho": "ID", "illinois": "IL", "indiana": "IN", "iowa": "IA", "kansas": "KS",
    "kentucky": "KY", "louisiana": "LA", "maine": "ME", "maryland": "MD", "massachusetts": "MA",
    "michigan": "MI", "minnesota": "MN", "mississippi": "MS", "missouri": "MO", "montana": "MT",
    "nebraska": "NE", "nevada": "NV", "new hampshire": "NH", "new jersey": "NJ", "new mexico": "NM",
    "new york": "NY", "north carolina": "NC", "north dakota": "ND", "ohio": "OH", "oklahoma": "OK",
    "oregon": "OR", "pennsylvania": "PA", "rhode island": "RI", "south carolina": "SC", "south dakota": "SD",
    "tennessee": "TN", "texas": "TX", "utah": "UT", "vermont": "VT", "virginia": "VA", "washington": "WA",
    "west virginia": "WV", "wisconsin": "WI", "wyoming": "WY", "puerto rico": "PR", "guam": "GU",
    "virgin islands": "VI", "american samoa": "AS", "northern mariana islands": "MP",
}
# claim type: only professional services become 837P claims. Inpatient and other facility
# stays are institutional (837I); emergency-department and urgent-care physician services
# are professional (class EMER / AMB).
INSTITUTIONAL = "institutional"
PROFESSIONAL = "professional"
INSTITUTIONAL_CLASSES = {"IMP", "ACUTE", "NONAC", "OBSENC", "SS", "HH", "PRENC"}
INSTITUTIONAL_SNOMED = {"32485007", "183452005", "305408004"}  # hospital admission concepts
INSTITUTIONAL_REASON = "institutional claim (837I) is not supported yet"
SELF_PAY_NAMES = {"no insurance", "self pay", "selfpay", "uninsured", "none"}
_FULL_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")
_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$")
_CENT = Decimal("0.01")


class MapError(Exception):
    """The encounter cannot become an event; ``code`` is a FHIR IssueType."""

    def __init__(self, code: str, reason: str, *expression: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.expression = expression


@dataclass
class MappingResult:
    events: list[EncounterEvent] = field(default_factory=list)
    fingerprints: dict[str, str] = field(default_factory=dict)
    """encounter_id -> content fingerprint"""
    outcomes: list[EntryOutcome] = field(default_factory=list)
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    """encounter_id -> facts the EncounterEvent does not carry: ``source`` (bundle name),
    ``resource_id`` (the Encounter's logical id), ``self_pay`` (the export says the patient
    has no insurance)"""

    @property
    def summary(self) -> dict[str, Any]:
        return summarize(self.outcomes, len(self.events))


# --- small FHIR datatype helpers ---------------------------------------------------------


# a record whose first visit is this close to birth documents the patient's whole history
NEWBORN_RECORD_DAYS = 14

def _str(v: Any) -> str | None:
    return v.strip() if isinstance(v, str) and v.strip() else None


def _list(v: Any) -> list:
    if isinstance(v, list):
        return v
    return [v] if isinstance(v, dict) else []


def _codings(cc: Any) -> list[tuple[str | None, str | None, str | None]]:
    out = []
    if isinstance(cc, dict):
        for c in _list(cc.get("coding")):
            if isinstance(c, dict):
                system = _str(c.get("system"))
                out.append((SYSTEM_ALIASES.get(system, system) if system else None, _str(c.get("code")), _str(c.get("display"))))
    return out


def _cc_codes(cc: Any, system: str | None = None) -> set[str]:
    return {code for s, code, _ in _codings(cc) if code and (system is None or s == system)}


def _cc_text(cc: Any) -> str:
    parts = [_str(cc.get("text")) if isinstance(cc, dict) else None] + [d for _, _, d in _codings(cc)]
    return " ".join(p for p in parts if p).lower()


def _pick(cc: Any, preference: tuple[str, ...]) -> tuple[str | None, str | None, str] | None:
    """(system, code, display) of the preferred coding, free text, or None when empty."""
    if not isinstance(cc, dict):
        return None
    text = _str(cc.get("text"))
    coded = [c for c in _codings(cc) if c[1]]
    for system in preference:
        for s, code, display in coded:
            if s == system:
                return s, code, display or text or code
    if coded:
        s, code, display = coded[0]
        return s, code, display or text or code
    if text:
        return None, None, text
    return None


def _full_date(v: Any) -> date | None:
    if not isinstance(v, str):
        return None
    m = _FULL_DATE_RE.match(v)
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def _instant(v: Any) -> datetime | None:
    if not isinstance(v, str):
        return None
    if _DATETIME_RE.match(v):
        try:
            dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        d = _full_date(v)
        if d is None or len(v) != 10:
            return None
        dt = datetime(d.year, d.month, d.day)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    dt = dt.astimezone(timezone.utc)
    return dt.replace(microsecond=dt.microsecond // 1000 * 1000)


def _money(m: Any) -> Decimal | None:
    if not isinstance(m, dict) or isinstance(m.get("value"), bool) or not isinstance(m.get("value"), (int, float, str, Decimal)):
        return None
    try:
        value = Decimal(str(m["value"]))
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    return value


def _code_of(v: Any) -> str | None:
    """Code of a Coding (R4 Encounter.class) or of a CodeableConcept (R5 style)."""
    if isinstance(v, dict):
        if _str(v.get("code")):
            return _str(v.get("code"))
        for _, code, _ in _codings(v):
            if code:
                return code
    if isinstance(v, list):
        for item in v:
            c = _code_of(item)
            if c:
                return c
    return None


def fingerprint(event: EncounterEvent) -> str:
    """Content fingerprint of an event: SHA-256 of its canonical JSON without ``version``
    and ``occurred_at``. Same clinical/billing content -> same fingerprint."""
    body = event.model_dump(mode="json", exclude={"version", "occurred_at"})
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def encounter_stable_key(resource: dict[str, Any], full_url: str | None, rid: str | None, source_system: str) -> str | None:
    idents = [i for i in _list(resource.get("identifier")) if isinstance(i, dict) and _str(i.get("value"))]
    idents.sort(key=lambda i: 0 if i.get("use") in ("official", "usual") else 1)
    if idents:
        system = _str(idents[0].get("system"))
        return f"identifier|{system}|{idents[0]['value'].strip()}" if system else f"identifier|{source_system}||{idents[0]['value'].strip()}"
    if rid:
        return f"id|{source_system}|Encounter/{rid}"
    if full_url and full_url.lower().startswith("urn:uuid:"):
        return f"fullUrl|{full_url.lower()}"
    return None


def make_encounter_id(stable_key: str) -> str:
    return "FE" + hashlib.sha256(("fhir-encounter\x1f" + stable_key).encode()).hexdigest()[:30].upper()


# --- the mapper ------------------------------------------------------------------------


class _Mapper:
    def __init__(self, index: ResourceIndex, source_system: str, practice: Any = None):
        self.ix = index
        self.source_system = source_system
        self.practice = practice  # claimflow.practice.PracticeProfile: fills what the export lacks
        self._enc_links: dict[int, dict[str, list[Entry]]] = {}
        self._coverages_by_patient: dict[Any, list[Entry]] = {}
        self._history: dict[Any, list[tuple[date, Any, str | None]]] = {}
        self._link()

    # linking pass: which Conditions/Procedures/Immunizations/Claims belong to which Encounter

    def _links(self, enc: Entry) -> dict[str, list[Entry]]:
        return self._enc_links.setdefault(id(enc), {"Condition": [], "Procedure": [], "Immunization": [], "Claim": []})

    def _link(self) -> None:
        for e in self.ix.of_type("Condition", "Procedure", "Immunization"):
            ref = e.resource.get("encounter")
            if ref is None:
                continue
            enc, problem = self.ix.resolve(ref, e, ("Encounter",))
            if enc is None:
                e.warnings.append(Issue("warning", "not-found", f"{e.rtype}.encounter {problem}", (f"{e.path}.encounter",)))
                continue
            self._links(enc)[e.rtype].append(e)
        for claim in self.ix.of_type("Claim"):
            linked: list[Entry] = []
            for i, item in enumerate(_list(claim.resource.get("item"))):
                if not isinstance(item, dict):
                    continue
                for j, ref in enumerate(_list(item.get("encounter"))):
                    enc, problem = self.ix.resolve(ref, claim, ("Encounter",))
                    if enc is None:
                        claim.warnings.append(Issue("warning", "not-found", f"Claim.item.encounter {problem}", (f"{claim.path}.item[{i}].encounter[{j}]",)))
                    elif enc not in linked:
                        linked.append(enc)
            for enc in linked:
                self._links(enc)["Claim"].append(claim)
        for cov in self.ix.of_type("Coverage"):
            pat, _ = self.ix.resolve(cov.resource.get("beneficiary"), cov, ("Patient",))
            if pat is not None:
                self._coverages_by_patient.setdefault(pat.identity, []).append(cov)

    # --- driver ----------------------------------------------------------------------

    def run(self) -> MappingResult:
        result = MappingResult()
        encounters = [e for e in self.ix.of_type("Encounter") if not e.contained]
        billable: list[Entry] = []
        for enc in encounters:
            status = enc.resource.get("status")
            if not isinstance(status, str):
                enc.fail("required", "Encounter.status is missing", f"{enc.path}.status")
            elif status != "finished":
                enc.outcome = EntryOutcome(enc.source, enc.index, "Encounter", enc.rid, IGNORED, "informational",
                                           f"encounter status '{status}' is not billable (only 'finished' is)")
            elif claim_type(enc.resource) == INSTITUTIONAL:
                enc.outcome = EntryOutcome(enc.source, enc.index, "Encounter", enc.rid, IGNORED, "not-supported",
                                           INSTITUTIONAL_REASON)
            else:
                billable.append(enc)
        self._build_history(billable)
        seen_ids: dict[str, tuple[Entry, str]] = {}
        for enc in billable:
            used: list[Entry] = []
            warnings: list[Issue] = []
            try:
                event = self._map_encounter(enc, used, warnings)
            except MapError as exc:
                enc.fail(exc.code, exc.reason, *exc.expression)
                if enc.outcome:
                    enc.outcome.issues.extend(warnings)
                continue
            fp = fingerprint(event)
            prior = seen_ids.get(event.encounter_id)
            if prior is not None:
                if prior[1] == fp:
                    enc.outcome = EntryOutcome(enc.source, enc.index, "Encounter", enc.rid, IGNORED, "duplicate",
                                               "same encounter with the same content was already mapped from an earlier entry",
                                               encounter_id=event.encounter_id, fingerprint=fp)
                else:
                    enc.fail("conflict", "an earlier entry maps to the same encounter id with different content; resend one of them", f"{enc.path}")
                continue
            seen_ids[event.encounter_id] = (enc, fp)
            result.events.append(event)
            links = self._enc_links.get(id(enc), {"Claim": []})
            result.facts[event.encounter_id] = {
                "source": enc.source, "resource_id": enc.rid,
                "self_pay": event.coverage is None and self._self_pay(links.get("Claim", [])),
            }
            result.fingerprints[event.encounter_id] = fp
            enc.outcome = EntryOutcome(enc.source, enc.index, "Encounter", enc.rid, USED, "informational",
                                       "mapped to an EncounterEvent", encounter_id=event.encounter_id, fingerprint=fp,
                                       issues=warnings)
            for u in used:
                if u.outcome is None and not u.contained:
                    u.outcome = EntryOutcome(u.source, u.index, u.rtype, u.rid, USED, "informational", "used by a mapped encounter")
        result.outcomes = self._collect_outcomes()
        return result

    @staticmethod
    def _self_pay(claims: list[Entry]) -> bool:
        """The export names no insurance for the encounter (Synthea: ``NO_INSURANCE``)."""
        for claim in claims:
            for x in _list(claim.resource.get("insurance")):
                ref = x.get("coverage") if isinstance(x, dict) else None
                name = (_str(ref.get("display")) or "") if isinstance(ref, dict) else ""
                if name.lower().replace("_", " ").replace("-", " ") in SELF_PAY_NAMES:
                    return True
        return False

    def _collect_outcomes(self) -> list[EntryOutcome]:
        outs = [o for o in self.ix.bundle_outcomes]
        for e in self.ix.entries:
            if not e.report:
                continue
            if e.outcome is None:
                if e.rtype in ("Patient", "Condition", "Procedure", "Immunization", "Coverage", "Practitioner",
                               "PractitionerRole", "Organization", "Location", "Claim"):
                    reason = "not used by any billable encounter in this submission"
                else:
                    reason = f"resource type {e.rtype} is not used for encounter intake"
                e.outcome = EntryOutcome(e.source, e.index, e.rtype, e.rid, IGNORED, "informational", reason)
            e.outcome.issues.extend(w for w in e.warnings if w not in e.outcome.issues)
            outs.append(e.outcome)
        outs.sort(key=lambda o: (o.source, o.index))
        return outs

    # --- history for new/established ---------------------------------------------------

    def _build_history(self, billable: list[Entry]) -> None:
        for enc in billable:
            r = enc.resource
            pat, _ = self.ix.resolve(r.get("subject"), enc, ("Patient",))
            dos = self._dos(r)
            if pat is None or dos is None:
                continue
            org = self._service_org(enc)
            prac = self._practitioner(enc, [])
            npi = prac[0].npi if prac and prac[0].npi else None
            self._history.setdefault(pat.identity, []).append((dos, org.identity if org else None, npi))

    def _patient_status(self, enc: Entry, pat: Entry, dos: date, org: Entry | None, npi: str | None) -> PatientStatus:
        cpt = _cc_codes_list(enc.resource.get("type"), CPT)
        if any(c in {"99202", "99203", "99204", "99205"} or "99381" <= c <= "99387" for c in cpt):
            return PatientStatus.NEW
        if any(c in {"99211", "99212", "99213", "99214", "99215"} or "99391" <= c <= "99397" for c in cpt):
            return PatientStatus.ESTABLISHED
        org_id = org.identity if org else None
        for prior_dos, prior_org, prior_npi in self._history.get(pat.identity, []):
            if dos - timedelta(days=3 * 365 + 1) <= prior_dos < dos and (
                (org_id is not None and prior_org == org_id) or (npi and prior_npi == npi)
            ):
                return PatientStatus.ESTABLISHED
        if self._lookback_covered(pat, dos):
            # CPT: a new patient has had no professional service from the physician or the
            # same group in the prior three years; the export shows that whole period
            return PatientStatus.NEW
        return PatientStatus.UNKNOWN

    def _lookback_covered(self, pat: Entry, dos: date) -> bool:
        """True when the submission documents the patient's care for the whole three-year
        look-back before ``dos``: an exported visit at least three years earlier (an export
        holds every visit of its window, which starts no later than its earliest visit), or a
        record that starts within NEWBORN_RECORD_DAYS of birth (nothing before it to miss)."""
        hist = self._history.get(pat.identity, [])
        if not hist:
            return False
        earliest = min(d for d, _, _ in hist)
        if earliest <= dos - timedelta(days=3 * 365 + 1):
            return True
        birth = _full_date(pat.resource.get("birthDate"))
        return birth is not None and birth <= earliest <= birth + timedelta(days=NEWBORN_RECORD_DAYS) and earliest <= dos

    # --- one encounter -----------------------------------------------------------------

    @staticmethod
    def _dos(r: dict[str, Any]) -> date | None:
        period = r.get("period") if isinstance(r.get("period"), dict) else {}
        return _full_date(period.get("start")) or _full_date(period.get("end"))

    def _map_encounter(self, enc: Entry, used: list[Entry], warnings: list[Issue]) -> EncounterEvent:
        r = enc.resource
        key = encounter_stable_key(r, enc.full_url, enc.rid, self.source_system)
        if key is None:
            raise MapError("required", "Encounter has no identifier, no id and no urn:uuid fullUrl: no stable encounter id can be assigned", f"{enc.path}.identifier")
        encounter_id = make_encounter_id(key)

        # patient
        if r.get("subject") is None:
            raise MapError("required", "Encounter.subject is missing: the encounter has no Patient", f"{enc.path}.subject")
        pat, problem = self.ix.resolve(r.get("subject"), enc, ("Patient",))
        if pat is None:
            raise MapError("not-found", f"Encounter.subject {problem}: the Patient is missing from the submission", f"{enc.path}.subject")
        patient = self._patient(pat)
        used.append(pat)

        # dates
        dos = self._dos(r)
        if dos is None:
            raise MapError("required", "Encounter.period.start (or end) with a full date is required for the date of service", f"{enc.path}.period.start")
        meta = r.get("meta") if isinstance(r.get("meta"), dict) else {}
        period = r.get("period") if isinstance(r.get("period"), dict) else {}
        occurred_at = _instant(meta.get("lastUpdated")) or _instant(period.get("end")) or _instant(period.get("start"))
        if occurred_at is None:
            occurred_at = datetime(dos.year, dos.month, dos.day, tzinfo=timezone.utc)

        links = self._enc_links.get(id(enc), {"Condition": [], "Procedure": [], "Immunization": [], "Claim": []})
        claims = [c for c in links["Claim"] if self._claim_usable(c)]

        # providers
        prac = self._practitioner(enc, warnings, used)
        rendering = prac[0] if prac else None
        billing_entry = None
        for claim in claims:
            ref = claim.resource.get("provider")
            if ref is not None:
                billing_entry, problem = self.ix.resolve(ref, claim, ("Organization", "Practitioner", "PractitionerRole"))
                if billing_entry is None:
                    warnings.append(Issue("warning", "not-found", f"Claim.provider {problem}", (f"{claim.path}.provider",)))
                else:
                    break
        if billing_entry is None:
            billing_entry = self._service_org(enc, warnings)
        billing: Provider | None = None
        if billing_entry is not None:
            used.append(billing_entry)
            billing = self._provider_from(billing_entry, warnings, used)
        if billing is None and rendering is not None:
            billing = rendering
            warnings.append(Issue("information", "informational", "no billing organisation: the rendering practitioner is used as billing provider", (f"{enc.path}.serviceProvider",)))
        if billing is not None and self.practice is not None:
            billing, filled = self._fill_from_practice(billing)
            if filled:
                warnings.append(Issue("information", "informational",
                                      f"billing provider {', '.join(filled)} taken from the practice profile (not in the export)"))
        if rendering is None and billing is not None:
            rendering = billing
        if rendering is None or billing is None:
            raise MapError("required", "neither a rendering practitioner nor a billing organisation could be resolved for the encounter", f"{enc.path}.participant", f"{enc.path}.serviceProvider")
        for role, p in (("rendering", rendering), ("billing", billing)):
            if not p.npi and not (role == "rendering" and rendering is billing):
                warnings.append(Issue("warning", "incomplete", f"{role} provider has no NPI (http://hl7.org/fhir/sid/us-npi identifier)"))
        if not billing.tax_id:
            warnings.append(Issue("warning", "incomplete", "billing provider has no tax id (EIN identifier)"))

        # clinical content
        diagnoses = self._diagnoses(enc, links["Condition"], claims, used, warnings)
        procedures = self._procedures(enc, links["Procedure"], links["Immunization"], claims, used, warnings)
        for claim in claims:
            used.append(claim)

        # coverage
        coverage = self._coverage(enc, pat, dos, claims, used, warnings)

        # classification
        visit_type = self._visit_type(r)
        pos = self._place_of_service(enc, claims, visit_type, used, warnings)
        org = self._service_org(enc)
        status = self._patient_status(enc, pat, dos, org, rendering.npi or None)
        total_time = self._length_minutes(r, enc, warnings)
        note_text = self._immunization_note(links["Immunization"])

        try:
            return EncounterEvent(
                encounter_id=encounter_id, version=1, source_system=self.source_system, occurred_at=occurred_at,
                patient=patient, coverage=coverage, rendering_provider=rendering, billing_provider=billing,
                date_of_service=dos, place_of_service=pos, visit_type=visit_type, patient_status=status,
                total_time_minutes=total_time, diagnoses=diagnoses, procedures=procedures, note_text=note_text,
            )
        except ValidationError as exc:
            raise MapError("invariant", f"encounter violates the EncounterEvent contract: {safe_errors(exc)}", enc.path) from None

    # --- patient -----------------------------------------------------------------------

    def _patient(self, pat: Entry) -> Patient:
        r = pat.resource
        dob = _full_date(r.get("birthDate"))
        if dob is None or not isinstance(r.get("birthDate"), str) or len(r["birthDate"]) != 10:
            pat.fail("required", "Patient.birthDate is missing or not a full date", f"{pat.path}.birthDate")
            raise MapError("required", "the encounter's Patient has no full birthDate", f"{pat.path}.birthDate")
        names = [n for n in _list(r.get("name")) if isinstance(n, dict)]
        names.sort(key=lambda n: {"official": 0, "usual": 1}.get(n.get("use"), 2))
        first = last = ""
        if names:
            n = names[0]
            given = [g for g in _list(n.get("given")) if isinstance(g, str)] if isinstance(n.get("given"), list) else []
            first = given[0].strip() if given else ""
            last = _str(n.get("family")) or ""
            if not first and not last and _str(n.get("text")):
                parts = n["text"].split()
                first, last = parts[0], " ".join(parts[1:])
        if not last:
            pat.warnings.append(Issue("warning", "incomplete", "Patient.name has no family name", (f"{pat.path}.name",)))
        gender = r.get("gender")
        sex = {"female": AdministrativeSex.FEMALE, "male": AdministrativeSex.MALE}.get(gender, AdministrativeSex.UNKNOWN)
        patient_id = None
        idents = [i for i in _list(r.get("identifier")) if isinstance(i, dict) and _str(i.get("value"))]
        for i in idents:
            if "MR" in _cc_codes(i.get("type")):
                patient_id = i["value"].strip()
                break
        if patient_id is None and idents:
            patient_id = idents[0]["value"].strip()
        patient_id = patient_id or pat.rid
        if not patient_id:
            pat.fail("required", "Patient has neither an identifier nor an id", f"{pat.path}.identifier")
            raise MapError("required", "the encounter's Patient has neither an identifier nor an id", f"{pat.path}.identifier")
        return Patient(patient_id=patient_id, first_name=first, last_name=last, date_of_birth=dob, sex=sex, address=self._address(r))

    @staticmethod
    def _address(r: dict[str, Any]) -> Address | None:
        addrs = [a for a in _list(r.get("address")) if isinstance(a, dict)]
        addrs.sort(key=lambda a: 0 if a.get("use") == "home" else 1)
        for a in addrs:
            lines = [x for x in _list(a.get("line")) if isinstance(x, str)] if isinstance(a.get("line"), list) else []
            city, state, postal = _str(a.get("city")), _str(a.get("state")), _str(a.get("postalCode"))
            if lines and city and state and postal:
                state = US_STATES.get(state.lower(), state)
                return Address(line1=lines[0].strip(), city=city, state=state, postal_code=postal)
        return None

    # --- providers ---------------------------------------------------------------------

    def _practitioner(self, enc: Entry, warnings: list[Issue], used: list[Entry] | None = None) -> tuple[Provider, Entry] | None:
        parts = [(i, p) for i, p in enumerate(_list(enc.resource.get("participant"))) if isinstance(p, dict) and p.get("individual") is not None]

        def rank(ip: tuple[int, dict]) -> int:
            codes = set()
            for t in _list(ip[1].get("type")):
                codes |= _cc_codes(t)
            for n, code in enumerate(PRIMARY_PERFORMER_TYPES):
                if code in codes:
                    return n
            return len(PRIMARY_PERFORMER_TYPES)

        for i, p in sorted(parts, key=rank):
            target, problem = self.ix.resolve(p["individual"], enc, ("Practitioner", "PractitionerRole"))
            if target is None:
                warnings.append(Issue("warning", "not-found", f"Encounter.participant.individual {problem}", (f"{enc.path}.participant[{i}].individual",)))
                continue
            provider = self._provider_from(target, warnings, used)
            if provider is not None:
                if used is not None:
                    used.append(target)
                return provider, target
        return None

    def _service_org(self, enc: Entry, warnings: list[Issue] | None = None) -> Entry | None:
        r = enc.resource
        if r.get("serviceProvider") is not None:
            org, problem = self.ix.resolve(r["serviceProvider"], enc, ("Organization",))
            if org is not None:
                return org
            if warnings is not None:
                warnings.append(Issue("warning", "not-found", f"Encounter.serviceProvider {problem}", (f"{enc.path}.serviceProvider",)))
        for loc in self._locations(enc):
            ref = loc.resource.get("managingOrganization")
            if ref is not None:
                org, _ = self.ix.resolve(ref, loc, ("Organization",))
                if org is not None:
                    return org
        return None

    def _locations(self, enc: Entry) -> list[Entry]:
        out = []
        for item in _list(enc.resource.get("location")):
            if isinstance(item, dict) and item.get("location") is not None:
                loc, _ = self.ix.resolve(item["location"], enc, ("Location",))
                if loc is not None:
                    out.append(loc)
        return out

    @staticmethod
    def _ident(resource: dict[str, Any], systems: tuple[str, ...], type_code: str | None = None) -> str | None:
        for i in _list(resource.get("identifier")):
            if isinstance(i, dict) and _str(i.get("value")):
                if i.get("system") in systems or (type_code and type_code in _cc_codes(i.get("type"))):
                    return i["value"].strip()
        return None

    def _provider_from(self, target: Entry, warnings: list[Issue], used: list[Entry] | None = None) -> Provider | None:
        r = target.resource
        if target.rtype == "Organization":
            name = _str(r.get("name")) or ""
            return Provider(npi=self._ident(r, NPI_SYSTEMS) or "", name=name, taxonomy=self._taxonomy(r),
                            tax_id=self._ident(r, EIN_SYSTEMS, "TAX"))
        if target.rtype == "PractitionerRole":
            prac_entry = None
            if r.get("practitioner") is not None:
                prac_entry, problem = self.ix.resolve(r["practitioner"], target, ("Practitioner",))
                if prac_entry is None:
                    warnings.append(Issue("warning", "not-found", f"PractitionerRole.practitioner {problem}", (f"{target.path}.practitioner",)))
            base = self._provider_from(prac_entry, warnings) if prac_entry else None
            if prac_entry is not None and used is not None:
                used.append(prac_entry)
            npi = self._ident(r, NPI_SYSTEMS) or (base.npi if base else "")
            taxonomy = None
            for s in _list(r.get("specialty")):
                for system, code, _ in _codings(s):
                    if system in NUCC and code:
                        taxonomy = taxonomy or code
            name = base.name if base else ""
            if not npi and not name:
                return None
            return Provider(npi=npi, name=name, taxonomy=taxonomy or (base.taxonomy if base else None))
        if target.rtype == "Practitioner":
            names = [n for n in _list(r.get("name")) if isinstance(n, dict)]
            names.sort(key=lambda n: {"official": 0, "usual": 1}.get(n.get("use"), 2))
            name = ""
            if names:
                n = names[0]
                given = [g.strip() for g in _list(n.get("given")) if isinstance(g, str)] if isinstance(n.get("given"), list) else []
                name = " ".join([*given[:1], _str(n.get("family")) or ""]).strip() or (_str(n.get("text")) or "")
            return Provider(npi=self._ident(r, NPI_SYSTEMS) or "", name=name, taxonomy=self._taxonomy(r))
        return None

    @staticmethod
    def _taxonomy(r: dict[str, Any]) -> str | None:
        for q in _list(r.get("qualification")) + [{"code": t} for t in _list(r.get("type"))]:
            if isinstance(q, dict):
                for system, code, _ in _codings(q.get("code")):
                    if system in NUCC and code:
                        return code
        return None

    # --- claims ------------------------------------------------------------------------

    @staticmethod
    def _claim_usable(claim: Entry) -> bool:
        r = claim.resource
        if r.get("status") in ("cancelled", "entered-in-error"):
            claim.outcome = EntryOutcome(claim.source, claim.index, "Claim", claim.rid, IGNORED, "informational",
                                         f"claim status '{r.get('status')}' is not used")
            return False
        if r.get("use") not in (None, "claim"):
            claim.outcome = EntryOutcome(claim.source, claim.index, "Claim", claim.rid, IGNORED, "informational",
                                         "only Claim.use 'claim' carries charges (not preauthorization/predetermination)")
            return False
        if "pharmacy" in _cc_codes(r.get("type")):
            claim.outcome = EntryOutcome(claim.source, claim.index, "Claim", claim.rid, IGNORED, "informational",
                                         "pharmacy claims are not professional services")
            return False
        return True

    @staticmethod
    def _seq_map(items: Any, ref_key: str) -> dict[int, dict[str, Any]]:
        out = {}
        for it in _list(items):
            if isinstance(it, dict) and isinstance(it.get("sequence"), int) and not isinstance(it.get("sequence"), bool):
                out[it["sequence"]] = it
        return out

    # --- diagnoses ---------------------------------------------------------------------

    def _condition_usable(self, cond: Entry) -> bool:
        vs = _cc_codes(cond.resource.get("verificationStatus"))
        if vs & {"entered-in-error", "refuted"}:
            if cond.outcome is None:
                cond.outcome = EntryOutcome(cond.source, cond.index, "Condition", cond.rid, IGNORED, "informational",
                                            "condition is refuted or entered in error")
            return False
        if _pick(cond.resource.get("code"), DX_PREFERENCE) is None:
            cond.fail("required", "Condition.code has neither a coding nor text", f"{cond.path}.code")
            return False
        return True

    def _diagnoses(self, enc: Entry, conditions: list[Entry], claims: list[Entry], used: list[Entry], warnings: list[Issue]) -> list[DocumentedDiagnosis]:
        ordered: list[tuple[Entry | None, Any, bool]] = []  # (condition entry, codeable concept, primary)
        seen: set[Any] = set()

        def add_condition(cond: Entry, primary: bool) -> None:
            if cond.identity in seen or not self._condition_usable(cond):
                return
            seen.add(cond.identity)
            ordered.append((cond, cond.resource.get("code"), primary))

        def add_cc(cc: Any, primary: bool) -> None:
            picked = _pick(cc, DX_PREFERENCE)
            if picked is None or ("cc", picked) in seen:
                return
            seen.add(("cc", picked))
            ordered.append((None, cc, primary))

        enc_dx = [(i, d) for i, d in enumerate(_list(enc.resource.get("diagnosis"))) if isinstance(d, dict)]
        enc_dx.sort(key=lambda x: x[1].get("rank") if isinstance(x[1].get("rank"), int) else 10**6)
        for i, d in enc_dx:
            cond, problem = self.ix.resolve(d.get("condition"), enc, ("Condition",))
            if cond is None:
                warnings.append(Issue("warning", "not-found", f"Encounter.diagnosis.condition {problem}", (f"{enc.path}.diagnosis[{i}].condition",)))
                continue
            primary = d.get("rank") == 1 or "billing" in _cc_codes(d.get("use"))
            add_condition(cond, primary)
        for claim in claims:
            dxs = sorted(self._seq_map(claim.resource.get("diagnosis"), "diagnosis").items())
            for seq, d in dxs:
                primary = seq == 1 or "principal" in set().union(*[_cc_codes(t) for t in _list(d.get("type"))] or [set()])
                if d.get("diagnosisReference") is not None:
                    cond, problem = self.ix.resolve(d["diagnosisReference"], claim, ("Condition",))
                    if cond is None:
                        warnings.append(Issue("warning", "not-found", f"Claim.diagnosis.diagnosisReference {problem}", (f"{claim.path}.diagnosis",)))
                        continue
                    add_condition(cond, primary)
                elif d.get("diagnosisCodeableConcept") is not None:
                    add_cc(d["diagnosisCodeableConcept"], primary)
        for cond in conditions:
            add_condition(cond, False)
        for cc in _list(enc.resource.get("reasonCode")):
            add_cc(cc, False)
        for i, ref in enumerate(_list(enc.resource.get("reasonReference"))):
            target, _ = self.ix.resolve(ref, enc, ("Condition",))
            if target is not None:
                add_condition(target, False)

        out = []
        primary_given = False
        for cond, cc, primary in ordered:
            system, code, display = _pick(cc, DX_PREFERENCE)  # type: ignore[misc]
            is_primary = primary and not primary_given
            primary_given = primary_given or is_primary
            out.append(DocumentedDiagnosis(system=system if code else None, code=code, display=display, is_primary=is_primary))
            if cond is not None:
                used.append(cond)
        return out

    # --- procedures --------------------------------------------------------------------

    @staticmethod
    def _immunization_note(imms: list[Entry]) -> str | None:
        """Immunization notes and dose numbers as note text (see note_text above)."""
        parts: list[str] = []
        for imm in imms:
            r = imm.resource
            if r.get("status") not in (None, "completed"):
                continue
            parts += [n["text"].strip() for n in _list(r.get("note")) if isinstance(n, dict) and isinstance(n.get("text"), str)
                      and n["text"].strip()]
            for pa in _list(r.get("protocolApplied")):
                if not isinstance(pa, dict):
                    continue
                dose = pa.get("doseNumberPositiveInt")
                if dose is None and isinstance(pa.get("doseNumberString"), str) and pa["doseNumberString"].strip().isdigit():
                    dose = int(pa["doseNumberString"].strip())
                if isinstance(dose, int) and not isinstance(dose, bool) and dose >= 1:
                    parts.append(f"dose {dose}")
        text = ". ".join(parts)
        return text[:4000] if text else None

    def _procedures(self, enc: Entry, procs: list[Entry], imms: list[Entry], claims: list[Entry], used: list[Entry], warnings: list[Issue]) -> list[DocumentedProcedure]:
        out: list[DocumentedProcedure] = []
        billed: set[Any] = set()
        for claim in claims:
            cr = claim.resource
            proc_seq = self._seq_map(cr.get("procedure"), "procedure")
            info_seq = self._seq_map(cr.get("supportingInfo"), "supportingInfo")
            dx_seq = self._seq_map(cr.get("diagnosis"), "diagnosis")
            items = [(i, it) for i, it in enumerate(_list(cr.get("item"))) if isinstance(it, dict)]
            items.sort(key=lambda x: x[1].get("sequence") if isinstance(x[1].get("sequence"), int) else 10**6)
            for i, item in items:
                ipath = f"{claim.path}.item[{i}]"
                if not self._item_for(item, claim, enc):
                    continue
                source_cc = item.get("productOrService")
                source_entry: Entry | None = None
                for seq in _list(item.get("procedureSequence")):
                    p = proc_seq.get(seq) if isinstance(seq, int) else None
                    if p and p.get("procedureReference") is not None:
                        source_entry, problem = self.ix.resolve(p["procedureReference"], claim, ("Procedure",))
                        if source_entry is None:
                            warnings.append(Issue("warning", "not-found", f"Claim.procedure.procedureReference {problem}", (f"{claim.path}.procedure",)))
                    elif p and p.get("procedureCodeableConcept") is not None:
                        source_cc = source_cc or p["procedureCodeableConcept"]
                    break
                if source_entry is None:
                    for seq in _list(item.get("informationSequence")):
                        info = info_seq.get(seq) if isinstance(seq, int) else None
                        if info and info.get("valueReference") is not None:
                            source_entry, _ = self.ix.resolve(info["valueReference"], claim, ("Immunization", "Procedure", "Observation", "MedicationAdministration", "Device"))
                        break
                if source_entry is None and self._is_diagnosis_echo(item, dx_seq, claim):
                    continue
                if source_entry is not None and source_entry.rtype == "Procedure" and source_entry.resource.get("code") is not None:
                    cc = source_cc if _pick(source_cc, PX_PREFERENCE) else source_entry.resource.get("code")
                    # the Procedure's own CPT/HCPCS wins over a SNOMED product code
                    if _pick(source_entry.resource.get("code"), PX_PREFERENCE) and _pick(source_entry.resource.get("code"), PX_PREFERENCE)[0] in (CPT, HCPCS):
                        cc = source_entry.resource.get("code")
                else:
                    cc = source_cc
                picked = _pick(cc, PX_PREFERENCE)
                if picked is None:
                    warnings.append(Issue("warning", "incomplete", "Claim.item has no productOrService coding or text; line skipped", (f"{ipath}.productOrService",)))
                    continue
                charge = self._item_charge(item, ipath, warnings)
                units = item.get("quantity", {}).get("value") if isinstance(item.get("quantity"), dict) else None
                units = int(units) if isinstance(units, (int, float)) and not isinstance(units, bool) and units >= 1 and float(units).is_integer() and units <= 9999 else 1
                modifiers = []
                for m in _list(item.get("modifier")):
                    for _, code, _ in _codings(m):
                        if code and code not in modifiers:
                            modifiers.append(code)
                if len(modifiers) > 4:
                    warnings.append(Issue("warning", "too-long", "more than four modifiers on a claim item; the first four are kept", (f"{ipath}.modifier",)))
                    modifiers = modifiers[:4]
                out.append(self._procedure(picked, units, modifiers, charge))
                if source_entry is not None:
                    billed.add(source_entry.identity)
                    used.append(source_entry)
        for p in procs:
            if p.identity in billed:
                continue
            if p.resource.get("status") in ("not-done", "entered-in-error", "stopped"):
                if p.outcome is None:
                    p.outcome = EntryOutcome(p.source, p.index, "Procedure", p.rid, IGNORED, "informational",
                                             f"procedure status '{p.resource.get('status')}' is not a performed service")
                continue
            picked = _pick(p.resource.get("code"), PX_PREFERENCE)
            if picked is None:
                p.fail("required", "Procedure.code has neither a coding nor text", f"{p.path}.code")
                continue
            billed.add(p.identity)
            out.append(self._procedure(picked, 1, [], None))
            used.append(p)
        for imm in imms:
            if imm.identity in billed:
                continue
            if imm.resource.get("status") not in (None, "completed"):
                if imm.outcome is None:
                    imm.outcome = EntryOutcome(imm.source, imm.index, "Immunization", imm.rid, IGNORED, "informational",
                                               "immunization was not completed")
                continue
            picked = _pick(imm.resource.get("vaccineCode"), PX_PREFERENCE)
            if picked is None:
                imm.fail("required", "Immunization.vaccineCode has neither a coding nor text", f"{imm.path}.vaccineCode")
                continue
            billed.add(imm.identity)
            out.append(self._procedure(picked, 1, [], None))
            used.append(imm)
        return out

    def _item_for(self, item: dict[str, Any], claim: Entry, enc: Entry) -> bool:
        """An item belongs to this encounter when it names it, or names no encounter and
        its Claim is linked to this encounter only."""
        refs = _list(item.get("encounter"))
        if not refs:
            return len([k for k, v in self._enc_links.items() if claim in v["Claim"]]) <= 1
        for ref in refs:
            target, _ = self.ix.resolve(ref, claim, ("Encounter",))
            if target is enc:
                return True
        return False

    def _is_diagnosis_echo(self, item: dict[str, Any], dx_seq: dict[int, dict[str, Any]], claim: Entry) -> bool:
        """Synthea lists each diagnosis again as an unpriced item whose product code is the
        diagnosis code itself: that is a diagnosis, not a service."""
        if not item.get("diagnosisSequence") or item.get("procedureSequence") or item.get("informationSequence"):
            return False
        if item.get("net") is not None or item.get("unitPrice") is not None:
            return False
        product = {(s, c) for s, c, _ in _codings(item.get("productOrService")) if c}
        if not product:
            return False
        dx_codes: set[tuple[str | None, str]] = set()
        for seq in _list(item.get("diagnosisSequence")):
            d = dx_seq.get(seq) if isinstance(seq, int) else None
            if not d:
                continue
            cc = d.get("diagnosisCodeableConcept")
            if d.get("diagnosisReference") is not None:
                cond, _ = self.ix.resolve(d["diagnosisReference"], claim, ("Condition",))
                cc = cond.resource.get("code") if cond is not None else None
            dx_codes |= {(s, c) for s, c, _ in _codings(cc) if c}
        return product <= dx_codes

    @staticmethod
    def _item_charge(item: dict[str, Any], ipath: str, warnings: list[Issue]) -> Decimal | None:
        net = item.get("net")
        value = _money(net)
        money = net
        if value is None and item.get("unitPrice") is not None:
            unit = _money(item.get("unitPrice"))
            qty = item["quantity"].get("value") if isinstance(item.get("quantity"), dict) else 1
            if unit is not None and isinstance(qty, (int, float)) and not isinstance(qty, bool):
                value = unit * Decimal(str(qty))
                money = item.get("unitPrice")
        if value is None:
            if net is not None:
                warnings.append(Issue("warning", "value", "Claim.item.net is not a valid Money amount; charge left for the fee schedule", (f"{ipath}.net",)))
            return None
        currency = money.get("currency") if isinstance(money, dict) else None
        if currency not in (None, "USD"):
            warnings.append(Issue("warning", "not-supported", "Claim.item charge is not in USD; charge left for the fee schedule", (f"{ipath}.net",)))
            return None
        if value < 0:
            warnings.append(Issue("warning", "value", "Claim.item charge is negative; charge left for the fee schedule", (f"{ipath}.net",)))
            return None
        value = value.quantize(_CENT, rounding=ROUND_HALF_UP)
        if value >= Decimal("10000000000"):
            warnings.append(Issue("warning", "value", "Claim.item charge is too large; charge left for the fee schedule", (f"{ipath}.net",)))
            return None
        return value

    @staticmethod
    def _procedure(picked: tuple[str | None, str | None, str], units: int, modifiers: list[str], charge: Decimal | None) -> DocumentedProcedure:
        system, code, display = picked
        laterality = None
        if "50" in modifiers:
            laterality = Laterality.BILATERAL
        elif "RT" in modifiers:
            laterality = Laterality.RIGHT
        elif "LT" in modifiers:
            laterality = Laterality.LEFT
        return DocumentedProcedure(system=system if code else None, code=code, display=display, units=units,
                                   modifiers=modifiers, laterality=laterality, charge=charge)

    # --- coverage ----------------------------------------------------------------------

    def _coverage(self, enc: Entry, pat: Entry, dos: date, claims: list[Entry], used: list[Entry], warnings: list[Issue]) -> Coverage | None:
        candidates: list[Entry] = []
        named_by_display = False
        for claim in claims:
            ins = [x for x in _list(claim.resource.get("insurance")) if isinstance(x, dict)]
            ins.sort(key=lambda x: (0 if x.get("focal") is True else 1, x.get("sequence") if isinstance(x.get("sequence"), int) else 10**6))
            for x in ins:
                ref = x.get("coverage")
                if isinstance(ref, dict) and ref.get("reference") is None and ref.get("identifier") is None and ref.get("display"):
                    named_by_display = True
                    continue
                cov, problem = self.ix.resolve(ref, claim, ("Coverage",))
                if cov is None:
                    warnings.append(Issue("warning", "not-found", f"Claim.insurance.coverage {problem}", (f"{claim.path}.insurance",)))
                    continue
                candidates.append(cov)
        if not candidates:
            covs = []
            for cov in self._coverages_by_patient.get(pat.identity, []):
                r = cov.resource
                if r.get("status") not in (None, "active"):
                    continue
                period = r.get("period") if isinstance(r.get("period"), dict) else {}
                start, end = _full_date(period.get("start")), _full_date(period.get("end"))
                if (start and dos < start) or (end and dos > end):
                    continue
                covs.append(cov)
            covs.sort(key=lambda c: c.resource.get("order") if isinstance(c.resource.get("order"), int) else 10**6)
            candidates = covs
        for cov in candidates:
            mapped = self._coverage_from(cov, pat, warnings, used)
            if mapped is not None:
                used.append(cov)
                return mapped
        if not candidates:
            if named_by_display:
                warnings.append(Issue("warning", "incomplete", "no Coverage resource: the Claim names a payer by display only (no payer id, no member id); coverage left empty so the scrubber holds the claim", (f"{enc.path}",)))
            else:
                warnings.append(Issue("warning", "incomplete", "no Coverage for the patient on the date of service; coverage left empty so the scrubber holds the claim", (f"{enc.path}",)))
        return None

    def _coverage_from(self, cov: Entry, pat: Entry, warnings: list[Issue], used: list[Entry]) -> Coverage | None:
        r = cov.resource
        payer_name = ""
        payer_id = None
        for i, ref in enumerate(_list(r.get("payor"))):
            org, problem = self.ix.resolve(ref, cov, ("Organization", "Patient", "RelatedPerson"))
            if org is None:
                payer_name = payer_name or (_str(ref.get("display")) if isinstance(ref, dict) else None) or ""
                if isinstance(ref, dict) and isinstance(ref.get("identifier"), dict):
                    payer_id = _str(ref["identifier"].get("value"))
                continue
            if org.rtype != "Organization":
                continue
            used.append(org)
            payer_name = _str(org.resource.get("name")) or payer_name
            payer_id = self._payer_id(org.resource)
            break
        if not payer_id:
            warnings.append(Issue("warning", "incomplete", "Coverage payer has no identifier (payer id); coverage left empty so the scrubber holds the claim", (f"{cov.path}.payor",)))
            return None
        member_id = _str(r.get("subscriberId")) or self._ident(r, (), "MB") or next(
            (i["value"].strip() for i in _list(r.get("identifier")) if isinstance(i, dict) and _str(i.get("value"))), "")
        if not member_id:
            warnings.append(Issue("warning", "incomplete", "Coverage has no subscriberId or member identifier", (f"{cov.path}.subscriberId",)))
        group = None
        for c in _list(r.get("class")):
            if isinstance(c, dict) and "group" in _cc_codes(c.get("type")) and _str(c.get("value")):
                group = c["value"].strip()
                break
        rel_codes = _cc_codes(r.get("relationship"))
        relationship = SubscriberRelationship.OTHER
        for code, rel in (("self", SubscriberRelationship.SELF), ("spouse", SubscriberRelationship.SPOUSE), ("child", SubscriberRelationship.CHILD)):
            if code in rel_codes:
                relationship = rel
                break
        else:
            if not rel_codes and r.get("subscriber") is not None:
                sub, _ = self.ix.resolve(r["subscriber"], cov, ("Patient", "RelatedPerson"))
                if sub is not None and sub.identity == pat.identity:
                    relationship = SubscriberRelationship.SELF
        return Coverage(payer_id=payer_id, payer_name=payer_name, plan_type=self._plan_type(r, payer_name),
                        member_id=member_id, group_number=group, relationship=relationship)

    @staticmethod
    def _payer_id(org: dict[str, Any]) -> str | None:
        idents = [i for i in _list(org.get("identifier")) if isinstance(i, dict) and _str(i.get("value"))]
        # a payer-id/NAIC-like identifier first, then anything
        idents.sort(key=lambda i: 0 if any(k in str(i.get("system", "")).lower() for k in ("payer", "naic", "6.300")) else 1)
        return idents[0]["value"].strip() if idents else None

    @staticmethod
    def _plan_type(r: dict[str, Any], payer_name: str) -> PlanType:
        for system, code, _ in _codings(r.get("type")):
            if system in SOPT and code:
                if code.startswith("1"):
                    return PlanType.MEDICARE
                if code.startswith("2"):
                    return PlanType.MEDICAID
                if code.startswith("311"):
                    return PlanType.TRICARE
                if code.startswith(("5", "6")):
                    return PlanType.COMMERCIAL
                if code.startswith("8"):
                    return PlanType.SELF_PAY
                return PlanType.OTHER
        words = (payer_name + " " + _cc_text(r.get("type"))).lower()
        for word, plan in (("medicare", PlanType.MEDICARE), ("medicaid", PlanType.MEDICAID), ("tricare", PlanType.TRICARE),
                           ("self pay", PlanType.SELF_PAY), ("self-pay", PlanType.SELF_PAY)):
            if word in words:
                return plan
        return PlanType.OTHER

    def _fill_from_practice(self, billing: Provider) -> tuple[Provider, list[str]]:
        """Empty billing NPI / tax id / taxonomy / name from the practice profile."""
        p = self.practice
        wanted = (("npi", "NPI", p.billing_npi), ("tax_id", "tax id", p.billing_tax_id),
                  ("taxonomy", "taxonomy", p.billing_taxonomy), ("name", "name", p.billing_name))
        update = {f: v for f, _, v in wanted if v and not getattr(billing, f)}
        filled = [label for f, label, _ in wanted if f in update]
        return (billing.model_copy(update=update) if update else billing), filled

    # --- classification ----------------------------------------------------------------

    @staticmethod
    def _visit_type(r: dict[str, Any]) -> VisitType:
        types = _list(r.get("type"))
        cpt = set().union(*[_cc_codes(t, CPT) for t in types]) if types else set()
        snomed = set().union(*[_cc_codes(t, SNOMED) for t in types]) if types else set()
        text = " ".join(_cc_text(t) for t in types)
        klass = _code_of(r.get("class"))
        if any("99381" <= c <= "99397" for c in cpt):
            return VisitType.PREVENTIVE
        if any(c in {"99441", "99442", "99443", "98966", "98967", "98968"} for c in cpt) or klass == "VR":
            return VisitType.TELEHEALTH
        if any("99202" <= c <= "99215" for c in cpt):
            return VisitType.OFFICE
        if snomed & TELEHEALTH_SNOMED or any(w in text for w in TELEHEALTH_WORDS):
            return VisitType.TELEHEALTH
        if snomed & PREVENTIVE_SNOMED or any(w in text for w in PREVENTIVE_WORDS):
            return VisitType.PREVENTIVE
        if snomed & PROCEDURE_ONLY_SNOMED:
            return VisitType.PROCEDURE_ONLY
        if snomed & OFFICE_SNOMED:
            return VisitType.OFFICE
        if klass == "AMB":
            return VisitType.OFFICE
        return VisitType.OTHER

    def _place_of_service(self, enc: Entry, claims: list[Entry], visit_type: VisitType, used: list[Entry], warnings: list[Issue]) -> str:
        def explicit(cc: Any) -> str | None:
            for system, code, _ in _codings(cc):
                if system in POS_SYSTEMS and code and re.fullmatch(r"[0-9]{2}", code):
                    return code
            return None

        for loc in self._locations(enc):
            for t in _list(loc.resource.get("type")):
                code = explicit(t)
                if code:
                    used.append(loc)
                    return code
        for claim in claims:
            for item in _list(claim.resource.get("item")):
                if isinstance(item, dict) and self._item_for(item, claim, enc):
                    code = explicit(item.get("locationCodeableConcept"))
                    if code:
                        return code
            if claim.resource.get("facility") is not None:
                fac, _ = self.ix.resolve(claim.resource["facility"], claim, ("Location",))
                if fac is not None:
                    for t in _list(fac.resource.get("type")):
                        code = explicit(t)
                        if code:
                            used.append(fac)
                            return code
        if visit_type == VisitType.TELEHEALTH:
            return "10"
        klass = _code_of(enc.resource.get("class"))
        if klass in CLASS_POS:
            return CLASS_POS[klass]
        warnings.append(Issue("warning", "incomplete", "place of service could not be derived from Location, Claim or Encounter.class; 99 (other) used", (f"{enc.path}.class",)))
        return "99"

    @staticmethod
    def _length_minutes(r: dict[str, Any], enc: Entry, warnings: list[Issue]) -> int | None:
        length = r.get("length")
        if not isinstance(length, dict):
            return None
        value = length.get("value")
        unit = length.get("code") or length.get("unit")
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            warnings.append(Issue("warning", "value", "Encounter.length has no numeric value", (f"{enc.path}.length",)))
            return None
        factor = {"min": 1, "minute": 1, "minutes": 1, "h": 60, "hour": 60, "hours": 60, "s": 1 / 60}.get(str(unit).lower())
        if factor is None:
            warnings.append(Issue("warning", "value", "Encounter.length unit is not minutes or hours", (f"{enc.path}.length",)))
            return None
        minutes = round(value * factor)
        if minutes > 1440:
            warnings.append(Issue("warning", "value", "Encounter.length exceeds one day; not used as documented time", (f"{enc.path}.length",)))
            return None
        return minutes


def claim_type(encounter: dict[str, Any]) -> str:
    """``institutional`` for a facility stay (Encounter.class inpatient/observation/short
    stay/home health, or an admission type concept), else ``professional``."""
    if _code_of(encounter.get("class")) in INSTITUTIONAL_CLASSES:
        return INSTITUTIONAL
    if _cc_codes_list(encounter.get("type"), SNOMED) & INSTITUTIONAL_SNOMED:
        return INSTITUTIONAL
    return PROFESSIONAL


def _cc_codes_list(types: Any, system: str) -> set[str]:
    out: set[str] = set()
    for t in _list(types):
        out |= _cc_codes(t, system)
    return out


# --- public entry points ---------------------------------------------------------------


def map_bundles(
    bundles: Iterable[tuple[str, Any]],
    *,
    source_system: str = DEFAULT_SOURCE_SYSTEM,
    reference_bundles: Iterable[tuple[str, Any]] = (),
    practice: Any = None,
) -> MappingResult:
    """Map several Bundles sharing one reference index (``(source name, parsed JSON)``
    pairs). A Bundle that is not processable at all gets one outcome with index -1.
    ``reference_bundles`` (e.g. Synthea's practitioner/hospital bundles) only serve to
    resolve references; their entries get no outcomes."""
    ix = ResourceIndex()
    for name, bundle in reference_bundles:
        try:
            check_bundle(bundle)
        except BundleError:
            continue
        ix.add_bundle(bundle, name, report=False)
    for name, bundle in bundles:
        try:
            check_bundle(bundle)
        except BundleError as exc:
            first = exc.issues[0]
            ix.bundle_outcomes.append(EntryOutcome(name, -1, "Bundle", None, ERROR, first.code, str(exc), expression=first.expression,
                                                   issues=list(exc.issues[1:])))
            continue
        ix.add_bundle(bundle, name)
    return _Mapper(ix, source_system, practice).run()


def map_bundle(bundle: Any, *, source: str = "request", source_system: str = DEFAULT_SOURCE_SYSTEM,
               reference_bundles: Iterable[tuple[str, Any]] = ()) -> MappingResult:
    """Map one Bundle. Raises :class:`BundleError` when it is not a processable Bundle."""
    check_bundle(bundle)
    return map_bundles([(source, bundle)], source_system=source_system, reference_bundles=reference_bundles)


__all__ = [
    "BundleError", "DEFAULT_SOURCE_SYSTEM", "INSTITUTIONAL_REASON", "claim_type", "MappingResult", "encounter_stable_key", "fingerprint",
    "make_encounter_id", "map_bundle", "map_bundles",
]
