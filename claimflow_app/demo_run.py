"""What `claimflow demo` needs besides its script (claimflow/demo.py): a plan that gives the
demo a broker, ports and folder of its own or refuses to start, and the summary of this
run's records only."""

from __future__ import annotations

import uuid
from decimal import Decimal
from dataclasses import dataclass
from pathlib import Path

from claimflow import topics
from claimflow.cli_errors import PORT_TAKEN_EXIT_CODE, CliError
from claimflow.codec import Codec
from claimflow.ids import claim_id as make_claim_id
from claimflow.kafka_local import LocalBroker
from claimflow.models import Adjudication, ClaimStatusChanged, DenialWorkItem, EncounterEvent, UnderpaymentKind, UnderpaymentWorkItem
from claimflow.reach import ensure_reachable, port_free
from claimflow.settings import Settings
from services.ops import summary as summ
from claimflow_app.runner import RUNNABLE
from services.ops.window import RunWindow

DEMO_SERVICES = ("coder", "scrubber", "adjudicator", "payer-sim")
DEMO_APP_ID_PREFIX = "claimflow-demo"


@dataclass
class DemoPlan:
    settings: Settings
    env: dict[str, str]
    root: Path
    broker: LocalBroker | None  # None: the broker named with --bootstrap, not ours
    run_tag: str | None  # suffix of encounter ids on a shared broker (unique per run)

    def check_own_broker(self) -> None:
        """Our JVM is the one that answers (it did not die on a bind while another broker
        on the same port answered the readiness probe)."""
        if self.broker is not None and not self.broker.pid():
            raise CliError(f"the demo's broker exited during start-up; see {self.broker.log_file}", PORT_TAKEN_EXIT_CODE)


WORKBENCH_PORTS = ("workbench", "workbench-web")  # its projector (/metrics, /healthz) and the web app


def demo_ports(base: Settings) -> dict[str, int]:
    return {s: base.demo_port_base + i for i, s in enumerate((*RUNNABLE, *WORKBENCH_PORTS))}


def plan_demo(base: Settings, bootstrap: str | None = None) -> DemoPlan:
    """Refuse (exit 4) when a port the demo needs is taken, instead of writing into a broker
    or reading figures from services it did not start."""
    ports = demo_ports(base)
    wanted = [] if bootstrap else [(base.demo_kafka_port, "its broker", "CLAIMFLOW_DEMO_KAFKA_PORT"),
                                   (base.demo_kafka_controller_port, "its broker's controller", "CLAIMFLOW_DEMO_KAFKA_CONTROLLER_PORT")]
    if not bootstrap:
        wanted += [(ports[s], f"the {s} service", "CLAIMFLOW_DEMO_PORT_BASE") for s in (*DEMO_SERVICES, *WORKBENCH_PORTS)]
    for port, what, setting in wanted:
        if not port_free(port):
            raise CliError(f"port {port} (for {what}) is already in use: the demo runs on a broker and services of its own; "
                           f"stop what holds the port, set {setting}, or pass --bootstrap HOST:PORT to send the demo's "
                           f"encounters through a pipeline that is already running", PORT_TAKEN_EXIT_CODE)
    root = Path(base.demo_dir)
    kafka_bootstrap = bootstrap or f"127.0.0.1:{base.demo_kafka_port}"
    fields = {**base.model_dump(), "kafka_bootstrap": kafka_bootstrap, "data_dir": root / "services",
              "app_id_prefix": DEMO_APP_ID_PREFIX, **{f"port_{s.replace('-', '_')}": p for s, p in ports.items()}}
    settings = Settings(**fields)
    env = {"CLAIMFLOW_KAFKA_BOOTSTRAP": kafka_bootstrap, "CLAIMFLOW_DATA_DIR": str(settings.data_dir),
           "CLAIMFLOW_APP_ID_PREFIX": DEMO_APP_ID_PREFIX,
           **{f"CLAIMFLOW_PORT_{s.replace('-', '_').upper()}": str(p) for s, p in ports.items()}}
    if bootstrap:
        ensure_reachable(settings)
        return DemoPlan(settings, env, root, None, uuid.uuid4().hex[:8])
    broker = LocalBroker(data_dir=root / "kafka", port=base.demo_kafka_port, controller_port=base.demo_kafka_controller_port,
                         heap=base.local_kafka_heap, settings=settings)
    return DemoPlan(settings, env, root, broker, None)


def tag_encounters(encounters: list[EncounterEvent], run_tag: str | None) -> list[EncounterEvent]:
    if not run_tag:
        return encounters
    return [e.model_copy(update={"encounter_id": f"{e.encounter_id}-{run_tag}"}) for e in encounters]


def open_window(encounters: list[EncounterEvent], settings: Settings) -> RunWindow:
    window = RunWindow.open([t.name for t in topics.ALL_TOPICS], settings)
    window.keys = {e.encounter_id.encode() for e in encounters} | {make_claim_id(e.encounter_id, e.version).encode() for e in encounters}
    return window


