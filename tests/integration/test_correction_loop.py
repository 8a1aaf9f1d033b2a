"""The held-claim correction loop on the real broker: people correct held claims through
the CLI and the scrubber's HTTP endpoint; the scrubber re-scrubs them and releases each
claim to claims.v1 exactly once, holds the ones still wrong again, and dead-letters a
correction of a claim already released."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections import Counter

import pytest

from claimflow import topics
from claimflow.codec import Codec
from claimflow.dlq import headers_dict
from claimflow.kafkaio import read_topic, topic_sizes, wait_for
from claimflow.models import Claim, HeldClaim
from claimflow.publish import publish_records
from claimflow.synthetic import EncounterGenerator
from tests.harness import Pipeline, _reset_topics

pytestmark = pytest.mark.integration

TOKEN = "corrections-token-for-tests"


@pytest.fixture
def token_pipeline(kafka_broker, tmp_path):
    pipe = Pipeline(kafka_broker, tmp_path, services=("coder", "scrubber", "adjudicator"))
    pipe.env["CLAIMFLOW_HTTP_WRITE_TOKEN"] = TOKEN
    _reset_topics(pipe.settings)
    pipe.start()
    yield pipe
    codes = pipe.stop()
    assert all(c in (0, None) for c in codes.values()), codes


def _cli(pipe, *args) -> subprocess.CompletedProcess:
    env = {**__import__("os").environ, **pipe.env}
    return subprocess.run([sys.executable, "-m", "claimflow_app.cli", *args], env=env, capture_output=True, text=True, timeout=120)


def _post(pipe, claim_id: str, body: dict, token: str | None) -> tuple[int, dict]:
    port = pipe.settings.port_for("scrubber")
    req = urllib.request.Request(f"http://127.0.0.1:{port}/claims/{claim_id}/corrections", data=json.dumps(body).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def _fixed_npi(bad: str) -> str:
    return bad[:9] + str((int(bad[9]) - 1) % 10)  # undo the generator's seeded check-digit defect


def test_held_claims_are_corrected_released_once_or_held_again(token_pipeline):
    pipe = token_pipeline
    settings = pipe.settings
    codec = Codec()
    gen = EncounterGenerator(seed=404, defect_rate=0.5)
    encounters, defects = [], {}
    for i in range(60):
        enc, defect = gen.encounter(i)
        encounters.append(enc)
        defects[enc.encounter_id] = defect
    publish_records(topics.ENCOUNTERS, encounters, "encounter_id", settings)
    outcome_topics = [topics.CLAIMS.name, topics.CLAIMS_HELD.name, topics.CODING_REVIEW.name]
    assert wait_for(lambda: sum(topic_sizes(outcome_topics, settings).values()) >= 60, timeout=180)

    held = {h.claim.encounter_id: h for h in (HeldClaim.model_validate(codec.decode(r.value, "HeldClaim"))
                                              for r in read_topic(topics.CLAIMS_HELD.name, settings))}
    clean = [Claim.model_validate(codec.decode(r.value, "Claim")) for r in read_topic(topics.CLAIMS.name, settings)]
    by_defect: dict[str, list[HeldClaim]] = {}
    for eid, h in held.items():
        by_defect.setdefault(defects[eid], []).append(h)
    npi_fixes = by_defect["bad_rendering_npi"][:4]
    tax_fixes = by_defect["missing_tax_id"][:2]
    not_fixed = by_defect["missing_coverage"][:1]
    assert len(npi_fixes) >= 2 and tax_fixes and not_fixed, {k: len(v) for k, v in by_defect.items()}

    # the CLI lists the queue without patient data
    listed = _cli(pipe, "claims", "held")
    assert listed.returncode == 0, listed.stderr
    assert f"{len(held)} held claim(s) waiting" in listed.stdout
    assert all(h.claim_id in listed.stdout for h in held.values())
    assert not any(h.claim.patient.last_name in listed.stdout for h in held.values())

    # 1. the rendering NPI fixed through the CLI (the day_key changes with the NPI); the
    #    first one is sent twice, as a person double-submitting would
    correction_ids = {}
    for n, h in enumerate(npi_fixes):
        done = _cli(pipe, "claims", "correct", h.claim_id, "--by", "biller-17", "--reason", "typo in NPI",
                    "--rendering-npi", _fixed_npi(h.claim.rendering_provider.npi), "--json")
        assert done.returncode == 0, done.stderr
        correction_ids[h.claim_id] = json.loads(done.stdout)["correction_id"]
    # the first one sent again as a whole corrected claim, as a person double-submitting would
    twice = npi_fixes[0]
    again_file = _write(pipe, twice.claim.model_copy(update={
        "rendering_provider": twice.claim.rendering_provider.model_copy(update={"npi": _fixed_npi(twice.claim.rendering_provider.npi)})}))
    resent = _cli(pipe, "claims", "correct", twice.claim_id, "--by", "biller-17", "--file", str(again_file), "--json")
    assert resent.returncode == 0, resent.stderr
    assert json.loads(resent.stdout)["correction_id"] == correction_ids[twice.claim_id]  # same content -> same id

    # 2. the tax id added over HTTP: refused without or with a wrong token, accepted with it
    for h in tax_fixes:
        fixed = h.claim.model_dump(mode="json")
        fixed["billing_provider"]["tax_id"] = "987654321"
        body = {"claim": fixed, "corrected_by": "biller-22", "reason": "tax id was missing"}
        assert _post(pipe, h.claim_id, body, None)[0] == 401
        assert _post(pipe, h.claim_id, body, "wrong")[0] == 401
        status, answer = _post(pipe, h.claim_id, body, TOKEN)
        assert status == 202 and answer["claim_id"] == h.claim_id and answer["correction_id"].startswith("CC")
    status, _ = _post(pipe, tax_fixes[0].claim_id, {"claim": {"claim_id": "x"}, "corrected_by": "b"}, TOKEN)
    assert status == 400

    # 3. a correction that does not fix the problem (coverage still missing): held again
    still = _cli(pipe, "claims", "correct", not_fixed[0].claim_id, "--by", "biller-17", "--line", "1", "--units", "1")
    assert still.returncode == 0, still.stderr
    assert still.stdout.startswith(f"correction CC") and f"of claim {not_fixed[0].claim_id} sent" in still.stdout  # readable, not JSON

    # 4. a "correction" of a claim that was clean and already released: refused to the DLQ
    released_before = clean[0]
    refused = _cli(pipe, "claims", "correct", released_before.claim_id, "--by", "biller-17", "--file", str(_write(pipe, released_before)))
    assert refused.returncode == 0, refused.stderr

    fixed_ids = {h.claim_id for h in npi_fixes + tax_fixes}
    expect_claims = len(clean) + len(fixed_ids)

    def settled():
        sizes = topic_sizes([topics.CLAIMS.name, topics.CLAIMS_HELD.name, topics.DLQ_SCRUBBER.name], settings)
        return sizes[topics.CLAIMS.name] >= expect_claims and sizes[topics.CLAIMS_HELD.name] >= len(held) + 1 \
            and sizes[topics.DLQ_SCRUBBER.name] >= 1
    assert wait_for(settled, timeout=120), topic_sizes([topics.CLAIMS.name, topics.CLAIMS_HELD.name, topics.DLQ_SCRUBBER.name], settings)

    claims_out = [Claim.model_validate(codec.decode(r.value, "Claim")) for r in read_topic(topics.CLAIMS.name, settings)]
    counts = Counter(c.claim_id for c in claims_out)
    assert max(counts.values()) == 1, [cid for cid, n in counts.items() if n > 1]  # never emitted twice
    assert fixed_ids <= set(counts)
    assert not_fixed[0].claim_id not in counts
    released = {c.claim_id: c for c in claims_out if c.claim_id in fixed_ids}
    for h in npi_fixes:
        assert released[h.claim_id].rendering_provider.npi == _fixed_npi(h.claim.rendering_provider.npi)
        assert released[h.claim_id].encounter_id == h.claim.encounter_id
        assert not any(f.severity.value == "error" for f in released[h.claim_id].findings)
    for h in tax_fixes:
        assert released[h.claim_id].billing_provider.tax_id == "987654321"

    held_again = [HeldClaim.model_validate(codec.decode(r.value, "HeldClaim")) for r in read_topic(topics.CLAIMS_HELD.name, settings)]
    again = [h for h in held_again if h.claim_id == not_fixed[0].claim_id]
    assert len(again) == 2 and again[1].held_at > again[0].held_at
    assert "required_data" in {f.value for f in again[1].rule_families}

    dlq = read_topic(topics.DLQ_SCRUBBER.name, settings)
    assert len(dlq) == 1
    h = headers_dict(dlq[0].headers)
    assert h["dlq.error.class"] == "AlreadyReleased" and h["dlq.source.topic"] == topics.CLAIMS_CORRECTED_BY_DAY.name

    # the held queue no longer lists the released claims
    listed = _cli(pipe, "claims", "held")
    assert all(cid not in listed.stdout for cid in fixed_ids)
    assert not_fixed[0].claim_id in listed.stdout

    # the scrubber saw every correction: the resend was recognised and dropped, not lost
    with urllib.request.urlopen(f"http://127.0.0.1:{settings.port_for('scrubber')}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    def metric(outcome):
        line = next(l for l in text.splitlines() if l.startswith(f'claimflow_scrub_corrections_total{{outcome="{outcome}"}}'))
        return float(line.split()[-1])
    assert metric("duplicate") == 1 and metric("refused") == 1 and metric("held_again") == 1
    assert metric("released") == len(fixed_ids) and metric("submitted_http") == len(tax_fixes)

    # the adjudicator's ledger saw the release from hold
    port = settings.port_for("adjudicator")
    cid = npi_fixes[0].claim_id

    def ledger_state():
        try:
            req = urllib.request.Request(f"http://127.0.0.1:{port}/claims/{cid}", headers={"Authorization": f"Bearer {TOKEN}"})
            with urllib.request.urlopen(req, timeout=5) as resp:  # a PHI view: needs the token once one is configured
                return json.loads(resp.read()).get("state")
        except (urllib.error.URLError, OSError):
            return None
    assert wait_for(lambda: ledger_state() == "created", timeout=60), ledger_state()


def _write(pipe, claim: Claim):
    path = pipe.root / f"{claim.claim_id}.json"
    path.write_text(claim.model_dump_json())
    return path
