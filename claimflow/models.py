"""pydantic models mirroring the Avro contracts in ``schemas/`` (latest versions).

``tests/unit/test_models_match_schemas.py`` fails if a model and its schema drift. Models
validate at the edge; ``to_avro()`` gives the dict fastavro writes. Money is ``Decimal``
with at most two decimal places, never a float."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

Money = Annotated[Decimal, Field(max_digits=12, decimal_places=2, allow_inf_nan=False)]


class Contract(BaseModel):
    """Base of every contract model: frozen-by-convention, strict field names."""

    model_config = ConfigDict(extra="forbid", use_enum_values=False, validate_default=True)
    avro_name: ClassVar[str | None] = None

    def to_avro(self) -> dict[str, Any]:
        """The dict fastavro writes: pydantic's own (compiled) dump in python mode, so
        Decimal, date and datetime stay themselves and enum members stay members (str
        enums: fastavro matches them to their symbols). Byte-identical to a field-by-field
        walk (tests/unit/test_codec_dump.py) at a fraction of its cost."""
        return self.model_dump()


def utcnow() -> datetime:
    """Now in UTC at millisecond precision (what Avro timestamp-millis keeps)."""
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def safe_errors(exc: ValidationError, limit: int = 5) -> str:
    """Render a pydantic error without the offending input values (they may be PHI)."""
    parts = []
    for err in exc.errors(include_input=False, include_url=False, include_context=False)[:limit]:
        loc = ".".join(str(p) for p in err["loc"]) or "<root>"
        parts.append(f"{loc}: {err['msg']}")
    more = exc.error_count() - limit
    if more > 0:
        parts.append(f"(+{more} more)")
    return "; ".join(parts)


# --- enums (Avro enums; symbol = value) -------------------------------------------------


class AdministrativeSex(str, Enum):
    FEMALE = "female"
    MALE = "male"
    UNKNOWN = "unknown"


class PlanType(str, Enum):
    MEDICARE = "medicare"
    MEDICAID = "medicaid"
    COMMERCIAL = "commercial"
    TRICARE = "tricare"
    SELF_PAY = "self_pay"
    OTHER = "other"


class SubscriberRelationship(str, Enum):
    SELF = "self"
    SPOUSE = "spouse"
    CHILD = "child"
    OTHER = "other"


class VisitType(str, Enum):
    OFFICE = "office"
    TELEHEALTH = "telehealth"
    PREVENTIVE = "preventive"
    PROCEDURE_ONLY = "procedure_only"
    OTHER = "other"


class PatientStatus(str, Enum):
    NEW = "new"
    ESTABLISHED = "established"
    UNKNOWN = "unknown"


class MdmLevel(str, Enum):
    STRAIGHTFORWARD = "straightforward"
    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"


class Laterality(str, Enum):
    LEFT = "left"
    RIGHT = "right"
    BILATERAL = "bilateral"


class Provenance(str, Enum):
    DOCUMENTED = "documented"
    MAPPED = "mapped"
    INFERRED = "inferred"
    REVIEWED = "reviewed"
    LEARNED = "learned"  # CodedEncounter v2: a mapping learned from agreeing coder decisions


class ProcedureCodeType(str, Enum):
    CPT = "cpt"
    HCPCS = "hcpcs"


class ChargeSource(str, Enum):
    DOCUMENTED = "documented"
    FEE_SCHEDULE = "fee_schedule"


class EditFamily(str, Enum):
    REQUIRED_DATA = "required_data"
    NPI = "npi"
    DIAGNOSIS_VALIDITY = "diagnosis_validity"
    PROCEDURE_VALIDITY = "procedure_validity"
    MODIFIER = "modifier"
    NCCI_PTP = "ncci_ptp"
    MUE = "mue"
    ADD_ON = "add_on"
    AGE_SEX = "age_sex"
    PLACE_OF_SERVICE = "place_of_service"
    EM_LEVEL = "em_level"
    TIMELY_FILING = "timely_filing"
    DUPLICATE = "duplicate"
    OTHER = "other"


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


class AdjustmentGroup(str, Enum):
    """CAS01 claim adjustment group code."""

    CONTRACTUAL_OBLIGATION = "CO"
    PATIENT_RESPONSIBILITY = "PR"
    OTHER_ADJUSTMENT = "OA"
    PAYER_INITIATED = "PI"
    CORRECTION_REVERSAL = "CR"


class ClaimStatusCode(str, Enum):
    """CLP02 claim status code of an 835 claim payment (loop 2100), as the payer reports it
    (X12 835 005010X221A1). ``Adjudication.claim_status_code`` carries the code itself."""

    PROCESSED_AS_PRIMARY = "1"
    PROCESSED_AS_SECONDARY = "2"
    PROCESSED_AS_TERTIARY = "3"
    DENIED = "4"
    PRIMARY_FORWARDED = "19"
    SECONDARY_FORWARDED = "20"
    TERTIARY_FORWARDED = "21"
    REVERSAL = "22"
    NOT_OUR_CLAIM = "23"
    PREDETERMINATION = "25"

    @property
    def text(self) -> str:
        return _CLP02_TEXT[self]


_CLP02_TEXT = {
    ClaimStatusCode.PROCESSED_AS_PRIMARY: "processed as primary",
    ClaimStatusCode.PROCESSED_AS_SECONDARY: "processed as secondary",
    ClaimStatusCode.PROCESSED_AS_TERTIARY: "processed as tertiary",
    ClaimStatusCode.DENIED: "denied",
    ClaimStatusCode.PRIMARY_FORWARDED: "processed as primary, forwarded to additional payer(s)",
    ClaimStatusCode.SECONDARY_FORWARDED: "processed as secondary, forwarded to additional payer(s)",
    ClaimStatusCode.TERTIARY_FORWARDED: "processed as tertiary, forwarded to additional payer(s)",
    ClaimStatusCode.REVERSAL: "reversal of previous payment",
    ClaimStatusCode.NOT_OUR_CLAIM: "not our claim, forwarded to additional payer(s)",
    ClaimStatusCode.PREDETERMINATION: "predetermination pricing only, no payment",
}


class Disposition(str, Enum):
    APPEAL = "appeal"
    CORRECT_AND_RESUBMIT = "correct_and_resubmit"
    CORRECTED_CLAIM_WITH_MODIFIER = "corrected_claim_with_modifier"
    BILL_PATIENT = "bill_patient"
    WRITE_OFF = "write_off"
    INFORMATIONAL = "informational"
    VERIFY_DUPLICATE = "verify_duplicate"
    REBILL_OTHER_PAYER = "rebill_other_payer"
    NO_ACTION = "no_action"
    MANUAL_REVIEW = "manual_review"


class AppealLevel(str, Enum):
    REDETERMINATION = "redetermination"
    RECONSIDERATION = "reconsideration"
    ALJ_HEARING = "alj_hearing"
    APPEALS_COUNCIL = "appeals_council"
    JUDICIAL_REVIEW = "judicial_review"
    PAYER_INTERNAL = "payer_internal"


class ClaimState(str, Enum):
    """A claim's state in the adjudicator's ledger and on claims.status.v1 (ours, not an X12
    code list: X12 reports it through the 277CA STC01 category, the 999 IK501 and the 835
    CLP02, which the payer gateway and the adjudicator map to these states)."""

    CREATED = "created"
    HELD = "held"
    SUBMITTED = "submitted"
    ACKNOWLEDGED = "acknowledged"
    REJECTED = "rejected"
    PAID = "paid"
    PARTIALLY_PAID = "partially_paid"
    DENIED = "denied"
    APPEALED = "appealed"
    CLOSED = "closed"
    REVERSED = "reversed"
    CORRECTED = "corrected"
    VOIDED = "voided"


# --- EncounterEvent ---------------------------------------------------------------------


class Address(Contract):
    line1: str
    city: str
    state: str
    postal_code: str


class Patient(Contract):
    patient_id: str = Field(min_length=1)
    first_name: str
    last_name: str
    date_of_birth: date
    sex: AdministrativeSex = AdministrativeSex.UNKNOWN
    address: Address | None = None


class Coverage(Contract):
    payer_id: str = Field(min_length=1)
    payer_name: str
    plan_type: PlanType = PlanType.OTHER
    member_id: str
    group_number: str | None = None
    relationship: SubscriberRelationship = SubscriberRelationship.OTHER


class Provider(Contract):
    npi: str
    name: str
    taxonomy: str | None = None
    tax_id: str | None = None


class DocumentedDiagnosis(Contract):
    system: str | None = None
    code: str | None = None
    display: str
    is_primary: bool = False


class DocumentedProcedure(Contract):
    system: str | None = None
    code: str | None = None
    display: str
    units: int = Field(default=1, ge=1, le=9999)
    modifiers: list[str] = Field(default_factory=list, max_length=4)
    laterality: Laterality | None = None
    charge: Money | None = Field(default=None, ge=0)


class EncounterEvent(Contract):
    avro_name: ClassVar[str] = "EncounterEvent"
    encounter_id: str = Field(min_length=1, max_length=64)
    version: int = Field(ge=1)
    source_system: str
    occurred_at: datetime
    patient: Patient
    coverage: Coverage | None = None
    rendering_provider: Provider
    billing_provider: Provider
    date_of_service: date
    place_of_service: str = Field(pattern=r"^[0-9]{2}$")
    visit_type: VisitType = VisitType.OTHER
    patient_status: PatientStatus = PatientStatus.UNKNOWN
    total_time_minutes: int | None = Field(default=None, ge=0, le=1440)
    mdm_level: MdmLevel | None = None
    diagnoses: list[DocumentedDiagnosis]
    procedures: list[DocumentedProcedure]
    note_text: str | None = None

    @field_validator("date_of_service")
    @classmethod
    def _dos_not_in_future(cls, v: date) -> date:
        if v > date.today():
            raise ValueError("date of service is in the future")
        return v


# --- EditFinding ------------------------------------------------------------------------


class EditFinding(Contract):
    avro_name: ClassVar[str] = "EditFinding"
    rule_id: str
    family: EditFamily = EditFamily.OTHER
    severity: Severity = Severity.ERROR
    line_numbers: list[int] = Field(default_factory=list)
    dataset: str | None = None
    dataset_version: str | None = None
    source_row: dict[str, str] = Field(default_factory=dict)
    message: str
    suggested_fix: str | None = None
    bypass_modifiers: list[str] = Field(default_factory=list)


# --- CodedEncounter / CodingReviewItem --------------------------------------------------


class CodedDiagnosis(Contract):
    sequence: int = Field(ge=1, le=12)
    code: str
    provenance: Provenance = Provenance.DOCUMENTED
    confidence: float = Field(ge=0.0, le=1.0)
    rule_id: str
    code_set_version: str
    source_system: str | None = None
    source_code: str | None = None
    provenance_note: str | None = None  # e.g. 'learned from 3 coder decisions'


class CodedServiceLine(Contract):
    line_number: int = Field(ge=1)
    code: str
    code_type: ProcedureCodeType = ProcedureCodeType.CPT
    modifiers: list[str] = Field(default_factory=list, max_length=4)
    units: int = Field(ge=1)
    charge: Money = Field(ge=0)
    charge_source: ChargeSource = ChargeSource.DOCUMENTED
    diagnosis_pointers: list[int] = Field(max_length=4)
    provenance: Provenance
    confidence: float = Field(ge=0.0, le=1.0)
    rule_id: str
    code_set_version: str
    provenance_note: str | None = None


class CodedEncounter(Contract):
    avro_name: ClassVar[str] = "CodedEncounter"
    encounter_id: str
    encounter_version: int
    coded_at: datetime
    patient: Patient
    coverage: Coverage | None = None
    rendering_provider: Provider
    billing_provider: Provider
    date_of_service: date
    place_of_service: str
    visit_type: VisitType
    patient_status: PatientStatus
    total_time_minutes: int | None = None
    mdm_level: MdmLevel | None = None
    diagnoses: list[CodedDiagnosis]
    service_lines: list[CodedServiceLine]
    confidence: float = Field(ge=0.0, le=1.0)
    coder_version: str


class ReviewReason(Contract):
    code: str
    message: str
    subject: str | None = None
    candidates: list[str] = Field(default_factory=list)


class CodingReviewItem(Contract):
    avro_name: ClassVar[str] = "CodingReviewItem"
    encounter_id: str
    encounter_version: int
    routed_at: datetime
    reasons: list[ReviewReason] = Field(min_length=1)
    confidence: float = Field(ge=0.0, le=1.0)
    proposed_diagnoses: list[CodedDiagnosis] = Field(default_factory=list)
    proposed_service_lines: list[CodedServiceLine] = Field(default_factory=list)
    coder_version: str


# --- Claim / HeldClaim ------------------------------------------------------------------


class ExpectedAllowed(Contract):
    """The allowed amount a payer's contract implies for one line (Claim v2), with evidence.
    ``amount`` None means no expectation, never $0."""

    amount: Money | None = None
    basis: str
    payer_id: str
    contract_term: str
    dataset: str | None = None
    dataset_version: str | None = None
    locality: str | None = None
    setting: str | None = None
    formula: str | None = None
    inputs: dict[str, str] = Field(default_factory=dict)
    tolerance_amount: Money = Field(ge=0)
    not_computed_reason: str | None = None


class ServiceLine(Contract):
    line_number: int = Field(ge=1)
    procedure_code: str
    modifiers: list[str] = Field(default_factory=list, max_length=4)
    units: int = Field(ge=1)
    charge: Money
    diagnosis_pointers: list[int] = Field(max_length=4)
    expected_allowed: ExpectedAllowed | None = None


class Claim(Contract):
    avro_name: ClassVar[str] = "Claim"
    claim_id: str
    encounter_id: str
    encounter_version: int
    frequency_code: str = Field(default="1", pattern=r"^[178]$")
    original_claim_id: str | None = None
    created_at: datetime
    patient: Patient
    coverage: Coverage | None = None
    rendering_provider: Provider
    billing_provider: Provider
    date_of_service: date
    place_of_service: str
    diagnoses: list[str]
    lines: list[ServiceLine]
    total_charge: Money
    findings: list[EditFinding] = Field(default_factory=list)


class HeldClaim(Contract):
    avro_name: ClassVar[str] = "HeldClaim"
    claim_id: str
    claim: Claim
    held_at: datetime
    error_count: int = Field(ge=1)
    rule_families: list[EditFamily] = Field(default_factory=list)



class ClaimCorrection(Contract):
    """A held claim corrected by a person; the scrubber re-scrubs and releases or re-holds it.
    Topic: ``claims.corrected.v1`` keyed by claim id."""

    avro_name: ClassVar[str] = "ClaimCorrection"
    correction_id: str = Field(min_length=1)
    claim_id: str = Field(min_length=1)
    claim: Claim
    corrected_by: str = Field(min_length=1, max_length=64)
    reason: str = Field(default="", max_length=2000)
    submitted_at: datetime

    @model_validator(mode="after")
    def _same_claim(self) -> "ClaimCorrection":
        if self.claim.claim_id != self.claim_id:
            raise ValueError("claim.claim_id must equal claim_id: a correction keeps the claim id")
        return self


# --- Adjudication -----------------------------------------------------------------------


class Adjustment(Contract):
    group_code: AdjustmentGroup = AdjustmentGroup.OTHER_ADJUSTMENT
    reason_code: str = Field(min_length=1, max_length=5)
    amount: Money
    quantity: Money | None = None


class ServicePayment(Contract):
    line_number: int | None = None
    procedure_code: str
    modifiers: list[str] = Field(default_factory=list)
    charge: Money
    paid_amount: Money
    units_paid: Money | None = None
    adjustments: list[Adjustment] = Field(default_factory=list)
    remark_codes: list[str] = Field(default_factory=list)
    line_item_control_number: str | None = None
    original_procedure_code: str | None = None
    original_modifiers: list[str] = Field(default_factory=list)
    original_units: Money | None = None
    allowed_amount: Money | None = None
    amounts: dict[str, Money] = Field(default_factory=dict)
    quantities: dict[str, Money] = Field(default_factory=dict)

    @property
    def label(self) -> str:
        """How to name this line in a message: never "line None"."""
        if self.line_number is not None:
            return f"service line {self.line_number}"
        if self.line_item_control_number:
            return f"service line ref {self.line_item_control_number} ({self.procedure_code})"
        return f"service line {self.procedure_code} (no line reference)"

    @property
    def billed_procedure_code(self) -> str:
        """The code as submitted: SVC06 when the payer sent one, else SVC01."""
        return self.original_procedure_code or self.procedure_code

    @property
    def downcoded(self) -> bool:
        """SVC06 present and different from SVC01: the payer paid another code than billed."""
        return self.original_procedure_code is not None and self.original_procedure_code != self.procedure_code


CLAIM_STATUS_CODES = {"1", "2", "3", "4", "19", "20", "21", "22", "23", "25"}


class Adjudication(Contract):
    avro_name: ClassVar[str] = "Adjudication"
    adjudication_id: str = Field(min_length=1)
    claim_id: str = Field(min_length=1)
    payer_id: str
    payer_claim_control_number: str
    claim_status_code: str
    total_charge: Money
    paid_amount: Money
    patient_responsibility: Money
    remittance_date: date
    trace_number: str | None = None
    claim_adjustments: list[Adjustment] = Field(default_factory=list)
    remark_codes: list[str] = Field(default_factory=list)
    service_lines: list[ServicePayment] = Field(default_factory=list)
    claim_amounts: dict[str, Money] = Field(default_factory=dict)
    claim_quantities: dict[str, Money] = Field(default_factory=dict)
    structural_warnings: list[str] = Field(default_factory=list)
    received_at: datetime
    source: str

    @field_validator("claim_status_code")
    @classmethod
    def _known_status(cls, v: str) -> str:
        if v not in CLAIM_STATUS_CODES:
            raise ValueError("CLP02 claim status code is not a 005010 value")
        return v


# --- DenialWorkItem / ClaimStatusChanged ------------------------------------------------


class WorkItemKind(str, Enum):
    """What a person has to do about a denial (DenialWorkItem v2)."""

    APPEAL = "appeal"
    CORRECTED_CLAIM = "corrected_claim"
    VERIFY_DUPLICATE = "verify_duplicate"
    REBILL_OTHER_PAYER = "rebill_other_payer"
    WRITE_OFF_APPROVAL = "write_off_approval"
    MANUAL_REVIEW = "manual_review"
    UNDERPAYMENT = "underpayment"


class WorkItemEvidence(Contract):
    label: str
    value: str
    detail: str | None = None


class DenialWorkItem(Contract):
    avro_name: ClassVar[str] = "DenialWorkItem"
    work_item_id: str
    claim_id: str
    adjudication_id: str
    payer_id: str
    disposition: Disposition = Disposition.MANUAL_REVIEW
    rule_id: str
    reason_codes: list[str]
    remark_codes: list[str] = Field(default_factory=list)
    appeal_level: AppealLevel | None = None
    deadline: date | None = None
    remittance_date: date
    denied_amount: Money
    overturn_likelihood: float = Field(ge=0.0, le=1.0)
    priority_score: float = Field(ge=0.0)
    explanation: str
    created_at: datetime
    kind: WorkItemKind = WorkItemKind.MANUAL_REVIEW
    recoverable_amount: Money | None = None
    level_index: int = Field(default=0, ge=0)
    reason_family: str | None = None
    evidence: list[WorkItemEvidence] = Field(default_factory=list)


class ClaimStatusChanged(Contract):
    avro_name: ClassVar[str] = "ClaimStatusChanged"
    event_id: str
    claim_id: str
    state: ClaimState = ClaimState.CREATED
    previous_state: ClaimState | None = None
    occurred_at: datetime
    source_service: str
    trigger_id: str | None = None
    reason: str | None = None
    disposition: Disposition | None = None
    rule_id: str | None = None
    charge: Money | None = None
    paid: Money | None = None


# --- adjudicator outputs: corrections, patient bills, appeal outcomes -------------------


class CorrectionRequest(Contract):
    """A claim to fix and send again (new claim or frequency-7 replacement). Topic proposal:
    ``claims.corrections.v1`` keyed by claim id."""

    avro_name: ClassVar[str] = "CorrectionRequest"
    correction_id: str
    claim_id: str
    adjudication_id: str
    payer_id: str
    disposition: Disposition
    rule_id: str
    line_numbers: list[int] = Field(default_factory=list)
    reason_codes: list[str]
    remark_codes: list[str] = Field(default_factory=list)
    frequency_code: str = Field(pattern=r"^[178]$", description="1 new claim (unprocessable), 7 replacement")
    suggested_modifiers: list[str] = Field(default_factory=list)
    amount: Money
    explanation: str
    created_at: datetime


class PatientBill(Contract):
    """Patient responsibility to put on a statement (negative amount = credit after a
    reversal). Topic proposal: ``billing.patient.v1`` keyed by claim id."""

    avro_name: ClassVar[str] = "PatientBill"
    bill_id: str
    claim_id: str
    adjudication_id: str
    payer_id: str
    rule_id: str
    amount: Money
    deductible: Money
    coinsurance: Money
    copay: Money
    other: Money
    remittance_date: date
    created_at: datetime


class AppealOutcomeKind(str, Enum):
    OVERTURNED = "overturned"
    PARTIALLY_OVERTURNED = "partially_overturned"
    UPHELD = "upheld"
    WITHDRAWN = "withdrawn"


class AppealOutcome(Contract):
    """A payer's decision on a filed appeal. Topic proposal: ``appeals.outcomes.v1`` keyed
    by claim id; written by the appeals desk / payer gateway."""

    avro_name: ClassVar[str] = "AppealOutcome"
    outcome_id: str
    work_item_id: str
    claim_id: str
    payer_id: str
    reason_code: str = Field(description="primary CARC of the appealed denial, e.g. 50")
    appeal_level: AppealLevel
    outcome: AppealOutcomeKind
    recovered_amount: Money = Field(default=0, ge=0)
    decided_on: date
    received_at: datetime


# --- workbench: CodingResolution / AccessEvent -----------------------------------------


class ResolutionAction(str, Enum):
    ACCEPT = "accept"
    EDIT = "edit"
    QUERY_PROVIDER = "query_provider"


class CodingResolution(Contract):
    """A human coder's decision on a review item. Topic: ``coding.resolutions.v1`` keyed by encounter id."""

    avro_name: ClassVar[str] = "CodingResolution"
    resolution_id: str = Field(min_length=1)
    encounter_id: str = Field(min_length=1)
    encounter_version: int = Field(ge=1)
    review_routed_at: datetime
    action: ResolutionAction
    resolved_by: str = Field(min_length=1, max_length=150)
    resolved_role: str = Field(min_length=1)
    resolved_at: datetime
    reason: str = Field(default="", max_length=2000)
    before_diagnoses: list[CodedDiagnosis] = Field(default_factory=list)
    before_service_lines: list[CodedServiceLine] = Field(default_factory=list)
    diagnoses: list[CodedDiagnosis] = Field(default_factory=list)
    service_lines: list[CodedServiceLine] = Field(default_factory=list)

    @model_validator(mode="after")
    def _reason_when_changed(self) -> "CodingResolution":
        if self.action is ResolutionAction.EDIT and not self.reason.strip():
            raise ValueError("an edited resolution needs an override reason")
        if self.action is ResolutionAction.QUERY_PROVIDER and (self.diagnoses or self.service_lines):
            raise ValueError("a query to the provider carries no codes")
        if self.action is not ResolutionAction.QUERY_PROVIDER and not self.service_lines:
            raise ValueError("a coding resolution needs at least one service line")
        return self


