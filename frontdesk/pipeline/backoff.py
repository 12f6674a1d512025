"""Exponential backoff with full jitter, shared by failed turns and failed sends."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from frontdesk.store.db import utcnow


def delay(attempt: int, base: float, cap: float, retry_after: float | None = None) -> float:
    """Seconds to wait before attempt ``attempt + 1`` (attempt counts from 1)."""
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    wait = random.uniform(ceiling / 2, ceiling)
    if retry_after is not None:
        wait = max(wait, min(retry_after, cap))
    return wait


def next_time(attempt: int, base: float, cap: float, retry_after: float | None = None) -> datetime:
    return utcnow() + timedelta(seconds=delay(attempt, base, cap, retry_after))
