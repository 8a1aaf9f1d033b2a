"""Single-object encoding: round trips, writer-schema resolution, and clear errors."""

from __future__ import annotations

import io
import random
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from fastavro import schemaless_writer
from fastavro.schema import fingerprint as fastavro_fingerprint

from claimflow.codec import (
    MAGIC,
    Codec,
    CorruptBodyError,
    NotSingleObjectError,
    UnknownFingerprintError,
    WrongContractError,
)
from claimflow.models import CONTRACT_MODELS, EncounterEvent, utcnow
from claimflow.schemas import crc64_avro, default_store
from claimflow.synthetic import EncounterGenerator, adjudication_for
from claimflow.models import (
    AccessEvent,
    ClaimCorrection,
    Claim, ClaimState, ClaimStatusChanged, CodedDiagnosis, CodedEncounter, CodedServiceLine, CodingReviewItem,
    DenialWorkItem, Disposition, EditFamily, EditFinding, HeldClaim, Provenance, ReviewReason, ServiceLine, Severity,
    AppealLevel, AppealOutcome, AppealOutcomeKind, CorrectionRequest, PatientBill,
    AppealAction, AppealActionKind, FilingMethod, NoActionDisposition, WorkItemEvidence, WorkItemKind,
)
from claimflow.models import ExpectedAllowed, UnderpaymentKind, UnderpaymentWorkItem
from claimflow.models import AccessEvent, CodingResolution, DlqAction, DlqActionKind, ResolutionAction


