"""Scrubber reference data: compact, effective-dated tables and importers (pure Python).

Every dataset has a *normalized* on-disk layout (small CSV files written by the importers
or shipped as STARTER sets in ``services/scrubber/data``) and an in-memory table built for
O(1) lookups at scrub time:

* ``PtpTable``: NCCI procedure-to-procedure pairs. Codes are packed into ints
  (``int(code, 36)``; every CPT/HCPCS code is 5 alphanumerics, < 2**26) and rows are kept
  in two flat ``array('q')`` columns sorted by (column 1, column 2, effective date). A dict
  maps a column-1 code to its slice, so a lookup is one hash probe plus a bisect inside a
  short slice; 2 million pairs take ~16 bytes each instead of a dict of objects.
* ``MueTable``, ``HcpcsTable``, ``AddOnTable``, ``ProcedureTable``, ``ModifierTable``,
  ``MceTable``, ``CodeList`` (CARC/RARC), ``PosTable``: dicts keyed by code.
* ``PayerRules``: ``payers.yaml``.
* ``IcdCatalog``: ICD-10-CM code sets per fiscal year (the PyPI package ``simple-icd-10-cm``
  provides the current one; other years can be registered).

Importers (``import_ptp`` ...) read the official CMS / X12 layouts and return a table; the
``write_*`` functions store the normalized layout in an output folder, together with a
``manifest.json`` that records dataset name, version, source file, sha256 and row count.
Nothing here logs or touches PHI."""

from __future__ import annotations

import calendar
import csv
import hashlib
import io
import json
import re
import zipfile
from array import array
from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable, Iterator, Protocol

import yaml

STARTER_DIR = Path(__file__).resolve().parent / "data"
MANIFEST = "manifest.json"
CODE_RE = re.compile(r"^[0-9A-Z]{5}$")
_DATE_BITS = 20  # date.toordinal() < 2**20 until year 2870
_DATE_MASK = (1 << _DATE_BITS) - 1
_CODE_BITS = 26  # 36**5 < 2**26


class RefDataError(ValueError):
    """A reference file is not in the expected layout (message carries no PHI)."""


# --- small helpers ----------------------------------------------------------------------


def pack_code(code: str) -> int:
    """Pack a 5-character CPT/HCPCS code into an int (< 2**26)."""
    if not CODE_RE.match(code):
        raise RefDataError(f"not a 5-character procedure code: {code!r}")
    return int(code, 36)


def unpack_code(value: int) -> str:
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = []
    for _ in range(5):
        value, r = divmod(value, 36)
        out.append(digits[r])
    return "".join(reversed(out))


_date_cache: dict[str, int] = {}


def _ordinal(text: str) -> int:
    """ISO (YYYY-MM-DD) or CMS (YYYYMMDD) date -> ordinal; '', '*' -> 0 (open)."""
    text = text.strip()
    got = _date_cache.get(text)
    if got is not None:
        return got
    if text in ("", "*"):
        value = 0
    elif len(text) == 8 and text.isdigit():
        value = date(int(text[:4]), int(text[4:6]), int(text[6:])).toordinal()
    else:
        value = date.fromisoformat(text).toordinal()
    if len(_date_cache) < 100_000:
        _date_cache[text] = value
    return value


