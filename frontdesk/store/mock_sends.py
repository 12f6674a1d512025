"""What mock mode recorded instead of sending (``channels.mock`` writes it), as the API lists it."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy import Row

from frontdesk.store.channel_tables import mock_sends
from frontdesk.store.db import Database


async def recent(db: Database, *, tenant_id: str | None, channel_id: str | None, limit: int) -> Sequence[Row]:
    """The last ``limit`` sends (of a tenant, of a channel), oldest first."""
    stmt = sa.select(mock_sends).order_by(mock_sends.c.id.desc()).limit(limit)
    if tenant_id is not None:
        stmt = stmt.where(mock_sends.c.tenant_id == tenant_id)
    if channel_id:
        stmt = stmt.where(mock_sends.c.channel_id == channel_id)
    async with db.read() as conn:
        rows = (await conn.execute(stmt)).all()
    return rows[::-1]
