"""A conversation as its turn reads and writes it: the conversation, its unanswered messages, its
history, the customer's address, and the turn's answers.

The statements of the hot path are built once, at import. Every method runs its own transaction
through the database's threads (``run_read`` / ``run_write``); work of another component that must
commit with a turn's answers (the job's completion) is passed in as a function of the connection.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy import Connection

from frontdesk.errors import Superseded
from frontdesk.model.bsuid import PARENT_MARK, scope_of
from frontdesk.model.messages import HistoryMessage
from frontdesk.model.routing import ChannelInfo
from frontdesk.store import runs
from frontdesk.store.db import Database, utcnow
from frontdesk.store.prepared import Prepared
from frontdesk.store.replies import SentReply
from frontdesk.store.tables import (
    channels,
    contact_identities,
    contacts,
    conversations,
    messages,
    unanswered,
)

message = messages.c
conversation = conversations.c
identity = contact_identities.c


@dataclass(frozen=True, slots=True)
class TurnConversation:
    """What a turn needs of its conversation; ``recipient``: the customer's address on the
    conversation's channel (``recipient`` below)."""

    conversation_id: str
    tenant_id: str
    channel_id: str
    contact_id: str
    mode: str
    simulated: bool
    agent_id: str | None
    contact_name: str | None
    recipient: str


class PendingMessage(NamedTuple):
    """An unanswered inbound message, as a turn reads it."""

    id: int
    direction: str
    text: str
    kind: str
    created_at: datetime
    provider_message_id: str | None


@dataclass(frozen=True, slots=True)
class TurnAnswer:
    """What a turn writes: its inbound messages marked answered, its replies, the conversation's
    agent and human flag, the run's trace; ``delivered``: the replies are final as stored (a channel
    that delivers in the store) rather than queued for the outbox."""

    conversation: TurnConversation
    turn_id: str
    answered: list[int]
    replies: list[tuple[str, dict[str, Any] | None]]
    delivered: bool
    at: datetime
    agent_id: str | None = None  # set on the conversation when it changed
    needs_human: str | None = None  # the reason, when the conversation needs a person
    run: dict[str, Any] | None = field(default=None)


# The customer's address on a provider, the one way it is chosen everywhere (the turn's tools book
# and look up by it; the outbox sends to it): their number or chat id (the unscoped identities)
# where it is known, else a WhatsApp BSUID of the channel's business portfolio (only BSUIDs are
# scoped, ``store.contacts.scoped``), a parent BSUID last; never one another portfolio issued.
_REACH = sa.case(
    (identity.scope == "", 0),
    (identity.address.contains(PARENT_MARK), 2),
    else_=1,
)
_RECIPIENT = (
    sa.select(identity.address)
    .where(
        identity.contact_id == sa.bindparam("contact_id"),
        identity.provider == sa.bindparam("provider"),
        sa.or_(identity.scope == "", identity.scope == sa.bindparam("scope")),
    )
    .order_by(_REACH, identity.address, identity.id)
    .limit(1)
)
# The conversation with its unanswered inbound messages, oldest first, in one statement: one row per
# message (one row of NULL message columns when none waits). The literal condition selects the
# partial index ``ix_messages_unanswered``.
_unanswered = messages.alias("unanswered")
_CONVERSATION_AND_PENDING = (
    sa.select(
        conversation.conversation_id,
        conversation.tenant_id,
        conversation.channel_id,
        conversation.contact_id,
        conversation.mode,
        conversation.simulated,
        conversation.agent_id,
        contacts.c.display_name,
        channels.c.provider,
        channels.c.settings,
        _unanswered.c.id.label("m_id"),
        _unanswered.c.direction.label("m_direction"),
        _unanswered.c.text.label("m_text"),
        _unanswered.c.kind.label("m_kind"),
        _unanswered.c.created_at.label("m_created_at"),
        _unanswered.c.provider_message_id.label("m_provider_message_id"),
    )
    .join(contacts, contacts.c.contact_id == conversation.contact_id)
    .join(channels, channels.c.channel_id == conversation.channel_id)
    .outerjoin(
        _unanswered,
        sa.and_(
            _unanswered.c.conversation_id == conversation.conversation_id,
            unanswered(_unanswered),
        ),
    )
    .where(conversation.conversation_id == sa.bindparam("cid"))
    .order_by(_unanswered.c.id)
)
_MARK_ANSWERED = (
    messages.update()
    .where(message.id.in_(sa.bindparam("ids", expanding=True)), message.turn_id.is_(None))
    .values(turn_id=sa.bindparam("tid"), updated_at=sa.bindparam("now"))
)
# The usual turn answers one message: no expanding IN to render on each call.
_MARK_ONE_ANSWERED = Prepared(
    messages.update()
    .where(message.id == sa.bindparam("mid"), message.turn_id.is_(None))
    .values(turn_id=sa.bindparam("tid"), updated_at=sa.bindparam("now")),
    ["mid", "tid", "now"],
)
_REPLY_COLUMNS = [
    "tenant_id",
    "conversation_id",
    "channel_id",
    "direction",
    "kind",
    "text",
    "payload",
    "idempotency_key",
    "turn_id",
    "status",
    "attempts",
    "created_at",
    "updated_at",
]
_INSERT_REPLY = Prepared(messages.insert().returning(message.id), _REPLY_COLUMNS)
_INSERT_REPLIES = messages.insert().returning(message.id, sort_by_parameter_order=True)
_HISTORY = (
    sa.select(message.id, message.direction, message.text, message.kind, message.created_at)
    .where(message.conversation_id == sa.bindparam("cid"), message.id < sa.bindparam("before"))
    .order_by(message.id.desc())
    .limit(sa.bindparam("n"))
)
_CROSS_CHANNEL = (
    sa.select(
        message.id, message.direction, message.text, message.kind, message.created_at, channels.c.channel_type
    )
    .join(conversations, conversation.conversation_id == message.conversation_id)
    .join(channels, channels.c.channel_id == conversation.channel_id)
    .where(
        conversation.tenant_id == sa.bindparam("tid"),
        conversation.contact_id == sa.bindparam("contact"),
        conversation.conversation_id != sa.bindparam("cid"),
    )
    .order_by(message.created_at.desc(), message.id.desc())
    .limit(sa.bindparam("n"))
)
_WEBCHAT_CONVERSATION = (
    sa.select(conversation.conversation_id)
    .join(contact_identities, identity.contact_id == conversation.contact_id)
    .where(
        conversation.channel_id == sa.bindparam("channel_id"),
        conversation.thread == "",
        identity.tenant_id == sa.bindparam("tenant_id"),
        identity.provider == "webchat",
        identity.address == sa.bindparam("visitor"),
    )
)


