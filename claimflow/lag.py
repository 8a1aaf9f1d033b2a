"""Consumer lag per service and topic (``claimflow_consumer_lag_records``), sampled on a
timer from the worker's own consumer: for every assigned partition of a catalog topic,
the high watermark minus the next offset the worker will commit. Internal Faust topics
(leader assignor, changelogs) are left out; they are not work waiting to be done."""

from __future__ import annotations

import logging
from collections import defaultdict

from claimflow import metrics
from claimflow.topics import BY_NAME

log = logging.getLogger("claimflow.lag")


def lag_by_topic(consumer) -> dict[str, int]:
    """Records not yet committed, summed per catalog topic over the assigned partitions."""
    out: dict[str, int] = defaultdict(int)
    for tp in consumer.assignment():
        if tp.topic not in BY_NAME:
            continue
        high = consumer.highwater(tp)
        if high is None:
            continue
        committed = consumer._committed_offset.get(tp)  # next offset to read after a restart
        position = committed if committed is not None else (consumer._read_offset.get(tp) or 0)
        out[tp.topic] += max(0, int(high) - int(position))
    return dict(out)


def install(app, service: str, interval: float = 10.0) -> None:
    seen: set[str] = set()

    @app.timer(interval)
    async def _sample_lag() -> None:
        try:
            lags = lag_by_topic(app.consumer)
        except Exception:  # lag is diagnostics: never let it take the worker down
            log.debug("lag sampling failed", exc_info=True)
            return
        for topic in seen - set(lags):
            metrics.CONSUMER_LAG.labels(service, topic).set(0)  # partitions moved to another worker
        for topic, lag in lags.items():
            metrics.CONSUMER_LAG.labels(service, topic).set(lag)
        seen.update(lags)
