"""deploy/k8s: kubeconform in strict mode validates every manifest against the real
Kubernetes JSON schemas (fetched by deploy/tools/install-ops-tools.sh, no network at test
time), rejects deliberately broken ones, and the manifests agree with the settings."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml

from claimflow_app.services import SERVICES
from claimflow.settings import SERVICE_PORTS, Settings
from tests.deploy.support import K8S_DIR, K8S_VERSION, REPO_ROOT, TOOLS_DIR, missing_tool, require_tool

ALL_SERVICES = (*SERVICES, "fhir-gateway")
SCHEMA_ROOT = TOOLS_DIR / "k8s-schemas"
SETTINGS_ENV = {f"CLAIMFLOW_{name.upper()}" for name in Settings.model_fields}


def _kubeconform(*paths) -> dict:
    exe = require_tool("kubeconform")
    strict_dir = SCHEMA_ROOT / f"v{K8S_VERSION}-local-strict"
    if not (strict_dir / "deployment-apps-v1.json").is_file():
        missing_tool(f"Kubernetes {K8S_VERSION} JSON schemas ({strict_dir})")
    location = str(SCHEMA_ROOT) + "/{{ .NormalizedKubernetesVersion }}-local{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json"
    res = subprocess.run(
        [exe, "-strict", "-summary", "-output", "json", "-kubernetes-version", K8S_VERSION,
         "-schema-location", location, *map(str, paths)],
        capture_output=True, text=True, timeout=300,
    )
    report = json.loads(res.stdout)
    report["returncode"] = res.returncode
    report["stderr"] = res.stderr
    return report


def _docs() -> list[dict]:
    docs = []
    for f in sorted(K8S_DIR.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(f.read_text()) if d]
    return docs


def _find(kind: str, name: str) -> dict:
    hits = [d for d in _docs() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(hits) == 1, f"expected one {kind}/{name}, found {len(hits)}"
    return hits[0]


def test_kubeconform_strict_accepts_every_manifest():
    report = _kubeconform(K8S_DIR)
    summary = report["summary"]
    problems = [r for r in report.get("resources", []) if r.get("status") != "statusValid"]
    assert summary["invalid"] == 0 and summary["errors"] == 0, problems or report["stderr"]
    assert summary["skipped"] == 0, "a resource had no schema and was not checked"
    assert summary["valid"] == len(_docs()) >= 2 * len(ALL_SERVICES) + 4, summary
    assert report["returncode"] == 0


BROKEN = {  # case -> (manifest, a fragment of the expected complaint)
    "unknown-container-field": ("""
apiVersion: apps/v1
kind: Deployment
metadata: {name: x, namespace: claimflow}
spec:
  selector: {matchLabels: {app: x}}
  template:
    metadata: {labels: {app: x}}
    spec:
      containers:
        - name: x
          image: claimflow:local
          livenessProb: {httpGet: {path: /healthz, port: 6101}}
""", "'livenessProb' not allowed"),
    "wrong-type": ("""
apiVersion: v1
kind: Service
metadata: {name: x, namespace: claimflow}
spec:
  selector: {app: x}
  ports:
    - {name: http, port: "six-thousand", targetPort: http}
""", "/spec/ports/0/port"),
    "missing-required": ("""
apiVersion: batch/v1
kind: Job
metadata: {name: x, namespace: claimflow}
spec:
  template:
    spec:
      restartPolicy: Never
