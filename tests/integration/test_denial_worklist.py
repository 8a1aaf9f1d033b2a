"""Denials and appeals on the real broker: 300 encounters through coder, scrubber, payer
simulator and adjudicator (as processes). Every denial adjustment ends in exactly one place
(an open work item on appeals.v1 or a no-action record on denials.no-action.v1); filings and
the simulator's outcomes move the ledger (appealed -> closed, or back to denied with the next
level); refused actions and an outcome for an appeal never filed are dead-lettered; the
overturn model is the same after the adjudicator restarts with its local table state deleted
(rebuilt from the changelog). Prints the counts by kind and the likelihood of one payer/CARC
before and after 20 outcomes (run with -s to see them)."""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
from collections import Counter, defaultdict
from datetime import date, timedelta

import pytest

from claimflow import topics
from claimflow.codec import Codec
from claimflow.kafkaio import read_topic, topic_sizes, wait_for
from claimflow.models import AppealAction, AppealActionKind, AppealOutcome, AppealOutcomeKind, DenialWorkItem, FilingMethod, utcnow
from claimflow.publish import publish_records
from claimflow_app.services import spawn, wait_assigned, wait_healthy
from claimflow.synthetic import EncounterGenerator
from services.adjudicator.actions import action_id_for
from tests.harness import Pipeline, _reset_topics

pytestmark = pytest.mark.integration
N = 300
DENIAL_MIX = {"CO-16": 0.03, "CO-29": 0.03, "CO-18": 0.03, "CO-197": 0.04, "CO-50": 0.30, "CO-97": 0.05}


def _get(settings, path: str):
    url = f"http://127.0.0.1:{settings.port_for('adjudicator')}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


@pytest.fixture
def denial_loop(kafka_broker, tmp_path):
    pipe = Pipeline(kafka_broker, tmp_path, services=("coder", "scrubber", "payer-sim", "adjudicator"))
    pipe.env.update({"CLAIMFLOW_PAYER_SIM_DENIAL_RATES": json.dumps(DENIAL_MIX), "CLAIMFLOW_ADJUDICATOR_WRITE_OFF_LIMIT": "50.00",
                     "CLAIMFLOW_ADJUDICATOR_SWEEP_SECONDS": "3",
                     "CLAIMFLOW_ADJUDICATOR_OUTCOME_WAIT_SECONDS": "8"})
    _reset_topics(pipe.settings)
    pipe.start()
    yield pipe
    codes = pipe.stop()
    assert all(c in (0, None) for c in codes.values()), f"services did not exit cleanly: {codes}"


def _decoded(topic, name, settings):
    codec = Codec()
    return [codec.decode(r.value, name) for r in read_topic(topic, settings)]


def _items(settings) -> dict[str, DenialWorkItem]:
    return {w["work_item_id"]: DenialWorkItem.model_validate(w) for w in _decoded(topics.APPEALS.name, "DenialWorkItem", settings)}


def _filing(w: DenialWorkItem, on: date, action_id: str | None = None, **kw) -> AppealAction:
    return AppealAction(action_id=action_id or action_id_for(w.work_item_id, AppealActionKind.FILED, w.level_index),
                        work_item_id=w.work_item_id, claim_id=w.claim_id, action=AppealActionKind.FILED, actor="biller1",
                        actor_role="biller", occurred_at=utcnow(), filed_on=on, filing_method=FilingMethod.PORTAL,
                        appeal_level=w.appeal_level, payer_id=w.payer_id, reason_code=w.reason_codes[0].split("-", 1)[-1],
                        appealed_amount=w.recoverable_amount, packet_sha256="0" * 64, **kw)


