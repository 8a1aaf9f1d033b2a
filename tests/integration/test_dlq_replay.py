"""DLQ tools on the real broker (issue #18, item 4): the coder dead-letters encounters it
cannot take; the operator lists them, looks at one (headers only, then the value with an
audited read), discards one with a reason, fixes the cause, replays the rest, and each
comes out exactly once; a second replay is a no-op.

The cause fixed here is the coder's size limit (CLAIMFLOW_MAX_MESSAGE_BYTES), a deployment
setting: no processor dead-letters a record for a gap in reference data today (unknown
codes go to coding review or hold the claim), so a settings fix stands in for it."""

from __future__ import annotations

import json
import time
import urllib.request
from collections import Counter

import pytest
from click.testing import CliRunner

from claimflow import reach, topics
from claimflow.codec import Codec
from claimflow.health import health_body
from claimflow.kafkaio import read_topic, topic_sizes, wait_for
from claimflow.models import AccessEvent, DlqAction
from claimflow.publish import publish_records
from claimflow.settings import get_settings
from claimflow.synthetic import EncounterGenerator
from tests.harness import Pipeline, _reset_topics

pytestmark = pytest.mark.integration

OUTCOMES = (topics.ENCOUNTERS_CODED.name, topics.CODING_REVIEW.name)


@pytest.fixture
def cli(monkeypatch, kafka_broker):
    from claimflow_app.cli import main

    monkeypatch.setenv("CLAIMFLOW_KAFKA_BOOTSTRAP", kafka_broker.bootstrap)
    get_settings.cache_clear()

    def invoke(*args):
        result = CliRunner().invoke(main, list(args))
        assert "Traceback" not in result.output, result.output
        return result

    yield invoke
    get_settings.cache_clear()
    reach._preflight["enabled"] = False
    reach._preflight["ok"].clear()


def _outcomes_by_key(settings) -> Counter:
    return Counter(r.key.decode() for name in OUTCOMES for r in read_topic(name, settings))


