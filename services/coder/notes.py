"""Facts the coder reads from the encounter's free-text note (pure; the text is never logged).

Only narrow, stated phrases count, and a negated or staff-only statement never does:

* **Vaccine counselling by the physician/QHP** (CPT 90460/90461 need face-to-face
  counselling by a physician or other qualified health care professional):
  a sentence with ``counsel(l)ed`` / ``counsel(l)ing`` and a vaccine word (vaccine,
  vaccination, immunization, shot, VIS, "risks and benefits"), not negated (no, not,
  without, declined, refused) and not done only by staff (nurse, RN, LPN, MA, medical
  assistant, staff, technician).
* **Dose number of a vaccine given today** (for the COVID-19 product- and dose-specific
  administration codes): "first/second/third dose", "1st/2nd/3rd dose", "dose 1/2/3",
  "dose #2", "booster"; "single dose" / "single-dose" is dose 1 of a one-dose product only.
  Two different dose statements make the dose unknown."""

from __future__ import annotations

import re

_SENTENCE = re.compile(r"[^.;!?\n]+")
_COUNSEL = re.compile(r"\bcounsel+(?:ed|ing|ling|led)?\b", re.I)
_VACCINE = re.compile(r"\b(?:vaccin\w*|immuni[sz]\w*|shots?|VIS|risks? and benefits?|benefits? and risks?)\b", re.I)
_NEGATED = re.compile(r"\b(?:no|not|without|declined|refused|deferred)\b", re.I)
_STAFF = re.compile(r"\b(?:(?i:nurse|medical assistant|staff|technician)|RN|LPN|LVN|MA|CMA)\b")
_QHP = re.compile(r"\b(?:(?i:physician|doctor|provider|pediatrician|nurse practitioner|physician assistant)|"
                  r"Dr|MD|DO|NP|PA|QHP)\b")

_ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3}
_DOSE_ORDINAL = re.compile(r"\b(first|1st|second|2nd|third|3rd)\s+dose\b", re.I)
_DOSE_NUMBER = re.compile(r"\bdose\s*(?:#|no\.?|number)?\s*([1-3])\b", re.I)
_BOOSTER = re.compile(r"\bbooster\b", re.I)
_SINGLE = re.compile(r"\bsingle[\s-]dose\b", re.I)

BOOSTER = "booster"
SINGLE = "single"


def counselling_documented(note: str | None) -> bool:
    """True when the note says the physician/QHP counselled on the vaccines (see module doc)."""
    for m in _SENTENCE.finditer(note or ""):
        s = m.group(0)
        if not (_COUNSEL.search(s) and _VACCINE.search(s)):
            continue
        if _NEGATED.search(s):
            continue
        if _STAFF.search(s) and not _QHP.search(s):
            continue
        return True
    return False


def vaccine_dose(note: str | None) -> int | str | None:
    """1, 2, 3, ``"booster"``, ``"single"`` or None (not stated, or stated twice differently)."""
    text = note or ""
    found: set[int | str] = set()
    for m in _DOSE_ORDINAL.finditer(text):
        found.add(_ORDINALS[m.group(1).lower()])
    for m in _DOSE_NUMBER.finditer(text):
        found.add(int(m.group(1)))
    if _BOOSTER.search(text):
        found.add(BOOSTER)
    if _SINGLE.search(text):
        found.add(SINGLE)
    return found.pop() if len(found) == 1 else None
