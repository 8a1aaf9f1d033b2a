"""Appeal letter PDF: the text (read back with poppler's pdftotext) carries the claim id, the
CARC and the deadline; the hash is stable; template errors are clear and produce nothing."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from services.adjudicator.letters import FAMILY_TEMPLATE, TEMPLATES, AppealPacket, LetterError, LetterLine, render_appeal_letter

PDFTOTEXT = shutil.which("pdftotext")


def packet(**kw) -> AppealPacket:
    base = AppealPacket(
        claim_id="CF1A2B3C4D5E6F708192", payer_id="MCR01", payer_name="Medicare Part B (synthetic)",
        reason_codes=("CO-50",), reason_texts={"CO-50": "Payer judges the service not medically necessary.", "N115": "LCD applies"},
        family="medical_necessity", denied_amount=Decimal("240.00"), deadline=date(2026, 6, 29), appeal_level="redetermination",
        argument="The patient had chest pain on exertion.\n\nThe ECG was needed to rule out ischemia before any treatment.",
        date_of_service=date(2026, 2, 12), payer_address="Appeals Unit\nPO Box 100\nSpringfield, ST 00000",
        payer_claim_control_number="MCR12345678901", billing_provider="Example Family Clinic", billing_npi="1234567893",
        remark_codes=("N115",), lines=(LetterLine(2, "93000", ("25",), Decimal("240.00")),), letter_date=date(2026, 3, 3))
    return replace(base, **kw)


def text_of(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "letter.pdf"
    path.write_bytes(pdf)
    return subprocess.run([PDFTOTEXT, "-layout", str(path), "-"], check=True, capture_output=True, text=True, timeout=30).stdout


@pytest.mark.skipif(PDFTOTEXT is None, reason="pdftotext (Debian poppler-utils) is not installed: make test installs it")
@pytest.mark.parametrize("family", sorted(set(FAMILY_TEMPLATE)))
def test_pdf_text_has_claim_id_carc_and_deadline(family, tmp_path):
    letter = render_appeal_letter(packet(family=family))
    assert letter.pdf.startswith(b"%PDF")
    text = text_of(letter.pdf, tmp_path)
    for needle in ("CF1A2B3C4D5E6F708192", "CO-50", "2026-06-29", "ischemia", "$240.00"):
        assert needle in text, (family, needle)
    assert letter.template == FAMILY_TEMPLATE[family]


def test_every_template_is_used_and_filled():
    assert set(FAMILY_TEMPLATE.values()) == set(TEMPLATES)
    for name in TEMPLATES:
        letter = render_appeal_letter(packet(template=name))
        assert "$" not in letter.body.replace("$240.00", "")


def test_same_packet_same_hash_other_argument_other_hash():
    a, b = render_appeal_letter(packet()), render_appeal_letter(packet())
    assert a.sha256 == b.sha256 and len(a.sha256) == 64
    assert render_appeal_letter(packet(argument="Different reasons.")).sha256 != a.sha256


@pytest.mark.parametrize("kw,message", [
    ({"family": "duplicate"}, "no appeal letter template for denial family 'duplicate'"),
    ({"template": "nope"}, "template 'nope' does not exist"),
    ({"argument": "  "}, "argument is empty"),
    ({"templates": {"medical_necessity": ("t", "claim $claim_id with $no_such_field")}}, "uses $no_such_field"),
    ({"templates": {"medical_necessity": ("t", "broken $")}}, "is malformed"),
])
def test_template_errors_are_clear(kw, message):
    with pytest.raises(LetterError) as err:
        render_appeal_letter(packet(**kw))
    assert message in str(err.value)


def test_packet_from_a_work_item_and_the_pre_publish_check(tmp_path):
    from claimflow.models import AppealAction, AppealActionKind
    from services.adjudicator.actions import action_id_for, item_view, refusal
    from services.adjudicator.letters import packet_from_work_item
    from services.adjudicator.logic import post
    from tests.unit.adjudicator.adj_helpers import NOW, adj_code, line, make_adj

    adj = make_adj(status="4", charge="900.00", lines=[line(1, "99214", "900.00", "0.00", [adj_code("CO-50", "900.00")])])
    [wi] = post(None, adj, NOW).work_items
    letter = render_appeal_letter(packet_from_work_item(wi, "Records attached.", letter_date=date(2026, 3, 3)))
    assert letter.template == "medical_necessity"
    if PDFTOTEXT:
        text = text_of(letter.pdf, tmp_path)
        assert wi.claim_id in text and "CO-50" in text and wi.deadline.isoformat() in text and "PO Box 1001" in text
    aid = action_id_for(wi.work_item_id, AppealActionKind.FILED, 0)
    assert aid == action_id_for(wi.work_item_id, AppealActionKind.FILED, 0) != action_id_for(wi.work_item_id, AppealActionKind.FILED, 1)
    late = AppealAction(action_id=aid, work_item_id=wi.work_item_id, claim_id=wi.claim_id, action=AppealActionKind.FILED,
                        actor="b1", actor_role="biller", occurred_at=NOW, filed_on=date(2027, 1, 1))
    assert "after the deadline" in refusal(item_view(wi), late, Decimal("500.00"))
