"""Medicare Physician Fee Schedule (PFS) relative value bundle: importer and normalized data.

Reads CMS's RVU bundle (e.g. RVU25D, the CY2025 October release) in its official layouts:

* PPRRVU, fixed-width TXT (record layout in the bundle's RVU25D documentation, "DATA
  RECORD": HCPCS 1-5, modifier 6-7, status 58, work RVU 60-65, ...) or the CSV form (the
  same fields, one column each, under a multi-line header);
* GPCI (Addendum E: MAC, state, locality number, locality name, work/PE/MP GPCI), TXT or CSV;
* the locality/county crosswalk (LOCCO), TXT or CSV.

The normalized output (``write_pfs``) is a folder with one CSV per file and a manifest naming
the dataset, its version, the conversion factor and the sha256 of every source file, so a
price can always say which release it came from. Descriptions (CPT descriptors are AMA
copyright) are not kept: pricing does not need them."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Iterable, Iterator

DATASET = "CMS Medicare Physician Fee Schedule RVU file"
MANIFEST = "manifest.json"

# RVU25D documentation, Attachment A, "STATUS CODE". Only A, R and T carry RVUs used for
# Medicare payment ("Only RVUs associated with status codes of "A", "R", or "T", are used
# for Medicare payment", Status Code field of the data record).
STATUS_MEANINGS: dict[str, str] = {
    "A": "active code, paid separately under the PFS if covered",
    "B": "bundled code: payment is always included in another service; RVUs are not used for payment",
    "C": "contractor priced: the MAC sets the payment case by case",
    "D": "deleted code",
    "E": "excluded from the PFS by regulation",
    "F": "deleted/discontinued code (no grace period)",
    "G": "not valid for Medicare purposes (another code is used; grace period)",
    "H": "deleted modifier: this professional/technical component was deleted",
    "I": "not valid for Medicare purposes (another code is used; no grace period)",
    "J": "anesthesia service: no RVUs and no payment amount under the PFS",
    "M": "measurement code, for reporting only",
    "N": "non-covered service",
    "P": "bundled/excluded: no separate payment under the PFS",
    "R": "restricted coverage: special coverage instructions apply",
    "T": "injection: paid only when no other PFS service is billed the same day by the same provider",
    "X": "statutory exclusion: not paid under the PFS",
}
PAYABLE_STATUSES = frozenset("ART")


class PfsError(ValueError):
    """A PFS source file is missing, malformed or inconsistent."""


def _dec(text: str, where: str) -> Decimal:
    t = text.strip()
    if not t:
        return Decimal("0.00")
    if t.startswith("."):
        t = "0" + t
    try:
        return Decimal(t)
    except InvalidOperation:
        raise PfsError(f"{where}: not a number: {text!r}") from None


def _q2(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


@dataclass(frozen=True, slots=True)
class RvuRow:
    """One PPRRVU data record (a code + modifier), in the RVU file's own terms."""

    hcpcs: str
    modifier: str  # "", "26", "TC" or "53"
    status: str
    not_used_for_medicare: bool  # "+" in the CSV's "NOT USED FOR MEDICARE PAYMENT" / TXT position 59
    work_rvu: Decimal
    nonfac_pe_rvu: Decimal
    nonfac_na: bool  # "NA": rarely or never performed in the non-facility setting
    fac_pe_rvu: Decimal
    fac_na: bool
    mp_rvu: Decimal
    nonfac_total: Decimal
    fac_total: Decimal
    pctc: str  # PC/TC indicator 0-9
    global_days: str  # 000, 010, 090, MMM, XXX, YYY, ZZZ
    pre_op: Decimal
    intra_op: Decimal
    post_op: Decimal
    mult_proc: str  # multiple procedure indicator (modifier 51) 0-7, 9
    bilateral: str  # bilateral surgery indicator (modifier 50) 0-3, 9
    assistant: str  # assistant at surgery indicator (80/81/82/AS) 0-2, 9
    co_surgeon: str  # co-surgeon indicator (modifier 62) 0-2, 9
    team_surgery: str  # team surgery indicator (modifier 66) 0-2, 9
    endo_base: str
    conversion_factor: Decimal
    supervision: str
    calculation_flag: str
    imaging_family: str
    opps_nonfac_pe: Decimal
    opps_fac_pe: Decimal
    opps_mp: Decimal

    @property
    def key(self) -> tuple[str, str]:
        return self.hcpcs, self.modifier

    @property
    def payable(self) -> bool:
        return self.status in PAYABLE_STATUSES

    def source_row(self) -> dict[str, str]:
        return {f.name: _text(getattr(self, f.name)) for f in fields(self)}


