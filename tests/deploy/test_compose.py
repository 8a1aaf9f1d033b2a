"""docker-compose.yml: every claimflow service, Kafka (KRaft), topic creation, Prometheus and
Grafana are there; ports, health checks and CLAIMFLOW_* variables agree with
claimflow/settings.py; `docker compose config` accepts the file where the plugin exists."""

from __future__ import annotations

import os
import re
import subprocess

import pytest
import yaml

from claimflow_app.services import SERVICES
from claimflow.settings import SERVICE_PORTS, Settings
from tests.deploy.support import PROM_DIR, REPO_ROOT, TOOLS_DIR

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
ALL_SERVICES = (*SERVICES, "fhir-gateway")
SETTINGS_ENV = {f"CLAIMFLOW_{name.upper()}" for name in Settings.model_fields}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())  # PyYAML resolves the `<<` merge keys


def test_every_service_is_there(compose):
    services = compose["services"]
    for name in (*ALL_SERVICES, "kafka", "topics", "prometheus", "grafana"):
        assert name in services, f"docker-compose.yml has no {name} service"


def test_kafka_is_a_single_kraft_node(compose):
    kafka = compose["services"]["kafka"]
    assert re.fullmatch(r"apache/kafka:4\.1\.\d+", kafka["image"])
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert str(env["KAFKA_NODE_ID"]) == "1"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"  # topics come from the catalog (claimflow/topics.py)
    assert "healthcheck" in kafka


def test_topics_job_runs_once_after_kafka_is_healthy(compose):
    topics = compose["services"]["topics"]
    assert topics["command"] == ["topics", "create"]
    assert topics["build"] == "."
    assert topics["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert topics["environment"]["CLAIMFLOW_KAFKA_BOOTSTRAP"] == "kafka:9092"


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_service_wiring_matches_settings(compose, service, monkeypatch):
    svc = compose["services"][service]
    port = SERVICE_PORTS[service]
    assert svc["build"] == "." and svc["image"] == compose["services"]["topics"]["image"], "one image for every service"
    assert svc["command"] == ["run", service]
    assert svc["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert svc["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert svc["ports"] == [f"127.0.0.1:{port}:{port}"]
    env = {k: str(v) for k, v in svc["environment"].items()}
    unknown = {k for k in env if k.startswith("CLAIMFLOW_")} - SETTINGS_ENV
    assert not unknown, f"{service}: no such setting {unknown}"
    assert env["CLAIMFLOW_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert env["CLAIMFLOW_HTTP_HOST"] == "0.0.0.0"
    # the real settings object, read from this environment, serves on the published port
    for k in [k for k in os.environ if k.startswith("CLAIMFLOW_")]:
        monkeypatch.delenv(k)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    settings = Settings()
    assert settings.port_for(service) == port
    assert settings.kafka_bootstrap == "kafka:9092" and settings.http_host == "0.0.0.0"
    health = " ".join(svc["healthcheck"]["test"])
    assert f"http://127.0.0.1:{port}/healthz" in health


def test_prometheus_and_grafana(compose):
    prom = compose["services"]["prometheus"]
    config_arg = next(a for a in prom["command"] if a.startswith("--config.file="))
    mount_src, mount_dst = next(v.split(":")[:2] for v in prom["volumes"] if v.startswith("./deploy/prometheus"))
    config_path = config_arg.split("=", 1)[1]
    assert config_path.startswith(mount_dst + "/")
    config_file = PROM_DIR / config_path[len(mount_dst) + 1:]
    assert config_file.name == "prometheus.compose.yml" and config_file.is_file()
    # every claimflow service of the compose file is scraped at <service>:<port>
    cfg = yaml.safe_load(config_file.read_text())
    targets = {j["job_name"]: [t for sc in j["static_configs"] for t in sc["targets"]] for j in cfg["scrape_configs"]}
    for service in ALL_SERVICES:
        assert targets[service] == [f"{service}:{SERVICE_PORTS[service]}"]
    assert "healthcheck" in prom
    grafana = compose["services"]["grafana"]
    assert grafana["depends_on"]["prometheus"]["condition"] == "service_healthy"
    assert "healthcheck" in grafana
    for v in grafana["volumes"]:
        if v.startswith("./"):
            assert (REPO_ROOT / v.split(":")[0]).is_dir(), v


def _docker_compose() -> list[str] | None:
    for cmd in (["docker", "compose"], [str(TOOLS_DIR / "bin" / "docker-compose")]):
        try:
            if subprocess.run([*cmd, "version"], capture_output=True, timeout=30).returncode == 0:
                return cmd
        except (OSError, subprocess.TimeoutExpired):
            continue
    return None


def test_docker_compose_config_accepts_the_file(tmp_path):
    cmd = _docker_compose()
    if cmd is None:
        pytest.skip("no docker compose plugin here (install it with deploy/tools/install-ops-tools.sh --with-compose)")
    res = subprocess.run([*cmd, "-f", str(COMPOSE_FILE), "config", "-q"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    # and it is really checking: a service with an unknown key is refused
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE_FILE.read_text().replace("    restart: \"no\"\n", "    restart: \"no\"\n    restartt: always\n", 1))
    assert "restartt" in broken.read_text()
    res = subprocess.run([*cmd, "-f", str(broken), "config", "-q"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode != 0, "docker compose config accepted an unknown service key"
    assert "restartt" in res.stdout + res.stderr
