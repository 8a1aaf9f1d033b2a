"""The denial worklist in real headless Chromium, on the real broker with the real services:
coder, scrubber, payer simulator and adjudicator as processes, the workbench projector and
web app (SQLite) as processes. Synthetic encounters (claimflow.synthetic) with a denial mix
give the worklist its items; the simulator answers what the biller files.

    test_biller_sorts_opens_top_item_generates_letter_and_files   (+ the outcome closes it)
    test_supervisor_approves_a_large_write_off_a_biller_cannot
    test_coder_gets_403_and_the_attempt_is_recorded

Screenshots go to docs/workbench/ (worklist.png, work_item.png)."""

from __future__ import annotations

import json
import subprocess
import time
from decimal import Decimal

import pytest

from claimflow import topics
from claimflow.codec import Codec
from claimflow.kafkaio import read_topic, topic_sizes, wait_for
from claimflow.publish import publish_records
from claimflow.synthetic import EncounterGenerator
from claimflow_app.services import spawn, wait_assigned, wait_healthy
from tests import browser_harness
from tests.harness import Pipeline, _reset_topics
from tests.integration.workbench.stack import start_stack, stop_all
from tests.integration.workbench.test_browser import login, shot

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
N = 40
DENIAL_MIX = {"CO-50": 0.45, "CO-197": 0.1, "CO-97": 0.1, "CO-16": 0.05}
LIMIT = "50.00"
CODEC = Codec()


@pytest.fixture(scope="module")
def loop(kafka_broker, tmp_path_factory):
    root = tmp_path_factory.mktemp("worklist")
    pipe = Pipeline(kafka_broker, root, services=("coder", "scrubber", "payer-sim", "adjudicator"))
    pipe.env.update({"CLAIMFLOW_PAYER_SIM_DENIAL_RATES": json.dumps(DENIAL_MIX), "CLAIMFLOW_ADJUDICATOR_WRITE_OFF_LIMIT": LIMIT,
                     "CLAIMFLOW_PAYER_SIM_APPEAL_DELAY_SECONDS": "2"})
    _reset_topics(pipe.settings)
    try:
        # the services' own start (Pipeline.start waits 90 s each; the coder loads its code sets
        # for longer than that on a loaded machine)
        for service in pipe.services:
            pipe.procs.append(spawn(service, pipe.log_dir, pipe.env))
        for p in pipe.procs:
            wait_healthy(p.service, pipe.settings.port_for(p.service), timeout=300, proc=p)
            wait_assigned(p, timeout=120)
        (root / "db").mkdir()
        st = start_stack(pipe, f"sqlite:///{root}/db/workbench.sqlite3", "wl",
                         {"bea": ("biller",), "sam": ("supervisor",), "carl": ("coder",)})
    except BaseException:
        stop_all(pipe.procs)
        raise
    gen = EncounterGenerator(seed=141, defect_rate=0.05)
    publish_records(topics.ENCOUNTERS, [gen.encounter(i)[0] for i in range(N)], "encounter_id", pipe.settings)
    routed = [topics.CLAIMS.name, topics.CLAIMS_HELD.name, topics.CODING_REVIEW.name]

    def adjudicated() -> bool:
        s = topic_sizes(routed + [topics.ADJUDICATIONS.name, topics.APPEALS.name], pipe.settings)
        return sum(s[t] for t in routed) >= N and s[topics.ADJUDICATIONS.name] >= s[topics.CLAIMS.name] > 0 and s[topics.APPEALS.name] > 0

    assert wait_for(adjudicated, timeout=150)
    yield st
    codes = {**st.stop(), **stop_all(pipe.procs)}
    assert all(c in (0, None) for c in codes.values()), f"processes did not exit cleanly: {codes}"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    why = browser_harness.missing()
    if why:
        pytest.skip(why)
    driver = browser_harness.start_chromium()
    downloads = tmp_path_factory.mktemp("downloads")
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.claimflow_downloads = downloads
    yield driver
    browser_harness.stop_chromium(driver)