def _iso(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat() if ordinal else ""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fiscal_year(day: date) -> int:
    """US federal fiscal year (ICD-10-CM / MCE release year): 1 Oct starts the next FY."""
    return day.year + 1 if day.month >= 10 else day.year


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    version: str
    source: str = "starter"
    sha256: str | None = None
    rows: int = 0
    imported_at: str | None = None

    @property
    def is_starter(self) -> bool:
        return self.source == "starter"


def _starter_info(name: str, rows: int) -> DatasetInfo:
    return DatasetInfo(name=name, version="starter", source="starter", rows=rows)


# --- NCCI PTP ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PtpEdit:
    """One PTP row as it applies to a date of service."""

    column1: str
    column2: str
    effective: date
    deletion: date | None
    modifier_indicator: int
    rationale: str

    def source_row(self) -> dict[str, str]:
        return {
            "column1": self.column1, "column2": self.column2, "effective": self.effective.isoformat(),
            "deletion": self.deletion.isoformat() if self.deletion else "", "modifier_indicator": str(self.modifier_indicator),
            "rationale": self.rationale,
        }


class PtpTable:
    """NCCI PTP pairs, packed. ``deletion`` is the last date of service the edit applies to
    (inclusive, as CMS files write quarter ends such as 20231231); MI 9 never applies."""

    def __init__(self, info: DatasetInfo, index: dict[int, tuple[int, int]], col2: array, meta: array, rationales: list[str]):
        self.info = info
        self._index = index
        self._col2 = col2
        self._meta = meta
        self.rationales = rationales

    # meta layout: effective (20 bits) | deletion (20 bits) | mi (2 bits) | rationale index (rest)
    @staticmethod
    def _pack_meta(eff: int, dele: int, mi: int, rat: int) -> int:
        return eff | (dele << _DATE_BITS) | ((mi & 3) << 40) | (rat << 42)

    @classmethod
    def build(cls, rows: Iterable[tuple[str, str, int, int, int, str]], info: DatasetInfo) -> "PtpTable":
        """rows: (col1, col2, effective ordinal, deletion ordinal or 0, mi, rationale)."""
        rat_ids: dict[str, int] = {}
        packed: list[int] = []
        append = packed.append
        for c1, c2, eff, dele, mi, rat in rows:
            if mi not in (0, 1, 9):
                raise RefDataError(f"PTP modifier indicator must be 0, 1 or 9, got {mi!r}")
            r = rat_ids.setdefault(rat, len(rat_ids))
            key = (int(c1, 36) << _CODE_BITS) | int(c2, 36)
            append((key << 60) | cls._pack_meta(eff, dele, 3 if mi == 9 else mi, r))
        packed.sort()
        return cls._from_sorted(packed, info, list(rat_ids))

    @classmethod
    def _from_sorted(cls, packed: list[int], info: DatasetInfo, rationales: list[str]) -> "PtpTable":
        col2 = array("q", bytes(8 * len(packed)))
        meta = array("q", bytes(8 * len(packed)))
        index: dict[int, tuple[int, int]] = {}
        meta_mask = (1 << 60) - 1
        code_mask = (1 << _CODE_BITS) - 1
        prev = -1
        start = 0
        for i, v in enumerate(packed):
            key = v >> 60
            c1 = key >> _CODE_BITS
            col2[i] = key & code_mask
            meta[i] = v & meta_mask
            if c1 != prev:
                if prev >= 0:
                    index[prev] = (start, i)
                prev, start = c1, i
        if prev >= 0:
            index[prev] = (start, len(packed))
        info = DatasetInfo(**{**info.__dict__, "rows": len(packed)})
        return cls(info, index, col2, meta, rationales)

    def __len__(self) -> int:
        return len(self._col2)

    def rows_for(self, column1: str, column2: str) -> list[PtpEdit]:
        """All rows for the pair, whatever their dates and MI."""
        try:
            c1, c2 = int(column1, 36), int(column2, 36)
        except ValueError:
            return []
        span = self._index.get(c1)
        if span is None:
            return []
        lo, hi = span
        i = bisect_left(self._col2, c2, lo, hi)
        out = []
        while i < hi and self._col2[i] == c2:
            out.append(self._edit(column1, column2, self._meta[i]))
            i += 1
        return out

    def _edit(self, column1: str, column2: str, m: int) -> PtpEdit:
        eff, dele, mi, rat = m & _DATE_MASK, (m >> _DATE_BITS) & _DATE_MASK, (m >> 40) & 3, m >> 42
        return PtpEdit(column1, column2, date.fromordinal(eff), date.fromordinal(dele) if dele else None,
                       9 if mi == 3 else mi, self.rationales[rat])

    def has_column1(self, column1: str) -> bool:
        try:
            return int(column1, 36) in self._index
        except ValueError:
            return False

    def active(self, column1: str, column2: str, dos: date) -> PtpEdit | None:
        """The edit in force on ``dos`` (effective <= dos <= deletion, MI 0 or 1), else None."""
        try:
            c1 = int(column1, 36)
        except ValueError:
            return None
        span = self._index.get(c1)
        if span is None:
            return None
        try:
            c2 = int(column2, 36)
        except ValueError:
            return None
        lo, hi = span
        col2 = self._col2
        i = bisect_left(col2, c2, lo, hi)
        d = dos.toordinal()
        while i < hi and col2[i] == c2:
            m = self._meta[i]
            eff, dele, mi = m & _DATE_MASK, (m >> _DATE_BITS) & _DATE_MASK, (m >> 40) & 3
            if mi != 3 and eff <= d and (dele == 0 or d <= dele):
                return self._edit(column1, column2, m)
            i += 1
        return None

    def iter_rows(self) -> Iterator[tuple[str, str, int, int, int, str]]:
        for c1, (lo, hi) in self._index.items():
            s1 = unpack_code(c1)
            for i in range(lo, hi):
                m = self._meta[i]
                mi = (m >> 40) & 3
                yield (s1, unpack_code(self._col2[i]), m & _DATE_MASK, (m >> _DATE_BITS) & _DATE_MASK,
                       9 if mi == 3 else mi, self.rationales[m >> 42])


_PTP_ROW = re.compile(r"^[0-9A-Z]{5}\t[0-9A-Z]{5}\t")


def _ptp_sources(path: Path) -> Iterator[tuple[str, io.TextIOBase]]:
    """Yield (name, text stream) for a .txt file, a .zip of them, or a folder of either."""
    if path.is_dir():
        for p in sorted(path.iterdir()):
            if p.suffix.lower() in (".txt", ".zip"):
                yield from _ptp_sources(p)
        return
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as zf:
            for name in sorted(zf.namelist()):
                if name.lower().endswith(".txt"):
                    with zf.open(name) as raw:
                        yield name, io.TextIOWrapper(raw, encoding="latin-1", newline="")
        return
    with path.open(encoding="latin-1", newline="") as f:
        yield path.name, f


def _version_from_name(name: str, pattern: str, fmt) -> str | None:
    m = re.search(pattern, name, re.IGNORECASE)
    return fmt(m) if m else None


def parse_ptp_rows(stream: Iterable[str]) -> Iterator[tuple[str, str, int, int, int, str]]:
    """Rows of an official NCCI PTP tab-delimited file; the header block (copyright line and
    the multi-line column titles) is recognised and skipped."""
    for lineno, line in enumerate(stream, 1):
        line = line.rstrip("\r\n")
        if not _PTP_ROW.match(line):
            if line.strip("\t ") and lineno > 50 and line[:1].isalnum() and "\t" in line:
                raise RefDataError(f"PTP line {lineno}: unexpected layout")
            continue
        parts = line.split("\t")
        if len(parts) < 6:
            raise RefDataError(f"PTP line {lineno}: expected 7 tab-separated columns, got {len(parts)}")
        mi_text = parts[5].strip()
        if mi_text not in ("0", "1", "9"):
            raise RefDataError(f"PTP line {lineno}: modifier indicator {mi_text!r} is not 0, 1 or 9")
        eff = _ordinal(parts[3])
        if eff == 0:
            raise RefDataError(f"PTP line {lineno}: no effective date")
        yield (parts[0], parts[1], eff, _ordinal(parts[4]), int(mi_text), parts[6].strip() if len(parts) > 6 else "")


def import_ptp(path: Path | str | Iterable[Path | str], version: str | None = None) -> PtpTable:
    """Import official NCCI practitioner PTP files (tab-delimited, with header block).

    ``path``: one .txt file, a .zip as downloaded from CMS, a folder, or several of these
    (the quarterly release is split in four files f1..f4)."""
    paths = [Path(path)] if isinstance(path, (str, Path)) else [Path(p) for p in path]
    names: list[str] = []

    def rows():
        for p in paths:
            for name, stream in _ptp_sources(p):
                names.append(name)
                yield from parse_ptp_rows(stream)

    info = DatasetInfo(name="ncci_ptp", version=version or "unknown", source=",".join(str(p) for p in paths),
                       sha256=_sha256(paths[0]) if len(paths) == 1 and paths[0].is_file() else None,
                       imported_at=_now())
    table = PtpTable.build(rows(), info)
    if not names:
        raise RefDataError("no PTP file found")
    if version is None:
        v = _version_from_name(names[0], r"v(\d+)r(\d+)", lambda m: f"v{m.group(1)}r{m.group(2)}")
        table.info = DatasetInfo(**{**table.info.__dict__, "version": v or "unknown"})
    return table


def write_ptp(table: PtpTable, out_dir: Path) -> Path:
    out = Path(out_dir) / "ptp.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["col1", "col2", "effective", "deletion", "mi", "rationale"])
        for c1, c2, eff, dele, mi, rat in table.iter_rows():
            w.writerow([c1, c2, _iso(eff), _iso(dele), mi, rat])
    _update_manifest(out_dir, "ptp", table.info, len(table))
    return out


def load_ptp(path: Path, info: DatasetInfo) -> PtpTable:
    def rows():
        with path.open(newline="") as f:
            r = csv.reader(f)
            header = next(r)
            if header[:5] != ["col1", "col2", "effective", "deletion", "mi"]:
                raise RefDataError(f"{path.name}: not a normalized PTP file")
            for c1, c2, eff, dele, mi, rat in r:
                yield c1, c2, _ordinal(eff), _ordinal(dele), int(mi), rat
    return PtpTable.build(rows(), info)


# --- MUE --------------------------------------------------------------------------------


MAI_TEXT = {1: "line edit", 2: "date of service edit: policy", 3: "date of service edit: clinical"}


@dataclass(frozen=True)
class MueEdit:
    code: str
    value: int
    mai: int
    rationale: str
    effective: date | None

    def source_row(self) -> dict[str, str]:
        return {"code": self.code, "mue_value": str(self.value), "mai": str(self.mai), "mai_meaning": MAI_TEXT.get(self.mai, ""),
                "rationale": self.rationale, "effective": self.effective.isoformat() if self.effective else ""}


class MueTable:
    """MUE values by code; several quarterly versions may be held (effective-dated): the
    version in force on the DOS wins, else the oldest loaded one."""

    def __init__(self, info: DatasetInfo, by_code: dict[str, tuple[tuple[int, int, int, str], ...]]):
        self.info = info
        self._by_code = by_code  # code -> ((effective ordinal, value, mai, rationale), ...) sorted

    @classmethod
    def build(cls, rows: Iterable[tuple[str, int, int, str, int]], info: DatasetInfo) -> "MueTable":
        tmp: dict[str, list[tuple[int, int, int, str]]] = {}
        interned: dict[str, str] = {}
        n = 0
        for code, value, mai, rat, eff in rows:
            if mai not in (1, 2, 3):
                raise RefDataError(f"MUE adjudication indicator must be 1, 2 or 3, got {mai!r}")
            row = (eff, value, mai, interned.setdefault(rat, rat))
            rows_for = tmp.setdefault(code, [])
            if row in rows_for:  # exact repeats (seen in CMS excerpts) collapse
                continue
            if any(r[0] == eff for r in rows_for):
                raise RefDataError(f"MUE code {code}: two different rows for the same effective date")
            rows_for.append(row)
            n += 1
        by_code = {k: tuple(sorted(v)) for k, v in tmp.items()}
        return cls(DatasetInfo(**{**info.__dict__, "rows": n}), by_code)

    def __len__(self) -> int:
        return len(self._by_code)

    def get(self, code: str, dos: date | None = None) -> MueEdit | None:
        rows = self._by_code.get(code)
        if not rows:
            return None
        chosen = rows[0]
        if dos is not None:
            d = dos.toordinal()
            for r in rows:
                if r[0] <= d:
                    chosen = r
        eff, value, mai, rat = chosen
        return MueEdit(code, value, mai, rat, date.fromordinal(eff) if eff else None)

    def iter_rows(self) -> Iterator[tuple[str, int, int, str, int]]:
        for code, rows in self._by_code.items():
            for eff, value, mai, rat in rows:
                yield code, value, mai, rat, eff


def import_mue(path: Path | str, version: str | None = None, effective: date | None = None) -> MueTable:
    """Import the official CMS practitioner MUE CSV (copyright row, quoted multi-line header,
    rows: code, MUE value, 'N <meaning>' adjudication indicator, rationale)."""
    path = Path(path)
    if effective is None:
        m = re.search(r"Eff_(\d{2})-(\d{2})-(\d{4})", path.name)
        effective = date(int(m.group(3)), int(m.group(1)), int(m.group(2))) if m else None
    version = version or (effective.isoformat() if effective else "unknown")
    eff = effective.toordinal() if effective else 0

    def rows():
        with path.open(encoding="utf-8-sig", errors="replace", newline="") as f:
            seen_header = False
            for rec in csv.reader(f):
                if not rec or not rec[0].strip():
                    continue
                first = rec[0].strip()
                if not seen_header:
                    if len(first) < 40 and "CODE" in first.upper() and len(rec) >= 3 and "MUE" in " ".join(rec[1:3]).upper():
                        seen_header = True
                    continue
                if not CODE_RE.match(first):
                    raise RefDataError("MUE row does not start with a 5-character code")
                try:
                    value = int(rec[1].strip())
                    mai = int(rec[2].strip()[:1])
                except (ValueError, IndexError) as exc:
                    raise RefDataError(f"MUE row for {first}: bad value or MAI") from exc
                yield first, value, mai, rec[3].strip() if len(rec) > 3 else "", eff
            if not seen_header:
                raise RefDataError("MUE file has no 'HCPCS/CPT Code' header row")

    info = DatasetInfo(name="mue_practitioner", version=version, source=str(path), sha256=_sha256(path), imported_at=_now())
    return MueTable.build(rows(), info)


def write_mue(table: MueTable, out_dir: Path) -> Path:
    out = Path(out_dir) / "mue.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["code", "value", "mai", "rationale", "effective"])
        for code, value, mai, rat, eff in table.iter_rows():
            w.writerow([code, value, mai, rat, _iso(eff)])
    _update_manifest(out_dir, "mue", table.info, table.info.rows)
    return out


def load_mue(path: Path, info: DatasetInfo) -> MueTable:
    def rows():
        with path.open(newline="") as f:
            for rec in csv.DictReader(f):
                yield rec["code"], int(rec["value"]), int(rec["mai"]), rec["rationale"], _ordinal(rec.get("effective") or "")
    return MueTable.build(rows(), info)


# --- HCPCS Level II ---------------------------------------------------------------------


@dataclass(frozen=True)
class HcpcsEntry:
    code: str
    kind: str  # procedure | modifier
    coverage: str
    added: str
    description: str


class HcpcsTable:
    def __init__(self, info: DatasetInfo, entries: dict[str, HcpcsEntry]):
        self.info = info
        self.entries = entries

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, code: str) -> HcpcsEntry | None:
        return self.entries.get(code)

    def procedures(self) -> int:
        return sum(1 for e in self.entries.values() if e.kind == "procedure")

    def modifiers(self) -> dict[str, HcpcsEntry]:
        return {c: e for c, e in self.entries.items() if e.kind == "modifier"}