def _text(v) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    return str(v)


_KINDS = tuple((f.name, "cf" if f.name == "conversion_factor" else "dec" if f.type == "Decimal" else "bool" if f.type == "bool" else "str")
               for f in fields(RvuRow))
_Q2, _Q4, _ZERO2 = Decimal("0.01"), Decimal("0.0001"), Decimal("0.00")
_TRUE = frozenset(("1", "+", "NA"))


def _row(values: dict[str, str], where: str) -> RvuRow:
    kw = {}
    for name, kind in _KINDS:
        raw = values.get(name, "").strip()
        if kind == "str":
            kw[name] = raw
        elif kind == "bool":
            kw[name] = raw in _TRUE
        elif not raw:
            kw[name] = _ZERO2
        else:
            try:
                d = Decimal("0" + raw if raw[0] == "." else raw)
            except InvalidOperation:
                raise PfsError(f"{where} {name}: not a number: {raw!r}") from None
            kw[name] = d.quantize(_Q4 if kind == "cf" else _Q2)
    row = RvuRow(**kw)
    if len(row.hcpcs) != 5 or not row.hcpcs.isalnum():
        raise PfsError(f"{where}: not a HCPCS code: {row.hcpcs!r}")
    if row.status not in STATUS_MEANINGS:
        raise PfsError(f"{where}: unknown status code {row.status!r}")
    return row


# RVU25D documentation, "DATA RECORD": 1-based inclusive positions of each field.
PPRRVU_TXT_LAYOUT: tuple[tuple[str, int, int], ...] = (
    ("hcpcs", 1, 5), ("modifier", 6, 7), ("status", 58, 58), ("not_used_for_medicare", 59, 59),
    ("work_rvu", 60, 65), ("nonfac_pe_rvu", 67, 72), ("nonfac_na", 73, 74), ("fac_pe_rvu", 76, 81),
    ("fac_na", 82, 83), ("mp_rvu", 85, 89), ("nonfac_total", 91, 96), ("fac_total", 97, 102),
    ("pctc", 103, 103), ("global_days", 104, 106), ("pre_op", 107, 109), ("intra_op", 110, 112),
    ("post_op", 113, 115), ("mult_proc", 116, 116), ("bilateral", 117, 117), ("assistant", 118, 118),
    ("co_surgeon", 119, 119), ("team_surgery", 120, 120), ("endo_base", 128, 132),
    ("conversion_factor", 133, 140), ("supervision", 142, 143), ("calculation_flag", 144, 144),
    ("imaging_family", 146, 147), ("opps_nonfac_pe", 152, 157), ("opps_fac_pe", 159, 164), ("opps_mp", 166, 171),
)
# The CSV form: the same fields, in this column order (its header spans several lines).
PPRRVU_CSV_COLUMNS: tuple[str | None, ...] = (
    "hcpcs", "modifier", None, "status", "not_used_for_medicare", "work_rvu", "nonfac_pe_rvu", "nonfac_na",
    "fac_pe_rvu", "fac_na", "mp_rvu", "nonfac_total", "fac_total", "pctc", "global_days", "pre_op", "intra_op",
    "post_op", "mult_proc", "bilateral", "assistant", "co_surgeon", "team_surgery", "endo_base",
    "conversion_factor", "supervision", "calculation_flag", "imaging_family", "opps_nonfac_pe", "opps_fac_pe", "opps_mp",
)


def parse_pprrvu_txt(lines: Iterable[str]) -> Iterator[RvuRow]:
    for n, line in enumerate(lines, 1):
        line = line.rstrip("\r\n")
        if not line.strip() or line.startswith("HDR"):
            continue
        if len(line) < 147:
            raise PfsError(f"PPRRVU TXT line {n}: {len(line)} characters, the layout needs at least 147")
        yield _row({name: line[a - 1:b] for name, a, b in PPRRVU_TXT_LAYOUT}, f"PPRRVU TXT line {n}")


