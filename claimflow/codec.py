"""Avro single-object encoding (``C3 01`` + 8-byte little-endian CRC-64-AVRO fingerprint +
binary body). Writers always use the latest kept version of a contract; readers look the
writer schema up by fingerprint among every kept version and resolve it to their own
reader schema, so producers and consumers upgrade independently."""

from __future__ import annotations

import io
from typing import Any

from fastavro import schemaless_reader, schemaless_writer

from claimflow.schemas import SchemaStore, SchemaVersion, default_store

MAGIC = b"\xc3\x01"
HEADER_LEN = 10


class DecodeError(Exception):
    """The bytes are not a readable single-object Avro record for the expected contract."""


class NotSingleObjectError(DecodeError):
    pass


class UnknownFingerprintError(DecodeError):
    pass


class WrongContractError(DecodeError):
    pass


class CorruptBodyError(DecodeError):
    pass


class Codec:
    def __init__(self, store: SchemaStore | None = None):
        self.store = store or default_store()

    def encode(self, name: str, record: dict[str, Any], version: int | None = None) -> bytes:
        sv = self.store.latest(name) if version is None else self.store.get(name, version)
        return encode_with(sv, record)

    def decode(self, data: bytes, name: str) -> dict[str, Any]:
        """Decode ``data`` into a dict shaped by the latest (reader) version of ``name``."""
        if data is None or len(data) < HEADER_LEN or data[:2] != MAGIC:
            raise NotSingleObjectError("not Avro single-object encoding (missing C3 01 marker or short header)")
        writer = self.store.by_fingerprint(bytes(data[2:HEADER_LEN]))
        if writer is None:
            raise UnknownFingerprintError(f"unknown writer schema fingerprint {bytes(data[2:HEADER_LEN]).hex()}")
        reader = self.store.latest(name)
        if writer.name != reader.name:
            raise WrongContractError(f"record was written as {writer.name} v{writer.version}, expected {name}")
        buf = io.BytesIO(data[HEADER_LEN:])
        try:
            if writer is reader:
                record = schemaless_reader(buf, writer.parsed, None)
            else:
                record = schemaless_reader(buf, writer.parsed, reader.parsed)
        except Exception as exc:  # fastavro raises EOFError, ValueError, UnicodeDecodeError, IndexError...
            raise CorruptBodyError(f"cannot read {writer.name} v{writer.version} body: {type(exc).__name__}") from None
        if buf.tell() != len(data) - HEADER_LEN:
            raise CorruptBodyError(f"{len(data) - HEADER_LEN - buf.tell()} trailing bytes after {writer.name} v{writer.version} body")
        return record


def encode_with(sv: SchemaVersion, record: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    buf.write(MAGIC)
    buf.write(sv.fingerprint)
    schemaless_writer(buf, sv.parsed, record)
    return buf.getvalue()
