"""Property-based tests of the pure rules with hypothesis (fixed, derandomized profile).

* NPI check digit (Luhn over 80840 + the 10 digits) accepts exactly the valid NPIs;
* the scrubber never raises on generated coded encounters, its findings are
  deterministic, it holds a claim exactly when an error finding exists, and the claim
  charge is the sum of the line charges;
* the coder never raises on generated encounters (charges within decimal(12,2)), is
  deterministic and numbers diagnoses and pointers consistently;
* 835 balancing holds for generated balanced payments and for every payer-sim remit, and
  an unbalanced payment is reported with its exact difference;
* the denial rule table returns a known disposition and rule for any remittance;
* deterministic ids are stable, well-formed and distinct for distinct inputs."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from claimflow.ids import adjudication_id, claim_id, status_event_id, work_item_id
from claimflow.models import (
    CLAIM_STATUS_CODES,
    Adjudication,
    AdjustmentGroup,
    AdministrativeSex,
    Adjustment,
    Disposition,
    EncounterEvent,
    MdmLevel,
    PatientStatus,
    ServicePayment,
    Severity,
    VisitType,
)
from claimflow.synthetic import EncounterGenerator, luhn_npi
from services.adjudicator.logic import balance_findings
from services.adjudicator.reference import load_code_lists
from services.adjudicator.rules import RULE_TABLE_DOC, ClaimContext, decisions_for, disposition_for
from services.payer_sim.logic import SimConfig, adjudicate
from services.scrubber.edits import npi_is_valid
from services.scrubber.history import EmptyClaimHistory
from services.scrubber.logic import Scrubber, ScrubReference, build_claim
from tests.unit.scrubber.scrub_helpers import NOW, coded, line

PROFILE = settings(derandomize=True, deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
DIGITS = "0123456789"


@lru_cache(maxsize=1)
def scrubber() -> Scrubber:
    return Scrubber(ScrubReference.load())


@lru_cache(maxsize=1)
def coder():
    from services.coder.logic import Coder, CodingReference

    return Coder(CodingReference.load())


# --- NPI ----------------------------------------------------------------------------------------


def luhn_ok(number: str) -> bool:
    """The Luhn test on a whole digit string: from the right, every second digit doubled
    (minus 9 when over 9); the sum must end in 0."""
    total = 0
    for pos, ch in enumerate(reversed(number)):
        d = int(ch)
        if pos % 2 == 1:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return total % 10 == 0


@PROFILE
@given(npi=st.text(alphabet=DIGITS, min_size=10, max_size=10))
def test_npi_check_digit_accepts_exactly_luhn_valid_numbers(npi):
    assert npi_is_valid(npi) == luhn_ok("80840" + npi)


@PROFILE
@given(body=st.text(alphabet=DIGITS, min_size=9, max_size=9))
def test_every_npi_body_has_exactly_one_check_digit(body):
    valid = [d for d in DIGITS if npi_is_valid(body + d)]
    assert len(valid) == 1
    good = body + valid[0]
    for pos in range(10):  # Luhn catches every single-digit error
        for d in DIGITS:
            if d != good[pos]:
                assert not npi_is_valid(good[:pos] + d + good[pos + 1:])


@PROFILE
@given(text=st.text(max_size=14))
def test_npi_that_is_not_ten_ascii_digits_is_invalid(text):
    assume(not (len(text) == 10 and all(c in DIGITS for c in text)))
    assert not npi_is_valid(text)


@PROFILE
@given(seed=st.integers(0, 2**32 - 1))
def test_synthetic_npis_are_valid(seed):
    import random

    assert npi_is_valid(luhn_npi(random.Random(seed)))
    assert npi_is_valid("1234567893")  # the CMS example


# --- scrubber -------------------------------------------------------------------------------------

PROC_CODES = ["99213", "99214", "99203", "99205", "36415", "87880", "11102", "17110", "93000", "G0439", "J1885", "99396",
              "90471", "90686", "ABCDE", "9921", "992130", "0001U"]
MODIFIERS = ["25", "59", "LT", "RT", "XS", "XU", "95", "91", "50", "GT", "ZZ", "1"]
DX = ["I10", "E11.9", "J06.9", "Z00.00", "R51.9", "M54.50", "Z23", "E11", "XYZ", "J02.9", "L03.115", "Z00.129"]
money_cents = st.integers(0, 500_000).map(lambda c: Decimal(c).scaleb(-2))


@st.composite
def coded_encounters(draw):
    lines = draw(st.lists(st.builds(
        line, st.sampled_from(PROC_CODES), st.lists(st.sampled_from(MODIFIERS), max_size=4), st.integers(1, 30),
        money_cents.map(str), st.lists(st.integers(0, 6), min_size=1, max_size=4)), max_size=6))
    dos = draw(st.dates(min_value=date(2023, 10, 1), max_value=NOW.date()))
    return coded(
        lines, draw(st.lists(st.sampled_from(DX), max_size=12)), dos=dos,
        payer=draw(st.sampled_from(["MCR01", "MCD17", "BCX22", "AET45", "ZZZ99", None])),
        pos=draw(st.sampled_from(["11", "10", "02", "22", "99", "1A", ""])), visit=draw(st.sampled_from(list(VisitType))),
        status=draw(st.sampled_from(list(PatientStatus))), minutes=draw(st.none() | st.integers(0, 180)),
        mdm=draw(st.none() | st.sampled_from(list(MdmLevel))),
        dob=draw(st.dates(min_value=date(1920, 1, 1), max_value=dos + timedelta(days=30))),
        sex=draw(st.sampled_from(list(AdministrativeSex))),
        rendering_npi=draw(st.sampled_from(["1245319599", "1245319598", "123", "1234567893"])),
        tax_id=draw(st.sampled_from(["123456789", None, ""])),
        encounter_id=draw(st.text(alphabet="ABCDEFGHJK0123456789-", min_size=1, max_size=20)),
        version=draw(st.integers(1, 5)),
    )


@PROFILE
@given(enc=coded_encounters())
def test_scrubber_is_total_and_deterministic(enc):
    first = scrubber().scrub(enc, EmptyClaimHistory(), NOW)
    again = scrubber().scrub(enc, EmptyClaimHistory(), NOW)
    assert first.findings == again.findings
    assert first.outcome == again.outcome
    errors = [f for f in first.findings if f.severity == Severity.ERROR]
    claim = first.held.claim if first.held is not None else first.claim
    assert (first.held is not None) == bool(errors)
    assert (first.claim is None) == bool(errors)
    assert claim.claim_id == claim_id(enc.encounter_id, enc.encounter_version)
    assert claim.total_charge == sum((l.charge for l in claim.lines), Decimal("0.00"))
    assert not [f for f in first.findings if f.rule_id == "REQ-006"], "a built claim always balances"
    if first.held is not None:
        assert first.held.error_count == len(errors)
        assert set(first.held.rule_families) == {f.family for f in errors}
        assert first.history_updates is None
    else:
        assert first.history_updates is not None


@PROFILE
@given(enc=coded_encounters(), cents=st.integers(-10_000, 10_000))
def test_claim_charge_is_the_sum_of_line_charges(enc, cents):
    claim = build_claim(enc, NOW)
    assert claim.total_charge == sum((l.charge for l in enc.service_lines), Decimal("0.00"))
    assert [(l.procedure_code, l.units, l.charge) for l in claim.lines] == [(l.code, l.units, l.charge) for l in enc.service_lines]
    # a corrected claim whose total differs from its lines is flagged, by exactly that difference
    changed = claim.model_copy(update={"total_charge": claim.total_charge + Decimal(cents).scaleb(-2)})
    found = [f for f in scrubber().rescrub(changed, EmptyClaimHistory(), NOW).findings if f.rule_id == "REQ-006"]
    assert bool(found) == (cents != 0)


# --- coder ----------------------------------------------------------------------------------------


@st.composite
def encounters(draw):
    enc, _ = EncounterGenerator(seed=draw(st.integers(0, 2**32 - 1)), defect_rate=0.2).encounter(draw(st.integers(0, 5000)))
    procs = []
    for p in enc.procedures:
        procs.append(p.model_copy(update={
            "units": draw(st.integers(1, 99)),
            "charge": draw(st.none() | st.integers(0, 10**8).map(lambda c: Decimal(c).scaleb(-2))),  # x 99 units fits decimal(12,2)
            "modifiers": draw(st.lists(st.sampled_from(MODIFIERS), max_size=4)),
        }))
    rec = enc.to_avro()
    rec["procedures"] = [p.to_avro() for p in procs]
    if draw(st.booleans()):
        rec["diagnoses"] = rec["diagnoses"][: draw(st.integers(0, len(rec["diagnoses"])))]
    return EncounterEvent.model_validate(rec)


@PROFILE
@given(enc=encounters())
def test_coder_is_total_deterministic_and_consistent(enc):
    result = coder().code(enc, NOW)
    assert result == coder().code(enc, NOW)
    assert (result.coded is None) != (result.review is None)
    if result.coded is not None:
        dx, lines = result.coded.diagnoses, result.coded.service_lines
    else:
        dx, lines = result.review.proposed_diagnoses, result.review.proposed_service_lines
        assert result.review.reasons
    assert [d.sequence for d in dx] == list(range(1, len(dx) + 1))
    assert [l.line_number for l in lines] == list(range(1, len(lines) + 1))
    for l in lines:
        assert all(1 <= p <= len(dx) for p in l.diagnosis_pointers)
        assert l.charge >= 0 and len(l.modifiers) <= 4
    if result.coded is not None:
        assert dx and lines
        assert all(l.diagnosis_pointers for l in lines)


# --- 835 balancing --------------------------------------------------------------------------------


@st.composite
def balanced_payments(draw):
    lines = []
    for n in range(1, draw(st.integers(1, 5)) + 1):
        charge = draw(st.integers(1, 500_000))
        co = draw(st.integers(0, charge))
        pr = draw(st.integers(0, charge - co))
        adjs = []
        if co:
            adjs.append(Adjustment(group_code=AdjustmentGroup.CONTRACTUAL_OBLIGATION, reason_code="45", amount=Decimal(co).scaleb(-2)))
        if pr:
            adjs.append(Adjustment(group_code=AdjustmentGroup.PATIENT_RESPONSIBILITY, reason_code=draw(st.sampled_from(["1", "2", "3"])),
                                   amount=Decimal(pr).scaleb(-2)))
        lines.append(ServicePayment(line_number=n, procedure_code="99213", charge=Decimal(charge).scaleb(-2),
                                    paid_amount=Decimal(charge - co - pr).scaleb(-2), adjustments=adjs))
    total = sum((l.charge for l in lines), Decimal("0.00"))
    paid = sum((l.paid_amount for l in lines), Decimal("0.00"))
    pr_total = sum((a.amount for l in lines for a in l.adjustments if a.group_code == AdjustmentGroup.PATIENT_RESPONSIBILITY), Decimal("0.00"))
    return Adjudication(
        adjudication_id="ADJ-P", claim_id="CF-P", payer_id="BCX22", payer_claim_control_number="PCN1", claim_status_code="1",
        total_charge=total, paid_amount=paid, patient_responsibility=pr_total, remittance_date=date(2026, 5, 1),
        service_lines=lines, received_at=NOW, source="test")


@PROFILE
@given(adj=balanced_payments(), cents=st.integers(-50_000, 50_000))
def test_835_balancing_holds_for_balanced_payments_and_reports_the_difference(adj, cents):
    assert balance_findings(adj) == []
    off = adj.model_copy(update={"paid_amount": adj.paid_amount + Decimal(cents).scaleb(-2)})
    found = {f.code: f for f in balance_findings(off)}
    if cents == 0:
        assert not found
    else:
        assert set(found) == {"BAL-001"}
        assert Decimal(found["BAL-001"].delta) == -Decimal(cents).scaleb(-2)


@PROFILE
@given(enc=coded_encounters(), seed=st.integers(0, 1000))
def test_every_payer_sim_remit_balances(enc, seed):
    claim = build_claim(enc, NOW)
    assume(claim.lines)
    adj = adjudicate(claim, SimConfig(seed=seed))
    assert balance_findings(adj) == []
    assert adj.total_charge == claim.total_charge


# --- denial rule table ----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def known_carcs() -> list[str]:
    return sorted(load_code_lists().carc)


code_text = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ", min_size=1, max_size=5)


@st.composite
def remittances(draw):
    def adjustment():
        return st.builds(Adjustment, group_code=st.sampled_from(list(AdjustmentGroup)),
                         reason_code=st.sampled_from(known_carcs()) | code_text, amount=money_cents)

    lines = draw(st.lists(st.builds(ServicePayment, line_number=st.none() | st.integers(1, 6), procedure_code=st.sampled_from(PROC_CODES),
                                    modifiers=st.lists(st.sampled_from(MODIFIERS), max_size=2), charge=money_cents,
                                    paid_amount=money_cents, adjustments=st.lists(adjustment(), max_size=3),
                                    remark_codes=st.lists(st.sampled_from(["N115", "MA130", "M15", "N211", "MA18"]) | code_text, max_size=2)),
                          max_size=4))
    return Adjudication(
        adjudication_id="ADJ-R", claim_id="CF-R", payer_id=draw(st.sampled_from(["MCR01", "BCX22", "ZZZ99"])),
        payer_claim_control_number="PCN", claim_status_code=draw(st.sampled_from(sorted(CLAIM_STATUS_CODES))),
        total_charge=draw(money_cents), paid_amount=draw(money_cents), patient_responsibility=draw(money_cents),
        remittance_date=date(2026, 5, 1), claim_adjustments=draw(st.lists(adjustment(), max_size=3)),
        remark_codes=draw(st.lists(st.sampled_from(["N115", "MA130", "N211"]) | code_text, max_size=2)),
        service_lines=lines, received_at=NOW, source="test")


@PROFILE
@given(adj=remittances(), enc=st.none() | coded_encounters())
def test_denial_rule_table_always_returns_a_disposition(adj, enc):
    context = ClaimContext.from_claim(build_claim(enc, NOW)) if enc is not None else None
    decision = disposition_for(adj, context)
    assert isinstance(decision.disposition, Disposition)
    assert decision.rule_id in RULE_TABLE_DOC
    assert disposition_for(adj, context) == decision
    for d in decisions_for(adj, context):
        assert isinstance(d.disposition, Disposition) and d.rule_id in RULE_TABLE_DOC


# --- deterministic ids ----------------------------------------------------------------------------

id_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=24)
HEX_ID = re.compile(r"^[0-9A-F]{18}$")


@PROFILE
@given(a=st.tuples(id_text, st.integers(1, 10**6)), b=st.tuples(id_text, st.integers(1, 10**6)))
def test_claim_ids_are_stable_well_formed_and_distinct(a, b):
    assert claim_id(*a) == claim_id(*a)
    assert claim_id(*a).startswith("CF") and HEX_ID.match(claim_id(*a)[2:])
    assert (claim_id(*a) == claim_id(*b)) == (a == b)


@PROFILE
@given(a=st.tuples(id_text, id_text, id_text, st.sampled_from(sorted(CLAIM_STATUS_CODES)), st.dates()),
       b=st.tuples(id_text, id_text, id_text, st.sampled_from(sorted(CLAIM_STATUS_CODES)), st.dates()),
       disc=st.none() | id_text)
def test_adjudication_ids_are_stable_and_distinct(a, b, disc):
    assert adjudication_id(*a) == adjudication_id(*a)
    assert adjudication_id(*a).startswith("ADJ") and HEX_ID.match(adjudication_id(*a)[3:])
    assert (adjudication_id(*a) == adjudication_id(*b)) == (a == b)
    if disc is not None:  # a discriminator always separates a repeat from the first remittance
        assert adjudication_id(*a, discriminator=disc) != adjudication_id(*a)


@PROFILE
@given(a=st.tuples(id_text, id_text, id_text), b=st.tuples(id_text, id_text, id_text))
def test_status_and_work_item_ids_are_stable_and_distinct(a, b):
    assert status_event_id(*a) == status_event_id(*a)
    assert (status_event_id(*a) == status_event_id(*b)) == (a == b)
    assert (work_item_id(*a[:2]) == work_item_id(*b[:2])) == (a[:2] == b[:2])
    assert status_event_id(*a)[2:] != work_item_id(*a[:2])[2:]
