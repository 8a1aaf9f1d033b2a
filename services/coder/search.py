"""Lexical search over ICD-10-CM descriptions: a BM25 inverted index built once at start.

Free text never codes itself silently: the confidence of a hit is high only when the text
is (after normalisation) the official description or an in-house synonym of it; otherwise
it stays below the review threshold and the hits become review candidates."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass

_TOKEN = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    "a an and as at by for from in into is of on or the to with without w due other unspecified type "
    "nos nec".split()
)
# lay terms -> official vocabulary (in-house, short)
SYNONYMS: dict[str, str] = {
    "high blood pressure": "essential primary hypertension",
    "htn": "essential primary hypertension",
    "high cholesterol": "hyperlipidemia",
    "sugar diabetes": "diabetes mellitus",
    "dm2": "type 2 diabetes mellitus",
    "t2dm": "type 2 diabetes mellitus",
    "heartburn": "gastro esophageal reflux disease",
    "gerd": "gastro esophageal reflux disease",
    "acid reflux": "gastro esophageal reflux disease",
    "uti": "urinary tract infection",
    "uri": "acute upper respiratory infection",
    "cold": "acute nasopharyngitis common cold",
    "flu": "influenza",
    "sore throat": "acute pharyngitis",
    "strep throat": "streptococcal pharyngitis",
    "pink eye": "conjunctivitis",
    "ear infection": "otitis media",
    "copd": "chronic obstructive pulmonary disease",
    "afib": "atrial fibrillation",
    "chf": "heart failure",
    "cad": "atherosclerotic heart disease coronary artery",
    "ckd": "chronic kidney disease",
    "low back pain": "low back pain",
    "depression": "depressive",
    "anxiety": "anxiety disorder",
    "shortness of breath": "shortness breath dyspnea",
}


def normalize(text: str) -> str:
    return " ".join(_TOKEN.findall(text.lower()))


def tokens(text: str) -> list[str]:
    out = []
    for t in _TOKEN.findall(text.lower()):
        if t in _STOP:
            continue
        # crude plural folding keeps "infections" ~ "infection"
        if len(t) > 4 and t.endswith("s") and not t.endswith("ss") and not t.endswith("is"):
            t = t[:-1]
        out.append(t)
    return out


@dataclass(frozen=True)
class SearchHit:
    code: str  # dotted
    description: str
    score: float
    confidence: float


class DescriptionIndex:
    """BM25 (k1=1.2, b=0.75) over one description per billable code."""

    def __init__(self, docs: dict[str, str], k1: float = 1.2, b: float = 0.75):
        self.codes: list[str] = list(docs)
        self.descs: list[str] = [docs[c] for c in self.codes]
        self.k1, self.b = k1, b
        self.postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self.lengths: list[int] = []
        self.exact: dict[str, int] = {}
        for i, d in enumerate(self.descs):
            toks = tokens(d)
            self.lengths.append(len(toks))
            counts: dict[str, int] = defaultdict(int)
            for t in toks:
                counts[t] += 1
            for t, n in counts.items():
                self.postings[t].append((i, n))
            self.exact.setdefault(normalize(d), i)
        n = len(self.codes)
        self.avgdl = (sum(self.lengths) / n) if n else 1.0
        self.idf = {t: math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5)) for t, p in self.postings.items()}

    def search(self, text: str, limit: int = 5, allowed=None) -> list[SearchHit]:
        """Best ``limit`` codes for ``text``; ``allowed(code) -> bool`` filters (e.g. valid for the DOS year)."""
        norm = normalize(text)
        exact = self.exact.get(norm)
        query_text = SYNONYMS.get(norm, text)
        synonym_exact = self.exact.get(normalize(query_text)) if query_text is not text else None
        q = tokens(query_text)
        scores: dict[int, float] = defaultdict(float)
        for t in set(q):
            idf = self.idf.get(t)
            if idf is None:
                continue
            for i, tf in self.postings[t]:
                dl = self.lengths[i]
                scores[i] += idf * tf * (self.k1 + 1) / (tf + self.k1 * (1 - self.b + self.b * dl / self.avgdl))
        for special in (exact, synonym_exact):
            if special is not None:
                scores[special] = max(scores.values(), default=0.0) + 1.0
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], self.lengths[kv[0]], self.codes[kv[0]]))
        hits: list[SearchHit] = []
        q_set = set(q)
        for i, s in ranked:
            code = self.codes[i]
            if allowed is not None and not allowed(code):
                continue
            if i in (exact, synonym_exact):
                conf = 0.95
            else:
                d_set = set(tokens(self.descs[i]))
                coverage = len(q_set & d_set) / len(q_set) if q_set else 0.0
                precision = len(q_set & d_set) / len(d_set) if d_set else 0.0
                conf = round(0.4 * coverage + 0.4 * precision, 3)  # <= 0.8: always below auto-coding
            hits.append(SearchHit(code, self.descs[i], round(s, 4), conf))
            if len(hits) >= limit:
                break
        return hits
