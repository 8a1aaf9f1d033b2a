"""Every Synthea Encounter that the FHIR mapping turns into an EncounterEvent is either
coded or sent to review with a reason: none crashes or vanishes."""

from __future__ import annotations

import collections

from claimflow.models import utcnow
from services.coder.logic import Coder, CodingReference
from services.fhir_gateway.ingest import ingest_paths


def test_every_synthea_encounter_is_coded_or_reviewed(shared_data):
    result = ingest_paths([shared_data / "fhir" / "synthea-covid-r4"])
    assert len(result.events) == 139
    coder = Coder(CodingReference.load())
    outcomes = collections.Counter()
    reasons = collections.Counter()
    for enc in result.events:
        r = coder.code(enc, utcnow())
        assert (r.coded is None) != (r.review is None)
        if r.review is not None:
            assert r.review.reasons and all(x.code and x.message for x in r.review.reasons)
            reasons.update(x.code for x in r.review.reasons)
            outcomes["review"] += 1
        else:
            assert r.coded.diagnoses and r.coded.service_lines
            outcomes["coded"] += 1
    assert sum(outcomes.values()) == len(result.events)
    print(f"synthea: {dict(outcomes)}; top review reasons: {reasons.most_common(5)}")
