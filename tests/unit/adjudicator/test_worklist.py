"""Denial worklist (pure): every disposition that needs a person becomes a work item with its
kind, every one that needs none is recorded with its why, and people's actions move the
ledger (or are refused with a clear message)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from claimflow.codec import Codec
from claimflow.models import (
    AppealAction,
    AppealActionKind,
    AppealLevel,
    ClaimState,
    DenialWorkItem,
    Disposition,
    FilingMethod,
    WorkItemKind,
)
from claimflow.schemas import default_store
from services.adjudicator.actions import apply_action, refusal
from services.adjudicator.appeals import OverturnModel
from services.adjudicator.logic import Policy, apply_adjudication, apply_appeal_outcome, apply_claim, post
from services.adjudicator.models import AppealOutcome, AppealOutcomeKind
from services.adjudicator.reference import load_code_lists, load_families, merge_imported
from services.adjudicator.rules import RULES, WORK_KIND, decisions_for, disposition_for
from services.payer_sim.logic import SimConfig, adjudicate
from tests.unit.adjudicator.adj_helpers import NOW, REMIT, D, adj_code, line, make_adj, make_claim, ptp_finding

A, K = Disposition, WorkItemKind
ACT = AppealActionKind


def denied(*codes_amounts, status="4", charge="100.00", payer="MCR01", cid="CLAIM1", pccn="PCN1"):
    adjs = [adj_code(c, a) for c, a in codes_amounts]
    return make_adj(cid=cid, status=status, charge=charge, paid="0.00", payer=payer, pccn=pccn,
                    lines=[line(1, "99214", charge, "0.00", adjs)])


def imported_lists(extra: dict[str, tuple[str, str]] | None = None):
    """Full lists as an import would give them (a few rows written here; the conformance test
    reads the real X12 file)."""
    rows = {"94": ("current", "processed above the charges"), "131": ("current", "negotiated claim discount"),
            "150": ("current", "level of service not supported"), "252": ("current", "documentation required"),
            "B13": ("current", "paid before"), "286": ("current", "appeal time limit missed"),
            "D23": ("deactivated", "an old code nobody classified")} | (extra or {})
    return merge_imported(load_code_lists(), load_families(), rows, {"N115": ("current", "decision based on an LCD")})


# --- every disposition -> its place ---------------------------------------------------------------


@pytest.mark.parametrize("disposition,kind", [
    (A.APPEAL, K.APPEAL), (A.CORRECT_AND_RESUBMIT, K.CORRECTED_CLAIM), (A.CORRECTED_CLAIM_WITH_MODIFIER, K.CORRECTED_CLAIM),
    (A.VERIFY_DUPLICATE, K.VERIFY_DUPLICATE), (A.REBILL_OTHER_PAYER, K.REBILL_OTHER_PAYER), (A.WRITE_OFF, K.WRITE_OFF_APPROVAL),
    (A.MANUAL_REVIEW, K.MANUAL_REVIEW), (A.BILL_PATIENT, None), (A.INFORMATIONAL, None), (A.NO_ACTION, None),
])
def test_every_disposition_has_one_place(disposition, kind):
    assert WORK_KIND.get(disposition) == kind
    assert set(WORK_KIND) | {A.BILL_PATIENT, A.INFORMATIONAL, A.NO_ACTION} == set(Disposition)


# one remit per rule of the table (code-specific and family rules), with the kind it must open
CASES = [
    ("DEN-001", [("CO-16", "100.00")], ["MA130"], [], K.CORRECTED_CLAIM),
    ("DEN-002", [("CO-45", "100.00")], [], [], None),
    ("DEN-004", [("CO-97", "100.00")], [], [ptp_finding("1", [1])], K.CORRECTED_CLAIM),
    ("DEN-005", [("CO-97", "100.00")], [], [ptp_finding("0", [1])], K.WRITE_OFF_APPROVAL),
    ("DEN-006", [("CO-236", "100.00")], [], [], K.MANUAL_REVIEW),
    ("DEN-009", [("CO-197", "100.00")], [], [], K.MANUAL_REVIEW),
    ("DEN-010", [("CO-50", "100.00")], [], [], K.APPEAL),
    ("DEN-013", [("CO-29", "100.00")], [], [], K.WRITE_OFF_APPROVAL),
    ("DEN-014", [("CO-18", "100.00")], [], [], K.VERIFY_DUPLICATE),
    ("DEN-015", [("CO-109", "100.00")], [], [], K.REBILL_OTHER_PAYER),
    ("DEN-016", [("OA-23", "100.00")], [], [], None),
    ("DEN-017", [("PR-96", "100.00")], [], [], None),
    ("DEN-030", [("OA-94", "100.00")], [], [], None),
    ("DEN-031", [("CO-131", "100.00")], [], [], None),
    ("DEN-032", [("CO-22", "100.00")], [], [], K.REBILL_OTHER_PAYER),
    ("DEN-033", [("CO-4", "100.00")], [], [], K.CORRECTED_CLAIM),
    ("DEN-034", [("CO-150", "100.00")], [], [], K.APPEAL),
    ("DEN-035", [("CO-55", "100.00")], [], [], K.APPEAL),
    ("DEN-037", [("OA-B13", "100.00")], [], [], K.VERIFY_DUPLICATE),
    ("DEN-038", [("CO-286", "100.00")], [], [], K.WRITE_OFF_APPROVAL),
    ("DEN-039", [("CO-252", "100.00")], [], [], K.MANUAL_REVIEW),
    ("DEN-040", [("CO-204", "100.00")], [], [], K.MANUAL_REVIEW),
    ("DEN-041", [("CO-59", "100.00")], [], [], K.MANUAL_REVIEW),
    ("DEN-096", [("CO-D23", "100.00")], [], [], K.MANUAL_REVIEW),
    ("DEN-099", [("CO-Z9", "100.00")], [], [], K.MANUAL_REVIEW),
]


@pytest.mark.parametrize("rule_id,cas,remarks,findings,kind", CASES, ids=[c[0] for c in CASES])
def test_rule_opens_its_work_item_or_records_why(rule_id, cas, remarks, findings, kind):
    codes = imported_lists()
    claim = make_claim(findings=findings)
    # CLP02 4 (denied) for work, 1 for bookkeeping: a denied claim with nothing to work is itself routed (DEN-097)
    adj = make_adj(cid=claim.claim_id, status="4" if kind else "1", charge="100.00", remarks=remarks,
                   lines=[line(1, "99214", "100.00", "0.00", [adj_code(c, a) for c, a in cas])])
    policy = Policy(codes=codes)
    p = apply_adjudication(apply_claim(None, claim, NOW, policy).entry, adj, NOW, policy)
    assert [d.rule_id for d in p.decisions] == [rule_id]
    if kind is None:
        assert p.work_items == [] and [n.rule_id for n in p.no_action] == [rule_id]
        assert p.no_action[0].why.startswith("no person needed")
    else:
        assert [w.kind for w in p.work_items] == [kind] and p.no_action == []
        wi = p.work_items[0]
        assert {e.label for e in wi.evidence} >= {"guardrail_rule", "carc", "cas_amount", "code_list"}
        assert wi.rule_id == rule_id and [w["work_item_id"] for w in p.entry["open_items"]] == [wi.work_item_id]


def test_family_rules_cover_the_rule_table():
    covered = {c[0] for c in CASES}
    family_rules = {r.rule_id for r in RULES if r.families}
    assert family_rules - {"DEN-036"} <= covered


def test_co_fallback_never_bills_the_patient():
    # 204 is in the starter list with a bill_patient default: under CO the provider is liable
    d = disposition_for(denied(("CO-204", "80.00")))
    assert d.disposition == A.MANUAL_REVIEW and "patient is not liable" in d.explanation
    assert disposition_for(denied(("PR-204", "80.00"), status="1")).disposition == A.BILL_PATIENT
    # a code of the patient_share family reported under CO (a payer's mistake) is not billed either
    d = disposition_for(denied(("CO-66", "80.00")), codes=imported_lists({"66": ("current", "blood deductible")}))
    assert (d.rule_id, d.disposition) == ("DEN-095", A.MANUAL_REVIEW)
    p = post(None, denied(("CO-204", "80.00")), NOW)
    assert p.patient_bills == [] and [w.kind for w in p.work_items] == [K.MANUAL_REVIEW]


def test_starter_list_stays_the_fallback():
    starter = load_code_lists()
    assert starter.source == "starter" and starter.carc_info("94") is None
    assert disposition_for(denied(("OA-94", "10.00"))).rule_id == "DEN-099"  # unknown without the import
    assert disposition_for(denied(("OA-94", "10.00"), status="1"), codes=imported_lists()).rule_id == "DEN-030"


def test_unknown_code_with_a_negative_amount_goes_to_manual_review_with_the_code():
    adj = make_adj(charge="100.00", paid="105.00", status="1",
                   lines=[line(1, "99213", "100.00", "105.00", [adj_code("CO-Z7", "-5.00")])])
    p = post(None, adj, NOW)
    [wi] = p.work_items
    assert wi.kind == K.MANUAL_REVIEW and "CO-Z7" in wi.explanation and wi.reason_codes == ["CO-Z7"]
    assert wi.denied_amount == 0 and wi.recoverable_amount == 0 and wi.priority_score == 0
    assert ("cas_amount", "-5.00") in {(e.label, e.value) for e in wi.evidence}
    assert p.status_events[-1].state == ClaimState.PAID  # nothing was denied: paid, with a review item


@pytest.mark.parametrize("status", ["2", "3", "20"])
def test_fully_adjudicated_secondary_claim_is_paid_not_partially_paid(status):
    # shaped like a COB secondary remit: prior payer's impact, contractual, patient share
    codes = imported_lists()
    adj = make_adj(status=status, charge="751.50", paid="310.00", pr="220.00",
                   lines=[line(1, "12345", "166.50", "30.00", [adj_code("OA-23", "136.50")]),
                          line(2, "66543", "585.00", "280.00", [adj_code("PR-1", "150.00"), adj_code("PR-2", "70.00"),
                                                                 adj_code("CO-42", "55.00"), adj_code("OA-94", "10.00"),
                                                                 adj_code("CO-131", "20.00")])])
    p = post(None, adj, NOW, Policy(codes=codes))
    assert p.findings == []  # balances
    assert p.status_events[-1].state == ClaimState.PAID
    assert p.work_items == []
    assert {n.rule_id for n in p.no_action} == {"DEN-016", "DEN-003", "DEN-030", "DEN-031"}


def test_every_adjustment_lands_in_exactly_one_place_over_simulated_remits():
    policy = Policy()
    placed = 0
    for n in range(200):
        claim = make_claim(n, lines=[("99214", "150.00"), ("11102", "120.00"), ("93000", "60.00")], payer=("MCR01", "BCX22", "AET45")[n % 3])
        adj = adjudicate(claim, SimConfig(seed=11, denial_rates={"CO-16": 0.1, "CO-29": 0.05, "CO-18": 0.05, "CO-197": 0.1, "CO-50": 0.2, "CO-97": 0.2}))
        p = apply_adjudication(apply_claim(None, claim, NOW, policy).entry, adj, NOW, policy)
        cas = {f"{a.group_code.value}-{a.reason_code}" for l in adj.service_lines for a in l.adjustments}
        records = [w.reason_codes for w in p.work_items] + [r.reason_codes for r in p.no_action]
        for code in cas:  # each CAS code in exactly one record: a work item or a no-action record
            assert sum(code in r for r in records) == 1, (claim.claim_id, code, records)
        assert set().union(*records) - {"CLP02-4"} == cas
        placed += len(cas)
    assert placed > 400


# --- priority ------------------------------------------------------------------------------------


def test_priority_is_recoverable_dollars_times_likelihood_times_urgency():
    policy = Policy()
    [appeal] = post(None, denied(("CO-50", "200.00")), NOW, policy).work_items
    p = policy.model.likelihood("MCR01", "50")
    weight = 1 + max(0.0, 1 - (appeal.deadline - NOW.date()).days / 120)
    assert appeal.priority_score == pytest.approx(200 * p * weight, rel=1e-6)
    [rebill] = post(None, denied(("CO-109", "200.00"), cid="C2"), NOW, policy).work_items
    assert rebill.deadline is None and rebill.priority_score == pytest.approx(200 * policy.recovery_odds[K.REBILL_OTHER_PAYER])
    [dup] = post(None, denied(("CO-18", "200.00"), cid="C3"), NOW, policy).work_items
    assert dup.priority_score < rebill.priority_score


# --- actions ---------------------------------------------------------------------------------------


def action(wi, kind, n=1, **kw):
    base = dict(action_id=f"ACT-{kind.value}-{n}", work_item_id=wi.work_item_id, claim_id=wi.claim_id, action=kind,
                actor="biller1", actor_role="biller", occurred_at=NOW)
    if kind == ACT.FILED:
        base |= dict(filed_on=NOW.date(), filing_method=FilingMethod.PORTAL, appeal_level=wi.appeal_level, packet_sha256="a" * 64)
    return AppealAction(**(base | kw))


def test_filing_moves_to_appealed_and_a_double_click_is_one_filing():
    p = post(None, denied(("CO-50", "100.00")), NOW)
    [wi] = p.work_items
    r = apply_action(p.entry, action(wi, ACT.FILED), NOW)
    assert r.rejected is None and [e.state for e in r.status_events] == [ClaimState.APPEALED]
    assert "packet sha256 aaaaaaaaaaaaaaaa" in r.status_events[0].reason
    again = apply_action(r.entry, action(wi, ACT.FILED), NOW)  # same action id
    assert again.duplicate and again.status_events == []
    other_id = apply_action(r.entry, action(wi, ACT.FILED, n=2), NOW)  # a second click with a new id
    assert other_id.duplicate and other_id.status_events == [] and len(other_id.entry["open_items"][0]["filings"]) == 1


def test_late_filing_needs_a_reason_and_is_flagged():
    p = post(None, denied(("CO-50", "100.00")), NOW)
    [wi] = p.work_items
    late_day = wi.deadline + timedelta(days=3)
    r = apply_action(p.entry, action(wi, ACT.FILED, filed_on=late_day), NOW)
    assert r.rejected and "after the deadline" in r.rejected and "late_reason" in r.rejected and r.entry is p.entry
    ok = apply_action(p.entry, action(wi, ACT.FILED, n=2, filed_on=late_day, late_reason="payer portal outage, ticket 4411"), NOW)
    assert ok.rejected is None and ok.entry["open_items"][0]["filings"][0]["late"] is True
    assert "LATE" in ok.status_events[0].reason


def test_write_off_above_the_limit_needs_a_supervisor():
    claim = make_claim(findings=[ptp_finding("0", [1])])
    adj = make_adj(cid=claim.claim_id, status="4", charge="900.00", lines=[line(1, "99214", "900.00", "0.00", [adj_code("CO-97", "900.00")])])
    policy = Policy(write_off_limit=Decimal("500.00"))
    p = apply_adjudication(apply_claim(None, claim, NOW, policy).entry, adj, NOW, policy)
    [wi] = p.work_items
    assert wi.kind == K.WRITE_OFF_APPROVAL
    refused = apply_action(p.entry, action(wi, ACT.WRITTEN_OFF, reason="NCCI pair MI 0"), NOW, policy)
    assert refused.rejected == ("write-off of 900.00 is above the 500.00 limit: a supervisor must approve it "
                                "(approved_by with approver_role supervisor)")
    biller_approved = action(wi, ACT.WRITTEN_OFF, n=2, reason="NCCI pair MI 0", approved_by="biller2", approver_role="biller")
    assert apply_action(p.entry, biller_approved, NOW, policy).rejected
    ok = apply_action(p.entry, action(wi, ACT.WRITTEN_OFF, n=3, reason="NCCI pair MI 0", approved_by="sup1", approver_role="supervisor"), NOW, policy)
    assert ok.rejected is None and ok.status_events[-1].state == ClaimState.CLOSED and ok.entry["open_items"] == []
    assert "approved by sup1" in ok.status_events[-1].reason
    small = apply_action(p.entry, action(wi, ACT.WRITTEN_OFF, n=4, reason="small balance", write_off_amount=D("40.00")), NOW, policy)
    assert small.rejected is None


def test_assign_correct_resolve_withdraw():
    p = post(None, denied(("CO-4", "100.00")), NOW)
    [wi] = p.work_items
    a = apply_action(p.entry, action(wi, ACT.ASSIGNED, assignee="biller7"), NOW)
    assert a.entry["open_items"][0]["assignee"] == "biller7" and a.status_events == []
    c = apply_action(a.entry, action(wi, ACT.CORRECTED_CLAIM_SENT, corrected_claim_id="CF999"), NOW)
    assert c.status_events[-1].state == ClaimState.CORRECTED and c.entry["closed_items"][-1]["how"] == "corrected claim sent"
    assert apply_action(c.entry, action(wi, ACT.RESOLVED, n=9, reason="done"), NOW).rejected  # no longer open
    q = post(None, denied(("CO-18", "100.00"), cid="C2"), NOW)
    r = apply_action(q.entry, action(q.work_items[0], ACT.RESOLVED, reason="original paid on 2026-02-01"), NOW)
    assert r.status_events[-1].state == ClaimState.CLOSED
    assert apply_action(q.entry, action(q.work_items[0], ACT.FILED), NOW).rejected  # a duplicate check is not appealable
    with pytest.raises(ValueError):
        action(q.work_items[0], ACT.WITHDRAWN)  # a withdrawal without a reason does not validate


def test_outcome_for_an_appeal_never_filed_is_refused():
    p = post(None, denied(("CO-50", "100.00")), NOW)
    [wi] = p.work_items
    out = AppealOutcome(outcome_id="O1", work_item_id=wi.work_item_id, claim_id=wi.claim_id, payer_id="MCR01", reason_code="50",
                        appeal_level=AppealLevel.REDETERMINATION, outcome=AppealOutcomeKind.OVERTURNED, recovered_amount=D("100.00"),
                        decided_on=REMIT + timedelta(days=40), received_at=NOW)
    policy = Policy(outcome_wait=timedelta(minutes=10))
    # the outcome may overtake its filing (another topic): it waits for it...
    r = apply_appeal_outcome(p.entry, out, NOW, policy, origin={"topic": "appeals.outcomes.v1", "partition": 1, "offset": 7})
    assert r.pending and r.rejected is None and r.observations == [] and len(r.entry["parked_outcomes"]) == 1
    # ...and is applied when the filing comes
    filed = apply_action(r.entry, action(wi, ACT.FILED), NOW, policy)
    assert [e.state for e in filed.status_events] == [ClaimState.APPEALED, ClaimState.CLOSED]
    assert filed.observations == [("MCR01", "50", True, "O1")] and filed.entry["parked_outcomes"] == []
    # never filed: dead-lettered (with its origin) once the wait is over, on the next event or the sweep
    later = NOW + timedelta(minutes=11)
    other = AppealOutcome(**(out.model_dump() | {"outcome_id": "O2"}))
    expired = apply_appeal_outcome(r.entry, other, later, policy)
    [(o, origin, message)] = expired.expired_outcomes
    assert o.outcome_id == "O1" and origin["offset"] == 7 and "no appeal was filed" in message
    # an outcome for a work item that is not open on the claim: refused at once
    assert "no appeal was filed" in apply_appeal_outcome(None, out.model_copy(update={"claim_id": "NOPE"}), NOW).rejected
    assert apply_appeal_outcome(filed.entry, other, NOW, policy).rejected  # the item is closed now


def test_the_learned_model_merges_parts_and_changes_the_next_item():
    policy = Policy()
    before = policy.model.likelihood("MCR01", "50")
    parts = []
    for part in range(2):
        m = OverturnModel(policy.book)
        for i in range(10):
            m.observe("MCR01", "50", False, outcome_id=f"o{part}-{i}")
        parts.append(m.to_dict())
    policy.model = OverturnModel.merged(parts, policy.book)
    assert policy.model.counts == {"MCR01|50": [0, 20]}
    [wi] = post(None, denied(("CO-50", "100.00")), NOW, policy).work_items
    assert wi.overturn_likelihood < before


def test_version_1_work_items_are_read_as_version_2():
    codec = Codec()
    v1 = default_store().versions("DenialWorkItem")[0]
    assert v1.version == 1
    wi = post(None, denied(("CO-50", "100.00")), NOW).work_items[0]
    old = {k: v for k, v in wi.to_avro().items() if k in {f["name"] for f in v1.schema["fields"]}}
    data = codec.encode("DenialWorkItem", old, version=1)
    assert data[2:10] == v1.fingerprint
    back = DenialWorkItem.model_validate(codec.decode(data, "DenialWorkItem"))
    assert back.kind == K.MANUAL_REVIEW and back.evidence == [] and back.recoverable_amount is None
