from claimflow.models import EditFamily

from .scrub_helpers import coded, line, rule_ids

MOD = EditFamily.MODIFIER


def test_valid_modifiers_pass(run):
    c = coded([line("99213", ["25"]), line("11102", ["XS"]), line("20610", ["RT"])])
    assert run(c, MOD) == []


def test_59_with_x_modifier_on_one_line(run):
    assert rule_ids(run(coded([line("99213"), line("11102", ["59", "XS"])]), MOD)) == ["MOD-002"]
    assert run(coded([line("99213"), line("11102", ["59"])]), MOD) == []


def test_25_only_on_em(run):
    fs = run(coded([line("99213"), line("11102", ["25"])]), MOD)
    assert rule_ids(fs) == ["MOD-003"] and fs[0].line_numbers == [2]


def test_unknown_and_duplicate_modifier(run):
    assert rule_ids(run(coded([line("99213", ["ZZ"])]), MOD)) == ["MOD-001"]
    assert rule_ids(run(coded([line("11102", ["XS", "XS"])]), MOD)) == ["MOD-006"]


def test_modifier_not_allowed_for_code(run):
    fs = run(coded([line("99213", ["RT"]), line("11102", ["50"]), line("93000", ["26"])]), MOD)
    assert rule_ids(fs) == ["MOD-004", "MOD-004", "MOD-004"]
    assert {f.source_row["modifier"] for f in fs} == {"RT", "50", "26"}
    assert run(coded([line("20610", ["50"]), line("93010", ["26"])]), MOD) == []


def test_payer_that_does_not_accept_x_modifiers(run):
    fs = run(coded([line("99213"), line("11102", ["XS"])], payer="MCD17"), MOD)
    assert rule_ids(fs) == ["MOD-005"] and "59" in fs[0].suggested_fix
    assert run(coded([line("99213"), line("11102", ["59"])], payer="MCD17"), MOD) == []