def _hcpcs_added(raw: str) -> str:
    """The add date sits in the last 12 characters as YYYYMMDD + 4 more digits."""
    tail = raw.strip()[-12:]
    if len(tail) == 12 and tail.isdigit():
        try:
            return date(int(tail[:4]), int(tail[4:6]), int(tail[6:8])).isoformat()
        except ValueError:
            return ""
    return ""


def import_hcpcs(path: Path | str, version: str | None = None) -> HcpcsTable:
    """Import the HCPCS Level II annual file as a CSV with columns hcpcs, kind,
    long_description, short_description and the coverage / date columns of the release.
    (The official fixed-width layout is not handled yet.)"""
    path = Path(path)
    if version is None:
        m = re.search(r"(\d{4})[_-]?([a-z]{3})", path.name, re.IGNORECASE)
        version = f"{m.group(1)}-{m.group(2).lower()}" if m else "unknown"
    entries: dict[str, HcpcsEntry] = {}
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as f:
        r = csv.reader(f)
        header = [h.strip().lower() for h in next(r)]
        if not header or header[0] not in ("hcpcs", "hcpc", "code"):
            raise RefDataError("HCPCS file: first column must be the HCPCS code")
        col = {h: i for i, h in enumerate(header)}
        cov_i = next((i for h, i in col.items() if h.startswith("raw_col_unknown2") or h in ("cov", "coverage")), None)
        dt_i = next((i for h, i in col.items() if h.startswith("raw_col_unknown4") or h in ("add_dt",)), None)
        for rec in r:
            if not rec or not rec[0].strip():
                continue
            code = rec[0].strip().upper()
            kind = rec[col["kind"]].strip() if "kind" in col else ("modifier" if len(code) == 2 else "procedure")
            if kind not in ("procedure", "modifier"):
                raise RefDataError(f"HCPCS row {code}: unknown kind")
            if kind == "procedure" and not re.match(r"^[A-Z][0-9]{4}$", code):
                raise RefDataError(f"HCPCS row {code}: not a Level II code")
            cov = rec[cov_i].strip()[:1] if cov_i is not None and rec[cov_i].strip()[:1] in "CDIMS" else ""
            added = _hcpcs_added(rec[dt_i]) if dt_i is not None else ""
            desc = rec[col["short_description"]].strip() if "short_description" in col else ""
            entries[code] = HcpcsEntry(code, kind, cov, added, desc)
    info = DatasetInfo(name="hcpcs_level2", version=version, source=str(path), sha256=_sha256(path), rows=len(entries), imported_at=_now())
    return HcpcsTable(info, entries)


