"""Appeal letters as PDF (pure: ReportLab, no Faust, no Kafka, no I/O).

``render_appeal_letter(packet)`` builds the letter from the claim and the denial, a template
per denial family (written in our own words) and the biller's argument, and returns the PDF
bytes with their SHA-256; the hash goes on the ``filed`` action (``packet_sha256``). The PDF is
reproducible (ReportLab's invariant mode): the same packet gives the same bytes and hash.

A template problem (unknown family, a placeholder the packet cannot fill, an empty argument)
raises ``LetterError`` with a clear message; callers publish no event then. The letter
carries what the payer needs to find the claim; it may hold PHI (patient name, member id)
when the caller supplies them, so it is never logged."""

from __future__ import annotations

import hashlib
import io
import string
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import inch
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from xml.sax.saxutils import escape


class LetterError(ValueError):
    """The letter cannot be produced from this packet and template (message says why)."""


# Which template a reason family uses (families of carc_families.yaml / carc.yaml).
FAMILY_TEMPLATE = {
    "medical_necessity": "medical_necessity", "documentation": "medical_necessity", "benefit_limit": "medical_necessity",
    "non_covered": "medical_necessity",
    "bundling": "bundling",
    "timely_filing": "timely_filing",
    "authorization": "prior_authorization", "authorization_number": "prior_authorization",
    "coding": "coding", "coding_level": "coding",
}

# Our own words. Placeholders: $claim_id $payer_name $carc_list $deadline $level $denied_amount
# $date_of_service $lines.
TEMPLATES: dict[str, tuple[str, str]] = {
    "medical_necessity": (
        "Request for review: medical necessity",
        "We ask you to reconsider the denial of claim $claim_id (service date $date_of_service) under reason $carc_list. "
        "The services on $lines were ordered and performed because the patient's condition required them at the time of "
        "the visit. The enclosed records document the symptoms, the findings and the clinical reasoning that led to the "
        "care billed. We believe they meet your coverage criteria, and we ask that the $denied_amount denied be paid.",
    ),
    "bundling": (
        "Request for review: separately identifiable service",
        "Claim $claim_id (service date $date_of_service) was reduced under reason $carc_list because a service was treated "
        "as part of another one billed the same day. The service on $lines was distinct: it was performed for a separate "
        "problem, at a separate site or session, and the modifier on the claim reports exactly that. The enclosed notes show "
        "the separate documentation for each service. We ask that the $denied_amount be paid.",
    ),
    "timely_filing": (
        "Request for review: the claim was filed in time",
        "Claim $claim_id (service date $date_of_service) was denied under reason $carc_list as filed too late. Our records "
        "show it was first submitted within your filing limit; the enclosed proof (clearinghouse acceptance report or your "
        "own acknowledgment) carries the date it was received. We ask that you process the claim and pay the "
        "$denied_amount denied.",
    ),
    "prior_authorization": (
        "Request for review: authorization",
        "Claim $claim_id (service date $date_of_service) was denied under reason $carc_list for a missing or unmatched "
        "authorization. The enclosed authorization (or the retro-authorization since obtained, or the record that the "
        "care was urgent and could not wait) covers the service on $lines. We ask that the $denied_amount denied be paid.",
    ),
    "coding": (
        "Request for review: coding and level of service",
        "Claim $claim_id (service date $date_of_service) was denied or paid at a lower level under reason $carc_list. "
        "The codes billed on $lines are the ones the documentation supports, read against the coding guidelines in force on "
        "the date of service; the enclosed note shows the elements that support them. We ask that the claim be paid as "
        "billed, $denied_amount more than paid.",
    ),
}


@dataclass(frozen=True)
class LetterLine:
    line_number: int
    procedure_code: str
    modifiers: tuple[str, ...] = ()
    charge: Decimal = Decimal("0.00")


@dataclass(frozen=True)
class AppealPacket:
    claim_id: str
    payer_id: str
    payer_name: str
    reason_codes: tuple[str, ...]  # e.g. ("CO-50",)
    reason_texts: dict[str, str]  # code -> description shown next to it
    family: str
    denied_amount: Decimal
    deadline: date | None
    appeal_level: str | None
    argument: str  # the biller's own words
    date_of_service: date | None = None
    payer_address: str | None = None
    payer_claim_control_number: str | None = None
    billing_provider: str | None = None
    billing_npi: str | None = None
    patient_name: str | None = None  # PHI: printed for the payer, never logged
    member_id: str | None = None  # PHI
    remark_codes: tuple[str, ...] = ()
    lines: tuple[LetterLine, ...] = ()
    letter_date: date | None = None
    template: str | None = None  # overrides the family's template
    templates: dict[str, tuple[str, str]] = field(default_factory=lambda: dict(TEMPLATES))


@dataclass(frozen=True)
class Letter:
    pdf: bytes
    sha256: str
    template: str
    body: str


def template_for(packet: AppealPacket) -> str:
    name = packet.template or FAMILY_TEMPLATE.get(packet.family)
    if name is None:
        raise LetterError(f"no appeal letter template for denial family {packet.family!r}; "
                          f"pick one of {', '.join(sorted(packet.templates))}")
    if name not in packet.templates:
        raise LetterError(f"appeal letter template {name!r} does not exist; known: {', '.join(sorted(packet.templates))}")
    return name