""", "missing property 'containers'"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_kubeconform_rejects_broken_manifests(case, tmp_path):
    f = tmp_path / f"{case}.yaml"
    manifest, complaint = BROKEN[case]
    f.write_text(manifest)
    report = _kubeconform(f)
    assert report["summary"]["invalid"] == 1, report
    assert complaint in report["resources"][0]["msg"], report
    assert report["returncode"] != 0


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_deployment_and_service_per_service(service):
    port = SERVICE_PORTS[service]
    dep = _find("Deployment", service)
    assert dep["metadata"]["namespace"] == "claimflow"
    pod = dep["spec"]["template"]
    assert pod["metadata"]["annotations"] == {"prometheus.io/scrape": "true", "prometheus.io/port": str(port), "prometheus.io/path": "/metrics"}
    spec = pod["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    [c] = spec["containers"]
    assert c["args"] == ["run", service]
    assert c["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert c[probe]["httpGet"] == {"path": "/healthz", "port": "http"}, probe
    assert set(c["resources"]["requests"]) == {"cpu", "memory"} and set(c["resources"]["limits"]) == {"cpu", "memory"}
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    refs = [next(iter(e.values()))["name"] for e in c["envFrom"]]
    assert "claimflow-config" in refs
    for e in c.get("env", []):
        assert e["name"] in SETTINGS_ENV, e["name"]
    # the pod's state directory is writable although the root filesystem is not
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert "/app/var" in {m["mountPath"] for m in c["volumeMounts"]}
    svc = _find("Service", service)
    assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
    assert svc["spec"]["ports"] == [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}]
    assert svc["metadata"]["annotations"]["prometheus.io/port"] == str(port)
    labels = pod["metadata"]["labels"]
    assert all(labels[k] == v for k, v in dep["spec"]["selector"]["matchLabels"].items())


def test_config_secrets_job_and_namespace():
    docs = _docs()
    assert _find("Namespace", "claimflow")
    for d in docs:
        if d["kind"] != "Namespace":
            assert d["metadata"]["namespace"] == "claimflow", (d["kind"], d["metadata"]["name"])
    config = _find("ConfigMap", "claimflow-config")["data"]
    assert set(config) <= SETTINGS_ENV, set(config) - SETTINGS_ENV
    assert config["CLAIMFLOW_HTTP_HOST"] == "0.0.0.0"  # probes and scrapes come from outside the pod
    assert not [k for k in config if re.search(r"PASSWORD|TOKEN|USERNAME|KEYFILE", k)], "secrets belong in a Secret"
    secrets = [d for d in docs if d["kind"] == "Secret"]
    assert secrets
    for s in secrets:
        assert s["metadata"]["annotations"]["claimflow/placeholder"].startswith("true")
        for key, value in s["stringData"].items():
            assert key in SETTINGS_ENV, key
            assert value.startswith("REPLACE-ME"), f"{s['metadata']['name']}.{key} must stay a placeholder in git"
    names = {s["metadata"]["name"] for s in secrets}
    for d in docs:
        if d["kind"] in ("Deployment", "Job"):
            for c in d["spec"]["template"]["spec"]["containers"]:
                for e in c.get("envFrom", []):
                    if "secretRef" in e:
                        assert e["secretRef"]["name"] in names
                for e in c.get("env", []):
                    ref = e.get("valueFrom", {}).get("secretKeyRef")
                    if ref:
                        assert ref["key"] in _find("Secret", ref["name"])["stringData"]
    job = _find("Job", "claimflow-topics")
    [c] = job["spec"]["template"]["spec"]["containers"]
    assert c["args"][:2] == ["topics", "create"]


def test_topics_job_creates_the_generated_catalog():
    from claimflow.catalog import GENERATED_MARK, K8S_CATALOG_MOUNT, render_topics_yaml

    catalog = _find("ConfigMap", "claimflow-topics")
    assert (K8S_DIR / "21-topics.yaml").read_text().startswith(GENERATED_MARK)
    assert catalog["data"]["topics.yaml"] == render_topics_yaml()
    pod = _find("Job", "claimflow-topics")["spec"]["template"]["spec"]
    [c] = pod["containers"]
    assert c["args"] == ["topics", "create", "--catalog", f"{K8S_CATALOG_MOUNT}/topics.yaml"]
    [mount] = [m for m in c["volumeMounts"] if m["mountPath"] == K8S_CATALOG_MOUNT]
    [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["configMap"]["name"] == "claimflow-topics"


def test_pods_run_as_the_image_user():
    user = re.findall(r"^USER\s+(\S+)", (REPO_ROOT / "Dockerfile").read_text(), re.M)[-1]
    for d in _docs():
        if d["kind"] in ("Deployment", "Job"):
            assert str(d["spec"]["template"]["spec"]["securityContext"]["runAsUser"]) == user, d["metadata"]["name"]