def write_hcpcs(table: HcpcsTable, out_dir: Path) -> Path:
    out = Path(out_dir) / "hcpcs.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["code", "kind", "coverage", "added", "description"])
        for e in table.entries.values():
            w.writerow([e.code, e.kind, e.coverage, e.added, e.description])
    _update_manifest(out_dir, "hcpcs", table.info, len(table))
    return out


def load_hcpcs(path: Path, info: DatasetInfo) -> HcpcsTable:
    with path.open(newline="") as f:
        entries = {r["code"]: HcpcsEntry(r["code"], r["kind"], r["coverage"], r["added"], r["description"]) for r in csv.DictReader(f)}
    return HcpcsTable(info, entries)


# --- MCE (age / sex / manifestation) ----------------------------------------------------

MCE_AGE_RANGES = {  # MCE age conflict ranges (inclusive, years)
    "Newborn_Only": (0, 0),
    "Pediatric_Only": (0, 17),
    "Maternity_Only": (12, 55),
    "Adult_Only": (15, 124),
}
MCE_SEX = {"Female_Only": "female", "Male_Only": "male"}
MCE_KNOWN = set(MCE_AGE_RANGES) | set(MCE_SEX) | {
    "Principal_Manifestation", "Principal_Questionable_Admit", "Principal_Unacceptable", "Noncovered_Always",
    "Noncovered_Over60", "Limited_Coverage", "Wrong_Performed", "Noncovered_LOS_96hr",
}


class MceVersion:
    def __init__(self, version: str, fy: int, edits: dict[tuple[str, str], frozenset[str]]):
        self.version = version
        self.fy = fy
        self.edits = edits  # (edit_type, code_type) -> codes (no dots)
        # code -> edit types, diagnosis only (what a professional claim carries)
        by_code: dict[str, list[str]] = {}
        for (etype, ctype), codes in edits.items():
            if ctype == "D":
                for c in codes:
                    by_code.setdefault(c, []).append(etype)
        self.dx_edits = {c: tuple(v) for c, v in by_code.items()}

    def rows(self) -> int:
        return sum(len(v) for v in self.edits.values())


class MceTable:
    """MCE simple code edits by version; ``for_dos`` picks the version for the DOS fiscal
    year, else the nearest older one, else the oldest."""

    def __init__(self, info: DatasetInfo, versions: dict[int, MceVersion]):
        self.info = info
        self.versions = dict(sorted(versions.items()))

    def for_dos(self, dos: date) -> MceVersion | None:
        if not self.versions:
            return None
        fy = fiscal_year(dos)
        chosen = None
        for v_fy, v in self.versions.items():
            if v_fy <= fy:
                chosen = v
        return chosen or next(iter(self.versions.values()))

    def rows(self) -> int:
        return sum(v.rows() for v in self.versions.values())


def _mce_rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(encoding="latin-1", newline="") as f:
        r = csv.DictReader(f, delimiter="\t")
        need = {"MCE_Version", "MCE_Edit_Type", "ICD_Code_Type", "ICD_Code"}
        if not r.fieldnames or not need <= set(r.fieldnames):
            raise RefDataError(f"{path.name}: not an MCE simple code edits file")
        yield from r


def _mce_fy(version: str) -> int:
    """MCE version N is the FY (N + 1983) release (v37 = FY2020)."""
    return int(version) + 1983


