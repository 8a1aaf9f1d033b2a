"""Property-based tests of the wire format (claimflow/codec.py) with hypothesis.

* every kept version of every contract: records generated from the Avro schema itself
  round-trip through encode/decode unchanged (older versions resolve to the latest);
* contract models built by the synthetic generator round-trip through the codec and
  validate back to an equal model;
* arbitrary bytes (bare, behind the C3 01 marker, behind a real fingerprint) either decode
  or raise one of the codec's DecodeError subclasses, nothing else;
* bit flips in a valid value either raise DecodeError or decode to a schema-valid record
  (it re-encodes and decodes to itself) that the pydantic model accepts or rejects with a
  ValidationError, nothing else.

The profile is fixed (derandomized, no deadline) so CI sees the same examples every run."""

from __future__ import annotations

import random
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from claimflow.codec import HEADER_LEN, MAGIC, Codec, DecodeError
from claimflow.models import CONTRACT_MODELS
from claimflow.schemas import default_store
from claimflow.synthetic import EncounterGenerator, adjudication_for

pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")
PROFILE = settings(derandomize=True, deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
CODEC = Codec()
STORE = default_store()
ALL_VERSIONS = [sv for name in STORE.names() for sv in STORE.versions(name)]

# --- a strategy for any record of an Avro schema ---------------------------------------------

_TEXT = st.text(max_size=12)


def _strategy(schema: Any, named: dict[str, st.SearchStrategy]) -> st.SearchStrategy:
    if isinstance(schema, str):
        prim = {
            "null": st.none(), "boolean": st.booleans(), "int": st.integers(-(2**31), 2**31 - 1),
            "long": st.integers(-(2**63), 2**63 - 1), "string": _TEXT, "bytes": st.binary(max_size=12),
            "double": st.floats(allow_nan=False), "float": st.floats(allow_nan=False, width=32),
        }
        if schema in prim:
            return prim[schema]
        return st.deferred(lambda: named[schema])
    if isinstance(schema, list):
        return st.one_of([_strategy(s, named) for s in schema])
    kind, logical = schema["type"], schema.get("logicalType")
    if logical == "date":
        return st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31))
    if logical == "timestamp-millis":
        return st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1)).map(
            lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000, tzinfo=timezone.utc))
    if logical == "decimal":
        bound = 10 ** int(schema["precision"]) - 1
        return st.integers(-bound, bound).map(lambda n, s=int(schema.get("scale", 0)): Decimal(n).scaleb(-s))
    if kind == "enum":
        strat = st.sampled_from(schema["symbols"])
    elif kind == "array":
        return st.lists(_strategy(schema["items"], named), max_size=3)
    elif kind == "map":
        return st.dictionaries(_TEXT, _strategy(schema["values"], named), max_size=3)
    elif kind == "record":
        # built eagerly, in document order: Avro defines a named type before any reference to it
        strat = st.fixed_dictionaries({f["name"]: _strategy(f["type"], named) for f in schema["fields"]})
    elif isinstance(kind, (str, list, dict)):
        return _strategy(kind, named)
    else:  # pragma: no cover
        raise ValueError(schema)
    if "name" in schema:
        ns = schema.get("namespace")
        full = schema["name"] if "." in schema["name"] or not ns else f"{ns}.{schema['name']}"
        named[full] = strat
    return strat


def records_of(sv) -> st.SearchStrategy:
    return _strategy(sv.schema, {})


def _samples() -> list[tuple[str, bytes]]:
    """Valid values of the two edge contracts built by the synthetic generator."""
    gen = EncounterGenerator(seed=5, defect_rate=0.3)
    rng = random.Random(5)
    encs = [gen.encounter(i)[0] for i in range(8)]
    out = [("EncounterEvent", CODEC.encode("EncounterEvent", e.to_avro())) for e in encs]
    out += [("Adjudication", CODEC.encode("Adjudication", adjudication_for(e, rng, deny=i % 3 == 0).to_avro()))
            for i, e in enumerate(encs) if e.coverage is not None]
    return out


SAMPLES = _samples()


# --- round trips ------------------------------------------------------------------------------


