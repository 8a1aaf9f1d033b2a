"""Files generated from the topic catalog (claimflow/topics.py), and reading them back.

``claimflow topics render`` writes them; ``claimflow topics render --check`` (and
tests/unit/test_topics.py) fails when one is stale. Generated files start with
``GENERATED_MARK`` so nobody edits them by hand:

- ``deploy/topics.yaml``: the catalog for people and tools (partitions, retention, cleanup
  policy, writers, readers, table changelogs);
- ``deploy/k8s/21-topics.yaml``: a ConfigMap holding the same catalog, which the
  Kubernetes topics Job passes to ``claimflow topics create --catalog``, so the topics a
  cluster gets are visible (and reviewed) in the manifests;
- the generated sections of files that embed a table (service READMEs), between
  ``<!-- BEGIN GENERATED ... -->`` and ``<!-- END GENERATED -->`` markers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from claimflow import topics
from claimflow.topics import ALL_TABLES, ALL_TOPICS, DEFAULT_REPLICATION_FACTOR, TopicConfig, TopicSpec

REPO_ROOT = Path(__file__).resolve().parent.parent
GENERATED_MARK = "# GENERATED from claimflow/topics.py by `claimflow topics render`; do not edit."
K8S_TOPICS_PATH = REPO_ROOT / "deploy" / "k8s" / "21-topics.yaml"
K8S_CATALOG_MOUNT = "/etc/claimflow/topics"


def _days(ms: int) -> str:
    if ms < 0:
        return "forever"
    days = ms / topics.DAY_MS
    return f"{days:g} days" if days != 1 else "1 day"


def _flow(items: tuple[str, ...]) -> str:
    return "[" + ", ".join(items) + "]"


def render_topics_yaml() -> str:
    lines = [
        GENERATED_MARK,
        "# Every topic claimflow uses, created explicitly by `claimflow topics create` (broker",
        "# auto-creation stays off). Keys are business ids so per-key order holds, and every topic",
        "# feeding a Faust table has the partition count of that table's changelog.",
        "# writers/readers: the services (names of `claimflow run`) and `cli` (the claimflow",
        "# command line) that produce or consume the topic's records; the source of the ACLs.",
        "defaults:",
        f"  replication_factor: {DEFAULT_REPLICATION_FACTOR}          # override with CLAIMFLOW_TOPIC_REPLICATION_FACTOR on a cluster",
        "topics:",
    ]
    for t in ALL_TOPICS:
        lines += [
            f"  - name: {t.name}",
            f"    key: {t.key}",
            f"    value: {t.value}",
            f"    partitions: {t.partitions}",
            f"    retention_ms: {t.retention_ms}     # {_days(t.retention_ms)}",
            f"    cleanup_policy: {t.cleanup_policy}",
            f"    writers: {_flow(t.writers)}",
            f"    readers: {_flow(t.readers)}",
        ]
    lines += [
        "",
        "# Faust table changelogs, created with the topics above so they exist (with the partition",
        "# count of the topic feeding the table) before a worker starts; compacted, kept forever,",
        "# written and read by the table's service only. Full name:",
        "# <app_id_prefix>-<service>-<table>-changelog, e.g. claimflow-scrubber-emitted-claims-changelog.",
        "tables:",
    ]
    for tb in ALL_TABLES:
        lines += [f"  - service: {tb.service}", f"    table: {tb.table}", f"    source: {tb.source.name}"]
    return "\n".join(lines) + "\n"


def render_k8s_topics() -> str:
    body = render_topics_yaml()
    head = [
        GENERATED_MARK,
        "# The topic catalog as a ConfigMap: the claimflow-topics Job (20-topics-job.yaml) mounts it",
        f"# at {K8S_CATALOG_MOUNT} and creates exactly these topics and table changelogs.",
        "apiVersion: v1",
        "kind: ConfigMap",
        "metadata:",
        "  name: claimflow-topics",
        "  namespace: claimflow",
        "  labels:",
        "    app.kubernetes.io/part-of: claimflow",
        "    app.kubernetes.io/component: setup",
        "data:",
        "  topics.yaml: |",
    ]
    return "\n".join(head) + "\n" + "".join(f"    {line}\n" if line else "\n" for line in body.splitlines())


# --- tables embedded in Markdown (service READMEs) -----------------------------------------

BEGIN = re.compile(r"<!-- BEGIN GENERATED (?P<what>[a-z-]+) (?P<client>[a-z-]+) -->\n")
END = "<!-- END GENERATED -->"


def _topic_row(t: TopicSpec, others: tuple[str, ...]) -> str:
    return f"| `{t.name}` | {t.key} | {t.value} | {', '.join(others) or '-'} |"


def render_topic_tables(client: str) -> str:
    """Markdown: the topics ``client`` reads and writes, with their counterparts."""
    inputs = [t for t in ALL_TOPICS if client in t.readers]
    outputs = [t for t in ALL_TOPICS if client in t.writers]
    out = ["Inputs (generated from the topic catalog):", "",
           "| topic | key | value | written by |", "| --- | --- | --- | --- |"]
    out += [_topic_row(t, t.writers) for t in inputs] or ["| - | | | |"]
    out += ["", "Outputs:", "", "| topic | key | value | read by |", "| --- | --- | --- | --- |"]
    out += [_topic_row(t, t.readers) for t in outputs] or ["| - | | | |"]
    tables = [tb for tb in ALL_TABLES if tb.service == client]
    if tables:
        out += ["", "Tables (changelog `<app_id_prefix>-<service>-<table>-changelog`, co-partitioned with the source):", "",
                "| table | source topic | partitions |", "| --- | --- | --- |"]
        out += [f"| `{tb.table}` | `{tb.source.name}` | {tb.source.partitions} |" for tb in tables]
    return "\n".join(out) + "\n"


def refresh_markdown(text: str) -> str:
    """Rewrite every generated section of ``text`` from the catalog."""
    out, pos = [], 0
    for m in BEGIN.finditer(text):
        end = text.find(END, m.end())
        if end < 0:
            raise ValueError(f"unterminated generated section {m.group(0).strip()}")
        if m.group("what") != "topics":
            raise ValueError(f"unknown generated section {m.group('what')!r}")
        out += [text[pos:m.end()], render_topic_tables(m.group("client"))]
        pos = end
    out.append(text[pos:])
    return "".join(out)


# --- the generated files ---------------------------------------------------------------------


@dataclass(frozen=True)
class Generated:
    path: Path
    render: Callable[[str], str]  # current text -> wanted text


def generated_files(root: Path = REPO_ROOT) -> list[Generated]:
    files = [
        Generated(root / "deploy" / "topics.yaml", lambda _: render_topics_yaml()),
        Generated(root / "deploy" / "k8s" / "21-topics.yaml", lambda _: render_k8s_topics()),
    ]
    for readme in sorted((root / "services").glob("*/README.md")):
        files.append(Generated(readme, refresh_markdown))
    return files


def stale_files(root: Path = REPO_ROOT) -> list[Path]:
    stale = []
    for g in generated_files(root):
        current = g.path.read_text() if g.path.exists() else ""
        if g.render(current) != current:
            stale.append(g.path)
    return stale


def render_all(root: Path = REPO_ROOT) -> list[Path]:
    """Rewrite the stale generated files; returns those rewritten."""
    written = []
    for g in generated_files(root):
        current = g.path.read_text() if g.path.exists() else ""
        wanted = g.render(current)
        if wanted != current:
            g.path.write_text(wanted)
            written.append(g.path)
    return written


# --- reading a rendered catalog back (``topics create --catalog FILE``) ----------------------


def load_catalog(path: Path, app_id_prefix: str) -> tuple[int, list[TopicConfig]]:
    """(default replication factor, topics to create incl. table changelogs) from a rendered
    catalog file such as deploy/topics.yaml or the Kubernetes ConfigMap's topics.yaml."""
    doc: dict[str, Any] = yaml.safe_load(Path(path).read_text())
    rf = int(doc.get("defaults", {}).get("replication_factor", DEFAULT_REPLICATION_FACTOR))
    configs = [TopicConfig(t["name"], t["key"], t["value"], int(t["partitions"]), int(t["retention_ms"]), t["cleanup_policy"])
               for t in doc["topics"]]
    by_name = {c.name: c for c in configs}
    for tb in doc.get("tables", []):
        source = by_name[tb["source"]]
        configs.append(TopicConfig(f"{app_id_prefix}-{tb['service']}-{tb['table']}-changelog", source.key,
                                   "faust table changelog", source.partitions, -1, "compact"))
    return rf, configs