def import_mce(path: Path | str | Iterable[Path | str]) -> MceTable:
    """Import MCE simple code edit files (tab-delimited MCE_Version, ICD_Version,
    MCE_Section, MCE_Subsection, MCE_Edit_Type, ICD_Code_Type, ICD_Code, ICD_Desc); a folder
    imports every ``*.txt`` version in it. ICD-9 rows are skipped."""
    paths = [Path(path)] if isinstance(path, (str, Path)) else [Path(p) for p in path]
    files: list[Path] = []
    for p in paths:
        files.extend(sorted(p.glob("*.txt")) if p.is_dir() else [p])
    acc: dict[str, dict[tuple[str, str], set[str]]] = {}
    for fp in files:
        for rec in _mce_rows(fp):
            if rec.get("ICD_Version", "10").strip() != "10":
                continue
            etype = rec["MCE_Edit_Type"].strip()
            if etype not in MCE_KNOWN:
                raise RefDataError(f"{fp.name}: unknown MCE edit type {etype!r}")
            acc.setdefault(rec["MCE_Version"].strip(), {}).setdefault((etype, rec["ICD_Code_Type"].strip()), set()).add(
                rec["ICD_Code"].strip().replace(".", "").upper())
    if not acc:
        raise RefDataError("no MCE rows found")
    versions = {_mce_fy(v): MceVersion(v, _mce_fy(v), {k: frozenset(s) for k, s in e.items()}) for v, e in acc.items()}
    vlist = ",".join(f"v{v.version}" for v in sorted(versions.values(), key=lambda v: v.fy))
    info = DatasetInfo(name="mce_simple_edits", version=vlist, source=",".join(map(str, paths)),
                       sha256=_sha256(files[0]) if len(files) == 1 else None, imported_at=_now())
    t = MceTable(info, versions)
    t.info = DatasetInfo(**{**info.__dict__, "rows": t.rows()})
    return t


def write_mce(table: MceTable, out_dir: Path) -> Path:
    out = Path(out_dir) / "mce.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["version", "fy", "edit_type", "code_type", "code"])
        for v in table.versions.values():
            for (etype, ctype), codes in sorted(v.edits.items()):
                for c in sorted(codes):
                    w.writerow([v.version, v.fy, etype, ctype, c])
    _update_manifest(out_dir, "mce", table.info, table.rows())
    return out


def load_mce(path: Path, info: DatasetInfo) -> MceTable:
    acc: dict[tuple[str, int], dict[tuple[str, str], set[str]]] = {}
    with path.open(newline="") as f:
        for r in csv.DictReader(f):
            acc.setdefault((r["version"], int(r["fy"])), {}).setdefault((r["edit_type"], r["code_type"]), set()).add(r["code"])
    versions = {fy: MceVersion(v, fy, {k: frozenset(s) for k, s in e.items()}) for (v, fy), e in acc.items()}
    return MceTable(info, versions)


# --- CARC / RARC ------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeEntry:
    code: str
    status: str  # current | deactivated
    description: str


class CodeList:
    def __init__(self, info: DatasetInfo, entries: dict[str, CodeEntry]):
        self.info = info
        self.entries = entries

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, code: str) -> CodeEntry | None:
        return self.entries.get(code)

    def is_current(self, code: str) -> bool:
        e = self.entries.get(code)
        return e is not None and e.status == "current"


def _import_code_list(path: Path, name: str, version: str | None) -> CodeList:
    entries: dict[str, CodeEntry] = {}
    with path.open(encoding="utf-8-sig", newline="") as f:
        r = csv.DictReader(f)
        if not r.fieldnames or not {"code", "status", "description"} <= {h.strip().lower() for h in r.fieldnames}:
            raise RefDataError(f"{path.name}: expected columns code,status,description")
        for rec in r:
            rec = {k.strip().lower(): (v or "").strip() for k, v in rec.items()}
            status = rec["status"].lower()
            if status not in ("current", "deactivated"):
                raise RefDataError(f"{name} {rec['code']}: status must be current or deactivated")
            entries[rec["code"]] = CodeEntry(rec["code"], status, rec["description"])
    if version is None:
        prov = path.parent / "carc_rarc_provenance.json"
        version = "unknown"
        if prov.exists():
            try:
                version = json.loads(prov.read_text()).get("retrievedAt", "unknown")
            except (ValueError, OSError):
                pass
    info = DatasetInfo(name=name, version=version, source=str(path), sha256=_sha256(path), rows=len(entries), imported_at=_now())
    return CodeList(info, entries)


def import_carc(path: Path | str, version: str | None = None) -> CodeList:
    """X12 Claim Adjustment Reason Codes as CSV (code, status, description)."""
    return _import_code_list(Path(path), "x12_carc", version)


def import_rarc(path: Path | str, version: str | None = None) -> CodeList:
    """X12 Remittance Advice Remark Codes as CSV (code, status, description)."""
    return _import_code_list(Path(path), "x12_rarc", version)


def write_code_list(table: CodeList, out_dir: Path, key: str) -> Path:
    out = Path(out_dir) / f"{key}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["code", "status", "description"])
        for e in table.entries.values():
            w.writerow([e.code, e.status, e.description])
    _update_manifest(out_dir, key, table.info, len(table))
    return out


def load_code_list(path: Path, info: DatasetInfo) -> CodeList:
    with path.open(newline="") as f:
        entries = {r["code"]: CodeEntry(r["code"], r["status"], r["description"]) for r in csv.DictReader(f)}
    return CodeList(info, entries)


# --- in-house tables: add-on, procedures, modifiers, POS ---------------------------------


class AddOnTable:
    """Add-on code -> (type, primaries with effective/deletion ordinals)."""

    def __init__(self, info: DatasetInfo, rows: dict[str, list[tuple[str, int, int, int]]]):
        self.info = info
        self._rows = rows  # addon -> [(primary or '', type, eff, del)]

    def __len__(self) -> int:
        return len(self._rows)

    def is_addon(self, code: str) -> bool:
        return code in self._rows

    def primaries(self, addon: str, dos: date) -> tuple[int, frozenset[str]] | None:
        rows = self._rows.get(addon)
        if rows is None:
            return None
        d = dos.toordinal()
        live = [r for r in rows if r[2] <= d and (r[3] == 0 or d <= r[3])]
        if not live:
            return None
        return min(r[1] for r in live), frozenset(r[0] for r in live if r[0])


def load_addon(path: Path, info: DatasetInfo) -> AddOnTable:
    rows: dict[str, list[tuple[str, int, int, int]]] = {}
    with path.open(newline="") as f:
        for r in csv.DictReader(f):
            rows.setdefault(r["addon"], []).append((r["primary"], int(r["type"]), _ordinal(r["effective"]), _ordinal(r["deletion"])))
    return AddOnTable(DatasetInfo(**{**info.__dict__, "rows": sum(map(len, rows.values()))}), rows)



# --- NCCI add-on code edits (CMS quarterly AOC file) --------------------------------------


def _norm_header(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _us_or_cms_date(text: str) -> str:
    """CMS AOC dates come as YYYYMMDD, MM/DD/YYYY or ISO; '*' or blank = open."""
    text = text.strip()
    m = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text)
    if m:
        return f"{int(m.group(3)):04d}-{int(m.group(1)):02d}-{int(m.group(2)):02d}"
    return text


