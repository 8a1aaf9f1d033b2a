"""Bundle checks, the resource index and reference resolution (pure: no Faust, no Kafka).

A :class:`ResourceIndex` holds the entries of one or more Bundles (several files of a
directory, or one HTTP request plus optional reference bundles) so references resolve
across them:

- ``urn:uuid:...`` / ``urn:oid:...`` and absolute URLs: by ``Bundle.entry.fullUrl``;
- relative ``Type/id`` (optionally ``/_history/n``) and absolute ``.../Type/id``: by
  resource type and logical id;
- conditional ``Type?identifier=system|value`` (what Synthea writes for practitioners and
  organisations living in its separate hospital/practitioner bundles): by identifier;
- logical references (``Reference.identifier`` without ``reference``): by identifier;
- ``#id``: a contained resource of the referring resource.

When several entries match, one in the same file as the referrer wins; copies of the same
resource (same type and id) in several files are not ambiguous. Problems are reported as
text naming the element, never the reference value."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from services.fhir_gateway.outcomes import ERROR, EntryOutcome, Issue

FHIR_ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
RESOURCE_TYPE_RE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
SUPPORTED_BUNDLE_TYPES = ("transaction", "batch", "collection", "searchset", "document")
_HISTORY_RE = re.compile(r"/_history/[^/]+$")
_TYPE_ID_RE = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$")


class BundleError(Exception):
    """The request is not a Bundle the gateway can process at all (HTTP 400)."""

    def __init__(self, issues: list[Issue]):
        super().__init__("; ".join(i.diagnostics for i in issues))
        self.issues = issues


def check_bundle(obj: Any) -> None:
    """Raise :class:`BundleError` when ``obj`` is not a processable Bundle. Entry-level
    problems are not checked here: partial bundles are processed entry by entry."""
    issues: list[Issue] = []
    if not isinstance(obj, dict):
        raise BundleError([Issue("fatal", "structure", "request body is not a JSON object")])
    rtype = obj.get("resourceType")
    if rtype != "Bundle":
        what = "is missing" if rtype is None else "is not 'Bundle'"
        raise BundleError([Issue("fatal", "structure", f"resourceType {what}; the gateway accepts Bundle resources only", ("resourceType",))])
    btype = obj.get("type")
    if not isinstance(btype, str):
        issues.append(Issue("error", "required", "Bundle.type is missing or not a string", ("Bundle.type",)))
    elif btype not in SUPPORTED_BUNDLE_TYPES:
        issues.append(Issue("error", "not-supported", f"Bundle.type must be one of {', '.join(SUPPORTED_BUNDLE_TYPES)}", ("Bundle.type",)))
    entries = obj.get("entry", [])
    if not isinstance(entries, list):
        issues.append(Issue("error", "structure", "Bundle.entry is not an array", ("Bundle.entry",)))
    if issues:
        raise BundleError(issues)


@dataclass(eq=False)
class Entry:
    """One Bundle entry (or a contained resource, with ``contained=True``)."""

    source: str
    index: int
    full_url: str | None
    resource: dict[str, Any]
    rtype: str
    rid: str | None
    report: bool = True
    contained: bool = False
    outcome: EntryOutcome | None = None
    warnings: list[Issue] = field(default_factory=list)

    @property
    def path(self) -> str:
        return f"Bundle.entry[{self.index}].resource"

    @property
    def identity(self) -> tuple[str, str] | int:
        """Same resource sent in several files compares equal by type and id."""
        return (self.rtype, self.rid) if self.rid else id(self)

    def fail(self, code: str, reason: str, *expression: str) -> None:
        """Record an error outcome (the first error wins)."""
        if self.contained or (self.outcome is not None and self.outcome.status == ERROR):
            return
        self.outcome = EntryOutcome(self.source, self.index, self.rtype, self.rid, ERROR, code, reason, expression=tuple(expression))


def _identifiers(resource: dict[str, Any]) -> list[tuple[str | None, str]]:
    out = []
    ids = resource.get("identifier")
    if isinstance(ids, dict):
        ids = [ids]
    if isinstance(ids, list):
        for ident in ids:
            if isinstance(ident, dict) and isinstance(ident.get("value"), str) and ident["value"]:
                system = ident.get("system") if isinstance(ident.get("system"), str) else None
                out.append((system, ident["value"]))
    return out


class ResourceIndex:
    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.bundle_outcomes: list[EntryOutcome] = []
        self._by_full_url: dict[str, list[Entry]] = {}
        self._by_type_id: dict[tuple[str, str], list[Entry]] = {}
        self._by_identifier: dict[tuple[str, str | None, str], list[Entry]] = {}

    # --- loading ---------------------------------------------------------------------

    def add_bundle(self, bundle: dict[str, Any], source: str, report: bool = True) -> list[Entry]:
        """Index a checked Bundle. Malformed entries get an error outcome and are not
        indexed; returns every indexed entry."""
        added: list[Entry] = []
        raw_entries = bundle.get("entry") or []
        seen_urls: set[str] = set()
        for i, raw in enumerate(raw_entries):
            def bad(code: str, reason: str, *expr: str, rtype: str | None = None, rid: str | None = None) -> None:
                if report:
                    self.bundle_outcomes.append(EntryOutcome(source, i, rtype, rid, ERROR, code, reason, expression=expr))

            base = f"Bundle.entry[{i}]"
            if not isinstance(raw, dict):
                bad("structure", "entry is not a JSON object", base)
                continue
            request = raw.get("request")
            method = request.get("method") if isinstance(request, dict) else None
            resource = raw.get("resource")
            if method == "DELETE":
                bad("not-supported", "DELETE entries are not supported: the gateway only takes encounters in", f"{base}.request.method")
                continue
            if resource is None:
                bad("required", "entry has no resource", f"{base}.resource")
                continue
            if not isinstance(resource, dict):
                bad("structure", "entry.resource is not a JSON object", f"{base}.resource")
                continue
            rtype = resource.get("resourceType")
            if not isinstance(rtype, str) or not RESOURCE_TYPE_RE.match(rtype):
                bad("structure", "resource.resourceType is missing or not a FHIR resource type name", f"{base}.resource.resourceType")
                continue
            rid = resource.get("id")
            if rid is not None and (not isinstance(rid, str) or not FHIR_ID_RE.match(rid)):
                bad("value", f"{rtype}.id is not a valid FHIR id ([A-Za-z0-9-.]{{1,64}})", f"{base}.resource.id", rtype=rtype)
                continue
            full_url = raw.get("fullUrl")
            if full_url is not None and not isinstance(full_url, str):
                bad("structure", "entry.fullUrl is not a string", f"{base}.fullUrl", rtype=rtype, rid=rid)
                continue
            if full_url in seen_urls:
                bad("duplicate", "entry.fullUrl repeats an earlier entry of this Bundle", f"{base}.fullUrl", rtype=rtype, rid=rid)
                continue
            if full_url:
                seen_urls.add(full_url)
            entry = Entry(source, i, full_url, resource, rtype, rid, report=report)
            self._index(entry)
            added.append(entry)
        self.entries.extend(added)
        return added

    def _index(self, entry: Entry) -> None:
        if entry.full_url:
            self._by_full_url.setdefault(entry.full_url, []).append(entry)
        if entry.rid:
            self._by_type_id.setdefault((entry.rtype, entry.rid), []).append(entry)
        for system, value in _identifiers(entry.resource):
            self._by_identifier.setdefault((entry.rtype, system, value), []).append(entry)
            self._by_identifier.setdefault((entry.rtype, None, value), []).append(entry)

    def of_type(self, *types: str) -> list[Entry]:
        return [e for e in self.entries if e.rtype in types]

    # --- resolution ------------------------------------------------------------------

    def resolve(self, ref: Any, ctx: Entry, types: tuple[str, ...] = ()) -> tuple[Entry | None, str | None]:
        """Resolve a FHIR Reference found in ``ctx``. Returns ``(entry, None)`` or
        ``(None, problem)`` where the problem text carries no reference value."""
        if not isinstance(ref, dict):
            return None, "is not a Reference object"
        target = ref.get("reference")
        if target is None:
            ident = ref.get("identifier")
            if isinstance(ident, dict) and isinstance(ident.get("value"), str):
                rtype = ref.get("type") if isinstance(ref.get("type"), str) else None
                cands = self._identifier_matches(rtype, ident.get("system") if isinstance(ident.get("system"), str) else None, ident["value"], types)
                return self._choose(cands, ctx, types, "logical reference (identifier)")
            if ref.get("display") is not None:
                return None, "has a display only and no reference to resolve"
            return None, "is empty"
        if not isinstance(target, str) or not target:
            return None, "reference is not a string"
        if target.startswith("#"):
            return self._contained(target[1:], ctx, types)
        if "?" in target:
            return self._conditional(target, ctx, types)
        if target.startswith(("urn:uuid:", "urn:oid:")):
            return self._choose(self._by_full_url.get(target, []), ctx, types, "urn reference")
        if target in self._by_full_url:
            return self._choose(self._by_full_url[target], ctx, types, "absolute reference")
        stripped = _HISTORY_RE.sub("", target)
        m = _TYPE_ID_RE.search(stripped)
        if not m:
            return None, "reference is neither a urn, a Type/id nor a conditional reference"
        cands = list(self._by_type_id.get((m.group(1), m.group(2)), []))
        if not cands and "://" not in stripped:
            # relative to the referrer's base (fullUrl http://server/fhir/Encounter/1 -> http://server/fhir/Patient/2)
            if ctx.full_url and "://" in ctx.full_url:
                base = _TYPE_ID_RE.sub("", ctx.full_url)
                cands = self._by_full_url.get(f"{base}/{stripped}", [])
        return self._choose(cands, ctx, types, "relative reference")

    def _contained(self, cid: str, ctx: Entry, types: tuple[str, ...]) -> tuple[Entry | None, str | None]:
        for c in ctx.resource.get("contained") or []:
            if isinstance(c, dict) and c.get("id") == cid and isinstance(c.get("resourceType"), str):
                if types and c["resourceType"] not in types:
                    return None, "points at a contained resource of an unexpected type"
                return Entry(ctx.source, ctx.index, None, c, c["resourceType"], None, report=False, contained=True), None
        return None, "points at a contained resource that is not there"

    def _identifier_matches(self, rtype: str | None, system: str | None, value: str, types: tuple[str, ...]) -> list[Entry]:
        search_types = [rtype] if rtype else list(types) or sorted({k[0] for k in self._by_identifier})
        out: list[Entry] = []
        for t in search_types:
            out.extend(self._by_identifier.get((t, system, value), []))
        return out

    def _conditional(self, target: str, ctx: Entry, types: tuple[str, ...]) -> tuple[Entry | None, str | None]:
        rtype, _, query = target.partition("?")
        rtype = rtype.rsplit("/", 1)[-1]
        if not RESOURCE_TYPE_RE.match(rtype):
            return None, "conditional reference has no resource type"
        params = parse_qsl(query, keep_blank_values=True)
        if not params or any(k != "identifier" for k, _ in params):
            return None, "conditional reference uses a search parameter other than identifier (unsupported)"
        matches: list[Entry] | None = None
        for _, raw in params:
            token = unquote(raw)
            if "|" in token:
                system, _, value = token.partition("|")
                found = self._identifier_matches(rtype, system or None, value, types)
            else:
                found = self._identifier_matches(rtype, None, token, types)
            matches = found if matches is None else [e for e in matches if e in found]
        return self._choose(matches or [], ctx, types, "conditional reference")

    @staticmethod
    def _choose(cands: list[Entry], ctx: Entry, types: tuple[str, ...], kind: str) -> tuple[Entry | None, str | None]:
        if types:
            typed = [c for c in cands if c.rtype in types]
            if cands and not typed:
                return None, f"{kind} points at a resource of an unexpected type"
            cands = typed
        if not cands:
            return None, f"{kind} does not resolve to any entry in the submitted bundles"
        identities = {c.identity for c in cands}
        if len(identities) > 1:
            return None, f"{kind} matches several different resources (ambiguous)"
        same_file = [c for c in cands if c.source == ctx.source]
        return (same_file or cands)[0], None