class AppealActionKind(str, Enum):
    ASSIGNED = "assigned"
    FILED = "filed"
    WITHDRAWN = "withdrawn"
    WRITTEN_OFF = "written_off"
    CORRECTED_CLAIM_SENT = "corrected_claim_sent"
    RESOLVED = "resolved"


class FilingMethod(str, Enum):
    PORTAL = "portal"
    FAX = "fax"
    MAIL = "mail"
    ELECTRONIC = "electronic"


class AppealAction(Contract):
    """A person's action on a denial work item (``appeals.actions.v1`` keyed by claim id):
    recorded once by ``action_id``, with who, when and why."""

    avro_name: ClassVar[str] = "AppealAction"
    action_id: str = Field(min_length=1)
    work_item_id: str = Field(min_length=1)
    claim_id: str = Field(min_length=1)
    action: AppealActionKind = AppealActionKind.ASSIGNED
    actor: str = Field(min_length=1)
    actor_role: str = Field(min_length=1)
    occurred_at: datetime
    reason: str | None = None
    assignee: str | None = None
    filed_on: date | None = None
    filing_method: FilingMethod | None = None
    appeal_level: AppealLevel | None = None
    late_reason: str | None = None
    packet_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    payer_id: str | None = None
    reason_code: str | None = None
    appealed_amount: Money | None = None
    write_off_amount: Money | None = None
    approved_by: str | None = None
    approver_role: str | None = None
    corrected_claim_id: str | None = None

    @model_validator(mode="after")
    def _fields_for_the_action(self) -> "AppealAction":
        if self.action == AppealActionKind.ASSIGNED and not self.assignee:
            raise ValueError("an assignment names the assignee")
        if self.action == AppealActionKind.FILED and self.filed_on is None:
            raise ValueError("a filing records the date it was filed")
        if self.action in (AppealActionKind.WITHDRAWN, AppealActionKind.WRITTEN_OFF, AppealActionKind.RESOLVED) and not (self.reason or "").strip():
            raise ValueError(f"{self.action.value} needs a reason")
        return self


