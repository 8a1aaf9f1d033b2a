"""Code formats shared by the coder and the scrubber (syntax only: whether a code exists,
and for which dates, is the reference data's business).

- CPT (AMA): five characters. Category I codes are five digits; four digits followed by
  ``F`` are Category II (performance measurement), ``T`` Category III (emerging technology),
  ``U`` Proprietary Laboratory Analyses and ``M`` Multianalyte Assays with Algorithmic
  Analyses (MAAA administrative codes, CPT Appendix O). ``M`` codes are billable CPT codes,
  so the pattern allows ``[0-9FMTU]`` as the fifth character (the coder used to reject them),
  and ``A``: CPT's vaccine administration codes (0001A, 0002A, ...).
- HCPCS Level II (CMS): a letter ``A``-``V`` and four digits.
- Modifiers (CPT and HCPCS, SV101-3..6 on the 837P): two alphanumeric characters.
- ICD-10-CM (CDC/NCHS): a letter, an alphanumeric (FY2026 added the QA0 category, so the
  second character is no longer always a digit), an alphanumeric, then optionally a decimal point
  (which claims omit: HI01-2 carries the code without it) and one to four more characters.
"""

from __future__ import annotations

import re

CPT_RE = re.compile(r"^[0-9]{4}[0-9AFMTU]$")
HCPCS_RE = re.compile(r"^[A-V][0-9]{4}$")
MODIFIER_RE = re.compile(r"^[0-9A-Z]{2}$")
ICD10_RE = re.compile(r"^[A-Z][0-9A-Z][0-9A-Z](\.?[0-9A-Z]{1,4})?$")


def is_cpt(code: str) -> bool:
    return bool(CPT_RE.match(code))


def is_hcpcs(code: str) -> bool:
    return bool(HCPCS_RE.match(code))


def is_procedure_code(code: str) -> bool:
    """A CPT or HCPCS Level II code (SV101-2 of an 837P professional service line)."""
    return is_cpt(code) or is_hcpcs(code)
