"""Inbound X12 import: any file or folder of 835 / 277(CA) / 999 (and 837P) files into
records, error records and per-kind counts. Pure apart from reading the given paths;
the CLI (`claimflow x12 import FILE|DIR`) and the folder-watching service wrap this."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

from pydantic import ValidationError

from claimflow.models import Adjudication, ClaimStatusChanged, safe_errors, utcnow
from services.payer_gateway.reader_835 import read_835
from services.payer_gateway.reader_837p import Claim837, read_837p
from services.payer_gateway.reader_ack import claim_events_from_999, read_277, read_999
from services.payer_gateway.results import (ClaimStatusResult, Finding, GroupAck, NonClaimStatus, Remittance, X12Error)
from services.payer_gateway.segments import X12SyntaxError, walk

SUPPORTED = ("835", "277", "999", "837")


@dataclass
class ParsedFile:
    source: str
    kinds: list[str] = field(default_factory=list)            # ST01 of each transaction set, in order
    interchanges: int = 0
    transaction_sets: int = 0
    remittances: list[Remittance] = field(default_factory=list)
    statuses: list[ClaimStatusResult] = field(default_factory=list)
    other_statuses: list[NonClaimStatus] = field(default_factory=list)
    acks: list[GroupAck] = field(default_factory=list)
    claims_837: list[Claim837] = field(default_factory=list)
    status_events: list[ClaimStatusChanged] = field(default_factory=list)
    errors: list[X12Error] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def kind(self) -> str:
        """The file's kind for counting: its first transaction set id, else 'invalid'."""
        if self.kinds:
            return self.kinds[0]
        return "invalid"

    @property
    def adjudications(self) -> list[Adjudication]:
        return [a for r in self.remittances for a in r.adjudications]

    @property
    def ok(self) -> bool:
        return not self.errors


def parse_bytes(data: bytes, source: str = "", received_at: datetime | None = None,
                claims_for_set: Callable[[str, str], list[str]] | None = None, strict: bool = False) -> ParsedFile:
    """Parse one file's bytes. Never raises for bad input: problems become error records.
    ``strict`` refuses a transaction set whose SE01 count is wrong even if it balances."""
    received_at = received_at or utcnow()
    out = ParsedFile(source=source)
    env, _text, _ = walk(data, source, strict=strict)
    out.errors += env.errors
    out.findings += env.findings
    out.interchanges = len(env.interchanges)
    for ic in env.interchanges:
        for grp in ic.groups:
            for txn in grp.transactions:
                out.transaction_sets += 1
                out.kinds.append(txn.code)
                raw = data[txn.segments[0].start:txn.segments[-1].end]
                try:
                    _dispatch(txn, ic.delimiters, data, source, received_at, claims_for_set, out)
                except X12SyntaxError as exc:
                    out.errors.append(X12Error("transaction", f"{txn.code} {txn.control_number}: {exc.reason}", exc.position, raw,
                                               source, txn.control_number, txn.code))
                except ValidationError as exc:
                    out.errors.append(X12Error("transaction", f"{txn.code} {txn.control_number}: {safe_errors(exc)}", txn.st.position,
                                               raw, source, txn.control_number, txn.code))
    # transaction sets that failed in the envelope still tell us what the file was
    for err in out.errors:
        if err.level == "transaction" and err.transaction_set and err.transaction_set not in out.kinds and not out.kinds:
            out.kinds.append(err.transaction_set)
    return out


def _dispatch(txn, delims, data, source, received_at, claims_for_set, out: ParsedFile) -> None:
    code = txn.code
    if code == "835":
        remittance, errors = read_835(txn, data, delims, source, received_at)
        if txn.structural_warnings and remittance is not None:
            unbalanced = [f for f in remittance.findings if f.code.startswith("BAL-") and f.severity == "error"]
            if unbalanced or errors:
                # only a complete, balanced set is posted despite its SE01 count
                raise X12SyntaxError(f"{'; '.join(txn.structural_warnings)}, and the transaction set does not balance "
                                     f"or has claim errors ({(unbalanced[0].message if unbalanced else errors[0].reason)})", txn.st.position)
        out.errors += errors
        if remittance is not None:
            out.remittances.append(remittance)
            out.findings += remittance.findings
    elif code == "277":
        results, others, findings = read_277(txn, delims, received_at)
        out.statuses += results
        out.other_statuses += others
        out.findings += findings
        out.status_events += [r.event for r in results if r.event is not None]
    elif code == "999":
        groups, findings = read_999(txn, delims)
        out.acks += groups
        out.findings += findings
        if claims_for_set is not None:
            for g in groups:
                out.status_events += claim_events_from_999(g, claims_for_set, received_at)
    elif code == "837":
        if not txn.implementation.startswith("005010X222"):
            raise X12SyntaxError(f"837 implementation {txn.implementation or '?'} is not supported (only 005010X222 professional)", txn.st.position)
        out.claims_837 += read_837p(txn, delims)
    else:
        raise X12SyntaxError(f"transaction set {code or '?'} is not supported by the payer gateway", txn.st.position)


@dataclass
class ImportSummary:
    files: list[ParsedFile] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """Files per kind (835, 277, 999, 837, other ST01 values, 'invalid')."""
        return dict(Counter(f.kind for f in self.files))

    @property
    def adjudications(self) -> list[Adjudication]:
        return [a for f in self.files for a in f.adjudications]

    @property
    def status_events(self) -> list[ClaimStatusChanged]:
        return [e for f in self.files for e in f.status_events]

    @property
    def statuses(self) -> list[ClaimStatusResult]:
        return [s for f in self.files for s in f.statuses]

    @property
    def acks(self) -> list[GroupAck]:
        return [a for f in self.files for a in f.acks]

    @property
    def errors(self) -> list[X12Error]:
        return [e for f in self.files for e in f.errors]

    @property
    def findings(self) -> list[Finding]:
        return [x for f in self.files for x in f.findings]

    def describe(self) -> str:
        """One PHI-free line for logs / the CLI."""
        kinds = ", ".join(f"{k}={v}" for k, v in sorted(self.counts.items()))
        return (f"files={len(self.files)} ({kinds}) adjudications={len(self.adjudications)} "
                f"statuses={len(self.statuses)} acks={len(self.acks)} errors={len(self.errors)} findings={len(self.findings)}")


def iter_files(path: Path) -> list[Path]:
    path = Path(path)
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts))


def import_path(path: Path | str, received_at: datetime | None = None,
                claims_for_set: Callable[[str, str], list[str]] | None = None, strict: bool = False) -> ImportSummary:
    """Import one file or every file under a folder (hidden files skipped)."""
    received_at = received_at or utcnow()
    root = Path(path)
    summary = ImportSummary()
    for f in iter_files(root):
        source = str(f.relative_to(root)) if root.is_dir() else f.name
        try:
            data = f.read_bytes()
        except OSError as exc:
            pf = ParsedFile(source=source)
            pf.errors.append(X12Error("file", f"cannot read file: {exc.strerror}", None, b"", source))
            summary.files.append(pf)
            continue
        summary.files.append(parse_bytes(data, source, received_at, claims_for_set, strict))
    return summary