def recipient_in(conn: Connection, contact_id: str, provider: str, scope: str) -> str:
    """The customer's address on ``provider`` for a channel of BSUID scope ``scope``; "" if none."""
    params = {"contact_id": contact_id, "provider": provider, "scope": scope}
    return conn.execute(_RECIPIENT, params).scalar() or ""


class Conversations:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def for_turn(
        self, conversation_id: str
    ) -> tuple[TurnConversation | None, Sequence[PendingMessage]]:
        """The conversation and its unanswered inbound messages, oldest first (id, direction, text,
        kind, created_at, provider_message_id); (None, []) if it is gone."""
        return await self.db.run_read(lambda conn: _for_turn(conn, conversation_id))

    async def recipient(self, contact_id: str, channel: ChannelInfo) -> str:
        """Where ``channel`` reaches the contact (see ``_RECIPIENT``); "" if nowhere."""
        scope = scope_of(channel.channel_id, channel.settings)
        return await self.db.run_read(lambda conn: recipient_in(conn, contact_id, channel.provider, scope))

    async def history(self, conversation_id: str, before_id: int, limit: int) -> list[HistoryMessage]:
        """The conversation's last ``limit`` messages before ``before_id``, oldest first."""
        if limit <= 0:
            return []
        params = {"cid": conversation_id, "before": before_id, "n": limit}
        rows = await self.db.run_read(lambda conn: conn.execute(_HISTORY, params).all())
        return [HistoryMessage(r.id, r.direction, r.text, r.kind, r.created_at) for r in reversed(rows)]

    async def other_channels(self, conv: TurnConversation, limit: int) -> list[tuple[str, HistoryMessage]]:
        """The contact's last ``limit`` messages in the tenant's other conversations, oldest first,
        each with its channel type."""
        if limit <= 0:
            return []
        params = {"tid": conv.tenant_id, "contact": conv.contact_id, "cid": conv.conversation_id, "n": limit}
        rows = await self.db.run_read(lambda conn: conn.execute(_CROSS_CHANNEL, params).all())
        return [
            (r.channel_type, HistoryMessage(r.id, r.direction, r.text, r.kind, r.created_at))
            for r in reversed(rows)
        ]

    async def write_turn(
        self, answer: TurnAnswer, complete: Callable[[Connection], None] | None = None
    ) -> list[SentReply]:
        """Write ``answer`` in one transaction, with ``complete(conn)`` (the job's completion) when
        given; the replies as a web chat stream reads them back (``Replies.sent_after``) when they
        are ``delivered``, else []. Raises ``Superseded`` (nothing written) if another run answered
        first."""
        return await self.db.run_write(lambda conn: _write_turn(conn, answer, complete))

    async def keep_superseded_run(self, run: dict[str, Any]) -> None:
        """The trace of a run whose answers were dropped, marked as such."""
        row = {**run, "status": "superseded"}
        await self.db.run_write(lambda conn: runs.insert(conn, row))

    async def requeue_unanswered(
        self, tenant_id: str, enqueue: Callable[[Connection, str, str], None]
    ) -> list[str]:
        """``enqueue(conn, tenant_id, conversation_id)`` every conversation of the tenant with
        unanswered messages, in one transaction; their ids."""

        def requeue(conn: Connection) -> list[str]:
            ids = list(
                conn.execute(
                    sa.select(message.conversation_id)
                    .where(
                        message.tenant_id == tenant_id, message.direction == "in", message.turn_id.is_(None)
                    )
                    .distinct()
                ).scalars()
            )
            for conversation_id in ids:
                enqueue(conn, tenant_id, conversation_id)
            return ids

        return await self.db.run_write(requeue)

    async def give_up(self, conversation_id: str, turn_id: str, error: str) -> None:
        """Stop answering the conversation's unanswered messages (marked with ``turn_id`` and the
        error) and flag it for a person."""
        now = utcnow()

        def give_up(conn: Connection) -> None:
            conn.execute(
                messages.update()
                .where(
                    message.conversation_id == conversation_id,
                    message.direction == "in",
                    message.turn_id.is_(None),
                )
                .values(turn_id=turn_id, status_reason=error[:500], updated_at=now)
            )
            conn.execute(
                conversations.update()
                .where(conversation.conversation_id == conversation_id)
                .values(
                    needs_human=True, needs_human_reason=f"the agent failed: {error[:300]}", updated_at=now
                )
            )

        await self.db.run_write(give_up)

    async def of_webchat_visitor(self, channel: ChannelInfo, visitor: str) -> str | None:
        """The id of the web chat conversation of ``visitor`` on ``channel``, if it has begun."""
        params = {"channel_id": channel.channel_id, "tenant_id": channel.tenant_id, "visitor": visitor}
        async with self.db.read() as conn:
            return (await conn.execute(_WEBCHAT_CONVERSATION, params)).scalar()


