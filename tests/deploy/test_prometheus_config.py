"""The committed Prometheus scrape configs and alert rules: promtool accepts them, the rule
unit tests pass, the configs scrape every service at its settings port, and the rules
only use metrics that claimflow/metrics.py or a service's metrics.py defines."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from claimflow_app.services import SERVICES
from claimflow.settings import SERVICE_PORTS
from tests.deploy.support import PROM_DIR, REPO_ROOT, known_metric_names, metric_names_in, require_tool

ALL_SERVICES = (*SERVICES, "fhir-gateway")
CONFIGS = {"prometheus.yml": "127.0.0.1", "prometheus.compose.yml": None}  # None: host = service name
RULE_FILES = sorted((PROM_DIR / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROM_DIR / "tests").glob("*.yml"))


def _promtool(*args: str, cwd=PROM_DIR) -> subprocess.CompletedProcess:
    exe = require_tool("promtool")
    return subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def _rules() -> list[dict]:
    return [r for f in RULE_FILES for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"]]


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_promtool_check_config(config):
    res = _promtool("check", "config", config)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert f"SUCCESS: {config} is valid" in out, out
    # the rule files are found through the config (rule_files: rules/*.yml)
    assert re.search(rf"SUCCESS: {len(RULE_FILES)} rule files found", out), out


def test_promtool_check_rules():
    assert RULE_FILES, "no rule files under deploy/prometheus/rules"
    res = _promtool("check", "rules", *(str(f.relative_to(PROM_DIR)) for f in RULE_FILES))
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    found = sum(int(n) for n in re.findall(r"SUCCESS: (\d+) rules found", out))
    assert found == len(_rules()), out


def test_promtool_rule_unit_tests():
    assert RULE_TESTS, "no rule unit tests under deploy/prometheus/tests"
    res = _promtool("test", "rules", *(str(f.relative_to(PROM_DIR)) for f in RULE_TESTS))
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "SUCCESS" in out and "FAILED" not in out, out


def test_promtool_rejects_a_broken_rule(tmp_path):
    """promtool is really checking: a rule with bad PromQL and one without a name fail."""
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml.safe_dump({"groups": [{"name": "bad", "rules": [
        {"alert": "Broken", "expr": "sum by (service (rate(claimflow_dead_letters_total[5m]))"},
        {"expr": "up"},
    ]}]}))
    res = _promtool("check", "rules", str(bad), cwd=tmp_path)
    assert res.returncode != 0, res.stdout + res.stderr


def test_rule_unit_tests_cover_at_least_two_alerts():
    tested = {t["alertname"] for f in RULE_TESTS for case in yaml.safe_load(f.read_text())["tests"]
              for t in case.get("alert_rule_test", [])}
    alerts = {r["alert"] for r in _rules() if "alert" in r}
    assert tested <= alerts, f"tests name alerts that do not exist: {tested - alerts}"
    assert len(tested) >= 2, tested


def test_required_alerts_and_their_metrics():
    by_name = {r["alert"]: r for r in _rules() if "alert" in r}
    expected = {
        "ClaimflowServiceDown": {"up"},
        "ClaimflowDeadLetters": {"claimflow_dead_letters_total"},
        "ClaimflowConsumerLagGrowing": {"claimflow_consumer_lag_records"},
        "ClaimflowDenialRateSpike": {"claimflow_adjudications_total"},
        "ClaimflowAppealDollarsNearDeadline": {"claimflow_appeal_dollars_at_risk"},
    }
    records = {r["record"]: r["expr"] for r in _rules() if "record" in r}

    def expand(names: set[str]) -> set[str]:  # recording rules to the metrics they read
        out = set()
        for n in names:
            out |= expand(metric_names_in(records[n])) if n in records else {n}
        return out

    for name, metrics in expected.items():
        assert name in by_name, f"missing alert {name}"
        assert metrics <= expand(metric_names_in(by_name[name]["expr"])), (name, by_name[name]["expr"])
    assert re.fullmatch(r"up\s*==\s*0", by_name["ClaimflowServiceDown"]["expr"].strip())
    assert "payer" in by_name["ClaimflowDenialRateSpike"]["annotations"]["summary"]
    for name, rule in by_name.items():
        assert rule.get("labels", {}).get("severity") in ("warning", "critical"), name
        assert rule.get("annotations", {}).get("summary"), name


def test_rules_use_only_defined_metrics():
    known = known_metric_names() | {"up"}
    records = {r["record"] for r in _rules() if "record" in r}
    for rule in _rules():
        unknown = metric_names_in(rule["expr"]) - known - records
        assert not unknown, f"{rule.get('alert') or rule.get('record')}: unknown metrics {unknown}"


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_scrape_configs_cover_every_service_at_its_port(config):
    cfg = yaml.safe_load((PROM_DIR / config).read_text())
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    assert set(jobs) == set(ALL_SERVICES)
    for service in ALL_SERVICES:
        job = jobs[service]
        assert job.get("metrics_path", "/metrics") == "/metrics"
        targets = [t for sc in job["static_configs"] for t in sc["targets"]]
        host = CONFIGS[config] or service
        assert targets == [f"{host}:{SERVICE_PORTS[service]}"], (config, service, targets)
        # a `service` target label would clash with the metrics' own `service` label
        assert all("service" not in sc.get("labels", {}) for sc in job["static_configs"])
    assert cfg["rule_files"] == ["rules/*.yml"]


def test_both_configs_agree_apart_from_hosts():
    local, compose = (yaml.safe_load((PROM_DIR / c).read_text()) for c in ("prometheus.yml", "prometheus.compose.yml"))
    for cfg in (local, compose):
        for job in cfg["scrape_configs"]:
            for sc in job["static_configs"]:
                sc["targets"] = [t.split(":")[1] for t in sc["targets"]]
    assert local == compose


def test_every_service_metrics_module_is_checked():
    from tests.deploy.support import METRIC_MODULES

    found = {f"services.{p.parent.name}.metrics" for p in (REPO_ROOT / "services").glob("*/metrics.py")}
    assert found <= set(METRIC_MODULES), found - set(METRIC_MODULES)
