"""The pydantic models mirror the latest .avsc of each contract: same fields, same
nullability, same shape (records, arrays, maps, enums, decimals, dates)."""

from __future__ import annotations

import types
import typing
from datetime import date, datetime
from decimal import Decimal
from enum import Enum

import pytest
from pydantic import BaseModel

from claimflow.models import CONTRACT_MODELS
from claimflow.schemas import default_store

PRIMS = {"string": str, "int": int, "long": int, "boolean": bool, "double": float, "float": float}


def _strip_optional(ann):
    args = typing.get_args(ann)
    if typing.get_origin(ann) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0], True
    return ann, False


def _unwrap(ann):
    while typing.get_origin(ann) is typing.Annotated:
        ann = typing.get_args(ann)[0]
    return ann


def check(avro_type, ann, where, named):
    ann = _unwrap(ann)
    if isinstance(avro_type, list):
        non_null = [t for t in avro_type if t != "null"]
        assert "null" in avro_type and len(non_null) == 1, f"{where}: only optional unions are used"
        inner, optional = _strip_optional(ann)
        assert optional, f"{where}: schema is nullable, model is not"
        return check(non_null[0], inner, where, named)
    inner, optional = _strip_optional(ann)
    assert not optional, f"{where}: model is Optional, schema is not nullable"
    if isinstance(avro_type, str):
        if avro_type in PRIMS:
            assert _unwrap(ann) is PRIMS[avro_type], f"{where}: {avro_type} vs {ann}"
            return
        return check(named[avro_type], ann, where, named)
    kind = avro_type["type"]
    logical = avro_type.get("logicalType")
    if logical == "decimal":
        assert ann is Decimal, f"{where}: decimal vs {ann}"
    elif logical == "date":
        assert ann is date, f"{where}: date vs {ann}"
    elif logical == "timestamp-millis":
        assert ann is datetime, f"{where}: timestamp vs {ann}"
    elif kind == "record":
        named[f"{avro_type['namespace']}.{avro_type['name']}"] = avro_type
        assert isinstance(ann, type) and issubclass(ann, BaseModel), f"{where}: record vs {ann}"
        fields = {f["name"]: f for f in avro_type["fields"]}
        assert set(fields) == set(ann.model_fields), f"{where}: fields differ: {set(fields) ^ set(ann.model_fields)}"
        for fname, f in fields.items():
            check(f["type"], ann.model_fields[fname].annotation, f"{where}.{fname}", named)
            if "default" in f:
                assert not ann.model_fields[fname].is_required(), f"{where}.{fname}: schema has a default, model requires it"
    elif kind == "enum":
        named[f"{avro_type['namespace']}.{avro_type['name']}"] = avro_type
        assert isinstance(ann, type) and issubclass(ann, Enum), f"{where}: enum vs {ann}"
        assert [m.value for m in ann] == avro_type["symbols"], f"{where}: enum symbols differ"
    elif kind == "array":
        assert typing.get_origin(ann) is list, f"{where}: array vs {ann}"
        check(avro_type["items"], typing.get_args(ann)[0], f"{where}[]", named)
    elif kind == "map":
        assert typing.get_origin(ann) is dict, f"{where}: map vs {ann}"
        check(avro_type["values"], typing.get_args(ann)[1], f"{where}{{}}", named)
    elif kind in PRIMS:
        assert ann is PRIMS[kind], f"{where}: {kind} vs {ann}"
    else:
        raise AssertionError(f"{where}: unhandled schema {avro_type}")


@pytest.mark.parametrize("name", sorted(CONTRACT_MODELS))
def test_model_matches_schema(name):
    schema = default_store().latest(name).schema
    check(schema, CONTRACT_MODELS[name], name, {})


def test_every_contract_has_a_model():
    assert set(CONTRACT_MODELS) == set(default_store().names())
