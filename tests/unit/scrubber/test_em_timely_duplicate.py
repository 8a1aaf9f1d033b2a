from datetime import date, datetime, timezone

import pytest

from claimflow.models import EditFamily, MdmLevel, PatientStatus, Severity

from services.scrubber.history import InMemoryClaimHistory

from .scrub_helpers import NOW, coded, line, rule_ids

EM, TF, DUP = EditFamily.EM_LEVEL, EditFamily.TIMELY_FILING, EditFamily.DUPLICATE


@pytest.mark.parametrize("code,status,minimum", [
    ("99202", PatientStatus.NEW, 15), ("99203", PatientStatus.NEW, 30), ("99204", PatientStatus.NEW, 45), ("99205", PatientStatus.NEW, 60),
    ("99212", PatientStatus.ESTABLISHED, 10), ("99213", PatientStatus.ESTABLISHED, 20),
    ("99214", PatientStatus.ESTABLISHED, 30), ("99215", PatientStatus.ESTABLISHED, 40),
])
def test_time_minimum_boundary(run, code, status, minimum):
    assert run(coded([line(code)], status=status, minutes=minimum, mdm=None), EM) == []
    fs = run(coded([line(code)], status=status, minutes=minimum - 1, mdm=None), EM)
    assert rule_ids(fs) == ["EM-001"] and fs[0].source_row["time_minimum"] == str(minimum)


def test_mdm_supports_level_without_time(run):
    assert run(coded([line("99214")], minutes=None, mdm=MdmLevel.MODERATE), EM) == []
    fs = run(coded([line("99214")], minutes=12, mdm=MdmLevel.STRAIGHTFORWARD), EM)
    assert rule_ids(fs) == ["EM-001"] and fs[0].source_row["supported_level"] == "99212"


def test_99211_needs_no_time(run):
    assert run(coded([line("99211")], minutes=None, mdm=None), EM) == []


def test_new_vs_established_mismatch(run):
    assert rule_ids(run(coded([line("99203")], status=PatientStatus.ESTABLISHED, minutes=30), EM)) == ["EM-002"]


def test_nothing_documented_warns(run):
    fs = run(coded([line("99213")], minutes=None, mdm=None), EM)
    assert rule_ids(fs) == ["EM-003"] and fs[0].severity == Severity.WARNING


def test_medicare_timely_filing_12_months(run):
    dos = date(2025, 6, 15)
    on_deadline = datetime(2026, 6, 15, 12, tzinfo=timezone.utc)
    day_after = datetime(2026, 6, 16, 12, tzinfo=timezone.utc)
    fs = run(coded(dos=dos), TF, now=on_deadline)
    assert rule_ids(fs) == ["TF-002"] and fs[0].severity == Severity.WARNING  # last day: still on time, warned
    fs = run(coded(dos=dos), TF, now=day_after)
    assert rule_ids(fs) == ["TF-001"] and fs[0].source_row["deadline"] == "2026-06-15"
    assert run(coded(dos=date(2026, 6, 1)), TF) == []


def test_commercial_timely_filing_days(run):
    fs = run(coded(dos=date(2026, 3, 1), payer="AET45"), TF)  # 90 days -> 2026-05-30
    assert rule_ids(fs) == ["TF-001"]


def test_duplicate_across_submissions(scrubber):
    h = InMemoryClaimHistory()
    first = scrubber.scrub(coded([line("99213"), line("36415")], encounter_id="ENC-A"), h, NOW)
    h.record(first.history_updates)
    same = scrubber.scrub(coded([line("99213"), line("36415")], encounter_id="ENC-B"), h, NOW)
    assert "DUP-001" in rule_ids(same.held.claim.findings, DUP)
    # a different modifier set or unit count is not an exact duplicate
    different = scrubber.scrub(coded([line("36415", units=2)], encounter_id="ENC-C"), h, NOW)
    assert rule_ids(different.findings, DUP) == []


def test_duplicate_lines_within_one_claim(run):
    fs = run(coded([line("99213", ["25"]), line("36415"), line("36415")]), DUP)
    assert rule_ids(fs) == ["DUP-002"]


def test_history_record_is_idempotent(scrubber):
    h = InMemoryClaimHistory()
    upd = scrubber.scrub(coded([line("36415")]), h, NOW).history_updates
    h.record(upd)
    h.record(upd)
    assert h.units_billed(upd.day_key, "36415") == 1