def parse_pprrvu_csv(lines: Iterable[str]) -> Iterator[RvuRow]:
    header_seen = False
    for n, rec in enumerate(csv.reader(lines), 1):
        if not header_seen:
            header_seen = len(rec) > 1 and rec[0].strip().upper() == "HCPCS" and rec[1].strip().upper() == "MOD"
            continue
        if not rec or not rec[0].strip():
            continue
        if len(rec) < len(PPRRVU_CSV_COLUMNS):
            raise PfsError(f"PPRRVU CSV line {n}: {len(rec)} columns, expected {len(PPRRVU_CSV_COLUMNS)}")
        yield _row({name: rec[i] for i, name in enumerate(PPRRVU_CSV_COLUMNS) if name}, f"PPRRVU CSV line {n}")
    if not header_seen:
        raise PfsError("PPRRVU CSV: no HCPCS,MOD header row")


@dataclass(frozen=True, slots=True)
class Gpci:
    """A Medicare locality's geographic practice cost indices (Addendum E)."""

    mac: str
    state: str  # postal abbreviation
    locality: str  # two digits
    name: str
    work: Decimal
    pe: Decimal
    mp: Decimal

    @property
    def key(self) -> str:
        """The locality as ``STATE-NN`` (e.g. ``CA-18``): unique across the GPCI file."""
        return f"{self.state}-{self.locality}"


_GPCI_TXT = re.compile(r"^\s*(\d{5})\s+([A-Z]{2})\s+(\d{1,2})\s+(.+?)\s+(\d+\.\d+)\s+(\d+\.\d+)\s+(\d+\.\d+)\s*$")


def parse_gpci_txt(lines: Iterable[str]) -> Iterator[Gpci]:
    for line in lines:
        m = _GPCI_TXT.match(line.rstrip("\r\n"))
        if m:
            mac, st, loc, name, w, pe, mp = m.groups()
            yield Gpci(mac, st, loc.zfill(2), name.strip(), Decimal(w), Decimal(pe), Decimal(mp))


def parse_gpci_csv(lines: Iterable[str]) -> Iterator[Gpci]:
    cols: dict[str, int] | None = None
    for rec in csv.reader(lines):
        if cols is None:
            low = [c.strip().lower() for c in rec]
            if "locality number" in low:
                find = lambda word: next(i for i, c in enumerate(low) if word in c)  # noqa: E731
                cols = {"mac": 0, "state": low.index("state"), "locality": low.index("locality number"),
                        "name": low.index("locality name"), "work": find("pw gpci"), "pe": find("pe gpci"), "mp": find("mp gpci")}
            continue
        if len(rec) <= max(cols.values()) or not re.fullmatch(r"\d{1,5}", rec[cols["mac"]].strip()):
            continue
        g = lambda k: rec[cols[k]].strip()  # noqa: E731
        yield Gpci(g("mac").zfill(5), g("state"), g("locality").zfill(2), g("name"),
                   _dec(g("work"), "GPCI"), _dec(g("pe"), "GPCI"), _dec(g("mp"), "GPCI"))
    if cols is None:
        raise PfsError("GPCI CSV: no header row with 'Locality Number'")


@dataclass(frozen=True, slots=True)
class LocalityArea:
    """One row of the locality/county crosswalk (LOCCO)."""

    mac: str
    locality: str
    state_name: str
    area: str
    counties: str


def parse_locco_csv(lines: Iterable[str]) -> Iterator[LocalityArea]:
    header_seen, state = False, ""
    for rec in csv.reader(lines):
        if not header_seen:
            header_seen = bool(rec) and "locality number" in [c.strip().lower() for c in rec]
            continue
        if len(rec) < 5 or not re.fullmatch(r"\d{1,5}", rec[0].strip()):
            continue
        state = rec[2].strip() or state
        yield LocalityArea(rec[0].strip().zfill(5), rec[1].strip().zfill(2), state, rec[3].strip(), rec[4].strip())


def parse_locco_txt(lines: Iterable[str]) -> Iterator[LocalityArea]:
    """Fields are separated by runs of blanks (MAC, locality, state, fee schedule area,
    counties); a row without a state continues the state above it, as in the file."""
    state = ""
    for line in lines:
        line = line.strip()
        if not re.match(r"\d{5}\s", line):
            continue
        parts = re.split(r"\s{2,}", line)
        if len(parts) == 4:
            parts.insert(2, "")
        if len(parts) != 5:
            raise PfsError(f"LOCCO TXT: cannot split {len(parts)} fields from a data row")
        state = parts[2] or state
        yield LocalityArea(parts[0], parts[1].zfill(2), state, parts[3], parts[4])


