"""Inbound messages: stored once each, with their contact and conversation, in ONE transaction.

Redelivered messages hit the unique (channel, provider message id) index and change nothing. The
conversation of a message is found (or created) through its contact's identities
(``store.contacts``); an LRU of known conversations saves those upserts for a conversation seen
before. The job that answers a message is queued in the same transaction, by the ``enqueue`` the
caller passes (the job queue's, which joins the transaction).

Every write here touches nothing but its connection, so each is ``rerunnable``: concurrent
webhooks are committed together on PostgreSQL too (``Database.run_write``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError

from frontdesk.model.bsuid import is_bsuid
from frontdesk.model.ids import new_id
from frontdesk.model.messages import STATUS_RANK, ConversationKey, InboundMessage, StatusUpdate
from frontdesk.model.routing import ChannelInfo
from frontdesk.store import channel_health, contacts
from frontdesk.store import jobs as jobs_store
from frontdesk.store.channel_tables import unattributed_messages
from frontdesk.store.db import Database, utcnow
from frontdesk.store.dialect import insert, insert_for
from frontdesk.store.jobs import upsert as job_upsert
from frontdesk.store.prepared import Prepared
from frontdesk.store.tables import conversations, jobs, messages

# Inbound messages that belong to the conversation but ask nothing of the agent: WhatsApp's
# notices that the customer changed number or id. Marked answered as they are stored.
NOTICE_KINDS = frozenset({"system"})
NOTICE_TURN = "notice"
# ``enqueue(conn, tenant_id, conversation_id)``: queue the conversation's turn in this transaction.
Enqueue = Callable[[Connection, str, str], None]


@dataclass(frozen=True, slots=True)
class Ingested:
    message_id: int
    conversation_id: str
    contact_id: str
    duplicate: bool


class _LRU(OrderedDict):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: object, value: object) -> None:
        self[key] = value
        self.move_to_end(key)
        if len(self) > self.size:
            self.popitem(last=False)


def _address_of(cache_key: object) -> str:
    key = cache_key[0] if isinstance(cache_key, tuple) else cache_key
    return key.contact_address if isinstance(key, ConversationKey) else ""


_DUPLICATE = Prepared(
    sa.select(messages.c.id, messages.c.conversation_id).where(
        messages.c.channel_id == sa.bindparam("channel_id"),
        messages.c.provider_message_id == sa.bindparam("provider_message_id"),
        messages.c.direction == "in",
    ),
    ["channel_id", "provider_message_id"],
)
_CONVERSATION_ID = Prepared(
    sa.select(conversations.c.conversation_id).where(
        conversations.c.channel_id == sa.bindparam("channel_id"),
        conversations.c.contact_id == sa.bindparam("contact_id"),
        conversations.c.thread == sa.bindparam("thread"),
    ),
    ["channel_id", "contact_id", "thread"],
)
# A message reopens a closed conversation (to the bot); any other mode stays.
_REOPENED = sa.case((conversations.c.mode == "closed", "bot"), else_=conversations.c.mode)
_TOUCH = Prepared(
    conversations.update()
    .where(conversations.c.conversation_id == sa.bindparam("cid"))
    .values(
        last_message_at=sa.bindparam("now"),
        updated_at=sa.bindparam("now"),
        mode=_REOPENED,
    ),
    ["cid", "now"],
)
_MESSAGE_COLUMNS = [
    "tenant_id",
    "conversation_id",
    "channel_id",
    "direction",
    "kind",
    "text",
    "payload",
    "provider_message_id",
    "status",
    "status_reason",
    "turn_id",
    "attempts",
    "created_at",
    "updated_at",
]
_CONVERSATION_COLUMNS = [
    "conversation_id",
    "tenant_id",
    "channel_id",
    "contact_id",
    "thread",
    "mode",
    "needs_human",
    "simulated",
    "last_message_at",
    "created_at",
    "updated_at",
]


def _new_message(dialect: Dialect) -> sa.Insert:
    """The INSERT of an inbound message that a redelivery meets as a conflict (nothing stored)."""
    return (
        insert_for(dialect, messages)
        .on_conflict_do_nothing(
            index_elements=[messages.c.channel_id, messages.c.provider_message_id],
            index_where=sa.text("direction = 'in'"),
        )
        .returning(messages.c.id)
    )


def _message_touch_and_job(dialect: Dialect) -> sa.Select:
    """PostgreSQL: the message, its conversation's touch and its turn's job in ONE statement (one
    round trip instead of three); each step happens only if the one before did, so a redelivered
    message changes nothing. Answers (message id or NULL, conversations touched)."""
    values: dict[str, Any] = {c: sa.bindparam(c, type_=messages.c[c].type) for c in _MESSAGE_COLUMNS}
    values["possible_duplicate"] = sa.false()  # a column default is not applied inside a CTE
    m = _new_message(dialect).values(values).cte("m")
    now = sa.bindparam("created_at", type_=messages.c.created_at.type)
    t = (
        conversations.update()
        .where(
            conversations.c.conversation_id == sa.bindparam("conversation_id"), sa.exists(sa.select(m.c.id))
        )
        .values(last_message_at=now, updated_at=now, mode=_REOPENED)
        .returning(conversations.c.conversation_id)
        .cte("t")
    )
    job = sa.select(
        sa.bindparam("tenant_id"),
        t.c.conversation_id,
        sa.literal("conversation"),
        sa.literal("queued"),
        sa.literal(0),
        now,
    )
    j = job_upsert(dialect, job).returning(jobs.c.id).cte("j")
    count = sa.func.count()
    return sa.select(
        sa.select(m.c.id).scalar_subquery(),
        sa.select(count).select_from(t).scalar_subquery(),
        sa.select(count).select_from(j).scalar_subquery(),
    )


_status_rank = sa.case(STATUS_RANK, value=messages.c.status, else_=-1)


class Inbound:
    def __init__(self, db: Database) -> None:
        self.db = db
        # ConversationKey → (contact id, conversation id): saves the upserts for a known conversation.
        self._known: _LRU = _LRU(100_000)
        # Built once and run on the driver's cursor (``store.prepared``): on this path SQLAlchemy's
        # statement building and execution cost more than the database's work.
        self._insert_message = Prepared(_new_message, _MESSAGE_COLUMNS)
        self._message_touch_and_job = Prepared(_message_touch_and_job, _MESSAGE_COLUMNS)
        self._insert_conversation = Prepared(
            insert(db, conversations)
            .on_conflict_do_nothing(index_elements=["channel_id", "contact_id", "thread"])
            .returning(conversations.c.conversation_id),
            _CONVERSATION_COLUMNS,
        )

    async def message(
        self, channel: ChannelInfo, msg: InboundMessage, enqueue: Enqueue, *, simulated: bool = False
    ) -> tuple[Ingested, bool]:
        """Store ``msg`` (made storable by the caller) and queue its turn; also whether its
        conversation was new to this process (not in the cache)."""
        key = ConversationKey(channel.tenant_id, channel.channel_id, msg.sender, msg.thread)
        # A WhatsApp customer is also named by a BSUID and a username: one the cache has not seen
        # with this sender goes the full way once, which links it to the contact.
        cache_key = key if msg.bsuid is None and msg.username is None else (key, msg.bsuid, msg.username)
        cached = self._known.get(cache_key)

        def store(conn: Connection, known: tuple[str, str] | None) -> Ingested:
            if known is None:
                touches = msg.kind not in NOTICE_KINDS
                known, created = self._upsert_conversation(conn, channel, key, msg, simulated, touches)
                return self._store(conn, channel, known, msg, enqueue, touch=not created)
            return self._store(conn, channel, known, msg, enqueue)

        try:
            result = await self.db.run_write(lambda conn: store(conn, cached), rerunnable=True, key=key)
        except IntegrityError:
            if cached is None:
                raise
            # The cached conversation was deleted meanwhile: forget it and do the full upsert.
            self._known.pop(cache_key, None)
            result = await self.db.run_write(lambda conn: store(conn, None), rerunnable=True, key=key)
        self._known.put(cache_key, (result.contact_id, result.conversation_id))
        return result, cached is None

    async def identity_notice(self, channel: ChannelInfo, msg: InboundMessage, enqueue: Enqueue) -> Ingested:
        """A WhatsApp notice that the customer changed number or BSUID: update their identities and
        store it in the conversation they continue, never cached (what it names has just changed)."""
        change = msg.identity_change
        assert change is not None
        gone = {change.previous_phone, change.previous_bsuid} - {None, ""}
        for cached in [k for k in self._known if _address_of(k) in gone]:
            self._known.pop(cached, None)

        def store(conn: Connection) -> Ingested:
            renamed = contacts.apply_change(conn, channel, msg)
            key = ConversationKey(channel.tenant_id, channel.channel_id, renamed.sender, renamed.thread)
            touches = renamed.kind not in NOTICE_KINDS
            known, created = self._upsert_conversation(conn, channel, key, renamed, False, touches)
            contacts.record_new_phone(conn, known[0], renamed)
            return self._store(conn, channel, known, renamed, enqueue, touch=not created)

        key = ConversationKey(channel.tenant_id, channel.channel_id, msg.sender, msg.thread)
        return await self.db.run_write(store, rerunnable=True, key=key)

    async def unattributed(
        self, channel: ChannelInfo, provider_message_id: str, reason: str, payload: object
    ) -> bool:
        """Keep a message that names no sender, raw, with its reason; False if it was kept before."""

        def store(conn: Connection) -> bool:
            stored = conn.execute(
                insert(self.db, unattributed_messages)
                .values(
                    tenant_id=channel.tenant_id,
                    channel_id=channel.channel_id,
                    provider_message_id=provider_message_id,
                    reason=reason,
                    payload=payload,
                    created_at=utcnow(),
                )
                .on_conflict_do_nothing(index_elements=["channel_id", "provider_message_id"])
                .returning(unattributed_messages.c.id)
            ).scalar()
            if stored is not None:
                channel_health.count(conn, self.db, channel, "unattributed_count")
            return stored is not None

        return await self.db.run_write(store, rerunnable=True)

    def conversation_for(
        self, conn: Connection, channel: ChannelInfo, address: str, thread: str = ""
    ) -> tuple[str, str]:
        """(contact id, conversation id) of ``address`` on ``channel``, created if new (proactive
        sends), inside the caller's transaction."""
        key = ConversationKey(channel.tenant_id, channel.channel_id, address, thread)
        known = self._known.get(key)
        if known is None:
            msg = InboundMessage("", sender=address, bsuid=address if is_bsuid(address) else None)
            known, _ = self._upsert_conversation(conn, channel, key, msg, simulated=False)
        return known

    async def status(self, channel: ChannelInfo, update: StatusUpdate) -> bool:
        """Record a delivery status of an outbound message; never move backwards (a late
        "delivered" keeps "read")."""
        new_rank = STATUS_RANK.get(update.status)
        if new_rank is None:
            return False
        values: dict = {"status": update.status, "updated_at": utcnow()}
        if update.error_code or update.error_title:
            values.update(error_code=update.error_code, status_reason=update.error_title)
        stmt = (
            messages.update()
            .where(
                messages.c.channel_id == channel.channel_id,
                messages.c.direction == "out",
                messages.c.provider_message_id == update.provider_message_id,
                _status_rank < new_rank,
            )
            .values(**values)
        )
        return bool(
            await self.db.run_write(
                lambda conn: conn.execute(stmt).rowcount, rerunnable=True, key=update.provider_message_id
            )
        )

    def _store(
        self,
        conn: Connection,
        channel: ChannelInfo,
        known: tuple[str, str],
        msg: InboundMessage,
        enqueue: Enqueue,
        touch: bool = True,
    ) -> Ingested:
        """Store ``msg`` in its conversation and queue the turn; ``touch=False`` when the
        conversation was created in this transaction, with the message's time already."""
        contact_id, conversation_id = known
        now = utcnow()
        params = {
            "tenant_id": channel.tenant_id,
            "conversation_id": conversation_id,
            "channel_id": channel.channel_id,
            "direction": "in",
            "kind": msg.kind,
            "text": msg.text,
            "payload": msg.payload or None,
            "provider_message_id": msg.provider_message_id,
            "status": "received",
            "status_reason": None,
            "turn_id": None,
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
        }
        notice = msg.kind in NOTICE_KINDS
        if notice:
            params["turn_id"] = NOTICE_TURN
        if msg.kind == "unsupported":
            params["status_reason"] = msg.reason or "this kind of message is not supported"
        plain = touch and not notice and msg.kind != "unsupported"
        if plain and enqueue is jobs_store.enqueue and conn.dialect.name == "postgresql":
            message_id, touched, _ = self._message_touch_and_job.first(conn, params) or (None, 0, 0)
            if message_id is not None:
                if touched == 0:
                    raise IntegrityError("conversation vanished", None, Exception("stale cache"))
                return Ingested(message_id, conversation_id, contact_id, duplicate=False)
        else:
            message_id = self._insert_message.scalar(conn, params)
        if message_id is None:
            existing = _DUPLICATE.first(
                conn, {"channel_id": channel.channel_id, "provider_message_id": msg.provider_message_id}
            )
            assert existing is not None  # the insert met it
            return Ingested(existing[0], existing[1], contact_id, duplicate=True)
        if notice:  # stored in its conversation, but it neither reopens it nor wakes the agent
            return Ingested(message_id, conversation_id, contact_id, duplicate=False)
        if msg.kind == "unsupported":
            channel_health.count(conn, self.db, channel, "unsupported_count")
        if touch and _TOUCH.rowcount(conn, {"cid": conversation_id, "now": now}) == 0:
            raise IntegrityError("conversation vanished", None, Exception("stale cache"))
        enqueue(conn, channel.tenant_id, conversation_id)
        return Ingested(message_id, conversation_id, contact_id, duplicate=False)

    def _upsert_conversation(
        self,
        conn: Connection,
        channel: ChannelInfo,
        key: ConversationKey,
        msg: InboundMessage,
        simulated: bool,
        touched: bool = False,
    ) -> tuple[tuple[str, str], bool]:
        """(contact id, conversation id) of ``key``, and whether the conversation was created now
        (``touched``: as the conversation of a message arriving now, which ``_store`` need not touch)."""
        contact_id = contacts.contact_for(conn, channel, msg)
        now = utcnow()
        conversation_id = self._insert_conversation.scalar(
            conn,
            {
                "conversation_id": new_id("conv"),
                "tenant_id": key.tenant_id,
                "channel_id": key.channel_id,
                "contact_id": contact_id,
                "thread": key.thread,
                "mode": "bot",
                "needs_human": False,
                "simulated": simulated,
                "last_message_at": now if touched else None,
                "created_at": now,
                "updated_at": now,
            },
        )
        created = conversation_id is not None
        if conversation_id is None:
            # It exists: another process created it meanwhile, or the cache forgot it.
            params = {"channel_id": key.channel_id, "contact_id": contact_id, "thread": key.thread}
            conversation_id = _CONVERSATION_ID.scalar(conn, params)
        if conversation_id is None:
            raise RuntimeError("conversation vanished while it was being created")
        return (contact_id, conversation_id), created
