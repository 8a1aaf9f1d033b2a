"""Progress for long CLI work that cannot count its steps (a Maven resolve, a reference-data
import inside one library call): a tqdm line with the elapsed time, on stderr and only on a
terminal (tqdm turns itself off otherwise), so a newcomer sees the command is working."""

from __future__ import annotations

import sys
import threading
from contextlib import contextmanager

from tqdm import tqdm


@contextmanager
def working(desc: str, unit_hint: str = ""):
    bar = tqdm(total=None, desc=desc, bar_format="{desc}: {elapsed} elapsed" + (f" ({unit_hint})" if unit_hint else ""),
               file=sys.stderr, disable=None, leave=False)
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(0.5):
            bar.refresh()

    ticker = threading.Thread(target=tick, name="claimflow-progress", daemon=True)
    ticker.start()
    try:
        yield bar
    finally:
        stop.set()
        ticker.join(2)
        bar.close()