@dataclass(frozen=True)
class PfsInfo:
    dataset: str
    version: str  # e.g. RVU25D
    year: int
    conversion_factor: Decimal
    sources: dict[str, str] = field(default_factory=dict)  # file name -> sha256
    imported_at: str = ""

    @property
    def label(self) -> str:
        return f"{self.version} (CY{self.year})"


class FeeSchedule:
    """A loaded PFS release: RVU rows by (code, modifier), GPCIs by ``STATE-NN``."""

    def __init__(self, info: PfsInfo, rows: Iterable[RvuRow], gpcis: Iterable[Gpci], areas: Iterable[LocalityArea] = ()):
        self.info = info
        self.rows: dict[tuple[str, str], RvuRow] = {}
        for r in rows:
            if r.key in self.rows:
                raise PfsError(f"PPRRVU: duplicate row {r.hcpcs} {r.modifier or '(no modifier)'}")
            self.rows[r.key] = r
        self.gpcis: dict[str, Gpci] = {}
        for g in gpcis:
            if g.key in self.gpcis:
                raise PfsError(f"GPCI: duplicate locality {g.key}")
            self.gpcis[g.key] = g
        self.areas: list[LocalityArea] = list(areas)

    def row(self, code: str, modifier: str = "") -> RvuRow | None:
        return self.rows.get((code.upper(), modifier.upper()))

    def gpci(self, locality: str) -> Gpci | None:
        return self.gpcis.get(locality.upper())

    def __len__(self) -> int:
        return len(self.rows)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_text(path: Path) -> list[str]:
    # CMS files are plain ASCII; latin-1 never fails on a stray byte (reported, not guessed).
    return path.read_text(encoding="latin-1").splitlines()


def _one(directory: Path, pattern: str) -> Path | None:
    found = sorted(p for p in directory.iterdir() if re.fullmatch(pattern, p.name, re.IGNORECASE))
    return found[0] if found else None


def _version_of(directory: Path) -> str:
    m = re.search(r"rvu(\d{2}[a-z]{1,2})", directory.name, re.IGNORECASE)
    return f"RVU{m.group(1).upper()}" if m else directory.name


def import_pfs(directory: Path | str, version: str | None = None, prefer: str = "txt") -> FeeSchedule:
    """Import an unpacked RVU bundle folder. Each of PPRRVU, GPCI and LOCCO is read from its
    TXT or CSV form (``prefer`` picks when both are present); when PPRRVU comes in both forms
    they must give the same normalized rows, or the import fails."""
    d = Path(directory)
    if not d.is_dir():
        raise PfsError(f"{d}: not a folder")
    rvu_txt, rvu_csv = _one(d, r"PPRRVU\d*.*\.txt"), _one(d, r"PPRRVU\d*.*\.csv")
    gpci_txt, gpci_csv = _one(d, r"GPCI\d{4}.*\.(txt|prn)"), _one(d, r"GPCI\d{4}.*\.csv")
    loc_txt, loc_csv = _one(d, r"\d{2}LOCCO.*\.(txt|prn)"), _one(d, r"\d{2}LOCCO.*\.csv")
    if not (rvu_txt or rvu_csv):
        raise PfsError(f"{d}: no PPRRVU .txt or .csv file")
    if not (gpci_txt or gpci_csv):
        raise PfsError(f"{d}: no GPCI file")
    sources: dict[str, str] = {}
    txt_rows = list(parse_pprrvu_txt(_read_text(rvu_txt))) if rvu_txt else None
    csv_rows = list(parse_pprrvu_csv(_read_text(rvu_csv))) if rvu_csv else None
    if txt_rows is not None and csv_rows is not None:
        if txt_rows != csv_rows:
            diff = next((a.key for a, b in zip(txt_rows, csv_rows) if a != b), None)
            raise PfsError(f"PPRRVU TXT and CSV disagree ({len(txt_rows)} vs {len(csv_rows)} rows; first difference at {diff})")
    rows = (txt_rows if prefer == "txt" and txt_rows is not None else csv_rows) or txt_rows or []
    for p in (rvu_txt, rvu_csv):
        if p:
            sources[p.name] = _sha256(p)
    gpath = gpci_txt if (prefer == "txt" and gpci_txt) or not gpci_csv else gpci_csv
    gpcis = list((parse_gpci_txt if gpath.suffix.lower() in (".txt", ".prn") else parse_gpci_csv)(_read_text(gpath)))
    sources[gpath.name] = _sha256(gpath)
    areas: list[LocalityArea] = []
    # LOCCO: the CSV keeps the full county lists (the TXT truncates long ones), so it wins.
    lpath = loc_csv or loc_txt
    if lpath:
        areas = list((parse_locco_txt if lpath.suffix.lower() in (".txt", ".prn") else parse_locco_csv)(_read_text(lpath)))
        sources[lpath.name] = _sha256(lpath)
    cfs = {r.conversion_factor for r in rows if r.conversion_factor > 0}
    if len(cfs) != 1:
        raise PfsError(f"PPRRVU: expected one conversion factor, found {sorted(cfs)}")
    ver = version or _version_of(d)
    m = re.search(r"(\d{2})", ver)
    year = 2000 + int(m.group(1)) if m else datetime.now(timezone.utc).year
    info = PfsInfo(DATASET, ver, year, cfs.pop(), sources, datetime.now(timezone.utc).isoformat(timespec="seconds"))
    return FeeSchedule(info, rows, gpcis, areas)


