"""The dead-letter contract and the processor's decode/validate stages (no broker)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from claimflow.codec import Codec
from claimflow.dlq import PoisonMessage, Stage, dead_letter_headers, headers_dict
from claimflow.models import EncounterEvent
from claimflow.synthetic import EncounterGenerator
from claimflow.topics import ENCOUNTERS


def test_headers_document_the_failure_and_keep_original_headers():
    h = dead_letter_headers(topic="encounters.v1", partition=2, offset=41, service="coder", stage=Stage.VALIDATE,
                            error_class="ValidationError", error_message="place_of_service: bad", original_headers=[("trace", b"x")],
                            failed_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    d = headers_dict(h)
    assert d["trace"] == "x"
    assert d["dlq.source.topic"] == "encounters.v1"
    assert d["dlq.source.partition"] == "2" and d["dlq.source.offset"] == "41"
    assert d["dlq.service"] == "coder" and d["dlq.stage"] == "validate"
    assert d["dlq.error.class"] == "ValidationError"
    assert d["dlq.failed_at"].startswith("2026-01-02T03:04:05")


class _Decoder:
    """The processor's decode step, without Faust."""

    def __init__(self):
        from claimflow.runtime import Processor

        self.decode = Processor.decode.__get__(self)
        self.codec = Codec()
        from claimflow.settings import Settings

        self.settings = Settings(max_message_bytes=100_000)


def test_validation_errors_carry_no_phi():
    enc, _ = EncounterGenerator(seed=1).encounter(0)
    rec = enc.to_avro()
    rec["place_of_service"] = "XX"
    rec["patient"]["first_name"] = "Zebulon"
    data = Codec().encode("EncounterEvent", rec)
    with pytest.raises(PoisonMessage) as exc:
        _Decoder().decode(data, ENCOUNTERS, EncounterEvent)
    assert exc.value.stage is Stage.VALIDATE
    assert "place_of_service" in exc.value.message
    assert "XX" not in exc.value.message and "Zebulon" not in exc.value.message


def test_decode_errors_are_poison():
    with pytest.raises(PoisonMessage) as exc:
        _Decoder().decode(b"\x00garbage", ENCOUNTERS, EncounterEvent)
    assert exc.value.stage is Stage.DECODE
    with pytest.raises(PoisonMessage) as exc:
        _Decoder().decode(None, ENCOUNTERS, EncounterEvent)
    assert exc.value.error_class == "NullValue"
    with pytest.raises(PoisonMessage) as exc:
        _Decoder().decode(b"\xc3\x01" + b"\x00" * 200_000, ENCOUNTERS, EncounterEvent)
    assert exc.value.error_class == "OversizedValue"
