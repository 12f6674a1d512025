"""The ingest's two ways of writing a message leave the same rows.

With the jobs table's own ``enqueue`` on PostgreSQL, a message, its conversation's touch and its
turn's job are written in one statement (``store.inbound._message_touch_and_job``); with any
other ``enqueue`` (or on SQLite) step by step. The same messages, fed through each on two
channels, must give the same messages, conversations (times, mode) and jobs: a redelivery
changes nothing, a closed conversation reopens, a waiting job absorbs the next message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlalchemy import Connection

from frontdesk.model.messages import InboundMessage
from frontdesk.model.routing import ChannelInfo
from frontdesk.store import jobs as jobs_store
from frontdesk.store.db import Database
from frontdesk.store.migrate import upgrade
from frontdesk.store.repositories import Store
from frontdesk.store.tables import channels, conversations, jobs, messages
from frontdesk.store.tenants import ensure_default_tenant


def _channel(channel_id: str) -> ChannelInfo:
    return ChannelInfo(channel_id, "default", "whatsapp", "meta", f"key-{channel_id}", None, True, {})


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    db = Database(database_url)
    await upgrade(db.engine)
    await ensure_default_tenant(db)
    async with db.write() as conn:
        for channel_id in ("one", "steps"):
            await conn.execute(
                channels.insert().values(
                    channel_id=channel_id,
                    tenant_id="default",
                    channel_name=channel_id,
                    channel_type="whatsapp",
                    provider="meta",
                    routing_key=f"key-{channel_id}",
                )
            )
    yield Store(db)
    await db.dispose()


def _step_by_step(conn: Connection, tenant_id: str, conversation_id: str) -> None:
    jobs_store.enqueue(conn, tenant_id, conversation_id)  # the same job, but not the table's own function


async def _state(store: Store, channel_id: str) -> list:
    def read(conn: Connection) -> list:
        convs = conn.execute(
            sa.select(conversations.c.conversation_id, conversations.c.mode, conversations.c.last_message_at)
            .where(conversations.c.channel_id == channel_id)
            .order_by(conversations.c.created_at)
        ).all()
        rows = []
        for cid, mode, last in convs:
            texts = conn.execute(
                sa.select(messages.c.provider_message_id, messages.c.text, messages.c.status, messages.c.kind)
                .where(messages.c.conversation_id == cid)
                .order_by(messages.c.id)
            ).all()
            job = conn.execute(
                sa.select(jobs.c.status, jobs.c.attempts).where(jobs.c.conversation_id == cid)
            ).all()
            rows.append((mode, last is not None, [tuple(t) for t in texts], [tuple(j) for j in job]))
        return rows

    return await store.db.run_read(read)


async def test_one_statement_and_step_by_step_store_the_same(store: Store) -> None:
    async def feed(channel: ChannelInfo, enqueue) -> list:  # type: ignore[no-untyped-def]
        ids = []
        for n, (sender, text) in enumerate(
            [("+15550001", "hi"), ("+15550002", "hello"), ("+15550001", "again")]
        ):
            stored, _ = await store.inbound.message(
                channel, InboundMessage(f"wamid.{n}", sender, text), enqueue
            )
            ids.append(stored)
        again, _ = await store.inbound.message(channel, InboundMessage("wamid.0", "+15550001", "hi"), enqueue)
        assert again.duplicate and again.message_id == ids[0].message_id
        # A closed conversation reopens with its next message.
        await store.db.run_write(
            lambda conn: conn.execute(
                conversations.update()
                .where(conversations.c.conversation_id == ids[0].conversation_id)
                .values(mode="closed")
            )
        )
        await store.inbound.message(channel, InboundMessage("wamid.9", "+15550001", "back"), enqueue)
        return ids

    one = await feed(_channel("one"), jobs_store.enqueue)
    steps = await feed(_channel("steps"), _step_by_step)
    assert [i.duplicate for i in one] == [i.duplicate for i in steps] == [False, False, False]
    first, second = await _state(store, "one"), await _state(store, "steps")
    assert first == second
    assert [mode for mode, *_ in first] == ["bot", "bot"]
    assert [len(msgs) for _, _, msgs, _ in first] == [3, 1]
    assert all(job == [("queued", 0)] for *_, job in first)
