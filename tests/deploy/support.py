"""Shared helpers for the deploy tests: where the ops tools are, what to do when one is
missing (fail under CI, skip with a reason elsewhere), and the metric names a PromQL
expression refers to, checked against claimflow/metrics.py and the services' metrics.py."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
PROM_DIR = DEPLOY / "prometheus"
GRAFANA_DIR = DEPLOY / "grafana"
K8S_DIR = DEPLOY / "k8s"
INSTALL_HINT = "run deploy/tools/install-ops-tools.sh (make ops-tools)"

TOOLS_DIR = Path(os.environ.get("CLAIMFLOW_TOOLS_DIR", Path.home() / ".cache" / "claimflow" / "tools"))
K8S_VERSION = "1.34.0"  # keep in step with K8S_SCHEMA_VERSION in deploy/tools/install-ops-tools.sh


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def missing_tool(what: str) -> None:
    """A tool the test needs is not installed: a failure in CI, a skip with a reason elsewhere."""
    msg = f"{what} is not installed; {INSTALL_HINT}"
    if in_ci():
        pytest.fail(msg + " (CI=true: the ops tools are required)")
    pytest.skip(msg)


def which(name: str, *extra_dirs: Path) -> str | None:
    for d in extra_dirs:
        p = d / name
        if p.is_file() and os.access(p, os.X_OK):
            return str(p)
    return shutil.which(name)


def require_tool(name: str) -> str:
    path = which(name, TOOLS_DIR / "bin")
    if path is None:
        missing_tool(name)
    return path


# --- metric names -----------------------------------------------------------------------

METRIC_MODULES = ("claimflow.metrics", "services.coder.metrics", "services.scrubber.metrics", "services.adjudicator.metrics",
                  "services.payer_gateway.metrics")


def known_metric_names() -> set[str]:
    """Every sample name claimflow exposes (the shared claimflow/metrics.py and each
    service's metrics.py): counters as <name>_total (and _created), histograms as
    _bucket/_sum/_count, gauges as is."""
    import importlib

    from prometheus_client.metrics import MetricWrapperBase

    names: set[str] = set()
    for obj in (o for m in METRIC_MODULES for o in vars(importlib.import_module(m)).values()):
        if not isinstance(obj, MetricWrapperBase):
            continue
        for family in obj.describe():
            base = family.name
            if family.type == "counter":
                names |= {base + "_total", base + "_created"}
            elif family.type == "histogram":
                names |= {base + "_bucket", base + "_sum", base + "_count", base + "_created"}
            elif family.type == "summary":
                names |= {base, base + "_sum", base + "_count", base + "_created"}
            else:
                names.add(base)
    return names


# Words in PromQL that are not metric names when they are not followed by "(".
_PROMQL_WORDS = {
    "and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
    "group_left", "group_right", "inf", "nan", "atan2", "start", "end",
}
_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_OFFSET = re.compile(r"\boffset\s+-?\w+")
_NUMBER = re.compile(r"(?<![\w:])(?:0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)")
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def metric_names_in(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, aggregations, keywords,
    label names, label values and Grafana variables left out)."""
    s = _STRING.sub('""', expr)
    s = _MATCHERS.sub(" ", s)
    s = _RANGE.sub(" ", s)
    s = _GROUPING.sub(" ", s)
    s = _OFFSET.sub(" ", s)
    s = _NUMBER.sub(" ", s)
    s = re.sub(r"\$\{?\w+\}?", " ", s)  # Grafana variables outside ranges
    names = set()
    for m in _IDENT.finditer(s):
        word = m.group(0)
        if s[m.end():].lstrip().startswith("("):
            continue  # a function or an aggregation
        if word.lower() in _PROMQL_WORDS:
            continue
        names.add(word)
    return names
