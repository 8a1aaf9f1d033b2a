"""The shared effective-dated ICD-10-CM catalogue: coder and scrubber give one verdict."""

import random
from datetime import date, datetime, timedelta, timezone

import pytest

from claimflow.models import Claim, CodedEncounter
from services.coder.catalogue import ICD10CM_EFFECTIVE, CodeSetCatalogue, code_set_from_codes, load_imported
from services.coder.icd10 import fiscal_year
from services.coder.logic import Coder
from services.scrubber import edits
from services.scrubber.history import EmptyClaimHistory
from services.scrubber.logic import ScrubReference, build_claim
from services.scrubber.refdata import IcdCatalog

from .coder_helpers import NOW, dx, make_enc

FY_START, FY_END = date(2019, 10, 1), date(2026, 9, 30)  # FY2020 .. FY2026


@pytest.fixture(scope="module")
def scrub_ref(ref):
    return ScrubReference.load(icd_catalogue=ref.catalogue)


def _coder_verdict(coder: Coder, code: str, dos: date) -> str:
    reasons = []
    choice = coder.ref.code_set_for(dos)
    item = coder._diagnosis(0, _doc(code), choice, 1, reasons)
    if item is not None:
        return "valid"
    got = {r.code for r in reasons}
    if "DX_CODE_SET_UNAVAILABLE" in got:
        return "unavailable"
    if "DX_HEADER_CODE" in got:
        return "header"
    if got & {"DX_UNKNOWN_CODE", "DX_INVALID_FOR_DOS_YEAR", "DX_INVALID_FORMAT"}:
        return "unknown"
    raise AssertionError(f"unexpected coder reasons {got}")


def _doc(code):
    from claimflow.models import DocumentedDiagnosis
    return DocumentedDiagnosis(system="http://hl7.org/fhir/sid/icd-10-cm", code=code, display="", is_primary=True)


def _scrubber_verdict(scrub_ref: ScrubReference, claim: Claim, code: str, dos: date) -> str:
    c = claim.model_copy(update={"date_of_service": dos, "diagnoses": [code]})
    ctx = edits.EditContext(claim=c, ref=scrub_ref.data, icd=scrub_ref.icd, history=EmptyClaimHistory(), day_key="k", now=NOW)
    rules = {f.rule_id for f in edits.diagnosis_validity(ctx)} - {"DX-003"}
    if not rules:
        return "valid"
    if rules == {"DX-000"}:
        return "unavailable"
    if rules == {"DX-002"}:
        return "header"
    if rules == {"DX-001"}:
        return "unknown"
    raise AssertionError(f"unexpected scrubber findings {rules}")


class _VerdictOnlyCoder(Coder):
    """The real coder without its review suggestions: a BM25 search per invalid code costs
    ~9 ms and does not take part in the validity verdict compared here."""

    def _candidates(self, text, cs, limit=5):
        return []


def test_coder_and_scrubber_agree_on_5000_code_date_pairs(ref, scrub_ref):
    coder = _VerdictOnlyCoder(ref)
    rng = random.Random(20261201)
    sets = ref.code_sets
    # codes that differ between years weigh in: in one loaded year and not another, or billable in one only
    union = sorted(set().union(*[set(s.descriptions) for s in sets.values()]))
    changing = [c for c in union if len({(s.exists(c), s.is_billable(c)) for s in sets.values()}) > 1]
    assert len(changing) > 1000
    days = (FY_END - FY_START).days
    e = make_enc()
    coded = CodedEncounter(encounter_id=e.encounter_id, encounter_version=1, coded_at=NOW, patient=e.patient, coverage=e.coverage,
                           rendering_provider=e.rendering_provider, billing_provider=e.billing_provider,
                           date_of_service=e.date_of_service, place_of_service=e.place_of_service, visit_type=e.visit_type,
                           patient_status=e.patient_status, diagnoses=[], service_lines=[], confidence=1.0, coder_version="t")
    claim = build_claim(coded, datetime.now(timezone.utc))
    seen = {"valid": 0, "header": 0, "unknown": 0, "unavailable": 0}
    for n in range(5000):
        pool = changing if n % 2 else union
        code = rng.choice(pool)
        if n % 10 == 0:
            code = code[:3] + "Q9"  # mostly not a code in any year
        dos = FY_START + timedelta(days=rng.randrange(days + 1))
        a = _coder_verdict(coder, code, dos)
        b = _scrubber_verdict(scrub_ref, claim, code, dos)
        assert a == b == ref.catalogue.verdict(code, dos), (code, dos.isoformat(), a, b)
        seen[a] += 1
    assert all(v > 50 for v in seen.values()), seen  # the sample exercises every verdict


def test_each_date_is_judged_by_its_own_fiscal_year(ref):
    cat = ref.catalogue
    assert cat.for_dos(date(2024, 9, 30)).fiscal_year == 2024 and cat.for_dos(date(2024, 10, 1)).fiscal_year == 2025
    if 2025 in cat.sets and 2026 in cat.sets:
        new26 = next(c for c in sorted(cat.sets[2026].descriptions) if cat.sets[2026].is_billable(c) and not cat.sets[2025].exists(c))
        assert cat.verdict(new26, date(2025, 9, 30)) == "unknown"  # FY2025 claim: the FY2026 code is not yet valid
        assert cat.verdict(new26, date(2025, 10, 1)) == "valid"
    assert cat.verdict("I10", ICD10CM_EFFECTIVE - timedelta(days=1)) == "unavailable"
    missing = [fy for fy in range(2020, 2027) if fy not in cat.sets]
    for fy in missing:
        assert "FY%d" % fy in cat.for_dos(date(fy, 3, 1)).problem


def test_imported_order_file_years_join_the_catalogue(tmp_path, ref):
    (tmp_path / "icd10cm_fy2023.csv").write_text("code,billable\nI10,Y\nE11,N\nE119,Y\n")
    imported = load_imported(tmp_path)
    cat = CodeSetCatalogue({**ref.code_sets, **imported})
    assert cat.verdict("I10", date(2023, 1, 5)) == "valid" and cat.verdict("E11", date(2023, 1, 5)) == "header"
    assert cat.verdict("E11.65", date(2023, 1, 5)) == "unknown"
    scrub = IcdCatalog.from_catalogue(cat)
    assert scrub.for_dos(date(2023, 1, 5))[0] is imported[2023]
    s = code_set_from_codes(2024, "t", ["A00", "A000"], {"A000"})
    assert s.is_billable("A00.0") and not s.is_billable("A00")
    assert fiscal_year(date(2023, 1, 5)) == 2023
