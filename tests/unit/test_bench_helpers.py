"""Pure helpers of the pipeline bench (bench/common.py, bench/null_pipeline.py): ratios,
percentiles, RSS growth, the batch-size histogram read from a real prometheus_client
exposition, and the claim copies the adjudicator memory phase feeds. No broker, no timing."""

from __future__ import annotations

import math
import sys

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from claimflow.settings import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "bench"))

import common  # noqa: E402  (bench/common.py)


def test_ratio_refuses_missing_or_non_positive_denominators():
    assert common.ratio(150.0, 200.0) == 0.75
    assert common.ratio(1.0, 3.0, nd=2) == 0.33
    assert common.ratio(None, 2.0) is None
    assert common.ratio(2.0, None) is None
    assert common.ratio(2.0, 0.0) is None
    assert common.ratio(float("nan"), 2.0) is None


def test_percentile_is_nearest_rank():
    values = sorted(float(v) for v in range(1, 101))
    assert common.percentile(values, 50) == 50.0
    assert common.percentile(values, 99) == 99.0
    assert common.percentile(values, 100) == 100.0
    assert common.percentile([7.0], 99) == 7.0
    assert common.percentile([1.0, 2.0, 3.0], 50) == 2.0
    assert common.percentile([1.0, 2.0], 50) == 1.0
    assert math.isnan(common.percentile([], 50))


def test_rss_growth_scales_between_the_first_samples_past_each_mark():
    samples = [(0, 200.0), (5_000, 230.0), (20_400, 250.0), (60_000, 262.0), (100_050, 270.0)]
    g = common.rss_growth(samples, 20_000, 100_000)
    assert g["at_lo"] == (20_400, 250.0)
    assert g["at_hi"] == (100_050, 270.0)
    assert g["growth_mib"] == round(20.0 * 100_000 / (100_050 - 20_400), 1)


def test_rss_growth_is_none_when_the_run_never_reached_the_end_mark():
    g = common.rss_growth([(0, 200.0), (30_000, 260.0)], 20_000, 100_000)
    assert g["at_hi"] is None and g["growth_mib"] is None


def _exposition(batches_by_service: dict[str, list[int]]) -> str:
    reg = CollectorRegistry()
    h = Histogram("claimflow_batch_records", "records per batch", ["service"], buckets=(1, 2, 5, 10, 50, 100, 500),
                  registry=reg)
    for svc, sizes in batches_by_service.items():
        for n in sizes:
            h.labels(svc).observe(n)
    return generate_latest(reg).decode()


def test_histogram_summary_reads_count_sum_mean_and_bucket_percentiles():
    text = _exposition({"scrubber": [1, 10, 10, 10, 100], "coder": [5]})
    got = common.histogram_summary(text, "claimflow_batch_records")
    row = got["service=scrubber"]
    assert row["count"] == 5 and row["sum"] == 131
    assert row["mean"] == 26.2
    assert row["p50_le"] == 10.0  # the third of five observations lies in the le=10 bucket
    assert row["p95_le"] == 100.0
    assert got["service=coder"]["mean"] == 5.0
    assert common.histogram_summary(text, "claimflow_missing") == {}


def test_batch_report_separates_saturation_from_the_later_runs():
    before = common.histogram_summary(_exposition({"adjudicator": [50, 50]}), "claimflow_batch_records")
    after = common.histogram_summary(_exposition({"adjudicator": [50, 50, 2, 4]}), "claimflow_batch_records")
    rep = common.batch_report({"saturation": {"adjudicator": before, "payer-sim": {}},
                               "end": {"adjudicator": after, "payer-sim": {}}})
    assert rep["adjudicator"]["saturation_mean"] == 50.0
    assert rep["adjudicator"]["saturation_batches"] == 2
    assert rep["adjudicator"]["latency_batches"] == 2
    assert rep["adjudicator"]["latency_mean"] == 3.0
    assert rep["payer-sim"]["saturation_mean"] is None  # no histogram: record-at-a-time code


def test_metric_series_count_counts_samples_not_comments():
    assert common.metric_series_count("# HELP x y\n# TYPE x counter\nx_total 1\nx_created 2\n\n") == 2


