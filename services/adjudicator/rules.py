"""Deterministic denial guardrails (pure): DESIGN.md section 1's table written as a rule
table. Every CAS adjustment of a remittance is judged by the first matching rule; every
decision records the rule that fired. Unknown CARCs get a safe ``manual_review`` and are
reported so the shell can count them. No model or score runs before these rules."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Callable, Iterable

from claimflow.models import Adjudication, AdjustmentGroup, Claim, ClaimStatusCode, Disposition, EditFamily, WorkItemEvidence, WorkItemKind
from services.adjudicator.reference import UNCLASSIFIED_FAMILY, UNKNOWN_FAMILY, CodeLists, load_code_lists

ZERO = Decimal("0.00")
CO, PR, OA, PI, CR = (AdjustmentGroup.CONTRACTUAL_OBLIGATION, AdjustmentGroup.PATIENT_RESPONSIBILITY,
                      AdjustmentGroup.OTHER_ADJUSTMENT, AdjustmentGroup.PAYER_INITIATED, AdjustmentGroup.CORRECTION_REVERSAL)
NOT_PATIENT = frozenset({CO, OA, PI, CR})
UNPROCESSABLE_REMARKS = frozenset({"MA130", "N211"})
NCCI_BYPASS_MODIFIERS = ("59", "XE", "XS", "XP", "XU")
# CLP02 codes as plain strings (compared with Adjudication.claim_status_code)
REVERSAL_STATUS, DENIED_STATUS = ClaimStatusCode.REVERSAL.value, ClaimStatusCode.DENIED.value
NOT_OUR_CLAIM, PREDETERMINATION = ClaimStatusCode.NOT_OUR_CLAIM.value, ClaimStatusCode.PREDETERMINATION.value

# Dispositions that are someone's work (corrections, appeals, reviews) vs bookkeeping.
ACTIONABLE = frozenset({
    Disposition.APPEAL, Disposition.CORRECT_AND_RESUBMIT, Disposition.CORRECTED_CLAIM_WITH_MODIFIER,
    Disposition.VERIFY_DUPLICATE, Disposition.REBILL_OTHER_PAYER, Disposition.MANUAL_REVIEW, Disposition.WRITE_OFF,
})
CORRECTIONS = frozenset({Disposition.CORRECT_AND_RESUBMIT, Disposition.CORRECTED_CLAIM_WITH_MODIFIER})

# Which work item a disposition that needs a person becomes. Dispositions absent here need
# no person (bill_patient goes out as a patient statement, informational and no_action are
# bookkeeping): they are recorded with their why on denials.no-action.v1.
WORK_KIND: dict[Disposition, WorkItemKind] = {
    Disposition.APPEAL: WorkItemKind.APPEAL,
    Disposition.CORRECT_AND_RESUBMIT: WorkItemKind.CORRECTED_CLAIM,
    Disposition.CORRECTED_CLAIM_WITH_MODIFIER: WorkItemKind.CORRECTED_CLAIM,
    Disposition.VERIFY_DUPLICATE: WorkItemKind.VERIFY_DUPLICATE,
    Disposition.REBILL_OTHER_PAYER: WorkItemKind.REBILL_OTHER_PAYER,
    Disposition.WRITE_OFF: WorkItemKind.WRITE_OFF_APPROVAL,
    Disposition.MANUAL_REVIEW: WorkItemKind.MANUAL_REVIEW,
}
NO_PERSON_WHY = {
    Disposition.NO_ACTION: "no person needed: contractual adjustment, paid as the contract says",
    Disposition.INFORMATIONAL: "no person needed: informational adjustment, no money is owed or recoverable",
    Disposition.BILL_PATIENT: "no person needed: the patient's share goes out on a statement (billing.patient.v1)",
}


# --- claim context ------------------------------------------------------------------------


def _flag(value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "y", "yes", "true"}


@dataclass(frozen=True)
class ClaimContext:
    """What the adjudicator knows about the claim beyond the remit: NCCI PTP modifier
    indicators and MUE adjudication indicators by line (from the scrubber's findings'
    source rows; line 0 = applies to the claim), and whether a retro-authorization or a
    proof of timely filing is on file (None = unknown)."""

    payer_id: str | None = None
    plan_type: str | None = None
    ptp_modifier_indicator: dict[int, str] = field(default_factory=dict)
    mue_mai: dict[int, str] = field(default_factory=dict)
    bypass_modifiers: dict[int, list[str]] = field(default_factory=dict)
    retro_authorization: bool | None = None
    timely_filing_proof: bool | None = None

    @staticmethod
    def _pick(values: dict[int, str], line: int | None, conservative: tuple[str, ...]) -> str | None:
        """The indicator for ``line`` (or the claim when the line has none); when several
        findings disagree the most conservative value wins (e.g. MI 0 over MI 1)."""
        found = [values[k] for k in ((line, 0) if line else tuple(values)) if k in values and values[k]]
        if not found:
            return None
        for v in conservative:
            if v in found:
                return v
        return found[0]

    def ptp_mi(self, line: int | None) -> str | None:
        return self._pick(self.ptp_modifier_indicator, line, ("0", "1", "9"))

    def mai(self, line: int | None) -> str | None:
        return self._pick(self.mue_mai, line, ("2", "3", "1"))

    def modifiers_for(self, line: int | None) -> list[str]:
        mods = self.bypass_modifiers.get(line or 0) or self.bypass_modifiers.get(0) or []
        return list(mods) or list(NCCI_BYPASS_MODIFIERS)

    # The ledger keeps the context as plain JSON.
    def to_dict(self) -> dict[str, Any]:
        return {
            "payer_id": self.payer_id, "plan_type": self.plan_type,
            "ptp_modifier_indicator": {str(k): v for k, v in self.ptp_modifier_indicator.items()},
            "mue_mai": {str(k): v for k, v in self.mue_mai.items()},
            "bypass_modifiers": {str(k): list(v) for k, v in self.bypass_modifiers.items()},
            "retro_authorization": self.retro_authorization, "timely_filing_proof": self.timely_filing_proof,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> "ClaimContext":
        raw = raw or {}
        return cls(
            payer_id=raw.get("payer_id"), plan_type=raw.get("plan_type"),
            ptp_modifier_indicator={int(k): str(v) for k, v in (raw.get("ptp_modifier_indicator") or {}).items()},
            mue_mai={int(k): str(v) for k, v in (raw.get("mue_mai") or {}).items()},
            bypass_modifiers={int(k): list(v) for k, v in (raw.get("bypass_modifiers") or {}).items()},
            retro_authorization=raw.get("retro_authorization"), timely_filing_proof=raw.get("timely_filing_proof"),
        )

    @classmethod
    def from_claim(cls, claim: Claim) -> "ClaimContext":
        """Read the scrubber's findings. Recognised ``source_row`` keys: ``modifier_indicator``
        (or ``mi``/``ptp_modifier_indicator``) on NCCI PTP findings, ``mai`` (or
        ``mue_adjudication_indicator``) on MUE findings, ``retro_authorization`` and
        ``timely_filing_proof`` on any finding."""
        ptp: dict[int, str] = {}
        mai: dict[int, str] = {}
        bypass: dict[int, list[str]] = {}
        retro = proof = None
        for f in claim.findings:
            row = {k.lower(): v for k, v in f.source_row.items()}
            lines = f.line_numbers or [0]
            mi = row.get("modifier_indicator") or row.get("ptp_modifier_indicator") or row.get("mi")
            if f.family == EditFamily.NCCI_PTP and mi is not None:
                for ln in lines:
                    ptp[ln] = "0" if "0" in (ptp.get(ln), str(mi)) else str(mi)
                    if f.bypass_modifiers:
                        bypass[ln] = list(f.bypass_modifiers)
            m = row.get("mai") or row.get("mue_adjudication_indicator")
            if f.family == EditFamily.MUE and m is not None:
                for ln in lines:
                    mai[ln] = m
            if "retro_authorization" in row:
                retro = _flag(row["retro_authorization"])
            if "timely_filing_proof" in row:
                proof = _flag(row["timely_filing_proof"])
        cov = claim.coverage
        return cls(cov.payer_id if cov else None, cov.plan_type.value if cov else None, ptp, mai, bypass, retro, proof)


# --- the rule table -----------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    """One CAS adjustment under judgement, with what surrounds it."""

    group: AdjustmentGroup
    carc: str
    amount: Decimal
    line_number: int | None
    procedure_code: str | None
    remarks: frozenset[str]

    @property
    def code(self) -> str:
        return f"{self.group.value}-{self.carc}"


Verdict = tuple[Disposition, bool, str]  # disposition, appealable, explanation


@dataclass(frozen=True)
class Rule:
    rule_id: str
    when: str  # the table's left column, in words
    carcs: frozenset[str] | None  # None = any code
    groups: frozenset[AdjustmentGroup]
    decide: Callable[[Hit, ClaimContext], Verdict | None]  # None = rule does not apply
    remarks_any: frozenset[str] | None = None
    families: frozenset[str] | None = None  # reason families (carc_families.yaml) instead of codes

    def matches(self, hit: Hit, family: str = UNKNOWN_FAMILY) -> bool:
        return (hit.group in self.groups and (self.carcs is None or hit.carc in self.carcs)
                and (self.families is None or family in self.families)
                and (self.remarks_any is None or bool(hit.remarks & self.remarks_any)))


def _fixed(disposition: Disposition, appealable: bool, explanation: str) -> Callable[[Hit, ClaimContext], Verdict]:
    return lambda hit, ctx: (disposition, appealable, explanation)


def _ptp(expect: str | None) -> Callable[[Hit, ClaimContext], Verdict | None]:
    def decide(hit: Hit, ctx: ClaimContext) -> Verdict | None:
        mi = ctx.ptp_mi(hit.line_number)
        if expect == "1" and mi == "1":
            return (Disposition.CORRECTED_CLAIM_WITH_MODIFIER, False,
                    "bundled by an NCCI pair whose modifier indicator is 1: send a corrected claim with an NCCI-associated modifier if the documentation supports a distinct service; do not appeal")
        if expect == "0" and mi == "0":
            return (Disposition.WRITE_OFF, False,
                    "bundled by an NCCI pair whose modifier indicator is 0: no modifier can bypass it; never appeal, write off")
        if expect is None and mi not in {"0", "1"}:
            return (Disposition.MANUAL_REVIEW, False,
                    "bundled (NCCI) but the PTP modifier indicator is unknown or not applicable: a coder checks the pair before any correction; never appeal blindly")
        return None
    return decide


def _retro_auth(expect: bool | None) -> Callable[[Hit, ClaimContext], Verdict | None]:
    def decide(hit: Hit, ctx: ClaimContext) -> Verdict | None:
        if ctx.retro_authorization is not expect:
            return None
        if expect is True:
            return Disposition.APPEAL, True, "no prior authorization on file at adjudication: appeal with the retro-authorization obtained"
        if expect is False:
            return Disposition.WRITE_OFF, False, "no prior authorization and retro-authorization was refused: write off"
        return (Disposition.MANUAL_REVIEW, True,
                "no prior authorization: request a retro-authorization and appeal with it before the deadline, write off if refused")
    return decide


def _necessity(hit: Hit, ctx: ClaimContext) -> Verdict | None:
    if hit.carc == "151" and ctx.mai(hit.line_number) == "2":
        return None  # DEN-011 decides
    return Disposition.APPEAL, True, "payer judged the service not medically necessary or the units excessive: appeal with the medical records"


def _mue_policy(hit: Hit, ctx: ClaimContext) -> Verdict | None:
    if ctx.mai(hit.line_number) != "2":
        return None
    return Disposition.WRITE_OFF, False, "units above an MUE with adjudication indicator 2 (policy limit): cannot be paid on appeal, write off"


def _timely(expect: bool) -> Callable[[Hit, ClaimContext], Verdict | None]:
    def decide(hit: Hit, ctx: ClaimContext) -> Verdict | None:
        if bool(ctx.timely_filing_proof) is not expect:
            return None
        if expect:
            return Disposition.APPEAL, True, "timely filing denial but proof of timely filing is on file: appeal with the proof"
        return Disposition.WRITE_OFF, False, "filing deadline passed and no proof of timely filing: write off"
    return decide


def _s(*codes: str) -> frozenset[str]:
    return frozenset(codes)


ALL_GROUPS = frozenset(AdjustmentGroup)

RULES: tuple[Rule, ...] = (
    Rule("DEN-001", "CO-16 with RARC MA130 or N211", _s("16"), NOT_PATIENT,
         _fixed(Disposition.CORRECT_AND_RESUBMIT, False,
                "unprocessable claim: correct it and submit a new claim; not appealable, and it did not count as filed for timely filing"),
         remarks_any=UNPROCESSABLE_REMARKS),
    Rule("DEN-002", "CO-45 (charge above fee schedule)", _s("45"), frozenset({CO}),
         _fixed(Disposition.NO_ACTION, False, "contractual reduction to the fee schedule: paid correctly, nothing to do")),
    Rule("DEN-003", "PR-1 / PR-2 / PR-3 (deductible, coinsurance, copay)", _s("1", "2", "3"), frozenset({PR}),
         _fixed(Disposition.BILL_PATIENT, False, "patient cost sharing: bill the patient")),
    Rule("DEN-004", "CO-97 / CO-236 with PTP modifier indicator 1", _s("97", "236"), NOT_PATIENT, _ptp("1")),
    Rule("DEN-005", "CO-97 / CO-236 with PTP modifier indicator 0", _s("97", "236"), NOT_PATIENT, _ptp("0")),
    Rule("DEN-006", "CO-97 / CO-236, PTP modifier indicator unknown or 9", _s("97", "236"), NOT_PATIENT, _ptp(None)),
    Rule("DEN-007", "CO-197 with retro-authorization obtained", _s("197"), NOT_PATIENT, _retro_auth(True)),
    Rule("DEN-008", "CO-197, retro-authorization refused", _s("197"), NOT_PATIENT, _retro_auth(False)),
    Rule("DEN-009", "CO-197, retro-authorization not yet known", _s("197"), NOT_PATIENT, _retro_auth(None)),
    Rule("DEN-011", "CO-151 with MUE adjudication indicator 2", _s("151"), NOT_PATIENT, _mue_policy),
    Rule("DEN-010", "CO-50 / CO-151 (medical necessity, units)", _s("50", "151"), NOT_PATIENT, _necessity),
    Rule("DEN-012", "CO-29 with proof of timely filing", _s("29"), NOT_PATIENT, _timely(True)),
    Rule("DEN-013", "CO-29 without proof of timely filing", _s("29"), NOT_PATIENT, _timely(False)),
    Rule("DEN-014", "CO-18 (exact duplicate)", _s("18"), NOT_PATIENT,
         _fixed(Disposition.VERIFY_DUPLICATE, False, "exact duplicate: verify the original was paid, then usually close")),
    Rule("DEN-015", "CO-27 / CO-109 (coverage ended, wrong payer)", _s("27", "109"), NOT_PATIENT,
         _fixed(Disposition.REBILL_OTHER_PAYER, False, "coverage ended or wrong payer: fix eligibility and bill the right payer")),
    Rule("DEN-016", "OA-23 (impact of prior payer)", _s("23"), frozenset({OA}),
         _fixed(Disposition.INFORMATIONAL, False, "prior payer's adjudication (coordination of benefits): informational")),
    Rule("DEN-017", "any other PR adjustment", None, frozenset({PR}),
         _fixed(Disposition.BILL_PATIENT, False, "amount assigned to the patient by the payer: bill the patient")),
    # One rule per common reason family of the full X12 list (carc_families.yaml); the
    # code-specific rows above win. None of them bills the patient: outside the PR group
    # the patient is never liable.
    Rule("DEN-030", "CO/OA/PI informational family (e.g. OA-94, OA-23, OA-101)", None, NOT_PATIENT,
         _fixed(Disposition.INFORMATIONAL, False, "informational adjustment (processed above charges, prior payer, predetermination...): nothing to do"),
         families=_s("informational")),
    Rule("DEN-031", "CO/OA/PI contractual family (e.g. CO-131, CO-253, CO-104)", None, NOT_PATIENT,
         _fixed(Disposition.NO_ACTION, False, "contractual reduction (negotiated discount, withhold, sequestration...): paid per contract, nothing to do"),
         families=_s("contractual")),
    Rule("DEN-032", "eligibility / other payer liable (e.g. CO-22, CO-26, OA-19)", None, NOT_PATIENT,
         _fixed(Disposition.REBILL_OTHER_PAYER, False, "another payer is liable or coverage did not apply: fix eligibility and bill the right payer"),
         families=_s("eligibility", "coordination_of_benefits")),
    Rule("DEN-033", "coding or claim-data errors (e.g. CO-4, CO-11, CO-146, CO-15)", None, NOT_PATIENT,
         _fixed(Disposition.CORRECT_AND_RESUBMIT, False, "coding or claim data the payer could not accept: correct the claim and send it again"),
         families=_s("coding", "authorization_number")),
    Rule("DEN-034", "level of service reduced (e.g. CO-150)", None, NOT_PATIENT,
         _fixed(Disposition.APPEAL, True, "payer reduced the level of service: appeal with the documentation that supports the level billed"),
         families=_s("coding_level")),
    Rule("DEN-035", "medical necessity family (e.g. CO-55, CO-56, CO-152)", None, NOT_PATIENT,
         _fixed(Disposition.APPEAL, True, "payer questions the necessity or extent of the service: appeal with the medical records"),
         families=_s("medical_necessity")),
    Rule("DEN-036", "authorization family (e.g. CO-198, CO-288, CO-39)", None, NOT_PATIENT,
         _fixed(Disposition.APPEAL, True, "authorization or referral problem: appeal with the authorization, referral or retro-authorization"),
         families=_s("authorization")),
    Rule("DEN-037", "previously paid (e.g. OA-B13)", None, NOT_PATIENT,
         _fixed(Disposition.VERIFY_DUPLICATE, False, "payer says this was already paid: verify the earlier payment, then usually close"),
         families=_s("duplicate")),
    Rule("DEN-038", "filing or appeal time limits (e.g. CO-286, CO-B4)", None, NOT_PATIENT,
         _fixed(Disposition.WRITE_OFF, False, "a filing or appeal time limit was missed: write off unless proof of timely filing exists"),
         families=_s("timely_filing")),
    Rule("DEN-039", "documentation missing (e.g. CO-252, CO-226)", None, NOT_PATIENT,
         _fixed(Disposition.MANUAL_REVIEW, True, "payer needs documentation it did not get: send it (or appeal with it) before the deadline"),
         families=_s("documentation")),
    Rule("DEN-040", "non-covered, benefit limit or provider eligibility (e.g. CO-96, CO-204, CO-119, CO-170)", None, NOT_PATIENT,
         _fixed(Disposition.MANUAL_REVIEW, True, "not covered or not payable to this provider under group CO/OA/PI: the patient is not liable; review for a waiver or an appeal, else write off"),
         families=_s("non_covered", "benefit_limit", "credentialing")),
    Rule("DEN-041", "bundling family without a PTP indicator rule (e.g. CO-231, CO-234)", None, NOT_PATIENT,
         _fixed(Disposition.MANUAL_REVIEW, False, "bundled or mutually exclusive: a coder checks the pairing before any corrected claim; never appeal blindly"),
         families=_s("bundling")),
)
RULES_BY_ID = {r.rule_id: r for r in RULES}

# Claim-level rules (CLP02) and fallbacks; ids are part of the table.
RULE_REVERSAL = "DEN-020"  # CLP02 = 22
RULE_NOT_OUR_CLAIM = "DEN-021"  # CLP02 = 23
RULE_PREDETERMINATION = "DEN-022"  # CLP02 = 25
RULE_DENIED_NO_REASON = "DEN-097"  # CLP02 = 4 without any CAS
RULE_CARC_DEFAULT = "DEN-098"  # known CARC without a specific row: its default from carc.yaml
RULE_NOT_PATIENT_FALLBACK = "DEN-095"  # CO/OA/PI code whose default would bill the patient
RULE_UNCLASSIFIED_CARC = "DEN-096"  # in the imported X12 list but in no reason family
RULE_UNKNOWN_CARC = "DEN-099"  # code not in our list: manual review, reported
RULE_TABLE_DOC = {r.rule_id: r.when for r in RULES} | {
    RULE_REVERSAL: "CLP02 = 22 (reversal of a previous payment)",
    RULE_NOT_OUR_CLAIM: "CLP02 = 23 (not our claim, forwarded)",
    RULE_PREDETERMINATION: "CLP02 = 25 (predetermination pricing only)",
    RULE_DENIED_NO_REASON: "CLP02 = 4 with no adjustment reason",
    RULE_CARC_DEFAULT: "known CARC without a specific row",
    RULE_NOT_PATIENT_FALLBACK: "CO/OA/PI code whose family would bill the patient (CO never makes the patient liable)",
    RULE_UNCLASSIFIED_CARC: "CARC in the imported X12 list without a reason-family rule",
    RULE_UNKNOWN_CARC: "CARC not in the reference list",
}


# --- decisions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    rule_id: str
    disposition: Disposition
    appealable: bool
    explanation: str
    reason_codes: tuple[str, ...] = ()
    remark_codes: tuple[str, ...] = ()
    line_numbers: tuple[int, ...] = ()
    amount: Decimal = ZERO
    family: str = UNKNOWN_FAMILY
    unknown_codes: tuple[str, ...] = ()
    suggested_modifiers: tuple[str, ...] = ()

    @property
    def primary_carc(self) -> str | None:
        return self.reason_codes[0].split("-", 1)[1] if self.reason_codes else None

    @property
    def actionable(self) -> bool:
        return self.disposition in ACTIONABLE


def hits_of(adj: Adjudication) -> list[Hit]:
    claim_remarks = frozenset(r.strip().upper() for r in adj.remark_codes)
    hits = [Hit(a.group_code, a.reason_code.strip().upper(), a.amount, None, None, claim_remarks) for a in adj.claim_adjustments]
    for line in adj.service_lines:
        remarks = claim_remarks | frozenset(r.strip().upper() for r in line.remark_codes)
        hits += [Hit(a.group_code, a.reason_code.strip().upper(), a.amount, line.line_number, line.procedure_code, remarks)
                 for a in line.adjustments]
    return hits


def judge(hit: Hit, ctx: ClaimContext, codes: CodeLists) -> Decision:
    info = codes.carc_info(hit.carc)
    family = info.family if info else UNKNOWN_FAMILY
    relevant = tuple(sorted(hit.remarks))
    for rule in RULES:
        if rule.matches(hit, family):
            verdict = rule.decide(hit, ctx)
            if verdict is None:
                continue
            disposition, appealable, why = verdict
            mods = tuple(ctx.modifiers_for(hit.line_number)) if disposition == Disposition.CORRECTED_CLAIM_WITH_MODIFIER else ()
            return Decision(rule.rule_id, disposition, appealable, why, (hit.code,), relevant,
                            _lines(hit), hit.amount, family, (), mods)
    if info is None:
        return Decision(RULE_UNKNOWN_CARC, Disposition.MANUAL_REVIEW, True,
                        f"reason code {hit.code} is not in the reference list: route to a person", (hit.code,), relevant,
                        _lines(hit), hit.amount, UNKNOWN_FAMILY, (hit.code,))
    deactivated = " (code deactivated in the X12 list)" if info.status == "deactivated" else ""
    if family == UNCLASSIFIED_FAMILY:
        return Decision(RULE_UNCLASSIFIED_CARC, Disposition.MANUAL_REVIEW, True,
                        f"{hit.code}{deactivated}: {info.text} No family rule for this code: route to a person", (hit.code,), relevant,
                        _lines(hit), hit.amount, family, (hit.code,))
    if info.default == Disposition.BILL_PATIENT and hit.group != PR:
        return Decision(RULE_NOT_PATIENT_FALLBACK, Disposition.MANUAL_REVIEW, True,
                        f"{hit.code}{deactivated}: {info.text} Group {hit.group.value} means the patient is not liable: review, appeal or write off",
                        (hit.code,), relevant, _lines(hit), hit.amount, family)
    appealable = info.default in {Disposition.APPEAL, Disposition.MANUAL_REVIEW}
    return Decision(RULE_CARC_DEFAULT, info.default, appealable, f"{hit.code}{deactivated}: {info.text} Default handling: {info.default.value}.",
                    (hit.code,), relevant, _lines(hit), hit.amount, family)


def _lines(hit: Hit) -> tuple[int, ...]:
    return (hit.line_number,) if hit.line_number else ()


def _merge(decisions: Iterable[Decision]) -> list[Decision]:
    """One decision per (rule, disposition): lines, codes and amounts combined."""
    merged: dict[tuple[str, Disposition], Decision] = {}
    for d in decisions:
        key = (d.rule_id, d.disposition)
        if key not in merged:
            merged[key] = d
            continue
        m = merged[key]
        merged[key] = replace(
            m, reason_codes=_union(m.reason_codes, d.reason_codes), remark_codes=_union(m.remark_codes, d.remark_codes),
            line_numbers=tuple(sorted(set(m.line_numbers) | set(d.line_numbers))), amount=m.amount + d.amount,
            unknown_codes=_union(m.unknown_codes, d.unknown_codes), suggested_modifiers=_union(m.suggested_modifiers, d.suggested_modifiers),
        )
    return list(merged.values())


def _union(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    return a + tuple(x for x in b if x not in a)


def decisions_for(adj: Adjudication, ctx: ClaimContext | None = None, codes: CodeLists | None = None) -> list[Decision]:
    """Every guardrail decision for this remittance (claim-level rule, or one per rule that
    fired over its adjustments), merged by rule."""
    ctx = ctx or ClaimContext()
    codes = codes or load_code_lists()
    status = adj.claim_status_code
    remarks = tuple(sorted(r.upper() for r in adj.remark_codes))
    if status == REVERSAL_STATUS:
        return [Decision(RULE_REVERSAL, Disposition.INFORMATIONAL, False,
                         "reversal of a previous payment: the original posting is negated (5010 has no CR group)",
                         (), remarks, (), -adj.paid_amount, "reversal")]
    if status == PREDETERMINATION:
        return [Decision(RULE_PREDETERMINATION, Disposition.INFORMATIONAL, False,
                         "predetermination pricing only: nothing was paid or owed", (), remarks, (), ZERO, "informational")]
    decisions = _merge(judge(h, ctx, codes) for h in hits_of(adj))
    if status == NOT_OUR_CLAIM:
        denied = adj.total_charge - adj.paid_amount
        decisions.insert(0, Decision(RULE_NOT_OUR_CLAIM, Disposition.REBILL_OTHER_PAYER, False,
                                     "payer says the claim is not theirs (forwarded): confirm coverage and bill the right payer",
                                     (), remarks, (), denied, "eligibility"))
    elif status == DENIED_STATUS and not any(d.actionable for d in decisions):
        denied = adj.total_charge - adj.paid_amount - adj.patient_responsibility
        decisions.append(Decision(RULE_DENIED_NO_REASON, Disposition.MANUAL_REVIEW, True,
                                  "claim denied without an actionable adjustment reason: route to a person",
                                  ("CLP02-4",), remarks, (), max(denied, ZERO), UNKNOWN_FAMILY))
    return decisions


_RANK = {d: i for i, d in enumerate((
    Disposition.APPEAL, Disposition.CORRECT_AND_RESUBMIT, Disposition.CORRECTED_CLAIM_WITH_MODIFIER, Disposition.REBILL_OTHER_PAYER,
    Disposition.VERIFY_DUPLICATE, Disposition.MANUAL_REVIEW, Disposition.WRITE_OFF, Disposition.BILL_PATIENT,
    Disposition.INFORMATIONAL, Disposition.NO_ACTION,
))}


def primary(decisions: list[Decision]) -> Decision | None:
    """The decision that speaks for the claim: a reversal first, then the actionable one
    with the most dollars (ties: appeal before correction before review...), then
    patient billing, then informational / no action."""
    if not decisions:
        return None
    for d in decisions:
        if d.rule_id in (RULE_REVERSAL, RULE_PREDETERMINATION):
            return d
    return sorted(decisions, key=lambda d: (not d.actionable, -d.amount if d.actionable else 0, _RANK[d.disposition], d.rule_id))[0]


def disposition_for(adj: Adjudication, claim_context: ClaimContext | Claim | dict | None = None,
                    codes: CodeLists | None = None) -> Decision:
    """The claim's disposition by the guardrails (see ``decisions_for`` for all of them).
    A clean payment with no adjustment yields ``no_action``."""
    if isinstance(claim_context, Claim):
        claim_context = ClaimContext.from_claim(claim_context)
    elif isinstance(claim_context, dict):
        claim_context = ClaimContext.from_dict(claim_context)
    found = primary(decisions_for(adj, claim_context, codes))
    return found or Decision(RULE_TABLE_NONE, Disposition.NO_ACTION, False, "paid as billed: no adjustment", family="none")


RULE_TABLE_NONE = "DEN-000"
RULE_TABLE_DOC[RULE_TABLE_NONE] = "no adjustment at all"


def no_action_why(d: Decision) -> str:
    """The recorded reason a decision needs no person (for denials.no-action.v1)."""
    lead = NO_PERSON_WHY.get(d.disposition, "no person needed")
    return f"{lead}; {d.rule_id}: {d.explanation}"[:480]


def evidence_for(d: Decision, codes: CodeLists | None = None, ctx: ClaimContext | None = None) -> list[WorkItemEvidence]:
    """The facts behind a decision, for the work item: each CARC/RARC with its description
    (from the list in use), the CAS amount, the rule, and the claim context the rule read."""
    codes = codes or load_code_lists()
    out = [WorkItemEvidence(label="guardrail_rule", value=d.rule_id, detail=RULE_TABLE_DOC.get(d.rule_id))]
    for rc in d.reason_codes:
        carc = rc.split("-", 1)[-1]
        info = codes.carc_info(carc)
        out.append(WorkItemEvidence(label="carc", value=rc, detail=info.text if info else "not in the reference list"))
    for rm in d.remark_codes:
        out.append(WorkItemEvidence(label="rarc", value=rm, detail=codes.rarc.get(rm)))
    out.append(WorkItemEvidence(label="cas_amount", value=str(d.amount), detail="sum of the adjustments (negative amounts kept as sent)"))
    out.append(WorkItemEvidence(label="reason_family", value=d.family, detail=None))
    out.append(WorkItemEvidence(label="code_list", value=codes.version, detail=f"CARC/RARC list in use ({codes.source})"))
    if ctx is not None:
        for n in d.line_numbers or (None,):
            mi, mai = ctx.ptp_mi(n), ctx.mai(n)
            if mi is not None:
                out.append(WorkItemEvidence(label="ptp_modifier_indicator", value=mi, detail=f"line {n}" if n else "claim"))
            if mai is not None:
                out.append(WorkItemEvidence(label="mue_mai", value=mai, detail=f"line {n}" if n else "claim"))
    if d.suggested_modifiers:
        out.append(WorkItemEvidence(label="suggested_modifiers", value=" ".join(d.suggested_modifiers), detail=None))
    return out
