"""Schema store: every kept version of every Avro contract in ``schemas/``.

Files are named ``<Record>.v<N>.avsc``. A file may use named types defined in other
contracts; it pins them with a top-level ``"claimflow_refs": {"<Record>": <version>}``
attribute and the loader expands those references, so each kept version has one fixed,
self-contained writer schema and therefore one stable fingerprint.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastavro import parse_schema
from fastavro.schema import to_parsing_canonical_form

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
NAMESPACE = "io.claimflow"
_FILE_RE = re.compile(r"^(?P<name>[A-Za-z][A-Za-z0-9]*)\.v(?P<version>[0-9]+)\.avsc$")
_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
_NAMED = {"record", "error", "enum", "fixed"}


class SchemaError(Exception):
    """A schema file is malformed or references something that does not exist."""


def crc64_avro(data: bytes) -> int:
    """CRC-64-AVRO (Rabin) fingerprint as defined by the Avro specification."""
    fp = _EMPTY64
    for byte in data:
        fp = (fp >> 8) ^ _FP_TABLE[(fp ^ byte) & 0xFF]
    return fp


_EMPTY64 = 0xC15D213AA4D7A795


def _build_table() -> list[int]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (_EMPTY64 & -(fp & 1))
        table.append(fp)
    return table


_FP_TABLE = _build_table()


@dataclass(frozen=True)
class SchemaVersion:
    name: str
    version: int
    schema: dict[str, Any]  # expanded, self-contained JSON schema
    parsed: Any = field(repr=False, compare=False)  # fastavro parsed schema
    canonical: str = field(repr=False)
    fingerprint: bytes = field(repr=False)  # 8 bytes, little-endian CRC-64-AVRO

    @property
    def fullname(self) -> str:
        return f"{self.schema.get('namespace', NAMESPACE)}.{self.schema['name']}"


def _fullname(name: str, namespace: str | None) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _collect_named(node: Any, namespace: str | None, out: dict[str, Any]) -> None:
    if isinstance(node, list):
        for item in node:
            _collect_named(item, namespace, out)
    elif isinstance(node, dict):
        kind = node.get("type")
        if kind in _NAMED:
            ns = node.get("namespace", namespace)
            full = _fullname(node["name"], ns)
            out.setdefault(full, node)
            if kind in ("record", "error"):
                for f in node["fields"]:
                    _collect_named(f["type"], ns, out)
        elif kind == "array":
            _collect_named(node["items"], namespace, out)
        elif kind == "map":
            _collect_named(node["values"], namespace, out)
        elif isinstance(kind, (dict, list)):
            _collect_named(kind, namespace, out)


def _expand(node: Any, namespace: str | None, defined: set[str], available: dict[str, Any], where: str) -> Any:
    if isinstance(node, str):
        if node in _PRIMITIVES:
            return node
        full = _fullname(node, namespace)
        if full in defined:
            return full
        if full not in available:
            raise SchemaError(f"{where}: unknown type {node!r} (pin its contract in claimflow_refs)")
        return _expand(copy.deepcopy(available[full]), None, defined, available, where)
    if isinstance(node, list):
        return [_expand(item, namespace, defined, available, where) for item in node]
    if not isinstance(node, dict):
        raise SchemaError(f"{where}: unexpected schema node {node!r}")
    kind = node.get("type")
    if kind in _NAMED:
        ns = node.get("namespace", namespace)
        full = _fullname(node["name"], ns)
        if full in defined:
            return full
        defined.add(full)
        out = {k: v for k, v in node.items() if k != "claimflow_refs"}
        out["name"] = node["name"].split(".")[-1]
        out["namespace"] = full.rsplit(".", 1)[0]
        if kind in ("record", "error"):
            out["fields"] = [
                {**f, "type": _expand(f["type"], out["namespace"], defined, available, where)}
                for f in node["fields"]
            ]
        return out
    if kind == "array":
        return {**node, "items": _expand(node["items"], namespace, defined, available, where)}
    if kind == "map":
        return {**node, "values": _expand(node["values"], namespace, defined, available, where)}
    return {**node, "type": _expand(kind, namespace, defined, available, where)}


class SchemaStore:
    """All kept versions of all contracts, indexed by name, version and fingerprint."""

    def __init__(self, directory: Path | str = SCHEMA_DIR):
        self.directory = Path(directory)
        self._raw: dict[tuple[str, int], dict[str, Any]] = {}
        for path in sorted(self.directory.glob("*.avsc")):
            m = _FILE_RE.match(path.name)
            if not m:
                raise SchemaError(f"{path.name}: expected <Record>.v<N>.avsc")
            with path.open() as fh:
                raw = json.load(fh)
            if raw.get("name") != m["name"]:
                raise SchemaError(f"{path.name}: record name {raw.get('name')!r} does not match the file name")
            self._raw[(m["name"], int(m["version"]))] = raw
        self._versions: dict[tuple[str, int], SchemaVersion] = {}
        for key in sorted(self._raw):
            self._resolve(key, ())
        self._by_fp = {sv.fingerprint: sv for sv in self._versions.values()}
        self._latest: dict[str, SchemaVersion] = {}
        for (name, version), sv in sorted(self._versions.items()):
            self._latest[name] = sv

    def _resolve(self, key: tuple[str, int], stack: tuple) -> SchemaVersion:
        if key in self._versions:
            return self._versions[key]
        if key in stack:
            raise SchemaError(f"reference cycle: {' -> '.join(map(str, stack + (key,)))}")
        if key not in self._raw:
            raise SchemaError(f"missing contract {key[0]} v{key[1]}")
        raw = self._raw[key]
        available: dict[str, Any] = {}
        for dep_name, dep_version in raw.get("claimflow_refs", {}).items():
            dep = self._resolve((dep_name, int(dep_version)), stack + (key,))
            _collect_named(dep.schema, None, available)
        expanded = _expand(raw, None, set(), available, f"{key[0]}.v{key[1]}")
        parsed = parse_schema(expanded)
        canonical = to_parsing_canonical_form(parsed)
        fp = crc64_avro(canonical.encode("utf-8")).to_bytes(8, "little")
        sv = SchemaVersion(key[0], key[1], expanded, parsed, canonical, fp)
        self._versions[key] = sv
        return sv

    def names(self) -> list[str]:
        return sorted(self._latest)

    def latest(self, name: str) -> SchemaVersion:
        try:
            return self._latest[name]
        except KeyError:
            raise SchemaError(f"no contract named {name!r}") from None

    def get(self, name: str, version: int) -> SchemaVersion:
        return self._versions[(name, version)]

    def versions(self, name: str) -> list[SchemaVersion]:
        return [sv for (n, _), sv in sorted(self._versions.items()) if n == name]

    def by_fingerprint(self, fingerprint: bytes) -> SchemaVersion | None:
        return self._by_fp.get(fingerprint)


@lru_cache(maxsize=1)
def default_store() -> SchemaStore:
    return SchemaStore(SCHEMA_DIR)
