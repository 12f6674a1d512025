"""Ingest: store an inbound message exactly once and queue its turn, in ONE transaction.

The caller answers the provider only after this returns (ack after durable write). Redelivered
messages hit the unique (channel, provider message id) index and change nothing. Text from outside
is made storable first (``model.text``: NUL and lone surrogates become U+FFFD), on every path in.
Nothing a verified
webhook carries is dropped: a message that could not be read is stored as kind "unsupported" with
its reason, one that names no sender in ``unattributed_messages``; both are counted in the
channel's health and logged once, as they are stored. Who the sender is (contacts, identities)
is ``identities``' concern.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace

import sqlalchemy as sa
import structlog
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from frontdesk.model.bsuid import is_bsuid
from frontdesk.model.ids import new_id
from frontdesk.model.messages import (
    STATUS_RANK,
    ConversationKey,
    InboundMessage,
    StatusUpdate,
    UnattributedMessage,
)
from frontdesk.model.routing import ChannelInfo
from frontdesk.model.text import storable, storable_json
from frontdesk.pipeline import identities
from frontdesk.pipeline.notify import Notifier, visitor_topic
from frontdesk.store.channel_tables import channel_health, unattributed_messages
from frontdesk.store.db import Database, utcnow
from frontdesk.store.dialect import insert
from frontdesk.store.tables import contacts, conversations, messages

log = structlog.get_logger(__name__)
# Inbound messages that belong to the conversation but ask nothing of the agent: WhatsApp's
# notices that the customer changed number or id. Marked answered as they are stored.
NOTICE_KINDS = frozenset({"system"})
NOTICE_TURN = "notice"


@dataclass(frozen=True, slots=True)
class Ingested:
    message_id: int
    conversation_id: str
    contact_id: str
    duplicate: bool


def _address_of(cache_key: object) -> str:
    key = cache_key[0] if isinstance(cache_key, tuple) else cache_key
    return key.contact_address if isinstance(key, ConversationKey) else ""


class _LRU(OrderedDict):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: object, value: object) -> None:
        self[key] = value
        self.move_to_end(key)
        if len(self) > self.size:
            self.popitem(last=False)


class Ingest:
    def __init__(self, db: Database, queue, notifier: Notifier | None = None) -> None:  # type: ignore[no-untyped-def]
        self.db = db
        self.queue = queue
        self.notifier = notifier
        # ConversationKey → (contact id, conversation id): saves the upserts for a known conversation.
        self._known: _LRU = _LRU(100_000)
        # Built once: statement construction is a real share of an ingest's cost.
        self._insert_message = (
            insert(db, messages)
            .on_conflict_do_nothing(
                index_elements=[messages.c.channel_id, messages.c.provider_message_id],
                index_where=sa.text("direction = 'in'"),
            )
            .returning(messages.c.id)
        )
        self._touch = (
            conversations.update()
            .where(conversations.c.conversation_id == sa.bindparam("cid"))
            .values(
                last_message_at=sa.bindparam("now"),
                updated_at=sa.bindparam("now"),
                mode=sa.case((conversations.c.mode == "closed", "bot"), else_=conversations.c.mode),
            )
        )

    async def message(
        self, channel: ChannelInfo, msg: InboundMessage, *, simulated: bool = False
    ) -> Ingested:
        msg = storable_message(msg)
        if msg.identity_change is not None:
            return await self._identity_notice(channel, msg)
        key = ConversationKey(channel.tenant_id, channel.channel_id, msg.sender, msg.thread)
        # A WhatsApp customer is also named by a BSUID and a username: one the cache has not seen
        # with this sender goes the full way once, which links it to the contact.
        cache_key = key if msg.bsuid is None and msg.username is None else (key, msg.bsuid, msg.username)
        cached = self._known.get(cache_key)

        def store(conn: Connection, known: tuple[str, str] | None) -> Ingested:
            if known is None:
                known = self._upsert_conversation(conn, channel, key, msg, simulated)
            return self._store(conn, channel, known, msg)

        try:
            result = await self.db.run_write(lambda conn: store(conn, cached))
        except IntegrityError:
            if cached is None:
                raise
            # The cached conversation was deleted meanwhile: forget it and do the full upsert.
            self._known.pop(cache_key, None)
            result = await self.db.run_write(lambda conn: store(conn, None))
        self._known.put(cache_key, (result.contact_id, result.conversation_id))
        if not result.duplicate:
            self.queue.wake()
            if msg.kind == "unsupported":
                log.warning(
                    "inbound message stored as unsupported",
                    channel_id=channel.channel_id,
                    message_id=result.message_id,
                    provider_message_id=msg.provider_message_id,
                    reason=msg.reason,
                )
        if cached is None and channel.provider == "webchat" and self.notifier is not None:
            # A web chat stream opened before its visitor's first message waits for the
            # conversation to exist. A new conversation is never in the cache, so this fires for
            # each (and, rarely, again after the cache forgot one: a harmless extra wake-up).
            self.notifier.publish(visitor_topic(channel.channel_id, msg.sender))
        return result

    async def _identity_notice(self, channel: ChannelInfo, msg: InboundMessage) -> Ingested:
        """A WhatsApp notice that the customer changed number or BSUID: update their identities and
        store it in the conversation they continue, never cached (what it names has just changed)."""
        change = msg.identity_change
        assert change is not None
        gone = {change.previous_phone, change.previous_bsuid} - {None, ""}
        for cached in [k for k in self._known if _address_of(k) in gone]:
            self._known.pop(cached, None)

        def store(conn: Connection) -> Ingested:
            renamed = identities.apply_change(conn, channel, msg)
            key = ConversationKey(channel.tenant_id, channel.channel_id, renamed.sender, renamed.thread)
            known = self._upsert_conversation(conn, channel, key, renamed, simulated=False)
            identities.record_new_phone(conn, known[0], renamed)
            return self._store(conn, channel, known, renamed)

        return await self.db.run_write(store)

    async def unattributed(self, channel: ChannelInfo, event: UnattributedMessage) -> bool:
        """Keep a message that names no sender, raw, with its reason; False if it was kept before."""

        def store(conn: Connection) -> bool:
            stored = conn.execute(
                insert(self.db, unattributed_messages)
                .values(
                    tenant_id=channel.tenant_id,
                    channel_id=channel.channel_id,
                    provider_message_id=storable(event.provider_message_id),
                    reason=storable(event.reason),
                    payload=storable_json(event.raw),
                    created_at=utcnow(),
                )
                .on_conflict_do_nothing(index_elements=["channel_id", "provider_message_id"])
                .returning(unattributed_messages.c.id)
            ).scalar()
            if stored is not None:
                self._count(conn, channel, "unattributed_count")
            return stored is not None

        new = await self.db.run_write(store)
        if new:
            log.warning(
                "inbound message stored as unattributed",
                channel_id=channel.channel_id,
                provider_message_id=event.provider_message_id,
                reason=event.reason,
            )
        return new

    def _count(self, conn: Connection, channel: ChannelInfo, column: str) -> None:
        """One more message of ``column``'s sort on the channel's health, in the storing transaction."""
        counter = channel_health.c[column]
        conn.execute(
            insert(self.db, channel_health)
            .values(
                channel_id=channel.channel_id,
                tenant_id=channel.tenant_id,
                needs_attention=False,
                updated_at=utcnow(),
                **{column: 1},
            )
            .on_conflict_do_update(index_elements=["channel_id"], set_={column: counter + 1})
        )

    def conversation_for(
        self, conn: Connection, channel: ChannelInfo, address: str, thread: str = ""
    ) -> tuple[str, str]:
        """(contact id, conversation id) of ``address`` on ``channel``, created if new (proactive sends)."""
        key = ConversationKey(channel.tenant_id, channel.channel_id, address, thread)
        known = self._known.get(key)
        if known is None:
            msg = InboundMessage("", sender=address, bsuid=address if is_bsuid(address) else None)
            known = self._upsert_conversation(conn, channel, key, msg, simulated=False)
        return known

    def _store(
        self, conn: Connection, channel: ChannelInfo, known: tuple[str, str], msg: InboundMessage
    ) -> Ingested:
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
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
        }
        notice = msg.kind in NOTICE_KINDS
        if notice:
            params["turn_id"] = NOTICE_TURN
        if msg.kind == "unsupported":
            params["status_reason"] = msg.reason or "this kind of message is not supported"
        message_id = (conn.execute(self._insert_message, params)).scalar()
        if message_id is None:
            existing = (
                conn.execute(
                    sa.select(messages.c.id, messages.c.conversation_id).where(
                        messages.c.channel_id == channel.channel_id,
                        messages.c.provider_message_id == msg.provider_message_id,
                        messages.c.direction == "in",
                    )
                )
            ).one()
            return Ingested(existing.id, existing.conversation_id, contact_id, duplicate=True)
        if notice:  # stored in its conversation, but it neither reopens it nor wakes the agent
            return Ingested(message_id, conversation_id, contact_id, duplicate=False)
        if msg.kind == "unsupported":
            self._count(conn, channel, "unsupported_count")
        touched = conn.execute(self._touch, {"cid": conversation_id, "now": now})
        if touched.rowcount == 0:
            raise IntegrityError("conversation vanished", None, Exception("stale cache"))
        self.queue.enqueue(conn, channel.tenant_id, conversation_id)
        return Ingested(message_id, conversation_id, contact_id, duplicate=False)

    def _upsert_conversation(
        self,
        conn: Connection,
        channel: ChannelInfo,
        key: ConversationKey,
        msg: InboundMessage,
        simulated: bool,
    ) -> tuple[str, str]:
        contact_id = identities.contact_for(conn, self.db, channel, msg)
        now = utcnow()
        conn.execute(
            insert(self.db, conversations)
            .values(
                conversation_id=new_id("conv"),
                tenant_id=key.tenant_id,
                channel_id=key.channel_id,
                contact_id=contact_id,
                thread=key.thread,
                mode="bot",
                needs_human=False,
                simulated=simulated,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["channel_id", "contact_id", "thread"])
        )
        conversation_id = (
            conn.execute(
                sa.select(conversations.c.conversation_id).where(
                    conversations.c.channel_id == key.channel_id,
                    conversations.c.contact_id == contact_id,
                    conversations.c.thread == key.thread,
                )
            )
        ).scalar_one()
        return contact_id, conversation_id

    async def status(self, channel: ChannelInfo, update: StatusUpdate) -> bool:
        """Record a delivery status; never move backwards (a late "delivered" keeps "read")."""
        rank = sa.case(STATUS_RANK, value=messages.c.status, else_=-1)
        new_rank = STATUS_RANK.get(update.status)
        if new_rank is None:
            return False
        update = storable_status(update)
        values: dict = {"status": update.status, "updated_at": utcnow()}
        if update.error_code or update.error_title:
            values.update(error_code=update.error_code, status_reason=update.error_title)
        async with self.db.write() as conn:
            result = await conn.execute(
                messages.update()
                .where(
                    messages.c.channel_id == channel.channel_id,
                    messages.c.direction == "out",
                    messages.c.provider_message_id == update.provider_message_id,
                    rank < new_rank,
                )
                .values(**values)
            )
        return bool(result.rowcount)


NAME_LENGTH = contacts.c.display_name.type.length


def storable_message(msg: InboundMessage) -> InboundMessage:
    """``msg`` with every text field and its payload made storable (unchanged when already so)."""
    return replace(
        msg,
        provider_message_id=storable(msg.provider_message_id),
        sender=storable(msg.sender),
        text=storable(msg.text),
        # Shown only: a name too long for the column is cut, not refused.
        sender_name=None if msg.sender_name is None else storable(msg.sender_name)[:NAME_LENGTH],
        payload=storable_json(msg.payload),
        reply_to=None if msg.reply_to is None else storable(msg.reply_to),
        thread=storable(msg.thread),
        bsuid=None if msg.bsuid is None else storable(msg.bsuid),
        username=None if msg.username is None else storable(msg.username),
    )


def storable_status(update: StatusUpdate) -> StatusUpdate:
    return replace(
        update,
        provider_message_id=storable(update.provider_message_id),
        error_code=None if update.error_code is None else storable(update.error_code),
        error_title=None if update.error_title is None else storable(update.error_title),
    )
