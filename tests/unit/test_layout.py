"""Layering: the shared package ``claimflow/`` knows no service. Only the composition root
``claimflow_app/`` imports the services; services import ``claimflow``, never the root."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def service_imports(source: str) -> list[str]:
    """Every import of the ``services`` package in ``source``: import statements (also
    inside functions) and ``importlib.import_module("services...")`` / ``__import__`` calls."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "services"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.split(".")[0] == "services":
            found.append(node.module)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            if name in ("import_module", "__import__", "run_module") and node.args[0].value.split(".")[0] == "services":
                found.append(node.args[0].value)
    return found


def _offenders(package: str, check) -> dict[str, list[str]]:
    out = {}
    for path in sorted((REPO / package).rglob("*.py")):
        hits = check(path.read_text())
        if hits:
            out[str(path.relative_to(REPO))] = hits
    return out


def test_the_checker_catches_every_form_of_import():
    src = """
import services
import os, services.coder.app as app
from services.scrubber import logic
from services import payer_gateway
def f():
    from services.adjudicator.rules import x
    importlib.import_module("services.coder.app")
    __import__("services.payer_sim")
from claimflow import services_like  # not the package
from .services import x              # relative: some other package's module
"""
    assert service_imports(src) == ["services", "services.coder.app", "services.scrubber", "services", "services.adjudicator.rules",
                                    "services.coder.app", "services.payer_sim"]


def test_shared_package_imports_no_service():
    assert _offenders("claimflow", service_imports) == {}


def test_services_do_not_import_the_composition_root():
    def root_imports(source: str) -> list[str]:
        return [n.module or "" for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("claimflow_app")] + \
               [a.name for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Import) for a in n.names if a.name.startswith("claimflow_app")]

    assert _offenders("services", root_imports) == {}
    assert _offenders("claimflow", root_imports) == {}


def test_shared_metrics_are_only_those_every_processor_has():
    from prometheus_client.metrics import MetricWrapperBase

    from claimflow import metrics

    shared = {o._name for o in vars(metrics).values() if isinstance(o, MetricWrapperBase)}
    assert shared == {"claimflow_records_in", "claimflow_records_out", "claimflow_dead_letters", "claimflow_processing_seconds",
                      "claimflow_event_age_seconds", "claimflow_consumer_lag_records", "claimflow_rebalance_skipped_records",
                      "claimflow_reread_repairs", "claimflow_batch_records"}
