"""Scrubber domain logic (pure: imports neither Faust nor Kafka).

``Scrubber.scrub`` builds the claim from a coded encounter, runs every edit family
(``services.scrubber.edits``) against reference data loaded once (``ScrubReference``) and
the cross-claim ``ClaimHistory``, and returns a ``ScrubResult``: a ``Claim`` (clean or
warnings only, findings attached) or a ``HeldClaim`` (at least one error), plus the
``HistoryUpdates`` to record once the claim has been emitted."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from claimflow.ids import claim_id as make_claim_id
from claimflow.models import (
    Claim,
    CodedEncounter,
    EditFamily,
    EditFinding,
    HeldClaim,
    MdmLevel,
    PatientStatus,
    ServiceLine,
    Severity,
    VisitType,
)

from services.coder.catalogue import shared_catalogue
from services.scrubber import edits
from services.scrubber.edits import EditContext, npi_is_valid  # noqa: F401  (npi_is_valid is public API)
from services.scrubber.history import (
    DEFAULT_DAY_KEY_SECRET,
    ClaimHistory,
    EmptyClaimHistory,
    HistoryUpdates,
    InMemoryClaimHistory,  # noqa: F401  (re-exported for the shell and tests)
    line_signature,
    make_day_key,
)
from services.scrubber.refdata import (
    SIMPLE_ICD10CM_FY,
    DiagnosisCodeSet,
    IcdCatalog,
    RefDataSet,
    load_icd10cm_dir,
    load_refdata,
    simple_icd10cm_code_set,
)

RULESET_VERSION = "scrubber-rules-1"


@lru_cache(maxsize=1)
def _default_icd_set() -> DiagnosisCodeSet:
    return simple_icd10cm_code_set()


@dataclass
class ScrubReference:
    """All reference data, loaded once at start; lookups are O(1) (see refdata)."""

    data: RefDataSet
    icd: IcdCatalog

    @classmethod
    def load(cls, data_dir: Path | None = None, *, payers_file: Path | None = None,
             icd_sets: dict[int, DiagnosisCodeSet] | None = None, strict_fiscal_year: bool = False,
             icd_catalogue=None) -> "ScrubReference":
        """STARTER sets by default; normalized files imported into ``data_dir`` replace them.
        ICD-10-CM: the shared effective-dated catalogue (``services.coder.catalogue``, the
        same the coder uses; ``icd_catalogue`` passes one already loaded), with
        ``icd10cm_fy*.csv`` files in ``data_dir`` first. ``icd_sets`` (tests) instead builds a
        plain per-year catalog from the given sets (``strict_fiscal_year`` applies there)."""
        data = load_refdata(Path(data_dir) if data_dir else None, payers_file)
        if icd_catalogue is None and icd_sets is None:
            # the coder's effective-dated catalogue: FY2020..FY2026 where loadable, imported
            # icd10cm_fy*.csv in data_dir first; both services give one verdict per code/date
            icd_catalogue = shared_catalogue(refdata_dir=Path(data_dir) if data_dir else None)
        if icd_catalogue is not None:
            return cls(data, IcdCatalog.from_catalogue(icd_catalogue))
        imported = load_icd10cm_dir(Path(data_dir)) if data_dir else {}
        if imported:  # normalized per-FY sets: the simple-icd-10-cm package is not loaded at all
            catalog = IcdCatalog(imported, strict=strict_fiscal_year)
        else:
            catalog = IcdCatalog({SIMPLE_ICD10CM_FY: _default_icd_set()}, strict=strict_fiscal_year)
        for fy, s in (icd_sets or {}).items():
            catalog.register(fy, s)
        return cls(data, catalog)

    def describe(self) -> dict[str, str]:
        """Dataset name -> version/source (no PHI), for start-up logs and /health."""
        d = self.data
        out = {k: f"{getattr(d, k).info.version} ({src})" for k, src in d.sources.items() if getattr(d, k, None) is not None}
        out["icd10cm"] = ", ".join(f"FY{fy}: {s.version}" for fy, s in sorted(self.icd.sets.items()))
        out["payers"] = f"{len(d.payers.payers)} payers"
        return out


@dataclass(frozen=True)
class ScrubResult:
    claim: Claim | None
    held: HeldClaim | None
    history_updates: HistoryUpdates | None = None
    findings: tuple[EditFinding, ...] = field(default=())

    @property
    def outcome(self) -> str:
        return "held" if self.held is not None else "clean"


def build_claim(coded: CodedEncounter, now: datetime) -> Claim:
    lines = [
        ServiceLine(line_number=l.line_number, procedure_code=l.code, modifiers=list(l.modifiers), units=l.units,
                    charge=l.charge, diagnosis_pointers=list(l.diagnosis_pointers))
        for l in coded.service_lines
    ]
    return Claim(
        claim_id=make_claim_id(coded.encounter_id, coded.encounter_version),
        encounter_id=coded.encounter_id, encounter_version=coded.encounter_version, created_at=now,
        patient=coded.patient, coverage=coded.coverage, rendering_provider=coded.rendering_provider,
        billing_provider=coded.billing_provider, date_of_service=coded.date_of_service,
        place_of_service=coded.place_of_service, diagnoses=[d.code for d in sorted(coded.diagnoses, key=lambda d: d.sequence)],
        lines=lines, total_charge=sum((l.charge for l in lines), Decimal("0.00")),
    )


def claim_day_key(claim: Claim, secret: bytes = DEFAULT_DAY_KEY_SECRET) -> str:
    return make_day_key(claim.patient.patient_id, claim.billing_provider.npi, claim.rendering_provider.npi, claim.date_of_service, secret)


def history_updates_for(claim: Claim, day_key: str) -> HistoryUpdates:
    """What to record for an emitted claim: units per code and line signatures."""
    units: dict[str, int] = {}
    sigs: list[str] = []
    for line in claim.lines:
        units[line.procedure_code] = units.get(line.procedure_code, 0) + line.units
        sigs.append(line_signature(line.procedure_code, line.modifiers, line.units))
    return HistoryUpdates(day_key=day_key, claim_id=claim.claim_id, units=units, signatures=tuple(dict.fromkeys(sigs)))


@dataclass(frozen=True)
class EncounterFacts:
    """Encounter facts the Claim does not carry but edits need (E/M level, telehealth)."""

    visit_type: VisitType | None = None
    patient_status: PatientStatus | None = None
    total_time_minutes: int | None = None
    mdm_level: MdmLevel | None = None

    @classmethod
    def of(cls, coded: CodedEncounter) -> "EncounterFacts":
        return cls(coded.visit_type, coded.patient_status, coded.total_time_minutes, coded.mdm_level)


class Scrubber:
    def __init__(self, ref: ScrubReference, *, families: list[EditFamily] | None = None,
                 day_key_secret: bytes = DEFAULT_DAY_KEY_SECRET, pricer=None):
        self.ref = ref
        self.pricer = pricer  # claimflow.reimbursement.contracts.Pricer: expected allowed per line (Claim v2)
        self.families = [edits.FAMILIES[f] for f in (families or list(edits.FAMILIES))]
        self._secret = day_key_secret

    def day_key(self, coded: CodedEncounter | Claim) -> str:
        """Non-PHI key of (patient id, billing NPI, rendering NPI, DOS) for cross-claim tables."""
        return make_day_key(coded.patient.patient_id, coded.billing_provider.npi, coded.rendering_provider.npi,
                            coded.date_of_service, self._secret)

    def findings(self, claim: Claim, facts: EncounterFacts, history: ClaimHistory, now: datetime) -> list[EditFinding]:
        ctx = EditContext(claim=claim, ref=self.ref.data, icd=self.ref.icd, history=history, day_key=self.day_key(claim), now=now,
                          visit_type=facts.visit_type, patient_status=facts.patient_status,
                          total_time_minutes=facts.total_time_minutes, mdm_level=facts.mdm_level)
        out: list[EditFinding] = []
        for family in self.families:
            out.extend(family(ctx))
        return out

    def _result(self, claim: Claim, findings: list[EditFinding], now: datetime) -> ScrubResult:
        claim = claim.model_copy(update={"findings": findings})
        errors = [f for f in findings if f.severity == Severity.ERROR]
        if errors:
            families = sorted({f.family for f in errors}, key=lambda f: f.value)
            held = HeldClaim(claim_id=claim.claim_id, claim=claim, held_at=now, error_count=len(errors), rule_families=families)
            return ScrubResult(None, held, None, tuple(findings))
        if self.pricer is not None:
            claim = self.pricer.annotate(claim)
        return ScrubResult(claim, None, history_updates_for(claim, self.day_key(claim)), tuple(findings))

    def scrub(self, coded: CodedEncounter, history: ClaimHistory, now: datetime) -> ScrubResult:
        claim = build_claim(coded, now)
        return self._result(claim, self.findings(claim, EncounterFacts.of(coded), history, now), now)

    def rescrub(self, claim: Claim, history: ClaimHistory, now: datetime, facts: EncounterFacts | None = None) -> ScrubResult:
        """Re-run every edit on a claim a person corrected (same claim id, findings reset).
        Without ``facts`` the E/M time/MDM and telehealth-visit checks have nothing to judge
        and stay silent; pass the encounter facts when the correction UI has them."""
        claim = claim.model_copy(update={"findings": []})
        return self._result(claim, self.findings(claim, facts or EncounterFacts(), history, now), now)


@lru_cache(maxsize=1)
def default_scrubber() -> Scrubber:
    return Scrubber(ScrubReference.load())


def scrub(coded: CodedEncounter, now: datetime) -> ScrubResult:
    """Stateless convenience (starter data, empty history): the skeleton app's entry point."""
    return default_scrubber().scrub(coded, EmptyClaimHistory(), now)


def rescrub(claim: Claim, now: datetime, history: ClaimHistory | None = None, facts: EncounterFacts | None = None,
            scrubber: Scrubber | None = None) -> ScrubResult:
    return (scrubber or default_scrubber()).rescrub(claim, history or EmptyClaimHistory(), now, facts)


def required_data_findings(claim: Claim) -> list[EditFinding]:
    """Skeleton-compatible helper: required-data and NPI findings only."""
    ctx = EditContext(claim=claim, ref=default_scrubber().ref.data, icd=default_scrubber().ref.icd, history=EmptyClaimHistory(),
                      day_key="", now=datetime.combine(date.today(), datetime.min.time()))
    return edits.required_data(ctx) + edits.npi(ctx)
