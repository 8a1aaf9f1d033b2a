"""Prometheus metrics every Processor has: records in and out, dead letters, processing
time and event age, consumer lag, and the consumer's re-read bookkeeping. A service's own
metrics live in its folder (``services/<name>/metrics.py``). Names follow
claimflow_<what>_<unit>; labels are bounded enums (service, outcome, stage, topic), never
ids or PHI."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

RECORDS_IN = Counter(
    "claimflow_records_in_total",
    "Records consumed, by service and outcome (ok, dead_lettered, duplicate).",
    ["service", "outcome"],
)
RECORDS_OUT = Counter(
    "claimflow_records_out_total",
    "Records produced, by service and destination topic.",
    ["service", "topic"],
)
DEAD_LETTERS = Counter(
    "claimflow_dead_letters_total",
    "Records sent to the dead-letter topic, by service and failing stage.",
    ["service", "stage"],
)
PROCESSING_SECONDS = Histogram(
    "claimflow_processing_seconds",
    "Time to process one consumed record, from decode to acknowledged outputs (its batch's time), in seconds.",
    ["service"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
END_TO_END_SECONDS = Histogram(
    "claimflow_event_age_seconds",
    "Age of a consumed record (now minus its Kafka timestamp) when processing finishes, in seconds.",
    ["service"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
BATCH_RECORDS = Histogram(
    "claimflow_batch_records",
    "Records handled together in one batch of the record loop (one acknowledgement wait), by service.",
    ["service"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000),
)
CONSUMER_LAG = Gauge(
    "claimflow_consumer_lag_records",
    "Records between the committed offset and the end of the log, by service and topic.",
    ["service", "topic"],
)
UNHANDLED_RELEASED = Counter(
    "claimflow_rebalance_skipped_records_total",
    "Records Faust skipped during a rebalance and that were left uncommitted to be re-read, by topic.",
    ["topic"],
)
REREAD_REPAIRS = Counter(
    "claimflow_reread_repairs_total",
    "Partitions sought back to re-read a record that was fetched but never handled, by topic.",
    ["topic"],
)


def exposition() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST
