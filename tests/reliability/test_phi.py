"""PHI never leaves the data path (issue #8 item 6).

Encounters carry synthetic PHI markers (patient name, MRN, member id, birth date, street,
free-text note and diagnosis text). They run through coder, scrubber, payer-sim,
payer-gateway and adjudicator as processes, together with malformed records carrying
the same markers that must be dead-lettered (undecodable, schema-valid but invalid,
a claim the 837P writer rejects, an encounter whose coding rules fail). Then every
service log, every response of the allow-listed public routes (/metrics, /healthz, Faust's index) of
every service (and the adjudicator's claim view), the headers of all
records on all topics (dead-letter values carry original bytes by design, so only their
headers count) and the keys of all topics, table changelogs included, are scanned for
every marker, the birth date in several formats. The markers are also asserted present
in the data path (encounters, claims, dead-letter values, 837P files), so the scan
cannot pass vacuously."""

from __future__ import annotations

import time
import urllib.request
from datetime import date
from decimal import Decimal

import pytest

from claimflow import topics
from claimflow.admin import admin_client
from claimflow.codec import Codec, DecodeError
from claimflow.dlq import headers_dict
from claimflow.httpauth import PUBLIC_ROUTES
from claimflow.kafkaio import producer
from claimflow.models import EncounterEvent
from claimflow_app.services import SERVICES
from claimflow.synthetic import EncounterGenerator
from tests.harness import _pipeline
from tests.reliability.fuzz import discover_consumers, encode_any, read_topics, templates, verdict
from tests.reliability.report import FaultOutcome, record

pytestmark = pytest.mark.integration

SEED = 606
N_GOOD = 60
FIRST, LAST = "Zqphimarker", "Alphaqvist"
DOB = date(1967, 3, 29)
MARKERS = (
    FIRST, LAST, f"{FIRST} {LAST}", f"{LAST}, {FIRST}", "PHIMEMBER", "PHIMRN", "PHINOTE-", "Phiaddrmarker",
    DOB.isoformat(), DOB.strftime("%Y%m%d"), DOB.strftime("%m/%d/%Y"), DOB.strftime("%Y/%m/%d"), DOB.strftime("%d/%m/%Y"),
    f"{DOB.month}/{DOB.day}/{DOB.year}",
)
SETTLE_SECONDS = 300


def marked(enc: EncounterEvent, i: int) -> EncounterEvent:
    """The encounter with PHI markers in every patient field and in its free text."""
    rec = enc.to_avro()
    rec["patient"].update(patient_id=f"PHIMRN{i:04d}", first_name=FIRST, last_name=LAST, date_of_birth=DOB)
    if rec["patient"].get("address"):
        rec["patient"]["address"]["line1"] = f"{i + 1} Phiaddrmarker Street"
    if rec["coverage"]:
        rec["coverage"]["member_id"] = f"PHIMEMBER{i:04d}"
    rec["note_text"] = (f"PHINOTE-{i:04d}: {FIRST} {LAST} (DOB {DOB.strftime('%m/%d/%Y')}, member PHIMEMBER{i:04d}) "
                        f"seen for follow-up; lives at {i + 1} Phiaddrmarker Street.")
    rec["diagnoses"][0]["display"] = f"{rec['diagnoses'][0]['display']} per PHINOTE-DX{i:04d} for {FIRST} {LAST}"
    return EncounterEvent.model_validate(rec)


def _scan(text: str) -> list[str]:
    low = text.lower()
    return [m for m in MARKERS if m.lower() in low]


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.status == 200
        return resp.read().decode("utf-8", "replace")


def test_phi_stays_in_the_data_path(kafka_broker, tmp_path):
    codec = Codec()
    gen = EncounterGenerator(seed=SEED, defect_rate=0.1)
    good = [marked(gen.encounter(i)[0], i) for i in range(N_GOOD)]
    good_ids = {e.encounter_id for e in good}
    consumers = discover_consumers(tmp_path / "discover")
    tpl = templates()

    # malformed records carrying the markers: (topic, key, value, services that must dead-letter it, stage)
    bad: list[tuple[str, bytes, bytes, tuple[str, ...], str]] = []

    def add(topic: str, name: str, value: bytes, stage: str | None = None, services: tuple[str, ...] | None = None) -> None:
        expected = stage or verdict(value, topics.BY_NAME[topic].value)[0]
        assert expected is not None, f"{name} is not malformed"
        bad.append((topic, f"phi-bad-{name}".encode(), value, services or consumers[topic], expected))

    src = [marked(gen.encounter(1000 + i)[0], 1000 + i) for i in range(6)]
    enc_bytes = codec.encode("EncounterEvent", src[0].to_avro())
    add(topics.ENCOUNTERS.name, "truncated", enc_bytes[: len(enc_bytes) * 2 // 3])
    add(topics.ENCOUNTERS.name, "bitflipped-tail", enc_bytes + b"\x00\x01")
    for n, (field, value) in enumerate((("place_of_service", "OFFICE"), ("version", 0), ("total_time_minutes", -4))):
        rec = src[1 + n].to_avro()
        rec[field] = value
        add(topics.ENCOUNTERS.name, f"invalid-{field}", codec.encode("EncounterEvent", rec))
    rec = src[4].to_avro()
    rec["patient"]["patient_id"] = ""
    add(topics.ENCOUNTERS.name, "invalid-patient-id", codec.encode("EncounterEvent", rec))
    # valid, but the coded line total (charge x units) overflows decimal(12,2): the coder's rules fail
    rec = src[5].to_avro()
    rec["procedures"][0].update(charge=Decimal("9999999999.99"), units=9999)
    add(topics.ENCOUNTERS.name, "rules-overflow", codec.encode("EncounterEvent", rec), stage="rules", services=("coder",))

    coded = tpl["CodedEncounter"][0].to_avro()
    coded["patient"].update(first_name=FIRST, last_name=LAST, date_of_birth=DOB, patient_id="PHIMRN9001")
    coded["confidence"] = 1.7
    add(topics.ENCOUNTERS_CODED.name, "coded-invalid", codec.encode("CodedEncounter", coded))

    claim = tpl["Claim"][0].to_avro()
    claim["patient"].update(first_name=FIRST, last_name=LAST, date_of_birth=DOB, patient_id="PHIMRN9002")
    if claim["coverage"]:
        claim["coverage"]["member_id"] = "PHIMEMBER9002"
    claim_bytes = codec.encode("Claim", claim)
    add(topics.CLAIMS.name, "claim-truncated", claim_bytes[:-7])
    invalid_claim = dict(claim, frequency_code="9")
    add(topics.CLAIMS.name, "claim-invalid", codec.encode("Claim", invalid_claim))
    # schema-valid and model-valid, but the 837P writer refuses it (no billing tax id):
    # only the payer gateway dead-letters it (stage rules); the others process it
    no_tax = dict(claim, claim_id="CF" + "9" * 18)
    no_tax["billing_provider"] = dict(no_tax["billing_provider"], tax_id=None)
    add(topics.CLAIMS.name, "claim-writer-rejects", codec.encode("Claim", no_tax), stage="rules", services=("payer-gateway",))

    held = tpl["HeldClaim"][0].to_avro()
    held["claim"]["patient"].update(first_name=FIRST, last_name=LAST, date_of_birth=DOB)
    held["error_count"] = 0
    add(topics.CLAIMS_HELD.name, "held-invalid", codec.encode("HeldClaim", held))
    adj = tpl["Adjudication"][0].to_avro()
    adj["claim_status_code"] = "99"
    adj["payer_claim_control_number"] = f"{FIRST} {LAST}"
    add(topics.ADJUDICATIONS.name, "adjudication-invalid", codec.encode("Adjudication", adj))
    add(topics.ADJUDICATIONS.name, "text-garbage", f"{FIRST} {LAST} DOB {DOB.isoformat()} PHIMEMBER0001".encode())
    outcome = tpl["AppealOutcome"][0].to_avro()
    outcome["recovered_amount"] = Decimal("-1.00")
    outcome["work_item_id"] = f"PHINOTE-{FIRST}"
    add(topics.APPEAL_OUTCOMES.name, "outcome-invalid", encode_any("AppealOutcome", outcome))
    status = tpl["ClaimStatusChanged"][0].to_avro()
    status["reason"] = f"PHINOTE-status for {FIRST} {LAST}"
    add(topics.CLAIMS_STATUS.name, "status-truncated", codec.encode("ClaimStatusChanged", status)[:-3])

    pipe = _pipeline(kafka_broker, tmp_path, SERVICES)
    stopped = False
    try:
        settings = pipe.settings
        prod = producer(settings)
        try:
            futures = []
            for i, e in enumerate(good):
                futures.append(prod.send(topics.ENCOUNTERS.name, key=e.encounter_id.encode(), value=codec.encode("EncounterEvent", e.to_avro())))
                if i % 4 == 0 and i // 4 < len(bad):
                    topic, key, value, _, _ = bad[i // 4]
                    futures.append(prod.send(topic, key=key, value=value))
            for topic, key, value, _, _ in bad[(N_GOOD + 3) // 4:]:
                futures.append(prod.send(topic, key=key, value=value))
            prod.flush()
            for f in futures:
                f.get(timeout=60)
        finally:
            prod.close()

        dlq_names = [topics.DLQ_BY_SERVICE[s].name for s in SERVICES]
        watch = dlq_names + [t.name for t in (topics.CLAIMS, topics.CLAIMS_HELD, topics.CODING_REVIEW, topics.CLAIMS_STATUS)]

        def progress(data) -> dict[str, int]:
            seen = {(s, r.key) for s in SERVICES for r in data[topics.DLQ_BY_SERVICE[s].name]}
            missing_dlq = sum(1 for _, key, _, services, _ in bad for s in services if (s, key) not in seen)
            outcome_ids = set()
            clean = set()
            for name, contract in ((topics.CLAIMS.name, "Claim"), (topics.CLAIMS_HELD.name, "HeldClaim"),
                                   (topics.CODING_REVIEW.name, "CodingReviewItem")):
                for r in data[name]:
                    try:
                        v = codec.decode(r.value, contract)
                    except DecodeError:
                        continue
                    eid = v["claim"]["encounter_id"] if contract == "HeldClaim" else v["encounter_id"]
                    outcome_ids.add(eid)
                    if contract == "Claim" and eid in good_ids:
                        clean.add(v["claim_id"])
            states: dict[str, set] = {}
            for r in data[topics.CLAIMS_STATUS.name]:
                try:
                    v = codec.decode(r.value, "ClaimStatusChanged")
                except DecodeError:
                    continue
                states.setdefault(v["claim_id"], set()).add((v["source_service"], v["state"]))
            adjudicated = {c for c, st in states.items() if st & {("adjudicator", s) for s in ("paid", "partially_paid", "denied")}}
            submitted = {c for c, st in states.items() if ("payer-gateway", "submitted") in st}
            return {"dead letters missing": missing_dlq, "encounters without outcome": len(good_ids - outcome_ids),
                    "clean claims": len(clean), "clean claims not adjudicated": len(clean - adjudicated),
                    "clean claims not submitted": len(clean - submitted)}

        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            data = read_topics(watch, settings)
            prog = progress(data)
            done = not any(v for k, v in prog.items() if k != "clean claims")
            if done or time.monotonic() > deadline:
                break
            for p in pipe.procs:
                assert p.proc.poll() is None, f"{p.service} exited with {p.proc.returncode}; see {p.log_path}"
            time.sleep(3)
        assert done, f"pipeline did not settle: {prog}"
        assert prog["clean claims"] >= N_GOOD // 2

        # the dead letters are the malformed records, at the expected stages
        for topic, key, value, services, stage in bad:
            for s in services:
                found = [r for r in data[topics.DLQ_BY_SERVICE[s].name] if r.key == key]
                assert found and all(r.value == value for r in found), f"{key!r} not dead-lettered by {s} with its bytes"
                assert headers_dict(found[0].headers)["dlq.stage"] == stage, f"{key!r} on {s}"

        # HTTP surfaces, fetched while the services run
        pages = {}
        for p in pipe.procs:
            port = settings.port_for(p.service)
            assert p.proc.poll() is None, f"{p.service} exited with {p.proc.returncode}"
            for route in PUBLIC_ROUTES:  # every allow-listed (unauthenticated) route of every service
                pages[f"{p.service} {route}"] = _get(f"http://127.0.0.1:{port}{route}")
            assert "claimflow_records_in_total" in pages[f"{p.service} /metrics"]
        claim_ids = []
        for r in data[topics.CLAIMS.name][:5]:
            try:
                claim_ids.append(codec.decode(r.value, "Claim")["claim_id"])
            except DecodeError:
                pass
        for cid in claim_ids:
            pages[f"adjudicator /claims/{cid}"] = _get(f"http://127.0.0.1:{settings.port_for('adjudicator')}/claims/{cid}")
    finally:
        codes = pipe.stop()
        stopped = True
    assert stopped and all(c in (0, None) for c in codes.values()), f"services did not exit cleanly: {codes}"

    # every topic of this pipeline: the catalog and the services' internal topics (table changelogs...)
    admin = admin_client(settings)
    try:
        names = sorted(t for t in admin.list_topics() if t in topics.BY_NAME or t.startswith(settings.app_id_prefix + "-"))
    finally:
        admin.close()
    assert any(n.endswith("-changelog") for n in names), names
    everything = read_topics(names, settings)

    leaks: list[str] = []
    for log_file in sorted(pipe.log_dir.glob("*.log")):
        text = log_file.read_text(errors="replace")
        assert text.strip(), f"{log_file} is empty"
        assert "Crashed reason=" not in text, f"an agent crashed: see {log_file}"
        leaks += [f"log {log_file.name}: {m}" for m in _scan(text)]
    for where, text in pages.items():
        leaks += [f"{where}: {m}" for m in _scan(text)]
    n_records = n_headers = 0
    for name, recs in everything.items():
        for r in recs:
            n_records += 1
            leaks += [f"key on {name}: {m}" for m in _scan((r.key or b"").decode("utf-8", "replace"))]
            for k, v in r.headers:
                n_headers += 1
                text = f"{k}={(v or b'').decode('utf-8', 'replace')}"
                leaks += [f"header on {name} ({k}): {m}" for m in _scan(text)]
    dlq_records = sum(len(everything[t]) for t in dlq_names if t in everything)
    assert not leaks, f"PHI markers outside the data path: {sorted(set(leaks))[:20]}"

    # ...and the markers are where they belong, so the scan above could have found them
    def values(name: str) -> str:
        return "\n".join((r.value or b"").decode("utf-8", "replace") for r in everything.get(name, []))

    for name, expect in ((topics.ENCOUNTERS.name, (FIRST, LAST, "PHIMEMBER", "PHIMRN", "PHINOTE-", "Phiaddrmarker")),
                         (topics.CLAIMS.name, (FIRST, LAST, "PHIMEMBER", "PHIMRN")),
                         (topics.DLQ_CODER.name, (FIRST, "PHINOTE-")),
                         (topics.DLQ_PAYER_GATEWAY.name, (FIRST, "PHIMEMBER"))):
        text = values(name)
        for m in expect:
            assert m.lower() in text.lower(), f"marker {m!r} missing from {name}: the scan would be vacuous"
    outbox = "\n".join(p.read_text(errors="replace") for p in (tmp_path / "x12" / "outbox").rglob("*") if p.is_file())
    for m in (DOB.strftime("%Y%m%d"), LAST.upper(), "PHIMEMBER"):
        assert m.lower() in outbox.lower(), f"{m!r} missing from the 837P files"

    record(FaultOutcome(
        fault=f"PHI markers in {N_GOOD} encounters + {len(bad)} malformed PHI records",
        events_in=N_GOOD, outcomes_out=N_GOOD - prog["encounters without outcome"], lost=prog["encounters without outcome"],
        duplicated_submissions=0, dlq=dlq_records, recovery_seconds=None,
        detail={"leaks": len(leaks), "markers": list(MARKERS), "topics_scanned": len(names), "records_scanned": n_records,
                "headers_scanned": n_headers, "logs_scanned": len(list(pipe.log_dir.glob("*.log"))), "pages_scanned": sorted(pages),
                "clean_claims": prog["clean claims"], "malformed": [k.decode() for _, k, _, _, _ in bad]},
    ))
