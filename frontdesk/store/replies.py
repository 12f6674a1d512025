"""The agent's replies, read back by those waiting for them: ``frontdesk chat`` and
``/route/message`` (simulated conversations), a phone call, a web chat stream.

A web chat stream reads through the database's threads (``run_read``: many streams, woken
together); the others through the async engine."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy import Row

from frontdesk.store.db import Database
from frontdesk.store.tables import conversations, messages

message = messages.c
conversation = conversations.c


@dataclass(frozen=True, slots=True)
class Answer:
    """The replies of the turn that answered a message, and whether the conversation needs a person."""

    replies: list[str]
    needs_human: bool
    needs_human_reason: str | None


class SentReply(NamedTuple):
    """A reply delivered in the store, as a web chat stream shows it (``sent_after``'s rows)."""

    id: int
    text: str
    created_at: datetime
    payload: dict[str, Any] | None


_TURN_OF = sa.select(message.turn_id).where(message.id == sa.bindparam("mid"))
_TURN_OF_INBOUND = _TURN_OF.where(message.direction == "in")
_TURN_REPLIES = (
    sa.select(message.text)
    .where(message.turn_id == sa.bindparam("tid"), message.direction == "out")
    .order_by(message.id)
)
_NEEDS_HUMAN = sa.select(conversation.needs_human, conversation.needs_human_reason).where(
    conversation.conversation_id == sa.bindparam("cid")
)
_REPLIES_AFTER = (
    sa.select(message.text)
    .where(
        message.conversation_id == sa.bindparam("cid"),
        message.direction == "out",
        message.id > sa.bindparam("after"),
    )
    .order_by(message.id)
)
_SENT_AFTER = (
    sa.select(message.id, message.text, message.created_at, message.payload)
    .where(
        message.conversation_id == sa.bindparam("cid"),
        message.direction == "out",
        message.id > sa.bindparam("after"),
        # Literals, not an expanding parameter rendered again on every call.
        message.status.in_([sa.literal_column(f"'{s}'") for s in ("sent", "delivered", "read")]),
    )
    .order_by(message.id)
)


class Replies:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def answer_to(self, message_id: int, conversation_id: str) -> Answer | None:
        """What the turn that answered inbound message ``message_id`` wrote; None until one has."""

        async with self.db.read() as conn:
            turn_id = (await conn.execute(_TURN_OF, {"mid": message_id})).scalar()
            if turn_id is None:
                return None
            replies = list((await conn.execute(_TURN_REPLIES, {"tid": turn_id})).scalars())
            flags = (await conn.execute(_NEEDS_HUMAN, {"cid": conversation_id})).one()
        return Answer(replies, flags.needs_human, flags.needs_human_reason)

    async def after(self, conversation_id: str, after: int) -> tuple[list[str], bool, bool]:
        """The conversation's replies written after message ``after`` (an inbound message); whether
        the conversation needs a person; whether a turn has answered message ``after``."""

        async with self.db.read() as conn:
            replies = await conn.execute(_REPLIES_AFTER, {"cid": conversation_id, "after": after})
            texts = list(replies.scalars())
            answered = (await conn.execute(_TURN_OF_INBOUND, {"mid": after})).scalar() is not None
            flags = (await conn.execute(_NEEDS_HUMAN, {"cid": conversation_id})).first()
        return texts, bool(flags and flags.needs_human), answered

    async def sent_after(self, conversation_id: str, after: int) -> Sequence[Row]:
        """The conversation's replies delivered (in the store) after message ``after``, in order:
        (id, text, created_at, payload)."""
        params = {"cid": conversation_id, "after": after}
        return await self.db.run_read(lambda conn: conn.execute(_SENT_AFTER, params).all())