def test_clone_records_gives_every_copy_ids_of_its_own():
    from claimflow import topics
    from claimflow.codec import Codec
    from claimflow.ids import claim_id
    from claimflow.models import Claim
    from claimflow.synthetic import EncounterGenerator
    from services.coder.logic import Coder, CodingReference
    from services.payer_sim.logic import SimConfig, adjudicate
    from services.scrubber.history import InMemoryClaimHistory
    from services.scrubber.logic import Scrubber, ScrubReference
    from claimflow.models import utcnow

    codec = Codec()
    gen = EncounterGenerator(seed=5, defect_rate=0.0)
    coder, scrubber, history = Coder(CodingReference.load()), Scrubber(ScrubReference.load()), InMemoryClaimHistory()
    claims = []
    for i in range(12):
        coded = coder.code(gen.encounter(i)[0], utcnow()).coded
        if coded is None:
            continue
        r = scrubber.scrub(coded, history, utcnow())
        if r.claim is not None:
            claims.append(r.claim)
    assert claims
    records = [(topics.CLAIMS.name, c.claim_id.encode(), codec.encode("Claim", c.to_avro())) for c in claims]
    records += [(topics.ADJUDICATIONS.name, c.claim_id.encode(), codec.encode("Adjudication", adjudicate(c, SimConfig(seed=1)).to_avro()))
                for c in claims]
    out = common.clone_records(records, 3 * len(claims), (topics.CLAIMS.name,))
    got = [(t, k, codec.decode(v, topics.BY_NAME[t].value)) for t, k, v in out]
    got_claims = [Claim.model_validate(r) for t, _, r in got if t == topics.CLAIMS.name]
    assert len(got_claims) >= 3 * len(claims)
    assert len({c.claim_id for c in got_claims}) == len(got_claims)  # no two copies share a claim id
    assert len({c.encounter_id for c in got_claims}) == len(got_claims)
    adjs = [r for t, _, r in got if t == topics.ADJUDICATIONS.name]
    assert len({a["adjudication_id"] for a in adjs}) == len(adjs)
    claim_ids = {c.claim_id for c in got_claims}
    assert all(a["claim_id"] in claim_ids for a in adjs)  # every remittance still points at a claim of its copy
    assert all(k.decode() == r["claim_id"] for _, k, r in got)  # keyed by the claim id
    first = claims[0]
    assert claim_id(f"{first.claim_id}~1", 1) in claim_ids


def test_null_pipeline_hops_follow_the_real_topology():
    import null_pipeline
    from claimflow import topics

    hops = {svc: null_pipeline.hops(svc) for svc in ("coder", "scrubber", "payer-sim", "adjudicator")}
    chain = [(inp[0].name, out.name) for svc in ("coder", "scrubber", "payer-sim", "adjudicator")
             for _, inp, out, _ in hops[svc] if out is not None]
    assert chain == [(topics.ENCOUNTERS.name, topics.ENCOUNTERS_CODED.name),
                     (topics.ENCOUNTERS_CODED.name, topics.ENCOUNTERS_CODED_BY_DAY.name),
                     (topics.ENCOUNTERS_CODED_BY_DAY.name, topics.CLAIMS.name),
                     (topics.CLAIMS.name, topics.ADJUDICATIONS.name),
                     (topics.CLAIMS.name, topics.CLAIMS_STATUS.name)]
    assert null_pipeline.day_key(b"E1") != b"E1"
    from claimflow.ids import claim_id

    assert null_pipeline.claim_key(null_pipeline.day_key(b"E1")) == claim_id("E1", 1).encode()


@pytest.mark.parametrize("service", ["coder", "scrubber", "payer-sim", "adjudicator"])
def test_null_pipeline_reads_what_the_real_service_reads(service):
    """The null apps subscribe to the real agents' topics (same consumer group shape)."""
    import null_pipeline
    from claimflow_app.services import build_service_app
    from claimflow.settings import Settings

    def topics_of(app) -> set[str]:
        return {t for agent in app.agents.values() for t in agent.channel.topics}

    s = Settings(table_store="memory://")
    real = build_service_app(service, s)
    null = null_pipeline.build_null_service(s, service)
    assert topics_of(null) == topics_of(real)