def test_denials_worklist_filing_outcomes_and_learning(denial_loop):
    pipe = denial_loop
    settings = pipe.settings
    started = time.monotonic()
    gen = EncounterGenerator(seed=141, defect_rate=0.05)
    publish_records(topics.ENCOUNTERS, [gen.encounter(i)[0] for i in range(N)], "encounter_id", settings)
    routed = [topics.CLAIMS.name, topics.CLAIMS_HELD.name, topics.CODING_REVIEW.name]

    def adjudicated() -> bool:
        s = topic_sizes(routed + [topics.ADJUDICATIONS.name], settings)
        return sum(s[t] for t in routed) >= N and s[topics.ADJUDICATIONS.name] >= s[topics.CLAIMS.name] > 0

    assert wait_for(adjudicated, timeout=120), topic_sizes(routed + [topics.ADJUDICATIONS.name], settings)
    phases = {"adjudicated": time.monotonic() - started}
    adjudications = _decoded(topics.ADJUDICATIONS.name, "Adjudication", settings)
    assert wait_for(lambda: all((_get(settings, f"/claims/{a['claim_id']}") or {}).get("postings") for a in adjudications), timeout=60)

    # --- every denial adjustment in exactly one place --------------------------------------------
    def placed():
        items = _items(settings)
        no_action = {r["record_id"]: r for r in _decoded(topics.NO_ACTION.name, "NoActionDisposition", settings)}
        return items, no_action

    def all_placed() -> bool:
        items, no_action = placed()
        have = {w.adjudication_id for w in items.values()} | {r["adjudication_id"] for r in no_action.values()}
        return all(a["adjudication_id"] in have for a in adjudications if any(l["adjustments"] for l in a["service_lines"]))

    assert wait_for(all_placed, timeout=30)
    items, no_action = placed()
    by_adj = defaultdict(list)
    for w in items.values():
        by_adj[w.adjudication_id].append(("work", w.work_item_id, set(w.reason_codes)))
    for r in no_action.values():
        by_adj[r["adjudication_id"]].append(("none", r["record_id"], set(r["reason_codes"])))
    adjustments = 0
    for a in adjudications:
        cas = {f"{x['group_code']}-{x['reason_code']}" for l in a["service_lines"] for x in l["adjustments"]}
        for code in cas:
            homes = [rid for _, rid, codes in by_adj[a["adjudication_id"]] if code in codes]
            assert len(homes) == 1, (a["claim_id"], code, homes)
        adjustments += len(cas)
    kinds = Counter(w.kind.value for w in items.values())
    dispositions = Counter(r["disposition"] for r in no_action.values())
    denied_claims = {a["claim_id"] for a in adjudications if a["claim_status_code"] == "4"}
    assert kinds["appeal"] >= 20 and denied_claims

    phases["placed"] = time.monotonic() - started
    # --- filing: a late filing without a reason is refused, a double click is one filing ---------
    appeal_items = sorted((w for w in items.values() if w.kind.value == "appeal" and w.level_index == 0), key=lambda w: w.work_item_id)
    pairs = Counter((w.payer_id, w.reason_codes[0].split("-", 1)[-1]) for w in appeal_items)
    target, _ = pairs.most_common(1)[0]
    prior = next(w.overturn_likelihood for w in appeal_items if (w.payer_id, w.reason_codes[0].split("-", 1)[-1]) == target)
    refused_one, late_one, double_one = appeal_items[0], appeal_items[1], appeal_items[2]
    # refused (and never filed afterwards): the simulator still answers it, and that answer is
    # an outcome for an appeal never filed -> dead-lettered as well
    refused = [_filing(refused_one, refused_one.deadline + timedelta(days=5), action_id="ACT-LATE-NO-REASON")]
    publish_records(topics.APPEAL_ACTIONS, refused, "claim_id", settings)
    first = [_filing(w, date.today()) for w in appeal_items[3:]]
    first.append(_filing(double_one, date.today()))  # same id again
    first.append(_filing(double_one, date.today(), action_id="ACT-SECOND-CLICK"))  # another id, same item and level
    publish_records(topics.APPEAL_ACTIONS, first, "claim_id", settings)
    # the late filing, now with a recorded reason: accepted and flagged
    publish_records(topics.APPEAL_ACTIONS, [_filing(late_one, late_one.deadline + timedelta(days=5), action_id="ACT-LATE-WITH-REASON",
                                                    late_reason="payer portal down for a week, ticket 5521")], "claim_id", settings)

    # --- outcomes: the simulator answers; upheld opens the next level, which we file too ---------
    target_key = "|".join(target)
    filed_ids = {a.work_item_id for a in first} | {late_one.work_item_id}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        outcomes = {o["outcome_id"]: o for o in _decoded(topics.APPEAL_OUTCOMES.name, "AppealOutcome", settings)}
        model = _get(settings, "/overturn-model") or {"counts": {}}
        learned = sum(model["counts"].get(target_key, [0, 0]))
        if learned >= 20 and len(outcomes) >= len(filed_ids):
            break
        nxt = [w for w in _items(settings).values() if w.kind.value == "appeal" and w.level_index > 0 and w.work_item_id not in filed_ids]
        if nxt:
            publish_records(topics.APPEAL_ACTIONS, [_filing(w, date.today()) for w in nxt], "claim_id", settings)
            filed_ids |= {w.work_item_id for w in nxt}
        time.sleep(1.0)
    phases["outcomes"] = time.monotonic() - started
    outcomes = {o["outcome_id"]: o for o in _decoded(topics.APPEAL_OUTCOMES.name, "AppealOutcome", settings)}
    model = _get(settings, "/overturn-model")
    won, lost = model["counts"].get(target_key, [0, 0])
    assert won + lost >= 20, (target, model["counts"])
    after = model["likelihood"][target_key]
    assert after != pytest.approx(prior)

    # the ledger follows: overturned -> closed; upheld -> denied with the next level open (or appealed if re-filed)
    last = {}
    for o in sorted(outcomes.values(), key=lambda o: o["received_at"]):
        if o["work_item_id"] != refused_one.work_item_id:  # its answer is dead-lettered (checked below)
            last[o["claim_id"]] = o
    def ledger_problems() -> list:
        problems = []
        for claim_id, o in last.items():
            entry = _get(settings, f"/claims/{claim_id}")
            open_ids = {w["work_item_id"] for w in entry["open_items"]}
            if o["work_item_id"] in open_ids:
                problems.append((claim_id, "item still open"))
            elif o["outcome"] in ("overturned", "partially_overturned"):
                # closed once nothing else is open on the claim (another line may still need work)
                if (entry["state"] == "closed") != (not open_ids):
                    problems.append((claim_id, entry["state"], len(open_ids)))
            elif entry["state"] not in ("denied", "appealed") or not open_ids:  # the next level (or a write-off) is open
                problems.append((claim_id, entry["state"], len(open_ids)))
        return problems

    assert wait_for(lambda: not ledger_problems(), timeout=20, interval=1.0), ledger_problems()
    settled = Counter(o["outcome"] for o in last.values())
    double_id = action_id_for(double_one.work_item_id, AppealActionKind.FILED, 0)
    triggers = [h["trigger"] for h in _get(settings, f"/claims/{double_one.claim_id}")["history"]]
    assert triggers.count(f"action:{double_id}") == 1 and "action:ACT-SECOND-CLICK" not in triggers
    late_triggers = [h["trigger"] for h in _get(settings, f"/claims/{late_one.claim_id}")["history"]]
    assert "action:ACT-LATE-WITH-REASON" in late_triggers
    assert "action:ACT-LATE-NO-REASON" not in [h["trigger"] for h in _get(settings, f"/claims/{refused_one.claim_id}")["history"]]

    # --- write-off above the limit: refused without a supervisor, applied with one ---------------
    write_offs = [w for w in _items(settings).values() if w.kind.value == "write_off_approval" and w.denied_amount > 50]
    assert write_offs
    wo = write_offs[0]
    base = dict(work_item_id=wo.work_item_id, claim_id=wo.claim_id, action=AppealActionKind.WRITTEN_OFF, actor="biller1",
                actor_role="biller", occurred_at=utcnow(), reason="no modifier can bypass this pair")
    publish_records(topics.APPEAL_ACTIONS, [AppealAction(action_id="ACT-WO-NO-SUP", **base),
                                            AppealAction(action_id="ACT-WO-SUP", approved_by="sup1", approver_role="supervisor", **base)],
                    "claim_id", settings)
    # --- an outcome for an appeal never filed: dead-lettered -------------------------------------
    unfiled = next(w for w in _items(settings).values() if w.kind.value in ("verify_duplicate", "corrected_claim", "rebill_other_payer"))
    publish_records(topics.APPEAL_OUTCOMES, [AppealOutcome(
        outcome_id="OUT-NEVER-FILED", work_item_id=unfiled.work_item_id, claim_id=unfiled.claim_id, payer_id=unfiled.payer_id,
        reason_code="18", appeal_level="payer_internal", outcome=AppealOutcomeKind.OVERTURNED, recovered_amount=0,
        decided_on=date.today(), received_at=utcnow())], "claim_id", settings)

    def dead_letters() -> dict[str, str]:
        out = {}
        for r in read_topic(topics.DLQ_ADJUDICATOR.name, settings):
            h = {k: v.decode() for k, v in r.headers}
            out[h["dlq.error.message"]] = h["dlq.stage"]
        return out

    assert wait_for(lambda: len(dead_letters()) >= 4, timeout=30), dead_letters()
    msgs = dead_letters()
    assert sum("after the deadline" in m for m in msgs) == 1 and sum("supervisor must approve" in m for m in msgs) == 1
    assert sum("no appeal was filed" in m for m in msgs) == 2 and set(msgs.values()) == {"rules"}
    assert len(msgs) == 4, msgs  # nothing else was refused
    assert wait_for(lambda: (_get(settings, f"/claims/{wo.claim_id}") or {}).get("state") == "closed", timeout=20)

    phases["dead letters"] = time.monotonic() - started
    # --- restart with the local table state deleted: the model comes back from its changelog -----
    def quiet() -> bool:  # no outcome in flight: the model and the outcomes topic stay the same for 3 s
        a, n = _get(settings, "/overturn-model"), topic_sizes([topics.APPEAL_OUTCOMES.name], settings)
        time.sleep(3)
        return a == _get(settings, "/overturn-model") and n == topic_sizes([topics.APPEAL_OUTCOMES.name], settings)

    assert wait_for(quiet, timeout=30)
    before = _get(settings, "/overturn-model")
    proc = next(p for p in pipe.procs if p.service == "adjudicator")
    assert proc.stop() in (0, None)
    shutil.rmtree(settings.data_dir / "adjudicator", ignore_errors=True)
    pipe.procs.remove(proc)
    fresh = spawn("adjudicator", pipe.log_dir, pipe.env)
    pipe.procs.append(fresh)
    wait_healthy("adjudicator", settings.port_for("adjudicator"), timeout=90, proc=fresh)
    wait_assigned(fresh, timeout=90)
    assert wait_for(lambda: _get(settings, "/overturn-model") == before, timeout=30), (_get(settings, "/overturn-model"), before)

    print(f"\n[denials] {N} encounters, {len(adjudications)} adjudications, {adjustments} adjustments placed, "
          f"{len(denied_claims)} denied claims")
    print(f"[denials] work items by kind: {dict(sorted(kinds.items()))}")
    print(f"[denials] no-action records by disposition: {dict(sorted(dispositions.items()))}")
    print(f"[denials] outcomes: {dict(settled)} (last per claim), {len(outcomes)} in all")
    print(f"[denials] likelihood {target_key}: {prior:.4f} before, {after:.4f} after {won + lost} outcomes ({won} won, {lost} lost)")
    print(f"[denials] overturn model identical after restart from the changelog: {before == _get(settings, '/overturn-model')}")
    print(f"[denials] elapsed {time.monotonic() - started:.1f}s; phases {({k: round(v, 1) for k, v in phases.items()})}")