OUTCOMES = (topics.CLAIMS, topics.CLAIMS_HELD, topics.CODING_REVIEW)


def progress(window: RunWindow, encounters: list[EncounterEvent]) -> tuple[int, int, int]:
    """(encounters with an outcome, clean claims, clean claims adjudicated) of this run."""
    by_claim = {make_claim_id(e.encounter_id, e.version).encode(): e.encounter_id.encode() for e in encounters}
    reached: set[bytes] = set()
    for spec in OUTCOMES + tuple(t for t in topics.ALL_TOPICS if t.is_dlq):
        for r in window.own(spec.name):
            reached.add(by_claim.get(r.key, r.key))
    clean = {r.key for r in window.own(topics.CLAIMS.name)}
    adjudicated = {r.key for r in window.own(topics.ADJUDICATIONS.name)} & clean
    return len(reached), len(clean), len(adjudicated)


def collect(window: RunWindow, encounters: list[EncounterEvent], finished: bool) -> dict:
    codec = Codec()

    def decoded(spec, model):
        out = []
        for r in window.own(spec.name):
            out.append(model.model_validate(codec.decode(r.value, spec.value)))
        return out

    def count(spec) -> int:
        return len(window.own(spec.name))

    adjudications = decoded(topics.ADJUDICATIONS, Adjudication)
    money = summ.money_and_denials(adjudications)
    work = summ.routed_work(decoded(topics.APPEALS, DenialWorkItem), decoded(topics.CLAIMS_STATUS, ClaimStatusChanged),
                            patient_bills=count(topics.PATIENT_BILLING), corrections_requested=count(topics.CLAIMS_CORRECTIONS))
    return {
        "completed": finished,
        "encounters_in": len(encounters),
        "coded": count(topics.ENCOUNTERS_CODED),
        "sent_to_coding_review": count(topics.CODING_REVIEW),
        "claims_emitted": count(topics.CLAIMS),
        "claims_held": count(topics.CLAIMS_HELD),
        "adjudications_ingested": len(adjudications),
        **money,
        "work": work,
        **underpayments(decoded(topics.UNDERPAYMENTS, UnderpaymentWorkItem)),
        "dead_letters": sum(count(t) for t in topics.ALL_TOPICS if t.is_dlq),
    }


def underpayments(items: list[UnderpaymentWorkItem]) -> dict:
    """Underpayment work items of this run by kind, and the dollars recoverable from the payers
    (an overpayment is a refund liability, not recoverable)."""
    kinds: dict[str, int] = {}
    recoverable = Decimal("0.00")
    for item in items:
        kinds[item.kind.value] = kinds.get(item.kind.value, 0) + 1
        if item.kind != UnderpaymentKind.OVERPAID:
            recoverable += item.recoverable_amount
    return {"underpayment_work_items": dict(sorted(kinds.items())), "underpayment_dollars_recoverable": str(recoverable)}


def file_top_appeals(window: RunWindow, settings: Settings, limit: int = 15, actor: str = "demo") -> int:
    """The demo's biller (the printed workbench user, role biller) files the ``limit``
    highest-priority first-level appeals of this run, so the payer simulator answers them and
    the dashboard's appeal success chart has outcomes. Each filing is one AppealAction with
    who and when, checked like the CLI's (``refusal``); no packet is attached."""
    from datetime import date

    from claimflow.models import AppealAction, AppealActionKind, FilingMethod, utcnow
    from claimflow.publish import publish_records
    from services.adjudicator.actions import action_id_for, item_view, refusal

    codec = Codec()
    items = [DenialWorkItem.model_validate(codec.decode(r.value, topics.APPEALS.value)) for r in window.own(topics.APPEALS.name)]
    top = sorted((w for w in items if w.kind.value == "appeal" and w.level_index == 0 and w.deadline and w.deadline >= date.today()),
                 key=lambda w: (-w.priority_score, w.work_item_id))[:limit]
    limit_dollars = Decimal(str(settings.adjudicator_write_off_limit))
    actions = []
    for w in top:
        a = AppealAction(action_id=action_id_for(w.work_item_id, AppealActionKind.FILED, w.level_index), work_item_id=w.work_item_id,
                         claim_id=w.claim_id, action=AppealActionKind.FILED, actor=actor, actor_role="biller", occurred_at=utcnow(),
                         filed_on=date.today(), filing_method=FilingMethod.PORTAL, appeal_level=w.appeal_level, payer_id=w.payer_id,
                         reason_code=w.reason_codes[0].split("-", 1)[-1] if w.reason_codes else None,
                         appealed_amount=w.recoverable_amount)
        if refusal(item_view(w), a, limit_dollars) is None:
            actions.append(a)
    if actions:
        publish_records(topics.APPEAL_ACTIONS, actions, "claim_id", settings)
    return len(actions)