class NoActionDisposition(Contract):
    """An adjustment that needs no person, with the recorded why (``denials.no-action.v1``)."""

    avro_name: ClassVar[str] = "NoActionDisposition"
    record_id: str
    claim_id: str
    adjudication_id: str
    payer_id: str
    disposition: Disposition
    rule_id: str
    reason_codes: list[str]
    remark_codes: list[str] = Field(default_factory=list)
    line_numbers: list[int] = Field(default_factory=list)
    amount: Money
    reason_family: str | None = None
    why: str
    decided_at: datetime
# --- UnderpaymentWorkItem (expected reimbursement) ---------------------------------------


class UnderpaymentKind(str, Enum):
    UNDERPAID = "underpaid"
    DOWNCODED = "downcoded"
    OVERPAID = "overpaid"


class UnderpaymentWorkItem(Contract):
    """A paid line whose allowed amount differs from the contract beyond tolerance. Topic:
    ``appeals.underpayments.v1`` keyed by claim id."""

    avro_name: ClassVar[str] = "UnderpaymentWorkItem"
    work_item_id: str
    claim_id: str
    adjudication_id: str
    payer_id: str
    line_number: int
    kind: UnderpaymentKind = UnderpaymentKind.UNDERPAID
    procedure_code: str
    adjudicated_procedure_code: str
    downcoded: bool
    refund_liability: bool
    expected_amount: Money
    allowed_amount: Money
    allowed_source: str
    paid_amount: Money
    recoverable_amount: Money = Field(ge=0)
    tolerance_amount: Money = Field(ge=0)
    contract_term: str
    dataset: str | None = None
    dataset_version: str | None = None
    evidence: dict[str, str] = Field(default_factory=dict)
    explanation: str
    remittance_date: date
    created_at: datetime
