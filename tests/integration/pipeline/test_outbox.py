"""Outbox delivery through the adapter contract: retries with backoff, permanent failures, dead
letters, order behind a retry, and no duplicate sends when a turn runs twice.

A fake adapter stands in for a provider here (the contract's test double); the real adapters are
tested against fake provider servers in their own tests.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

import pytest
import sqlalchemy as sa

from frontdesk.channels.base import ChannelAdapter
from frontdesk.errors import PermanentDelivery, RetryableDelivery
from frontdesk.model.messages import InboundMessage, SendResult
from frontdesk.pipeline.turn import process
from frontdesk.runtime import Runtime
from frontdesk.security.tokens import SYSTEM
from frontdesk.store.tables import messages
from tests.conftest import make_settings
from tests.helpers import outbound, setup_webchat, wait_for


class FlakyAdapter(ChannelAdapter):
    provider: ClassVar[str] = "twilio"

    def __init__(self, script: list[Exception | None]) -> None:
        self.script = list(script)
        self.sent: list[tuple[str, str]] = []

    async def send(self, msg, channel, credentials, http) -> SendResult:  # type: ignore[no-untyped-def]
        outcome = self.script.pop(0) if self.script else None
        if outcome is not None:
            raise outcome
        self.sent.append((msg.to, msg.text))
        return SendResult(provider_message_id=f"SM{msg.id}")


async def _setup_sms(runtime: Runtime) -> None:
    """The FAQ agent of tests.helpers, also routed from a Twilio SMS number."""
    await setup_webchat(runtime)
    sms = {
        "channel_id": "sms",
        "channel_name": "SMS",
        "channel_type": "sms",
        "provider": "twilio",
        "phone_number": "+15550001111",
        "credentials": {"account_sid": "AC1", "auth_token": "t"},
    }
    await runtime.config.create("channel", sms, principal=SYSTEM)
    mapping = {"agent_id": "t_faq", "channel_id": "sms", "is_primary": True}
    await runtime.config.create("mapping", mapping, principal=SYSTEM)


@pytest.fixture
async def rt(database_url: str):  # type: ignore[no-untyped-def]
    runtime = Runtime(make_settings(database_url, send_max_attempts=3))
    await runtime.start()
    await _setup_sms(runtime)
    yield runtime
    await runtime.stop()


async def _send(rt: Runtime, *texts: str) -> str:
    channel = await rt.cache.channel("sms")
    conv = ""
    for i, text in enumerate(texts):
        conv = (
            await rt.ingest.message(channel, InboundMessage(f"SM-in-{i}", "+15557654321", text))
        ).conversation_id
    return conv


async def _settled(rt: Runtime, conv: str, n: int) -> list:
    async def done():  # type: ignore[no-untyped-def]
        rows = await outbound(rt, conv)
        return rows if len(rows) >= n and all(r.status not in ("queued", "sending") for r in rows) else None

    return await wait_for(done)


async def test_retryable_failures_are_retried_then_sent(rt: Runtime) -> None:
    adapter = FlakyAdapter([RetryableDelivery("503 from provider"), RetryableDelivery("timeout")])
    rt.adapters.register(adapter)
    conv = await _send(rt, "where are you located?")
    (row,) = await _settled(rt, conv, 1)
    assert row.status == "sent"
    assert adapter.sent == [("+15557654321", "We are at 12 Harbour Street, Springfield.")]
    async with rt.db.read() as conn:
        attempts = (
            await conn.execute(sa.select(messages.c.attempts).where(messages.c.id == row.id))
        ).scalar()
    assert attempts == 3


async def test_permanent_failure_is_recorded_with_the_provider_code(rt: Runtime) -> None:
    rt.adapters.register(FlakyAdapter([PermanentDelivery("invalid 'To' number", provider_code="21211")]))
    conv = await _send(rt, "where are you located?")
    (row,) = await _settled(rt, conv, 1)
    assert row.status == "failed"
    async with rt.db.read() as conn:
        got = (await conn.execute(sa.select(messages).where(messages.c.id == row.id))).one()
    assert (got.error_code, got.status_reason) == ("21211", "invalid 'To' number")


async def test_exhausted_retries_end_dead_and_later_replies_still_go(rt: Runtime) -> None:
    adapter = FlakyAdapter([RetryableDelivery("down")] * 3)
    rt.adapters.register(adapter)
    conv = await _send(rt, "where are you located?")
    (row,) = await _settled(rt, conv, 1)
    assert row.status == "dead" and "gave up after 3 attempts" in (await _reason(rt, row.id))
    channel = await rt.cache.channel("sms")
    await rt.ingest.message(channel, InboundMessage("SM-in-9", "+15557654321", "opening hours?"))
    rows = await _settled(rt, conv, 2)
    assert [r.status for r in rows] == ["dead", "sent"]


async def test_a_reply_waits_behind_an_earlier_one_being_retried(rt: Runtime) -> None:
    adapter = FlakyAdapter([RetryableDelivery("busy", retry_after=0.3)])
    rt.adapters.register(adapter)
    conv = await _send(rt, "where are you located?", "opening hours?")
    await _settled(rt, conv, 2)
    assert [text for _, text in adapter.sent] == [
        "We are at 12 Harbour Street, Springfield.",
        "We are open Monday to Friday, 9:00 to 17:00.",
    ]


async def test_a_turn_run_twice_sends_nothing_twice(database_url: str) -> None:
    runtime = Runtime(make_settings(database_url))
    await runtime.start(workers=False)
    try:
        await _setup_sms(runtime)
        adapter = FlakyAdapter([])
        runtime.adapters.register(adapter)
        conv = await _send(runtime, "where are you located?")
        (job,) = await runtime.queue.claim("crashed-worker", 1)
        # The first owner and the one that took over after its lease both run the same turn.
        await asyncio.gather(process(runtime, job, "crashed-worker"), process(runtime, job, "crashed-worker"))
        rows = await outbound(runtime, conv)
        assert len(rows) == 1 and rows[0].status == "sent"
        assert len(adapter.sent) == 1
    finally:
        await runtime.stop()


async def _reason(rt: Runtime, message_id: int) -> str:
    async with rt.db.read() as conn:
        return (
            await conn.execute(sa.select(messages.c.status_reason).where(messages.c.id == message_id))
        ).scalar()
