"""A NULL Faust agent: the Kafka/Faust floor the stage figures are compared with.

Built with claimflow.runtime.make_app/raw_topic (the consumer/producer settings of the
stage it mirrors), it decodes each record with the Avro codec (the contract named by the
topic registry) and forwards the original key and value to an output topic. No
validation, no rules, no tables, no delivery wait.

    .venv/bin/python bench/null_agent.py --as coder --output bench.null.out.v1 encounters.v1 [more topics]
(settings from CLAIMFLOW_* variables, like the services)"""

from __future__ import annotations

import argparse
import sys

import common  # noqa: F401  (sys.path for the repo)

NULL_OUTPUT = "bench.null.out.v1"


def build_null_app(settings, stage: str, inputs: list[str], output: str = NULL_OUTPUT):
    from mode import CrashingSupervisor

    from claimflow.codec import Codec
    from claimflow.runtime import make_app, raw_topic
    from claimflow.topics import BY_NAME

    app = make_app(stage, settings)  # the stage's own port and Faust settings; the app id comes from the prefix
    codec = Codec()
    specs = [BY_NAME[name] for name in inputs]
    contract = {s.name: s.value for s in specs}
    out = app.topic(output, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
                    partitions=4)

    @app.agent(raw_topic(app, specs[0], *specs[1:]), name=f"null.{stage}", concurrency=1, supervisor_strategy=CrashingSupervisor)
    async def forward(stream):
        async for event in stream.events():
            codec.decode(event.value, contract[event.message.topic])
            await out.send(key=event.key, value=event.value)

    return app


def main() -> None:
    import faust

    from claimflow.settings import get_settings

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--as", dest="stage", required=True, help="service whose port/settings to borrow (coder, scrubber, adjudicator)")
    ap.add_argument("--output", default=NULL_OUTPUT)
    ap.add_argument("inputs", nargs="+")
    args = ap.parse_args()
    settings = get_settings()
    app = build_null_app(settings, args.stage, args.inputs, args.output)
    sys.argv = sys.argv[:1]  # the Worker parses argv too
    faust.Worker(app, loglevel=settings.log_level, quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
