"""Lexical (BM25) search over ICD-10-CM descriptions."""

from services.coder.search import DescriptionIndex, normalize, tokens

DOCS = {"I10": "Essential (primary) hypertension", "I27.0": "Primary pulmonary hypertension",
        "E11.9": "Type 2 diabetes mellitus without complications", "E10.9": "Type 1 diabetes mellitus without complications",
        "J01.90": "Acute sinusitis, unspecified", "J32.9": "Chronic sinusitis, unspecified"}


def test_tokens_and_normalize():
    assert normalize("Essential (primary) Hypertension") == "essential primary hypertension"
    assert "infection" in tokens("infections of the urinary tract")


def test_exact_description_is_high_confidence():
    hits = DescriptionIndex(DOCS).search("essential (primary) hypertension")
    assert hits[0].code == "I10" and hits[0].confidence >= 0.95


def test_lay_synonym():
    assert DescriptionIndex(DOCS).search("high blood pressure")[0].code == "I10"


def test_partial_match_stays_below_auto_coding():
    hits = DescriptionIndex(DOCS).search("sinus trouble acute")
    assert hits[0].code == "J01.90"
    assert all(h.confidence < 0.9 for h in hits)


def test_filter_and_no_match():
    idx = DescriptionIndex(DOCS)
    assert all(h.code != "I10" for h in idx.search("hypertension", allowed=lambda c: c != "I10"))
    assert idx.search("zzzz qqqq") == []


def test_real_index_finds_official_text(ref):
    hits = ref.index.search("Type 2 diabetes mellitus without complications")
    assert hits[0].code == "E11.9" and hits[0].confidence >= 0.95
