"""Sends interrupted between the provider and the database: a database that stops answering right
after the provider accepted a reply, a sender that dies mid-send, twice, and a provider that
honours idempotency keys. The customer gets each reply once wherever that can be known, at most
twice (flagged ``possible_duplicate``) where it cannot.

The adapter here is a test double of the contract; a sender "dies" by being cancelled mid-send,
which leaves its row exactly as a SIGKILL would (tests/e2e/test_chaos_e2e.py does it for real).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from frontdesk.app import create_app
from frontdesk.channels.base import ChannelAdapter
from frontdesk.channels.mock import MockSender
from frontdesk.channels.twilio import TwilioAdapter
from frontdesk.model.messages import InboundMessage, OutboundMessage, SendResult
from frontdesk.pipeline.outbox import INTERRUPTED_TWICE
from frontdesk.pipeline.turn import process
from frontdesk.runtime import Runtime
from frontdesk.security.tokens import SYSTEM, create_token
from frontdesk.store.channel_tables import mock_sends
from frontdesk.store.tables import messages
from tests.conftest import make_settings
from tests.helpers import setup_webchat, wait_for

LEASE = 1  # job lease (s); a send is taken over two leases after its claim


class Provider(ChannelAdapter):
    """Records every send; the first ``hang`` sends never get an answer (their sender is cancelled
    while waiting: it died). With ``dedup``, a provider that keeps one message per idempotency key."""

    provider: ClassVar[str] = "twilio"

    def __init__(self, *, hang: int = 0, dedup: bool = False, after_send: Callable[[], Any] | None = None):
        self.hang = hang
        self.dedup = dedup
        self.idempotent_sends = dedup  # type: ignore[misc]
        self.after_send = after_send
        self.keys: list[str] = []  # the idempotency key of every request received
        self.delivered: dict[str, str] = {}  # key → provider id of the message the customer got
        self.called = asyncio.Event()

    async def send(self, msg, channel, credentials, http) -> SendResult:  # type: ignore[no-untyped-def]
        self.keys.append(msg.idempotency_key)
        self.called.set()
        if self.dedup and msg.idempotency_key in self.delivered:
            return SendResult(self.delivered[msg.idempotency_key])
        provider_id = f"SM{len(self.keys)}"
        self.delivered.setdefault(msg.idempotency_key, provider_id)
        if len(self.keys) <= self.hang:
            await asyncio.Event().wait()  # the provider took it; its answer never comes back
        if self.after_send is not None:
            self.after_send()
        return SendResult(provider_id)


class Outage:
    """Once started, the runtime's database fails every statement for ``seconds``, as a restarting
    server does (reads, writes, the hot path's threads and the async engine alike)."""

    def __init__(self, db, seconds: float) -> None:  # type: ignore[no-untyped-def]
        self.seconds = seconds
        self.until = 0.0
        self.refused = 0
        for name in ("run_write", "run_read"):
            setattr(db, name, self._calls(getattr(db, name)))
        for name in ("write", "read"):
            setattr(db, name, self._contexts(getattr(db, name)))

    def start(self) -> None:
        self.until = time.monotonic() + self.seconds

    def _check(self) -> None:
        if time.monotonic() < self.until:
            self.refused += 1
            raise OperationalError("COMMIT", None, ConnectionError("the database system is shutting down"))

    def _calls(self, original):  # type: ignore[no-untyped-def]
        async def call(fn, **options):  # type: ignore[no-untyped-def]
            self._check()
            return await original(fn, **options)

        return call

    def _contexts(self, original):  # type: ignore[no-untyped-def]
        @contextlib.asynccontextmanager
        async def context() -> AsyncIterator:
            self._check()
            async with original() as conn:
                yield conn

        return context


async def _runtime(database_url: str, *, workers: bool) -> Runtime:
    rt = Runtime(make_settings(database_url, job_lease_seconds=LEASE, send_max_attempts=5))
    await rt.start(workers=workers)
    await setup_webchat(rt)
    sms = {
        "channel_id": "sms",
        "channel_name": "SMS",
        "channel_type": "sms",
        "provider": "twilio",
        "phone_number": "+15550001111",
        "credentials": {"account_sid": "AC1", "auth_token": "t"},
    }
    await rt.config.create("channel", sms, principal=SYSTEM)
    await rt.config.create(
        "mapping", {"agent_id": "t_faq", "channel_id": "sms", "is_primary": True}, principal=SYSTEM
    )
    return rt


@pytest.fixture
async def rt(database_url: str) -> AsyncIterator[Runtime]:
    """No workers: each test runs the conversation's job itself, as whichever worker it plays."""
    runtime = await _runtime(database_url, workers=False)
    yield runtime
    await runtime.stop()


async def _ask(rt: Runtime, text: str = "where are you located?", n: int = 0) -> str:
    channel = await rt.cache.channel("sms")
    stored = await rt.ingest.message(channel, InboundMessage(f"SM-in-{n}", "+15557654321", text))
    return stored.conversation_id


async def _dies_mid_send(rt: Runtime, provider: Provider, worker: str) -> None:
    """``worker`` takes the conversation's job and dies while the provider has the reply."""
    (job,) = await wait_for(lambda: rt.queue.claim(worker, 1), timeout=10)
    provider.called.clear()
    task = asyncio.create_task(process(rt, job, worker))
    await asyncio.wait_for(provider.called.wait(), 10)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _takes_over(rt: Runtime, worker: str, conversation_id: str) -> None:
    """Once the dead worker's leases ran out, ``worker`` runs the conversation's job (and the
    retries it schedules) until its replies are settled."""
    await asyncio.sleep(2 * LEASE + 0.1)
    while any(r.status in ("queued", "sending") for r in await _replies(rt, conversation_id)):
        (job,) = await wait_for(lambda: rt.queue.claim(worker, 1), timeout=10)
        await process(rt, job, worker)


async def _api_messages(rt: Runtime, conversation_id: str) -> list[dict]:
    async with rt.db.write() as conn:
        _, token = await create_token(conn, None, "test admin")
    transport = httpx.ASGITransport(app=create_app(runtime=rt))
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers) as client:
        r = await client.get(f"/api/v1/conversations/{conversation_id}")
    assert r.status_code == 200, r.text
    return [msg for msg in r.json()["messages"] if msg["direction"] == "out"]


