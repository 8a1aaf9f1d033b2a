"""Seeded poison-input generator for the reliability tests (and the oracle that says what
a service must do with each generated value).

Every fuzzed value is built from a valid template record of the topic's contract and one
mutation kind (random bytes, truncation, bit flips, unknown fingerprint, another
contract, trailing garbage, schema-valid but invalid content, oversized, tombstone).
``verdict`` replays the decode + validate steps a service runs before its rules
(``claimflow.runtime.Processor.decode``): bit-flipped Avro that still decodes to a valid
record is legitimately processed, so each value's expectation is computed, not assumed.

Templates come from encounters whose ids start with ``FZ-`` so nothing a fuzzed record
turns into can be mistaken for an outcome of the test's good encounters."""

from __future__ import annotations

import copy
import io
import json
import random
import time
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any, Callable, Iterable

from fastavro import parse_schema, schemaless_writer
from fastavro.schema import to_parsing_canonical_form
from kafka import KafkaConsumer, TopicPartition
from pydantic import ValidationError

from claimflow import topics
from claimflow.codec import MAGIC, Codec, DecodeError
from claimflow.ids import status_event_id
from claimflow.kafkaio import Record
from claimflow.models import (
    CONTRACT_MODELS,
    AppealLevel,
    AppealOutcome,
    AppealOutcomeKind,
    AppealAction,
    AppealActionKind,
    ClaimState,
    ClaimStatusChanged,
    CodingResolution,
    Contract,
    DenialWorkItem,
    Disposition,
    NoActionDisposition,
    ResolutionAction,
    UnderpaymentWorkItem,
    WorkItemKind,
    utcnow,
)
from claimflow.settings import Settings
from claimflow.synthetic import EncounterGenerator

CODEC = Codec()
DEFAULT_MAX_BYTES = Settings().max_message_bytes

# The topics every test fuzzes (issue #8 item 5); ``discover_consumers`` adds any other
# external input the services grow (internal repartition topics, *.by-day.*, excluded).
REQUIRED_TOPICS = (topics.ENCOUNTERS.name, topics.ENCOUNTERS_CODED.name, topics.CLAIMS.name, topics.CLAIMS_HELD.name,
                   topics.CLAIMS_STATUS.name, topics.ADJUDICATIONS.name, topics.APPEAL_OUTCOMES.name)


@lru_cache(maxsize=1)
def _coding_reference():
    from services.coder.logic import CodingReference

    return CodingReference.load()


@lru_cache(maxsize=1)
def _scrub_reference():
    from services.scrubber.logic import ScrubReference

    return ScrubReference.load()


def discover_consumers(root) -> dict[str, tuple[str, ...]]:
    """Input topic -> services consuming it, read off the agents of each service's real
    Faust app (built in this process, never started). A bad record must be dead-lettered
    by every consumer, each on its own dlq.<service>.v1."""
    import importlib
    import inspect
    from pathlib import Path

    from claimflow_app.services import SERVICES

    root = Path(root)
    settings = Settings(data_dir=root / "data", x12_outbox=root / "x12" / "outbox", x12_inbox=root / "x12" / "inbox",
                        x12_state_dir=root / "x12" / "state", table_store="memory://")
    refs = {"coder": _coding_reference, "scrubber": _scrub_reference}
    out: dict[str, list[str]] = {}
    for service in SERVICES:
        module = importlib.import_module(f"services.{service.replace('-', '_')}.app")
        kwargs = {"reference": refs[service]()} if service in refs and "reference" in inspect.signature(module.build_app).parameters else {}
        app = module.build_app(settings, **kwargs)
        for agent in app.agents.values():
            for name in agent.channel.topics:
                out.setdefault(name, [])
                if service not in out[name]:
                    out[name].append(service)
    return {name: tuple(services) for name, services in out.items()}


def fuzz_targets(consumers: dict[str, tuple[str, ...]]) -> list[str]:
    """The required topics plus any other external input topic some service consumes."""
    missing = [t for t in REQUIRED_TOPICS if t not in consumers]
    if missing:
        raise AssertionError(f"no service consumes {missing}")
    extra = sorted(t for t in consumers if t not in REQUIRED_TOPICS and ".by-day." not in t)
    return list(REQUIRED_TOPICS) + extra


