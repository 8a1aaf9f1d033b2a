"""Denial routing on the official X12 CARC/RARC lists and third-party 835s from
../shared/data (read-only, never copied into the repo). Skips when the folder is absent."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from claimflow.models import AdjustmentGroup, ClaimState
from services.adjudicator.logic import Policy, post
from services.adjudicator.reference import UNCLASSIFIED_FAMILY, load_code_lists
from services.adjudicator.rules import WORK_KIND, decisions_for
from services.payer_gateway.importer import parse_bytes
from services.scrubber.refdata_cli import refdata as refdata_cli
from tests.unit.adjudicator.adj_helpers import NOW, adj_code, line, make_adj

pytestmark = pytest.mark.conformance

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture(scope="module", autouse=True)
def _shared_data_present():
    if not SHARED.is_dir():
        pytest.skip(f"third-party reference data not present at {SHARED} (conformance data sits beside the repo)")


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """The full lists as a user gets them: ``claimflow refdata import carc|rarc --out DIR``."""
    out = tmp_path_factory.mktemp("refdata")
    for kind in ("carc", "rarc"):
        res = CliRunner().invoke(refdata_cli, ["import", kind, str(SHARED / "codesets" / f"{kind}.csv"), "--out", str(out)])
        assert res.exit_code == 0, res.output
    return load_code_lists(imported_dir=out)


def test_full_lists_are_used(imported):
    assert imported.source == "imported" and len(imported.carc) >= 407 and len(imported.rarc) >= 1216
    assert imported.carc_info("94").family == "informational" and imported.carc_info("131").family == "contractual"


@pytest.mark.parametrize("code,rule", [("OA-94", "DEN-030"), ("CO-131", "DEN-031"), ("CO-253", "DEN-031"), ("CO-150", "DEN-034"),
                                       ("CO-B13", "DEN-037"), ("CO-204", "DEN-040")])
def test_common_codes_get_their_family_rule(imported, code, rule):
    adj = make_adj(status="1", charge="100.00", paid="60.00", lines=[line(1, "99213", "100.00", "60.00", [adj_code(code, "40.00")])])
    assert [d.rule_id for d in decisions_for(adj, codes=imported)] == [rule]


def test_every_current_carc_routes_and_co_never_bills_the_patient(imported):
    routed = Counter()
    for code, info in imported.carc.items():
        for group in ("CO", "OA", "PI", "PR"):
            adj = make_adj(status="1", charge="100.00", paid="60.00", lines=[line(1, "99213", "100.00", "60.00", [adj_code(f"{group}-{code}", "40.00")])])
            [d] = decisions_for(adj, codes=imported)
            if group != "PR":
                assert d.disposition.value != "bill_patient", (group, code, d.rule_id)
            if info.family == UNCLASSIFIED_FAMILY and group == "CO":
                assert d.rule_id == "DEN-096" and code in d.explanation
            routed["person" if d.disposition in WORK_KIND else "no person"] += 1
    assert routed["person"] > 0 and routed["no person"] > 0


def test_third_party_secondary_remits_are_paid_not_partially_paid(imported):
    pf = parse_bytes((SHARED / "x12" / "lfh-835" / "secondary-payment.835").read_bytes(), "secondary-payment.835")
    assert pf.adjudications
    for adj in pf.adjudications:
        p = post(None, adj, NOW, Policy(codes=imported))
        assert p.status_events[-1].state == ClaimState.PAID, (adj.claim_id, [d.rule_id for d in p.decisions])
        assert p.work_items == [] and p.no_action  # each adjustment recorded with its why
