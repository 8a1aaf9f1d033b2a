"""The dashboard's figures agree with the services' Prometheus metrics, on the real broker:
coder, scrubber, payer simulator and adjudicator as processes, the workbench projector and
web app as processes on SQLite. A small set of encounters with denials goes through; some
appeals are filed and the simulator answers them; then, once the read model holds every
record of the topics (a condition on the topics, not on the metrics), the dashboard's CSVs
(read over HTTP as a biller, what the page shows) must equal the metric totals:

- denials by CARC group and by payer (summed over time) = claimflow_denials_total;
- dollars at risk by deadline bucket = claimflow_appeal_dollars_at_risk;
- appeal outcomes by kind (the success-rate table) = claimflow_appeal_outcomes_total;
- coded by rules + learned rules / sent to review = claimflow_coding_outcomes_total;
- open denial work items (worklist age) = claimflow_appeal_backlog_items.

A coder is refused the money charts (403, recorded on audit.access.v1) and the page view
records no access event (aggregates only)."""

from __future__ import annotations

import csv
import io
import json
import time
import urllib.request
from collections import Counter, defaultdict
from datetime import date
from decimal import Decimal

import pytest
from prometheus_client.parser import text_string_to_metric_families

from claimflow import topics
from claimflow.codec import Codec
from claimflow.kafkaio import read_topic, topic_sizes, wait_for
from claimflow.models import AppealAction, AppealActionKind, DenialWorkItem, DocumentedDiagnosis, FilingMethod, utcnow
from claimflow.publish import publish_records
from claimflow.synthetic import ICD10, EncounterGenerator
from services.adjudicator.actions import action_id_for
from claimflow_app.services import spawn, wait_assigned, wait_healthy
from tests.harness import Pipeline, _reset_topics
from tests.integration.workbench.stack import Client, start_stack, stop_all

pytestmark = pytest.mark.integration
N = 60
DENIAL_MIX = {"CO-16": 0.05, "CO-29": 0.05, "CO-18": 0.05, "CO-197": 0.05, "CO-50": 0.35, "CO-97": 0.05}
FILE = 10  # appeals filed (the simulator answers each)
REVIEW = 4  # encounters the coder sends to review
START_TIMEOUT = 240