# per topic: how many values of each kind (1,003 in all)
DEFAULT_MIX: dict[str, int] = {
    "random": 150, "magic_random": 50, "truncated": 150, "bitflip": 250, "header_flip": 50, "unknown_fp": 100,
    "wrong_contract": 50, "trailing": 50, "invalid": 140, "oversized": 3, "tombstone": 10,
}


@dataclass(frozen=True)
class Fuzzed:
    topic: str
    key: bytes
    value: bytes | None
    kind: str
    stage: str | None        # expected dlq.stage (decode|validate), None: a valid record
    error_class: str | None  # expected dlq.error.class


# --- the oracle -----------------------------------------------------------------------------


def verdict(value: bytes | None, contract: str, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[str | None, str | None]:
    """(stage, error class) a service gives ``value`` before its rules; (None, None) when
    the value decodes to a valid record (mirrors Processor.decode)."""
    if value is None:
        return "decode", "NullValue"
    if len(value) > max_bytes:
        return "decode", "OversizedValue"
    try:
        record = CODEC.decode(value, contract)
    except DecodeError as exc:
        return "decode", type(exc).__name__
    try:
        CONTRACT_MODELS[contract].model_validate(record)
    except ValidationError:
        return "validate", "ValidationError"
    return None, None


# --- valid templates ------------------------------------------------------------------------


@lru_cache(maxsize=4)
def templates(seed: int = 11, encounters: int = 40) -> dict[str, tuple[Contract, ...]]:
    """Valid records of every input contract, derived from ``FZ-`` encounters through the
    real coder, scrubber and payer simulator logic."""
    from services.coder.logic import Coder
    from services.payer_sim.logic import adjudicate
    from services.scrubber.corrections import make_correction
    from services.scrubber.history import EmptyClaimHistory
    from services.scrubber.logic import Scrubber

    gen = EncounterGenerator(seed=seed, defect_rate=0.3)
    coder = Coder(_coding_reference())
    scrubber = Scrubber(_scrub_reference())
    now = utcnow()
    encs, coded, claims, held, adjs, statuses, outcomes, corrections, actions, resolutions = [], [], [], [], [], [], [], [], [], []
    work_items, underpayments, no_actions = [], [], []
    for i in range(encounters):
        enc, _ = gen.encounter(i)
        enc = enc.model_copy(update={"encounter_id": f"FZ-ENC-{seed}-{i:04d}"})
        encs.append(enc)
        result = coder.code(enc, now)
        if result.coded is None:
            continue
        coded.append(result.coded)
        resolutions.append(CodingResolution(
            resolution_id=f"FZ-RES-{i:04d}", encounter_id=enc.encounter_id, encounter_version=result.coded.encounter_version,
            review_routed_at=now, action=ResolutionAction.ACCEPT, resolved_by="fuzz-coder", resolved_role="coder",
            resolved_at=now, before_diagnoses=list(result.coded.diagnoses), before_service_lines=list(result.coded.service_lines),
            diagnoses=list(result.coded.diagnoses), service_lines=list(result.coded.service_lines)))
        scrubbed = scrubber.scrub(result.coded, EmptyClaimHistory(), now)
        if scrubbed.held is not None:
            held.append(scrubbed.held)
            corrections.append(make_correction(scrubbed.held.claim, "fuzz-desk", "fuzz template", now))
            continue
        claim = scrubbed.claim
        claims.append(claim)
        adj = adjudicate(claim)
        adjs.append(adj)
        statuses.append(ClaimStatusChanged(
            event_id=status_event_id(claim.claim_id, "fuzz", "submitted"), claim_id=claim.claim_id, state=ClaimState.SUBMITTED,
            previous_state=ClaimState.CREATED, occurred_at=now, source_service="fuzz-template", trigger_id="fuzz",
            reason="fuzz template", charge=claim.total_charge))
        outcomes.append(AppealOutcome(
            outcome_id=f"FZ-OUT-{i:04d}", work_item_id=f"FZ-WI-{i:04d}", claim_id=claim.claim_id, payer_id=adj.payer_id,
            reason_code="50", appeal_level=AppealLevel.REDETERMINATION, outcome=AppealOutcomeKind.OVERTURNED,
            recovered_amount=Decimal("42.00"), decided_on=adj.remittance_date + timedelta(days=30), received_at=now))
        actions.append(AppealAction(
            action_id=f"FZ-ACT-{i:04d}", work_item_id=f"FZ-WI-{i:04d}", claim_id=claim.claim_id, action=AppealActionKind.FILED,
            actor="fuzz-biller", actor_role="biller", occurred_at=now, filed_on=adj.remittance_date + timedelta(days=10),
            payer_id=adj.payer_id, reason_code="50", appealed_amount=Decimal("42.00"), reason="fuzz template"))
        work_items.append(DenialWorkItem(
            work_item_id=f"FZ-WI-{i:04d}", claim_id=claim.claim_id, adjudication_id=adj.adjudication_id, payer_id=adj.payer_id,
            disposition=Disposition.APPEAL, rule_id="DEN-010", reason_codes=["CO-50"], remark_codes=["N115"],
            appeal_level=AppealLevel.REDETERMINATION, deadline=adj.remittance_date + timedelta(days=120),
            remittance_date=adj.remittance_date, denied_amount=Decimal("42.00"), overturn_likelihood=0.6, priority_score=25.2,
            explanation="fuzz template", created_at=now, kind=WorkItemKind.APPEAL, recoverable_amount=Decimal("42.00"),
            reason_family="medical_necessity"))
        underpayments.append(UnderpaymentWorkItem(
            work_item_id=f"FZ-UP-{i:04d}", claim_id=claim.claim_id, adjudication_id=adj.adjudication_id, payer_id=adj.payer_id,
            line_number=1, procedure_code="99213", adjudicated_procedure_code="99213", downcoded=False, refund_liability=False,
            expected_amount=Decimal("100.00"), allowed_amount=Decimal("80.00"), allowed_source="835", paid_amount=Decimal("80.00"),
            recoverable_amount=Decimal("20.00"), tolerance_amount=Decimal("1.00"), contract_term="fuzz term",
            explanation="fuzz template", remittance_date=adj.remittance_date, created_at=now))
        no_actions.append(NoActionDisposition(
            record_id=f"FZ-NA-{i:04d}", claim_id=claim.claim_id, adjudication_id=adj.adjudication_id, payer_id=adj.payer_id,
            disposition=Disposition.NO_ACTION, rule_id="DEN-001", reason_codes=["CO-45"], amount=Decimal("10.00"),
            why="fuzz template", decided_at=now))
    out = {"EncounterEvent": encs, "CodedEncounter": coded, "Claim": claims, "HeldClaim": held, "Adjudication": adjs,
           "ClaimStatusChanged": statuses, "AppealOutcome": outcomes, "ClaimCorrection": corrections, "AppealAction": actions,
           "CodingResolution": resolutions, "DenialWorkItem": work_items, "UnderpaymentWorkItem": underpayments,
           "NoActionDisposition": no_actions}
    for name, recs in out.items():
        if not recs:
            raise AssertionError(f"no {name} template from seed {seed}")
    return {k: tuple(v) for k, v in out.items()}


# --- schema-valid records with invalid content ------------------------------------------------


@lru_cache(maxsize=None)
def _wide_writer(contract: str):
    """The contract's latest schema with decimal precision widened: the same parsing
    canonical form, hence the same fingerprint, but it can write amounts the reader's
    decimal(12,2) and the pydantic Money type reject."""
    sv = CODEC.store.latest(contract)
    wide = json.loads(json.dumps(sv.schema).replace('"precision": 12', '"precision": 38'))
    parsed = parse_schema(wide)
    assert to_parsing_canonical_form(parsed) == sv.canonical
    return sv.fingerprint, parsed


def encode_any(contract: str, record: dict[str, Any]) -> bytes:
    fingerprint, parsed = _wide_writer(contract)
    buf = io.BytesIO()
    buf.write(MAGIC)
    buf.write(fingerprint)
    schemaless_writer(buf, parsed, record)
    return buf.getvalue()


HUGE = Decimal("12345678901234.00")  # 16 digits: beyond Money's max_digits=12
FIVE_MODS = ["25", "59", "LT", "RT", "XS"]


def _set(path: str, value: Any) -> Callable[[dict], None]:
    def apply(rec: dict) -> None:
        node: Any = rec
        parts = path.split(".")
        for p in parts[:-1]:
            node = node[int(p)] if isinstance(node, list) else node[p]
            if node is None:  # e.g. no coverage on this template: try another one
                raise LookupError(path)
        last = parts[-1]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return apply


def _future_dos(rec: dict) -> None:
    rec["date_of_service"] = date.today() + timedelta(days=45)


def _bad_claim_adjustment(code: str) -> Callable[[dict], None]:
    def apply(rec: dict) -> None:
        rec["claim_adjustments"] = [{"group_code": "CO", "reason_code": code, "amount": Decimal("1.00"), "quantity": None}]
    return apply


# what each contract's validators reject (claimflow/models.py): pattern, bounds, min/max
# length, Money digits, the CLP02 value set, the future date-of-service check
INVALID: dict[str, tuple[tuple[str, Callable[[dict], None]], ...]] = {
    "EncounterEvent": (
        ("pos-word", _set("place_of_service", "OFFICE")), ("pos-one-digit", _set("place_of_service", "1")),
        ("units-zero", _set("procedures.0.units", 0)), ("units-negative", _set("procedures.0.units", -5)),
        ("units-huge", _set("procedures.0.units", 10000)), ("id-empty", _set("encounter_id", "")),
        ("id-too-long", _set("encounter_id", "E" * 65)), ("patient-id-empty", _set("patient.patient_id", "")),
        ("time-negative", _set("total_time_minutes", -1)), ("time-over-a-day", _set("total_time_minutes", 2000)),
        ("version-zero", _set("version", 0)), ("dos-future", _future_dos),
        ("five-modifiers", _set("procedures.0.modifiers", FIVE_MODS)), ("charge-negative", _set("procedures.0.charge", Decimal("-1.00"))),
        ("charge-digits", _set("procedures.0.charge", HUGE)), ("payer-id-empty", _set("coverage.payer_id", "")),
    ),
    "CodedEncounter": (
        ("units-zero", _set("service_lines.0.units", 0)), ("units-negative", _set("service_lines.0.units", -1)),
        ("confidence-high", _set("confidence", 1.5)), ("confidence-negative", _set("confidence", -0.1)),
        ("dx-sequence-zero", _set("diagnoses.0.sequence", 0)), ("dx-sequence-13", _set("diagnoses.0.sequence", 13)),
        ("five-pointers", _set("service_lines.0.diagnosis_pointers", [1, 2, 3, 4, 1])),
        ("charge-negative", _set("service_lines.0.charge", Decimal("-3.00"))), ("line-number-zero", _set("service_lines.0.line_number", 0)),
        ("five-modifiers", _set("service_lines.0.modifiers", FIVE_MODS)), ("patient-id-empty", _set("patient.patient_id", "")),
        ("line-confidence", _set("service_lines.0.confidence", 2.0)), ("charge-digits", _set("service_lines.0.charge", HUGE)),
    ),
    "Claim": (
        ("frequency-9", _set("frequency_code", "9")), ("frequency-empty", _set("frequency_code", "")),
        ("units-zero", _set("lines.0.units", 0)), ("units-negative", _set("lines.0.units", -2)),
        ("line-number-zero", _set("lines.0.line_number", 0)), ("five-modifiers", _set("lines.0.modifiers", FIVE_MODS)),
        ("five-pointers", _set("lines.0.diagnosis_pointers", [1, 1, 1, 1, 1])), ("total-digits", _set("total_charge", HUGE)),
        ("patient-id-empty", _set("patient.patient_id", "")), ("payer-id-empty", _set("coverage.payer_id", "")),
    ),
    "HeldClaim": (
        ("error-count-zero", _set("error_count", 0)), ("error-count-negative", _set("error_count", -4)),
        ("frequency-5", _set("claim.frequency_code", "5")), ("units-zero", _set("claim.lines.0.units", 0)),
        ("patient-id-empty", _set("claim.patient.patient_id", "")), ("total-digits", _set("claim.total_charge", HUGE)),
    ),
    "Adjudication": (
        ("clp02-99", _set("claim_status_code", "99")), ("clp02-0", _set("claim_status_code", "0")),
        ("clp02-empty", _set("claim_status_code", "")), ("adj-id-empty", _set("adjudication_id", "")),
        ("claim-id-empty", _set("claim_id", "")), ("carc-empty", _bad_claim_adjustment("")),
        ("carc-too-long", _bad_claim_adjustment("TOOLONG")), ("paid-digits", _set("paid_amount", HUGE)),
    ),
    # the contract's only content constraint beyond Avro: Money digits
    "ClaimStatusChanged": (("charge-digits", _set("charge", HUGE)), ("paid-digits", _set("paid", HUGE))),
    "ClaimCorrection": (
        ("claim-id-mismatch", _set("claim_id", "CF000000000000000000")), ("correction-id-empty", _set("correction_id", "")),
        ("corrected-by-empty", _set("corrected_by", "")), ("corrected-by-too-long", _set("corrected_by", "c" * 65)),
        ("reason-too-long", _set("reason", "r" * 2001)), ("frequency-9", _set("claim.frequency_code", "9")),
        ("units-zero", _set("claim.lines.0.units", 0)),
    ),
    "AppealOutcome": (
        ("recovered-negative", _set("recovered_amount", Decimal("-5.00"))), ("recovered-digits", _set("recovered_amount", HUGE)),
    ),
    "CodingResolution": (
        ("resolution-id-empty", _set("resolution_id", "")), ("version-zero", _set("encounter_version", 0)),
        ("edit-without-reason", _set("action", "edit")), ("no-service-lines", _set("service_lines", [])),
        ("resolved-by-too-long", _set("resolved_by", "c" * 151)),
    ),
    "AppealAction": (
        ("action-id-empty", _set("action_id", "")), ("actor-empty", _set("actor", "")), ("filed-without-date", _set("filed_on", None)),
        ("packet-hash-not-hex", _set("packet_sha256", "not-a-sha256")), ("amount-digits", _set("appealed_amount", HUGE)),
    ),
    "DenialWorkItem": (
        ("likelihood-high", _set("overturn_likelihood", 1.5)), ("priority-negative", _set("priority_score", -1.0)),
        ("level-index-negative", _set("level_index", -1)), ("denied-digits", _set("denied_amount", HUGE)),
    ),
    "UnderpaymentWorkItem": (
        ("recoverable-negative", _set("recoverable_amount", Decimal("-1.00"))), ("tolerance-negative", _set("tolerance_amount", Decimal("-1.00"))),
        ("expected-digits", _set("expected_amount", HUGE)),
    ),
    "NoActionDisposition": (("amount-digits", _set("amount", HUGE)),),
}

# a plain string field each contract can carry any length of (oversized padding)
PAD_FIELD = {"EncounterEvent": "note_text", "CodedEncounter": "coder_version", "Claim": "place_of_service",
             "HeldClaim": "claim.place_of_service", "Adjudication": "source", "ClaimStatusChanged": "source_service",
             "AppealOutcome": "reason_code", "ClaimCorrection": "claim.place_of_service", "AppealAction": "reason",
             "CodingResolution": "reason", "DenialWorkItem": "explanation", "UnderpaymentWorkItem": "explanation",
             "NoActionDisposition": "why"}


def invalid_record(contract: str, pool: tuple[Contract, ...], rng: random.Random) -> tuple[str, bytes]:
    """A schema-valid record of ``contract`` (from one of ``pool``) its model rejects."""
    name, mutate = rng.choice(INVALID[contract])
    start = rng.randrange(len(pool))
    for candidate in pool[start:] + pool[:start]:
        rec = copy.deepcopy(candidate.to_avro())
        try:
            mutate(rec)
        except (LookupError, IndexError):
            continue
        return name, encode_any(contract, rec)
    raise AssertionError(f"no {contract} template takes mutation {name}")


def oversized_record(contract: str, template: Contract, size: int) -> bytes:
    rec = copy.deepcopy(template.to_avro())
    base = len(CODEC.encode(contract, rec))
    _set(PAD_FIELD[contract], "x" * max(0, size - base))(rec)
    return CODEC.encode(contract, rec)


def _flip(data: bytes, rng: random.Random, lo: int, hi: int, flips: int) -> bytes:
    b = bytearray(data)
    for _ in range(flips):
        i = rng.randrange(lo, hi)
        b[i] ^= 1 << rng.randrange(8)
    return bytes(b)


# --- the generator ----------------------------------------------------------------------------


def fuzz_topic(topic: str, rng: random.Random, mix: dict[str, int] | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
               seed: int = 11) -> list[Fuzzed]:
    """Fuzzed values for one input topic, keyed ``fz:<topic>:<kind>:<n>``."""
    mix = mix or DEFAULT_MIX
    contract = topics.BY_NAME[topic].value
    temps = templates(seed)
    goods = [CODEC.encode(contract, t.to_avro()) for t in temps[contract]]
    others = [(name, recs) for name, recs in temps.items() if name != contract]
    out: list[Fuzzed] = []
    for kind, count in mix.items():
        for n in range(count):
            src = rng.choice(goods)
            label = kind
            if kind == "random":
                value = rng.randbytes(rng.randint(0, 400))
            elif kind == "magic_random":
                value = MAGIC + rng.randbytes(rng.randint(0, 300))
            elif kind == "truncated":
                value = src[: rng.randrange(0, len(src))]
            elif kind == "bitflip":
                value = _flip(src, rng, 10, len(src), rng.randint(1, 4))
            elif kind == "header_flip":
                value = _flip(src, rng, 0, 10, 1)
            elif kind == "unknown_fp":
                value = MAGIC + rng.randbytes(8) + src[10:]
            elif kind == "wrong_contract":
                other, recs = rng.choice(others)
                value = CODEC.encode(other, rng.choice(recs).to_avro())
                label = f"wrong_contract:{other}"
            elif kind == "trailing":
                value = src + rng.randbytes(rng.randint(1, 16))
            elif kind == "invalid":
                name, value = invalid_record(contract, temps[contract], rng)
                label = f"invalid:{name}"
            elif kind == "oversized":
                # just over the limit, 1.5x and 1.9x: the broker (10 MB) takes them and the
                # dead letter still carries the body (up to 2x the limit minus 64 KiB); larger
                # values are dead-lettered without it, see test_poison.py::test_value_over_dead_letter_limit
                size = (max_bytes + 1 + rng.randint(0, 4096), int(max_bytes * 1.5), int(max_bytes * 1.9))[n % 3]
                value = oversized_record(contract, rng.choice(temps[contract]), size)
            elif kind == "tombstone":
                value = None
            else:  # pragma: no cover
                raise ValueError(kind)
            stage, error_class = verdict(value, contract, max_bytes)
            key = f"fz:{topic}:{kind}:{n:04d}".encode()
            out.append(Fuzzed(topic, key, value, label, stage, error_class))
    return out


# --- reading topics back (values up to the broker's 10 MB) --------------------------------------


def read_topics(names: Iterable[str], settings: Settings, timeout: float = 120.0) -> dict[str, list[Record]]:
    """Every record of ``names`` from the beginning to the current end offsets."""
    names = list(names)
    consumer = KafkaConsumer(enable_auto_commit=False, client_id="claimflow-fuzz-reader", max_partition_fetch_bytes=12 * 1024 * 1024,
                             fetch_max_bytes=64 * 1024 * 1024, **settings.kafka_python_config())
    out: dict[str, list[Record]] = {n: [] for n in names}
    try:
        tps = [TopicPartition(n, p) for n in names for p in sorted(consumer.partitions_for_topic(n) or [])]
        if not tps:
            return out
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        remaining = {tp for tp in tps if end[tp] > 0}
        deadline = time.monotonic() + timeout
        while remaining and time.monotonic() < deadline:
            for tp, msgs in consumer.poll(timeout_ms=500, max_records=5000).items():
                for m in msgs:
                    if m.offset < end[tp]:
                        out[m.topic].append(Record(m.topic, m.partition, m.offset, m.key, m.value, list(m.headers or []), m.timestamp))
            for tp in list(remaining):
                if consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
        if remaining:
            raise TimeoutError(f"could not read {sorted(str(tp) for tp in remaining)} to the end in {timeout:.0f}s")
        return out
    finally:
        consumer.close()