def sample_records():
    """One instance of every contract (built directly, independent of service rules)."""
    gen = EncounterGenerator(seed=3, defect_rate=0.0)
    enc, _ = gen.encounter(1)
    now = utcnow()
    dx = [CodedDiagnosis(sequence=i + 1, code=d.code, provenance=Provenance.DOCUMENTED, confidence=1.0, rule_id="DX-DOC-001",
                         code_set_version="ICD-10-CM FY2026", source_system=d.system, source_code=d.code) for i, d in enumerate(enc.diagnoses)]
    lines = [CodedServiceLine(line_number=i + 1, code=p.code, modifiers=p.modifiers, units=p.units, charge=p.charge,
                              diagnosis_pointers=[1], provenance=Provenance.MAPPED, confidence=0.93, rule_id="PX-DOC-001",
                              code_set_version="starter") for i, p in enumerate(enc.procedures)]
    coded = CodedEncounter(encounter_id=enc.encounter_id, encounter_version=1, coded_at=now, patient=enc.patient,
                           coverage=enc.coverage, rendering_provider=enc.rendering_provider, billing_provider=enc.billing_provider,
                           date_of_service=enc.date_of_service, place_of_service=enc.place_of_service, visit_type=enc.visit_type,
                           patient_status=enc.patient_status, total_time_minutes=enc.total_time_minutes, mdm_level=enc.mdm_level,
                           diagnoses=dx, service_lines=lines, confidence=0.93, coder_version="test")
    review = CodingReviewItem(encounter_id=enc.encounter_id, encounter_version=1, routed_at=now,
                              reasons=[ReviewReason(code="DX_HEADER_CODE", message="header code", subject="diagnosis[0]", candidates=["E11.9", "E11.65"])],
                              confidence=0.4, proposed_diagnoses=dx, proposed_service_lines=lines, coder_version="test")
    finding = EditFinding(rule_id="NCCI-PTP-001", family=EditFamily.NCCI_PTP, severity=Severity.ERROR, line_numbers=[1, 2],
                          dataset="ncci-ptp", dataset_version="2026Q1", source_row={"column1": "11102", "column2": "11103", "modifier_indicator": "1"},
                          message="pair billed together", suggested_fix="append 59 if distinct", bypass_modifiers=["59", "XS"])
    claim = Claim(claim_id="CF0123", encounter_id=enc.encounter_id, encounter_version=1, created_at=now, patient=enc.patient,
                  coverage=enc.coverage, rendering_provider=enc.rendering_provider, billing_provider=enc.billing_provider,
                  date_of_service=enc.date_of_service, place_of_service="11", diagnoses=[d.code for d in dx],
                  lines=[ServiceLine(line_number=1, procedure_code="99213", modifiers=["25"], units=1, charge=Decimal("110.00"), diagnosis_pointers=[1, 2],
                                         expected_allowed=ExpectedAllowed(amount=Decimal("91.20"), basis="medicare_pfs", payer_id="MCR01",
                                                                          contract_term="100% of Medicare", dataset="PFS", dataset_version="RVU25D",
                                                                          locality="TX-18", setting="nonfacility", formula="[...] x 32.3465",
                                                                          inputs={"work_rvu": "1.30"}, tolerance_amount=Decimal("0.50")))],
                  total_charge=Decimal("110.00"), findings=[finding.model_copy(update={"severity": Severity.WARNING})])
    held = HeldClaim(claim_id="CF0123", claim=claim.model_copy(update={"findings": [finding]}), held_at=now, error_count=1,
                     rule_families=[EditFamily.NCCI_PTP])
    adj = adjudication_for(enc, random.Random(1), deny=True)
    work = DenialWorkItem(work_item_id="WI1", claim_id=adj.claim_id, adjudication_id=adj.adjudication_id, payer_id=adj.payer_id,
                          disposition=Disposition.APPEAL, rule_id="DEN-CO50", reason_codes=["CO-50"], remark_codes=["N115"],
                          appeal_level=AppealLevel.REDETERMINATION, deadline=date(2027, 3, 1), remittance_date=adj.remittance_date,
                          denied_amount=Decimal("140.00"), overturn_likelihood=0.55, priority_score=77.0, explanation="appeal with records",
                          created_at=now, kind=WorkItemKind.APPEAL, recoverable_amount=Decimal("140.00"), level_index=0,
                          reason_family="medical_necessity", evidence=[WorkItemEvidence(label="carc", value="CO-50", detail="not necessary")])
    action = AppealAction(action_id="ACT1", work_item_id="WI1", claim_id=adj.claim_id, action=AppealActionKind.FILED, actor="biller-1",
                          actor_role="biller", occurred_at=now, filed_on=date(2026, 12, 1), filing_method=FilingMethod.PORTAL,
                          appeal_level=AppealLevel.REDETERMINATION, packet_sha256="ab" * 32, payer_id=adj.payer_id, reason_code="50",
                          appealed_amount=Decimal("140.00"))
    no_action = NoActionDisposition(record_id="NA1", claim_id=adj.claim_id, adjudication_id=adj.adjudication_id, payer_id=adj.payer_id,
                                    disposition=Disposition.NO_ACTION, rule_id="DEN-002", reason_codes=["CO-45"], line_numbers=[1],
                                    amount=Decimal("-3.10"), reason_family="contractual", why="contractual", decided_at=now)
    status = ClaimStatusChanged(event_id="ST1", claim_id=adj.claim_id, state=ClaimState.DENIED, previous_state=ClaimState.SUBMITTED,
                                occurred_at=now, source_service="adjudicator", trigger_id=adj.adjudication_id, reason="CLP02=4",
                                disposition=Disposition.APPEAL, rule_id="DEN-CO50", charge=Decimal("140.00"), paid=Decimal("0.00"))
    correction = CorrectionRequest(correction_id="CR1", claim_id=adj.claim_id, adjudication_id=adj.adjudication_id, payer_id=adj.payer_id,
                                   disposition=Disposition.CORRECT_AND_RESUBMIT, rule_id="DEN-001", reason_codes=["CO-16"], remark_codes=["MA130"],
                                   frequency_code="1", amount=Decimal("140.00"), explanation="add missing info", created_at=now)
    bill = PatientBill(bill_id="PB1", claim_id=adj.claim_id, adjudication_id=adj.adjudication_id, payer_id=adj.payer_id, rule_id="DEN-003",
                       amount=Decimal("20.00"), deductible=Decimal("0.00"), coinsurance=Decimal("0.00"), copay=Decimal("20.00"),
                       other=Decimal("0.00"), remittance_date=adj.remittance_date, created_at=now)
    outcome = AppealOutcome(outcome_id="AO1", work_item_id="WI1", claim_id=adj.claim_id, payer_id=adj.payer_id, reason_code="50",
                            appeal_level=AppealLevel.REDETERMINATION, outcome=AppealOutcomeKind.OVERTURNED, recovered_amount=Decimal("140.00"),
                            decided_on=date(2027, 1, 5), received_at=now)
    under = UnderpaymentWorkItem(work_item_id="UP1", claim_id=adj.claim_id, adjudication_id=adj.adjudication_id, payer_id=adj.payer_id,
                                 line_number=1, kind=UnderpaymentKind.DOWNCODED, procedure_code="99214", adjudicated_procedure_code="99213",
                                 downcoded=True, refund_liability=False, expected_amount=Decimal("131.20"), allowed_amount=Decimal("91.20"),
                                 allowed_source="AMT*B6", paid_amount=Decimal("72.96"), recoverable_amount=Decimal("40.00"),
                                 tolerance_amount=Decimal("0.50"), contract_term="100% of Medicare", dataset="PFS", dataset_version="RVU25D",
                                 evidence={"row": "99214"}, explanation="downcoded", remittance_date=adj.remittance_date, created_at=now)
    dlq_action = DlqAction(action_id="DA1", action=DlqActionKind.DISCARDED, dlq_topic="dlq.coder.v1", dlq_partition=0, dlq_offset=3,
                           service="coder", stage="decode", error_class="OversizedValue", source_topic="encounters.v1",
                           source_partition=1, source_offset=40, reason="duplicate export", actor="ops-1", acted_at=now)
    access = AccessEvent(event_id="AE1", occurred_at=now, user="ops-1", role="operator", action="read", record_type="dead_letter",
                         record_id="dlq.coder.v1:0:3", service="cli", route="dlq show --with-value", reason="diagnose decode error")
    resolution = CodingResolution(resolution_id="CR1", encounter_id=coded.encounter_id, encounter_version=coded.encounter_version,
                                  review_routed_at=now, action=ResolutionAction.EDIT, resolved_by="coder-1", resolved_role="coder",
                                  resolved_at=now, reason="documentation supports the more specific code",
                                  before_diagnoses=list(coded.diagnoses), before_service_lines=list(coded.service_lines),
                                  diagnoses=list(coded.diagnoses), service_lines=list(coded.service_lines))
    records = {
        "DlqAction": dlq_action, "AccessEvent": access, "CodingResolution": resolution,
        "UnderpaymentWorkItem": under,
        "CorrectionRequest": correction, "PatientBill": bill, "AppealOutcome": outcome,
        "AppealAction": action, "NoActionDisposition": no_action,
        "EncounterEvent": enc, "CodedEncounter": coded, "CodingReviewItem": review, "Claim": claim, "HeldClaim": held,
        "EditFinding": finding, "Adjudication": adj, "DenialWorkItem": work, "ClaimStatusChanged": status,
        "ClaimCorrection": ClaimCorrection(correction_id="CC1", claim_id="CF0123", claim=claim, corrected_by="biller-1",
                                           reason="modifier 25 added", submitted_at=now),
    }
    assert set(records) == set(CONTRACT_MODELS)
    return records