async def test_a_database_outage_right_after_the_provider_answered_sends_nothing_twice(
    database_url: str,
) -> None:
    runtime = await _runtime(database_url, workers=True)
    try:
        outage = Outage(runtime.db, seconds=0.6)
        provider = Provider(after_send=outage.start)
        runtime.adapters.register(provider)
        conv = await _ask(runtime)
        (row,) = await wait_for(lambda: _sent(runtime, conv), timeout=20)
        await asyncio.sleep(3 * LEASE)  # long enough for a row left "sending" to be sent again
        assert outage.refused >= 1  # the outcome's first commit met the outage
        assert provider.keys == [row.idempotency_key]
        assert (row.status, row.provider_message_id, row.possible_duplicate) == ("sent", "SM1", False)
    finally:
        await runtime.stop()


async def test_a_send_in_flight_when_its_sender_died_is_sent_once_more_and_flagged(rt: Runtime) -> None:
    provider = Provider(hang=1)
    rt.adapters.register(provider)
    conv = await _ask(rt)
    await _dies_mid_send(rt, provider, "worker-a")
    (row,) = await _replies(rt, conv)
    assert row.status == "sending"
    await _takes_over(rt, "worker-b", conv)
    (row,) = await _replies(rt, conv)
    assert provider.keys == [row.idempotency_key] * 2
    assert (row.status, row.possible_duplicate) == ("sent", True)
    (shown,) = await _api_messages(rt, conv)
    assert shown["possible_duplicate"] is True and shown["status"] == "sent"


async def test_a_send_interrupted_twice_is_not_sent_a_third_time(rt: Runtime) -> None:
    provider = Provider(hang=2)
    rt.adapters.register(provider)
    conv = await _ask(rt)
    await _dies_mid_send(rt, provider, "worker-a")
    await asyncio.sleep(2 * LEASE + 0.1)
    await _dies_mid_send(rt, provider, "worker-b")
    await _takes_over(rt, "worker-c", conv)
    (row,) = await _replies(rt, conv)
    assert len(provider.keys) == 2
    assert (row.status, row.possible_duplicate) == ("dead", True)
    async with rt.db.read() as conn:
        reason = (
            await conn.execute(sa.select(messages.c.status_reason).where(messages.c.id == row.id))
        ).scalar()
    assert reason == INTERRUPTED_TWICE


async def test_a_provider_that_honours_idempotency_keys_gets_the_send_again_and_keeps_one(
    rt: Runtime,
) -> None:
    provider = Provider(hang=1, dedup=True)
    rt.adapters.register(provider)
    conv = await _ask(rt)
    await _dies_mid_send(rt, provider, "worker-a")
    await _takes_over(rt, "worker-b", conv)
    (row,) = await _replies(rt, conv)
    assert provider.keys == [row.idempotency_key] * 2 and len(provider.delivered) == 1
    assert (row.status, row.provider_message_id, row.possible_duplicate) == ("sent", "SM1", False)


async def test_the_outcome_is_committed_before_anything_else_is_awaited(rt: Runtime) -> None:
    """The channel's health is written after the message's outcome, not between the provider's
    answer and that commit (where a crash would have the reply sent again)."""
    provider = Provider()
    rt.adapters.register(provider)
    seen: list[str] = []
    write_health = rt.channel_health.send_outcome

    async def send_outcome(channel, status, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        async with rt.db.read() as conn:
            seen.append(
                (
                    await conn.execute(sa.select(messages.c.status).where(messages.c.direction == "out"))
                ).scalar()
            )
        await write_health(channel, status, *args, **kwargs)

    rt.channel_health.send_outcome = send_outcome  # type: ignore[method-assign]
    conv = await _ask(rt)
    (job,) = await wait_for(lambda: rt.queue.claim("worker-a", 1), timeout=10)
    await process(rt, job, "worker-a")
    (row,) = await _replies(rt, conv)
    assert row.status == "sent" and seen == ["sent"]


async def test_mock_mode_records_a_message_sent_twice_once(rt: Runtime) -> None:
    sender = MockSender(TwilioAdapter(), rt.db)
    channel = await rt.cache.channel("sms")
    first, again, other = [
        await sender.send(
            OutboundMessage(i, "default", "c", "sms", "+15557654321", "hi", idempotency_key=f"c:{i}:0"),
            channel,
            {},
            rt.http,
        )
        for i in (1, 1, 2)
    ]
    assert sender.idempotent_sends and first.provider_message_id == again.provider_message_id
    assert other.provider_message_id != first.provider_message_id
    async with rt.db.read() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(mock_sends))).scalar() == 2


async def _replies(rt: Runtime, conversation_id: str) -> list:
    m = messages.c
    async with rt.db.read() as conn:
        return (
            await conn.execute(
                sa.select(messages)
                .where(m.conversation_id == conversation_id, m.direction == "out")
                .order_by(m.id)
            )
        ).all()


async def _sent(rt: Runtime, conversation_id: str) -> list | None:
    try:
        rows = await _replies(rt, conversation_id)
    except OperationalError:  # the outage is on
        return None
    return rows if rows and all(r.status == "sent" for r in rows) else None