def _for_turn(conn: Connection, conversation_id: str) -> tuple[TurnConversation | None, list[PendingMessage]]:
    rows = conn.execute(_CONVERSATION_AND_PENDING, {"cid": conversation_id}).all()
    if not rows:
        return None, []
    row = rows[0]
    scope = scope_of(row.channel_id, row.settings or {})
    conv = TurnConversation(
        conversation_id=row.conversation_id,
        tenant_id=row.tenant_id,
        channel_id=row.channel_id,
        contact_id=row.contact_id,
        mode=row.mode,
        simulated=row.simulated,
        agent_id=row.agent_id,
        contact_name=row.display_name,
        recipient=recipient_in(conn, row.contact_id, row.provider, scope),
    )
    pending = [
        PendingMessage(r.m_id, r.m_direction, r.m_text, r.m_kind, r.m_created_at, r.m_provider_message_id)
        for r in rows
        if r.m_id is not None
    ]
    return conv, pending


def _write_turn(
    conn: Connection, answer: TurnAnswer, complete: Callable[[Connection], None] | None
) -> list[SentReply]:
    conv = answer.conversation
    if len(answer.answered) == 1:
        params = {"mid": answer.answered[0], "tid": answer.turn_id, "now": answer.at}
        marked = _MARK_ONE_ANSWERED.rowcount(conn, params)
    else:
        params = {"ids": answer.answered, "tid": answer.turn_id, "now": answer.at}
        marked = conn.execute(_MARK_ANSWERED, params).rowcount
    if marked != len(answer.answered):
        raise Superseded
    sent: list[SentReply] = []
    if answer.replies:
        rows = [
            {
                "tenant_id": conv.tenant_id,
                "conversation_id": conv.conversation_id,
                "channel_id": conv.channel_id,
                "direction": "out",
                "kind": "text",
                "text": text,
                "payload": payload,
                "idempotency_key": f"{answer.turn_id}:{i}",
                "turn_id": answer.turn_id,
                "status": "sent" if answer.delivered else "queued",
                "attempts": 0,
                "created_at": answer.at,
                "updated_at": answer.at,
            }
            for i, (text, payload) in enumerate(answer.replies)
        ]
        if len(rows) == 1:  # the usual turn: a plain INSERT … RETURNING, not an insertmanyvalues batch
            ids = [_INSERT_REPLY.scalar(conn, rows[0])]
        else:
            ids = list(conn.execute(_INSERT_REPLIES, rows).scalars())
        if answer.delivered:
            # As the store hands the time back: SQLite keeps it without its zone.
            at = answer.at.replace(tzinfo=None) if conn.dialect.name == "sqlite" else answer.at
            sent = [
                SentReply(id, text, at, payload)
                for id, (text, payload) in zip(ids, answer.replies, strict=True)
            ]
    values: dict[str, Any] = {}
    if answer.agent_id is not None:
        values["agent_id"] = answer.agent_id
    if answer.needs_human:
        values.update(needs_human=True, needs_human_reason=answer.needs_human)
    if values:
        conn.execute(
            conversations.update()
            .where(conversation.conversation_id == conv.conversation_id)
            .values(updated_at=answer.at, **values)
        )
    if answer.run is not None:
        runs.insert(conn, answer.run)
    if complete is not None:
        complete(conn)
    return sent
