"""The topic catalog (claimflow/topics.py) is the single source: the files generated from it
are current, its writers/readers match what the services' code produces and consumes, and
its contracts exist."""

import ast
import re
from pathlib import Path

import pytest

from claimflow import catalog, topics
from claimflow.schemas import default_store
from claimflow.topics import ALL_TABLES, ALL_TOPICS, CLIENTS, partitions_of
from claimflow_app.services import SERVICES

REPO = Path(__file__).resolve().parents[2]


def test_generated_files_are_current():
    stale = catalog.stale_files()
    assert not stale, f"run `claimflow topics render`: stale {[str(p.relative_to(REPO)) for p in stale]}"
    for g in catalog.generated_files():
        text = g.path.read_text()
        assert catalog.GENERATED_MARK in text or "<!-- BEGIN GENERATED" in text, g.path


def test_a_changed_catalog_makes_the_generated_files_stale(tmp_path, monkeypatch):
    (tmp_path / "deploy" / "k8s").mkdir(parents=True)
    (tmp_path / "services" / "coder").mkdir(parents=True)
    (tmp_path / "services" / "coder" / "README.md").write_text("# coder\n<!-- BEGIN GENERATED topics coder -->\n<!-- END GENERATED -->\n")
    assert len(catalog.render_all(tmp_path)) == 3 and catalog.stale_files(tmp_path) == []
    assert "`encounters.v1` | encounter_id | EncounterEvent | fhir-gateway, cli |" in (tmp_path / "services" / "coder" / "README.md").read_text()
    more = topics.TopicSpec("extra.v1", "claim_id", "Claim", "test only", partitions=2, writers=("coder",))
    monkeypatch.setattr(catalog, "ALL_TOPICS", (*ALL_TOPICS, more))
    assert set(catalog.stale_files(tmp_path)) == {tmp_path / "deploy" / "topics.yaml", tmp_path / "deploy" / "k8s" / "21-topics.yaml",
                                                 tmp_path / "services" / "coder" / "README.md"}


def test_rendered_catalog_reads_back_as_the_topics_to_create():
    rf, configs = catalog.load_catalog(REPO / "deploy" / "topics.yaml", "claimflow")
    assert rf == topics.DEFAULT_REPLICATION_FACTOR
    assert configs == topics.topic_configs("claimflow")
    assert len(configs) == len(ALL_TOPICS) + len(ALL_TABLES)


def test_partitions_of_reads_no_file(monkeypatch):
    monkeypatch.setattr(Path, "open", lambda *a, **k: pytest.fail("partitions_of opened a file"))
    monkeypatch.setattr(Path, "read_text", lambda *a, **k: pytest.fail("partitions_of read a file"))
    assert partitions_of(topics.ENCOUNTERS) == 4 and partitions_of(topics.DLQ_CODER) == 1


def test_specs_are_sane():
    names = set(default_store().names())
    assert len({t.name for t in ALL_TOPICS}) == len(ALL_TOPICS)
    for spec in ALL_TOPICS:
        assert spec.is_dlq or spec.value in names, spec.name
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*(\.[a-z]+(-[a-z]+)*)*\.v[0-9]+", spec.name), spec.name
        assert spec.partitions >= 1 and spec.retention_ms > 0 and spec.cleanup_policy in ("delete", "compact"), spec.name
        assert set(spec.writers) | set(spec.readers) <= set(CLIENTS), spec.name


def test_one_dlq_per_consuming_service():
    # the workbench projector consumes too; it runs beside the pipeline (claimflow workbench project)
    assert set(topics.DLQ_BY_SERVICE) == set(SERVICES) | {"workbench"}
    for service, dlq in topics.DLQ_BY_SERVICE.items():
        assert dlq.is_dlq and dlq.writers == (service,)


def test_tables_are_copartitioned_with_their_source():
    for t in ALL_TABLES:
        assert t.source in ALL_TOPICS and t.service in SERVICES
        assert t.changelog("claimflow") == f"claimflow-{t.service}-{t.table}-changelog"


# --- writers/readers against the services' code ---------------------------------------------

SERVICE_DIRS = {"coder": "coder", "scrubber": "scrubber", "adjudicator": "adjudicator", "payer-sim": "payer_sim",
                "payer-gateway": "payer_gateway", "fhir-gateway": "fhir_gateway"}


def _topic_attr(node) -> str | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "topics":
        return node.attr
    if isinstance(node, ast.Attribute):  # topics.X.name
        return _topic_attr(node.value)
    return None