def _project(decoded, written):
    """``decoded`` cut down to the shape of ``written``: fields a newer reader added to any
    nested record are dropped, so what the old writer wrote can be compared exactly."""
    if isinstance(written, dict) and isinstance(decoded, dict):  # a map projected on its own keys is itself
        return {k: _project(decoded.get(k), v) for k, v in written.items()}
    if isinstance(written, list) and isinstance(decoded, list) and len(written) == len(decoded):
        return [_project(d, w) for d, w in zip(decoded, written)]
    return decoded


@pytest.mark.parametrize("sv", ALL_VERSIONS, ids=lambda sv: f"{sv.name}.v{sv.version}")
@PROFILE
@given(data=st.data())
def test_schema_generated_records_round_trip(sv, data):
    record = data.draw(records_of(sv))
    value = CODEC.encode(sv.name, record, version=sv.version)
    assert value[:2] == MAGIC and value[2:HEADER_LEN] == sv.fingerprint
    decoded = CODEC.decode(value, sv.name)
    latest = STORE.latest(sv.name)
    if sv is latest:
        assert decoded == record
    else:  # an older writer resolves to the latest reader: its fields kept, new ones defaulted
        assert _project(decoded, record) == record  # also inside nested records (e.g. Claim v2 lines)
        added = {f["name"]: f for f in latest.schema["fields"] if f["name"] not in record}
        assert all(decoded[name] == f.get("default") for name, f in added.items())


@PROFILE
@given(seed=st.integers(0, 2**32 - 1), i=st.integers(0, 10_000), deny=st.booleans(), defect=st.sampled_from([0.0, 1.0]))
def test_synthetic_models_round_trip(seed, i, deny, defect):
    enc, _ = EncounterGenerator(seed=seed, defect_rate=defect).encounter(i)
    model = type(enc)
    assert model.model_validate(CODEC.decode(CODEC.encode("EncounterEvent", enc.to_avro()), "EncounterEvent")) == enc
    adj = adjudication_for(enc, random.Random(seed), deny=deny)
    back = CONTRACT_MODELS["Adjudication"].model_validate(CODEC.decode(CODEC.encode("Adjudication", adj.to_avro()), "Adjudication"))
    assert back == adj


# --- garbage in -------------------------------------------------------------------------------


def _decode_or_decode_error(value: bytes, name: str):
    try:
        return CODEC.decode(value, name)
    except DecodeError:
        return None


@PROFILE
@given(value=st.binary(max_size=600), name=st.sampled_from(STORE.names()))
def test_arbitrary_bytes_raise_only_decode_errors(value, name):
    _decode_or_decode_error(value, name)
    _decode_or_decode_error(MAGIC + value, name)


@PROFILE
@given(body=st.binary(max_size=600), writer=st.sampled_from(ALL_VERSIONS), name=st.sampled_from(STORE.names()))
def test_arbitrary_body_behind_a_known_fingerprint_raises_only_decode_errors(body, writer, name):
    record = _decode_or_decode_error(MAGIC + writer.fingerprint + body, name)
    if record is not None:  # random bytes can be a record: then it is one of the named contract
        assert writer.name == name


@PROFILE
@given(sample=st.sampled_from(SAMPLES), flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 7)), min_size=1, max_size=4),
       body_only=st.booleans())
def test_bit_flips_decode_to_a_valid_record_or_raise_decode_error(sample, flips, body_only):
    name, value = sample
    b = bytearray(value)
    lo = HEADER_LEN if body_only else 0
    for pos, bit in flips:
        b[lo + pos % (len(b) - lo)] ^= 1 << bit
    record = _decode_or_decode_error(bytes(b), name)
    if record is None:
        return
    # a schema-valid record: it encodes and decodes back to itself
    assert CODEC.decode(CODEC.encode(name, record), name) == record
    try:
        CONTRACT_MODELS[name].model_validate(record)
    except ValidationError:
        pass


def test_flipping_the_marker_or_fingerprint_is_always_a_decode_error():
    """Exhaustively: every single-bit flip in the 10-byte header is rejected."""
    for name, value in SAMPLES[:3]:
        for pos in range(HEADER_LEN):
            for bit in range(8):
                b = bytearray(value)
                b[pos] ^= 1 << bit
                with pytest.raises(DecodeError):
                    CODEC.decode(bytes(b), name)