def import_addon(path: Path | str, version: str | None = None) -> AddOnTable:
    """Import the CMS NCCI add-on code (AOC) edit file, saved as tab-delimited text or CSV
    (the xlsx distribution saved as CSV/TXT). Columns are found by their header names
    (add-on code, primary code, AOC edit type, AOC edit effective/deletion date), so the
    notes rows CMS puts above the header are skipped. A primary code of 'CCCCC' (type 2/3
    edits without a listed primary) is stored as no specific primary."""
    path = Path(path)
    m = re.search(r"(\d{4})[ _-]?Q([1-4])", path.name, re.IGNORECASE)
    version = version or (f"{m.group(1)}Q{m.group(2)}" if m else "unknown")
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    delimiter = "\t" if text.count("\t") > text.count(",") else ","
    rows: dict[str, list[tuple[str, int, int, int]]] = {}
    cols: dict[str, int] | None = None
    for rec in csv.reader(text.splitlines(), delimiter=delimiter):
        if not rec or not any(c.strip() for c in rec):
            continue
        if cols is None:
            names = [_norm_header(c) for c in rec]
            if "addoncode" in names and "primarycode" in names:
                def find(*cands: str) -> int | None:
                    for cand in cands:
                        if cand in names:
                            return names.index(cand)
                    return None
                cols = {"addon": names.index("addoncode"), "primary": names.index("primarycode")}
                for key, cands in (("type", ("aocedittype", "edittype", "type")),
                                   ("effective", ("aocediteffectivedate", "effectivedate")),
                                   ("deletion", ("aoceditdeletiondate", "deletiondate"))):
                    idx = find(*cands)
                    if idx is None:
                        raise RefDataError(f"add-on file header has no {key} column")
                    cols[key] = idx
            continue
        try:
            addon = rec[cols["addon"]].strip().upper()
            primary = rec[cols["primary"]].strip().upper()
            edit_type = int(rec[cols["type"]].strip())
            eff = _ordinal(_us_or_cms_date(rec[cols["effective"]]))
            dele = _ordinal(_us_or_cms_date(rec[cols["deletion"]])) if cols["deletion"] < len(rec) else 0
        except (IndexError, ValueError) as exc:
            raise RefDataError(f"add-on row {rec[:2]!r}: bad type or date") from exc
        if not CODE_RE.match(addon) or edit_type not in (1, 2, 3):
            raise RefDataError(f"add-on row for {addon!r}: not a 5-character code with edit type 1-3")
        if primary == "CCCCC" or not CODE_RE.match(primary):
            primary = ""
        rows.setdefault(addon, []).append((primary, edit_type, eff, dele))
    if cols is None:
        raise RefDataError("add-on file has no header row with 'Add-on Code' and 'Primary Code'")
    info = DatasetInfo(name="ncci_addon", version=version, source=str(path), sha256=_sha256(path), imported_at=_now(),
                       rows=sum(map(len, rows.values())))
    return AddOnTable(info, rows)


def write_addon(table: AddOnTable, out_dir: Path) -> Path:
    out = Path(out_dir) / "addon.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["addon", "primary", "type", "effective", "deletion"])
        for addon, rows in sorted(table._rows.items()):
            for primary, edit_type, eff, dele in rows:
                w.writerow([addon, primary, edit_type, _iso(eff), _iso(dele)])
    _update_manifest(out_dir, "addon", table.info, table.info.rows)
    return out


@dataclass(frozen=True)
class ProcedureInfo:
    code: str
    code_type: str
    kind: str
    telehealth: bool
    bilateral: bool
    pctc: bool
    min_age: int | None
    max_age: int | None
    sex: str | None
    description: str

    @property
    def is_em(self) -> bool:
        return self.kind in ("em_new", "em_est", "preventive")


class ProcedureTable:
    def __init__(self, info: DatasetInfo, entries: dict[str, ProcedureInfo]):
        self.info = info
        self.entries = entries

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, code: str) -> ProcedureInfo | None:
        return self.entries.get(code)


def load_procedures(path: Path, info: DatasetInfo) -> ProcedureTable:
    def opt(v: str) -> int | None:
        return int(v) if v.strip() else None
    entries = {}
    with path.open(newline="") as f:
        for r in csv.DictReader(f):
            entries[r["code"]] = ProcedureInfo(
                r["code"], r["code_type"], r["kind"], r["telehealth"] == "Y", r["bilateral"] == "Y", r["pctc"] == "Y",
                opt(r["min_age"]), opt(r["max_age"]), {"F": "female", "M": "male"}.get(r["sex"].strip()), r["description"])
    return ProcedureTable(DatasetInfo(**{**info.__dict__, "rows": len(entries)}), entries)


class ModifierTable:
    def __init__(self, info: DatasetInfo, groups: dict[str, str]):
        self.info = info
        self.groups = groups  # modifier -> group (ncci_anatomic, ncci_global, ncci_other, pctc, telehealth, ...)

    def __contains__(self, modifier: str) -> bool:
        return modifier in self.groups

    def group(self, modifier: str) -> str | None:
        return self.groups.get(modifier)

    def with_hcpcs(self, hcpcs: HcpcsTable | None) -> "ModifierTable":
        if hcpcs is None:
            return self
        extra = {m: "hcpcs" for m in hcpcs.modifiers() if m not in self.groups}
        return ModifierTable(self.info, {**self.groups, **extra})


def load_modifiers(path: Path, info: DatasetInfo) -> ModifierTable:
    with path.open(newline="") as f:
        groups = {r["modifier"]: r["group"] for r in csv.DictReader(f)}
    return ModifierTable(DatasetInfo(**{**info.__dict__, "rows": len(groups)}), groups)


class PosTable:
    def __init__(self, info: DatasetInfo, names: dict[str, str], telehealth: frozenset[str]):
        self.info = info
        self.names = names
        self.telehealth = telehealth

    def __contains__(self, code: str) -> bool:
        return code in self.names


def load_pos(path: Path, info: DatasetInfo) -> PosTable:
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return PosTable(DatasetInfo(**{**info.__dict__, "rows": len(rows)}), {r["code"]: r["name"] for r in rows},
                    frozenset(r["code"] for r in rows if r["telehealth"] == "Y"))


# --- payer rules ------------------------------------------------------------------------


