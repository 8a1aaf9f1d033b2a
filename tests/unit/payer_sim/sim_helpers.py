from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from claimflow.ids import claim_id
from claimflow.models import Claim, ServiceLine
from claimflow.synthetic import EncounterGenerator

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)


def claims(count: int, seed: int = 11) -> list[Claim]:
    """Claims built straight from synthetic encounters (no coder/scrubber needed)."""
    gen = EncounterGenerator(seed=seed)
    out = []
    for i in range(count):
        enc, _ = gen.encounter(i)
        lines = [ServiceLine(line_number=j + 1, procedure_code=p.code, modifiers=list(p.modifiers), units=p.units,
                             charge=(p.charge or Decimal("0.00")) * p.units, diagnosis_pointers=[1])
                 for j, p in enumerate(enc.procedures)]
        out.append(Claim(
            claim_id=claim_id(enc.encounter_id, enc.version), encounter_id=enc.encounter_id, encounter_version=enc.version,
            created_at=NOW, patient=enc.patient, coverage=enc.coverage, rendering_provider=enc.rendering_provider,
            billing_provider=enc.billing_provider, date_of_service=enc.date_of_service, place_of_service=enc.place_of_service,
            diagnoses=[d.code for d in enc.diagnoses], lines=lines, total_charge=sum((l.charge for l in lines), Decimal("0.00")),
        ))
    return out

