"""The independently labelled set and its per-code-type scoring."""

from pathlib import Path

from services.coder import labelled

FOLDER = Path(__file__).resolve().parents[2] / "fixtures" / "coding_labelled"


def test_labelled_set_has_120_plus_encounters_each_with_rationale():
    visits = labelled.load_visits(FOLDER)
    synthea = labelled.load_synthea_labels(FOLDER)
    assert len(visits) + len(synthea) >= 120 and len(visits) >= 40
    for lab in [v[2] for v in visits] + synthea:
        assert lab["outcome"] in {"coded", "review"} and lab["rationale"] and all(lab["rationale"])
    assert all("bundle" in s and "encounter" in s for s in synthea)  # references, never copies


def _result(outcome, dx=(), lines=()):
    return {"outcome": outcome, "review_reasons": [],
            "codes": {"diagnoses": [{"code": c, "provenance": p} for c, p in dx],
                      "service_lines": [{"code": c, "units": u, "modifiers": m, "provenance": p} for c, u, m, p in lines]}}


def test_scoring_per_type_passthrough_and_wrongly_auto_coded():
    good = _result("auto-coded", [("Z00.129", "inferred"), ("I10", "documented")],
                   [("99393", 1, [], "inferred"), ("90472", 2, [], "inferred"), ("99213", 1, ["25"], "inferred")])
    label = {"outcome": "coded", "icd10cm": ["Z00.129", "I10"], "cpt": ["99393", "90472x2", "90471"], "em": "99393",
             "modifiers": ["99213-25"]}
    should_review = _result("auto-coded", [("E11.9", "mapped")], [("99213", 1, [], "inferred")])
    ev = labelled.evaluate([("a", good, label, {"I10"}), ("b", should_review, {"outcome": "review"}, set())])
    assert ev.passthrough == 1  # I10 was documented: not scored as inferred
    assert ev.tp["icd"] == 1 and ev.fp["icd"] == 1  # E11.9 on an encounter a person must decide
    assert ev.tp["cpt"] == 2 and ev.fn["cpt"] == 1 and ev.fp["cpt"] == 2  # 90471 missed; 99213 unlabelled in a, and in b
    assert ev.tp["mod"] == 1 and ev.tp["em"] == 1 and ev.fp["em"] == 2
    assert ev.routing_agree == 1 and len(ev.routing) == 1 and len(ev.confusion) == 2
    assert "ICD-10-CM" in labelled.report(ev)