@dataclass(frozen=True)
class PayerRule:
    payer_id: str
    name: str
    timely_months: int | None
    timely_days: int | None
    warn_days: int
    required: tuple[str, ...]
    modifiers_not_accepted: frozenset[str]
    telehealth_pos: frozenset[str]
    modifier_95: str  # required | optional | not_accepted

    def filing_deadline(self, dos: date) -> date:
        if self.timely_months is not None:
            m = dos.month - 1 + self.timely_months
            y, m = dos.year + m // 12, m % 12 + 1
            return date(y, m, min(dos.day, calendar.monthrange(y, m)[1]))
        return dos + timedelta(days=self.timely_days or 365)

    def source_row(self) -> dict[str, str]:
        limit = f"{self.timely_months} months" if self.timely_months is not None else f"{self.timely_days} days"
        return {"payer_id": self.payer_id, "timely_filing": limit}


class PayerRules:
    """Rules by payer id; a payer id not listed falls back to the rules of its payer TYPE
    (``payer_types``: medicare / medicaid / commercial / tricare / ..., taken from the
    claim's plan type), then to ``default``. A listed payer names its ``type``; what it
    does not set itself (e.g. timely filing) comes from that type."""

    def __init__(self, info: DatasetInfo, default: PayerRule, payers: dict[str, PayerRule],
                 types: dict[str, PayerRule] | None = None):
        self.info = info
        self.default = default
        self.payers = payers
        self.types = types or {}

    def for_payer(self, payer_id: str | None, plan_type: str | None = None) -> PayerRule:
        rule = self.payers.get(payer_id or "")
        if rule is not None:
            return rule
        return self.types.get(plan_type or "", self.default)


def _payer_rule(pid: str, raw: dict, base: dict | None = None) -> PayerRule:
    if base:
        raw = {**base, **{k: v for k, v in raw.items() if v is not None}}
    tf = raw.get("timely_filing") or {}
    th = raw.get("telehealth") or {}
    m95 = th.get("modifier_95", "optional")
    if m95 not in ("required", "optional", "not_accepted"):
        raise RefDataError(f"payer {pid}: telehealth.modifier_95 must be required, optional or not_accepted")
    if "months" not in tf and "days" not in tf:
        raise RefDataError(f"payer {pid}: timely_filing needs months or days")
    return PayerRule(pid, raw.get("name", pid), tf.get("months"), tf.get("days"), int(tf.get("warn_days", 0)),
                     tuple(raw.get("required") or ()), frozenset(raw.get("modifiers_not_accepted") or ()),
                     frozenset(str(p).zfill(2) for p in th.get("pos", ["02", "10"])), m95)


def load_payers(path: Path) -> PayerRules:
    raw = yaml.safe_load(path.read_text())
    default_raw = raw.get("default") or {"timely_filing": {"days": 365}}
    default = _payer_rule("*", default_raw)
    types_raw = {str(t): {**default_raw, **(body or {})} for t, body in (raw.get("payer_types") or {}).items()}
    types = {t: _payer_rule(f"type:{t}", body) for t, body in types_raw.items()}
    payers = {}
    for pid, body in (raw.get("payers") or {}).items():
        body = body or {}
        ptype = body.get("type")
        if ptype is not None and str(ptype) not in types_raw:
            raise RefDataError(f"payer {pid}: type {ptype!r} is not one of payer_types {sorted(types_raw)}")
        payers[str(pid)] = _payer_rule(str(pid), body, types_raw.get(str(ptype)) if ptype else default_raw)
    return PayerRules(DatasetInfo("payer_rules", "file", str(path), _sha256(path), len(payers)), default, payers, types)


# --- ICD-10-CM --------------------------------------------------------------------------


class DiagnosisCodeSet(Protocol):
    """One fiscal year's ICD-10-CM code set. Codes are compared without the dot."""

    version: str

    def exists(self, code: str) -> bool: ...

    def is_billable(self, code: str) -> bool: ...


class FrozenDiagnosisCodeSet:
    """A code set held as two frozensets (codes without dots): O(1) lookups."""

    def __init__(self, version: str, codes: Iterable[str], billable: Iterable[str]):
        self.version = version
        self.codes = frozenset(codes)
        self.billable = frozenset(billable)

    def exists(self, code: str) -> bool:
        return code.replace(".", "").upper() in self.codes

    def is_billable(self, code: str) -> bool:
        return code.replace(".", "").upper() in self.billable


def simple_icd10cm_code_set() -> FrozenDiagnosisCodeSet:
    """The current fiscal year's ICD-10-CM from the PyPI package ``simple-icd-10-cm``."""
    import importlib.metadata

    import simple_icd_10_cm as cm

    codes = [c for c in cm.get_all_codes(False) if cm.is_category_or_subcategory(c)]
    billable = [c for c in codes if cm.is_leaf(c)]
    ver = importlib.metadata.version("simple-icd-10-cm")
    return FrozenDiagnosisCodeSet(f"simple-icd-10-cm {ver} (FY2026)", codes, billable)


SIMPLE_ICD10CM_FY = 2026
_ICD_FILE_RE = re.compile(r"^icd10cm_fy(\d{4})\.csv$")


def import_icd10cm_order(path: Path | str, fy: int, version: str | None = None) -> FrozenDiagnosisCodeSet:
    """CMS ICD-10-CM order file (``icd10cm_order_YYYY.txt``, fixed width: order number 1-5,
    code 7-13, header flag 15 (0 header, 1 billable), descriptions after)."""
    codes: list[str] = []
    billable: list[str] = []
    with Path(path).open(encoding="latin-1") as f:
        for n, ln in enumerate(f, 1):
            if not ln.strip():
                continue
            code, flag = ln[6:13].strip(), ln[14:15]
            if not re.match(r"^[A-Z][0-9A-Z][0-9A-Z]{1,5}$", code) or flag not in ("0", "1"):
                raise RefDataError(f"ICD-10-CM order file line {n}: unexpected layout")
            codes.append(code)
            if flag == "1":
                billable.append(code)
    return FrozenDiagnosisCodeSet(version or f"CMS ICD-10-CM FY{fy}", codes, billable)


def write_icd10cm(code_set: FrozenDiagnosisCodeSet, out_dir: Path, fy: int) -> Path:
    """Normalized code set ``icd10cm_fy{fy}.csv`` (code, billable Y/N): loading it does not
    need the simple-icd-10-cm package in memory (~170 MB less RSS, ~2 s faster start)."""
    out = Path(out_dir) / f"icd10cm_fy{fy}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["code", "billable"])
        for c in sorted(code_set.codes):
            w.writerow([c, "Y" if c in code_set.billable else "N"])
    info = DatasetInfo(name="icd10cm", version=code_set.version, source=f"fy{fy}", rows=len(code_set.codes), imported_at=_now())
    _update_manifest(out_dir, f"icd10cm_fy{fy}", info, len(code_set.codes))
    return out


