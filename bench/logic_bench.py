"""Pure-logic throughput of coder, scrubber and adjudicator on one core (no Kafka, no Faust).

For each stage two figures, events/second:
  * logic: the domain call alone (Coder.code, Scrubber.scrub against the full-size synthetic
    reference data, apply_claim/apply_held/apply_adjudication on an in-memory ledger);
  * logic+codec: what the service does per record minus Kafka: Avro decode, contract
    validation, the logic, to_avro and Avro encode of every output (the scrubber pays two
    hops, re-key then scrub, like the service).
It also writes the encoded inputs the per-stage Kafka bench pre-loads (--write-inputs):
encounters (coder), coded encounters (scrubber), claims + held claims + adjudications from
the payer simulator (adjudicator).

    .venv/bin/python bench/logic_bench.py [--count 5000] [--refdata var/bench/refdata] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from datetime import timedelta
from pathlib import Path

import common  # noqa: F401  (sys.path for the repo)
from common import REFDATA_DIR, ensure_refdata, proc_memory, save_records

from claimflow import topics
from claimflow.codec import Codec
from claimflow.models import Adjudication, Claim, CodedEncounter, EncounterEvent, HeldClaim, utcnow
from claimflow.synthetic import EncounterGenerator


def _timed(fn, items) -> tuple[float, list]:
    gc.collect()
    t = time.perf_counter()
    out = [fn(x) for x in items]
    return time.perf_counter() - t, out


def run(count: int, refdata: Path, seed: int = 101, defect_rate: float = 0.05) -> tuple[dict, dict]:
    from services.adjudicator.logic import Policy, apply_adjudication, apply_claim, apply_held
    from services.coder.logic import Coder, CodingReference
    from services.payer_sim.logic import SimConfig, adjudicate
    from services.scrubber.history import InMemoryClaimHistory
    from services.scrubber.logic import Scrubber, ScrubReference

    codec = Codec()
    gen = EncounterGenerator(seed=seed, defect_rate=defect_rate)
    encounters = [gen.encounter(i)[0] for i in range(count)]
    for i, e in enumerate(encounters):  # ids of their own, apart from the end-to-end run's
        encounters[i] = e.model_copy(update={"encounter_id": f"LOGIC-{i:07d}"})
    enc_bytes = [codec.encode("EncounterEvent", e.to_avro()) for e in encounters]
    report: dict = {"count": count}

    # --- coder -------------------------------------------------------------------------
    t = time.perf_counter()
    coder = Coder(CodingReference.load())
    report["coder_load_s"] = round(time.perf_counter() - t, 2)
    now = utcnow()
    coder.code(encounters[0], now)  # warm caches
    secs, results = _timed(lambda e: coder.code(e, now), encounters)
    coded = [r.coded for r in results if r.coded is not None]

    def coder_full(raw: bytes) -> bytes:
        enc = EncounterEvent.model_validate(codec.decode(raw, "EncounterEvent"))
        r = coder.code(enc, utcnow())
        out = r.coded if r.coded is not None else r.review
        return codec.encode(type(out).avro_name, out.to_avro())

    secs_full, _ = _timed(coder_full, enc_bytes)
    report["coder"] = {"events": len(encounters), "logic_eps": round(len(encounters) / secs), "codec_eps": round(len(encounters) / secs_full),
                       "coded": len(coded), "review": len(encounters) - len(coded)}

    # --- scrubber (full-size reference data) ---------------------------------------------
    t = time.perf_counter()
    ref = ScrubReference.load(refdata)
    report["scrubber_load_s"] = round(time.perf_counter() - t, 2)
    report["ptp_pairs"] = len(ref.data.ptp)
    report["mue_codes"] = len(ref.data.mue)
    scrubber = Scrubber(ref)
    history = InMemoryClaimHistory()

    def scrub(c: CodedEncounter):
        r = scrubber.scrub(c, history, now)
        if r.history_updates is not None:
            history.record(r.history_updates)
        return r

    secs, scrubbed = _timed(scrub, coded)
    claims = [r.claim for r in scrubbed if r.claim is not None]
    helds = [r.held for r in scrubbed if r.held is not None]
    coded_bytes = [codec.encode("CodedEncounter", c.to_avro()) for c in coded]
    history2 = InMemoryClaimHistory()

    def scrub_full(raw: bytes) -> bytes:
        c = CodedEncounter.model_validate(codec.decode(raw, "CodedEncounter"))  # hop 1: re-key
        scrubber.day_key(c)
        rekeyed = codec.encode("CodedEncounter", c.to_avro())
        c = CodedEncounter.model_validate(codec.decode(rekeyed, "CodedEncounter"))  # hop 2: scrub
        r = scrubber.scrub(c, history2, utcnow())
        if r.history_updates is not None:
            history2.record(r.history_updates)
        out = r.claim if r.claim is not None else r.held
        return codec.encode(type(out).avro_name, out.to_avro())

    secs_full, _ = _timed(scrub_full, coded_bytes)
    report["scrubber"] = {"events": len(coded), "logic_eps": round(len(coded) / secs), "codec_eps": round(len(coded) / secs_full),
                          "clean": len(claims), "held": len(helds)}

    # --- adjudicator ---------------------------------------------------------------------
    sim = SimConfig(seed=7)
    adjs = [adjudicate(c, sim) for c in claims]
    policy = Policy(pending_ttl=timedelta(hours=72))
    events: list[tuple[str, object]] = [("claim", c) for c in claims] + [("held", h) for h in helds] + [("adj", a) for a in adjs]
    apply = {"claim": apply_claim, "held": apply_held, "adj": apply_adjudication}
    ledger: dict[str, dict] = {}

    def adjudicate_one(ev):
        kind, rec = ev
        posting = apply[kind](ledger.get(rec.claim_id), rec, now, policy)
        ledger[rec.claim_id] = posting.entry
        return posting

    secs, postings = _timed(adjudicate_one, events)
    outputs = sum(len(p.status_events) + len(p.work_items) + len(p.corrections) + len(p.patient_bills) for p in postings)
    models = {"claim": (Claim, "Claim"), "held": (HeldClaim, "HeldClaim"), "adj": (Adjudication, "Adjudication")}
    ev_bytes = [(kind, codec.encode(models[kind][1], rec.to_avro())) for kind, rec in events]
    ledger2: dict[str, dict] = {}

    def adjudicate_full(item) -> list[bytes]:
        kind, raw = item
        model, name = models[kind]
        rec = model.model_validate(codec.decode(raw, name))
        p = apply[kind](ledger2.get(rec.claim_id), rec, utcnow(), policy)
        ledger2[rec.claim_id] = p.entry
        return [codec.encode(type(o).avro_name, o.to_avro()) for o in (*p.status_events, *p.work_items, *p.corrections, *p.patient_bills)]

    secs_full, _ = _timed(adjudicate_full, ev_bytes)
    report["adjudicator"] = {"events": len(events), "logic_eps": round(len(events) / secs), "codec_eps": round(len(events) / secs_full),
                             "claims": len(claims), "held": len(helds), "adjudications": len(adjs), "outputs": outputs}
    report["memory_after_load"] = proc_memory()

    inputs = {
        "coder": [(topics.ENCOUNTERS.name, e.encounter_id.encode(), b) for e, b in zip(encounters, enc_bytes)],
        "scrubber": [(topics.ENCOUNTERS_CODED.name, c.encounter_id.encode(), b) for c, b in zip(coded, coded_bytes)],
        "adjudicator": [({"claim": topics.CLAIMS.name, "held": topics.CLAIMS_HELD.name, "adj": topics.ADJUDICATIONS.name}[kind],
                         rec.claim_id.encode(), raw) for (kind, rec), (_, raw) in zip(events, ev_bytes)],
    }
    return report, inputs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=5000, help="generated encounters (default 5000)")
    ap.add_argument("--refdata", type=Path, default=REFDATA_DIR)
    ap.add_argument("--pairs", type=int, default=2_000_000)
    ap.add_argument("--mue", type=int, default=15_000)
    ap.add_argument("--write-inputs", type=Path, help="pickle the encoded per-stage inputs here")
    ap.add_argument("--json", action="store_true", help="print one JSON line instead of a table")
    args = ap.parse_args()
    ensure_refdata(args.pairs, args.mue, args.refdata, quiet=args.json)
    report, inputs = run(args.count, args.refdata)
    if args.write_inputs:
        save_records(args.write_inputs, inputs)
    if args.json:
        print(json.dumps(report))
        return
    print(f"reference data: {report['ptp_pairs']:,} PTP pairs, {report['mue_codes']:,} MUE codes (load {report['scrubber_load_s']} s)")
    print(f"{'stage':<12} {'events':>7} {'logic ev/s':>11} {'logic+codec ev/s':>17}")
    for s in ("coder", "scrubber", "adjudicator"):
        r = report[s]
        print(f"{s:<12} {r['events']:>7} {r['logic_eps']:>11,} {r['codec_eps']:>17,}")


if __name__ == "__main__":
    main()
