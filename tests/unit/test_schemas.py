"""Contracts: every field documented, money never a float, kept versions backward
compatible (avro.compatibility), and the gate demonstrably fails on a breaking change."""

from __future__ import annotations

import copy
import json

import pytest
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType
from avro.schema import parse as avro_parse

from claimflow.schemas import SCHEMA_DIR, SchemaError, SchemaStore, default_store

MONEY_WORDS = ("amount", "charge", "paid", "price", "fee", "responsibility", "balance", "dollars")


def _walk_records(node, seen=None):
    seen = seen if seen is not None else set()
    if isinstance(node, list):
        for n in node:
            yield from _walk_records(n, seen)
    elif isinstance(node, dict):
        if node.get("type") == "record" and node["name"] not in seen:
            seen.add(node["name"])
            yield node
            for f in node["fields"]:
                yield from _walk_records(f["type"], seen)
        elif node.get("type") == "array":
            yield from _walk_records(node["items"], seen)
        elif node.get("type") == "map":
            yield from _walk_records(node["values"], seen)


def _types(t):
    if isinstance(t, list):
        for x in t:
            yield from _types(x)
    else:
        yield t


def backward_compatible(reader: dict, writer: dict) -> bool:
    result = ReaderWriterCompatibilityChecker().get_compatibility(
        avro_parse(json.dumps(reader)), avro_parse(json.dumps(writer))
    )
    return result.compatibility is SchemaCompatibilityType.compatible


@pytest.mark.parametrize("name", default_store().names())
def test_every_field_has_a_doc(name):
    for rec in _walk_records(default_store().latest(name).schema):
        assert rec.get("doc"), f"{rec['name']} has no doc"
        for f in rec["fields"]:
            assert f.get("doc"), f"{rec['name']}.{f['name']} has no doc"


def _is_money(field_name: str) -> bool:
    return any(w in field_name for w in MONEY_WORDS) and not field_name.endswith("_source")


@pytest.mark.parametrize("name", default_store().names())
def test_money_fields_are_decimal(name):
    for rec in _walk_records(default_store().latest(name).schema):
        for f in rec["fields"]:
            for t in _types(f["type"]):
                if isinstance(t, dict) and t.get("type") == "map":  # money by key (e.g. AMT qualifier -> amount)
                    t = t["values"]
                assert t not in ("float", "double") or not _is_money(f["name"]), f"{rec['name']}.{f['name']} is float money"
                if _is_money(f["name"]) and t != "null":
                    assert isinstance(t, dict) and t.get("logicalType") == "decimal", f"{rec['name']}.{f['name']} is money but not decimal"


@pytest.mark.parametrize("name", default_store().names())
def test_kept_versions_are_backward_compatible(name):
    versions = default_store().versions(name)
    latest = versions[-1]
    for older in versions[:-1]:
        assert backward_compatible(latest.schema, older.schema), f"{name} v{latest.version} cannot read v{older.version}"


def test_gate_fails_on_a_breaking_change():
    latest = default_store().latest("EncounterEvent").schema
    broken = copy.deepcopy(latest)
    broken["fields"].append({"name": "required_without_default", "type": "string", "doc": "breaks old data"})
    assert not backward_compatible(broken, latest)
    retyped = copy.deepcopy(latest)
    for f in retyped["fields"]:
        if f["name"] == "version":
            f["type"] = "string"
    assert not backward_compatible(retyped, latest)


def test_store_rejects_unknown_references(tmp_path):
    (tmp_path / "Thing.v1.avsc").write_text(json.dumps({
        "type": "record", "name": "Thing", "namespace": "io.claimflow", "doc": "x",
        "fields": [{"name": "f", "type": "io.claimflow.Missing", "doc": "x"}],
    }))
    with pytest.raises(SchemaError):
        SchemaStore(tmp_path)


def test_every_schema_file_is_loaded():
    files = sorted(p.name for p in SCHEMA_DIR.glob("*.avsc"))
    loaded = sorted(f"{sv.name}.v{sv.version}.avsc" for n in default_store().names() for sv in default_store().versions(n))
    assert files == loaded
