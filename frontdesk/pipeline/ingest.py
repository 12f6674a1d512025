"""Ingest: store an inbound message exactly once and queue its turn, in ONE transaction.

The caller answers the provider only after this returns (ack after durable write). Redelivered
messages hit the unique (channel, provider message id) index and change nothing. Text from outside
is made storable first (``model.text``: NUL and lone surrogates become U+FFFD), on every path in.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from frontdesk.model.ids import new_id
from frontdesk.model.messages import STATUS_RANK, ConversationKey, InboundMessage, StatusUpdate
from frontdesk.model.phone import is_e164
from frontdesk.model.text import storable, storable_json
from frontdesk.pipeline.cache import ChannelInfo
from frontdesk.store.db import Database, utcnow
from frontdesk.store.dialect import insert
from frontdesk.store.tables import contact_identities, contacts, conversations, messages


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


class Ingest:
    def __init__(self, db: Database, queue, notifier=None) -> None:  # type: ignore[no-untyped-def]
        self.db = db
        self.queue = queue
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
        key = ConversationKey(channel.tenant_id, channel.channel_id, msg.sender, msg.thread)
        cached = self._known.get(key)

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
            self._known.pop(key, None)
            result = await self.db.run_write(lambda conn: store(conn, None))
        self._known.put(key, (result.contact_id, result.conversation_id))
        if not result.duplicate:
            self.queue.wake()
        return result

    def conversation_for(
        self, conn: Connection, channel: ChannelInfo, address: str, thread: str = ""
    ) -> tuple[str, str]:
        """(contact id, conversation id) of ``address`` on ``channel``, created if new (proactive sends)."""
        key = ConversationKey(channel.tenant_id, channel.channel_id, address, thread)
        known = self._known.get(key)
        if known is None:
            msg = InboundMessage(provider_message_id="", sender=address)
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
        contact_id = self._upsert_contact(conn, channel, msg)
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

    def _upsert_contact(self, conn: Connection, channel: ChannelInfo, msg: InboundMessage) -> str:
        ident = contact_identities.c
        found = (
            conn.execute(
                sa.select(ident.contact_id).where(
                    ident.tenant_id == channel.tenant_id,
                    ident.provider == channel.provider,
                    ident.address == msg.sender,
                )
            )
        ).scalar()
        if found:
            return found
        phone = msg.sender if is_e164(msg.sender) else None
        contact_id = None
        if phone:  # identities with the same E.164 number are one contact
            contact_id = (
                conn.execute(
                    sa.select(contacts.c.contact_id)
                    .where(contacts.c.tenant_id == channel.tenant_id, contacts.c.phone_e164 == phone)
                    .limit(1)
                )
            ).scalar()
        now = utcnow()
        if contact_id is None:
            contact_id = new_id("ct")
            conn.execute(
                contacts.insert().values(
                    contact_id=contact_id,
                    tenant_id=channel.tenant_id,
                    display_name=msg.sender_name,
                    phone_e164=phone,
                    created_at=now,
                    updated_at=now,
                )
            )
        conn.execute(
            insert(self.db, contact_identities)
            .values(
                tenant_id=channel.tenant_id,
                contact_id=contact_id,
                provider=channel.provider,
                address=msg.sender,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["tenant_id", "provider", "address"])
        )
        return (
            conn.execute(
                sa.select(ident.contact_id).where(
                    ident.tenant_id == channel.tenant_id,
                    ident.provider == channel.provider,
                    ident.address == msg.sender,
                )
            )
        ).scalar_one()

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
    )


def storable_status(update: StatusUpdate) -> StatusUpdate:
    return replace(
        update,
        provider_message_id=storable(update.provider_message_id),
        error_code=None if update.error_code is None else storable(update.error_code),
        error_title=None if update.error_title is None else storable(update.error_title),
    )
