"""Run one claimflow service in the foreground like ``claimflow run SERVICE``, except that
the scrubber can be given a reference-data folder (normalized importer layout):

    .venv/bin/python bench/run_service.py scrubber --refdata var/bench/refdata

The product has no setting for that yet (ScrubReference.load() is called without a
folder in services/scrubber/app.py), so the bench builds the app itself with
``build_app(settings, reference=ScrubReference.load(DIR))``: same app, same Worker."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import common  # noqa: F401  (sys.path for the repo)


def main() -> None:
    import faust

    from claimflow_app.services import build_service_app
    from claimflow.settings import get_settings

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("service")
    ap.add_argument("--refdata", type=Path, help="scrubber only: normalized reference-data folder")
    args = ap.parse_args()
    settings = get_settings()
    if args.refdata and args.service == "scrubber":
        from services.scrubber.app import build_app
        from services.scrubber.logic import ScrubReference

        t = time.perf_counter()
        ref = ScrubReference.load(args.refdata)
        print(f"bench: scrubber reference data loaded from {args.refdata} in {time.perf_counter() - t:.1f}s "
              f"({len(ref.data.ptp):,} PTP pairs, {len(ref.data.mue):,} MUE codes)", flush=True)
        app = build_app(settings, reference=ref)
    elif args.refdata:
        raise SystemExit("--refdata applies to the scrubber only")
    else:
        app = build_service_app(args.service, settings)
    sys.argv = sys.argv[:1]  # the Worker parses argv too
    faust.Worker(app, loglevel=settings.log_level, quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
