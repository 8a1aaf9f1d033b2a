"""``Contract.to_avro`` (pydantic's model_dump) writes exactly the bytes the field-by-field
walk it replaced wrote, on every contract and on records the real coder and scrubber build
from the fixtures and the synthetic generator; money stays Decimal all the way."""

from __future__ import annotations

import json
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from claimflow.codec import Codec
from claimflow.models import CONTRACT_MODELS, EncounterEvent, utcnow
from claimflow.synthetic import EncounterGenerator

from .test_codec import sample_records

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "coding"


def walk(value: Any) -> Any:
    """The round-1 encoder input: every field read back by hand, enums to their values."""
    if isinstance(value, BaseModel):
        return {name: walk(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list):
        return [walk(v) for v in value]
    if isinstance(value, dict):
        return {k: walk(v) for k, v in value.items()}
    return value


def _decimals(value: Any) -> list:
    if isinstance(value, dict):
        return [d for v in value.values() for d in _decimals(v)]
    if isinstance(value, list):
        return [d for v in value for d in _decimals(v)]
    return [value] if isinstance(value, (Decimal, float)) else []


@pytest.fixture(scope="module")
def built_records() -> list:
    """Encounters from the labelled fixtures and the generator (with defects), coded by the
    real coder and scrubbed by the real scrubber: coded encounters, review items, claims
    and held claims with findings."""
    from services.coder.logic import Coder, CodingReference
    from services.scrubber.history import InMemoryClaimHistory
    from services.scrubber.logic import Scrubber, ScrubReference

    encounters = [EncounterEvent.model_validate(json.loads(p.read_text())["encounter"]) for p in sorted(FIXTURES.glob("*.json"))]
    gen = EncounterGenerator(seed=20, defect_rate=0.2)
    encounters += [gen.encounter(i)[0] for i in range(150)]
    coder, scrubber, history, now = Coder(CodingReference.load()), Scrubber(ScrubReference.load()), InMemoryClaimHistory(), utcnow()
    out: list = list(encounters)
    for enc in encounters:
        coded = coder.code(enc, now)
        if coded.coded is None:
            out.append(coded.review)
            continue
        out.append(coded.coded)
        result = scrubber.scrub(coded.coded, history, now)
        out.append(result.claim if result.claim is not None else result.held)
    return out


def test_dump_is_byte_identical_on_every_contract():
    codec = Codec()
    for name, record in sample_records().items():
        assert codec.encode(name, record.to_avro()) == codec.encode(name, walk(record)), name


def test_dump_is_byte_identical_on_built_records(built_records):
    codec = Codec()
    kinds: dict[str, int] = {}
    for record in built_records:
        name = type(record).avro_name
        kinds[name] = kinds.get(name, 0) + 1
        assert codec.encode(name, record.to_avro()) == codec.encode(name, walk(record))
    # the comparison covered what the pipeline writes, not just one kind
    assert {"EncounterEvent", "CodedEncounter", "Claim", "HeldClaim"} <= set(kinds), kinds
    assert len(built_records) >= 300


def test_money_stays_decimal_through_dump_and_decode(built_records):
    codec = Codec()
    claims = [r for r in built_records if type(r).avro_name == "Claim"]
    assert claims
    for claim in claims:
        dumped = claim.to_avro()
        assert isinstance(dumped["total_charge"], Decimal)
        assert all(isinstance(line["charge"], Decimal) for line in dumped["lines"])
        decoded = codec.decode(codec.encode("Claim", dumped), "Claim")
        assert isinstance(decoded["total_charge"], Decimal) and decoded["total_charge"] == claim.total_charge
        assert not any(isinstance(v, float) for v in _decimals({"t": decoded["total_charge"], "l": [l["charge"] for l in decoded["lines"]]}))


def test_every_contract_model_is_covered():
    assert set(sample_records()) == set(CONTRACT_MODELS)
