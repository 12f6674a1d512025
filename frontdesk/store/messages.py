"""One message as the API reads it: an inbound message's media, an outbound one's delivery status."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Row

from frontdesk.store.db import Database
from frontdesk.store.tables import messages

message = messages.c

_MEDIA = sa.select(message.tenant_id, message.channel_id, message.kind, message.payload).where(
    message.id == sa.bindparam("mid")
)
_STATUS = sa.select(message.status, message.provider_message_id, message.status_reason).where(
    message.id == sa.bindparam("mid")
)


async def media(db: Database, message_id: int) -> Row | None:
    """(tenant_id, channel_id, kind, payload) of a message; None if there is none."""
    async with db.read() as conn:
        return (await conn.execute(_MEDIA, {"mid": message_id})).first()


async def delivery(db: Database, message_id: int) -> Row:
    """(status, provider_message_id, status_reason) of an existing message."""
    async with db.read() as conn:
        return (await conn.execute(_STATUS, {"mid": message_id})).one()
