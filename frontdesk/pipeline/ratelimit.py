"""Per-sender send pacing: a send waits for its slot under the sender's rate instead of failing.

A sender (one number, one bot) may send ``rate`` units a second (messages, or SMS segments) with a
burst of one second's worth (at least one unit) after a quiet spell. A send costing more than the
burst first waits out the excess: ten SMS segments at 1/s wait 9 s after a quiet spell, then go.

In one process the budget lives in memory as a GCRA schedule: each caller reserves the next free
slot synchronously, then sleeps until it, so concurrent waiters for one key go in call order. With
``redis_url`` the budget lives in Redis through ``limits``' moving window, shared by every process:
callers poll ``hit()``, sleeping until the oldest entry leaves the window. In Redis the rate is
held as whole units per whole seconds, rounded down (2.5/s runs as 2/s; 0.4/s as 1 per 3 s), so a
provider's rate is never exceeded; waiters of one process still go in order, those of different
processes in no set order.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

_BURST_SECONDS = 1.0
_MAX_IDLE_KEYS = 10_000


def sender_rate(default: float, settings: dict[str, Any]) -> float:
    """Units per second a sender may send: ``settings["max_mps"]`` if set, else ``default``, the
    rate its adapter's ``capabilities`` give (the provider's documented default)."""
    configured = settings.get("max_mps")
    if configured is not None:
        return _positive_rate(configured)
    return default


def _positive_rate(value: Any) -> float:
    try:
        rate = float(value)
    except (TypeError, ValueError):
        rate = math.nan
    if not rate > 0 or math.isinf(rate):
        raise ValueError(f"max_mps must be a positive number of messages per second, not {value!r}")
    return rate


class SendRateLimiter:
    """Paces sends per key (one sender); shared across processes when given a Redis URL."""

    def __init__(self, redis_url: str | None = None) -> None:
        self._budget: _MemoryBudget | _RedisBudget = _RedisBudget(redis_url) if redis_url else _MemoryBudget()

    async def wait(self, key: str, rate_per_second: float, cost: int = 1) -> float:
        """Block until `cost` units may be sent under `rate_per_second` for `key`; returns seconds waited."""
        if not rate_per_second > 0:
            raise ValueError(f"rate_per_second must be positive, not {rate_per_second!r}")
        if cost <= 0:
            return 0.0
        began = time.monotonic()
        await self._budget.wait(key, rate_per_second, cost)
        return time.monotonic() - began


class _MemoryBudget:
    def __init__(self) -> None:
        # Per key, the theoretical arrival time: when the bucket will have drained all reservations.
        self._tat: dict[str, float] = {}

    async def wait(self, key: str, rate: float, cost: int) -> None:
        # Reading and writing the schedule without an await between them is what makes the
        # reservation atomic and the waiters first-come first-served. A cancelled waiter's slot is
        # not handed back: those behind it already sleep to their own times, so the key just runs
        # a little under its rate.
        now = time.monotonic()
        interval = 1.0 / rate
        tat = max(self._tat.get(key, now), now) + cost * interval
        self._tat[key] = tat
        start = tat - max(_BURST_SECONDS, interval)
        if len(self._tat) > _MAX_IDLE_KEYS:
            self._forget_idle(now)
        if start > now:
            await asyncio.sleep(start - now)

    def _forget_idle(self, now: float) -> None:
        # A key whose schedule lies in the past is as good as a new one.
        for key in [k for k, tat in self._tat.items() if tat <= now]:
            del self._tat[key]


class _RedisBudget:
    _MIN_POLL = 0.005

    def __init__(self, redis_url: str) -> None:
        storage = RedisStorage(_async_uri(redis_url), key_prefix="frontdesk-send")
        self._limiter = MovingWindowRateLimiter(storage)
        self._locks: dict[str, asyncio.Lock] = {}

    async def wait(self, key: str, rate: float, cost: int) -> None:
        item = _window(rate)
        # The lock queues this process's waiters in call order; Redis arbitrates between processes.
        async with self._locks.setdefault(key, asyncio.Lock()):
            remaining = cost
            while remaining:
                chunk = min(remaining, item.amount)
                while not await self._limiter.hit(item, key, cost=chunk):
                    await asyncio.sleep(await self._until_free(item, key, chunk))
                remaining -= chunk

    async def _until_free(self, item: RateLimitItem, key: str, chunk: int) -> float:
        stats = await self._limiter.get_window_stats(item, key)
        if stats.remaining >= chunk:
            return 0.0
        # The oldest entry leaves the window at reset_time (wall clock, as limits stamps entries).
        return min(max(stats.reset_time - time.time(), self._MIN_POLL), float(item.get_expiry()))


def _window(rate: float) -> RateLimitItem:
    seconds = max(1, math.ceil(1.0 / rate - 1e-9))
    return RateLimitItemPerSecond(max(1, math.floor(rate * seconds + 1e-9)), seconds)


def _async_uri(url: str) -> str:
    if url.startswith("async+"):
        return url
    if url.startswith("unix://"):
        return "async+redis+unix://" + url.removeprefix("unix://")
    return "async+" + url
