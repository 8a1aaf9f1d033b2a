"""277CA (005010X214) / 277 (005010X212) claim status and 999 (005010X231A1)
implementation acknowledgment readers."""

from __future__ import annotations

from datetime import datetime, time, timezone
from decimal import Decimal

from claimflow.ids import status_event_id
from claimflow.models import ClaimState, ClaimStatusChanged, utcnow
from services.payer_gateway.amounts import money
from services.payer_gateway.results import (ClaimStatusResult, Finding, GroupAck, NonClaimStatus, SegmentErrorNote,
                                            TransactionSetAck)
from services.payer_gateway.segments import Delimiters, Segment, TransactionSet, X12SyntaxError, parse_date8

SOURCE_SERVICE = "payer-gateway"
ACCEPTED_CATEGORIES = {"A0", "A1", "A2", "A5"}
REJECTED_CATEGORIES = {"A3", "A4", "A6", "A7", "A8"}
CLAIM_LEVELS = {"22", "23", "PT"}


def stc_accepted(category: str) -> bool | None:
    """277CA acknowledgment categories: A0/A1/A2/A5 accepted, A3/A4/A6/A7/A8 rejected.
    Pending / finalized / request categories of a 277 (P*, F*, R*) mean the payer holds the
    claim (acknowledged); E* (response errors) and D0 carry no claim state."""
    if category in ACCEPTED_CATEGORIES:
        return True
    if category in REJECTED_CATEGORIES:
        return False
    if category[:1] in ("P", "F", "R"):
        return True
    return None


def _stc_codes(seg: Segment, delims: Delimiters) -> list[tuple[str, str, str | None]]:
    out = []
    for idx in (1, 10, 11):
        comp = seg.get(idx)
        if not comp:
            continue
        parts = comp.split(delims.component)
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise X12SyntaxError(f"STC{idx:02d} health care claim status composite needs category and status codes", seg.position)
        out.append((parts[0], parts[1], parts[2] if len(parts) > 2 and parts[2] else None))
    if not out:
        raise X12SyntaxError("STC01 health care claim status is missing", seg.position)
    return out


def read_277(txn: TransactionSet, delims: Delimiters, received_at: datetime | None = None
             ) -> tuple[list[ClaimStatusResult], list[NonClaimStatus], list[Finding]]:
    received_at = received_at or utcnow()
    st02 = txn.control_number
    trigger_base = f"277:{txn.group.interchange.control_number}:{txn.group.control_number}:{st02}"
    bht = next((s for s in txn.body if s.id == "BHT"), None)
    bht_date = parse_date8(bht.get(4)) if bht else None
    results: list[ClaimStatusResult] = []
    others: list[NonClaimStatus] = []
    findings: list[Finding] = []
    level = ""
    hl_id = ""
    claim: dict | None = None
    in_line = False
    trace: str | None = None

    def flush() -> None:
        nonlocal claim
        if claim is None:
            return
        if not claim["stcs"]:
            findings.append(Finding("277-NOSTC", "warning", f"claim {claim['claim_id']}: no claim-level STC", claim["position"], claim["claim_id"], st02))
            claim = None
            return
        codes = [c for stc in claim["stcs"] for c in stc["codes"]]
        first = claim["stcs"][0]
        cat, status, entity = first["codes"][0]
        verdicts = [stc_accepted(c[0]) for c in codes]
        accepted = False if False in verdicts else (True if True in verdicts else None)
        reason = "STC " + "; ".join(f"{c[0]}:{c[1]}" + (f":{c[2]}" if c[2] else "") for c in codes)
        eff = first["date"] or bht_date
        occurred = datetime.combine(eff, time(0), tzinfo=timezone.utc) if eff else received_at
        trigger = f"{trigger_base}:HL{claim['hl']}"
        event = None
        if accepted is not None:
            state = ClaimState.ACKNOWLEDGED if accepted else ClaimState.REJECTED
            event = ClaimStatusChanged(event_id=status_event_id(claim["claim_id"], trigger, state.value), claim_id=claim["claim_id"],
                                       state=state, occurred_at=occurred, source_service=SOURCE_SERVICE, trigger_id=trigger,
                                       reason=reason[:500], charge=first["amount"])
        results.append(ClaimStatusResult(claim_id=claim["claim_id"], category_code=cat, status_code=status, entity_code=entity,
                                         accepted=accepted, reason=reason, payer_claim_control_number=claim["pccn"],
                                         charge=first["amount"], effective_date=first["date"], control_number=st02,
                                         position=claim["position"], event=event))
        claim = None

    for seg in txn.body:
        sid = seg.id
        if sid == "HL":
            flush()
            level, hl_id, in_line, trace = seg.get(3), seg.get(1), False, None
            continue
        if sid == "TRN":
            trace = seg.get(2)
            if level in CLAIM_LEVELS:
                flush()
                if not seg.get(2):
                    raise X12SyntaxError("TRN02 claim trace (patient control number) is missing", seg.position)
                claim = {"claim_id": seg.get(2), "hl": hl_id, "stcs": [], "pccn": None, "position": seg.position}
                in_line = False
            continue
        if sid == "SVC":
            in_line = True
            continue
        if sid == "STC":
            codes = _stc_codes(seg, delims)
            if claim is not None and not in_line:
                amount = money(seg.get(4), "STC04 total claim charge", seg.position, required=False)
                claim["stcs"].append({"codes": codes, "date": parse_date8(seg.get(2)), "amount": amount})
            elif claim is None and level not in CLAIM_LEVELS:
                for cat, status, _ in codes:
                    others.append(NonClaimStatus(level=level, category_code=cat, status_code=status, trace=trace, control_number=st02, position=seg.position))
            continue
        if sid == "REF" and claim is not None and not in_line and seg.get(1) == "1K":
            claim["pccn"] = seg.get(2)
    flush()
    return results, others, findings


