"""A NULL pipeline of the real topology: the Kafka/Faust floor the end-to-end figure is
compared with.

One process per service, like the real pipeline (coder, scrubber, payer-sim, adjudicator),
each a Faust app from claimflow.runtime.make_app (the service's own port and Faust settings)
whose agents read the same catalog topics the real agents read, with the partition counts of
the catalog, and forward along the same hops:

    encounters.v1 -> [coder] -> encounters.coded.v1 -> [scrubber re-key] -> encounters.coded.by-day.v1
      -> [scrubber] -> claims.v1 -> [payer-sim] -> adjudications.v1 -> [adjudicator] -> claims.status.v1
                          claims.v1 ----------------------------------> [adjudicator]

Every handler decodes the record with the Avro codec and forwards the original bytes (the
encounter is carried the whole way, so every hop decodes an EncounterEvent) under the key the
real hop uses: encounter id, a day key for the re-key hop, the claim id (ids.claim_id, version
1) from the scrubber on. No validation, no rules, no tables, no delivery wait. Topics the real
agents read that carry nothing in the bench (held claims, corrections, appeal outcomes and
actions, the adjudicator's own status events) are subscribed to as well and only decoded.

    .venv/bin/python bench/null_pipeline.py coder|scrubber|payer-sim|adjudicator
(settings from CLAIMFLOW_* variables, like the services)"""

from __future__ import annotations

import argparse
import sys

import common  # noqa: F401  (sys.path for the repo)

CARRIED = "EncounterEvent"  # the contract of the bytes every null hop forwards


def day_key(key: bytes) -> bytes:
    """The re-key hop's key: a different key per record, so records move partition like the
    real day key does (patient + date of service)."""
    return b"day|" + key


def claim_key(key: bytes) -> bytes:
    from claimflow.ids import claim_id

    eid = key.decode()
    if eid.startswith("day|"):
        eid = eid[4:]
    return claim_id(eid, 1).encode()


def hops(service: str):
    """(agent name, input topics, output topic or None, key function) of one service."""
    from claimflow import topics as t

    same = None  # keep the key
    table = {
        "coder": [("coder.encounters", (t.ENCOUNTERS,), t.ENCOUNTERS_CODED, same),
                  ("coder.resolutions", (t.CODING_RESOLUTIONS,), None, same)],
        "scrubber": [("scrubber.rekey", (t.ENCOUNTERS_CODED,), t.ENCOUNTERS_CODED_BY_DAY, day_key),
                     ("scrubber.corrections", (t.CLAIMS_HELD, t.CLAIMS_CORRECTED), None, same),
                     ("scrubber.claims", (t.ENCOUNTERS_CODED_BY_DAY, t.CLAIMS_CORRECTED_BY_DAY), t.CLAIMS, claim_key)],
        "payer-sim": [("payer-sim.claims", (t.CLAIMS,), t.ADJUDICATIONS, same),
                      ("payer-sim.appeals", (t.APPEAL_ACTIONS,), None, same)],
        "adjudicator": [("adjudicator.claim-events", (t.CLAIMS, t.CLAIMS_HELD, t.CLAIMS_STATUS, t.ADJUDICATIONS,
                                                      t.APPEAL_OUTCOMES, t.APPEAL_ACTIONS), t.CLAIMS_STATUS, same)],
    }
    return table[service]


def build_null_service(settings, service: str):
    from mode import CrashingSupervisor

    from claimflow import topics as t
    from claimflow.codec import Codec
    from claimflow.runtime import make_app, raw_topic

    app = make_app(service, settings)
    codec = Codec()
    for name, inputs, output, keyf in hops(service):
        out = raw_topic(app, output) if output is not None else None
        # the adjudicator reads its own status events: decode them, do not forward (no loop)
        terminal = {t.CLAIMS_STATUS.name} if output is t.CLAIMS_STATUS else set()

        def make(out=out, keyf=keyf, terminal=terminal):
            async def forward(stream):
                async for event in stream.events():
                    codec.decode(event.value, CARRIED)
                    if out is not None and event.message.topic not in terminal:
                        key = event.key if keyf is None else keyf(event.key)
                        await out.send(key=key, value=event.value)
            return forward

        app.agent(raw_topic(app, *inputs), name=f"null.{name}", concurrency=1, supervisor_strategy=CrashingSupervisor)(make())
    return app


def main() -> None:
    import faust

    from claimflow.settings import get_settings

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("service", choices=("coder", "scrubber", "payer-sim", "adjudicator"))
    args = ap.parse_args()
    settings = get_settings()
    app = build_null_service(settings, args.service)
    sys.argv = sys.argv[:1]  # the Worker parses argv too
    print(f"null pipeline: {args.service} ready to start", flush=True)
    faust.Worker(app, loglevel=settings.log_level, quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