# --- normalized form ----------------------------------------------------------------------

_RVU_FIELDS = [f.name for f in fields(RvuRow)]
_GPCI_FIELDS = [f.name for f in fields(Gpci)]
_AREA_FIELDS = [f.name for f in fields(LocalityArea)]


def _write_csv(path: Path, header: list[str], rows: Iterable[Iterable[str]]) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def write_pfs(fs: FeeSchedule, out_dir: Path | str) -> Path:
    """Write ``fs`` as ``OUT/pfs/<version>/`` (pprrvu.csv, gpci.csv, localities.csv, manifest.json)."""
    out = Path(out_dir) / "pfs" / fs.info.version
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(out / "pprrvu.csv", _RVU_FIELDS, ([_text(getattr(r, n)) for n in _RVU_FIELDS] for r in fs.rows.values()))
    _write_csv(out / "gpci.csv", _GPCI_FIELDS, ([_text(getattr(g, n)) for n in _GPCI_FIELDS] for g in fs.gpcis.values()))
    _write_csv(out / "localities.csv", _AREA_FIELDS, ([getattr(a, n) for n in _AREA_FIELDS] for a in fs.areas))
    manifest = {**asdict(fs.info), "conversion_factor": str(fs.info.conversion_factor),
                "rows": {"pprrvu": len(fs.rows), "gpci": len(fs.gpcis), "localities": len(fs.areas)}}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return out


def load_pfs(directory: Path | str) -> FeeSchedule:
    """Load a normalized release folder written by ``write_pfs`` (``.../pfs/<version>``), or the
    newest release under a refdata folder (``.../pfs``'s parent)."""
    d = Path(directory)
    if not (d / MANIFEST).exists():
        base = d / "pfs" if (d / "pfs").is_dir() else d
        releases = sorted(p for p in base.iterdir() if (p / MANIFEST).exists()) if base.is_dir() else []
        if not releases:
            raise PfsError(f"{d}: no imported PFS release (run `claimflow refdata import pfs`)")
        d = releases[-1]
    raw = json.loads((d / MANIFEST).read_text())
    info = PfsInfo(raw["dataset"], raw["version"], int(raw["year"]), Decimal(raw["conversion_factor"]),
                   dict(raw.get("sources", {})), raw.get("imported_at", ""))

    def recs(name: str) -> Iterator[dict[str, str]]:
        with (d / name).open(newline="") as fh:
            yield from csv.DictReader(fh)

    rows = (_row(r, f"{d.name}/pprrvu.csv") for r in recs("pprrvu.csv"))
    gpcis = (Gpci(r["mac"], r["state"], r["locality"], r["name"], Decimal(r["work"]), Decimal(r["pe"]), Decimal(r["mp"]))
             for r in recs("gpci.csv"))
    areas = (LocalityArea(**r) for r in recs("localities.csv")) if (d / "localities.csv").exists() else ()
    return FeeSchedule(info, rows, gpcis, areas)


def normalized_bytes(fs: FeeSchedule) -> bytes:
    """The normalized PPRRVU rows as CSV bytes (for comparing two imports)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for r in fs.rows.values():
        w.writerow([_text(getattr(r, n)) for n in _RVU_FIELDS])
    return buf.getvalue().encode()
