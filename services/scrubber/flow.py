"""The scrubber's per-record decisions, as pure functions over plain table entries (no
Faust, no Kafka): what the shell (services/scrubber/app.py) does with each record, and
what it records in its tables once the outputs are acknowledged.

Tables (values are small dicts, no PHI):

* ``day-history`` (key ``day_key``): ``{"units": {code: n}, "signatures": [...], "claims": [...]}``:
  the MUE MAI 2/3 unit totals and duplicate line signatures of every claim emitted for a
  patient/provider/day, each claim counted once (``claims``);
* ``emitted-claims`` (key claim id): see services/scrubber/corrections.py;
* ``held-index`` (key claim id): ``{"day_key": ...}`` of the claim as first held.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Mapping

from claimflow import topics
from claimflow.ids import claim_id as make_claim_id
from claimflow.models import Claim, ClaimCorrection, CodedEncounter, Contract, EditFinding, HeldClaim
from claimflow.topics import TopicSpec

from services.scrubber import corrections as corr
from services.scrubber.history import HistoryUpdates
from services.scrubber.logic import EncounterFacts, Scrubber

# outcomes (also the label values of the scrubber's outcome metrics)
CLEAN, HELD, DUPLICATE = "clean", "held", "duplicate"
RELEASED, HELD_AGAIN = "released", "held_again"


# --- day-history: MUE unit accumulation and line signatures ---------------------------------


def apply_updates(entry: dict | None, updates: HistoryUpdates) -> dict:
    """New day-history entry with ``updates`` applied once per claim id (a redelivered
    claim adds its units only once)."""
    entry = {"units": {}, "signatures": [], "claims": [], **(entry or {})}
    if updates.claim_id in entry["claims"]:
        return entry
    units = dict(entry["units"])
    for code, n in updates.units.items():
        units[code] = units.get(code, 0) + n
    return {"units": units, "signatures": sorted(set(entry["signatures"]) | set(updates.signatures)),
            "claims": entry["claims"] + [updates.claim_id]}


class DayHistory:
    """``ClaimHistory`` over a day-history mapping (the Faust table in the shell, a dict in tests)."""

    def __init__(self, table: Mapping[str, dict]):
        self.table = table

    def units_billed(self, day_key: str, code: str) -> int:
        entry = self.table.get(day_key) or {}
        return int(entry.get("units", {}).get(code, 0))

    def has_signature(self, day_key: str, signature: str) -> bool:
        entry = self.table.get(day_key) or {}
        return signature in entry.get("signatures", ())


# --- decisions --------------------------------------------------------------------------------


@dataclass
class Decision:
    """What to do with one record: at most one output, and the table writes to make once it
    is acknowledged (``emitted``: the claim's new emitted-claims entry; ``history``: the
    day-history updates; ``held_index``: the claim's held-index entry)."""

    outcome: str
    output: tuple[TopicSpec, str, Contract] | None = None
    findings: list[EditFinding] = field(default_factory=list)
    emitted: dict | None = None
    history: HistoryUpdates | None = None
    held_index: dict | None = None

    @property
    def has_writes(self) -> bool:
        return self.emitted is not None or self.history is not None or self.held_index is not None


def scrub_coded(coded: CodedEncounter, emitted_entry: dict | None, scrubber: Scrubber, history: DayHistory,
                now: datetime) -> Decision:
    """A coded encounter on encounters.coded.by-day.v1: a claim version already emitted is a
    duplicate (redelivery); else scrub it and emit claims.v1 (clean or warnings only) or
    claims.held.v1."""
    if emitted_entry is not None:
        return Decision(DUPLICATE)
    result = scrubber.scrub(coded, history, now)
    held = result.held is not None
    emitted = corr.entry_for(coded.encounter_version, corr.HELD if held else corr.RELEASED, EncounterFacts.of(coded))
    if not held:
        output = (topics.CLAIMS, result.claim.claim_id, result.claim)
    else:
        output = (topics.CLAIMS_HELD, result.held.claim_id, result.held)
    return Decision(HELD if held else CLEAN, output, list(result.findings), emitted, _non_empty(result.history_updates))


def claim_id_of(coded: CodedEncounter) -> str:
    return make_claim_id(coded.encounter_id, coded.encounter_version)


def index_held(held: HeldClaim, known: dict | None, day_key: Callable[[Claim], str]) -> Decision:
    """claims.held.v1: remember the day_key of the claim as first held (its emitted-claims
    entry lives in that partition of encounters.coded.by-day.v1)."""
    if known is not None:
        return Decision(DUPLICATE)
    return Decision(HELD, held_index={"day_key": day_key(held.claim)})


def route_correction(correction: ClaimCorrection, known: dict | None, day_key: Callable[[Claim], str]) -> Decision:
    """claims.corrected.v1 -> claims.corrected.by-day.v1 keyed by the held claim's day_key.
    Not indexed yet (the correction overtook the held record): the corrected claim's own
    day_key is right unless the person changed patient, provider or date of service."""
    key = known["day_key"] if known else day_key(correction.claim)
    return Decision("routed", (topics.CLAIMS_CORRECTED_BY_DAY, key, correction))


def rescrub_correction(correction: ClaimCorrection, emitted_entry: dict | None, scrubber: Scrubber, history: DayHistory,
                       now: datetime) -> Decision:
    """A correction on claims.corrected.by-day.v1: refused (``corr.CorrectionRefused``, the
    shell dead-letters it), a duplicate (already applied), or re-scrubbed and released to
    claims.v1 or held again on claims.held.v1."""
    if not corr.check_correction(emitted_entry, correction):
        return Decision(DUPLICATE)
    entry = corr.normalise_entry(emitted_entry)
    result = scrubber.rescrub(correction.claim, history, now, corr.facts_from_dict(entry.get("facts")))
    released = result.claim is not None
    cid = correction.claim_id
    output = (topics.CLAIMS, cid, result.claim) if released else (topics.CLAIMS_HELD, cid, result.held)
    return Decision(RELEASED if released else HELD_AGAIN, output, list(result.findings),
                    corr.after_correction(entry, correction, released), _non_empty(result.history_updates))


def _non_empty(updates: HistoryUpdates | None) -> HistoryUpdates | None:
    return None if updates is None or updates.empty else updates
