"""The conversation repositories on SQLite and PostgreSQL: one message stored once, the one way a
customer's address is chosen, a turn's answers written once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlalchemy import Connection

from frontdesk.errors import Superseded
from frontdesk.model.messages import InboundMessage
from frontdesk.model.routing import ChannelInfo
from frontdesk.store import jobs as jobs_store
from frontdesk.store.conversations import TurnAnswer
from frontdesk.store.db import Database, utcnow
from frontdesk.store.migrate import upgrade
from frontdesk.store.repositories import Store
from frontdesk.store.tables import channels, contact_identities, conversations, jobs, messages
from frontdesk.store.tenants import ensure_default_tenant

BSUID = "US.13491208655302741918"
PARENT = "US.ENT.11815799212886844830"
PORTFOLIO = {"business_portfolio_id": "P1"}


def _channel(channel_id: str = "wa", settings: dict | None = None) -> ChannelInfo:
    return ChannelInfo(
        channel_id, "default", "whatsapp", "whatsapp_cloud", f"key-{channel_id}", None, True, settings or {}
    )


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    db = Database(database_url)
    await upgrade(db.engine)
    await ensure_default_tenant(db)
    async with db.write() as conn:
        for channel_id in ("wa", "wa2"):
            await conn.execute(
                channels.insert().values(
                    channel_id=channel_id,
                    tenant_id="default",
                    channel_name=channel_id,
                    channel_type="whatsapp",
                    provider="whatsapp_cloud",
                    routing_key=f"key-{channel_id}",
                    settings=PORTFOLIO if channel_id == "wa" else {},
                )
            )
    yield Store(db)
    await db.dispose()


def _no_enqueue(conn: Connection, tenant_id: str, conversation_id: str) -> None:
    pass


async def _identities(store: Store, contact_id: str, *rows: tuple[str, str]) -> None:
    async with store.db.write() as conn:
        for scope, address in rows:
            await conn.execute(
                contact_identities.insert().values(
                    tenant_id="default",
                    contact_id=contact_id,
                    provider="whatsapp_cloud",
                    scope=scope,
                    address=address,
                    created_at=utcnow(),
                )
            )


async def test_a_message_is_stored_once(store: Store) -> None:
    channel = _channel("wa", PORTFOLIO)
    msg = InboundMessage("wamid.1", "+15557654321", "hello")
    first, new = await store.inbound.message(channel, msg, _no_enqueue)
    again, new_again = await store.inbound.message(channel, msg, _no_enqueue)
    assert (first.duplicate, again.duplicate) == (False, True)
    assert again.message_id == first.message_id
    assert (new, new_again) == (True, False)  # the second found the conversation in the cache
    async with store.db.read() as conn:
        count = sa.select(sa.func.count()).select_from(messages).where(messages.c.direction == "in")
        assert (await conn.execute(count)).scalar() == 1


async def test_the_address_is_the_number_else_the_portfolios_bsuid_else_its_parent(store: Store) -> None:
    channel = _channel("wa", PORTFOLIO)
    stored, _ = await store.inbound.message(
        channel, InboundMessage("wamid.1", BSUID, "hi", bsuid=BSUID), _no_enqueue
    )
    contact = stored.contact_id
    await _identities(store, contact, ("portfolio:P1", PARENT), ("portfolio:P2", "US.1111"))
    conv, _ = await store.conversations.for_turn(stored.conversation_id)
    assert conv is not None
    # Another portfolio's id never; the parent id only after the portfolio's own.
    assert conv.recipient == await store.conversations.recipient(contact, channel) == BSUID
    await _identities(store, contact, ("", "+15557654321"))
    conv, _ = await store.conversations.for_turn(stored.conversation_id)
    assert conv is not None
    assert conv.recipient == await store.conversations.recipient(contact, channel) == "+15557654321"
    # A number of the same tenant without that portfolio reaches them by number only.
    assert await store.conversations.recipient(contact, _channel("wa2")) == "+15557654321"


async def test_a_turn_answers_its_messages_once(store: Store) -> None:
    channel = _channel("wa", PORTFOLIO)
    stored, _ = await store.inbound.message(channel, InboundMessage("wamid.1", "+1555", "hi"), _no_enqueue)
    conv, pending = await store.conversations.for_turn(stored.conversation_id)
    assert conv is not None
    assert [r.id for r in pending] == [stored.message_id]

    def answer(text: str) -> TurnAnswer:
        return TurnAnswer(
            conversation=conv,
            turn_id=f"{conv.conversation_id}:{stored.message_id}",
            answered=[stored.message_id],
            replies=[(text, None)],
            delivered=False,
            at=utcnow(),
        )

    await store.conversations.write_turn(answer("first"))
    with pytest.raises(Superseded):
        await store.conversations.write_turn(answer("second"))
    queued, _ = await store.outbox.queued(conv.conversation_id)
    assert [r.text for r in queued] == ["first"]
    assert (await store.conversations.for_turn(conv.conversation_id))[1] == []


# The ingest's two ways of writing a message leave the same rows. With the jobs table's own
# ``enqueue`` on PostgreSQL, a message, its conversation's touch and its turn's job are written in
# one statement (``store.inbound._message_touch_and_job``); with any other ``enqueue`` (or on
# SQLite) step by step. A redelivery changes nothing, a closed conversation reopens, a waiting job
# absorbs the next message, either way.


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

    one = await feed(_channel("wa"), jobs_store.enqueue)
    steps = await feed(_channel("wa2"), _step_by_step)
    assert [i.duplicate for i in one] == [i.duplicate for i in steps] == [False, False, False]
    first, second = await _state(store, "wa"), await _state(store, "wa2")
    assert first == second
    assert [mode for mode, *_ in first] == ["bot", "bot"]
    assert [len(msgs) for _, _, msgs, _ in first] == [3, 1]
    assert all(job == [("queued", 0)] for *_, job in first)