# --- operators: dead-letter actions and access audit ------------------------------------


class DlqActionKind(str, Enum):
    REPLAYED = "replayed"
    DISCARDED = "discarded"


class DlqAction(Contract):
    """An operator's replay or discard of one dead letter, on ``dlq.actions.v1`` keyed by the
    dead letter's coordinates; coordinates and classes only, never record content."""

    avro_name: ClassVar[str] = "DlqAction"
    action_id: str
    action: DlqActionKind
    dlq_topic: str
    dlq_partition: int = Field(ge=0)
    dlq_offset: int = Field(ge=0)
    service: str
    stage: str
    error_class: str
    source_topic: str
    source_partition: int
    source_offset: int
    replayed_to: str | None = None
    reason: str
    actor: str = Field(min_length=1)
    acted_at: datetime


class AccessOutcome(str, Enum):
    """What became of a read of PHI (``AccessEvent.outcome``)."""

    ALLOWED = "allowed"
    SERVED = "allowed"  # alias: the record was served
    DENIED = "denied"
    NOT_FOUND = "not_found"


class AccessEvent(Contract):
    """A person's read of PHI, or a denied attempt: who, in which role, which record, where and
    when; never the record's content. Topic: ``audit.access.v1`` keyed by record id (6 years)."""

    avro_name: ClassVar[str] = "AccessEvent"
    event_id: str = Field(min_length=1)
    occurred_at: datetime
    user: str = Field(min_length=1, max_length=150)
    role: str
    record_type: str = Field(min_length=1, max_length=32)
    record_id: str = Field(min_length=1)
    action: str = Field(min_length=1, max_length=32)
    outcome: AccessOutcome = AccessOutcome.ALLOWED
    service: str = Field(min_length=1)
    route: str = Field(max_length=128)
    reason: str | None = None


CONTRACT_MODELS: dict[str, type[Contract]] = {
    m.avro_name: m
    for m in (
        EncounterEvent,
        EditFinding,
        CodedEncounter,
        CodingReviewItem,
        Claim,
        HeldClaim,
        ClaimCorrection,
        Adjudication,
        DenialWorkItem,
        ClaimStatusChanged,
        CorrectionRequest,
        PatientBill,
        AppealOutcome,
        AppealAction,
        NoActionDisposition,
        UnderpaymentWorkItem,
        DlqAction,
        CodingResolution,
        AccessEvent,
    )
}