def letter_body(packet: AppealPacket) -> tuple[str, str, str]:
    """(template name, title, body text) with the placeholders filled."""
    if not packet.argument or not packet.argument.strip():
        raise LetterError("the biller's argument is empty: write why the denial is wrong before generating the letter")
    if not packet.reason_codes:
        raise LetterError("the denial has no reason code to appeal")
    name = template_for(packet)
    title, text = packet.templates[name]
    lines = ", ".join(f"line {l.line_number} ({l.procedure_code}{'-' + '-'.join(l.modifiers) if l.modifiers else ''})"
                      for l in packet.lines) or "the claim"
    values = {
        "claim_id": packet.claim_id, "payer_name": packet.payer_name, "carc_list": ", ".join(packet.reason_codes),
        "deadline": packet.deadline.isoformat() if packet.deadline else "none stated",
        "level": (packet.appeal_level or "payer review").replace("_", " "), "denied_amount": f"${packet.denied_amount:,.2f}",
        "date_of_service": packet.date_of_service.isoformat() if packet.date_of_service else "see claim", "lines": lines,
    }
    try:
        return name, title, string.Template(text).substitute(values)
    except KeyError as exc:
        raise LetterError(f"appeal letter template {name!r} uses ${exc.args[0]}, which the packet does not provide") from None
    except ValueError as exc:
        raise LetterError(f"appeal letter template {name!r} is malformed: {exc}") from None


def render_appeal_letter(packet: AppealPacket) -> Letter:
    """The letter as PDF bytes and their SHA-256 (raises ``LetterError``)."""
    name, title, body = letter_body(packet)
    styles = getSampleStyleSheet()
    p = lambda text, style="BodyText": Paragraph(escape(text), styles[style])  # noqa: E731
    story = [p(packet.billing_provider or "Billing office", "Heading3")]
    if packet.billing_npi:
        story.append(p(f"NPI {packet.billing_npi}"))
    story += [Spacer(1, 0.15 * inch), p(f"Date: {(packet.letter_date or date.today()).isoformat()}"), Spacer(1, 0.1 * inch),
              p(packet.payer_name, "Heading4")]
    for part in (packet.payer_address or "").splitlines():
        story.append(p(part))
    story += [Spacer(1, 0.2 * inch), p(title, "Heading2")]
    facts = [["Claim id", packet.claim_id], ["Payer", f"{packet.payer_name} ({packet.payer_id})"],
             ["Payer claim number", packet.payer_claim_control_number or "-"],
             ["Appeal level", (packet.appeal_level or "payer review").replace("_", " ")],
             ["Appeal deadline", packet.deadline.isoformat() if packet.deadline else "none stated"],
             ["Amount in dispute", f"${packet.denied_amount:,.2f}"]]
    if packet.patient_name:
        facts.append(["Patient", packet.patient_name])
    if packet.member_id:
        facts.append(["Member id", packet.member_id])
    for code in packet.reason_codes:
        facts.append([f"Reason {code}", packet.reason_texts.get(code, "")])
    for code in packet.remark_codes:
        facts.append([f"Remark {code}", packet.reason_texts.get(code, "")])
    cell = styles["BodyText"]
    table = Table([[Paragraph(escape(a), cell), Paragraph(escape(b), cell)] for a, b in facts], colWidths=[1.7 * inch, 4.6 * inch])
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.25, "#999999"), ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story += [table, Spacer(1, 0.2 * inch), p(body), Spacer(1, 0.1 * inch), p("Our reasons", "Heading4")]
    for para in packet.argument.strip().split("\n\n"):
        story.append(p(para.strip()))
    story += [Spacer(1, 0.2 * inch), p("Enclosed: the records named above. Please reply to the billing office at the address above."),
              Spacer(1, 0.3 * inch), p("Sincerely,"), p(packet.billing_provider or "Billing office")]
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=LETTER, invariant=1, title=f"Appeal {packet.claim_id}", author="claimflow",
                            leftMargin=inch, rightMargin=inch, topMargin=0.8 * inch, bottomMargin=0.8 * inch)
    doc.build(story)
    pdf = buf.getvalue()
    return Letter(pdf, hashlib.sha256(pdf).hexdigest(), name, body)


def packet_from_work_item(item, argument: str, codes=None, book=None, letter_date: date | None = None,
                          claim_lines: tuple[LetterLine, ...] = (), **extra) -> AppealPacket:
    """An ``AppealPacket`` for a ``DenialWorkItem``: reason texts from the CARC/RARC list in
    use, the payer's name and appeal address from the payer book."""
    from services.adjudicator.reference import load_code_lists, load_payer_book

    codes = codes or load_code_lists()
    book = book or load_payer_book()
    policy = book.policy(item.payer_id)
    texts: dict[str, str] = {}
    for rc in item.reason_codes:
        info = codes.carc_info(rc.split("-", 1)[-1])
        texts[rc] = info.text if info else "reason code not in the reference list"
    for rm in item.remark_codes:
        texts[rm] = codes.rarc.get(rm, "")
    return AppealPacket(
        claim_id=item.claim_id, payer_id=item.payer_id, payer_name=policy.name, reason_codes=tuple(item.reason_codes),
        reason_texts=texts, family=item.reason_family or "unknown", denied_amount=item.denied_amount, deadline=item.deadline,
        appeal_level=item.appeal_level.value if item.appeal_level else None, argument=argument, payer_address=policy.appeal_address,
        remark_codes=tuple(item.remark_codes), lines=claim_lines, letter_date=letter_date, **extra)