def load_icd10cm_dir(directory: Path) -> dict[int, FrozenDiagnosisCodeSet]:
    """Every ``icd10cm_fy*.csv`` in ``directory``, by fiscal year."""
    manifest = read_manifest(directory)
    out: dict[int, FrozenDiagnosisCodeSet] = {}
    for p in sorted(Path(directory).glob("icd10cm_fy*.csv")):
        m = _ICD_FILE_RE.match(p.name)
        if not m:
            continue
        fy = int(m.group(1))
        codes, billable = [], []
        with p.open(newline="") as f:
            r = csv.reader(f)
            next(r)
            for code, flag in r:
                codes.append(code)
                if flag == "Y":
                    billable.append(code)
        info = manifest.get(f"icd10cm_fy{fy}")
        out[fy] = FrozenDiagnosisCodeSet(info.version if info else f"ICD-10-CM FY{fy}", codes, billable)
    return out


class IcdCatalog:
    """ICD-10-CM code sets by fiscal year. ``for_dos`` returns the set for the DOS fiscal
    year; when that year is not registered and ``strict`` is false, the nearest registered
    year (older first) stands in and ``exact`` is False so a finding can say so."""

    def __init__(self, sets: dict[int, DiagnosisCodeSet] | None = None, strict: bool = False):
        self.sets: dict[int, DiagnosisCodeSet] = dict(sets or {})
        self.strict = strict
        self.catalogue = None  # the coder's effective-dated catalogue, when shared

    @classmethod
    def from_catalogue(cls, catalogue) -> "IcdCatalog":
        """Judge every date of service exactly as the coder does: the shared
        :class:`services.coder.catalogue.CodeSetCatalogue` picks the set (its own fiscal
        year, provisional after the newest year, none for a year that is not loaded)."""
        out = cls(catalogue.sets, strict=True)
        out.catalogue = catalogue
        return out

    def register(self, fy: int, code_set: DiagnosisCodeSet) -> None:
        self.sets[fy] = code_set
        self.catalogue = None  # a set registered by hand: the plain per-year lookup applies

    def problem(self, dos: date) -> str | None:
        """Why no code set may judge ``dos`` (None when one may)."""
        if self.catalogue is not None:
            return self.catalogue.for_dos(dos).problem
        return None if self.for_dos(dos)[0] is not None else f"no ICD-10-CM code set loaded for fiscal year {fiscal_year(dos)}"

    def for_dos(self, dos: date) -> tuple[DiagnosisCodeSet | None, bool]:
        if self.catalogue is not None:
            choice = self.catalogue.for_dos(dos)
            return choice.code_set, choice.exact
        fy = fiscal_year(dos)
        if fy in self.sets:
            return self.sets[fy], True
        if self.strict or not self.sets:
            return None, False
        older = [y for y in self.sets if y < fy]
        year = max(older) if older else min(self.sets)
        return self.sets[year], False


# --- manifest ---------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def _update_manifest(out_dir: Path, key: str, info: DatasetInfo, rows: int) -> None:
    path = Path(out_dir) / MANIFEST
    data = json.loads(path.read_text()) if path.exists() else {"datasets": {}}
    data["datasets"][key] = {**info.__dict__, "rows": rows}
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_manifest(directory: Path) -> dict[str, DatasetInfo]:
    path = Path(directory) / MANIFEST
    if not path.exists():
        return {}
    raw = json.loads(path.read_text()).get("datasets", {})
    fields = set(DatasetInfo.__dataclass_fields__)
    return {k: DatasetInfo(**{f: v for f, v in body.items() if f in fields}) for k, body in raw.items()}


@dataclass
class RefDataSet:
    """Everything the scrubber loads at start (see ``ScrubReference.load``)."""

    ptp: PtpTable
    mue: MueTable
    addon: AddOnTable
    procedures: ProcedureTable
    modifiers: ModifierTable
    mce: MceTable
    pos: PosTable
    payers: PayerRules
    hcpcs: HcpcsTable | None = None
    carc: CodeList | None = None
    rarc: CodeList | None = None
    sources: dict[str, str] = field(default_factory=dict)


def load_refdata(data_dir: Path | None = None, payers_file: Path | None = None) -> RefDataSet:
    """Normalized files in ``data_dir`` (as written by the importers) win; every dataset not
    found there comes from the STARTER set shipped in ``services/scrubber/data``."""
    manifest = read_manifest(data_dir) if data_dir else {}
    sources: dict[str, str] = {}

    def pick(key: str, normalized: str, starter: str | None) -> tuple[Path | None, DatasetInfo]:
        if data_dir is not None and (Path(data_dir) / normalized).exists():
            sources[key] = "imported"
            info = manifest.get(key) or DatasetInfo(key, "unknown", str(Path(data_dir) / normalized))
            return Path(data_dir) / normalized, info
        if starter is None:
            return None, DatasetInfo(key, "absent", "none")
        sources[key] = "starter"
        return STARTER_DIR / starter, _starter_info(f"starter_{key}", 0)

    p, i = pick("ptp", "ptp.csv", "starter_ptp.csv")
    ptp = load_ptp(p, i)
    p, i = pick("mue", "mue.csv", "starter_mue.csv")
    mue = load_mue(p, i)
    p, i = pick("addon", "addon.csv", "starter_addon.csv")
    addon = load_addon(p, i)
    p, i = pick("procedures", "procedures.csv", "starter_procedures.csv")
    procedures = load_procedures(p, i)
    p, i = pick("mce", "mce.csv", "starter_mce.csv")
    mce = load_mce(p, i)
    p, i = pick("pos", "pos.csv", "pos.csv")
    pos = load_pos(p, i)
    p, i = pick("hcpcs", "hcpcs.csv", None)
    hcpcs = load_hcpcs(p, i) if p else None
    p, i = pick("carc", "carc.csv", None)
    carc = load_code_list(p, i) if p else None
    p, i = pick("rarc", "rarc.csv", None)
    rarc = load_code_list(p, i) if p else None
    p, i = pick("modifiers", "modifiers.csv", "starter_modifiers.csv")
    modifiers = load_modifiers(p, i).with_hcpcs(hcpcs)
    payers_path = payers_file or (Path(data_dir) / "payers.yaml" if data_dir and (Path(data_dir) / "payers.yaml").exists() else STARTER_DIR / "payers.yaml")
    payers = load_payers(payers_path)
    return RefDataSet(ptp, mue, addon, procedures, modifiers, mce, pos, payers, hcpcs, carc, rarc, sources)
