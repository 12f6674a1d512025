"""Garbage-collector settings for a long-running server process.

A turn allocates thousands of short-lived objects (pydantic models, SQLAlchemy rows, HTTP
messages). With CPython's default thresholds (700 allocations) the collector runs hundreds of times
a second and each older-generation pass walks every object the process holds, most of which live
for its whole life (modules, tables, compiled schemas). Measured with ``bench/agents.py`` on this
project: 35 % of a turn's CPU went to the collector. Freezing what exists after start-up moves it
out of the collector's sight, and a higher first threshold makes passes rarer; reference cycles
are still collected, only in larger batches.
"""

from __future__ import annotations

import gc

DEFAULT_THRESHOLD = 50_000
_tuned = False


def tune(threshold: int = DEFAULT_THRESHOLD) -> None:
    """Freeze the objects alive now and raise the first-generation threshold (0: leave GC alone).

    Once per process: what a second runtime in the same process holds is not start-up state.
    """
    global _tuned
    if threshold <= 0 or _tuned:
        return
    _tuned = True
    gc.collect()
    gc.freeze()
    _, second, third = gc.get_threshold()
    gc.set_threshold(threshold, max(second, 20), max(third, 100))
