"""The projector's rules: one function per topic that applies an event to the read model.

The rules run over a :class:`Batch`, an in-memory overlay of the rows a list of events
touches: the rows are read with one query per table, every rule reads and writes the
overlay (so a later event in the batch sees what an earlier one did, exactly as if they were
applied one by one), and ``flush`` writes the touched rows back with one bulk upsert per
table, all in ONE transaction (``apply_batch``). ``project`` is the same thing for a single
event. Every write is keyed by the business id (encounter id, claim id, resolution id,
status event id), and a routing or version older than the stored one never overwrites a
newer one, so a redelivered or duplicated event -- in the same batch or a later one --
leaves the read model as it was, and events of different topics may arrive in any order.
Timeline entries carry no PHI (codes, states, rule ids, login names). Django ORM, no Kafka
here: ``services.workbench.projector`` is the Faust shell that calls ``apply_batch``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable

from types import SimpleNamespace

from django.db import connection, models, transaction

from claimflow import topics
from claimflow.models import (
    Adjudication,
    AppealAction,
    AppealOutcome,
    Claim,
    ClaimCorrection,
    ClaimStatusChanged,
    CodedEncounter,
    CodingResolution,
    CodingReviewItem,
    Contract,
    DenialWorkItem,
    EncounterEvent,
    HeldClaim,
    NoActionDisposition,
    Provenance,
    ResolutionAction,
    UnderpaymentWorkItem,
)
from services.workbench import projection_denials as denials
from services.workbench.models import (
    ClaimRecord,
    Encounter,
    HeldClaimRecord,
    Resolution,
    ReviewItem,
    ReviewItemReason,
    ReviewStatus,
    TimelineEvent,
)

RESOLUTION_MARK = " resolution "


def _ms(dt: datetime) -> int:
    return int(dt.astimezone(timezone.utc).timestamp() * 1000)


def _resolution_ref(c: CodedEncounter) -> str | None:
    if RESOLUTION_MARK in c.coder_version:
        return c.coder_version.split(RESOLUTION_MARK, 1)[1].strip()
    return None


class Row(SimpleNamespace):
    """A row the rules build (same attribute names as the model): constructing a Django model
    instance per row costs more than writing it."""


def _adapter(field, ops):
    """Python value -> database parameter for one field, resolved once per model (what
    Field.get_db_prep_save does per value, without its generic dispatch)."""
    if isinstance(field, models.JSONField):
        return lambda v: None if v is None else ops.adapt_json_value(v, field.encoder)
    if isinstance(field, models.DateTimeField):
        return ops.adapt_datetimefield_value
    if isinstance(field, models.DateField):
        return ops.adapt_datefield_value
    if isinstance(field, models.DecimalField):
        return lambda v: ops.adapt_decimalfield_value(v, field.max_digits, field.decimal_places)
    if isinstance(field, (models.CharField, models.TextField, models.IntegerField, models.FloatField, models.BooleanField)):
        return None  # the driver takes the Python value as it is
    return lambda v: field.get_db_prep_save(v, connection)


def upsert(model, rows: list, on_conflict: str = "update") -> None:
    """``INSERT ... ON CONFLICT (pk) DO UPDATE SET every column = EXCLUDED`` (or ``DO
    NOTHING``) as one executemany, on SQLite and PostgreSQL alike. Django's
    ``bulk_create(update_conflicts=True)`` writes the same statement but spends most of a
    batch preparing each field of each object; here the adapters are resolved once."""
    if not rows:
        return
    ops, qn = connection.ops, connection.ops.quote_name
    fields = list(model._meta.concrete_fields)
    pk = model._meta.pk
    adapters = [_adapter(f, ops) for f in fields]
    cols = ", ".join(qn(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    if on_conflict == "update":
        action = "DO UPDATE SET " + ", ".join(f"{qn(f.column)} = EXCLUDED.{qn(f.column)}" for f in fields if not f.primary_key)
    else:
        action = "DO NOTHING"
    sql = f"INSERT INTO {qn(model._meta.db_table)} ({cols}) VALUES ({marks}) ON CONFLICT ({qn(pk.column)}) {action}"
    params = []
    for r in rows:
        values = []
        for f, adapt in zip(fields, adapters):
            v = getattr(r, f.attname)
            values.append(v if adapt is None or v is None else adapt(v))
        params.append(values)
    with connection.cursor() as cur:
        cur.executemany(sql, params)


_BY_ENCOUNTER = frozenset(t.name for t in (topics.ENCOUNTERS, topics.CODING_REVIEW, topics.ENCOUNTERS_CODED,
                                             topics.CODING_RESOLUTIONS))
_BY_CLAIM = frozenset(t.name for t in (topics.CLAIMS, topics.CLAIMS_HELD, topics.CLAIMS_STATUS))
_RESOLUTIONS, _CODED = topics.CODING_RESOLUTIONS.name, topics.ENCOUNTERS_CODED.name


@dataclass
class Batch:
    """The rows a list of events touches: loaded once, changed in memory, written once."""

    encounters: dict[str, Encounter | None] = field(default_factory=dict)
    items: dict[str, ReviewItem | None] = field(default_factory=dict)
    resolutions: dict[str, Resolution | None] = field(default_factory=dict)
    claims: dict[str, ClaimRecord | None] = field(default_factory=dict)
    held: dict[str, HeldClaimRecord | None] = field(default_factory=dict)
    timeline: dict[str, TimelineEvent] = field(default_factory=dict)
    dirty: dict[str, set] = field(default_factory=lambda: {"encounters": set(), "items": set(), "claims": set(), "held": set()})
    new_resolutions: dict[str, Resolution] = field(default_factory=dict)
    reasons: dict[str, list[str]] = field(default_factory=dict)  # item id -> its reason codes (replaced)

    def load(self, events: list[tuple[str, Contract, datetime | None]]) -> None:
        enc_ids, res_ids, claim_ids = set(), set(), set()
        for topic, r, _ in events:
            if topic in _BY_ENCOUNTER:
                enc_ids.add(r.encounter_id)
            if topic == _RESOLUTIONS:
                res_ids.add(r.resolution_id)
            elif topic == _CODED and _resolution_ref(r):
                res_ids.add(_resolution_ref(r))
            elif topic in _BY_CLAIM:
                claim_ids.add(r.claim_id)
        for ids, store, model in ((enc_ids, self.encounters, Encounter), (enc_ids, self.items, ReviewItem),
                                  (res_ids, self.resolutions, Resolution), (claim_ids, self.claims, ClaimRecord),
                                  (claim_ids, self.held, HeldClaimRecord)):
            ids = ids - store.keys()
            if ids:
                qs = model.objects.only("version", "payer_id", "date_of_service") if model is Encounter else model.objects
                found = qs.in_bulk(list(ids))
                store.update({i: found.get(i) for i in ids})

    def timeline_entry(self, key: str, encounter_id: str, claim_id: str, kind: str, at: datetime, actor: str = "",
                       detail: str = "") -> None:
        key = key[:120]
        self.timeline[key] = Row(event_key=key, encounter_id=encounter_id, claim_id=claim_id, kind=kind, at=at,
                                           actor=actor[:150], detail=detail[:400])

    def flush(self) -> None:
        """Write every touched row: one bulk upsert per table (the caller holds the transaction)."""
        for store, name, model in ((self.encounters, "encounters", Encounter), (self.items, "items", ReviewItem),
                                   (self.claims, "claims", ClaimRecord), (self.held, "held", HeldClaimRecord)):
            upsert(model, [store[k] for k in sorted(self.dirty[name])])
        upsert(Resolution, list(self.new_resolutions.values()), on_conflict="nothing")
        if self.reasons:
            ReviewItemReason.objects.filter(item_id__in=list(self.reasons)).delete()
            table, qn = ReviewItemReason._meta.db_table, connection.ops.quote_name
            with connection.cursor() as cur:
                cur.executemany(f"INSERT INTO {qn(table)} ({qn('item_id')}, {qn('code')}) VALUES (%s, %s)",
                                [(i, c) for i, codes in self.reasons.items() for c in codes])
        upsert(TimelineEvent, list(self.timeline.values()))


def encounter(b: Batch, e: EncounterEvent, at: datetime | None = None) -> None:
    cur = b.encounters.get(e.encounter_id)
    if cur is not None and cur.version > e.version:
        return
    payer_id = e.coverage.payer_id if e.coverage else ""
    b.encounters[e.encounter_id] = Row(
        encounter_id=e.encounter_id, version=e.version, payer_id=payer_id, payer_name=e.coverage.payer_name if e.coverage else "",
        date_of_service=e.date_of_service, place_of_service=e.place_of_service, document=e.model_dump(mode="json"),
        received_at=e.occurred_at)
    b.dirty["encounters"].add(e.encounter_id)
    item = b.items.get(e.encounter_id)
    if item is not None:
        item.payer_id, item.date_of_service = payer_id, e.date_of_service
        b.dirty["items"].add(e.encounter_id)


def review_item(b: Batch, r: CodingReviewItem, at: datetime | None = None) -> None:
    cur = b.items.get(r.encounter_id)
    if cur is not None and (cur.encounter_version, _ms(cur.routed_at)) >= (r.encounter_version, _ms(r.routed_at)):
        return  # the same routing again (redelivery) or an older one
    enc = b.encounters.get(r.encounter_id)
    codes = list(dict.fromkeys(x.code for x in r.reasons))
    b.items[r.encounter_id] = Row(
        encounter_id=r.encounter_id, encounter_version=r.encounter_version, routed_at=r.routed_at, status=ReviewStatus.OPEN,
        primary_reason=codes[0], reason_codes=" ".join(codes)[:400], reasons=[x.model_dump(mode="json") for x in r.reasons],
        confidence=r.confidence, proposed_diagnoses=[d.model_dump(mode="json") for d in r.proposed_diagnoses],
        proposed_service_lines=[ln.model_dump(mode="json") for ln in r.proposed_service_lines], coder_version=r.coder_version,
        payer_id=enc.payer_id if enc else "", date_of_service=enc.date_of_service if enc else None, resolved_by="",
        resolution_id="")
    b.dirty["items"].add(r.encounter_id)
    b.reasons[r.encounter_id] = codes
    b.timeline_entry(f"review:{r.encounter_id}:{r.encounter_version}:{_ms(r.routed_at)}", r.encounter_id, "", "review",
                     r.routed_at, "coder", "sent to coding review: " + ", ".join(codes))


def coded(b: Batch, c: CodedEncounter, at: datetime | None = None) -> None:
    from claimflow.ids import claim_id

    human = bool(c.service_lines) and all(ln.provenance is Provenance.REVIEWED for ln in c.service_lines)
    actor = "rule"
    rid = _resolution_ref(c)
    if human and rid is not None:
        res = b.resolutions.get(rid)
        actor = (res.resolved_by if res is not None else "") or "a person"
    elif any(x.provenance is Provenance.LEARNED or x.rule_id.startswith("LEARNED") for x in [*c.service_lines, *c.diagnoses]):
        actor = "learned"
    item = b.items.get(c.encounter_id)
    if item is not None and item.encounter_version <= c.encounter_version:
        item.status = ReviewStatus.CODED
        b.dirty["items"].add(c.encounter_id)
    codes = ", ".join([d.code for d in c.diagnoses] + [ln.code + ("-" + "-".join(ln.modifiers) if ln.modifiers else "") for ln in c.service_lines])
    # learned codes say where they came from: "R55: learned from 3 coder decisions (SNOMED CT 271594007)"
    learned = [f"{x.code}: {x.provenance_note}" for x in [*c.diagnoses, *c.service_lines]
               if x.provenance is Provenance.LEARNED and x.provenance_note]
    how = "by learning" if actor == "learned" else f"by {actor}"
    b.timeline_entry(f"coded:{c.encounter_id}:{c.encounter_version}", c.encounter_id, claim_id(c.encounter_id, c.encounter_version),
                     "coded", c.coded_at, actor, f"coded ({how}): {codes}" + (f"; {'; '.join(learned)}" if learned else ""))


def _claim_record(b: Batch, cl: Claim, state: str, updated_at: datetime) -> None:
    b.claims[cl.claim_id] = Row(
        claim_id=cl.claim_id, encounter_id=cl.encounter_id, state=state, payer_id=cl.coverage.payer_id if cl.coverage else "",
        date_of_service=cl.date_of_service, total_charge=cl.total_charge, document=cl.model_dump(mode="json"),
        updated_at=updated_at)
    b.dirty["claims"].add(cl.claim_id)


def claim(b: Batch, cl: Claim, at: datetime | None = None) -> None:
    _claim_record(b, cl, "created", cl.created_at)
    held_rec = b.held.get(cl.claim_id)
    was_held = held_rec is not None
    if was_held:
        held_rec.open = False
        b.dirty["held"].add(cl.claim_id)
    warn = len(cl.findings)
    # a claim released after a correction keeps its created_at: its release is when it was written
    when = max(cl.created_at, at) if (was_held and at is not None) else cl.created_at
    b.timeline_entry(f"claim:{cl.claim_id}:{cl.frequency_code}", cl.encounter_id, cl.claim_id, "scrubbed", when, "scrubber",
                     f"scrubbed clean, claim created (total {cl.total_charge}, {warn} warning(s))")


def held(b: Batch, h: HeldClaim, at: datetime | None = None) -> None:
    cl = h.claim
    _claim_record(b, cl, "held", h.held_at)
    b.held[h.claim_id] = Row(claim_id=h.claim_id, held_at=h.held_at, error_count=h.error_count,
                                         findings=[f.model_dump(mode="json") for f in cl.findings], open=True)
    b.dirty["held"].add(h.claim_id)
    rules = ", ".join(sorted({f.rule_id for f in cl.findings if f.severity.value == "error"}))
    b.timeline_entry(f"held:{h.claim_id}:{_ms(h.held_at)}", cl.encounter_id, h.claim_id, "held", h.held_at, "scrubber",
                     f"held by the scrubber: {h.error_count} error(s) ({rules})")


def status(b: Batch, s: ClaimStatusChanged, at: datetime | None = None) -> None:
    rec = b.claims.get(s.claim_id)
    if rec is not None and rec.updated_at <= s.occurred_at:
        rec.state, rec.updated_at = s.state.value, s.occurred_at
        b.dirty["claims"].add(s.claim_id)
    detail = s.state.value + (f" ({s.reason})" if s.reason else "") + (f" paid {s.paid}" if s.paid is not None else "")
    b.timeline_entry(f"status:{s.event_id}", rec.encounter_id if rec else "", s.claim_id, s.state.value, s.occurred_at,
                     s.source_service, detail)


def resolution(b: Batch, r: CodingResolution, at: datetime | None = None) -> None:
    if b.resolutions.get(r.resolution_id) is None:  # the first write of a resolution id wins (the web app's own row)
        b.resolutions[r.resolution_id] = b.new_resolutions[r.resolution_id] = Row(
            resolution_id=r.resolution_id, encounter_id=r.encounter_id, encounter_version=r.encounter_version,
            action=r.action.value, resolved_by=r.resolved_by, resolved_role=r.resolved_role, resolved_at=r.resolved_at,
            reason=r.reason,
            before={"diagnoses": [d.model_dump(mode="json") for d in r.before_diagnoses],
                    "service_lines": [ln.model_dump(mode="json") for ln in r.before_service_lines]},
            after={"diagnoses": [d.model_dump(mode="json") for d in r.diagnoses],
                   "service_lines": [ln.model_dump(mode="json") for ln in r.service_lines]})
    item = b.items.get(r.encounter_id)
    if (item is not None and item.encounter_version == r.encounter_version and item.routed_at == r.review_routed_at
            and item.status == ReviewStatus.OPEN):
        item.status = ReviewStatus.QUERIED if r.action is ResolutionAction.QUERY_PROVIDER else ReviewStatus.SUBMITTED
        item.resolved_by, item.resolution_id = r.resolved_by, r.resolution_id
        b.dirty["items"].add(r.encounter_id)
    what = {"accept": "accepted the proposal", "edit": "edited the codes", "query_provider": "sent back for documentation"}[r.action.value]
    b.timeline_entry(f"resolution:{r.resolution_id}", r.encounter_id, "", "resolved", r.resolved_at, r.resolved_by,
                     f"{r.resolved_by} ({r.resolved_role}) {what}")


def correction(b: Batch, c: ClaimCorrection, at: datetime | None = None) -> None:
    b.timeline_entry(f"corrected:{c.correction_id}", c.claim.encounter_id, c.claim_id, "corrected", c.submitted_at,
                     c.corrected_by, f"corrected by {c.corrected_by}")


ROUTES: dict[str, tuple[topics.TopicSpec, type[Contract], object]] = {
    spec.name: (spec, model, fn) for spec, model, fn in (
        (topics.ENCOUNTERS, EncounterEvent, encounter),
        (topics.CODING_REVIEW, CodingReviewItem, review_item),
        (topics.ENCOUNTERS_CODED, CodedEncounter, coded),
        (topics.CLAIMS, Claim, claim),
        (topics.CLAIMS_HELD, HeldClaim, held),
        (topics.CLAIMS_STATUS, ClaimStatusChanged, status),
        (topics.CODING_RESOLUTIONS, CodingResolution, resolution),
        (topics.CLAIMS_CORRECTED, ClaimCorrection, correction),
        (topics.ADJUDICATIONS, Adjudication, denials.remittance),
        (topics.APPEALS, DenialWorkItem, denials.denial_work_item),
        (topics.UNDERPAYMENTS, UnderpaymentWorkItem, denials.underpayment_work_item),
        (topics.APPEAL_ACTIONS, AppealAction, denials.action),
        (topics.APPEAL_OUTCOMES, AppealOutcome, denials.outcome),
        (topics.NO_ACTION, NoActionDisposition, denials.no_action),
    )
}


# the worklist's rules: ORM writes of their own (one event each), run between overlay runs
ORM_ROUTES = {topics.ADJUDICATIONS.name: denials.remittance, topics.APPEALS.name: denials.denial_work_item,
              topics.UNDERPAYMENTS.name: denials.underpayment_work_item, topics.APPEAL_ACTIONS.name: denials.action,
              topics.APPEAL_OUTCOMES.name: denials.outcome, topics.NO_ACTION.name: denials.no_action}


def apply_batch(events: Iterable[tuple[str, Contract, datetime | None]]) -> None:
    """Apply decoded events ``(topic, record, written_at)`` in order, in ONE transaction:
    one read per table, the rules over the in-memory overlay, one bulk upsert per table.
    ``written_at`` is the record's Kafka timestamp (used where the event carries no time of
    its own). The result equals applying the events one by one."""
    events = list(events)
    if not events:
        return
    with transaction.atomic():
        # Runs of overlay topics go through one Batch; the denial worklist's rules
        # (projection_denials) write through the ORM themselves, so the overlay is flushed before
        # each of them (they may read a claim an earlier event of the batch wrote) and a fresh
        # one is started after. Still one transaction, and still equal to one-by-one.
        run: list = []
        for ev in events:
            if ev[0] in ORM_ROUTES:
                _apply_run(run)
                run = []
                ORM_ROUTES[ev[0]](ev[1])
            else:
                run.append(ev)
        _apply_run(run)


def _apply_run(events: list) -> None:
    if not events:
        return
    b = Batch()
    b.load(events)
    for topic, record, written_at in events:
        ROUTES[topic][2](b, record, written_at)
    b.flush()


def project(topic: str, record: Contract, written_at: datetime | None = None) -> None:
    """Apply one decoded event to the read model, in one transaction."""
    apply_batch([(topic, record, written_at)])
