"""Varied synthetic claims for the 837P tests (built on claimflow.synthetic, no real PHI)."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from claimflow.ids import claim_id
from claimflow.models import Address, AdjustmentGroup, Adjustment, AdministrativeSex, Claim, PlanType, ServiceLine, SubscriberRelationship
from claimflow.synthetic import CONDITIONS, FEES, EncounterGenerator
from services.payer_gateway.writer_837p import (Address as _A, ClaimExtras, GatewayConfig, LineAdjudication, OtherPayer, Receiver,
                                                Subscriber)

EXTRA_DX = ["M25.561", "R10.9", "Z79.4", "E55.9", "D64.9", "R53.83", "I25.10", "N18.3", "K59.00", "H10.9", "R05.9", "M79.7"]
MODS = [[], ["25"], ["59"], ["RT"], ["LT"], ["XS"], ["95"], ["25", "95"], ["59", "RT"], ["76", "GT", "RT", "XU"]]
TODAY = date(2026, 11, 1)
NOW = datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc)


def config() -> GatewayConfig:
    return GatewayConfig(
        submitter_id="CLAIMFLOW01", submitter_name="Claimflow Billing", contact_name="EDI Desk", contact_phone="555-010-0199",
        billing_address=_A(line1="100 Maple Street", city="Springfield", state="IL", postal_code="627011234"),
        receivers={"BCX22": Receiver(id="CLEARHOUSE1", name="Example Clearinghouse")},
    )


def varied_claims(n: int = 60, seed: int = 11) -> tuple[list[Claim], dict[str, ClaimExtras]]:
    gen = EncounterGenerator(seed=seed, today=TODAY)
    rng = random.Random(seed)
    claims: list[Claim] = []
    extras: dict[str, ClaimExtras] = {}
    codes = list(FEES)
    for i in range(n):
        enc, _ = gen.encounter(i)
        enc = enc.model_copy(update={"encounter_id": f"ENC-{seed}-{i:05d}"})
        n_dx = 12 if i % 5 == 0 else rng.randint(1, 6)
        dx = [c for c, _ in CONDITIONS] + EXTRA_DX
        rng.shuffle(dx)
        diagnoses = dx[:n_dx]
        lines = []
        for ln in range(1, (6 if i % 4 == 0 else rng.randint(1, 4)) + 1):
            code = rng.choice(codes)
            units = rng.choice([1, 1, 1, 2, 3])
            charge = (Decimal(FEES[code]) * units + Decimal(rng.choice(["0", "0.5", "0.25", "0.01"]))).quantize(Decimal("0.01"))
            ptrs = sorted(rng.sample(range(1, n_dx + 1), k=min(n_dx, rng.randint(1, 4))))
            lines.append(ServiceLine(line_number=ln, procedure_code=code, modifiers=MODS[(i + ln) % len(MODS)], units=units,
                                     charge=charge, diagnosis_pointers=ptrs))
        cov = enc.coverage
        rel = [SubscriberRelationship.SELF, SubscriberRelationship.SELF, SubscriberRelationship.CHILD, SubscriberRelationship.SPOUSE,
               SubscriberRelationship.OTHER][i % 5]
        cov = cov.model_copy(update={"relationship": rel})
        freq = "7" if i % 17 == 3 else "1"
        claim = Claim(claim_id=claim_id(enc.encounter_id, enc.version), encounter_id=enc.encounter_id, encounter_version=enc.version,
                      frequency_code=freq, original_claim_id="CF000000000000000001" if freq == "7" else None, created_at=NOW,
                      patient=enc.patient, coverage=cov, rendering_provider=enc.rendering_provider if i % 6 else enc.billing_provider,
                      billing_provider=enc.billing_provider, date_of_service=enc.date_of_service, place_of_service=enc.place_of_service,
                      diagnoses=diagnoses, lines=lines, total_charge=sum((l.charge for l in lines), Decimal("0.00")))
        ex = ClaimExtras()
        if rel != SubscriberRelationship.SELF:
            ex = ClaimExtras(subscriber=Subscriber(first_name="Alex", last_name="Example", date_of_birth=date(1970, 3, 4),
                                                   sex=AdministrativeSex.FEMALE,
                                                   address=Address(line1="9 Elm Road", city="Dayton", state="OH", postal_code="45402")))
        if i % 3 == 0:  # billed to this payer as secondary after a primary adjudicated it
            allowed = [(l, (l.charge * Decimal("0.6")).quantize(Decimal("0.01"))) for l in claim.lines]
            primary = OtherPayer(
                payer_id="PRI77", payer_name="Primary Example Plan", member_id=f"P{100000 + i}", responsibility="P",
                plan_type=PlanType.COMMERCIAL, relationship=rel,
                subscriber_first_name="Alex" if rel != SubscriberRelationship.SELF else None,
                subscriber_last_name="Example" if rel != SubscriberRelationship.SELF else None,
                paid_amount=sum((a for _, a in allowed), Decimal("0.00")), adjudication_date=claim.date_of_service + timedelta(days=20),
                claim_adjustments=[] if i % 2 == 0 else [Adjustment(group_code=AdjustmentGroup.CONTRACTUAL_OBLIGATION, reason_code="45",
                                                                    amount=claim.total_charge - sum((a for _, a in allowed), Decimal("0.00")))],
                line_adjudications=[LineAdjudication(line_number=l.line_number, paid_amount=a, adjudication_date=claim.date_of_service + timedelta(days=20),
                                                     adjustments=[Adjustment(group_code=AdjustmentGroup.CONTRACTUAL_OBLIGATION, reason_code="45", amount=l.charge - a)])
                                    for l, a in allowed] if i % 2 == 0 else [],
            )
            ex = ClaimExtras(payer_responsibility="S", subscriber=ex.subscriber, other_payers=[primary])
        if ex != ClaimExtras():
            extras[claim.claim_id] = ex
        claims.append(claim)
    return claims, extras
