"""Conversations as the API lists them: filtered pages, one with its messages, the owner of one.

Read through the async engine (``Database.read``), like every API read: a large page never holds
up one of the threads the hot path runs on."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from sqlalchemy import Row

from frontdesk.store.db import Database
from frontdesk.store.tables import contacts, conversations, messages

conversation = conversations.c
message = messages.c

_WITH_CONTACT = sa.select(conversations, contacts.c.display_name, contacts.c.handle).join(
    contacts, contacts.c.contact_id == conversation.contact_id
)
_MESSAGES = (
    sa.select(
        message.id,
        message.direction,
        message.kind,
        message.text,
        message.status,
        message.status_reason,
        message.error_code,
        message.provider_message_id,
        message.attempts,
        message.possible_duplicate,
        message.created_at,
        message.updated_at,
    )
    .where(message.conversation_id == sa.bindparam("cid"))
    .order_by(message.id)
)
_OWNER = sa.select(conversation.tenant_id).where(conversation.conversation_id == sa.bindparam("cid"))


async def page(
    db: Database,
    *,
    tenant_id: str | None = None,
    channel_id: str | None = None,
    contact_id: str | None = None,
    mode: str | None = None,
    needs_human: bool | None = None,
    skip: int = 0,
    limit: int = 50,
) -> tuple[int, Sequence[Row]]:
    """How many conversations match (None: any), and the ``limit`` after the first ``skip``, the
    latest first; each with its contact's display name and handle."""
    filters = [
        column == value
        for column, value in (
            (conversation.tenant_id, tenant_id),
            (conversation.channel_id, channel_id),
            (conversation.contact_id, contact_id),
            (conversation.mode, mode),
        )
        if value is not None
    ]
    if needs_human is not None:
        filters.append(conversation.needs_human.is_(needs_human))
    total = sa.select(sa.func.count()).select_from(conversations).where(*filters)
    rows = (
        _WITH_CONTACT.where(*filters)
        .order_by(conversation.last_message_at.desc().nulls_last(), conversation.conversation_id)
        .offset(skip)
        .limit(limit)
    )

    async with db.read() as conn:
        return (await conn.execute(total)).scalar_one(), (await conn.execute(rows)).all()


async def with_messages(
    db: Database, conversation_id: str, visible: Callable[[str], bool]
) -> tuple[Row | None, Sequence[Row]]:
    """The conversation (with its contact's name and handle) and its messages in order; (None, [])
    if there is none that ``visible(tenant_id)`` allows."""

    async with db.read() as conn:
        row = (
            await conn.execute(_WITH_CONTACT.where(conversation.conversation_id == conversation_id))
        ).first()
        if row is None or not visible(row.tenant_id):
            return None, []
        return row, (await conn.execute(_MESSAGES, {"cid": conversation_id})).all()


async def tenant_of(db: Database, conversation_id: str) -> str | None:
    """The tenant the conversation belongs to; None if there is no such conversation."""
    async with db.read() as conn:
        return (await conn.execute(_OWNER, {"cid": conversation_id})).scalar()