@pytest.fixture(scope="module")
def dash_stack(kafka_broker, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("dashboard")
    pipe = Pipeline(kafka_broker, tmp_path, services=("coder", "scrubber", "payer-sim", "adjudicator"))
    pipe.env.update({"CLAIMFLOW_PAYER_SIM_DENIAL_RATES": json.dumps(DENIAL_MIX), "CLAIMFLOW_ADJUDICATOR_SWEEP_SECONDS": "2"})
    _reset_topics(pipe.settings)
    try:
        # Pipeline.start waits 90 s per service; the coder (code sets, search index) needs more
        # on a loaded 2-core machine, so this fixture waits up to START_TIMEOUT
        for service in pipe.services:
            pipe.procs.append(spawn(service, pipe.log_dir, pipe.env))
        for p in pipe.procs:
            wait_healthy(p.service, pipe.settings.port_for(p.service), timeout=START_TIMEOUT, proc=p)
            wait_assigned(p, timeout=START_TIMEOUT)
        (tmp_path / "db").mkdir()
        stack = start_stack(pipe, f"sqlite:///{tmp_path}/db/workbench.sqlite3", "dash", {"bea": ("biller",), "cody": ("coder",)})
    except BaseException:
        stop_all(pipe.procs)
        raise
    yield stack
    codes = {**stack.stop(), **stop_all(pipe.procs)}
    assert all(c in (0, None) for c in codes.values()), f"processes did not exit cleanly: {codes}"


def _scrape(port: int) -> dict[str, list[tuple[dict, float]]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    out: dict[str, list] = defaultdict(list)
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[s.name].append((s.labels, s.value))
    return out


def _csv(client: Client, key: str) -> list[dict]:
    status, body, _ = client.request(f"/dashboard/{key}.csv")
    assert status == 200, (key, status, body[:200])
    return list(csv.DictReader(io.StringIO(body)))


def diagnose(stack) -> dict:
    """What a mismatch is made of: work items on appeals.v1 missing from the read model (read
    straight from its SQLite file), the workbench's dead letters."""
    import sqlite3
    from urllib.parse import urlparse

    on_topic = {w["work_item_id"]: w for w in _decoded(topics.APPEALS.name, "DenialWorkItem", stack.settings)}
    with sqlite3.connect(urlparse(stack.db_url).path) as db:
        rows = {r[0]: r[1:] for r in db.execute("select work_item_id, status, level_index, kind, disposition from workbench_workitem")}
    missing = {k: (w["kind"], w["level_index"], w["claim_id"]) for k, w in on_topic.items() if k not in rows}
    return {"missing_from_read_model": missing, "read_model_rows": len(rows), "on_topic": len(on_topic),
            "workbench_dlq": topic_sizes([topics.DLQ_WORKBENCH.name], stack.settings)}


def _decoded(topic: str, name: str, settings) -> list[dict]:
    codec = Codec()
    return [codec.decode(r.value, name) for r in read_topic(topic, settings)]


@pytest.fixture(scope="module")
def dash_run(dash_stack):
    """The encounters through the pipeline, FILE appeals filed and answered by the simulator."""
    stack = dash_stack
    settings = stack.settings
    started = time.monotonic()
    gen = EncounterGenerator(seed=1414, defect_rate=0.05)
    encounters = [gen.encounter(i)[0] for i in range(N)]
    for i in range(N, N + REVIEW):  # E11 is a category header: the coder sends these to review
        enc = gen.encounter(i)[0]
        encounters.append(enc.model_copy(update={"diagnoses": [DocumentedDiagnosis(
            system=ICD10, code="E11", display="diabetes", is_primary=True)] + enc.diagnoses[1:]}))
    publish_records(topics.ENCOUNTERS, encounters, "encounter_id", settings)
    routed = [topics.CLAIMS.name, topics.CLAIMS_HELD.name, topics.CODING_REVIEW.name]

    def adjudicated() -> bool:
        s = topic_sizes(routed + [topics.ADJUDICATIONS.name], settings)
        return sum(s[t] for t in routed) >= N + REVIEW and s[topics.ADJUDICATIONS.name] >= s[topics.CLAIMS.name] > 0

    assert wait_for(adjudicated, timeout=90), topic_sizes(routed + [topics.ADJUDICATIONS.name], settings)
    # the adjudicator has placed every adjudication with an adjustment (work item or no-action)
    adjudications = _decoded(topics.ADJUDICATIONS.name, "Adjudication", settings)
    with_adjustments = {a["adjudication_id"] for a in adjudications if any(l["adjustments"] for l in a["service_lines"])}

    def items() -> dict[str, DenialWorkItem]:
        return {w["work_item_id"]: DenialWorkItem.model_validate(w) for w in _decoded(topics.APPEALS.name, "DenialWorkItem", settings)}

    def placed() -> bool:
        have = {w.adjudication_id for w in items().values()}
        have |= {r["adjudication_id"] for r in _decoded(topics.NO_ACTION.name, "NoActionDisposition", settings)}
        return with_adjustments <= have

    assert wait_for(placed, timeout=30)
    appeals = sorted((w for w in items().values() if w.kind.value == "appeal" and w.level_index == 0), key=lambda w: w.work_item_id)
    assert len(appeals) >= FILE, len(appeals)
    filings = [AppealAction(action_id=action_id_for(w.work_item_id, AppealActionKind.FILED, 0), work_item_id=w.work_item_id,
                            claim_id=w.claim_id, action=AppealActionKind.FILED, actor="bea", actor_role="biller",
                            occurred_at=utcnow(), filed_on=date.today(), filing_method=FilingMethod.PORTAL,
                            appeal_level=w.appeal_level, payer_id=w.payer_id, reason_code=w.reason_codes[0].split("-", 1)[-1],
                            appealed_amount=w.recoverable_amount) for w in appeals[:FILE]]
    publish_records(topics.APPEAL_ACTIONS, filings, "claim_id", settings)
    assert wait_for(lambda: topic_sizes([topics.APPEAL_OUTCOMES.name], settings)[topics.APPEAL_OUTCOMES.name] >= FILE, timeout=30)
    return stack, started


def test_dashboard_figures_equal_the_prometheus_metrics(dash_run):
    stack, started = dash_run
    settings = stack.settings

    bea = Client(stack.base)
    bea.login("bea")

    # --- the figures, read as the page shows them, against the scraped metrics -------------------
    def compare() -> dict:
        adj, coder = _scrape(settings.port_for("adjudicator")), _scrape(settings.port_for("coder"))
        got: dict[str, tuple] = {}
        metric_group, metric_payer = Counter(), Counter()
        for labels, v in adj["claimflow_denials_total"]:
            metric_group[labels["group"]] += int(v)
            metric_payer[labels["payer"]] += int(v)
        by_group, by_payer = Counter(), Counter()
        for r in _csv(bea, "denials-by-group"):
            by_group[r["CARC group"]] += int(r["denials"])
        for r in _csv(bea, "denials-by-payer"):
            by_payer[r["payer"]] += int(r["denials"])
        got["denials by group"] = (dict(by_group), dict(metric_group))
        got["denials by payer"] = (dict(by_payer), dict(metric_payer))

        gauge = {labels["days_to_deadline"]: Decimal(str(v)).quantize(Decimal("0.01"))
                 for labels, v in adj["claimflow_appeal_dollars_at_risk"] if v}
        risk = {r["days to deadline"]: Decimal(r["denied dollars"]) for r in _csv(bea, "dollars-at-risk") if Decimal(r["denied dollars"])}
        got["dollars at risk"] = (risk, gauge)

        metric_outcomes = {labels["outcome"]: int(v) for labels, v in adj["claimflow_appeal_outcomes_total"]
                           if v and labels["outcome"] != "withdrawn"}
        ours = Counter()
        for r in _csv(bea, "appeal-success"):
            ours["overturned"] += int(r["overturned"])
            ours["partially_overturned"] += int(r["partially overturned"])
            ours["upheld"] += int(r["upheld"])
        got["appeal outcomes"] = (dict(+ours), metric_outcomes)

        coding_metric = {labels["outcome"]: int(v) for labels, v in coder["claimflow_coding_outcomes_total"]}
        coding = _csv(bea, "coding-automation")
        got["coding"] = ({"coded": sum(int(r["coded by rules"]) + int(r["coded by learned rules"]) for r in coding),
                          "review": sum(int(r["sent to review"]) for r in coding)},
                         {"coded": coding_metric.get("coded", 0), "review": coding_metric.get("review", 0)})

        backlog = int(adj["claimflow_appeal_backlog_items"][0][1])
        got["open denial items"] = (sum(int(r["items"]) for r in _csv(bea, "worklist-age") if r["kind"] != "underpayment"), backlog)
        return got

    def mismatches() -> dict:
        return {k: v for k, v in compare().items() if v[0] != v[1]}

    # the read model and the backlog gauges (refreshed by the adjudicator's sweep) are eventually
    # consistent: the figures must come to equal the metrics and stay equal
    assert wait_for(lambda: not mismatches(), timeout=90, interval=1.0), (mismatches(), diagnose(stack))
    time.sleep(2.5)
    figures = compare()
    assert {k: v for k, v in figures.items() if v[0] != v[1]} == {}
    assert sum(figures["denials by group"][1].values()) > 0 and figures["dollars at risk"][1]
    assert sum(figures["appeal outcomes"][0].values()) == FILE
    assert figures["coding"][1] == {"coded": N, "review": REVIEW} and figures["open denial items"][1] > 0

    # --- a coder: the coding chart only; the refusal is recorded, the page view is not ----------------
    cody = Client(stack.base)
    cody.login("cody")
    status, body, _ = cody.request("/dashboard/")
    assert status == 200 and 'id="chart-coding-automation"' in body and "chart-dollars-at-risk" not in body
    assert cody.request("/dashboard/dollars-at-risk.csv")[0] == 403
    status, page, _ = bea.request("/dashboard/")
    assert status == 200 and page.count('class="chart"') == 6

    def access_events() -> list[dict]:
        return [e for e in _decoded(topics.AUDIT_ACCESS.name, "AccessEvent", settings) if e["record_type"] == "dashboard"]

    assert wait_for(lambda: access_events(), timeout=15)
    events = access_events()
    assert [(e["user"], e["record_id"], e["outcome"]) for e in events] == [("cody", "dollars-at-risk", "denied")]

    for k, (ours, metric) in figures.items():
        print(f"\n[dashboard] {k}: dashboard {ours} = metrics {metric}", end="")
    print(f"\n[dashboard] {N} encounters, {time.monotonic() - started:.1f}s after the services were up")


def test_dashboard_in_chromium_and_screenshot(dash_run):
    """A biller opens the dashboard in headless Chromium: every chart image renders, each has
    its table; the screenshot goes to docs/workbench/dashboard.png."""
    from pathlib import Path

    from selenium.webdriver.common.by import By

    from tests import browser_harness
    from tests.integration.workbench.stack import PASSWORD

    why = browser_harness.missing()
    if why:
        pytest.skip(why)
    stack, _ = dash_run
    driver = browser_harness.start_chromium(width=1500, height=1900)
    try:
        driver.get(stack.base + "/login/")
        driver.find_element(By.ID, "id_username").send_keys("bea")
        driver.find_element(By.ID, "id_password").send_keys(PASSWORD)
        driver.find_element(By.ID, "login-submit").click()
        assert wait_for(lambda: "/login/" not in driver.current_url, timeout=30)
        driver.get(stack.base + "/dashboard/")
        sections = driver.find_elements(By.CSS_SELECTOR, "section.chart")
        assert len(sections) == 6
        loaded = "return Array.from(document.images).filter(i => i.complete && i.naturalWidth > 0).length"
        assert wait_for(lambda: driver.execute_script(loaded) == 6, timeout=30), driver.execute_script(loaded)
        for sec in sections:
            assert sec.find_element(By.TAG_NAME, "img").get_attribute("alt")
            assert sec.find_elements(By.CSS_SELECTOR, "table.figures tbody tr")
        rows = driver.find_elements(By.CSS_SELECTOR, "#table-denials-by-group tbody tr")
        assert rows and "No data" not in rows[0].text
        shots = Path(__file__).resolve().parents[2] / "docs" / "workbench"
        shots.mkdir(parents=True, exist_ok=True)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1500, min(4000, height + 40))  # the whole page in one picture
        driver.save_screenshot(str(shots / "dashboard.png"))
    finally:
        browser_harness.stop_chromium(driver)