def code_usage(source: str) -> tuple[set[str], set[str]]:
    """(read, written) catalog constants of a service module: reads are the topics of its
    ``app.agent(raw_topic(...))`` streams; writes are ``Output(topics.X, ...)`` or ``Forward(topics.X, ...)``,
    ``processor.topic(topics.X)``, ``*.send(topics.X.name, ...)`` and ``(topics.X, key, record)``."""
    reads, writes = set(), set()
    tree = ast.parse(source)
    tuples = {t.id: node.value.elts for node in tree.body if isinstance(node, ast.Assign) and isinstance(node.value, ast.Tuple)
              for t in node.targets if isinstance(t, ast.Name)}  # INPUTS = (topics.A, ...) passed as *INPUTS
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "agent":
            for arg in node.args:
                if isinstance(arg, ast.Call) and getattr(arg.func, "id", None) == "raw_topic":
                    for a in arg.args[1:]:
                        items = tuples[a.value.id] if isinstance(a, ast.Starred) else [a]
                        reads |= {t for t in map(_topic_attr, items) if t}
        if isinstance(node, ast.Call) and node.args:
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name in ("Output", "Forward", "topic", "send") and (attr := _topic_attr(node.args[0])):
                writes.add(attr)
        # (topic, key, record) outputs decided by a pure module: `output = (...)`, `Decision(..., (...))`
        decided = []
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "output" for t in node.targets):
            decided = [node.value]
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Decision":
            decided = node.args
        for tup in (n for d in decided for n in ast.walk(d) if isinstance(n, ast.Tuple) and len(n.elts) == 3):
            if attr := _topic_attr(tup.elts[0]):
                writes.add(attr)
    return reads, writes


def test_code_usage_finds_reads_and_writes():
    src = ("INS = (topics.F, topics.G)\n@app.agent(raw_topic(app, topics.A, topics.B))\nasync def f(s): return [Output(topics.C, k, r)]\n"
           "t = processor.topic(topics.D)\nprod.send(topics.E.name, key=k)\n@app.agent(raw_topic(app, *INS))\nasync def g(s): pass\n"
           "output = (topics.H, key, rec) if x else (topics.I, key, rec)\nDecision('o', (topics.J, k, r))\n"
           "routes = {'a': (topics.K, Claim, on_claim)}\n")
    assert code_usage(src) == ({"A", "B", "F", "G"}, {"C", "D", "E", "H", "I", "J"})


@pytest.mark.parametrize("service", sorted(SERVICE_DIRS))
def test_catalog_writers_and_readers_match_the_service_code(service):
    reads, writes = set(), set()
    for path in (REPO / "services" / SERVICE_DIRS[service]).glob("*.py"):
        if "cli" not in path.stem:  # command-line modules run as the `cli` client
            r, w = code_usage(path.read_text())
            reads, writes = reads | r, writes | w
    by_attr = {name: getattr(topics, name) for name in dir(topics) if isinstance(getattr(topics, name), topics.TopicSpec)}
    dlq = topics.DLQ_BY_SERVICE.get(service)
    assert {by_attr[a].name for a in reads} == {t.name for t in topics.read_by(service)}
    assert {by_attr[a].name for a in writes} | ({dlq.name} if dlq else set()) == {t.name for t in topics.written_by(service)}


def test_catalog_writers_and_readers_match_the_workbench():
    """The workbench reads the topics its projector routes (services/workbench/projection.py)
    and writes what its views publish (``publish(TOPIC, ...)``) and its dead letters."""
    tree = ast.parse((REPO / "services" / "workbench" / "projection.py").read_text())
    routes = next(n for n in tree.body if isinstance(n, ast.AnnAssign) and getattr(n.target, "id", None) == "ROUTES")
    reads = {getattr(topics, a).name for n in ast.walk(routes.value) if isinstance(n, ast.Tuple) and len(n.elts) == 3
             if (a := _topic_attr(n.elts[0]))}
    writes = set()
    for path in (REPO / "services" / "workbench").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "publish" and node.args:
                if isinstance(node.args[0], ast.Name):
                    writes.add(getattr(topics, node.args[0].id).name)
    assert reads and reads == {t.name for t in topics.read_by(topics.WORKBENCH)}
    assert writes | {topics.DLQ_WORKBENCH.name} == {t.name for t in topics.written_by(topics.WORKBENCH)}