def wait(predicate, what: str, timeout: float = 60.0, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def decoded(loop, spec):
    return [CODEC.decode(r.value, spec.value) for r in read_topic(spec.name, loop.settings, timeout=3)]


def work_item_ids(loop) -> set[str]:
    return {w["work_item_id"] for w in decoded(loop, topics.APPEALS)} | {u["work_item_id"] for u in decoded(loop, topics.UNDERPAYMENTS)}


def rows(driver):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, "#worklist tbody tr[data-item]")


def test_biller_sorts_opens_top_item_generates_letter_and_files(loop, browser):
    from selenium.webdriver.common.by import By

    d, base = browser, loop.base
    login(d, base, "bea")
    expected = work_item_ids(loop)
    d.get(base + "/denials/?status=")

    def all_projected():
        d.get(base + "/denials/?status=closed")
        closed = int(d.find_element(By.ID, "count").text.split()[0])
        d.get(base + "/denials/")
        return int(d.find_element(By.ID, "count").text.split()[0]) + closed >= len(expected)

    wait(all_projected, "every work item in the worklist", timeout=60, interval=1.0)
    # sort by dollars, then back to priority: the rows follow
    d.find_element(By.ID, "sort-dollars").click()
    dollars = [Decimal(r.find_element(By.CSS_SELECTOR, ".dollars").text.strip("$")) for r in rows(d)]
    assert dollars == sorted(dollars, reverse=True) and len(dollars) > 1
    d.find_element(By.ID, "sort-priority").click()
    prios = [float(r.find_elements(By.TAG_NAME, "td")[1].text) for r in rows(d)]
    assert prios == sorted(prios, reverse=True)
    # only appeals; overdue days in red is a class on the cell
    from selenium.webdriver.support.ui import Select

    Select(d.find_element(By.ID, "f-kind")).select_by_value("appeal")
    d.find_element(By.ID, "apply-filters").click()
    shot(d, "worklist")
    top = rows(d)[0]
    wid = top.get_attribute("data-item")
    top.find_element(By.CSS_SELECTOR, "a.item-link").click()
    wait(lambda: d.find_elements(By.ID, "work-item-id"), "item page")
    assert d.find_element(By.ID, "work-item-id").text == wid
    claim = d.find_element(By.ID, "claim-id").text
    deadline = d.find_element(By.ID, "deadline").text.split()[0]
    carc = d.find_element(By.CSS_SELECTOR, "#denial tr.code-row td.code").text
    assert d.find_element(By.ID, "rule-id").text.startswith("DEN-")
    assert "PO Box" in d.find_element(By.ID, "appeal-address").text
    assert d.find_elements(By.CSS_SELECTOR, "#remits table.remit-lines td")  # the 835 lines
    # the letter: an empty argument is a clear error, nothing stored
    d.find_element(By.ID, "generate-letter").click()
    assert "argument is empty" in wait(lambda: d.find_elements(By.ID, "form-errors"), "letter error")[0].text
    assert not d.find_elements(By.CSS_SELECTOR, "a.packet-link")
    d.find_element(By.ID, "argument").send_keys("The visit note documents the symptoms that made the service necessary.")
    d.find_element(By.ID, "generate-letter").click()
    link = wait(lambda: d.find_elements(By.CSS_SELECTOR, "a.packet-link"), "packet link")[0]
    assert "symptoms that made the service necessary" in d.find_element(By.ID, "argument").get_attribute("value")  # kept to edit
    d.execute_script("window.scrollTo(0, 0)")
    shot(d, "work_item")
    link.click()
    pdf = wait(lambda: [p for p in d.claimflow_downloads.glob("*.pdf")], "downloaded PDF", timeout=30)[0]
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert claim in text and carc in text and deadline in text, (claim, carc, deadline, text[:500])
    # double-click "Mark filed": two identical POSTs at once -> one filing
    d.execute_script("""
        const f = document.getElementById('file-form');
        const a = fetch(f.action, {method: 'POST', body: new FormData(f)});
        const b = fetch(f.action, {method: 'POST', body: new FormData(f)});
        window.__both = Promise.all([a, b]).then(() => { window.__done = true; });""")
    wait(lambda: d.execute_script("return window.__done === true"), "both posts answered", timeout=30)
    d.get(base + f"/denials/{wid}/")
    status = d.find_element(By.ID, "item-status").text
    assert "filed" in status or "closed" in status, status
    filed = [a for a in decoded(loop, topics.APPEAL_ACTIONS) if a["work_item_id"] == wid and a["action"] == "filed"]
    assert len(filed) == 1 and filed[0]["actor"] == "bea" and filed[0]["packet_sha256"] in d.page_source
    # the simulator's outcome arrives and closes the item: the ledger closes or the next level opens
    def closed():
        d.get(base + f"/denials/{wid}/")
        return "closed" in d.find_element(By.ID, "item-status").text
    wait(closed, "the payer's outcome", timeout=90, interval=1.5)
    note = d.find_element(By.ID, "closed-note").text
    assert "ledger is closed" in note or d.find_elements(By.ID, "next-level"), note
    views = [a for a in decoded(loop, topics.AUDIT_ACCESS) if a["record_type"] == "work_item" and a["record_id"] == wid]
    assert any(a["user"] == "bea" and a["outcome"] == "allowed" and a["action"] == "view" for a in views)


