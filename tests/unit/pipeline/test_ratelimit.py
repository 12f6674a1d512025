"""Send pacing: waits, not failures; per key; costs in units; shared through Redis.

Timing model under test: a key may send ``rate`` units a second with a burst of one second's worth
(``rate`` units) after a quiet spell. So n sends at 5/s from idle finish after (n - 5) / 5 s, and once
the burst is spent, n more take n / 5 s. Tolerances allow for a shared, loaded test machine.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest

from frontdesk.pipeline.ratelimit import SendRateLimiter, sender_rate
from tests.providers import capabilities_of

RATE = 5.0
BURST = 5  # one second's worth at RATE
LATE = 0.15  # how late a wake-up may be on a busy machine
REDIS_URL = os.environ.get("FRONTDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def _timed_sends(limiter: SendRateLimiter, key: str, n: int, rate: float = RATE) -> list[float]:
    """Start n concurrent sends; the offsets, from the first call, at which each was let through."""
    began = time.monotonic()

    async def send() -> float:
        await limiter.wait(key, rate)
        return time.monotonic() - began

    return list(await asyncio.gather(*(send() for _ in range(n))))


def _key() -> str:
    return f"test:{uuid.uuid4().hex}"


async def test_ten_sends_at_five_per_second_from_idle_spend_the_burst_then_pace() -> None:
    offsets = await _timed_sends(SendRateLimiter(), _key(), 10)

    expected = [max(0, i - BURST + 1) / RATE for i in range(10)]  # five at 0, then 0.2 to 1.0
    assert all(e - 0.01 <= got <= e + LATE for got, e in zip(offsets, expected, strict=True)), offsets
    assert (10 - BURST) / RATE - 0.01 <= max(offsets) <= (10 - BURST) / RATE + LATE


async def test_once_the_burst_is_spent_ten_sends_at_five_per_second_take_two_seconds() -> None:
    limiter, key = SendRateLimiter(), _key()
    await _timed_sends(limiter, key, BURST)

    began = time.monotonic()
    for _ in range(10):
        await limiter.wait(key, RATE)
    elapsed = time.monotonic() - began

    assert 10 / RATE - 0.01 <= elapsed <= 10 / RATE + LATE


async def test_concurrent_waiters_of_one_key_go_in_call_order() -> None:
    limiter, key = SendRateLimiter(), _key()
    order: list[int] = []

    async def send(n: int) -> None:
        await limiter.wait(key, 20.0)
        order.append(n)

    await asyncio.gather(*(send(n) for n in range(40)))

    assert order == list(range(40))


async def test_a_busy_key_does_not_hold_up_another() -> None:
    limiter, busy = SendRateLimiter(), _key()
    backlog = asyncio.gather(*(limiter.wait(busy, 1.0) for _ in range(3)))
    await asyncio.sleep(0)

    waited = await limiter.wait(_key(), 1.0)

    assert waited < 0.05
    await backlog


async def test_cost_counts_units_against_the_rate() -> None:
    limiter, key = SendRateLimiter(), _key()

    assert await limiter.wait(key, RATE, cost=BURST) < 0.05
    assert 1.0 - 0.01 <= await limiter.wait(key, RATE, cost=BURST) <= 1.0 + LATE


async def test_a_cost_above_the_burst_waits_out_the_excess() -> None:
    # Fifteen units at 10/s: the burst covers ten, the other five are paid for first.
    waited = await SendRateLimiter().wait(_key(), 10.0, cost=15)

    assert 0.5 - 0.01 <= waited <= 0.5 + LATE


async def test_nothing_to_send_never_waits_and_a_rate_must_be_positive() -> None:
    limiter = SendRateLimiter()

    assert await limiter.wait(_key(), 1.0, cost=0) == 0.0
    with pytest.raises(ValueError):
        await limiter.wait(_key(), 0.0)


def default_rate(channel_type: str, provider: str, number: str | None, settings: dict[str, Any]) -> float:
    """The rate the outbox paces a sender at: its adapter's default, or the channel's ``max_mps``."""
    return sender_rate(capabilities_of(channel_type, provider, number).send_rate, settings)


@pytest.mark.parametrize(
    ("channel_type", "provider", "number", "rate"),
    [
        ("whatsapp", "meta", "+14155550123", 80.0),
        ("messenger", "meta", None, 80.0),
        ("whatsapp", "twilio", "+14155550123", 10.0),
        ("sms", "twilio", "+14155550123", 1.0),
        ("sms", "twilio", "+447700900123", 1.0),
        ("sms", "twilio", "+18005550123", 3.0),
        ("sms", "twilio", "+18885550123", 3.0),
        ("sms", "twilio", "+18335550123", 3.0),
        ("sms", "twilio", "12345", 100.0),
        ("telegram", "telegram", None, 30.0),
        ("sms", "infobip", "+14155550123", 10.0),
        ("sms", "acs", "+18005550123", 10.0),
        ("email", "mailgun", None, 10.0),
    ],
)
def test_default_rate_follows_the_providers_documented_throughput(
    channel_type: str, provider: str, number: str | None, rate: float
) -> None:
    assert default_rate(channel_type, provider, number, {}) == rate


def test_max_mps_in_the_channel_settings_wins() -> None:
    assert default_rate("sms", "twilio", "+14155550123", {"max_mps": 25}) == 25.0
    assert default_rate("whatsapp", "meta", None, {"max_mps": "0.5"}) == 0.5


@pytest.mark.parametrize("bad", [0, -1, "fast", float("inf")])
def test_a_max_mps_that_is_not_a_positive_number_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="max_mps"):
        default_rate("sms", "twilio", "+14155550123", {"max_mps": bad})


# --- Redis: the budget shared by several processes ------------------------------------------------


@pytest.fixture
def redis_url() -> str:
    pytest.importorskip("coredis", reason="the Redis budget needs limits[async-redis] (coredis)")
    where = urlsplit(REDIS_URL)
    try:
        socket.create_connection((where.hostname or "127.0.0.1", where.port or 6379), timeout=0.5).close()
    except OSError as exc:
        pytest.skip(f"no Redis at {REDIS_URL} ({exc}); set FRONTDESK_TEST_REDIS_URL to run these")
    return REDIS_URL


async def test_redis_budget_is_shared_between_limiter_instances(redis_url: str) -> None:
    first, second, key = SendRateLimiter(redis_url), SendRateLimiter(redis_url), _key()

    spent = await _timed_sends(first, key, BURST)
    waited = await second.wait(key, RATE)

    assert max(spent) < 0.1
    # The moving window frees the first slot when the first entry is one second old.
    assert 1.0 - 0.02 - max(spent) <= waited <= 1.0 + LATE


async def test_redis_ten_sends_across_two_instances_take_one_window_after_the_burst(redis_url: str) -> None:
    first, second, key = SendRateLimiter(redis_url), SendRateLimiter(redis_url), _key()

    a, b = await asyncio.gather(_timed_sends(first, key, 5), _timed_sends(second, key, 5))
    offsets = sorted(a + b)

    assert max(offsets[:BURST]) < 0.1
    assert all(1.0 - 0.02 <= t <= 1.0 + LATE for t in offsets[BURST:]), offsets


async def test_redis_cost_above_the_window_is_taken_in_window_sized_chunks(redis_url: str) -> None:
    waited = await SendRateLimiter(redis_url).wait(_key(), 2.0, cost=5)

    # 2 per second: 2 now, 2 after one second, the last 1 after two seconds.
    assert 2.0 - 0.02 <= waited <= 2.0 + LATE


async def test_redis_keys_are_independent(redis_url: str) -> None:
    limiter, busy = SendRateLimiter(redis_url), _key()
    await limiter.wait(busy, 1.0)

    assert await limiter.wait(_key(), 1.0) < 0.1
