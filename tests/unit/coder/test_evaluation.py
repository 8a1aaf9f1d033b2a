"""The labelled set and the evaluation entry point."""

from pathlib import Path

from claimflow.models import EncounterEvent
from services.coder import evaluation

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "coding"


def test_labelled_set_is_large_valid_and_honest():
    fixtures = evaluation.load_fixtures(FIXTURES)
    assert len(fixtures) >= 200
    for fx in fixtures:
        EncounterEvent.model_validate(fx["encounter"])
        assert fx["expected"]["outcome"] in {"coded", "review"}
    reviews = [fx for fx in fixtures if fx["expected"]["outcome"] == "review"]
    kinds = {c for fx in reviews for c in fx["expected"]["reason_codes"]}
    assert {"DX_HEADER_CODE", "DX_UNMAPPED_SNOMED", "DX_LOW_CONFIDENCE", "EM_UNSUPPORTED", "DX_INVALID_FOR_DOS_YEAR"} <= kinds


def test_evaluation_meets_targets(coder, prev_fy):
    ev = evaluation.evaluate(coder, evaluation.load_fixtures(FIXTURES))
    assert ev.auto_rate >= 0.80, evaluation.report(ev)
    assert ev.precision >= 0.97, evaluation.report(ev)
    # every labelled review case is routed to review with the labelled reason
    assert ev.expected_review_caught == ev.expected_review, evaluation.report(ev)
    text = evaluation.report(ev)
    assert "auto-coded" in text and "precision" in text and "recall" in text


def test_expected_reason_codes_are_raised(coder, prev_fy):
    from datetime import datetime, timezone
    for fx in evaluation.load_fixtures(FIXTURES):
        if fx["expected"]["outcome"] != "review":
            continue
        r = coder.code(EncounterEvent.model_validate(fx["encounter"]), datetime.now(timezone.utc))
        got = {x.code for x in r.review.reasons}
        assert set(fx["expected"]["reason_codes"]) <= got, (fx["scenario"], got)
