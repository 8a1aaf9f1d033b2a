"""File/directory ingest for ``claimflow ingest fhir FILE|DIR`` (pure: no Kafka).

All files are loaded into one reference index, so a patient bundle's references to
practitioners and organisations in Synthea's separate ``practitionerInformation*.json`` /
``hospitalInformation*.json`` resolve. A directory is read recursively (``*.json``, sorted
by path). Files that are not JSON, or not a processable Bundle, get one error outcome
(index -1) and the rest goes on. The caller publishes ``result.events`` (and may skip
those whose id + fingerprint it already published)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claimflow.models import EncounterEvent
from services.fhir_gateway.mapping import DEFAULT_SOURCE_SYSTEM, map_bundles
from services.fhir_gateway.outcomes import ERROR, EntryOutcome, summarize

log = logging.getLogger("claimflow.fhir_gateway.ingest")

DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024


@dataclass
class IngestResult:
    events: list[EncounterEvent] = field(default_factory=list)
    fingerprints: dict[str, str] = field(default_factory=dict)
    outcomes: list[EntryOutcome] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, Any]:
        out = summarize(self.outcomes, len(self.events))
        out["files"] = len(self.files)
        out["file_errors"] = sum(1 for o in self.outcomes if o.index < 0 and o.status == ERROR)
        return out

    def new_events(self, published: dict[str, str]) -> list[EncounterEvent]:
        """Events whose ``encounter_id -> fingerprint`` is not already in ``published``
        (what the shell has emitted before): re-ingesting the same files yields none."""
        return [e for e in self.events if published.get(e.encounter_id) != self.fingerprints[e.encounter_id]]


def _expand(paths: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files.extend(sorted(x for x in p.rglob("*.json") if x.is_file()))
        else:
            files.append(p)
    seen: set[Path] = set()
    unique = []
    for f in files:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def ingest_paths(
    paths: Iterable[str | Path],
    *,
    source_system: str = DEFAULT_SOURCE_SYSTEM,
    reference_paths: Iterable[str | Path] = (),
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> IngestResult:
    """Map every Bundle in ``paths`` (files or directories) to EncounterEvents.

    ``reference_paths`` are loaded for reference resolution only (no outcomes)."""
    result = IngestResult()
    loaded: list[tuple[str, Any]] = []
    file_outcomes: list[EntryOutcome] = []
    for f in _expand(paths):
        name = str(f)
        result.files.append(name)
        obj, problem = _load(f, max_file_bytes)
        if problem:
            file_outcomes.append(EntryOutcome(name, -1, None, None, ERROR, problem[0], problem[1]))
            continue
        loaded.append((name, obj))
    refs = []
    for f in _expand(reference_paths):
        obj, problem = _load(f, max_file_bytes)
        if not problem:
            refs.append((str(f), obj))
    mapped = map_bundles(loaded, source_system=source_system, reference_bundles=refs)
    result.events = mapped.events
    result.fingerprints = mapped.fingerprints
    result.outcomes = sorted(file_outcomes + mapped.outcomes, key=lambda o: (o.source, o.index))
    log.info("fhir ingest: %s", result.summary)
    return result


def _load(path: Path, max_bytes: int) -> tuple[Any, tuple[str, str] | None]:
    try:
        size = path.stat().st_size
    except OSError as exc:
        return None, ("not-found", f"file cannot be read ({type(exc).__name__})")
    if size > max_bytes:
        return None, ("too-long", f"file is larger than the {max_bytes}-byte limit")
    try:
        with path.open("rb") as fh:
            return json.loads(fh.read()), None
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None, ("structure", "file is not valid JSON")
    except OSError as exc:
        return None, ("exception", f"file cannot be read ({type(exc).__name__})")
