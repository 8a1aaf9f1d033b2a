from claimflow.models import EditFamily

from services.scrubber.history import InMemoryClaimHistory

from .scrub_helpers import NOW, coded, line, rule_ids

MUE = EditFamily.MUE


def test_units_exactly_at_the_limit_pass(run):
    assert run(coded([line("99213"), line("J1885", units=8)]), MUE) == []  # MAI 3, MUE 8


def test_mai_3_over_the_limit_across_lines(run):
    fs = run(coded([line("99213"), line("J1885", units=5), line("J1885", ["XU"], units=4)]), MUE)
    assert rule_ids(fs) == ["MUE-003"]
    f = fs[0]
    assert f.line_numbers == [2, 3] and f.source_row["mue_value"] == "8" and f.source_row["mai"] == "3"
    assert f.source_row["units_this_claim"] == "9" and "appeal" in f.suggested_fix


def test_mai_2_on_one_claim(run):
    fs = run(coded([line("99213", units=2)]), MUE)
    assert rule_ids(fs) == ["MUE-002"] and fs[0].source_row["mai"] == "2"


def test_mai_2_across_two_claims_the_same_day(scrubber):
    history = InMemoryClaimHistory()
    first = scrubber.scrub(coded([line("99213")], encounter_id="ENC-A"), history, NOW)
    assert first.claim is not None and first.history_updates.units == {"99213": 1}
    history.record(first.history_updates)
    second = scrubber.scrub(coded([line("99213", ["25"]), line("11102")], encounter_id="ENC-B"), history, NOW)
    assert second.held is not None
    f = [f for f in second.held.claim.findings if f.family == MUE][0]
    assert f.rule_id == "MUE-002" and f.source_row["units_already_billed"] == "1"


def test_other_provider_or_day_does_not_count(scrubber):
    history = InMemoryClaimHistory()
    history.record(scrubber.scrub(coded([line("99213")], encounter_id="ENC-A"), history, NOW).history_updates)
    other = coded([line("99213")], encounter_id="ENC-C", rendering_npi="1234567893")
    assert [f for f in scrubber.scrub(other, history, NOW).findings if f.family == MUE] == []


def test_mai_1_is_per_line(ref, run):
    from services.scrubber.refdata import DatasetInfo, MueTable
    table = MueTable.build([("36415", 1, 1, "test", 0)], DatasetInfo("t", "1"))
    import dataclasses
    from services.scrubber.logic import Scrubber
    ref2 = dataclasses.replace(ref, data=dataclasses.replace(ref.data, mue=table))
    s = Scrubber(ref2, families=[MUE])
    ok = s.scrub(coded([line("36415"), line("36415", ["XE"])]), InMemoryClaimHistory(), NOW)
    assert ok.claim is not None and ok.claim.findings == []  # one unit per line: fine
    bad = s.scrub(coded([line("36415", units=2)]), InMemoryClaimHistory(), NOW)
    assert [f.rule_id for f in bad.held.claim.findings] == ["MUE-001"]
