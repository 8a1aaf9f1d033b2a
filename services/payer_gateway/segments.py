"""X12 tokenizer and envelope walker (ISA/GS/ST ... SE/GE/IEA), written from the X12.5/X12.6
rules: the element separator is ISA position 4 (the character after ``ISA``), the
repetition separator is ISA11, the component separator is ISA16 and the segment terminator
is the character right after ISA16 (a newline is allowed). CR/LF after a terminator are
tolerated. The file is read as latin-1 so string offsets are byte offsets and the original
bytes of any failing unit can be handed back untouched."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from services.payer_gateway.results import Finding, X12Error

SEGMENT_ID = re.compile(r"^[A-Z][A-Z0-9]{1,2}$")
FUNCTIONAL_ID = {"835": "HP", "837": "HC", "277": "HN", "999": "FA", "270": "HS", "271": "HB", "276": "HR", "834": "BE"}


class X12SyntaxError(Exception):
    """Raised inside a reader with the 1-based segment position where parsing failed."""

    def __init__(self, reason: str, position: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.position = position


@dataclass(frozen=True)
class Delimiters:
    element: str = "*"
    component: str = ":"
    repetition: str = "^"
    segment: str = "~"


@dataclass
class Segment:
    id: str
    elements: list[str]         # elements[0] is the segment id, elements[n] is XXnn
    position: int               # 1-based within the interchange (ISA = 1)
    start: int                  # byte offsets in the file
    end: int

    def get(self, n: int, default: str = "") -> str:
        return self.elements[n] if n < len(self.elements) else default

    def __len__(self) -> int:
        return len(self.elements)


@dataclass
class TransactionSet:
    st: Segment
    segments: list[Segment]     # ST .. SE inclusive (SE may be missing: see ``complete``)
    group: "FunctionalGroup"
    complete: bool = True
    structural_warnings: list[str] = field(default_factory=list)  # tolerated envelope problems (SE01 count)

    @property
    def code(self) -> str:
        return self.st.get(1)

    @property
    def control_number(self) -> str:
        return self.st.get(2)

    @property
    def implementation(self) -> str:
        return self.st.get(3) or self.group.gs.get(8)

    @property
    def body(self) -> list[Segment]:
        end = -1 if self.complete else None
        return self.segments[1:end]


@dataclass
class FunctionalGroup:
    gs: Segment
    interchange: "Interchange"
    transactions: list[TransactionSet] = field(default_factory=list)
    st_seen: int = 0

    @property
    def control_number(self) -> str:
        return self.gs.get(6)


@dataclass
class Interchange:
    isa: Segment
    delimiters: Delimiters
    groups: list[FunctionalGroup] = field(default_factory=list)

    @property
    def control_number(self) -> str:
        return self.isa.get(13).strip()


@dataclass
class EnvelopeResult:
    interchanges: list[Interchange] = field(default_factory=list)
    errors: list[X12Error] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def detect_delimiters(text: str) -> Delimiters:
    """Read the delimiters an ISA declares. Raises X12SyntaxError when it is not an ISA."""
    if not text.startswith("ISA") or len(text) < 4:
        raise X12SyntaxError("not an X12 interchange: the data does not begin with an ISA segment", None)
    element = text[3]
    if element.isalnum() or element in " \r\n":
        raise X12SyntaxError("ISA element separator (position 4) is alphanumeric or whitespace", 1)
    # ISA has 16 elements: find the 16th separator; ISA16 is the next char, then the terminator.
    idx = 3
    for _ in range(15):
        idx = text.find(element, idx + 1)
        if idx < 0:
            raise X12SyntaxError("ISA segment is truncated: fewer than 16 elements", 1)
    if idx + 2 >= len(text) + 1 or idx + 1 >= len(text):
        raise X12SyntaxError("ISA segment is truncated: no ISA16 component separator", 1)
    component = text[idx + 1]
    if idx + 2 >= len(text):
        raise X12SyntaxError("segment terminator not found after ISA16", 1)
    terminator = text[idx + 2]
    if terminator.isalnum() or terminator == element or terminator == " " or terminator == component:
        raise X12SyntaxError("segment terminator not found after ISA16 (next character is data)", 1)
    isa_elements = text[: idx + 2].split(element)
    repetition = isa_elements[11] if len(isa_elements) > 11 and len(isa_elements[11]) == 1 else "^"
    if repetition.isalnum():  # 004010 used ISA11 = U (standards id), no repetition separator
        repetition = ""
    return Delimiters(element=element, component=component, repetition=repetition, segment=terminator)


def tokenize(text: str, delims: Delimiters, findings: list[Finding] | None = None) -> list[Segment]:
    """Split into segments, tolerating CR/LF (and other whitespace) after terminators.

    With a newline terminator a physical line that does not start with a segment id is a
    wrapped continuation of the previous segment: it is joined back (and reported)."""
    segs: list[Segment] = []
    term = delims.segment
    pos = 0
    n = len(text)
    while pos < n:
        end = text.find(term, pos)
        stop = n if end < 0 else end
        raw_start = pos
        chunk = text[pos:stop]
        stripped = chunk.lstrip(" \t\r\n\x00\ufeff")
        start = raw_start + (len(chunk) - len(stripped))
        chunk = stripped.rstrip("\r\n") if term != "\r" else stripped.rstrip("\n")
        next_pos = n if end < 0 else end + 1
        if chunk:
            elements = chunk.split(delims.element)
            seg_id = elements[0]
            if not SEGMENT_ID.match(seg_id) and segs and term in "\r\n":
                prev = segs[-1]
                joined = text[prev.start:prev.end].rstrip(term + "\r\n") + chunk
                prev.elements = joined.split(delims.element)
                prev.end = next_pos
                if findings is not None:
                    findings.append(Finding("SYN-WRAP", "warning", f"segment {prev.id} at position {prev.position} was wrapped across lines; continuation joined", prev.position))
            else:
                segs.append(Segment(seg_id, elements, len(segs) + 1, start, next_pos))
        pos = next_pos
    return segs


def parse_date8(value: str) -> date | None:
    try:
        return datetime.strptime(value, "%Y%m%d").date() if len(value) == 8 else None
    except ValueError:
        return None


def parse_date6(value: str) -> date | None:
    try:
        return datetime.strptime(value, "%y%m%d").date() if len(value) == 6 else None
    except ValueError:
        return None


def walk(data: bytes, source: str = "", strict: bool = False) -> tuple[EnvelopeResult, str, Delimiters | None]:
    """Split a file into interchanges / groups / transaction sets.

    Returns the envelope result, the latin-1 text and the delimiters of the first ISA.
    Envelope errors never drop a well-formed transaction set; a transaction set without its
    SE or with a mismatching SE02 is returned as an error record. A wrong SE01 segment count
    alone (X12.6: SE01 is the number of segments ST..SE) is an error record only when
    ``strict``; otherwise the set goes on with a structural warning (finding ENV-SE01) and
    the reader still refuses it unless it balances."""
    out = EnvelopeResult()
    text = data.decode("latin-1")
    lead = len(text) - len(text.lstrip(" \t\r\n\x00\ufeff"))
    if text.startswith("\xef\xbb\xbf"):
        lead = 3
    body = text[lead:]
    try:
        delims = detect_delimiters(body)
    except X12SyntaxError as exc:
        out.errors.append(X12Error("file", exc.reason, exc.position, data, source))
        return out, text, None
    segments = tokenize(body, delims, out.findings)
    for s in segments:
        s.start += lead
        s.end += lead

    def raw(first: Segment, last: Segment) -> bytes:
        return data[first.start:last.end]

    ic: Interchange | None = None
    grp: FunctionalGroup | None = None
    txn: TransactionSet | None = None
    position_base = 0  # positions restart at 1 for each interchange

    def close_txn(reason: str, at_pos: int) -> None:
        nonlocal txn
        if txn is None:
            return
        txn.complete = False
        last = txn.segments[-1]
        out.errors.append(X12Error("transaction", reason, at_pos, raw(txn.st, last), source, txn.control_number, txn.code))
        txn = None

    for seg in segments:
        pos = seg.position - position_base
        if seg.id == "ISA":
            if txn is not None:
                close_txn(f"transaction set {txn.code} has no SE trailer before ISA at position {pos}", pos)
            if ic is not None:
                out.errors.append(X12Error("interchange", f"interchange {ic.control_number} has no IEA trailer", ic.isa.position, b"", source))
            position_base = seg.position - 1
            seg.position = 1
            ic = Interchange(seg, detect_delimiters(text[seg.start:]) if seg.start else delims)
            out.interchanges.append(ic)
            grp = None
            if len(seg) != 17:
                out.findings.append(Finding("ENV-ISA", "error", f"ISA has {len(seg) - 1} elements, expected 16", 1))
            if parse_date6(seg.get(9)) is None:
                out.findings.append(Finding("ENV-ISA09", "error", "ISA09 interchange date is not a valid YYMMDD date", 1))
            continue
        seg.position = pos
        if ic is None:
            out.errors.append(X12Error("file", f"segment {seg.id} at position {pos} before any ISA", pos, data, source))
            continue
        if txn is not None and seg.id not in ("SE", "ST", "GE", "IEA"):
            txn.segments.append(seg)
            continue
        if seg.id == "GS":
            if txn is not None:
                close_txn(f"transaction set {txn.code} has no SE trailer before GS at position {pos}", pos)
            grp = FunctionalGroup(seg, ic)
            ic.groups.append(grp)
            if parse_date8(seg.get(4)) is None:
                out.findings.append(Finding("ENV-GS04", "error", f"GS04 group date {seg.get(4)!r} is not a valid CCYYMMDD date", pos))
            continue
        if seg.id == "ST":
            if txn is not None:
                close_txn(f"transaction set {txn.code} has no SE trailer before the next ST at position {pos}", pos)
            if grp is None:
                out.findings.append(Finding("ENV-GS", "error", f"ST at position {pos} outside a functional group", pos))
                grp = FunctionalGroup(Segment("GS", ["GS"], pos, seg.start, seg.start), ic)
                ic.groups.append(grp)
            txn = TransactionSet(seg, [seg], grp)
            grp.st_seen += 1
            expected = FUNCTIONAL_ID.get(seg.get(1))
            if expected and grp.gs.get(1) and grp.gs.get(1) != expected:
                out.findings.append(Finding("ENV-GS01", "error", f"GS01 functional identifier {grp.gs.get(1)!r} does not match transaction set {seg.get(1)} (expected {expected})", grp.gs.position, control_number=seg.get(2)))
            continue
        if seg.id == "SE":
            if txn is None:
                out.errors.append(X12Error("transaction", f"SE at position {pos} without a matching ST", pos, raw(seg, seg), source))
                continue
            txn.segments.append(seg)
            count = len(txn.segments)
            problems = []
            se01 = None
            if seg.get(1) != str(count):
                se01 = f"SE01 segment count {seg.get(1)!r} does not match the {count} segments ST..SE"
                problems.append(se01)
            if seg.get(2) != txn.control_number:
                problems.append(f"SE02 control number {seg.get(2)!r} does not match ST02 {txn.control_number!r}")
            if problems == [se01] and not strict:
                txn.structural_warnings.append(se01)
                out.findings.append(Finding("ENV-SE01", "warning", f"{se01}: posted with a structural warning (strict envelopes off)", pos, control_number=txn.control_number))
                txn.group.transactions.append(txn)
            elif problems:
                out.errors.append(X12Error("transaction", "; ".join(problems), pos, raw(txn.st, seg), source, txn.control_number, txn.code))
            else:
                txn.group.transactions.append(txn)
            txn = None
            continue
        if seg.id == "GE":
            if txn is not None:
                close_txn(f"transaction set {txn.code} has no SE trailer before GE at position {pos}", pos)
            if grp is None:
                out.findings.append(Finding("ENV-GE", "error", f"GE at position {pos} without a GS", pos))
                continue
            n_st = grp.st_seen
            if seg.get(1) != str(n_st):
                out.findings.append(Finding("ENV-GE01", "error", f"GE01 count {seg.get(1)!r} does not match the {n_st} transaction sets in the group", pos))
            if seg.get(2) != grp.control_number:
                out.findings.append(Finding("ENV-GE02", "error", f"GE02 {seg.get(2)!r} does not match GS06 {grp.control_number!r}", pos))
            grp = None
            continue
        if seg.id == "IEA":
            if txn is not None:
                close_txn(f"transaction set {txn.code} has no SE trailer before IEA at position {pos}", pos)
            if seg.get(1) != str(len(ic.groups)):
                out.findings.append(Finding("ENV-IEA01", "error", f"IEA01 count {seg.get(1)!r} does not match the {len(ic.groups)} functional groups", pos))
            if seg.get(2).strip() != ic.control_number:
                out.findings.append(Finding("ENV-IEA02", "error", f"IEA02 {seg.get(2)!r} does not match ISA13 {ic.control_number!r}", pos))
            ic = None
            grp = None
            continue
        if seg.id == "TA1":
            continue
        out.errors.append(X12Error("group", f"segment {seg.id} at position {pos} is outside a transaction set", pos, raw(seg, seg), source))
    if txn is not None:
        close_txn(f"transaction set {txn.code} is truncated: no SE trailer before the end of the file", txn.segments[-1].position)
    if ic is not None:
        last = segments[-1]
        out.errors.append(X12Error("interchange", f"interchange {ic.control_number or '?'} is truncated: no IEA trailer (last segment {last.id} at position {last.position})", last.position, data, source))
        if not ic.groups:
            out.errors[-1] = X12Error("file", f"interchange has no functional group and no IEA trailer (only {len(segments)} segment(s))", last.position, data, source)
    return out, text, delims

