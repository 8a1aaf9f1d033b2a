"""Payer-gateway shell pieces that need no broker: batch writing with the submitted-status
bookkeeping, inbox scanning, the envelope config and the 835 adjudication-id discriminator."""

from __future__ import annotations

import os
import time
from datetime import date
from pathlib import Path

from claimflow.ids import adjudication_id
from claimflow.models import ClaimState, SubscriberRelationship
from claimflow.settings import Settings
from services.payer_gateway.app import (AnnouncedStore, file_usable, gateway_config, inbox_candidates, write_batch)
from services.payer_gateway.importer import parse_bytes
from services.payer_gateway.state import SubmissionLedger
from tests.unit.payer_gateway.claims_factory import NOW, config, varied_claims


def _self_claims(n: int):
    claims, _ = varied_claims(40, seed=5)
    out = [c for c in claims if c.coverage.relationship == SubscriberRelationship.SELF and c.frequency_code == "1"]
    return out[:n], [c for c in claims if c.coverage.relationship != SubscriberRelationship.SELF]


def test_write_batch_writes_once_and_announces_once(tmp_path):
    good, dependents = _self_claims(6)
    state, outbox = tmp_path / "state", tmp_path / "outbox"
    batch = good[:4] + [good[0]] + [dependents[0]]  # a duplicate delivery and a claim the writer rejects
    plan = write_batch(batch, config(), state, outbox, NOW)
    assert sorted(plan.export.written) == sorted(c.claim_id for c in good[:4])
    assert list(plan.rejected) == [dependents[0].claim_id] and "dependent" in plan.rejected[dependents[0].claim_id]
    assert plan.duplicates == [good[0].claim_id]
    assert [e.claim_id for e in plan.announce] == [c.claim_id for c in good[:4]]
    assert all(e.state == ClaimState.SUBMITTED and e.trigger_id.startswith("837:") for e in plan.announce)
    files = list(outbox.iterdir())
    text = b"".join(f.read_bytes() for f in files).decode()
    for c in good[:4]:
        assert text.count(f"CLM*{c.claim_id}*") == 1

    # the statuses were not acknowledged yet: a redelivery re-announces with the same event ids
    again = write_batch(good[:2], config(), state, outbox, NOW)
    assert again.export.written == [] and [e.event_id for e in again.announce] == [e.event_id for e in plan.announce[:2]]
    AnnouncedStore(state).add([e.claim_id for e in plan.announce])
    third = write_batch(good[:2] + good[4:6], config(), state, outbox, NOW)
    assert sorted(third.duplicates) == sorted(c.claim_id for c in good[:2])
    assert sorted(e.claim_id for e in third.announce) == sorted(c.claim_id for c in good[4:6])
    assert len(list(outbox.iterdir())) > len(files)  # one new file per receiver of the new claims
    assert all(SubmissionLedger(state).already_written(c.claim_id) for c in good)


def test_announced_store_survives_restart_and_torn_lines(tmp_path):
    s = AnnouncedStore(tmp_path)
    s.add(["CF1", "CF2"])
    assert "CF1" in AnnouncedStore(tmp_path) and "CF3" not in AnnouncedStore(tmp_path)
    with open(tmp_path / "announced.jsonl", "a") as fh:
        fh.write("CF3")  # torn last line from a crash: must not swallow the next id
    AnnouncedStore(tmp_path).add(["CF4"])
    assert "CF4" in AnnouncedStore(tmp_path)


def test_inbox_candidates_skip_hidden_partial_and_fresh_files(tmp_path):
    for name in ("a.835", ".hidden.835", "b.835.part", "c.tmp", "d.999"):
        (tmp_path / name).write_text("x")
    (tmp_path / "processed").mkdir()
    old = time.time() - 60
    for name in ("a.835", ".hidden.835", "b.835.part", "c.tmp"):
        os.utime(tmp_path / name, (old, old))
    assert [p.name for p in inbox_candidates(tmp_path)] == ["a.835"]
    assert [p.name for p in inbox_candidates(tmp_path, now=time.time() + 60)] == ["a.835", "d.999"]
    assert inbox_candidates(tmp_path / "missing") == []


def test_file_usable():
    assert not file_usable(parse_bytes(b"this is not x12 at all", "junk.txt"))
    fix = Path(__file__).resolve().parents[2] / "fixtures" / "x12" / "remit_multi.835"
    assert file_usable(parse_bytes(fix.read_bytes(), "remit_multi.835"))


def test_gateway_config_defaults_and_yaml_override(tmp_path):
    s = Settings(x12_state_dir=tmp_path)
    assert gateway_config(s).submitter_id == "CLAIMFLOW01"
    (tmp_path / "gateway.yaml").write_text(
        "submitter_id: SUB99\nusage_indicator: P\nreceivers:\n  BCX22: {id: CH1, name: Clearing House}\n")
    cfg = gateway_config(s)
    assert (cfg.submitter_id, cfg.usage_indicator, cfg.receivers["BCX22"].id) == ("SUB99", "P", "CH1")


REPEAT_835 = (
    "ISA*00*          *00*          *ZZ*PAYERA         *ZZ*CLAIMFLOW01    *261120*1200*^*00501*000000801*0*T*:~"
    "GS*HP*PAYERA*CLAIMFLOW01*20261120*1200*801*X*005010X221A1~"
    "ST*835*0001~BPR*I*100*C*CHK************20261120~TRN*1*CHK801*1234567890~DTM*405*20261119~"
    "N1*PR*EXAMPLE PAYER A~REF*2U*BCX22~N1*PE*MAPLE STREET FAMILY PRACTICE*XX*1234567893~LX*1~"
    "CLP*CF00000000000000R1*1*50*50*0*12*PCN9~SVC*HC:99212*50*50**1~"
    "CLP*CF00000000000000R1*1*50*50*0*12*PCN9~SVC*HC:99212*50*50**1~"
    "SE*13*0001~GE*1*801~IEA*1*000000801~"
).encode()


def test_adjudication_id_discriminator_keeps_old_ids_and_splits_repeats():
    base = adjudication_id("P", "CF1", "PCN", "1", date(2026, 1, 2))
    assert adjudication_id("P", "CF1", "PCN", "1", date(2026, 1, 2), None) == base
    assert adjudication_id("P", "CF1", "PCN", "1", date(2026, 1, 2), "T:1") != base
    pf = parse_bytes(REPEAT_835, "repeat.835")
    assert pf.errors == []
    ids = [a.adjudication_id for a in pf.adjudications]
    assert len(ids) == 2 and len(set(ids)) == 2
    assert ids[0] == adjudication_id("BCX22", "CF00000000000000R1", "PCN9", "1", date(2026, 11, 19))
    assert ids == [a.adjudication_id for a in parse_bytes(REPEAT_835, "repeat.835").adjudications]  # deterministic
    assert any(f.code == "DUP-ADJ" for f in pf.findings)
