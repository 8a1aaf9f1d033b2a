"""Browser tests in real headless Chromium against the workbench processes (SQLite stack).

The review item comes from a shared Synthea bundle (../shared/data/fhir/synthea-covid-r4),
mapped by the FHIR gateway's own ingest code. Synthea's visits are dated 2010-2020 (no
ICD-10-CM set of those years is loaded, and timely filing would hold them) and carry no
coverage, tax id or check-digit-valid NPIs, so the test re-dates the visit to 30 days ago
and fills in the billing registration an EHR would send; the clinical documentation
(concepts, codes, note) is Synthea's. Screenshots go to docs/workbench/."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from claimflow import topics
from claimflow.ids import claim_id
from tests import browser_harness
from tests.integration.workbench.stack import PASSWORD
from tests.integration.workbench.test_workbench_flow import CODEC, publish, records, wait

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300), pytest.mark.parametrize("stack", ["sqlite"], indirect=True)]
SHOTS = Path(__file__).resolve().parents[3] / "docs" / "workbench"
BUNDLES = "fhir/synthea-covid-r4"


@pytest.fixture(scope="module")
def browser():
    why = browser_harness.missing()
    if why:
        pytest.skip(why)
    driver = browser_harness.start_chromium()
    yield driver
    browser_harness.stop_chromium(driver)


def synthea_encounter(shared_data: Path):
    from services.fhir_gateway.ingest import ingest_paths

    bundle = sorted((shared_data / BUNDLES).glob("*.json"))[0]
    events = ingest_paths([bundle]).events
    enc = next(e for e in events if e.diagnoses and any(d.code for d in e.diagnoses))
    dos = date.today() - timedelta(days=30)
    return enc.model_copy(update={
        "date_of_service": dos, "occurred_at": datetime.now(timezone.utc),
        "coverage": {"payer_id": "SYNTH-PAYER", "payer_name": "Synthetic Health Plan", "plan_type": "commercial",
                     "member_id": "SYN-MEMBER-1", "relationship": "self"},
        "rendering_provider": enc.rendering_provider.model_copy(update={"npi": "1234567893"}),
        "billing_provider": enc.billing_provider.model_copy(update={"npi": "1234567893", "tax_id": "123456789"}),
    }, deep=True)


def login(driver, base: str, user: str) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(base + "/login/")
    driver.find_element(By.ID, "id_username").send_keys(user)
    driver.find_element(By.ID, "id_password").send_keys(PASSWORD)
    driver.find_element(By.ID, "login-submit").click()
    wait(lambda: "/login/" not in driver.current_url, f"{user} logged in", timeout=30)


def shot(driver, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


def post_form_without_csrf(driver, action: str) -> None:
    driver.execute_script("""
        const f = document.createElement('form'); f.method = 'post'; f.action = arguments[0];
        const i = document.createElement('input'); i.name = 'reason'; i.value = 'no token'; f.appendChild(i);
        document.body.appendChild(f); f.submit();""", action)


def test_coder_overrides_a_synthea_item_and_the_claim_follows(stack, browser, shared_data):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    enc = synthea_encounter(shared_data)
    eid = enc.encounter_id
    publish(stack, topics.ENCOUNTERS, eid, CODEC.encode("EncounterEvent", enc.to_avro()))
    base = stack.base

    browser.delete_all_cookies()
    browser.get(f"{base}/review/{eid}/")
    assert "/login/" in browser.current_url, "anonymous -> login"
    shot(browser, "login")

    login(browser, base, "alice")
    wait(lambda: browser.get(f"{base}/?sort=-age") or eid in browser.page_source, "the Synthea item in the queue")
    shot(browser, "queue")
    browser.find_element(By.LINK_TEXT, eid).click()
    wait(lambda: browser.find_elements(By.ID, "resolve-form"), "the item page")
    documented = browser.find_element(By.ID, "documented-dx").text
    assert enc.diagnoses[0].display.split(" (")[0] in documented
    assert browser.find_elements(By.CSS_SELECTOR, "#reasons li")

    before = browser.find_element(By.ID, "dx_2").get_attribute("value")
    dx = browser.find_element(By.ID, "dx_2")
    dx.clear()
    dx.send_keys("R05")  # typeahead: htmx fills the datalist from the DOS year's billable codes
    wait(lambda: "R05.1" in browser.find_element(By.ID, "dx-options").get_attribute("innerHTML"), "typeahead options")
    dx.send_keys(".1")  # override the second diagnosis
    # the E/M code the coder would pick for the patient's status on this export (the mapping derives new vs
    # established from the export's 3-year look-back): an established-patient code for a new patient is held (EM-002)
    from claimflow.models import PatientStatus

    em = "99203" if enc.patient_status is PatientStatus.NEW else "99213"
    for field, value in (("line_1_code", em), ("line_1_units", "1"), ("line_1_pointers", "1")):
        el = browser.find_element(By.ID, field)
        el.clear()
        el.send_keys(value)
    browser.find_element(By.ID, "reason").send_keys("cough documented as acute, not a sputum finding; established office visit")
    shot(browser, "review-item")
    browser.find_element(By.ID, "submit-coding").click()
    wait(lambda: "submitted" in browser.page_source, "the success message")

    cid = claim_id(eid, enc.version)
    wait(lambda: records(stack, topics.CLAIMS, cid), "the claim on claims.v1", timeout=120)
    claims = records(stack, topics.CLAIMS, cid)
    assert len(claims) == 1
    claim = CODEC.decode(claims[0].value, "Claim")
    assert claim["diagnoses"][1] == "R05.1" != before and [ln["procedure_code"] for ln in claim["lines"]] == [em]
    res = CODEC.decode(records(stack, topics.CODING_RESOLUTIONS, eid)[0].value, "CodingResolution")
    assert res["action"] == "edit" and res["resolved_by"] == "alice" and res["reason"].startswith("cough")
    assert [d["code"] for d in res["before_diagnoses"]][1] == before and [d["code"] for d in res["diagnoses"]][1] == "R05.1"

    def timeline_shows_claim():
        browser.get(f"{base}/claims/{cid}/")
        return "scrubbed" in browser.page_source and "coded" in browser.page_source
    wait(timeline_shows_claim, "the claim's timeline", timeout=60)
    text = browser.find_element(By.ID, "timeline").text
    assert "by alice" in text and "scrubbed clean" in text
    shot(browser, "timeline")

    # a form posted without its CSRF token
    browser.get(f"{base}/review/{eid}/")
    post_form_without_csrf(browser, f"/review/{eid}/resolve/")
    wait(lambda: "403" in browser.page_source or "CSRF" in browser.page_source, "the CSRF refusal")
    assert "CSRF verification failed" in browser.page_source

    # a biller may not resolve coding: the page and the submit are 403, and the attempt is audited
    login(browser, base, "bob")
    browser.get(f"{base}/review/{eid}/")
    assert "may not do this" in browser.page_source
    status = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const token = document.cookie.split('; ').find(c => c.startsWith('csrftoken=')).split('=')[1];
        fetch(arguments[0], {method: 'POST', headers: {'X-CSRFToken': token, 'Content-Type': 'application/x-www-form-urlencoded'},
                             body: 'action=code&dx_1=R05.9&line_1_code=99213&reason=biller'}).then(r => done(r.status));""",
        f"{base}/review/{eid}/resolve/")
    assert status == 403
    shot(browser, "biller-403")
    login(browser, base, "ada")
    browser.get(f"{base}/audit/access/?user=bob")
    assert "denied" in browser.page_source
    shot(browser, "access-audit")


def test_a_new_user_changes_the_one_time_password_first(stack, browser):
    from selenium.webdriver.common.by import By

    from tests.integration.workbench.stack import add_user

    add_user(stack.env, "fran", "coder", forced_change=True)
    login(browser, stack.base, "fran")
    browser.get(f"{stack.base}/claims/held/")
    wait(lambda: "/password/change/" in browser.current_url and browser.find_elements(By.ID, "forced-change"),
         "the forced password change")
    browser.find_element(By.ID, "id_old_password").send_keys(PASSWORD)
    browser.find_element(By.ID, "id_new_password1").send_keys("fran's own long passphrase 42")
    browser.find_element(By.ID, "id_new_password2").send_keys("fran's own long passphrase 42")
    browser.find_element(By.ID, "password-change-submit").click()
    wait(lambda: "/password/change/" not in browser.current_url and "Coding review queue" in browser.page_source,
         "the queue after the change")
    browser.get(f"{stack.base}/claims/held/")
    assert "/password/change/" not in browser.current_url
