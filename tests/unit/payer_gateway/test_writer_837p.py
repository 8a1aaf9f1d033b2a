"""837P writer: pyx12 validation, round trip through our own reader, envelope counts,
persistent control numbers and write-once idempotence."""

from __future__ import annotations

import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from claimflow.models import SubscriberRelationship
from services.payer_gateway.importer import parse_bytes
from services.payer_gateway.segments import walk
from services.payer_gateway.state import ControlNumberStore, SubmissionLedger
from services.payer_gateway.writer_837p import ClaimExtras, build_interchange, export_claims, validate_claim, ClaimExportError
from tests.unit.payer_gateway.claims_factory import NOW, config, varied_claims

X12VALID = shutil.which("x12valid") or str(Path(__file__).resolve().parents[3] / ".venv" / "bin" / "x12valid")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    base = tmp_path_factory.mktemp("gw")
    claims, extras = varied_claims(60)
    result = export_claims(claims, config(), base / "state", base / "outbox", extras, NOW)
    return claims, extras, result, base


def test_every_claim_written_once(exported):
    claims, _, result, _ = exported
    assert result.rejected == [] and result.duplicates == []
    assert sorted(result.written) == sorted(c.claim_id for c in claims)
    assert len(claims) >= 50
    # the sample is varied: 12 diagnoses, several lines, modifiers, dependents, COB
    assert any(len(c.diagnoses) == 12 for c in claims)
    assert any(len(c.lines) >= 5 for c in claims)
    assert any(len(l.modifiers) == 4 for c in claims for l in c.lines)
    assert any(c.coverage.relationship != SubscriberRelationship.SELF for c in claims)


@pytest.mark.skipif(not Path(X12VALID).exists(), reason="pyx12 (x12valid) is not installed: pip install pyx12")
def test_pyx12_validates_every_generated_file(exported):
    _, _, result, _ = exported
    assert result.files
    for f in result.files:
        proc = subprocess.run([X12VALID, str(f)], capture_output=True, text=True, timeout=300)
        out = proc.stdout + proc.stderr  # exit code is 1 even on success: read the verdict line
        assert f"{f}: OK" in out, out[-2000:]
        ack = Path(str(f) + ".997")
        if not ack.exists():
            ack = Path(str(f) + ".999")
        assert ack.exists()
        parsed = parse_bytes(ack.read_bytes(), ack.name)
        assert parsed.errors == []
        assert parsed.acks and all(g.code == "A" for g in parsed.acks)
        assert all(t.code == "A" for g in parsed.acks for t in g.transaction_sets)


def test_envelopes_counts_and_control_numbers(exported):
    _, _, result, _ = exported
    seen_isa = set()
    for f in result.files:
        env, _, _ = walk(f.read_bytes(), f.name)
        assert env.errors == [] and env.findings == []  # SE01/SE02, GE01/GE02, IEA01/IEA02 all consistent
        for ic in env.interchanges:
            assert ic.control_number not in seen_isa
            seen_isa.add(ic.control_number)
    assert len(seen_isa) == len(result.files)


def test_round_trip_claims_837_reader(exported):
    claims, extras, result, _ = exported
    parsed = {}
    for f in result.files:
        pf = parse_bytes(f.read_bytes(), f.name)
        assert pf.errors == []
        for c in pf.claims_837:
            parsed[c.claim_id] = c
    assert set(parsed) == {c.claim_id for c in claims}
    for claim in claims:
        got = parsed[claim.claim_id]
        assert got.total_charge == claim.total_charge
        assert got.place_of_service == claim.place_of_service
        assert got.frequency_code == claim.frequency_code
        assert got.diagnoses == [d.replace(".", "") for d in claim.diagnoses]
        assert got.payer_id == claim.coverage.payer_id
        assert got.billing_npi == claim.billing_provider.npi
        assert got.billing_tax_id == claim.billing_provider.tax_id
        assert got.rendering_npi == (None if claim.rendering_provider.npi == claim.billing_provider.npi else claim.rendering_provider.npi)
        assert len(got.lines) == len(claim.lines)
        for want, line in zip(claim.lines, got.lines):
            assert line.line_number == want.line_number
            assert line.procedure_code == want.procedure_code
            assert line.modifiers == want.modifiers
            assert line.units == Decimal(want.units)
            assert line.charge == want.charge
            assert line.diagnosis_pointers == want.diagnosis_pointers
            assert line.service_date == claim.date_of_service
        ex = extras.get(claim.claim_id)
        if ex and ex.other_payers:
            assert got.payer_responsibility == "S"
            assert [o.payer_id for o in got.other_payers] == [o.payer_id for o in ex.other_payers]
            assert got.other_payers[0].paid_amount == ex.other_payers[0].paid_amount
            for la in ex.other_payers[0].line_adjudications:
                line = next(l for l in got.lines if l.line_number == la.line_number)
                assert line.other_payer_paid["PRI77"] == la.paid_amount
        if claim.coverage.relationship != SubscriberRelationship.SELF:
            assert got.patient_relationship in ("01", "19", "G8")


def test_redelivered_claims_are_not_written_twice_and_counters_persist(exported, tmp_path):
    claims, extras, first, base = exported
    last_isa = ControlNumberStore(base / "state").peek("isa")
    again = export_claims(claims[:10] + claims[:3], config(), base / "state", base / "outbox", extras, NOW)
    assert again.files == [] and again.written == []
    assert sorted(again.duplicates) == sorted([c.claim_id for c in claims[:10]] + [c.claim_id for c in claims[:3]])
    # a brand-new claim after a "restart" (new objects on the same state dir) gets fresh numbers
    fresh, fresh_extras = varied_claims(3, seed=99)
    res = export_claims(fresh, config(), base / "state", base / "outbox", fresh_extras, NOW)
    assert res.written and res.files
    env, _, _ = walk(res.files[0].read_bytes())
    assert int(env.interchanges[0].control_number) == last_isa + 1
    ledger = SubmissionLedger(base / "state")
    assert all(ledger.already_written(c.claim_id) for c in claims)


def test_outbox_holds_only_complete_files(exported):
    _, _, result, base = exported
    names = [p.name for p in (base / "outbox").iterdir()]
    assert not [n for n in names if n.endswith(".tmp")]


def test_transaction_split_and_se_counts():
    claims, extras = varied_claims(7, seed=5)
    cfg = config().__class__(**{**config().__dict__, "max_claims_per_transaction": 3})
    same = [c for c in claims if cfg.receiver_for(c) == cfg.receiver_for(claims[0])] or claims[:1]
    ic = build_interchange(claims, cfg, cfg.receiver_for(claims[0]), 42, 7, NOW, extras)
    env, _, _ = walk(ic.data)
    assert env.errors == [] and env.findings == []
    assert len(env.interchanges[0].groups[0].transactions) == len(ic.transactions) == 3
    assert same


def test_invalid_claims_are_rejected_not_written(tmp_path):
    claims, _ = varied_claims(10, seed=3)
    dependent = next(c for c in claims if c.coverage.relationship != SubscriberRelationship.SELF)
    with pytest.raises(ClaimExportError):
        validate_claim(dependent, ClaimExtras())  # no subscriber demographics
    no_cov = claims[0].model_copy(update={"coverage": None})
    res = export_claims([no_cov], config(), tmp_path / "s", tmp_path / "o", {}, NOW)
    assert res.rejected and res.rejected[0][0] == no_cov.claim_id and res.files == []
    assert not SubmissionLedger(tmp_path / "s").already_written(no_cov.claim_id)
