"""The Grafana dashboard and its provisioning: the JSON parses, every panel queries the
provisioned Prometheus datasource, and every PromQL expression names only metrics that
claimflow/metrics.py defines (plus Prometheus' own `up`)."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.deploy.support import GRAFANA_DIR, REPO_ROOT, known_metric_names, metric_names_in

DASHBOARD = GRAFANA_DIR / "dashboards" / "claimflow.json"
DATASOURCES = GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = GRAFANA_DIR / "provisioning" / "dashboards" / "claimflow.yml"


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


@pytest.fixture(scope="module")
def datasource() -> dict:
    sources = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    assert len(sources) == 1
    return sources[0]


def _panels(dashboard: dict) -> list[dict]:
    out = []
    for p in dashboard["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))  # collapsed rows keep their panels inside
    return [p for p in out if p.get("type") != "row"]


def _exprs(dashboard: dict) -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in _panels(dashboard) for t in p.get("targets", [])]


def test_dashboard_basics(dashboard):
    assert dashboard["uid"] and dashboard["title"]
    panels = _panels(dashboard)
    assert len(panels) >= 10
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for p in panels:
        assert p.get("targets"), f"panel {p['title']!r} has no query"
        for t in p["targets"]:
            assert t.get("expr", "").strip(), f"panel {p['title']!r} has an empty query"


def test_every_query_uses_the_provisioned_datasource(dashboard, datasource):
    assert datasource["type"] == "prometheus"
    uid = datasource["uid"]
    for p in _panels(dashboard):
        assert p["datasource"] == {"type": "prometheus", "uid": uid}, p["title"]
        for t in p["targets"]:
            assert t.get("datasource", p["datasource"])["uid"] == uid, p["title"]
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            assert var["datasource"]["uid"] == uid, var["name"]


def test_promql_names_only_defined_metrics(dashboard):
    known = known_metric_names() | {"up"}
    for title, expr in _exprs(dashboard):
        names = metric_names_in(expr)
        assert names, f"{title!r}: no metric in {expr!r}"
        unknown = names - known
        assert not unknown, f"{title!r}: unknown metrics {sorted(unknown)} in {expr!r}"
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            q = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            m = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", q)
            assert m and m.group(1) in known, q


def test_metric_check_catches_unknown_names():
    """The name check can fail: a made-up metric is reported, label names and values,
    functions and Grafana variables are not."""
    expr = ('histogram_quantile(0.95, sum by (service, le) (rate(claimflow_made_up_seconds_bucket'
            '{service=~"$service", outcome="claimflow_records_in_total"}[$__rate_interval]))) / on (service) group_left up')
    assert metric_names_in(expr) == {"claimflow_made_up_seconds_bucket", "up"}
    assert "claimflow_made_up_seconds_bucket" not in known_metric_names()


def test_required_panels_are_there(dashboard):
    used = set().union(*(metric_names_in(e) for _, e in _exprs(dashboard)))
    for metric in ("claimflow_records_in_total", "claimflow_records_out_total", "claimflow_processing_seconds_bucket",
                   "claimflow_event_age_seconds_bucket", "claimflow_dead_letters_total", "claimflow_scrub_findings_total",
                   "claimflow_denials_total", "claimflow_appeal_dollars_at_risk", "claimflow_consumer_lag_records"):
        assert metric in used, f"no panel shows {metric}"
    exprs = " ".join(e for _, e in _exprs(dashboard))
    assert re.search(r"histogram_quantile\(0\.95,.*claimflow_processing_seconds_bucket", exprs)
    assert re.search(r"sum by \(family\) \(rate\(claimflow_scrub_findings_total", exprs)
    assert re.search(r"sum by \(group\) \(increase\(claimflow_denials_total", exprs)
    assert re.search(r"sum by \(days_to_deadline\) \(claimflow_appeal_dollars_at_risk\)", exprs)


def test_provisioning_matches_compose(datasource):
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"]
    providers = yaml.safe_load(PROVIDERS.read_text())["providers"]
    assert len(providers) == 1 and providers[0]["type"] == "file"
    grafana_mounts = {}  # container path -> host path of the bind mounts
    for v in compose["grafana"]["volumes"]:
        if v.startswith("./"):
            host, container = v.split(":")[:2]
            grafana_mounts[container] = host
    # the provider reads the folder where compose mounts deploy/grafana/dashboards
    assert grafana_mounts[providers[0]["options"]["path"]] == "./deploy/grafana/dashboards"
    assert grafana_mounts["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"
    # the datasource URL is the compose prometheus service on its listen port
    assert datasource["url"] == "http://prometheus:9090"
    assert "--web.listen-address=:9090" in compose["prometheus"]["command"]
