"""The demo owns its broker: it refuses when a port it needs is taken and never points at the
everyday broker (issue #18, item 1); its summary keeps denials and patient
responsibility apart (item 7)."""

from __future__ import annotations

import socket
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from claimflow.models import Adjudication, Adjustment, ClaimStatusChanged, DenialWorkItem, ServicePayment
from claimflow.settings import Settings
from services.ops import summary
from claimflow_app.demo_run import DEMO_SERVICES, demo_ports, plan_demo
from tests.unit.ops.conftest import free_port_in_range

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def listener():
    """Something else listening on a port of our range (as the everyday broker on 9092 would)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    port = free_port_in_range(21160)
    sock.bind(("127.0.0.1", port))
    sock.listen(1)
    yield port
    sock.close()


def test_demo_refuses_when_its_broker_port_is_taken(cli, listener, tmp_path):
    result = cli("demo", "--count", "5", env={"CLAIMFLOW_DEMO_KAFKA_PORT": str(listener),
                                              "CLAIMFLOW_DEMO_KAFKA_CONTROLLER_PORT": str(free_port_in_range(21170)),
                                              "CLAIMFLOW_DEMO_PORT_BASE": str(free_port_in_range(21180)),
                                              "CLAIMFLOW_DEMO_DIR": str(tmp_path / "demo")})
    assert result.exit_code == 4, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output
    assert f"port {listener} (for its broker) is already in use" in lines[0]
    assert "CLAIMFLOW_DEMO_KAFKA_PORT" in lines[0] and "--bootstrap" in lines[0]
    assert not (tmp_path / "demo").exists()  # nothing started, nothing written


def test_demo_refuses_when_a_service_port_is_taken(cli, listener, tmp_path):
    base = listener - 1  # the scrubber is the second service of the registry: base + 1 is its port
    result = cli("demo", env={"CLAIMFLOW_DEMO_KAFKA_PORT": str(free_port_in_range(21190)),
                              "CLAIMFLOW_DEMO_KAFKA_CONTROLLER_PORT": str(free_port_in_range(21195)),
                              "CLAIMFLOW_DEMO_PORT_BASE": str(base), "CLAIMFLOW_DEMO_DIR": str(tmp_path / "demo")})
    assert result.exit_code == 4, result.output
    assert f"port {listener} (for the scrubber service) is already in use" in result.stderr


def test_demo_isolates_itself_from_the_everyday_broker(listener, tmp_path):
    """With the everyday broker up (here: something on its port), the demo plans a broker,
    ports and consumer groups of its own, not that one."""
    base = Settings(kafka_bootstrap=f"127.0.0.1:{listener}", local_kafka_port=listener, demo_dir=tmp_path / "demo",
                    demo_kafka_port=free_port_in_range(21200), demo_kafka_controller_port=free_port_in_range(21205),
                    demo_port_base=free_port_in_range(21210))
    plan = plan_demo(base)
    assert plan.settings.kafka_bootstrap == f"127.0.0.1:{base.demo_kafka_port}" != base.kafka_bootstrap
    assert plan.env["CLAIMFLOW_KAFKA_BOOTSTRAP"] == plan.settings.kafka_bootstrap
    assert plan.broker is not None and plan.broker.port == base.demo_kafka_port
    assert listener not in demo_ports(base).values()
    assert plan.settings.app_id_prefix != base.app_id_prefix


def test_default_demo_ports_differ_from_the_everyday_ones():
    s = Settings()
    assert s.demo_kafka_port not in (s.local_kafka_port, s.local_kafka_controller_port)
    assert not set(demo_ports(s).values()) & {s.port_for(x) for x in DEMO_SERVICES}


# --- summary ------------------------------------------------------------------------------


def _adj(cid: str, status: str, charge: str, paid: str, patient: str, claim_adj=(), lines=()) -> Adjudication:
    return Adjudication(adjudication_id=f"A{cid}", claim_id=cid, payer_id="P1", payer_claim_control_number="X", claim_status_code=status,
                        total_charge=Decimal(charge), paid_amount=Decimal(paid), patient_responsibility=Decimal(patient),
                        remittance_date=date(2026, 11, 30), claim_adjustments=list(claim_adj), service_lines=list(lines),
                        received_at=NOW, source="test")


def _a(group: str, reason: str, amount: str) -> Adjustment:
    return Adjustment(group_code=group, reason_code=reason, amount=Decimal(amount))


def _line(code: str, charge: str, paid: str, *adjs: Adjustment) -> ServicePayment:
    return ServicePayment(procedure_code=code, charge=Decimal(charge), paid_amount=Decimal(paid), adjustments=list(adjs))


def test_patient_responsibility_is_not_a_denial():
    adjs = [
        _adj("C1", "1", "100.00", "60.00", "30.00", lines=[_line("99213", "100.00", "60.00", _a("CO", "45", "10.00"), _a("PR", "2", "30.00"))]),
        _adj("C2", "1", "50.00", "0.00", "40.00", lines=[_line("99212", "50.00", "0.00", _a("CO", "45", "10.00"), _a("PR", "1", "40.00"))]),
        _adj("C3", "4", "200.00", "0.00", "0.00", claim_adj=[_a("CO", "50", "180.00"), _a("CO", "45", "20.00")]),
        _adj("C4", "1", "300.00", "100.00", "0.00", lines=[_line("99214", "150.00", "100.00", _a("CO", "45", "50.00")),
                                                          _line("93000", "150.00", "0.00", _a("CO", "97", "150.00"))]),
    ]
    out = summary.money_and_denials(adjs)
    assert out["denials"] == {"claims_denied": 1, "lines_denied": 1, "by_reason": {"CO-50": 1, "CO-97": 1}, "denied_dollars": "350.00"}
    # C2 is paid zero, but by the fee-schedule reduction and the deductible: patient responsibility, not a denial
    assert out["patient_responsibility"] == {"claims": 2, "by_reason": {"PR-1": "40.00", "PR-2": "30.00"}}
    assert out["money"] == {"charged": "650.00", "allowed": "230.00", "paid": "160.00", "patient_responsibility": "70.00"}


def _item(cid: str, disposition: str, amount: str) -> DenialWorkItem:
    return DenialWorkItem(work_item_id=f"W{cid}", claim_id=cid, adjudication_id=f"A{cid}", payer_id="P1", disposition=disposition,
                          rule_id="DEN-1", reason_codes=["CO-50"], remittance_date=date(2026, 11, 30), denied_amount=Decimal(amount),
                          overturn_likelihood=0.5, priority_score=1.0, explanation="x", created_at=NOW)


def _status(cid: str, disposition: str | None) -> ClaimStatusChanged:
    return ClaimStatusChanged(event_id=f"E{cid}{disposition}", claim_id=cid, state="denied", occurred_at=NOW, source_service="adjudicator",
                              disposition=disposition)


def test_appeals_manual_reviews_and_corrections_are_apart():
    items = [_item("C1", "appeal", "100.00"), _item("C2", "manual_review", "40.00"), _item("C3", "appeal", "20.00")]
    statuses = [_status("C1", "appeal"), _status("C4", "write_off"), _status("C5", "bill_patient"), _status("C6", "correct_and_resubmit"),
                _status("C7", None)]
    out = summary.routed_work(items, statuses, patient_bills=1, corrections_requested=1)
    assert out == {"appeals": 2, "appeal_dollars_at_risk": "120.00", "manual_reviews": 1, "corrections": 1, "patient_bills": 1,
                   "other_dispositions": {"write_off": 1}}


def test_every_summary_key_is_explained():
    from claimflow_app.demo_run import underpayments

    shape = {"completed": 1, "encounters_in": 1, "coded": 1, "sent_to_coding_review": 1, "claims_emitted": 1, "claims_held": 1,
             "adjudications_ingested": 1, **summary.money_and_denials([]),
             "work": summary.routed_work([], [], 0, 0), **underpayments([]), "dead_letters": 0,
             "broker_start_seconds": 0, "pipeline_seconds": 0, "appeals_filed_by_demo": 0}
    lines = summary.explain_lines(shape)
    explained = {ln.split(":", 1)[0] for ln in lines}
    assert explained == set(summary.EXPLAIN)


def test_bootstrap_mode_starts_no_broker_and_tags_its_encounters(listener, tmp_path):
    from claimflow.synthetic import EncounterGenerator
    from claimflow_app.demo_run import tag_encounters

    base = Settings(demo_dir=tmp_path / "demo", demo_kafka_port=listener)  # its own port may even be taken
    plan = plan_demo(base, bootstrap=f"127.0.0.1:{listener}")
    assert plan.broker is None and plan.settings.kafka_bootstrap == f"127.0.0.1:{listener}"
    encounters = [EncounterGenerator(seed=1).encounter(i)[0] for i in range(3)]
    tagged = tag_encounters(encounters, plan.run_tag)
    assert [e.encounter_id for e in tagged] == [f"{e.encounter_id}-{plan.run_tag}" for e in encounters]
    assert plan_demo(base, bootstrap=f"127.0.0.1:{listener}").run_tag != plan.run_tag


def test_bootstrap_mode_refuses_a_broker_that_is_down(dead_bootstrap_port, tmp_path):
    from claimflow.reach import KafkaUnreachable

    with pytest.raises(KafkaUnreachable):
        plan_demo(Settings(demo_dir=tmp_path, kafka_connect_timeout_seconds=0.5), bootstrap=f"127.0.0.1:{dead_bootstrap_port}")


@pytest.fixture
def dead_bootstrap_port():
    return free_port_in_range(21230)
