"""Send pacing without a clock: the default rate per provider, the channel's max_mps, no wait for
nothing. The waits themselves, in real time and shared through Redis, are integration tests
(tests/integration/pipeline/test_ratelimit.py)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from frontdesk.pipeline.ratelimit import SendRateLimiter, sender_rate
from tests.providers import capabilities_of


def _key() -> str:
    return f"test:{uuid.uuid4().hex}"


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