IK5_ACCEPTED = {"A", "E"}
AK9_ACCEPTED = {"A", "E", "P"}


def read_999(txn: TransactionSet, delims: Delimiters) -> tuple[list[GroupAck], list[Finding]]:
    st02 = txn.control_number
    groups: list[GroupAck] = []
    findings: list[Finding] = []
    ak1: Segment | None = None
    current: dict | None = None
    sets: list[TransactionSetAck] = []
    notes: list[SegmentErrorNote] = []
    for seg in txn.body:
        sid = seg.id
        if sid == "AK1":
            ak1, sets = seg, []
            if not seg.get(1) or not seg.get(2):
                raise X12SyntaxError("AK1 needs functional identifier and group control number", seg.position)
        elif sid == "AK2":
            if not seg.get(1) or not seg.get(2):
                raise X12SyntaxError("AK2 needs transaction set identifier and control number", seg.position)
            current, notes = {"ak2": seg}, []
        elif sid == "IK3":
            notes.append(SegmentErrorNote(segment_id=seg.get(1), position=seg.get(2), loop=seg.get(3) or None, syntax_error_code=seg.get(4) or None))
        elif sid == "IK4" and notes:
            # IK404 (the bad data value) is deliberately not kept: it may be PHI.
            last = notes.pop()
            notes.append(SegmentErrorNote(last.segment_id, last.position, last.loop, last.syntax_error_code,
                                          element_position=seg.get(1).split(delims.component)[0] or None, element_error_code=seg.get(3) or None))
        elif sid == "IK5":
            if current is None or ak1 is None:
                raise X12SyntaxError("IK5 without a preceding AK1/AK2", seg.position)
            code = seg.get(1)
            if code not in ("A", "E", "M", "R", "W", "X"):
                raise X12SyntaxError(f"IK501 acknowledgment code {code!r} is not A/E/M/R/W/X", seg.position)
            ak2 = current["ak2"]
            sets.append(TransactionSetAck(functional_id=ak1.get(1), group_control_number=ak1.get(2), transaction_set=ak2.get(1),
                                          control_number=ak2.get(2), code=code, accepted=code in IK5_ACCEPTED,
                                          error_codes=tuple(v for v in (seg.get(i) for i in range(2, 7)) if v),
                                          segment_errors=tuple(notes), position=seg.position))
            current = None
        elif sid == "AK9":
            if ak1 is None:
                raise X12SyntaxError("AK9 without AK1", seg.position)
            code = seg.get(1)
            if code not in ("A", "E", "M", "P", "R", "W", "X"):
                raise X12SyntaxError(f"AK901 acknowledgment code {code!r} is not valid", seg.position)
            try:
                included, received, acc = int(seg.get(2)), int(seg.get(3)), int(seg.get(4))
            except ValueError as exc:
                raise X12SyntaxError("AK902-AK904 counts must be integers", seg.position) from exc
            if current is not None:
                raise X12SyntaxError("AK2 without IK5 before AK9", seg.position)
            if len(sets) != received:
                findings.append(Finding("999-AK903", "warning", f"AK903 says {received} received but {len(sets)} AK2 loops are present", seg.position, control_number=st02))
            if sum(1 for s in sets if s.accepted) != acc:
                findings.append(Finding("999-AK904", "warning", f"AK904 says {acc} accepted but {sum(1 for s in sets if s.accepted)} IK5 accept", seg.position, control_number=st02))
            groups.append(GroupAck(functional_id=ak1.get(1), group_control_number=ak1.get(2), code=code, included=included,
                                   received=received, accepted_count=acc, accepted=code in AK9_ACCEPTED, control_number=st02,
                                   transaction_sets=sets))
            ak1, sets = None, []
    if ak1 is not None:
        raise X12SyntaxError("999 has an AK1 without its AK9", txn.segments[-1].position)
    return groups, findings


def claim_events_from_999(group: GroupAck, claims_for_set, occurred_at: datetime | None = None) -> list[ClaimStatusChanged]:
    """Map each acknowledged 837 transaction set onto its claims. ``claims_for_set(gs06, st02)``
    returns the claim ids the writer put in that set (see ``state.SubmissionLedger``).
    Accepted sets -> acknowledged, rejected sets -> rejected with reason ``999 IK5 R:5``."""
    occurred_at = occurred_at or utcnow()
    out = []
    for ts in group.transaction_sets:
        state = ClaimState.ACKNOWLEDGED if ts.accepted else ClaimState.REJECTED
        reason = f"999 IK5 {ts.code}" + (":" + ",".join(ts.error_codes) if ts.error_codes else "")
        if ts.segment_errors:
            reason += "; " + "; ".join(f"IK3 {n.segment_id}@{n.position}" + (f" IK4 {n.element_position}:{n.element_error_code}" if n.element_error_code else "") for n in ts.segment_errors[:5])
        trigger = f"999:{group.control_number}:{ts.group_control_number}:{ts.control_number}"
        for cid in claims_for_set(ts.group_control_number, ts.control_number):
            out.append(ClaimStatusChanged(event_id=status_event_id(cid, trigger, state.value), claim_id=cid, state=state,
                                          occurred_at=occurred_at, source_service=SOURCE_SERVICE, trigger_id=trigger, reason=reason[:500]))
    return out


__all__ = ["read_277", "read_999", "claim_events_from_999", "stc_accepted", "Decimal"]
