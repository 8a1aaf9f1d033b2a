"""A real Prometheus (Debian's /usr/bin/prometheus) scrapes the running services with the
committed deploy/prometheus/prometheus.yml (targets rewritten to the test ports, 1 s
intervals) and loads the committed alert rules. After encounters flow through the
pipeline, every service's job is up and has exposed claimflow_* samples, the rules
evaluate without error, and every Grafana dashboard query runs."""

from __future__ import annotations

import copy
import json
import os
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest
import yaml

from claimflow.kafkaio import wait_for
from claimflow import topics
from claimflow.publish import publish_records
from claimflow.settings import SERVICE_PORTS
from claimflow.synthetic import EncounterGenerator
from tests.deploy.support import GRAFANA_DIR, PROM_DIR, require_tool
from tests.harness import _pipeline

pytestmark = pytest.mark.integration

LIVE_SERVICES = ("coder", "scrubber", "adjudicator", "payer-sim", "payer-gateway")
# Loopback ports tried for Prometheus, first free one wins ("LOW-HIGH").
PORT_RANGE = os.environ.get("CLAIMFLOW_TEST_PROMETHEUS_PORTS", "16190-16199")
N = 40


def _free_port() -> int:
    low, high = (int(p) for p in PORT_RANGE.split("-"))
    for port in range(low, high + 1):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.fail(f"no free loopback port for Prometheus in {PORT_RANGE} (CLAIMFLOW_TEST_PROMETHEUS_PORTS)")


def _live_config(pipe) -> dict:
    """deploy/prometheus/prometheus.yml with the jobs of the running services pointed at
    their test ports; everything else (job names, paths, rule files) as committed."""
    committed = yaml.safe_load((PROM_DIR / "prometheus.yml").read_text())
    cfg = copy.deepcopy(committed)
    cfg["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    cfg["rule_files"] = [str(PROM_DIR / pattern) for pattern in committed["rule_files"]]
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    cfg["scrape_configs"] = []
    for service in LIVE_SERVICES:
        job = jobs[service]
        [target] = [t for sc in job["static_configs"] for t in sc["targets"]]
        assert target.endswith(f":{SERVICE_PORTS[service]}"), target
        job["static_configs"] = [{"targets": [f"127.0.0.1:{pipe.settings.port_for(service)}"]}]
        cfg["scrape_configs"].append(job)
    return cfg


class PrometheusServer:
    def __init__(self, config: dict, root):
        self.exe = require_tool("prometheus")
        self.port = _free_port()
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.config_path = root / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.log_path = root / "prometheus.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [self.exe, f"--config.file={self.config_path}", f"--storage.tsdb.path={self.root / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=1h", "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.proc.returncode}: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"prometheus not ready after {timeout:.0f}s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def api(self, path: str, **params) -> dict:
        url = f"{self.url}/api/v1/{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:  # 400/422: bad query, body says why
            return json.loads(exc.read())

    def query(self, expr: str) -> list[dict]:
        body = self.api("query", query=expr)
        assert body["status"] == "success", (expr, body)
        return body["data"]["result"]

    def by_job(self, expr: str) -> dict[str, float]:
        return {r["metric"].get("job"): float(r["value"][1]) for r in self.query(expr)}


def _wait(predicate, timeout: float, interval: float = 2.0) -> bool:
    return wait_for(predicate, timeout, interval)


def _dashboard_queries() -> list[str]:
    dash = json.loads((GRAFANA_DIR / "dashboards" / "claimflow.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    # Grafana fills these in before sending a query
    return [e.replace("$__rate_interval", "1m").replace("$__range", "5m").replace("$service", ".*") for e in exprs]


def test_prometheus_scrapes_every_service(kafka_broker, tmp_path):
    pipe = _pipeline(kafka_broker, tmp_path / "pipeline", LIVE_SERVICES)
    prom = None
    try:
        prom = PrometheusServer(_live_config(pipe), tmp_path / "prometheus")
        prom.start()

        gen = EncounterGenerator(seed=909, defect_rate=0.1)
        publish_records(topics.ENCOUNTERS, [gen.encounter(i)[0] for i in range(N)], "encounter_id", pipe.settings)

        state: dict = {}

        def scraped_everywhere() -> bool:
            state["up"] = prom.by_job("up")
            state["claimflow_series"] = prom.by_job('count by (job) ({__name__=~"claimflow_.+"})')
            state["records_in"] = prom.by_job("sum by (job) (claimflow_records_in_total)")
            return all(state["up"].get(s) == 1 and state["claimflow_series"].get(s, 0) > 0 and state["records_in"].get(s, 0) > 0
                       for s in LIVE_SERVICES)

        assert _wait(scraped_everywhere, timeout=300), state

        # the service label the code sets is the job name Prometheus gives the target
        for sample in prom.query("claimflow_records_in_total"):
            labels = sample["metric"]
            assert labels["service"] == labels["job"], labels
            assert "exported_service" not in labels

        # the committed alert rules are loaded and every rule evaluates without error
        committed = {g["name"] for f in (PROM_DIR / "rules").glob("*.yml") for g in yaml.safe_load(f.read_text())["groups"]}

        def rules_healthy() -> bool:
            groups = prom.api("rules")["data"]["groups"]
            state["rules"] = {r["name"]: (r["health"], r.get("lastError", "")) for g in groups for r in g["rules"]}
            return {g["name"] for g in groups} == committed and all(h == "ok" for h, _ in state["rules"].values())

        assert _wait(rules_healthy, timeout=120), state["rules"]

        # every Grafana dashboard query is valid PromQL that this Prometheus runs
        for expr in _dashboard_queries():
            body = prom.api("query", query=expr)
            assert body["status"] == "success", (expr, body.get("error"))
        # and the flow panel's query shows every service (rate needs two scrapes of a counter)
        def flow_for_all() -> bool:
            flow = prom.query('sum by (service, outcome) (rate(claimflow_records_in_total{service=~".*"}[1m]))')
            state["flow"] = {r["metric"]["service"] for r in flow}
            state["samples"] = prom.query("count_over_time(claimflow_records_in_total[1m])")
            return state["flow"] >= set(LIVE_SERVICES)

        assert _wait(flow_for_all, timeout=120), state
    finally:
        if prom is not None:
            prom.stop()
        pipe.stop()