def _open_appeal_over_limit(driver, base: str) -> str:
    from selenium.webdriver.common.by import By

    driver.get(base + "/denials/?status=open&kind=appeal&sort=dollars")
    big = [r for r in rows(driver) if Decimal(r.find_element(By.CSS_SELECTOR, ".dollars").text.strip("$")) > Decimal(LIMIT)]
    assert big, "no open appeal above the write-off limit"
    return big[-1].get_attribute("data-item")


def test_supervisor_approves_a_large_write_off_a_biller_cannot(loop, browser):
    from selenium.webdriver.common.by import By

    d, base = browser, loop.base
    login(d, base, "bea")
    wid = _open_appeal_over_limit(d, base)
    d.get(base + f"/denials/{wid}/")
    d.find_element(By.ID, "write_off-reason").send_keys("balance not worth the appeal")
    d.find_element(By.ID, "write_off").click()
    err = wait(lambda: d.find_elements(By.ID, "form-errors"), "refusal")[0].text
    assert "Only a supervisor can write this off" in err
    login(d, base, "sam")
    d.get(base + f"/denials/{wid}/")
    d.find_element(By.ID, "write_off-reason").send_keys("approved: balance not worth the appeal")
    d.find_element(By.ID, "write_off").click()
    wait(lambda: "written off" in d.find_element(By.ID, "item-status").text, "written off")
    offs = [a for a in decoded(loop, topics.APPEAL_ACTIONS) if a["work_item_id"] == wid and a["action"] == "written_off"]
    assert len(offs) == 1 and (offs[0]["actor"], offs[0]["approved_by"], offs[0]["approver_role"]) == ("sam", "sam", "supervisor")
    # the adjudicator applied it (not refused, not dead-lettered): its counter says so
    def applied():
        return _metric(loop, 'claimflow_appeal_actions_total{action="written_off",result="applied"}') >= 1
    wait(applied, "the adjudicator applied the write-off", timeout=30, interval=1.0)
    assert _metric(loop, 'claimflow_appeal_actions_total{action="written_off",result="refused"}') == 0


def _metric(loop, name: str) -> float:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{loop.settings.port_for('adjudicator')}/metrics", timeout=5) as r:
        text = r.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def test_coder_gets_403_and_the_attempt_is_recorded(loop, browser):
    from selenium.webdriver.common.by import By

    d, base = browser, loop.base
    login(d, base, "carl")
    d.get(base + "/denials/")
    assert "may not do this" in d.find_element(By.TAG_NAME, "body").text
    denied = [a for a in decoded(loop, topics.AUDIT_ACCESS) if a["user"] == "carl" and a["record_type"] == "worklist"]
    assert denied and denied[-1]["outcome"] == "denied"