@pytest.mark.parametrize("name", sorted(CONTRACT_MODELS))
def test_every_contract_round_trips(name):
    record = sample_records()[name]
    codec = Codec()
    data = codec.encode(name, record.to_avro())
    assert data[:2] == MAGIC
    assert data[2:10] == default_store().latest(name).fingerprint
    back = CONTRACT_MODELS[name].model_validate(codec.decode(data, name))
    assert back == record


def test_fingerprint_is_crc64_avro_of_canonical_form():
    for name in default_store().names():
        for sv in default_store().versions(name):
            # fastavro prints the 8 little-endian bytes as hex
            assert sv.fingerprint.hex() == fastavro_fingerprint(sv.canonical, "CRC-64-AVRO")
    assert crc64_avro(b'"int"').to_bytes(8, "little").hex() == fastavro_fingerprint('"int"', "CRC-64-AVRO")


def test_old_writer_is_read_by_new_reader():
    store = default_store()
    v1 = store.get("EncounterEvent", 1)
    assert store.latest("EncounterEvent").version > 1
    enc, _ = EncounterGenerator(seed=5).encounter(0)
    record = enc.to_avro()
    record.pop("note_text")  # v1 has no note
    data = Codec().encode("EncounterEvent", record, version=1)
    assert data[2:10] == v1.fingerprint
    decoded = Codec().decode(data, "EncounterEvent")
    assert decoded["note_text"] is None  # default filled in by schema resolution
    assert EncounterEvent.model_validate(decoded).encounter_id == enc.encounter_id


def test_money_is_decimal_on_the_wire():
    adj = sample_records()["Adjudication"]
    decoded = Codec().decode(Codec().encode("Adjudication", adj.to_avro()), "Adjudication")
    assert isinstance(decoded["paid_amount"], Decimal)
    assert decoded["total_charge"] == adj.total_charge


def test_not_single_object():
    with pytest.raises(NotSingleObjectError):
        Codec().decode(b"\x00\x01garbage-bytes", "EncounterEvent")
    with pytest.raises(NotSingleObjectError):
        Codec().decode(b"\xc3\x01\x00", "EncounterEvent")


def test_unknown_fingerprint():
    data = Codec().encode("ClaimStatusChanged", sample_records()["ClaimStatusChanged"].to_avro())
    with pytest.raises(UnknownFingerprintError):
        Codec().decode(MAGIC + b"\x01" * 8 + data[10:], "ClaimStatusChanged")


def test_wrong_contract_on_topic():
    data = Codec().encode("ClaimStatusChanged", sample_records()["ClaimStatusChanged"].to_avro())
    with pytest.raises(WrongContractError):
        Codec().decode(data, "EncounterEvent")


@pytest.mark.parametrize("cut", [11, 20, 50, -3, -1])
def test_truncated_body(cut):
    data = Codec().encode("EncounterEvent", sample_records()["EncounterEvent"].to_avro())
    with pytest.raises(CorruptBodyError):
        Codec().decode(data[:cut], "EncounterEvent")


def test_trailing_bytes_rejected():
    data = Codec().encode("ClaimStatusChanged", sample_records()["ClaimStatusChanged"].to_avro())
    with pytest.raises(CorruptBodyError):
        Codec().decode(data + b"\x00\x00", "ClaimStatusChanged")
