"""Exponential backoff with full jitter, shared by failed turns, failed sends and calendar syncs.

Pure arithmetic on purpose: the waits are stored (a retried job or send is a row with its next
time), so an in-process retry library such as stamina does not fit; every layer can use this one.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta


def delay(attempt: int, base: float, cap: float, retry_after: float | None = None) -> float:
    """Seconds to wait before attempt ``attempt + 1`` (attempt counts from 1)."""
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    wait = random.uniform(ceiling / 2, ceiling)
    if retry_after is not None:
        wait = max(wait, min(retry_after, cap))
    return wait


def next_time(attempt: int, base: float, cap: float, retry_after: float | None = None) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=delay(attempt, base, cap, retry_after))