def test_poison_fixed_replayed_once_and_second_replay_is_noop(kafka_broker, tmp_path, cli):
    codec = Codec()
    gen = EncounterGenerator(seed=5)
    encounters = [gen.encounter(i)[0] for i in range(16)]
    sizes = sorted(len(codec.encode("EncounterEvent", e.to_avro())) for e in encounters)
    limit = sizes[len(sizes) // 2]  # the larger half is over the coder's limit
    poison_ids = {e.encounter_id for e in encounters if len(codec.encode("EncounterEvent", e.to_avro())) > limit}
    assert 3 <= len(poison_ids) < len(encounters)

    pipe = Pipeline(kafka_broker, tmp_path, services=("coder",))
    pipe.env["CLAIMFLOW_MAX_MESSAGE_BYTES"] = str(limit)
    settings = pipe.settings
    _reset_topics(settings)
    pipe.start()
    try:
        publish_records(topics.ENCOUNTERS, encounters, "encounter_id", settings)
        good = len(encounters) - len(poison_ids)
        assert wait_for(lambda: sum(topic_sizes(OUTCOMES, settings).values()) >= good
                        and topic_sizes([topics.DLQ_CODER.name], settings)[topics.DLQ_CODER.name] >= len(poison_ids), timeout=90)

        # /healthz has one shape across services (the FHIR gateway's is checked in its unit tests)
        with urllib.request.urlopen(f"http://127.0.0.1:{settings.port_for('coder')}/healthz", timeout=5) as resp:
            assert json.loads(resp.read()) == health_body("coder") == {"service": "coder", "status": "ok"}
        # topics list: the count column lines up whatever the topic name's length
        table = cli("topics", "list").output.splitlines()
        assert table[0].split() == ["TOPIC", "RECORDS"] and len(table) == len(topics.ALL_TOPICS) + 1
        assert len({len(ln) for ln in table}) == 1
        assert f"{topics.DLQ_CODER.name} " in next(ln for ln in table if ln.startswith(topics.DLQ_CODER.name))

        # publish lists every rejected line with --report (line numbers and field locations only)
        bad = tmp_path / "bad.jsonl"
        bad.write_text('{"adjudication_id": ""}\nnot json\n')
        report = tmp_path / "rejects.jsonl"
        rejected = cli("publish", "adjudications", str(bad), "--report", str(report))
        assert rejected.exit_code == 2 and "accepted 0, rejected 2" in rejected.output
        assert [json.loads(ln)["location"] for ln in report.read_text().splitlines()] == ["line 1", "line 2"]

        listed = cli("dlq", "list")
        assert listed.exit_code == 0, listed.output
        row = next(ln for ln in listed.output.splitlines() if ln.startswith("coder"))
        assert row.split()[:4] == ["coder", "decode", "OversizedValue", str(len(poison_ids))]
        print("\n" + listed.output)

        letters = read_topic(topics.DLQ_CODER.name, settings)
        coords = sorted(f"{r.topic}:{r.partition}:{r.offset}" for r in letters)
        shown = cli("dlq", "show", coords[0])
        assert shown.exit_code == 0 and "dlq.error.class = OversizedValue" in shown.output
        assert "value:" not in shown.output
        refused = cli("dlq", "show", coords[0], "--with-value")
        assert refused.exit_code == 1 and "--by USER" in refused.stderr
        with_value = cli("dlq", "show", coords[0], "--with-value", "--by", "ops1", "--reason", "check size")
        assert with_value.exit_code == 0 and "value:" in with_value.output and '"encounter_id"' in with_value.output
        audit = [AccessEvent.model_validate(codec.decode(r.value, "AccessEvent")) for r in read_topic(topics.AUDIT_ACCESS.name, settings)]
        assert [(a.user, a.record_type, a.record_id) for a in audit] == [("ops1", "dead_letter", coords[0])]

        discarded = cli("dlq", "discard", coords[0], "--by", "ops1", "--reason", "sent twice by the EHR")
        assert discarded.exit_code == 0 and "discarded 1" in discarded.output
        discarded_id = next(r.key.decode() for r in letters if f"{r.topic}:{r.partition}:{r.offset}" == coords[0])

        dry = cli("dlq", "replay", "--service", "coder", "--by", "ops1", "--reason", "limit raised", "--dry-run")
        assert dry.exit_code == 0 and f"would replay {len(poison_ids) - 1};" in dry.output
        assert topic_sizes([topics.ENCOUNTERS.name], settings)[topics.ENCOUNTERS.name] == len(encounters)

        # the fix: the coder restarts with a limit that fits every encounter
        pipe.stop()
        pipe.env["CLAIMFLOW_MAX_MESSAGE_BYTES"] = str(1_048_576)
        pipe.start()

        first = cli("dlq", "replay", "--service", "coder", "--by", "ops1", "--reason", "coder size limit raised")
        assert first.exit_code == 0, first.output
        assert f"replayed {len(poison_ids) - 1}; already replayed or discarded 1" in first.output
        expected = {e.encounter_id for e in encounters} - {discarded_id}
        assert wait_for(lambda: set(_outcomes_by_key(settings)) >= expected, timeout=60)

        second = cli("dlq", "replay", "--service", "coder", "--by", "ops1", "--reason", "again")
        assert second.exit_code == 0 and f"replayed 0; already replayed or discarded {len(poison_ids)}" in second.output
        time.sleep(4)  # give a wrongly replayed copy time to show up
        counts = _outcomes_by_key(settings)
        assert {k: n for k, n in counts.items() if n != 1} == {}, "each encounter comes out exactly once"
        assert set(counts) == expected and discarded_id not in counts
        assert topic_sizes([topics.DLQ_CODER.name], settings)[topics.DLQ_CODER.name] == len(poison_ids)

        actions = [DlqAction.model_validate(codec.decode(r.value, "DlqAction")) for r in read_topic(topics.DLQ_ACTIONS.name, settings)]
        assert Counter(a.action.value for a in actions) == {"replayed": len(poison_ids) - 1, "discarded": 1}
        assert all(a.actor == "ops1" and a.source_topic == topics.ENCOUNTERS.name for a in actions)
        assert sorted(f"{a.dlq_topic}:{a.dlq_partition}:{a.dlq_offset}" for a in actions) == coords
        after = cli("dlq", "list")
        assert after.output.splitlines()[1].split()[:6] == ["coder", "decode", "OversizedValue", "0", str(len(poison_ids) - 1), "1"]
        print(after.output)
    finally:
        pipe.stop()
